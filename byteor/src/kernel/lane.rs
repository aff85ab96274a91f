//! Lanes: the channels between the roles of a LaneGraph. One shape serves the in-memory lane
//! kinds — one writer, one or more readers, `capacity` slots (any number above zero), events
//! written and read in place:
//!
//! * `Events`: one reader;
//! * `SequencedSlots`: any capacity (not only powers of two), a slot reusable once every reader
//!   released it (the v1 gating, `all_readers`);
//! * `FanoutBroadcast` under `Block`: up to [`LANE_MAX_READERS`] readers, each seeing every
//!   event, the writer held back by the slowest.
//!
//! # Protocol
//! * The writer writes event `n` into slot `n % capacity` only while `n < min(readers) +
//!   capacity` — every reader has released the event that used the slot before — then stores
//!   `cursor = n + 1` (`Release`).
//! * Reader `r` reads the events below `cursor` (`Acquire`) in place, then stores its sequence
//!   (`Release`), which releases them.
//! * The writer keeps the gate (`min(readers) + capacity`) cached and reloads the readers'
//!   sequences only when the cache says full.
//! * A reader that leaves (is dropped) marks itself detached (`Release`, after its last
//!   release of events): the writer stops waiting for it (`Acquire` when it reloads the
//!   readers' sequences), and its slots are reused without it.
//! * The writer closes the lane after its last event: `closed = 1` (`Release`, after the last
//!   cursor store). A reader that sees it closed (`Acquire`) and has read up to the cursor has
//!   read everything the lane will ever hold ([`LaneReader::is_finished`]).
//! * Under `Drop` a writer that finds no room does not write the event: it counts it in
//!   `dropped` and goes on. Every reader misses that event, so for every reader, once it has
//!   read everything written: `published = delivered + dropped`, where `published` is every
//!   event the writer was given ([`LaneCounts`]).
//!
//! * With the `async` feature, a task may wait on a lane end in place of a thread: the writer's
//!   task in `Lane::writer_task`, reader `r`'s in slot `r` of `Lane::reader_tasks`. The writer notifies
//!   every reader's task after each write and on close; a reader notifies the writer's task
//!   after each release and when it leaves — next to the hub's notifications, at the cost of
//!   one relaxed load each while no task waits (see `kernel::AsyncWaker`).
//!
//! A writer never waits here: waiting (with a wait strategy) is the runtime's. The loom model
//! (`kernel::lane::loom_tests`) checks that no reader sees a slot the writer is writing, that
//! every reader sees every written event in order, and that the counts add up, on lanes of
//! capacity 1 and 3 with two readers.

use super::{Padded, Sequence, SlotCell, WakeHub};
use crate::sync::{Arc, AtomicU32, AtomicU64, Ordering};

/// Most readers one lane has: [`FANOUT_V1_MAX_CONSUMERS`](crate::FANOUT_V1_MAX_CONSUMERS).
pub const LANE_MAX_READERS: usize = crate::FANOUT_V1_MAX_CONSUMERS;

/// Why a lane could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaneError {
    /// Capacity 0.
    #[error("a lane needs at least one slot")]
    ZeroCapacity,
    /// No reader, or more than [`LANE_MAX_READERS`].
    #[error("a lane has 1 to {max} readers, {readers} were asked for")]
    Readers {
        /// Readers asked for.
        readers: usize,
        /// [`LANE_MAX_READERS`].
        max: usize,
    },
}

/// The state a lane's writer and readers share.
pub struct Lane<T> {
    /// Events written; stored by the writer only.
    cursor: Sequence,
    /// Events each reader released.
    readers: Box<[Sequence]>,
    slots: Box<[SlotCell<T>]>,
    capacity: u64,
    /// `capacity - 1` when the capacity is a power of two (index by mask), else 0 (index by `%`).
    mask: u64,
    /// Events the writer dropped (a counter: written by the writer only, read by anyone).
    dropped: Padded<AtomicU64>,
    /// 1 once the writer closed the lane.
    closed: AtomicU32,
    /// Per reader: 1 once it left (it no longer gates the writer).
    detached: Box<[AtomicU32]>,
    /// Parked readers (slots `0..readers`) and the parked writer (slot `readers`): the writer
    /// notifies after publishing, a reader after releasing (one relaxed load when nobody is
    /// parked). On its own cache lines: parking writes it, and the fields every event reads
    /// must not share a line with it.
    hub: Padded<WakeHub>,
    /// Async tasks waiting on the lane (see the module docs), on their own cache lines too.
    #[cfg(feature = "async")]
    tasks: Padded<LaneTasks>,
}

