//! The `PipelinePlanV2` data model: plain data, buildable from code, from the typed builder, from
//! the `#[pipeline]` macro, or from a TOML plan document.
//!
//! The model mirrors the plan document (DESIGN appendix B) one to one, so that a document that
//! parses but breaks a rule (say, a `single_ring` target that also carries a `lane_graph`
//! payload) is still representable and reported by [`validate_plan_v2`](super::validate_plan_v2)
//! with every violation, rather than refused by the parser with only the first.

use std::collections::BTreeMap;

pub use crate::vocab::{
    ExecutionTargetV1, LaneKind, OnFull, OrderingMode, ParamValue, ProducerMode, SchedulingMode,
};

/// Default ring capacity of a SingleRing plan when the plan does not set one.
pub const DEFAULT_RING_CAPACITY: u32 = 1024;

/// Default capacity of a LaneGraph lane whose intent does not set one.
pub const DEFAULT_LANE_CAPACITY: u32 = 1024;

/// A pipeline plan, version 2: the source contract every authoring surface produces.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelinePlanV2 {
    /// Pipeline name: 1 to [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES) bytes of ASCII
    /// letters, digits, `_` and `-`. Used in thread names, describe output and specs.
    pub name: String,
    /// The execution model this plan targets.
    pub target: ExecutionTargetV1,
    /// Ingress boundaries (where events enter). A SingleRing plan has exactly one.
    pub ingress: Vec<BoundaryDecl>,
    /// Egress boundaries (where results leave). A SingleRing plan has exactly one.
    pub egress: Vec<BoundaryDecl>,
    /// The stage catalog. For SingleRing, in topological order.
    pub stages: Vec<StageDecl>,
    /// SingleRing payload; present exactly when `target` is [`ExecutionTargetV1::SingleRing`].
    pub single_ring: Option<SingleRingConstraints>,
    /// LaneGraph payload; present exactly when `target` is [`ExecutionTargetV1::LaneGraph`].
    pub lane_graph: Option<LaneGraphPlan>,
}

impl PipelinePlanV2 {
    /// An empty SingleRing plan with default constraints. Add boundaries and stages next.
    pub fn single_ring(name: impl Into<String>) -> Self {
        PipelinePlanV2 {
            name: name.into(),
            target: ExecutionTargetV1::SingleRing,
            ingress: Vec::new(),
            egress: Vec::new(),
            stages: Vec::new(),
            single_ring: Some(SingleRingConstraints::default()),
            lane_graph: None,
        }
    }

    /// An empty LaneGraph plan (`on_full = Block`, default boundary policy).
    pub fn lane_graph(name: impl Into<String>) -> Self {
        PipelinePlanV2 {
            name: name.into(),
            target: ExecutionTargetV1::LaneGraph,
            ingress: Vec::new(),
            egress: Vec::new(),
            stages: Vec::new(),
            single_ring: None,
            lane_graph: Some(LaneGraphPlan::default()),
        }
    }

    /// The execution target this plan declares.
    pub fn target(&self) -> ExecutionTargetV1 {
        self.target
    }

    /// Adds an ingress boundary.
    pub fn with_ingress(mut self, name: impl Into<String>) -> Self {
        self.ingress.push(BoundaryDecl::new(name));
        self
    }

    /// Adds an egress boundary.
    pub fn with_egress(mut self, name: impl Into<String>) -> Self {
        self.egress.push(BoundaryDecl::new(name));
        self
    }

    /// Appends a stage to the catalog.
    pub fn with_stage(mut self, stage: StageDecl) -> Self {
        self.stages.push(stage);
        self
    }

    /// Replaces the SingleRing constraints (and leaves the target unchanged).
    pub fn with_single_ring(mut self, constraints: SingleRingConstraints) -> Self {
        self.single_ring = Some(constraints);
        self
    }

    /// Appends a LaneGraph connection, creating the LaneGraph payload if absent.
    pub fn with_connection(mut self, connection: Connection) -> Self {
        self.lane_graph
            .get_or_insert_with(LaneGraphPlan::default)
            .connections
            .push(connection);
        self
    }

