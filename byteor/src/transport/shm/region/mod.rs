//! Creating, opening and verifying one region file, and holding a peer's place in it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::ptr::addr_of;
use std::sync::atomic::Ordering;

use crate::kernel::doorbell::Doorbell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memmap2::{MmapOptions, MmapRaw};

use super::error::{LayoutSummary, ShmError};
use super::os;
use crate::abi::region::{
    name_field, name_of, PeerSlotV1, RegionGeometry, RegionHeaderV1, PEER_DONE, PEER_FAILED,
    PEER_RUNNING, REGION_ABI_VERSION, REGION_CLOSED, REGION_FAILED, REGION_HEADER_BYTES,
    REGION_MAGIC, REGION_RUNNING, REGION_SEQUENCE_STRIDE, SHM_NAME_BYTES, SHM_V1_MAX_PEERS,
    SHM_V1_MAX_STAGES,
};
use crate::abi::{layout_fingerprint, EventLayout};
use crate::kernel::notice;

mod descriptor;
mod liveness;
mod verify;

pub use descriptor::{Peer, RingDescriptor, ShmOptions, DEFAULT_SHM_DIR};
pub(crate) use liveness::peer_state;
pub use liveness::{DeathReason, PeerState, PeerStatus, StreamState};

/// A mapped, verified ring region, and the places this process holds in it.
///
/// Dropping it releases the places (the OS releases them too when the process dies) and unmaps
/// the region; the file stays until [`remove_file`](Self::remove_file) or
/// [`remove_stale`](super::remove_stale).
#[derive(Debug)]
pub struct Region {
    path: PathBuf,
    file: File,
    map: MmapRaw,
    geometry: RegionGeometry,
    stages: Vec<String>,
    held: Vec<Peer>,
}

