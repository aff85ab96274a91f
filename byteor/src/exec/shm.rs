//! One pipeline split over processes on shared-memory rings: the producer's process creates a
//! region per shard and publishes ([`SingleRingPipeline::create_shm`]); stage processes attach
//! and run the stages they are given by name ([`SingleRingPipeline::attach_shm`]). Every
//! process builds the same pipeline (the same `#[pipeline]` function, builder code or plan
//! document), so the spec fingerprint in the region header matches; the stage loops, the
//! producer and the ring protocol are the in-process ones, over [`ShmRing`].
//!
//! Each process runs one helper thread, the *watcher*, that ticks (every
//! [`ShmRunOptions::tick`]) and does what threads of different processes cannot do for each
//! other:
//!
//! * heartbeats for the places this process holds;
//! * wake-ups: a parked thread is woken by its own process only, so the watcher wakes the
//!   local threads every tick (a bounded-sleep fallback: a parked waiter also re-checks on its
//!   own after at most [`MAX_PARK`](crate::kernel::MAX_PARK)); spinning and yielding strategies
//!   never depend on it;
//! * in the producer's process: it tells the stages when the stream ends (the region's control
//!   block), and watches the stage processes — one that is down (its lock released, its
//!   process gone, or its heartbeat older than [`ShmRunOptions::heartbeat_timeout`]) makes a
//!   producer waiting for room fail with [`PublishError::PeerDown`](super::PublishError) naming
//!   it, instead of waiting forever; one whose stage failed fails the pipeline, named;
//! * in a stage process: it follows the producer — the end of the stream (drain to it, then
//!   stop), a failure (stop), or the producer's death (finish what was published, then stop
//!   with [`PipelineError::PeerDied`]).
//!
//! A stage process that dies and is started again re-attaches to its place and resumes from
//! its stage's sequence: events it handled after its last published sequence are handled again
//! (at-least-once for that stage).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::abi::ShmEvent;
use crate::backing::{PeerDown, RingStorage, ShmRing};
use crate::kernel::{WaitStrategy, CLOSING, FAILED};
use crate::spec::PipelineSpecV1;
use crate::transport::shm::{
    Peer, PeerState, PeerStatus, RingDescriptor, ShmError, ShmOptions, StreamState,
};

use super::control::Control;
use super::error::{PipelineError, SpawnError, StageFailure};
use super::pipeline::SingleRingPipeline;
use super::producer::Producer;
use super::registry::ResolvedPipeline;
use super::routing::KeyRouter;
use super::routing::Router;
use super::runtime::Runtime;
use super::threads::{launch, ring_requests, Spawner, StageList};

/// How a pipeline split over processes watches its peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmRunOptions {
    /// Creating and opening regions (file mode, how long to wait for a creator).
    pub shm: ShmOptions,
    /// A peer whose heartbeat is older than this is dead even while it holds its lock (a
    /// stopped or stuck process). Default 2 s. A peer that exits or is killed is seen at the
    /// next tick, whatever this is.
    pub heartbeat_timeout: Duration,
    /// How often the watcher thread looks (default 1 ms).
    pub tick: Duration,
    /// How long a LaneGraph process waits for a lane region another process creates, and a
    /// lane's writer for its readers' processes to attach (default 10 s).
    pub attach_timeout: Duration,
}

impl Default for ShmRunOptions {
    fn default() -> Self {
        ShmRunOptions {
            shm: ShmOptions::default(),
            heartbeat_timeout: Duration::from_secs(2),
            tick: Duration::from_millis(1),
            attach_timeout: Duration::from_secs(10),
        }
    }
}

/// The region file of `shard` of pipeline `name` in `dir`: `<dir>/<name>.<shard>`.
pub fn shm_region_path(dir: impl AsRef<Path>, name: &str, shard: u32) -> PathBuf {
    dir.as_ref().join(format!("{name}.{shard}"))
}

