//! The control handle: metrics, shutdown, join.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{PipelineError, StageFailure};
use super::runtime::Runtime;
use crate::backing::{MemRing, RingStorage};
use crate::kernel::{CLOSING, FAILED, RUNNING};
use std::thread::JoinHandle;

/// Controls a running pipeline: read metrics, shut it down, wait for it.
///
/// Dropping the control handle shuts the pipeline down (draining) and joins its threads.
///
/// `R` is the ring storage ([`MemRing`] unless the pipeline was started with
/// [`spawn_on`](super::SingleRingPipeline::spawn_on)).
pub struct Control<E, R: RingStorage<Event = E> = MemRing<E>> {
    rt: Arc<Runtime<R>>,
    threads: Vec<StageThread>,
    tuning: Option<super::tuning::TuningReport>,
}

impl<E, R: RingStorage<Event = E>> fmt::Debug for Control<E, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("pipeline", &self.rt.name)
            .field("threads", &self.threads.len())
            .finish()
    }
}

/// One started stage thread (or helper thread, such as the shared-memory watcher).
pub(crate) struct StageThread {
    pub(crate) label: String,
    pub(crate) stage: String,
    pub(crate) shard: u32,
    /// Whether the thread runs a stage (its count goes in the report).
    pub(crate) is_stage: bool,
    pub(crate) handle: JoinHandle<Result<u64, StageFailure>>,
}

/// Lifecycle state of a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PipelineState {
    /// Accepting and processing events.
    Running,
    /// Shut down or producer closed: draining what was published, accepting nothing new.
    Closing,
    /// A stage failed; everything stopped.
    Failed,
}

/// Metrics of one stage instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageMetrics {
    /// Stage name.
    pub stage: String,
    /// Stage id within the ring.
    pub id: u32,
    /// Shard served.
    pub shard: u32,
    /// Events the stage has finished. This is also the stage's sequence in the shard (events
    /// are numbered from 0, and every event below it is finished): the next event it finishes
    /// is number `processed`. Progress moves once per batch, after `on_batch_end`.
    pub processed: u64,
    /// Events published to the shard that the stage has not finished yet.
    pub lag: u64,
}

/// Metrics of one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardMetrics {
    /// Shard index.
    pub shard: u32,
    /// Events published to the shard.
    pub published: u64,
    /// One entry per stage, by stage id.
    pub stages: Vec<StageMetrics>,
}

/// A point-in-time view of a pipeline's counters. Reading it takes relaxed loads only; it
/// never disturbs the hot path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineMetrics {
    /// Pipeline name.
    pub pipeline: String,
    /// Lifecycle state.
    pub state: PipelineState,
    /// One entry per shard.
    pub shards: Vec<ShardMetrics>,
}

impl PipelineMetrics {
    /// Events published over all shards.
    pub fn published(&self) -> u64 {
        self.shards.iter().map(|s| s.published).sum()
    }

    /// Events stage `stage` finished over all shards.
    pub fn processed(&self, stage: &str) -> u64 {
        self.shards
            .iter()
            .flat_map(|s| &s.stages)
            .filter(|m| m.stage == stage)
            .map(|m| m.processed)
            .sum()
    }
}

impl fmt::Display for PipelineMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "pipeline {} ({:?})", self.pipeline, self.state)?;
        writeln!(
            f,
            "  {:<5} {:<16} {:>14} {:>10}",
            "shard", "stage", "processed", "lag"
        )?;
        for shard in &self.shards {
            for m in &shard.stages {
                writeln!(
                    f,
                    "  {:<5} {:<16} {:>14} {:>10}",
                    m.shard, m.stage, m.processed, m.lag
                )?;
            }
        }
        Ok(())
    }
}

/// What each stage instance did, returned by a clean shutdown or join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageReport {
    /// Stage name.
    pub stage: String,
    /// Shard served.
    pub shard: u32,
    /// Events finished.
    pub processed: u64,
}

/// Outcome of a clean shutdown: what was published and what each stage finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineReport {
    /// Pipeline name.
    pub pipeline: String,
    /// Events published per shard.
    pub published: Vec<u64>,
    /// One entry per stage instance.
    pub stages: Vec<StageReport>,
}

impl PipelineReport {
    /// Events published over all shards.
    pub fn total_published(&self) -> u64 {
        self.published.iter().sum()
    }

    /// Events stage `stage` finished over all shards.
    pub fn processed(&self, stage: &str) -> u64 {
        self.stages
            .iter()
            .filter(|r| r.stage == stage)
            .map(|r| r.processed)
            .sum()
    }
}

impl<E, R: RingStorage<Event = E>> Control<E, R> {
    pub(crate) fn new(rt: Arc<Runtime<R>>, threads: Vec<StageThread>) -> Self {
        Control {
            rt,
            threads,
            tuning: None,
        }
    }

    /// What applying a tuning profile to this pipeline did — requested, applied and degraded
    /// settings, each degradation with its reason — once one was applied (`ops::profile::tune`
    /// on Linux; `byteor run --profile` applies one to every run).
    pub fn tuning(&self) -> Option<&super::tuning::TuningReport> {
        self.tuning.as_ref()
    }

