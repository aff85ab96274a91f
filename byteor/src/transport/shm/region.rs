//! Creating, opening and verifying one region file, and holding a peer's place in it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::ptr::addr_of;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memmap2::{MmapOptions, MmapRaw};

use super::error::{LayoutSummary, ShmError};
use super::os;
use crate::abi::region::{
    name_field, name_of, PeerSlotV1, RegionGeometry, RegionHeaderV1, PEER_DONE, PEER_FAILED,
    PEER_RUNNING, REGION_ABI_VERSION, REGION_CLOSED, REGION_FAILED, REGION_HEADER_BYTES,
    REGION_MAGIC, SHM_NAME_BYTES, SHM_V1_MAX_PEERS, SHM_V1_MAX_STAGES,
};
use crate::abi::{layout_fingerprint, EventLayout};

/// The directory regions live in unless the caller names another.
pub const DEFAULT_SHM_DIR: &str = "/dev/shm/byteor";

/// What a ring region holds: its event layout, the spec it serves, its capacity and its
/// stages. The creator writes it into the header; an opener checks the header against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingDescriptor {
    event: LayoutSummary,
    field_count: u32,
    spec_fingerprint: u64,
    capacity: u64,
    stages: Vec<String>,
    deps: Vec<u32>,
    geometry: RegionGeometry,
}

impl RingDescriptor {
    /// A ring of `capacity` slots of the event type `event` with the given stages, for the spec
    /// whose fingerprint is `spec_fingerprint`.
    ///
    /// The capacity is a power of two from 2 to
    /// [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY); there are 1 to
    /// [`SHM_V1_MAX_STAGES`] stages with distinct names of 1 to
    /// [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES) bytes; the slots take at most
    /// [`RING_V1_MAX_BYTES`](crate::RING_V1_MAX_BYTES); the event's alignment is at most 128.
    pub fn new(
        event: &EventLayout,
        spec_fingerprint: u64,
        capacity: u64,
        stages: &[impl AsRef<str>],
    ) -> Result<Self, ShmError> {
        let bad = |reason: String| Err(ShmError::BadDescriptor { reason });
        if capacity < 2
            || !capacity.is_power_of_two()
            || capacity > u64::from(crate::RING_V1_MAX_CAPACITY)
        {
            return bad(format!(
                "capacity {capacity} is not a power of two from 2 to {}",
                crate::RING_V1_MAX_CAPACITY
            ));
        }
        if stages.is_empty() || stages.len() > SHM_V1_MAX_STAGES {
            return bad(format!(
                "{} stages; a shared-memory ring has 1 to {SHM_V1_MAX_STAGES}",
                stages.len()
            ));
        }
        let stages: Vec<String> = stages.iter().map(|s| s.as_ref().to_owned()).collect();
        for (i, stage) in stages.iter().enumerate() {
            if stage.is_empty() || stage.len() > SHM_NAME_BYTES {
                return bad(format!(
                    "stage #{} name is {} bytes; names are 1 to {SHM_NAME_BYTES} bytes",
                    i + 1,
                    stage.len()
                ));
            }
            if stages[..i].contains(stage) {
                return bad(format!("stage `{stage}` is named twice"));
            }
        }
        if event.name.len() > SHM_NAME_BYTES {
            return bad(format!(
                "event type name `{}` is longer than {SHM_NAME_BYTES} bytes",
                event.name
            ));
        }
        if event.align > 128 || event.size == 0 {
            return bad(format!(
                "event type `{}` has size {} and alignment {}; a slot needs a size above 0 and \
                 an alignment of at most 128",
                event.name, event.size, event.align
            ));
        }
        let slot_bytes = event.size as u64;
        if capacity.saturating_mul(slot_bytes) > crate::RING_V1_MAX_BYTES {
            return bad(format!(
                "{capacity} slots of {slot_bytes} bytes are more than the {} bytes a ring may \
                 take",
                crate::RING_V1_MAX_BYTES
            ));
        }
        let geometry =
            RegionGeometry::new(capacity, slot_bytes, stages.len() as u64).ok_or_else(|| {
                ShmError::BadDescriptor {
                    reason: "the region size overflows".into(),
                }
            })?;
        Ok(RingDescriptor {
            event: summary(event),
            field_count: event.fields.len() as u32,
            spec_fingerprint,
            capacity,
            deps: vec![0; stages.len()],
            stages,
            geometry,
        })
    }

