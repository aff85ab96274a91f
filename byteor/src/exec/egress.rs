//! The in-process egress: a bounded single-producer single-consumer queue from a final stage
//! to the caller's own thread.
//!
//! A plan's egress boundary names where results leave the pipeline. In process, byteor makes
//! it concrete as this queue: the final stage owns the [`EgressSender`], the application drains
//! the [`EgressReceiver`] wherever it likes. The queue has its own capacity and policy, so it
//! never gates the ring's producer unless the caller asks for it:
//!
//! * [`OnFull::Drop`] (the usual choice): `send` never waits; an item that does not fit is
//!   dropped and counted ([`EgressReceiver::dropped`]).
//! * [`OnFull::Block`]: `send` waits for room — backpressure that reaches the ring's producer
//!   through the final stage. Nothing is lost. The wait always uses the
//!   [`Parking`](WaitStrategy::Parking) strategy (a short spin, then yields, then a bounded
//!   park), whatever wait strategy the pipeline runs with: a full egress queue means the
//!   application is the bottleneck, and a stage spinning on it would only take a core from
//!   the thread that drains it. The receiver wakes a parked sender as it frees room.
//!
//! ```
//! use byteor::exec::egress;
//! use byteor::plan::OnFull;
//!
//! let (mut tx, mut rx) = egress::channel::<u64>(4, OnFull::Drop);
//! for i in 0..6 {
//!     tx.send(i).unwrap();
//! }
//! let got: Vec<u64> = std::iter::from_fn(|| rx.try_recv()).collect();
//! assert_eq!(got, [0, 1, 2, 3]);
//! assert_eq!(rx.dropped(), 2);
//! ```
//!
//! Each queue has one sender: a sharded pipeline makes one queue per shard (see
//! [`per_shard`](super::per_shard)).
//!
//! With the `async` feature the receiver is also a `futures_core::Stream` and offers
//! `recv().await`: a task waiting for an item arms the queue's `kernel::AsyncWaker`, which the sender notifies after each item (one
//! relaxed load while no task waits). The stream ends (`None`) once the sender is gone — its
//! stage finished, after a shutdown drained the pipeline — and every queued item was received.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::kernel::{spsc, SpscReceiver, SpscSender, WaitStrategy, Waiter, WakeHub};

/// How the two ends wake each other: threads park on the hub (slot 0 the sender, slot 1 the
/// receiver); an async receiver's task waits in `receiver_task`.
struct Wakeups {
    hub: WakeHub,
    #[cfg(feature = "async")]
    receiver_task: crate::kernel::AsyncWaker,
}

impl Wakeups {
    /// After an item was queued or the sender left.
    #[inline(always)]
    fn notify_receiver(&self) {
        self.hub.notify();
        #[cfg(feature = "async")]
        self.receiver_task.notify();
    }
}

impl std::ops::Deref for Wakeups {
    type Target = WakeHub;
    fn deref(&self) -> &WakeHub {
        &self.hub
    }
}
use crate::plan::OnFull;

const SENDER_SLOT: usize = 0;
const RECEIVER_SLOT: usize = 1;

/// Creates an egress queue of `capacity` items (rounded up to a power of two, at least 2).
pub fn channel<T: Send>(capacity: usize, on_full: OnFull) -> (EgressSender<T>, EgressReceiver<T>) {
    let (tx, rx) = spsc(capacity);
    let hub = Arc::new(Wakeups {
        hub: WakeHub::new(2),
        #[cfg(feature = "async")]
        receiver_task: crate::kernel::AsyncWaker::new(),
    });
    (
        EgressSender {
            tx,
            hub: Arc::clone(&hub),
            on_full,
        },
        EgressReceiver {
            rx,
            hub,
            #[cfg(feature = "async")]
            spin: Default::default(),
        },
    )
}

/// What happened to a sent item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Queued for the receiver.
    Queued,
    /// The queue was full and its policy is [`OnFull::Drop`]: dropped and counted.
    Dropped,
}

/// The receiver is gone; the item comes back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the egress receiver is gone")]
pub struct Disconnected<T>(pub T);

