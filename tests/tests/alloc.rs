//! No heap allocation per event in steady state.
//!
//! A counting global allocator (this binary only) counts allocations made on the threads that
//! carry events: the producer's thread and every stage thread (each marks itself in
//! `on_start`). After a warm-up, a window of 100 000 events — single publishes, batches,
//! `try_publish`, and an idle pause that lets stage threads park and be woken — must not
//! allocate at all. The window is closed by watching an atomic counter bumped by the final
//! stage, never by `metrics()` (which builds strings).
//!
//! The tests of this file take a lock so that only one pipeline runs at a time: another
//! test's setup on a tracked thread would otherwise show up in the window.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use byteor::exec::Router;
use byteor::prelude::*;
use tests::{bounded, mix, wait_until, Ev, TIMEOUT};

/// Allocations (including reallocations) made on tracked threads.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this thread's allocations are counted. `const`-initialised with no destructor,
    /// so reading it from inside the allocator never allocates.
    static TRACKED: Cell<bool> = const { Cell::new(false) };
}

fn track_this_thread() {
    TRACKED.with(|t| t.set(true));
}

#[inline]
fn count_allocation() {
    if TRACKED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is the system allocator's; counting touches only an atomic and a
// const thread-local, neither of which allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// One pipeline at a time in this binary.
static SERIAL: Mutex<()> = Mutex::new(());

const WARM_UP: u64 = 5_000;
const WINDOW: u64 = 100_000;

/// A mutating first stage: stamps the event; allocation-free.
struct Stamp;

impl MutStage<Ev> for Stamp {
    fn on_start(&mut self, _: &StageInfo) -> Result<(), StageError> {
        track_this_thread();
        Ok(())
    }

    fn on_event(&mut self, e: &mut Ev, _: &EventContext) -> Result<(), StageError> {
        e.stamp = mix(e.value);
        Ok(())
    }
}

/// A reading stage that sums values and, when `done` is set, counts finished events there.
#[derive(Clone)]
struct Sum {
    sum: u64,
    done: Option<Arc<AtomicU64>>,
}

impl Stage<Ev> for Sum {
    fn on_start(&mut self, _: &StageInfo) -> Result<(), StageError> {
        track_this_thread();
        Ok(())
    }

    fn on_event(&mut self, e: &Ev, _: &EventContext) -> Result<(), StageError> {
        if e.stamp != mix(e.value) {
            return Err(StageError::msg("unstamped event"));
        }
        self.sum = self.sum.wrapping_add(e.value);
        Ok(())
    }

    fn on_batch_end(&mut self, batch: &BatchContext) -> Result<(), StageError> {
        if let Some(done) = &self.done {
            done.fetch_add(batch.len(), Ordering::Release);
        }
        Ok(())
    }
}

fn fill(i: u64) -> impl FnOnce(&mut Ev) {
    move |e| {
        *e = Ev {
            key: i % 13,
            value: i,
            id: i,
            stamp: 0,
        }
    }
}

/// Publishes `n` events starting at `start`: a third singly, a third in batches of varying
/// size, a third with `try_publish` (retrying while full).
fn publish_mixed<K: Router<Ev>>(producer: &mut Producer<Ev, K>, start: u64, n: u64) {
    let third = n / 3;
    let mut i = start;
    let end_single = start + third;
    while i < end_single {
        producer.publish(fill(i)).expect("publish");
        i += 1;
    }
    let end_batch = end_single + third;
    let mut size = 1u64;
    while i < end_batch {
        let count = size.min(end_batch - i).min(producer.capacity());
        let base = i;
        producer
            .publish_batch(count as usize, |k, e| fill(base + k as u64)(e))
            .expect("publish_batch");
        i += count;
        size = size % 29 + 1;
    }
    while i < start + n {
        match producer.try_publish(fill(i)) {
            Ok(_) => i += 1,
            Err(TryPublishError::Full { .. }) => std::thread::yield_now(),
            Err(e) => panic!("try_publish: {e}"),
        }
    }
}

/// Warms the pipeline up, then asserts a window of `WINDOW` events allocates nothing.
fn assert_steady_state_does_not_allocate<K: Router<Ev>>(
    label: &str,
    mut producer: Producer<Ev, K>,
    control: Control<Ev>,
    done: &AtomicU64,
) {
    track_this_thread();
    // The counter sees this thread's allocations.
    let probe = ALLOCATIONS.load(Ordering::SeqCst);
    drop(std::hint::black_box(Box::new(7u64)));
    assert!(
        ALLOCATIONS.load(Ordering::SeqCst) > probe,
        "the counting allocator does not count"
    );

    publish_mixed(&mut producer, 0, WARM_UP);
    wait_until("warm-up", TIMEOUT, || {
        done.load(Ordering::Acquire) == WARM_UP
    });

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    publish_mixed(&mut producer, WARM_UP, WINDOW - 1_000);
    wait_until("the window", TIMEOUT, || {
        done.load(Ordering::Acquire) == WARM_UP + WINDOW - 1_000
    });
    // Let the stage threads go idle and park, then wake them with more events.
    std::thread::sleep(Duration::from_millis(50));
    publish_mixed(&mut producer, WARM_UP + WINDOW - 1_000, 1_000);
    wait_until("the window", TIMEOUT, || {
        done.load(Ordering::Acquire) == WARM_UP + WINDOW
    });
    let after = ALLOCATIONS.load(Ordering::SeqCst);

    assert_eq!(
        after - before,
        0,
        "{label}: {} allocations while {WINDOW} events went through",
        after - before
    );
    drop(producer);
    let report = control.join_timeout(TIMEOUT).expect("clean join");
    assert_eq!(report.total_published(), WARM_UP + WINDOW);
}

fn unsharded(label: &'static str, strategy: WaitStrategy) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    bounded(label, TIMEOUT, move || {
        let done = Arc::new(AtomicU64::new(0));
        let pipeline = SingleRing::<Ev>::build("alloc", |ring| {
            let ring = ring
                .capacity(64)
                .ingress("in")
                .egress("out")
                .wait_strategy(strategy);
            let (ring, a) = ring.stage("stamp", Stamp);
            let (ring, b) = ring.stage_after("sum", Sum { sum: 0, done: None }, [a]);
            let (ring, c) = ring.stage_after("sum2", Sum { sum: 0, done: None }, [a]);
            let (ring, _) = ring.stage_after(
                "last",
                Sum {
                    sum: 0,
                    done: Some(done.clone()),
                },
                [b, c],
            );
            ring.build()
        })
        .unwrap();
        let (producer, control) = pipeline.spawn().unwrap();
        assert_steady_state_does_not_allocate(label, producer, control, &done);
    });
}

#[test]
fn steady_state_does_not_allocate_with_parking() {
    unsharded("parking", WaitStrategy::Parking);
}

#[test]
fn steady_state_does_not_allocate_with_yielding() {
    unsharded("yielding", WaitStrategy::Yielding);
}

#[test]
fn sharded_steady_state_does_not_allocate() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    bounded("sharded", TIMEOUT, || {
        let done = Arc::new(AtomicU64::new(0));
        let d = done.clone();
        let pipeline = SingleRing::<Ev>::build("alloc-sharded", |ring| {
            let ring = ring
                .capacity(32)
                .ingress("in")
                .egress("out")
                .wait_strategy(WaitStrategy::Parking)
                .shards(2, "key", |e: &Ev| e.key);
            let (ring, a) = ring.stage("stamp", per_shard(|_| Stamp));
            let (ring, _) = ring.stage_after(
                "last",
                Sum {
                    sum: 0,
                    done: Some(d),
                },
                [a],
            );
            ring.build()
        })
        .unwrap();
        let (producer, control) = pipeline.spawn().unwrap();
        assert_steady_state_does_not_allocate("sharded", producer, control, &done);
    });
}
