//! Stage traits: the code users write.

use std::fmt;
use std::marker::PhantomData;

/// Where an event sits: its sequence, its shard, and whether it ends the current batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventContext {
    /// The event's sequence within its shard (0-based, in publication order).
    pub sequence: u64,
    /// The shard the event was routed to (0 for an unsharded ring).
    pub shard: u32,
    /// Whether this is the last event of the batch the stage is handling now. Stages that
    /// buffer output (say, a socket writer) flush on it.
    pub end_of_batch: bool,
}

/// A batch a stage has just handled: events `start..end` of `shard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchContext {
    /// First sequence of the batch.
    pub start: u64,
    /// One past the last sequence of the batch.
    pub end: u64,
    /// The shard.
    pub shard: u32,
}

impl BatchContext {
    /// Events in the batch.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the batch is empty (never true for batches handed to stages).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// What a stage learns when its thread starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageInfo {
    /// The pipeline's name.
    pub pipeline: String,
    /// The stage's name.
    pub stage: String,
    /// The stage's id (its index in the ring).
    pub id: u32,
    /// The shard this instance serves.
    pub shard: u32,
    /// Number of shards.
    pub shards: u32,
}

/// A stage that reads events.
///
/// Stages run on dedicated threads. Each stage handles every event of its ring (or shard) in
/// order, after the stages it was declared to run after. Several reading stages may look at
/// the same event at the same time, so they get `&E`; a stage that must change the event
/// implements [`MutStage`] instead.
///
/// Returning an error from any hook stops the pipeline: the error, naming the stage, surfaces
/// from the producer, from [`Control::join`](super::Control::join) and from
/// [`Control::shutdown`](super::Control::shutdown).
///
/// A batch whose `on_event` or `on_batch_end` fails (or panics) is never released: the stages
/// that run after this one see none of its events, and the stage's progress
/// ([`StageMetrics::processed`](super::StageMetrics::processed)) stays at the end of the last
/// batch whose `on_batch_end` succeeded. The failure's
/// [`sequence`](super::StageFailure::sequence) is the event `on_event` failed on, or, when
/// `on_batch_end` failed, the last event of the batch.
///
/// ```
/// use byteor::prelude::*;
///
/// #[derive(Default)]
/// struct Sum(u64);
///
/// impl Stage<u64> for Sum {
///     fn on_event(&mut self, event: &u64, _ctx: &EventContext) -> Result<(), StageError> {
///         self.0 += *event;
///         Ok(())
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a stage for events of type `{E}`",
    label = "this does not implement `Stage<{E}>` or `MutStage<{E}>`",
    note = "a ring's stages all handle the ring's event type: implement `Stage<{E}>` (reads `&{E}`) or `MutStage<{E}>` (gets `&mut {E}`)"
)]
pub trait Stage<E>: Send + 'static {
    /// Handles one event.
    fn on_event(&mut self, event: &E, ctx: &EventContext) -> Result<(), StageError>;

    /// Called once on the stage's thread before the first event.
    fn on_start(&mut self, info: &StageInfo) -> Result<(), StageError> {
        let _ = info;
        Ok(())
    }

    /// Called after each batch, before the stage's progress becomes visible downstream. An
    /// error stops the pipeline without releasing the batch (see the trait docs).
    fn on_batch_end(&mut self, batch: &BatchContext) -> Result<(), StageError> {
        let _ = batch;
        Ok(())
    }

    /// Called once after the last event when the pipeline shuts down cleanly (not after a
    /// failure).
    fn on_shutdown(&mut self) {}
}

