//! Shared runtime state of a running SingleRing pipeline and the stage thread loop.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use crate::backing::{RingStorage, SlotView};
use crate::kernel::{
    DrainTarget, Lifecycle, SequenceBarrier, WaitStrategy, Waiter, WakeHub, CLOSING, FAILED,
    PREFETCH_AHEAD,
};

use super::error::{PipelineError, StageFailure};
use std::cell::Cell;
use std::marker::PhantomData;

use super::stage::{BatchContext, EventContext, StageError, StageImpl, StageInfo};

/// One shard: its ring, its wake-up hub, and the sequence its stages drain to on shutdown.
pub(crate) struct ShardRuntime<R> {
    pub(crate) ring: R,
    pub(crate) hub: WakeHub,
    /// The producer's task awaiting room (`publish_async`): the final stages notify it after
    /// each release, the lifecycle on every change. On its own cache lines: arming writes it.
    #[cfg(feature = "async")]
    pub(crate) room_task: crate::kernel::Padded<crate::kernel::AsyncWaker>,
    drain_target: DrainTarget,
}

impl<R: RingStorage> ShardRuntime<R> {
    /// Events published to this shard: its cursor. Only the producer writes it, so on the
    /// producer's thread a relaxed load sees the latest value.
    #[inline(always)]
    pub(crate) fn published(&self) -> u64 {
        self.ring.cursor().load_relaxed()
    }

    /// Makes the events below `end` visible to the stages: one cursor store, and a wake-up only
    /// if a stage is parked (one relaxed load otherwise). Producer only.
    #[inline(always)]
    pub(crate) fn publish(&self, end: u64) {
        self.ring.cursor().store(end);
        self.hub.notify();
    }
}

/// Everything the producer, the control handle and the stage threads share; `R` is the ring
/// storage of each shard.
pub(crate) struct Runtime<R> {
    pub(crate) name: String,
    pub(crate) stage_names: Vec<String>,
    /// `deps[i]`: bit mask of the stages stage `i` runs after.
    pub(crate) deps: Vec<u32>,
    /// Stages no other stage depends on.
    pub(crate) finals: Vec<usize>,
    pub(crate) strategy: WaitStrategy,
    pub(crate) shards: Box<[ShardRuntime<R>]>,
    /// Read on every publish and every batch (alone on its cache lines).
    lifecycle: Lifecycle,
    failure: Mutex<Option<StageFailure>>,
    /// A process this one worked with that died (stages split over processes only).
    peer_died: Mutex<Option<PipelineError>>,
}

impl<R: RingStorage> Runtime<R> {
    /// The runtime over `rings`, one per shard, each with a sequence per stage.
    pub(crate) fn new(
        name: String,
        stage_names: Vec<String>,
        deps: Vec<u32>,
        finals: Vec<usize>,
        strategy: WaitStrategy,
        rings: Vec<R>,
    ) -> Self {
        let stages = stage_names.len();
        let shards = rings
            .into_iter()
            .map(|ring| ShardRuntime {
                ring,
                // One parking slot per stage, plus one for the producer.
                hub: WakeHub::new(stages + 1),
                #[cfg(feature = "async")]
                room_task: Default::default(),
                drain_target: DrainTarget::new(),
            })
            .collect();
        Runtime {
            name,
            stage_names,
            deps,
            finals,
            strategy,
            shards,
            lifecycle: Lifecycle::new(),
            failure: Mutex::new(None),
            peer_died: Mutex::new(None),
        }
    }
}

impl<R: RingStorage> Runtime<R> {
    #[inline(always)]
    pub(crate) fn state(&self) -> u32 {
        self.lifecycle.state()
    }

    /// Hub slot of the producer.
    pub(crate) fn producer_slot(&self) -> usize {
        self.stage_names.len()
    }

    fn notify_all(&self) {
        self.wake_shards(WakeHub::notify);
    }

    /// Wakes every shard's parked threads with `wake` (a notification or a nudge), and its
    /// producer task awaiting room.
    fn wake_shards(&self, wake: fn(&WakeHub)) {
        for shard in self.shards.iter() {
            wake(&shard.hub);
            #[cfg(feature = "async")]
            shard.room_task.notify();
        }
    }

