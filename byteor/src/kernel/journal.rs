//! The journal lane's gate: what the writer of a `Journal` lane and its readers share while the
//! events themselves travel through segment files ([`backing::journal`](crate::backing::journal)).
//!
//! # Protocol
//! * The writer appends records to the files, flushes them (the `write` calls return), then
//!   stores how many records are readable, `visible = n` ([`Release`](Ordering::Release)). A
//!   reader loads `visible` ([`Acquire`](Ordering::Acquire)) and reads only offsets below it:
//!   every record it reads was written before that store.
//! * Each reader stores the offset it will read next, `position` (`Release`), after it has read
//!   everything below it. A writer that wants to delete old records (retention) loads the
//!   attached readers' positions (`Acquire`) and, when it must not lose events (`Block`),
//!   deletes only records below the smallest: a reader never loses a record it has not read.
//!   Under `Drop` the writer deletes by size alone; a reader that finds its next record gone
//!   skips to the oldest retained one and counts what it skipped as lost.
//! * The writer closes the lane after its last `visible` store (`closed = 1`, `Release`); a
//!   reader that sees it (`Acquire`) and is at `visible` is finished. A reader that leaves
//!   early marks itself detached (`Release`) so it no longer holds retention back.
//! * Per reader, once it has read everything: `published = delivered + lost`.
//!
//! The loom model (`kernel::journal::loom_tests`) stands for the files with a slot array the
//! writer fills and clears (retention) and checks that a reader never reads a slot that is
//! not yet written or already deleted, and that the counts add up.

use super::{Padded, Sequence};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// What a journal lane's writer and readers share. Readers are numbered `0..readers`.
pub struct JournalGate {
    visible: Sequence,
    closed: AtomicU32,
    positions: Box<[Sequence]>,
    detached: Box<[Padded<AtomicU32>]>,
    delivered: Box<[Padded<AtomicU64>]>,
    lost: Box<[Padded<AtomicU64>]>,
}

impl std::fmt::Debug for JournalGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalGate")
            .field("visible", &self.visible.load_relaxed())
            .field("readers", &self.positions.len())
            .finish()
    }
}

impl JournalGate {
    /// A gate for `readers` readers, all starting at offset `start` (the journal's next offset
    /// when the lane opens: a lane delivers what is written while it runs).
    pub fn new(readers: usize, start: u64) -> Self {
        let padded32 = || Padded(AtomicU32::new(0));
        let padded64 = || Padded(AtomicU64::new(0));
        JournalGate {
            visible: Sequence::new(start),
            closed: AtomicU32::new(0),
            positions: (0..readers).map(|_| Sequence::new(start)).collect(),
            detached: (0..readers).map(|_| padded32()).collect(),
            delivered: (0..readers).map(|_| padded64()).collect(),
            lost: (0..readers).map(|_| padded64()).collect(),
        }
    }

    /// Readers.
    pub fn readers(&self) -> usize {
        self.positions.len()
    }

    /// Writer: records below `n` are flushed and readable.
    #[inline]
    pub fn publish(&self, n: u64) {
        self.visible.store(n);
    }

    /// Reader: records below the returned offset are readable.
    #[inline]
    pub fn visible(&self) -> u64 {
        self.visible.load()
    }

    /// Writer (or shutdown): no records follow the last [`publish`](Self::publish).
    pub fn close(&self) {
        self.closed.store(1, Ordering::Release);
    }

    /// Whether the lane is closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) == 1
    }

    /// Reader `r` read everything below `position`: `delivered` more events, and `lost` more
    /// deleted before it got to them.
    #[inline]
    pub fn advance(&self, r: usize, position: u64, delivered: u64, lost: u64) {
        // Single writer per counter (reader `r`): plain load + store.
        let d = &self.delivered[r].0;
        d.store(d.load(Ordering::Relaxed) + delivered, Ordering::Relaxed);
        if lost > 0 {
            let l = &self.lost[r].0;
            l.store(l.load(Ordering::Relaxed) + lost, Ordering::Relaxed);
        }
        self.positions[r].store(position);
    }

    /// Reader `r` left; it no longer holds retention back.
    pub fn detach(&self, r: usize) {
        self.detached[r].0.store(1, Ordering::Release);
    }

    /// Writer: the smallest position of the readers still attached (`None` with none), below
    /// which records may be deleted without any attached reader losing one.
    pub fn floor(&self) -> Option<u64> {
        (0..self.positions.len())
            .filter(|&r| self.detached[r].0.load(Ordering::Acquire) == 0)
            .map(|r| self.positions[r].load())
            .min()
    }

    /// Reader `r`'s `(delivered, lost, detached)` (relaxed: exact once the lane is quiescent).
    pub fn reader_counts(&self, r: usize) -> (u64, u64, bool) {
        (
            self.delivered[r].0.load(Ordering::Relaxed),
            self.lost[r].0.load(Ordering::Relaxed),
            self.detached[r].0.load(Ordering::Relaxed) == 1,
        )
    }

    /// Records made readable so far.
    pub fn published(&self) -> u64 {
        self.visible.load_relaxed()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_the_slowest_attached_reader() {
        let gate = JournalGate::new(3, 10);
        gate.publish(20);
        assert_eq!(gate.visible(), 20);
        gate.advance(0, 15, 5, 0);
        gate.advance(1, 12, 1, 1);
        gate.advance(2, 18, 8, 0);
        assert_eq!(gate.floor(), Some(12));
        gate.detach(1);
        assert_eq!(gate.floor(), Some(15));
        assert_eq!(gate.reader_counts(1), (1, 1, true));
        gate.detach(0);
        gate.detach(2);
        assert_eq!(gate.floor(), None);
        assert!(!gate.is_closed());
        gate.close();
        assert!(gate.is_closed());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::Arc;
    use loom::thread;

    /// Slots stand for records in files: the writer writes record `n` into slot `n`, clears
    /// slots below the floor (retention under `Block`), and publishes; the reader checks that
    /// every record it reads is there.
    #[test]
    fn a_reader_reads_only_written_records_and_retention_never_deletes_unread_ones() {
        const N: u64 = 3;
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(|| {
            let gate = Arc::new(JournalGate::new(1, 0));
            let slots: Arc<Vec<AtomicU64>> = Arc::new((0..N).map(|_| AtomicU64::new(0)).collect());
            let (g, s) = (Arc::clone(&gate), Arc::clone(&slots));
            let reader = thread::spawn(move || {
                let mut next = 0;
                for _ in 0..3 {
                    let end = g.visible();
                    let start = next;
                    while next < end {
                        let v = s[next as usize].load(Ordering::Relaxed);
                        assert_eq!(
                            v,
                            next + 1,
                            "record {next} read before it was written or after it was deleted"
                        );
                        next += 1;
                    }
                    g.advance(0, next, next - start, 0);
                    thread::yield_now();
                }
                next
            });
            for n in 0..N {
                slots[n as usize].store(n + 1, Ordering::Relaxed);
                gate.publish(n + 1);
                // Retention: delete what every attached reader has read.
                let floor = gate.floor().unwrap_or(n + 1);
                for old in 0..floor {
                    slots[old as usize].store(0, Ordering::Relaxed);
                }
            }
            gate.close();
            let read = reader.join().unwrap();
            let (delivered, lost, _) = gate.reader_counts(0);
            assert_eq!((delivered, lost), (read, 0));
        });
    }
}
