//! Shutdown: ending the stream or shutting down drains everything published, `on_shutdown`
//! runs once per stage instance, nothing is accepted afterwards, metrics add up, and dropping
//! the control handle never hangs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use byteor::exec::{JoinError, PipelineState};
use byteor::prelude::*;
use tests::{bounded, finished, test_seed, wait_until, Ev, Gate, Jitter, TIMEOUT};

/// Counts events and `on_shutdown` calls; optionally waits at a gate on its first event, and
/// records how many events it had seen when `on_shutdown` ran.
#[derive(Clone)]
struct Counter {
    events: Arc<AtomicU64>,
    shutdowns: Arc<AtomicU64>,
    seen_at_shutdown: Arc<AtomicU64>,
    gate: Option<Arc<Gate>>,
    local: u64,
    jitter: Jitter,
}

impl Counter {
    fn new(seed: u64) -> Self {
        Counter {
            events: Arc::default(),
            shutdowns: Arc::default(),
            seen_at_shutdown: Arc::default(),
            gate: None,
            local: 0,
            jitter: Jitter::new(seed, 13, 211),
        }
    }

    fn gated(seed: u64, gate: &Arc<Gate>) -> Self {
        Counter {
            gate: Some(gate.clone()),
            ..Counter::new(seed)
        }
    }
}

impl Stage<Ev> for Counter {
    fn on_event(&mut self, e: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        if let Some(gate) = &self.gate {
            if ctx.sequence == 0 && !gate.wait(TIMEOUT) {
                return Err(StageError::msg("the test never opened the gate"));
            }
        }
        if e.value != ctx.sequence {
            return Err(StageError::msg(format!(
                "sequence {} holds value {}",
                ctx.sequence, e.value
            )));
        }
        self.local += 1;
        self.events.fetch_add(1, Ordering::Relaxed);
        self.jitter.step();
        Ok(())
    }

    fn on_shutdown(&mut self) {
        self.seen_at_shutdown
            .fetch_add(self.local, Ordering::Relaxed);
        self.shutdowns.fetch_add(1, Ordering::Relaxed);
    }
}

fn ev(i: u64) -> impl FnOnce(&mut Ev) {
    move |e| {
        *e = Ev {
            key: i,
            value: i,
            id: i,
            stamp: 0,
        }
    }
}

/// Builds `a; b after a; c after a` from three counters.
macro_rules! three_stages {
    ($name:expr, $capacity:expr, $a:expr, $b:expr, $c:expr) => {
        SingleRing::<Ev>::build($name, |ring| {
            let ring = ring
                .capacity($capacity)
                .ingress("in")
                .egress("out")
                .wait_strategy(WaitStrategy::Parking);
            let (ring, a) = ring.stage("a", $a);
            let (ring, _) = ring.stage_after("b", $b, [a]);
            let (ring, _) = ring.stage_after("c", $c, [a]);
            ring.build()
        })
        .expect("build")
    };
}

fn assert_drained(stages: &[(&str, &Counter)], report: &byteor::exec::PipelineReport, n: u64) {
    assert_eq!(report.total_published(), n);
    for (name, c) in stages {
        assert_eq!(report.processed(name), n, "report, stage {name}");
        assert_eq!(c.events.load(Ordering::Relaxed), n, "events, stage {name}");
        assert_eq!(
            c.shutdowns.load(Ordering::Relaxed),
            1,
            "on_shutdown, stage {name}"
        );
        assert_eq!(
            c.seen_at_shutdown.load(Ordering::Relaxed),
            n,
            "on_shutdown ran after the last event, stage {name}"
        );
    }
}

#[test]
fn dropping_the_producer_drains_every_published_event() {
    let seed = test_seed("drop_drains");
    bounded("drain on producer drop", TIMEOUT, move || {
        // Large run: stages jitter, the producer outpaces them.
        let (a, b, c) = (
            Counter::new(seed),
            Counter::new(seed + 1),
            Counter::new(seed + 2),
        );
        let pipeline = three_stages!("drain", 64, a.clone(), b.clone(), c.clone());
        let (mut producer, control) = pipeline.spawn().unwrap();
        const N: u64 = 20_000;
        for i in 0..N {
            producer.publish(ev(i)).unwrap();
        }
        drop(producer);
        let report = control.join_timeout(TIMEOUT).expect("clean join");
        assert_drained(&[("a", &a), ("b", &b), ("c", &c)], &report, N);
    });
}