    /// End of stream from the producer: drain exactly what it published.
    ///
    /// A drain target is set once and never moves: if a shutdown already fixed it, that cut
    /// stands (every stage stops at the same sequence, so no event is handled by some stages
    /// and not others).
    pub(crate) fn close_from_producer(&self, cursors: impl Iterator<Item = u64>) {
        for (shard, cursor) in self.shards.iter().zip(cursors) {
            shard.drain_target.set_once(cursor);
        }
        self.lifecycle.close();
        self.notify_all();
    }

    /// Shutdown requested from outside the producer: stop accepting events, then drain what the
    /// rings hold now.
    pub(crate) fn close_from_control(&self) {
        self.lifecycle.close();
        for shard in self.shards.iter() {
            let cursor = shard.ring.cursor().load_seq_cst();
            // A producer that already closed set the exact target; it stands.
            shard.drain_target.set_once(cursor);
        }
        self.notify_all();
    }

    #[cfg(all(target_os = "linux", not(loom)))]
    /// The stream of shard `shard` ends at `target` (said by a producer in another process):
    /// the stages drain to it and stop.
    pub(crate) fn close_shard_at(&self, shard: usize, target: u64) {
        self.shards[shard].drain_target.set_once(target);
        self.lifecycle.close();
        self.notify_all();
    }

    #[cfg(all(target_os = "linux", not(loom)))]
    /// A peer process died: drain what the rings hold now, and report `error` at the end.
    pub(crate) fn peer_gone(&self, error: PipelineError) {
        {
            let mut slot = self.peer_died.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                *slot = Some(error);
            }
        }
        self.close_from_control();
    }

    /// The death of a peer process this one saw, if any.
    pub(crate) fn peer_died(&self) -> Option<PipelineError> {
        self.peer_died
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    #[cfg(all(target_os = "linux", not(loom)))]
    /// Wakes every parked thread of every shard (helpers polling shared memory use it, every
    /// tick: a process cannot wake another's threads). The registrations stay in place
    /// ([`WakeHub::nudge`]), so an idle thread keeps backing off instead of taking each tick
    /// for a notification and parking briefly again.
    pub(crate) fn wake_all(&self) {
        self.wake_shards(WakeHub::nudge);
    }

    /// Records the first failure and stops everything.
    pub(crate) fn fail(&self, failure: StageFailure) {
        {
            let mut slot = self.failure.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                *slot = Some(failure);
            }
        }
        self.lifecycle.fail();
        self.notify_all();
    }

    /// The first failure, if any.
    pub(crate) fn failure(&self) -> Option<StageFailure> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The error a handle reports once the pipeline is no longer running.
    pub(crate) fn stopped_error(&self) -> PipelineError {
        match (self.failure(), self.peer_died()) {
            (Some(f), _) => PipelineError::StageFailed(f),
            (None, Some(died)) => died,
            (None, None) => PipelineError::Closed,
        }
    }

    pub(crate) fn drain_target(&self, shard: usize) -> Option<u64> {
        self.shards[shard].drain_target.get()
    }
}

/// Handles batches of events for one stage instance.
///
/// [`Typed`] runs a concrete stage in a monomorphised loop (on_event is a direct, usually inlined
/// call). A boxed handler — what the stage registry builds from plan documents — costs one
/// virtual call per *batch*, never per event.
pub(crate) trait BatchHandler<E>: Send {
    /// See [`Stage::on_start`](super::Stage::on_start).
    fn start(&mut self, info: &StageInfo) -> Result<(), StageError>;

    /// Handles events `start..end` of the ring whose slots are `slots`, updating `current` to
    /// the event in hand. On error returns the failing sequence.
    ///
    /// # Safety
    /// Every event in `start..end` is published and finished by every stage this one runs
    /// after, and none is overwritten until this stage passes it; if the stage mutates, no other
    /// stage accesses those events meanwhile.
    unsafe fn handle(
        &mut self,
        slots: SlotView<'_, E>,
        start: u64,
        end: u64,
        shard: u32,
        current: &Cell<u64>,
    ) -> Result<(), (u64, StageError)>;

    /// See [`Stage::on_batch_end`](super::Stage::on_batch_end).
    fn batch_end(&mut self, batch: &BatchContext) -> Result<(), StageError>;

