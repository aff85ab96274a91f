//! Failure: a stage that returns an error or panics — in `on_event`, `on_start` or
//! `on_batch_end` — stops the pipeline; the producer, `join` and `shutdown` all report the
//! failure naming the stage; nothing hangs, not even a producer blocked on a full ring.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use byteor::exec::{PipelineState, StageFailure};
use byteor::prelude::*;
use tests::{bounded, finished, wait_until, Ev, TIMEOUT};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Healthy,
    /// `on_event` returns an error at this sequence.
    ErrorAt(u64),
    /// `on_event` sleeps, then returns an error at this sequence (so a producer has time to
    /// block on a full ring).
    SlowErrorAt(u64, Duration),
    /// `on_event` panics with a formatted message at this sequence.
    PanicAt(u64),
    /// `on_event` panics with a `&'static str` at its first event.
    PanicStr,
    /// `on_start` returns an error.
    StartError,
    /// `on_start` panics.
    StartPanic,
    /// `on_batch_end` returns an error for the first batch that reaches this sequence.
    BatchEndErrorAt(u64),
}

/// A stage that can be told to fail, and records what it did.
#[derive(Clone)]
struct Probe {
    fault: Fault,
    events: Arc<AtomicU64>,
    /// One past the highest sequence handled successfully.
    high_water: Arc<AtomicU64>,
    shutdowns: Arc<AtomicU64>,
    failed_batch_end: Arc<AtomicU64>,
}

impl Probe {
    fn new(fault: Fault) -> Self {
        Probe {
            fault,
            events: Arc::default(),
            high_water: Arc::default(),
            shutdowns: Arc::default(),
            failed_batch_end: Arc::default(),
        }
    }

    fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    fn high_water(&self) -> u64 {
        self.high_water.load(Ordering::Relaxed)
    }

    fn shutdowns(&self) -> u64 {
        self.shutdowns.load(Ordering::Relaxed)
    }
}

impl Stage<Ev> for Probe {
    fn on_start(&mut self, _: &StageInfo) -> Result<(), StageError> {
        match self.fault {
            Fault::StartError => Err(StageError::msg("no license for this stage")),
            Fault::StartPanic => panic!("cannot start: device missing"),
            _ => Ok(()),
        }
    }

    fn on_event(&mut self, e: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        match self.fault {
            Fault::ErrorAt(k) if ctx.sequence == k => {
                return Err(StageError::msg(format!("bad event {k}")))
            }
            Fault::SlowErrorAt(k, pause) if ctx.sequence == k => {
                std::thread::sleep(pause);
                return Err(StageError::msg(format!("bad event {k}")));
            }
            Fault::PanicAt(k) if ctx.sequence == k => panic!("corrupt order {k}"),
            Fault::PanicStr => panic!("shard gives up"),
            _ => {}
        }
        if e.value != ctx.sequence && e.key == 0 {
            return Err(StageError::msg(format!(
                "sequence {} holds value {}",
                ctx.sequence, e.value
            )));
        }
        self.events.fetch_add(1, Ordering::Relaxed);
        self.high_water
            .fetch_max(ctx.sequence + 1, Ordering::Relaxed);
        Ok(())
    }

    fn on_batch_end(&mut self, batch: &BatchContext) -> Result<(), StageError> {
        match self.fault {
            Fault::BatchEndErrorAt(k) if batch.end > k => {
                self.failed_batch_end.store(batch.end, Ordering::Relaxed);
                Err(StageError::msg("flush failed"))
            }
            _ => Ok(()),
        }
    }

    fn on_shutdown(&mut self) {
        self.shutdowns.fetch_add(1, Ordering::Relaxed);
    }
}

/// Builds the chain `a -> b -> c`.
macro_rules! chain {
    ($name:expr, $capacity:expr, $strategy:expr, $a:expr, $b:expr, $c:expr) => {
        SingleRing::<Ev>::build($name, |ring| {
            let ring = ring
                .capacity($capacity)
                .ingress("in")
                .egress("out")
                .wait_strategy($strategy);
            let (ring, a) = ring.stage("a", $a);
            let (ring, b) = ring.stage_after("b", $b, [a]);
            let (ring, _) = ring.stage_after("c", $c, [b]);
            ring.build()
        })
        .expect("build")
    };
}

fn ev(i: u64) -> impl FnOnce(&mut Ev) {
    move |e| {
        *e = Ev {
            key: 0,
            value: i,
            id: i,
            stamp: 0,
        }
    }
}

