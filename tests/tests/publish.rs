//! Publishing: `try_publish` on a full ring refuses without writing, batches of every size up to
//! the capacity arrive in order (sharded too), and a batch larger than the ring is refused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use byteor::exec::{shard_for_key, PipelineState};
use byteor::prelude::*;
use tests::{bounded, mix, test_seed, wait_until, Ev, Gate, Jitter, XorShift, TIMEOUT};

fn value_of(i: u64) -> u64 {
    i * 11 + 5
}

fn ev(i: u64) -> impl FnOnce(&mut Ev) {
    move |e| {
        *e = Ev {
            key: 0,
            value: value_of(i),
            id: i,
            stamp: 0,
        }
    }
}

/// Holds at its first event until the gate opens, then checks that the event it holds was not
/// overwritten meanwhile; records every value it sees.
struct Hold {
    gate: Arc<Gate>,
    values: Arc<[AtomicU64]>,
    held_before: Arc<AtomicU64>,
    held_after: Arc<AtomicU64>,
}

impl Stage<Ev> for Hold {
    fn on_event(&mut self, e: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        if ctx.sequence == 0 {
            self.held_before.store(e.value, Ordering::Relaxed);
            if !self.gate.wait(TIMEOUT) {
                return Err(StageError::msg("the gate never opened"));
            }
            // Re-read the event this stage is still inside: a producer that wrote into its
            // slot while the ring was full would show here.
            self.held_after.store(e.value, Ordering::Relaxed);
        }
        let slot = self
            .values
            .get(ctx.sequence as usize)
            .ok_or_else(|| StageError::msg("more events than published"))?;
        slot.store(e.value, Ordering::Relaxed);
        Ok(())
    }
}