/// A stage that may change the events it handles.
///
/// A mutating stage gets `&mut E`, so no other stage may look at the same event at the same
/// time: the builder refuses a pipeline in which a mutating stage is not ordered (through
/// dependencies, directly or transitively) against every other stage of the ring.
///
/// ```
/// use byteor::prelude::*;
///
/// struct Double;
///
/// impl MutStage<u64> for Double {
///     fn on_event(&mut self, event: &mut u64, _ctx: &EventContext) -> Result<(), StageError> {
///         *event *= 2;
///         Ok(())
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a mutating stage for events of type `{E}`",
    label = "this does not implement `MutStage<{E}>`"
)]
pub trait MutStage<E>: Send + 'static {
    /// Handles one event, which it may change.
    fn on_event(&mut self, event: &mut E, ctx: &EventContext) -> Result<(), StageError>;

    /// Called once on the stage's thread before the first event.
    fn on_start(&mut self, info: &StageInfo) -> Result<(), StageError> {
        let _ = info;
        Ok(())
    }

    /// Called after each batch, before the stage's progress becomes visible downstream. An
    /// error stops the pipeline without releasing the batch (see the trait docs).
    fn on_batch_end(&mut self, batch: &BatchContext) -> Result<(), StageError> {
        let _ = batch;
        Ok(())
    }

    /// Called once after the last event on a clean shutdown.
    fn on_shutdown(&mut self) {}
}

/// A reading stage made from a closure; see [`from_fn`].
#[derive(Clone)]
pub struct FnStage<F>(F);

impl<F> fmt::Debug for FnStage<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnStage")
    }
}

/// Makes a reading stage from a closure.
///
/// ```
/// use byteor::prelude::*;
/// let mut seen = 0u64;
/// let stage = from_fn(move |event: &u64, _ctx: &EventContext| {
///     seen += *event;
///     Ok(())
/// });
/// # let _ = stage;
/// ```
pub fn from_fn<E, F>(f: F) -> FnStage<F>
where
    F: FnMut(&E, &EventContext) -> Result<(), StageError> + Send + 'static,
{
    FnStage(f)
}

impl<E, F> Stage<E> for FnStage<F>
where
    F: FnMut(&E, &EventContext) -> Result<(), StageError> + Send + 'static,
{
    #[inline(always)]
    fn on_event(&mut self, event: &E, ctx: &EventContext) -> Result<(), StageError> {
        (self.0)(event, ctx)
    }
}

/// A mutating stage made from a closure; see [`from_fn_mut`].
#[derive(Clone)]
pub struct FnMutStage<F>(F);

impl<F> fmt::Debug for FnMutStage<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnMutStage")
    }
}

/// Makes a mutating stage from a closure.
pub fn from_fn_mut<E, F>(f: F) -> FnMutStage<F>
where
    F: FnMut(&mut E, &EventContext) -> Result<(), StageError> + Send + 'static,
{
    FnMutStage(f)
}

impl<E, F> MutStage<E> for FnMutStage<F>
where
    F: FnMut(&mut E, &EventContext) -> Result<(), StageError> + Send + 'static,
{
    #[inline(always)]
    fn on_event(&mut self, event: &mut E, ctx: &EventContext) -> Result<(), StageError> {
        (self.0)(event, ctx)
    }
}

/// The error a stage returns. Any `std::error::Error` converts into it with `?`, and
/// [`StageError::msg`] makes one from text.
pub struct StageError {
    inner: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl StageError {
    /// An error with the given message.
    pub fn msg(message: impl fmt::Display) -> Self {
        StageError {
            inner: message.to_string().into(),
        }
    }

    /// The underlying error.
    pub fn source_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.inner
    }
}

impl<T: std::error::Error + Send + Sync + 'static> From<T> for StageError {
    fn from(err: T) -> Self {
        StageError {
            inner: Box::new(err),
        }
    }
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl fmt::Debug for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// How a stage touches events: marker types selecting [`Stage`] or [`MutStage`] when a stage
/// is added to a builder. Users never name them.
pub mod access {
    /// Reads events (`Stage`).
    #[derive(Debug, Clone, Copy)]
    pub enum Shared {}
    /// Changes events (`MutStage`).
    #[derive(Debug, Clone, Copy)]
    pub enum Exclusive {}
}

