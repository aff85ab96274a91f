//! Randomized stress: many pipelines of random shape (1–4 stages with random dependencies, an
//! optional mutating first stage, random capacity, wait strategy and shard count) each carry
//! tens of thousands of events through jittered stages. Every stage instance checks, event by
//! event, that sequences are consecutive, ids increase (publication order per ring), the event
//! is intact (not stale or torn), it sits on the shard its key maps to, and every stage it
//! depends on already finished it. At the end every stage must have handled every event
//! exactly once (count and checksum). Plus one long run of about two million events.
//!
//! Seeds are printed; replay a failure with `BYTEOR_TEST_SEED=<seed>`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use byteor::exec::{shard_for_key, Router, SingleRingPipeline, StageList, StageRef};
use byteor::prelude::*;
use tests::{bounded, mix, test_seed, Ev, Jitter, XorShift};

const NAMES: [&str; 4] = ["s0", "s1", "s2", "s3"];
const KEYS: u64 = 64;
/// Largest batch the producer publishes (batches are also bounded by the capacity).
const MAX_BATCH: usize = 256;

/// Each stress pipeline (and the long run) must finish within this; a hang fails the test.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

fn value_of(id: u64) -> u64 {
    id ^ 0x0123_4567_89AB_CDEF
}

#[derive(Debug, Clone)]
struct Shape {
    stages: usize,
    /// `deps[i]`: bit mask of the earlier stages stage `i` runs after.
    deps: [u32; 4],
    /// Stage 0 is a `MutStage` (only when every other stage runs after it).
    mutate_first: bool,
    capacity: u32,
    strategy: WaitStrategy,
    shards: u32,
    events: u64,
    seed: u64,
}

/// Bit mask of every stage `stage` runs after, directly or transitively.
fn ancestors(deps: &[u32; 4], stage: usize) -> u32 {
    let mut acc = 0;
    for j in 0..stage {
        if deps[stage] & (1 << j) != 0 {
            acc |= (1 << j) | ancestors(deps, j);
        }
    }
    acc
}

impl Shape {
    fn random(rng: &mut XorShift, events: (u64, u64)) -> Shape {
        let stages = rng.range(1, 4) as usize;
        let mut deps = [0u32; 4];
        for (i, d) in deps.iter_mut().enumerate().take(stages).skip(1) {
            for j in 0..i {
                if rng.one_in(2) {
                    *d |= 1 << j;
                }
            }
        }
        let first_orders_all = (1..stages).all(|i| ancestors(&deps, i) & 1 != 0);
        Shape {
            stages,
            deps,
            mutate_first: first_orders_all && rng.one_in(2),
            capacity: 1 << rng.range(1, 8),
            strategy: if rng.one_in(2) {
                WaitStrategy::Parking
            } else {
                WaitStrategy::Yielding
            },
            shards: rng.range(1, 3) as u32,
            events: rng.range(events.0, events.1),
            seed: rng.next_u64(),
        }
    }
}

/// Totals shared by every instance of every stage.
struct Shared {
    /// `[shard * 4 + stage]`: one past the last sequence the stage finished on that shard.
    progress: Box<[AtomicU64]>,
    count: [AtomicU64; 4],
    checksum: [AtomicU64; 4],
    shutdowns: [AtomicU64; 4],
}

impl Shared {
    fn new(shards: u32) -> Arc<Self> {
        Arc::new(Shared {
            progress: (0..shards * 4).map(|_| AtomicU64::new(0)).collect(),
            count: Default::default(),
            checksum: Default::default(),
            shutdowns: Default::default(),
        })
    }
}

/// The checks every stage instance runs.
struct Core {
    stage: usize,
    shard: u32,
    shards: u32,
    deps: u32,
    arrivals: u64,
    last_id: Option<u64>,
    checksum: u64,
    shared: Arc<Shared>,
    jitter: Jitter,
}

impl Core {
    fn new(stage: usize, shard: u32, shape: &Shape, shared: &Arc<Shared>) -> Self {
        Core {
            stage,
            shard,
            shards: shape.shards,
            deps: shape.deps[stage],
            arrivals: 0,
            last_id: None,
            checksum: 0,
            shared: shared.clone(),
            jitter: Jitter::new(
                shape.seed ^ ((stage as u64) << 8) ^ u64::from(shard),
                [3, 17, 61, 251][stage],
                [97, 499, 1021, 4093][stage],
            ),
        }
    }

