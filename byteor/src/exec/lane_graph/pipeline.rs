//! A built LaneGraph and how it starts: lanes made, roles started on their threads, endpoints
//! and the control handle handed back.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::backing::journal::JournalOptions;
use crate::exec::StageInfo;
use crate::kernel::lane::LaneCounts;
use crate::kernel::WaitStrategy;
use crate::plan::PipelinePlanV2;
use crate::spec::{EndpointDirection, LaneEnd, LaneSpec, PipelineSpecV1, TopologySpec};
use crate::vocab::RoleKind;

use super::error::{shape, GraphSpawnError};
use super::handles::{ErasedEnd, GraphControl, GraphEndpoints};
use super::node::Node;
use super::placement::Placement;
use super::runtime::{ErasedLane, LaneContext, LaneOps, RoleBody};
use super::state::{next_graph_id, panic_text, GraphRuntime, RoleFailure};

/// A validated, lowered LaneGraph with its stages, ready to [`spawn`](Self::spawn).
pub struct LaneGraphPipeline {
    plan: PipelinePlanV2,
    spec: PipelineSpecV1,
    nodes: HashMap<String, Node>,
    id: u64,
    lanes: LaneContext,
    strategy: WaitStrategy,
}

impl std::fmt::Debug for LaneGraphPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaneGraphPipeline")
            .field("name", &self.plan.name)
            .finish_non_exhaustive()
    }
}

impl LaneGraphPipeline {
    /// A pipeline from a lowered plan and the nodes that implement it; `id` is the graph id
    /// its builder handles carry.
    pub(super) fn new(
        plan: PipelinePlanV2,
        spec: PipelineSpecV1,
        nodes: HashMap<String, Node>,
        id: u64,
    ) -> Self {
        LaneGraphPipeline {
            plan,
            spec,
            nodes,
            id,
            lanes: LaneContext::default(),
            strategy: WaitStrategy::default(),
        }
    }

    /// A pipeline from a lowered plan and the nodes that implement it, with a fresh id (no
    /// builder handles refer to it).
    pub(super) fn from_parts(
        plan: PipelinePlanV2,
        spec: PipelineSpecV1,
        nodes: HashMap<String, Node>,
    ) -> Self {
        Self::new(plan, spec, nodes, next_graph_id())
    }

    /// The plan the builder wrote.
    pub fn plan(&self) -> &PipelinePlanV2 {
        &self.plan
    }

    /// The lowered spec.
    pub fn spec(&self) -> &PipelineSpecV1 {
        &self.spec
    }