#[test]
fn try_publish_on_a_full_ring_returns_full_and_writes_nothing() {
    const CAPACITY: u64 = 8;
    const TOTAL: u64 = 2_000;
    bounded("try_publish full", TIMEOUT, || {
        let gate = Arc::new(Gate::new());
        let values: Arc<[AtomicU64]> = (0..TOTAL).map(|_| AtomicU64::new(u64::MAX)).collect();
        let held_before = Arc::new(AtomicU64::new(u64::MAX));
        let held_after = Arc::new(AtomicU64::new(u64::MAX));
        let stage = Hold {
            gate: gate.clone(),
            values: values.clone(),
            held_before: held_before.clone(),
            held_after: held_after.clone(),
        };
        let pipeline = SingleRing::<Ev>::build("try", |ring| {
            let ring = ring
                .capacity(CAPACITY as u32)
                .ingress("in")
                .egress("out")
                .wait_strategy(WaitStrategy::Parking);
            let (ring, _) = ring.stage("hold", stage);
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        assert_eq!(producer.capacity(), CAPACITY);

        for i in 0..CAPACITY {
            assert_eq!(producer.try_publish(ev(i)), Ok(i), "room for {CAPACITY}");
        }
        wait_until("the stage to hold event 0", TIMEOUT, || gate.has_waiter());
        for _ in 0..3 {
            let mut called = false;
            assert_eq!(
                producer.try_publish(|e| {
                    called = true;
                    ev(999)(e)
                }),
                Err(TryPublishError::Full { shard: 0 })
            );
            assert!(!called, "a refused try_publish does not touch a slot");
        }
        assert_eq!(producer.published(), CAPACITY);
        let m = control.metrics();
        let hold = &m.shards[0].stages[0];
        assert_eq!(m.published(), CAPACITY);
        assert_eq!((hold.processed, hold.lag), (0, CAPACITY));

        gate.open();
        let deadline = Instant::now() + TIMEOUT;
        let mut refused = 0u64;
        for i in CAPACITY..TOTAL {
            loop {
                match producer.try_publish(ev(i)) {
                    Ok(seq) => {
                        assert_eq!(seq, i);
                        break;
                    }
                    Err(TryPublishError::Full { shard: 0 }) => {
                        refused += 1;
                        assert!(Instant::now() < deadline, "the ring never drained");
                        std::thread::yield_now();
                    }
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
        }
        drop(producer);
        let report = control.join_timeout(TIMEOUT).expect("clean join");
        assert_eq!(report.processed("hold"), TOTAL);
        assert_eq!(held_before.load(Ordering::Relaxed), value_of(0));
        assert_eq!(
            held_after.load(Ordering::Relaxed),
            value_of(0),
            "the held event was overwritten while the ring was full"
        );
        for (i, v) in values.iter().enumerate() {
            assert_eq!(v.load(Ordering::Relaxed), value_of(i as u64), "event {i}");
        }
        println!("try_publish was refused {refused} times while draining");
    });
}

/// Per-shard probe: records keys' values in order and refuses any event carrying `poison`.
#[derive(Clone)]
struct ShardProbe {
    shard: u32,
    shards: u32,
    gate: Option<Arc<Gate>>,
    next_value: Vec<u64>,
    count: Arc<[AtomicU64]>,
    jitter: Jitter,
}

impl Stage<Ev> for ShardProbe {
    fn on_event(&mut self, e: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        if let Some(gate) = &self.gate {
            if ctx.sequence == 0 && !gate.wait(TIMEOUT) {
                return Err(StageError::msg("the gate never opened"));
            }
        }
        if e.stamp != mix(e.id) {
            return Err(StageError::msg(format!(
                "event {} (value {}) was never published or is stale",
                e.id, e.value
            )));
        }
        if shard_for_key(e.key, self.shards) as u32 != self.shard {
            return Err(StageError::msg(format!(
                "key {} on shard {}",
                e.key, self.shard
            )));
        }
        let next = &mut self.next_value[e.key as usize];
        if e.value != *next {
            return Err(StageError::msg(format!(
                "key {}: value {} arrived when {} was next",
                e.key, e.value, *next
            )));
        }
        *next += 1;
        self.count[self.shard as usize].fetch_add(1, Ordering::Relaxed);
        self.jitter.step();
        Ok(())
    }
}

/// A key that maps to `shard` of `shards`.
fn key_on(shard: u32, shards: u32) -> u64 {
    (0..)
        .find(|&k| shard_for_key(k, shards) as u32 == shard)
        .unwrap()
}

#[test]
fn sharded_try_publish_reports_the_full_shard_and_others_keep_flowing() {
    const SHARDS: u32 = 2;
    bounded("sharded try_publish", TIMEOUT, || {
        let gate = Arc::new(Gate::new());
        let count: Arc<[AtomicU64]> = (0..SHARDS).map(|_| AtomicU64::new(0)).collect();
        let (k0, k1) = (key_on(0, SHARDS), key_on(1, SHARDS));
        let keys = (k0.max(k1) + 1) as usize;
        let (g, c) = (gate.clone(), count.clone());
        let pipeline = SingleRing::<Ev>::build("try-sharded", |ring| {
            let ring =
                ring.capacity(4)
                    .ingress("in")
                    .egress("out")
                    .shards(SHARDS, "key", |e: &Ev| e.key);
            let (ring, _) = ring.stage(
                "probe",
                per_shard(move |shard| ShardProbe {
                    shard,
                    shards: SHARDS,
                    gate: (shard == 0).then(|| g.clone()),
                    next_value: vec![0; keys],
                    count: c.clone(),
                    jitter: Jitter::new(u64::from(shard), 1 << 20, 1 << 20),
                }),
            );
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        let mut id = 0u64;
        let mut next = [0u64; 2];
        let mut fill = |key: u64, next: &mut [u64; 2], slot: usize| {
            let value = next[slot];
            id += 1;
            let this = id;
            move |e: &mut Ev| {
                *e = Ev {
                    key,
                    value,
                    id: this,
                    stamp: mix(this),
                }
            }
        };
        for i in 0..4 {
            assert_eq!(producer.try_publish(fill(k0, &mut next, 0)), Ok(i));
            next[0] += 1;
        }
        wait_until("shard 0 to hold", TIMEOUT, || gate.has_waiter());
        // Shard 0 is full. The refused event was filled (to find its shard) but must never be
        // delivered: its stamp is wrong, which the probe would reject.
        let refused = producer.try_publish(|e| {
            *e = Ev {
                key: k0,
                value: 4,
                id: 1_000_000,
                stamp: 0,
            }
        });
        assert_eq!(refused, Err(TryPublishError::Full { shard: 0 }));

        // Shard 1 keeps flowing while shard 0 is stuck.
        let deadline = Instant::now() + TIMEOUT;
        while next[1] < 50 {
            match producer.try_publish(fill(k1, &mut next, 1)) {
                Ok(seq) => {
                    assert_eq!(seq, next[1]);
                    next[1] += 1;
                }
                Err(TryPublishError::Full { shard: 1 }) => {
                    assert!(Instant::now() < deadline, "shard 1 never drained");
                    std::thread::yield_now();
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        wait_until("shard 1 to drain", TIMEOUT, || {
            count[1].load(Ordering::Relaxed) == 50
        });
        assert_eq!(count[0].load(Ordering::Relaxed), 0);
        assert_eq!(control.state(), PipelineState::Running);

        gate.open();
        drop(producer);
        let report = control.join_timeout(TIMEOUT).expect("clean join");
        assert_eq!(report.published, vec![4, 50]);
        assert_eq!(count[0].load(Ordering::Relaxed), 4);
        assert_eq!(report.processed("probe"), 54);
    });
}

/// Checks that events arrive in publication order (value = global index) and stamped.
struct InOrder {
    next: u64,
    count: Arc<AtomicU64>,
}

impl Stage<Ev> for InOrder {
    fn on_event(&mut self, e: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        if ctx.sequence != self.next || e.value != value_of(self.next) || e.stamp != mix(e.value) {
            return Err(StageError::msg(format!(
                "expected event {} (value {}), got sequence {} value {} stamp {:#x}",
                self.next,
                value_of(self.next),
                ctx.sequence,
                e.value,
                e.stamp
            )));
        }
        self.next += 1;
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

struct Stamp;

impl MutStage<Ev> for Stamp {
    fn on_event(&mut self, e: &mut Ev, _: &EventContext) -> Result<(), StageError> {
        e.stamp = mix(e.value);
        Ok(())
    }
}

fn run_batches(strategy: WaitStrategy, capacity: u32, sizes: &[usize], seed: u64) {
    let count = Arc::new(AtomicU64::new(0));
    let checker = InOrder {
        next: 0,
        count: count.clone(),
    };
    let pipeline = SingleRing::<Ev>::build("batches", |ring| {
        let ring = ring
            .capacity(capacity)
            .ingress("in")
            .egress("out")
            .wait_strategy(strategy);
        let (ring, stamp) = ring.stage("stamp", Stamp);
        let (ring, _) = ring.stage_after("check", checker, [stamp]);
        ring.build()
    })
    .unwrap();
    let (mut producer, control) = pipeline.spawn().unwrap();
    let mut rng = XorShift::new(seed);
    let mut total = 0u64;
    for round in 0..400 {
        for &size in sizes {
            let start = total;
            let mut expected_i = 0usize;
            producer
                .publish_batch(size, |i, e| {
                    assert_eq!(i, expected_i, "fill is called in order");
                    expected_i += 1;
                    ev(start + i as u64)(e)
                })
                .unwrap_or_else(|err| panic!("batch of {size} at round {round}: {err}"));
            assert_eq!(expected_i, size, "fill is called once per event");
            total += size as u64;
        }
        // Single publishes and a random-size batch in between.
        producer.publish(ev(total)).unwrap();
        total += 1;
        let size = rng.below(u64::from(capacity) + 1) as usize;
        let start = total;
        producer
            .publish_batch(size, |i, e| ev(start + i as u64)(e))
            .unwrap();
        total += size as u64;
    }
    assert_eq!(producer.published(), total);
    drop(producer);
    let report = control.join_timeout(TIMEOUT).expect("clean join");
    assert_eq!(report.total_published(), total);
    assert_eq!(report.processed("check"), total);
    assert_eq!(count.load(Ordering::Relaxed), total);
}

#[test]
fn publish_batch_of_every_size_delivers_in_order() {
    let seed = test_seed("publish_batch");
    bounded("batches", TIMEOUT, move || {
        run_batches(WaitStrategy::Parking, 16, &[1, 7, 16, 0, 16, 3, 15], seed);
        run_batches(WaitStrategy::Yielding, 8, &[8, 1, 7, 8], seed + 1);
        run_batches(WaitStrategy::Parking, 2, &[1, 2, 2, 1], seed + 2);
    });
}

#[test]
fn batch_larger_than_the_ring_is_refused() {
    bounded("batch too large", TIMEOUT, || {
        let count = Arc::new(AtomicU64::new(0));
        let checker = InOrder {
            next: 0,
            count: count.clone(),
        };
        let pipeline = SingleRing::<Ev>::build("too-large", |ring| {
            let ring = ring.capacity(8).ingress("in").egress("out");
            let (ring, stamp) = ring.stage("stamp", Stamp);
            let (ring, _) = ring.stage_after("check", checker, [stamp]);
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        let mut called = false;
        let err = producer.publish_batch(9, |_, _| called = true).unwrap_err();
        assert_eq!(
            err,
            PublishError::BatchTooLarge {
                requested: 9,
                capacity: 8
            }
        );
        assert!(!called, "nothing was written");
        let msg = err.to_string();
        assert!(msg.contains('9') && msg.contains('8'), "{msg}");
        assert_eq!(producer.published(), 0);
        assert_eq!(control.metrics().published(), 0);
        assert_eq!(
            control.state(),
            PipelineState::Running,
            "refusal is not a failure"
        );

        // A full-ring batch still works afterwards.
        producer
            .publish_batch(8, |i, e| ev(i as u64)(e))
            .expect("a batch of exactly the capacity fits");
        drop(producer);
        let report = control.join_timeout(TIMEOUT).expect("clean join");
        assert_eq!(report.processed("check"), 8);

        // Sharded rings check against the per-shard capacity.
        let pipeline = SingleRing::<Ev>::build("too-large-sharded", |ring| {
            let ring = ring
                .capacity(4)
                .ingress("in")
                .egress("out")
                .shards(2, "key", |e: &Ev| e.key);
            let (ring, _) = ring.stage("stamp", per_shard(|_| Stamp));
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        assert_eq!(
            producer.publish_batch(5, |_, _| called = true),
            Err(PublishError::BatchTooLarge {
                requested: 5,
                capacity: 4
            })
        );
        assert!(!called);
        drop(producer);
        let report = control.join_timeout(TIMEOUT).expect("clean join");
        assert_eq!(report.total_published(), 0);
    });
}

#[test]
fn sharded_batch_publish_keeps_per_key_order() {
    const SHARDS: u32 = 3;
    const KEYS: u64 = 20;
    const EVENTS: u64 = 30_000;
    let seed = test_seed("sharded_batch");
    bounded("sharded batches", TIMEOUT, move || {
        let count: Arc<[AtomicU64]> = (0..SHARDS).map(|_| AtomicU64::new(0)).collect();
        let c = count.clone();
        let pipeline = SingleRing::<Ev>::build("sharded-batches", |ring| {
            let ring = ring
                .capacity(8)
                .ingress("in")
                .egress("out")
                .wait_strategy(WaitStrategy::Parking)
                .shards(SHARDS, "key", |e: &Ev| e.key);
            let (ring, _) = ring.stage(
                "stamp-check",
                per_shard(move |shard| ShardProbe {
                    shard,
                    shards: SHARDS,
                    gate: None,
                    next_value: vec![0; KEYS as usize],
                    count: c.clone(),
                    // Shard 0 is slow, so batches wait on it while other shards run ahead.
                    jitter: if shard == 0 {
                        Jitter::new(seed, 2, 4)
                    } else {
                        Jitter::new(seed + u64::from(shard), 64, 1024)
                    },
                }),
            );
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        let mut rng = XorShift::new(seed);
        let mut next_value = [0u64; KEYS as usize];
        let mut per_shard = [0u64; SHARDS as usize];
        let mut id = 0u64;
        while id < EVENTS {
            let size = rng.range(1, 8).min(EVENTS - id) as usize;
            let keys: Vec<u64> = (0..size).map(|_| rng.below(KEYS)).collect();
            let values: Vec<u64> = keys
                .iter()
                .map(|&k| {
                    let v = next_value[k as usize];
                    next_value[k as usize] += 1;
                    per_shard[shard_for_key(k, SHARDS)] += 1;
                    v
                })
                .collect();
            let base = id;
            producer
                .publish_batch(size, |i, e| {
                    let this = base + i as u64;
                    *e = Ev {
                        key: keys[i],
                        value: values[i],
                        id: this,
                        stamp: mix(this),
                    }
                })
                .unwrap();
            id += size as u64;
        }
        drop(producer);
        let report = control.join_timeout(TIMEOUT).expect("clean join");
        assert_eq!(report.published, per_shard.to_vec());
        for s in 0..SHARDS as usize {
            assert_eq!(count[s].load(Ordering::Relaxed), per_shard[s], "shard {s}");
        }
        assert_eq!(report.processed("stamp-check"), EVENTS);
    });
}

/// Records the values it sees, in order (allocation is fine here).
#[derive(Clone)]
struct Collect(Arc<std::sync::Mutex<Vec<u64>>>);

impl Stage<Ev> for Collect {
    fn on_event(&mut self, e: &Ev, _: &EventContext) -> Result<(), StageError> {
        self.0.lock().unwrap().push(e.value);
        Ok(())
    }
}

/// Publishes 1, then a batch whose fill panics at its third event (caught), then 2; returns
/// the values the stage saw.
fn interrupted_batch<K: byteor::exec::Router<Ev>>(
    mut producer: Producer<Ev, K>,
    control: Control<Ev>,
    seen: &std::sync::Mutex<Vec<u64>>,
) -> Vec<u64> {
    let one = |value: u64| {
        move |e: &mut Ev| {
            *e = Ev {
                value,
                ..Ev::default()
            }
        }
    };
    producer.publish(one(1)).unwrap();
    let interrupted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        producer.publish_batch(4, |i, e| {
            if i == 2 {
                panic!("fill failed");
            }
            *e = Ev {
                value: 100 + i as u64,
                ..Ev::default()
            };
        })
    }));
    assert!(
        interrupted.is_err(),
        "the fill panic propagates to the caller"
    );
    producer.publish(one(2)).expect("the producer stays usable");
    drop(producer);
    let report = control.join_timeout(TIMEOUT).expect("clean join");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(report.total_published(), seen.len() as u64);
    seen
}

#[test]
fn batch_interrupted_by_a_panicking_fill_is_not_delivered() {
    bounded("interrupted batch", TIMEOUT, || {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let pipeline = SingleRing::<Ev>::build("interrupted", |ring| {
            let ring = ring.capacity(16).ingress("in").egress("out");
            let (ring, _) = ring.stage("collect", Collect(seen.clone()));
            ring.build()
        })
        .unwrap();
        let (producer, control) = pipeline.spawn().unwrap();
        assert_eq!(interrupted_batch(producer, control, &seen), vec![1, 2]);
    });
}

// The producer's own contract (see its `Drop`): "anything written but unpublished (a batch
// interrupted by a panicking closure) is not part of the stream". On a sharded ring,
// `publish_batch` advances each shard's write position event by event and publishes only at
// the end; when `fill` panics, no cursor moved, and the next `publish` writes at the cursor,
// so it does not make the interrupted batch's events visible: the stage sees [1, 2] (as on an
// unsharded ring), never [1, 100, 101, 2].
#[test]
fn sharded_batch_interrupted_by_a_panicking_fill_is_not_delivered() {
    bounded("interrupted sharded batch", TIMEOUT, || {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let pipeline = SingleRing::<Ev>::build("interrupted-sharded", |ring| {
            let ring = ring
                .capacity(16)
                .ingress("in")
                .egress("out")
                .shards(2, "key", |e: &Ev| e.key);
            // Every event has key 0, so all of them share one shard.
            let (ring, _) = ring.stage("collect", Collect(s));
            ring.build()
        })
        .unwrap();
        let (producer, control) = pipeline.spawn().unwrap();
        assert_eq!(interrupted_batch(producer, control, &seen), vec![1, 2]);
    });
}

/// A single `publish` whose `fill` panics publishes nothing: the slot it was writing is reused
/// by the next publish, so the stage never sees a half-written (or stale) event.
#[test]
fn publish_interrupted_by_a_panicking_fill_is_not_delivered() {
    bounded("interrupted publish", TIMEOUT, || {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let pipeline = SingleRing::<Ev>::build("interrupted-one", |ring| {
            let ring = ring.capacity(16).ingress("in").egress("out");
            let (ring, _) = ring.stage("collect", Collect(seen.clone()));
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        let one = |value: u64| {
            move |e: &mut Ev| {
                *e = Ev {
                    value,
                    ..Ev::default()
                }
            }
        };
        assert_eq!(producer.publish(one(1)).unwrap(), 0);
        let interrupted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            producer.publish(|e: &mut Ev| {
                e.value = 99;
                panic!("fill failed");
            })
        }));
        assert!(
            interrupted.is_err(),
            "the fill panic propagates to the caller"
        );
        assert_eq!(producer.published(), 1, "nothing was published");
        assert_eq!(
            producer.publish(one(2)).expect("the producer stays usable"),
            1,
            "the next event takes the interrupted one's sequence"
        );
        drop(producer);
        let report = control.join_timeout(TIMEOUT).expect("clean join");
        assert_eq!(report.total_published(), 2);
        assert_eq!(*seen.lock().unwrap(), vec![1, 2]);
    });
}