    fn fail(&self, e: &Ev, ctx: &EventContext, what: impl std::fmt::Display) -> StageError {
        StageError::msg(format!(
            "{} shard {} sequence {} (id {} key {} value {:#x} stamp {:#x}): {what}",
            NAMES[self.stage], self.shard, ctx.sequence, e.id, e.key, e.value, e.stamp
        ))
    }

    fn check(&self, e: &Ev, ctx: &EventContext, stamp: u64) -> Result<(), StageError> {
        if ctx.shard != self.shard {
            return Err(self.fail(e, ctx, "delivered to the wrong instance"));
        }
        if ctx.sequence != self.arrivals {
            return Err(self.fail(e, ctx, format!("expected sequence {}", self.arrivals)));
        }
        if e.value != value_of(e.id) || e.stamp != stamp {
            return Err(self.fail(
                e,
                ctx,
                format!("torn or stale (stamp should be {stamp:#x})"),
            ));
        }
        if self.last_id.is_some_and(|last| e.id <= last) {
            return Err(self.fail(e, ctx, format!("out of order after id {:?}", self.last_id)));
        }
        if self.shards == 1 && e.id != ctx.sequence {
            return Err(self.fail(e, ctx, "id differs from sequence on a single shard"));
        }
        if shard_for_key(e.key, self.shards) as u32 != self.shard {
            return Err(self.fail(e, ctx, "key belongs to another shard"));
        }
        let base = self.shard as usize * 4;
        let mut deps = self.deps;
        while deps != 0 {
            let d = deps.trailing_zeros() as usize;
            deps &= deps - 1;
            let done = self.shared.progress[base + d].load(Ordering::Acquire);
            if done <= ctx.sequence {
                return Err(self.fail(
                    e,
                    ctx,
                    format!("ran before {} finished it ({} done)", NAMES[d], done),
                ));
            }
        }
        Ok(())
    }

    fn finish(&mut self, e: &Ev, ctx: &EventContext) {
        self.arrivals += 1;
        self.last_id = Some(e.id);
        self.checksum = self.checksum.wrapping_add(mix(e.id));
        self.shared.progress[self.shard as usize * 4 + self.stage]
            .store(ctx.sequence + 1, Ordering::Release);
        self.jitter.step();
    }

    fn shutdown(&mut self) {
        let s = &self.shared;
        s.count[self.stage].fetch_add(self.arrivals, Ordering::Relaxed);
        s.checksum[self.stage].fetch_add(self.checksum, Ordering::Relaxed);
        s.shutdowns[self.stage].fetch_add(1, Ordering::Relaxed);
    }
}

struct Check(Core);

impl Stage<Ev> for Check {
    fn on_event(&mut self, e: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        self.0.check(e, ctx, mix(e.id))?;
        self.0.finish(e, ctx);
        Ok(())
    }

    fn on_shutdown(&mut self) {
        self.0.shutdown()
    }
}

/// A mutating first stage: sees the producer's unstamped event and stamps it.
struct StampFirst(Core);

impl MutStage<Ev> for StampFirst {
    fn on_event(&mut self, e: &mut Ev, ctx: &EventContext) -> Result<(), StageError> {
        self.0.check(e, ctx, 0)?;
        e.stamp = mix(e.id);
        self.0.finish(e, ctx);
        Ok(())
    }

    fn on_shutdown(&mut self) {
        self.0.shutdown()
    }
}

/// What the producer published.
struct Expected {
    per_shard: Vec<u64>,
    checksum: u64,
}

