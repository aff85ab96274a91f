//! The LaneGraph runtime: lane operations per event type, and the role loops — stages, and the routers,
//! merges and bridges lowering inserts — each monomorphised for its event types. Type erasure
//! ([`LaneOps`], lane ends as `Box<dyn Any>`) happens once, when the graph starts; never per
//! event.

use std::any::Any;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;

use crate::backing::journal::JournalOptions;
use crate::exec::{StageError, StageInfo};
use crate::kernel::lane::{lane, LaneCounts};
use crate::spec::LaneSpec;
use crate::vocab::{LaneKind, OnFull};

use super::ends::{InEnd, OutEnd};
use super::error::GraphSpawnError;
use super::stage::{Emitter, LaneStage};
use super::state::{panic_text, GraphRuntime, LaneEvent, RoleFailure};

/// The ends of one lane, type-erased: the writer (an [`OutEnd`]), one reader per reader end
/// (each an [`InEnd`]), and what the runtime keeps to read counts and close it.
pub(super) struct ErasedLane {
    pub(super) writer: Option<Box<dyn Any + Send>>,
    pub(super) readers: Vec<Option<Box<dyn Any + Send>>>,
    pub(super) counts: Box<dyn Fn() -> LaneCounts + Send + Sync>,
    pub(super) close: Box<dyn Fn() + Send + Sync>,
}

/// A role body ready to run on its thread: returns the events it handled.
pub(super) type RoleBody = Box<dyn FnOnce() -> Result<u64, RoleFailure> + Send>;

/// What lanes are made with beyond their spec.
#[derive(Debug, Clone, Default)]
pub(super) struct LaneContext {
    /// Where `Journal` lanes keep their segments: `<root>/<lane name>/`.
    pub(super) journal_root: Option<PathBuf>,
    /// How journal lanes roll and retain segments.
    pub(super) journal_options: JournalOptions,
}

/// What the runtime can do with lanes of one event type without naming it: make them, and run
/// the inserted roles over them.
pub(super) trait LaneOps: Send + Sync {
    /// The event type's name, for messages.
    fn event_type(&self) -> &'static str;
    /// A lane for `spec`.
    fn make(&self, spec: &LaneSpec, ctx: &LaneContext) -> Result<ErasedLane, GraphSpawnError>;
    /// A lane of `spec` between processes (see `shared`): only event types registered for
    /// shared memory have one.
    #[cfg(all(target_os = "linux", not(loom)))]
    fn make_shared(
        &self,
        spec: &LaneSpec,
        _at: super::shared::SharedLaneAt<'_>,
    ) -> Result<(ErasedLane, Arc<dyn super::shared::SharedRegion>), GraphSpawnError> {
        Err(GraphSpawnError::NotShareable {
            lane: spec.name.clone(),
            reason: format!(
                "its events ({}) are not registered for shared memory: register the stage \
                 kinds with `GraphRegistry::register_shm`, or declare the writer's output with \
                 `GraphBuilder::shm_event` (the type must be a `#[derive(ShmEvent)]` type)",
                self.event_type()
            ),
        })
    }
    /// A router or bridge (one input, every event copied into each output) or a merge (several
    /// inputs interleaved, each in order, into one output), run until its inputs finish.
    fn copier(
        &self,
        name: String,
        inputs: Vec<Box<dyn Any + Send>>,
        outputs: Vec<(Box<dyn Any + Send>, OnFull)>,
        rt: Arc<GraphRuntime>,
    ) -> Result<RoleBody, String>;
}

/// [`LaneOps`] for events of type `T`: in-place lanes (`Events`, `SequencedSlots`,
/// `FanoutBroadcast` under `Block`).
pub(super) struct TypedOps<T>(PhantomData<fn() -> T>);

impl<T> TypedOps<T> {
    pub(super) fn new() -> Self {
        TypedOps(PhantomData)
    }
}

/// Takes a lane end of type `E` out of its box.
pub(super) fn end<E: 'static>(end: Box<dyn Any + Send>, what: &str) -> Result<E, String> {
    end.downcast::<E>()
        .map(|b| *b)
        .map_err(|_| format!("{what}: a lane of another event type"))
}

/// Whether a lane of `spec` stores its events as plain data (and so needs `T: Pod`).
pub(super) fn needs_plain_data(spec: &LaneSpec) -> Option<&'static str> {
    match (spec.kind, spec.on_full) {
        (LaneKind::Journal, _) => Some(""),
        (LaneKind::FanoutBroadcast, OnFull::Drop) => Some(" under `drop`"),
        _ => None,
    }
}

