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
    /// A writer calls this (through [`WritePrefetch`]) a few lines ahead of the slot it writes,
    /// for slots every reader has finished with: the line, last read by a reader's core, is
    /// taken from it in the background instead of stalling the writer's stores one line at a
    /// time.
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
/// x86_64 (reported by `CPUID`, which a virtual machine traps: read once per process). Always
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

/// A writer's prefetching for writing: after it publishes, it asks in bursts for the slots it
/// will write next, so that their lines come over from the readers' cores (which read them one
/// lap earlier) before its stores need them, instead of each store waiting for its line in
/// turn.
///
/// A burst is due at every multiple of [`PREFETCH_WRITE_BURST`]'s worth of events: at event
/// `m`, it fetches one slot per cache line over the next burst's worth of events from
/// `m + ahead` on ([`PREFETCH_AHEAD`]), stopping at the writer's cached limit (slots below it
/// are free: every reader has finished the event there). Each line is so fetched 64 to 192
/// events ahead of its write (for 8-byte events).
///
/// Bursts are issued after the cursor store, so the events are visible before any prefetch;
/// and in bursts, so that in a request/response flow one request in 128 (8-byte events) shares
/// its round trip with prefetches, not one in 8. Measured on the SingleRing ping-pong round trip
/// (one binary, the bursts on and off, six runs of a million round trips each): p50 and p99 the
/// same either way.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WritePrefetch {
    /// Events ahead of a due burst where its span starts. The capacity when the CPU cannot
    /// prefetch for writing: the span is then always empty (a writer's limit is at most the
    /// oldest reader's sequence plus the capacity, and that sequence is at most the writer's),
    /// so nothing is fetched and the test per event costs the same.
    ahead: u64,
}

impl WritePrefetch {
    /// The prefetching of a writer of `E`s into a ring of `capacity` slots.
    pub(crate) fn new<E>(capacity: u64) -> Self {
        WritePrefetch {
            ahead: if prefetch_write_supported() {
                PREFETCH_AHEAD.of::<E>()
            } else {
                capacity
            },
        }
    }

    /// After the single event `seq` was published: one test per event.
    #[inline(always)]
    pub(crate) fn after_one<'a, E: 'a>(
        self,
        seq: u64,
        limit: u64,
        slot: impl Fn(u64) -> &'a SlotCell<E>,
    ) {
        let burst = PREFETCH_WRITE_BURST.of::<E>();
        if seq % burst == 0 {
            self.burst(seq, limit, slot);
        }
    }

    /// After the events `from..to` were published.
    #[inline(always)]
    pub(crate) fn after<'a, E: 'a>(
        self,
        from: u64,
        to: u64,
        limit: u64,
        slot: impl Fn(u64) -> &'a SlotCell<E>,
    ) {
        let burst = PREFETCH_WRITE_BURST.of::<E>();
        let mut due = from.next_multiple_of(burst);
        while due < to {
            self.burst(due, limit, &slot);
            due += burst;
        }
    }

    /// One burst, due at event `due`. Out of line: the publishing loop stays short.
    #[inline(never)]
    fn burst<'a, E: 'a>(self, due: u64, limit: u64, slot: impl Fn(u64) -> &'a SlotCell<E>) {
        let stride = PREFETCH_AHEAD.stride::<E>();
        let span = self.span(due, PREFETCH_WRITE_BURST.of::<E>(), limit);
        let mut seq = span.start;
        while seq < span.end {
            slot(seq).prefetch_write();
            seq += stride;
        }
    }

    /// The events whose slots a burst of `burst` events due at `due` prefetches, below `limit`.
    #[inline(always)]
    fn span(self, due: u64, burst: u64, limit: u64) -> core::ops::Range<u64> {
        let start = due + self.ahead;
        start..(start + burst).min(limit)
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
    use super::{
        prefetch_write_supported, SlotCell, WritePrefetch, PREFETCH_AHEAD, PREFETCH_WRITE_BURST,
    };

    #[test]
    fn a_burst_prefetches_only_slots_every_reader_has_finished() {
        let (capacity, burst) = (1024u64, 128u64);
        let on = WritePrefetch { ahead: 64 };
        // Every reader at `released`; the writer at `due`, anywhere from `released` to a full
        // ring ahead of it.
        for released in [0u64, 5, 1000, 1 << 40] {
            let limit = released + capacity;
            for due in (released..=limit).step_by(7) {
                let span = on.span(due, burst, limit);
                assert!(span.end <= limit, "fetches a slot a reader may still read");
                assert!(span.start >= due + 64);
                assert!(span.end.saturating_sub(span.start) <= burst);
            }
            // Far from full, a burst covers its whole span.
            assert_eq!(
                on.span(released, burst, limit),
                released + 64..released + 64 + burst
            );
        }
        // No prefetching (`ahead` at the capacity): empty whatever the state.
        let off = WritePrefetch { ahead: capacity };
        for released in [0u64, 3, 999] {
            for due in released..released + capacity {
                assert!(off.span(due, burst, released + capacity).is_empty());
            }
        }
        // Set up from the CPU's features: on where it can, the capacity where it cannot.
        let made = WritePrefetch::new::<u64>(capacity);
        let want = if prefetch_write_supported() {
            64
        } else {
            capacity
        };
        assert_eq!(made.ahead, want);
    }

    #[test]
    fn bursts_are_due_once_per_kibibyte_of_events() {
        let cells: Vec<SlotCell<u64>> = (0..1024).map(SlotCell::new).collect();
        let slot = |seq: u64| &cells[(seq % 1024) as usize];
        let p = WritePrefetch::new::<u64>(1024);
        // Exercises every path (a hint only: nothing observable changes).
        for seq in 0..4096 {
            p.after_one(seq, seq + 512, slot);
        }
        p.after(0, 4096, 4096, slot);
        p.after(100, 100, 2000, slot);
        for (i, cell) in cells.iter().enumerate() {
            // SAFETY: nothing else accesses the cells; the value is initialised.
            assert_eq!(cell.with(|p| unsafe { *p }), i as u64);
        }
    }

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
