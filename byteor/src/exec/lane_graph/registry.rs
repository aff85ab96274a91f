//! Resolving LaneGraph plan documents: stage kinds with their event types, checked per
//! connection.

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::exec::descriptor::{ParamError, ParamSpec, StageDescriptor};
use crate::exec::{DuplicateKind, StageResolveError};
use crate::kernel::broadcast::Pod;
use crate::lower::{lower_v2, LowerError};
use crate::plan::{ExecutionTargetV1, ParamValue, PipelinePlanV2, ValidationErrors};

use super::node::Node;
use super::pipeline::LaneGraphPipeline;
use super::pod::{PodOps, ShmOps};
use super::runtime::{LaneOps, TypedOps};
use super::stage::LaneStage;
use super::state::LaneEvent;
use crate::abi::ShmEvent;

/// An event type as the registry compares it: its `TypeId` and its name for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EventType {
    id: TypeId,
    name: &'static str,
}

impl EventType {
    fn of<T: 'static>() -> Self {
        EventType {
            id: TypeId::of::<T>(),
            name: std::any::type_name::<T>(),
        }
    }
}

/// Builds the node of one stage from its `params`.
type MakeNode = fn(&BTreeMap<String, ParamValue>, Arc<dyn LaneOps>) -> Result<Node, ParamError>;

/// Lane operations for one event type, made when a plan is resolved.
type MakeOps = fn() -> Arc<dyn LaneOps>;

/// What the registry knows of one stage kind.
struct GraphKind {
    side_effects: bool,
    params: &'static [ParamSpec],
    input: EventType,
    output: EventType,
    /// Lane operations for the input type, for an ingress that feeds this kind.
    input_ops: MakeOps,
    /// Lane operations for the output type, for the lanes a stage of this kind writes.
    output_ops: MakeOps,
    make: MakeNode,
}

/// Maps stage kinds to [`LaneStage`] types with their input and output event types, for
/// LaneGraph plans authored as documents: the LaneGraph counterpart of
/// [`StageRegistry`](crate::exec::StageRegistry), which resolves SingleRing plans (one event
/// type per ring). A kind is a type with a [`StageDescriptor`] (its name and parameters) and a
/// [`LaneStage`] impl (its input and output event types); [`resolve`](Self::resolve) checks
/// that every connection joins one event type and gives a [`LaneGraphPipeline`] ready to spawn.
///
/// A document cannot name Rust types: an ingress carries the input type of the stages it feeds,
/// an egress the output type of the stages that feed it; take their producers and receivers by
/// name with [`producer_named`](super::GraphEndpoints::producer_named) and
/// [`receiver_named`](super::GraphEndpoints::receiver_named).
///
/// ```
/// use byteor::exec::lane_graph::{Emitter, GraphRegistry, LaneStage};
/// use byteor::exec::{StageDescriptor, StageError};
/// use byteor::plan::PipelinePlanV2;
///
/// #[derive(StageDescriptor)]
/// #[stage(name = "scale")]
/// struct Scale {
///     factor: u64,
/// }
///
/// impl LaneStage<u64, u64> for Scale {
///     fn on_event(&mut self, v: &u64, out: &mut Emitter<'_, u64>) -> Result<(), StageError> {
///         out.emit(|slot| *slot = v * self.factor)
///     }
/// }
///
/// let mut registry = GraphRegistry::new();
/// registry.register::<Scale, u64, u64>()?;
/// let plan = PipelinePlanV2::from_toml(r#"
///     version = 2
///     name = "scaled"
///     target = "lane_graph"
///     [[ingress]]
///     name = "numbers"
///     [[egress]]
///     name = "scaled"
///     [[stages]]
///     name = "triple"
///     kind = "scale"
///     params = { factor = 3 }
///     [lane_graph]
///     on_full = "block"
///     [[lane_graph.connections]]
///     from = "numbers"
///     to = "triple"
///     [[lane_graph.connections]]
///     from = "triple"
///     to = "scaled"
/// "#)?;
/// let (mut ends, control) = registry.resolve(&plan)?.spawn()?;
/// let mut producer = ends.producer_named::<u64>("numbers").unwrap();
/// let mut receiver = ends.receiver_named::<u64>("scaled").unwrap();
/// producer.publish(|v| *v = 7)?;
/// drop(producer);
/// assert_eq!(receiver.recv_timeout(std::time::Duration::from_secs(5))?, Some(21));
/// control.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct GraphRegistry {
    kinds: BTreeMap<&'static str, GraphKind>,
}