impl<T: LaneEvent> TypedOps<T> {
    /// An in-place lane for `spec`.
    pub(super) fn make_in_place(spec: &LaneSpec) -> Result<ErasedLane, GraphSpawnError> {
        let (writer, readers) = lane::<T>(u64::from(spec.capacity), spec.readers.len().max(1))
            .map_err(|e| super::error::shape(&spec.name, e.to_string()))?;
        let handle = writer.handle();
        let closer = writer.handle();
        Ok(ErasedLane {
            writer: Some(Box::new(OutEnd::Lane(writer))),
            readers: readers
                .into_iter()
                .map(|r| Some(Box::new(InEnd::Lane(r)) as Box<dyn Any + Send>))
                .collect(),
            counts: Box::new(move || handle.lane().counts()),
            close: Box::new(move || closer.lane().close()),
        })
    }

    /// The role body of a router, bridge or merge over boxed ends of `T`.
    pub(super) fn copier_of(
        name: String,
        inputs: Vec<Box<dyn Any + Send>>,
        outputs: Vec<(Box<dyn Any + Send>, OnFull)>,
        rt: Arc<GraphRuntime>,
    ) -> Result<RoleBody, String> {
        let mut readers = Vec::with_capacity(inputs.len());
        for input in inputs {
            readers.push(end::<InEnd<T>>(input, &name)?);
        }
        let mut writers = Vec::with_capacity(outputs.len());
        for (output, on_full) in outputs {
            writers.push((end::<OutEnd<T>>(output, &name)?, on_full));
        }
        Ok(Box::new(move || copy_events(&name, readers, writers, &rt)))
    }
}

impl<T: LaneEvent> LaneOps for TypedOps<T> {
    fn event_type(&self) -> &'static str {
        std::any::type_name::<T>()
    }

    fn make(&self, spec: &LaneSpec, _: &LaneContext) -> Result<ErasedLane, GraphSpawnError> {
        if let Some(detail) = needs_plain_data(spec) {
            return Err(GraphSpawnError::NotPlainData {
                lane: spec.name.clone(),
                kind: spec.kind,
                detail,
                event_type: std::any::type_name::<T>(),
            });
        }
        Self::make_in_place(spec)
    }

    fn copier(
        &self,
        name: String,
        inputs: Vec<Box<dyn Any + Send>>,
        outputs: Vec<(Box<dyn Any + Send>, OnFull)>,
        rt: Arc<GraphRuntime>,
    ) -> Result<RoleBody, String> {
        Self::copier_of(name, inputs, outputs, rt)
    }
}

/// A short pause between two batches of a stream that outruns the role (see
/// [`Waiter::pace`](crate::kernel::Waiter::pace)).
#[inline]
fn pace() {
    for _ in 0..crate::kernel::PACE_SPINS {
        std::hint::spin_loop();
    }
}

/// Records `reason` as role `name`'s failure (unless the graph already stopped: then the
/// role just ends) and returns the outcome the role's thread reports.
fn failed(name: &str, reason: String, rt: &GraphRuntime, done: u64) -> Result<u64, RoleFailure> {
    if rt.stopped() {
        return Ok(done);
    }
    let failure = RoleFailure {
        role: name.to_owned(),
        reason,
    };
    rt.fail(failure.clone());
    Err(failure)
}

/// The loop of routers, bridges and merges: reads each input in turn (a merge takes one
/// input's available events, then the next input's: each input keeps its order, none starves)
/// and writes a copy of every event into every output; closes the outputs once every input is
/// finished.
fn copy_events<T: LaneEvent>(
    name: &str,
    mut inputs: Vec<InEnd<T>>,
    mut outputs: Vec<(OutEnd<T>, OnFull)>,
    rt: &GraphRuntime,
) -> Result<u64, RoleFailure> {
    guarded(name, rt, || copy_loop(name, &mut inputs, &mut outputs, rt))
}

/// Runs `body`; if it panics, records the failure before the role's lane ends are dropped (a
/// dropped reader stops gating its writer: a producer must see the graph stopped first, not
/// a lane that suddenly never fills).
fn guarded(
    role: &str,
    rt: &GraphRuntime,
    body: impl FnOnce() -> Result<u64, RoleFailure>,
) -> Result<u64, RoleFailure> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(outcome) => outcome,
        Err(payload) => {
            let failure = RoleFailure {
                role: role.to_owned(),
                reason: panic_text(&*payload),
            };
            rt.fail(failure.clone());
            Err(failure)
        }
    }
}