impl Region {
    /// Creates the region file at `path` (never replacing one: [`ShmError::Exists`]), lays out
    /// the ring `desc` describes, takes the producer's place and publishes the region
    /// (header version last). The bytes are reserved in the file system up front (a full
    /// `/dev/shm` is [`ShmError::NoSpace`], not a later `SIGBUS`) and the pages mapped in
    /// (`MAP_POPULATE`), so the hot path takes no page faults. On any error the file is
    /// removed again.
    pub fn create(
        path: impl AsRef<Path>,
        desc: &RingDescriptor,
        options: &ShmOptions,
    ) -> Result<Region, ShmError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Readers of the file need to traverse the directory.
            let group = if options.mode & 0o040 != 0 { 0o050 } else { 0 };
            let other = if options.mode & 0o004 != 0 { 0o005 } else { 0 };
            let dir_mode = 0o700 | group | other;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(dir_mode)
                .create(dir)
                .map_err(|e| ShmError::io(dir, "create directory", e))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(options.mode)
            .open(&path)
            .map_err(|e| ShmError::io(&path, "create", e))?;
        // From here on the file is ours: remove it again unless creation completes. The
        // producer's lock is taken at once, so `remove_stale` never takes a region being
        // created for a stale one.
        let mut cleanup = RemoveOnDrop(Some(path.clone()));
        let locked = os::try_lock_byte(&file, Peer::Producer.index() as u64)
            .map_err(|e| ShmError::io(&path, "lock", e))?;
        debug_assert!(locked, "a new file has no other holder");
        file.set_permissions(std::fs::Permissions::from_mode(options.mode))
            .map_err(|e| ShmError::io(&path, "set mode", e))?;
        let geometry = desc.geometry;
        os::allocate(&file, geometry.region_bytes).map_err(|e| {
            if e.raw_os_error() == Some(libc::ENOSPC) {
                ShmError::NoSpace {
                    path: path.clone(),
                    bytes: geometry.region_bytes,
                }
            } else {
                ShmError::io(&path, "reserve", e)
            }
        })?;
        let map = map(&file, &path, geometry.region_bytes)?;
        let mut region = Region {
            path,
            file,
            map,
            geometry,
            stages: desc.stages.clone(),
            held: Vec::new(),
        };
        region.write_header(desc);
        region.record_claim(Peer::Producer);
        notice::publish(&region.header().identity.abi_version, REGION_ABI_VERSION);
        cleanup.0 = None;
        Ok(region)
    }

    /// Opens the region at `path` and checks it against `desc`: the file's size before
    /// mapping, then every header field, each failure its own [`ShmError`]. A region whose
    /// creator is still initialising is waited for up to `options.init_timeout`. Takes no
    /// place: see [`claim`](Self::claim).
    pub fn open(
        path: impl AsRef<Path>,
        desc: &RingDescriptor,
        options: &ShmOptions,
    ) -> Result<Region, ShmError> {
        let (mut region, len) = Self::open_mapped(path.as_ref(), desc.geometry, options)?;
        region.verify(desc, len)?;
        region.stages = desc.stages.clone();
        Ok(region)
    }

    /// Opens whatever ring the region at `path` holds — for tools that inspect regions rather
    /// than run a pipeline over them — and returns it with the description its header states.
    /// The header must be consistent (ABI version, geometry, the file's length); nothing is
    /// expected of the event type, the spec or the stages.
    pub fn open_any(
        path: impl AsRef<Path>,
        options: &ShmOptions,
    ) -> Result<(Region, RingDescriptor), ShmError> {
        // The geometry is not known until the header is read: none until then.
        let unknown = RegionGeometry {
            capacity: 0,
            slot_bytes: 0,
            stage_count: 0,
            sequences_offset: 0,
            slots_offset: 0,
            region_bytes: 0,
        };
        let (mut region, len) = Self::open_mapped(path.as_ref(), unknown, options)?;
        let desc = region.describe(len)?;
        region.geometry = desc.geometry;
        region.stages = desc.stages.clone();
        Ok((region, desc))
    }

    /// The length of `file` once it holds at least a header. A creator makes the file, locks
    /// the producer's byte, then sizes it: a short file whose producer byte is locked is still
    /// being created, and is waited for up to `timeout` (then [`ShmError::StillInitialising`]).
    /// A short file nobody holds gets a few milliseconds (a creator between making the file
    /// and locking it) and is then [`ShmError::ShorterThanHeader`].
    fn sized(file: &File, path: &Path, timeout: Duration) -> Result<u64, ShmError> {
        const UNLOCKED_GRACE: Duration = Duration::from_millis(10);
        let start = Instant::now();
        loop {
            let len = file
                .metadata()
                .map_err(|e| ShmError::io(path, "stat", e))?
                .len();
            if len >= REGION_HEADER_BYTES as u64 {
                return Ok(len);
            }
            let creating = os::byte_locked(file, Peer::Producer.index() as u64)
                .map_err(|e| ShmError::io(path, "test lock", e))?;
            let waited = start.elapsed();
            if creating && waited >= timeout {
                return Err(ShmError::StillInitialising {
                    path: path.to_path_buf(),
                    waited,
                    // The creator has not sized the file, let alone written its pid.
                    creator_pid: 0,
                });
            }
            if !creating && waited >= UNLOCKED_GRACE.min(timeout) {
                return Err(ShmError::ShorterThanHeader {
                    path: path.to_path_buf(),
                    expected: REGION_HEADER_BYTES as u64,
                    found: len,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Opens and maps the file at `path` (checking that it holds a header first) and waits for
    /// its creator to publish it; returns the region and the file's length.
    fn open_mapped(
        path: &Path,
        geometry: RegionGeometry,
        options: &ShmOptions,
    ) -> Result<(Region, u64), ShmError> {
        let path = path.to_path_buf();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| ShmError::io(&path, "open", e))?;
        let len = Self::sized(&file, &path, options.init_timeout)?;
        let map = map(&file, &path, len)?;
        let region = Region {
            path,
            file,
            map,
            geometry,
            stages: Vec::new(),
            held: Vec::new(),
        };
        region.wait_ready(options.init_timeout)?;
        Ok((region, len))
    }

    /// The producer's cursor (`0`) or stage `i`'s sequence (`1 + i`), read as an atomic.
    pub fn sequence(&self, k: usize) -> u64 {
        if k > self.stages.len() {
            return 0;
        }
        let at = self.geometry.sequences_offset as usize + k * REGION_SEQUENCE_STRIDE as usize;
        // SAFETY: the geometry was checked against the mapping's length, so the 128-byte
        // sequence at `at` (one of `1 + stage_count`, each 128 bytes from `sequences_offset`)
        // is inside the mapping and 128-aligned (offsets are multiples of 128 from a
        // page-aligned base); every bit pattern is a valid `Sequence`, which is only accessed
        // atomically.
        let sequence = unsafe { &*self.base().add(at).cast::<crate::kernel::Sequence>() };
        sequence.load()
    }

    /// The region file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the sequences and slots lie.
    pub fn geometry(&self) -> RegionGeometry {
        self.geometry
    }

    /// Stage names, in stage order.
    pub fn stages(&self) -> &[String] {
        &self.stages
    }

    /// The places this process holds.
    pub fn held(&self) -> &[Peer] {
        &self.held
    }

    /// The stage named `name`.
    pub fn stage(&self, name: &str) -> Result<Peer, ShmError> {
        match self.stages.iter().position(|s| s == name) {
            Some(i) => Ok(Peer::Stage(i)),
            None => Err(ShmError::UnknownStage {
                path: self.path.clone(),
                stage: name.to_owned(),
                stages: self.stages.clone(),
            }),
        }
    }

    /// Takes `peer`'s place: its OS lock (released when this region is dropped or the process
    /// dies), then its record in the header (pid, start time, a first heartbeat). Refused with
    /// [`ShmError::ProducerTaken`] or [`ShmError::StageTaken`] while another process (or
    /// another `Region` of this one) holds it; a place whose holder died is free again.
    pub fn claim(&mut self, peer: Peer) -> Result<(), ShmError> {
        if self.held.contains(&peer) {
            return Ok(());
        }
        if let Peer::Stage(i) = peer {
            if i >= self.stages.len() {
                return Err(ShmError::BadDescriptor {
                    reason: format!("stage {i} of a ring of {} stages", self.stages.len()),
                });
            }
        }
        let taken = !os::try_lock_byte(&self.file, peer.index() as u64)
            .map_err(|e| ShmError::io(&self.path, "lock", e))?;
        if taken {
            let pid = self.peer_pid(peer);
            let path = self.path.clone();
            return Err(match peer {
                Peer::Producer => ShmError::ProducerTaken { path, pid },
                Peer::Stage(i) => ShmError::StageTaken {
                    path,
                    stage: self.stages[i].clone(),
                    pid,
                },
            });
        }
        self.record_claim(peer);
        Ok(())
    }

    /// Writes this process into `peer`'s record, whose lock it has just taken.
    fn record_claim(&mut self, peer: Peer) {
        let pid = os::current_pid();
        let slot = self.peer_slot(peer);
        slot.heartbeat_ns
            .store(os::monotonic_ns(), Ordering::Relaxed);
        slot.attachments.fetch_add(1, Ordering::Relaxed);
        notice::post(&slot.status, PEER_RUNNING, &slot.failed_at, u64::MAX);
        // Last: a reader that sees the pid sees its start time (and the record above).
        notice::post(
            &slot.pid,
            pid,
            &slot.start_time,
            os::start_time(pid).unwrap_or(0),
        );
        self.held.push(peer);
    }

    /// Gives up `peer`'s place (its lock; the header keeps the record, so the place shows as
    /// dead until someone claims it again). A no-op for a place not held.
    pub fn release(&mut self, peer: Peer) -> Result<(), ShmError> {
        if let Some(at) = self.held.iter().position(|&p| p == peer) {
            os::unlock_byte(&self.file, peer.index() as u64)
                .map_err(|e| ShmError::io(&self.path, "unlock", e))?;
            self.held.remove(at);
        }
        Ok(())
    }

    /// Records a heartbeat for every place this process holds. Call it at least every
    /// heartbeat timeout; it is two stores, no system call but the vDSO clock.
    pub fn heartbeat(&self) {
        let now = os::monotonic_ns();
        for &peer in &self.held {
            self.peer_slot(peer)
                .heartbeat_ns
                .store(now, Ordering::Release);
        }
    }

    /// Whether `peer` is alive, dead (and why) or was never attached: see [`PeerState`].
    pub fn peer_state(&self, peer: Peer, heartbeat_timeout: Duration) -> PeerState {
        let own = self.held.contains(&peer);
        peer_state(
            &self.file,
            self.peer_slot(peer),
            peer.index(),
            own,
            heartbeat_timeout,
        )
    }

    /// The producer ends the stream: stages handle every event below `drain_target` and stop.
    /// A stream that failed stays failed. Stages sleeping on the
    /// [`data_doorbell`](Self::data_doorbell) are woken to see it.
    pub fn close_stream(&self, drain_target: u64) {
        let control = &self.header().control;
        notice::post_if(
            &control.state,
            REGION_RUNNING,
            REGION_CLOSED,
            &control.drain_target,
            drain_target,
        );
        self.data_doorbell().ring();
    }

    /// The pipeline failed: every stage process stops at once (sleepers on either doorbell
    /// are woken to see it).
    pub fn fail_stream(&self) {
        notice::publish(&self.header().control.state, REGION_FAILED);
        self.data_doorbell().ring();
        self.room_doorbell().ring();
    }

    /// Where stage processes sleep while they wait for events; the producer rings it after it
    /// publishes (one relaxed load while nobody sleeps).
    pub fn data_doorbell(&self) -> Doorbell<'_> {
        let control = &self.header().control;
        Doorbell::new(&control.data_bell, &control.data_sleepers)
    }

    /// Where the producer sleeps while it waits for room; stages ring it after they release
    /// events.
    pub fn room_doorbell(&self) -> Doorbell<'_> {
        let control = &self.header().control;
        Doorbell::new(&control.room_bell, &control.room_sleepers)
    }

    /// The producer counts `n` more events it dropped for want of room (a lane under
    /// `on_full = drop`); see [`dropped`](Self::dropped).
    pub fn add_dropped(&self, n: u64) {
        self.header()
            .control
            .dropped
            .fetch_add(n, Ordering::Relaxed);
    }

    /// Events the producer dropped for want of room (0 for a ring: its producer waits).
    pub fn dropped(&self) -> u64 {
        self.header().control.dropped.load(Ordering::Relaxed)
    }

    /// What the producer last said.
    pub fn stream_state(&self) -> StreamState {
        let control = &self.header().control;
        match notice::read(&control.state, &control.drain_target) {
            (REGION_CLOSED, drain_target) => StreamState::Closed { drain_target },
            (REGION_FAILED, _) => StreamState::Failed,
            _ => StreamState::Running,
        }
    }

    /// Records how `peer` ended (or that it works again).
    pub fn set_status(&self, peer: Peer, status: PeerStatus) {
        let slot = self.peer_slot(peer);
        let (word, at) = match status {
            PeerStatus::Running => (PEER_RUNNING, u64::MAX),
            PeerStatus::Done => (PEER_DONE, u64::MAX),
            PeerStatus::Failed { sequence } => (PEER_FAILED, sequence.unwrap_or(u64::MAX)),
        };
        notice::post(&slot.status, word, &slot.failed_at, at);
    }

    /// How `peer` says it is doing.
    pub fn status(&self, peer: Peer) -> PeerStatus {
        let slot = self.peer_slot(peer);
        match notice::read(&slot.status, &slot.failed_at) {
            (PEER_DONE, _) => PeerStatus::Done,
            (PEER_FAILED, at) => PeerStatus::Failed {
                sequence: Some(at).filter(|&s| s != u64::MAX),
            },
            _ => PeerStatus::Running,
        }
    }

    /// The process id recorded for `peer` (0: never attached).
    pub fn peer_pid(&self, peer: Peer) -> u32 {
        notice::read(&self.peer_slot(peer).pid, &self.peer_slot(peer).start_time).0
    }

    /// Removes the region file (mapped regions stay valid until dropped). Only the owner
    /// should: other processes attached to it keep their mapping, but no new one can open it.
    pub fn remove_file(&self) -> Result<(), ShmError> {
        std::fs::remove_file(&self.path).map_err(|e| ShmError::io(&self.path, "remove", e))
    }

    /// The first byte of the mapping.
    pub(crate) fn base(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// The header. Its atomics may be used freely; its plain fields were written once, before
    /// the version word was published, and are read through [`Region::snapshot`] only.
    fn header(&self) -> &RegionHeaderV1 {
        // SAFETY: the mapping is at least `REGION_HEADER_BYTES` long (checked before mapping)
        // and page-aligned, so suitably aligned for the 128-aligned header; every bit pattern
        // is a valid `RegionHeaderV1` (integers, byte arrays and atomics of integers); the
        // mapping lives as long as `self`. Other processes write only its atomics while it is
        // shared, and this process never forms a `&mut` to it.
        unsafe { &*self.base().cast::<RegionHeaderV1>() }
    }

    fn peer_slot(&self, peer: Peer) -> &PeerSlotV1 {
        &self.header().peers[peer.index().min(SHM_V1_MAX_PEERS - 1)]
    }

    /// Writes every header field but the version word (fresh, private region).
    fn write_header(&mut self, desc: &RingDescriptor) {
        let g = desc.geometry;
        let header = self.base().cast::<RegionHeaderV1>();
        let pid = os::current_pid();
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut stage_names = [[0u8; SHM_NAME_BYTES]; SHM_V1_MAX_STAGES];
        for (field, name) in stage_names.iter_mut().zip(&desc.stages) {
            *field = name_field(name).unwrap_or([0; SHM_NAME_BYTES]);
        }
        // SAFETY: the region was just created by this process and is not yet published (its
        // version word is 0, so no opener reads these fields); the mapping covers the header
        // and is suitably aligned; each write is to a plain field of the header.
        unsafe {
            let id = &raw mut (*header).identity;
            (&raw mut (*id).header_bytes).write(REGION_HEADER_BYTES as u32);
            (&raw mut (*id).region_bytes).write(g.region_bytes);
            (&raw mut (*id).layout_fingerprint).write(desc.event.fingerprint);
            (&raw mut (*id).spec_fingerprint).write(desc.spec_fingerprint);
            (&raw mut (*id).capacity).write(g.capacity);
            (&raw mut (*id).slot_bytes).write(g.slot_bytes as u32);
            (&raw mut (*id).slot_align).write(desc.event.align as u32);
            (&raw mut (*id).stage_count).write(g.stage_count as u32);
            (&raw mut (*id).sequences_offset).write(g.sequences_offset);
            (&raw mut (*id).slots_offset).write(g.slots_offset);
            (&raw mut (*id).owner_pid).write(pid);
            (&raw mut (*id).owner_start_time).write(os::start_time(pid).unwrap_or(0));
            (&raw mut (*id).created_unix_ns).write(created);
            let mut deps = [0u32; SHM_V1_MAX_STAGES];
            deps[..desc.deps.len()].copy_from_slice(&desc.deps);
            (&raw mut (*id).stage_deps).write(deps);
            let ev = &raw mut (*header).event;
            (&raw mut (*ev).name)
                .write(name_field(&desc.event.name).unwrap_or([0; SHM_NAME_BYTES]));
            (&raw mut (*ev).size).write(desc.event.size as u32);
            (&raw mut (*ev).align).write(desc.event.align as u32);
            (&raw mut (*ev).field_count).write(desc.field_count);
            (&raw mut (*header).stage_names).write(stage_names);
        }
        self.header()
            .identity
            .magic
            .store(u64::from_ne_bytes(REGION_MAGIC), Ordering::Relaxed);
    }
}

/// Maps `len` bytes of `file`, pages populated up front.
fn map(file: &File, path: &Path, len: u64) -> Result<MmapRaw, ShmError> {
    let len = usize::try_from(len).map_err(|_| ShmError::Geometry {
        path: path.to_path_buf(),
        field: "file length".into(),
        expected: "a length this process can map".into(),
        found: len.to_string(),
    })?;
    MmapOptions::new()
        .len(len)
        .populate()
        .map_raw(file)
        .map_err(|e| ShmError::io(path, "map", e))
}

/// Removes a file on drop unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}
