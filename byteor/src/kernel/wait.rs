//! Wait strategies: what a stage does when nothing is available, and what a producer does when
//! the ring is full.
//!
//! | strategy | idle cost | wake-up latency | use when |
//! |---|---|---|---|
//! | [`BusySpin`](WaitStrategy::BusySpin) | one core per waiting thread | lowest | a core per thread, isolated |
//! | [`SpinHint`](WaitStrategy::SpinHint) | one core, friendlier to the sibling hyperthread | lowest | as above, with SMT |
//! | [`Yielding`](WaitStrategy::Yielding) | a core while others are idle, yields it when they are not | low | more threads than cores, latency matters |
//! | [`Parking`](WaitStrategy::Parking) (default) | none once parked | microseconds after idling | general use; oversubscribed hosts |
//!
//! The parking strategy spins briefly, then yields, then parks the thread. Parked threads are
//! recorded in a [`WakeHub`] bitmask; a thread that makes progress (a producer publishing, a
//! stage finishing a batch) calls [`WakeHub::notify`], which costs one relaxed load when no one
//! is parked — no syscall, no lock, no read-modify-write on the hot path.
//!
//! Whatever the strategy, a stage whose next batch was already waiting when it came back for
//! it, and was small (under a quarter of the ring), pauses briefly ([`Waiter::pace`],
//! [`PACE_SPINS`] spin hints) before polling again: the producer then fills whole cache lines
//! without the stage pulling them away event by event, and batches grow. A stage that had to
//! wait for its batch (it is keeping up, as in a request/response flow) never pauses, so pacing
//! adds no latency to an isolated event; nor does a stage that is behind (large batches).
//!
//! Because the notifier does not pay for a store-load fence, a waiter that registers at the very
//! instant an event is published can miss that one notification. Parks are therefore bounded:
//! the first park after registering lasts at most [`FIRST_PARK`], later ones back off to
//! [`MAX_PARK`]. A notification takes the registrations it wakes, so a thread woken registers
//! afresh and its next park is short again. A missed wake-up costs at most [`FIRST_PARK`] of
//! latency; an idle thread wakes at most every [`MAX_PARK`] (well under 1% of a core).

use std::time::Duration;

use crate::sync::{spin_hint, yield_now, AtomicU64, Ordering};

/// Checks (one spin hint each) before a [`Yielding`](WaitStrategy::Yielding) or
/// [`Parking`](WaitStrategy::Parking) waiter starts yielding.
///
/// Short on purpose: on a host with more threads than cores every spin is time taken from the
/// thread being waited for. Measured on two cores with a 3-stage chain (four threads): 64
/// checks ran at 0.76-0.94x rtrb's rate, 32 at 0.92-1.10x, with the same parking ping-pong
/// p50 (the first [`EAGER_CHECKS`] checks, without a spin hint, cover a round trip).
pub const SPIN_TRIES: u32 = 32;

/// Checks a [`Parking`](WaitStrategy::Parking) waiter makes without a spin hint before the
/// hinted spin checks.
pub const EAGER_CHECKS: u32 = 16;

/// Spin hints a stage makes after a batch that was already waiting for it (see
/// [`Waiter::pace`]).
pub const PACE_SPINS: u32 = 32;

/// Most yields before a [`Parking`](WaitStrategy::Parking) waiter parks.
pub const YIELD_TRIES: u32 = 64;

/// Longest a [`Parking`](WaitStrategy::Parking) waiter keeps yielding before it parks. On an
/// oversubscribed host one yield can hand a whole time slice to another busy process; the
/// window makes such a waiter park (and stop competing for the CPU) instead of yielding again.
pub const YIELD_WINDOW: Duration = Duration::from_micros(100);

/// Longest first park after registering with a [`WakeHub`] (bounds a missed wake-up).
pub const FIRST_PARK: Duration = Duration::from_micros(50);

/// Longest park of an idle waiter.
///
/// Every timed wake-up of an idle thread costs tens of microseconds on a virtual machine (the
/// timer, the switch in and out); measured with an empty 3-stage pipeline on a 2-vCPU VM:
/// 149 wake-ups/s and 1.09% of a core at 20 ms; 60 wake-ups/s and 0.56–1.06% at 50 ms (the
/// cost of a wake-up grows when the host is busy); 30 wake-ups/s and 0.43–0.58% at 100 ms,
/// against 0.72–0.79% at 50 ms in the same minutes. A notification still wakes a parked thread
/// at once; this bounds only the re-checks it makes on its own.
pub const MAX_PARK: Duration = Duration::from_millis(100);