/// Why [`EgressReceiver::recv_timeout`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvTimeoutError {
    /// Nothing arrived in time.
    #[error("no item arrived in time")]
    Timeout,
    /// The sender is gone and the queue is empty.
    #[error("the egress sender is gone and the queue is empty")]
    Disconnected,
}

/// The sending end, owned by a final stage.
pub struct EgressSender<T> {
    tx: SpscSender<T>,
    hub: Arc<Wakeups>,
    on_full: OnFull,
}

impl<T> std::fmt::Debug for EgressSender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressSender")
            .field("on_full", &self.on_full)
            .field("sent", &self.tx.queue().sent())
            .finish_non_exhaustive()
    }
}

impl<T: Send> EgressSender<T> {
    /// Sends `item` under the queue's [`OnFull`] policy. Fails only when the receiver is gone.
    ///
    /// Under [`OnFull::Block`], a full queue makes `send` wait with the parking strategy (see
    /// the module docs) until the receiver frees a slot or is dropped.
    #[inline]
    pub fn send(&mut self, mut item: T) -> Result<Sent, Disconnected<T>> {
        if self.tx.queue().receiver_gone() {
            return Err(Disconnected(item));
        }
        loop {
            match self.tx.try_send(item) {
                Ok(()) => {
                    self.hub.notify_receiver();
                    return Ok(Sent::Queued);
                }
                Err(back) => item = back,
            }
            match self.on_full {
                OnFull::Drop => {
                    self.tx.count_dropped();
                    return Ok(Sent::Dropped);
                }
                OnFull::Block => {
                    if self.wait_for_room().is_err() {
                        return Err(Disconnected(item));
                    }
                }
            }
        }
    }

    #[cold]
    fn wait_for_room(&mut self) -> Result<(), ()> {
        let hub = Arc::clone(&self.hub);
        let mut waiter = Waiter::new(WaitStrategy::Parking, &hub.hub, SENDER_SLOT);
        loop {
            if self.tx.has_room() {
                return Ok(());
            }
            let queue = self.tx.queue();
            if queue.receiver_gone() {
                return Err(());
            }
            let (sent, cap) = (self.tx.sent(), queue.capacity());
            waiter.idle(|| sent - queue.received() < cap || queue.receiver_gone());
        }
    }

    /// Items dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.tx.queue().dropped()
    }
}

impl<T> Drop for EgressSender<T> {
    fn drop(&mut self) {
        self.tx.close();
        self.hub.notify_receiver();
    }
}

/// The receiving end, drained on the application's thread.
pub struct EgressReceiver<T> {
    rx: SpscReceiver<T>,
    hub: Arc<Wakeups>,
    #[cfg(feature = "async")]
    spin: super::poll_spin::PollSpin,
}

impl<T> std::fmt::Debug for EgressReceiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressReceiver")
            .field("received", &self.rx.queue().received())
            .finish_non_exhaustive()
    }
}

impl<T: Send> EgressReceiver<T> {
    /// Takes the next item if one is queued.
    #[inline]
    pub fn try_recv(&mut self) -> Option<T> {
        let item = self.rx.try_recv()?;
        self.hub.notify();
        Some(item)
    }

    /// Waits up to `timeout` for the next item.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let deadline = Instant::now() + timeout;
        let hub = Arc::clone(&self.hub);
        let mut waiter = Waiter::new(WaitStrategy::Parking, &hub.hub, RECEIVER_SLOT);
        loop {
            if let Some(item) = self.try_recv() {
                return Ok(item);
            }
            if self.rx.queue().sender_gone() {
                // The sender may have published a last item before leaving.
                return self.try_recv().ok_or(RecvTimeoutError::Disconnected);
            }
            if Instant::now() >= deadline {
                return Err(RecvTimeoutError::Timeout);
            }
            let (received, queue) = (self.rx.received(), self.rx.queue());
            waiter.idle(|| queue.sent() > received || queue.sender_gone());
        }
    }

    /// Hands every queued item to `f`; returns how many.
    pub fn drain(&mut self, mut f: impl FnMut(T)) -> usize {
        let mut n = 0;
        while let Some(item) = self.try_recv() {
            f(item);
            n += 1;
        }
        n
    }

    /// Items the sender dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.rx.queue().dropped()
    }

    /// Whether the sender is gone (items may still be queued).
    pub fn is_disconnected(&self) -> bool {
        self.rx.queue().sender_gone()
    }
}

