//! A bounded single-producer single-consumer queue: the protocol under the in-process egress
//! ([`exec::egress`](crate::exec::egress)), which adds the full-queue policy and waiting.
//!
//! # Protocol
//! * The sender owns `tail` (items sent), the receiver owns `head` (items received); each is a
//!   [`Sequence`] the other side reads.
//! * The sender writes item `n` into slot `n & mask` only while `n - head < capacity` (the
//!   receiver has taken the slot's previous item), then stores `tail = n + 1` (`Release`).
//! * The receiver reads item `n` only while `n < tail` (`Acquire`), moves it out, then stores
//!   `head = n + 1` (`Release`), which hands the slot back.
//! * Each end keeps a cached copy of the other's sequence and reloads it only when the cache
//!   says full (or empty), so an uncontended send or receive touches one shared line.
//! * Either end leaving sets its bit in `closed`; items sent and not received are dropped with
//!   the queue.
//!
//! The loom model (`kernel::spsc::loom_tests`) checks FIFO delivery of every item and the drop
//! of unreceived items under every interleaving of a small queue.

use core::mem::MaybeUninit;

use super::{Sequence, SlotCell};
use crate::sync::{Arc, AtomicU32, AtomicU64, Ordering};

const SENDER_GONE: u32 = 1;
const RECEIVER_GONE: u32 = 2;

/// The state both ends share.
pub struct SpscQueue<T> {
    /// Items sent; written by the sender only.
    tail: Sequence,
    /// Items received; written by the receiver only.
    head: Sequence,
    slots: Box<[SlotCell<MaybeUninit<T>>]>,
    mask: u64,
    /// `SENDER_GONE | RECEIVER_GONE` bits.
    closed: AtomicU32,
    /// Items the sender gave up on because the queue was full (a counter, not protocol state).
    dropped: AtomicU64,
}

impl<T> std::fmt::Debug for SpscQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpscQueue")
            .field("capacity", &(self.mask + 1))
            .field("sent", &self.tail.load_relaxed())
            .field("received", &self.head.load_relaxed())
            .finish()
    }
}

// SAFETY: items move from the one sender to the one receiver through the head/tail protocol
// (a slot is written only while `tail - head < capacity`, read only while `head < tail`), so each
// `T` is accessed by one thread at a time; moving a `T` across threads needs `T: Send`.
unsafe impl<T: Send> Sync for SpscQueue<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for SpscQueue<T> {}

impl<T> SpscQueue<T> {
    /// Slots in the queue.
    pub fn capacity(&self) -> u64 {
        self.mask + 1
    }

    /// Items sent so far (`Acquire`).
    #[inline]
    pub fn sent(&self) -> u64 {
        self.tail.load()
    }

    /// Items received so far (`Acquire`).
    #[inline]
    pub fn received(&self) -> u64 {
        self.head.load()
    }

    /// Items the sender counted as dropped ([`SpscSender::count_dropped`]).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Whether the sender is gone (items may still be queued).
    #[inline]
    pub fn sender_gone(&self) -> bool {
        self.closed.load(Ordering::Acquire) & SENDER_GONE != 0
    }

    /// Whether the receiver is gone.
    #[inline]
    pub fn receiver_gone(&self) -> bool {
        self.closed.load(Ordering::Acquire) & RECEIVER_GONE != 0
    }
}

impl<T> Drop for SpscQueue<T> {
    fn drop(&mut self) {
        let (head, tail) = (self.head.load(), self.tail.load());
        for seq in head..tail {
            let cell = &self.slots[(seq & self.mask) as usize];
            // SAFETY: items in `head..tail` were written and never read; both ends are gone
            // (this is the last reference), so nothing else touches them.
            cell.with_mut(|p| unsafe { (*p).assume_init_drop() });
        }
    }
}

/// A queue of `capacity` slots (rounded up to a power of two, at least 2), split into its two
/// ends.
///
/// ```
/// use byteor::kernel::spsc;
///
/// let (mut tx, mut rx) = spsc::<u32>(2);
/// assert_eq!(tx.try_send(1), Ok(()));
/// assert_eq!(tx.try_send(2), Ok(()));
/// assert_eq!(tx.try_send(3), Err(3)); // full
/// assert_eq!(rx.try_recv(), Some(1));
/// assert_eq!(tx.try_send(3), Ok(()));
/// assert_eq!((rx.try_recv(), rx.try_recv(), rx.try_recv()), (Some(2), Some(3), None));
/// ```
pub fn spsc<T: Send>(capacity: usize) -> (SpscSender<T>, SpscReceiver<T>) {
    let capacity = capacity.max(2).next_power_of_two();
    let queue = Arc::new(SpscQueue {
        tail: Sequence::new(0),
        head: Sequence::new(0),
        slots: (0..capacity)
            .map(|_| SlotCell::new(MaybeUninit::uninit()))
            .collect(),
        mask: capacity as u64 - 1,
        closed: AtomicU32::new(0),
        dropped: AtomicU64::new(0),
    });
    (
        SpscSender {
            queue: Arc::clone(&queue),
            tail: 0,
            head_cache: 0,
        },
        SpscReceiver {
            queue,
            head: 0,
            tail_cache: 0,
        },
    )
}