    /// Looks up a stage by name.
    pub fn stage(&self, name: &str) -> Option<&StageDecl> {
        self.stages.iter().find(|s| s.name == name)
    }
}

/// A named boundary (ingress or egress).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BoundaryDecl {
    /// Boundary name; unique across boundaries and stages, and a name by the plan name rule
    /// (see [`PipelinePlanV2::name`]).
    pub name: String,
}

impl BoundaryDecl {
    /// A boundary with the given name.
    pub fn new(name: impl Into<String>) -> Self {
        BoundaryDecl { name: name.into() }
    }
}

/// One entry of the stage catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct StageDecl {
    /// Stage name; unique across stages and boundaries, and a name by the plan name rule (see
    /// [`PipelinePlanV2::name`]).
    pub name: String,
    /// Registered stage kind used to resolve an implementation by name; `None` means the name.
    /// An explicit kind is a name by the plan name rule (see [`PipelinePlanV2::name`]).
    pub kind: Option<String>,
    /// Whether the stage acts on the outside world (approval and replay policy look at it).
    pub side_effects: bool,
    /// Parameters handed to the stage's parameter parser. Parameter names are at most
    /// [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES) bytes; values nest at most
    /// [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH) levels ([`ParamValue::depth`]).
    pub params: BTreeMap<String, ParamValue>,
    /// SingleRing only: the earlier stages this stage runs after. Must be empty on a LaneGraph.
    pub after: Vec<String>,
}

impl StageDecl {
    /// A stage with no kind override, no side effects, no params and no dependencies.
    pub fn new(name: impl Into<String>) -> Self {
        StageDecl {
            name: name.into(),
            kind: None,
            side_effects: false,
            params: BTreeMap::new(),
            after: Vec::new(),
        }
    }

    /// Sets the registered kind.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Marks the stage as side-effecting (or not).
    pub fn side_effects(mut self, side_effects: bool) -> Self {
        self.side_effects = side_effects;
        self
    }

    /// Sets one parameter.
    pub fn param(mut self, key: impl Into<String>, value: impl Into<ParamValue>) -> Self {
        self.params.insert(key.into(), value.into());
        self
    }

    /// Adds a SingleRing dependency on an earlier stage.
    pub fn after(mut self, stage: impl Into<String>) -> Self {
        self.after.push(stage.into());
        self
    }

    /// The effective kind: the explicit kind, or the stage name.
    pub fn effective_kind(&self) -> &str {
        self.kind.as_deref().unwrap_or(&self.name)
    }
}

impl From<&str> for StageDecl {
    /// A stage declaration with just a name.
    fn from(name: &str) -> Self {
        StageDecl::new(name)
    }
}

impl From<String> for StageDecl {
    /// A stage declaration with just a name.
    fn from(name: String) -> Self {
        StageDecl::new(name)
    }
}

/// SingleRing execution constraints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleRingConstraints {
    /// Ring capacity in slots: a power of two, at least 2 and at most
    /// [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY).
    pub capacity: u32,
    /// Number of shards (independent rings): at least 1, at most
    /// [`SINGLE_RING_V1_MAX_SHARDS`](crate::SINGLE_RING_V1_MAX_SHARDS), and at most
    /// [`PIPELINE_V1_MAX_THREADS`](crate::PIPELINE_V1_MAX_THREADS) stage threads in all (stages ×
    /// shards).
    pub shards: u32,
    /// Ordering guarantee; `Strict` requires one shard.
    pub ordering: OrderingMode,
    /// Producer mode; only `Single` is supported in v1.
    pub producer: ProducerMode,
    /// Stage scheduling; only `Dedicated` is supported in v1.
    pub scheduling: SchedulingMode,
    /// Name of the key events are sharded by; required when `shards > 1`, and a name by the
    /// plan name rule (see [`PipelinePlanV2::name`]). An empty key counts as none.
    pub shard_key: Option<String>,
}

impl Default for SingleRingConstraints {
    fn default() -> Self {
        SingleRingConstraints {
            capacity: DEFAULT_RING_CAPACITY,
            shards: 1,
            ordering: OrderingMode::Strict,
            producer: ProducerMode::Single,
            scheduling: SchedulingMode::Dedicated,
            shard_key: None,
        }
    }
}