    /// Sets what each stage runs after: `deps[i]` has bit `j` set when stage `i` runs after
    /// stage `j` (`j < i`, as in a SingleRing spec); by default every stage reads straight
    /// after the producer. Stage processes (and the C client) wait on these.
    pub fn with_deps(mut self, deps: &[u32]) -> Result<Self, ShmError> {
        let ok = deps.len() == self.stages.len()
            && deps.iter().enumerate().all(|(i, &mask)| mask >> i == 0);
        if !ok {
            return Err(ShmError::BadDescriptor {
                reason: format!(
                    "dependencies {deps:?} for {} stages: one mask per stage, each naming only \
                     earlier stages",
                    self.stages.len()
                ),
            });
        }
        self.deps = deps.to_vec();
        Ok(self)
    }

    /// What each stage runs after (see [`with_deps`](Self::with_deps)).
    pub fn deps(&self) -> &[u32] {
        &self.deps
    }

    /// The event layout.
    pub fn event(&self) -> &LayoutSummary {
        &self.event
    }

    /// The spec fingerprint.
    pub fn spec_fingerprint(&self) -> u64 {
        self.spec_fingerprint
    }

    /// Slots.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Stage names, in stage order.
    pub fn stages(&self) -> &[String] {
        &self.stages
    }

    /// Where the sequences and slots lie, and the region's length.
    pub fn geometry(&self) -> RegionGeometry {
        self.geometry
    }
}

fn summary(event: &EventLayout) -> LayoutSummary {
    LayoutSummary {
        name: event.name.to_owned(),
        size: event.size as u64,
        align: event.align as u64,
        fingerprint: layout_fingerprint(event),
    }
}

/// How regions are created and opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmOptions {
    /// Permission bits of a created region file (default `0o600`: the creating user only).
    /// Applied exactly, whatever the process umask. A directory the creation makes gets
    /// `0o700` plus the execute bits matching the file's read bits.
    pub mode: u32,
    /// How long an opener waits for a creator still initialising (default 1 s).
    pub init_timeout: Duration,
}

impl Default for ShmOptions {
    fn default() -> Self {
        ShmOptions {
            mode: 0o600,
            init_timeout: Duration::from_secs(1),
        }
    }
}

/// Which place in a region a peer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// The one producer.
    Producer,
    /// Stage `i` (in the region's stage order).
    Stage(usize),
}

