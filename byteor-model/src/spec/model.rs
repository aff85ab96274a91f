//! The `PipelineSpecV1` data model: the canonical, concrete runtime shape that executors run.
//!
//! Everything is resolved: ids are dense indices, capacities are concrete, SingleRing
//! dependencies are bit masks, LaneGraph infrastructure (bridges, routers, merges) is explicit.

use std::collections::BTreeMap;
use std::fmt;

pub use crate::vocab::{ExecutionTargetV1, LaneKind, OnFull, OrderingMode, ParamValue, RoleKind};

/// A canonical pipeline spec, version 1.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSpecV1 {
    /// Pipeline name.
    pub name: String,
    /// Stage table; `stages[i].id == i`. For SingleRing, in topological order.
    pub stages: Vec<StageSpec>,
    /// Target-specific topology.
    pub topology: TopologySpec,
}

impl PipelineSpecV1 {
    /// The execution target of this spec's topology.
    pub fn target(&self) -> ExecutionTargetV1 {
        match self.topology {
            TopologySpec::SingleRing(_) => ExecutionTargetV1::SingleRing,
            TopologySpec::LaneGraph(_) => ExecutionTargetV1::LaneGraph,
        }
    }
}

/// One stage of a spec.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSpec {
    /// Dense id, equal to the stage's index in [`PipelineSpecV1::stages`].
    pub id: u32,
    /// Stage name from the plan.
    pub name: String,
    /// Resolved stage kind (the plan's kind, or its name).
    pub kind: String,
    /// Whether the stage has side effects.
    pub side_effects: bool,
    /// Parameters for the stage's parameter parser.
    pub params: BTreeMap<String, ParamValue>,
}

/// Target-specific part of a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopologySpec {
    /// One ordered ring (per shard).
    SingleRing(SingleRingSpec),
    /// A graph of lanes and roles.
    LaneGraph(LaneGraphSpec),
}

/// Slot geometry of a ring. Zero means "chosen by the executor from the event type".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlotGeometry {
    /// Slot size in bytes; 0 until an executor binds an event type.
    pub size: u32,
    /// Slot alignment in bytes; 0 until an executor binds an event type.
    pub align: u32,
}

/// SingleRing topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleRingSpec {
    /// The ingress boundary name.
    pub ingress: String,
    /// The egress boundary name.
    pub egress: String,
    /// Slots per ring (power of two).
    pub capacity: u32,
    /// Slot geometry placeholder for the executor.
    pub slot: SlotGeometry,
    /// Number of shards (independent rings).
    pub shards: u32,
    /// Ordering guarantee.
    pub ordering: OrderingMode,
    /// Shard key name (present when `shards > 1`).
    pub shard_key: Option<String>,
    /// `deps[i]`: bit `j` set when stage `i` runs after stage `j` (so `j < i`).
    pub deps: Vec<u32>,
    /// Bit `i` set when stage `i` is final (no other stage depends on it): the producer's
    /// release gate.
    pub final_mask: u32,
}