impl<E, L, K> SingleRingPipeline<E, L, K>
where
    E: ShmEvent + Default + Send + Sync,
    K: Router<E>,
    L: StageList<E>,
{
    /// The producer's side of a pipeline split over processes: creates one region per shard
    /// in `dir` ([`shm_region_path`]; never reusing an existing file), takes the producer's
    /// place, and starts no stage — stage processes [`attach_shm`](Self::attach_shm). The
    /// producer publishes as usual; [`Control::join`] returns once every stage process has
    /// drained the stream the producer closed (its report counts each stage from its
    /// sequence), or with the failure of one.
    ///
    /// The regions stay after the pipeline ends (stage processes may still read them); remove
    /// them with [`ShmRing::region`]`.remove_file()` through [`Control::rings`], or
    /// [`remove_stale`](crate::transport::shm::remove_stale) once every process is gone.
    #[allow(clippy::type_complexity)]
    pub fn create_shm(
        self,
        dir: impl AsRef<Path>,
        options: &ShmRunOptions,
    ) -> Result<(Producer<E, K, ShmRing<E>>, Control<E, ShmRing<E>>), SpawnError> {
        create_shm_on(
            &self.spec,
            self.strategy,
            self.router,
            dir.as_ref(),
            options,
        )
    }

    /// A stage process's side: opens every shard's region in `dir` (checking the event layout,
    /// the spec fingerprint and the geometry: every mismatch is its own
    /// [`ShmError`], in [`SpawnError::Backing`]), takes the places of the stages named in
    /// `stages` (refused while another live process holds one), and runs those stages —
    /// from where each stage's sequence stands, so a restarted process resumes. The other
    /// stages' values are dropped unused. [`Control::join`] returns once the producer closed
    /// the stream and these stages drained it, or with an error when the pipeline failed or
    /// the producer's process died ([`PipelineError::PeerDied`], after draining what it had
    /// published).
    pub fn attach_shm(
        self,
        dir: impl AsRef<Path>,
        stages: &[&str],
        options: &ShmRunOptions,
    ) -> Result<Control<E, ShmRing<E>>, SpawnError> {
        let list = self.stages;
        attach_shm_on(
            &self.spec,
            self.strategy,
            dir.as_ref(),
            stages,
            options,
            |spawner| list.spawn_all(spawner),
        )
    }
}

/// The region description of a ring of `spec` holding `E`s in `capacity` slots.
fn shm_descriptor<E: ShmEvent>(
    spec: &PipelineSpecV1,
    capacity: u64,
) -> Result<RingDescriptor, ShmError> {
    let stages: Vec<&str> = spec.stages.iter().map(|s| s.name.as_str()).collect();
    RingDescriptor::new(&E::LAYOUT, spec.fingerprint().as_u64(), capacity, &stages)?
        .with_deps(&super::topology::single_ring_of(spec).deps)
}

/// [`SingleRingPipeline::create_shm`] for any pipeline with this spec (builder-made or
/// resolved from a document).
#[allow(clippy::type_complexity)]
pub(crate) fn create_shm_on<E, K>(
    spec: &PipelineSpecV1,
    strategy: WaitStrategy,
    router: K,
    dir: &Path,
    options: &ShmRunOptions,
) -> Result<(Producer<E, K, ShmRing<E>>, Control<E, ShmRing<E>>), SpawnError>
where
    E: ShmEvent + Default + Send + Sync,
    K: Router<E>,
{
    let mut rings = Vec::new();
    for want in ring_requests(spec) {
        let desc = shm_descriptor::<E>(spec, want.capacity).map_err(ShmError::into_spawn)?;
        let path = shm_region_path(dir, &spec.name, want.shard);
        rings.push(ShmRing::create(path, &desc, &options.shm).map_err(ShmError::into_spawn)?);
    }
    let stages = spec.stages.len();
    let watch = options.clone();
    let (rt, threads) = launch(spec, strategy, rings, |spawner| {
        spawner.select(vec![false; stages]);
        let rt = Arc::clone(spawner.runtime());
        spawner.spawn_helper("shm-watch", move || watch_stages(&rt, &watch))
    })?;
    let producer = Producer::new(Arc::clone(&rt), router);
    Ok((producer, Control::new(rt, threads)))
}

/// [`SingleRingPipeline::attach_shm`] for any pipeline with this spec: `spawn_stages` starts
/// the stages (the spawner runs only those selected).
pub(crate) fn attach_shm_on<E>(
    spec: &PipelineSpecV1,
    strategy: WaitStrategy,
    dir: &Path,
    stages: &[&str],
    options: &ShmRunOptions,
    spawn_stages: impl FnOnce(&mut Spawner<ShmRing<E>>) -> Result<(), SpawnError>,
) -> Result<Control<E, ShmRing<E>>, SpawnError>
where
    E: ShmEvent + Default + Send + Sync,
{
    let names: Vec<&str> = spec.stages.iter().map(|s| s.name.as_str()).collect();
    let mut selected = vec![false; names.len()];
    let mut rings = Vec::new();
    for want in ring_requests(spec) {
        let desc = shm_descriptor::<E>(spec, want.capacity).map_err(ShmError::into_spawn)?;
        let path = shm_region_path(dir, &spec.name, want.shard);
        let mut ring =
            ShmRing::<E>::open(path, &desc, &options.shm).map_err(ShmError::into_spawn)?;
        for name in stages {
            let peer = ring.region().stage(name).map_err(ShmError::into_spawn)?;
            if let Peer::Stage(i) = peer {
                selected[i] = true;
            }
            ring.region_mut()
                .claim(peer)
                .map_err(ShmError::into_spawn)?;
        }
        rings.push(ring);
    }
    let watch = options.clone();
    let mine = selected.clone();
    let (rt, threads) = launch(spec, strategy, rings, |spawner| {
        spawner.select(selected);
        spawn_stages(spawner)?;
        let rt = Arc::clone(spawner.runtime());
        spawner.spawn_helper("shm-watch", move || watch_producer(&rt, &mine, &watch))
    })?;
    Ok(Control::new(rt, threads))
}

