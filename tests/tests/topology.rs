//! Topologies: a diamond runs its join stage only after both branches finished an event;
//! parallel stages each see every event; a mutating stage must be ordered against every other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use byteor::prelude::*;
use tests::{bounded, mix, test_seed, Ev, Jitter, TIMEOUT};

fn diamond_value(i: u64) -> u64 {
    i * 5 + 3
}

/// Per-branch side storage, one cell per sequence: a branch writes its mark after handling the
/// event; the join stage reads both marks.
type Marks = Arc<[AtomicU64]>;

/// `a`: the only writer before the branches. Sees the producer's fresh event and stamps it.
struct Stamp {
    count: Arc<AtomicU64>,
}

impl MutStage<Ev> for Stamp {
    fn on_event(&mut self, e: &mut Ev, ctx: &EventContext) -> Result<(), StageError> {
        if e.stamp != 0 || e.value != diamond_value(ctx.sequence) {
            return Err(StageError::msg(format!(
                "a: sequence {} holds value {} stamp {:#x} (expected a fresh event)",
                ctx.sequence, e.value, e.stamp
            )));
        }
        e.stamp = mix(e.value);
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// `b` and `c`: read `a`'s stamp, then leave a mark for the join stage.
struct Branch {
    name: &'static str,
    offset: u64,
    marks: Marks,
    jitter: Jitter,
}

impl Stage<Ev> for Branch {
    fn on_event(&mut self, e: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        if e.stamp != mix(e.value) || e.value != diamond_value(ctx.sequence) {
            return Err(StageError::msg(format!(
                "{}: sequence {} is not stamped by a (value {}, stamp {:#x})",
                self.name, ctx.sequence, e.value, e.stamp
            )));
        }
        // Vary the branches' speeds so either may finish an event first.
        self.jitter.step();
        self.marks[ctx.sequence as usize].store(e.value + self.offset, Ordering::Release);
        Ok(())
    }
}

/// `d`: runs after `b` and `c`; both marks of its sequence must already be there. It mutates
/// the event too (it is ordered after every other stage), clearing the stamp.
struct Join {
    b: Marks,
    c: Marks,
    count: Arc<AtomicU64>,
}

impl MutStage<Ev> for Join {
    fn on_event(&mut self, e: &mut Ev, ctx: &EventContext) -> Result<(), StageError> {
        let i = ctx.sequence as usize;
        let (mb, mc) = (
            self.b[i].load(Ordering::Acquire),
            self.c[i].load(Ordering::Acquire),
        );
        if mb != e.value + 1 || mc != e.value + 2 {
            return Err(StageError::msg(format!(
                "d ran sequence {} before both branches finished it (b mark {mb}, c mark {mc}, value {})",
                ctx.sequence, e.value
            )));
        }
        if e.stamp != mix(e.value) {
            return Err(StageError::msg(format!(
                "d: sequence {} lost a's stamp",
                ctx.sequence
            )));
        }
        e.stamp = u64::MAX;
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[test]
fn diamond_join_runs_only_after_both_branches() {
    const EVENTS: u64 = 20_000;
    let seed = test_seed("diamond");
    bounded("diamond", TIMEOUT, move || {
        for strategy in [WaitStrategy::Parking, WaitStrategy::Yielding] {
            let marks_b: Marks = (0..EVENTS).map(|_| AtomicU64::new(0)).collect();
            let marks_c: Marks = (0..EVENTS).map(|_| AtomicU64::new(0)).collect();
            let a_count = Arc::new(AtomicU64::new(0));
            let d_count = Arc::new(AtomicU64::new(0));
            let pipeline = SingleRing::<Ev>::build("diamond", |ring| {
                let ring = ring
                    .capacity(8)
                    .ingress("in")
                    .egress("out")
                    .wait_strategy(strategy);
                let (ring, a) = ring.stage(
                    "a",
                    Stamp {
                        count: a_count.clone(),
                    },
                );
                let (ring, b) = ring.stage_after(
                    "b",
                    Branch {
                        name: "b",
                        offset: 1,
                        marks: marks_b.clone(),
                        jitter: Jitter::new(seed, 7, 101),
                    },
                    [a],
                );
                let (ring, c) = ring.stage_after(
                    "c",
                    Branch {
                        name: "c",
                        offset: 2,
                        marks: marks_c.clone(),
                        jitter: Jitter::new(seed + 1, 5, 97),
                    },
                    [a],
                );
                let (ring, _d) = ring.stage_after(
                    "d",
                    Join {
                        b: marks_b.clone(),
                        c: marks_c.clone(),
                        count: d_count.clone(),
                    },
                    [b, c],
                );
                ring.build()
            })
            .expect("a diamond with mutating ends builds");
            let spec = pipeline.spec().clone();

            let (mut producer, control) = pipeline.spawn().expect("spawn");
            for i in 0..EVENTS {
                producer
                    .publish(|e| {
                        *e = Ev {
                            key: 0,
                            value: diamond_value(i),
                            id: i,
                            stamp: 0,
                        }
                    })
                    .expect("publish");
            }
            drop(producer);
            let report = control.join_timeout(TIMEOUT).expect("clean join");
            for stage in ["a", "b", "c", "d"] {
                assert_eq!(
                    report.processed(stage),
                    EVENTS,
                    "{strategy:?} stage {stage}"
                );
            }
            assert_eq!(a_count.load(Ordering::Relaxed), EVENTS);
            assert_eq!(d_count.load(Ordering::Relaxed), EVENTS);
            for i in 0..EVENTS as usize {
                assert_eq!(
                    marks_b[i].load(Ordering::Relaxed),
                    diamond_value(i as u64) + 1
                );
                assert_eq!(
                    marks_c[i].load(Ordering::Relaxed),
                    diamond_value(i as u64) + 2
                );
            }
            // Only `d` is final: the producer gates on it alone.
            let byteor::spec::TopologySpec::SingleRing(ring) = &spec.topology else {
                panic!("a SingleRing pipeline lowers to a SingleRing spec");
            };
            assert_eq!(ring.final_stages().collect::<Vec<_>>(), vec![3]);
        }
    });
}

/// A reading stage that checks every event in order and sums what it saw.
struct Tally {
    next: u64,
    sum: Arc<AtomicU64>,
    count: Arc<AtomicU64>,
    jitter: Jitter,
}

impl Stage<Ev> for Tally {
    fn on_event(&mut self, e: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        // A slot overwritten before this (final) stage read it would show a later value.
        if ctx.sequence != self.next || e.value != diamond_value(ctx.sequence) {
            return Err(StageError::msg(format!(
                "expected sequence {} value {}, got sequence {} value {}",
                self.next,
                diamond_value(self.next),
                ctx.sequence,
                e.value
            )));
        }
        self.next += 1;
        self.sum.fetch_add(e.value, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.jitter.step();
        Ok(())
    }
}

#[test]
fn parallel_stages_each_see_every_event() {
    const EVENTS: u64 = 30_000;
    let seed = test_seed("fan_out");
    bounded("fan-out", TIMEOUT, move || {
        let sums: Vec<Arc<AtomicU64>> = (0..3).map(|_| Arc::default()).collect();
        let counts: Vec<Arc<AtomicU64>> = (0..3).map(|_| Arc::default()).collect();
        let tally = |i: usize, spin: u64, yields: u64| Tally {
            next: 0,
            sum: sums[i].clone(),
            count: counts[i].clone(),
            jitter: Jitter::new(seed + i as u64, spin, yields),
        };
        let pipeline = SingleRing::<Ev>::build("fanout", |ring| {
            let ring = ring
                .capacity(16)
                .ingress("in")
                .egress("out")
                .wait_strategy(WaitStrategy::Parking);
            let (ring, _) = ring.stage("x", tally(0, 1_000_000, 1_000_000));
            let (ring, _) = ring.stage("y", tally(1, 3, 50));
            // `z` is the slow one: it yields on most events, so the producer must wait for it.
            let (ring, _) = ring.stage("z", tally(2, 2, 3));
            ring.build()
        })
        .expect("three parallel readers build");

        let (mut producer, control) = pipeline.spawn().expect("spawn");
        for i in 0..EVENTS {
            producer
                .publish(|e| {
                    *e = Ev {
                        key: i,
                        value: diamond_value(i),
                        id: i,
                        stamp: 0,
                    }
                })
                .expect("publish");
        }
        drop(producer);
        let report = control.join_timeout(TIMEOUT).expect("clean join");
        let expected_sum: u64 = (0..EVENTS).map(diamond_value).sum();
        for (i, stage) in ["x", "y", "z"].iter().enumerate() {
            assert_eq!(report.processed(stage), EVENTS, "stage {stage}");
            assert_eq!(counts[i].load(Ordering::Relaxed), EVENTS, "stage {stage}");
            assert_eq!(
                sums[i].load(Ordering::Relaxed),
                expected_sum,
                "stage {stage}"
            );
        }
    });
}

struct Touch;

impl MutStage<Ev> for Touch {
    fn on_event(&mut self, e: &mut Ev, _: &EventContext) -> Result<(), StageError> {
        e.stamp = 1;
        Ok(())
    }
}

struct Look;

impl Stage<Ev> for Look {
    fn on_event(&mut self, _: &Ev, _: &EventContext) -> Result<(), StageError> {
        Ok(())
    }
}

#[test]
fn mutating_stage_parallel_to_a_reader_is_refused() {
    let err = SingleRing::<Ev>::build("racy", |ring| {
        let ring = ring.ingress("in").egress("out");
        let (ring, _) = ring.stage("writer", Touch);
        let (ring, _) = ring.stage("reader", Look);
        ring.build()
    })
    .expect_err("a writer parallel to a reader must be refused");
    match &err {
        BuildError::UnorderedMutation { stage, other } => {
            assert_eq!(stage, "writer");
            assert_eq!(other, "reader");
        }
        other => panic!("expected UnorderedMutation, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("`writer`") && msg.contains("`reader`"),
        "the message names both stages: {msg}"
    );
}

#[test]
fn mutating_branch_of_a_diamond_is_refused() {
    // a; b (mutating) and c after a: b and c may run on the same event at once.
    let err = SingleRing::<Ev>::build("racy-diamond", |ring| {
        let ring = ring.ingress("in").egress("out");
        let (ring, a) = ring.stage("a", Look);
        let (ring, _) = ring.stage_after("b", Touch, [a]);
        let (ring, _) = ring.stage_after("c", Look, [a]);
        ring.build()
    })
    .expect_err("a mutating branch must be refused");
    match &err {
        BuildError::UnorderedMutation { stage, other } => {
            assert_eq!((stage.as_str(), other.as_str()), ("b", "c"));
        }
        other => panic!("expected UnorderedMutation, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("`b`") && msg.contains("`c`"), "{msg}");

    // Two mutating stages in parallel: refused too.
    let err = SingleRing::<Ev>::build("two-writers", |ring| {
        let ring = ring.ingress("in").egress("out");
        let (ring, _) = ring.stage("w1", Touch);
        let (ring, _) = ring.stage("w2", Touch);
        ring.build()
    })
    .expect_err("two parallel writers must be refused");
    assert!(
        matches!(err, BuildError::UnorderedMutation { .. }),
        "{err:?}"
    );
}

#[test]
fn mutating_stages_ordered_against_all_others_are_accepted() {
    // Writer first, readers after it; writer last, after every reader; transitive order.
    SingleRing::<Ev>::build("write-first", |ring| {
        let ring = ring.ingress("in").egress("out");
        let (ring, w) = ring.stage("w", Touch);
        let (ring, _) = ring.stage_after("r1", Look, [w]);
        let (ring, _) = ring.stage_after("r2", Look, [w]);
        ring.build()
    })
    .expect("writer before every reader");
    SingleRing::<Ev>::build("write-last", |ring| {
        let ring = ring.ingress("in").egress("out");
        let (ring, r1) = ring.stage("r1", Look);
        let (ring, r2) = ring.stage("r2", Look);
        let (ring, _) = ring.stage_after("w", Touch, [r1, r2]);
        ring.build()
    })
    .expect("writer after every reader");
    SingleRing::<Ev>::build("transitive", |ring| {
        let ring = ring.ingress("in").egress("out");
        let (ring, w1) = ring.stage("w1", Touch);
        let (ring, r) = ring.stage_after("r", Look, [w1]);
        let (ring, w2) = ring.stage_after("w2", Touch, [r]);
        let (ring, _) = ring.stage_after("w3", Touch, [w2]);
        ring.build()
    })
    .expect("a chain of writers is ordered transitively");
}

/// What happened to a pipeline with a bad setting: refused by `build`, refused by `spawn`, or
/// running.
#[derive(Debug, PartialEq)]
enum Refusal {
    Build(String),
    Spawn(String),
    Runs,
}

fn try_capacity(capacity: u32) -> Refusal {
    let built = SingleRing::<Ev>::build("capacity", |ring| {
        let ring = ring.capacity(capacity).ingress("in").egress("out");
        let (ring, _) = ring.stage("look", Look);
        ring.build()
    });
    match built {
        Err(e) => Refusal::Build(e.to_string()),
        Ok(p) => match p.spawn() {
            Err(e) => Refusal::Spawn(e.to_string()),
            Ok(_) => Refusal::Runs,
        },
    }
}

#[test]
fn a_ring_with_an_invalid_capacity_never_runs() {
    for capacity in [0, 1, 3, 1000] {
        let refusal = try_capacity(capacity);
        match &refusal {
            Refusal::Build(msg) | Refusal::Spawn(msg) => {
                assert!(msg.contains(&capacity.to_string()), "{msg}")
            }
            Refusal::Runs => panic!("capacity {capacity} was accepted"),
        }
    }
    assert_eq!(try_capacity(2), Refusal::Runs);
}

// `RingBuilder::capacity` documents the value as "checked by `build`": plan validation refuses
// a capacity that is not a power of two >= 2 before any thread starts.
#[test]
fn an_invalid_capacity_is_refused_by_build() {
    for capacity in [0, 1, 3, 1000] {
        assert!(
            matches!(try_capacity(capacity), Refusal::Build(_)),
            "capacity {capacity}"
        );
    }
}

// `RingBuilder::ordering` documents "`Strict` with several shards is refused by `build`", as
// the design requires `ordering = Strict` to have `shards == 1`.
#[test]
fn strict_ordering_with_several_shards_is_refused_by_build() {
    let built = SingleRing::<Ev>::build("strict-sharded", |ring| {
        let ring = ring
            .ingress("in")
            .egress("out")
            .shards(2, "key", |e: &Ev| e.key)
            .ordering(OrderingMode::Strict);
        let (ring, _) = ring.stage("look", per_shard(|_| Look));
        ring.build()
    });
    assert!(built.is_err(), "Strict with 2 shards must be refused");
}

// `shards(0, ..)` is refused by `build` (plan validation: shards >= 1), so no pipeline without
// a shard can start and its first publish can never index an empty shard table.
#[test]
fn zero_shards_is_refused_before_running() {
    let built = SingleRing::<Ev>::build("no-shards", |ring| {
        let ring = ring
            .ingress("in")
            .egress("out")
            .shards(0, "key", |e: &Ev| e.key);
        let (ring, _) = ring.stage("look", per_shard(|_| Look));
        ring.build()
    });
    if let Ok(pipeline) = built {
        assert!(pipeline.spawn().is_err(), "zero shards must be refused");
    }
}
