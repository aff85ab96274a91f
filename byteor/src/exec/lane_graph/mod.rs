//! LaneGraph pipelines in one process: typed lanes between stages, with the routers, merges and
//! bridges lowering inserts, every role on its own thread.
//!
//! Build a graph with [`LaneGraph::builder`]: ingresses and egresses with their event types,
//! stages with input and output types ([`LaneStage`]), and connections between an output and an
//! input of the same event type (a connection between different types does not compile). The
//! builder writes the same [`PipelinePlanV2`] a plan document would; `build` validates and
//! lowers it, so `describe`, `dot`, kv and the fingerprint work on graphs built in code.
//! [`LaneGraphPipeline::spawn`] starts one thread per role and hands back a typed producer per
//! ingress and receiver per egress, and the [`GraphControl`]. Plans authored as documents are
//! resolved by a [`GraphRegistry`] (stage kinds registered with their input and output event
//! types; every connection's types are checked); their endpoints are taken by name
//! ([`GraphEndpoints::producer_named`]).
//!
//! Lanes are the in-place [`kernel::lane`](crate::kernel::lane) shape: `Events`,
//! `SequencedSlots` and `FanoutBroadcast`. Under `Block` nothing is lost; under `Drop` a full
//! lane drops the new event and counts it, so for every lane and reader
//! `published = delivered + dropped` ([`LaneMetrics`]). Not yet run by this runtime (refused
//! at `spawn` with [`GraphSpawnError::LaneKind`]): `Journal` lanes, and `FanoutBroadcast` under
//! `Drop` with lapping readers (the kernel has it: [`kernel::broadcast`](crate::kernel::broadcast)).
//!
//! ```
//! use byteor::exec::lane_graph::{lane_fn, Emitter, LaneGraph};
//!
//! let mut g = LaneGraph::builder("numbers");
//! let input = g.ingress::<u64>("numbers_in");
//! let (double_in, double_out) = g.stage(
//!     "double",
//!     lane_fn(|n: &u64, out: &mut Emitter<'_, u64>| out.emit(|slot| *slot = n * 2)),
//! );
//! let output = g.egress::<u64>("numbers_out");
//! g.connect(&input, &double_in);
//! g.connect(&double_out, &output);
//! let (mut ends, control) = g.build()?.spawn()?;
//!
//! let mut producer = ends.producer(&input).unwrap();
//! let mut receiver = ends.receiver(&output).unwrap();
//! for n in 1..=3 {
//!     producer.publish(|slot| *slot = n)?;
//! }
//! drop(producer); // end of stream: the graph drains
//! let mut got = Vec::new();
//! while let Some(v) = receiver.recv_timeout(std::time::Duration::from_secs(5))? {
//!     got.push(v);
//! }
//! assert_eq!(got, [2, 4, 6]);
//! let report = control.join()?;
//! assert!(report.lanes.iter().all(|l| l.counts.adds_up()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod registry;
mod runtime;
mod stage;

pub use registry::{GraphKindInfo, GraphRegistry, GraphResolveError, TypeMismatch};
pub use runtime::{LaneEvent, LaneWait, RoleFailure};
pub use stage::{lane_fn, Emitter, LaneFn, LaneStage};

use std::any::Any;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::exec::{BuildError, StageInfo};
use crate::kernel::lane::{LaneCounts, LaneReader, LaneWriter};
use crate::lower::lower_v2;
use crate::plan::{Connection, LaneIntent, PipelinePlanV2, StageDecl};
use crate::spec::{EndpointDirection, LaneEnd, PipelineSpecV1, TopologySpec};
use crate::vocab::{LaneKind, OnFull, RoleKind};

use runtime::{end, ErasedLane, GraphRuntime, LaneOps, RoleBody, TypedOps};

/// Entry point of the LaneGraph builder.
#[derive(Debug)]
pub struct LaneGraph;

impl LaneGraph {
    /// A builder for a graph named `name`, with `on_full = Block`.
    pub fn builder(name: impl Into<String>) -> GraphBuilder {
        GraphBuilder {
            plan: PipelinePlanV2::lane_graph(name),
            nodes: HashMap::new(),
            id: next_graph_id(),
            foreign: Vec::new(),
        }
    }
}