/// How a thread waits for a sequence to advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WaitStrategy {
    /// Re-check in a tight loop. Burns a core per waiting thread.
    BusySpin,
    /// Re-check in a loop with a CPU spin-loop hint (`pause`). Burns a core.
    SpinHint,
    /// Spin briefly, then yield the time slice between checks. Never sleeps.
    Yielding,
    /// Spin, then yield, then park until notified (bounded, see the module docs). The default:
    /// never burns a core for nothing when idle.
    #[default]
    Parking,
}

impl WaitStrategy {
    /// Every strategy, in declaration order.
    pub const ALL: [WaitStrategy; 4] = [
        WaitStrategy::BusySpin,
        WaitStrategy::SpinHint,
        WaitStrategy::Yielding,
        WaitStrategy::Parking,
    ];

    /// A short lower-case name (`busy_spin`, `spin_hint`, `yielding`, `parking`).
    pub const fn as_str(self) -> &'static str {
        match self {
            WaitStrategy::BusySpin => "busy_spin",
            WaitStrategy::SpinHint => "spin_hint",
            WaitStrategy::Yielding => "yielding",
            WaitStrategy::Parking => "parking",
        }
    }
}

/// Most threads one [`WakeHub`] can track.
pub const WAKE_HUB_SLOTS: usize = 64;

/// Parked-thread registry shared by the threads of one ring.
///
/// Each waiting party owns one slot (a bit). A waiter registers its thread before each park; a
/// notifier takes every registration and wakes those threads, so a thread is woken once per
/// park however many notifications follow before it runs again. Registration and wake-up
/// take a lock on the slot — only on the slow path, when somebody is actually parked.
pub struct WakeHub {
    parked: AtomicU64,
    threads: Box<[std::sync::Mutex<Option<std::thread::Thread>>]>,
}

impl WakeHub {
    /// A hub with `slots` slots (at most [`WAKE_HUB_SLOTS`]).
    ///
    /// # Panics
    /// If `slots > WAKE_HUB_SLOTS`.
    pub fn new(slots: usize) -> Self {
        assert!(slots <= WAKE_HUB_SLOTS, "a WakeHub has at most 64 slots");
        WakeHub {
            parked: AtomicU64::new(0),
            threads: (0..slots).map(|_| std::sync::Mutex::new(None)).collect(),
        }
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.threads.len()
    }

    /// Wakes every parked thread. One relaxed load when nobody is parked.
    #[inline(always)]
    pub fn notify(&self) {
        if self.parked.load(Ordering::Relaxed) != 0 {
            self.wake_parked();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_parked(&self) {
        // Take the registrations: each parked thread is woken once, and until it parks again
        // (and registers again) later notifications cost one relaxed load, not a lock and an
        // unpark apiece while it is still getting back on a core.
        self.unpark_all(self.parked.swap(0, Ordering::AcqRel));
    }

    /// Wakes every parked thread but leaves the registrations in place: a periodic wake-up
    /// (a helper re-checking on behalf of another process, say) rather than a notification of
    /// progress. A woken waiter whose registration is still there parks again without
    /// registering afresh, so it keeps backing off towards [`MAX_PARK`] instead of going back
    /// to [`FIRST_PARK`] on every nudge.
    pub fn nudge(&self) {
        self.unpark_all(self.parked.load(Ordering::Acquire));
    }

    /// Unparks the thread registered in each slot whose bit is set in `mask`.
    fn unpark_all(&self, mut mask: u64) {
        while mask != 0 {
            let slot = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if let Some(cell) = self.threads.get(slot) {
                let guard = cell.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(thread) = guard.as_ref() {
                    thread.unpark();
                }
            }
        }
    }

    /// Whether any thread is registered as parked.
    pub fn has_parked(&self) -> bool {
        self.parked.load(Ordering::Relaxed) != 0
    }

    /// Registers the calling thread in `slot`; whether the slot was not registered already.
    fn register(&self, slot: usize) -> bool {
        if let Some(cell) = self.threads.get(slot) {
            let mut guard = cell.lock().unwrap_or_else(|e| e.into_inner());
            let current = std::thread::current();
            if guard.as_ref().map(|t| t.id()) != Some(current.id()) {
                *guard = Some(current);
            }
        }
        // SeqCst read-modify-write: a full barrier between announcing ourselves and re-checking
        // the condition, so a notifier that published before our re-check is seen by it.
        let bit = 1u64 << slot;
        self.parked.fetch_or(bit, Ordering::SeqCst) & bit == 0
    }

    fn unregister(&self, slot: usize) {
        self.parked.fetch_and(!(1u64 << slot), Ordering::SeqCst);
    }
}

impl core::fmt::Debug for WakeHub {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WakeHub")
            .field("slots", &self.threads.len())
            .field(
                "parked",
                &format_args!("{:#x}", self.parked.load(Ordering::Relaxed)),
            )
            .finish()
    }
}

/// The per-thread state of a waiting loop: call [`idle`](Self::idle) each time the condition is
/// not met and [`reset`](Self::reset) once progress was made.
#[derive(Debug)]
pub struct Waiter<'a> {
    strategy: WaitStrategy,
    hub: &'a WakeHub,
    slot: usize,
    /// Further hubs it parks in at once (a thread waiting on several rings or lanes: any of
    /// them wakes it). Empty — no allocation — for the usual single hub.
    more: Vec<(&'a WakeHub, usize)>,
    tries: u32,
    registered: bool,
    park: Duration,
    yield_since: Option<std::time::Instant>,
}

impl<'a> Waiter<'a> {
    /// A waiter using `strategy`, parking in `slot` of `hub`.
    pub fn new(strategy: WaitStrategy, hub: &'a WakeHub, slot: usize) -> Self {
        Waiter {
            strategy,
            hub,
            slot,
            more: Vec::new(),
            tries: 0,
            registered: false,
            park: FIRST_PARK,
            yield_since: None,
        }
    }

