//! The plan violations `validate_plan_v2` reports, and how each reads.

use std::fmt;

use crate::diagnostics::cycles::cycle_text;
use crate::diagnostics::names::{describe_char, PLAN_NAME_CHARS};
use crate::plan::{ExecutionTargetV1, LaneKind, OnFull};

/// What a named plan element is: an ingress boundary, an egress boundary or a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeclRole {
    /// An entry of the `ingress` catalog.
    Ingress,
    /// An entry of the `egress` catalog.
    Egress,
    /// An entry of the `stages` catalog.
    Stage,
}

impl DeclRole {
    /// The word used in messages and documents: `ingress`, `egress` or `stage`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeclRole::Ingress => "ingress",
            DeclRole::Egress => "egress",
            DeclRole::Stage => "stage",
        }
    }
}

impl fmt::Display for DeclRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which name of a plan a name-rule violation is about.
///
/// `Display` reads as messages print it: `pipeline name`, `stage #2 name`,
/// ``stage `parse` kind``, `single_ring.shard_key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameItem {
    /// [`PipelinePlanV2::name`](crate::plan::PipelinePlanV2::name).
    Pipeline,
    /// The name of the `position`-th (1-based) entry of a catalog.
    Decl {
        /// The catalog.
        role: DeclRole,
        /// 1-based position in it.
        position: usize,
    },
    /// A stage's explicit `kind`.
    StageKind {
        /// The stage (as a label, see [`PlanViolation`]).
        stage: String,
    },
    /// `single_ring.shard_key`.
    ShardKey,
}

impl fmt::Display for NameItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameItem::Pipeline => f.write_str("pipeline name"),
            NameItem::Decl { role, position } => write!(f, "{role} #{position} name"),
            NameItem::StageKind { stage } => write!(f, "stage `{stage}` kind"),
            NameItem::ShardKey => f.write_str("single_ring.shard_key"),
        }
    }
}

