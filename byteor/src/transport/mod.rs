//! How rings reach other processes. [`shm`]: ring regions in shared-memory files that other
//! processes — Rust or C — attach to (Linux).

#[cfg(all(target_os = "linux", not(loom)))]
pub mod shm;