    /// A waiter using `strategy` that parks in every `(hub, slot)` of `hubs` at once, so a
    /// notification on any of them wakes it: a thread waiting for the first of several rings
    /// or lanes to have something (a LaneGraph merge). Each registration follows the
    /// single-hub protocol (register, re-check, bounded park). `None` when `hubs` is empty.
    pub fn new_multi(strategy: WaitStrategy, hubs: Vec<(&'a WakeHub, usize)>) -> Option<Self> {
        let mut hubs = hubs.into_iter();
        let (hub, slot) = hubs.next()?;
        let mut waiter = Waiter::new(strategy, hub, slot);
        waiter.more = hubs.collect();
        Some(waiter)
    }

    /// The strategy in use.
    pub fn strategy(&self) -> WaitStrategy {
        self.strategy
    }

    /// Progress was made: start the next wait from the cheapest step again.
    #[inline(always)]
    pub fn reset(&mut self) {
        self.tries = 0;
        self.yield_since = None;
        if self.registered {
            self.deregister();
        }
    }

    #[cold]
    fn deregister(&mut self) {
        self.registered = false;
        self.park = FIRST_PARK;
        self.hub.unregister(self.slot);
        for (hub, slot) in &self.more {
            hub.unregister(*slot);
        }
    }

    /// A short pause (a fixed [`PACE_SPINS`] spin hints, whatever the strategy) between two
    /// batches of a stream that is flowing faster than the stage comes back for it.
    ///
    /// A stage that polls its upstream sequence again the moment it has published its own
    /// takes the cursor's and the slots' cache lines away from the producer while the producer
    /// is still writing them, a handful of events at a time: both cores then spend their time
    /// moving the same lines back and forth. Pausing briefly lets the producer fill whole
    /// lines undisturbed, and the next batch is larger. The executor calls this only after a
    /// small batch (under a quarter of the ring) that was already there when the stage looked
    /// (it did not have to wait), so an event that arrives after the stage went idle — a
    /// request/response flow — is picked up without the pause, and a stage that has fallen
    /// behind is never slowed further.
    #[inline]
    pub fn pace(&self) {
        for _ in 0..PACE_SPINS {
            spin_hint();
        }
    }

    /// One step of waiting. `ready` re-checks the condition after registering for a wake-up;
    /// when it returns `true` the waiter does not park.
    #[inline]
    pub fn idle(&mut self, ready: impl FnOnce() -> bool) {
        match self.strategy {
            WaitStrategy::BusySpin => {}
            WaitStrategy::SpinHint => spin_hint(),
            WaitStrategy::Yielding => {
                if self.tries < SPIN_TRIES {
                    self.tries += 1;
                    spin_hint();
                } else {
                    yield_now();
                }
            }
            WaitStrategy::Parking => {
                if self.tries < SPIN_TRIES {
                    // A short spin only: on a host with more threads than cores, every spin is
                    // time stolen from the stage this one waits for. The first checks re-read
                    // at once: the next event usually follows within nanoseconds.
                    if self.tries >= EAGER_CHECKS {
                        spin_hint();
                    }
                    self.tries += 1;
                } else if self.tries < SPIN_TRIES + YIELD_TRIES && self.within_yield_window() {
                    self.tries += 1;
                    yield_now();
                } else {
                    self.park(ready);
                }
            }
        }
    }

    fn within_yield_window(&mut self) -> bool {
        let now = std::time::Instant::now();
        let since = *self.yield_since.get_or_insert(now);
        now.duration_since(since) < YIELD_WINDOW
    }

    #[cold]
    fn park(&mut self, ready: impl FnOnce() -> bool) {
        // Register before every park, not once per wait: a notifier takes the registrations it
        // wakes (see `WakeHub::wake_parked`). A fresh registration may miss a notification
        // made at that very instant, so the park after it is short again; a registration
        // still in place since the last park (a timeout, no notification) backs off.
        self.registered = true;
        let mut fresh = self.hub.register(self.slot);
        for (hub, slot) in &self.more {
            fresh |= hub.register(*slot);
        }
        if fresh {
            self.park = FIRST_PARK;
        }
        if ready() {
            return;
        }
        #[cfg(not(loom))]
        std::thread::park_timeout(self.park);
        #[cfg(loom)]
        yield_now();
        self.park = (self.park * 2).min(MAX_PARK);
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if self.registered {
            self.hub.unregister(self.slot);
            for (hub, slot) in &self.more {
                hub.unregister(*slot);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn notify_without_parked_threads_is_a_no_op() {
        let hub = WakeHub::new(4);
        assert!(!hub.has_parked());
        hub.notify();
    }

    #[test]
    fn parked_waiter_is_woken_promptly_by_notify() {
        for strategy in WaitStrategy::ALL {
            let hub = Arc::new(WakeHub::new(2));
            let flag = Arc::new(AtomicBool::new(false));
            let (h, f) = (hub.clone(), flag.clone());
            let t = std::thread::spawn(move || {
                let mut w = Waiter::new(strategy, &h, 0);
                let start = Instant::now();
                while !f.load(Ordering::Acquire) {
                    w.idle(|| f.load(Ordering::Acquire));
                    assert!(start.elapsed() < Duration::from_secs(10), "waiter hung");
                }
                w.reset();
            });
            std::thread::sleep(Duration::from_millis(30));
            flag.store(true, Ordering::Release);
            hub.notify();
            t.join().unwrap();
            assert!(
                !hub.has_parked(),
                "{strategy:?} left its registration behind"
            );
        }
    }

    #[test]
    fn a_notification_takes_the_registrations_it_wakes() {
        let hub = WakeHub::new(3);
        for round in 0..3 {
            assert!(hub.register(0), "round {round}: a fresh registration");
            assert!(hub.register(2));
            assert!(!hub.register(2), "already registered");
            assert!(hub.has_parked());
            // The first notification takes both registrations (and unparks the thread, which
            // only leaves it a token); until they register again, later ones find nobody.
            hub.notify();
            assert!(!hub.has_parked(), "round {round}: registration left behind");
            hub.notify();
            assert!(!hub.has_parked());
        }
        // Consume the unpark tokens left for this thread.
        std::thread::park_timeout(Duration::from_millis(1));
    }

    #[test]
    fn a_waiter_woken_for_nothing_registers_again_before_it_parks() {
        let hub = Arc::new(WakeHub::new(1));
        let flag = Arc::new(AtomicBool::new(false));
        let (h, f) = (hub.clone(), flag.clone());
        let t = std::thread::spawn(move || {
            let mut w = Waiter::new(WaitStrategy::Parking, &h, 0);
            let start = Instant::now();
            while !f.load(Ordering::Acquire) {
                w.idle(|| f.load(Ordering::Acquire));
                assert!(start.elapsed() < Duration::from_secs(10), "waiter hung");
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let parked = || {
            while !hub.has_parked() {
                assert!(Instant::now() < deadline, "never parked");
                std::thread::sleep(Duration::from_micros(200));
            }
        };
        // Let it back off to long parks, then wake it for nothing: the notification takes its
        // registration, so it must register again before parking, or the real wake-up below
        // would find nobody and it would sleep out its park.
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..3 {
            parked();
            hub.notify();
        }
        parked();
        let notified = Instant::now();
        flag.store(true, Ordering::Release);
        hub.notify();
        t.join().unwrap();
        assert!(
            notified.elapsed() < MAX_PARK / 2,
            "not woken by the notification: {:?}",
            notified.elapsed()
        );
    }

    #[test]
    fn a_waiter_on_several_hubs_is_woken_by_any_of_them() {
        for woken_by in 0..3 {
            let hubs: Arc<Vec<WakeHub>> = Arc::new((0..3).map(|_| WakeHub::new(2)).collect());
            let flag = Arc::new(AtomicBool::new(false));
            let (h, f) = (hubs.clone(), flag.clone());
            let t = std::thread::spawn(move || {
                let regs = h.iter().map(|hub| (hub, 1)).collect();
                let mut w = Waiter::new_multi(WaitStrategy::Parking, regs).unwrap();
                let start = Instant::now();
                while !f.load(Ordering::Acquire) {
                    w.idle(|| f.load(Ordering::Acquire));
                    assert!(start.elapsed() < Duration::from_secs(10), "waiter hung");
                }
                // Parked in every hub while it waited.
                start.elapsed()
            });
            // Long enough for the waiter to park (its first park is bounded by FIRST_PARK;
            // later ones back off to MAX_PARK, which a wake-up cuts short).
            std::thread::sleep(Duration::from_millis(100));
            assert!(
                hubs.iter().all(WakeHub::has_parked),
                "not parked in every hub"
            );
            let notified = Instant::now();
            flag.store(true, Ordering::Release);
            hubs[woken_by].notify();
            t.join().unwrap();
            assert!(
                notified.elapsed() < MAX_PARK / 2,
                "hub {woken_by}'s notify did not wake it: {:?}",
                notified.elapsed()
            );
            assert!(hubs.iter().all(|hub| !hub.has_parked()), "left registered");
        }
        assert!(Waiter::new_multi(WaitStrategy::Parking, Vec::new()).is_none());
    }

    #[test]
    fn idle_parking_waiter_backs_off() {
        let hub = WakeHub::new(1);
        let mut w = Waiter::new(WaitStrategy::Parking, &hub, 0);
        for _ in 0..SPIN_TRIES {
            w.idle(|| false);
            assert!(!hub.has_parked(), "parked while spinning");
        }
        // The yield phase ends after YIELD_TRIES yields or YIELD_WINDOW, whichever is first.
        let mut yields = 0;
        while !hub.has_parked() {
            w.idle(|| false);
            yields += 1;
            assert!(yields <= YIELD_TRIES + 1, "yielded {yields} times");
        }
        w.reset();
        assert!(!hub.has_parked());
        for _ in 0..SPIN_TRIES {
            w.idle(|| false);
        }
        std::thread::sleep(YIELD_WINDOW * 2);
        w.idle(|| false); // starts the yield window
        std::thread::sleep(YIELD_WINDOW * 2);
        w.idle(|| false); // window over: parks
        assert!(hub.has_parked(), "a waiter past its yield window parks");
        // Parks start at FIRST_PARK and double up to MAX_PARK (a spurious early return from
        // the OS does not matter: the bound grows per park either way).
        let mut parks = 0;
        w.reset();
        for _ in 0..SPIN_TRIES + YIELD_TRIES + 1 {
            w.idle(|| false);
        }
        while w.park < MAX_PARK {
            w.idle(|| false);
            parks += 1;
            assert!(hub.has_parked());
        }
        assert!(parks <= 12, "took {parks} parks to reach MAX_PARK");
        // A nudge wakes it but leaves the registration: no fresh start, the back-off goes on.
        hub.nudge();
        assert!(hub.has_parked());
        w.idle(|| false);
        assert_eq!(w.park, MAX_PARK, "a nudge reset the back-off");
        // Woken by a notification (which takes the registration), it registers afresh: the
        // park after that is short again, since a fresh registration may miss a notification.
        hub.notify();
        assert!(!hub.has_parked());
        w.idle(|| false);
        assert!(hub.has_parked());
        assert_eq!(w.park, FIRST_PARK * 2, "backed off from FIRST_PARK again");
        w.reset();
        assert!(!hub.has_parked());
        assert_eq!(w.park, FIRST_PARK);
    }
}
