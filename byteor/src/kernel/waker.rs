//! The async task handshake: one [`Waker`] slot that a task fills when it has to wait and a
//! runtime thread empties when it made progress the task waits for.
//!
//! A task waiting for a condition (room in a ring, an item in a queue) calls
//! [`arm`](AsyncWaker::arm) and then checks the condition once more before returning
//! `Pending`. A thread that makes the condition true (a stage releasing slots, a sender
//! queueing an item) calls [`notify`](AsyncWaker::notify) right after: one relaxed load when
//! no task waits — no read-modify-write, no fence, no syscall on the hot path, the same cost as
//! [`WakeHub::notify`](super::WakeHub::notify).
//!
//! # Protocol
//! `state` holds three bits: `REGISTERING` (the task is writing the slot), `WAKING` (a
//! notifier is taking it) and `ARMED` (a waker is in the slot). Whoever sets `REGISTERING` or
//! `WAKING` on a state without the other owns the slot until it clears its bit; the loser of
//! the race hands its part to the winner, as in the `atomic-waker` crate:
//! * [`arm`](AsyncWaker::arm): `0 | ARMED -> REGISTERING` (`Acquire`), write the waker, then
//!   `REGISTERING -> ARMED` (`AcqRel`). If a notifier set `WAKING` meanwhile, the final
//!   exchange fails: the task takes its waker back and wakes itself. If a notifier owns the
//!   slot when the task comes (`WAKING`), the task wakes itself at once.
//! * [`wake`](AsyncWaker::wake): `fetch_or(WAKING)` (`AcqRel`); on a state that was `ARMED`
//!   alone, take the waker, clear the state (`Release`), wake it.
//!
//! A notifier stores its progress (`Release`) and then loads `state` with no fence between
//! them, so on its own the pair could miss a task arming at that instant. The two sides
//! therefore form an asymmetric barrier pair: [`notify`](AsyncWaker::notify) starts with a
//! compiler-only barrier and [`arm`](AsyncWaker::arm) ends with a process-wide memory barrier
//! (Linux `membarrier`). Together they act as two `SeqCst` fences: either the notifier's load
//! sees the task armed, or the task's re-check sees the progress. Where the process-wide
//! barrier is unavailable, [`arm`](AsyncWaker::arm) says so and the task must poll again
//! instead of waiting for a wake-up (the callers in `exec` then yield to their executor).
//!
//! The loom model (`kernel::waker::loom_tests`, both barriers modelled as `SeqCst` fences)
//! checks that a task which armed and then saw no progress is always woken, that a waker is
//! never taken twice, that a task re-arming with a new waker is woken through it, and that a
//! waker registered after a notifier's take is written after that take (no data race on the
//! slot).

use std::task::Waker;

use crate::sync::{heavy_barrier, light_barrier, AtomicU32, Ordering, UnsafeCell};

const REGISTERING: u32 = 1;
const WAKING: u32 = 2;
const ARMED: u32 = 4;

/// A slot for the [`Waker`] of one task waiting on a runtime thread (see the module docs).
pub struct AsyncWaker {
    state: AtomicU32,
    /// Written only by the owner of the slot (`REGISTERING` or `WAKING` held).
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the waker slot is accessed only by whoever owns it through `state` (see the module
// docs), and `Waker` is `Send + Sync`.
unsafe impl Sync for AsyncWaker {}
// SAFETY: as above; the slot owns a `Waker`, which is `Send`.
unsafe impl Send for AsyncWaker {}

impl Default for AsyncWaker {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for AsyncWaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncWaker")
            .field("armed", &self.is_armed())
            .finish()
    }
}

impl AsyncWaker {
    /// An empty slot.
    pub fn new() -> Self {
        AsyncWaker {
            state: AtomicU32::new(0),
            waker: UnsafeCell::new(None),
        }
    }

    /// Whether a task is registered (or registering) now.
    pub fn is_armed(&self) -> bool {
        self.state.load(Ordering::Relaxed) != 0
    }