    /// See [`Stage::on_shutdown`](super::Stage::on_shutdown).
    fn shutdown(&mut self);
}

/// A concrete stage with its access marker.
pub(crate) struct Typed<S, M>(pub(crate) S, PhantomData<fn() -> M>);

impl<S, M> Typed<S, M> {
    pub(crate) fn new(stage: S) -> Self {
        Typed(stage, PhantomData)
    }
}

impl<E, S: StageImpl<E, M>, M> BatchHandler<E> for Typed<S, M> {
    fn start(&mut self, info: &StageInfo) -> Result<(), StageError> {
        self.0.start(info)
    }

    #[inline(always)]
    unsafe fn handle(
        &mut self,
        slots: SlotView<'_, E>,
        start: u64,
        end: u64,
        shard: u32,
        current: &Cell<u64>,
    ) -> Result<(), (u64, StageError)> {
        let stride = PREFETCH_AHEAD.stride::<E>();
        let mut seq = start;
        while seq < end {
            // One line's worth of events at a time (`stride` of them, aligned), so the decision
            // to prefetch is taken once per line, not per event. Fetch the slot a few lines
            // ahead, but only inside the batch: a slot past `end` may be the one the producer
            // is writing, and pulling its line here would stall it.
            let line_end = ((seq / stride + 1) * stride).min(end);
            let ahead = seq + PREFETCH_AHEAD.of::<E>();
            if ahead < end && seq % stride == 0 {
                slots.slot(ahead).prefetch();
            }
            for seq in seq..line_end {
                current.set(seq);
                let ctx = EventContext {
                    sequence: seq,
                    shard,
                    end_of_batch: seq + 1 == end,
                };
                // SAFETY: the caller guarantees the access rules for every event of the batch.
                unsafe { self.0.call(slots.slot(seq), &ctx) }.map_err(|e| (seq, e))?;
            }
            seq = line_end;
        }
        Ok(())
    }

    #[inline(always)]
    fn batch_end(&mut self, batch: &BatchContext) -> Result<(), StageError> {
        self.0.batch_end(batch)
    }

    fn shutdown(&mut self) {
        self.0.shutdown()
    }
}

impl<E> BatchHandler<E> for Box<dyn BatchHandler<E>> {
    fn start(&mut self, info: &StageInfo) -> Result<(), StageError> {
        (**self).start(info)
    }

    unsafe fn handle(
        &mut self,
        slots: SlotView<'_, E>,
        start: u64,
        end: u64,
        shard: u32,
        current: &Cell<u64>,
    ) -> Result<(), (u64, StageError)> {
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        unsafe { (**self).handle(slots, start, end, shard, current) }
    }

    fn batch_end(&mut self, batch: &BatchContext) -> Result<(), StageError> {
        (**self).batch_end(batch)
    }

    fn shutdown(&mut self) {
        (**self).shutdown()
    }
}

