//! Support code for byteor's integration tests (`tests/tests/*.rs`).
//!
//! Everything here keeps tests bounded and reproducible on a small, shared machine:
//! [`bounded`] runs a closure on its own thread and fails the test if it does not finish in
//! time (a hang becomes a failure, not a stuck CI job), [`wait_until`] polls a condition with a
//! deadline, [`Gate`] holds a stage until the test lets it go (with a deadline of its own), and
//! [`XorShift`] is a tiny seeded generator for jitter and random shapes (seeds are printed so a
//! failure can be replayed with `BYTEOR_TEST_SEED`).
//!
//! Nothing here allocates after construction, so stages built from these pieces can run inside
//! the allocation-counting test.

pub mod buffer_ring;
#[cfg(target_os = "linux")]
pub mod shm;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any single wait in a test may take before the test is failed as hung. Generous:
/// the machine is shared, and debug builds are slow.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The pipeline's own outcome of [`join_timeout`](byteor::exec::Control::join_timeout) or
/// [`shutdown_timeout`](byteor::exec::Control::shutdown_timeout): a report or the pipeline's
/// error. A timeout fails the test (naming the threads still running).
pub fn finished<E, R: byteor::backing::RingStorage<Event = E>>(
    outcome: Result<byteor::exec::PipelineReport, byteor::exec::JoinError<E, R>>,
) -> Result<byteor::exec::PipelineReport, byteor::exec::PipelineError> {
    match outcome {
        Ok(report) => Ok(report),
        Err(byteor::exec::JoinError::Pipeline(e)) => Err(e),
        Err(byteor::exec::JoinError::Timeout { running, .. }) => {
            panic!("stage threads still running after the timeout: {running:?}")
        }
    }
}

/// The event most tests publish.
///
/// The producer sets every field on each publish (slots are reused, so a stage that sees a
/// stale field has found a bug).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, byteor::ShmEvent)]
#[repr(C)]
pub struct Ev {
    /// Routing key (sharded rings).
    pub key: u64,
    /// Payload; tests choose what it encodes (a global index, a per-key counter, ...).
    pub value: u64,
    /// A global event id, unique per published event.
    pub id: u64,
    /// Written by a mutating stage (or set by the producer) and checked downstream.
    pub stamp: u64,
}

/// A fixed 64-bit mixing function: what mutating stages write, so a reader can tell a stamped
/// event from a stale or unstamped one.
#[inline]
pub fn mix(v: u64) -> u64 {
    let mut z = v ^ 0xA076_1D64_78BD_642F;
    z = (z ^ (z >> 33)).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    z = (z ^ (z >> 33)).wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    (z ^ (z >> 33)) | 1
}