impl std::fmt::Debug for GraphRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphRegistry")
            .field("kinds", &self.kinds.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A connection (or an endpoint's connections) joining different event types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connection `{from} -> {to}`: `{from}` emits {out_type}, `{to}` reads {in_type}")]
pub struct TypeMismatch {
    /// The connection's source.
    pub from: String,
    /// Its destination.
    pub to: String,
    /// What the source emits (for an ingress: what its other stages read).
    pub out_type: &'static str,
    /// What the destination reads (for an egress: what its other stages emit).
    pub in_type: &'static str,
}

/// Why a LaneGraph plan could not be resolved against a [`GraphRegistry`]. Every problem of
/// a kind is reported, not just the first.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphResolveError {
    /// The plan breaks rules (every violation listed).
    #[error("invalid pipeline plan:\n{0}")]
    InvalidPlan(ValidationErrors),
    /// Lowering failed for a reason other than the plan's rules.
    #[error("lowering failed: {0}")]
    Lower(LowerError),
    /// The plan is not a LaneGraph plan.
    #[error(
        "plan `{plan}` targets `{target}`; a GraphRegistry resolves `lane_graph` plans (`single_ring` plans: StageRegistry)"
    )]
    NotLaneGraph {
        /// The plan.
        plan: String,
        /// Its target.
        target: ExecutionTargetV1,
    },
    /// Stages could not be resolved; one entry per problem.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Stages(Vec<StageResolveError>),
    /// Connections joining different event types, one per line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Types(Vec<TypeMismatch>),
}

/// One registered kind, for listings: its name, side effects, parameters and event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphKindInfo {
    /// The kind (the descriptor's `NAME`).
    pub kind: &'static str,
    /// Whether the stage acts on the outside world.
    pub side_effects: bool,
    /// The parameters it reads from `params`.
    pub params: &'static [ParamSpec],
    /// The event type it reads.
    pub input: &'static str,
    /// The event type it emits.
    pub output: &'static str,
}

