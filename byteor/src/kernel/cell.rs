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

    /// Asks the CPU to start fetching the cache line holding the start of the value for
    /// writing, exclusive to this core (`PREFETCHW` on x86_64; nothing elsewhere). A hint: no
    /// access happens and nothing can fault.
    ///
    /// The producer calls this a few lines ahead of the slot it writes, for slots every stage
    /// has finished with: the line, last read by a stage's core, is taken from it in the
    /// background instead of stalling the producer's stores one line at a time.
    ///
    /// Use only where [`prefetch_write_supported`] said yes (it reads the CPU's features once;
    /// this does not check again, which is why it is not public).
    #[inline(always)]
    pub(crate) fn prefetch_write(&self) {
        self.0.prefetch_write()
    }

    /// Runs `f` with an exclusive pointer to the value.
    #[inline(always)]
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        self.0.with_mut(f)
    }
}

/// Whether this CPU can prefetch for writing ([`SlotCell::prefetch_write`]): `PREFETCHW` on
/// x86_64 (reported by `CPUID`, which a virtual machine traps: ask once, at set-up). Always
/// `false` on other targets and under Miri or loom.
pub(crate) fn prefetch_write_supported() -> bool {
    crate::sync::prefetch_write_supported()
}

/// How far ahead of the slot in hand the executor prefetches: 512 bytes (8 cache lines), enough
/// to keep several line transfers between cores in flight at once. A stage prefetches ahead of
/// the event it reads (inside its batch), the producer ahead of the slot it writes.
pub(crate) struct Prefetch {
    /// Bytes ahead.
    bytes: usize,
}

/// The executor's prefetch distance.
pub(crate) const PREFETCH_AHEAD: Prefetch = Prefetch { bytes: 512 };

/// How much the producer prefetches for writing at once: 1 KiB (16 cache lines) every 1 KiB of
/// events (`of` is the events per burst).
pub(crate) const PREFETCH_WRITE_BURST: Prefetch = Prefetch { bytes: 1024 };

impl Prefetch {
    /// Events ahead for events of type `E` (at least one).
    #[inline(always)]
    pub(crate) const fn of<E>(&self) -> u64 {
        let size = core::mem::size_of::<E>();
        if size == 0 || size >= self.bytes {
            1
        } else {
            (self.bytes / size) as u64
        }
    }

    /// Prefetch one event in `stride`: one per cache line for small events.
    #[inline(always)]
    pub(crate) const fn stride<E>(&self) -> u64 {
        let size = core::mem::size_of::<E>();
        if size == 0 || size >= 64 {
            1
        } else {
            (64 / size) as u64
        }
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{prefetch_write_supported, SlotCell, PREFETCH_AHEAD, PREFETCH_WRITE_BURST};

    #[test]
    fn prefetch_reaches_eight_lines_ahead_once_per_line() {
        // u64 events: 8 per line, 64 events (512 bytes) ahead, one prefetch per line.
        assert_eq!(PREFETCH_AHEAD.of::<u64>(), 64);
        assert_eq!(PREFETCH_AHEAD.stride::<u64>(), 8);
        // Line-sized and larger events: every event, fewer of them ahead, never zero.
        assert_eq!(PREFETCH_AHEAD.of::<[u8; 64]>(), 8);
        assert_eq!(PREFETCH_AHEAD.stride::<[u8; 64]>(), 1);
        assert_eq!(PREFETCH_AHEAD.of::<[u8; 4096]>(), 1);
        assert_eq!(PREFETCH_AHEAD.stride::<[u8; 4096]>(), 1);
        // Zero-sized events have nothing to fetch but must not divide by zero.
        assert_eq!(PREFETCH_AHEAD.of::<()>(), 1);
        assert_eq!(PREFETCH_AHEAD.stride::<()>(), 1);
        // The producer's bursts: 1 KiB of events, 128 of 8 bytes.
        assert_eq!(PREFETCH_WRITE_BURST.of::<u64>(), 128);
        assert_eq!(PREFETCH_WRITE_BURST.of::<[u8; 4096]>(), 1);
    }

    #[test]
    fn prefetch_for_writing_leaves_the_value_alone() {
        let cells: Vec<SlotCell<u64>> = (0..64).map(SlotCell::new).collect();
        if prefetch_write_supported() {
            for cell in &cells {
                cell.prefetch_write();
            }
        }
        for (i, cell) in cells.iter().enumerate() {
            cell.prefetch();
            // SAFETY: nothing else accesses the cells; the value is initialised.
            assert_eq!(cell.with(|p| unsafe { *p }), i as u64);
        }
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    fn prefetch_for_writing_matches_the_cpu_flag() {
        // Linux names the CPUID bit `3dnowprefetch`: the two readings agree.
        let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
            return;
        };
        let Some(flags) = cpuinfo.lines().find(|l| l.starts_with("flags")) else {
            return;
        };
        let listed = flags.split_whitespace().any(|f| f == "3dnowprefetch");
        assert_eq!(prefetch_write_supported(), listed);
    }
}