/// A process-unique id for a graph: builder handles and endpoints carry it.
fn next_graph_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Where events leave a node: an ingress, or a stage's output. Connect it to an [`Input`] of
/// the same event type.
#[derive(Debug)]
pub struct Output<T> {
    name: String,
    graph: u64,
    _events: PhantomData<fn() -> T>,
}

/// Where events enter a node: a stage's input, or an egress.
#[derive(Debug)]
pub struct Input<T> {
    name: String,
    graph: u64,
    _events: PhantomData<fn(T)>,
}

/// Starts a stage's role given what it learns at start, its input reader and output writer
/// (erased), the output lane's `on_full`, and the runtime.
type StageStarter = Box<
    dyn FnOnce(
            StageInfo,
            Box<dyn Any + Send>,
            Box<dyn Any + Send>,
            OnFull,
            Arc<GraphRuntime>,
        ) -> Result<RoleBody, String>
        + Send,
>;

/// What the builder knows of one plan node beyond the plan: its output event type, and a stage's
/// implementation.
struct Node {
    output: Option<Arc<dyn LaneOps>>,
    stage: Option<StageStarter>,
}

impl Node {
    /// A stage node reading `In` and emitting `Out`.
    fn stage<In: LaneEvent, Out: LaneEvent, S: LaneStage<In, Out>>(stage: S) -> Node {
        let starter: StageStarter = Box::new(move |info, input, output, on_full, rt| {
            let input = end::<LaneReader<In>>(input, &info.stage)?;
            let output = end::<LaneWriter<Out>>(output, &info.stage)?;
            Ok(
                Box::new(move || runtime::run_stage(info, stage, input, output, on_full, &rt))
                    as RoleBody,
            )
        });
        Node {
            output: Some(Arc::new(TypedOps::<Out>::new())),
            stage: Some(starter),
        }
    }

    /// An ingress node emitting what `ops` carries.
    fn ingress(ops: Arc<dyn LaneOps>) -> Node {
        Node {
            output: Some(ops),
            stage: None,
        }
    }
}

/// Builds a LaneGraph: see the [module docs](self).
pub struct GraphBuilder {
    plan: PipelinePlanV2,
    nodes: HashMap<String, Node>,
    /// This builder's id: its handles carry it, so a handle from another builder is caught.
    id: u64,
    /// Connections that used another builder's handle: `(from, to)`.
    foreign: Vec<(String, String)>,
}

impl std::fmt::Debug for GraphBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphBuilder")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl GraphBuilder {
    /// What a writer does when a lane is full, for every lane without its own setting.
    pub fn on_full(&mut self, on_full: OnFull) -> &mut Self {
        if let Some(g) = self.plan.lane_graph.as_mut() {
            g.on_full = Some(on_full);
        }
        self
    }

    /// An ingress of events of type `T`.
    pub fn ingress<T: LaneEvent>(&mut self, name: &str) -> Output<T> {
        self.plan.ingress.push(crate::plan::BoundaryDecl::new(name));
        self.nodes.insert(
            name.to_owned(),
            Node::ingress(Arc::new(TypedOps::<T>::new())),
        );
        Output {
            name: name.to_owned(),
            graph: self.id,
            _events: PhantomData,
        }
    }

    /// An egress of events of type `T`.
    pub fn egress<T: LaneEvent>(&mut self, name: &str) -> Input<T> {
        self.plan.egress.push(crate::plan::BoundaryDecl::new(name));
        Input {
            name: name.to_owned(),
            graph: self.id,
            _events: PhantomData,
        }
    }

    /// A stage reading `In` and emitting `Out`.
    pub fn stage<In: LaneEvent, Out: LaneEvent, S: LaneStage<In, Out>>(
        &mut self,
        name: &str,
        stage: S,
    ) -> (Input<In>, Output<Out>) {
        self.plan.stages.push(StageDecl::new(name));
        self.nodes.insert(name.to_owned(), Node::stage(stage));
        (
            Input {
                name: name.to_owned(),
                graph: self.id,
                _events: PhantomData,
            },
            Output {
                name: name.to_owned(),
                graph: self.id,
                _events: PhantomData,
            },
        )
    }

    /// Connects `from` to `to` over an `Events` lane of the default capacity.
    pub fn connect<T>(&mut self, from: &Output<T>, to: &Input<T>) -> &mut Self {
        self.connect_with(from, to, LaneIntent::events())
    }

    /// Connects `from` to `to` over the lane `lane` asks for. Both handles must come from this
    /// builder (a handle from another one is reported by [`build`](Self::build)).
    pub fn connect_with<T>(
        &mut self,
        from: &Output<T>,
        to: &Input<T>,
        lane: LaneIntent,
    ) -> &mut Self {
        if from.graph != self.id || to.graph != self.id {
            self.foreign.push((from.name.clone(), to.name.clone()));
            return self;
        }
        self.plan
            .lane_graph
            .get_or_insert_with(Default::default)
            .connections
            .push(Connection::new(from.name.clone(), to.name.clone()).lane(lane));
        self
    }

    /// The plan written so far.
    pub fn plan(&self) -> &PipelinePlanV2 {
        &self.plan
    }

    /// Validates and lowers the plan (every violation reported), keeping the stages for
    /// [`LaneGraphPipeline::spawn`].
    pub fn build(self) -> Result<LaneGraphPipeline, BuildError> {
        if let Some((from, to)) = self.foreign.into_iter().next() {
            return Err(BuildError::ForeignHandle { from, to });
        }
        let spec = lower_v2(&self.plan)?;
        Ok(LaneGraphPipeline {
            plan: self.plan,
            spec,
            nodes: self.nodes,
            id: self.id,
        })
    }
}

