//! A doorbell between processes: a thread of one process sleeps until a thread of another —
//! or of its own — makes progress it waits for, through two words of shared memory and the
//! OS's futex (a shared-memory lane's readers waiting for events, its writer waiting for room).
//!
//! # Protocol
//! The same bargain as [`WakeHub`](super::WakeHub): the side that makes progress pays one
//! relaxed load and no fence, and the waiting side bounds the one wake-up that can be missed.
//! * A waiter that is about to sleep [`announce`](Doorbell::announce)s itself once
//!   (`sleepers += 1`, then a `SeqCst` fence) and stays announced across its sleeps until it
//!   makes progress ([`retract`](Doorbell::retract)).
//! * Each [`sleep`](Doorbell::sleep) reads the bell (`Acquire`), checks the waiter's condition
//!   once more, and waits on the futex only if the condition is still false and the bell
//!   still shows what it read (the futex checks that atomically), for at most its timeout.
//! * A ringer makes its progress visible (a `Release` store the waiter's check reads), then
//!   loads `sleepers` (relaxed): while nobody is announced that is all ringing costs.
//!   Otherwise it bumps the bell (`Release`) and wakes every futex waiter.
//! * A ringer that sees the waiter announced always wakes it: its bump comes after the
//!   waiter's read of the bell or is seen by it. Without a fence on the ringer's side, a ring
//!   at the very moment of the announcement can miss it; so a waiter's first sleep after
//!   announcing is short (the caller's [`FIRST_PARK`](super::FIRST_PARK)), and later ones, by
//!   then visible to every ringer, may be long. Sleeps are bounded all the same, so that a
//!   ringer that died is noticed by whoever watches for that.
//!
//! The loom model (`kernel::doorbell::loom_tests`, the futex replaced by a check of the word)
//! checks that a ringer that saw the waiter announced never lets it sleep through the ring,
//! and that announcements and retractions balance.

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

    /// After making progress visible: wakes every announced waiter. One relaxed load while
    /// nobody is announced.
    #[inline(always)]
    pub fn ring(&self) {
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

    /// A waiter is about to sleep: ringers wake it from now on (see the module docs for the
    /// one ring that can be missed). Pair with [`retract`](Self::retract).
    pub fn announce(&self) {
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// The waiter made progress and no longer sleeps here.
    pub fn retract(&self) {
        self.sleepers.fetch_sub(1, Ordering::Release);
    }

    /// Sleeps (announced) until the bell rings or `timeout` passes, unless `ready` says the
    /// wait is over. Returns whether it went to sleep (it may have been woken at once); the
    /// caller checks its condition again either way.
    pub fn sleep(&self, ready: impl FnOnce() -> bool, timeout: Duration) -> bool {
        self.sleep_on(ready, timeout).is_some()
    }

    /// [`sleep`](Self::sleep), reporting the bell it slept on.
    fn sleep_on(&self, ready: impl FnOnce() -> bool, timeout: Duration) -> Option<u32> {
        let bell = self.bell.load(Ordering::Acquire);
        if ready() {
            return None;
        }
        futex_wait(self.bell, bell, timeout).then_some(bell)
    }

    /// Waiters announced now (a relaxed read, for metrics and tests).
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
    fn ringing_with_nobody_announced_changes_nothing() {
        let (bell, sleepers) = (AtomicU32::new(0), AtomicU32::new(0));
        let d = Doorbell::new(&bell, &sleepers);
        d.ring();
        assert_eq!(bell.load(Ordering::Relaxed), 0);
        d.announce();
        assert!(!d.sleep(|| true, Duration::from_secs(5)), "ready: no sleep");
        d.retract();
        assert_eq!(d.sleepers(), 0);
    }

    #[test]
    fn an_announced_sleeper_is_woken_by_a_ring_long_before_its_timeout() {
        let words = Arc::new((AtomicU32::new(0), AtomicU32::new(0), AtomicU64::new(0)));
        let w = Arc::clone(&words);
        let sleeper = std::thread::spawn(move || {
            let d = Doorbell::new(&w.0, &w.1);
            let start = Instant::now();
            d.announce();
            while w.2.load(Ordering::Acquire) == 0 {
                d.sleep(|| w.2.load(Ordering::Acquire) != 0, Duration::from_secs(30));
                assert!(start.elapsed() < Duration::from_secs(20), "never woken");
            }
            d.retract();
            start.elapsed()
        });
        // Long enough for the sleeper to be announced and asleep.
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

    /// A ringer publishes progress then rings; an announced sleeper checks and "sleeps" (under
    /// the model the wait only reports whether it would have slept, and the sleeper stays
    /// asleep). A ringer that saw the sleeper announced always rang it: if it would have
    /// slept, the bell moved past what it read. (A ringer that did not see it yet is the one
    /// miss the first short sleep bounds.)
    #[test]
    fn a_ringer_that_sees_the_sleeper_never_lets_it_sleep_through() {
        loom::model(|| {
            let words = Arc::new((AtomicU32::new(0), AtomicU32::new(0), AtomicU64::new(0)));
            let ringer = {
                let w = Arc::clone(&words);
                thread::spawn(move || {
                    w.2.store(1, Ordering::Release);
                    let d = Doorbell::new(&w.0, &w.1);
                    let saw = d.sleepers() != 0;
                    d.ring();
                    saw
                })
            };
            let d = Doorbell::new(&words.0, &words.1);
            d.announce();
            let slept_on = d.sleep_on(
                || words.2.load(Ordering::Acquire) == 1,
                Duration::from_millis(1),
            );
            let ringer_saw_sleeper = ringer.join().unwrap();
            if let (Some(bell), true) = (slept_on, ringer_saw_sleeper) {
                assert_ne!(
                    words.0.load(Ordering::Relaxed),
                    bell,
                    "slept through a ring that saw it"
                );
            }
            d.retract();
            assert_eq!(d.sleepers(), 0);
        });
    }
}
