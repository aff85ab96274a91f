//! The lossy broadcast lane: `FanoutBroadcast` under `Drop`. One writer that never waits, up to
//! [`LANE_MAX_READERS`](super::lane::LANE_MAX_READERS) readers that each see every event unless
//! they fall a full lap behind — then they lose exactly the events the writer wrote over, and
//! their drop counter says how many. A slow reader never slows the writer or the other readers.
//!
//! Events are plain data ([`Pod`]: `Copy`, no padding) stored as atomic words, so a reader can
//! copy an event out while the writer may be overwriting it and tell afterwards whether the copy
//! is whole (a sequence lock per slot); a torn copy is thrown away, never turned into an event.
//! Under `Block`, a broadcast lane is the in-place [`lane`](super::lane) (any event type).
//!
//! # Protocol
//! * Slot `n % capacity` carries a stamp: `2n + 1` while the writer writes event `n` into it,
//!   `2n + 2` once it is whole. The writer stores the odd stamp, a release fence, the event's
//!   words (relaxed), the even stamp (`Release`), then `cursor = n + 1` (`Release`).
//! * A reader wanting event `n` (`n < cursor`, `Acquire`) loads the stamp (`Acquire`), copies
//!   the words (relaxed), issues an acquire fence and loads the stamp again. The copy is event
//!   `n` exactly when both loads saw `2n + 2`. Otherwise the writer has lapped the reader: it
//!   skips to the oldest event still in the lane (`cursor - capacity`) and counts what it
//!   skipped as dropped.
//! * Per reader, once it has read everything written: `published = delivered + dropped`.
//! * The writer closes the lane after its last event (`closed`, `Release`, when the writer is
//!   dropped); a reader that sees it (`Acquire`) and is at the cursor is finished.
//!
//! The loom model (`kernel::broadcast::loom_tests`) runs a writer lapping a reader on a
//! two-slot lane and checks that every event delivered is one the writer wrote, in order,
//! whole, and that the counts add up.

use core::mem::{size_of, MaybeUninit};

use super::lane::LaneError;
use super::{Padded, Sequence};
use crate::sync::{Arc, AtomicU32, AtomicU64, Ordering};

/// Plain data a lossy broadcast lane can carry: `Copy`, and no padding bytes (every byte of a
/// value is initialised, so a value can be copied as words).
///
/// # Safety
/// The type has no padding: `size_of::<Self>()` equals the sum of its fields' sizes, all the
/// way down. (`#[derive(ShmEvent)]` types qualify; so do the fixed-width integers.)
pub unsafe trait Pod: Copy + Send + Sync + 'static {}

macro_rules! pod {
    ($($t:ty),*) => {$(
        // SAFETY: a primitive integer or float has no padding.
        unsafe impl Pod for $t {}
    )*};
}
pod!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);

// SAFETY: an array of padding-free elements has no padding (an element's size is a multiple
// of its alignment).
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

/// Words of one event.
const fn words_of<T>() -> usize {
    size_of::<T>().div_ceil(8)
}

/// The state a lossy broadcast lane's writer and readers share.
pub struct Broadcast<T> {
    cursor: Sequence,
    /// Per slot: the stamp, then the event's words (`1 + words_of::<T>()` words per slot).
    words: Box<[AtomicU64]>,
    capacity: u64,
    /// Per reader: events delivered and dropped (counters each reader alone changes).
    delivered: Box<[Padded<AtomicU64>]>,
    dropped: Box<[Padded<AtomicU64>]>,
    /// 1 once the writer closed the lane.
    closed: AtomicU32,
    _events: core::marker::PhantomData<T>,
}

impl<T> std::fmt::Debug for Broadcast<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broadcast")
            .field("capacity", &self.capacity)
            .field("published", &self.published())
            .finish()
    }
}

impl<T: Pod> Broadcast<T> {
    const STRIDE: usize = 1 + words_of::<T>();

    fn stamp(&self, seq: u64) -> &AtomicU64 {
        &self.words[(seq % self.capacity) as usize * Self::STRIDE]
    }

    fn data(&self, seq: u64) -> &[AtomicU64] {
        let at = (seq % self.capacity) as usize * Self::STRIDE + 1;
        &self.words[at..at + words_of::<T>()]
    }