#[test]
fn everything_published_before_close_is_processed_even_if_nothing_was_yet() {
    bounded("drain of a full backlog", TIMEOUT, || {
        // `a` holds at its first event until the producer is gone: at end of stream the whole
        // ring is still unprocessed.
        const CAPACITY: u32 = 256;
        let gate = Arc::new(Gate::new());
        let (a, b, c) = (Counter::gated(1, &gate), Counter::new(2), Counter::new(3));
        let pipeline = three_stages!("backlog", CAPACITY, a.clone(), b.clone(), c.clone());
        let (mut producer, control) = pipeline.spawn().unwrap();
        for i in 0..u64::from(CAPACITY) {
            producer.publish(ev(i)).unwrap();
        }
        wait_until("a to reach the gate", TIMEOUT, || gate.has_waiter());
        let m = control.metrics();
        assert_eq!(
            m.processed("a"),
            0,
            "nothing processed before the gate opens"
        );
        drop(producer);
        assert_eq!(control.state(), PipelineState::Closing);
        gate.open();
        let report = control.join_timeout(TIMEOUT).expect("clean join");
        assert_drained(
            &[("a", &a), ("b", &b), ("c", &c)],
            &report,
            u64::from(CAPACITY),
        );
    });
}

#[test]
fn shutdown_from_the_producer_thread_drains_everything_published() {
    bounded("shutdown drain", TIMEOUT, || {
        const N: u64 = 5_000;
        let gate = Arc::new(Gate::new());
        let (a, b, c) = (Counter::gated(4, &gate), Counter::new(5), Counter::new(6));
        let pipeline = three_stages!("shutdown", 1024, a.clone(), b.clone(), c.clone());
        let (mut producer, control) = pipeline.spawn().unwrap();
        for i in 0..N {
            if i == 1024 {
                // The ring is full and `a` holds: let it go so the rest fits.
                gate.open();
            }
            producer.publish(ev(i)).unwrap();
        }
        let report = control.shutdown_timeout(TIMEOUT).expect("clean shutdown");
        assert_drained(&[("a", &a), ("b", &b), ("c", &c)], &report, N);

        // The producer outlived the pipeline: every way of publishing is refused as closed.
        let mut called = false;
        assert_eq!(
            producer.publish(|_| called = true),
            Err(PublishError::Stopped(PipelineError::Closed))
        );
        assert_eq!(
            producer.try_publish(|_| called = true),
            Err(TryPublishError::Stopped(PipelineError::Closed))
        );
        assert_eq!(
            producer.publish_batch(3, |_, _| called = true),
            Err(PublishError::Stopped(PipelineError::Closed))
        );
        assert!(!called, "a refused publish does not call its closure");
        let msg = producer.publish(ev(0)).unwrap_err().to_string();
        assert!(msg.contains("shut down"), "{msg}");
    });
}

#[test]
fn shutdown_while_stages_are_busy_drains_the_backlog() {
    bounded("shutdown with backlog", TIMEOUT, || {
        const N: u64 = 512;
        let gate = Arc::new(Gate::new());
        let (a, b, c) = (Counter::gated(7, &gate), Counter::new(8), Counter::new(9));
        let pipeline = three_stages!("busy", 512, a.clone(), b.clone(), c.clone());
        let (mut producer, control) = pipeline.spawn().unwrap();
        for i in 0..N {
            producer.publish(ev(i)).unwrap();
        }
        wait_until("a to reach the gate", TIMEOUT, || gate.has_waiter());
        // Open the gate only after the shutdown request: the drain must wait for the backlog.
        let opener = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                gate.open();
            })
        };
        let report = control.shutdown_timeout(TIMEOUT).expect("clean shutdown");
        opener.join().unwrap();
        assert_drained(&[("a", &a), ("b", &b), ("c", &c)], &report, N);
        assert!(producer.publish(ev(0)).is_err());
    });
}

