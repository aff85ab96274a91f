//! byteor embedded in async services (the `async` feature), on tokio's current-thread and
//! multi-thread runtimes: a full ring makes `publish_async` wait and resume; a future dropped
//! at any await point publishes (or takes) nothing and duplicates nothing; egress streams end
//! once the pipeline or graph shut down after delivering everything; no task is woken while
//! nothing changed; LaneGraph ingress and egress the same.
//!
//! Every test body runs under `tokio::time::timeout`: a lost wake-up fails the test instead of
//! hanging it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use byteor::exec::egress::{self, EgressReceiver};
use byteor::exec::lane_graph::{lane_fn, Emitter, GraphProducer, GraphReceiver, LaneGraph};
use byteor::exec::{Control, PipelineError, Producer, PublishError};
use byteor::plan::{LaneIntent, OnFull};
use byteor::prelude::*;
use futures_core::Stream;
use tests::Gate;

/// Longest any test body may take.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs the test body made by `body` on a current-thread and on a multi-thread runtime, as a
/// spawned task (so on the multi-thread runtime it runs on a worker), bounded by [`LIMIT`].
fn on_both_runtimes<F, Fut>(what: &str, body: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runtimes = [
        (
            "current-thread",
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
        ),
        (
            "multi-thread",
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build(),
        ),
    ];
    for (flavor, rt) in runtimes {
        let rt = rt.expect("a tokio runtime");
        let test = body();
        let task = rt.spawn(async move { tokio::time::timeout(LIMIT, test).await });
        match rt.block_on(task) {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("{what} on the {flavor} runtime: still waiting after {LIMIT:?}"),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl CountingWaker {
    fn new() -> (Arc<Self>, Waker) {
        let count = Arc::new(CountingWaker::default());
        (Arc::clone(&count), Waker::from(count))
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Polls `fut` once with `waker`.
fn poll_once<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// Polls `fut` until it is `Ready`, or `Pending` without having asked to be polled again —
/// that is, until it armed its waker: a waiting future first asks its executor for a bounded
/// number of quick re-polls (the answer may be moments away) before it sleeps. Returns the
/// last poll's result; `wakes` counts what `waker` received.
fn poll_until_armed<F: Future + Unpin>(
    fut: &mut F,
    waker: &Waker,
    wakes: &CountingWaker,
) -> Poll<F::Output> {
    for _ in 0..10_000 {
        let before = wakes.count();
        match poll_once(fut, waker) {
            Poll::Pending if wakes.count() > before => continue,
            other => return other,
        }
    }
    panic!("the future kept asking to be polled again: it never armed its waker");
}

/// Waits (without blocking the runtime) until `cond` holds.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..20_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{what}: never happened");
}

/// A one-stage ring of `capacity` slots whose stage forwards every event to an egress queue of
/// `egress` items under `Block` (optionally holding at a gate before its first event).
fn forwarding_ring(
    capacity: u32,
    egress: usize,
    gate: Option<Arc<Gate>>,
) -> (Producer<u64>, Control<u64>, EgressReceiver<u64>) {
    let (mut tx, rx) = egress::channel::<u64>(egress, OnFull::Block);
    let pipeline = SingleRing::<u64>::build("async", |ring| {
        let ring = ring.capacity(capacity).ingress("in").egress("out");
        let (ring, _) = ring.stage(
            "forward",
            from_fn(move |v: &u64, ctx: &EventContext| {
                if let Some(gate) = &gate {
                    if ctx.sequence == 0 && !gate.wait(LIMIT) {
                        return Err(StageError::msg("the test never opened the gate"));
                    }
                }
                tx.send(*v)
                    .map(drop)
                    .map_err(|_| StageError::msg("egress receiver gone"))
            }),
        );
        ring.build()
    })
    .expect("a valid ring");
    let (producer, control) = pipeline.spawn().expect("spawned");
    (producer, control, rx)
}

/// Receives everything until the stream ends, through the `Stream` impl.
async fn collect(mut rx: EgressReceiver<u64>) -> Vec<u64> {
    let mut got = Vec::new();
    while let Some(v) = std::future::poll_fn(|cx| Pin::new(&mut rx).poll_next(cx)).await {
        got.push(v);
    }
    got
}

#[test]
fn a_full_ring_makes_publish_async_wait_and_resume() {
    on_both_runtimes("full ring", || async {
        let gate = Arc::new(Gate::new());
        let (mut producer, control, rx) = forwarding_ring(8, 4096, Some(Arc::clone(&gate)));
        for v in 0..8 {
            assert_eq!(producer.publish_async(|e| *e = v).await, Ok(v));
        }
        let (wakes, waker) = CountingWaker::new();
        {
            let mut blocked = producer.publish_async(|e| *e = 8);
            assert!(
                poll_once(&mut blocked, &waker).is_pending(),
                "the ring is full"
            );
            gate.open();
            eventually("a wake-up once the stage releases slots", || {
                wakes.count() >= 1
            })
            .await;
            assert_eq!(blocked.await, Ok(8));
        }
        assert_eq!(wakes.count(), 1, "one release, one wake-up");
        let consumer = tokio::spawn(collect(rx));
        for v in 9..20_000 {
            producer.publish_async(|e| *e = v).await.unwrap();
        }
        drop(producer);
        let got = consumer.await.unwrap();
        assert_eq!(got, (0..20_000).collect::<Vec<_>>());
        let report = tokio::task::spawn_blocking(move || control.join())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.processed("forward"), 20_000);
    });
}

#[test]
fn publish_batch_async_waits_for_room_for_the_whole_batch() {
    on_both_runtimes("batch", || async {
        let gate = Arc::new(Gate::new());
        let (mut producer, control, rx) = forwarding_ring(8, 4096, Some(Arc::clone(&gate)));
        producer
            .publish_batch_async(6, |i, e| *e = i as u64)
            .await
            .unwrap();
        let (_, waker) = CountingWaker::new();
        let mut batch = producer.publish_batch_async(4, |i, e| *e = 6 + i as u64);
        assert!(poll_once(&mut batch, &waker).is_pending(), "2 slots free");
        gate.open();
        batch.await.unwrap();
        assert_eq!(
            producer.publish_batch_async(9, |_, _| {}).await,
            Err(PublishError::BatchTooLarge {
                requested: 9,
                capacity: 8
            })
        );
        let consumer = tokio::spawn(collect(rx));
        for start in (10..10_000).step_by(5) {
            producer
                .publish_batch_async(5, |i, e| *e = start + i as u64)
                .await
                .unwrap();
        }
        drop(producer);
        assert_eq!(consumer.await.unwrap(), (0..10_000).collect::<Vec<_>>());
        tokio::task::spawn_blocking(move || control.join())
            .await
            .unwrap()
            .unwrap();
    });
}

#[test]
fn a_dropped_future_publishes_nothing_and_loses_nothing() {
    on_both_runtimes("cancellation", || async {
        const N: u64 = 20_000;
        // A small ring and egress queue: publishes and receives keep waiting, and every wait
        // is cut short by a timer now and then.
        let (mut producer, control, mut rx) = forwarding_ring(4, 4, None);
        let consumer = tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                tokio::select! {
                    v = rx.recv() => match v {
                        Some(v) => got.push(v),
                        None => break,
                    },
                    _ = tokio::time::sleep(Duration::from_micros(20)) => {}
                }
            }
            got
        });
        // Explicit cancellation after `Pending`, at every full ring met.
        let (_, waker) = CountingWaker::new();
        let mut cancelled = 0u64;
        let mut v = 0;
        while v < N {
            let this = v;
            let mut fut = producer.publish_async(move |e| *e = this);
            let polled = poll_once(&mut fut, &waker);
            drop(fut);
            match polled {
                Poll::Ready(r) => {
                    r.unwrap();
                    v += 1;
                }
                Poll::Pending => {
                    cancelled += 1;
                    // Then a publish raced against a timer.
                    tokio::select! {
                        r = producer.publish_async(|e| *e = v) => { r.unwrap(); v += 1; }
                        _ = tokio::time::sleep(Duration::from_micros(20)) => {}
                    }
                }
            }
        }
        drop(producer);
        let got = consumer.await.unwrap();
        assert!(
            cancelled > 0,
            "the ring was never full: the test did not test"
        );
        assert_eq!(got.len() as u64, N, "lost or duplicated events");
        assert_eq!(got, (0..N).collect::<Vec<_>>());
        tokio::task::spawn_blocking(move || control.join())
            .await
            .unwrap()
            .unwrap();
    });
}

