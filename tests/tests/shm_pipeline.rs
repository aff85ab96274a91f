//! One pipeline split over processes on shared-memory rings, with real child processes: the
//! producer here and a stage in a child (every event once, in order), a stage process killed
//! with `SIGKILL` (named by `publish`, then restarted: it resumes), and the producer's process
//! killed (the stage process finishes what was published and names the dead producer).
#![cfg(target_os = "linux")]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use byteor::exec::{PipelineError, PublishError, ShmRunOptions};
use byteor::prelude::*;
use tests::shm::{child_role, spawn_test_child, ShmDir};
use tests::{Ev, TIMEOUT};

const EVENTS: u64 = 20_000;

/// Counts events and checks that each is the one after the previous (value == sequence).
#[derive(Clone)]
struct InOrder {
    seen: Arc<AtomicU64>,
    next: Option<u64>,
    delay: Duration,
}

impl InOrder {
    fn new(delay: Duration) -> Self {
        InOrder {
            seen: Arc::default(),
            next: None,
            delay,
        }
    }
}

impl Stage<Ev> for InOrder {
    fn on_event(&mut self, e: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        let expected = *self.next.get_or_insert(ctx.sequence);
        if e.value != ctx.sequence || ctx.sequence != expected {
            return Err(StageError::msg(format!(
                "event {} at sequence {} (expected {expected})",
                e.value, ctx.sequence
            )));
        }
        self.next = Some(expected + 1);
        self.seen.fetch_add(1, Ordering::Relaxed);
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        Ok(())
    }
}

/// The pipeline every process of a test builds: one stage, `check` — a `#[pipeline]` function,
/// which runs in one process (`spawn`) or split over processes (`create_shm`/`attach_shm`)
/// alike.
#[byteor::pipeline(name = "split", capacity = 64, wait_strategy = WaitStrategy::Yielding)]
fn split(check: InOrder) -> SingleRing<Ev> {
    ingress("in");
    egress("out");
    let check = stage(check);
}

macro_rules! pipeline {
    ($stage:expr) => {
        split($stage).unwrap()
    };
}

fn options() -> ShmRunOptions {
    ShmRunOptions {
        heartbeat_timeout: Duration::from_secs(5),
        ..ShmRunOptions::default()
    }
}

fn event(i: u64) -> Ev {
    Ev {
        key: 0,
        value: i,
        id: i,
        stamp: 0,
    }
}

/// Child role: attach to the pipeline in `BYTEOR_TEST_DIR` as stage `check` and run until the
/// stream ends; exit non-zero (a failed assertion) on any error or wrong count.
fn run_stage_process() {
    let dir = std::env::var("BYTEOR_TEST_DIR").unwrap();
    let delay = Duration::from_micros(
        std::env::var("BYTEOR_TEST_DELAY_US").map_or(0, |v| v.parse().unwrap()),
    );
    let stage = InOrder::new(delay);
    let seen = Arc::clone(&stage.seen);
    let deadline = Instant::now() + TIMEOUT;
    // The producer may not have created the region yet.
    let control = loop {
        match pipeline!(stage.clone()).attach_shm(&dir, &["check"], &options()) {
            Ok(control) => break control,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("could not attach: {e}"),
        }
    };
    let report =
        tests::finished(control.join_timeout(TIMEOUT)).expect("the stage process ends cleanly");
    let expected: u64 = std::env::var("BYTEOR_TEST_EXPECT")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(report.processed("check"), expected, "the stage's sequence");
    eprintln!(
        "stage process handled {} events",
        seen.load(Ordering::Relaxed)
    );
}

/// Publishes `i` (retrying while a stage process has not attached yet).
fn publish<K: byteor::exec::Router<Ev>>(
    producer: &mut Producer<Ev, K, byteor::backing::ShmRing<Ev>>,
    i: u64,
) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match producer.publish(|e| *e = event(i)) {
            Ok(_) => return,
            Err(PublishError::PeerDown(down)) if Instant::now() < deadline => {
                let _ = down;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("publish {i}: {e}"),
        }
    }
}

#[test]
fn a_stage_in_another_process_sees_every_event_once_in_order() {
    match child_role().as_deref() {
        Some("stage") => return run_stage_process(),
        Some(_) => return,
        None => {}
    }
    let dir = ShmDir::new("split");
    let (mut producer, control) = pipeline!(InOrder::new(Duration::ZERO))
        .create_shm(dir.path(), &options())
        .unwrap();
    let expect = EVENTS.to_string();
    let mut child = spawn_test_child(
        "a_stage_in_another_process_sees_every_event_once_in_order",
        "stage",
        &[
            ("BYTEOR_TEST_DIR", dir.path().to_str().unwrap()),
            ("BYTEOR_TEST_EXPECT", &expect),
        ],
    );
    for i in 0..EVENTS {
        publish(&mut producer, i);
    }
    producer.close();
    let report = tests::finished(control.join_timeout(TIMEOUT)).expect("clean end");
    assert_eq!(report.total_published(), EVENTS);
    assert_eq!(report.processed("check"), EVENTS);
    let status = child.wait_timeout(TIMEOUT);
    assert!(status.success(), "the stage process failed: {status}");
}

