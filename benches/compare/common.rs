//! Pieces every implementation shares: the per-consumer checker, run parameters and outcomes,
//! the deadline that stops a collapsed run, and a cache-line padded cell.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Ring / channel capacity used by every scenario.
pub const CAPACITY: usize = 1024;

/// Events per batch in the batch-publish scenario.
pub const BATCH: usize = 64;

/// A value on its own 128-byte block (two cache lines, so adjacent-line prefetch does not pair
/// it with a neighbour).
#[repr(align(128))]
#[derive(Debug, Default)]
pub struct Padded<T>(pub T);

/// What one consumer saw, recorded when its checker is dropped at the end of its thread.
#[derive(Debug, Clone)]
pub struct ConsumerTotals {
    /// Consumer name (`a`, `b`, ...).
    pub name: &'static str,
    /// Events seen.
    pub count: u64,
    /// Wrapping sum of the values seen.
    pub sum: u64,
    /// Events whose value was not the previous value plus one (or 0 for the first).
    pub order_errors: u64,
    /// The first out-of-order event: `(index, expected, got)`.
    pub first_bad: Option<(u64, u64, u64)>,
}

/// Collects the totals of every consumer of one run.
#[derive(Debug, Default)]
pub struct Tally {
    totals: Mutex<Vec<ConsumerTotals>>,
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Arc<Tally> {
        Arc::new(Tally::default())
    }