impl ShmError {
    fn into_spawn(self) -> SpawnError {
        SpawnError::Backing(self.into())
    }
}

impl<E, R: RingStorage<Event = E>> Control<E, R> {
    /// The rings, one per shard (for a pipeline on shared memory: its regions).
    pub fn rings(&self) -> impl Iterator<Item = &R> {
        self.runtime().shards.iter().map(|s| &s.ring)
    }
}

/// A stage process's state as the producer's watcher sees it.
enum StageSeen {
    Fine,
    Down(PeerDown),
    Failed(StageFailure),
}

fn look_at_stage(
    ring: &ShmRing<impl ShmEvent>,
    shard: usize,
    stage: usize,
    name: &str,
    options: &ShmRunOptions,
) -> StageSeen {
    let region = ring.region();
    let peer = Peer::Stage(stage);
    if let PeerStatus::Failed { sequence } = region.status(peer) {
        return StageSeen::Failed(StageFailure {
            stage: name.to_owned(),
            shard: shard as u32,
            sequence,
            reason: format!("failed in its process (pid {})", region.peer_pid(peer)),
            panicked: false,
        });
    }
    let down = |pid: u32, reason: String| {
        StageSeen::Down(PeerDown {
            stage: name.to_owned(),
            shard: shard as u32,
            pid,
            reason,
        })
    };
    match region.peer_state(peer, options.heartbeat_timeout) {
        PeerState::Alive { .. } => StageSeen::Fine,
        PeerState::Absent => down(0, "no process has attached to it yet".into()),
        PeerState::Dead { pid, reason } => {
            if region.status(peer) == PeerStatus::Done {
                StageSeen::Fine
            } else {
                down(pid, format!("its process died: {reason}"))
            }
        }
    }
}

/// The producer's watcher: heartbeats, the end of the stream, and the stage processes.
fn watch_stages<E: ShmEvent + Send + Sync>(
    rt: &Runtime<ShmRing<E>>,
    options: &ShmRunOptions,
) -> Result<u64, StageFailure> {
    // Since when each (shard, stage) has been down while the stream was closing.
    let mut down_since: Vec<Option<Instant>> = vec![None; rt.shards.len() * rt.stage_names.len()];
    loop {
        let state = rt.state();
        let mut drained = true;
        for (shard, sh) in rt.shards.iter().enumerate() {
            let ring = &sh.ring;
            ring.region().heartbeat();
            let mut first_down = None;
            for (stage, name) in rt.stage_names.iter().enumerate() {
                match look_at_stage(ring, shard, stage, name, options) {
                    StageSeen::Failed(failure) => {
                        rt.fail(failure.clone());
                        fail_regions(rt);
                        return Err(failure);
                    }
                    StageSeen::Down(down) => {
                        let since = down_since[shard * rt.stage_names.len() + stage]
                            .get_or_insert_with(Instant::now);
                        if state == CLOSING && since.elapsed() > options.heartbeat_timeout {
                            let failure = StageFailure {
                                stage: down.stage.clone(),
                                shard: down.shard,
                                sequence: None,
                                reason: format!("could not drain the stream: {}", down.reason),
                                panicked: false,
                            };
                            rt.fail(failure.clone());
                            fail_regions(rt);
                            return Err(failure);
                        }
                        first_down.get_or_insert((stage, down));
                    }
                    StageSeen::Fine => {
                        down_since[shard * rt.stage_names.len() + stage] = None;
                    }
                }
            }
            ring.set_peer_down(first_down, options.heartbeat_timeout);
            if state == CLOSING {
                match rt.drain_target(shard) {
                    Some(target) => {
                        ring.region().close_stream(target);
                        if ring
                            .stage_sequences()
                            .iter()
                            .any(|s| s.load_relaxed() < target)
                        {
                            drained = false;
                        }
                    }
                    None => drained = false,
                }
            }
        }
        if state == FAILED {
            fail_regions(rt);
            return Ok(0);
        }
        if state == CLOSING && drained {
            return Ok(0);
        }
        rt.wake_all();
        std::thread::sleep(options.tick);
    }
}

fn fail_regions<E: ShmEvent>(rt: &Runtime<ShmRing<E>>) {
    for sh in rt.shards.iter() {
        sh.ring.region().fail_stream();
    }
}

