//! What every role of a running graph shares: its lifecycle and first failure, how roles wait,
//! and the bound on the event types lanes carry.

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::kernel::{Lifecycle, WaitStrategy, Waiter, WakeHub, FAILED, RUNNING};

use super::ends::Sleeper;

/// What every thread of a running graph shares: its lifecycle and its first failure.
#[derive(Debug)]
pub(super) struct GraphRuntime {
    lifecycle: Lifecycle,
    failure: Mutex<Option<RoleFailure>>,
    /// How every role, producer and receiver of the graph waits.
    strategy: WaitStrategy,
}

/// A role that stopped the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleFailure {
    /// The role (a stage's name, or an inserted role's generated name).
    pub role: String,
    /// The error text or panic message.
    pub reason: String,
}

impl std::fmt::Display for RoleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "role `{}` failed: {}", self.role, self.reason)
    }
}

impl GraphRuntime {
    pub(super) fn new(strategy: WaitStrategy) -> Self {
        GraphRuntime {
            lifecycle: Lifecycle::new(),
            failure: Mutex::new(None),
            strategy,
        }
    }

    /// How the graph's threads wait for a lane, parked on its hub or polling it.
    #[inline]
    pub(super) fn wait<'h>(&self, hub: Option<(&'h WakeHub, usize)>) -> RoleWait<'h> {
        RoleWait::new(self.strategy, hub)
    }

    /// How the graph's threads wait for one lane: on its hub, or asleep on its doorbell (a
    /// lane between processes), or polling it.
    pub(super) fn wait_on<'h>(
        &self,
        hub: Option<(&'h WakeHub, usize)>,
        sleeper: Option<Arc<dyn Sleeper>>,
    ) -> RoleWait<'h> {
        RoleWait::on(self.strategy, hub, sleeper)
    }

    /// How a thread waits for the first of several lanes: parked on all their hubs at once
    /// when every one has a hub, else polling.
    pub(super) fn wait_any<'h>(&self, hubs: Option<Vec<(&'h WakeHub, usize)>>) -> RoleWait<'h> {
        RoleWait::on_all(self.strategy, hubs.unwrap_or_default())
    }

    /// Whether the graph failed.
    #[inline]
    pub(super) fn stopped(&self) -> bool {
        self.lifecycle.state() == FAILED
    }

    /// Whether the graph accepts new events.
    #[inline]
    pub(super) fn running(&self) -> bool {
        self.lifecycle.state() == RUNNING
    }

    /// Stops accepting events (the drain follows from closed lanes).
    pub(super) fn close(&self) {
        self.lifecycle.close();
    }

    /// Records the first failure and stops everything.
    pub(super) fn fail(&self, failure: RoleFailure) {
        let mut slot = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(failure);
        }
        drop(slot);
        self.lifecycle.fail();
    }

    /// The first failure, if any.
    pub(super) fn failure(&self) -> Option<RoleFailure> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Waiting by polling: a few spins, then yields, then sleeps that grow to 1 ms (an idle poller
/// wakes at most about a thousand times a second). Roles poll only where nothing can wake
/// them: `journal` and lossy broadcast lanes, which have no wake hub or doorbell; everywhere
/// else they park on the lanes' hubs — a merge on all its inputs' at
/// once — and the other side wakes them.
#[derive(Debug, Default)]
pub struct LaneWait {
    tries: u32,
}

impl LaneWait {
    /// Progress was made.
    #[inline]
    pub fn reset(&mut self) {
        self.tries = 0;
    }

    /// Nothing to do yet.
    #[inline]
    pub fn idle(&mut self) {
        if !self.spin_or_yield() {
            // 1 µs more per idle try since the cheap phases, up to 1 ms.
            let micros = self.tries - (Self::SPIN_AND_YIELD - 1);
            std::thread::sleep(Duration::from_micros(u64::from(micros.min(1000))));
        }
    }

    /// Tries spent spinning, then yielding, before a wait sleeps.
    const SPIN_AND_YIELD: u32 = 128;

    /// One try of the cheap phases — a spin hint for the first 64 tries since progress, then a
    /// yield for the next 64 — or `false` once they are spent (the caller sleeps).
    #[inline]
    fn spin_or_yield(&mut self) -> bool {
        self.tries = self.tries.saturating_add(1);
        match self.tries {
            0..=63 => std::hint::spin_loop(),
            64..=127 => std::thread::yield_now(),
            _ => return false,
        }
        true
    }
}

/// How a role waits on its lanes, with the graph's [`WaitStrategy`]: on the lanes' wake hubs
/// (in-place lanes: the other side notifies after each write or release; a merge parks on all
/// its inputs' at once), on a lane between processes asleep on its region's doorbell under
/// `Parking`, or polling (`journal` and lossy broadcast lanes, which nothing rings) —
/// spinning under the spinning strategies, yielding under `Yielding`, and with
/// [`LaneWait`]'s growing sleeps under `Parking`.
pub(super) enum RoleWait<'h> {
    /// The strategy's waits on the hub (parking is bounded: a missed wake-up costs at most
    /// [`FIRST_PARK`](crate::kernel::FIRST_PARK)).
    Hub(Waiter<'h>),
    /// Polling with the strategy.
    Poll(WaitStrategy, LaneWait),
    /// A lane between processes: polling with the strategy, but under `Parking` sleeping on
    /// the lane's doorbell (which its writer rings) instead of [`LaneWait`]'s timed sleeps.
    Sleep(WaitStrategy, Arc<dyn Sleeper>, SleepState),
}

/// How far a [`RoleWait::Sleep`] got: tries since progress, its next sleep's bound, and
/// whether it is announced on the doorbell.
pub(super) struct SleepState {
    tries: LaneWait,
    park: Duration,
    announced: bool,
}

impl Default for SleepState {
    fn default() -> Self {
        SleepState {
            tries: LaneWait::default(),
            park: crate::kernel::FIRST_PARK,
            announced: false,
        }
    }
}

impl Drop for RoleWait<'_> {
    fn drop(&mut self) {
        if let RoleWait::Sleep(_, sleeper, state) = self {
            if state.announced {
                sleeper.retract();
            }
        }
    }
}

