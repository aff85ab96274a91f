//! Nothing half-done becomes visible: a sharded batch reaches the stages at once or not at all,
//! and a stage batch that fails is never released to the stages after it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use byteor::exec::{shard_for_key, PipelineState};
use byteor::prelude::*;
use tests::{bounded, finished, test_seed, wait_until, Ev, Gate, XorShift, TIMEOUT};

/// A key that routes to `shard` of 2.
fn key_for(shard: usize) -> u64 {
    (0..).find(|&k| shard_for_key(k, 2) == shard).unwrap()
}

/// Records the end of every batch it sees; the instance for shard 0 can be held in `on_start`
/// until a gate opens, so events pile up before its first batch.
#[derive(Clone)]
struct BatchLog {
    ends: Arc<[Mutex<Vec<u64>>; 2]>,
    events: Arc<[AtomicU64; 2]>,
    hold: Option<Arc<Gate>>,
    shard: u32,
}

impl BatchLog {
    fn new(hold: &Arc<Gate>) -> Self {
        BatchLog {
            ends: Arc::new([Mutex::default(), Mutex::default()]),
            events: Arc::new([AtomicU64::new(0), AtomicU64::new(0)]),
            hold: Some(Arc::clone(hold)),
            shard: 0,
        }
    }

    fn ends(&self, shard: usize) -> Vec<u64> {
        self.ends[shard].lock().unwrap().clone()
    }

    fn events(&self, shard: usize) -> u64 {
        self.events[shard].load(Ordering::Relaxed)
    }
}

impl Stage<Ev> for BatchLog {
    fn on_start(&mut self, info: &StageInfo) -> Result<(), StageError> {
        self.shard = info.shard;
        if info.shard == 0 {
            if let Some(gate) = &self.hold {
                if !gate.wait(TIMEOUT) {
                    return Err(StageError::msg("the gate never opened"));
                }
            }
        }
        Ok(())
    }

    fn on_event(&mut self, _: &Ev, _: &EventContext) -> Result<(), StageError> {
        self.events[self.shard as usize].fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn on_batch_end(&mut self, batch: &BatchContext) -> Result<(), StageError> {
        self.ends[batch.shard as usize]
            .lock()
            .unwrap()
            .push(batch.end);
        Ok(())
    }
}

type Sharded = (
    Producer<Ev, byteor::exec::KeyRouter<fn(&Ev) -> u64>>,
    Control<Ev>,
);

/// Two shards of 16 slots, one logging stage.
fn two_shards(log: &BatchLog) -> Sharded {
    let key: fn(&Ev) -> u64 = |e| e.key;
    SingleRing::<Ev>::build("batches", |ring| {
        let ring = ring
            .capacity(16)
            .ingress("in")
            .egress("out")
            .shards(2, "key", key);
        let (ring, _) = ring.stage("log", log.clone());
        ring.build()
    })
    .unwrap()
    .spawn()
    .unwrap()
}

fn keyed(key: u64, id: u64) -> impl FnOnce(&mut Ev) {
    move |e| {
        *e = Ev {
            key,
            value: id,
            id,
            stamp: 0,
        }
    }
}

/// Opens `gate` once `armed` is set, a little later (long enough for the producer to be
/// waiting for room by then).
fn open_when(gate: &Arc<Gate>, armed: &Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let (gate, armed) = (Arc::clone(gate), Arc::clone(armed));
    std::thread::spawn(move || {
        wait_until("the producer to reach the full shard", TIMEOUT, || {
            armed.load(Ordering::Acquire)
        });
        std::thread::sleep(Duration::from_millis(30));
        gate.open();
    })
}

/// Two shards whose shard-0 stage is held before its first batch, with 12 events waiting on
/// it, and the keys that route to each shard.
struct HeldShard {
    k0: u64,
    k1: u64,
    gate: Arc<Gate>,
    log: BatchLog,
    producer: ShardedProducer,
    control: Control<Ev>,
}

type ShardedProducer = Producer<Ev, byteor::exec::KeyRouter<fn(&Ev) -> u64>>;

fn held_shard_zero() -> HeldShard {
    let (k0, k1) = (key_for(0), key_for(1));
    let gate = Arc::new(Gate::new());
    let log = BatchLog::new(&gate);
    let (mut producer, control) = two_shards(&log);
    for id in 0..12 {
        producer.publish(keyed(k0, id)).unwrap();
    }
    HeldShard {
        k0,
        k1,
        gate,
        log,
        producer,
        control,
    }
}

#[test]
fn a_sharded_batch_that_waits_for_room_is_published_at_once() {
    bounded("sharded batch all at once", TIMEOUT, || {
        let HeldShard {
            k0,
            k1,
            gate,
            log,
            mut producer,
            control,
        } = held_shard_zero();
        // A batch of 8 + 8: shard 0 runs out of room at its 5th event (16 slots), so the batch
        // has to wait for the stage in the middle.
        let armed = Arc::new(AtomicBool::new(false));
        let opener = open_when(&gate, &armed);
        producer
            .publish_batch(16, |i, e| {
                let key = if i % 2 == 0 { k0 } else { k1 };
                if i == 8 {
                    armed.store(true, Ordering::Release);
                }
                keyed(key, 100 + i as u64)(e)
            })
            .unwrap();
        opener.join().unwrap();
        drop(producer);
        let report = finished(control.join_timeout(TIMEOUT)).expect("clean join");
        assert_eq!(report.published, vec![20, 8]);
        // Shard 0: the 12 held events, then the batch's 8 in one piece; shard 1: the batch's 8
        // in one piece (no partial batch was released while the producer waited).
        assert_eq!(log.ends(0), vec![12, 20]);
        assert_eq!(log.ends(1), vec![8]);
    });
}

#[test]
fn a_sharded_batch_whose_fill_panics_after_a_wait_publishes_nothing() {
    bounded("sharded batch panic", TIMEOUT, || {
        let HeldShard {
            k0,
            k1,
            gate,
            log,
            mut producer,
            control,
        } = held_shard_zero();
        assert_eq!(producer.published(), 12);
        let armed = Arc::new(AtomicBool::new(false));
        let opener = open_when(&gate, &armed);
        // 3 events for shard 1, 5 for shard 0 (the 5th waits for room), then a panic.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            producer.publish_batch(10, |i, e| match i {
                0..=2 => keyed(k1, 100 + i as u64)(e),
                3..=7 => {
                    if i == 7 {
                        armed.store(true, Ordering::Release);
                    }
                    keyed(k0, 100 + i as u64)(e)
                }
                _ => panic!("fill gives up at {i}"),
            })
        }));
        assert!(outcome.is_err(), "the panic propagates");
        opener.join().unwrap();
        assert_eq!(producer.published(), 12, "no event of the aborted batch");
        wait_until("shard 0 to drain", TIMEOUT, || log.events(0) == 12);
        assert_eq!(log.events(1), 0, "shard 1 saw nothing of the aborted batch");

        // The producer goes on from where it was.
        producer.publish(keyed(k1, 200)).unwrap();
        producer.publish(keyed(k0, 201)).unwrap();
        drop(producer);
        let report = finished(control.join_timeout(TIMEOUT)).expect("clean join");
        assert_eq!(report.published, vec![13, 1]);
        assert_eq!((log.events(0), log.events(1)), (13, 1));
    });
}

