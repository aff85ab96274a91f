//! A doorbell between processes: a thread of one process sleeps until a thread of another —
//! or of its own — makes progress it waits for, through two words of shared memory and the
//! OS's futex (a shared-memory lane's readers waiting for events, its writer waiting for room).
//!
//! # Protocol
//! * A sleeper announces itself (`sleepers += 1`, `SeqCst`), then a `SeqCst` fence, reads the
//!   bell, checks its condition once more, and sleeps only if the condition is still false and
//!   the bell still shows what it read (the futex checks that atomically); then `sleepers -= 1`.
//! * A ringer makes its progress visible (a `Release` store the sleeper's check reads), then a
//!   `SeqCst` fence, then loads `sleepers`: while nobody sleeps, ringing costs the fence and
//!   one relaxed load. Otherwise it bumps the bell (`Release`) and wakes every futex waiter.
//! * The two fences order the sleeper's announcement against the ringer's progress: either
//!   the ringer sees a sleeper and rings, or the sleeper's check sees the progress. A ring
//!   between the sleeper's read of the bell and its wait changes the bell, so the wait does
//!   not sleep. Sleeps are bounded by a timeout all the same, so that a ringer that died is
//!   noticed by whoever watches for that.
//!
//! The loom model (`kernel::doorbell::loom_tests`, the futex replaced by a check of the word)
//! checks that a sleeper whose check saw nothing never sleeps through a ring: when it would
//! have slept, the bell changed afterwards.

use std::time::Duration;

use crate::sync::{fence, futex_wait, futex_wake, AtomicU32, Ordering};

/// The two words of a doorbell, wherever they live (a shared-memory region's header).
#[derive(Debug, Clone, Copy)]
pub struct Doorbell<'a> {
    bell: &'a AtomicU32,
    sleepers: &'a AtomicU32,
}

impl<'a> Doorbell<'a> {
    /// A doorbell over `bell` and `sleepers` (both 0 to begin with; any values work).
    pub fn new(bell: &'a AtomicU32, sleepers: &'a AtomicU32) -> Self {
        Doorbell { bell, sleepers }
    }

    /// After making progress visible: wakes every sleeper. A fence and one relaxed load while
    /// nobody sleeps.
    #[inline]
    pub fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Relaxed) != 0 {
            self.wake();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake(&self) {
        self.bell.fetch_add(1, Ordering::Release);
        futex_wake(self.bell);
    }

    /// Sleeps until the bell rings or `timeout` passes, unless `ready` (checked after
    /// announcing the sleep) says the wait is over. Returns whether it went to sleep (it may
    /// have been woken at once); the caller checks its condition again either way.
    pub fn sleep(&self, ready: impl FnOnce() -> bool, timeout: Duration) -> bool {
        self.sleep_on(ready, timeout).is_some()
    }

    /// [`sleep`](Self::sleep), reporting the bell it slept on.
    fn sleep_on(&self, ready: impl FnOnce() -> bool, timeout: Duration) -> Option<u32> {
        let slept = match self.announce(ready) {
            Some(bell) => futex_wait(self.bell, bell, timeout).then_some(bell),
            None => None,
        };
        self.retract();
        slept
    }

    /// The first half of a sleep: announces the sleeper and checks `ready`; the bell to wait
    /// on, or `None` when the wait is over.
    fn announce(&self, ready: impl FnOnce() -> bool) -> Option<u32> {
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let bell = self.bell.load(Ordering::Acquire);
        (!ready()).then_some(bell)
    }

    /// The last half of a sleep: the sleeper is awake again.
    fn retract(&self) {
        self.sleepers.fetch_sub(1, Ordering::Release);
    }

    /// Sleepers now (a relaxed read, for metrics and tests).
    pub fn sleepers(&self) -> u32 {
        self.sleepers.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn ringing_with_nobody_asleep_changes_nothing() {
        let (bell, sleepers) = (AtomicU32::new(0), AtomicU32::new(0));
        let d = Doorbell::new(&bell, &sleepers);
        d.ring();
        assert_eq!(bell.load(Ordering::Relaxed), 0);
        assert!(!d.sleep(|| true, Duration::from_secs(5)), "ready: no sleep");
        assert_eq!(d.sleepers(), 0);
    }

    #[test]
    fn a_sleeper_is_woken_by_a_ring_long_before_its_timeout() {
        let words = Arc::new((AtomicU32::new(0), AtomicU32::new(0), AtomicU64::new(0)));
        let w = Arc::clone(&words);
        let sleeper = std::thread::spawn(move || {
            let d = Doorbell::new(&w.0, &w.1);
            let start = Instant::now();
            while w.2.load(Ordering::Acquire) == 0 {
                d.sleep(|| w.2.load(Ordering::Acquire) != 0, Duration::from_secs(30));
                assert!(start.elapsed() < Duration::from_secs(20), "never woken");
            }
            start.elapsed()
        });
        std::thread::sleep(Duration::from_millis(50));
        words.2.store(1, Ordering::Release);
        Doorbell::new(&words.0, &words.1).ring();
        let waited = sleeper.join().unwrap();
        assert!(waited < Duration::from_secs(5), "woke after {waited:?}");
        assert_eq!(words.1.load(Ordering::Relaxed), 0);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::{Arc, AtomicU64};
    use loom::thread;

    /// A ringer publishes progress then rings; a sleeper announces itself and checks. A
    /// sleeper that saw nothing stays asleep (announced) until rung: the model keeps it so
    /// and checks that the ringer always rang it — the bell moved past what it read.
    #[test]
    fn a_sleeper_that_saw_nothing_is_always_rung() {
        loom::model(|| {
            let words = Arc::new((AtomicU32::new(0), AtomicU32::new(0), AtomicU64::new(0)));
            let ringer = {
                let w = Arc::clone(&words);
                thread::spawn(move || {
                    w.2.store(1, Ordering::Release);
                    Doorbell::new(&w.0, &w.1).ring();
                })
            };
            let d = Doorbell::new(&words.0, &words.1);
            let waits_on = d.announce(|| words.2.load(Ordering::Acquire) == 1);
            ringer.join().unwrap();
            match waits_on {
                Some(bell) => assert_ne!(
                    words.0.load(Ordering::Relaxed),
                    bell,
                    "slept through the ring"
                ),
                None => d.retract(),
            }
        });
    }

    /// The whole sleep, its wait modelled as a look at the word: announced and retracted in
    /// pairs whatever the interleaving.
    #[test]
    fn sleepers_are_counted_back_down() {
        loom::model(|| {
            let words = Arc::new((AtomicU32::new(0), AtomicU32::new(0), AtomicU64::new(0)));
            let ringer = {
                let w = Arc::clone(&words);
                thread::spawn(move || {
                    w.2.store(1, Ordering::Release);
                    Doorbell::new(&w.0, &w.1).ring();
                })
            };
            let d = Doorbell::new(&words.0, &words.1);
            d.sleep(
                || words.2.load(Ordering::Acquire) == 1,
                Duration::from_millis(1),
            );
            ringer.join().unwrap();
            assert_eq!(d.sleepers(), 0);
        });
    }
}
