//! Publishing from async code: [`Producer::publish_async`] and
//! [`Producer::publish_batch_async`] (the `async` feature).
//!
//! A publish that finds room completes in its first poll, exactly like
//! [`publish`](Producer::publish): no allocation, no lock, no syscall. On a full ring the future
//! arms the shard's [`AsyncWaker`](crate::kernel::AsyncWaker) and returns `Pending`; the final
//! stages notify it as they release slots (one relaxed load per batch while no task waits), and
//! so does every lifecycle change (shutdown, a failed stage).
//!
//! Cancel safety: an event is written and published within a single poll, the one that finds
//! room, so a future dropped before it completed has published nothing and has left the ring
//! and the producer as they were (on a sharded ring `fill` may already have run on the
//! producer's staging event to find the shard; that event is discarded).

use crate::exec::poll_spin::PollSpin;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::backing::RingStorage;
use crate::exec::error::PublishError;
use crate::exec::routing::Router;
use crate::kernel::RUNNING;

use super::Producer;

impl<E, K, R> Producer<E, K, R>
where
    E: Default + Send + Sync,
    K: Router<E>,
    R: RingStorage<Event = E>,
{
    /// Publishes one event from async code: completes at once while the ring has room (as
    /// [`publish`](Self::publish) does, with the same result), and otherwise waits for room
    /// without blocking the thread. Cancel safe: dropping the future before it completed
    /// publishes nothing: the event is written and published within the one poll that finds
    /// room (on a sharded ring `fill` may already have run on the producer's staging event to
    /// find the shard; that event is then discarded).
    ///
    /// ```
    /// use byteor::prelude::*;
    /// use std::future::Future;
    /// use std::task::{Context, Poll, Waker};
    ///
    /// let pipeline = SingleRing::<u64>::build("numbers", |ring| {
    ///     let ring = ring.capacity(64).ingress("in").egress("out");
    ///     let (ring, _sum) = ring.stage("sum", from_fn(|_: &u64, _: &EventContext| Ok(())));
    ///     ring.build()
    /// })?;
    /// let (mut producer, control) = pipeline.spawn()?;
    /// // In a service: `producer.publish_async(|slot| *slot = 7).await?`. Here, one poll by
    /// // hand: a ring with room completes at once.
    /// {
    ///     let mut publish = std::pin::pin!(producer.publish_async(|slot| *slot = 7));
    ///     let poll = publish.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    ///     assert!(matches!(poll, Poll::Ready(Ok(0))));
    /// }
    /// drop(producer);
    /// assert_eq!(control.join()?.processed("sum"), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish_async<F: FnOnce(&mut E)>(&mut self, fill: F) -> PublishAsync<'_, E, K, R, F> {
        PublishAsync {
            producer: self,
            fill: Some(fill),
            shard: None,
            armed: None,
            spin: PollSpin::default(),
        }
    }

    /// Publishes `count` events filled by `fill(i, slot)` from async code, all or nothing, as
    /// [`publish_batch`](Self::publish_batch) does: completes at once while every shard has
    /// room for the whole batch, and otherwise waits for that room without blocking the
    /// thread. Cancel safe: nothing is written before the poll that completes the future.
    pub fn publish_batch_async<F: FnMut(usize, &mut E)>(
        &mut self,
        count: usize,
        fill: F,
    ) -> PublishBatchAsync<'_, E, K, R, F> {
        PublishBatchAsync {
            producer: self,
            count,
            fill: Some(fill),
            armed: None,
            spin: PollSpin::default(),
        }
    }

    /// Arms shard `shard`'s room waker for `cx`'s task; `false` when wake-ups cannot be relied
    /// on (then the task was asked to be polled again).
    #[cold]
    fn arm_room(&self, shard: usize, cx: &Context<'_>) -> bool {
        if self.rt.shards[shard].room_task.arm(cx.waker()) {
            true
        } else {
            cx.waker().wake_by_ref();
            false
        }
    }

    /// Forgets a registration made by a future that no longer waits.
    #[cold]
    fn disarm_room(&self, shard: usize) {
        self.rt.shards[shard].room_task.disarm();
    }

    /// Why the producer cannot wait for room on shard `shard` (stopped, or a stage's process
    /// is down), if it cannot.
    fn cannot_wait(&self, shard: usize) -> Option<PublishError> {
        if self.rt.state() != RUNNING {
            return Some(PublishError::Stopped(self.rt.stopped_error()));
        }
        self.rt.shards[shard]
            .ring
            .peer_down()
            .map(PublishError::PeerDown)
    }
}

/// The future of [`Producer::publish_async`]: the event's sequence within its shard.
#[must_use = "futures do nothing unless polled"]
pub struct PublishAsync<'p, E, K, R: RingStorage<Event = E>, F> {
    producer: &'p mut Producer<E, K, R>,
    fill: Option<F>,
    /// The event's shard, once routed.
    shard: Option<usize>,
    /// The shard whose room waker this future armed, if it did.
    armed: Option<usize>,
    /// Polls asked for before arming.
    spin: PollSpin,
}

