//! Ordering: on one shard every stage sees every event in publication order; on a sharded ring
//! every key's events reach every stage in order, each event exactly once, on the shard its key
//! maps to.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use byteor::exec::shard_for_key;
use byteor::prelude::*;
use tests::{bounded, mix, test_seed, Ev, Jitter, XorShift, TIMEOUT};

/// What one stage saw, arrival by arrival. Pre-allocated; written with relaxed stores by the
/// stage thread and read after `join` (which orders them before the reads).
struct Tape {
    sequences: Box<[AtomicU64]>,
    values: Box<[AtomicU64]>,
    stamps: Box<[AtomicU64]>,
    len: AtomicU64,
}

impl Tape {
    fn new(capacity: usize) -> Arc<Self> {
        let column = || (0..capacity).map(|_| AtomicU64::new(u64::MAX)).collect();
        Arc::new(Tape {
            sequences: column(),
            values: column(),
            stamps: column(),
            len: AtomicU64::new(0),
        })
    }

    /// Records arrival number `at`.
    fn record(&self, at: u64, ctx: &EventContext, event: &Ev) -> Result<(), StageError> {
        let i = at as usize;
        if i >= self.values.len() {
            return Err(StageError::msg(format!(
                "more events than were published (arrival {at}, sequence {})",
                ctx.sequence
            )));
        }
        self.sequences[i].store(ctx.sequence, Ordering::Relaxed);
        self.values[i].store(event.value, Ordering::Relaxed);
        self.stamps[i].store(event.stamp, Ordering::Relaxed);
        self.len.store(at + 1, Ordering::Relaxed);
        Ok(())
    }
}

/// The first stage: records the event as published, then stamps it.
struct Stamp {
    tape: Arc<Tape>,
    arrivals: u64,
    jitter: Jitter,
}

impl MutStage<Ev> for Stamp {
    fn on_event(&mut self, event: &mut Ev, ctx: &EventContext) -> Result<(), StageError> {
        self.tape.record(self.arrivals, ctx, event)?;
        event.stamp = mix(event.value);
        self.arrivals += 1;
        self.jitter.step();
        Ok(())
    }
}

/// A later stage: records what it sees.
struct Record {
    tape: Arc<Tape>,
    arrivals: u64,
    jitter: Jitter,
}

impl Stage<Ev> for Record {
    fn on_event(&mut self, event: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        self.tape.record(self.arrivals, ctx, event)?;
        self.arrivals += 1;
        self.jitter.step();
        Ok(())
    }
}

fn chain_value(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9) ^ 0x55
}

fn run_linear_chain(strategy: WaitStrategy, capacity: u32, events: u64, seed: u64) {
    let tapes: Vec<Arc<Tape>> = (0..3).map(|_| Tape::new(events as usize)).collect();
    let (ta, tb, tc) = (tapes[0].clone(), tapes[1].clone(), tapes[2].clone());
    let pipeline = SingleRing::<Ev>::build("chain", |ring| {
        let ring = ring
            .capacity(capacity)
            .ingress("in")
            .egress("out")
            .wait_strategy(strategy);
        let (ring, a) = ring.stage(
            "a",
            Stamp {
                tape: ta,
                arrivals: 0,
                jitter: Jitter::new(seed, 97, 1009),
            },
        );
        let (ring, b) = ring.stage_after(
            "b",
            Record {
                tape: tb,
                arrivals: 0,
                jitter: Jitter::new(seed + 1, 31, 499),
            },
            [a],
        );
        let (ring, _c) = ring.stage_after(
            "c",
            Record {
                tape: tc,
                arrivals: 0,
                jitter: Jitter::new(seed + 2, 61, 211),
            },
            [b],
        );
        ring.build()
    })
    .expect("a three-stage chain builds");

    let (mut producer, control) = pipeline.spawn().expect("spawn");
    for i in 0..events {
        let seq = producer
            .publish(|e| {
                *e = Ev {
                    key: i,
                    value: chain_value(i),
                    id: i,
                    stamp: 0,
                }
            })
            .expect("publish");
        assert_eq!(seq, i, "publish returns the event's sequence");
    }
    drop(producer);
    let report = control.join_timeout(TIMEOUT).expect("clean join");
    assert_eq!(report.total_published(), events);

    for (stage, tape) in ["a", "b", "c"].iter().zip(&tapes) {
        assert_eq!(report.processed(stage), events, "stage {stage}");
        assert_eq!(tape.len.load(Ordering::Relaxed), events, "stage {stage}");
        for i in 0..events as usize {
            let seq = tape.sequences[i].load(Ordering::Relaxed);
            let value = tape.values[i].load(Ordering::Relaxed);
            let stamp = tape.stamps[i].load(Ordering::Relaxed);
            let ctx = format!("{strategy:?}, capacity {capacity}, stage {stage}, arrival {i}");
            assert_eq!(seq, i as u64, "sequence out of order ({ctx})");
            assert_eq!(value, chain_value(i as u64), "value out of order ({ctx})");
            // `a` sees the producer's fresh event; later stages see `a`'s stamp.
            let expected_stamp = if *stage == "a" { 0 } else { mix(value) };
            assert_eq!(stamp, expected_stamp, "stamp ({ctx})");
        }
    }
}

