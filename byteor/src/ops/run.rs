//! Running a plan document in this process with the built-in generator: what `byteor run`
//! does, as a function.
//!
//! [`run_plan`] resolves every stage by kind (the [`builtin`](super::builtin) kinds and any a
//! product added to the registries), starts the pipeline, publishes generated
//! [`BuiltinEvent`]s into every ingress (`events` of them each, or until `stop` is set), drains
//! every egress, closes the stream, waits for every stage to finish what was published, and
//! reports what each stage, lane and egress did. [`RunReport::complete`] says whether every
//! stage processed everything (and on a LaneGraph whether every lane's counts add up): the
//! condition `byteor run --sp` exits 0 on.
//!
//! ```
//! use byteor::ops::builtin::builtin_kinds;
//! use byteor::ops::run::{run_plan, RunOptions};
//! use byteor::plan::PipelinePlanV2;
//!
//! let plan = PipelinePlanV2::from_toml(r#"
//!     version = 2
//!     name = "bring_up"
//!     target = "single_ring"
//!     [[ingress]]
//!     name = "in"
//!     [[egress]]
//!     name = "out"
//!     [[stages]]
//!     name = "sum"
//!     kind = "checksum"
//!     [[stages]]
//!     name = "latency"
//!     kind = "stamp"
//!     after = ["sum"]
//!     [single_ring]
//!     capacity = 1024
//! "#)?;
//! let (single, graph) = builtin_kinds();
//! let report = run_plan(&plan, &single, &graph, RunOptions::events(10_000))?;
//! assert!(report.complete());
//! assert_eq!(report.published, 10_000);
//! assert_eq!(report.latency["latency"].count(), 10_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backing::{RingStorage, ShmRing};
use crate::exec::lane_graph::{
    EndpointError, GraphRegistry, GraphResolveError, GraphSpawnError, LaneMetrics,
};
use crate::exec::{
    shm_region_path, Control, PipelineError, PipelineMetrics, Producer, ResolveError,
    ResolvedSpawnError, ShmRunOptions, SpawnError, StageRegistry,
};
use crate::plan::PipelinePlanV2;
use crate::spec::SingleRingSpec;
use crate::transport::shm::{Peer, PeerState};
use crate::vocab::ExecutionTargetV1;

use super::builtin::{take_latencies, BuiltinEvent, Generator, LatencyHistogram, Pacer};
use super::capture::{Capture, CaptureTap};
use super::policy::{now_unix, Decision, Policy, PolicyError};
use super::profile::{apply, tune, tune_graph, TuningProfile, TuningReport};

/// A progress callback: see [`RunOptions::progress`].
pub type ProgressFn = Box<dyn FnMut(&Progress) + Send>;

/// What [`run_plan`] generates and how it reports progress.
pub struct RunOptions {
    /// Events to publish into each ingress; `None`: until `stop` is set.
    pub events: Option<u64>,
    /// Events per second per ingress; `None`: as fast as the pipeline takes them.
    pub rate: Option<f64>,
    /// The tuning profile (today: its wait strategy for SingleRing stages and producer).
    pub profile: TuningProfile,
    /// Set it to stop generating; the run then drains and reports.
    pub stop: Arc<AtomicBool>,
    /// Called about every `progress_every` with the counters so far (on the publishing
    /// thread).
    pub progress: Option<ProgressFn>,
    /// How often `progress` is called (default 1 s).
    pub progress_every: Duration,
    /// Where `Journal` lanes keep their files (required when the plan has one).
    pub journal_dir: Option<PathBuf>,
    /// Shared memory under this directory. SingleRing: the rings live there (one region per
    /// shard, `<dir>/<pipeline>.<shard>`), so other processes can attach and `snapshot` can
    /// look; regions are removed after a clean run. LaneGraph: with `roles`, the lanes between
    /// this process and the others (`<dir>/<pipeline>.lane<id>`, see
    /// [`LaneGraphPipeline::spawn_shm`](crate::exec::lane_graph::LaneGraphPipeline::spawn_shm)).
    pub shm_dir: Option<PathBuf>,
    /// On shared memory only: the roles this process runs; `None`: every role. SingleRing: the
    /// ingress's name (the producer: creates the regions and publishes) and stage names; a
    /// process without the producer's role attaches to regions another process created
    /// (waiting up to `attach_timeout` for them) and ends when that producer ends the stream.
    /// LaneGraph: ingress, stage and egress names (inserted roles go with their neighbours);
    /// the process publishes into its ingresses, receives from its egresses, and ends once
    /// its streams ended and the other processes read what it wrote.
    pub roles: Option<Vec<String>>,
    /// How long a role waits for the regions to appear, or the producer for every stage to
    /// attach (default 10 s); on a LaneGraph, a lane's writer for its readers' processes.
    pub attach_timeout: Duration,
    /// Liveness of peer processes on shared memory (heartbeat timeout, tick).
    pub shm_options: ShmRunOptions,
    /// Per ingress name, the events to publish instead of generated ones (a replay's captured
    /// inputs; `events` does not limit them). Each is re-stamped (`stamp_ns`) as it goes out.
    pub inputs: Option<BTreeMap<String, Vec<BuiltinEvent>>>,
    /// Records every published event, and every event a LaneGraph egress receives.
    pub capture: Option<Capture>,
    /// Keeps every event each egress receives in [`RunReport::outputs`] (a SingleRing's:
    /// as its events leave the ring, in process).
    pub collect_outputs: bool,
    /// The environment and its approvals: a plan whose side-effecting stages it does not allow
    /// does not start ([`RunError::Policy`]). Default: `dev`, which allows anything.
    pub policy: Policy,
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("events", &self.events)
            .field("rate", &self.rate)
            .field("profile", &self.profile)
            .field("stop", &self.stop.load(Ordering::Relaxed))
            .field("progress", &self.progress.is_some())
            .field("progress_every", &self.progress_every)
            .field("journal_dir", &self.journal_dir)
            .field("shm_dir", &self.shm_dir)
            .field("roles", &self.roles)
            .field("attach_timeout", &self.attach_timeout)
            .field("inputs", &self.inputs.as_ref().map(|i| i.len()))
            .field(
                "capture",
                &self.capture.as_ref().map(|c| c.dir().to_path_buf()),
            )
            .field("collect_outputs", &self.collect_outputs)
            .field("policy", &self.policy)
            .finish()
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            events: None,
            rate: None,
            profile: TuningProfile::Default,
            stop: Arc::new(AtomicBool::new(false)),
            progress: None,
            progress_every: Duration::from_secs(1),
            journal_dir: None,
            shm_dir: None,
            roles: None,
            attach_timeout: Duration::from_secs(10),
            shm_options: ShmRunOptions::default(),
            inputs: None,
            capture: None,
            collect_outputs: false,
            policy: Policy::default(),
        }
    }
}

