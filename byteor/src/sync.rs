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

    /// The notifier's half of an asymmetric barrier pair (see [`heavy_barrier`]): keeps the
    /// compiler from moving the notifier's earlier stores past its later loads. Free at run
    /// time: the hardware half is supplied by [`heavy_barrier`] on the waiting side.
    #[inline(always)]
    pub(crate) fn light_barrier() {
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
    }

    /// The waiting side's half of an asymmetric barrier pair: every thread of the process runs
    /// a full memory barrier before this returns (Linux `membarrier`, private expedited), so
    /// a [`light_barrier`] on another thread acts as a `SeqCst` fence against this one.
    /// Returns `false` where that is unavailable (another OS, or a kernel or sandbox that
    /// refuses the call); the caller must then not rely on being notified.
    #[inline]
    pub(crate) fn heavy_barrier() -> bool {
        membarrier::private_expedited()
    }

    #[cfg(target_os = "linux")]
    mod membarrier {
        use std::sync::atomic::{AtomicU8, Ordering};

        /// `MEMBARRIER_CMD_PRIVATE_EXPEDITED` (linux/membarrier.h).
        const PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
        /// `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED`.
        const REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

        const UNKNOWN: u8 = 0;
        const READY: u8 = 1;
        const UNAVAILABLE: u8 = 2;

        /// Whether the process registered for private expedited barriers (once per process).
        static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

        fn call(cmd: libc::c_long) -> bool {
            // SAFETY: `membarrier(cmd, flags = 0, cpu_id = 0)` reads and writes no user memory;
            // an unsupported command fails with an error code, which is checked.
            unsafe {
                libc::syscall(
                    libc::SYS_membarrier,
                    cmd,
                    0 as libc::c_long,
                    0 as libc::c_long,
                ) == 0
            }
        }

        pub(super) fn private_expedited() -> bool {
            match STATE.load(Ordering::Acquire) {
                READY => call(PRIVATE_EXPEDITED),
                UNAVAILABLE => false,
                _ => {
                    // Registering twice is harmless, so racing first callers need no lock.
                    let ready = call(REGISTER_PRIVATE_EXPEDITED) && call(PRIVATE_EXPEDITED);
                    STATE.store(if ready { READY } else { UNAVAILABLE }, Ordering::Release);
                    ready
                }
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    mod membarrier {
        pub(super) fn private_expedited() -> bool {
            false
        }
    }

    /// Sleeps while `word` holds `expected`, for at most `timeout`, woken early by
    /// [`futex_wake`] on the same word from any process that maps it (Linux `futex`, shared:
    /// the word may live in a shared-memory mapping). Returns whether `word` held `expected`
    /// when it looked (it may have slept); spurious returns are allowed.
    #[cfg(target_os = "linux")]
    pub(crate) fn futex_wait(
        word: &AtomicU32,
        expected: u32,
        timeout: std::time::Duration,
    ) -> bool {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `futex(FUTEX_WAIT)` reads the aligned 32-bit word `word` points to (an
        // atomic, valid for the duration of the call) and the `timespec` on this stack; it
        // writes no user memory. Without `FUTEX_PRIVATE_FLAG`, so a waiter in another process
        // mapping the same page is woken by the same key.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                &ts as *const libc::timespec,
            )
        };
        r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN)
    }

    /// Wakes every thread of any process sleeping in [`futex_wait`] on `word`.
    #[cfg(target_os = "linux")]
    pub(crate) fn futex_wake(word: &AtomicU32) {
        // SAFETY: `futex(FUTEX_WAKE)` only uses the address of `word` as a key; it reads and
        // writes no user memory.
        unsafe {
            libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
        }
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

        /// Asks the CPU to start fetching the cache line holding the value for writing
        /// (`PREFETCHW`: the line arrives exclusive, other cores' copies invalidated). A hint
        /// that never accesses the value. Callers check [`prefetch_write_supported`] once (a
        /// writer, when it is set up): the instruction is emitted as is.
        #[inline(always)]
        pub(crate) fn prefetch_write(&self) {
            #[cfg(all(target_arch = "x86_64", not(miri)))]
            // SAFETY: `PREFETCHW` is a hint: it cannot fault, does not change the value or any
            // register or flag, and creates no reference; the pointer is only an address for
            // it. The one caller (`kernel::WritePrefetch`, through the crate-private
            // `SlotCell::prefetch_write`) executes it only where `prefetch_write_supported`
            // said the CPU has it.
            unsafe {
                core::arch::asm!(
                    "prefetchw [{0}]",
                    in(reg) self.0.get(),
                    options(nostack, preserves_flags, readonly)
                );
            }
        }
    }

    /// Whether [`UnsafeCell::prefetch_write`] may be used: the CPU reports `PREFETCHW`
    /// (`CPUID.80000001H:ECX` bit 8). Executes `CPUID`, which traps to the hypervisor on a
    /// virtual machine: read once per process, then remembered.
    pub(crate) fn prefetch_write_supported() -> bool {
        static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *SUPPORTED.get_or_init(read_prefetch_write_support)
    }

    /// [`prefetch_write_supported`], read from the CPU.
    fn read_prefetch_write_support() -> bool {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        {
            use core::arch::x86_64::__cpuid;
            #[allow(unused_unsafe)]
            // SAFETY: `CPUID` exists on every x86_64 CPU; leaf 0x8000_0001 is read only after
            // leaf 0x8000_0000 says it exists.
            unsafe {
                __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0
            }
        }
        #[cfg(not(all(target_arch = "x86_64", not(miri))))]
        {
            false
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

    /// Under the model both halves of the asymmetric barrier are `SeqCst` fences: that is
    /// exactly the guarantee the pair gives (see the `std` versions).
    pub(crate) fn light_barrier() {
        fence(Ordering::SeqCst);
    }

    /// See [`light_barrier`]; always available under the model.
    pub(crate) fn heavy_barrier() -> bool {
        fence(Ordering::SeqCst);
        true
    }

    /// Under the model a futex wait does not block: it reports whether the word still held
    /// `expected` (whether a real wait would have slept) and yields.
    pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, _: std::time::Duration) -> bool {
        let slept = word.load(Ordering::Relaxed) == expected;
        loom::thread::yield_now();
        slept
    }

    /// Nothing to wake under the model (waits never block).
    pub(crate) fn futex_wake(_: &AtomicU32) {}

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

        /// No hardware under the model: nothing to prefetch.
        pub(crate) fn prefetch_write(&self) {}
    }

    /// No hardware under the model: no prefetching for writes.
    pub(crate) fn prefetch_write_supported() -> bool {
        false
    }
}

pub(crate) use imp::*;