#[test]
fn an_egress_stream_ends_after_everything_was_delivered() {
    on_both_runtimes("stream end", || async {
        // Ended by the producer.
        let (mut producer, control, rx) = forwarding_ring(64, 8, None);
        let consumer = tokio::spawn(collect(rx));
        for v in 0..5_000 {
            producer.publish_async(|e| *e = v).await.unwrap();
        }
        drop(producer);
        assert_eq!(consumer.await.unwrap(), (0..5_000).collect::<Vec<_>>());
        tokio::task::spawn_blocking(move || control.join())
            .await
            .unwrap()
            .unwrap();

        // Ended by a shutdown from the control handle while the producer still lives.
        let (mut producer, control, rx) = forwarding_ring(64, 8, None);
        let consumer = tokio::spawn(collect(rx));
        for v in 0..1_000 {
            producer.publish_async(|e| *e = v).await.unwrap();
        }
        let report = tokio::task::spawn_blocking(move || control.shutdown())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.processed("forward"), 1_000);
        assert_eq!(consumer.await.unwrap(), (0..1_000).collect::<Vec<_>>());
        assert_eq!(
            producer.publish_async(|e| *e = 0).await,
            Err(PublishError::Stopped(PipelineError::Closed))
        );
    });
}

#[test]
fn drop_counts_stay_exact_under_an_async_receiver() {
    on_both_runtimes("egress drops", || async {
        let (mut tx, mut rx) = egress::channel::<u64>(4, OnFull::Drop);
        let sender = std::thread::spawn(move || {
            for v in 0..100_000u64 {
                tx.send(v).unwrap();
            }
        });
        let mut got = 0u64;
        let mut last = None;
        while let Some(v) = rx.recv().await {
            assert!(last < Some(v), "out of order");
            last = Some(v);
            got += 1;
        }
        sender.join().unwrap();
        assert_eq!(got + rx.dropped(), 100_000, "delivered + dropped = sent");
    });
}