impl<'h> RoleWait<'h> {
    /// Waits on every `(hub, slot)` of `hubs` at once (any of them wakes it), or polls when
    /// there are none.
    pub(super) fn on_all(strategy: WaitStrategy, hubs: Vec<(&'h WakeHub, usize)>) -> Self {
        match Waiter::new_multi(strategy, hubs) {
            Some(w) => RoleWait::Hub(w),
            None => RoleWait::Poll(strategy, LaneWait::default()),
        }
    }

    /// Waits on `hub` when given one, else sleeps on `sleeper` when given one, else polls.
    pub(super) fn on(
        strategy: WaitStrategy,
        hub: Option<(&'h WakeHub, usize)>,
        sleeper: Option<Arc<dyn Sleeper>>,
    ) -> Self {
        match (hub, sleeper) {
            (None, Some(sleeper)) => RoleWait::Sleep(strategy, sleeper, SleepState::default()),
            (hub, _) => RoleWait::new(strategy, hub),
        }
    }

    /// Waits in `slot` of `hub` when given one, else polls.
    pub(super) fn new(strategy: WaitStrategy, hub: Option<(&'h WakeHub, usize)>) -> Self {
        match hub {
            Some((hub, slot)) => RoleWait::Hub(Waiter::new(strategy, hub, slot)),
            None => RoleWait::Poll(strategy, LaneWait::default()),
        }
    }

    /// One step of waiting; `ready` re-checks the condition before parking.
    #[inline]
    pub(super) fn idle(&mut self, ready: impl FnOnce() -> bool) {
        match self {
            RoleWait::Hub(w) => w.idle(ready),
            RoleWait::Poll(WaitStrategy::BusySpin, _)
            | RoleWait::Sleep(WaitStrategy::BusySpin, ..) => {}
            RoleWait::Poll(WaitStrategy::SpinHint, _)
            | RoleWait::Sleep(WaitStrategy::SpinHint, ..) => std::hint::spin_loop(),
            RoleWait::Poll(WaitStrategy::Yielding, _)
            | RoleWait::Sleep(WaitStrategy::Yielding, ..) => std::thread::yield_now(),
            RoleWait::Poll(WaitStrategy::Parking, w) => w.idle(),
            RoleWait::Sleep(WaitStrategy::Parking, sleeper, state) => {
                if state.tries.spin_or_yield() {
                    return;
                }
                // Announced once, the first sleep short: a ring at the very moment of the
                // announcement may miss it (see `kernel::doorbell`).
                if !state.announced {
                    sleeper.announce();
                    state.announced = true;
                    state.park = crate::kernel::FIRST_PARK;
                }
                let mut ready = Some(ready);
                let mut once = || ready.take().is_some_and(|f| f());
                sleeper.sleep(&mut once, state.park);
                state.park = (state.park * 2).min(crate::kernel::MAX_PARK);
            }
        }
    }

    /// Sleeps on a doorbell last at most `max` (a caller with a deadline).
    #[inline]
    pub(super) fn cap(&mut self, max: Duration) {
        if let RoleWait::Sleep(_, _, state) = self {
            state.park = state.park.min(max.max(Duration::from_micros(1)));
        }
    }

    /// Progress was made.
    #[inline]
    pub(super) fn reset(&mut self) {
        match self {
            RoleWait::Hub(w) => w.reset(),
            RoleWait::Poll(_, w) => w.reset(),
            RoleWait::Sleep(_, sleeper, state) => {
                if state.announced {
                    sleeper.retract();
                }
                *state = SleepState::default();
            }
        }
    }
}

/// The event types lanes carry: routers copy events, slots start as `Default`.
pub trait LaneEvent: Clone + Default + Send + Sync + 'static {}
impl<T: Clone + Default + Send + Sync + 'static> LaneEvent for T {}

/// The text of a panic payload.
pub(super) fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// A process-unique id for a graph: builder handles and endpoints carry it.
pub(super) fn next_graph_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