impl RunOptions {
    /// Publish `n` events into each ingress, then drain and report.
    pub fn events(n: u64) -> Self {
        RunOptions {
            events: Some(n),
            ..RunOptions::default()
        }
    }
}

/// Counters while a run goes on.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Time since the pipeline started.
    pub elapsed: Duration,
    /// Events published so far (all ingresses).
    pub published: u64,
    /// Per stage (SingleRing) or lane (LaneGraph): how far the slowest reader is behind.
    pub lag: Vec<(String, u64)>,
}

/// One stage's count in a [`RunReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageCount {
    /// Stage (or inserted role) name.
    pub name: String,
    /// Events it processed (SingleRing: over all shards).
    pub processed: u64,
    /// Events it had to process: what was published into its shards (SingleRing); `None` on a
    /// LaneGraph, where the lane counts say it.
    pub expected: Option<u64>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The pipeline.
    pub pipeline: String,
    /// Its execution model.
    pub target: ExecutionTargetV1,
    /// Its spec fingerprint (16 hex digits).
    pub fingerprint: String,
    /// Events published (all ingresses).
    pub published: u64,
    /// From start to the end of the drain.
    pub elapsed: Duration,
    /// Per stage or role.
    pub stages: Vec<StageCount>,
    /// Per lane (LaneGraph only).
    pub lanes: Vec<LaneMetrics>,
    /// Events received per egress (LaneGraph; a SingleRing in process when it captures or
    /// keeps its outputs).
    pub egress: Vec<(String, u64)>,
    /// Latency histograms of `stamp` stages, by stage name.
    pub latency: BTreeMap<String, LatencyHistogram>,
    /// The failure that stopped the pipeline, if one did.
    pub failure: Option<String>,
    /// What the tuning profile asked for and what was applied or degraded.
    pub tuning: TuningReport,
    /// The policy's decision (environment, side-effecting stages, the approvals that allowed
    /// them).
    pub policy: Option<Decision>,
    /// Every event received per egress, when [`RunOptions::collect_outputs`] asked.
    pub outputs: BTreeMap<String, Vec<BuiltinEvent>>,
}

impl RunReport {
    /// A capture failure stops the run: it is the report's failure unless a stage failed
    /// first.
    fn with_capture_error(mut self, error: Option<String>) -> Self {
        if let Some(e) = error {
            self.failure.get_or_insert(format!("capture failed: {e}"));
        }
        self
    }

    /// Whether the run ended cleanly with nothing left behind: no failure, every SingleRing
    /// stage processed everything published to it, every LaneGraph lane's counts add up
    /// (`published = delivered + dropped + lost` for every reader).
    pub fn complete(&self) -> bool {
        self.failure.is_none()
            && self
                .stages
                .iter()
                .all(|s| s.expected.is_none_or(|want| want == s.processed))
            && self.lanes.iter().all(|l| l.counts.adds_up())
    }