#[test]
fn no_task_is_woken_while_nothing_changes() {
    on_both_runtimes("no spurious wake-ups", || async {
        let gate = Arc::new(Gate::new());
        let (mut producer, control, mut rx) = forwarding_ring(4, 64, Some(Arc::clone(&gate)));
        let (receiver_wakes, receiver_waker) = CountingWaker::new();
        let dropped_at = {
            let mut recv = Box::pin(rx.recv());
            assert!(poll_until_armed(&mut recv, &receiver_waker, &receiver_wakes).is_pending());
            receiver_wakes.count()
        };
        for v in 0..4 {
            producer.publish_async(|e| *e = v).await.unwrap();
        }
        let (publisher_wakes, publisher_waker) = CountingWaker::new();
        let mut blocked = producer.publish_async(|e| *e = 4);
        assert!(poll_until_armed(&mut blocked, &publisher_waker, &publisher_wakes).is_pending());
        let armed_at = publisher_wakes.count();
        // The stage holds at the gate: nothing moves, nobody is woken.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            publisher_wakes.count(),
            armed_at,
            "woken while the ring stayed full"
        );
        assert_eq!(
            receiver_wakes.count(),
            dropped_at,
            "a dropped recv was woken"
        );
        gate.open();
        eventually("the publisher's wake-up", || {
            publisher_wakes.count() == armed_at + 1
        })
        .await;
        assert_eq!(blocked.await, Ok(4));
        // An armed receiver is woken once per item it was waiting for.
        let mut got = Vec::new();
        while got.len() < 5 {
            let mut recv = Box::pin(rx.recv());
            let before = receiver_wakes.count();
            match poll_once(&mut recv, &receiver_waker) {
                Poll::Ready(v) => got.push(v.unwrap()),
                // A re-poll it asked for, or the wake-up of an armed receiver.
                Poll::Pending => {
                    eventually("a receiver wake-up", || receiver_wakes.count() > before).await;
                }
            }
        }
        assert_eq!(got, [0, 1, 2, 3, 4]);
        let (idle_wakes, idle_waker) = CountingWaker::new();
        let mut recv = Box::pin(rx.recv());
        assert!(poll_until_armed(&mut recv, &idle_waker, &idle_wakes).is_pending());
        let armed_at = idle_wakes.count();
        assert!(
            armed_at <= 64,
            "at most a bounded burst of re-polls: {armed_at}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(idle_wakes.count(), armed_at, "woken with nothing queued");
        drop(recv);
        drop(producer);
        tokio::task::spawn_blocking(move || control.join())
            .await
            .unwrap()
            .unwrap();
    });
}