impl Peer {
    /// Index into the header's peer table, which is also the locked byte of the file.
    fn index(self) -> usize {
        match self {
            Peer::Producer => 0,
            Peer::Stage(i) => 1 + i,
        }
    }
}

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
        region
            .header()
            .identity
            .abi_version
            .store(REGION_ABI_VERSION, Ordering::Release);
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
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| ShmError::io(&path, "open", e))?;
        let len = file
            .metadata()
            .map_err(|e| ShmError::io(&path, "stat", e))?
            .len();
        if len < REGION_HEADER_BYTES as u64 {
            return Err(ShmError::ShorterThanHeader {
                path,
                expected: REGION_HEADER_BYTES as u64,
                found: len,
            });
        }
        let map = map(&file, &path, len)?;
        let mut region = Region {
            path,
            file,
            map,
            geometry: desc.geometry,
            stages: Vec::new(),
            held: Vec::new(),
        };
        region.wait_ready(options.init_timeout)?;
        region.verify(desc, len)?;
        region.stages = desc.stages.clone();
        Ok(region)
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
            let pid = self.peer_slot(peer).pid.load(Ordering::Acquire);
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
        slot.start_time
            .store(os::start_time(pid).unwrap_or(0), Ordering::Relaxed);
        slot.heartbeat_ns
            .store(os::monotonic_ns(), Ordering::Relaxed);
        slot.attachments.fetch_add(1, Ordering::Relaxed);
        slot.status.store(PEER_RUNNING, Ordering::Relaxed);
        slot.pid.store(pid, Ordering::Release);
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
    /// A stream that failed stays failed.
    pub fn close_stream(&self, drain_target: u64) {
        let control = &self.header().control;
        control.drain_target.store(drain_target, Ordering::Relaxed);
        let _ = control.state.compare_exchange(
            crate::abi::region::REGION_RUNNING,
            REGION_CLOSED,
            Ordering::Release,
            Ordering::Relaxed,
        );
    }

    /// The pipeline failed: every stage process stops at once.
    pub fn fail_stream(&self) {
        self.header()
            .control
            .state
            .store(REGION_FAILED, Ordering::Release);
    }

    /// What the producer last said.
    pub fn stream_state(&self) -> StreamState {
        let control = &self.header().control;
        match control.state.load(Ordering::Acquire) {
            REGION_CLOSED => StreamState::Closed {
                drain_target: control.drain_target.load(Ordering::Relaxed),
            },
            REGION_FAILED => StreamState::Failed,
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
        slot.failed_at.store(at, Ordering::Relaxed);
        slot.status.store(word, Ordering::Release);
    }

    /// How `peer` says it is doing.
    pub fn status(&self, peer: Peer) -> PeerStatus {
        let slot = self.peer_slot(peer);
        match slot.status.load(Ordering::Acquire) {
            PEER_DONE => PeerStatus::Done,
            PEER_FAILED => PeerStatus::Failed {
                sequence: Some(slot.failed_at.load(Ordering::Relaxed)).filter(|&s| s != u64::MAX),
            },
            _ => PeerStatus::Running,
        }
    }

    /// The process id recorded for `peer` (0: never attached).
    pub fn peer_pid(&self, peer: Peer) -> u32 {
        self.peer_slot(peer).pid.load(Ordering::Acquire)
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

    /// Waits until the creator has published the region (version word non-zero), failing at
    /// once on a foreign magic and after `timeout` on a region still at version 0.
    fn wait_ready(&self, timeout: Duration) -> Result<(), ShmError> {
        let identity = &self.header().identity;
        let start = Instant::now();
        loop {
            let magic = identity.magic.load(Ordering::Acquire).to_ne_bytes();
            if magic != [0; 8] && magic != REGION_MAGIC {
                return Err(ShmError::ForeignMagic {
                    path: self.path.clone(),
                    expected: REGION_MAGIC,
                    found: magic,
                });
            }
            if identity.abi_version.load(Ordering::Acquire) != 0 {
                return Ok(());
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(if self.header_is_zero() {
                    ShmError::Zeroed {
                        path: self.path.clone(),
                        waited,
                    }
                } else {
                    ShmError::StillInitialising {
                        path: self.path.clone(),
                        waited,
                        // SAFETY: in the mapped header; read as a volatile copy since a
                        // creator may still be writing.
                        creator_pid: unsafe { addr_of!(identity.owner_pid).read_volatile() },
                    }
                });
            }
            std::thread::sleep(Duration::from_millis(1).min(timeout - waited));
        }
    }

    /// Whether every byte of the header is zero (read as relaxed atomic words: a creator may
    /// be writing).
    fn header_is_zero(&self) -> bool {
        let words = self.base().cast::<std::sync::atomic::AtomicU64>();
        (0..REGION_HEADER_BYTES / 8).all(|i| {
            // SAFETY: the header is mapped, 8-aligned and `REGION_HEADER_BYTES` (a multiple of
            // 8) long; `AtomicU64` accepts every bit pattern.
            unsafe { (*words.add(i)).load(Ordering::Relaxed) == 0 }
        })
    }

    /// Checks a published header against `desc` and the file's length `len`.
    fn verify(&self, desc: &RingDescriptor, len: u64) -> Result<(), ShmError> {
        let h = HeaderFields::read(self.header());
        let path = || self.path.clone();
        let geometry = |field: &str, expected: String, found: String| ShmError::Geometry {
            path: path(),
            field: field.to_owned(),
            expected,
            found,
        };
        if h.abi_version != REGION_ABI_VERSION {
            return Err(ShmError::AbiVersion {
                path: path(),
                expected: REGION_ABI_VERSION,
                found: h.abi_version,
            });
        }
        let found = LayoutSummary {
            name: name_of(&h.event_name),
            size: h.event_size.into(),
            align: h.event_align.into(),
            fingerprint: h.layout_fingerprint,
        };
        if found != desc.event {
            return Err(ShmError::EventLayout {
                path: path(),
                expected: desc.event.clone(),
                found,
            });
        }
        if h.spec_fingerprint != desc.spec_fingerprint {
            return Err(ShmError::SpecFingerprint {
                path: path(),
                expected: desc.spec_fingerprint,
                found: h.spec_fingerprint,
            });
        }
        if h.header_bytes as usize != REGION_HEADER_BYTES {
            return Err(geometry(
                "header_bytes",
                REGION_HEADER_BYTES.to_string(),
                h.header_bytes.to_string(),
            ));
        }
        if h.stage_count as usize > SHM_V1_MAX_STAGES {
            return Err(geometry(
                "stage_count",
                format!("at most {SHM_V1_MAX_STAGES}"),
                h.stage_count.to_string(),
            ));
        }
        if h.slot_bytes != h.event_size || h.slot_align != h.event_align {
            return Err(geometry(
                "slot_bytes/slot_align",
                format!("{}/{} (the event's)", h.event_size, h.event_align),
                format!("{}/{}", h.slot_bytes, h.slot_align),
            ));
        }
        let stated = RegionGeometry::new(h.capacity, h.slot_bytes.into(), h.stage_count.into());
        let consistent = stated.filter(|g| {
            g.sequences_offset == h.sequences_offset
                && g.slots_offset == h.slots_offset
                && g.region_bytes == h.region_bytes
        });
        if consistent.is_none() {
            return Err(geometry(
                "sequences_offset/slots_offset/region_bytes",
                stated.map_or("a size that fits in 64 bits".into(), |g| {
                    format!(
                        "{}/{}/{}",
                        g.sequences_offset, g.slots_offset, g.region_bytes
                    )
                }),
                format!(
                    "{}/{}/{}",
                    h.sequences_offset, h.slots_offset, h.region_bytes
                ),
            ));
        }
        if len < h.region_bytes {
            return Err(ShmError::ShorterThanGeometry {
                path: path(),
                expected: h.region_bytes,
                found: len,
            });
        }
        if len != h.region_bytes {
            return Err(geometry(
                "file length",
                h.region_bytes.to_string(),
                len.to_string(),
            ));
        }
        if h.capacity != desc.capacity {
            return Err(geometry(
                "capacity",
                desc.capacity.to_string(),
                h.capacity.to_string(),
            ));
        }
        if h.stage_count as usize != desc.stages.len() {
            return Err(geometry(
                "stage_count",
                desc.stages.len().to_string(),
                h.stage_count.to_string(),
            ));
        }
        for (i, expected) in desc.stages.iter().enumerate() {
            let found = name_of(&h.stage_names[i]);
            if &found != expected {
                return Err(geometry(
                    &format!("stage {} name", i + 1),
                    format!("`{expected}`"),
                    format!("`{found}`"),
                ));
            }
            if h.stage_deps[i] != desc.deps[i] {
                return Err(geometry(
                    &format!("stage {} dependencies", i + 1),
                    format!("{:#x}", desc.deps[i]),
                    format!("{:#x}", h.stage_deps[i]),
                ));
            }
        }
        Ok(())
    }
}

/// The plain header fields, copied out once with volatile reads: the peer is untrusted, so
/// the copy is what gets checked and used, never the shared bytes again.
struct HeaderFields {
    abi_version: u32,
    header_bytes: u32,
    region_bytes: u64,
    layout_fingerprint: u64,
    spec_fingerprint: u64,
    capacity: u64,
    slot_bytes: u32,
    slot_align: u32,
    stage_count: u32,
    sequences_offset: u64,
    slots_offset: u64,
    event_name: [u8; SHM_NAME_BYTES],
    event_size: u32,
    event_align: u32,
    stage_names: [[u8; SHM_NAME_BYTES]; SHM_V1_MAX_STAGES],
    stage_deps: [u32; SHM_V1_MAX_STAGES],
}

impl HeaderFields {
    fn read(header: &RegionHeaderV1) -> Self {
        let id = &header.identity;
        // SAFETY: every pointer is to a field of the mapped header; integers and byte arrays
        // accept every bit pattern; volatile reads copy whatever a peer left there.
        unsafe {
            HeaderFields {
                abi_version: id.abi_version.load(Ordering::Acquire),
                header_bytes: addr_of!(id.header_bytes).read_volatile(),
                region_bytes: addr_of!(id.region_bytes).read_volatile(),
                layout_fingerprint: addr_of!(id.layout_fingerprint).read_volatile(),
                spec_fingerprint: addr_of!(id.spec_fingerprint).read_volatile(),
                capacity: addr_of!(id.capacity).read_volatile(),
                slot_bytes: addr_of!(id.slot_bytes).read_volatile(),
                slot_align: addr_of!(id.slot_align).read_volatile(),
                stage_count: addr_of!(id.stage_count).read_volatile(),
                sequences_offset: addr_of!(id.sequences_offset).read_volatile(),
                slots_offset: addr_of!(id.slots_offset).read_volatile(),
                event_name: addr_of!(header.event.name).read_volatile(),
                event_size: addr_of!(header.event.size).read_volatile(),
                event_align: addr_of!(header.event.align).read_volatile(),
                stage_names: addr_of!(header.stage_names).read_volatile(),
                stage_deps: addr_of!(id.stage_deps).read_volatile(),
            }
        }
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

/// What the producer told the stage processes, in the region's control block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// Publishing.
    Running,
    /// The stream ended: handle every event below `drain_target`, then stop.
    Closed {
        /// The end of the stream.
        drain_target: u64,
    },
    /// The pipeline failed: stop now.
    Failed,
}

/// How a peer says it is doing, in its header record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerStatus {
    /// Working (or never attached).
    Running,
    /// Finished cleanly.
    Done,
    /// Its stage failed, at `sequence` when tied to one event.
    Failed {
        /// The event it failed on.
        sequence: Option<u64>,
    },
}

/// Whether a peer is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// No process ever took this place.
    Absent,
    /// A process holds the place's lock, exists, and ticked its heartbeat within the timeout.
    Alive {
        /// The holder.
        pid: u32,
        /// Time since its last heartbeat.
        heartbeat_age: Duration,
    },
    /// The place was taken and its holder is gone or silent.
    Dead {
        /// The last holder.
        pid: u32,
        /// How the death was seen.
        reason: DeathReason,
    },
}