/// The async tasks a lane wakes: its writer's, and one per reader.
#[cfg(feature = "async")]
#[derive(Debug)]
struct LaneTasks {
    writer: super::AsyncWaker,
    readers: super::AsyncWakerSet,
}

impl<T> std::fmt::Debug for Lane<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("capacity", &self.capacity)
            .field("readers", &self.readers.len())
            .field("counts", &self.counts())
            .finish()
    }
}

// SAFETY: the slots are accessed only through the protocol above: the writer writes a slot only
// while no reader may read it (every reader released the event that used it before, and the
// event being written is not yet below the cursor), and readers only read. Moving events between
// threads needs `T: Send`; several readers reading one event at once needs `T: Sync`.
unsafe impl<T: Send + Sync> Sync for Lane<T> {}
// SAFETY: as above; the lane owns its events.
unsafe impl<T: Send> Send for Lane<T> {}

/// A lane's accounting at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneCounts {
    /// Events the writer was given: written + dropped.
    pub published: u64,
    /// Events written into the lane.
    pub written: u64,
    /// Events the writer dropped for want of room (every reader misses them).
    pub dropped: u64,
    /// Events each reader released, in reader order.
    pub delivered: Vec<u64>,
    /// Events each reader lost after they were written — lapped on a lossy broadcast lane, or
    /// deleted by a journal's retention before it read them (always 0 on in-place lanes).
    pub lost: Vec<u64>,
    /// Readers that left before the end (their `delivered` stops where they left).
    pub detached: Vec<bool>,
}

impl LaneCounts {
    /// Whether `published = delivered + dropped + lost` holds for every reader still attached
    /// — true once each of them has read everything written (a quiescent lane). A reader that
    /// left early is not held to it.
    pub fn adds_up(&self) -> bool {
        (0..self.delivered.len()).all(|r| {
            self.detached.get(r).copied().unwrap_or(false)
                || self.delivered[r] + self.dropped + self.lost.get(r).copied().unwrap_or(0)
                    == self.published
        })
    }

    /// Events reader `r` missed: dropped by the writer, or lost after they were written.
    pub fn missed(&self, r: usize) -> u64 {
        self.dropped + self.lost.get(r).copied().unwrap_or(0)
    }
}

impl<T> Lane<T> {
    /// Where the lane's threads park: readers in slots `0..readers`, the writer in
    /// [`writer_slot`](Self::writer_slot). The lane notifies it whenever a waiting party may
    /// go on: after each write, release, close and detach.
    pub fn hub(&self) -> &WakeHub {
        &self.hub
    }

    /// Where an async task writing the lane waits for room: readers notify it after each
    /// release and when they leave; [`close`](Self::close) notifies it too.
    #[cfg(feature = "async")]
    pub fn writer_task(&self) -> &super::AsyncWaker {
        &self.tasks.writer
    }

    /// Where async tasks reading the lane wait for events, reader `r` in slot `r`: the writer
    /// notifies them after each write and on close (one relaxed load while no reader task
    /// ever waited).
    #[cfg(feature = "async")]
    pub fn reader_tasks(&self) -> &super::AsyncWakerSet {
        &self.tasks.readers
    }

    /// After a write or a close: wakes the readers' tasks.
    #[inline(always)]
    fn notify_reader_tasks(&self) {
        #[cfg(feature = "async")]
        self.tasks.readers.notify_all();
    }

    /// After a release or a detach: wakes the writer's task.
    #[inline(always)]
    fn notify_writer_task(&self) {
        #[cfg(feature = "async")]
        self.tasks.writer.notify();
    }

    /// The writer's slot in [`hub`](Self::hub).
    pub fn writer_slot(&self) -> usize {
        self.readers.len()
    }

