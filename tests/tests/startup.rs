//! Starting a pipeline: bad input is refused with an error naming it, never a panic or an
//! abort later; `spawn` never panics and never leaves a thread behind; thread names fit the
//! OS limit; a built pipeline can be named in a signature.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use byteor::exec::{
    shard_for_key, thread_name, BoxedPipeline, KeyRouter, ShardKey, SpawnError, StageRegistry,
    THREAD_NAME_MAX_BYTES,
};
use byteor::prelude::*;
use tests::{bounded, finished, Ev, TIMEOUT};

/// Counts how many instances are alive, and records its thread's name.
struct Tracked {
    alive: Arc<AtomicUsize>,
    names: Arc<Mutex<Vec<String>>>,
}

impl Tracked {
    fn new(alive: &Arc<AtomicUsize>, names: &Arc<Mutex<Vec<String>>>) -> Self {
        alive.fetch_add(1, Ordering::SeqCst);
        Tracked {
            alive: Arc::clone(alive),
            names: Arc::clone(names),
        }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked::new(&self.alive, &self.names)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Stage<Ev> for Tracked {
    fn on_start(&mut self, _: &StageInfo) -> Result<(), StageError> {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        self.names.lock().unwrap().push(name);
        Ok(())
    }

    fn on_event(&mut self, _: &Ev, _: &EventContext) -> Result<(), StageError> {
        Ok(())
    }
}

#[test]
fn a_panicking_stage_factory_is_an_error_and_stops_the_started_threads() {
    bounded("factory panic", TIMEOUT, || {
        let alive = Arc::new(AtomicUsize::new(0));
        let names = Arc::default();
        let first = Tracked::new(&alive, &names);
        let (a, n) = (Arc::clone(&alive), Arc::clone(&names));
        let pipeline = SingleRing::<Ev>::build("factory", |ring| {
            let ring = ring
                .capacity(16)
                .ingress("in")
                .egress("out")
                .shards(2, "key", |e: &Ev| e.key);
            let (ring, first) = ring.stage("first", first);
            let (ring, _) = ring.stage_after(
                "second",
                per_shard(move |shard| {
                    if shard == 1 {
                        panic!("no config for shard {shard}");
                    }
                    Tracked::new(&a, &n)
                }),
                [first],
            );
            ring.build()
        })
        .unwrap();
        // `first` runs on two threads by now; `second` fails on shard 1.
        let err = pipeline.spawn().unwrap_err();
        match &err {
            SpawnError::InstancePanicked {
                stage,
                shard,
                reason,
            } => {
                assert_eq!((stage.as_str(), *shard), ("second", 1));
                assert!(reason.contains("no config for shard 1"), "{reason}");
            }
            other => panic!("expected InstancePanicked, got {other:?}"),
        }
        assert!(err.to_string().contains("`second`"), "{err}");
        // Every instance is gone: the threads that had started were joined before the error
        // came back (each thread owns its instance until it ends).
        assert_eq!(
            alive.load(Ordering::SeqCst),
            0,
            "a stage thread outlived spawn"
        );
    });
}

#[test]
fn names_with_control_characters_are_refused_before_anything_starts() {
    for (pipeline, stage) in [("a\0b", "s"), ("p", "st\0ge"), ("p", "tab\tbed")] {
        let err = SingleRing::<Ev>::build(pipeline, |ring| {
            let ring = ring.ingress("in").egress("out");
            let (ring, _) = ring.stage(stage, from_fn(|_: &Ev, _: &EventContext| Ok(())));
            ring.build()
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("U+0000") || text.contains("U+0009"),
            "the violation names the character: {text}"
        );
    }
}

#[test]
fn thread_names_fit_the_os_limit_and_stay_readable() {
    bounded("thread names", TIMEOUT, || {
        let alive = Arc::new(AtomicUsize::new(0));
        let names = Arc::new(Mutex::new(Vec::new()));
        let stage = Tracked::new(&alive, &names);
        let pipeline = SingleRing::<Ev>::build("market_data_feed", |ring| {
            let ring = ring
                .capacity(16)
                .ingress("in")
                .egress("out")
                .shards(12, "key", |e: &Ev| e.key);
            let (ring, _) = ring.stage("normalize_quotes", stage);
            ring.build()
        })
        .unwrap();
        let (producer, control) = pipeline.spawn().unwrap();
        drop(producer);
        finished(control.join_timeout(TIMEOUT)).expect("clean join");
        let mut names = names.lock().unwrap().clone();
        names.sort();
        assert_eq!(names.len(), 12);
        for (shard, name) in (0..12u32).map(|s| {
            (
                s,
                thread_name("market_data_feed", "normalize_quotes", Some(s)),
            )
        }) {
            assert!(name.len() <= THREAD_NAME_MAX_BYTES, "{name}");
            assert!(name.ends_with(&format!(".{shard}")), "{name}");
            assert!(names.contains(&name), "{name} not in {names:?}");
        }
        assert!(names.contains(&"normalize_quo.3".to_owned()), "{names:?}");
        assert!(names.contains(&"normalize_qu.11".to_owned()), "{names:?}");
    });
    // Short names keep the pipeline in front; anything odd becomes `_`.
    assert_eq!(thread_name("fx", "risk", None), "fx:risk");
    assert_eq!(thread_name("fx", "ri\0sk", Some(2)), "fx:ri_sk.2");
    assert_eq!(thread_name("fx", "", None), "fx:");
    assert!(thread_name("é", "ü", None).is_ascii());
}

#[test]
fn rings_larger_than_the_memory_limit_are_refused_at_build() {
    #[derive(Clone, Copy)]
    struct Page {
        _bytes: [u64; 512],
    }
    impl Default for Page {
        fn default() -> Self {
            Page { _bytes: [0; 512] }
        }
    }
    // 2^20 slots of 4 KiB: within the slot limit, 4 GiB of ring memory.
    let err = SingleRing::<Page>::build("pages", |ring| {
        let ring = ring.capacity(1 << 20).ingress("in").egress("out");
        let (ring, _) = ring.stage("s", from_fn(|_: &Page, _: &EventContext| Ok(())));
        ring.build()
    })
    .unwrap_err();
    assert!(matches!(err, BuildError::RingMemory(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("`pages`") && text.contains("4294967296"),
        "{text}"
    );
}

#[test]
fn capacities_shards_and_threads_past_the_v1_limits_are_refused() {
    let ring = |capacity: u32, shards: u32| {
        SingleRing::<Ev>::build("limits", |ring| {
            let ring = ring.capacity(capacity).ingress("in").egress("out").shards(
                shards,
                "key",
                |e: &Ev| e.key,
            );
            let (ring, _) = ring.stage("s", from_fn(|_: &Ev, _: &EventContext| Ok(())));
            ring.build()
        })
    };
    // Each used to validate and then abort the process allocating (16 GiB ring, 68 GB of
    // handlers) or start a million threads.
    for (capacity, shards) in [(1 << 31, 1), (1024, u32::MAX), (1024, 1_000_000)] {
        match ring(capacity, shards) {
            Err(BuildError::InvalidPlan(errors)) => {
                let text = errors.to_string();
                assert!(
                    text.contains("capacity") || text.contains("shards"),
                    "{capacity} x {shards}: {text}"
                );
            }
            other => panic!("{capacity} x {shards}: expected a refused plan, got {other:?}"),
        }
    }
    assert!(ring(byteor::RING_V1_MAX_CAPACITY, 1).is_ok());
    assert!(ring(16, byteor::SINGLE_RING_V1_MAX_SHARDS).is_ok());

    // The same through a plan document and the registry.
    let registry = StageRegistry::<Ev>::new();
    let doc = |shards: u64| {
        format!(
            "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[ingress]]\nname = \"in\"\n\
             [[egress]]\nname = \"out\"\n[[stages]]\nname = \"s\"\n[single_ring]\n\
             shards = {shards}\nordering = \"per_key\"\nshard_key = \"k\"\n"
        )
    };
    let plan = PipelinePlanV2::from_toml(&doc(4_294_967_295)).unwrap();
    let err = registry.resolve(&plan).unwrap_err();
    assert!(err.to_string().contains("shards"), "{err}");
}

/// The shard key as a named type, so a sharded pipeline's type can be written down.
struct ByKey;

impl ShardKey<Ev> for ByKey {
    fn key(&self, e: &Ev) -> u64 {
        e.key
    }
}

/// A service keeps its pipeline in a field until it starts.
struct Service {
    pipeline: Option<BoxedPipeline<Ev>>,
}

fn counting(name: &str, seen: &Arc<AtomicU64>) -> BoxedPipeline<Ev> {
    let seen = Arc::clone(seen);
    SingleRing::<Ev>::build(name, |ring| {
        let ring = ring.capacity(64).ingress("in").egress("out");
        let (ring, first) = ring.stage("first", from_fn(|_: &Ev, _: &EventContext| Ok(())));
        let (ring, _) = ring.stage_after(
            "count",
            from_fn(move |_: &Ev, _: &EventContext| {
                seen.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }),
            [first],
        );
        ring.build()
    })
    .unwrap()
    .boxed()
}

#[test]
fn built_pipelines_can_be_named_in_signatures_and_fields() {
    bounded("boxed pipelines", TIMEOUT, || {
        let seen = Arc::new(AtomicU64::new(0));
        let mut service = Service {
            pipeline: Some(counting("boxed", &seen)),
        };
        let pipeline = service.pipeline.take().unwrap();
        assert_eq!(pipeline.plan().stages.len(), 2);
        let (mut producer, control) = pipeline.spawn().unwrap();
        for id in 0..1000 {
            producer.publish(|e| e.id = id).unwrap();
        }
        drop(producer);
        let report = finished(control.join_timeout(TIMEOUT)).unwrap();
        assert_eq!(report.processed("count"), 1000);
        assert_eq!(seen.load(Ordering::Relaxed), 1000);
    });
    // A sharded pipeline with a named key type: nameable, routed like a closure key.
    bounded("boxed sharded pipeline", TIMEOUT, || {
        let sharded: BoxedPipeline<Ev, KeyRouter<ByKey>> =
            SingleRing::<Ev>::build("keyed", |ring| {
                let ring = ring
                    .capacity(64)
                    .ingress("in")
                    .egress("out")
                    .shards_by(2, "key", ByKey);
                let (ring, _) = ring.stage("s", from_fn(|_: &Ev, _: &EventContext| Ok(())));
                ring.build()
            })
            .unwrap()
            .boxed();
        let (mut producer, control) = sharded.spawn().unwrap();
        for key in 0..100 {
            producer.publish(|e| e.key = key).unwrap();
        }
        drop(producer);
        let report = finished(control.join_timeout(TIMEOUT)).unwrap();
        let expected: Vec<u64> = (0..2)
            .map(|s| (0..100).filter(|&k| shard_for_key(k, 2) == s).count() as u64)
            .collect();
        assert_eq!(report.published, expected);
        assert_eq!(report.processed("s"), 100);
    });
}
