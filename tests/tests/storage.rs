//! The executor over any `RingStorage`: the same behaviour — order per ring and per key,
//! everything drained on shutdown, a failing stage named, all-or-nothing batches — over the
//! in-process `MemRing`, over a ring laid out in a caller's byte buffer (`BufferRing`) and over
//! a shared-memory region (`ShmRing`). Storage that does not fit what a shard needs is refused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use byteor::backing::{BackingError, MemRing, RingStorage};
use byteor::exec::{KeyRouter, PipelineError, RingRequest, SpawnError};
use byteor::prelude::*;
use tests::buffer_ring::{BufferRing, RingBuffer};
use tests::{bounded, finished, test_seed, Ev, XorShift, TIMEOUT};

/// Makes the ring of one shard.
trait Storage: Copy + Send + 'static {
    type Ring: RingStorage<Event = Ev>;
    fn make(self, want: RingRequest) -> Result<Self::Ring, BackingError>;
}

#[derive(Clone, Copy)]
struct InProcess;

impl Storage for InProcess {
    type Ring = MemRing<Ev>;
    fn make(self, want: RingRequest) -> Result<MemRing<Ev>, BackingError> {
        MemRing::new(want.capacity, want.stages)
    }
}

#[derive(Clone, Copy)]
struct InBuffer;

impl Storage for InBuffer {
    type Ring = BufferRing<Ev>;
    fn make(self, want: RingRequest) -> Result<BufferRing<Ev>, BackingError> {
        let layout = BufferRing::<Ev>::layout(want.capacity, want.stages);
        BufferRing::new_in(RingBuffer::zeroed(layout.bytes), want.capacity, want.stages)
    }
}

impl Storage for tests::shm::InShm {
    type Ring = byteor::backing::ShmRing<Ev>;
    fn make(self, want: RingRequest) -> Result<Self::Ring, BackingError> {
        tests::shm::InShm::make(self, want)
    }
}

/// Storage in shared-memory regions of a directory removed when the guard drops.
fn in_shm(label: &str) -> (tests::shm::ShmDir, tests::shm::InShm) {
    let dir = tests::shm::ShmDir::new(label);
    let storage = tests::shm::InShm {
        dir: dir.leak_path(),
    };
    (dir, storage)
}

/// Checks that every key's values arrive in increasing order and counts events.
#[derive(Clone)]
struct PerKeyOrder {
    last: Arc<Mutex<Vec<u64>>>,
    seen: Arc<AtomicU64>,
}

impl PerKeyOrder {
    fn new(keys: usize) -> Self {
        PerKeyOrder {
            last: Arc::new(Mutex::new(vec![0; keys])),
            seen: Arc::default(),
        }
    }
}

