//! Ring storage in process memory.

use super::{BackingError, RingStorage};
use crate::kernel::{Sequence, SlotCell};

/// A ring in process memory: slots pre-filled with `E::default()`, a cursor and one sequence
/// per stage, each on its own 128 bytes.
pub struct MemRing<E> {
    cursor: Sequence,
    stages: Box<[Sequence]>,
    slots: Box<[SlotCell<E>]>,
    mask: u64,
}

// SAFETY: the slots are only accessed through the kernel protocol, which gives one writer or
// many readers per slot at a time; moving them to other threads needs `E: Send`, and stages on
// different threads read the same event concurrently, which needs `E: Sync`.
unsafe impl<E: Send + Sync> Sync for MemRing<E> {}
// SAFETY: as above; the ring owns its events.
unsafe impl<E: Send> Send for MemRing<E> {}

impl<E: Default> MemRing<E> {
    /// A ring of `capacity` slots (power of two >= 2) with `stages` stage sequences (at most
    /// 64).
    pub fn new(capacity: u64, stages: usize) -> Result<Self, BackingError> {
        if capacity < 2 || !capacity.is_power_of_two() || capacity > (1 << 40) {
            return Err(BackingError::BadCapacity { capacity });
        }
        if stages > 64 {
            return Err(BackingError::TooManyStages {
                requested: stages,
                max: 64,
            });
        }
        Ok(MemRing {
            cursor: Sequence::new(0),
            stages: (0..stages).map(|_| Sequence::new(0)).collect(),
            slots: (0..capacity).map(|_| SlotCell::new(E::default())).collect(),
            mask: capacity - 1,
        })
    }
}

impl<E> MemRing<E> {
    /// Slots in the ring.
    #[inline(always)]
    pub fn capacity(&self) -> u64 {
        self.mask + 1
    }

    /// The producer's cursor.
    #[inline(always)]
    pub fn cursor(&self) -> &Sequence {
        &self.cursor
    }

    /// The stage sequences.
    #[inline(always)]
    pub fn stage_sequences(&self) -> &[Sequence] {
        &self.stages
    }

    /// The slot of event `seq`.
    #[inline(always)]
    pub fn slot(&self, seq: u64) -> &SlotCell<E> {
        let index = (seq & self.mask) as usize;
        debug_assert!(index < self.slots.len());
        // SAFETY: `slots.len() == mask + 1`, so `seq & mask` is in bounds.
        unsafe { self.slots.get_unchecked(index) }
    }
}

// SAFETY: capacity is a checked power of two >= 2 and `slots.len() == capacity`; `slot` masks
// the sequence, so it returns the cell at `seq % capacity`; the cursor and stage sequences are
// distinct fields owned by `self`.
unsafe impl<E: Send + Sync> RingStorage for MemRing<E> {
    type Event = E;

    #[inline(always)]
    fn capacity(&self) -> u64 {
        MemRing::capacity(self)
    }

    #[inline(always)]
    fn cursor(&self) -> &Sequence {
        MemRing::cursor(self)
    }

    #[inline(always)]
    fn stage_sequences(&self) -> &[Sequence] {
        MemRing::stage_sequences(self)
    }

    #[inline(always)]
    fn slot(&self, seq: u64) -> &SlotCell<E> {
        MemRing::slot(self, seq)
    }
}

impl<E> core::fmt::Debug for MemRing<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemRing")
            .field("capacity", &(self.mask + 1))
            .field("cursor", &self.cursor)
            .field("stages", &self.stages)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_capacities() {
        for cap in [0u64, 1, 3, 1000] {
            assert_eq!(
                MemRing::<u64>::new(cap, 1).unwrap_err(),
                BackingError::BadCapacity { capacity: cap }
            );
        }
        assert!(MemRing::<u64>::new(2, 1).is_ok());
    }

    #[test]
    fn slots_wrap_modulo_capacity() {
        let ring = MemRing::<u64>::new(8, 2).unwrap();
        assert_eq!(ring.capacity(), 8);
        assert!(core::ptr::eq(ring.slot(3), ring.slot(11)));
        assert!(!core::ptr::eq(ring.slot(3), ring.slot(4)));
        assert_eq!(ring.stage_sequences().len(), 2);
    }
}