#[test]
fn a_killed_stage_process_is_named_and_a_restarted_one_resumes() {
    match child_role().as_deref() {
        Some("stage") => return run_stage_process(),
        Some(_) => return,
        None => {}
    }
    let dir = ShmDir::new("kill-stage");
    let (mut producer, control) = pipeline!(InOrder::new(Duration::ZERO))
        .create_shm(dir.path(), &options())
        .unwrap();
    let total = 2_000u64;
    let expect = total.to_string();
    let env = [
        ("BYTEOR_TEST_DIR", dir.path().to_str().unwrap()),
        ("BYTEOR_TEST_EXPECT", expect.as_str()),
        ("BYTEOR_TEST_DELAY_US", "200"),
    ];
    let name = "a_killed_stage_process_is_named_and_a_restarted_one_resumes";
    let mut child = spawn_test_child(name, "stage", &env);
    // Publish until the (slow) stage has taken some events, then kill it.
    let mut i = 0;
    while control.metrics().processed("check") < 100 {
        publish(&mut producer, i);
        i += 1;
    }
    child.kill();
    let killed = Instant::now();
    // The ring fills; publish then names the dead stage instead of waiting forever.
    let down = loop {
        match producer.publish(|e| *e = event(i)) {
            Ok(_) => i += 1,
            Err(PublishError::PeerDown(down)) => break down,
            Err(e) => panic!("expected PeerDown, got {e}"),
        }
        assert!(
            killed.elapsed() < TIMEOUT,
            "publish never noticed the dead stage"
        );
    };
    let detected = killed.elapsed();
    eprintln!("stage process killed: publish named it after {detected:?}: {down}");
    assert_eq!(down.stage, "check");
    assert!(down.reason.contains("died"), "{down}");
    match producer.try_publish(|e| *e = event(i)) {
        Err(byteor::exec::TryPublishError::PeerDown(d)) => assert_eq!(d.stage, "check"),
        other => panic!("expected TryPublishError::PeerDown, got {other:?}"),
    }
    assert!(detected < Duration::from_secs(5), "{detected:?}");
    let resume_from = control.metrics().processed("check");

    // A new stage process takes the place back and resumes from the stage's sequence.
    let mut child = spawn_test_child(name, "stage", &env);
    while i < total {
        publish(&mut producer, i);
        i += 1;
    }
    producer.close();
    let report = tests::finished(control.join_timeout(TIMEOUT)).expect("clean end");
    assert_eq!(report.processed("check"), total);
    assert!(resume_from >= 100);
    let status = child.wait_timeout(TIMEOUT);
    assert!(
        status.success(),
        "the restarted stage process failed: {status}"
    );
}

/// Child role: the producer of the pipeline in `BYTEOR_TEST_DIR`: publish
/// `BYTEOR_TEST_EXPECT` events, then wait (never closing) until killed.
fn run_producer_process() {
    let dir = std::env::var("BYTEOR_TEST_DIR").unwrap();
    let count: u64 = std::env::var("BYTEOR_TEST_EXPECT")
        .unwrap()
        .parse()
        .unwrap();
    let (mut producer, _control) = pipeline!(InOrder::new(Duration::ZERO))
        .create_shm(&dir, &options())
        .unwrap();
    for i in 0..count {
        publish(&mut producer, i);
    }
    std::thread::sleep(TIMEOUT);
}