/// A validated, lowered LaneGraph with its stages, ready to [`spawn`](Self::spawn).
pub struct LaneGraphPipeline {
    plan: PipelinePlanV2,
    spec: PipelineSpecV1,
    nodes: HashMap<String, Node>,
    id: u64,
}

impl std::fmt::Debug for LaneGraphPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaneGraphPipeline")
            .field("name", &self.plan.name)
            .finish_non_exhaustive()
    }
}

/// Why a LaneGraph could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphSpawnError {
    /// A lane kind this runtime does not run yet.
    #[error(
        "lane `{lane}`: {kind} lanes{detail} are not run by the in-process LaneGraph runtime yet"
    )]
    LaneKind {
        /// The lane.
        lane: String,
        /// Its kind.
        kind: LaneKind,
        /// What about it (`` under `drop` ``, or nothing).
        detail: &'static str,
    },
    /// The OS refused a role's thread.
    #[error("could not start the thread of role `{role}`: {source}")]
    Thread {
        /// The role.
        role: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The lowered graph has a shape this runtime does not expect (a bug in lowering or here).
    #[error("role or lane `{what}`: {problem}")]
    Shape {
        /// The role or lane.
        what: String,
        /// What is wrong.
        problem: String,
    },
}

fn shape(what: &str, problem: impl Into<String>) -> GraphSpawnError {
    GraphSpawnError::Shape {
        what: what.to_owned(),
        problem: problem.into(),
    }
}

impl LaneGraphPipeline {
    /// A pipeline from a lowered plan and the nodes that implement it.
    fn from_parts(
        plan: PipelinePlanV2,
        spec: PipelineSpecV1,
        nodes: HashMap<String, Node>,
    ) -> Self {
        LaneGraphPipeline {
            plan,
            spec,
            nodes,
            id: next_graph_id(),
        }
    }

    /// The plan the builder wrote.
    pub fn plan(&self) -> &PipelinePlanV2 {
        &self.plan
    }

    /// The lowered spec.
    pub fn spec(&self) -> &PipelineSpecV1 {
        &self.spec
    }