/// The body of one stage thread: wait, handle a batch, publish progress, repeat. Returns the
/// number of events the stage finished once it stops without failing (drained, or halted by
/// another stage's failure).
pub(crate) fn run_stage<R, H>(
    rt: &Runtime<R>,
    shard: usize,
    stage_id: usize,
    stage: &mut H,
) -> Result<u64, StageFailure>
where
    R: RingStorage,
    H: BatchHandler<R::Event>,
{
    let name = &rt.stage_names[stage_id];
    let fail = |sequence: Option<u64>, reason: String| StageFailure {
        stage: name.clone(),
        shard: shard as u32,
        sequence,
        reason,
        panicked: false,
    };
    let sh = &rt.shards[shard];
    let ring = &sh.ring;
    let slots = SlotView::of(ring);
    let sequences = ring.stage_sequences();
    let own = &sequences[stage_id];

    let mask = rt.deps[stage_id];
    let upstream: Vec<&crate::kernel::Sequence> = if mask == 0 {
        vec![ring.cursor()]
    } else {
        (0..rt.stage_names.len())
            .filter(|j| mask & (1 << j) != 0)
            .map(|j| &sequences[j])
            .collect()
    };
    let barrier = SequenceBarrier::new(&upstream);
    let mut waiter = Waiter::new(rt.strategy, &sh.hub, stage_id);
    // A final stage's release frees ring slots: a producer task may await them.
    #[cfg(feature = "async")]
    let frees_room = rt.finals.contains(&stage_id);

    let info = StageInfo {
        pipeline: rt.name.clone(),
        stage: name.clone(),
        id: stage_id as u32,
        shard: shard as u32,
        shards: rt.shards.len() as u32,
    };
    stage
        .start(&info)
        .map_err(|e| fail(None, format!("on_start failed: {e}")))?;

    // The sequence being handled, readable after a panic (a store per event: no fence, no
    // shared cache line).
    let current = Cell::new(own.load_relaxed());
    let body = catch_unwind(AssertUnwindSafe(|| -> Result<u64, StageFailure> {
        let mut next = current.get();
        let mut waited = false;
        // Batches at least this large mean the stage is behind: it is never paced then.
        let pace_below = ring.capacity() / 4;
        loop {
            let mut available = barrier.available();
            // The lifecycle is read once per batch (or idle check), never per event. Once
            // closing, every stage stops at the shard's drain target, which is set once: all
            // stages cut the stream at the same sequence, and events past it (a publish that
            // raced the shutdown) are handled by none.
            let state = rt.state();
            if state == FAILED {
                return Ok(next);
            }
            if state == CLOSING {
                if let Some(target) = rt.drain_target(shard) {
                    if next >= target {
                        stage.shutdown();
                        return Ok(next);
                    }
                    available = available.min(target);
                }
            }
            if available <= next {
                // Wake on progress or on any change of state — not merely "not running", or
                // a stage waiting during a drain would never park.
                waiter.idle(|| barrier.available() > next || rt.state() != state);
                waited = true;
                continue;
            }
            // A batch that was already there when the stage came back for it means the stream
            // is flowing faster than the stage returns; one that had to be waited for means
            // the stage is keeping up event by event (a request/response flow, say).
            let streaming = !waited;
            if waited {
                waiter.reset();
                waited = false;
            }

            let ctx_shard = shard as u32;
            // SAFETY: every `seq` in `next..available` is below `min(upstream)`, so the
            // producer published the event and every stage this one runs after finished it;
            // the producer will not overwrite the slot until every final stage — this one or
            // one ordered after it — passes `seq`. Stages not ordered with this one only read
            // (`build` refuses a mutating stage that is not ordered against every other stage).
            let handled = unsafe { stage.handle(slots, next, available, ctx_shard, &current) };
            // A failed batch is never released: the stage's sequence stays at the end of the
            // last batch whose `on_batch_end` succeeded, so no stage after this one ever sees
            // an event of it. The failure is recorded before this thread does anything else,
            // so a stage that sees the pipeline still running never sees a failed batch.
            if let Err((seq, e)) = handled {
                return Err(failed(rt, fail(Some(seq), e.to_string())));
            }
            current.set(available);
            let batch = BatchContext {
                start: next,
                end: available,
                shard: ctx_shard,
            };
            if let Err(e) = stage.batch_end(&batch) {
                let reason = format!("on_batch_end failed: {e}");
                return Err(failed(rt, fail(Some(available - 1), reason)));
            }
            own.store(available);
            sh.hub.notify();
            #[cfg(feature = "async")]
            if frees_room {
                sh.room_task.notify();
            }
            // Pace only while the stage is ahead (a stream it keeps up with in small batches):
            // a batch of a quarter of the ring or more means it is behind, and a pause would
            // only leave the producer waiting for room.
            if streaming && available - next < pace_below {
                waiter.pace();
            }
            next = available;
        }
    }));
    match body {
        Ok(outcome) => outcome,
        Err(payload) => {
            // The stage's sequence stays where the last completed batch left it (see above);
            // the failure names the event that was in hand.
            let mut failure = fail(Some(current.get()), panic_message(&*payload));
            failure.panicked = true;
            Err(failed(rt, failure))
        }
    }
}

/// Records `failure` as the pipeline's (the first one recorded wins) and stops every thread;
/// returns it for the stage thread's own result.
fn failed<R: RingStorage>(rt: &Runtime<R>, failure: StageFailure) -> StageFailure {
    rt.fail(failure.clone());
    failure
}

/// Text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
