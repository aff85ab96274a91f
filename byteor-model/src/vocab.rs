//! The vocabulary plans and specs share: execution targets, lane kinds, `on_full`, ordering,
//! producer and scheduling modes, role kinds, stage parameter values, and the v1 limits.
//!
//! [`plan`](crate::plan), [`lower`](crate::lower) and [`spec`](crate::spec) all use these
//! types; none of them is defined by a plan or by a spec, so a spec read from kv text needs
//! nothing from the plan model. `plan` and `spec` re-export the types they use, so
//! `byteor::plan::LaneKind` and `byteor::spec::LaneKind` name the same type as
//! `byteor::vocab::LaneKind`.

use std::collections::BTreeMap;
use std::fmt;

/// The execution model a plan targets. Always an explicit choice of the plan's author.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExecutionTargetV1 {
    /// One ordered ring, a single producer and up to four dependent stages.
    SingleRing,
    /// A graph of named lanes and roles (stages, bridges, routers, merges).
    LaneGraph,
}

impl ExecutionTargetV1 {
    /// The name used in plan documents and specs (`single_ring` / `lane_graph`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecutionTargetV1::SingleRing => "single_ring",
            ExecutionTargetV1::LaneGraph => "lane_graph",
        }
    }
}

impl fmt::Display for ExecutionTargetV1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stage parameter value, as read from a plan document's `params` table.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// `true` / `false`.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// An array of values.
    Array(Vec<ParamValue>),
    /// A nested table.
    Table(BTreeMap<String, ParamValue>),
}

impl ParamValue {
    /// How deeply the value nests: a scalar has depth 1, `[1]` depth 2, `[[1]]` depth 3, an
    /// empty array or table depth 1; tables count like arrays. Plans and specs allow at most
    /// [`PARAM_V1_MAX_DEPTH`].
    ///
    /// Walks the value without recursion, in time linear in its size.
    ///
    /// ```
    /// use byteor_model::vocab::ParamValue;
    ///
    /// assert_eq!(ParamValue::Int(1).depth(), 1);
    /// assert_eq!(ParamValue::Array(vec![]).depth(), 1);
    /// assert_eq!(ParamValue::Array(vec![ParamValue::Array(vec![1.into()])]).depth(), 3);
    /// ```
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack: Vec<(&ParamValue, usize)> = vec![(self, 1)];
        while let Some((value, depth)) = stack.pop() {
            deepest = deepest.max(depth);
            match value {
                ParamValue::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
                ParamValue::Table(table) => stack.extend(table.values().map(|v| (v, depth + 1))),
                _ => {}
            }
        }
        deepest
    }
}

impl From<bool> for ParamValue {
    fn from(v: bool) -> Self {
        ParamValue::Bool(v)
    }
}
impl From<i64> for ParamValue {
    fn from(v: i64) -> Self {
        ParamValue::Int(v)
    }
}
impl From<i32> for ParamValue {
    fn from(v: i32) -> Self {
        ParamValue::Int(i64::from(v))
    }
}
impl From<u32> for ParamValue {
    fn from(v: u32) -> Self {
        ParamValue::Int(i64::from(v))
    }
}
impl From<f64> for ParamValue {
    fn from(v: f64) -> Self {
        ParamValue::Float(v)
    }
}
impl From<&str> for ParamValue {
    fn from(v: &str) -> Self {
        ParamValue::Str(v.to_owned())
    }
}
impl From<String> for ParamValue {
    fn from(v: String) -> Self {
        ParamValue::Str(v)
    }
}

/// Ordering guarantee of a SingleRing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderingMode {
    /// Every event in publication order (one shard).
    Strict,
    /// Order holds per shard key (several shards).
    PerKey,
}

impl OrderingMode {
    /// Every mode, in the order documents list them.
    pub const ALL: [OrderingMode; 2] = [OrderingMode::Strict, OrderingMode::PerKey];

    /// Document name: `strict` / `per_key`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderingMode::Strict => "strict",
            OrderingMode::PerKey => "per_key",
        }
    }
}