    /// Keeps what applying a tuning profile did (see [`tuning`](Self::tuning)).
    #[cfg_attr(not(all(target_os = "linux", not(loom))), allow(dead_code))]
    pub(crate) fn set_tuning(
        &mut self,
        report: super::tuning::TuningReport,
    ) -> &super::tuning::TuningReport {
        self.tuning.insert(report)
    }

    /// `(label, OS thread name)` of each stage thread this handle runs.
    #[cfg_attr(not(all(target_os = "linux", not(loom))), allow(dead_code))]
    pub(crate) fn stage_thread_names(&self) -> Vec<(String, String)> {
        self.threads
            .iter()
            .filter(|t| t.is_stage)
            .filter_map(|t| {
                let name = t.handle.thread().name()?;
                Some((t.label.clone(), name.to_owned()))
            })
            .collect()
    }

    #[cfg(all(target_os = "linux", not(loom)))]
    pub(crate) fn runtime(&self) -> &Arc<Runtime<R>> {
        &self.rt
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.rt.name
    }

    /// The lifecycle state.
    pub fn state(&self) -> PipelineState {
        match self.rt.state() {
            RUNNING => PipelineState::Running,
            CLOSING => PipelineState::Closing,
            _ => PipelineState::Failed,
        }
    }

    /// The failure that stopped the pipeline, if one did.
    pub fn failure(&self) -> Option<StageFailure> {
        self.rt.failure()
    }

    /// Per-stage and per-shard counters.
    pub fn metrics(&self) -> PipelineMetrics {
        let shards = self
            .rt
            .shards
            .iter()
            .enumerate()
            .map(|(i, sh)| {
                let published = sh.ring.cursor().load_relaxed();
                let stages = sh
                    .ring
                    .stage_sequences()
                    .iter()
                    .enumerate()
                    .map(|(id, seq)| {
                        let processed = seq.load_relaxed();
                        StageMetrics {
                            stage: self.rt.stage_names[id].clone(),
                            id: id as u32,
                            shard: i as u32,
                            processed,
                            lag: published.saturating_sub(processed),
                        }
                    })
                    .collect();
                ShardMetrics {
                    shard: i as u32,
                    published,
                    stages,
                }
            })
            .collect();
        PipelineMetrics {
            pipeline: self.rt.name.clone(),
            state: self.state(),
            shards,
        }
    }

    /// Stops accepting events, lets every stage finish everything already published, then
    /// joins the stage threads.
    ///
    /// For an exact end of stream, stop publishing first — drop or
    /// [`close`](super::Producer::close) the producer, or call `shutdown` from the producer's
    /// own thread after its last `publish`. A publish running on another thread at the very
    /// moment of `shutdown` may be refused with [`PipelineError::Closed`]; one that had already
    /// passed its check is processed if the stages see it before they stop, and otherwise
    /// shows as published-but-unprocessed in the report's counts.
    ///
    /// Returns the stage failure if a stage failed before or during the drain.
    pub fn shutdown(self) -> Result<PipelineReport, PipelineError> {
        self.rt.close_from_control();
        self.join_all()
    }

