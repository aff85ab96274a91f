//! What a LaneGraph stage is: it reads events of its input type and emits zero or more events of
//! its output type, written in place into the output lane through an [`Emitter`].

use std::marker::PhantomData;

use crate::exec::{StageError, StageInfo};
use crate::vocab::OnFull;

use super::ends::OutEnd;
use super::state::GraphRuntime;

/// A LaneGraph stage: for each event of its input lane, emits zero or more events into its
/// output lane. Called on the stage's own thread, one event at a time, in order.
///
/// The hooks are those of a SingleRing [`Stage`](crate::exec::Stage): `on_start` once before
/// the first event, `on_batch_end` after each batch of events read (a stage that buffers can
/// emit there), `on_shutdown` once after the last event when the input ends cleanly. An error
/// from any hook stops the graph and names this stage.
pub trait LaneStage<In, Out>: Send + 'static {
    /// Handles one event. Emitting writes into the output lane in place (waiting for room
    /// under `Block`, dropping — counted — under `Drop`); an error stops the graph and names
    /// this stage.
    fn on_event(&mut self, event: &In, out: &mut Emitter<'_, Out>) -> Result<(), StageError>;

    /// Called once on the stage's thread before the first event (`shard` 0 of 1; `id` is the
    /// role's id in the lowered graph).
    fn on_start(&mut self, info: &StageInfo) -> Result<(), StageError> {
        let _ = info;
        Ok(())
    }

    /// Called after each batch of events read from the input lane.
    fn on_batch_end(&mut self, out: &mut Emitter<'_, Out>) -> Result<(), StageError> {
        let _ = out;
        Ok(())
    }

    /// Called once after the last event when the input ends cleanly (not after a failure).
    fn on_shutdown(&mut self) {}
}

/// A [`LaneStage`] from a closure; see [`lane_fn`].
pub struct LaneFn<F, In, Out>(F, PhantomData<fn(&In) -> Out>);

impl<F, In, Out> std::fmt::Debug for LaneFn<F, In, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LaneFn")
    }
}

/// A [`LaneStage`] from a closure `FnMut(&In, &mut Emitter<Out>) -> Result<(), StageError>`.
///
/// ```
/// use byteor::exec::lane_graph::{lane_fn, Emitter};
///
/// // Doubles each number and emits it; emits nothing for zero.
/// let double = lane_fn(|n: &u64, out: &mut Emitter<'_, u64>| {
///     if *n != 0 {
///         out.emit(|slot| *slot = n * 2)?;
///     }
///     Ok(())
/// });
/// # let _ = double;
/// ```
pub fn lane_fn<In, Out, F>(f: F) -> LaneFn<F, In, Out>
where
    F: FnMut(&In, &mut Emitter<'_, Out>) -> Result<(), StageError> + Send + 'static,
{
    LaneFn(f, PhantomData)
}

impl<In: 'static, Out: 'static, F> LaneStage<In, Out> for LaneFn<F, In, Out>
where
    F: FnMut(&In, &mut Emitter<'_, Out>) -> Result<(), StageError> + Send + 'static,
{
    #[inline]
    fn on_event(&mut self, event: &In, out: &mut Emitter<'_, Out>) -> Result<(), StageError> {
        (self.0)(event, out)
    }
}

/// Writes a stage's output events in place into its output lane.
#[derive(Debug)]
pub struct Emitter<'a, Out> {
    pub(super) writer: &'a mut OutEnd<Out>,
    pub(super) on_full: OnFull,
    pub(super) rt: &'a GraphRuntime,
}

impl<Out> Emitter<'_, Out> {
    /// Emits one event, written in place by `fill`. Under `Block` waits for room (and fails if
    /// the graph stops meanwhile); under `Drop` a full lane drops the event and counts it.
    #[inline]
    pub fn emit(&mut self, fill: impl FnOnce(&mut Out)) -> Result<(), StageError> {
        match self.on_full {
            OnFull::Drop => self.writer.write_or_drop(fill).map_err(StageError::msg),
            OnFull::Block => {
                if !self.writer.has_room() {
                    // The slow path: hand over what was written (readers cannot release what
                    // they cannot see), then park on the output lane until a reader releases
                    // a slot.
                    self.writer.flush().map_err(StageError::msg)?;
                    let waker = self.writer.waker();
                    let mut wait = self
                        .rt
                        .wait(waker.as_ref().map(|(h, s)| (h.lane().hub(), *s)));
                    while !self.writer.has_room() {
                        if self.rt.stopped() {
                            return Err(StageError::msg("the graph stopped while emitting"));
                        }
                        let writer = &mut *self.writer;
                        wait.idle(|| writer.has_room());
                    }
                }
                self.writer.try_write(fill).map_err(StageError::msg)?;
                Ok(())
            }
        }
    }
}