#[test]
fn on_shutdown_runs_once_per_stage_instance_on_a_sharded_ring() {
    bounded("sharded on_shutdown", TIMEOUT, || {
        const SHARDS: u32 = 3;
        const N: u64 = 3_000;
        let shutdowns: Arc<[AtomicU64]> = (0..2 * SHARDS).map(|_| AtomicU64::new(0)).collect();
        let events: Arc<[AtomicU64]> = (0..2 * SHARDS).map(|_| AtomicU64::new(0)).collect();

        #[derive(Clone)]
        struct PerInstance {
            slot: usize,
            local: u64,
            shutdowns: Arc<[AtomicU64]>,
            events: Arc<[AtomicU64]>,
        }
        impl Stage<Ev> for PerInstance {
            fn on_event(&mut self, _: &Ev, _: &EventContext) -> Result<(), StageError> {
                self.local += 1;
                Ok(())
            }
            fn on_shutdown(&mut self) {
                self.events[self.slot].store(self.local, Ordering::Relaxed);
                self.shutdowns[self.slot].fetch_add(1, Ordering::Relaxed);
            }
        }
        let (s1, e1, s2, e2) = (
            shutdowns.clone(),
            events.clone(),
            shutdowns.clone(),
            events.clone(),
        );
        let pipeline = SingleRing::<Ev>::build("sharded-shutdown", |ring| {
            let ring =
                ring.capacity(16)
                    .ingress("in")
                    .egress("out")
                    .shards(SHARDS, "key", |e: &Ev| e.key);
            let (ring, a) = ring.stage(
                "a",
                per_shard(move |shard| PerInstance {
                    slot: shard as usize,
                    local: 0,
                    shutdowns: s1.clone(),
                    events: e1.clone(),
                }),
            );
            let (ring, _) = ring.stage_after(
                "b",
                per_shard(move |shard| PerInstance {
                    slot: (SHARDS + shard) as usize,
                    local: 0,
                    shutdowns: s2.clone(),
                    events: e2.clone(),
                }),
                [a],
            );
            ring.build()
        })
        .expect("build");
        let (mut producer, control) = pipeline.spawn().unwrap();
        for i in 0..N {
            producer.publish(ev(i)).unwrap();
        }
        drop(producer);
        let report = control.join_timeout(TIMEOUT).expect("clean join");
        for (slot, calls) in shutdowns.iter().enumerate() {
            assert_eq!(calls.load(Ordering::Relaxed), 1, "instance {slot}");
        }
        for r in &report.stages {
            let slot = if r.stage == "a" { 0 } else { SHARDS } + r.shard;
            assert_eq!(
                events[slot as usize].load(Ordering::Relaxed),
                r.processed,
                "stage {} shard {}: on_shutdown ran after its last event",
                r.stage,
                r.shard
            );
        }
        assert_eq!(report.processed("a"), N);
        assert_eq!(report.processed("b"), N);
    });
}