    /// Whether the writer closed the lane.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) == 1
    }

    /// Slots.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Closes the lane from outside its writer (a runtime shutting a graph down while a
    /// producer handle is still held): readers finish once they have read what was written.
    /// The writer must not write afterwards; a write racing this close may go unread.
    pub fn close(&self) {
        self.closed.store(1, Ordering::Release);
        self.hub.notify();
        self.notify_reader_tasks();
        self.notify_writer_task();
    }

    /// The counts now (relaxed reads: exact once the lane is quiescent).
    pub fn counts(&self) -> LaneCounts {
        let written = self.cursor.load_relaxed();
        let dropped = self.dropped.0.load(Ordering::Relaxed);
        LaneCounts {
            published: written + dropped,
            written,
            dropped,
            delivered: self.readers.iter().map(Sequence::load_relaxed).collect(),
            lost: vec![0; self.readers.len()],
            detached: self
                .detached
                .iter()
                .map(|d| d.load(Ordering::Relaxed) == 1)
                .collect(),
        }
    }

    #[inline(always)]
    fn slot(&self, seq: u64) -> &SlotCell<T> {
        let index = if self.mask != 0 || self.capacity == 1 {
            seq & self.mask
        } else {
            seq % self.capacity
        };
        &self.slots[index as usize]
    }

    /// `min(readers)`: the oldest event some reader still holds.
    #[inline]
    fn released(&self) -> u64 {
        self.readers
            .iter()
            .zip(self.detached.iter())
            .filter(|(_, gone)| gone.load(Ordering::Acquire) == 0)
            .map(|(seq, _)| seq.load())
            .min()
            .unwrap_or(u64::MAX)
    }
}

/// A lane of `capacity` slots (any number above zero) read by `readers` readers, every slot
/// starting as `T::default()`, split into its writer and readers (in reader order).
///
/// ```
/// use byteor::kernel::lane::lane;
///
/// let (mut writer, mut readers) = lane::<u64>(3, 2)?;
/// for v in 1..=3 {
///     assert!(writer.try_write(|e| *e = v));
/// }
/// assert!(!writer.try_write(|e| *e = 4), "full: every reader holds 3 events");
/// let mut seen = Vec::new();
/// readers[0].read(|_, e| seen.push(*e));
/// assert_eq!(seen, [1, 2, 3]);
/// assert!(!writer.write_or_drop(|e| *e = 4), "reader 1 still holds slot 0: dropped");
/// readers[1].read(|_, _| {});
/// assert!(writer.try_write(|e| *e = 5));
/// let counts = writer.lane().counts();
/// assert_eq!((counts.published, counts.written, counts.dropped), (5, 4, 1));
/// # Ok::<(), byteor::kernel::lane::LaneError>(())
/// ```
pub fn lane<T: Default + Send + Sync>(
    capacity: u64,
    readers: usize,
) -> Result<(LaneWriter<T>, Vec<LaneReader<T>>), LaneError> {
    if capacity == 0 {
        return Err(LaneError::ZeroCapacity);
    }
    if readers == 0 || readers > LANE_MAX_READERS {
        return Err(LaneError::Readers {
            readers,
            max: LANE_MAX_READERS,
        });
    }
    let lane = Arc::new(Lane {
        cursor: Sequence::new(0),
        readers: (0..readers).map(|_| Sequence::new(0)).collect(),
        slots: (0..capacity).map(|_| SlotCell::new(T::default())).collect(),
        capacity,
        mask: if capacity.is_power_of_two() {
            capacity - 1
        } else {
            0
        },
        dropped: Padded(AtomicU64::new(0)),
        closed: AtomicU32::new(0),
        detached: (0..readers).map(|_| AtomicU32::new(0)).collect(),
        hub: Padded(WakeHub::new(readers + 1)),
        #[cfg(feature = "async")]
        tasks: Padded(LaneTasks {
            writer: super::AsyncWaker::new(),
            readers: super::AsyncWakerSet::new(readers),
        }),
    });
    let writer = LaneWriter {
        lane: Arc::clone(&lane),
        next: 0,
        published: 0,
        limit: capacity,
    };
    let readers = (0..readers)
        .map(|id| LaneReader {
            lane: Arc::clone(&lane),
            id,
            next: 0,
        })
        .collect();
    Ok((writer, readers))
}

