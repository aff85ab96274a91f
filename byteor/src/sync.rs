//! The synchronisation primitives the crate uses, chosen once: `std` in normal builds, the
//! [loom](https://docs.rs/loom) model checker's under `RUSTFLAGS="--cfg loom"`. Code elsewhere
//! imports from here and never switches on `loom` itself (the tokio pattern), so the lock-free
//! protocols in [`kernel`](crate::kernel) run unchanged under the model checker.

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
    pub(crate) use std::sync::Arc;

    /// Hint to the CPU that this is a spin loop.
    #[inline(always)]
    pub(crate) fn spin_hint() {
        core::hint::spin_loop();
    }

    /// Gives up the rest of this thread's time slice.
    #[inline]
    pub(crate) fn yield_now() {
        std::thread::yield_now();
    }

    /// `core::cell::UnsafeCell` with loom's access API: every access goes through
    /// [`with`](Self::with) or [`with_mut`](Self::with_mut), which loom checks for races.
    #[derive(Debug)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        #[inline(always)]
        pub(crate) const fn new(value: T) -> Self {
            UnsafeCell(core::cell::UnsafeCell::new(value))
        }

        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }

        /// Asks the CPU to start loading the cache line holding the value: a hint that never
        /// accesses it (it cannot fault and creates no reference).
        #[inline(always)]
        pub(crate) fn prefetch(&self) {
            #[cfg(all(target_arch = "x86_64", not(miri)))]
            {
                use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                #[allow(unused_unsafe)]
                // SAFETY: `prefetch` is a hint that never dereferences the pointer in the
                // language's sense (it cannot fault and creates no reference); SSE is part of
                // the x86_64 baseline.
                unsafe {
                    _mm_prefetch::<_MM_HINT_T0>(self.0.get() as *const i8)
                }
            }
        }
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
    pub(crate) use loom::sync::Arc;

    /// Under loom a spin is a yield, so the model explores the other threads.
    #[inline(always)]
    pub(crate) fn spin_hint() {
        loom::thread::yield_now();
    }

    pub(crate) use loom::thread::yield_now;

    /// loom's checked cell.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(loom::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) fn new(value: T) -> Self {
            UnsafeCell(loom::cell::UnsafeCell::new(value))
        }

        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            self.0.with(f)
        }

        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            self.0.with_mut(f)
        }

        /// No hardware under the model: nothing to prefetch.
        pub(crate) fn prefetch(&self) {}
    }
}

pub(crate) use imp::*;