    /// Counts `n` events reader `reader` lost and moves it past them.
    fn skip(&self, reader: usize, next: &mut u64, n: u64) {
        let counter = &self.dropped[reader].0;
        counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        *next += n;
    }

    /// Event `seq` if its slot holds it whole.
    fn copy(&self, seq: u64) -> Option<T> {
        let lane = self;
        let stamp = lane.stamp(seq);
        let whole = 2 * seq + 2;
        if stamp.load(Ordering::Acquire) != whole {
            return None;
        }
        let mut out = MaybeUninit::<T>::uninit();
        let dst = out.as_mut_ptr().cast::<u8>();
        for (i, word) in lane.data(seq).iter().enumerate() {
            let bytes = word.load(Ordering::Relaxed).to_ne_bytes();
            let n = (size_of::<T>() - i * 8).min(8);
            // SAFETY: bytes `i * 8 .. i * 8 + n` lie inside `out`.
            unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.add(i * 8), n) };
        }
        crate::sync::fence(Ordering::Acquire);
        if stamp.load(Ordering::Relaxed) != whole {
            return None;
        }
        // SAFETY: both stamp loads saw event `seq` whole, so no write to the slot happened in
        // between (a write stores an odd stamp first, made visible by the fences): every byte
        // copied is the one the writer stored from a valid `T` (`T: Pod`, no padding).
        Some(unsafe { out.assume_init() })
    }
}

impl<T> Broadcast<T> {
    /// Readers.
    pub fn readers(&self) -> usize {
        self.delivered.len()
    }

    /// Ends the stream from outside the writer (a shutdown): readers finish once they have
    /// read what was written before. Dropping the writer does the same.
    pub fn close(&self) {
        self.closed.store(1, Ordering::Release);
    }

    /// Events written.
    pub fn published(&self) -> u64 {
        self.cursor.load_relaxed()
    }

    /// Reader `r`'s `(delivered, dropped)` (relaxed: exact once the lane is quiescent).
    pub fn reader_counts(&self, r: usize) -> (u64, u64) {
        (
            self.delivered[r].0.load(Ordering::Relaxed),
            self.dropped[r].0.load(Ordering::Relaxed),
        )
    }

    /// Whether `published = delivered + dropped` holds for every reader (true once every
    /// reader has read everything written).
    pub fn adds_up(&self) -> bool {
        let published = self.published();
        (0..self.delivered.len()).all(|r| {
            let (d, x) = self.reader_counts(r);
            d + x == published
        })
    }
}

/// A lossy broadcast lane of `capacity` slots (any number above zero) with `readers` readers.
///
/// ```
/// use byteor::kernel::broadcast::broadcast;
///
/// let (mut writer, mut readers) = broadcast::<u64>(2, 2)?;
/// for v in 0..5 {
///     writer.write(v); // never waits
/// }
/// let mut seen = Vec::new();
/// readers[0].read(|_, v| seen.push(v));
/// assert_eq!(seen, [3, 4], "the two newest: 0, 1 and 2 were written over");
/// assert_eq!(writer.lane().reader_counts(0), (2, 3));
/// # Ok::<(), byteor::kernel::lane::LaneError>(())
/// ```
pub fn broadcast<T: Pod>(
    capacity: u64,
    readers: usize,
) -> Result<(BroadcastWriter<T>, Vec<BroadcastReader<T>>), LaneError> {
    if capacity == 0 {
        return Err(LaneError::ZeroCapacity);
    }
    let max = super::lane::LANE_MAX_READERS;
    if readers == 0 || readers > max {
        return Err(LaneError::Readers { readers, max });
    }
    let words = capacity as usize * Broadcast::<T>::STRIDE;
    let lane = Arc::new(Broadcast {
        cursor: Sequence::new(0),
        words: (0..words).map(|_| AtomicU64::new(0)).collect(),
        capacity,
        delivered: (0..readers).map(|_| Padded(AtomicU64::new(0))).collect(),
        dropped: (0..readers).map(|_| Padded(AtomicU64::new(0))).collect(),
        closed: AtomicU32::new(0),
        _events: core::marker::PhantomData,
    });
    let writer = BroadcastWriter {
        lane: Arc::clone(&lane),
        next: 0,
    };
    let readers = (0..readers)
        .map(|id| BroadcastReader {
            lane: Arc::clone(&lane),
            id,
            next: 0,
        })
        .collect();
    Ok((writer, readers))
}

