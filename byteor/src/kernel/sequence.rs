//! Sequences: monotonically increasing event counters, each alone on its cache lines.

use super::cell::{Padded, CACHE_PADDING};
use crate::sync::{AtomicU64, Ordering};

/// Bytes a [`Sequence`] occupies: [`CACHE_PADDING`], two 64-byte cache lines, so
/// adjacent-line prefetching on x86 cannot make two sequences share a prefetch pair (false
/// sharing).
pub const SEQUENCE_PADDING: usize = CACHE_PADDING;

/// A counter of events, isolated on its own 128 bytes.
///
/// A producer's cursor counts events *published*; a stage's sequence counts events it has
/// *finished*. Both start at 0 and only grow, so sequence `n` names the `n`-th event (0-based),
/// which lives in slot `n & (capacity - 1)`. Counting instead of storing "last index" avoids a
/// `-1` sentinel and makes "how many are available" a plain subtraction.
///
/// The layout is a [`Padded`] `u64`-sized atomic at offset 0 (`repr(C, align(128))`), so the
/// same type is valid inside a shared-memory region.
#[repr(transparent)]
pub struct Sequence {
    value: Padded<AtomicU64>,
}

// Under loom the atomic is a model object of a different size; the layout only matters for
// real builds (and shared memory).
#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<Sequence>() == SEQUENCE_PADDING);
    assert!(core::mem::align_of::<Sequence>() == SEQUENCE_PADDING);
};

impl Sequence {
    /// A sequence starting at `value`.
    pub fn new(value: u64) -> Self {
        Sequence {
            value: Padded(AtomicU64::new(value)),
        }
    }

    /// Reads the sequence with `Acquire` ordering: everything written before the matching
    /// [`store`](Self::store) is visible afterwards.
    #[inline(always)]
    pub fn load(&self) -> u64 {
        self.value.load(Ordering::Acquire)
    }

    /// Reads the sequence without synchronising (metrics only).
    #[inline(always)]
    pub fn load_relaxed(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    /// Publishes a new value with `Release` ordering.
    #[inline(always)]
    pub fn store(&self, value: u64) {
        self.value.store(value, Ordering::Release);
    }

    /// Reads the sequence with `SeqCst`: a shutdown reads the cursor this way right after
    /// [`Lifecycle::close`](super::Lifecycle::close), so that it and a producer checking the
    /// state cannot both miss each other.
    #[inline]
    pub fn load_seq_cst(&self) -> u64 {
        self.value.load(Ordering::SeqCst)
    }

    /// The underlying atomic.
    pub fn as_atomic(&self) -> &AtomicU64 {
        &self.value
    }
}

impl Default for Sequence {
    fn default() -> Self {
        Sequence::new(0)
    }
}

impl core::fmt::Debug for Sequence {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Sequence")
            .field(&self.load_relaxed())
            .finish()
    }
}