    /// Registers `waker` to be woken by the next [`notify`](Self::notify) or
    /// [`wake`](Self::wake), replacing any waker registered before, then runs the waiting
    /// side's barrier. The caller must check its condition again afterwards and return
    /// `Pending` only if it still does not hold.
    ///
    /// Returns `false` when wake-ups cannot be relied on (no process-wide barrier on this
    /// system): the caller must then arrange to be polled again itself.
    pub fn arm(&self, waker: &Waker) -> bool {
        self.register(waker);
        heavy_barrier()
    }

    fn register(&self, waker: &Waker) {
        let current = self.state.load(Ordering::Relaxed);
        let start = if current & (REGISTERING | WAKING) == 0 {
            self.state
                .compare_exchange(current, REGISTERING, Ordering::Acquire, Ordering::Acquire)
        } else {
            Err(current)
        };
        match start {
            Ok(_) => {
                // SAFETY: `REGISTERING` is held: no one else touches the slot.
                self.waker.with_mut(|slot| unsafe {
                    match &mut *slot {
                        Some(old) if old.will_wake(waker) => {}
                        other => *other = Some(waker.clone()),
                    }
                });
                if self
                    .state
                    .compare_exchange(REGISTERING, ARMED, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    // A notifier came while the slot was being written (it set `WAKING` and
                    // left the slot to us): do its wake-up.
                    // SAFETY: `REGISTERING` is still held (only this thread clears it).
                    let taken = self.waker.with_mut(|slot| unsafe { (*slot).take() });
                    self.state.store(0, Ordering::Release);
                    if let Some(w) = taken {
                        w.wake();
                    }
                }
            }
            Err(_) => {
                // A notifier owns the slot and is waking the previous waker, which may belong
                // to another task or an outdated context: wake this one directly.
                waker.wake_by_ref();
            }
        }
    }

    /// Wakes the registered task, if any. One relaxed load when none is registered: call it
    /// after every store a task may wait for.
    #[inline(always)]
    pub fn notify(&self) {
        light_barrier();
        if self.state.load(Ordering::Relaxed) != 0 {
            self.wake();
        }
    }

    /// Takes the registered waker, if any, and wakes it.
    #[cold]
    #[inline(never)]
    pub fn wake(&self) {
        if let Some(w) = self.take() {
            w.wake();
        }
    }

    /// Forgets the registered waker without waking it (a task that stopped waiting).
    pub fn disarm(&self) {
        drop(self.take());
    }

    fn take(&self) -> Option<Waker> {
        match self.state.fetch_or(WAKING, Ordering::AcqRel) {
            ARMED => {
                // SAFETY: the state was `ARMED` alone, so setting `WAKING` made this thread the
                // slot's owner until it clears the state.
                let taken = self.waker.with_mut(|slot| unsafe { (*slot).take() });
                self.state.store(0, Ordering::Release);
                taken
            }
            0 => {
                // Nothing was registered; this thread holds `WAKING` and gives it back.
                self.state.fetch_and(!WAKING, Ordering::Release);
                None
            }
            _ => {
                // `REGISTERING`: the task sees `WAKING` and wakes itself. `WAKING`: another
                // notifier is already waking it.
                None
            }
        }
    }
}

/// The [`AsyncWaker`] slots of several tasks one notifier wakes together — a lane's readers —
/// with a summary word, so that while no task ever armed any of them a notification is one
/// relaxed load, whatever the number of slots.
///
/// # Protocol
/// Arming slot `i` first sets `used` (it never goes back to 0), then arms the slot (which ends
/// with the process-wide barrier); [`notify_all`](Self::notify_all) starts with the
/// compiler-only barrier and loads `used` before the slots. Both stores of the arming task come
/// before its barrier, so the pair works as for one slot: either the notifier sees `used` (and
/// then the slot armed, or a later state), or the task's re-check sees the progress. The loom
/// model `kernel::waker::loom_tests::a_task_of_a_set_that_saw_no_progress_is_woken` checks it.
#[derive(Debug)]
pub struct AsyncWakerSet {
    /// 1 once any slot was armed.
    used: AtomicU32,
    slots: Box<[AsyncWaker]>,
}

impl AsyncWakerSet {
    /// `n` empty slots.
    pub fn new(n: usize) -> Self {
        AsyncWakerSet {
            used: AtomicU32::new(0),
            slots: (0..n).map(|_| AsyncWaker::new()).collect(),
        }
    }