    /// Creates every lane and starts one thread per role; returns the endpoints (take a
    /// producer per ingress and a receiver per egress) and the control handle. If anything
    /// fails, the threads already started are stopped and joined first.
    pub fn spawn(mut self) -> Result<(GraphEndpoints, GraphControl), GraphSpawnError> {
        let TopologySpec::LaneGraph(graph) = &self.spec.topology else {
            return Err(shape(&self.spec.name, "not a LaneGraph spec"));
        };
        let graph = graph.clone();
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
        let mut lanes: Vec<ErasedLane> = Vec::with_capacity(graph.lanes.len());
        for lane in &graph.lanes {
            if lane.kind == LaneKind::Journal {
                return Err(GraphSpawnError::LaneKind {
                    lane: lane.name.clone(),
                    kind: lane.kind,
                    detail: "",
                });
            }
            if lane.kind == LaneKind::FanoutBroadcast && lane.on_full == OnFull::Drop {
                return Err(GraphSpawnError::LaneKind {
                    lane: lane.name.clone(),
                    kind: lane.kind,
                    detail: " under `drop`",
                });
            }
            let lane_ops = ops[lane.id as usize]
                .clone()
                .ok_or_else(|| shape(&lane.name, "its event type is unknown"))?;
            lanes.push(lane_ops.make(lane).map_err(|e| shape(&lane.name, e))?);
        }
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
        let rt = Arc::new(GraphRuntime::new());
        let mut bodies: Vec<(String, RoleBody)> = Vec::new();
        for role in &graph.roles {
            let me = LaneEnd::Role(role.id);
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
        // What the control handle keeps of each lane: its counts, and for ingress lanes how to
        // close them on shutdown.
        let mut metrics: Vec<(String, Box<dyn Fn() -> LaneCounts + Send + Sync>)> = Vec::new();
        let mut closers: Vec<Box<dyn Fn() + Send + Sync>> = Vec::new();
        for (spec, lane) in graph.lanes.iter().zip(lanes) {
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
        let control = GraphControl {
            name: self.plan.name.clone(),
            rt,
            threads,
            metrics,
            closers,
        };
        Ok((endpoints, control))
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// One endpoint's lane end before it is handed out, with what it carries.
struct ErasedEnd {
    end: Box<dyn Any + Send>,
    on_full: OnFull,
    event_type: &'static str,
}

/// The producers and receivers of a started graph, taken one at a time: by their builder
/// handles ([`producer`](Self::producer), [`receiver`](Self::receiver)), or by name and event
/// type for graphs resolved from documents ([`producer_named`](Self::producer_named),
/// [`receiver_named`](Self::receiver_named)).
pub struct GraphEndpoints {
    graph: u64,
    writers: HashMap<String, ErasedEnd>,
    readers: HashMap<String, ErasedEnd>,
    taken_producers: Vec<String>,
    taken_receivers: Vec<String>,
    rt: Arc<GraphRuntime>,
}

impl std::fmt::Debug for GraphEndpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphEndpoints")
            .field("producers", &self.writers.keys().collect::<Vec<_>>())
            .field("receivers", &self.readers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why [`GraphEndpoints`] did not hand out a producer or receiver by name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The graph has no ingress (for a producer) or egress (for a receiver) of that name.
    #[error("the graph has no {direction} `{name}` (its {direction}es: {})", known.join(", "))]
    Unknown {
        /// `ingress` or `egress`.
        direction: &'static str,
        /// The name asked for.
        name: String,
        /// The names it has, sorted.
        known: Vec<String>,
    },
    /// Its producer or receiver was already taken.
    #[error("the {direction} `{name}` was already taken")]
    Taken {
        /// `ingress` or `egress`.
        direction: &'static str,
        /// The endpoint.
        name: String,
    },
    /// The endpoint carries another event type.
    #[error("the {direction} `{name}` carries {carries}, not {asked}")]
    WrongType {
        /// `ingress` or `egress`.
        direction: &'static str,
        /// The endpoint.
        name: String,
        /// The event type its lane carries.
        carries: &'static str,
        /// The event type asked for.
        asked: &'static str,
    },
}

/// Takes the end named `name` out of `ends` as an `E` (a lane end of event type `T`), leaving
/// it in place when the type is wrong.
fn take_end<T: 'static, E: 'static>(
    ends: &mut HashMap<String, ErasedEnd>,
    taken: &mut Vec<String>,
    direction: &'static str,
    name: &str,
) -> Result<(E, OnFull), EndpointError> {
    let Some(erased) = ends.remove(name) else {
        if taken.iter().any(|t| t == name) {
            return Err(EndpointError::Taken {
                direction,
                name: name.to_owned(),
            });
        }
        let mut known: Vec<String> = ends.keys().chain(taken.iter()).cloned().collect();
        known.sort();
        return Err(EndpointError::Unknown {
            direction,
            name: name.to_owned(),
            known,
        });
    };
    match erased.end.downcast::<E>() {
        Ok(end) => {
            taken.push(name.to_owned());
            Ok((*end, erased.on_full))
        }
        Err(end) => {
            let carries = erased.event_type;
            ends.insert(
                name.to_owned(),
                ErasedEnd {
                    end,
                    on_full: erased.on_full,
                    event_type: carries,
                },
            );
            Err(EndpointError::WrongType {
                direction,
                name: name.to_owned(),
                carries,
                asked: std::any::type_name::<T>(),
            })
        }
    }
}

impl GraphEndpoints {
    /// The producer of ingress `ingress` (once; `None` when already taken, or when the handle
    /// comes from another graph's builder).
    pub fn producer<T: LaneEvent>(&mut self, ingress: &Output<T>) -> Option<GraphProducer<T>> {
        if ingress.graph != self.graph {
            return None;
        }
        self.producer_named(&ingress.name).ok()
    }

    /// The receiver of egress `egress` (once; `None` when already taken, or when the handle
    /// comes from another graph's builder).
    pub fn receiver<T: LaneEvent>(&mut self, egress: &Input<T>) -> Option<GraphReceiver<T>> {
        if egress.graph != self.graph {
            return None;
        }
        self.receiver_named(&egress.name).ok()
    }

    /// The producer of the ingress named `name`, publishing events of type `T` (once). The
    /// type is checked against what the ingress's lane carries.
    pub fn producer_named<T: LaneEvent>(
        &mut self,
        name: &str,
    ) -> Result<GraphProducer<T>, EndpointError> {
        let (writer, on_full) = take_end::<T, LaneWriter<T>>(
            &mut self.writers,
            &mut self.taken_producers,
            "ingress",
            name,
        )?;
        Ok(GraphProducer {
            name: name.to_owned(),
            writer,
            on_full,
            rt: Arc::clone(&self.rt),
            wait: LaneWait::default(),
        })
    }

    /// The receiver of the egress named `name`, receiving events of type `T` (once). The type
    /// is checked against what the egress's lane carries.
    pub fn receiver_named<T: LaneEvent>(
        &mut self,
        name: &str,
    ) -> Result<GraphReceiver<T>, EndpointError> {
        let (reader, _) = take_end::<T, LaneReader<T>>(
            &mut self.readers,
            &mut self.taken_receivers,
            "egress",
            name,
        )?;
        Ok(GraphReceiver {
            name: name.to_owned(),
            reader,
            rt: Arc::clone(&self.rt),
        })
    }
}

/// Why a graph handle could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// A role failed; the graph stopped.
    #[error("{0}")]
    RoleFailed(RoleFailure),
    /// The graph is shut down; it accepts no more events.
    #[error("the graph is shut down")]
    Closed,
}

/// Publishes into one ingress lane. Dropping it ends that ingress's stream.
#[derive(Debug)]
pub struct GraphProducer<T> {
    name: String,
    writer: LaneWriter<T>,
    on_full: OnFull,
    rt: Arc<GraphRuntime>,
    wait: LaneWait,
}

impl<T> GraphProducer<T> {
    /// The ingress's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn stopped_error(&self) -> GraphError {
        match self.rt.failure() {
            Some(f) => GraphError::RoleFailed(f),
            None => GraphError::Closed,
        }
    }

    /// Publishes one event, written in place by `fill`: under `Block` waits for room; under
    /// `Drop` a full lane drops it (counted). Fails once the graph stopped.
    pub fn publish(&mut self, fill: impl FnOnce(&mut T)) -> Result<(), GraphError> {
        if !self.rt.running() {
            return Err(self.stopped_error());
        }
        if self.on_full == OnFull::Drop {
            self.writer.write_or_drop(fill);
            return Ok(());
        }
        while !self.writer.has_room() {
            if !self.rt.running() {
                return Err(self.stopped_error());
            }
            self.wait.idle();
        }
        self.wait.reset();
        self.writer.try_write(fill);
        Ok(())
    }

    /// Publishes one event if there is room now; returns whether it did.
    pub fn try_publish(&mut self, fill: impl FnOnce(&mut T)) -> Result<bool, GraphError> {
        if !self.rt.running() {
            return Err(self.stopped_error());
        }
        Ok(self.writer.try_write(fill))
    }
}

/// Receives from one egress lane, on the caller's thread.
///
/// Keep receiving until the stream ends, or drop the receiver: under `Block` an egress a live
/// receiver does not read fills up and holds the graph back (shutdown then waits for it too),
/// while a dropped receiver no longer holds anything back (its lane's counts mark it
/// detached).
#[derive(Debug)]
pub struct GraphReceiver<T> {
    name: String,
    reader: LaneReader<T>,
    rt: Arc<GraphRuntime>,
}

impl<T: Clone> GraphReceiver<T> {
    /// The egress's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next event if one is there now.
    pub fn try_recv(&mut self) -> Option<T> {
        let mut out = None;
        self.reader.read_some(1, |_, e| out = Some(e.clone()));
        out
    }

    /// The next event, waiting up to `timeout`; `Ok(None)` once the stream ended (every
    /// ingress closed and the graph drained) and everything was received;
    /// [`Timeout`](GraphRecvError::Timeout) when nothing arrived in time, and
    /// [`Failed`](GraphRecvError::Failed) once a role failed (after the events already in the
    /// egress lane).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<T>, GraphRecvError> {
        let deadline = Instant::now() + timeout;
        let mut wait = LaneWait::default();
        loop {
            if let Some(e) = self.try_recv() {
                return Ok(Some(e));
            }
            // A failed role's lanes close too: the failure comes first.
            if let Some(f) = self.rt.failure() {
                return Err(GraphRecvError::Failed(f));
            }
            if self.reader.is_finished() {
                return Ok(None);
            }
            if Instant::now() >= deadline {
                return Err(GraphRecvError::Timeout(timeout));
            }
            wait.idle();
        }
    }

    /// Reads every event available now in place, calling `f` on each; returns how many.
    pub fn recv_all(&mut self, mut f: impl FnMut(&T)) -> u64 {
        self.reader.read(|_, e| f(e))
    }
}

/// Why [`GraphReceiver::recv_timeout`] returned no event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphRecvError {
    /// Nothing arrived in time (the stream has not ended).
    #[error("nothing received within {0:?}")]
    Timeout(Duration),
    /// A role failed.
    #[error("{0}")]
    Failed(RoleFailure),
}