#[cfg(feature = "async")]
impl<T: Send> EgressReceiver<T> {
    /// Polls for the next item: `Ready(Some(item))`, `Ready(None)` once the sender is gone and
    /// every item was received, else `Pending` with the task registered for a wake-up on the
    /// next item or on the sender leaving.
    pub fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<T>> {
        use std::task::Poll;
        let mut armed = false;
        loop {
            if let Some(item) = self.try_recv() {
                if armed {
                    self.hub.receiver_task.disarm();
                }
                self.spin.reset();
                return Poll::Ready(Some(item));
            }
            if self.rx.queue().sender_gone() {
                // The sender may have queued a last item before leaving.
                return Poll::Ready(self.try_recv());
            }
            if armed {
                return Poll::Pending;
            }
            // An item may be moments away: be polled again a few times before arming.
            if self.spin.spin(cx) {
                return Poll::Pending;
            }
            // Arm, then look once more: an item queued before the arm is seen now, one queued
            // after it comes with a wake-up.
            if !self.hub.receiver_task.arm(cx.waker()) {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            armed = true;
        }
    }

    /// The next item, waiting for it without blocking the thread; `None` once the sender is
    /// gone and every item was received. Cancel safe: a dropped `recv` took nothing.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

#[cfg(feature = "async")]
impl<T: Send> futures_core::Stream for EgressReceiver<T> {
    type Item = T;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<T> Drop for EgressReceiver<T> {
    fn drop(&mut self) {
        self.rx.close();
        self.hub.notify();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn block_policy_loses_nothing_across_threads() {
        let (mut tx, mut rx) = channel::<u64>(8, OnFull::Block);
        let n = 100_000u64;
        let t = std::thread::spawn(move || {
            for i in 0..n {
                assert_eq!(tx.send(i).unwrap(), Sent::Queued);
            }
        });
        for i in 0..n {
            assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), i);
        }
        t.join().unwrap();
        assert_eq!(rx.dropped(), 0);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(1)),
            Err(RecvTimeoutError::Disconnected)
        );
    }

    #[test]
    fn drop_policy_counts_every_drop() {
        let (mut tx, mut rx) = channel::<String>(2, OnFull::Drop);
        assert_eq!(tx.send("a".into()).unwrap(), Sent::Queued);
        assert_eq!(tx.send("b".into()).unwrap(), Sent::Queued);
        assert_eq!(tx.send("c".into()).unwrap(), Sent::Dropped);
        assert_eq!(tx.dropped(), 1);
        assert_eq!(rx.try_recv().as_deref(), Some("a"));
        assert_eq!(tx.send("d".into()).unwrap(), Sent::Queued);
        let mut got = Vec::new();
        rx.drain(|s| got.push(s));
        assert_eq!(got, ["b", "d"]);
        assert_eq!(rx.dropped(), 1);
    }

    #[test]
    fn send_to_a_gone_receiver_returns_the_item() {
        let (mut tx, rx) = channel::<u32>(2, OnFull::Block);
        drop(rx);
        assert_eq!(tx.send(7), Err(Disconnected(7)));
    }

    #[test]
    fn queued_items_are_dropped_with_the_queue() {
        let marker = Arc::new(());
        let (mut tx, rx) = channel::<Arc<()>>(4, OnFull::Drop);
        tx.send(Arc::clone(&marker)).unwrap();
        tx.send(Arc::clone(&marker)).unwrap();
        assert_eq!(Arc::strong_count(&marker), 3);
        drop(tx);
        drop(rx);
        assert_eq!(Arc::strong_count(&marker), 1);
    }
}