fn produce<K: Router<Ev>>(
    producer: &mut Producer<Ev, K>,
    shape: &Shape,
) -> Result<Expected, String> {
    let mut rng = XorShift::new(shape.seed ^ 0xFEED);
    let mut jitter = Jitter::new(shape.seed ^ 0xBEEF, 31, 509);
    let mut expected = Expected {
        per_shard: vec![0; shape.shards as usize],
        checksum: 0,
    };
    let stamp = |id: u64| if shape.mutate_first { 0 } else { mix(id) };
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut id = 0u64;
    while id < shape.events {
        let key = rng.below(KEYS);
        match rng.below(10) {
            0..=5 => {
                producer
                    .publish(|e| {
                        *e = Ev {
                            key,
                            value: value_of(id),
                            id,
                            stamp: stamp(id),
                        }
                    })
                    .map_err(|e| format!("publish {id}: {e}"))?;
                expected.per_shard[shard_for_key(key, shape.shards)] += 1;
                expected.checksum = expected.checksum.wrapping_add(mix(id));
                id += 1;
            }
            6..=8 => {
                let size = rng
                    .range(1, u64::from(shape.capacity).min(MAX_BATCH as u64))
                    .min(shape.events - id);
                let keys: [u64; MAX_BATCH] = std::array::from_fn(|_| rng.below(KEYS));
                let base = id;
                producer
                    .publish_batch(size as usize, |i, e| {
                        let id = base + i as u64;
                        *e = Ev {
                            key: keys[i],
                            value: value_of(id),
                            id,
                            stamp: stamp(id),
                        }
                    })
                    .map_err(|e| format!("batch of {size} at {id}: {e}"))?;
                for (i, &key) in keys.iter().enumerate().take(size as usize) {
                    expected.per_shard[shard_for_key(key, shape.shards)] += 1;
                    expected.checksum = expected.checksum.wrapping_add(mix(base + i as u64));
                }
                id += size;
            }
            _ => loop {
                match producer.try_publish(|e| {
                    *e = Ev {
                        key,
                        value: value_of(id),
                        id,
                        stamp: stamp(id),
                    }
                }) {
                    Ok(_) => {
                        expected.per_shard[shard_for_key(key, shape.shards)] += 1;
                        expected.checksum = expected.checksum.wrapping_add(mix(id));
                        id += 1;
                        break;
                    }
                    Err(TryPublishError::Full { .. }) => {
                        if Instant::now() > deadline {
                            return Err(format!("ring stayed full at {id}"));
                        }
                        std::thread::yield_now();
                    }
                    Err(e) => return Err(format!("try_publish {id}: {e}")),
                }
            },
        }
        jitter.step();
    }
    Ok(expected)
}

/// Spawns, produces, drains and checks one built pipeline.
fn drive<L, K>(
    built: Result<SingleRingPipeline<Ev, L, K>, BuildError>,
    shape: &Shape,
    shared: &Arc<Shared>,
) -> Result<(), String>
where
    L: StageList<Ev>,
    K: Router<Ev>,
{
    let pipeline = built.map_err(|e| format!("build: {e}"))?;
    let (mut producer, control) = pipeline.spawn().map_err(|e| format!("spawn: {e}"))?;
    let produced = produce(&mut producer, shape);
    drop(producer);
    let joined = control.join_timeout(RUN_TIMEOUT);
    // A stage failure explains a producer error better than the producer error itself.
    let report = joined.map_err(|e| format!("join: {e}"))?;
    let expected = produced?;

    if report.published != expected.per_shard {
        return Err(format!(
            "published per shard {:?}, expected {:?}",
            report.published, expected.per_shard
        ));
    }
    for (stage, name) in NAMES.iter().enumerate().take(shape.stages) {
        let count = shared.count[stage].load(Ordering::Relaxed);
        let checksum = shared.checksum[stage].load(Ordering::Relaxed);
        let shutdowns = shared.shutdowns[stage].load(Ordering::Relaxed);
        if report.processed(name) != shape.events || count != shape.events {
            return Err(format!(
                "{name}: processed {} / counted {count}, published {}",
                report.processed(name),
                shape.events
            ));
        }
        if checksum != expected.checksum {
            return Err(format!(
                "{name}: checksum differs (an event was lost or doubled)"
            ));
        }
        if shutdowns != u64::from(shape.shards) {
            return Err(format!("{name}: on_shutdown ran {shutdowns} times"));
        }
    }
    for r in &report.stages {
        if r.processed != expected.per_shard[r.shard as usize] {
            return Err(format!(
                "{} shard {}: processed {} of {}",
                r.stage, r.shard, r.processed, expected.per_shard[r.shard as usize]
            ));
        }
    }
    Ok(())
}

fn pick<'id>(handles: &[StageRef<'id>], mask: u32) -> Vec<StageRef<'id>> {
    (0..handles.len())
        .filter(|j| mask & (1 << j) != 0)
        .map(|j| handles[j])
        .collect()
}

/// Adds `shape.stages` stages to `$ring` (the first one given, the rest made by `$rest(i)`)
/// with the shape's dependencies, then builds and drives the pipeline.
macro_rules! wire_and_drive {
    ($ring:expr, $shape:expr, $shared:expr, $first:expr, $rest:expr) => {{
        let shape: &Shape = $shape;
        let (r, h0) = $ring.stage(NAMES[0], $first);
        let mut h = vec![h0];
        if shape.stages == 1 {
            drive(r.build(), shape, $shared)
        } else {
            let (r, h1) = r.stage_after(NAMES[1], $rest(1), pick(&h, shape.deps[1]));
            h.push(h1);
            if shape.stages == 2 {
                drive(r.build(), shape, $shared)
            } else {
                let (r, h2) = r.stage_after(NAMES[2], $rest(2), pick(&h, shape.deps[2]));
                h.push(h2);
                if shape.stages == 3 {
                    drive(r.build(), shape, $shared)
                } else {
                    let (r, _) = r.stage_after(NAMES[3], $rest(3), pick(&h, shape.deps[3]));
                    drive(r.build(), shape, $shared)
                }
            }
        }
    }};
}