impl GraphRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        GraphRegistry::default()
    }

    /// Registers `S`, reading `In` and emitting `Out`, under its descriptor's `NAME`.
    pub fn register<S, In, Out>(&mut self) -> Result<&mut Self, DuplicateKind>
    where
        S: StageDescriptor + LaneStage<In, Out>,
        In: LaneEvent,
        Out: LaneEvent,
    {
        self.insert::<S, In, Out>(
            || Arc::new(TypedOps::<In>::new()),
            || Arc::new(TypedOps::<Out>::new()),
        )
    }

    /// Registers `S` like [`register`](Self::register), with its input and output events
    /// declared plain data: the lanes it reads and writes may be of every kind, `Journal` and
    /// lossy `FanoutBroadcast` included (see `GraphBuilder::plain_data`).
    pub fn register_plain<S, In, Out>(&mut self) -> Result<&mut Self, DuplicateKind>
    where
        S: StageDescriptor + LaneStage<In, Out>,
        In: LaneEvent + Pod,
        Out: LaneEvent + Pod,
    {
        self.insert::<S, In, Out>(
            || Arc::new(PodOps::<In>::new()),
            || Arc::new(PodOps::<Out>::new()),
        )
    }

    /// Registers `S` like [`register_plain`](Self::register_plain), with its input and output
    /// events `#[derive(ShmEvent)]` types: the lanes it reads and writes may also run between
    /// processes, in shared memory ([`LaneGraphPipeline::spawn_shm`]).
    pub fn register_shm<S, In, Out>(&mut self) -> Result<&mut Self, DuplicateKind>
    where
        S: StageDescriptor + LaneStage<In, Out>,
        In: LaneEvent + Pod + ShmEvent,
        Out: LaneEvent + Pod + ShmEvent,
    {
        self.insert::<S, In, Out>(
            || Arc::new(ShmOps::<In>::new()),
            || Arc::new(ShmOps::<Out>::new()),
        )
    }

    /// Registers `S` under its descriptor's `NAME`, its lanes made by `input_ops` and
    /// `output_ops` (what its event types allow).
    fn insert<S, In, Out>(
        &mut self,
        input_ops: MakeOps,
        output_ops: MakeOps,
    ) -> Result<&mut Self, DuplicateKind>
    where
        S: StageDescriptor + LaneStage<In, Out>,
        In: LaneEvent,
        Out: LaneEvent,
    {
        if self.kinds.contains_key(S::NAME) {
            return Err(DuplicateKind { kind: S::NAME });
        }
        self.kinds.insert(
            S::NAME,
            GraphKind {
                side_effects: S::SIDE_EFFECTS,
                params: S::PARAMS,
                input: EventType::of::<In>(),
                output: EventType::of::<Out>(),
                input_ops,
                output_ops,
                make: |params, ops| Ok(Node::stage::<In, Out, S>(S::from_params(params)?, ops)),
            },
        );
        Ok(self)
    }

    /// The registered kinds, in name order.
    pub fn kinds(&self) -> impl Iterator<Item = GraphKindInfo> + '_ {
        self.kinds.iter().map(|(&kind, k)| GraphKindInfo {
            kind,
            side_effects: k.side_effects,
            params: k.params,
            input: k.input.name,
            output: k.output.name,
        })
    }

    /// Checks and lowers `plan` (each plan rule checked once, by `lower_v2`), resolves every
    /// stage by kind from its `params`, and checks that every connection joins one event type.
    /// Every problem of a kind is reported at once.
    pub fn resolve(&self, plan: &PipelinePlanV2) -> Result<LaneGraphPipeline, GraphResolveError> {
        if plan.target != ExecutionTargetV1::LaneGraph {
            return Err(GraphResolveError::NotLaneGraph {
                plan: plan.name.clone(),
                target: plan.target,
            });
        }
        let spec = lower_v2(plan).map_err(|e| match e {
            LowerError::Invalid(v) => GraphResolveError::InvalidPlan(v),
            other => GraphResolveError::Lower(other),
        })?;
        let mut problems = Vec::new();
        let mut nodes: HashMap<String, Node> = HashMap::new();
        let mut kinds: HashMap<&str, &GraphKind> = HashMap::new();
        for stage in &plan.stages {
            let kind_name = stage.effective_kind();
            let Some(kind) = self.kinds.get(kind_name) else {
                problems.push(StageResolveError::UnknownKind {
                    stage: stage.name.clone(),
                    kind: kind_name.to_owned(),
                    known: self.kinds.keys().map(|k| (*k).to_owned()).collect(),
                });
                continue;
            };
            if kind.side_effects && !stage.side_effects {
                problems.push(StageResolveError::UndeclaredSideEffects {
                    stage: stage.name.clone(),
                    kind: kind_name.to_owned(),
                });
            }
            match (kind.make)(&stage.params, (kind.output_ops)()) {
                Ok(node) => {
                    nodes.insert(stage.name.clone(), node);
                }
                Err(error) => problems.push(StageResolveError::Params {
                    stage: stage.name.clone(),
                    error,
                }),
            }
            kinds.insert(&stage.name, kind);
        }
        if !problems.is_empty() {
            return Err(GraphResolveError::Stages(problems));
        }
        // Every connection joins one type; an ingress carries what the stages it feeds read,
        // an egress what the stages feeding it emit (validation guarantees a stage at one
        // end of every connection).
        let connections = plan
            .lane_graph
            .as_ref()
            .map(|g| g.connections.as_slice())
            .unwrap_or(&[]);
        // Per boundary: the kind that first fixed its type.
        let mut boundary: HashMap<&str, &GraphKind> = HashMap::new();
        let mut mismatches = Vec::new();
        for c in connections {
            let (from, to) = (kinds.get(c.from.as_str()), kinds.get(c.to.as_str()));
            let (out_type, in_type) = match (from, to) {
                (Some(f), Some(t)) => (f.output, t.input),
                (None, Some(t)) => match boundary.insert(&c.from, t) {
                    Some(seen) => (seen.input, t.input),
                    None => continue,
                },
                (Some(f), None) => match boundary.insert(&c.to, f) {
                    Some(seen) => (f.output, seen.output),
                    None => continue,
                },
                (None, None) => continue,
            };
            if out_type != in_type {
                mismatches.push(TypeMismatch {
                    from: c.from.clone(),
                    to: c.to.clone(),
                    out_type: out_type.name,
                    in_type: in_type.name,
                });
            }
        }
        if !mismatches.is_empty() {
            return Err(GraphResolveError::Types(mismatches));
        }
        for ingress in &plan.ingress {
            if let Some(kind) = boundary.get(ingress.name.as_str()) {
                nodes.insert(ingress.name.clone(), Node::ingress((kind.input_ops)()));
            }
        }
        Ok(LaneGraphPipeline::from_parts(plan.clone(), spec, nodes))
    }
}