#[test]
fn linear_chain_sees_every_event_in_publication_order() {
    let seed = test_seed("linear_chain");
    bounded("linear chain", TIMEOUT, move || {
        for (strategy, capacity, events) in [
            (WaitStrategy::Parking, 64, 20_000),
            (WaitStrategy::Yielding, 4, 10_000),
            (WaitStrategy::Parking, 2, 5_000),
        ] {
            run_linear_chain(strategy, capacity, events, seed);
        }
    });
}

const SHARDS: u32 = 4;
const KEYS: u64 = 37;

/// Checks, on one shard, that every key's values arrive as 0, 1, 2, ..., that the event is on
/// the shard its key maps to, and that sequences within the shard are consecutive; marks each
/// event id as seen.
struct KeyOrder {
    shard: u32,
    next_value: Vec<u64>,
    arrivals: u64,
    seen: Arc<[AtomicU64]>,
    jitter: Jitter,
}

impl KeyOrder {
    fn new(shard: u32, seen: Arc<[AtomicU64]>, seed: u64) -> Self {
        KeyOrder {
            shard,
            next_value: vec![0; KEYS as usize],
            arrivals: 0,
            seen,
            jitter: Jitter::new(seed ^ u64::from(shard), 53, 307),
        }
    }
}

impl Stage<Ev> for KeyOrder {
    fn on_start(&mut self, info: &StageInfo) -> Result<(), StageError> {
        if info.shard != self.shard || info.shards != SHARDS {
            return Err(StageError::msg(format!(
                "instance made for shard {} started as shard {}/{}",
                self.shard, info.shard, info.shards
            )));
        }
        Ok(())
    }

    fn on_event(&mut self, e: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        let routed = shard_for_key(e.key, SHARDS) as u32;
        if ctx.shard != self.shard || routed != self.shard {
            return Err(StageError::msg(format!(
                "event {} (key {}) handled on shard {} by the instance of shard {}; key maps to {}",
                e.id, e.key, ctx.shard, self.shard, routed
            )));
        }
        if ctx.sequence != self.arrivals {
            return Err(StageError::msg(format!(
                "shard {}: sequence {} after {} arrivals",
                self.shard, ctx.sequence, self.arrivals
            )));
        }
        if e.stamp != mix(e.id) {
            return Err(StageError::msg(format!("event {} is torn or stale", e.id)));
        }
        let expected = &mut self.next_value[e.key as usize];
        if e.value != *expected {
            return Err(StageError::msg(format!(
                "key {}: value {} arrived when {} was next",
                e.key, e.value, *expected
            )));
        }
        *expected += 1;
        self.arrivals += 1;
        self.seen[e.id as usize].fetch_add(1, Ordering::Relaxed);
        self.jitter.step();
        Ok(())
    }
}

#[test]
fn sharded_ring_keeps_per_key_order_and_processes_each_event_once() {
    const EVENTS: u64 = 40_000;
    let seed = test_seed("per_key_order");
    bounded("per-key order", TIMEOUT, move || {
        let seen: Vec<Arc<[AtomicU64]>> = (0..3)
            .map(|_| (0..EVENTS).map(|_| AtomicU64::new(0)).collect())
            .collect();
        let (sa, sb, sc) = (seen[0].clone(), seen[1].clone(), seen[2].clone());
        let pipeline = SingleRing::<Ev>::build("keys", |ring| {
            let ring = ring
                .capacity(32)
                .ingress("in")
                .egress("out")
                .wait_strategy(WaitStrategy::Parking)
                .shards(SHARDS, "key", |e: &Ev| e.key);
            let (ring, a) = ring.stage(
                "a",
                per_shard(move |shard| KeyOrder::new(shard, sa.clone(), seed)),
            );
            let (ring, _b) = ring.stage_after(
                "b",
                per_shard(move |shard| KeyOrder::new(shard, sb.clone(), seed + 10)),
                [a],
            );
            let (ring, _c) = ring.stage_after(
                "c",
                per_shard(move |shard| KeyOrder::new(shard, sc.clone(), seed + 20)),
                [a],
            );
            ring.build()
        })
        .expect("a sharded ring builds");
        assert_eq!(pipeline.plan().single_ring.as_ref().unwrap().shards, SHARDS);

        let (mut producer, control) = pipeline.spawn().expect("spawn");
        let mut rng = XorShift::new(seed);
        let mut next_value = [0u64; KEYS as usize];
        let mut per_shard_published = [0u64; SHARDS as usize];
        for id in 0..EVENTS {
            let key = rng.below(KEYS);
            let value = next_value[key as usize];
            next_value[key as usize] += 1;
            let shard = shard_for_key(key, SHARDS);
            let seq = producer
                .publish(|e| {
                    *e = Ev {
                        key,
                        value,
                        id,
                        stamp: mix(id),
                    }
                })
                .expect("publish");
            assert_eq!(
                seq, per_shard_published[shard],
                "publish returns the sequence within the event's shard"
            );
            per_shard_published[shard] += 1;
        }
        drop(producer);
        let report = control.join_timeout(TIMEOUT).expect("clean join");

        assert_eq!(report.published, per_shard_published.to_vec());
        assert!(
            per_shard_published.iter().filter(|&&n| n > 0).count() >= 2,
            "{KEYS} keys spread over more than one shard: {per_shard_published:?}"
        );
        for r in &report.stages {
            assert_eq!(
                r.processed, per_shard_published[r.shard as usize],
                "stage {} shard {}",
                r.stage, r.shard
            );
        }
        for (stage, seen) in ["a", "b", "c"].iter().zip(&seen) {
            assert_eq!(report.processed(stage), EVENTS);
            for (id, count) in seen.iter().enumerate() {
                assert_eq!(
                    count.load(Ordering::Relaxed),
                    1,
                    "stage {stage} handled event {id} a wrong number of times"
                );
            }
        }
    });
}