    /// Events per second over the run.
    pub fn rate(&self) -> f64 {
        self.published as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(policy) = &self.policy {
            writeln!(f, "{policy}")?;
        }
        writeln!(f, "{}", self.tuning)?;
        writeln!(
            f,
            "{} `{}` (fingerprint {}): {} events in {:.3} s ({:.2} M events/s)",
            self.target.as_str(),
            self.pipeline,
            self.fingerprint,
            self.published,
            self.elapsed.as_secs_f64(),
            self.rate() / 1e6
        )?;
        for s in &self.stages {
            match s.expected {
                Some(want) if want != s.processed => writeln!(
                    f,
                    "  stage {:<20} processed {:>12} of {want}",
                    s.name, s.processed
                )?,
                _ => writeln!(f, "  stage {:<20} processed {:>12}", s.name, s.processed)?,
            }
        }
        for l in &self.lanes {
            let c = &l.counts;
            writeln!(
                f,
                "  lane  {:<30} published {:>10} dropped {:>8} delivered {:?} lost {:?}{}",
                l.lane,
                c.published,
                c.dropped,
                c.delivered,
                c.lost,
                if c.adds_up() {
                    ""
                } else {
                    "  (does not add up)"
                }
            )?;
        }
        for (name, n) in &self.egress {
            writeln!(f, "  egress {name:<19} received  {n:>12}")?;
        }
        for (name, h) in &self.latency {
            let q = |q| h.quantile_ns(q).unwrap_or(0);
            writeln!(
                f,
                "  latency {name:<18} p50 <= {} ns, p99 <= {} ns, p99.9 <= {} ns, max {} ns ({} samples)",
                q(0.5),
                q(0.99),
                q(0.999),
                h.max_ns(),
                h.count()
            )?;
        }
        match &self.failure {
            Some(why) => write!(f, "failed: {why}"),
            None if self.complete() => write!(f, "complete: every stage processed everything"),
            None => write!(f, "incomplete: some stage did not process everything"),
        }
    }
}

