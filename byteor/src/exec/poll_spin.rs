//! How long a waiting future keeps its task busy before it arms a waker (the `async` feature).
//!
//! Arming an [`AsyncWaker`](crate::kernel::AsyncWaker) costs the waiting side a process-wide
//! barrier (`membarrier`, a system call that interrupts every CPU running the process: tens of
//! microseconds on a virtual machine), so the publishing side can stay at one relaxed load.
//! When an answer is microseconds away — a request/response flow, a consumer keeping up with a
//! producer — that barrier would be most of the wait. So a future that finds nothing first asks
//! its executor to poll it again at once ([`POLLS`] times, as `tokio::task::yield_now` does:
//! other tasks run in between, no thread blocks), and arms only after that. An idle task thus
//! spends a bounded burst of polls per wait, then sleeps until it is woken.

use std::task::Context;

/// Polls a waiting future asks for before it arms its waker.
pub(crate) const POLLS: u16 = 64;

/// A waiting future's count of polls asked for since it last found what it waits for.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PollSpin(u16);

impl PollSpin {
    /// `true` (and the task asked to be polled again) while the budget lasts: the caller
    /// returns `Pending` without arming. `false`: arm now.
    #[inline]
    pub(crate) fn spin(&mut self, cx: &Context<'_>) -> bool {
        if self.0 < POLLS {
            self.0 += 1;
            cx.waker().wake_by_ref();
            true
        } else {
            false
        }
    }

    /// What it waited for came: the next wait starts with a full budget.
    #[inline]
    pub(crate) fn reset(&mut self) {
        self.0 = 0;
    }
}