/// One lane's counts, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneMetrics {
    /// The lane's name in the spec.
    pub lane: String,
    /// Its counts.
    pub counts: LaneCounts,
}

/// What a finished graph did: per role events handled, per lane counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphReport {
    /// Graph name.
    pub graph: String,
    /// Per role: name and events it handled (stages) or copied (inserted roles).
    pub roles: Vec<(String, u64)>,
    /// Per lane counts.
    pub lanes: Vec<LaneMetrics>,
}

/// Controls a running graph: metrics, shutdown, join. Dropping it shuts the graph down and
/// joins its threads.
pub struct GraphControl {
    name: String,
    rt: Arc<GraphRuntime>,
    threads: Vec<(String, JoinHandle<Result<u64, RoleFailure>>)>,
    metrics: Vec<(String, Box<dyn Fn() -> LaneCounts + Send + Sync>)>,
    closers: Vec<Box<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for GraphControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphControl")
            .field("graph", &self.name)
            .field("roles", &self.threads.len())
            .finish()
    }
}

impl GraphControl {
    /// Per lane counts now (exact once the graph is quiescent).
    pub fn lanes(&self) -> Vec<LaneMetrics> {
        self.metrics
            .iter()
            .map(|(lane, counts)| LaneMetrics {
                lane: lane.clone(),
                counts: counts(),
            })
            .collect()
    }

