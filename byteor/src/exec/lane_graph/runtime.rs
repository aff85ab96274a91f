//! The LaneGraph runtime: lane operations per event type, and the role loops — stages, and the routers,
//! merges and bridges lowering inserts — each monomorphised for its event types. Type erasure
//! ([`LaneOps`], lane ends as `Box<dyn Any>`) happens once, when the graph starts; never per
//! event.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::exec::{StageError, StageInfo};
use crate::kernel::lane::{lane, LaneCounts, LaneReader, LaneWriter};
use crate::spec::LaneSpec;
use crate::vocab::OnFull;

use super::stage::{Emitter, LaneStage};
use super::state::{GraphRuntime, LaneEvent, LaneWait, RoleFailure};

/// The ends of one lane, type-erased: the writer, one reader per reader end, and what the
/// runtime keeps to read counts and close it.
pub(super) struct ErasedLane {
    pub(super) writer: Option<Box<dyn Any + Send>>,
    pub(super) readers: Vec<Option<Box<dyn Any + Send>>>,
    pub(super) counts: Box<dyn Fn() -> LaneCounts + Send + Sync>,
    pub(super) close: Box<dyn Fn() + Send + Sync>,
}

/// A role body ready to run on its thread: returns the events it handled.
pub(super) type RoleBody = Box<dyn FnOnce() -> Result<u64, RoleFailure> + Send>;

/// What the runtime can do with lanes of one event type without naming it: make them, and run
/// the inserted roles over them.
pub(super) trait LaneOps: Send + Sync {
    /// The event type's name, for messages.
    fn event_type(&self) -> &'static str;
    /// A lane for `spec`.
    fn make(&self, spec: &LaneSpec) -> Result<ErasedLane, String>;
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

/// [`LaneOps`] for events of type `T`.
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

impl<T: LaneEvent> LaneOps for TypedOps<T> {
    fn event_type(&self) -> &'static str {
        std::any::type_name::<T>()
    }

    fn make(&self, spec: &LaneSpec) -> Result<ErasedLane, String> {
        let (writer, readers) = lane::<T>(u64::from(spec.capacity), spec.readers.len().max(1))
            .map_err(|e| format!("lane `{}`: {e}", spec.name))?;
        let handle = writer.handle();
        let closer = writer.handle();
        Ok(ErasedLane {
            writer: Some(Box::new(writer)),
            readers: readers
                .into_iter()
                .map(|r| Some(Box::new(r) as Box<dyn Any + Send>))
                .collect(),
            counts: Box::new(move || handle.lane().counts()),
            close: Box::new(move || closer.lane().close()),
        })
    }

    fn copier(
        &self,
        name: String,
        inputs: Vec<Box<dyn Any + Send>>,
        outputs: Vec<(Box<dyn Any + Send>, OnFull)>,
        rt: Arc<GraphRuntime>,
    ) -> Result<RoleBody, String> {
        let mut readers = Vec::with_capacity(inputs.len());
        for input in inputs {
            readers.push(end::<LaneReader<T>>(input, &name)?);
        }
        let mut writers = Vec::with_capacity(outputs.len());
        for (output, on_full) in outputs {
            writers.push((end::<LaneWriter<T>>(output, &name)?, on_full));
        }
        Ok(Box::new(move || copy_events(&name, readers, writers, &rt)))
    }
}

/// The loop of routers, bridges and merges: reads each input in turn (a merge takes one
/// input's available events, then the next input's: each input keeps its order, none starves)
/// and writes a copy of every event into every output; closes the outputs once every input is
/// finished.
fn copy_events<T: LaneEvent>(
    _name: &str,
    mut inputs: Vec<LaneReader<T>>,
    mut outputs: Vec<(LaneWriter<T>, OnFull)>,
    rt: &GraphRuntime,
) -> Result<u64, RoleFailure> {
    let mut wait = LaneWait::default();
    let mut emit_wait = LaneWait::default();
    let mut copied = 0u64;
    loop {
        if rt.stopped() {
            return Ok(copied);
        }
        let mut moved = 0;
        let mut stopped = false;
        for input in inputs.iter_mut() {
            moved += input.read(|_, event| {
                for (writer, on_full) in outputs.iter_mut() {
                    let mut out = Emitter {
                        writer,
                        on_full: *on_full,
                        wait: &mut emit_wait,
                        rt,
                    };
                    if out.emit(|slot| slot.clone_from(event)).is_err() {
                        stopped = true;
                    }
                }
            });
        }
        if stopped {
            return Ok(copied);
        }
        copied += moved;
        if moved > 0 {
            wait.reset();
            continue;
        }
        if inputs.iter().all(LaneReader::is_finished) {
            for (writer, _) in outputs {
                writer.close();
            }
            return Ok(copied);
        }
        wait.idle();
    }
}

/// Runs `stage` from `input` to `output` until the input finishes (then closes the output) or
/// the graph stops: `on_start` first, `on_batch_end` after each batch it read, `on_shutdown`
/// after a clean end. Returns the events handled.
pub(super) fn run_stage<In, Out, S: LaneStage<In, Out>>(
    info: StageInfo,
    mut stage: S,
    mut input: LaneReader<In>,
    mut output: LaneWriter<Out>,
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
    let mut wait = LaneWait::default();
    let mut emit_wait = LaneWait::default();
    let mut handled = 0u64;
    loop {
        if rt.stopped() {
            return Ok(handled);
        }
        let mut failed = None;
        let n = input.read(|_, event| {
            if failed.is_some() {
                return;
            }
            let mut out = Emitter {
                writer: &mut output,
                on_full,
                wait: &mut emit_wait,
                rt,
            };
            match stage.on_event(event, &mut out) {
                Ok(()) => handled += 1,
                Err(e) => failed = Some(e),
            }
        });
        if let Some(e) = failed {
            return Err(fail(e));
        }
        if n > 0 {
            let mut out = Emitter {
                writer: &mut output,
                on_full,
                wait: &mut emit_wait,
                rt,
            };
            stage.on_batch_end(&mut out).map_err(fail)?;
            wait.reset();
            continue;
        }
        if input.is_finished() {
            stage.on_shutdown();
            output.close();
            return Ok(handled);
        }
        wait.idle();
    }
}