    /// Like [`shutdown`](Self::shutdown), but gives up waiting after `timeout`: then
    /// [`JoinError::Timeout`] names the stages still running and hands this control handle
    /// back, so the caller can wait again, read metrics, or drop it (which waits for the
    /// threads).
    ///
    /// ```
    /// use byteor::exec::JoinError;
    /// use byteor::prelude::*;
    /// use std::time::Duration;
    ///
    /// let pipeline = SingleRing::<u64>::build("slow", |ring| {
    ///     let ring = ring.capacity(64).ingress("in").egress("out");
    ///     let (ring, _) = ring.stage("sleepy", from_fn(|_: &u64, _: &EventContext| {
    ///         std::thread::sleep(Duration::from_millis(200));
    ///         Ok(())
    ///     }));
    ///     ring.build()
    /// })?;
    /// let (mut producer, control) = pipeline.spawn()?;
    /// producer.publish(|e| *e = 1)?;
    /// let control = match control.shutdown_timeout(Duration::from_millis(1)) {
    ///     Err(JoinError::Timeout { control, running, .. }) => {
    ///         assert_eq!(running, ["sleepy"]);
    ///         control // still ours: wait for it properly
    ///     }
    ///     other => panic!("expected a timeout, got {other:?}"),
    /// };
    /// let report = control.join()?;
    /// assert_eq!(report.processed("sleepy"), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_timeout(self, timeout: Duration) -> Result<PipelineReport, JoinError<E, R>> {
        self.rt.close_from_control();
        self.join_timeout(timeout)
    }

    /// Waits for the pipeline to end — the producer closed (dropped) and every stage drained,
    /// or a stage failed — and joins the threads.
    pub fn join(self) -> Result<PipelineReport, PipelineError> {
        self.join_all()
    }

    /// Like [`join`](Self::join), but gives up waiting after `timeout`; on
    /// [`JoinError::Timeout`] the control handle comes back (see
    /// [`shutdown_timeout`](Self::shutdown_timeout)).
    pub fn join_timeout(self, timeout: Duration) -> Result<PipelineReport, JoinError<E, R>> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(100);
        while self.threads.iter().any(|t| !t.handle.is_finished()) {
            if Instant::now() >= deadline {
                let running = self
                    .threads
                    .iter()
                    .filter(|t| !t.handle.is_finished())
                    .map(|t| t.label.clone())
                    .collect();
                return Err(JoinError::Timeout {
                    waited: timeout,
                    running,
                    control: self,
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
        Ok(self.join_all()?)
    }

    fn join_all(mut self) -> Result<PipelineReport, PipelineError> {
        let threads = std::mem::take(&mut self.threads);
        let mut stages = Vec::with_capacity(threads.len());
        for t in threads {
            match t.handle.join() {
                Ok(Ok(processed)) if t.is_stage => stages.push(StageReport {
                    stage: t.stage,
                    shard: t.shard,
                    processed,
                }),
                Ok(Ok(_)) => {}
                // The failure is recorded in the runtime; report the first one below.
                Ok(Err(_)) => {}
                Err(payload) => {
                    // Panics are caught inside the thread; this is a panic while reporting one.
                    self.rt.fail(StageFailure {
                        stage: t.stage,
                        shard: t.shard,
                        sequence: None,
                        reason: super::runtime::panic_message(&*payload),
                        panicked: true,
                    });
                }
            }
        }
        if self.rt.state() == FAILED {
            return Err(self.rt.stopped_error());
        }
        if let Some(e) = self.rt.peer_died() {
            return Err(e);
        }
        // Stages that ran in other processes (shared-memory rings): their sequences say what
        // they finished.
        for (shard, sh) in self.rt.shards.iter().enumerate() {
            for (id, seq) in sh.ring.stage_sequences().iter().enumerate() {
                let name = &self.rt.stage_names[id];
                let local = stages
                    .iter()
                    .any(|r| &r.stage == name && r.shard == shard as u32);
                if !local {
                    stages.push(StageReport {
                        stage: name.clone(),
                        shard: shard as u32,
                        processed: seq.load_relaxed(),
                    });
                }
            }
        }
        Ok(PipelineReport {
            pipeline: self.rt.name.clone(),
            published: self
                .rt
                .shards
                .iter()
                .map(|s| s.ring.cursor().load_relaxed())
                .collect(),
            stages,
        })
    }
}

/// Why [`Control::join_timeout`] or [`Control::shutdown_timeout`] returned without a report.
pub enum JoinError<E, R: RingStorage<Event = E> = MemRing<E>> {
    /// The pipeline ended with an error (a stage failed).
    Pipeline(PipelineError),
    /// Stage threads were still running when the time was up. Nothing was stopped or lost:
    /// `control` is the same handle, to wait on again, read metrics from, or drop.
    Timeout {
        /// How long was waited.
        waited: Duration,
        /// Threads still running (`stage` or `stage-shard`).
        running: Vec<String>,
        /// The control handle, handed back.
        control: Control<E, R>,
    },
}

impl<E, R: RingStorage<Event = E>> JoinError<E, R> {
    /// The control handle, when the wait timed out.
    pub fn into_control(self) -> Option<Control<E, R>> {
        match self {
            JoinError::Timeout { control, .. } => Some(control),
            JoinError::Pipeline(_) => None,
        }
    }

    /// The failed stage's name, when a stage caused the error (see [`PipelineError::stage`]).
    pub fn stage(&self) -> Option<&str> {
        self.pipeline_error().and_then(PipelineError::stage)
    }

    /// The pipeline's error, when it ended with one.
    pub fn pipeline_error(&self) -> Option<&PipelineError> {
        match self {
            JoinError::Pipeline(e) => Some(e),
            JoinError::Timeout { .. } => None,
        }
    }
}

impl<E, R: RingStorage<Event = E>> From<PipelineError> for JoinError<E, R> {
    fn from(e: PipelineError) -> Self {
        JoinError::Pipeline(e)
    }
}

impl<E, R: RingStorage<Event = E>> fmt::Debug for JoinError<E, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Pipeline(e) => f.debug_tuple("Pipeline").field(e).finish(),
            JoinError::Timeout {
                waited,
                running,
                control,
            } => f
                .debug_struct("Timeout")
                .field("waited", waited)
                .field("running", running)
                .field("control", control)
                .finish(),
        }
    }
}

impl<E, R: RingStorage<Event = E>> fmt::Display for JoinError<E, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Pipeline(e) => fmt::Display::fmt(e, f),
            JoinError::Timeout {
                waited, running, ..
            } => write!(
                f,
                "stage threads did not finish within {waited:?} (still running: {running:?})"
            ),
        }
    }
}

impl<E, R: RingStorage<Event = E>> std::error::Error for JoinError<E, R> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JoinError::Pipeline(e) => Some(e),
            JoinError::Timeout { .. } => None,
        }
    }
}

impl<E, R: RingStorage<Event = E>> Drop for Control<E, R> {
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.rt.close_from_control();
        for t in self.threads.drain(..) {
            let _ = t.handle.join();
        }
    }
}