/// How a dead peer was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeathReason {
    /// Its OS lock is free: the process exited or was killed.
    LockReleased,
    /// No process with its pid and start time exists.
    ProcessGone,
    /// It holds its lock but has not ticked its heartbeat for longer than the timeout (stopped,
    /// or stuck).
    HeartbeatStale {
        /// Time since its last heartbeat.
        age: Duration,
    },
}

impl std::fmt::Display for DeathReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeathReason::LockReleased => f.write_str("its lock was released (process exited)"),
            DeathReason::ProcessGone => f.write_str("its process no longer exists"),
            DeathReason::HeartbeatStale { age } => write!(f, "no heartbeat for {age:?}"),
        }
    }
}

/// The state of the peer recorded in `slot`, whose lock is byte `byte` of `file`; `own` when
/// `file`'s description holds that lock itself (which then shows no conflict).
pub(crate) fn peer_state(
    file: &File,
    slot: &PeerSlotV1,
    byte: usize,
    own: bool,
    heartbeat_timeout: Duration,
) -> PeerState {
    let pid = slot.pid.load(Ordering::Acquire);
    if pid == 0 {
        return PeerState::Absent;
    }
    let dead = |reason| PeerState::Dead { pid, reason };
    if !own && matches!(os::byte_locked(file, byte as u64), Ok(false)) {
        return dead(DeathReason::LockReleased);
    }
    if !os::process_alive(pid, slot.start_time.load(Ordering::Relaxed)) {
        return dead(DeathReason::ProcessGone);
    }
    let age = Duration::from_nanos(
        os::monotonic_ns().saturating_sub(slot.heartbeat_ns.load(Ordering::Acquire)),
    );
    if age > heartbeat_timeout {
        return dead(DeathReason::HeartbeatStale { age });
    }
    PeerState::Alive {
        pid,
        heartbeat_age: age,
    }
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
