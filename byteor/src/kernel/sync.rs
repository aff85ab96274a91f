//! A thin facade over the synchronisation primitives the kernel uses, so the same code runs on
//! `std` and under the [loom](https://docs.rs/loom) model checker (`RUSTFLAGS="--cfg loom"`).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Hint to the CPU that we are in a spin loop.
#[inline(always)]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

/// Give up the rest of this thread's time slice.
#[inline]
pub(crate) fn yield_now() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}

/// Interior-mutable slot storage whose accesses loom can track.
///
/// On `std` this is `core::cell::UnsafeCell`; under loom every access is checked for data races.
#[derive(Debug)]
#[repr(transparent)]
pub struct SlotCell<T>(
    #[cfg(not(loom))] core::cell::UnsafeCell<T>,
    #[cfg(loom)] loom::cell::UnsafeCell<T>,
);

impl<T> SlotCell<T> {
    /// A cell holding `value`.
    pub fn new(value: T) -> Self {
        #[cfg(not(loom))]
        return SlotCell(core::cell::UnsafeCell::new(value));
        #[cfg(loom)]
        return SlotCell(loom::cell::UnsafeCell::new(value));
    }

    /// Runs `f` with a shared pointer to the value.
    #[inline(always)]
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        #[cfg(not(loom))]
        return f(self.0.get());
        #[cfg(loom)]
        return self.0.with(f);
    }

    /// Asks the CPU to start loading the cache line holding the start of the value (a hint: no
    /// access happens, nothing can fault, and the value may be in use by another thread).
    ///
    /// A stage calls this a few slots ahead of the event it handles so that the lines the
    /// producer just wrote travel between cores in parallel instead of one miss at a time.
    #[inline(always)]
    pub fn prefetch(&self) {
        #[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
        {
            use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            #[allow(unused_unsafe)]
            // SAFETY: `prefetch` is a hint that never dereferences the pointer in the
            // language's sense (it cannot fault and creates no reference); SSE is part of the
            // x86_64 baseline.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(self.0.get() as *const i8)
            }
        }
    }

    /// Runs `f` with an exclusive pointer to the value.
    #[inline(always)]
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(not(loom))]
        return f(self.0.get());
        #[cfg(loom)]
        return self.0.with_mut(f);
    }
}