    /// Slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are no slots.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// [`AsyncWaker::arm`] for slot `i`.
    ///
    /// # Panics
    /// If `i` is not below [`len`](Self::len).
    pub fn arm(&self, i: usize, waker: &Waker) -> bool {
        self.used.store(1, Ordering::Relaxed);
        self.slots[i].arm(waker)
    }

    /// [`AsyncWaker::disarm`] for slot `i`.
    ///
    /// # Panics
    /// If `i` is not below [`len`](Self::len).
    pub fn disarm(&self, i: usize) {
        self.slots[i].disarm();
    }

    /// Wakes every armed slot's task: call after making progress they may wait for. One
    /// relaxed load while no slot was ever armed.
    #[inline]
    pub fn notify_all(&self) {
        light_barrier();
        if self.used.load(Ordering::Relaxed) != 0 {
            self.notify_slots();
        }
    }

    #[cold]
    #[inline(never)]
    fn notify_slots(&self) {
        for slot in self.slots.iter() {
            slot.notify();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (Arc::clone(&c), Waker::from(c))
    }

    #[test]
    fn notify_without_a_task_wakes_nothing() {
        let slot = AsyncWaker::new();
        slot.notify();
        assert!(!slot.is_armed());
    }

    #[test]
    fn one_arm_one_wake() {
        let slot = AsyncWaker::new();
        let (count, waker) = counting();
        slot.arm(&waker);
        assert!(slot.is_armed());
        slot.notify();
        slot.notify();
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(!slot.is_armed());
    }

    #[test]
    fn a_set_wakes_only_its_armed_slots() {
        let set = AsyncWakerSet::new(3);
        set.notify_all();
        let (count, waker) = counting();
        set.arm(2, &waker);
        set.notify_all();
        set.notify_all();
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        set.arm(0, &waker);
        set.disarm(0);
        set.notify_all();
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn rearming_replaces_the_waker_and_disarm_forgets_it() {
        let slot = AsyncWaker::new();
        let (first, w1) = counting();
        let (second, w2) = counting();
        slot.arm(&w1);
        slot.arm(&w2);
        slot.notify();
        assert_eq!(first.0.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(second.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        slot.arm(&w1);
        slot.disarm();
        slot.notify();
        assert_eq!(first.0.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::{Arc, AtomicU64};
    use loom::thread;
    use std::task::Wake;

    /// Counts wake-ups (plain std atomics: the count is checked after the threads joined).
    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn counting() -> (std::sync::Arc<Count>, Waker) {
        let c = std::sync::Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
        (std::sync::Arc::clone(&c), Waker::from(c))
    }

    /// A notifier publishes progress then notifies; a task arms, re-checks, and "returns
    /// Pending" if it saw nothing. No lost wake-up: a task that saw nothing is woken.
    #[test]
    fn a_task_that_saw_no_progress_is_woken() {
        no_lost_wake_up(AsyncWaker::new, |slot, w| slot.arm(w), AsyncWaker::notify);
    }

    /// The model both single-notifier tests share: a notifier publishes progress then runs
    /// `notify` on the waker state `make` gives; the task runs `arm`, re-checks, and "returns
    /// Pending" if it saw nothing. A task that saw nothing is woken, exactly once.
    fn no_lost_wake_up<W: Send + Sync + 'static>(
        make: fn() -> W,
        arm: fn(&W, &Waker) -> bool,
        notify: fn(&W),
    ) {
        loom::model(move || {
            let state = Arc::new(make());
            let progress = Arc::new(AtomicU64::new(0));
            let (count, waker) = counting();
            let notifier = {
                let (state, progress) = (Arc::clone(&state), Arc::clone(&progress));
                thread::spawn(move || {
                    progress.store(1, Ordering::Release);
                    notify(&state);
                })
            };
            assert!(arm(&state, &waker));
            let saw = progress.load(Ordering::Acquire) == 1;
            notifier.join().unwrap();
            let woken = count.0.load(std::sync::atomic::Ordering::SeqCst);
            assert!(saw || woken == 1, "lost wake-up");
            assert!(woken <= 1, "woken {woken} times");
        });
    }

    /// Two notifiers race one task: it is woken at most once per arm, and at least once when
    /// it saw no progress; the waker is never taken by both.
    #[test]
    fn racing_notifiers_wake_once() {
        loom::model(|| {
            let slot = Arc::new(AsyncWaker::new());
            let progress = Arc::new(AtomicU64::new(0));
            let (count, waker) = counting();
            let notifiers: Vec<_> = (0..2)
                .map(|_| {
                    let (slot, progress) = (Arc::clone(&slot), Arc::clone(&progress));
                    thread::spawn(move || {
                        progress.fetch_add(1, Ordering::Release);
                        slot.notify();
                    })
                })
                .collect();
            assert!(slot.arm(&waker));
            let saw = progress.load(Ordering::Acquire) > 0;
            for n in notifiers {
                n.join().unwrap();
            }
            let woken = count.0.load(std::sync::atomic::Ordering::SeqCst);
            assert!(saw || woken == 1, "lost wake-up");
            assert!(woken <= 1, "woken {woken} times");
        });
    }

    /// A task re-arms with a second waker while a notifier wakes: whichever waker the
    /// notifier took, the task is not left waiting unwoken after its last re-check.
    #[test]
    fn rearming_while_a_notifier_wakes() {
        loom::model(|| {
            let slot = Arc::new(AsyncWaker::new());
            let progress = Arc::new(AtomicU64::new(0));
            let (first, w1) = counting();
            let (second, w2) = counting();
            slot.register(&w1);
            let notifier = {
                let (slot, progress) = (Arc::clone(&slot), Arc::clone(&progress));
                thread::spawn(move || {
                    progress.store(1, Ordering::Release);
                    slot.notify();
                })
            };
            assert!(slot.arm(&w2));
            let saw = progress.load(Ordering::Acquire) == 1;
            notifier.join().unwrap();
            let a = first.0.load(std::sync::atomic::Ordering::SeqCst);
            let b = second.0.load(std::sync::atomic::Ordering::SeqCst);
            // The task now waits on `w2`; a wake of `w1` alone would leave it hanging.
            assert!(saw || b >= 1, "lost wake-up (first {a}, second {b})");
        });
    }

    /// A set of two slots: a notifier publishes progress then notifies the set; a task arms
    /// slot 1, re-checks, and "returns Pending" if it saw nothing. No lost wake-up, although
    /// the notifier skips the slots while it sees no slot used.
    #[test]
    fn a_task_of_a_set_that_saw_no_progress_is_woken() {
        no_lost_wake_up(
            || AsyncWakerSet::new(2),
            |set, w| set.arm(1, w),
            AsyncWakerSet::notify_all,
        );
    }

    /// A notifier takes the task's waker while the task registers a new one: the task's write
    /// of the slot must happen after the notifier's take of it — the `Acquire` of the first
    /// exchange in `register`, pairing with the notifier's `Release` as it gives the slot back
    /// (weakened to `Relaxed`, this model reports the two slot accesses as a data race).
    #[test]
    fn registering_after_a_wake_is_ordered_after_the_take() {
        loom::model(|| {
            let slot = Arc::new(AsyncWaker::new());
            let (first, w1) = counting();
            let (_, w2) = counting();
            slot.register(&w1);
            let notifier = {
                let slot = Arc::clone(&slot);
                thread::spawn(move || slot.wake())
            };
            slot.register(&w2);
            notifier.join().unwrap();
            // The first waker was woken at most once; the slot holds the second or is empty.
            assert!(first.0.load(std::sync::atomic::Ordering::SeqCst) <= 1);
            slot.disarm();
        });
    }
}