#[test]
fn metrics_add_up_while_running_and_after_drain() {
    bounded("metrics", TIMEOUT, || {
        const N: u64 = 200;
        let gate = Arc::new(Gate::new());
        let a = Counter::new(10);
        let b = Counter::gated(11, &gate);
        let pipeline = SingleRing::<Ev>::build("metrics", |ring| {
            let ring = ring.capacity(256).ingress("in").egress("out");
            let (ring, first) = ring.stage("a", a.clone());
            let (ring, _) = ring.stage_after("b", b.clone(), [first]);
            ring.build()
        })
        .expect("build");
        let (mut producer, control) = pipeline.spawn().unwrap();
        let m = control.metrics();
        assert_eq!(m.pipeline, "metrics");
        assert_eq!(m.state, PipelineState::Running);
        assert_eq!(m.published(), 0);
        assert_eq!(m.shards.len(), 1);
        assert_eq!(m.shards[0].stages.len(), 2);

        for i in 0..N {
            producer.publish(ev(i)).unwrap();
        }
        // `a` runs freely, `b` holds at the gate: a is done, b lags by everything.
        wait_until("a to finish", TIMEOUT, || {
            control.metrics().processed("a") == N && gate.has_waiter()
        });
        let m = control.metrics();
        assert_eq!(m.published(), N);
        let (ma, mb) = (&m.shards[0].stages[0], &m.shards[0].stages[1]);
        assert_eq!((ma.stage.as_str(), ma.id, ma.shard), ("a", 0, 0));
        assert_eq!((mb.stage.as_str(), mb.id, mb.shard), ("b", 1, 0));
        assert_eq!((ma.processed, ma.lag), (N, 0));
        assert_eq!((mb.processed, mb.lag), (0, N));
        let text = m.to_string();
        assert!(text.contains("metrics") && text.contains(" b "), "{text}");

        gate.open();
        wait_until("b to drain", TIMEOUT, || {
            control.metrics().processed("b") == N
        });
        let m = control.metrics();
        for s in &m.shards[0].stages {
            assert_eq!((s.processed, s.lag), (N, 0), "stage {}", s.stage);
        }
        assert_eq!(m.state, PipelineState::Running);

        drop(producer);
        assert_eq!(control.metrics().state, PipelineState::Closing);
        let report = control.join_timeout(TIMEOUT).expect("clean join");
        assert_eq!(report.pipeline, "metrics");
        assert_eq!(report.published, vec![N]);
        assert_eq!(report.processed("a"), N);
        assert_eq!(report.processed("b"), N);
    });
}

#[test]
fn join_timeout_names_the_stages_still_running() {
    bounded("join timeout", TIMEOUT, || {
        let (a, b, c) = (Counter::new(12), Counter::new(13), Counter::new(14));
        let pipeline = three_stages!("waiting", 16, a.clone(), b.clone(), c.clone());
        let (mut producer, control) = pipeline.spawn().unwrap();
        producer.publish(ev(0)).unwrap();
        // The producer is still open, so the stages keep waiting for events.
        let control = match control.join_timeout(Duration::from_millis(50)) {
            Err(JoinError::Timeout {
                waited,
                running,
                control,
            }) => {
                assert_eq!(waited, Duration::from_millis(50));
                let mut running = running;
                running.sort();
                assert_eq!(running, vec!["a", "b", "c"]);
                control
            }
            other => panic!("expected a timeout, got {other:?}"),
        };
        // The handle came back: the pipeline still runs and can be waited on again.
        assert_eq!(control.state(), PipelineState::Running);
        producer.publish(ev(1)).unwrap();
        drop(producer);
        let report = finished(control.join_timeout(TIMEOUT)).expect("clean join");
        assert_eq!(report.published, vec![2]);
        for (name, s) in [("a", &a), ("b", &b), ("c", &c)] {
            assert_eq!(s.shutdowns.load(Ordering::Relaxed), 1, "stage {name}");
            assert_eq!(s.events.load(Ordering::Relaxed), 2, "stage {name}");
            assert_eq!(report.processed(name), 2, "stage {name}");
        }
    });
}

#[test]
fn shutdown_timeout_names_a_stuck_stage() {
    bounded("shutdown timeout", TIMEOUT, || {
        let gate = Arc::new(Gate::new());
        let (a, b, c) = (
            Counter::new(15),
            Counter::gated(16, &gate),
            Counter::new(17),
        );
        let pipeline = three_stages!("stuck", 16, a.clone(), b.clone(), c.clone());
        let (mut producer, control) = pipeline.spawn().unwrap();
        producer.publish(ev(0)).unwrap();
        wait_until("b to reach the gate", TIMEOUT, || gate.has_waiter());
        let control = match control.shutdown_timeout(Duration::from_millis(500)) {
            Err(JoinError::Timeout {
                running, control, ..
            }) => {
                assert!(running.iter().any(|r| r == "b"), "{running:?}");
                assert!(!running.iter().any(|r| r == "a"), "a drained: {running:?}");
                control
            }
            other => panic!("expected a timeout, got {other:?}"),
        };
        assert!(producer.publish(ev(1)).is_err(), "shutdown was requested");
        assert_eq!(control.state(), PipelineState::Closing);
        gate.open();
        // The returned handle waits for the rest and still gets the report.
        let report = finished(control.join_timeout(TIMEOUT)).expect("clean drain");
        assert_eq!(b.shutdowns.load(Ordering::Relaxed), 1);
        assert_eq!(b.events.load(Ordering::Relaxed), 1);
        assert_eq!(report.processed("b"), 1);
        assert_eq!(report.processed("c"), 1);
    });
}