/// `ingress -> double -> egress`, both lanes `SequencedSlots` of 4 under `Block`.
fn doubling_graph() -> (
    GraphProducer<u64>,
    GraphReceiver<u64>,
    byteor::exec::lane_graph::GraphControl,
) {
    let mut g = LaneGraph::builder("async-graph");
    let input = g.ingress::<u64>("in");
    let output = g.egress::<u64>("out");
    let (stage_in, stage_out) = g.stage(
        "double",
        lane_fn(|v: &u64, out: &mut Emitter<'_, u64>| out.emit(|slot| *slot = *v * 2)),
    );
    g.connect_with(&input, &stage_in, LaneIntent::sequenced_slots(4));
    g.connect_with(&stage_out, &output, LaneIntent::sequenced_slots(4));
    let (mut ends, control) = g.build().unwrap().spawn().unwrap();
    let producer = ends.producer(&input).unwrap();
    let receiver = ends.receiver(&output).unwrap();
    (producer, receiver, control)
}

#[test]
fn lane_graph_ingress_and_egress_from_async_code() {
    on_both_runtimes("lane graph", || async {
        const N: u64 = 20_000;
        let (mut producer, mut receiver, control) = doubling_graph();
        let consumer = tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                tokio::select! {
                    v = receiver.recv() => match v.unwrap() {
                        Some(v) => got.push(v),
                        None => break,
                    },
                    _ = tokio::time::sleep(Duration::from_micros(20)) => {}
                }
            }
            got
        });
        let mut v = 0;
        while v < N {
            tokio::select! {
                r = producer.publish_async(|e| *e = v) => { r.unwrap(); v += 1; }
                _ = tokio::time::sleep(Duration::from_micros(20)) => {}
            }
        }
        for start in (N..N + 1_000).step_by(10) {
            producer
                .publish_batch_async(10, |i, e| *e = start + i as u64)
                .await
                .unwrap();
        }
        drop(producer);
        let got = consumer.await.unwrap();
        assert_eq!(got, (0..N + 1_000).map(|v| v * 2).collect::<Vec<_>>());
        let report = tokio::task::spawn_blocking(move || control.join())
            .await
            .unwrap()
            .unwrap();
        assert!(report.lanes.iter().all(|l| l.counts.adds_up()));
    });
}

#[test]
fn lane_graph_stream_ends_on_shutdown_and_idle_tasks_stay_asleep() {
    on_both_runtimes("lane graph end", || async {
        let (mut producer, mut receiver, control) = doubling_graph();
        let (wakes, waker) = CountingWaker::new();
        {
            let mut recv = Box::pin(receiver.recv());
            assert!(poll_until_armed(&mut recv, &waker, &wakes).is_pending());
            let armed_at = wakes.count();
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(wakes.count(), armed_at, "woken with nothing written");
            producer.publish_async(|e| *e = 21).await.unwrap();
            eventually("the receiver's wake-up", || wakes.count() == armed_at + 1).await;
            assert_eq!(recv.await, Ok(Some(42)));
        }
        for v in 0..3 {
            producer.publish_async(|e| *e = v).await.unwrap();
        }
        let shutdown = tokio::task::spawn_blocking(move || control.shutdown());
        let mut rest = Vec::new();
        while let Some(v) = std::future::poll_fn(|cx| Pin::new(&mut receiver).poll_next(cx)).await {
            rest.push(v);
        }
        assert_eq!(rest, [0, 2, 4]);
        shutdown.await.unwrap().unwrap();
        assert!(producer.publish_async(|e| *e = 0).await.is_err());
    });
}

#[test]
fn the_tokio_service_example_answers_every_order() {
    use examples::tokio_service::{expected_accepted, run};
    on_both_runtimes("tokio service", || async {
        let report = run(20_000, 8).await.expect("the service ran");
        assert_eq!(report.orders, 20_000);
        assert_eq!(report.accepted, expected_accepted(20_000, 8));
        assert_eq!(report.latencies.len(), 20_000);
    });
}