/// `b` of `a -> b -> c`: fails `on_batch_end` (or `on_event`) for the batch that reaches `k`,
/// and records where the last batch whose `on_batch_end` succeeded ended.
#[derive(Clone)]
struct FailingBatch {
    k: u64,
    in_hook: bool,
    last_ok_end: Arc<AtomicU64>,
}

impl Stage<Ev> for FailingBatch {
    fn on_event(&mut self, _: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        if !self.in_hook && ctx.sequence == self.k {
            return Err(StageError::msg("bad event"));
        }
        Ok(())
    }

    fn on_batch_end(&mut self, batch: &BatchContext) -> Result<(), StageError> {
        if self.in_hook && batch.end > self.k {
            return Err(StageError::msg("flush failed"));
        }
        self.last_ok_end.store(batch.end, Ordering::Relaxed);
        Ok(())
    }
}

/// Records one past the highest sequence it handled.
#[derive(Clone, Default)]
struct HighWater(Arc<AtomicU64>);

impl Stage<Ev> for HighWater {
    fn on_event(&mut self, _: &Ev, ctx: &EventContext) -> Result<(), StageError> {
        self.0.fetch_max(ctx.sequence + 1, Ordering::Relaxed);
        Ok(())
    }
}

fn failed_batch_is_not_released(in_hook: bool, seed: u64) {
    let mut rng = XorShift::new(seed);
    for round in 0..40 {
        let k = rng.range(1, 200);
        let capacity = 1u32 << rng.range(1, 7);
        let b = FailingBatch {
            k,
            in_hook,
            last_ok_end: Arc::new(AtomicU64::new(0)),
        };
        let c = HighWater::default();
        let pipeline = SingleRing::<Ev>::build("failed-batch", |ring| {
            let ring = ring.capacity(capacity).ingress("in").egress("out");
            let (ring, a) = ring.stage("a", from_fn(|_: &Ev, _: &EventContext| Ok(())));
            let (ring, b_ref) = ring.stage_after("b", b.clone(), [a]);
            let (ring, _) = ring.stage_after("c", c.clone(), [b_ref]);
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        let mut id = 0;
        while producer.publish(keyed(0, id)).is_ok() {
            id += 1;
            if rng.one_in(16) {
                std::thread::yield_now();
            }
        }
        let failure = control.failure().expect("b failed");
        assert_eq!(failure.stage, "b", "round {round}");
        assert_eq!(control.state(), PipelineState::Failed);
        let start = b.last_ok_end.load(Ordering::Relaxed);
        let released = control.metrics().processed("b");
        // b's progress stays at the end of the last batch whose on_batch_end succeeded (the
        // start of the failed batch), and c never handled an event of the failed batch.
        assert_eq!(
            released, start,
            "round {round} (k {k}, capacity {capacity})"
        );
        assert!(start <= k, "round {round}");
        assert!(
            c.0.load(Ordering::Relaxed) <= start,
            "round {round}: c handled an event of b's failed batch (c reached {}, batch \
             started at {start})",
            c.0.load(Ordering::Relaxed)
        );
        // The failure names the failing event, or the failed batch's last event.
        let sequence = failure.sequence.expect("tied to an event");
        if in_hook {
            assert!(
                sequence >= k && sequence >= start,
                "round {round}: {failure:?}"
            );
        } else {
            assert_eq!(sequence, k, "round {round}: {failure:?}");
        }
        assert!(finished(control.join_timeout(TIMEOUT)).is_err());
    }
}

#[test]
fn a_failed_on_batch_end_never_releases_its_batch_downstream() {
    bounded("failed on_batch_end", TIMEOUT, || {
        failed_batch_is_not_released(true, test_seed("failed on_batch_end"))
    });
}

#[test]
fn a_failed_on_event_never_releases_its_batch_downstream() {
    bounded("failed on_event", TIMEOUT, || {
        failed_batch_is_not_released(false, test_seed("failed on_event"))
    });
}