#[test]
fn dropping_control_without_join_does_not_hang() {
    // Dropped while the producer is alive and stages are idle (parked).
    let drained = bounded("drop control, producer alive", TIMEOUT, || {
        let a = Counter::new(18);
        let pipeline = SingleRing::<Ev>::build("drop-alive", |ring| {
            let ring = ring.capacity(64).ingress("in").egress("out");
            let (ring, _) = ring.stage("a", a.clone());
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        for i in 0..10 {
            producer.publish(ev(i)).unwrap();
        }
        // Let the stage go idle long enough to park with a long timeout.
        std::thread::sleep(Duration::from_millis(100));
        drop(control);
        assert_eq!(
            producer.publish(ev(10)),
            Err(PublishError::Stopped(PipelineError::Closed))
        );
        (
            a.events.load(Ordering::Relaxed),
            a.shutdowns.load(Ordering::Relaxed),
        )
    });
    assert_eq!(drained, (10, 1), "drop drains and shuts the stage down");

    // Dropped with a backlog held at a gate that opens a little later.
    bounded("drop control with backlog", TIMEOUT, || {
        let gate = Arc::new(Gate::new());
        let a = Counter::gated(19, &gate);
        let pipeline = SingleRing::<Ev>::build("drop-backlog", |ring| {
            let ring = ring.capacity(128).ingress("in").egress("out");
            let (ring, _) = ring.stage("a", a.clone());
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        for i in 0..100 {
            producer.publish(ev(i)).unwrap();
        }
        let opener = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                gate.open();
            })
        };
        drop(control);
        opener.join().unwrap();
        assert_eq!(a.events.load(Ordering::Relaxed), 100);
        drop(producer);
    });

    // Dropped after the producer: the usual end of a program that never joins.
    bounded("drop control after producer", TIMEOUT, || {
        let (a, b, c) = (Counter::new(20), Counter::new(21), Counter::new(22));
        let pipeline = three_stages!("drop-after", 8, a.clone(), b.clone(), c.clone());
        let (mut producer, control) = pipeline.spawn().unwrap();
        for i in 0..1000 {
            producer.publish(ev(i)).unwrap();
        }
        drop(producer);
        drop(control);
        for s in [&a, &b, &c] {
            assert_eq!(s.events.load(Ordering::Relaxed), 1000);
            assert_eq!(s.shutdowns.load(Ordering::Relaxed), 1);
        }
    });

    // Dropped before anything was published, producer dropped later.
    bounded("drop control first, empty", TIMEOUT, || {
        let a = Counter::new(23);
        let pipeline = SingleRing::<Ev>::build("drop-empty", |ring| {
            let ring = ring.ingress("in").egress("out");
            let (ring, _) = ring.stage("a", a.clone());
            ring.build()
        })
        .unwrap();
        let (producer, control) = pipeline.spawn().unwrap();
        drop(control);
        drop(producer);
        assert_eq!(a.shutdowns.load(Ordering::Relaxed), 1);
        assert_eq!(a.events.load(Ordering::Relaxed), 0);
    });
}

#[test]
fn shutdown_wakes_a_producer_blocked_on_a_full_ring() {
    bounded("blocked producer", TIMEOUT, || {
        let gate = Arc::new(Gate::new());
        let a = Counter::gated(24, &gate);
        let pipeline = SingleRing::<Ev>::build("blocked", |ring| {
            let ring = ring.capacity(4).ingress("in").egress("out");
            let (ring, _) = ring.stage("a", a.clone());
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        let publisher = std::thread::spawn(move || {
            let mut ok = 0u64;
            loop {
                match producer.publish(ev(ok)) {
                    Ok(_) => ok += 1,
                    Err(e) => return (ok, e),
                }
            }
        });
        wait_until("the ring to fill", TIMEOUT, || {
            gate.has_waiter() && control.metrics().published() == 4
        });
        // The producer is now waiting for room that never comes while `a` holds.
        std::thread::sleep(Duration::from_millis(30));
        let opener = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                gate.open();
            })
        };
        let report = control.shutdown_timeout(TIMEOUT).expect("clean shutdown");
        let (ok, err) = publisher.join().unwrap();
        opener.join().unwrap();
        assert_eq!(err, PublishError::Stopped(PipelineError::Closed));
        assert_eq!(ok, 4, "nothing was accepted after the shutdown");
        assert_eq!(report.processed("a"), 4);
        assert_eq!(a.events.load(Ordering::Relaxed), 4);
    });
}