/// The writing end of a lane (one per lane).
#[derive(Debug)]
pub struct LaneWriter<T> {
    lane: Arc<Lane<T>>,
    /// The next event's sequence (events written so far).
    next: u64,
    /// Events made visible: the last cursor stored (`next` once every write is published).
    published: u64,
    /// Cached `min(readers) + capacity`: events below it may be written.
    limit: u64,
}

/// A handle on a lane that is neither its writer nor a reader: for metrics and shutdown.
#[derive(Debug)]
pub struct LaneHandle<T>(Arc<Lane<T>>);

impl<T> Clone for LaneHandle<T> {
    fn clone(&self) -> Self {
        LaneHandle(Arc::clone(&self.0))
    }
}

impl<T> LaneHandle<T> {
    /// The lane.
    pub fn lane(&self) -> &Lane<T> {
        &self.0
    }
}

impl<T> LaneWriter<T> {
    /// The lane.
    pub fn lane(&self) -> &Lane<T> {
        &self.lane
    }

    /// A handle on this writer's lane (for metrics and shutdown).
    pub fn handle(&self) -> LaneHandle<T> {
        LaneHandle(Arc::clone(&self.lane))
    }

    /// Whether the next event has room (reloads the readers' sequences only when the cached
    /// gate says full).
    #[inline]
    pub fn has_room(&mut self) -> bool {
        if self.next < self.limit {
            return true;
        }
        self.limit = self.lane.released().saturating_add(self.lane.capacity);
        self.next < self.limit
    }

    /// Whether the next `n` events have room (reloads the readers' sequences only when the
    /// cached gate says no). Never true for `n` above the capacity.
    #[inline]
    pub fn has_room_for(&mut self, n: u64) -> bool {
        let end = self.next.saturating_add(n);
        if end <= self.limit {
            return true;
        }
        self.limit = self.lane.released().saturating_add(self.lane.capacity);
        end <= self.limit
    }

    /// Writes one event in place with `fill` if there is room, and publishes it; returns
    /// whether it did (nothing is counted when it did not: the caller may wait and retry).
    #[inline]
    pub fn try_write(&mut self, fill: impl FnOnce(&mut T)) -> bool {
        if !self.write_deferred(fill) {
            return false;
        }
        self.publish();
        true
    }

    /// Writes one event in place with `fill` if there is room, without making it visible:
    /// readers see it at the next [`publish`](Self::publish) (or `try_write`, or when the
    /// writer is dropped), together with every event written before it — one cursor store and
    /// one notification for a whole batch. Returns whether it wrote. A writer that waits for
    /// room must publish first: readers cannot release events they cannot see.
    #[inline]
    pub fn write_deferred(&mut self, fill: impl FnOnce(&mut T)) -> bool {
        if !self.has_room() {
            return false;
        }
        let seq = self.next;
        // SAFETY: `seq < min(readers) + capacity`, so every reader released the event that
        // used this slot before, and `seq` is not below the cursor yet (it is published by a
        // later cursor store), so no reader reads the slot until then: this writer has it
        // alone.
        self.lane.slot(seq).with_mut(|p| fill(unsafe { &mut *p }));
        self.next = seq + 1;
        true
    }

    /// Makes every event written so far visible (one cursor store and one notification; a
    /// no-op when nothing is pending).
    #[inline]
    pub fn publish(&mut self) {
        if self.published != self.next {
            self.published = self.next;
            self.lane.cursor.store(self.next);
            self.lane.hub.notify();
            self.lane.notify_reader_tasks();
        }
    }

    /// Events written and not yet published.
    pub fn pending(&self) -> u64 {
        self.next - self.published
    }