/// One rule a plan breaks. Every variant names the offending stage, boundary, connection or
/// field, and its message says what to change.
///
/// Names and other text from the plan are stored as labels: characters that would not print
/// as themselves (control characters, invisible formatting characters) and `\` are escaped as
/// `{:?}` escapes them, and a label is cut after
/// [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES) bytes, ending in `…`. Valid names are stored
/// as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanViolation {
    // ---- every target -------------------------------------------------------------------
    /// The pipeline name is empty.
    #[error("pipeline name is empty")]
    EmptyPipelineName,

    /// The target needs a payload table the plan does not carry.
    #[error("target `{target}` needs a `[{table}]` table, but the plan has none")]
    MissingPayload {
        /// The declared target.
        target: ExecutionTargetV1,
        /// The missing table: `single_ring` or `lane_graph`.
        table: &'static str,
    },

    /// The plan carries the payload table of the other target.
    #[error("target `{target}` does not take a `[{table}]` table; remove the table or change the target")]
    UnexpectedPayload {
        /// The declared target.
        target: ExecutionTargetV1,
        /// The extra table: `single_ring` or `lane_graph`.
        table: &'static str,
    },

    /// A stage or boundary has an empty name.
    #[error("{role} #{position} has an empty name")]
    EmptyName {
        /// The catalog the element is declared in.
        role: DeclRole,
        /// 1-based position in that catalog.
        position: usize,
    },

    /// A stage's explicit `kind` is empty (leave it unset to use the stage name).
    #[error("stage `{stage}` has an empty `kind`; omit `kind` to resolve the stage by its name")]
    EmptyStageKind {
        /// The stage.
        stage: String,
    },

    /// A name holds a character the name rule does not allow: pipeline, stage and boundary
    /// names, stage kinds and the shard key use ASCII letters, digits, `_` and `-`. (Lowering
    /// names the roles and lanes it inserts with `.`, `>` and `*`, so no plan name can clash
    /// with an inserted one.)
    #[error("{item} `{name}`: character {} at byte {at} is not allowed; names use {PLAN_NAME_CHARS}", char_shown(.character))]
    InvalidName {
        /// What the name names: the pipeline, a declaration, a stage kind or the shard key.
        item: NameItem,
        /// The name (as a label, see the type docs).
        name: String,
        /// The first character that is not allowed.
        character: char,
        /// Its byte offset in the name.
        at: usize,
    },

    /// A name longer than [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES).
    #[error("{item} `{name}` is {len} bytes long; names are at most {max} bytes")]
    NameTooLong {
        /// What the name names, as for [`InvalidName`](Self::InvalidName).
        item: NameItem,
        /// The name, cut to its first bytes.
        name: String,
        /// Its length in bytes.
        len: usize,
        /// [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES).
        max: usize,
    },

    /// A stage parameter name longer than [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES).
    #[error("stage `{stage}` param `{param}`: the parameter name is {len} bytes long; parameter names are at most {max} bytes")]
    ParamNameTooLong {
        /// The stage.
        stage: String,
        /// The parameter name, cut to its first bytes.
        param: String,
        /// Its length in bytes.
        len: usize,
        /// [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES).
        max: usize,
    },

    /// A stage parameter value nested deeper than [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH) (see
    /// [`ParamValue::depth`](crate::vocab::ParamValue::depth)).
    #[error("stage `{stage}` param `{param}` nests {depth} levels deep; parameter values nest at most {max} levels (a scalar is 1 level, `[1]` is 2)")]
    ParamTooDeep {
        /// The stage.
        stage: String,
        /// The parameter.
        param: String,
        /// How deep its value nests.
        depth: usize,
        /// [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH).
        max: usize,
    },

    /// Two stages share a name.
    #[error("stage `{name}` is declared more than once")]
    DuplicateStage {
        /// The repeated stage name.
        name: String,
    },

    /// Two boundaries of the same catalog share a name.
    #[error("{role} `{name}` is declared more than once")]
    DuplicateBoundary {
        /// `Ingress` or `Egress`.
        role: DeclRole,
        /// The repeated boundary name.
        name: String,
    },

    /// A name is used by elements of two different catalogs (stage and boundary, or ingress
    /// and egress). Stages and boundaries share one namespace, since connections name either.
    #[error("name `{name}` is declared both as {first} and as {second}; stages and boundaries share one namespace")]
    NameClash {
        /// The shared name.
        name: String,
        /// The catalog of the first declaration.
        first: DeclRole,
        /// The catalog of the later declaration.
        second: DeclRole,
    },

    /// Wrong number of ingress or egress boundaries for the target.
    #[error("a `{target}` plan needs {expected} {role}, found {}", count_and_names(.found))]
    BoundaryCount {
        /// The declared target.
        target: ExecutionTargetV1,
        /// `Ingress` or `Egress`.
        role: DeclRole,
        /// What the target needs: `exactly one` or `at least one`.
        expected: &'static str,
        /// The boundaries the plan declares.
        found: Vec<String>,
    },

    /// The plan declares no stage.
    #[error("a `{target}` plan needs at least one stage, found none")]
    NoStages {
        /// The declared target.
        target: ExecutionTargetV1,
    },

    // ---- SingleRing ---------------------------------------------------------------------
    /// A SingleRing plan declares more stages than a ring holds.
    #[error("a `single_ring` plan holds at most {max} stages in v1, found {found}; {} past the limit", names(.extra))]
    TooManyStages {
        /// [`SINGLE_RING_V1_MAX_STAGES`](crate::SINGLE_RING_V1_MAX_STAGES).
        max: usize,
        /// Number of stages declared.
        found: usize,
        /// The stages past the limit, in catalog order.
        extra: Vec<String>,
    },

    /// An `after` entry names no stage of the plan.
    #[error("stage `{stage}` runs after `{dependency}`: no such stage{}", did_you_mean(.suggestion))]
    UnknownDependency {
        /// The stage whose `after` list holds the entry.
        stage: String,
        /// The unknown name.
        dependency: String,
        /// The closest stage name, when one is close.
        suggestion: Option<String>,
    },

    /// An `after` entry names an ingress or egress rather than a stage.
    #[error("stage `{stage}` runs after `{dependency}`, which is {}", boundary_dependency(.role))]
    DependencyOnBoundary {
        /// The stage whose `after` list holds the entry.
        stage: String,
        /// The boundary's name.
        dependency: String,
        /// `Ingress` or `Egress`.
        role: DeclRole,
    },

    /// An `after` entry names a stage declared later in the catalog (and the two are not on
    /// a cycle, which is reported as a [`Cycle`](Self::Cycle)).
    #[error("stage `{stage}` runs after `{dependency}`, so `{dependency}` must come before `{stage}` in the stage list (single_ring stages are listed in topological order)")]
    DependencyNotEarlier {
        /// The stage whose `after` list holds the entry.
        stage: String,
        /// The later stage.
        dependency: String,
    },

    /// A stage lists itself in `after`.
    #[error("stage `{stage}` runs after itself")]
    SelfDependency {
        /// The stage.
        stage: String,
    },

    /// A stage lists the same dependency twice.
    #[error("stage `{stage}` lists `{dependency}` more than once in `after`")]
    DuplicateDependency {
        /// The stage.
        stage: String,
        /// The repeated dependency.
        dependency: String,
    },

    /// The ring capacity is not a power of two of at least 2.
    #[error("single_ring.capacity is {capacity}; it must be a power of two of at least 2 ({})", nearest_powers(*.capacity))]
    RingCapacity {
        /// The declared capacity.
        capacity: u32,
    },

    /// The ring capacity is above [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY).
    #[error("single_ring.capacity is {capacity}; a ring holds at most {max} slots in v1")]
    RingCapacityTooLarge {
        /// The declared capacity.
        capacity: u32,
        /// [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY).
        max: u32,
    },

    /// `shards = 0`.
    #[error("single_ring.shards is 0; it must be at least 1")]
    ZeroShards,

    /// More shards than [`SINGLE_RING_V1_MAX_SHARDS`](crate::SINGLE_RING_V1_MAX_SHARDS).
    #[error("single_ring.shards is {shards}; at most {max} shards are supported in v1")]
    TooManyShards {
        /// The declared shard count.
        shards: u32,
        /// [`SINGLE_RING_V1_MAX_SHARDS`](crate::SINGLE_RING_V1_MAX_SHARDS).
        max: u32,
    },

    /// Stages × shards above [`PIPELINE_V1_MAX_THREADS`](crate::PIPELINE_V1_MAX_THREADS): each stage of each shard is a thread.
    #[error("single_ring.shards = {shards} with {stages} stages runs {threads} stage threads (one per stage and shard); a pipeline runs at most {max} threads in v1")]
    TooManyRingThreads {
        /// Stages declared.
        stages: usize,
        /// The declared shard count.
        shards: u32,
        /// Stages × shards.
        threads: u64,
        /// [`PIPELINE_V1_MAX_THREADS`](crate::PIPELINE_V1_MAX_THREADS).
        max: usize,
    },

    /// `ordering = strict` with more than one shard.
    #[error("single_ring.ordering `strict` requires shards = 1, found shards = {shards}; use ordering `per_key` to shard")]
    StrictOrderingWithShards {
        /// The declared shard count.
        shards: u32,
    },

    /// More than one shard and no (or an empty) `shard_key`.
    #[error(
        "single_ring.shards = {shards} requires a non-empty `shard_key` to route events to shards"
    )]
    MissingShardKey {
        /// The declared shard count.
        shards: u32,
    },

    /// `producer = multi`.
    #[error("single_ring.producer `multi` is not supported in v1: a single_ring has exactly one producer")]
    MultiProducerNotSupported,

    /// `scheduling = work_queue`.
    #[error("single_ring.scheduling `work_queue` is not supported in v1: single_ring stages run on dedicated threads")]
    WorkQueueNotSupported,

    /// A SingleRing plan carries a LaneGraph connection (a lane intent).
    #[error("connection `{from} -> {to}`: a `single_ring` plan takes no lane intents; connections belong to `lane_graph` plans")]
    LaneIntentOnSingleRing {
        /// Connection source.
        from: String,
        /// Connection destination.
        to: String,
    },

    // ---- LaneGraph ----------------------------------------------------------------------
    /// A LaneGraph stage has an `after` list.
    #[error("stage `{stage}` has `after = [{}]`, but `after` lists are single_ring only; wire lane_graph stages with connections", names(.after))]
    AfterOnLaneGraph {
        /// The stage.
        stage: String,
        /// Its `after` entries.
        after: Vec<String>,
    },

    /// `lane_graph.on_full` is not set.
    #[error("lane_graph.on_full is not set; choose `block` or `drop`")]
    MissingOnFull,

    /// The boundary lane policy asks for a lane kind this build does not support.
    #[error("boundary lane kind `{kind}` needs cargo feature `{feature}`")]
    BoundaryKindDisabled {
        /// The boundary lane kind.
        kind: LaneKind,
        /// The cargo feature that enables it.
        feature: &'static str,
    },

    /// The boundary lane capacity is not a power of two of at least 2.
    #[error("lane_graph.boundary.capacity is {capacity}; it must be a power of two of at least 2")]
    BoundaryCapacity {
        /// The declared capacity.
        capacity: u32,
    },

    /// The boundary lane capacity is above [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY).
    #[error("lane_graph.boundary.capacity is {capacity}; a lane holds at most {max} slots in v1")]
    BoundaryCapacityTooLarge {
        /// The declared capacity.
        capacity: u32,
        /// [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY).
        max: u32,
    },

    /// The boundary lane policy is `sequenced_slots` without a capacity (or with zero).
    #[error(
        "lane_graph.boundary: lane kind `sequenced_slots` needs an explicit capacity above zero"
    )]
    BoundarySequencedSlotsCapacity,

    /// A boundary no connection names.
    #[error("{role} `{name}` is not used by any connection")]
    UnconnectedBoundary {
        /// `Ingress` or `Egress`.
        role: DeclRole,
        /// The boundary.
        name: String,
    },

    /// A connection source names neither an ingress nor a stage.
    #[error("connection `{from} -> {to}`: no ingress or stage named `{from}`{}", did_you_mean(.suggestion))]
    UnknownSource {
        /// Connection source.
        from: String,
        /// Connection destination.
        to: String,
        /// The closest ingress or stage name, when one is close.
        suggestion: Option<String>,
    },

    /// A connection destination names neither a stage nor an egress.
    #[error("connection `{from} -> {to}`: no stage or egress named `{to}`{}", did_you_mean(.suggestion))]
    UnknownDestination {
        /// Connection source.
        from: String,
        /// Connection destination.
        to: String,
        /// The closest stage or egress name, when one is close.
        suggestion: Option<String>,
    },

    /// A connection starts at an egress.
    #[error("connection `{from} -> {to}` starts at egress `{from}`; an egress can only be a destination")]
    ConnectionFromEgress {
        /// Connection source (an egress).
        from: String,
        /// Connection destination.
        to: String,
    },

    /// A connection ends at an ingress.
    #[error("connection `{from} -> {to}` ends at ingress `{to}`; an ingress can only be a source")]
    ConnectionToIngress {
        /// Connection source.
        from: String,
        /// Connection destination (an ingress).
        to: String,
    },

    /// A connection joins an ingress straight to an egress.
    #[error("connection `{from} -> {to}` joins two boundaries; connect them through a stage")]
    BoundaryToBoundary {
        /// Connection source (an ingress).
        from: String,
        /// Connection destination (an egress).
        to: String,
    },

    /// The same connection is declared twice.
    #[error("connection `{from} -> {to}` is declared more than once")]
    DuplicateConnection {
        /// Connection source.
        from: String,
        /// Connection destination.
        to: String,
    },

    /// A connection asks for a lane kind this build does not support.
    #[error("lane kind `{kind}` on connection `{from} -> {to}` needs cargo feature `{feature}`")]
    LaneKindDisabled {
        /// Connection source.
        from: String,
        /// Connection destination.
        to: String,
        /// The lane kind.
        kind: LaneKind,
        /// The cargo feature that enables it.
        feature: &'static str,
    },

    /// A `sequenced_slots` lane without a capacity, or with capacity 0.
    #[error("connection `{from} -> {to}`: lane kind `sequenced_slots` needs an explicit capacity > 0, found {}", capacity_or_none(.capacity))]
    SequencedSlotsCapacity {
        /// Connection source.
        from: String,
        /// Connection destination.
        to: String,
        /// The declared capacity.
        capacity: Option<u32>,
    },

    /// A `sequenced_slots` lane with a gating other than the v1 gating.
    #[error("connection `{from} -> {to}`: lane kind `sequenced_slots` needs gating `{expected}`, found {}", quoted_or_none(.found))]
    SequencedSlotsGating {
        /// Connection source.
        from: String,
        /// Connection destination.
        to: String,
        /// [`SEQUENCED_SLOTS_V1_GATING`](crate::SEQUENCED_SLOTS_V1_GATING).
        expected: &'static str,
        /// The declared gating.
        found: Option<String>,
    },

    /// A lane other than `sequenced_slots` carries a gating.
    #[error("connection `{from} -> {to}`: `gating = \"{gating}\"` applies only to `sequenced_slots` lanes, not to `{kind}`")]
    UnexpectedGating {
        /// Connection source.
        from: String,
        /// Connection destination.
        to: String,
        /// The lane kind.
        kind: LaneKind,
        /// The declared gating.
        gating: String,
    },

    /// A lane capacity that is not a power of two of at least 2.
    #[error("connection `{from} -> {to}`: lane capacity {capacity} must be a power of two of at least 2")]
    LaneCapacity {
        /// Connection source.
        from: String,
        /// Connection destination.
        to: String,
        /// The declared capacity.
        capacity: u32,
    },

    /// A lane capacity above [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY).
    #[error("connection `{from} -> {to}`: lane capacity {capacity} is more than the {max} slots a lane holds in v1")]
    LaneCapacityTooLarge {
        /// Connection source.
        from: String,
        /// Connection destination.
        to: String,
        /// The declared capacity.
        capacity: u32,
        /// [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY).
        max: u32,
    },

    /// A broadcast lane with more consumers than supported.
    #[error("broadcast lane from `{from}` has {} consumers ({}); at most {max} are supported in v1", .consumers.len(), names(.consumers))]
    TooManyBroadcastConsumers {
        /// The source (the lane's writer).
        from: String,
        /// The consumers, in connection order.
        consumers: Vec<String>,
        /// [`FANOUT_V1_MAX_CONSUMERS`](crate::FANOUT_V1_MAX_CONSUMERS).
        max: usize,
    },

    /// Broadcast connections from one source ask for different capacities of their shared lane.
    #[error("broadcast connections from `{from}` share one lane but ask for different capacities ({})", capacities_list(.capacities))]
    BroadcastCapacityMismatch {
        /// The source.
        from: String,
        /// Each connection's destination and effective capacity, in connection order.
        capacities: Vec<(String, u32)>,
    },

    /// Broadcast connections from one source ask for different `on_full` of their shared lane.
    #[error("broadcast connections from `{from}` share one lane but ask for different `on_full` ({})", on_full_list(.on_full))]
    BroadcastOnFullMismatch {
        /// The source.
        from: String,
        /// Each connection's destination and effective `on_full` (its own, else the graph's),
        /// in connection order.
        on_full: Vec<(String, Option<OnFull>)>,
    },

    /// A stage no ingress reaches.
    #[error("stage `{stage}` is not reachable from any ingress")]
    UnreachableStage {
        /// The stage.
        stage: String,
    },

    /// A stage from which no egress is reached.
    #[error("stage `{stage}` does not lead to any egress")]
    StageWithoutEgress {
        /// The stage.
        stage: String,
    },

    /// A cycle among stages: connections of a LaneGraph, or `after` lists of a SingleRing
    /// (`a -> b` when `b` runs after `a`). `path` starts and ends with the same stage.
    #[error("cycle: {}", cycle_text(.path, .omitted))]
    Cycle {
        /// The stages on the cycle from the one listed first in the catalog, that stage
        /// repeated at the end (`a -> b -> a`). A cycle of more than 32 stages is listed by its
        /// first 16 and last 16 stages: the `omitted` ones come between `path[15]` and
        /// `path[16]`.
        path: Vec<String>,
        /// Stages of the cycle left out of `path` (0 for a cycle of at most 32 stages).
        omitted: usize,
    },

    /// Cycles found beyond the ones listed: only the first few are listed, each as a
    /// [`Cycle`](Self::Cycle).
    #[error("… and {count} more cycles; only the first {listed} are listed")]
    MoreCycles {
        /// Cycles found but not listed.
        count: usize,
        /// How many were listed.
        listed: usize,
    },

    /// The plan needs more threads than a pipeline may start: lowering gives each stage a
    /// role and inserts a role for each bridge, router and merge; each role is a thread.
    #[error("the lane graph lowers to {} roles ({stages} stages and {inserted} inserted bridges, routers and merges), each a thread; a pipeline runs at most {max} threads in v1", .stages + .inserted)]
    TooManyRoles {
        /// Stages declared.
        stages: usize,
        /// Bridges, routers and merges lowering inserts.
        inserted: usize,
        /// [`PIPELINE_V1_MAX_THREADS`](crate::PIPELINE_V1_MAX_THREADS).
        max: usize,
    },
}