/// Publishes events 0, 1, 2, ... until a publish fails; returns the error and how many were
/// published. Fails the test if no error comes before the deadline.
fn publish_until_error<K: byteor::exec::Router<Ev>>(
    producer: &mut Producer<Ev, K>,
) -> (PublishError, u64) {
    let deadline = Instant::now() + TIMEOUT;
    let mut i = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "the producer was never told of the failure ({i} published)"
        );
        match producer.publish(ev(i)) {
            Ok(_) => i += 1,
            Err(e) => return (e, i),
        }
    }
}

fn stage_failure(err: PublishError) -> StageFailure {
    match err {
        PublishError::Stopped(PipelineError::StageFailed(f)) => f,
        other => panic!("expected a stage failure, got {other:?}"),
    }
}

#[test]
fn stage_error_stops_the_pipeline_and_names_the_stage() {
    const K: u64 = 100;
    bounded("stage error", TIMEOUT, || {
        let (a, b, c) = (
            Probe::new(Fault::Healthy),
            Probe::new(Fault::ErrorAt(K)),
            Probe::new(Fault::Healthy),
        );
        let pipeline = chain!(
            "errors",
            64,
            WaitStrategy::Parking,
            a.clone(),
            b.clone(),
            c.clone()
        );
        let (mut producer, control) = pipeline.spawn().unwrap();
        let (err, published) = publish_until_error(&mut producer);
        assert!(published > K, "event {K} was published before the failure");
        let msg = err.to_string();
        let failure = stage_failure(err);
        let expected = StageFailure {
            stage: "b".into(),
            shard: 0,
            sequence: Some(K),
            reason: format!("bad event {K}"),
            panicked: false,
        };
        assert_eq!(failure, expected);
        assert!(
            msg.contains("`b`")
                && msg.contains(&format!("sequence {K}"))
                && msg.contains("bad event"),
            "{msg}"
        );

        assert_eq!(control.failure(), Some(expected.clone()));
        assert_eq!(control.state(), PipelineState::Failed);
        let m = control.metrics();
        assert_eq!(m.state, PipelineState::Failed);
        // The failed batch is never released: b's progress stays at the end of its last
        // completed batch, which c may reach but never pass.
        let released = m.processed("b");
        assert!(
            released <= K,
            "b released {released} events, past its failure at {K}"
        );
        assert!(m.processed("c") <= released);

        let joined = finished(control.join_timeout(TIMEOUT));
        assert_eq!(joined, Err(PipelineError::StageFailed(expected.clone())));
        assert_eq!(joined.unwrap_err().stage(), Some("b"));

        assert_eq!(b.events(), K, "b handled everything before {K}");
        assert!(
            c.high_water() <= released,
            "c never saw an event of b's failed batch"
        );
        for (name, p) in [("a", &a), ("b", &b), ("c", &c)] {
            assert_eq!(p.shutdowns(), 0, "no on_shutdown after a failure ({name})");
        }
        // Still refused later, with the same failure.
        assert_eq!(
            producer.try_publish(ev(0)),
            Err(TryPublishError::Stopped(PipelineError::StageFailed(
                expected
            )))
        );
    });
}