/// LaneGraph payload: connections with lane intents, the boundary policy and `on_full`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneGraphPlan {
    /// What a writer does when a lane is full; must be set (validation reports `None`).
    pub on_full: Option<OnFull>,
    /// How ingress and egress lanes behave.
    pub boundary: BoundaryLanePolicy,
    /// Directed connections: ingress→stage, stage→stage, stage→egress.
    pub connections: Vec<Connection>,
}

impl Default for LaneGraphPlan {
    fn default() -> Self {
        LaneGraphPlan {
            on_full: Some(OnFull::Block),
            boundary: BoundaryLanePolicy::default(),
            connections: Vec::new(),
        }
    }
}

/// Boundary lane policy: the lanes at ingress and egress boundaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundaryLanePolicy {
    /// Lane kind of boundary lanes.
    pub kind: LaneKind,
    /// Capacity of boundary lanes; `None` means [`DEFAULT_LANE_CAPACITY`]. At most
    /// [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY).
    pub capacity: Option<u32>,
    /// Boundary-specific `on_full`; `None` inherits the graph's `on_full`.
    pub on_full: Option<OnFull>,
}

impl Default for BoundaryLanePolicy {
    fn default() -> Self {
        BoundaryLanePolicy {
            kind: LaneKind::Events,
            capacity: None,
            on_full: None,
        }
    }
}

/// A directed LaneGraph connection with its lane intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Source: an ingress or a stage.
    pub from: String,
    /// Destination: a stage or an egress.
    pub to: String,
    /// The lane kind (and its parameters) this connection asks for.
    pub lane: LaneIntent,
}

impl Connection {
    /// A connection over an `Events` lane with default capacity.
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> Self {
        Connection {
            from: from.into(),
            to: to.into(),
            lane: LaneIntent::events(),
        }
    }

    /// Sets the lane intent.
    pub fn lane(mut self, lane: LaneIntent) -> Self {
        self.lane = lane;
        self
    }
}

/// Per-connection lane intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneIntent {
    /// Lane kind.
    pub kind: LaneKind,
    /// Capacity in slots, at most [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY);
    /// `None` means [`DEFAULT_LANE_CAPACITY`] (not allowed for
    /// `SequencedSlots`, which needs an explicit capacity).
    pub capacity: Option<u32>,
    /// Gating mode; only meaningful for `SequencedSlots`, where it must equal
    /// [`SEQUENCED_SLOTS_V1_GATING`](crate::SEQUENCED_SLOTS_V1_GATING).
    pub gating: Option<String>,
    /// What the lane's writer does when it is full; `None` inherits the graph's `on_full`
    /// (for a lane at a boundary: the boundary policy's). A `Drop` lane to one slow consumer
    /// inside a `Block` graph loses that consumer's events (counted) without holding the
    /// graph back. Broadcast connections from one source share one lane, so they must agree.
    pub on_full: Option<OnFull>,
}

impl LaneIntent {
    /// An `Events` lane with default capacity.
    pub fn events() -> Self {
        LaneIntent {
            kind: LaneKind::Events,
            capacity: None,
            gating: None,
            on_full: None,
        }
    }

    /// A lane of the given kind with default capacity and no gating.
    pub fn of(kind: LaneKind) -> Self {
        LaneIntent {
            kind,
            capacity: None,
            gating: None,
            on_full: None,
        }
    }

    /// A `SequencedSlots` lane with the v1 gating and the given capacity.
    pub fn sequenced_slots(capacity: u32) -> Self {
        LaneIntent {
            kind: LaneKind::SequencedSlots,
            capacity: Some(capacity),
            gating: Some(crate::SEQUENCED_SLOTS_V1_GATING.to_owned()),
            on_full: None,
        }
    }

    /// Sets the capacity.
    pub fn capacity(mut self, capacity: u32) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Sets what the writer does when this lane is full (instead of the graph's `on_full`).
    pub fn on_full(mut self, on_full: OnFull) -> Self {
        self.on_full = Some(on_full);
        self
    }
}