/// A stage process's watcher: heartbeats, and following the producer.
fn watch_producer<E: ShmEvent + Send + Sync>(
    rt: &Runtime<ShmRing<E>>,
    mine: &[bool],
    options: &ShmRunOptions,
) -> Result<u64, StageFailure> {
    let my_stages = || mine.iter().enumerate().filter(|(_, m)| **m).map(|(i, _)| i);
    loop {
        let state = rt.state();
        if state == FAILED {
            // A local stage failed (or the producer said the pipeline failed): tell the
            // producer which, if it was ours.
            if let Some(failure) = rt.failure() {
                for sh in rt.shards.iter() {
                    let region = sh.ring.region();
                    if let Ok(peer) = region.stage(&failure.stage) {
                        if region.held().contains(&peer) {
                            region.set_status(
                                peer,
                                PeerStatus::Failed {
                                    sequence: failure.sequence,
                                },
                            );
                        }
                    }
                }
            }
            return Ok(0);
        }
        let mut drained = true;
        for (shard, sh) in rt.shards.iter().enumerate() {
            let region = sh.ring.region();
            region.heartbeat();
            match region.stream_state() {
                StreamState::Closed { drain_target } => rt.close_shard_at(shard, drain_target),
                StreamState::Failed => rt.fail(StageFailure {
                    stage: failed_stage(region, &rt.stage_names),
                    shard: shard as u32,
                    sequence: None,
                    reason: "the pipeline failed in another process".into(),
                    panicked: false,
                }),
                StreamState::Running => {
                    if let PeerState::Dead { pid, reason } =
                        region.peer_state(Peer::Producer, options.heartbeat_timeout)
                    {
                        rt.peer_gone(PipelineError::PeerDied {
                            peer: "producer".into(),
                            pid,
                            reason: reason.to_string(),
                        });
                    }
                }
            }
            if rt.state() == CLOSING {
                match rt.drain_target(shard) {
                    Some(target) => {
                        let sequences = sh.ring.stage_sequences();
                        if my_stages().any(|i| sequences[i].load_relaxed() < target) {
                            drained = false;
                        }
                    }
                    None => drained = false,
                }
            } else {
                drained = false;
            }
        }
        if drained {
            for sh in rt.shards.iter() {
                for i in my_stages() {
                    sh.ring
                        .region()
                        .set_status(Peer::Stage(i), PeerStatus::Done);
                }
            }
            return Ok(0);
        }
        rt.wake_all();
        std::thread::sleep(options.tick);
    }
}

/// The stage a failed region names as failed, or `producer`.
fn failed_stage(region: &crate::transport::shm::Region, names: &[String]) -> String {
    names
        .iter()
        .enumerate()
        .find(|(i, _)| matches!(region.status(Peer::Stage(*i)), PeerStatus::Failed { .. }))
        .map_or_else(|| "producer".to_owned(), |(_, n)| n.clone())
}

impl<E> ResolvedPipeline<E>
where
    E: ShmEvent + Default + Send + Sync,
{
    /// The producer's side of a plan document split over processes, as
    /// [`SingleRingPipeline::create_shm`] for builder-made pipelines: creates the regions in
    /// `dir`, takes the producer's place and starts no stage (this pipeline's resolved stages
    /// are dropped unused; stage processes resolve the same plan and
    /// [`attach_shm`](Self::attach_shm)). Events are routed to shards by `key` (any function
    /// for an unsharded plan).
    #[allow(clippy::type_complexity)]
    pub fn create_shm<F>(
        self,
        key: F,
        dir: impl AsRef<Path>,
        options: &ShmRunOptions,
    ) -> Result<
        (
            Producer<E, KeyRouter<F>, ShmRing<E>>,
            Control<E, ShmRing<E>>,
        ),
        SpawnError,
    >
    where
        F: Fn(&E) -> u64 + Send + 'static,
    {
        let shards = super::topology::single_ring_of(self.spec()).shards;
        let (spec, strategy, _) = self.into_parts();
        create_shm_on(
            &spec,
            strategy,
            KeyRouter::new(key, shards),
            dir.as_ref(),
            options,
        )
    }

    /// A stage process's side of a plan document split over processes, as
    /// [`SingleRingPipeline::attach_shm`]: opens the regions in `dir`, takes the places of the
    /// stages named in `stages` and runs them.
    pub fn attach_shm(
        self,
        dir: impl AsRef<Path>,
        stages: &[&str],
        options: &ShmRunOptions,
    ) -> Result<Control<E, ShmRing<E>>, SpawnError> {
        let (spec, strategy, handlers) = self.into_parts();
        attach_shm_on(&spec, strategy, dir.as_ref(), stages, options, |spawner| {
            for (id, per_shard) in handlers.into_iter().enumerate() {
                spawner.spawn_handlers(id, per_shard)?;
            }
            Ok(())
        })
    }
}