#[test]
fn producer_learns_of_a_failure_on_its_next_publish() {
    bounded("next publish", TIMEOUT, || {
        let checker = Probe::new(Fault::ErrorAt(3));
        let pipeline = SingleRing::<Ev>::build("next-publish", |ring| {
            let ring = ring.capacity(1024).ingress("in").egress("out");
            let (ring, _) = ring.stage("checker", checker.clone());
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        for i in 0..=3 {
            producer
                .publish(ev(i))
                .expect("no failure before event 3 exists");
        }
        wait_until("the failure to be recorded", TIMEOUT, || {
            control.failure().is_some()
        });
        // The ring has plenty of room: the failure, not backpressure, refuses these.
        let f = stage_failure(producer.publish(ev(4)).unwrap_err());
        assert_eq!((f.stage.as_str(), f.sequence), ("checker", Some(3)));
        match producer.try_publish(ev(4)) {
            Err(TryPublishError::Stopped(PipelineError::StageFailed(f))) => {
                assert_eq!(f.stage, "checker")
            }
            other => panic!("{other:?}"),
        }
        let f = stage_failure(
            producer
                .publish_batch(2, |i, e| ev(i as u64)(e))
                .unwrap_err(),
        );
        assert_eq!(f.stage, "checker");
        drop(producer);
        let err = control.shutdown_timeout(TIMEOUT).unwrap_err();
        assert_eq!(
            err.stage(),
            Some("checker"),
            "shutdown reports the failure too"
        );
    });
}

#[test]
fn stage_panic_is_reported_with_its_message() {
    const K: u64 = 7;
    bounded("stage panic", TIMEOUT, || {
        let (a, b, c) = (
            Probe::new(Fault::Healthy),
            Probe::new(Fault::PanicAt(K)),
            Probe::new(Fault::Healthy),
        );
        let pipeline = chain!(
            "panics",
            16,
            WaitStrategy::Parking,
            a.clone(),
            b.clone(),
            c.clone()
        );
        let (mut producer, control) = pipeline.spawn().unwrap();
        let (err, _) = publish_until_error(&mut producer);
        let f = stage_failure(err);
        assert_eq!(f.stage, "b");
        assert_eq!(f.shard, 0);
        assert!(f.panicked);
        assert!(f.reason.contains(&format!("corrupt order {K}")), "{f:?}");
        // The executor may or may not tie a panic to the event; if it does, it must be K.
        assert!(matches!(f.sequence, None | Some(K)), "{f:?}");
        assert!(f.to_string().contains("panicked"), "{f}");

        match finished(control.join_timeout(TIMEOUT)) {
            Err(PipelineError::StageFailed(joined)) => assert_eq!(joined, f),
            other => panic!("expected the panic, got {other:?}"),
        }
        assert_eq!(b.events(), K);
        assert!(c.high_water() <= K);
    });
}

#[test]
fn panic_on_one_shard_names_that_shard() {
    const SHARDS: u32 = 3;
    bounded("sharded panic", TIMEOUT, || {
        let pipeline = SingleRing::<Ev>::build("sharded-panic", |ring| {
            let ring =
                ring.capacity(8)
                    .ingress("in")
                    .egress("out")
                    .shards(SHARDS, "key", |e: &Ev| e.key);
            let (ring, _) = ring.stage(
                "picky",
                per_shard(|shard| {
                    Probe::new(if shard == 1 {
                        Fault::PanicStr
                    } else {
                        Fault::Healthy
                    })
                }),
            );
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        let deadline = Instant::now() + TIMEOUT;
        let mut i = 0u64;
        let err = loop {
            assert!(Instant::now() < deadline, "the panic was never reported");
            // Keys 1..=64 spread over all shards (the probe checks values only for key 0).
            match producer.publish(|e| {
                *e = Ev {
                    key: i % 64 + 1,
                    value: 0,
                    id: i,
                    stamp: 0,
                }
            }) {
                Ok(_) => i += 1,
                Err(e) => break e,
            }
        };
        let f = stage_failure(err);
        assert_eq!((f.stage.as_str(), f.shard, f.panicked), ("picky", 1, true));
        assert_eq!(f.reason, "shard gives up");
        assert!(f.to_string().contains("shard 1"), "{f}");
        assert!(finished(control.join_timeout(TIMEOUT)).is_err());
    });
}

fn failure_does_not_hang(strategy: WaitStrategy, failing: usize) {
    const K: u64 = 50;
    let mut probes: Vec<Probe> = (0..3).map(|_| Probe::new(Fault::Healthy)).collect();
    probes[failing] = Probe::new(Fault::SlowErrorAt(K, Duration::from_millis(20)));
    let name = ["a", "b", "c"][failing];
    let pipeline = chain!(
        "tiny",
        4,
        strategy,
        probes[0].clone(),
        probes[1].clone(),
        probes[2].clone()
    );
    let (mut producer, control) = pipeline.spawn().unwrap();
    // With 4 slots the producer blocks on the full ring while the failing stage sleeps.
    let (err, published) = publish_until_error(&mut producer);
    let f = stage_failure(err);
    assert_eq!(
        (f.stage.as_str(), f.sequence),
        (name, Some(K)),
        "{strategy:?}"
    );
    let m = control.metrics();
    assert!(
        m.published() <= m.processed("c") + 4,
        "the producer never overwrote an unreleased slot: {m}"
    );
    assert_eq!(m.published(), published);
    match finished(control.join_timeout(TIMEOUT)) {
        Err(PipelineError::StageFailed(joined)) => assert_eq!(joined, f),
        other => panic!("{strategy:?}, failing {name}: expected the failure, got {other:?}"),
    }
    for (i, p) in probes.iter().enumerate() {
        if i >= failing {
            assert!(
                p.high_water() <= K,
                "{strategy:?}: stage {i} went past the failed event"
            );
        }
    }
}

#[test]
fn failure_in_any_stage_does_not_hang_downstream_or_a_blocked_producer() {
    bounded("no hang on failure", TIMEOUT, || {
        for strategy in [WaitStrategy::Parking, WaitStrategy::Yielding] {
            for failing in 0..3 {
                failure_does_not_hang(strategy, failing);
            }
        }
    });
}

#[test]
fn on_start_failure_stops_the_pipeline() {
    bounded("on_start failure", TIMEOUT, || {
        let (a, b) = (Probe::new(Fault::Healthy), Probe::new(Fault::StartError));
        let pipeline = SingleRing::<Ev>::build("start", |ring| {
            let ring = ring.capacity(8).ingress("in").egress("out");
            let (ring, first) = ring.stage("a", a.clone());
            let (ring, _) = ring.stage_after("b", b.clone(), [first]);
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        let (err, _) = publish_until_error(&mut producer);
        let f = stage_failure(err);
        assert_eq!(f.stage, "b");
        assert_eq!(f.sequence, None, "not tied to an event");
        assert!(!f.panicked);
        assert!(
            f.reason.contains("no license") && f.reason.contains("on_start"),
            "{f:?}"
        );
        assert_eq!(
            finished(control.join_timeout(TIMEOUT)),
            Err(PipelineError::StageFailed(f))
        );
        assert_eq!(b.events(), 0, "b never ran an event");
        assert_eq!(a.shutdowns() + b.shutdowns(), 0);

        // A panicking on_start, on one shard of a sharded ring.
        let pipeline = SingleRing::<Ev>::build("start-panic", |ring| {
            let ring = ring
                .ingress("in")
                .egress("out")
                .shards(3, "key", |e: &Ev| e.key);
            let (ring, _) = ring.stage(
                "probe",
                per_shard(|shard| {
                    Probe::new(if shard == 2 {
                        Fault::StartPanic
                    } else {
                        Fault::Healthy
                    })
                }),
            );
            ring.build()
        })
        .unwrap();
        let (producer, control) = pipeline.spawn().unwrap();
        wait_until("the start failure", TIMEOUT, || control.failure().is_some());
        let f = control.failure().unwrap();
        assert_eq!((f.stage.as_str(), f.shard, f.panicked), ("probe", 2, true));
        assert!(f.reason.contains("device missing"), "{f:?}");
        drop(producer);
        assert!(matches!(
            finished(control.join_timeout(TIMEOUT)),
            Err(PipelineError::StageFailed(_))
        ));
    });
}

#[test]
fn on_batch_end_failure_names_the_stage_and_the_batch() {
    const K: u64 = 40;
    bounded("on_batch_end failure", TIMEOUT, || {
        let flusher = Probe::new(Fault::BatchEndErrorAt(K));
        let pipeline = SingleRing::<Ev>::build("batch-end", |ring| {
            let ring = ring.capacity(16).ingress("in").egress("out");
            let (ring, _) = ring.stage("flusher", flusher.clone());
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        let (err, _) = publish_until_error(&mut producer);
        let f = stage_failure(err);
        let batch_end = flusher.failed_batch_end.load(Ordering::Relaxed);
        assert!(batch_end > K);
        assert_eq!(f.stage, "flusher");
        assert_eq!(f.sequence, Some(batch_end - 1), "the batch's last event");
        assert!(
            f.reason.contains("on_batch_end") && f.reason.contains("flush failed"),
            "{f:?}"
        );
        assert!(finished(control.join_timeout(TIMEOUT)).is_err());
    });
}

#[test]
fn failure_while_draining_is_reported_by_join() {
    bounded("failure during drain", TIMEOUT, || {
        let (a, b, c) = (
            Probe::new(Fault::Healthy),
            Probe::new(Fault::Healthy),
            Probe::new(Fault::ErrorAt(99)),
        );
        let pipeline = chain!(
            "drain-fail",
            128,
            WaitStrategy::Parking,
            a.clone(),
            b.clone(),
            c.clone()
        );
        let (mut producer, control) = pipeline.spawn().unwrap();
        for i in 0..100 {
            // c fails only once event 99 exists, so every publish succeeds.
            producer.publish(ev(i)).unwrap();
        }
        drop(producer);
        match finished(control.join_timeout(TIMEOUT)) {
            Err(PipelineError::StageFailed(f)) => {
                assert_eq!((f.stage.as_str(), f.sequence), ("c", Some(99)))
            }
            other => panic!("a failure during the drain must be reported, got {other:?}"),
        }
        assert_eq!(c.shutdowns(), 0);
    });
}
