//! The lock-free core: sequences, barriers, the producer's final-stage gate, wait strategies,
//! the pipeline's lifecycle word and drain targets ([`lifecycle`](Lifecycle)), the SPSC
//! queue under the egress ([`spsc`]), the lanes between LaneGraph roles ([`lane`], and
//! [`broadcast`] for a lossy fan-out, and the [`journal`] gate of a `Journal` lane), the
//! handshake with async tasks waiting on a runtime thread ([`AsyncWaker`]), and the notices
//! processes post to each other through a shared-memory region ([`notice`]).
//!
//! This is the only module with lock-free protocol code; every protocol has a loom model next
//! to it, and everything it uses comes from one `std`/loom facade chosen once for the crate. It works over plain
//! [`Sequence`]s (a padded `AtomicU64`) wherever they live — process memory or a shared-memory
//! mapping — so every backing reuses it unchanged.
//!
//! # Protocol
//! * The producer writes event `n` into slot `n & (capacity - 1)`, then stores `n + 1` into the
//!   cursor (`Release`).
//! * A stage with upstream sequences `U` (the cursor, or the stages it runs after) may read
//!   events below `min(U)` (`Acquire`). It handles every available event in one batch, then
//!   stores its own sequence once (`Release`).
//! * The producer may write event `n` only when `n < min(final stages) + capacity`: every final
//!   stage — and therefore every stage — has finished the event that used that slot before.
//!
//! * Between the two, the executor adds only hints that never change what is visible: a stage
//!   prefetches slots a few cache lines ahead inside its batch, and pauses briefly between
//!   batches of a stream that is outrunning it ([`Waiter::pace`]); the producer prefetches for
//!   writing (`PREFETCHW`) slots below its gate's limit, which every stage has finished.
//!
//! The model tests under `cfg(loom)` check both properties exhaustively on small rings, and
//! the lifecycle and SPSC protocols (see their modules):
//! `RUSTFLAGS="--cfg loom" cargo test -p byteor --lib --release kernel::` (a few minutes on
//! two cores).

mod barrier;
pub mod broadcast;
mod cell;
pub mod doorbell;
pub mod journal;
pub mod lane;
mod lifecycle;
pub mod notice;
mod sequence;
mod spsc;
mod wait;
mod waker;

#[cfg(all(test, loom))]
mod loom_tests;

pub use barrier::{FinalStageGate, SequenceBarrier, MAX_UPSTREAM};
pub use cell::{Padded, SlotCell, CACHE_PADDING};
pub(crate) use cell::{WritePrefetch, PREFETCH_AHEAD};
pub use lifecycle::{DrainTarget, Lifecycle, CLOSING, FAILED, RUNNING};
pub use sequence::{Sequence, SEQUENCE_PADDING};
pub use spsc::{spsc, SpscQueue, SpscReceiver, SpscSender};
pub use wait::{
    WaitStrategy, Waiter, WakeHub, EAGER_CHECKS, FIRST_PARK, MAX_PARK, PACE_SPINS, SPIN_TRIES,
    WAKE_HUB_SLOTS, YIELD_TRIES, YIELD_WINDOW,
};
pub use waker::{AsyncWaker, AsyncWakerSet};