fn copy_loop<T: LaneEvent>(
    name: &str,
    inputs: &mut [InEnd<T>],
    outputs: &mut [(OutEnd<T>, OnFull)],
    rt: &GraphRuntime,
) -> Result<u64, RoleFailure> {
    // Park on every input at once (a merge is woken by whichever gets an event first); poll
    // when an input is a plain-data lane, which has no hub.
    // One input between processes: sleep on its doorbell.
    let wakers: Option<Vec<_>> = inputs.iter().map(InEnd::waker).collect();
    let sleeper = match &inputs[..] {
        [input] => input.sleeper(),
        _ => None,
    };
    let mut wait = match (&wakers, sleeper) {
        (None, Some(sleeper)) => rt.wait_on(None, Some(sleeper)),
        _ => rt.wait_any(
            wakers
                .as_ref()
                .map(|w| w.iter().map(|(h, s)| (h.lane().hub(), *s)).collect()),
        ),
    };
    let pace_below = inputs.iter().map(InEnd::pace_below).min().unwrap_or(0);
    let mut waited = false;
    let mut copied = 0u64;
    loop {
        if rt.stopped() {
            return Ok(copied);
        }
        let mut moved = 0;
        let mut error = None;
        for input in inputs.iter_mut() {
            let read = input.read(u64::MAX, |event| {
                for (writer, on_full) in outputs.iter_mut() {
                    let mut out = Emitter {
                        writer,
                        on_full: *on_full,
                        rt,
                    };
                    if let Err(e) = out.emit(|slot| slot.clone_from(event)) {
                        error.get_or_insert(e.to_string());
                    }
                }
            });
            match read {
                Ok(n) => moved += n,
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        for (writer, _) in outputs.iter_mut() {
            if let Err(e) = writer.flush() {
                error.get_or_insert(e);
            }
        }
        if let Some(reason) = error {
            return failed(name, reason, rt, copied);
        }
        copied += moved;
        if moved > 0 {
            if waited {
                wait.reset();
                waited = false;
            } else if moved < pace_below {
                pace();
            }
            continue;
        }
        if inputs.iter().all(InEnd::is_finished) {
            for (writer, _) in outputs.iter_mut() {
                if let Err(reason) = writer.close() {
                    return failed(name, reason, rt, copied);
                }
            }
            return Ok(copied);
        }
        wait.idle(|| inputs.iter().any(InEnd::ready) || rt.stopped());
        waited = true;
    }
}

/// Runs `stage` from `input` to `output` until the input finishes (then closes the output) or
/// the graph stops: `on_start` first, `on_batch_end` after each batch it read, `on_shutdown`
/// after a clean end. Returns the events handled.
pub(super) fn run_stage<In, Out, S: LaneStage<In, Out>>(
    info: StageInfo,
    stage: S,
    mut input: InEnd<In>,
    mut output: OutEnd<Out>,
    on_full: OnFull,
    rt: &GraphRuntime,
) -> Result<u64, RoleFailure> {
    let role = info.stage.clone();
    guarded(&role, rt, || {
        stage_loop(info, stage, &mut input, &mut output, on_full, rt)
    })
}

fn stage_loop<In, Out, S: LaneStage<In, Out>>(
    info: StageInfo,
    mut stage: S,
    input: &mut InEnd<In>,
    output: &mut OutEnd<Out>,
    on_full: OnFull,
    rt: &GraphRuntime,
) -> Result<u64, RoleFailure> {
    let fail = |e: StageError| {
        let failure = RoleFailure {
            role: info.stage.clone(),
            reason: e.to_string(),
        };
        rt.fail(failure.clone());
        failure
    };
    stage.on_start(&info).map_err(fail)?;
    let waker = input.waker();
    let mut wait = rt.wait_on(
        waker.as_ref().map(|(h, s)| (h.lane().hub(), *s)),
        input.sleeper(),
    );
    let pace_below = input.pace_below();
    let mut waited = false;
    let mut handled = 0u64;
    loop {
        if rt.stopped() {
            return Ok(handled);
        }
        let mut failed = None;
        let n = input
            .read(u64::MAX, |event| {
                if failed.is_some() {
                    return;
                }
                let mut out = Emitter {
                    writer: &mut *output,
                    on_full,
                    rt,
                };
                match stage.on_event(event, &mut out) {
                    Ok(()) => handled += 1,
                    Err(e) => failed = Some(e),
                }
            })
            .map_err(|e| fail(StageError::msg(e)))?;
        if let Some(e) = failed {
            return Err(fail(e));
        }
        if n > 0 {
            let mut out = Emitter {
                writer: &mut *output,
                on_full,
                rt,
            };
            stage.on_batch_end(&mut out).map_err(fail)?;
            output.flush().map_err(|e| fail(StageError::msg(e)))?;
            // As a SingleRing stage does: a small batch that was already there means the stream
            // outruns the stage; pausing briefly lets the writer fill whole cache lines instead
            // of the two threads trading them event by event.
            if waited {
                wait.reset();
                waited = false;
            } else if n < pace_below {
                pace();
            }
            continue;
        }
        if input.is_finished() {
            stage.on_shutdown();
            output.close().map_err(|e| fail(StageError::msg(e)))?;
            return Ok(handled);
        }
        wait.idle(|| input.ready() || rt.stopped());
        waited = true;
    }
}