fn boundary_dependency(role: &DeclRole) -> &'static str {
    match role {
        DeclRole::Egress => "an egress, not a stage: nothing runs after an egress",
        _ => "an ingress, not a stage: a stage without `after` already reads from the ingress",
    }
}

/// The powers of two around a capacity that is not one: `the nearest are 512 and 1024`.
fn nearest_powers(capacity: u32) -> String {
    let above = u64::from(capacity.max(2)).next_power_of_two();
    if above / 2 >= 2 {
        format!("the nearest are {} and {above}", above / 2)
    } else {
        format!("the smallest is {above}")
    }
}

fn names(list: &[String]) -> String {
    let quoted: Vec<String> = list.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}

fn count_and_names(list: &[String]) -> String {
    if list.is_empty() {
        "none".to_owned()
    } else {
        format!("{}: {}", list.len(), names(list))
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

fn capacity_or_none(capacity: &Option<u32>) -> String {
    match capacity {
        Some(c) => c.to_string(),
        None => "none".to_owned(),
    }
}

fn quoted_or_none(value: &Option<String>) -> String {
    match value {
        Some(v) => format!("`{v}`"),
        None => "none".to_owned(),
    }
}

fn char_shown(character: &char) -> String {
    describe_char(*character)
}

fn on_full_list(on_full: &[(String, Option<OnFull>)]) -> String {
    let parts: Vec<String> = on_full
        .iter()
        .map(|(to, o)| format!("`{to}`: {}", o.map_or("unset", OnFull::as_str)))
        .collect();
    parts.join(", ")
}

fn capacities_list(capacities: &[(String, u32)]) -> String {
    let parts: Vec<String> = capacities
        .iter()
        .map(|(to, c)| format!("`{to}`: {c}"))
        .collect();
    parts.join(", ")
}