    /// The first failure, if a role failed.
    pub fn failure(&self) -> Option<RoleFailure> {
        self.rt.failure()
    }

    /// Stops accepting events (producers fail with [`GraphError::Closed`]), lets every role
    /// drain what its lanes hold, in topological order, and joins the threads.
    pub fn shutdown(self) -> Result<GraphReport, GraphError> {
        self.rt.close();
        for close in &self.closers {
            close();
        }
        self.join()
    }

    /// Waits for the graph to end — every producer dropped and every lane drained, or a role
    /// failed — and joins the threads.
    pub fn join(mut self) -> Result<GraphReport, GraphError> {
        let threads = std::mem::take(&mut self.threads);
        let mut roles = Vec::with_capacity(threads.len());
        for (name, t) in threads {
            match t.join() {
                Ok(Ok(n)) => roles.push((name, n)),
                Ok(Err(_)) => {}
                Err(payload) => self.rt.fail(RoleFailure {
                    role: name,
                    reason: panic_text(&*payload),
                }),
            }
        }
        if let Some(f) = self.rt.failure() {
            return Err(GraphError::RoleFailed(f));
        }
        Ok(GraphReport {
            graph: self.name.clone(),
            roles,
            lanes: self.lanes(),
        })
    }
}

impl Drop for GraphControl {
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.rt.close();
        for close in &self.closers {
            close();
        }
        for (_, t) in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