    /// `Drop` policy: writes the event if there is room; otherwise drops it (counted in
    /// [`LaneCounts::dropped`]) without waiting. Returns whether it was written.
    #[inline]
    pub fn write_or_drop(&mut self, fill: impl FnOnce(&mut T)) -> bool {
        if self.try_write(fill) {
            return true;
        }
        let dropped = &self.lane.dropped.0;
        // The writer is the only one to change the counter: a load and a store suffice.
        dropped.store(dropped.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        false
    }

    /// [`write_or_drop`](Self::write_or_drop) without publishing, as
    /// [`write_deferred`](Self::write_deferred): events written and not yet published count
    /// against the capacity (a full lane publishes them before it drops the new event).
    #[inline]
    pub fn write_or_drop_deferred(&mut self, fill: impl FnOnce(&mut T)) -> bool {
        if !self.has_room() {
            self.publish();
            let dropped = &self.lane.dropped.0;
            // The writer is the only one to change the counter: a load and a store suffice.
            dropped.store(dropped.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            return false;
        }
        self.write_deferred(fill)
    }

    /// Events written so far.
    pub fn written(&self) -> u64 {
        self.next
    }

    /// Ends the stream: once they have read everything written, readers see the lane
    /// finished. (Dropping the writer closes the lane too.)
    pub fn close(self) {}
}

impl<T> Drop for LaneWriter<T> {
    fn drop(&mut self) {
        self.publish();
        // After the last cursor store (program order), published with release.
        self.lane.closed.store(1, Ordering::Release);
        self.lane.hub.notify();
        self.lane.notify_reader_tasks();
    }
}

/// One reading end of a lane.
#[derive(Debug)]
pub struct LaneReader<T> {
    lane: Arc<Lane<T>>,
    id: usize,
    /// Events this reader released.
    next: u64,
}

impl<T> Drop for LaneReader<T> {
    fn drop(&mut self) {
        // After this reader's last release (program order), published with release: the
        // writer no longer waits for it.
        self.lane.detached[self.id].store(1, Ordering::Release);
        self.lane.hub.notify();
        self.lane.notify_writer_task();
    }
}

impl<T> LaneReader<T> {
    /// The lane.
    pub fn lane(&self) -> &Lane<T> {
        &self.lane
    }

    /// A handle on this reader's lane (to park on its hub while the reader is in use).
    pub fn handle(&self) -> LaneHandle<T> {
        LaneHandle(Arc::clone(&self.lane))
    }

    /// Which reader this is (0-based).
    pub fn id(&self) -> usize {
        self.id
    }

    /// Events written that this reader has not read yet.
    #[inline]
    pub fn available(&self) -> u64 {
        self.lane.cursor.load() - self.next
    }

    /// Reads every event written so far, in order, calling `f(sequence, &event)` on each in
    /// place, then releases them all at once. Returns how many it read.
    #[inline]
    pub fn read(&mut self, mut f: impl FnMut(u64, &T)) -> u64 {
        let end = self.lane.cursor.load();
        let start = self.next;
        for seq in start..end {
            // SAFETY: `seq < cursor` (acquire): the writer finished the event and will not
            // write its slot again until this reader stores a sequence above `seq`, which
            // happens only after this loop.
            self.lane.slot(seq).with(|p| f(seq, unsafe { &*p }));
        }
        if end > start {
            self.next = end;
            self.lane.readers[self.id].store(end);
            self.lane.hub.notify();
            self.lane.notify_writer_task();
        }
        end - start
    }

    /// Like [`read`](Self::read), but at most `max` events.
    #[inline]
    pub fn read_some(&mut self, max: u64, mut f: impl FnMut(u64, &T)) -> u64 {
        let end = self.lane.cursor.load().min(self.next.saturating_add(max));
        let start = self.next;
        for seq in start..end {
            // SAFETY: as in `read`: `seq` is below the cursor and not yet released.
            self.lane.slot(seq).with(|p| f(seq, unsafe { &*p }));
        }
        if end > start {
            self.next = end;
            self.lane.readers[self.id].store(end);
            self.lane.hub.notify();
            self.lane.notify_writer_task();
        }
        end - start
    }

    /// Events this reader released.
    pub fn delivered(&self) -> u64 {
        self.next
    }

    /// Whether the writer closed the lane and this reader has read everything it wrote.
    #[inline]
    pub fn is_finished(&self) -> bool {
        // Closed first (acquire): every cursor store before the close is then visible.
        self.lane.closed.load(Ordering::Acquire) == 1 && self.lane.cursor.load() == self.next
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn any_capacity_indexes_every_slot_in_turn() {
        for capacity in [1u64, 2, 3, 5, 8, 12] {
            let (mut w, mut r) = lane::<u64>(capacity, 1).unwrap();
            let mut seen = Vec::new();
            for v in 0..50u64 {
                assert!(w.try_write(|e| *e = v), "capacity {capacity}");
                r[0].read(|seq, e| {
                    assert_eq!(seq, *e);
                    seen.push(*e)
                });
            }
            assert_eq!(seen, (0..50).collect::<Vec<_>>());
        }
    }

    #[test]
    fn the_slowest_reader_gates_the_writer_and_drops_add_up() {
        let (mut w, mut r) = lane::<u64>(4, 3).unwrap();
        for v in 0..4 {
            assert!(w.try_write(|e| *e = v));
        }
        r[0].read(|_, _| {});
        r[1].read(|_, _| {});
        assert!(!w.has_room(), "reader 2 holds every slot");
        for v in 4..10 {
            assert!(!w.write_or_drop(|e| *e = v));
        }
        r[2].read(|_, _| {});
        assert!(w.write_or_drop(|e| *e = 10));
        for reader in r.iter_mut() {
            reader.read(|_, _| {});
        }
        let counts = w.lane().counts();
        assert_eq!(counts.published, 11);
        assert_eq!((counts.written, counts.dropped), (5, 6));
        assert!(counts.adds_up(), "{counts:?}");
    }

    #[test]
    fn a_reader_is_finished_once_the_writer_closed_and_it_read_everything() {
        let (mut w, mut r) = lane::<u64>(4, 1).unwrap();
        w.try_write(|e| *e = 1);
        assert!(!r[0].is_finished());
        w.close();
        assert!(!r[0].is_finished(), "one event left");
        assert_eq!(r[0].read(|_, _| {}), 1);
        assert!(r[0].is_finished());
    }

    #[test]
    fn a_reader_that_leaves_no_longer_holds_the_writer_back() {
        let (mut w, mut r) = lane::<u64>(2, 2).unwrap();
        assert!(w.try_write(|e| *e = 1) && w.try_write(|e| *e = 2));
        r[0].read(|_, _| {});
        assert!(!w.has_room(), "reader 1 holds both slots");
        let gone = r.pop().unwrap();
        drop(gone);
        assert!(w.try_write(|e| *e = 3), "reader 1 left");
        r[0].read(|_, _| {});
        let counts = w.lane().counts();
        assert_eq!(counts.detached, [false, true]);
        assert!(counts.adds_up(), "{counts:?}");
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert_eq!(lane::<u8>(0, 1).unwrap_err(), LaneError::ZeroCapacity);
        assert!(matches!(
            lane::<u8>(4, 0),
            Err(LaneError::Readers { readers: 0, .. })
        ));
        assert!(matches!(
            lane::<u8>(4, LANE_MAX_READERS + 1),
            Err(LaneError::Readers { .. })
        ));
    }

    #[test]
    fn two_threads_per_reader_see_every_event_in_order() {
        const N: u64 = 200_000;
        let (mut w, readers) = lane::<u64>(7, 2).unwrap();
        let handles: Vec<_> = readers
            .into_iter()
            .map(|mut r| {
                std::thread::spawn(move || {
                    let mut expect = 0;
                    while expect < N {
                        if r.read(|seq, e| {
                            assert_eq!((seq, *e), (expect, expect * 3));
                            expect += 1;
                        }) == 0
                        {
                            std::thread::yield_now();
                        }
                    }
                    r.delivered()
                })
            })
            .collect();
        for v in 0..N {
            while !w.try_write(|e| *e = v * 3) {
                std::thread::yield_now();
            }
        }
        for h in handles {
            assert_eq!(h.join().unwrap(), N);
        }
        assert!(w.lane().counts().adds_up());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    /// A writer and two readers; bounded attempts keep the state space finite (see
    /// `kernel::loom_tests`). Every slot access is loom-tracked, so a reader reading a slot the
    /// writer writes is a reported race; values check order and staleness.
    fn model(capacity: u64, events: u64, drop: bool) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(move || {
            let (mut w, readers) = lane::<u64>(capacity, 2).unwrap();
            let handles: Vec<_> = readers
                .into_iter()
                .map(|mut r| {
                    thread::spawn(move || {
                        let mut last = 0;
                        for _ in 0..3 {
                            r.read(|seq, e| {
                                assert!(*e > last, "event {seq}: {} after {last}", *e);
                                last = *e;
                            });
                        }
                        r
                    })
                })
                .collect();
            for v in 1..=events {
                for _ in 0..3 {
                    let written = if drop {
                        w.write_or_drop(|e| *e = v)
                    } else {
                        w.try_write(|e| *e = v)
                    };
                    if written || drop {
                        break;
                    }
                    thread::yield_now();
                }
            }
            let mut readers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            for r in readers.iter_mut() {
                r.read(|_, _| {});
            }
            let counts = w.lane().counts();
            if drop {
                assert_eq!(counts.published, events);
                assert!(counts.adds_up(), "{counts:?}");
            }
        });
    }

    #[test]
    fn a_finished_reader_has_read_every_event() {
        loom::model(|| {
            let (mut w, mut readers) = lane::<u64>(2, 1).unwrap();
            let mut r = readers.pop().unwrap();
            let writer = thread::spawn(move || {
                assert!(w.try_write(|e| *e = 1));
                assert!(w.try_write(|e| *e = 2));
                w.close();
            });
            let mut seen = 0;
            for _ in 0..3 {
                r.read(|_, _| seen += 1);
                if r.is_finished() {
                    assert_eq!(seen, 2, "finished before reading everything");
                    break;
                }
                thread::yield_now();
            }
            writer.join().unwrap();
        });
    }

    #[test]
    fn a_reader_that_leaves_never_races_the_writer() {
        loom::model(|| {
            let (mut w, mut readers) = lane::<u64>(1, 2).unwrap();
            let stays = readers.pop().unwrap();
            let mut leaves = readers.pop().unwrap();
            assert!(w.try_write(|e| *e = 1));
            let leaver = thread::spawn(move || {
                leaves.read(|_, e| assert_eq!(*e, 1));
                drop(leaves);
            });
            let mut stays = stays;
            stays.read(|_, _| {});
            // Once both are past event 1 (one by leaving), the writer reuses the slot: a race
            // with the leaving reader's read would be reported.
            for _ in 0..3 {
                if w.try_write(|e| *e = 2) {
                    break;
                }
                thread::yield_now();
            }
            leaver.join().unwrap();
        });
    }

    #[test]
    fn block_two_readers_capacity_one() {
        model(1, 3, false);
    }

    #[test]
    fn drop_two_readers_capacity_three_counts_add_up() {
        model(3, 4, true);
    }

    /// Writes deferred and published two at a time (one cursor store per pair, as a stage's
    /// output lane is published once per batch): no reader sees a slot being written, every
    /// reader sees the events in order, and nothing written before a publish stays unseen.
    #[test]
    fn deferred_writes_published_in_pairs() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(|| {
            let (mut w, readers) = lane::<u64>(3, 2).unwrap();
            let handles: Vec<_> = readers
                .into_iter()
                .map(|mut r| {
                    thread::spawn(move || {
                        let mut last = 0;
                        for _ in 0..3 {
                            r.read(|seq, e| {
                                assert_eq!(*e, seq + 1, "event {seq}");
                                assert!(*e > last);
                                last = *e;
                            });
                        }
                        r
                    })
                })
                .collect();
            let mut v = 1;
            'pairs: for _ in 0..2 {
                for _ in 0..2 {
                    let mut tries = 0;
                    while !w.write_deferred(|e| *e = v) {
                        // Readers release only what they see: publish before waiting.
                        w.publish();
                        tries += 1;
                        if tries > 2 {
                            break 'pairs;
                        }
                        thread::yield_now();
                    }
                    v += 1;
                }
                w.publish();
            }
            w.publish();
            let written = w.written();
            let mut readers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            for r in readers.iter_mut() {
                r.read(|_, _| {});
                assert_eq!(r.delivered(), written, "a published event stayed unseen");
            }
        });
    }
}