    /// Where `Journal` lanes keep their segment files: each in `<dir>/<lane name>/`, created if
    /// missing. A journal lane that finds segments there (a restart) goes on after the last
    /// whole record — a torn tail is cut — and delivers what is written from then on; the
    /// records before stay readable with
    /// [`JournalReader`](crate::backing::journal::JournalReader). Required when the graph has
    /// journal lanes.
    pub fn journal_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.lanes.journal_root = Some(dir.into());
        self
    }

    /// How every role, producer and receiver waits for its lanes (default
    /// [`WaitStrategy::Parking`]): on a lane's wake hub as a SingleRing stage waits on its
    /// ring (a merge on all its inputs at once); on a lane between processes, asleep on its
    /// region's doorbell under `Parking` (the other side rings it); and where nothing can wake
    /// it (`journal` and lossy broadcast lanes) polling: spinning under
    /// `BusySpin`/`SpinHint`, yielding under `Yielding`, sleeping up to 1 ms between looks
    /// under `Parking`.
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// How journal lanes roll and retain segments (default [`JournalOptions::default`]). Under
    /// `Block` a segment is never deleted before every attached reader has read it, whatever
    /// the size; under `Drop` retention is by size alone and a reader that falls behind it
    /// loses the deleted events (counted).
    pub fn journal_options(mut self, options: JournalOptions) -> Self {
        self.lanes.journal_options = options;
        self
    }

    /// Creates every lane and starts one thread per role; returns the endpoints (take a
    /// producer per ingress and a receiver per egress) and the control handle. If anything
    /// fails, the threads already started are stopped and joined first.
    pub fn spawn(self) -> Result<(GraphEndpoints, GraphControl), GraphSpawnError> {
        self.spawn_placed(None)
    }

    /// Runs part of the graph in this process, the rest running in other processes that
    /// build the same graph (the same builder code or plan document: the spec fingerprint in
    /// each region must match) and call `spawn_shm` with the other roles.
    ///
    /// `roles` names this process's *process roles*: ingresses (take their producers from the
    /// endpoints), stages, and egresses (take their receivers). The roles lowering inserted go
    /// with their neighbours: a router or bridge runs where its input's writer runs, a merge
    /// where its output's reader runs. Lanes between two roles of this process stay in its
    /// memory; each lane between processes is a shared-memory region in `dir`
    /// ([`shm_lane_path`](super::shm_lane_path)), created by its writer's process and opened
    /// by its readers' (each waits up to `options.attach_timeout` for the other). Such lanes
    /// carry `#[derive(ShmEvent)]` types registered for it
    /// ([`GraphRegistry::register_shm`](super::GraphRegistry::register_shm),
    /// [`GraphBuilder::shm_event`](super::GraphBuilder::shm_event)), have at most
    /// [`SHM_V1_MAX_STAGES`](crate::abi::region::SHM_V1_MAX_STAGES) readers, and are not
    /// `journal` or lossy `fanout_broadcast` lanes; anything else is refused here, naming the
    /// lane.
    ///
    /// A watcher thread keeps this process's heartbeats and watches the other processes: one
    /// whose role failed, that died, or that never attached fails this graph too, naming its
    /// process role (the other processes see this one's failure the same way).
    /// [`GraphControl::join`] returns once this process's roles finished and every other
    /// process read the lanes written here to the end; the regions this process created are
    /// then removed.
    ///
    /// ```
    /// use byteor::exec::lane_graph::GraphRegistry;
    /// use byteor::exec::ShmRunOptions;
    /// use byteor::ops::builtin::{builtin_kinds, BuiltinEvent};
    /// use byteor::plan::PipelinePlanV2;
    ///
    /// let plan = PipelinePlanV2::from_toml(r#"
    ///     version = 2
    ///     name = "split"
    ///     target = "lane_graph"
    ///     [[ingress]]
    ///     name = "src"
    ///     [[egress]]
    ///     name = "dst"
    ///     [[stages]]
    ///     name = "work"
    ///     kind = "pass"
    ///     [lane_graph]
    ///     on_full = "block"
    ///     connections = [{ from = "src", to = "work" }, { from = "work", to = "dst" }]
    /// "#)?;
    /// let dir = std::env::temp_dir().join(format!("byteor-split-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let options = ShmRunOptions::default();
    /// // Two processes in real life (each waits for the other's regions): two threads here.
    /// let (work_plan, work_dir) = (plan.clone(), dir.clone());
    /// let work = std::thread::spawn(move || -> Result<(), String> {
    ///     let (_, graph) = builtin_kinds();
    ///     let pipeline = graph.resolve(&work_plan).map_err(|e| e.to_string())?;
    ///     let (_, control) = pipeline
    ///         .spawn_shm(&work_dir, &["work"], &ShmRunOptions::default())
    ///         .map_err(|e| e.to_string())?;
    ///     control.join().map(drop).map_err(|e| e.to_string())
    /// });
    /// let (_, graph) = builtin_kinds();
    /// let (mut ends, control) = graph.resolve(&plan)?.spawn_shm(&dir, &["src", "dst"], &options)?;
    /// let mut producer = ends.producer_named::<BuiltinEvent>("src")?;
    /// let mut receiver = ends.receiver_named::<BuiltinEvent>("dst")?;
    /// producer.publish(|e| e.seq = 7)?;
    /// drop(producer);
    /// let got = receiver.recv_timeout(std::time::Duration::from_secs(10))?;
    /// assert_eq!(got.map(|e| e.seq), Some(7));
    /// assert_eq!(receiver.recv_timeout(std::time::Duration::from_secs(10))?, None);
    /// drop(receiver);
    /// control.join()?;
    /// work.join().unwrap()?;
    /// assert_eq!(std::fs::read_dir(&dir)?.count(), 0, "the regions are removed");
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(all(target_os = "linux", not(loom)))]
    pub fn spawn_shm(
        self,
        dir: impl AsRef<std::path::Path>,
        roles: &[&str],
        options: &crate::exec::ShmRunOptions,
    ) -> Result<(GraphEndpoints, GraphControl), GraphSpawnError> {
        let TopologySpec::LaneGraph(graph) = &self.spec.topology else {
            return Err(shape(&self.spec.name, "not a LaneGraph spec"));
        };
        let placement = Placement::of(&self.plan.name, graph, roles)?;
        let shared = Shared {
            dir: dir.as_ref().to_path_buf(),
            options: options.clone(),
        };
        self.spawn_placed(Some((placement, shared)))
    }

    /// Starts the roles `placed` puts here (every role when `None`), over lanes in this
    /// process and, for lanes to and from other processes, in shared memory.
    fn spawn_placed(
        mut self,
        placed: Option<(Placement, Shared)>,
    ) -> Result<(GraphEndpoints, GraphControl), GraphSpawnError> {
        let TopologySpec::LaneGraph(graph) = &self.spec.topology else {
            return Err(shape(&self.spec.name, "not a LaneGraph spec"));
        };
        let graph = graph.clone();
        let (placement, shared) = match placed {
            Some((p, s)) => (p, Some(s)),
            None => (Placement::all(&graph), None),
        };
        // The event type of each lane: its writer's output type, through inserted roles.
        let mut ops: Vec<Option<Arc<dyn LaneOps>>> = vec![None; graph.lanes.len()];
        for _ in 0..=graph.roles.len() {
            for lane in &graph.lanes {
                if ops[lane.id as usize].is_some() {
                    continue;
                }
                ops[lane.id as usize] = match lane.writer {
                    LaneEnd::Endpoint(e) => {
                        let name = &graph.endpoints[e as usize].name;
                        self.nodes.get(name).and_then(|n| n.output.clone())
                    }
                    LaneEnd::Role(r) => {
                        let role = &graph.roles[r as usize];
                        match role.kind {
                            RoleKind::Stage => {
                                self.nodes.get(&role.name).and_then(|n| n.output.clone())
                            }
                            _ => role.inputs.first().and_then(|&i| ops[i as usize].clone()),
                        }
                    }
                };
            }
        }
        let rt = Arc::new(GraphRuntime::new(self.strategy));
        #[cfg(all(target_os = "linux", not(loom)))]
        let mut watched: Vec<super::shared::WatchedLane> = Vec::new();
        // Lanes written here first: a process creates its regions before it waits for the
        // regions of others, so two processes that read each other's lanes do not wait on
        // each other.
        let mut order: Vec<&LaneSpec> = graph.lanes.iter().collect();
        order.sort_by_key(|l| !placement.here(l.writer));
        let mut made: Vec<Option<ErasedLane>> = (0..graph.lanes.len()).map(|_| None).collect();
        for lane in order {
            let writer_here = placement.here(lane.writer);
            let readers_here: Vec<bool> = lane.readers.iter().map(|&r| placement.here(r)).collect();
            if !writer_here && !readers_here.contains(&true) {
                continue;
            }
            let lane_ops = ops[lane.id as usize]
                .clone()
                .ok_or_else(|| shape(&lane.name, "its event type is unknown"))?;
            if writer_here && !readers_here.contains(&false) {
                made[lane.id as usize] = Some(lane_ops.make(lane, &self.lanes)?);
                continue;
            }
            #[cfg(all(target_os = "linux", not(loom)))]
            if let Some(shared) = &shared {
                let (erased, region) = lane_ops.make_shared(
                    lane,
                    super::shared::SharedLaneAt {
                        path: super::shared::shm_lane_path(&shared.dir, &self.plan.name, lane.id),
                        fingerprint: self.spec.fingerprint().as_u64(),
                        readers: place_names(&graph, lane),
                        writer_here,
                        readers_here: readers_here.clone(),
                        options: &shared.options,
                        deadline: std::time::Instant::now() + shared.options.attach_timeout,
                        rt: Arc::clone(&rt),
                    },
                )?;
                watched.push(super::shared::WatchedLane {
                    lane: lane.name.clone(),
                    region,
                    writer_here,
                    writer_role: super::placement::owner(&graph, lane.writer),
                    readers: lane
                        .readers
                        .iter()
                        .zip(&readers_here)
                        .map(|(&r, &here)| (super::placement::owner(&graph, r), here))
                        .collect(),
                });
                made[lane.id as usize] = Some(erased);
                continue;
            }
            let _ = &shared;
            return Err(shape(
                &lane.name,
                "a lane between processes without shared memory",
            ));
        }
        let mut lanes: Vec<ErasedLane> = made
            .into_iter()
            .map(|m| {
                m.unwrap_or_else(|| ErasedLane {
                    writer: None,
                    readers: Vec::new(),
                    counts: Box::new(|| LaneCounts {
                        published: 0,
                        written: 0,
                        dropped: 0,
                        delivered: Vec::new(),
                        lost: Vec::new(),
                        detached: Vec::new(),
                    }),
                    close: Box::new(|| {}),
                })
            })
            .collect();
        // Hands out lane ends: a role's inputs are reader ends, its outputs writer ends.
        let take_reader = |lanes: &mut Vec<ErasedLane>, lane: u32, me: LaneEnd| {
            let spec = &graph.lanes[lane as usize];
            let k = spec.readers.iter().position(|&r| r == me).unwrap_or(0);
            lanes[lane as usize]
                .readers
                .get_mut(k)
                .and_then(Option::take)
                .ok_or_else(|| shape(&spec.name, format!("no reader end for {me}")))
        };
        let take_writer = |lanes: &mut Vec<ErasedLane>, lane: u32| {
            lanes[lane as usize]
                .writer
                .take()
                .ok_or_else(|| shape(&graph.lanes[lane as usize].name, "its writer is taken"))
        };
        let mut bodies: Vec<(String, RoleBody)> = Vec::new();
        for role in &graph.roles {
            let me = LaneEnd::Role(role.id);
            if !placement.here(me) {
                continue;
            }
            match role.kind {
                RoleKind::Stage => {
                    let ([input], [output]) = (&role.inputs[..], &role.outputs[..]) else {
                        return Err(shape(
                            &role.name,
                            "a stage role needs one input and one output lane",
                        ));
                    };
                    let starter = self
                        .nodes
                        .get_mut(&role.name)
                        .and_then(|n| n.stage.take())
                        .ok_or_else(|| shape(&role.name, "no stage of that name"))?;
                    let reader = take_reader(&mut lanes, *input, me)?;
                    let writer = take_writer(&mut lanes, *output)?;
                    let on_full = graph.lanes[*output as usize].on_full;
                    let info = StageInfo {
                        pipeline: self.plan.name.clone(),
                        stage: role.name.clone(),
                        id: role.id,
                        shard: 0,
                        shards: 1,
                    };
                    let body = starter(info, reader, writer, on_full, Arc::clone(&rt))
                        .map_err(|e| shape(&role.name, e))?;
                    bodies.push((role.name.clone(), body));
                }
                _ => {
                    let lane_ops = role
                        .inputs
                        .first()
                        .and_then(|&i| ops[i as usize].clone())
                        .ok_or_else(|| shape(&role.name, "an inserted role without an input"))?;
                    let mut inputs = Vec::new();
                    for &i in &role.inputs {
                        inputs.push(take_reader(&mut lanes, i, me)?);
                    }
                    let mut outputs = Vec::new();
                    for &o in &role.outputs {
                        outputs
                            .push((take_writer(&mut lanes, o)?, graph.lanes[o as usize].on_full));
                    }
                    let body = lane_ops
                        .copier(role.name.clone(), inputs, outputs, Arc::clone(&rt))
                        .map_err(|e| shape(&role.name, e))?;
                    bodies.push((role.name.clone(), body));
                }
            }
        }
        let mut endpoints = GraphEndpoints {
            graph: self.id,
            writers: HashMap::new(),
            readers: HashMap::new(),
            taken_producers: Vec::new(),
            taken_receivers: Vec::new(),
            rt: Arc::clone(&rt),
        };
        let mut ingress_closers = Vec::new();
        for ep in &graph.endpoints {
            if !placement.here(LaneEnd::Endpoint(ep.id)) {
                continue;
            }
            let spec = &graph.lanes[ep.lane as usize];
            let event_type = ops[ep.lane as usize]
                .as_ref()
                .map_or("?", |o| o.event_type());
            match ep.direction {
                EndpointDirection::Ingress => {
                    let writer = take_writer(&mut lanes, ep.lane)?;
                    endpoints.writers.insert(
                        ep.name.clone(),
                        ErasedEnd {
                            end: writer,
                            on_full: spec.on_full,
                            event_type,
                        },
                    );
                    ingress_closers.push(ep.lane);
                }
                EndpointDirection::Egress => {
                    let reader = take_reader(&mut lanes, ep.lane, LaneEnd::Endpoint(ep.id))?;
                    endpoints.readers.insert(
                        ep.name.clone(),
                        ErasedEnd {
                            end: reader,
                            on_full: spec.on_full,
                            event_type,
                        },
                    );
                }
            }
        }
        // What the control handle keeps of each lane with an end here: its counts, and for
        // ingress lanes how to close them on shutdown.
        let mut metrics: Vec<(String, Box<dyn Fn() -> LaneCounts + Send + Sync>)> = Vec::new();
        let mut closers: Vec<Box<dyn Fn() + Send + Sync>> = Vec::new();
        for (spec, lane) in graph.lanes.iter().zip(lanes) {
            let touched =
                placement.here(spec.writer) || spec.readers.iter().any(|&r| placement.here(r));
            if !touched {
                continue;
            }
            if ingress_closers.contains(&spec.id) {
                closers.push(lane.close);
            }
            metrics.push((spec.name.clone(), lane.counts));
        }
        let mut threads = Vec::with_capacity(bodies.len());
        for (name, body) in bodies {
            let rt_thread = Arc::clone(&rt);
            let role = name.clone();
            let spawned = std::thread::Builder::new()
                .name(crate::exec::thread_name(&self.plan.name, &name, None))
                .spawn(move || match catch_unwind(AssertUnwindSafe(body)) {
                    Ok(outcome) => outcome,
                    Err(payload) => {
                        let failure = RoleFailure {
                            role,
                            reason: panic_text(&*payload),
                        };
                        rt_thread.fail(failure.clone());
                        Err(failure)
                    }
                });
            match spawned {
                Ok(handle) => threads.push((name, handle)),
                Err(source) => {
                    rt.fail(RoleFailure {
                        role: name.clone(),
                        reason: "the graph did not start".into(),
                    });
                    for (_, t) in threads {
                        let _ = t.join();
                    }
                    return Err(GraphSpawnError::Thread { role: name, source });
                }
            }
        }
        #[allow(unused_mut)]
        let mut control = GraphControl {
            name: self.plan.name.clone(),
            rt,
            threads,
            metrics,
            closers,
            watcher: None,
            tuning: None,
        };
        #[cfg(all(target_os = "linux", not(loom)))]
        if let Some(shared) = shared {
            if !watched.is_empty() {
                control.watch(watched, shared.options)?;
            }
        }
        Ok((endpoints, control))
    }
}

/// Where the lanes between processes of a graph split over processes live.
#[cfg(all(target_os = "linux", not(loom)))]
#[derive(Debug, Clone)]
struct Shared {
    dir: std::path::PathBuf,
    options: crate::exec::ShmRunOptions,
}

/// No shared memory on this target: every graph runs in one process.
#[cfg(not(all(target_os = "linux", not(loom))))]
#[derive(Debug, Clone)]
struct Shared;

/// The name of each reader's place in a lane's region: the reader's own name when it fits a
/// region's name field, else `reader<k>`.
#[cfg(all(target_os = "linux", not(loom)))]
fn place_names(graph: &crate::spec::LaneGraphSpec, lane: &LaneSpec) -> Vec<String> {
    lane.readers
        .iter()
        .enumerate()
        .map(|(k, &end)| {
            let name = match end {
                LaneEnd::Role(r) => graph.roles[r as usize].name.clone(),
                LaneEnd::Endpoint(e) => graph.endpoints[e as usize].name.clone(),
            };
            if name.len() <= crate::NAME_V1_MAX_BYTES {
                name
            } else {
                format!("reader{k}")
            }
        })
        .collect()
}