/// xorshift64* — a cheap, allocation-free, seedable generator.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (any value; zero is remapped).
    pub fn new(seed: u64) -> Self {
        XorShift(mix(seed))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n > 0`).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `lo..=hi`.
    #[inline]
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `1 / n`.
    #[inline]
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// The seed of a randomized test: `BYTEOR_TEST_SEED` when set (to replay a failure), else
/// derived from the clock. Printed, so a failing run shows it.
pub fn test_seed(test: &str) -> u64 {
    let seed = match std::env::var("BYTEOR_TEST_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("BYTEOR_TEST_SEED is not a u64: {s:?}")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x5EED, |d| d.as_nanos() as u64),
    };
    println!("{test}: seed {seed} (replay with BYTEOR_TEST_SEED={seed})");
    seed
}

/// Random short delays for stages and producers, to shake out interleavings.
#[derive(Debug, Clone)]
pub struct Jitter {
    rng: XorShift,
    /// One event in `spin_one_in` spins a little.
    spin_one_in: u64,
    /// One event in `yield_one_in` yields the thread.
    yield_one_in: u64,
}

impl Jitter {
    /// Jitter seeded with `seed`: a short spin about one event in `spin_one_in`, a `yield_now`
    /// about one in `yield_one_in`.
    pub fn new(seed: u64, spin_one_in: u64, yield_one_in: u64) -> Self {
        Jitter {
            rng: XorShift::new(seed),
            spin_one_in: spin_one_in.max(1),
            yield_one_in: yield_one_in.max(1),
        }
    }

    /// Maybe delays the calling thread a little.
    #[inline]
    pub fn step(&mut self) {
        let r = self.rng.next_u64();
        if r % self.spin_one_in == 0 {
            for _ in 0..(r >> 40) % 256 {
                std::hint::spin_loop();
            }
        }
        if (r >> 16) % self.yield_one_in == 0 {
            std::thread::yield_now();
        }
    }
}

/// Runs `f` on its own thread and returns its result, failing the test if it takes longer
/// than `timeout` (the thread is then left behind; the test has already failed). A panic in
/// `f` is propagated.
pub fn bounded<T, F>(what: &str, timeout: Duration, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name(format!("bounded-{what}"))
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn a test thread");
    match rx.recv_timeout(timeout) {
        Ok(value) => {
            let _ = handle.join();
            value
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what} did not finish within {timeout:?} (hung?)")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(payload) => std::panic::resume_unwind(payload),
            Ok(()) => unreachable!("the thread ended without sending its result"),
        },
    }
}

/// Polls `cond` until it holds, failing the test after `timeout`. Does not allocate while
/// polling.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    let mut polls = 0u32;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        polls += 1;
        if polls < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// A gate a stage can wait at until the test opens it. Waiting is bounded: a gate that is never
/// opened releases the waiter with `false` after its deadline, so a stage can fail instead of
/// hanging.
#[derive(Debug, Default)]
pub struct Gate {
    open: AtomicBool,
    waiting: AtomicBool,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Gate::default()
    }

    /// Opens the gate; every waiter passes.
    pub fn open(&self) {
        self.open.store(true, Ordering::Release);
    }

    /// Whether the gate is open.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Whether some thread has started waiting at the gate.
    pub fn has_waiter(&self) -> bool {
        self.waiting.load(Ordering::Acquire)
    }

    /// Waits until the gate opens (`true`) or `timeout` passes (`false`).
    pub fn wait(&self, timeout: Duration) -> bool {
        self.waiting.store(true, Ordering::Release);
        let deadline = Instant::now() + timeout;
        while !self.is_open() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        true
    }
}

/// The voluntary context switches of this process's thread named `name` (Linux:
/// `/proc/self/task/*/status`); `None` when no thread has that name. A thread that sleeps until
/// it is woken switches a few times a second when idle; one that polls, hundreds.
#[cfg(target_os = "linux")]
pub fn context_switches(name: &str) -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).ok()?;
        return status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse().ok());
    }
    None
}

/// Asserts that this process's thread named `name` sleeps while idle: after a settling pause,
/// it switches context fewer than 150 times in 500 ms (a polling thread switches hundreds of
/// times). `what` names it in the failure.
#[cfg(target_os = "linux")]
pub fn assert_sleeps_while_idle(name: &str, what: &str) {
    std::thread::sleep(std::time::Duration::from_millis(100));
    let before = context_switches(name).unwrap_or_else(|| panic!("no thread {name} ({what})"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    let after = context_switches(name).unwrap_or_else(|| panic!("thread {name} ({what}) gone"));
    assert!(
        after - before < 150,
        "an idle {what} switched context {} times in 500 ms",
        after - before
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xorshift_is_deterministic_and_in_range() {
        let mut a = XorShift::new(7);
        let mut b = XorShift::new(7);
        for _ in 0..1000 {
            let (x, y) = (a.range(3, 9), b.range(3, 9));
            assert_eq!(x, y);
            assert!((3..=9).contains(&x));
        }
        let mut z = XorShift::new(0);
        assert_ne!(z.next_u64(), z.next_u64());
    }

    #[test]
    fn bounded_returns_and_propagates_panics() {
        assert_eq!(bounded("add", TIMEOUT, || 2 + 2), 4);
        let r = std::panic::catch_unwind(|| bounded("boom", TIMEOUT, || panic!("inner boom")));
        assert!(r.is_err());
        let r = std::panic::catch_unwind(|| {
            bounded("sleepy", Duration::from_millis(20), || {
                std::thread::sleep(Duration::from_millis(500))
            })
        });
        assert!(r.is_err(), "a slow closure must fail the bound");
    }

    #[test]
    fn gate_times_out_when_never_opened() {
        let g = Gate::new();
        assert!(!g.wait(Duration::from_millis(5)));
        assert!(g.has_waiter());
        g.open();
        assert!(g.wait(Duration::from_millis(5)));
    }
}