impl<E, K, R: RingStorage<Event = E>, F> std::fmt::Debug for PublishAsync<'_, E, K, R, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishAsync")
            .field("shard", &self.shard)
            .field("waiting", &self.armed.is_some())
            .finish_non_exhaustive()
    }
}

// The future never pins `fill` (it is moved out and called by value): no pin projection.
impl<E, K, R: RingStorage<Event = E>, F> Unpin for PublishAsync<'_, E, K, R, F> {}

impl<E, K, R, F> Future for PublishAsync<'_, E, K, R, F>
where
    E: Default + Send + Sync,
    K: Router<E>,
    R: RingStorage<Event = E>,
    F: FnOnce(&mut E),
{
    type Output = Result<u64, PublishError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let p = &mut *this.producer;
        if let Err(e) = p.check_running() {
            return Poll::Ready(Err(e));
        }
        let shard = match this.shard {
            Some(shard) => shard,
            None => {
                let shard = p.route(&mut this.fill);
                this.shard = Some(shard);
                shard
            }
        };
        let mut armed_now = false;
        loop {
            let seq = p.split(shard).0.next;
            if p.room(shard, seq + 1) {
                if let Some(armed) = this.armed.take() {
                    p.disarm_room(armed);
                }
                p.put(shard, seq, this.fill.take());
                return Poll::Ready(Ok(seq));
            }
            if let Some(e) = p.cannot_wait(shard) {
                return Poll::Ready(Err(e));
            }
            if armed_now {
                return Poll::Pending;
            }
            // Room may be moments away: be polled again a few times before arming.
            if this.armed.is_none() && this.spin.spin(cx) {
                return Poll::Pending;
            }
            // Arm, then look once more: room freed before the arm is seen now, room freed
            // after it comes with a wake-up.
            this.armed = Some(shard);
            if !p.arm_room(shard, cx) {
                return Poll::Pending;
            }
            armed_now = true;
        }
    }
}

impl<E, K, R: RingStorage<Event = E>, F> Drop for PublishAsync<'_, E, K, R, F> {
    fn drop(&mut self) {
        if let Some(shard) = self.armed {
            self.producer.rt.shards[shard].room_task.disarm();
        }
    }
}

/// The future of [`Producer::publish_batch_async`].
#[must_use = "futures do nothing unless polled"]
pub struct PublishBatchAsync<'p, E, K, R: RingStorage<Event = E>, F> {
    producer: &'p mut Producer<E, K, R>,
    count: usize,
    fill: Option<F>,
    armed: Option<usize>,
    /// Polls asked for before arming.
    spin: PollSpin,
}

impl<E, K, R: RingStorage<Event = E>, F> std::fmt::Debug for PublishBatchAsync<'_, E, K, R, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishBatchAsync")
            .field("count", &self.count)
            .field("waiting", &self.armed.is_some())
            .finish_non_exhaustive()
    }
}

// As for `PublishAsync`: `fill` is never pinned.
impl<E, K, R: RingStorage<Event = E>, F> Unpin for PublishBatchAsync<'_, E, K, R, F> {}

impl<E, K, R, F> Future for PublishBatchAsync<'_, E, K, R, F>
where
    E: Default + Send + Sync,
    K: Router<E>,
    R: RingStorage<Event = E>,
    F: FnMut(usize, &mut E),
{
    type Output = Result<(), PublishError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let p = &mut *this.producer;
        let count = this.count;
        if let Err(e) = p.check_running() {
            return Poll::Ready(Err(e));
        }
        let capacity = p.capacity();
        if count as u64 > capacity {
            return Poll::Ready(Err(PublishError::BatchTooLarge {
                requested: count,
                capacity,
            }));
        }
        let mut armed_now = None;
        loop {
            // A shard receives at most `count` events of the batch: with room for `count` on
            // every shard, the blocking batch below never waits.
            let short = (0..p.shards.len()).find(|&s| {
                let end = p.shards[s].next + count as u64;
                !p.room(s, end)
            });
            let Some(shard) = short else {
                if let Some(armed) = this.armed.take() {
                    p.disarm_room(armed);
                }
                let Some(fill) = this.fill.take() else {
                    return Poll::Ready(Ok(()));
                };
                return Poll::Ready(p.publish_batch(count, fill));
            };
            if let Some(e) = p.cannot_wait(shard) {
                return Poll::Ready(Err(e));
            }
            if armed_now == Some(shard) {
                return Poll::Pending;
            }
            // Room may be moments away: be polled again a few times before arming.
            if this.armed.is_none() && this.spin.spin(cx) {
                return Poll::Pending;
            }
            if let Some(previous) = this.armed.replace(shard) {
                if previous != shard {
                    p.disarm_room(previous);
                }
            }
            if !p.arm_room(shard, cx) {
                return Poll::Pending;
            }
            armed_now = Some(shard);
        }
    }
}

impl<E, K, R: RingStorage<Event = E>, F> Drop for PublishBatchAsync<'_, E, K, R, F> {
    fn drop(&mut self) {
        if let Some(shard) = self.armed {
            self.producer.rt.shards[shard].room_task.disarm();
        }
    }
}
