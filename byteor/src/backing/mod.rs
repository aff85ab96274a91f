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
}
