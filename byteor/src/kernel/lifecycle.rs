//! The lifecycle of a running pipeline: one state word every thread reads once per batch or
//! publish, and, per shard, the sequence its stages drain to when the stream ends.
//!
//! # Protocol
//! * The state starts [`RUNNING`]. Closing moves it to [`CLOSING`] only from `RUNNING`
//!   (compare-and-swap); a failure swaps in [`FAILED`] whatever it was. So the state only moves forward:
//!   `RUNNING -> CLOSING -> FAILED` or `RUNNING -> FAILED`, never back.
//! * A shard's drain target is set once (compare-and-swap from "none"): whoever ends the
//!   stream first — the producer with exactly what it published, or a shutdown with the cursor
//!   it read — fixes the cut, and every stage of the shard stops at that same sequence, so no
//!   event is handled by some stages and not others.
//! * Closing uses sequentially consistent operations, so a shutdown's read of the cursor and a
//!   producer's check of the state cannot both miss each other.
//!
//! The loom model (`kernel::lifecycle::loom_tests`) checks that the state never moves back and
//! that racing closers agree on one drain target.

use super::Padded;
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// Accepting and processing events.
pub const RUNNING: u32 = 0;
/// The stream ended: stages drain to their shard's target, nothing new is accepted.
pub const CLOSING: u32 = 1;
/// A stage failed: everything stops.
pub const FAILED: u32 = 2;

/// "No drain target yet".
const NO_TARGET: u64 = u64::MAX;

/// The pipeline's state word, alone on its cache lines: it is read on every publish and every
/// batch, so no write to a neighbouring field may invalidate it.
#[derive(Debug)]
pub struct Lifecycle {
    state: Padded<AtomicU32>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    /// A running pipeline's lifecycle.
    pub fn new() -> Self {
        Lifecycle {
            state: Padded(AtomicU32::new(RUNNING)),
        }
    }

    /// The state ([`RUNNING`], [`CLOSING`] or [`FAILED`]), with `Acquire`.
    #[inline(always)]
    pub fn state(&self) -> u32 {
        self.state.load(Ordering::Acquire)
    }

    /// Ends the stream: `RUNNING -> CLOSING`. Returns whether this call closed it (false when
    /// it was already closing or failed).
    pub fn close(&self) -> bool {
        self.state
            .compare_exchange(RUNNING, CLOSING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Stops everything: the state becomes [`FAILED`] for good.
    ///
    /// A swap rather than a store: both transitions are read-modify-writes of the one word,
    /// so every thread sees them in one order (and loom models that exactly; it can mis-order a
    /// plain store racing a compare-and-swap).
    pub fn fail(&self) {
        self.state.swap(FAILED, Ordering::SeqCst);
    }
}

/// The sequence a shard's stages drain to once the stream ends; set once.
#[derive(Debug)]
pub struct DrainTarget(AtomicU64);

impl Default for DrainTarget {
    fn default() -> Self {
        Self::new()
    }
}

impl DrainTarget {
    /// No target yet.
    pub fn new() -> Self {
        DrainTarget(AtomicU64::new(NO_TARGET))
    }

    /// Sets the target to `sequence` unless one is set already; returns the target in force.
    pub fn set_once(&self, sequence: u64) -> u64 {
        match self
            .0
            .compare_exchange(NO_TARGET, sequence, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => sequence,
            Err(current) => current,
        }
    }

    /// The target, once set.
    #[inline]
    pub fn get(&self) -> Option<u64> {
        let t = self.0.load(Ordering::Acquire);
        (t != NO_TARGET).then_some(t)
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// A closer, a failing stage and an observer: the observer never sees the state move back.
    #[test]
    fn the_state_only_moves_forward() {
        loom::model(|| {
            let life = Arc::new(Lifecycle::new());
            let closer = {
                let life = Arc::clone(&life);
                thread::spawn(move || {
                    life.close();
                })
            };
            let failer = {
                let life = Arc::clone(&life);
                thread::spawn(move || life.fail())
            };
            let first = life.state();
            let second = life.state();
            assert!(second >= first, "state went back from {first} to {second}");
            closer.join().unwrap();
            failer.join().unwrap();
            assert_eq!(life.state(), FAILED);
            assert!(!life.close(), "a failed pipeline cannot be closed");
        });
    }

    /// The producer and a shutdown race to end the stream: both, and every stage, see the
    /// same drain target, one of the two proposed.
    #[test]
    fn racing_closers_agree_on_one_target() {
        loom::model(|| {
            let target = Arc::new(DrainTarget::new());
            let producer = {
                let target = Arc::clone(&target);
                thread::spawn(move || target.set_once(7))
            };
            let by_shutdown = target.set_once(5);
            let by_producer = producer.join().unwrap();
            assert_eq!(by_shutdown, by_producer);
            assert!(by_shutdown == 5 || by_shutdown == 7);
            assert_eq!(target.get(), Some(by_shutdown));
        });
    }
}
