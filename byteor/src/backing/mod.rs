//! Ring storage behind one trait: [`MemRing`] in process memory today; the shared-memory
//! backing implements the same [`RingStorage`] so the kernel and executor run unchanged on it.

mod mem;

pub use mem::MemRing;

use crate::kernel::{Sequence, SlotCell};

/// Storage of one ring: the producer cursor, one sequence per stage, and the slots.
///
/// # Safety
/// Implementors guarantee that:
/// * [`capacity`](Self::capacity) is a power of two, at least 2, and constant;
/// * [`slot`](Self::slot) returns, for every `seq`, the cell at index `seq % capacity`, so two
///   sequences map to the same cell exactly when they are congruent modulo the capacity;
/// * the cursor and every stage sequence are distinct objects that live as long as `self`.
///
/// The executor relies on these to uphold the kernel protocol; a wrong implementation can make
/// it hand out aliasing references.
pub unsafe trait RingStorage: Send + Sync {
    /// The event type held in each slot.
    type Event;

    /// Slots in the ring.
    fn capacity(&self) -> u64;

    /// The producer's cursor: events published.
    fn cursor(&self) -> &Sequence;

    /// One sequence per stage: events each stage finished.
    fn stage_sequences(&self) -> &[Sequence];

    /// The slot event `seq` lives in.
    fn slot(&self, seq: u64) -> &SlotCell<Self::Event>;
}

/// Errors creating ring storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
