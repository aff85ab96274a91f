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
    /// A ring of `capacity` slots (a power of two from 2 to
    /// [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY), taking at most
    /// [`RING_V1_MAX_BYTES`](crate::RING_V1_MAX_BYTES)) with `stages` stage sequences (at most
    /// 64).
    ///
    /// The memory is allocated fallibly: a host that cannot provide it gets
    /// [`BackingError::OutOfMemory`], never an abort.
    pub fn new(capacity: u64, stages: usize) -> Result<Self, BackingError> {
        if capacity < 2
            || !capacity.is_power_of_two()
            || capacity > u64::from(crate::RING_V1_MAX_CAPACITY)
        {
            return Err(BackingError::BadCapacity { capacity });
        }
        if stages > 64 {
            return Err(BackingError::TooManyStages {
                requested: stages,
                max: 64,
            });
        }
        super::check_ring_bytes::<E>("ring", capacity, 1)?;
        Ok(MemRing {
            cursor: Sequence::new(0),
            stages: try_boxed(stages, |_| Sequence::new(0))?,
            slots: try_boxed(capacity as usize, |_| SlotCell::new(E::default()))?,
            mask: capacity - 1,
        })
    }
}

/// `len` values made by `make`, in memory allocated fallibly.
fn try_boxed<T>(len: usize, make: impl FnMut(usize) -> T) -> Result<Box<[T]>, BackingError> {
    let mut values = Vec::new();
    values
        .try_reserve_exact(len)
        .map_err(|_| BackingError::OutOfMemory {
            bytes: (len as u64).saturating_mul(core::mem::size_of::<T>() as u64),
        })?;
    values.extend((0..len).map(make));
    // The capacity is exactly `len`, so this does not reallocate.
    Ok(values.into_boxed_slice())
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

// SAFETY: capacity is a checked power of two >= 2 and `slots.len() == capacity`, fixed at
// construction; the cursor, stage sequences and slots are distinct heap-allocated or inline
// fields owned by `self` that never move while it is borrowed.
unsafe impl<E: Send + Sync + 'static> RingStorage for MemRing<E> {
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
    fn slots(&self) -> &[SlotCell<E>] {
        &self.slots
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
            assert!(matches!(
                MemRing::<u64>::new(cap, 1).unwrap_err(),
                BackingError::BadCapacity { capacity } if capacity == cap
            ));
        }
        assert!(MemRing::<u64>::new(2, 1).is_ok());
    }

    #[test]
    fn refuses_rings_past_the_limits_without_allocating() {
        // The old documented upper bound (2^40 slots) asked for 8 TiB and aborted.
        assert!(matches!(
            MemRing::<u64>::new(1 << 40, 1).unwrap_err(),
            BackingError::BadCapacity { capacity } if capacity == 1 << 40
        ));
        let over = u64::from(crate::RING_V1_MAX_CAPACITY) * 2;
        assert!(matches!(
            MemRing::<u64>::new(over, 1).unwrap_err(),
            BackingError::BadCapacity { capacity } if capacity == over
        ));
        // Within the slot limit but over the byte limit: 2^20 slots of 4 KiB = 4 GiB.
        struct Page {
            _words: [u64; 512],
        }
        impl Default for Page {
            fn default() -> Self {
                Page { _words: [0; 512] }
            }
        }
        let err = MemRing::<Page>::new(1 << 20, 1).unwrap_err();
        assert!(
            matches!(err, BackingError::TooLarge { bytes, max, .. } if bytes == 1 << 32 && max == crate::RING_V1_MAX_BYTES),
            "{err:?}"
        );
        assert!(err.to_string().contains("4294967296 bytes"), "{err}");
    }

    #[test]
    fn largest_ring_within_the_limits_allocates() {
        let cap = u64::from(crate::RING_V1_MAX_CAPACITY);
        let ring = MemRing::<u32>::new(cap, 4).unwrap();
        assert_eq!(ring.capacity(), cap);
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