/// The sending end: the only writer of the queue.
pub struct SpscSender<T> {
    queue: Arc<SpscQueue<T>>,
    /// Items sent (a private copy of the shared `tail`).
    tail: u64,
    /// The receiver's `head` as last read.
    head_cache: u64,
}

impl<T> std::fmt::Debug for SpscSender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpscSender")
            .field("sent", &self.tail)
            .finish_non_exhaustive()
    }
}

impl<T> SpscSender<T> {
    /// The shared state (for wait conditions).
    pub fn queue(&self) -> &SpscQueue<T> {
        &self.queue
    }

    /// Items sent so far.
    pub fn sent(&self) -> u64 {
        self.tail
    }

    /// Whether a send would find room now.
    #[inline]
    pub fn has_room(&mut self) -> bool {
        let cap = self.queue.mask + 1;
        if self.tail - self.head_cache < cap {
            return true;
        }
        self.head_cache = self.queue.head.load();
        self.tail - self.head_cache < cap
    }

    /// Counts one item the sender dropped instead of queueing (a full queue under a dropping
    /// policy); readable from both ends as [`SpscQueue::dropped`].
    #[inline]
    pub fn count_dropped(&self) {
        self.queue.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Queues `item` if there is room; gives it back otherwise.
    #[inline]
    pub fn try_send(&mut self, item: T) -> Result<(), T> {
        if !self.has_room() {
            return Err(item);
        }
        let cell = &self.queue.slots[(self.tail & self.queue.mask) as usize];
        // SAFETY: `tail - head < capacity`, so the receiver has taken the slot's previous item
        // and will not read this slot before `tail` is published below; this is the only
        // sender.
        cell.with_mut(|p| unsafe { (*p).write(item) });
        self.tail += 1;
        self.queue.tail.store(self.tail);
        Ok(())
    }
}

impl<T> SpscSender<T> {
    /// Marks the sender gone now (dropping it does the same): lets the caller wake a waiting
    /// receiver after the mark is visible.
    pub fn close(&self) {
        self.queue.closed.fetch_or(SENDER_GONE, Ordering::AcqRel);
    }
}

impl<T> Drop for SpscSender<T> {
    fn drop(&mut self) {
        self.close();
    }
}

/// The receiving end: the only reader of the queue.
pub struct SpscReceiver<T> {
    queue: Arc<SpscQueue<T>>,
    /// Items received (a private copy of the shared `head`).
    head: u64,
    /// The sender's `tail` as last read.
    tail_cache: u64,
}

impl<T> std::fmt::Debug for SpscReceiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpscReceiver")
            .field("received", &self.head)
            .finish_non_exhaustive()
    }
}

impl<T> SpscReceiver<T> {
    /// The shared state (for wait conditions).
    pub fn queue(&self) -> &SpscQueue<T> {
        &self.queue
    }

    /// Items received so far.
    pub fn received(&self) -> u64 {
        self.head
    }

    /// Takes the next item if one is queued.
    #[inline]
    pub fn try_recv(&mut self) -> Option<T> {
        if self.head == self.tail_cache {
            self.tail_cache = self.queue.tail.load();
            if self.head == self.tail_cache {
                return None;
            }
        }
        let cell = &self.queue.slots[(self.head & self.queue.mask) as usize];
        // SAFETY: `head < tail`: the sender wrote this slot and published it with `tail`; it
        // will not write it again before `head` moves past it below; this is the only
        // receiver.
        let item = cell.with(|p| unsafe { (*p).assume_init_read() });
        self.head += 1;
        self.queue.head.store(self.head);
        Some(item)
    }
}

impl<T> SpscReceiver<T> {
    /// Marks the receiver gone now (dropping it does the same): lets the caller wake a waiting
    /// sender after the mark is visible.
    pub fn close(&self) {
        self.queue.closed.fetch_or(RECEIVER_GONE, Ordering::AcqRel);
    }
}

impl<T> Drop for SpscReceiver<T> {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::spsc;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    /// Every item arrives once, in order, across a queue that fills up.
    #[test]
    fn items_arrive_in_order() {
        loom::model(|| {
            let (mut tx, mut rx) = spsc::<u32>(2);
            let sender = thread::spawn(move || {
                for i in 0..3 {
                    let mut item = i;
                    while let Err(back) = tx.try_send(item) {
                        item = back;
                        thread::yield_now();
                    }
                }
            });
            let mut next = 0;
            while next < 3 {
                match rx.try_recv() {
                    Some(v) => {
                        assert_eq!(v, next);
                        next += 1;
                    }
                    None => thread::yield_now(),
                }
            }
            sender.join().unwrap();
            assert_eq!(rx.try_recv(), None);
            assert!(rx.queue().sender_gone());
        });
    }

    /// Counts drops, to check items left in the queue are dropped exactly once.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whatever the receiver took before leaving, every item is dropped exactly once.
    #[test]
    fn unreceived_items_are_dropped_once() {
        loom::model(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let (mut tx, mut rx) = spsc::<Counted>(2);
            let counter = Arc::clone(&drops);
            let sender = thread::spawn(move || {
                for _ in 0..2 {
                    let _ = tx.try_send(Counted(Arc::clone(&counter)));
                }
            });
            drop(rx.try_recv());
            drop(rx);
            sender.join().unwrap();
            assert_eq!(drops.load(Ordering::Relaxed), 2);
        });
    }
}