#[test]
fn shard_for_key_is_stable_and_in_range() {
    let mut rng = XorShift::new(3);
    for _ in 0..10_000 {
        let key = rng.next_u64();
        for shards in 1..=8 {
            let s = shard_for_key(key, shards);
            assert!(s < shards as usize);
            assert_eq!(s, shard_for_key(key, shards));
        }
        assert_eq!(shard_for_key(key, 1), 0);
    }
}

/// Checks the batch contract: batches are contiguous and non-empty, `end_of_batch` marks
/// exactly their last event, and `on_batch_end` runs before downstream stages see the batch.
struct Batches {
    next: u64,
    batch_start: u64,
    saw_end_of_batch: bool,
    batches: Arc<AtomicU64>,
    /// One past the last event of the last batch whose `on_batch_end` ran.
    ended: Arc<AtomicU64>,
    jitter: Jitter,
}

impl Stage<Ev> for Batches {
    fn on_event(&mut self, _: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        if ctx.sequence != self.next || self.saw_end_of_batch {
            return Err(StageError::msg(format!(
                "sequence {} after {} (end of batch seen: {})",
                ctx.sequence, self.next, self.saw_end_of_batch
            )));
        }
        self.next += 1;
        self.saw_end_of_batch = ctx.end_of_batch;
        self.jitter.step();
        Ok(())
    }

    fn on_batch_end(&mut self, batch: &BatchContext) -> Result<(), StageError> {
        if batch.start != self.batch_start
            || batch.end != self.next
            || batch.is_empty()
            || batch.len() != batch.end - batch.start
            || !self.saw_end_of_batch
            || batch.shard != 0
        {
            return Err(StageError::msg(format!(
                "batch {batch:?} after events up to {} (batch began at {}, end of batch seen: {})",
                self.next, self.batch_start, self.saw_end_of_batch
            )));
        }
        self.batch_start = batch.end;
        self.saw_end_of_batch = false;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.ended.store(batch.end, Ordering::Release);
        Ok(())
    }
}

/// Runs after `Batches`: may see an event only once the upstream batch holding it ended.
struct AfterBatch {
    ended: Arc<AtomicU64>,
}

impl Stage<Ev> for AfterBatch {
    fn on_event(&mut self, _: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        let ended = self.ended.load(Ordering::Acquire);
        if ended <= ctx.sequence {
            return Err(StageError::msg(format!(
                "saw sequence {} before upstream on_batch_end covered it (ended at {ended})",
                ctx.sequence
            )));
        }
        Ok(())
    }
}

#[test]
fn batches_are_contiguous_and_end_before_downstream_sees_them() {
    const EVENTS: u64 = 30_000;
    let seed = test_seed("batches");
    bounded("batch contract", TIMEOUT, move || {
        let batches = Arc::new(AtomicU64::new(0));
        let ended = Arc::new(AtomicU64::new(0));
        let pipeline = SingleRing::<Ev>::build("batch-contract", |ring| {
            let ring = ring
                .capacity(128)
                .ingress("in")
                .egress("out")
                .wait_strategy(WaitStrategy::Parking);
            let (ring, a) = ring.stage(
                "a",
                Batches {
                    next: 0,
                    batch_start: 0,
                    saw_end_of_batch: false,
                    batches: batches.clone(),
                    ended: ended.clone(),
                    jitter: Jitter::new(seed, 5, 37),
                },
            );
            let (ring, _) = ring.stage_after(
                "b",
                AfterBatch {
                    ended: ended.clone(),
                },
                [a],
            );
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        let mut rng = XorShift::new(seed);
        let mut i = 0;
        while i < EVENTS {
            // Bursts, so batches of many sizes form.
            let burst = rng.range(1, 100).min(EVENTS - i);
            producer
                .publish_batch(burst as usize, |_, e| *e = Ev::default())
                .unwrap();
            i += burst;
            if rng.one_in(4) {
                std::thread::yield_now();
            }
        }
        drop(producer);
        let report = control.join_timeout(TIMEOUT).expect("clean join");
        assert_eq!(report.processed("b"), EVENTS);
        let batches = batches.load(Ordering::Relaxed);
        assert!((1..=EVENTS).contains(&batches), "{batches} batches");
        println!("{EVENTS} events in {batches} batches");
    });
}