fn run_shape(shape: &Shape) -> Result<(), String> {
    let shared = Shared::new(shape.shards);
    let check = |stage: usize| {
        let (shape, shared) = (shape.clone(), shared.clone());
        per_shard(move |shard| Check(Core::new(stage, shard, &shape, &shared)))
    };
    let stamp_first = || {
        let (shape, shared) = (shape.clone(), shared.clone());
        per_shard(move |shard| StampFirst(Core::new(0, shard, &shape, &shared)))
    };
    SingleRing::<Ev>::build("stress", |ring| {
        let ring = ring
            .capacity(shape.capacity)
            .ingress("in")
            .egress("out")
            .wait_strategy(shape.strategy);
        match (shape.shards > 1, shape.mutate_first) {
            (false, false) => wire_and_drive!(ring, shape, &shared, check(0), check),
            (false, true) => wire_and_drive!(ring, shape, &shared, stamp_first(), check),
            (true, mutate_first) => {
                let ring = ring.shards(shape.shards, "key", |e: &Ev| e.key);
                if mutate_first {
                    wire_and_drive!(ring, shape, &shared, stamp_first(), check)
                } else {
                    wire_and_drive!(ring, shape, &shared, check(0), check)
                }
            }
        }
    })
}

fn run_checked(shape: Shape) {
    let desc = format!("{shape:?}");
    let started = Instant::now();
    let outcome = bounded("stress pipeline", RUN_TIMEOUT + Duration::from_secs(30), {
        let shape = shape.clone();
        move || run_shape(&shape)
    });
    if let Err(e) = outcome {
        panic!("stress pipeline failed: {e}\n  shape: {desc}");
    }
    println!("  ok in {:?}: {desc}", started.elapsed());
}

#[test]
fn random_shapes_process_every_event_exactly_once_in_order() {
    let seed = test_seed("stress");
    let mut rng = XorShift::new(seed);
    let (iterations, events) = if cfg!(debug_assertions) {
        (24, (20_000, 40_000))
    } else {
        (50, (20_000, 100_000))
    };
    for _ in 0..iterations {
        run_checked(Shape::random(&mut rng, events));
    }
}

#[test]
fn long_run_of_two_million_events() {
    let seed = test_seed("long_run");
    // Debug builds run a fifth: the point there is the checks, not the volume.
    let events = if cfg!(debug_assertions) {
        400_000
    } else {
        2_000_000
    };
    // Diamond with a mutating head: s0; s1, s2 after s0; s3 after s1 and s2.
    run_checked(Shape {
        stages: 4,
        deps: [0, 0b1, 0b1, 0b110],
        mutate_first: true,
        capacity: 1024,
        strategy: WaitStrategy::Parking,
        shards: 1,
        events,
        seed,
    });
    // And a sharded chain.
    run_checked(Shape {
        stages: 2,
        deps: [0, 0b1, 0, 0],
        mutate_first: false,
        capacity: 256,
        strategy: WaitStrategy::Parking,
        shards: 2,
        events: events / 2,
        seed: seed + 1,
    });
}

#[test]
fn every_shape_kind_is_generated() {
    // Guards the generator: over many draws, every stage count, shard count, both strategies
    // and mutating heads all appear, so the stress test covers them.
    let mut rng = XorShift::new(1);
    let shapes: Vec<Shape> = (0..500).map(|_| Shape::random(&mut rng, (1, 1))).collect();
    for n in 1..=4 {
        assert!(shapes.iter().any(|s| s.stages == n), "{n} stages");
    }
    for n in 1..=3 {
        assert!(shapes.iter().any(|s| s.shards == n), "{n} shards");
    }
    assert!(shapes.iter().any(|s| s.mutate_first));
    assert!(shapes.iter().any(|s| s.strategy == WaitStrategy::Yielding));
    assert!(shapes.iter().any(|s| s.capacity == 2) && shapes.iter().any(|s| s.capacity == 256));
    assert!(shapes.iter().any(|s| s.stages == 4 && s.deps[3] == 0b110));
    for s in &shapes {
        if s.mutate_first {
            assert!(
                (1..s.stages).all(|i| ancestors(&s.deps, i) & 1 != 0),
                "{s:?}"
            );
        }
    }
}