impl SingleRingSpec {
    /// Ids of the stages stage `stage` depends on, ascending.
    pub fn dependencies(&self, stage: usize) -> impl Iterator<Item = usize> + '_ {
        let mask = self.deps.get(stage).copied().unwrap_or(0);
        (0..32usize).filter(move |j| mask & (1u32 << j) != 0)
    }

    /// Ids of the final stages, ascending.
    pub fn final_stages(&self) -> impl Iterator<Item = usize> + '_ {
        (0..32usize).filter(move |j| self.final_mask & (1u32 << j) != 0)
    }

    /// Bit mask of every stage `stage` runs after, directly or transitively.
    ///
    /// ```
    /// use byteor_model::plan::{PipelinePlanV2, StageDecl};
    /// use byteor_model::spec::TopologySpec;
    ///
    /// let plan = PipelinePlanV2::single_ring("p")
    ///     .with_ingress("in")
    ///     .with_egress("out")
    ///     .with_stage(StageDecl::new("a"))
    ///     .with_stage(StageDecl::new("b").after("a"))
    ///     .with_stage(StageDecl::new("c").after("b"));
    /// let spec = byteor_model::lower::lower_v2(&plan)?;
    /// let TopologySpec::SingleRing(ring) = &spec.topology else { unreachable!() };
    /// assert_eq!(ring.ancestors(2), 0b011); // c runs after b, and so after a
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ancestors(&self, stage: usize) -> u32 {
        let mut acc = 0u32;
        let mut frontier = self.deps.get(stage).copied().unwrap_or(0);
        while frontier != 0 {
            let j = frontier.trailing_zeros() as usize;
            frontier &= frontier - 1;
            if acc & (1 << j) == 0 {
                acc |= 1 << j;
                frontier |= self.deps.get(j).copied().unwrap_or(0) & !acc;
            }
        }
        acc
    }

    /// Whether stages `a` and `b` are ordered (one runs after the other, directly or
    /// transitively), so they never handle the same event at the same time.
    pub fn ordered(&self, a: usize, b: usize) -> bool {
        a < 32 && b < 32 && (self.ancestors(a) & (1 << b) != 0 || self.ancestors(b) & (1 << a) != 0)
    }

    /// The first pair `(mutating, other)` of stages that could touch one event at the same
    /// time although `mutating` changes it (`mutates[i]` says whether stage `i` does); `None`
    /// when every mutating stage is ordered against every other stage.
    pub fn unordered_mutation(&self, mutates: &[bool]) -> Option<(usize, usize)> {
        let n = mutates.len();
        (0..n)
            .filter(|&i| mutates[i])
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .find(|&(i, j)| !self.ordered(i, j))
    }
}

/// LaneGraph topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneGraphSpec {
    /// Graph-wide `on_full`.
    pub on_full: OnFull,
    /// Concrete lanes; `lanes[i].id == i`.
    pub lanes: Vec<LaneSpec>,
    /// Roles (threads or processes); `roles[i].id == i`.
    pub roles: Vec<RoleSpec>,
    /// Boundary endpoints; `endpoints[i].id == i`.
    pub endpoints: Vec<EndpointSpec>,
}

/// Who writes or reads a lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LaneEnd {
    /// A role, by id.
    Role(u32),
    /// A boundary endpoint, by id.
    Endpoint(u32),
}

impl fmt::Display for LaneEnd {
    /// `role:<id>` or `endpoint:<id>`, the form the kv codec uses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LaneEnd::Role(id) => write!(f, "role:{id}"),
            LaneEnd::Endpoint(id) => write!(f, "endpoint:{id}"),
        }
    }
}

/// A concrete lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneSpec {
    /// Dense id.
    pub id: u32,
    /// Deterministic lane name.
    pub name: String,
    /// Lane kind.
    pub kind: LaneKind,
    /// Capacity in slots.
    pub capacity: u32,
    /// Gating mode (SequencedSlots only).
    pub gating: Option<String>,
    /// Behaviour when full.
    pub on_full: OnFull,
    /// The single writer.
    pub writer: LaneEnd,
    /// Readers (one for point-to-point kinds, several for broadcast).
    pub readers: Vec<LaneEnd>,
}

/// A role of a LaneGraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSpec {
    /// Dense id.
    pub id: u32,
    /// Role name: the stage name, or a deterministic generated name for inserted roles.
    pub name: String,
    /// Role kind.
    pub kind: RoleKind,
    /// The stage this role runs (for `RoleKind::Stage`).
    pub stage: Option<u32>,
    /// Lanes read, by id.
    pub inputs: Vec<u32>,
    /// Lanes written, by id.
    pub outputs: Vec<u32>,
}

impl RoleSpec {
    /// Whether lowering inserted this role (bridge, router or merge).
    pub fn is_inserted(&self) -> bool {
        self.kind != RoleKind::Stage
    }
}

/// Direction of a boundary endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EndpointDirection {
    /// Events enter here.
    Ingress,
    /// Results leave here.
    Egress,
}

impl EndpointDirection {
    /// Name used in kv and describe output: `ingress` / `egress`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EndpointDirection::Ingress => "ingress",
            EndpointDirection::Egress => "egress",
        }
    }
}

impl fmt::Display for EndpointDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A boundary endpoint of a LaneGraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    /// Dense id.
    pub id: u32,
    /// Boundary name from the plan.
    pub name: String,
    /// Ingress or egress.
    pub direction: EndpointDirection,
    /// The lane it writes (ingress) or reads (egress).
    pub lane: u32,
}