fn wait_for_region(path: &Path) {
    let deadline = Instant::now() + TIMEOUT;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "the producer never created {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn when_the_producer_process_dies_the_stage_drains_and_names_it() {
    match child_role().as_deref() {
        Some("producer") => return run_producer_process(),
        Some(_) => return,
        None => {}
    }
    let dir = ShmDir::new("kill-producer");
    let count = 500u64;
    let expect = count.to_string();
    let mut child = spawn_test_child(
        "when_the_producer_process_dies_the_stage_drains_and_names_it",
        "producer",
        &[
            ("BYTEOR_TEST_DIR", dir.path().to_str().unwrap()),
            ("BYTEOR_TEST_EXPECT", &expect),
        ],
    );
    wait_for_region(&byteor::exec::shm_region_path(dir.path(), "split", 0));
    let stage = InOrder::new(Duration::ZERO);
    let seen = Arc::clone(&stage.seen);
    let deadline = Instant::now() + TIMEOUT;
    let control = loop {
        match pipeline!(stage.clone()).attach_shm(dir.path(), &["check"], &options()) {
            Ok(control) => break control,
            Err(e) => {
                assert!(Instant::now() < deadline, "could not attach: {e}");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    };
    while seen.load(Ordering::Relaxed) < count {
        assert!(Instant::now() < deadline, "the stage never saw every event");
        std::thread::sleep(Duration::from_millis(1));
    }
    let pid = child.id();
    child.kill();
    let killed = Instant::now();
    match control.join_timeout(TIMEOUT) {
        Err(byteor::exec::JoinError::Pipeline(PipelineError::PeerDied {
            peer, pid: dead, ..
        })) => {
            assert_eq!(peer, "producer");
            assert_eq!(dead, pid);
        }
        other => panic!("expected PeerDied, got {other:?}"),
    }
    eprintln!(
        "producer killed: the stage process stopped after {:?}",
        killed.elapsed()
    );
    assert_eq!(seen.load(Ordering::Relaxed), count);
}

/// Per key, values must increase (each shard's clone sees its keys only); counts every event.
#[derive(Clone, Default)]
struct PerKey {
    last: [u64; 8],
    seen: Arc<AtomicU64>,
}

impl Stage<Ev> for PerKey {
    fn on_event(&mut self, e: &Ev, _: &EventContext) -> Result<(), StageError> {
        let last = &mut self.last[e.key as usize % 8];
        if e.value <= *last {
            return Err(StageError::msg(format!(
                "key {}: {} after {}",
                e.key, e.value, last
            )));
        }
        *last = e.value;
        self.seen.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A sharded pipeline split over processes: one region per shard.
#[byteor::pipeline(name = "keyed", capacity = 64, shards = 2, wait_strategy = WaitStrategy::Yielding)]
fn keyed(check: PerKey) -> SingleRing<Ev> {
    ingress("in");
    egress("out");
    shard_key("key", |e: &Ev| e.key);
    let check = stage(check);
}

/// Child role: run `check` of the sharded pipeline in `BYTEOR_TEST_DIR` on both shards.
fn run_keyed_stage_process() {
    let dir = std::env::var("BYTEOR_TEST_DIR").unwrap();
    let expected: u64 = std::env::var("BYTEOR_TEST_EXPECT")
        .unwrap()
        .parse()
        .unwrap();
    let stage = PerKey::default();
    let seen = Arc::clone(&stage.seen);
    let deadline = Instant::now() + TIMEOUT;
    let control = loop {
        match keyed(stage.clone())
            .unwrap()
            .attach_shm(&dir, &["check"], &options())
        {
            Ok(control) => break control,
            Err(e) => {
                assert!(Instant::now() < deadline, "could not attach: {e}");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    };
    let report = tests::finished(control.join_timeout(TIMEOUT)).expect("clean end");
    assert_eq!(report.processed("check"), expected);
    assert_eq!(seen.load(Ordering::Relaxed), expected);
}

#[test]
fn a_sharded_pipeline_splits_over_processes_one_region_per_shard() {
    match child_role().as_deref() {
        Some("keyed") => return run_keyed_stage_process(),
        Some(_) => return,
        None => {}
    }
    const N: u64 = 20_000;
    let dir = ShmDir::new("keyed");
    let (mut producer, control) = keyed(PerKey::default())
        .unwrap()
        .create_shm(dir.path(), &options())
        .unwrap();
    for shard in 0..2 {
        assert!(byteor::exec::shm_region_path(dir.path(), "keyed", shard).exists());
    }
    let expect = N.to_string();
    let mut child = spawn_test_child(
        "a_sharded_pipeline_splits_over_processes_one_region_per_shard",
        "keyed",
        &[
            ("BYTEOR_TEST_DIR", dir.path().to_str().unwrap()),
            ("BYTEOR_TEST_EXPECT", &expect),
        ],
    );
    let deadline = Instant::now() + TIMEOUT;
    let mut next = [0u64; 8];
    for id in 0..N {
        let key = id % 8;
        next[key as usize] += 1;
        let value = next[key as usize];
        loop {
            match producer.publish(|e| {
                *e = Ev {
                    key,
                    value,
                    id,
                    stamp: 0,
                }
            }) {
                Ok(_) => break,
                Err(PublishError::PeerDown(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("publish {id}: {e}"),
            }
        }
    }
    producer.close();
    let report = tests::finished(control.join_timeout(TIMEOUT)).expect("clean end");
    assert_eq!(report.total_published(), N);
    assert_eq!(report.processed("check"), N);
    let status = child.wait_timeout(TIMEOUT);
    assert!(status.success(), "the stage process failed: {status}");
}