/// Producer mode of a SingleRing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProducerMode {
    /// One producer thread (the only mode supported in v1).
    Single,
    /// Several producers claiming into one ring (not supported in v1; rejected).
    Multi,
}

impl ProducerMode {
    /// Every mode, in the order documents list them.
    pub const ALL: [ProducerMode; 2] = [ProducerMode::Single, ProducerMode::Multi];

    /// Document name: `single` / `multi`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProducerMode::Single => "single",
            ProducerMode::Multi => "multi",
        }
    }
}

/// Stage scheduling of a SingleRing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchedulingMode {
    /// Each stage on its own thread (the only mode supported in v1).
    Dedicated,
    /// Stages pulled by a worker pool (not supported in v1; rejected).
    WorkQueue,
}

impl SchedulingMode {
    /// Every mode, in the order documents list them.
    pub const ALL: [SchedulingMode; 2] = [SchedulingMode::Dedicated, SchedulingMode::WorkQueue];

    /// Document name: `dedicated` / `work_queue`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SchedulingMode::Dedicated => "dedicated",
            SchedulingMode::WorkQueue => "work_queue",
        }
    }
}

/// Behaviour of a writer facing a full lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OnFull {
    /// Wait for room (backpressure); nothing is lost.
    Block,
    /// Never wait; the event is dropped and counted.
    Drop,
}

impl OnFull {
    /// Document name: `block` / `drop`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OnFull::Block => "block",
            OnFull::Drop => "drop",
        }
    }
}

/// LaneGraph lane kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LaneKind {
    /// General event flow over an SPSC ring. Always available.
    Events,
    /// Ordered, replayable journal. Needs cargo feature `lane_graph_journal`.
    Journal,
    /// Bounded sequenced slots. Needs `capacity > 0` and the v1 gating.
    SequencedSlots,
    /// One writer, every consumer sees every event. Needs cargo feature `lane_graph_fanout`.
    FanoutBroadcast,
}

impl LaneKind {
    /// Every lane kind, in declaration order.
    pub const ALL: [LaneKind; 4] = [
        LaneKind::Events,
        LaneKind::Journal,
        LaneKind::SequencedSlots,
        LaneKind::FanoutBroadcast,
    ];

    /// Document name: `events`, `journal`, `sequenced_slots`, `fanout_broadcast`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LaneKind::Events => "events",
            LaneKind::Journal => "journal",
            LaneKind::SequencedSlots => "sequenced_slots",
            LaneKind::FanoutBroadcast => "fanout_broadcast",
        }
    }

    /// The cargo feature this kind needs, if any.
    pub const fn required_feature(self) -> Option<&'static str> {
        match self {
            LaneKind::Journal => Some("lane_graph_journal"),
            LaneKind::FanoutBroadcast => Some("lane_graph_fanout"),
            LaneKind::Events | LaneKind::SequencedSlots => None,
        }
    }

    /// Whether this build of byteor supports the kind (its feature is compiled in).
    pub const fn is_enabled(self) -> bool {
        match self {
            LaneKind::Journal => cfg!(feature = "lane_graph_journal"),
            LaneKind::FanoutBroadcast => cfg!(feature = "lane_graph_fanout"),
            LaneKind::Events | LaneKind::SequencedSlots => true,
        }
    }
}

impl fmt::Display for LaneKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a role is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleKind {
    /// A user stage.
    Stage,
    /// Inserted where two lane kinds meet.
    Bridge,
    /// Inserted for fan-out over non-broadcast lanes.
    Router,
    /// Inserted for fan-in (lanes are single-writer).
    Merge,
}

impl RoleKind {
    /// Every role kind, in declaration order.
    pub const ALL: [RoleKind; 4] = [
        RoleKind::Stage,
        RoleKind::Bridge,
        RoleKind::Router,
        RoleKind::Merge,
    ];