/// The writing end of a lossy broadcast lane.
#[derive(Debug)]
pub struct BroadcastWriter<T> {
    lane: Arc<Broadcast<T>>,
    next: u64,
}

impl<T: Pod> BroadcastWriter<T> {
    /// The lane.
    pub fn lane(&self) -> &Broadcast<T> {
        &self.lane
    }

    /// A shared handle on the lane (for counts and closing from elsewhere).
    pub fn shared(&self) -> Arc<Broadcast<T>> {
        Arc::clone(&self.lane)
    }

    /// Writes `value` as the next event, over the oldest one when the lane is full. Never
    /// waits.
    #[inline]
    pub fn write(&mut self, value: T) {
        let seq = self.next;
        let lane = &*self.lane;
        let stamp = lane.stamp(seq);
        stamp.store(2 * seq + 1, Ordering::Relaxed);
        crate::sync::fence(Ordering::Release);
        let mut buf = [0u64; 64];
        let words = words_of::<T>();
        if words <= buf.len() {
            // SAFETY: `T: Pod` has no padding, so all `size_of::<T>()` bytes of `value` are
            // initialised; `buf` has room for them (`words * 8 >= size_of::<T>()`).
            unsafe {
                core::ptr::copy_nonoverlapping(
                    (&value as *const T).cast::<u8>(),
                    buf.as_mut_ptr().cast::<u8>(),
                    size_of::<T>(),
                )
            };
            for (word, value) in lane.data(seq).iter().zip(&buf[..words]) {
                word.store(*value, Ordering::Relaxed);
            }
        } else {
            // Large events: word by word straight from the value.
            let base = (&value as *const T).cast::<u8>();
            for (i, word) in lane.data(seq).iter().enumerate() {
                let mut w = [0u8; 8];
                let n = (size_of::<T>() - i * 8).min(8);
                // SAFETY: bytes `i * 8 .. i * 8 + n` lie inside `value` and are initialised
                // (`T: Pod` has no padding).
                unsafe { core::ptr::copy_nonoverlapping(base.add(i * 8), w.as_mut_ptr(), n) };
                word.store(u64::from_ne_bytes(w), Ordering::Relaxed);
            }
        }
        stamp.store(2 * seq + 2, Ordering::Release);
        self.next = seq + 1;
        lane.cursor.store(self.next);
    }
}

impl<T> BroadcastWriter<T> {
    /// Ends the stream (dropping the writer does too).
    pub fn close(self) {}
}

impl<T> Drop for BroadcastWriter<T> {
    fn drop(&mut self) {
        // After the last cursor store (program order), published with release.
        self.lane.closed.store(1, Ordering::Release);
    }
}

/// One reading end of a lossy broadcast lane.
#[derive(Debug)]
pub struct BroadcastReader<T> {
    lane: Arc<Broadcast<T>>,
    id: usize,
    next: u64,
}

impl<T: Pod> BroadcastReader<T> {
    /// Reads every event available, in order, calling `f(sequence, event)` on each whole copy.
    /// Events the writer wrote over before this reader got to them are skipped and counted as
    /// dropped. Returns how many events it delivered.
    pub fn read(&mut self, mut f: impl FnMut(u64, T)) -> u64 {
        let lane = &*self.lane;
        let end = lane.cursor.load();
        let mut delivered = 0;
        while self.next < end {
            let seq = self.next;
            // The oldest event the lane can still hold: anything older is gone for sure.
            let oldest = lane.cursor.load().saturating_sub(lane.capacity);
            if seq < oldest {
                lane.skip(self.id, &mut self.next, oldest - seq);
                continue;
            }
            match lane.copy(seq) {
                Some(value) => {
                    f(seq, value);
                    delivered += 1;
                    self.next = seq + 1;
                }
                // Lapped while copying: the writer is at least a lap ahead now.
                None => {
                    let oldest = lane.cursor.load().saturating_sub(lane.capacity);
                    lane.skip(self.id, &mut self.next, oldest.max(seq + 1) - seq);
                }
            }
        }
        let counter = &lane.delivered[self.id].0;
        counter.store(
            counter.load(Ordering::Relaxed) + delivered,
            Ordering::Relaxed,
        );
        delivered
    }