    /// Checks that exactly `consumers` consumers each saw every value `0..published` once, in
    /// order.
    pub fn verify(&self, published: u64, consumers: usize) -> Result<(), String> {
        let totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        let mut problems = Vec::new();
        if totals.len() != consumers {
            problems.push(format!(
                "{} consumers reported, expected {consumers}",
                totals.len()
            ));
        }
        let expected_sum = expected_sum(published);
        for t in totals.iter() {
            if t.count != published {
                problems.push(format!(
                    "consumer `{}` saw {} events, {published} were published",
                    t.name, t.count
                ));
            }
            if t.sum != expected_sum {
                problems.push(format!(
                    "consumer `{}` sum {} != expected {expected_sum}",
                    t.name, t.sum
                ));
            }
            if t.order_errors != 0 {
                let (index, want, got) = t.first_bad.unwrap_or_default();
                problems.push(format!(
                    "consumer `{}` saw {} out-of-order events; first at index {index}: \
                     expected {want}, got {got}",
                    t.name, t.order_errors
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Wrapping sum of `0..n`.
pub fn expected_sum(n: u64) -> u64 {
    let (a, b) = if n % 2 == 0 {
        (n / 2, n.wrapping_sub(1))
    } else {
        (n, (n - 1) / 2)
    };
    a.wrapping_mul(b)
}

/// The work every consumer does per event: check the value is the previous one plus one and
/// add it to a running sum. The totals are handed to the [`Tally`] when the checker is dropped
/// (at the end of the consumer's thread), so the compiler cannot discard the work.
#[derive(Debug)]
pub struct Checker {
    name: &'static str,
    expected: u64,
    sum: u64,
    count: u64,
    order_errors: u64,
    first_bad: Option<(u64, u64, u64)>,
    tally: Arc<Tally>,
}

impl Checker {
    /// A checker named `name` reporting to `tally`.
    pub fn new(name: &'static str, tally: &Arc<Tally>) -> Checker {
        Checker {
            name,
            expected: 0,
            sum: 0,
            count: 0,
            order_errors: 0,
            first_bad: None,
            tally: Arc::clone(tally),
        }
    }

    /// Handles one event value.
    #[inline(always)]
    pub fn see(&mut self, value: u64) {
        if value != self.expected {
            self.out_of_order(value);
        }
        self.expected = value.wrapping_add(1);
        self.sum = self.sum.wrapping_add(value);
        self.count += 1;
    }

    #[cold]
    #[inline(never)]
    fn out_of_order(&mut self, value: u64) {
        if self.first_bad.is_none() {
            self.first_bad = Some((self.count, self.expected, value));
        }
        self.order_errors += 1;
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        let totals = ConsumerTotals {
            name: self.name,
            count: std::hint::black_box(self.count),
            sum: std::hint::black_box(self.sum),
            order_errors: self.order_errors,
            first_bad: self.first_bad,
        };
        self.tally
            .totals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(totals);
    }
}

/// Parameters of one throughput run.
#[derive(Debug, Clone, Copy)]
pub struct RunParams {
    /// Events to publish.
    pub events: u64,
    /// The producer stops publishing at this instant (a collapsed run).
    pub deadline: Instant,
}

impl RunParams {
    /// Whether the deadline has passed; reads the clock only when `i` is a multiple of 2^16.
    #[inline(always)]
    pub fn expired(&self, i: u64) -> bool {
        i & 0xFFFF == 0 && Instant::now() >= self.deadline
    }
}

/// How the producer publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// One event per call.
    Single,
    /// [`BATCH`] events per call.
    Batch,
}

/// Consumer topology behind the producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// One consumer.
    One,
    /// `a -> b -> c`.
    Chain3,
    /// `a; b and c after a; d after b and c`.
    Diamond,
    /// `a`, `b`, `c` each on every event, in parallel.
    Multicast3,
}

impl Topology {
    /// Consumers in the topology.
    pub fn consumers(self) -> usize {
        match self {
            Topology::One => 1,
            Topology::Chain3 | Topology::Multicast3 => 3,
            Topology::Diamond => 4,
        }
    }
}

/// Result of a throughput run that was not cut short by a verification failure.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Events the producer published (all of them unless the run timed out).
    pub published: u64,
    /// From the first publish until every consumer finished the last event.
    pub elapsed: Duration,
    /// The producer stopped at the deadline.
    pub timed_out: bool,
}

impl Throughput {
    /// Millions of events per second.
    pub fn mevents_per_sec(&self) -> f64 {
        self.published as f64 / self.elapsed.as_secs_f64() / 1e6
    }
}

/// Spin-then-yield backoff for the implementations that have no waiting of their own (rtrb).
#[derive(Debug, Default)]
pub struct Backoff {
    step: u32,
}

impl Backoff {
    /// Progress was made.
    #[inline(always)]
    pub fn reset(&mut self) {
        self.step = 0;
    }

    /// Nothing to do: spin a little longer each time, then yield the time slice.
    #[inline]
    pub fn snooze(&mut self) {
        if self.step <= 6 {
            for _ in 0..(1u32 << self.step) {
                std::hint::spin_loop();
            }
            self.step += 1;
        } else {
            std::thread::yield_now();
        }
    }
}

/// Round-trip samples (nanoseconds) of a ping-pong run.
pub type Samples = Vec<u64>;

/// Parameters of one ping-pong run.
#[derive(Debug, Clone, Copy)]
pub struct PingParams {
    /// Round trips recorded.
    pub pings: u64,
    /// Round trips made first and not recorded.
    pub warmup: u64,
    /// Give up at this instant.
    pub deadline: Instant,
}

impl PingParams {
    /// Whether the deadline has passed; reads the clock every 1024 round trips.
    #[inline(always)]
    pub fn expired(&self, i: u64) -> bool {
        i & 0x3FF == 0 && Instant::now() >= self.deadline
    }

    /// Times `round_trip(i)` for `i in 0..warmup + pings`, recording the last `pings`.
    pub fn measure(
        &self,
        mut round_trip: impl FnMut(u64) -> Result<(), String>,
    ) -> Result<Samples, String> {
        let mut samples = Vec::with_capacity(self.pings as usize);
        for i in 0..self.warmup + self.pings {
            if self.expired(i) {
                return Err(format!("ping-pong timed out after {i} round trips"));
            }
            let t0 = Instant::now();
            round_trip(i)?;
            let dt = t0.elapsed();
            if i >= self.warmup {
                samples.push(dt.as_nanos() as u64);
            }
        }
        Ok(samples)
    }
}

/// Spins (without a pause hint, for the lowest latency) until `cell` holds `value`.
#[inline(always)]
pub fn spin_until(cell: &std::sync::atomic::AtomicU64, value: u64) {
    while cell.load(std::sync::atomic::Ordering::Acquire) != value {}
}
