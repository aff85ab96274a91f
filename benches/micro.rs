//! Criterion micro-benchmarks of byteor alone: one-stage publish + consume throughput per wait
//! strategy, the shard router's key mixing, and `try_publish` bouncing off a full ring.
//!
//! `cargo bench -p benches --bench micro` (about half a minute).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use byteor::exec::shard_for_key;
use byteor::prelude::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Events per measured publish + consume iteration.
const EVENTS: u64 = 100_000;

/// Publishes `EVENTS` events through one stage and returns the time from the first publish
/// until the stage has drained them (thread start-up is not timed).
fn publish_and_drain(strategy: WaitStrategy) -> Duration {
    let sum = Arc::new(AtomicU64::new(0));
    let out = Arc::clone(&sum);
    let mut acc = 0u64;
    let pipeline = SingleRing::<u64>::build("micro", |ring| {
        let ring = ring
            .capacity(1024)
            .ingress("in")
            .egress("out")
            .wait_strategy(strategy);
        let (ring, _) = ring.stage(
            "sum",
            from_fn(move |v: &u64, ctx: &EventContext| {
                acc = acc.wrapping_add(*v);
                if ctx.end_of_batch {
                    out.store(acc, Ordering::Relaxed);
                }
                Ok(())
            }),
        );
        ring.build()
    })
    .expect("valid pipeline");
    let (mut producer, control) = pipeline.spawn().expect("spawn");
    let start = Instant::now();
    for i in 0..EVENTS {
        producer.publish(|slot| *slot = i).expect("publish");
    }
    drop(producer);
    let report = control.join().expect("join");
    let elapsed = start.elapsed();
    assert_eq!(report.processed("sum"), EVENTS);
    assert_eq!(sum.load(Ordering::Relaxed), EVENTS * (EVENTS - 1) / 2);
    elapsed
}

fn publish_consume(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish_consume_1_stage");
    group.throughput(Throughput::Elements(EVENTS));
    for strategy in [WaitStrategy::BusySpin, WaitStrategy::Parking] {
        group.bench_function(BenchmarkId::from_parameter(strategy.as_str()), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| publish_and_drain(strategy)).sum())
        });
    }
    group.finish();
}

fn shard_routing(c: &mut Criterion) {
    let mut key = 0u64;
    c.bench_function("shard_for_key/8_shards", |b| {
        b.iter(|| {
            key = key.wrapping_add(1);
            shard_for_key(black_box(key), black_box(8))
        })
    });
}

fn try_publish_full(c: &mut Criterion) {
    const CAPACITY: u32 = 64;
    let release = Arc::new(AtomicBool::new(false));
    let gate = Arc::clone(&release);
    let pipeline = SingleRing::<u64>::build("full", |ring| {
        let ring = ring.capacity(CAPACITY).ingress("in").egress("out");
        // The stage holds on to the first event until released, so the ring fills up.
        let (ring, _) = ring.stage(
            "held",
            from_fn(move |_: &u64, _: &EventContext| {
                while !gate.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(())
            }),
        );
        ring.build()
    })
    .expect("valid pipeline");
    let (mut producer, control) = pipeline.spawn().expect("spawn");
    let mut filled = 0u64;
    while producer.try_publish(|slot| *slot = filled).is_ok() {
        filled += 1;
    }
    assert_eq!(
        filled,
        u64::from(CAPACITY),
        "the ring holds exactly its capacity"
    );

    let mut not_full = 0u64;
    c.bench_function("try_publish/full_ring", |b| {
        b.iter(|| {
            let r = producer.try_publish(|slot| *slot = black_box(7));
            if !matches!(r, Err(TryPublishError::Full { .. })) {
                not_full += 1;
            }
        })
    });
    assert_eq!(not_full, 0, "try_publish on a full ring must report Full");

    release.store(true, Ordering::Release);
    drop(producer);
    let report = control.join().expect("join");
    assert_eq!(report.processed("held"), filled);
}

criterion_group! {
    name = micro;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = publish_consume, shard_routing, try_publish_full
}
criterion_main!(micro);