/// Why a plan could not be run (a stage failing while it runs is in the report instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A SingleRing plan's stages could not be resolved (every problem listed).
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A SingleRing plan could not start.
    #[error(transparent)]
    Spawn(#[from] ResolvedSpawnError),
    /// A LaneGraph plan could not be resolved (every problem listed).
    #[error(transparent)]
    ResolveGraph(#[from] GraphResolveError),
    /// A LaneGraph plan could not start.
    #[error(transparent)]
    SpawnGraph(#[from] GraphSpawnError),
    /// An ingress or egress does not carry the built-in event type.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The policy refused the plan's side-effecting stages (every unapproved one is named).
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The plan does not lower.
    #[error(transparent)]
    Lower(#[from] crate::lower::LowerError),
    /// A shared-memory region could not be created or attached.
    #[error(transparent)]
    SpawnShm(#[from] SpawnError),
    /// A role is not the ingress or a stage of the plan, or roles were given without shared
    /// memory, or for a LaneGraph.
    #[error("{0}")]
    Roles(String),
    /// Waiting for regions or peers took longer than the attach timeout.
    #[error("{0}")]
    AttachTimeout(String),
    /// The OS refused a thread.
    #[error("cannot start the `{thread}` thread: {source}")]
    Thread {
        /// Which one.
        thread: String,
        /// The OS's reason.
        source: std::io::Error,
    },
}

/// Runs `plan` in this process; see the [module docs](self).
pub fn run_plan(
    plan: &PipelinePlanV2,
    single: &StageRegistry<BuiltinEvent>,
    graph: &GraphRegistry,
    mut options: RunOptions,
) -> Result<RunReport, RunError> {
    let spec = crate::lower::lower_v2(plan)?;
    let decision = options.policy.check(&spec, now_unix())?;
    let mut report = match plan.target {
        ExecutionTargetV1::SingleRing => run_single_ring(plan, single, &mut options, &decision),
        ExecutionTargetV1::LaneGraph => run_lane_graph(plan, graph, &mut options),
    }?;
    if let Some(capture) = &mut options.capture {
        if let Err(e) = capture.flush() {
            report = report.with_capture_error(Some(e.to_string()));
        }
    }
    report.policy = Some(decision);
    Ok(report)
}

/// Where an ingress's events come from.
enum Source {
    /// The generator.
    Generated(Generator),
    /// Given events (a replay's captured inputs), re-stamped as they go out.
    Given(std::vec::IntoIter<BuiltinEvent>),
}

/// One ingress's publishing: its source, pacing, limit, stop flag and capture.
struct Feeder {
    source: Source,
    tap: Option<CaptureTap>,
    pacer: Option<Pacer>,
    limit: Option<u64>,
    stop: Arc<AtomicBool>,
    published: u64,
    capture_error: Option<String>,
}

impl Feeder {
    /// The feeder of ingress number `index`, named `name`.
    fn new(options: &mut RunOptions, index: usize, name: &str) -> Feeder {
        let given = options.inputs.as_mut().and_then(|i| i.remove(name));
        let (source, limit) = match given {
            Some(events) => (Source::Given(events.into_iter()), None),
            None => (
                Source::Generated(if index == 0 {
                    Generator::new()
                } else {
                    // Other ingresses' sequences start far apart, so every event is unique.
                    Generator::starting_at((index as u64) << 40)
                }),
                options.events,
            ),
        };
        Feeder {
            source,
            tap: options.capture.as_mut().and_then(|c| c.take_input(index)),
            pacer: options.rate.filter(|r| *r > 0.0).map(Pacer::new),
            limit,
            stop: Arc::clone(&options.stop),
            published: 0,
            capture_error: None,
        }
    }

    /// The next event to publish, once it is due; `None` when the feed ends.
    #[inline]
    fn next(&mut self) -> Option<BuiltinEvent> {
        if self.limit.is_some_and(|n| self.published >= n)
            || self.stop.load(Ordering::Relaxed)
            || self.capture_error.is_some()
        {
            return None;
        }
        // Pace first, then make (and stamp) the event: its latency starts when it goes out,
        // not before the pacer's wait.
        if let Some(p) = &mut self.pacer {
            p.wait();
        }
        let mut e = BuiltinEvent::default();
        match &mut self.source {
            Source::Generated(g) => g.fill(&mut e),
            Source::Given(events) => {
                e = events.next()?;
                e.stamp_ns = super::builtin::now_ns();
            }
        }
        Some(e)
    }

    /// `e` went out.
    #[inline]
    fn sent(&mut self, e: &BuiltinEvent) {
        self.published += 1;
        if let Some(tap) = &mut self.tap {
            if let Err(err) = tap.record(e) {
                self.capture_error = Some(err.to_string());
            }
        }
    }

    /// Publishes events with `publish` (`false`: the pipeline stopped, the report says why)
    /// until the feed ends, calling `after(published)` after each one.
    #[inline]
    fn pump(&mut self, mut publish: impl FnMut(BuiltinEvent) -> bool, mut after: impl FnMut(u64)) {
        while let Some(e) = self.next() {
            if !publish(e) {
                break;
            }
            self.sent(&e);
            after(self.published);
        }
    }

    /// Flushes the capture; returns what went out and any capture failure.
    fn finish(mut self) -> (u64, Option<String>) {
        if let Some(tap) = &mut self.tap {
            if let Err(err) = tap.flush() {
                self.capture_error.get_or_insert(err.to_string());
            }
        }
        (self.published, self.capture_error)
    }
}

/// Progress reports from the publishing loop.
struct Ticker<'a> {
    callback: Option<&'a mut ProgressFn>,
    start: Instant,
    every: Duration,
    next: Instant,
}

impl<'a> Ticker<'a> {
    fn new(options: &'a mut RunOptions, start: Instant) -> Self {
        let every = options.progress_every;
        Ticker {
            callback: options.progress.as_mut(),
            start,
            every,
            next: start + every,
        }
    }

    /// Whether progress is due (the clock is read every 1024 events).
    #[inline]
    fn due(&self, published: u64) -> bool {
        self.callback.is_some() && published % 1024 == 0 && Instant::now() >= self.next
    }

    fn report(&mut self, published: u64, lag: Vec<(String, u64)>) {
        self.next = Instant::now() + self.every;
        let p = Progress {
            elapsed: self.start.elapsed(),
            published,
            lag,
        };
        if let Some(cb) = &mut self.callback {
            cb(&p);
        }
    }
}

fn run_single_ring(
    plan: &PipelinePlanV2,
    registry: &StageRegistry<BuiltinEvent>,
    options: &mut RunOptions,
    decision: &Decision,
) -> Result<RunReport, RunError> {
    let resolved = registry
        .resolve(plan)?
        .wait_strategy(options.profile.wait_strategy());
    let fingerprint = resolved.spec().fingerprint().to_string();
    let ring = match &resolved.spec().topology {
        crate::spec::TopologySpec::SingleRing(ring) => ring.clone(),
        crate::spec::TopologySpec::LaneGraph(_) => unreachable!("resolved as a SingleRing"),
    };
    let start = Instant::now();
    // A sharded plan's shard key names a field of the product's event; the built-in event
    // shards by its `value` (pseudo-random, so shards fill evenly).
    let key = |e: &BuiltinEvent| e.value;
    let Some(dir) = options.shm_dir.clone() else {
        if options.roles.is_some() {
            return Err(RunError::Roles(
                "roles run in separate processes over shared memory: give a shm directory".into(),
            ));
        }
        let (resolved, sink) = tap_egress(resolved, options);
        let (producer, mut control) = resolved.spawn_sharded(key)?;
        let tuning = tune(&mut control, options.profile, Some(ring.ingress.as_str())).clone();
        let (published, capture_error) =
            publish_all(producer, &control, options, &ring.ingress, start);
        let metrics = settle(&control);
        let joined = control.join().map(|_| ());
        let mut report = single_ring_report(
            plan,
            fingerprint,
            published,
            start,
            &metrics,
            joined,
            None,
            tuning,
        )
        .with_capture_error(capture_error);
        if let Some(sink) = sink {
            let sink = std::mem::take(&mut *sink.lock().unwrap_or_else(|p| p.into_inner()));
            report.egress.push((ring.egress.clone(), sink.count));
            if let Some(kept) = sink.kept {
                report.outputs.insert(ring.egress.clone(), kept);
            }
            let mut error = sink.error;
            if let Some(mut tap) = sink.tap {
                if let Err(e) = tap.flush() {
                    error.get_or_insert(e.to_string());
                }
            }
            report = report.with_capture_error(error);
        }
        return Ok(report);
    };

    let stage_names: Vec<String> = plan.stages.iter().map(|s| s.name.clone()).collect();
    let (producer_role, stages) = split_roles(plan, &ring, options.roles.as_deref())?;
    let stage_refs: Vec<&str> = stages.iter().map(String::as_str).collect();
    let shm = options.shm_options.clone();
    if producer_role {
        let (producer, mut control) = resolved.create_shm(key, &dir, &shm)?;
        // What the policy decided, next to the regions, for `snapshot` (best effort: the
        // regions work without it).
        let policy_file = super::snapshot::policy_path(&dir, &plan.name);
        let _ = std::fs::write(&policy_file, format!("{decision}\n"));
        let mut local = if stage_refs.is_empty() {
            None
        } else {
            Some(
                registry
                    .resolve(plan)?
                    .attach_shm(&dir, &stage_refs, &shm)?,
            )
        };
        wait_for_stages(
            &control,
            &stage_names,
            options.attach_timeout,
            &options.stop,
        )?;
        // The stages of this process run under `local`; the report goes to both handles.
        let tuning = match &mut local {
            Some(local) => tune(local, options.profile, Some(ring.ingress.as_str())).clone(),
            None => apply(options.profile, Some(ring.ingress.as_str()), &[]),
        };
        control.set_tuning(tuning.clone());
        let (published, capture_error) =
            publish_all(producer, &control, options, &ring.ingress, start);
        let metrics = settle(&control);
        let local_joined = local.map(|c| c.join().map(|_| ()));
        let regions: Vec<PathBuf> = control
            .rings()
            .map(|r| r.region().path().to_path_buf())
            .collect();
        let joined = control.join().map(|_| ());
        let joined = match (joined, local_joined) {
            (Err(e), _) | (Ok(()), Some(Err(e))) => Err(e),
            _ => Ok(()),
        };
        if joined.is_ok() {
            // Every stage drained the stream: nobody needs the regions any more.
            for path in regions {
                let _ = std::fs::remove_file(path);
            }
            let _ = std::fs::remove_file(&policy_file);
        }
        Ok(single_ring_report(
            plan,
            fingerprint,
            published,
            start,
            &metrics,
            joined,
            None,
            tuning,
        )
        .with_capture_error(capture_error))
    } else {
        let shards = ring.shards;
        wait_for_regions(
            &dir,
            &plan.name,
            shards,
            options.attach_timeout,
            &options.stop,
        )?;
        let mut control = resolved.attach_shm(&dir, &stage_refs, &shm)?;
        let tuning = tune(&mut control, options.profile, None).clone();
        let (metrics, joined) = settle_stage_process(control, &stages);
        let published = metrics.published();
        Ok(single_ring_report(
            plan,
            fingerprint,
            published,
            start,
            &metrics,
            joined,
            Some(&stages),
            tuning,
        ))
    }
}

/// What reached a SingleRing's egress, shared by the shards' taps.
#[derive(Default)]
struct EgressSink {
    tap: Option<CaptureTap>,
    kept: Option<Vec<BuiltinEvent>>,
    count: u64,
    error: Option<String>,
}

/// Taps the ring's egress when the run captures outputs or keeps them; returns the sink.
#[allow(clippy::type_complexity)]
fn tap_egress(
    resolved: crate::exec::ResolvedPipeline<BuiltinEvent>,
    options: &mut RunOptions,
) -> (
    crate::exec::ResolvedPipeline<BuiltinEvent>,
    Option<Arc<std::sync::Mutex<EgressSink>>>,
) {
    let tap = options.capture.as_mut().and_then(|c| c.take_output(0));
    if tap.is_none() && !options.collect_outputs {
        return (resolved, None);
    }
    let sink = Arc::new(std::sync::Mutex::new(EgressSink {
        tap,
        kept: options.collect_outputs.then(Vec::new),
        count: 0,
        error: None,
    }));
    let shared = Arc::clone(&sink);
    let resolved = resolved.tap_egress(move |_shard| {
        let sink = Arc::clone(&shared);
        // One lock per batch (never per event), on the last final stage's thread.
        Box::new(move |events: &[BuiltinEvent]| {
            let mut sink = sink.lock().unwrap_or_else(|p| p.into_inner());
            let sink = &mut *sink;
            sink.count += events.len() as u64;
            if let Some(kept) = &mut sink.kept {
                kept.extend_from_slice(events);
            }
            if let (Some(tap), None) = (&mut sink.tap, &sink.error) {
                for e in events {
                    if let Err(err) = tap.record(e) {
                        sink.error = Some(err.to_string());
                        break;
                    }
                }
            }
        })
    });
    (resolved, Some(sink))
}

/// Which roles of a SingleRing plan this process runs: whether it is the producer (the
/// ingress's role), and which stages.
fn split_roles(
    plan: &PipelinePlanV2,
    ring: &SingleRingSpec,
    roles: Option<&[String]>,
) -> Result<(bool, Vec<String>), RunError> {
    let ingress = ring.ingress.clone();
    let all: Vec<String> = plan.stages.iter().map(|s| s.name.clone()).collect();
    let Some(roles) = roles else {
        return Ok((true, all));
    };
    let mut producer = false;
    let mut stages = Vec::new();
    let mut unknown = Vec::new();
    for role in roles {
        if *role == ingress {
            producer = true;
        } else if all.contains(role) {
            stages.push(role.clone());
        } else {
            unknown.push(format!("`{role}`"));
        }
    }
    if !unknown.is_empty() {
        return Err(RunError::Roles(format!(
            "no role {} in `{}`: its roles are `{ingress}` (the producer) and the stages {}",
            unknown.join(", "),
            plan.name,
            all.iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok((producer, stages))
}

/// Polls `missing` every `every` until it returns `None` (nothing missing any more); fails
/// with its last answer, described by `late`, after `timeout`, or at once when `stop` is set.
fn wait_until(
    timeout: Duration,
    every: Duration,
    stop: &AtomicBool,
    mut missing: impl FnMut() -> Option<String>,
    late: impl FnOnce(String) -> String,
) -> Result<(), RunError> {
    let deadline = Instant::now() + timeout;
    loop {
        let Some(what) = missing() else {
            return Ok(());
        };
        if stop.load(Ordering::Relaxed) {
            return Err(RunError::AttachTimeout(
                "stopped while waiting for the other roles".into(),
            ));
        }
        if Instant::now() >= deadline {
            return Err(RunError::AttachTimeout(late(what)));
        }
        std::thread::sleep(every);
    }
}

/// Waits until every shard's region file of `pipeline` exists in `dir` (opening then waits,
/// bounded, for its creator to finish it).
fn wait_for_regions(
    dir: &std::path::Path,
    pipeline: &str,
    shards: u32,
    timeout: Duration,
    stop: &AtomicBool,
) -> Result<(), RunError> {
    let missing = || {
        let paths: Vec<String> = (0..shards)
            .map(|s| shm_region_path(dir, pipeline, s))
            .filter(|p| !p.exists())
            .map(|p| p.display().to_string())
            .collect();
        (!paths.is_empty()).then(|| paths.join(", "))
    };
    wait_until(timeout, Duration::from_millis(10), stop, missing, |paths| {
        format!("no producer created {paths} within {timeout:?}")
    })
}

/// The producer waits until every stage's place is taken, so its first events do not find
/// the ring without readers (which the watcher would report as stages down).
fn wait_for_stages(
    control: &Control<BuiltinEvent, ShmRing<BuiltinEvent>>,
    stages: &[String],
    timeout: Duration,
    stop: &AtomicBool,
) -> Result<(), RunError> {
    let missing = || {
        let absent: Vec<String> = stages
            .iter()
            .enumerate()
            .filter(|&(i, _)| {
                control.rings().any(|ring| {
                    matches!(
                        ring.region().peer_state(Peer::Stage(i), timeout),
                        PeerState::Absent
                    )
                })
            })
            .map(|(_, name)| format!("`{name}`"))
            .collect();
        (!absent.is_empty()).then(|| {
            let s = if absent.len() == 1 { "" } else { "s" };
            format!("stage{s} {}", absent.join(", "))
        })
    };
    wait_until(timeout, Duration::from_millis(5), stop, missing, |stages| {
        format!("{stages} did not attach within {timeout:?}")
    })
}

/// Publishes the ingress's events until its feed ends, then closes the stream; returns how
/// many went out and any capture failure.
fn publish_all<K, R>(
    mut producer: Producer<BuiltinEvent, K, R>,
    control: &Control<BuiltinEvent, R>,
    options: &mut RunOptions,
    ingress: &str,
    start: Instant,
) -> (u64, Option<String>)
where
    K: crate::exec::Router<BuiltinEvent>,
    R: RingStorage<Event = BuiltinEvent>,
{
    let mut feeder = Feeder::new(options, 0, ingress);
    let mut ticker = Ticker::new(options, start);
    // A failed publish means a stage failed or its process went down: the report says which.
    feeder.pump(
        |e| producer.publish(|slot| *slot = e).is_ok(),
        |published| {
            if ticker.due(published) {
                let m = control.metrics();
                ticker.report(m.published(), stage_lags(&m));
            }
        },
    );
    producer.close();
    feeder.finish()
}

/// Waits until every stage finished what was published, or the pipeline failed, and returns
/// the counters then (`join` consumes the control and returns no counts on failure).
fn settle<R: RingStorage<Event = BuiltinEvent>>(
    control: &Control<BuiltinEvent, R>,
) -> PipelineMetrics {
    loop {
        let m = control.metrics();
        let done = m
            .shards
            .iter()
            .all(|sh| sh.stages.iter().all(|s| s.processed == sh.published));
        if done || control.failure().is_some() {
            return m;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A stage process's end: once the producer ended the stream (or died, or the pipeline
/// failed) and this process's stages finished what was published, the counters; then join.
fn settle_stage_process(
    control: Control<BuiltinEvent, ShmRing<BuiltinEvent>>,
    mine: &[String],
) -> (PipelineMetrics, Result<(), PipelineError>) {
    loop {
        let m = control.metrics();
        let ending = control.state() != crate::exec::PipelineState::Running;
        let drained = m.shards.iter().all(|sh| {
            sh.stages
                .iter()
                .filter(|s| mine.contains(&s.stage))
                .all(|s| s.processed == sh.published)
        });
        if (ending && drained) || control.failure().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let metrics = control.metrics();
    let joined = control.join().map(|_| ());
    (metrics, joined)
}

#[allow(clippy::too_many_arguments)]
fn single_ring_report(
    plan: &PipelinePlanV2,
    fingerprint: String,
    published: u64,
    start: Instant,
    metrics: &PipelineMetrics,
    joined: Result<(), PipelineError>,
    only: Option<&[String]>,
    tuning: TuningReport,
) -> RunReport {
    let mut stages: Vec<StageCount> = Vec::new();
    for shard in &metrics.shards {
        for s in &shard.stages {
            if only.is_some_and(|only| !only.contains(&s.stage)) {
                continue;
            }
            match stages.iter_mut().find(|c| c.name == s.stage) {
                Some(c) => {
                    c.processed += s.processed;
                    *c.expected.get_or_insert(0) += shard.published;
                }
                None => stages.push(StageCount {
                    name: s.stage.clone(),
                    processed: s.processed,
                    expected: Some(shard.published),
                }),
            }
        }
    }
    RunReport {
        pipeline: plan.name.clone(),
        target: ExecutionTargetV1::SingleRing,
        fingerprint,
        published,
        elapsed: start.elapsed(),
        stages,
        lanes: Vec::new(),
        egress: Vec::new(),
        latency: take_latencies(&plan.name),
        failure: joined.err().map(|e| match e {
            PipelineError::StageFailed(f) => f.to_string(),
            e => e.to_string(),
        }),
        tuning,
        policy: None,
        outputs: BTreeMap::new(),
    }
}

fn stage_lags(m: &crate::exec::PipelineMetrics) -> Vec<(String, u64)> {
    let mut lag: Vec<(String, u64)> = Vec::new();
    for shard in &m.shards {
        for s in &shard.stages {
            match lag.iter_mut().find(|(n, _)| *n == s.stage) {
                Some((_, l)) => *l = (*l).max(s.lag),
                None => lag.push((s.stage.clone(), s.lag)),
            }
        }
    }
    lag
}

fn lane_lags(lanes: &[LaneMetrics]) -> Vec<(String, u64)> {
    lanes
        .iter()
        .map(|l| {
            let c = &l.counts;
            let behind = (0..c.delivered.len())
                .map(|r| {
                    c.written
                        .saturating_sub(c.delivered[r] + c.lost.get(r).copied().unwrap_or(0))
                })
                .max()
                .unwrap_or(0);
            (l.lane.clone(), behind)
        })
        .collect()
}

fn run_lane_graph(
    plan: &PipelinePlanV2,
    registry: &GraphRegistry,
    options: &mut RunOptions,
) -> Result<RunReport, RunError> {
    let mut pipeline = registry
        .resolve(plan)?
        .wait_strategy(options.profile.wait_strategy());
    if let Some(dir) = &options.journal_dir {
        pipeline = pipeline.journal_dir(dir.clone());
    }
    let fingerprint = pipeline.spec().fingerprint().to_string();
    let start = Instant::now();
    // Which process roles run here: every one, or those given (over shared memory).
    let given = options.roles.clone();
    let mine = |name: &str| given.as_ref().is_none_or(|r| r.iter().any(|n| n == name));
    let (mut ends, mut control) = match (&options.shm_dir, &options.roles) {
        (None, None) => pipeline.spawn()?,
        (Some(dir), Some(given)) => {
            let given: Vec<&str> = given.iter().map(String::as_str).collect();
            let shm = ShmRunOptions {
                attach_timeout: options.attach_timeout,
                ..options.shm_options.clone()
            };
            pipeline.spawn_shm(dir, &given, &shm)?
        }
        (None, Some(_)) => {
            return Err(RunError::Roles(
                "roles run in separate processes over shared memory: give a shm directory".into(),
            ))
        }
        (Some(_), None) => {
            return Err(RunError::Roles(format!(
                "`{}` is a LaneGraph: in one process its lanes stay in process memory; give the roles this process runs to put the lanes between processes in shared memory",
                plan.name
            )))
        }
    };
    let first_ingress = plan
        .ingress
        .iter()
        .find(|i| mine(&i.name))
        .map(|i| i.name.clone());
    let tuning = tune_graph(&mut control, options.profile, first_ingress.as_deref()).clone();

    // Drain every egress on a thread of its own: count, capture, keep.
    let mut drains = Vec::new();
    for (index, egress) in plan.egress.iter().enumerate() {
        if !mine(&egress.name) {
            continue;
        }
        let mut rx = ends.receiver_named::<BuiltinEvent>(&egress.name)?;
        let mut tap = options.capture.as_mut().and_then(|c| c.take_output(index));
        let keep = options.collect_outputs;
        let handle = std::thread::Builder::new()
            .name(crate::exec::thread_name("out", &egress.name, None))
            .spawn(move || {
                let mut count = 0u64;
                let mut kept = Vec::new();
                let mut capture_error = None;
                let mut take = |e: &BuiltinEvent| {
                    count += 1;
                    if keep {
                        kept.push(*e);
                    }
                    if let Some(t) = &mut tap {
                        if let Err(err) = t.record(e) {
                            capture_error.get_or_insert(err.to_string());
                        }
                    }
                };
                loop {
                    rx.recv_all(&mut take);
                    match rx.recv_timeout(Duration::from_millis(50)) {
                        Ok(Some(e)) => take(&e),
                        Ok(None) | Err(crate::exec::lane_graph::GraphRecvError::Failed(_)) => break,
                        Err(_) => {}
                    }
                }
                if let Some(t) = &mut tap {
                    if let Err(err) = t.flush() {
                        capture_error.get_or_insert(err.to_string());
                    }
                }
                (count, kept, capture_error)
            })
            .map_err(|source| RunError::Thread {
                thread: format!("egress {}", egress.name),
                source,
            })?;
        drains.push((egress.name.clone(), handle));
    }

    // One publishing thread per ingress beyond the first; the first publishes here, with the
    // progress reports.
    let mut feeders = Vec::new();
    let mut first = None;
    for (index, ingress) in plan.ingress.iter().enumerate() {
        if !mine(&ingress.name) {
            continue;
        }
        let producer = ends.producer_named::<BuiltinEvent>(&ingress.name)?;
        let feeder = Feeder::new(options, index, &ingress.name);
        if first.is_none() {
            first = Some((producer, feeder));
            continue;
        }
        let mut producer = producer;
        let mut feeder = feeder;
        let handle = std::thread::Builder::new()
            .name(crate::exec::thread_name("in", &ingress.name, None))
            .spawn(move || {
                feeder.pump(|e| producer.publish(|slot| *slot = e).is_ok(), |_| {});
                drop(producer);
                feeder.finish()
            })
            .map_err(|source| RunError::Thread {
                thread: format!("ingress {}", ingress.name),
                source,
            })?;
        feeders.push(handle);
    }
    let mut capture_error = None;
    let mut published = 0;
    if let Some((mut producer, mut feeder)) = first {
        let mut ticker = Ticker::new(options, start);
        feeder.pump(
            |e| producer.publish(|slot| *slot = e).is_ok(),
            |published| {
                if ticker.due(published) {
                    ticker.report(published, lane_lags(&control.lanes()));
                }
            },
        );
        drop(producer);
        let (n, err) = feeder.finish();
        published += n;
        capture_error = capture_error.or(err);
    }
    for f in feeders {
        let (n, err) = f.join().unwrap_or((0, None));
        published += n;
        capture_error = capture_error.or(err);
    }
    // The egresses end once the graph drained (or failed): join them first, so the lanes'
    // counts are final when the control reads them.
    let mut egress = Vec::new();
    let mut outputs = BTreeMap::new();
    for (name, handle) in drains {
        let (count, kept, err) = handle.join().unwrap_or((0, Vec::new(), None));
        capture_error = capture_error.or(err);
        egress.push((name.clone(), count));
        if options.collect_outputs {
            outputs.insert(name, kept);
        }
    }
    // On a failure `join` returns no counts: keep the last ones seen.
    let last_lanes = control.lanes();
    let joined = control.join();
    let elapsed = start.elapsed();
    let (stages, lanes, failure) = match joined {
        Ok(report) => (
            report
                .roles
                .into_iter()
                .map(|(name, processed)| StageCount {
                    name,
                    processed,
                    expected: None,
                })
                .collect(),
            report.lanes,
            None,
        ),
        Err(e) => (Vec::new(), last_lanes, Some(e.to_string())),
    };
    Ok(RunReport {
        pipeline: plan.name.clone(),
        target: ExecutionTargetV1::LaneGraph,
        fingerprint,
        published,
        elapsed,
        stages,
        lanes,
        egress,
        latency: take_latencies(&plan.name),
        failure,
        tuning,
        policy: None,
        outputs,
    }
    .with_capture_error(capture_error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::builtin::{builtin_kinds, checksum_of};

    #[test]
    fn a_single_ring_hands_out_its_events_as_they_leave_the_ring() {
        let plan = PipelinePlanV2::from_toml(
            r#"
            version = 2
            name = "tapped"
            target = "single_ring"
            [[ingress]]
            name = "in"
            [[egress]]
            name = "out"
            [[stages]]
            name = "sum"
            kind = "checksum"
            [[stages]]
            name = "a"
            kind = "verify"
            after = ["sum"]
            [[stages]]
            name = "b"
            kind = "count"
            after = ["sum"]
            [single_ring]
            capacity = 64
        "#,
        )
        .unwrap();
        let (single, graph) = builtin_kinds();
        let report = run_plan(
            &plan,
            &single,
            &graph,
            RunOptions {
                events: Some(10_000),
                collect_outputs: true,
                ..RunOptions::default()
            },
        )
        .unwrap();
        assert!(report.complete(), "{report}");
        assert_eq!(report.egress, [("out".to_owned(), 10_000)]);
        let out = &report.outputs["out"];
        // In order, each with the checksum the writing stage stamped.
        assert!(out
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == i as u64 && e.checksum == checksum_of(e.seq, e.value)));
    }
}