/// Outcome of one round of a shutdown racing a producer thread on `a -> b`.
struct RaceRound {
    acked_before: u64,
    acked_total: u64,
    processed_a: u64,
    processed_b: u64,
    events_a: u64,
    events_b: u64,
}

/// Runs one round; `Err` when the shutdown did not finish within ten seconds.
fn race_shutdown_against_producer(
    rng: &mut tests::XorShift,
    seed: u64,
    round: u64,
) -> Result<RaceRound, PipelineError> {
    let (a, b) = (Counter::new(seed + round), Counter::new(seed + round + 100));
    let capacity = 1 << rng.range(1, 6);
    let pipeline = SingleRing::<Ev>::build("race", |ring| {
        let ring = ring
            .capacity(capacity)
            .ingress("in")
            .egress("out")
            .wait_strategy(if round % 2 == 0 {
                WaitStrategy::Parking
            } else {
                WaitStrategy::Yielding
            });
        let (ring, first) = ring.stage("a", a.clone());
        let (ring, _) = ring.stage_after("b", b.clone(), [first]);
        ring.build()
    })
    .unwrap();
    let (mut producer, control) = pipeline.spawn().unwrap();
    // Events the producer has been told were accepted.
    let acked = Arc::new(AtomicU64::new(0));
    let publisher = {
        let acked = acked.clone();
        std::thread::spawn(move || loop {
            let next = acked.load(Ordering::Relaxed);
            match producer.publish(ev(next)) {
                Ok(_) => acked.store(next + 1, Ordering::Release),
                Err(e) => return e,
            }
        })
    };
    std::thread::sleep(Duration::from_micros(rng.range(0, 3_000)));
    let acked_before = acked.load(Ordering::Acquire);
    let shutdown = control.shutdown_timeout(Duration::from_secs(10));
    let err = publisher.join().unwrap();
    assert_eq!(err, PublishError::Stopped(PipelineError::Closed));
    let report = finished(shutdown)?;
    assert_eq!(a.shutdowns.load(Ordering::Relaxed), 1);
    assert_eq!(b.shutdowns.load(Ordering::Relaxed), 1);
    Ok(RaceRound {
        acked_before,
        acked_total: acked.load(Ordering::Acquire),
        processed_a: report.processed("a"),
        processed_b: report.processed("b"),
        events_a: a.events.load(Ordering::Relaxed),
        events_b: b.events.load(Ordering::Relaxed),
    })
}

// `Control::shutdown` finishes (draining what was acknowledged) even while a producer thread
// is publishing. Guards the race where a publish that passed its running check before the
// shutdown stores a cursor past the drain target and the producer, once dropped, tries to raise
// the target after an upstream stage already drained and exited: the target must not move, or
// the downstream stage waits forever.
#[test]
fn shutdown_racing_a_producer_thread_keeps_every_acknowledged_event() {
    let seed = test_seed("shutdown_race");
    bounded("shutdown race", TIMEOUT, move || {
        let mut rng = tests::XorShift::new(seed);
        for round in 0..100 {
            let r = race_shutdown_against_producer(&mut rng, seed, round)
                .unwrap_or_else(|e| panic!("round {round}: shutdown did not finish: {e}"));
            for (stage, processed, events) in [
                ("a", r.processed_a, r.events_a),
                ("b", r.processed_b, r.events_b),
            ] {
                assert!(
                    processed >= r.acked_before,
                    "round {round}: {} publishes returned before shutdown, {stage} processed {processed}",
                    r.acked_before
                );
                assert!(
                    processed <= r.acked_total,
                    "round {round}: {stage} processed more than was published"
                );
                assert_eq!(processed, events, "round {round}: report of {stage}");
            }
        }
    });
}

