//! Shared-memory ring regions: files under a directory (by default [`DEFAULT_SHM_DIR`],
//! `/dev/shm/byteor`) that hold one ring — its header, sequences and slots — mapped by every
//! process that takes part.
//!
//! * **Create** ([`Region::create`]): the file is made with `O_EXCL` (an existing region is
//!   never reused or overwritten: [`ShmError::Exists`]) and mode `0600` unless
//!   [`ShmOptions::mode`] says otherwise; its bytes are reserved and its pages mapped in up
//!   front; the header's version word is written last, so an opener never sees half a header.
//! * **Open** ([`Region::open`]): the file's size is checked before mapping (a file still
//!   being sized by a creator that holds its lock is waited for, bounded), then every header
//!   field against the caller's [`RingDescriptor`] — event layout, spec fingerprint, capacity,
//!   stage names — each failure its own [`ShmError`] variant naming the path, what was
//!   expected and what was found. The peer is untrusted: header fields are copied out once and
//!   bounds-checked; only atomics are read in place.
//! * **Places** ([`Region::claim`]): one producer and one process per stage, each holding an
//!   OS lock on its own byte of the file (an open-file-description lock: see the `os` notes
//!   below) and a record of its pid, start time and heartbeat in the header. A second producer
//!   is refused with the holder's pid.
//! * **Liveness** ([`Region::peer_state`]): a peer is dead when its lock is free, when no
//!   process with its pid and start time exists, or when its heartbeat is older than the
//!   caller's timeout.
//! * **Housekeeping**: [`list`] the regions of a directory with their owners' state,
//!   [`inspect`] one (what it holds, every sequence, every peer), and [`remove_stale`] a region
//!   whose producer place is not held — never one whose owner is alive.
//!
//! Locks are Linux open-file-description locks (`F_OFD_SETLK`): released by the kernel when
//! the holding process dies however it dies, not dropped when the process closes another
//! descriptor of the file, and one per byte, so each peer has its own.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use byteor::abi::ShmEvent;
//! use byteor::transport::shm::{Peer, Region, RingDescriptor, ShmError, ShmOptions};
//!
//! #[derive(Clone, Copy, ShmEvent)]
//! #[repr(C)]
//! struct Tick { seq: u64, value: u64 }
//!
//! let dir = std::env::temp_dir().join(format!("byteor-doc-{}", std::process::id()));
//! let path = dir.join("ticks");
//! let desc = RingDescriptor::new(&Tick::LAYOUT, 0x1234, 1024, &["sum"])?;
//!
//! let producer = Region::create(&path, &desc, &ShmOptions::default())?;
//! let mut stage = Region::open(&path, &desc, &ShmOptions::default())?;
//! stage.claim(Peer::Stage(0))?;
//!
//! // A second producer is refused, naming the holder.
//! let mut other = Region::open(&path, &desc, &ShmOptions::default())?;
//! assert!(matches!(other.claim(Peer::Producer), Err(ShmError::ProducerTaken { .. })));
//!
//! // Opening with another description is a typed error.
//! let wrong = RingDescriptor::new(&Tick::LAYOUT, 0x1234, 2048, &["sum"])?;
//! assert!(matches!(
//!     Region::open(&path, &wrong, &ShmOptions::default()),
//!     Err(ShmError::Geometry { .. })
//! ));
//! producer.remove_file()?;
//! # drop((stage, other)); std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

mod error;
mod os;
mod region;

pub(crate) use os::monotonic_ns;

pub use error::{LayoutSummary, ShmError};
pub use region::{
    DeathReason, Peer, PeerState, PeerStatus, Region, RingDescriptor, ShmOptions, StreamState,
    DEFAULT_SHM_DIR,
};

use std::path::{Path, PathBuf};

/// One region file of a directory, as [`list`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionStatus {
    /// The file.
    pub path: PathBuf,
    /// Its length in bytes.
    pub bytes: u64,
    /// Whether some process holds the producer's place (or is creating the region).
    pub owner_alive: bool,
}

/// Every regular file of `dir` with whether its owner is alive, sorted by path. A missing
/// directory has no regions.
pub fn list(dir: impl AsRef<Path>) -> Result<Vec<RegionStatus>, ShmError> {
    let dir = dir.as_ref();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ShmError::io(dir, "list", e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ShmError::io(dir, "list", e))?;
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let owner_alive = owner_alive(&path)?;
        out.push(RegionStatus {
            path,
            bytes: meta.len(),
            owner_alive,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Whether a process holds the producer's place of the region at `path` (creators hold it
/// from the moment the file exists).
fn owner_alive(path: &Path) -> Result<bool, ShmError> {
    let file = open_for_locks(path)?;
    os::byte_locked(&file, 0).map_err(|e| ShmError::io(path, "test lock", e))
}

fn open_for_locks(path: &Path) -> Result<std::fs::File, ShmError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| ShmError::io(path, "open", e))
}

/// What [`inspect`] sees in a region: what it holds and how far everyone got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionInfo {
    /// The file.
    pub path: PathBuf,
    /// What the header says the region holds.
    pub ring: RingDescriptor,
    /// Events the producer published (its cursor).
    pub published: u64,
    /// Each stage's sequence: events it finished, in stage order.
    pub stage_sequences: Vec<u64>,
    /// The producer's state.
    pub producer: PeerState,
    /// Each stage process's state and what it says, in stage order.
    pub stages: Vec<(PeerState, PeerStatus)>,
    /// What the producer told the stages.
    pub stream: StreamState,
    /// Events the producer dropped for want of room (a LaneGraph lane under `drop`).
    pub dropped: u64,
}

/// Opens any ring region read-only in spirit (it takes no place and writes nothing) and reports
/// what it holds, every sequence, and whether each peer is alive (judged with
/// `heartbeat_timeout`). A region that is not a consistent byteor region is the [`ShmError`]
/// that says why.
pub fn inspect(
    path: impl AsRef<Path>,
    heartbeat_timeout: std::time::Duration,
) -> Result<RegionInfo, ShmError> {
    let (region, ring) = Region::open_any(path, &ShmOptions::default())?;
    let stages = (0..ring.stages().len())
        .map(|i| {
            let peer = Peer::Stage(i);
            (
                region.peer_state(peer, heartbeat_timeout),
                region.status(peer),
            )
        })
        .collect();
    Ok(RegionInfo {
        path: region.path().to_path_buf(),
        published: region.sequence(0),
        stage_sequences: (0..ring.stages().len())
            .map(|i| region.sequence(1 + i))
            .collect(),
        producer: region.peer_state(Peer::Producer, heartbeat_timeout),
        stages,
        stream: region.stream_state(),
        dropped: region.dropped(),
        ring,
    })
}

/// Removes the region at `path` if it is stale — nobody holds its producer's place (the
/// producer and creator are gone) — and returns whether it did. A region whose owner is alive
/// is never removed. The check and the removal happen under the producer's lock, so no
/// process can take the place in between.
pub fn remove_stale(path: impl AsRef<Path>) -> Result<bool, ShmError> {
    let path = path.as_ref();
    let file = open_for_locks(path)?;
    let free = os::try_lock_byte(&file, 0).map_err(|e| ShmError::io(path, "lock", e))?;
    if !free {
        return Ok(false);
    }
    std::fs::remove_file(path).map_err(|e| ShmError::io(path, "remove", e))?;
    Ok(true)
}