/// Adapts [`Stage`] and [`MutStage`] to one monomorphised calling convention. `M` is
/// [`access::Shared`] or [`access::Exclusive`]; the builder infers it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a stage for events of type `{E}`",
    label = "expected a type implementing `Stage<{E}>` or `MutStage<{E}>`",
    note = "a ring's stages all handle the ring's event type: implement `Stage<{E}>` (reads `&{E}`) or `MutStage<{E}>` (gets `&mut {E}`)"
)]
pub trait StageImpl<E, M>: Send + 'static {
    /// Whether the stage gets `&mut E`.
    const MUTATES: bool;

    /// Handles the event in `cell`.
    ///
    /// # Safety
    /// The caller guarantees that no other thread writes the event while this call runs, and,
    /// when `MUTATES` is true, that no other thread accesses it at all.
    unsafe fn call(
        &mut self,
        cell: &crate::kernel::SlotCell<E>,
        ctx: &EventContext,
    ) -> Result<(), StageError>;

    /// See [`Stage::on_start`].
    fn start(&mut self, info: &StageInfo) -> Result<(), StageError>;
    /// See [`Stage::on_batch_end`].
    fn batch_end(&mut self, batch: &BatchContext) -> Result<(), StageError>;
    /// See [`Stage::on_shutdown`].
    fn shutdown(&mut self);
}

impl<E, S: Stage<E>> StageImpl<E, access::Shared> for S {
    const MUTATES: bool = false;

    #[inline(always)]
    unsafe fn call(
        &mut self,
        cell: &crate::kernel::SlotCell<E>,
        ctx: &EventContext,
    ) -> Result<(), StageError> {
        // SAFETY: the caller guarantees no concurrent writer, so a shared reference is valid
        // for the duration of the call.
        cell.with(|p| self.on_event(unsafe { &*p }, ctx))
    }

    fn start(&mut self, info: &StageInfo) -> Result<(), StageError> {
        self.on_start(info)
    }
    fn batch_end(&mut self, batch: &BatchContext) -> Result<(), StageError> {
        self.on_batch_end(batch)
    }
    fn shutdown(&mut self) {
        self.on_shutdown()
    }
}

impl<E, S: MutStage<E>> StageImpl<E, access::Exclusive> for S {
    const MUTATES: bool = true;

    #[inline(always)]
    unsafe fn call(
        &mut self,
        cell: &crate::kernel::SlotCell<E>,
        ctx: &EventContext,
    ) -> Result<(), StageError> {
        // SAFETY: the caller guarantees exclusive access to the event for this call.
        cell.with_mut(|p| self.on_event(unsafe { &mut *p }, ctx))
    }

    fn start(&mut self, info: &StageInfo) -> Result<(), StageError> {
        self.on_start(info)
    }
    fn batch_end(&mut self, batch: &BatchContext) -> Result<(), StageError> {
        self.on_batch_end(batch)
    }
    fn shutdown(&mut self) {
        self.on_shutdown()
    }
}

/// Where the instances of one stage come from.
pub enum StageFactory<S> {
    /// One instance (unsharded rings).
    Once(Option<S>),
    /// One instance cloned per shard.
    Cloned(S, fn(&S) -> S),
    /// A function called once per shard with the shard index.
    PerShard(Box<dyn FnMut(u32) -> S + Send>),
}

impl<S> StageFactory<S> {
    pub(crate) fn make(&mut self, shard: u32) -> Option<S> {
        match self {
            StageFactory::Once(s) => s.take(),
            StageFactory::Cloned(s, clone) => Some(clone(s)),
            StageFactory::PerShard(f) => Some(f(shard)),
        }
    }
}

impl<S> std::fmt::Debug for StageFactory<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StageFactory::Once(_) => "StageFactory::Once",
            StageFactory::Cloned(..) => "StageFactory::Cloned",
            StageFactory::PerShard(_) => "StageFactory::PerShard",
        })
    }
}

/// One stage in a builder's stage list.
pub struct StageEntry<S, M> {
    pub(crate) id: usize,
    pub(crate) factory: StageFactory<S>,
    pub(crate) _access: PhantomData<fn() -> M>,
}

impl<S, M> std::fmt::Debug for StageEntry<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageEntry")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
