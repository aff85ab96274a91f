//! The operating-system facts liveness rests on: process identity (pid and start time), the
//! monotonic clock every process of the machine shares, and open-file-description locks.
//!
//! # Why OFD locks
//!
//! A peer's place in a region is held by a write lock on one byte of the region file, taken
//! with `fcntl(F_OFD_SETLK)` (Linux 3.15 and later). Such a lock belongs to the open file
//! description, so it is released by the kernel when the process dies however it dies
//! (`SIGKILL`, the OOM killer), and — unlike classic POSIX record locks — it is not dropped when
//! the process closes some *other* descriptor of the same file, and two descriptions opened in
//! one process conflict with each other as two processes would. Unlike `flock`, one file holds
//! a separate lock per peer (one byte each). `F_OFD_GETLK` does not tell the holder's pid, so
//! the header records it next to the lock.
//!
//! A lock lives as long as its open file description, that is until the last descriptor of it
//! closes. A child process holds copies of its parent's descriptors from `fork` until `exec`
//! (which closes them: byteor opens files close-on-exec), so a place released by dropping its
//! `Region` can stay taken for the instant a concurrent `fork` + `exec` takes; an explicit
//! [`Region::release`](super::Region::release) frees it at once.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// This process's id.
pub(crate) fn current_pid() -> u32 {
    std::process::id()
}

/// The start time of process `pid` in clock ticks after boot (`/proc/<pid>/stat` field 22), or
/// `None` when no such process exists (or `/proc` cannot tell).
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    if pid == 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`: `comm` may hold spaces and parentheses, so count fields
    // after the last `)`. Field 3 (state) is the first after it; field 22 is the 20th.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether process `pid` exists and started at `start` (a reused pid does not count).
pub(crate) fn process_alive(pid: u32, start: u64) -> bool {
    start_time(pid) == Some(start)
}

/// Nanoseconds of `CLOCK_MONOTONIC`: one clock for every process of the machine.
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(rc, 0);
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

fn lock_request(kind: libc::c_int, byte: u64) -> libc::flock {
    libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: byte as libc::off_t,
        l_len: 1,
        // Must be 0 for OFD locks.
        l_pid: 0,
    }
}

/// Takes the write lock on `byte` of `file` without waiting: `Ok(true)` when taken,
/// `Ok(false)` when another open file description holds it.
pub(crate) fn try_lock_byte(file: &File, byte: u64) -> io::Result<bool> {
    let mut request = lock_request(libc::F_WRLCK, byte);
    // SAFETY: `fcntl(F_OFD_SETLK)` reads the `flock` we pass, which lives across the call; the
    // descriptor is open for as long as `file` is borrowed.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut request) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
        _ => Err(err),
    }
}

/// Releases the lock on `byte` of `file` (a no-op when not held).
pub(crate) fn unlock_byte(file: &File, byte: u64) -> io::Result<()> {
    let mut request = lock_request(libc::F_UNLCK, byte);
    // SAFETY: as in `try_lock_byte`.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut request) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether an open file description other than `file`'s holds a lock on `byte`.
pub(crate) fn byte_locked(file: &File, byte: u64) -> io::Result<bool> {
    let mut request = lock_request(libc::F_WRLCK, byte);
    // SAFETY: `fcntl(F_OFD_GETLK)` reads and overwrites the `flock` we pass, which lives across
    // the call.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut request) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(request.l_type != libc::F_UNLCK as libc::c_short)
}

/// Reserves `len` bytes of `file` in its file system, so that a full `/dev/shm` is an error
/// now rather than a `SIGBUS` when a page is first touched.
pub(crate) fn allocate(file: &File, len: u64) -> io::Result<()> {
    // SAFETY: plain system call on an open descriptor.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_pid_zero_is_not() {
        let me = current_pid();
        let start = start_time(me).expect("/proc/self/stat");
        assert!(process_alive(me, start));
        assert!(
            !process_alive(me, start + 1),
            "another start time is another process"
        );
        assert_eq!(start_time(0), None);
    }

    #[test]
    fn the_monotonic_clock_moves_forward() {
        let a = monotonic_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(monotonic_ns() >= a + 1_000_000);
    }

    #[test]
    fn two_descriptions_of_one_file_conflict_and_release() {
        let dir = std::env::temp_dir().join(format!("byteor-os-{}", current_pid()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("locks");
        let a = File::create(&path).unwrap();
        let b = File::options().read(true).write(true).open(&path).unwrap();
        assert!(try_lock_byte(&a, 3).unwrap());
        assert!(!try_lock_byte(&b, 3).unwrap(), "held by a");
        assert!(byte_locked(&b, 3).unwrap());
        assert!(try_lock_byte(&b, 4).unwrap(), "bytes lock separately");
        drop(a);
        assert!(!byte_locked(&b, 3).unwrap(), "closing releases");
        assert!(try_lock_byte(&b, 3).unwrap());
        unlock_byte(&b, 3).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
