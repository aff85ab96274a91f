//! Graph handles from async code (the `async` feature): [`GraphProducer::publish_async`],
//! [`GraphProducer::publish_batch_async`], and [`GraphReceiver`] as a
//! [`futures_core::Stream`] with [`recv`](GraphReceiver::recv)`.await`.
//!
//! * In-place lanes: a task waiting for room arms the lane's
//!   [`writer_task`](crate::kernel::lane::Lane::writer_task), which readers notify as they
//!   release events; a task waiting for events arms its reader's
//!   [`reader_tasks`](crate::kernel::lane::Lane::reader_tasks), which the writer notifies after
//!   each write and on close.
//! * Plain-data lanes (`Journal`, a lossy `FanoutBroadcast`) never make a writer wait, so
//!   publishing completes in its first poll. Their readers have no one to wake them: a
//!   receiver that finds nothing asks its executor to poll it again at once and returns
//!   `Pending` (as `tokio::task::yield_now` does) — no timer, no blocked thread, but the task
//!   keeps being polled while it waits, at the cost of its worker's idle time.

use std::task::{Context, Poll};

use crate::exec::poll_spin::PollSpin;
use crate::kernel::lane::LaneHandle;
use crate::vocab::OnFull;

use super::{GraphError, GraphProducer, GraphReceiver, GraphRecvError};
use crate::exec::lane_graph::state::LaneEvent;

/// A registration in a lane's writer task slot, forgotten when the waiting future completes or
/// is dropped (so a stale waker is never woken for nothing).
struct Armed<T> {
    lane: Option<LaneHandle<T>>,
}

impl<T> Armed<T> {
    fn none() -> Self {
        Armed { lane: None }
    }

    /// Arms `lane`'s writer task slot for `cx`'s task; `false` when wake-ups cannot be relied
    /// on (the task was then asked to be polled again).
    fn arm(&mut self, lane: LaneHandle<T>, cx: &Context<'_>) -> bool {
        let reliable = lane.lane().writer_task().arm(cx.waker());
        self.lane = Some(lane);
        if !reliable {
            cx.waker().wake_by_ref();
        }
        reliable
    }

    fn disarm(&mut self) {
        if let Some(lane) = self.lane.take() {
            lane.lane().writer_task().disarm();
        }
    }
}

impl<T> Drop for Armed<T> {
    fn drop(&mut self) {
        self.disarm();
    }
}

impl<T> GraphProducer<T> {
    /// Ready once `n` events (at most the lane's capacity) can be written without waiting, or
    /// the graph stopped.
    fn poll_room(
        &mut self,
        n: u64,
        armed: &mut Armed<T>,
        spin: &mut PollSpin,
        cx: &Context<'_>,
    ) -> Poll<Result<(), GraphError>> {
        let mut armed_now = false;
        loop {
            if !self.rt.running() {
                armed.disarm();
                return Poll::Ready(Err(self.stopped_error()));
            }
            // `Drop` never waits (a full lane drops); plain-data lanes never wait.
            if self.on_full == OnFull::Drop || self.writer.has_room_for(n) {
                armed.disarm();
                return Poll::Ready(Ok(()));
            }
            if armed_now {
                return Poll::Pending;
            }
            let Some((lane, _)) = self.writer.waker() else {
                return Poll::Ready(Ok(()));
            };
            // Room may be moments away: be polled again a few times before arming.
            if spin.spin(cx) {
                return Poll::Pending;
            }
            // Arm, then look once more: room freed before the arm is seen now, room freed
            // after it comes with a wake-up.
            if !armed.arm(lane, cx) {
                return Poll::Pending;
            }
            armed_now = true;
        }
    }
}

impl<T: LaneEvent> GraphProducer<T> {
    /// Publishes one event from async code, as [`publish`](Self::publish) does: under `Block`
    /// a full lane makes it wait for room without blocking the thread; under `Drop`, or on a
    /// plain-data lane, it completes in its first poll. Cancel safe: the event is written in
    /// the poll that completes the future, so a future dropped before that published nothing.
    pub async fn publish_async(&mut self, fill: impl FnOnce(&mut T)) -> Result<(), GraphError> {
        let mut armed = Armed::none();
        let mut spin = PollSpin::default();
        std::future::poll_fn(|cx| self.poll_room(1, &mut armed, &mut spin, cx)).await?;
        self.publish(fill)
    }