    /// This reader's `(delivered, dropped)`.
    pub fn counts(&self) -> (u64, u64) {
        self.lane.reader_counts(self.id)
    }

    /// Whether the writer closed the lane and this reader has read (or lost) everything it
    /// wrote.
    pub fn is_finished(&self) -> bool {
        self.lane.closed.load(Ordering::Acquire) == 1 && self.lane.cursor.load() == self.next
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    struct Wide {
        a: u64,
        b: [u32; 5],
        c: u32,
    }
    // SAFETY: 8 + 20 + 4 = 32 bytes, no padding (asserted below).
    unsafe impl Pod for Wide {}
    const _: () = assert!(size_of::<Wide>() == 32);

    #[test]
    fn a_reader_that_keeps_up_sees_everything_and_a_lapped_one_counts_its_loss() {
        let (mut w, mut r) = broadcast::<Wide>(4, 2).unwrap();
        let event = |i: u64| Wide {
            a: i,
            b: [i as u32; 5],
            c: !(i as u32),
        };
        let mut fast = Vec::new();
        for i in 0..10 {
            w.write(event(i));
            r[0].read(|_, e| fast.push(e));
        }
        assert_eq!(fast, (0..10).map(event).collect::<Vec<_>>());
        let mut slow = Vec::new();
        r[1].read(|seq, e| slow.push((seq, e)));
        assert_eq!(
            slow,
            (6..10).map(|i| (i, event(i))).collect::<Vec<_>>(),
            "the last four"
        );
        assert_eq!(r[1].counts(), (4, 6));
        assert!(w.lane().adds_up());
        assert!(!r[0].is_finished(), "open");
        w.close();
        assert!(r[0].is_finished() && r[1].is_finished());
    }

    #[test]
    fn under_a_stalled_reader_the_writer_never_waits_and_counts_are_exact() {
        const N: u64 = 300_000;
        let (mut w, readers) = broadcast::<u64>(64, 2).unwrap();
        let handles: Vec<_> = readers
            .into_iter()
            .enumerate()
            .map(|(k, mut r)| {
                std::thread::spawn(move || {
                    let mut last = None;
                    loop {
                        r.read(|seq, v| {
                            assert_eq!(v, seq * 7, "a whole copy of event {seq}");
                            assert!(last.is_none_or(|l| seq > l), "in order");
                            last = Some(seq);
                        });
                        let (d, x) = r.counts();
                        if d + x == N {
                            return (d, x);
                        }
                        if k == 1 {
                            // The slow one: stalls now and then, and is lapped.
                            std::thread::sleep(std::time::Duration::from_micros(200));
                        } else {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for i in 0..N {
            w.write(i * 7);
        }
        let counts: Vec<(u64, u64)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        for (d, x) in &counts {
            assert_eq!(d + x, N);
        }
        assert!(w.lane().adds_up());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    #[test]
    fn a_lapped_reader_only_ever_delivers_whole_events_in_order() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(|| {
            let (mut w, mut readers) = broadcast::<[u64; 2]>(2, 1).unwrap();
            let mut r = readers.pop().unwrap();
            let reader = thread::spawn(move || {
                let mut last = None;
                for _ in 0..2 {
                    r.read(|seq, v| {
                        assert_eq!(v, [seq + 1, (seq + 1) * 10], "whole");
                        assert!(last.is_none_or(|l| seq > l));
                        last = Some(seq);
                    });
                }
                r
            });
            for v in 1..=3u64 {
                w.write([v, v * 10]);
            }
            let lane = Arc::clone(&w.lane);
            w.close();
            let mut r = reader.join().unwrap();
            r.read(|_, _| {});
            assert!(r.is_finished());
            assert!(lane.adds_up(), "{:?}", lane.reader_counts(0));
        });
    }
}
