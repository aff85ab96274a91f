//! Ring storage behind one trait: [`MemRing`] in process memory, and (Linux) `ShmRing` in a
//! shared-memory region other processes attach to; the kernel and executor run unchanged on
//! either. [`journal`] stores events in segment files (the `Journal` lane kind's storage).

pub mod journal;
mod mem;
#[cfg(all(target_os = "linux", not(loom)))]
mod shm;

pub use mem::MemRing;
#[cfg(all(target_os = "linux", not(loom)))]
pub use shm::ShmRing;

use crate::kernel::{Sequence, SlotCell};

/// Storage of one ring: the producer cursor, one sequence per stage, and the slots.
///
/// The executor runs over any implementation — [`MemRing`] in process memory, a ring laid out
/// in a byte buffer or a shared-memory mapping — with the same monomorphised stage loops and
/// producer (see `SingleRingPipeline::spawn_on`): it reads the cursor, the stage sequences and
/// the slot run once when a thread starts and indexes them directly afterwards, so storage
/// costs nothing per event.
///
/// # Safety
/// Implementors guarantee that:
/// * [`capacity`](Self::capacity) is a power of two, at least 2, and constant;
/// * [`slots`](Self::slots) always returns the same run of exactly `capacity` cells, so event
///   `seq` lives in cell `seq % capacity` and two sequences share a cell exactly when they are
///   congruent modulo the capacity;
/// * the cursor, every stage sequence and every slot are distinct objects that live, at the
///   same addresses, as long as `self`;
/// * nothing but the executor accesses them while it runs.
///
/// The executor relies on these to uphold the kernel protocol; a wrong implementation can make
/// it hand out aliasing references.
pub unsafe trait RingStorage: Send + Sync + 'static {
    /// The event type held in each slot.
    type Event;

    /// Slots in the ring.
    fn capacity(&self) -> u64;

    /// The producer's cursor: events published.
    fn cursor(&self) -> &Sequence;

    /// One sequence per stage: events each stage finished.
    fn stage_sequences(&self) -> &[Sequence];

    /// Every slot of the ring, in order: `capacity` cells.
    fn slots(&self) -> &[SlotCell<Self::Event>];

    /// The slot event `seq` lives in.
    #[inline(always)]
    fn slot(&self, seq: u64) -> &SlotCell<Self::Event> {
        SlotView::of(self).slot(seq)
    }

    /// A stage this ring's producer waits on that runs in another process and is down, if
    /// any. Asked only on the slow path, by a producer waiting for room; storage that lives
    /// in this process alone never has one (the default).
    fn peer_down(&self) -> Option<PeerDown> {
        None
    }
}

/// A stage running in another process that is down, as ring storage shared between processes
/// reports it (see [`RingStorage::peer_down`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerDown {
    /// The stage.
    pub stage: String,
    /// The shard whose ring waits on it.
    pub shard: u32,
    /// Its last process id (0: no process ever attached).
    pub pid: u32,
    /// How it was seen down.
    pub reason: String,
}

impl std::fmt::Display for PeerDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stage `{}` (shard {}, pid {}) is down: {}",
            self.stage, self.shard, self.pid, self.reason
        )
    }
}

/// The slots of a ring as the stage loops and the producer index them: one contiguous run of
/// cells and the mask that maps a sequence to its cell. Two words, copied into each thread.
#[derive(Debug)]
pub struct SlotView<'a, E> {
    cells: &'a [SlotCell<E>],
    mask: u64,
}

impl<E> Clone for SlotView<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for SlotView<'_, E> {}

impl<'a, E> SlotView<'a, E> {
    /// The slots of `ring`.
    #[inline(always)]
    pub fn of<R: RingStorage<Event = E> + ?Sized>(ring: &'a R) -> Self {
        let cells = ring.slots();
        debug_assert!(cells.len().is_power_of_two() && cells.len() as u64 == ring.capacity());
        SlotView {
            cells,
            mask: ring.capacity() - 1,
        }
    }

    /// The slot event `seq` lives in.
    #[inline(always)]
    pub fn slot(&self, seq: u64) -> &'a SlotCell<E> {
        let index = (seq & self.mask) as usize;
        debug_assert!(index < self.cells.len());
        // SAFETY: `RingStorage` guarantees `cells.len() == capacity == mask + 1`, so
        // `seq & mask` is in bounds.
        unsafe { self.cells.get_unchecked(index) }
    }

    /// Slots in the ring.
    #[inline(always)]
    pub fn capacity(&self) -> u64 {
        self.mask + 1
    }
}

/// Errors creating ring storage.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BackingError {
    /// Capacity is not a power of two of at least 2.
    #[error("ring capacity {capacity} is not a power of two >= 2")]
    BadCapacity {
        /// The capacity asked for.
        capacity: u64,
    },
    /// Too many stages for one ring.
    #[error("a ring holds at most {max} stage sequences, {requested} were asked for")]
    TooManyStages {
        /// Stages asked for.
        requested: usize,
        /// The limit.
        max: usize,
    },
    /// The rings would take more memory than [`RING_V1_MAX_BYTES`](crate::RING_V1_MAX_BYTES)
    /// allows.
    #[error(
        "{what}: {shards} ring(s) of {capacity} slots of {slot_bytes} bytes need {bytes} bytes, \
         more than the limit of {max} bytes; use a smaller capacity, fewer shards or a smaller \
         event"
    )]
    TooLarge {
        /// What asked for the memory (`pipeline `orders``, `ring`).
        what: String,
        /// Slots per ring.
        capacity: u64,
        /// Rings (shards).
        shards: u64,
        /// Bytes per slot.
        slot_bytes: u64,
        /// Bytes asked for in all (saturating).
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// The allocator could not provide the ring's memory (the limit was respected, the host
    /// did not have it).
    #[error("could not allocate {bytes} bytes of ring memory")]
    OutOfMemory {
        /// Bytes asked for.
        bytes: u64,
    },
    /// A shared-memory region could not be created or opened (the error is shared so that
    /// `BackingError` stays `Clone`).
    #[cfg(all(target_os = "linux", not(loom)))]
    #[error(transparent)]
    Region(std::sync::Arc<crate::transport::shm::ShmError>),
}

#[cfg(all(target_os = "linux", not(loom)))]
impl From<crate::transport::shm::ShmError> for BackingError {
    fn from(error: crate::transport::shm::ShmError) -> Self {
        BackingError::Region(std::sync::Arc::new(error))
    }
}

/// Checks that `shards` rings of `capacity` slots of `E` fit in
/// [`RING_V1_MAX_BYTES`](crate::RING_V1_MAX_BYTES); `what` names the requester in the error.
///
/// ```
/// use byteor::backing::{check_ring_bytes, BackingError};
///
/// assert!(check_ring_bytes::<u64>("pipeline `small`", 1024, 4).is_ok());
/// let err = check_ring_bytes::<[u8; 4096]>("pipeline `big`", 1 << 20, 1).unwrap_err();
/// assert!(matches!(err, BackingError::TooLarge { .. }));
/// ```
pub fn check_ring_bytes<E>(what: &str, capacity: u64, shards: u64) -> Result<(), BackingError> {
    let slot_bytes = core::mem::size_of::<SlotCell<E>>() as u64;
    let bytes = capacity.saturating_mul(shards).saturating_mul(slot_bytes);
    if bytes > crate::RING_V1_MAX_BYTES {
        return Err(BackingError::TooLarge {
            what: what.to_owned(),
            capacity,
            shards,
            slot_bytes,
            bytes,
            max: crate::RING_V1_MAX_BYTES,
        });
    }
    Ok(())
}