    /// Publishes `n` events from async code, the `i`-th written in place by `fill(i, slot)`, as
    /// [`publish_batch`](Self::publish_batch) does. Under `Block` on an in-place lane it waits
    /// (without blocking the thread) for room for a whole chunk of up to the lane's capacity,
    /// then writes that chunk at once: a batch no larger than the lane is all or nothing if
    /// the future is dropped; a larger one may have handed on its earlier chunks.
    pub async fn publish_batch_async(
        &mut self,
        n: usize,
        mut fill: impl FnMut(usize, &mut T),
    ) -> Result<(), GraphError> {
        let chunk = self
            .writer
            .capacity()
            .map_or(n, |c| c.min(n as u64) as usize);
        let mut done = 0;
        while done < n {
            let len = chunk.min(n - done).max(1);
            let mut armed = Armed::none();
            let mut spin = PollSpin::default();
            std::future::poll_fn(|cx| self.poll_room(len as u64, &mut armed, &mut spin, cx))
                .await?;
            self.publish_batch(len, |i, slot| fill(done + i, slot))?;
            done += len;
        }
        if n == 0 {
            self.flush()?;
        }
        Ok(())
    }
}

impl<T: Clone> GraphReceiver<T> {
    /// Polls for the next event: `Ready(Ok(Some(event)))`; `Ready(Ok(None))` once the stream
    /// ended (every ingress closed and the graph drained) and everything was received;
    /// `Ready(Err(Failed))` once a role failed (after the events already in the egress lane);
    /// else `Pending`, with the task registered for a wake-up on the next event or the end
    /// (a plain-data lane has no writer to wake the task: it then asks its executor to poll it
    /// again at once, as `tokio::task::yield_now` does — no timer, no blocked thread).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>, GraphRecvError>> {
        let mut armed = false;
        loop {
            if let Some(e) = self.try_recv() {
                if armed {
                    self.disarm_task();
                }
                self.spin.reset();
                return Poll::Ready(Ok(Some(e)));
            }
            // A failed role's lanes close too: the failure comes first.
            if let Some(f) = self.rt.failure() {
                return Poll::Ready(Err(GraphRecvError::Failed(f)));
            }
            if self.reader.is_finished() {
                return Poll::Ready(Ok(None));
            }
            if armed {
                return Poll::Pending;
            }
            // An event may be moments away: be polled again a few times before arming.
            if self.spin.spin(cx) {
                return Poll::Pending;
            }
            match self.reader.waker() {
                Some((lane, id)) => {
                    // Arm, then look once more (see `publish_async`).
                    if !lane.lane().reader_tasks().arm(id, cx.waker()) {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    armed = true;
                }
                None => {
                    // A plain-data lane: nobody to wake this task, so it is polled again.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
    }

    fn disarm_task(&self) {
        if let Some((lane, id)) = self.reader.waker() {
            lane.lane().reader_tasks().disarm(id);
        }
    }

    /// The next event, waiting for it without blocking the thread: `Ok(None)` once the stream
    /// ended and everything was received, [`Failed`](GraphRecvError::Failed) once a role
    /// failed. Cancel safe: a dropped `recv` took nothing.
    pub async fn recv(&mut self) -> Result<Option<T>, GraphRecvError> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

// A receiver never pins its events (the batch buffer's `Vec<T>` is what would otherwise make
// it `!Unpin` for a `!Unpin` event type): no pin projection anywhere.
impl<T> Unpin for GraphReceiver<T> {}

/// The events of one egress; the stream ends when the graph's stream ended and everything was
/// received, or when a role failed (see [`GraphControl::join`](super::GraphControl::join) for
/// the failure).
impl<T: Clone> futures_core::Stream for GraphReceiver<T> {
    type Item = T;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx).map(|r| r.ok().flatten())
    }
}