// A clean shutdown cuts the stream at one point: every event is handled by every stage or by
// none, even when a producer on another thread publishes while `Control::shutdown` runs. The
// drain target is set once (by the shutdown or by the producer closing, whichever is first)
// and every stage stops exactly there, so a publish racing the shutdown cannot leave an event
// handled by `a` but not by `b`.
#[test]
fn shutdown_racing_a_producer_leaves_no_event_half_processed() {
    let seed = test_seed("shutdown_cut");
    bounded("shutdown cut", TIMEOUT, move || {
        let mut rng = tests::XorShift::new(seed);
        for round in 0..200 {
            let Ok(r) = race_shutdown_against_producer(&mut rng, seed, round) else {
                // The hang is the other test's subject.
                continue;
            };
            assert_eq!(
                r.processed_a, r.processed_b,
                "round {round}: `a` and `b` drained to different points"
            );
        }
    });
}

/// CPU time (user + system, in clock ticks) of this process's thread named `comm`.
#[cfg(target_os = "linux")]
fn thread_cpu_ticks(comm: &str) -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if name.trim_end() == comm {
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            return Some(utime + stime);
        }
    }
    None
}

/// CPU time `b` burns in half a second while it waits, with the Parking strategy, for an
/// upstream stage `a` held at a gate; `close` ends the stream first.
#[cfg(target_os = "linux")]
fn idle_downstream_cpu(pipeline_name: &str, close: bool) -> u64 {
    let gate = Arc::new(Gate::new());
    let (a, b) = (Counter::gated(30, &gate), Counter::new(31));
    let pipeline = SingleRing::<Ev>::build(pipeline_name, |ring| {
        let ring = ring
            .capacity(16)
            .ingress("in")
            .egress("out")
            .wait_strategy(WaitStrategy::Parking);
        let (ring, first) = ring.stage("a", a.clone());
        let (ring, _) = ring.stage_after("b", b.clone(), [first]);
        ring.build()
    })
    .unwrap();
    let (mut producer, control) = pipeline.spawn().unwrap();
    producer.publish(ev(0)).unwrap();
    wait_until("a to hold", TIMEOUT, || gate.has_waiter());
    let producer = if close {
        drop(producer);
        None
    } else {
        Some(producer)
    };
    // The OS keeps 15 bytes of a thread name: keep `pipeline_name` short.
    let thread = byteor::exec::thread_name(pipeline_name, "b", None);
    std::thread::sleep(Duration::from_millis(100));
    let before = thread_cpu_ticks(&thread).expect("stage thread b");
    std::thread::sleep(Duration::from_millis(500));
    let after = thread_cpu_ticks(&thread).expect("stage thread b");
    gate.open();
    drop(producer);
    control.join_timeout(TIMEOUT).expect("clean join");
    after - before
}

#[cfg(target_os = "linux")]
#[test]
fn a_stage_waiting_on_a_held_upstream_parks() {
    bounded("idle while running", TIMEOUT, || {
        // Ticks are usually 10 ms: a parked thread uses none; a spinning one ~50.
        let ticks = idle_downstream_cpu("run", false);
        assert!(
            ticks <= 5,
            "b used {ticks} ticks of CPU in 500 ms while idle"
        );
    });
}

// While the pipeline drains (producer closed or shutdown requested), a stage waiting for a slow
// upstream stage must park like it does while running: its wake-up condition is "progress or
// a change of state", not "not running" (which holds for the whole drain and would make it
// spin and yield, burning a core).
#[cfg(target_os = "linux")]
#[test]
fn a_stage_waiting_on_a_held_upstream_parks_while_draining() {
    bounded("idle while draining", TIMEOUT, || {
        let ticks = idle_downstream_cpu("drain", true);
        assert!(
            ticks <= 5,
            "b used {ticks} ticks of CPU in 500 ms while idle"
        );
    });
}
