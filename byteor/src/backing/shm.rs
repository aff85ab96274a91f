//! Ring storage in a shared-memory region: [`ShmRing`].

use std::marker::PhantomData;
use std::path::Path;
use std::sync::Mutex;

use super::{PeerDown, RingStorage};
use crate::abi::ShmEvent;
use crate::kernel::{Sequence, SlotCell};
use crate::transport::shm::{Region, RingDescriptor, ShmError, ShmOptions};

/// A ring whose cursor, stage sequences and slots live in a shared-memory [`Region`]: the same
/// [`RingStorage`] the in-process executor runs over (`SingleRingPipeline::spawn_on`), so a
/// pipeline can keep its ring where other processes can attach to it.
///
/// The region's geometry was checked when it was created or opened (the slot run is exactly
/// `capacity` events of `E` on 128-byte-aligned offsets), and the storage never re-reads the
/// header afterwards. Events are plain data ([`ShmEvent`]): whatever another process writes
/// into a slot is a valid `E`.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use byteor::abi::ShmEvent;
/// use byteor::backing::{RingStorage, ShmRing};
/// use byteor::transport::shm::{RingDescriptor, ShmOptions};
///
/// #[derive(Clone, Copy, Default, ShmEvent)]
/// #[repr(C)]
/// struct Tick { seq: u64, value: u64 }
///
/// let dir = std::env::temp_dir().join(format!("byteor-shmring-doc-{}", std::process::id()));
/// let desc = RingDescriptor::new(&Tick::LAYOUT, 7, 64, &["a", "b"])?;
/// let ring = ShmRing::<Tick>::create(dir.join("ticks"), &desc, &ShmOptions::default())?;
/// assert_eq!(ring.capacity(), 64);
/// assert_eq!(ring.stage_sequences().len(), 2);
/// ring.region().remove_file()?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ShmRing<E> {
    region: Region,
    capacity: u64,
    stages: usize,
    cursor_at: usize,
    slots_at: usize,
    /// A stage process that is down, as the shared-memory watcher last saw it: the stage,
    /// what was seen, and the heartbeat timeout it was judged by.
    down: Mutex<Option<(usize, PeerDown, std::time::Duration)>>,
    _events: PhantomData<E>,
}

impl<E: ShmEvent> ShmRing<E> {
    /// Creates the region at `path` for `desc` and takes the producer's place (see
    /// [`Region::create`]). `desc` must describe `E`.
    pub fn create(
        path: impl AsRef<Path>,
        desc: &RingDescriptor,
        options: &ShmOptions,
    ) -> Result<Self, ShmError> {
        Self::check_event(desc)?;
        Self::over(Region::create(path, desc, options)?)
    }

    /// Opens and verifies the region at `path` (see [`Region::open`]); claim places on
    /// [`region_mut`](Self::region_mut). `desc` must describe `E`.
    pub fn open(
        path: impl AsRef<Path>,
        desc: &RingDescriptor,
        options: &ShmOptions,
    ) -> Result<Self, ShmError> {
        Self::check_event(desc)?;
        Self::over(Region::open(path, desc, options)?)
    }

    fn check_event(desc: &RingDescriptor) -> Result<(), ShmError> {
        let own = RingDescriptor::new(&E::LAYOUT, 0, 2, &["x"])?;
        if desc.event() != own.event() {
            return Err(ShmError::BadDescriptor {
                reason: format!(
                    "the descriptor is for events {}, the ring's type is {}",
                    desc.event(),
                    own.event()
                ),
            });
        }
        Ok(())
    }

    fn over(region: Region) -> Result<Self, ShmError> {
        let g = region.geometry();
        Ok(ShmRing {
            capacity: g.capacity,
            stages: g.stage_count as usize,
            cursor_at: g.sequences_offset as usize,
            slots_at: g.slots_offset as usize,
            region,
            down: Mutex::new(None),
            _events: PhantomData,
        })
    }
}

impl<E> ShmRing<E> {
    /// The region the ring lives in.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The region, to claim or release places.
    pub fn region_mut(&mut self) -> &mut Region {
        &mut self.region
    }

    /// Records that stage `stage` is down as `down` says (judged with `heartbeat_timeout`), or
    /// that no stage is (`None`): what [`RingStorage::peer_down`] reports to a producer
    /// waiting for room — after checking again, so a stage that came back in the meantime is
    /// not reported.
    pub fn set_peer_down(
        &self,
        down: Option<(usize, PeerDown)>,
        heartbeat_timeout: std::time::Duration,
    ) {
        *self.down.lock().unwrap_or_else(|e| e.into_inner()) =
            down.map(|(stage, d)| (stage, d, heartbeat_timeout));
    }
}

// SAFETY: `create`/`open` checked that the region's geometry is the one `RingDescriptor`
// computes for `E`: `capacity` (a power of two from 2) slots of exactly `size_of::<E>()`
// bytes at `slots_at`, a 128-byte-aligned offset (so every slot is aligned for `E`, whose
// alignment is at most 128 and divides its size), and `1 + stages` sequences of 128 bytes from
// `cursor_at`, all inside the mapping, not overlapping each other or the header. The mapping
// never moves or shrinks while `self` lives. Other processes that attach follow the same
// protocol; this process gives the storage to one executor.
unsafe impl<E: ShmEvent + Send + Sync> RingStorage for ShmRing<E> {
    type Event = E;

    #[inline(always)]
    fn capacity(&self) -> u64 {
        self.capacity
    }

    #[inline(always)]
    fn cursor(&self) -> &Sequence {
        // SAFETY: a 128-byte, 128-aligned sequence at `cursor_at` inside the mapping (see the
        // impl's safety comment); every bit pattern is a valid `Sequence` (an atomic u64 and
        // padding), and it is only ever accessed atomically.
        unsafe { &*self.region.base().add(self.cursor_at).cast::<Sequence>() }
    }

    #[inline(always)]
    fn stage_sequences(&self) -> &[Sequence] {
        // SAFETY: `stages` sequences follow the cursor contiguously (`Sequence` is exactly
        // 128 bytes), inside the mapping.
        unsafe {
            std::slice::from_raw_parts(
                self.region
                    .base()
                    .add(self.cursor_at)
                    .cast::<Sequence>()
                    .add(1),
                self.stages,
            )
        }
    }

    fn peer_down(&self) -> Option<PeerDown> {
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        let (stage, seen, timeout) = down.as_ref()?;
        // The watcher looks once per tick; the stage may have (re)attached since.
        let peer = crate::transport::shm::Peer::Stage(*stage);
        if let crate::transport::shm::PeerState::Alive { .. } =
            self.region.peer_state(peer, *timeout)
        {
            *down = None;
            return None;
        }
        Some(seen.clone())
    }

    #[inline(always)]
    fn slots(&self) -> &[SlotCell<E>] {
        // SAFETY: `capacity` slots of `size_of::<E>()` bytes (`SlotCell<E>` is
        // `repr(transparent)` over `UnsafeCell<E>`) from the aligned `slots_at`, inside the
        // mapping; every bit pattern is a valid `E` (`ShmEvent`).
        unsafe {
            std::slice::from_raw_parts(
                self.region.base().add(self.slots_at).cast::<SlotCell<E>>(),
                self.capacity as usize,
            )
        }
    }
}
