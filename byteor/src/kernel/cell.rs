//! Slot cells and cache-line padding: the two building blocks of every ring and queue.

use crate::sync::UnsafeCell;

/// Interior-mutable slot storage whose accesses loom can track.
///
/// On `std` this is `core::cell::UnsafeCell`; under loom every access is checked for data races.
#[derive(Debug)]
#[repr(transparent)]
pub struct SlotCell<T>(UnsafeCell<T>);

impl<T> SlotCell<T> {
    /// A cell holding `value`.
    pub fn new(value: T) -> Self {
        SlotCell(UnsafeCell::new(value))
    }

    /// Runs `f` with a shared pointer to the value.
    #[inline(always)]
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        self.0.with(f)
    }

    /// Asks the CPU to start loading the cache line holding the start of the value (a hint: no
    /// access happens, nothing can fault, and the value may be in use by another thread).
    ///
    /// A stage calls this a few slots ahead of the event it handles so that the lines the
    /// producer just wrote travel between cores in parallel instead of one miss at a time.
    #[inline(always)]
    pub fn prefetch(&self) {
        self.0.prefetch()
    }

    /// Runs `f` with an exclusive pointer to the value.
    #[inline(always)]
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        self.0.with_mut(f)
    }
}

/// Bytes every padded value occupies: two 64-byte cache lines, so adjacent-line prefetching on
/// x86 cannot make two padded values share a prefetch pair (false sharing). The same on every
/// target, so it can describe shared-memory layouts.
pub const CACHE_PADDING: usize = 128;

/// A value alone on its own [`CACHE_PADDING`] bytes: the one padding type of the crate, for
/// sequences, the pipeline's lifecycle word and the producer's private state.
#[derive(Debug, Default)]
#[repr(C, align(128))]
pub struct Padded<T>(pub T);

const _: () = assert!(core::mem::align_of::<Padded<u8>>() == CACHE_PADDING);

impl<T> core::ops::Deref for Padded<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> core::ops::DerefMut for Padded<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}