    /// Name used in kv and describe output.
    pub const fn as_str(self) -> &'static str {
        match self {
            RoleKind::Stage => "stage",
            RoleKind::Bridge => "bridge",
            RoleKind::Router => "router",
            RoleKind::Merge => "merge",
        }
    }
}

impl fmt::Display for RoleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Most stages a SingleRing holds (per shard).
pub const SINGLE_RING_V1_MAX_STAGES: usize = 4;

/// Most shards of one SingleRing. Each shard is a ring of its own with one thread per stage,
/// so this bounds threads and ring memory together with [`PIPELINE_V1_MAX_THREADS`] and
/// [`RING_V1_MAX_BYTES`].
pub const SINGLE_RING_V1_MAX_SHARDS: u32 = 256;

/// Most slots of one ring or lane (`single_ring.capacity`, a lane's or the boundary policy's
/// `capacity`): 2^24. Capacities are powers of two between 2 and this (a `sequenced_slots`
/// lane's, any number between 1 and this).
pub const RING_V1_MAX_CAPACITY: u32 = 1 << 24;

/// Most bytes of ring memory one pipeline may ask for: for a SingleRing, capacity × slot size ×
/// shards (the slot size is the event type's size, known once the executor binds it). 1 GiB.
/// `validate_v1` checks it when a spec's slot size is set.
///
/// A plan within every limit can still fail to start when the host has less memory: ring
/// memory is allocated fallibly, and that failure is an error, never an abort.
pub const RING_V1_MAX_BYTES: u64 = 1 << 30;

/// Most threads one pipeline starts: for a SingleRing, stages × shards; for a LaneGraph, its
/// roles (stages plus the bridges, routers and merges lowering inserts). Plan validation counts
/// the roles lowering will produce, so a plan that validates always lowers within this limit,
/// and `validate_v1` checks it again on the spec.
pub const PIPELINE_V1_MAX_THREADS: usize = 256;

/// Longest pipeline, stage, boundary, stage-kind, shard-key or parameter name, in bytes.
///
/// Those names but parameter names are also made of ASCII letters, digits, `_` and `-` only,
/// so that no name can hold a control character, a path separator, or the `.` and `->`
/// lowering uses in the names of the roles and lanes it inserts (their longest names are
/// [`ROLE_NAME_V1_MAX_BYTES`] and [`LANE_NAME_V1_MAX_BYTES`]).
pub const NAME_V1_MAX_BYTES: usize = 64;

/// Deepest nesting of a stage parameter value: a scalar has depth 1, `[1]` depth 2, `[[1]]`
/// depth 3, and so on (tables count like arrays; see [`ParamValue::depth`]). Plan
/// documents, kv specs and both validators use this one limit, so whatever validates also
/// writes and reads back, and no reader recurses deeper than it.
pub const PARAM_V1_MAX_DEPTH: usize = 32;

/// Most consumers of one `FanoutBroadcast` lane.
///
/// Each consumer of a broadcast lane owns a 128-byte cursor the writer must scan before it may
/// reuse a slot; eight keeps that scan within one kilobyte of hot cache lines and matches the
/// core counts byteor targets. Wider fan-out is built from broadcast lanes in a tree.
pub const FANOUT_V1_MAX_CONSUMERS: usize = 8;

/// The only gating mode of v1 `SequencedSlots` lanes: a slot is reusable once every reader of
/// the lane has released it.
pub const SEQUENCED_SLOTS_V1_GATING: &str = "all_readers";

/// Longest role name of a spec, in bytes: room for the longest name lowering generates,
/// `bridge.router.<stage>.<stage>` with two names of [`NAME_V1_MAX_BYTES`].
pub const ROLE_NAME_V1_MAX_BYTES: usize = 2 * NAME_V1_MAX_BYTES + 16;

/// Longest lane name of a spec, in bytes: `<writer>-><reader>` with two role names of
/// [`ROLE_NAME_V1_MAX_BYTES`].
pub const LANE_NAME_V1_MAX_BYTES: usize = 2 * ROLE_NAME_V1_MAX_BYTES + 2;
