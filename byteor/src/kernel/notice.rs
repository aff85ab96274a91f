//! Notices: a flag word published after the data it announces — how one process tells others
//! something through shared memory (a region that is ready, a stream that ended at a given
//! sequence, a stage that failed at a given event, a peer that attached).
//!
//! # Protocol
//! * The writer stores the data (`Relaxed`), then the flag (`Release`; [`post`], or
//!   [`post_if`] to change the flag only from an expected value).
//! * A reader loads the flag (`Acquire`) and then the data (`Relaxed`, [`read`]): when it sees
//!   a flag value, it sees the data written before that value was posted.
//! * [`publish`] / [`published`] are the same rule for data that is not an atomic word: every
//!   write made before `publish` (a region header's plain fields) is visible to a reader that
//!   sees the published value through `published`.
//!
//! Each notice has one writer at a time (the producer for the stream, a stage's holder for its
//! status), so data and flag are never written by two parties at once; a reader may be in any
//! process. The model in this module's tests checks the visibility rule under loom.

use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// Stores `value` in `data`, then `state` in `flag` (release): a reader that sees `state`
/// sees `value`.
#[inline]
pub fn post(flag: &AtomicU32, state: u32, data: &AtomicU64, value: u64) {
    data.store(value, Ordering::Relaxed);
    flag.store(state, Ordering::Release);
}

/// Like [`post`], but only while `flag` holds `from`: returns whether `flag` moved to `to`.
/// `data` is written only when `flag` held `from` just before (one writer: nothing else moves
/// it from `from` meanwhile but a concurrent post of another state, which then wins).
#[inline]
pub fn post_if(flag: &AtomicU32, from: u32, to: u32, data: &AtomicU64, value: u64) -> bool {
    if flag.load(Ordering::Relaxed) != from {
        return false;
    }
    data.store(value, Ordering::Relaxed);
    flag.compare_exchange(from, to, Ordering::Release, Ordering::Relaxed)
        .is_ok()
}

/// The flag (acquire) and the data posted with it.
#[inline]
pub fn read(flag: &AtomicU32, data: &AtomicU64) -> (u32, u64) {
    let state = flag.load(Ordering::Acquire);
    (state, data.load(Ordering::Relaxed))
}

/// Publishes `value` in `word` (release) after whatever the caller wrote before.
#[inline]
pub fn publish(word: &AtomicU32, value: u32) {
    word.store(value, Ordering::Release);
}

/// The value in `word` (acquire): once it is one [`publish`] stored, everything written before
/// that `publish` is visible.
#[inline]
pub fn published(word: &AtomicU32) -> u32 {
    word.load(Ordering::Acquire)
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread;

    struct Words {
        flag: AtomicU32,
        data: AtomicU64,
        plain: UnsafeCell<u64>,
        ready: AtomicU32,
    }

    // SAFETY: `plain` is written by one thread before `ready` is published and read by others
    // only after they saw it published; loom checks exactly that.
    unsafe impl Sync for Words {}

    #[test]
    fn a_reader_that_sees_the_flag_sees_the_data() {
        loom::model(|| {
            let w = Arc::new(Words {
                flag: AtomicU32::new(0),
                data: AtomicU64::new(0),
                plain: UnsafeCell::new(0),
                ready: AtomicU32::new(0),
            });
            let writer = {
                let w = Arc::clone(&w);
                thread::spawn(move || {
                    post(&w.flag, 1, &w.data, 42);
                    // SAFETY: nobody reads `plain` before `ready` is published.
                    w.plain.with_mut(|p| unsafe { *p = 7 });
                    publish(&w.ready, 1);
                })
            };
            let (state, value) = read(&w.flag, &w.data);
            if state == 1 {
                assert_eq!(value, 42);
            }
            if published(&w.ready) == 1 {
                // SAFETY: `ready` was published after the write: loom reports a race if not.
                assert_eq!(w.plain.with(|p| unsafe { *p }), 7);
            }
            writer.join().unwrap();
        });
    }

    #[test]
    fn a_closed_notice_carries_its_target_even_against_a_failure() {
        loom::model(|| {
            let w = Arc::new(Words {
                flag: AtomicU32::new(0),
                data: AtomicU64::new(u64::MAX),
                plain: UnsafeCell::new(0),
                ready: AtomicU32::new(0),
            });
            let closer = {
                let w = Arc::clone(&w);
                thread::spawn(move || post_if(&w.flag, 0, 1, &w.data, 9))
            };
            let failer = {
                let w = Arc::clone(&w);
                thread::spawn(move || w.flag.store(2, Ordering::Release))
            };
            let (state, value) = read(&w.flag, &w.data);
            if state == 1 {
                assert_eq!(value, 9, "closed, so the target is visible");
            }
            closer.join().unwrap();
            failer.join().unwrap();
            let (state, value) = read(&w.flag, &w.data);
            assert!(state == 2 || (state == 1 && value == 9));
        });
    }
}