impl Stage<Ev> for PerKeyOrder {
    fn on_event(&mut self, e: &Ev, _: &EventContext) -> Result<(), StageError> {
        let mut last = self.last.lock().unwrap();
        let slot = &mut last[e.key as usize];
        if e.value <= *slot {
            return Err(StageError::msg(format!(
                "key {} went back: {} after {}",
                e.key, e.value, slot
            )));
        }
        *slot = e.value;
        self.seen.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Stamps each event (the one mutating stage).
struct Stamp;

impl MutStage<Ev> for Stamp {
    fn on_event(&mut self, e: &mut Ev, _: &EventContext) -> Result<(), StageError> {
        e.stamp = tests::mix(e.id);
        Ok(())
    }
}

/// Fails on event `at` (when set), checks stamps otherwise.
#[derive(Clone)]
struct Check {
    fail_at: Option<u64>,
    seen: Arc<AtomicU64>,
}

impl Stage<Ev> for Check {
    fn on_event(&mut self, e: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        if Some(ctx.sequence) == self.fail_at {
            return Err(StageError::msg(format!("refused event {}", ctx.sequence)));
        }
        if e.stamp != tests::mix(e.id) {
            return Err(StageError::msg(format!("event {} not stamped", e.id)));
        }
        self.seen.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn chain_in_order<S: Storage>(storage: S, seed: u64) {
    let mut rng = XorShift::new(seed);
    for round in 0..8 {
        let capacity = 1u32 << rng.range(1, 8);
        let total = rng.range(1, 5_000);
        let order = PerKeyOrder::new(1);
        let check = Check {
            fail_at: None,
            seen: Arc::default(),
        };
        let pipeline = SingleRing::<Ev>::build("chain", |ring| {
            let ring = ring
                .capacity(capacity)
                .ingress("in")
                .egress("out")
                .wait_strategy(WaitStrategy::Yielding);
            let (ring, stamp) = ring.stage("stamp", Stamp);
            let (ring, check_ref) = ring.stage_after("check", check.clone(), [stamp]);
            let (ring, _) = ring.stage_after("order", order.clone(), [check_ref]);
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn_on(|want| storage.make(want)).unwrap();
        let mut id = 0;
        while id < total {
            if rng.one_in(3) {
                let n = rng.range(1, u64::from(capacity)).min(total - id);
                producer
                    .publish_batch(n as usize, |i, e| {
                        let id = id + i as u64;
                        *e = Ev {
                            key: 0,
                            value: id + 1,
                            id,
                            stamp: 0,
                        }
                    })
                    .unwrap();
                id += n;
            } else {
                producer
                    .publish(|e| {
                        *e = Ev {
                            key: 0,
                            value: id + 1,
                            id,
                            stamp: 0,
                        }
                    })
                    .unwrap();
                id += 1;
            }
        }
        drop(producer);
        let report = finished(control.join_timeout(TIMEOUT)).expect("clean join");
        for stage in ["stamp", "check", "order"] {
            assert_eq!(report.processed(stage), total, "round {round}: {stage}");
        }
        assert_eq!(order.seen.load(Ordering::Relaxed), total, "round {round}");
    }
}

fn sharded_per_key<S: Storage>(storage: S, seed: u64) {
    const KEYS: u64 = 16;
    let mut rng = XorShift::new(seed);
    let order = PerKeyOrder::new(KEYS as usize);
    let key: fn(&Ev) -> u64 = |e| e.key;
    let pipeline = SingleRing::<Ev>::build("keys", |ring| {
        let ring = ring
            .capacity(32)
            .ingress("in")
            .egress("out")
            .wait_strategy(WaitStrategy::Yielding)
            .shards(3, "key", key);
        let (ring, _) = ring.stage("order", order.clone());
        ring.build()
    })
    .unwrap();
    let (mut producer, control) = pipeline.spawn_on(|want| storage.make(want)).unwrap();
    let mut next = [0u64; KEYS as usize];
    for id in 0..20_000u64 {
        let k = rng.below(KEYS);
        next[k as usize] += 1;
        let value = next[k as usize];
        producer
            .publish(|e| {
                *e = Ev {
                    key: k,
                    value,
                    id,
                    stamp: 0,
                }
            })
            .unwrap();
    }
    let report = finished(control.shutdown_timeout(TIMEOUT)).expect("clean shutdown");
    drop(producer);
    assert_eq!(report.total_published(), 20_000);
    assert_eq!(report.processed("order"), 20_000);
    assert_eq!(order.seen.load(Ordering::Relaxed), 20_000);
}

fn failure_is_named<S: Storage>(storage: S) {
    let check = Check {
        fail_at: Some(300),
        seen: Arc::default(),
    };
    let pipeline = SingleRing::<Ev>::build("failing", |ring| {
        let ring = ring
            .capacity(64)
            .ingress("in")
            .egress("out")
            .wait_strategy(WaitStrategy::Yielding);
        let (ring, stamp) = ring.stage("stamp", Stamp);
        let (ring, _) = ring.stage_after("check", check.clone(), [stamp]);
        ring.build()
    })
    .unwrap();
    let (mut producer, control) = pipeline.spawn_on(|want| storage.make(want)).unwrap();
    let mut id = 0;
    let err = loop {
        match producer.publish(|e| {
            *e = Ev {
                key: 0,
                value: id,
                id,
                stamp: 0,
            }
        }) {
            Ok(_) => id += 1,
            Err(e) => break e,
        }
    };
    assert!(err.to_string().contains("`check`"), "{err}");
    match finished(control.join_timeout(TIMEOUT)) {
        Err(PipelineError::StageFailed(f)) => {
            assert_eq!((f.stage.as_str(), f.sequence), ("check", Some(300)));
        }
        other => panic!("expected check's failure, got {other:?}"),
    }
    assert_eq!(check.seen.load(Ordering::Relaxed), 300);
}

#[test]
fn a_chain_runs_in_order_over_every_storage() {
    bounded("chain over storages", TIMEOUT, || {
        chain_in_order(InProcess, test_seed("chain in process"));
        chain_in_order(InBuffer, test_seed("chain in buffer"));
        let (_dir, shm) = in_shm("chain");
        chain_in_order(shm, test_seed("chain in shm"));
    });
}

#[test]
fn sharded_rings_keep_per_key_order_over_every_storage() {
    bounded("shards over storages", TIMEOUT, || {
        sharded_per_key(InProcess, test_seed("keys in process"));
        sharded_per_key(InBuffer, test_seed("keys in buffer"));
        let (_dir, shm) = in_shm("keys");
        sharded_per_key(shm, test_seed("keys in shm"));
    });
}

#[test]
fn a_failing_stage_is_named_over_every_storage() {
    bounded("failure over storages", TIMEOUT, || {
        failure_is_named(InProcess);
        failure_is_named(InBuffer);
        let (_dir, shm) = in_shm("failure");
        failure_is_named(shm);
    });
}

/// The producer of a sharded pipeline over buffer rings, named in full.
type BufferProducer = Producer<Ev, KeyRouter<fn(&Ev) -> u64>, BufferRing<Ev>>;

#[test]
fn storage_that_does_not_fit_the_shard_is_refused() {
    let build = || {
        SingleRing::<Ev>::build("fit", |ring| {
            let ring = ring.capacity(64).ingress("in").egress("out");
            let (ring, a) = ring.stage("a", from_fn(|_: &Ev, _: &EventContext| Ok(())));
            let (ring, _) = ring.stage_after("b", from_fn(|_: &Ev, _: &EventContext| Ok(())), [a]);
            ring.build()
        })
        .unwrap()
    };
    type Spawned = Result<
        (
            Producer<Ev, byteor::exec::Unsharded, MemRing<Ev>>,
            Control<Ev>,
        ),
        SpawnError,
    >;
    let problem = |spawned: Spawned| match spawned {
        Err(SpawnError::Storage { shard, problem }) => {
            assert_eq!(shard, 0);
            problem
        }
        Err(other) => panic!("expected a storage error, got {other}"),
        Ok(_) => panic!("expected a storage error, got a running pipeline"),
    };
    // Too small.
    let p = problem(build().spawn_on(|want| MemRing::new(want.capacity / 2, want.stages)));
    assert!(p.contains("capacity is 32, expected 64"), "{p}");
    // One stage sequence short.
    let p = problem(build().spawn_on(|want| MemRing::new(want.capacity, want.stages - 1)));
    assert!(p.contains("stage sequence count is 1, expected 2"), "{p}");
    // A ring that was used before.
    let p = problem(build().spawn_on(|want| {
        let ring = MemRing::new(want.capacity, want.stages)?;
        ring.cursor().store(5);
        Ok(ring)
    }));
    assert!(p.contains("fresh ring is 5"), "{p}");
    // The provider's own error comes back as a backing error.
    let spawned = build().spawn_on(|_| -> Result<MemRing<Ev>, BackingError> {
        Err(BackingError::OutOfMemory { bytes: 1 << 20 })
    });
    assert!(
        matches!(
            spawned,
            Err(SpawnError::Backing(BackingError::OutOfMemory { .. }))
        ),
        "{spawned:?}"
    );
    // A router type as before: the producer of a sharded pipeline over buffer rings.
    let key: fn(&Ev) -> u64 = |e| e.key;
    let sharded = SingleRing::<Ev>::build("typed", |ring| {
        let ring = ring.ingress("in").egress("out").shards(2, "key", key);
        let (ring, _) = ring.stage("s", from_fn(|_: &Ev, _: &EventContext| Ok(())));
        ring.build()
    })
    .unwrap();
    let spawned: Result<(BufferProducer, Control<Ev, BufferRing<Ev>>), SpawnError> =
        sharded.spawn_on(|want| InBuffer.make(want));
    let (producer, control) = spawned.unwrap();
    drop(producer);
    assert!(finished(control.join_timeout(TIMEOUT)).is_ok());
}

/// A stage kind for plans authored as documents.
#[derive(byteor::StageDescriptor, Default)]
#[stage(name = "pass")]
struct Pass;

impl Stage<Ev> for Pass {
    fn on_event(&mut self, _: &Ev, _: &EventContext) -> Result<(), StageError> {
        Ok(())
    }
}

#[test]
fn a_plan_document_runs_over_caller_storage() {
    bounded("document over buffer rings", TIMEOUT, || {
        let mut registry = byteor::exec::StageRegistry::<Ev>::new();
        registry.register::<Pass>().unwrap();
        let doc = "version = 2\nname = \"doc\"\ntarget = \"single_ring\"\n\
                   [[ingress]]\nname = \"in\"\n[[egress]]\nname = \"out\"\n\
                   [[stages]]\nname = \"first\"\nkind = \"pass\"\n\
                   [[stages]]\nname = \"second\"\nkind = \"pass\"\nafter = [\"first\"]\n\
                   [single_ring]\ncapacity = 64\nshards = 2\nordering = \"per_key\"\n\
                   shard_key = \"key\"\n";
        let plan = PipelinePlanV2::from_toml(doc).unwrap();
        let resolved = registry.resolve(&plan).unwrap();
        let (mut producer, control) = resolved
            .spawn_sharded_on(|e| e.key, |want| InBuffer.make(want))
            .unwrap();
        for id in 0..1_000u64 {
            producer
                .publish(|e| {
                    *e = Ev {
                        key: id % 7,
                        value: id,
                        id,
                        stamp: 0,
                    }
                })
                .unwrap();
        }
        drop(producer);
        let report = finished(control.join_timeout(TIMEOUT)).expect("clean join");
        assert_eq!(report.total_published(), 1_000);
        assert_eq!(report.processed("first"), 1_000);
        assert_eq!(report.processed("second"), 1_000);

        // Unsharded plans need no key; a sharded one without it is refused as before.
        let unsharded = PipelinePlanV2::from_toml(&doc.replace(
            "shards = 2\nordering = \"per_key\"\nshard_key = \"key\"\n",
            "",
        ))
        .unwrap();
        let (producer, control) = registry
            .resolve(&unsharded)
            .unwrap()
            .spawn_on(|want| InBuffer.make(want))
            .unwrap();
        drop(producer);
        assert!(finished(control.join_timeout(TIMEOUT)).is_ok());
        let refused = registry
            .resolve(&plan)
            .unwrap()
            .spawn_on(|want| InBuffer.make(want));
        assert!(
            matches!(
                refused,
                Err(byteor::exec::ResolvedSpawnError::NeedsShardKey { .. })
            ),
            "{refused:?}"
        );
    });
}

#[test]
fn a_boxed_pipeline_refuses_storage_other_than_mem_rings() {
    let boxed = SingleRing::<Ev>::build("boxed", |ring| {
        let ring = ring.capacity(64).ingress("in").egress("out");
        let (ring, _) = ring.stage("s", from_fn(|_: &Ev, _: &EventContext| Ok(())));
        ring.build()
    })
    .unwrap()
    .boxed();
    match boxed.spawn_on(|want| InBuffer.make(want)) {
        Err(SpawnError::Storage { problem, .. }) => {
            assert!(problem.contains("runs over `MemRing` only"), "{problem}")
        }
        Err(other) => panic!("expected a storage error, got {other}"),
        Ok(_) => panic!("a boxed pipeline started over buffer rings"),
    }
}
