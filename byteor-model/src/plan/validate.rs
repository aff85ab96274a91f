//! `validate_plan_v2`: every rule a [`PipelinePlanV2`] must satisfy before it is lowered.
//!
//! Validation never stops at the first problem. It walks the plan in a fixed order and records
//! every [`PlanViolation`] it meets, so one run shows an author everything to fix:
//!
//! 1. the pipeline name;
//! 2. target and payload agreement (`[single_ring]` / `[lane_graph]` tables);
//! 3. names: empty names and stage kinds, the name rule (characters and length), duplicates,
//!    and names shared between stages and boundaries; then stage parameters (name length and
//!    nesting depth);
//! 4. the rules of the declared target, in document order (boundaries, stages, constraints or
//!    connections, then whole-graph properties such as reachability, cycles and the number of
//!    threads the plan needs).
//!
//! # Cost
//!
//! Validation takes time linear (up to a logarithmic factor) in the size of the plan, and its
//! output is linear too, whatever the plan holds:
//! - every name a violation carries is stored as a label of bounded length, with characters
//!   that would not print as themselves escaped (`{:?}`-style), so a control character in a
//!   name never reaches a terminal raw and a megabyte-long name is stored once at most;
//! - "did you mean" suggestions come from a bounded search: the first 16 unknown names get
//!   one, within a fixed amount of work, and only names of at most
//!   [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES) bytes are compared;
//! - the first 16 cycles are listed (a long cycle by its first and last 16 stages), the
//!   others counted in one [`PlanViolation::MoreCycles`];
//! - a dependency listed many times is reported once per stage.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::{
    Connection, ExecutionTargetV1, LaneKind, OrderingMode, PipelinePlanV2, ProducerMode,
    SchedulingMode, SingleRingConstraints, DEFAULT_LANE_CAPACITY,
};
use crate::diagnostics::cycles::{cycle_text, find_cycles, MAX_LISTED_CYCLES};
use crate::diagnostics::names::{
    describe_char, first_bad_char, plan_label, Suggester, PLAN_NAME_CHARS,
};
use crate::diagnostics::Violations;
use crate::{
    FANOUT_V1_MAX_CONSUMERS, NAME_V1_MAX_BYTES, PARAM_V1_MAX_DEPTH, PIPELINE_V1_MAX_THREADS,
    RING_V1_MAX_CAPACITY, SEQUENCED_SLOTS_V1_GATING, SINGLE_RING_V1_MAX_SHARDS,
    SINGLE_RING_V1_MAX_STAGES,
};

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
        /// What the name names: `pipeline name`, ``stage #2 name``, ``stage `parse` kind``,
        /// `single_ring.shard_key`, ...
        item: String,
        /// The name (as a label, see the type docs).
        name: String,
        /// The first character that is not allowed.
        character: char,
        /// Its byte offset in the name.
        at: usize,
    },

    /// A name longer than [`NAME_V1_MAX_BYTES`].
    #[error("{item} `{name}` is {len} bytes long; names are at most {max} bytes")]
    NameTooLong {
        /// What the name names, as for [`InvalidName`](Self::InvalidName).
        item: String,
        /// The name, cut to its first bytes.
        name: String,
        /// Its length in bytes.
        len: usize,
        /// [`NAME_V1_MAX_BYTES`].
        max: usize,
    },

    /// A stage parameter name longer than [`NAME_V1_MAX_BYTES`].
    #[error("stage `{stage}` param `{param}`: the parameter name is {len} bytes long; parameter names are at most {max} bytes")]
    ParamNameTooLong {
        /// The stage.
        stage: String,
        /// The parameter name, cut to its first bytes.
        param: String,
        /// Its length in bytes.
        len: usize,
        /// [`NAME_V1_MAX_BYTES`].
        max: usize,
    },

    /// A stage parameter value nested deeper than [`PARAM_V1_MAX_DEPTH`] (see
    /// [`ParamValue::depth`](super::ParamValue::depth)).
    #[error("stage `{stage}` param `{param}` nests {depth} levels deep; parameter values nest at most {max} levels (a scalar is 1 level, `[1]` is 2)")]
    ParamTooDeep {
        /// The stage.
        stage: String,
        /// The parameter.
        param: String,
        /// How deep its value nests.
        depth: usize,
        /// [`PARAM_V1_MAX_DEPTH`].
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
        /// [`SINGLE_RING_V1_MAX_STAGES`].
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

    /// An `after` entry names a stage declared later in the catalog.
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
    #[error("single_ring.capacity is {capacity}; it must be a power of two of at least 2")]
    RingCapacity {
        /// The declared capacity.
        capacity: u32,
    },

    /// The ring capacity is above [`RING_V1_MAX_CAPACITY`].
    #[error("single_ring.capacity is {capacity}; a ring holds at most {max} slots in v1")]
    RingCapacityTooLarge {
        /// The declared capacity.
        capacity: u32,
        /// [`RING_V1_MAX_CAPACITY`].
        max: u32,
    },

    /// `shards = 0`.
    #[error("single_ring.shards is 0; it must be at least 1")]
    ZeroShards,

    /// More shards than [`SINGLE_RING_V1_MAX_SHARDS`].
    #[error("single_ring.shards is {shards}; at most {max} shards are supported in v1")]
    TooManyShards {
        /// The declared shard count.
        shards: u32,
        /// [`SINGLE_RING_V1_MAX_SHARDS`].
        max: u32,
    },

    /// Stages × shards above [`PIPELINE_V1_MAX_THREADS`]: each stage of each shard is a thread.
    #[error("single_ring.shards = {shards} with {stages} stages runs {threads} stage threads (one per stage and shard); a pipeline runs at most {max} threads in v1")]
    TooManyRingThreads {
        /// Stages declared.
        stages: usize,
        /// The declared shard count.
        shards: u32,
        /// Stages × shards.
        threads: u64,
        /// [`PIPELINE_V1_MAX_THREADS`].
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

    /// The boundary lane capacity is above [`RING_V1_MAX_CAPACITY`].
    #[error("lane_graph.boundary.capacity is {capacity}; a lane holds at most {max} slots in v1")]
    BoundaryCapacityTooLarge {
        /// The declared capacity.
        capacity: u32,
        /// [`RING_V1_MAX_CAPACITY`].
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
        /// [`SEQUENCED_SLOTS_V1_GATING`].
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

    /// A lane capacity above [`RING_V1_MAX_CAPACITY`].
    #[error("connection `{from} -> {to}`: lane capacity {capacity} is more than the {max} slots a lane holds in v1")]
    LaneCapacityTooLarge {
        /// Connection source.
        from: String,
        /// Connection destination.
        to: String,
        /// The declared capacity.
        capacity: u32,
        /// [`RING_V1_MAX_CAPACITY`].
        max: u32,
    },

    /// A broadcast lane with more consumers than supported.
    #[error("broadcast lane from `{from}` has {} consumers ({}); at most {max} are supported in v1", .consumers.len(), names(.consumers))]
    TooManyBroadcastConsumers {
        /// The source (the lane's writer).
        from: String,
        /// The consumers, in connection order.
        consumers: Vec<String>,
        /// [`FANOUT_V1_MAX_CONSUMERS`].
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

    /// A cycle among stages. `path` starts and ends with the same stage.
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
        /// [`PIPELINE_V1_MAX_THREADS`].
        max: usize,
    },
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

fn capacities_list(capacities: &[(String, u32)]) -> String {
    let parts: Vec<String> = capacities
        .iter()
        .map(|(to, c)| format!("`{to}`: {c}"))
        .collect();
    parts.join(", ")
}

/// Every violation found in a plan, in order of discovery. Never empty.
///
/// `Display` prints one violation per line.
pub type ValidationErrors = Violations<PlanViolation>;

/// Validates a plan against every rule of its target and reports all violations.
///
/// The order of the violations is deterministic: the plan is walked in a fixed order (name,
/// target payload, names, then the target's rules in catalog and connection order).
///
/// # Examples
///
/// ```
/// use byteor_model::plan::{validate_plan_v2, PipelinePlanV2, PlanViolation, StageDecl};
///
/// let plan = PipelinePlanV2::single_ring("orders")
///     .with_ingress("orders_in")
///     .with_egress("fills_out")
///     .with_stage(StageDecl::new("parse"))
///     .with_stage(StageDecl::new("risk").after("prase"));
///
/// let errors = validate_plan_v2(&plan).unwrap_err();
/// assert_eq!(errors.len(), 1);
/// assert!(matches!(errors.violations()[0], PlanViolation::UnknownDependency { .. }));
/// assert_eq!(
///     errors.to_string(),
///     "stage `risk` runs after `prase`: no such stage (did you mean `parse`?)"
/// );
/// ```
pub fn validate_plan_v2(plan: &PipelinePlanV2) -> Result<(), ValidationErrors> {
    let mut v = Validator {
        plan,
        out: Vec::new(),
        suggester: Suggester::new(),
    };
    v.run();
    Violations::check(v.out)
}

/// A resolved name: which catalog it belongs to and its index there (first declaration wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Ingress(usize),
    Egress(usize),
    Stage(usize),
}

/// A well-formed connection (ingress → stage, stage → stage or stage → egress), first
/// declaration of its pair.
#[derive(Debug, Clone, Copy)]
struct Edge {
    from: Node,
    to: Node,
    kind: LaneKind,
}

struct Validator<'a> {
    plan: &'a PipelinePlanV2,
    out: Vec<PlanViolation>,
    suggester: Suggester,
}

impl<'a> Validator<'a> {
    fn push(&mut self, violation: PlanViolation) {
        self.out.push(violation);
    }

    fn run(&mut self) {
        let plan = self.plan;
        if plan.name.is_empty() {
            self.push(PlanViolation::EmptyPipelineName);
        } else {
            self.check_name_rule("pipeline name".to_owned(), &plan.name);
        }
        self.check_payload();
        let index = self.check_names();
        self.check_params();
        match plan.target {
            ExecutionTargetV1::SingleRing => self.check_single_ring(),
            ExecutionTargetV1::LaneGraph => self.check_lane_graph(&index),
        }
    }

    /// The name rule for a non-empty name: allowed characters, then length. `item` is built
    /// only when there is something to report.
    fn check_name_rule(&mut self, item: String, name: &str) {
        if let Some((at, character)) = first_bad_char(name, &[]) {
            self.push(PlanViolation::InvalidName {
                item: item.clone(),
                name: plan_label(name),
                character,
                at,
            });
        }
        if name.len() > NAME_V1_MAX_BYTES {
            self.push(PlanViolation::NameTooLong {
                item,
                name: plan_label(name),
                len: name.len(),
                max: NAME_V1_MAX_BYTES,
            });
        }
    }

    /// Whether `name` breaks the name rule (so [`check_name_rule`](Self::check_name_rule)
    /// has something to say).
    fn breaks_name_rule(name: &str) -> bool {
        name.len() > NAME_V1_MAX_BYTES || first_bad_char(name, &[]).is_some()
    }

    fn check_payload(&mut self) {
        let plan = self.plan;
        let (needed, extra, has_needed, has_extra) = match plan.target {
            ExecutionTargetV1::SingleRing => (
                "single_ring",
                "lane_graph",
                plan.single_ring.is_some(),
                plan.lane_graph.is_some(),
            ),
            ExecutionTargetV1::LaneGraph => (
                "lane_graph",
                "single_ring",
                plan.lane_graph.is_some(),
                plan.single_ring.is_some(),
            ),
        };
        if !has_needed {
            self.push(PlanViolation::MissingPayload {
                target: plan.target,
                table: needed,
            });
        }
        if has_extra {
            self.push(PlanViolation::UnexpectedPayload {
                target: plan.target,
                table: extra,
            });
        }
    }

    /// Checks names and returns the name index (first declaration of each name wins).
    fn check_names(&mut self) -> HashMap<&'a str, Node> {
        let plan = self.plan;
        let mut index: HashMap<&'a str, Node> = HashMap::new();
        let declared = plan
            .ingress
            .iter()
            .enumerate()
            .map(|(i, b)| (b.name.as_str(), Node::Ingress(i)))
            .chain(
                plan.egress
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (b.name.as_str(), Node::Egress(i))),
            )
            .chain(
                plan.stages
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.name.as_str(), Node::Stage(i))),
            );
        for (name, node) in declared {
            let role = role_of(node);
            let position = match node {
                Node::Ingress(i) | Node::Egress(i) | Node::Stage(i) => i + 1,
            };
            if name.is_empty() {
                self.push(PlanViolation::EmptyName { role, position });
                continue;
            }
            if Self::breaks_name_rule(name) {
                self.check_name_rule(format!("{role} #{position} name"), name);
            }
            match index.get(name) {
                None => {
                    index.insert(name, node);
                }
                Some(&first) => {
                    let first_role = role_of(first);
                    let violation = if first_role != role {
                        PlanViolation::NameClash {
                            name: plan_label(name),
                            first: first_role,
                            second: role,
                        }
                    } else if role == DeclRole::Stage {
                        PlanViolation::DuplicateStage {
                            name: plan_label(name),
                        }
                    } else {
                        PlanViolation::DuplicateBoundary {
                            role,
                            name: plan_label(name),
                        }
                    };
                    self.push(violation);
                }
            }
        }
        for stage in &plan.stages {
            match stage.kind.as_deref() {
                Some("") => self.push(PlanViolation::EmptyStageKind {
                    stage: plan_label(&stage.name),
                }),
                Some(kind) if Self::breaks_name_rule(kind) => {
                    let item = format!("stage `{}` kind", plan_label(&stage.name));
                    self.check_name_rule(item, kind);
                }
                _ => {}
            }
        }
        index
    }

    /// Parameter names are at most [`NAME_V1_MAX_BYTES`] long; values nest at most
    /// [`PARAM_V1_MAX_DEPTH`] levels.
    fn check_params(&mut self) {
        for stage in &self.plan.stages {
            for (param, value) in &stage.params {
                if param.len() > NAME_V1_MAX_BYTES {
                    self.push(PlanViolation::ParamNameTooLong {
                        stage: plan_label(&stage.name),
                        param: plan_label(param),
                        len: param.len(),
                        max: NAME_V1_MAX_BYTES,
                    });
                }
                let depth = value.depth();
                if depth > PARAM_V1_MAX_DEPTH {
                    self.push(PlanViolation::ParamTooDeep {
                        stage: plan_label(&stage.name),
                        param: plan_label(param),
                        depth,
                        max: PARAM_V1_MAX_DEPTH,
                    });
                }
            }
        }
    }

    fn check_boundary_count(&mut self, role: DeclRole, exactly_one: bool) {
        let plan = self.plan;
        let list = match role {
            DeclRole::Ingress => &plan.ingress,
            _ => &plan.egress,
        };
        let bad = if exactly_one {
            list.len() != 1
        } else {
            list.is_empty()
        };
        if bad {
            self.push(PlanViolation::BoundaryCount {
                target: plan.target,
                role,
                expected: if exactly_one {
                    "exactly one"
                } else {
                    "at least one"
                },
                found: list.iter().map(|b| plan_label(&b.name)).collect(),
            });
        }
    }

    // ---- SingleRing -----------------------------------------------------------------------

    fn check_single_ring(&mut self) {
        let plan = self.plan;
        self.check_boundary_count(DeclRole::Ingress, true);
        self.check_boundary_count(DeclRole::Egress, true);
        if plan.stages.is_empty() {
            self.push(PlanViolation::NoStages {
                target: plan.target,
            });
        } else if plan.stages.len() > SINGLE_RING_V1_MAX_STAGES {
            self.push(PlanViolation::TooManyStages {
                max: SINGLE_RING_V1_MAX_STAGES,
                found: plan.stages.len(),
                extra: plan.stages[SINGLE_RING_V1_MAX_STAGES..]
                    .iter()
                    .map(|s| plan_label(&s.name))
                    .collect(),
            });
        }
        self.check_dependencies();
        if let Some(constraints) = &plan.single_ring {
            self.check_constraints(constraints);
        }
        if let Some(lane_graph) = &plan.lane_graph {
            for c in &lane_graph.connections {
                self.push(PlanViolation::LaneIntentOnSingleRing {
                    from: plan_label(&c.from),
                    to: plan_label(&c.to),
                });
            }
        }
    }

    fn check_dependencies(&mut self) {
        let stages = &self.plan.stages;
        // First position of each stage name: a dependency is earlier exactly when its first
        // declaration is (a duplicate name is reported on its own).
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, s) in stages.iter().enumerate() {
            first.entry(s.name.as_str()).or_insert(i);
        }
        for (i, stage) in stages.iter().enumerate() {
            // Each entry is judged once: a repeat is reported the first time it repeats.
            let mut seen: HashSet<&str> = HashSet::new();
            let mut repeated: HashSet<&str> = HashSet::new();
            for dep in &stage.after {
                if !seen.insert(dep.as_str()) {
                    if repeated.insert(dep.as_str()) {
                        self.push(PlanViolation::DuplicateDependency {
                            stage: plan_label(&stage.name),
                            dependency: plan_label(dep),
                        });
                    }
                    continue;
                }
                if *dep == stage.name {
                    self.push(PlanViolation::SelfDependency {
                        stage: plan_label(&stage.name),
                    });
                    continue;
                }
                match first.get(dep.as_str()) {
                    // A dependency on an earlier stage: what the rule asks for.
                    Some(&j) if j < i => {}
                    Some(_) => self.push(PlanViolation::DependencyNotEarlier {
                        stage: plan_label(&stage.name),
                        dependency: plan_label(dep),
                    }),
                    None => {
                        let suggestion = self
                            .suggester
                            .closest(dep, stages.iter().map(|s| s.name.as_str()));
                        self.push(PlanViolation::UnknownDependency {
                            stage: plan_label(&stage.name),
                            dependency: plan_label(dep),
                            suggestion,
                        });
                    }
                }
            }
        }
    }

    fn check_constraints(&mut self, c: &SingleRingConstraints) {
        if !is_ring_capacity(c.capacity) {
            self.push(PlanViolation::RingCapacity {
                capacity: c.capacity,
            });
        }
        if c.capacity > RING_V1_MAX_CAPACITY {
            self.push(PlanViolation::RingCapacityTooLarge {
                capacity: c.capacity,
                max: RING_V1_MAX_CAPACITY,
            });
        }
        if c.shards == 0 {
            self.push(PlanViolation::ZeroShards);
        }
        if c.shards > SINGLE_RING_V1_MAX_SHARDS {
            self.push(PlanViolation::TooManyShards {
                shards: c.shards,
                max: SINGLE_RING_V1_MAX_SHARDS,
            });
        }
        let stages = self.plan.stages.len();
        let threads = stages as u64 * u64::from(c.shards);
        if threads > PIPELINE_V1_MAX_THREADS as u64 {
            self.push(PlanViolation::TooManyRingThreads {
                stages,
                shards: c.shards,
                threads,
                max: PIPELINE_V1_MAX_THREADS,
            });
        }
        if c.ordering == OrderingMode::Strict && c.shards > 1 {
            self.push(PlanViolation::StrictOrderingWithShards { shards: c.shards });
        }
        if c.shards > 1 && c.shard_key.as_deref().is_none_or(str::is_empty) {
            self.push(PlanViolation::MissingShardKey { shards: c.shards });
        }
        if let Some(key) = c.shard_key.as_deref().filter(|k| !k.is_empty()) {
            if Self::breaks_name_rule(key) {
                self.check_name_rule("single_ring.shard_key".to_owned(), key);
            }
        }
        if c.producer == ProducerMode::Multi {
            self.push(PlanViolation::MultiProducerNotSupported);
        }
        if c.scheduling == SchedulingMode::WorkQueue {
            self.push(PlanViolation::WorkQueueNotSupported);
        }
    }

    // ---- LaneGraph ------------------------------------------------------------------------

    fn check_lane_graph(&mut self, index: &HashMap<&'a str, Node>) {
        let plan = self.plan;
        self.check_boundary_count(DeclRole::Ingress, false);
        self.check_boundary_count(DeclRole::Egress, false);
        if plan.stages.is_empty() {
            self.push(PlanViolation::NoStages {
                target: plan.target,
            });
        }
        for stage in &plan.stages {
            if !stage.after.is_empty() {
                self.push(PlanViolation::AfterOnLaneGraph {
                    stage: plan_label(&stage.name),
                    after: stage.after.iter().map(|a| plan_label(a)).collect(),
                });
            }
        }

        let Some(lane_graph) = &plan.lane_graph else {
            self.check_roles(&[], LaneKind::Events);
            return;
        };
        if lane_graph.on_full.is_none() {
            self.push(PlanViolation::MissingOnFull);
        }
        let boundary = &lane_graph.boundary;
        if let Some(feature) = disabled_feature(boundary.kind) {
            self.push(PlanViolation::BoundaryKindDisabled {
                kind: boundary.kind,
                feature,
            });
        }
        // Sequenced slots are not a masked ring: any capacity above zero works for them.
        match (boundary.kind, boundary.capacity) {
            (LaneKind::SequencedSlots, None | Some(0)) => {
                self.push(PlanViolation::BoundarySequencedSlotsCapacity);
            }
            (LaneKind::SequencedSlots, Some(_)) => {}
            (_, Some(capacity)) if !is_ring_capacity(capacity) => {
                self.push(PlanViolation::BoundaryCapacity { capacity });
            }
            _ => {}
        }
        if let Some(capacity) = boundary.capacity.filter(|&c| c > RING_V1_MAX_CAPACITY) {
            self.push(PlanViolation::BoundaryCapacityTooLarge {
                capacity,
                max: RING_V1_MAX_CAPACITY,
            });
        }
        let sources: HashSet<&str> = lane_graph
            .connections
            .iter()
            .map(|c| c.from.as_str())
            .collect();
        let destinations: HashSet<&str> = lane_graph
            .connections
            .iter()
            .map(|c| c.to.as_str())
            .collect();
        for (role, list, used) in [
            (DeclRole::Ingress, &plan.ingress, &sources),
            (DeclRole::Egress, &plan.egress, &destinations),
        ] {
            for b in list {
                if !b.name.is_empty() && !used.contains(b.name.as_str()) {
                    self.push(PlanViolation::UnconnectedBoundary {
                        role,
                        name: plan_label(&b.name),
                    });
                }
            }
        }

        let edges = self.check_connections(&lane_graph.connections, index);
        self.check_sources(&lane_graph.connections, index);
        self.check_reachability(&edges, index);
        self.check_cycles(&edges);
        self.check_roles(&edges, boundary.kind);
    }

    /// Checks each connection; returns the well-formed edges (deduplicated), in order.
    fn check_connections(
        &mut self,
        connections: &[Connection],
        index: &HashMap<&'a str, Node>,
    ) -> Vec<Edge> {
        let plan = self.plan;
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        let mut edges = Vec::new();
        for c in connections {
            let from = || plan_label(&c.from);
            let to = || plan_label(&c.to);
            let src = index.get(c.from.as_str()).copied();
            let dst = index.get(c.to.as_str()).copied();
            match src {
                None => {
                    let candidates = plan
                        .ingress
                        .iter()
                        .map(|b| b.name.as_str())
                        .chain(plan.stages.iter().map(|s| s.name.as_str()));
                    let suggestion = self.suggester.closest(&c.from, candidates);
                    self.push(PlanViolation::UnknownSource {
                        from: from(),
                        to: to(),
                        suggestion,
                    });
                }
                Some(Node::Egress(_)) => self.push(PlanViolation::ConnectionFromEgress {
                    from: from(),
                    to: to(),
                }),
                Some(_) => {}
            }
            match dst {
                None => {
                    let candidates = plan
                        .stages
                        .iter()
                        .map(|s| s.name.as_str())
                        .chain(plan.egress.iter().map(|b| b.name.as_str()));
                    let suggestion = self.suggester.closest(&c.to, candidates);
                    self.push(PlanViolation::UnknownDestination {
                        from: from(),
                        to: to(),
                        suggestion,
                    });
                }
                Some(Node::Ingress(_)) => self.push(PlanViolation::ConnectionToIngress {
                    from: from(),
                    to: to(),
                }),
                Some(_) => {}
            }
            if let (Some(Node::Ingress(_)), Some(Node::Egress(_))) = (src, dst) {
                self.push(PlanViolation::BoundaryToBoundary {
                    from: from(),
                    to: to(),
                });
            }
            let first_time = seen.insert((c.from.as_str(), c.to.as_str()));
            if !first_time {
                self.push(PlanViolation::DuplicateConnection {
                    from: from(),
                    to: to(),
                });
            }
            self.check_lane(c);

            if let (Some(s), Some(d)) = (src, dst) {
                let well_formed = matches!(
                    (s, d),
                    (Node::Ingress(_), Node::Stage(_))
                        | (Node::Stage(_), Node::Stage(_))
                        | (Node::Stage(_), Node::Egress(_))
                );
                if well_formed && first_time {
                    edges.push(Edge {
                        from: s,
                        to: d,
                        kind: c.lane.kind,
                    });
                }
            }
        }
        edges
    }

    fn check_lane(&mut self, c: &Connection) {
        let lane = &c.lane;
        let from = || plan_label(&c.from);
        let to = || plan_label(&c.to);
        if let Some(feature) = disabled_feature(lane.kind) {
            self.push(PlanViolation::LaneKindDisabled {
                from: from(),
                to: to(),
                kind: lane.kind,
                feature,
            });
        }
        if lane.kind == LaneKind::SequencedSlots {
            if lane.capacity.is_none_or(|cap| cap == 0) {
                self.push(PlanViolation::SequencedSlotsCapacity {
                    from: from(),
                    to: to(),
                    capacity: lane.capacity,
                });
            }
            if lane.gating.as_deref() != Some(SEQUENCED_SLOTS_V1_GATING) {
                self.push(PlanViolation::SequencedSlotsGating {
                    from: from(),
                    to: to(),
                    expected: SEQUENCED_SLOTS_V1_GATING,
                    found: lane.gating.as_deref().map(plan_label),
                });
            }
        } else {
            if let Some(gating) = &lane.gating {
                self.push(PlanViolation::UnexpectedGating {
                    from: from(),
                    to: to(),
                    kind: lane.kind,
                    gating: plan_label(gating),
                });
            }
            if let Some(capacity) = lane.capacity {
                if !is_ring_capacity(capacity) {
                    self.push(PlanViolation::LaneCapacity {
                        from: from(),
                        to: to(),
                        capacity,
                    });
                }
            }
        }
        if let Some(capacity) = lane.capacity.filter(|&c| c > RING_V1_MAX_CAPACITY) {
            self.push(PlanViolation::LaneCapacityTooLarge {
                from: from(),
                to: to(),
                capacity,
                max: RING_V1_MAX_CAPACITY,
            });
        }
    }

    /// Rules over all connections of one source: broadcast lanes are shared by the source's
    /// connections, so they must agree on the kind and capacity, and are bounded in consumers.
    fn check_sources(&mut self, connections: &[Connection], index: &HashMap<&'a str, Node>) {
        let mut order: Vec<&str> = Vec::new();
        let mut by_source: HashMap<&str, Vec<&Connection>> = HashMap::new();
        for c in connections {
            if !matches!(
                index.get(c.from.as_str()),
                Some(Node::Ingress(_) | Node::Stage(_))
            ) {
                continue;
            }
            by_source
                .entry(c.from.as_str())
                .or_insert_with(|| {
                    order.push(c.from.as_str());
                    Vec::new()
                })
                .push(c);
        }
        for from in order {
            let group = &by_source[from];
            let broadcast: Vec<&Connection> = group
                .iter()
                .copied()
                .filter(|c| c.lane.kind == LaneKind::FanoutBroadcast)
                .collect();
            if broadcast.is_empty() {
                continue;
            }
            let mut seen: HashSet<&str> = HashSet::new();
            let consumers: Vec<String> = broadcast
                .iter()
                .filter(|c| seen.insert(c.to.as_str()))
                .map(|c| plan_label(&c.to))
                .collect();
            if consumers.len() > FANOUT_V1_MAX_CONSUMERS {
                self.push(PlanViolation::TooManyBroadcastConsumers {
                    from: plan_label(from),
                    consumers,
                    max: FANOUT_V1_MAX_CONSUMERS,
                });
            }
            let capacity = |c: &Connection| c.lane.capacity.unwrap_or(DEFAULT_LANE_CAPACITY);
            let first = capacity(broadcast[0]);
            if broadcast.iter().any(|c| capacity(c) != first) {
                self.push(PlanViolation::BroadcastCapacityMismatch {
                    from: plan_label(from),
                    capacities: broadcast
                        .iter()
                        .map(|c| (plan_label(&c.to), capacity(c)))
                        .collect(),
                });
            }
        }
    }

    fn check_reachability(&mut self, edges: &[Edge], index: &HashMap<&'a str, Node>) {
        let plan = self.plan;
        let n = plan.stages.len();
        // Stages fed by an ingress seed the forward flood; stages feeding an egress seed the
        // backward one.
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut reached = vec![false; n];
        let mut reaches_egress = vec![false; n];
        let mut forward = Vec::new();
        let mut backward = Vec::new();
        for edge in edges {
            match (edge.from, edge.to) {
                (Node::Ingress(_), Node::Stage(j)) if !reached[j] => {
                    reached[j] = true;
                    forward.push(j);
                }
                (Node::Stage(i), Node::Egress(_)) if !reaches_egress[i] => {
                    reaches_egress[i] = true;
                    backward.push(i);
                }
                (Node::Stage(i), Node::Stage(j)) => {
                    succ[i].push(j);
                    pred[j].push(i);
                }
                _ => {}
            }
        }
        flood(&succ, &mut reached, forward);
        flood(&pred, &mut reaches_egress, backward);

        for (i, stage) in plan.stages.iter().enumerate() {
            // A name resolves to its first declaration. A stage whose name is empty, repeated
            // or taken by a boundary is already reported and has no edges of its own.
            if index.get(stage.name.as_str()) != Some(&Node::Stage(i)) {
                continue;
            }
            if !plan.ingress.is_empty() && !reached[i] {
                self.push(PlanViolation::UnreachableStage {
                    stage: plan_label(&stage.name),
                });
            }
            if !plan.egress.is_empty() && !reaches_egress[i] {
                self.push(PlanViolation::StageWithoutEgress {
                    stage: plan_label(&stage.name),
                });
            }
        }
    }

    /// Reports the cycles closed by back edges of a depth-first walk that starts at stages in
    /// catalog order and follows connections in declaration order. Every group of stages that
    /// forms a cycle is reported at least once, and no cycle twice; a cycle is printed from its
    /// stage that comes first in the catalog. The first [`MAX_LISTED_CYCLES`] cycles are
    /// listed, the rest counted.
    fn check_cycles(&mut self, edges: &[Edge]) {
        let plan = self.plan;
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); plan.stages.len()];
        for edge in edges {
            if let (Node::Stage(i), Node::Stage(j)) = (edge.from, edge.to) {
                succ[i].push(j);
            }
        }
        let found = find_cycles(&succ);
        for cycle in found.listed {
            let path = cycle
                .nodes
                .iter()
                .map(|&s| plan_label(&plan.stages[s].name))
                .collect();
            self.push(PlanViolation::Cycle {
                path,
                omitted: cycle.omitted,
            });
        }
        if found.more > 0 {
            self.push(PlanViolation::MoreCycles {
                count: found.more,
                listed: MAX_LISTED_CYCLES,
            });
        }
    }

    /// The thread limit: one role per stage, plus the bridges, routers and merges lowering
    /// inserts for the well-formed `edges` (exactly the ones `lower_v2` inserts for a plan
    /// that is otherwise valid; see [`crate::lower`] for the rules counted here).
    fn check_roles(&mut self, edges: &[Edge], boundary: LaneKind) {
        let plan = self.plan;
        let (ni, ns, ne) = (plan.ingress.len(), plan.stages.len(), plan.egress.len());
        // Outgoing tallies of ingresses then stages; incoming tallies of stages then egresses.
        let mut out = vec![Tally::default(); ni + ns];
        let mut inc = vec![Tally::default(); ns + ne];
        for edge in edges {
            let source = match edge.from {
                Node::Ingress(i) => i,
                Node::Stage(s) => ni + s,
                Node::Egress(_) => continue,
            };
            let dest = match edge.to {
                Node::Stage(s) => s,
                Node::Egress(e) => ns + e,
                Node::Ingress(_) => continue,
            };
            out[source].add(edge.kind);
            inc[dest].add(edge.kind);
        }
        let mut inserted = 0usize;
        for (at, tally) in out.iter().enumerate() {
            let broadcast = tally.of(LaneKind::FanoutBroadcast);
            let point = tally.count - broadcast;
            let groups = point + usize::from(broadcast > 0);
            let is_ingress = at < ni;
            // The kind of the lane the source writes.
            let source_kind = match (is_ingress, groups, tally.first_point, tally.first) {
                (true, ..) => boundary,
                (false, 1, _, Some(first)) => first,
                (false, _, Some(first_point), _) => first_point,
                _ => continue,
            };
            match groups {
                0 => {}
                // The group travels on the source's lane, through a bridge if kinds differ.
                1 => inserted += usize::from(tally.first != Some(source_kind)),
                // A router, and a bridge on each of its outputs of another kind.
                _ => {
                    let same_point = if source_kind == LaneKind::FanoutBroadcast {
                        0
                    } else {
                        tally.of(source_kind)
                    };
                    inserted += 1
                        + (point - same_point)
                        + usize::from(broadcast > 0 && source_kind != LaneKind::FanoutBroadcast);
                }
            }
        }
        for (at, tally) in inc.iter().enumerate() {
            let is_egress = at >= ns;
            match tally.count {
                0 => {}
                // An egress reads its lane through a bridge when the kind is not the boundary's.
                1 => inserted += usize::from(is_egress && tally.first != Some(boundary)),
                // A merge, and a bridge on each of its inputs of another kind.
                count => {
                    let merge_kind = if is_egress {
                        boundary
                    } else {
                        match tally.first_point.or(tally.first) {
                            Some(kind) => kind,
                            None => continue,
                        }
                    };
                    inserted += 1 + (count - tally.of(merge_kind));
                }
            }
        }
        if ns + inserted > PIPELINE_V1_MAX_THREADS {
            self.push(PlanViolation::TooManyRoles {
                stages: ns,
                inserted,
                max: PIPELINE_V1_MAX_THREADS,
            });
        }
    }
}

/// Connections of one node in one direction, by lane kind.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    count: usize,
    by_kind: [usize; 4],
    /// The kind of the first connection.
    first: Option<LaneKind>,
    /// The kind of the first connection that is not `fanout_broadcast`.
    first_point: Option<LaneKind>,
}

impl Tally {
    fn add(&mut self, kind: LaneKind) {
        self.count += 1;
        self.by_kind[kind_index(kind)] += 1;
        self.first.get_or_insert(kind);
        if kind != LaneKind::FanoutBroadcast {
            self.first_point.get_or_insert(kind);
        }
    }

    fn of(&self, kind: LaneKind) -> usize {
        self.by_kind[kind_index(kind)]
    }
}

fn kind_index(kind: LaneKind) -> usize {
    match kind {
        LaneKind::Events => 0,
        LaneKind::Journal => 1,
        LaneKind::SequencedSlots => 2,
        LaneKind::FanoutBroadcast => 3,
    }
}

fn role_of(node: Node) -> DeclRole {
    match node {
        Node::Ingress(_) => DeclRole::Ingress,
        Node::Egress(_) => DeclRole::Egress,
        Node::Stage(_) => DeclRole::Stage,
    }
}

fn flood(adjacency: &[Vec<usize>], marked: &mut [bool], mut work: Vec<usize>) {
    while let Some(i) = work.pop() {
        for &j in &adjacency[i] {
            if !marked[j] {
                marked[j] = true;
                work.push(j);
            }
        }
    }
}

fn is_ring_capacity(capacity: u32) -> bool {
    capacity >= 2 && capacity.is_power_of_two()
}

fn disabled_feature(kind: LaneKind) -> Option<&'static str> {
    if kind.is_enabled() {
        None
    } else {
        kind.required_feature()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{
        BoundaryLanePolicy, LaneGraphPlan, LaneIntent, OnFull, ParamValue, StageDecl,
    };

    /// A valid SingleRing plan: `in -> parse -> risk -> out`.
    fn ring() -> PipelinePlanV2 {
        PipelinePlanV2::single_ring("orders")
            .with_ingress("orders_in")
            .with_egress("fills_out")
            .with_stage(StageDecl::new("parse"))
            .with_stage(StageDecl::new("risk").after("parse"))
    }

    fn constraints(plan: &mut PipelinePlanV2) -> &mut SingleRingConstraints {
        plan.single_ring.as_mut().expect("ring() has constraints")
    }

    /// A valid LaneGraph plan: `in -> parse -> out`.
    fn graph() -> PipelinePlanV2 {
        PipelinePlanV2::lane_graph("plant")
            .with_ingress("in")
            .with_egress("out")
            .with_stage(StageDecl::new("parse"))
            .with_connection(Connection::new("in", "parse"))
            .with_connection(Connection::new("parse", "out"))
    }

    fn graph_mut(plan: &mut PipelinePlanV2) -> &mut LaneGraphPlan {
        plan.lane_graph.as_mut().expect("graph() has a lane graph")
    }

    fn errors(plan: &PipelinePlanV2) -> ValidationErrors {
        match validate_plan_v2(plan) {
            Ok(()) => panic!("plan should be invalid: {plan:#?}"),
            Err(e) => e,
        }
    }

    /// Asserts that the plan breaks exactly one rule, that it matches the pattern, and that
    /// the message names every needle.
    macro_rules! assert_only {
        ($plan:expr, $pat:pat, [$($needle:expr),* $(,)?]) => {{
            let errors = errors(&$plan);
            assert_eq!(errors.len(), 1, "expected one violation, got:\n{errors}");
            let v = &errors.violations()[0];
            assert!(matches!(v, $pat), "expected {}, got {v:?}", stringify!($pat));
            let text = v.to_string();
            $(assert!(text.contains($needle), "`{text}` does not mention {:?}", $needle);)*
            errors
        }};
    }

    /// Asserts that among the plan's violations one matches the pattern and names every needle.
    macro_rules! assert_has {
        ($plan:expr, $pat:pat, [$($needle:expr),* $(,)?]) => {{
            let errors = errors(&$plan);
            let v = errors
                .iter()
                .find(|v| matches!(v, $pat))
                .unwrap_or_else(|| panic!("no {} among:\n{errors}", stringify!($pat)));
            let text = v.to_string();
            $(assert!(text.contains($needle), "`{text}` does not mention {:?}", $needle);)*
            errors
        }};
    }

    // ---- good plans ---------------------------------------------------------------------

    #[test]
    fn linear_ring_is_valid() {
        assert_eq!(validate_plan_v2(&ring()), Ok(()));
    }

    #[test]
    fn diamond_ring_is_valid() {
        let plan = PipelinePlanV2::single_ring("diamond")
            .with_ingress("in")
            .with_egress("out")
            .with_stage(StageDecl::new("a"))
            .with_stage(StageDecl::new("b").after("a"))
            .with_stage(StageDecl::new("c").after("a"))
            .with_stage(StageDecl::new("d").after("b").after("c"));
        assert_eq!(validate_plan_v2(&plan), Ok(()));
    }

    #[test]
    fn sharded_per_key_ring_is_valid() {
        let plan = ring().with_single_ring(SingleRingConstraints {
            capacity: 4096,
            shards: 4,
            ordering: OrderingMode::PerKey,
            shard_key: Some("account".into()),
            ..SingleRingConstraints::default()
        });
        assert_eq!(validate_plan_v2(&plan), Ok(()));
    }

    #[test]
    fn lane_graph_with_fan_out_fan_in_and_kind_change_is_valid() {
        // in -> parse -> {risk, audit} -> route -> out; parse -> audit changes lane kind.
        let plan = PipelinePlanV2::lane_graph("plant")
            .with_ingress("in")
            .with_egress("out")
            .with_stage(StageDecl::new("parse"))
            .with_stage(StageDecl::new("risk"))
            .with_stage(StageDecl::new("audit"))
            .with_stage(StageDecl::new("route"))
            .with_connection(Connection::new("in", "parse"))
            .with_connection(
                Connection::new("parse", "risk").lane(LaneIntent::events().capacity(256)),
            )
            .with_connection(Connection::new("parse", "audit"))
            .with_connection(Connection::new("risk", "route"))
            .with_connection(
                Connection::new("audit", "route").lane(LaneIntent::sequenced_slots(100)),
            )
            .with_connection(Connection::new("route", "out"));
        assert_eq!(validate_plan_v2(&plan), Ok(()));
    }

    #[cfg(feature = "lane_graph_fanout")]
    #[test]
    fn lane_graph_with_broadcast_is_valid() {
        let broadcast = LaneIntent::of(LaneKind::FanoutBroadcast).capacity(512);
        let mut plan = PipelinePlanV2::lane_graph("bcast")
            .with_ingress("in")
            .with_egress("out")
            .with_stage(StageDecl::new("src"))
            .with_connection(Connection::new("in", "src"));
        for i in 0..FANOUT_V1_MAX_CONSUMERS {
            let name = format!("c{i}");
            plan = plan
                .with_stage(StageDecl::new(name.clone()))
                .with_connection(Connection::new("src", name.clone()).lane(broadcast.clone()))
                .with_connection(Connection::new(name, "out"));
        }
        assert_eq!(validate_plan_v2(&plan), Ok(()));
    }

    #[cfg(feature = "lane_graph_journal")]
    #[test]
    fn journal_lanes_are_valid_with_their_feature() {
        let mut plan = graph();
        graph_mut(&mut plan).connections[1].lane = LaneIntent::of(LaneKind::Journal);
        graph_mut(&mut plan).boundary.kind = LaneKind::Journal;
        assert_eq!(validate_plan_v2(&plan), Ok(()));
    }

    #[test]
    fn lane_graph_with_default_payload_is_valid() {
        assert_eq!(validate_plan_v2(&graph()), Ok(()));
    }

    // ---- every target -------------------------------------------------------------------

    #[test]
    fn empty_pipeline_name() {
        let mut plan = ring();
        plan.name.clear();
        assert_only!(plan, PlanViolation::EmptyPipelineName, ["pipeline name"]);
    }

    #[test]
    fn single_ring_without_its_table() {
        let mut plan = ring();
        plan.single_ring = None;
        assert_only!(
            plan,
            PlanViolation::MissingPayload {
                table: "single_ring",
                ..
            },
            ["[single_ring]", "target `single_ring`"]
        );
    }

    #[test]
    fn single_ring_with_lane_graph_table_and_lane_intents() {
        let plan = ring().with_connection(Connection::new("parse", "risk"));
        let errors = errors(&plan);
        assert_eq!(errors.len(), 2, "{errors}");
        assert!(matches!(
            errors.violations()[0],
            PlanViolation::UnexpectedPayload {
                table: "lane_graph",
                target: ExecutionTargetV1::SingleRing
            }
        ));
        assert!(errors.violations()[0].to_string().contains("[lane_graph]"));
        assert!(matches!(
            &errors.violations()[1],
            PlanViolation::LaneIntentOnSingleRing { from, to } if from == "parse" && to == "risk"
        ));
        assert!(errors.violations()[1]
            .to_string()
            .contains("`parse -> risk`"));
    }

    #[test]
    fn lane_graph_without_its_table() {
        let mut plan = graph();
        plan.lane_graph = None;
        assert_only!(
            plan,
            PlanViolation::MissingPayload {
                table: "lane_graph",
                ..
            },
            ["[lane_graph]"]
        );
    }

    #[test]
    fn lane_graph_with_single_ring_table() {
        let plan = graph().with_single_ring(SingleRingConstraints::default());
        assert_only!(
            plan,
            PlanViolation::UnexpectedPayload {
                table: "single_ring",
                target: ExecutionTargetV1::LaneGraph
            },
            ["[single_ring]", "`lane_graph`"]
        );
    }

    #[test]
    fn empty_stage_name() {
        let mut plan = ring();
        plan.stages.push(StageDecl::new(""));
        assert_only!(
            plan,
            PlanViolation::EmptyName {
                role: DeclRole::Stage,
                position: 3
            },
            ["stage #3"]
        );
    }

    #[test]
    fn empty_boundary_name() {
        let mut plan = ring();
        plan.egress[0].name.clear();
        assert_only!(
            plan,
            PlanViolation::EmptyName {
                role: DeclRole::Egress,
                position: 1
            },
            ["egress #1"]
        );
    }

    #[test]
    fn empty_stage_kind() {
        let mut plan = ring();
        plan.stages[1].kind = Some(String::new());
        assert_only!(
            plan,
            PlanViolation::EmptyStageKind { .. },
            ["`risk`", "`kind`"]
        );
    }

    #[test]
    fn duplicate_stage_name() {
        let plan = ring().with_stage(StageDecl::new("parse"));
        assert_only!(plan, PlanViolation::DuplicateStage { .. }, ["`parse`"]);
    }

    #[test]
    fn duplicate_ingress_name() {
        let plan = graph().with_ingress("in");
        assert_only!(
            plan,
            PlanViolation::DuplicateBoundary {
                role: DeclRole::Ingress,
                ..
            },
            ["ingress `in`"]
        );
    }

    #[test]
    fn stage_named_like_a_boundary() {
        let mut plan = ring();
        plan.stages[1].name = "fills_out".into();
        plan.stages[1].after = vec!["parse".into()];
        assert_only!(
            plan,
            PlanViolation::NameClash {
                first: DeclRole::Egress,
                second: DeclRole::Stage,
                ..
            },
            ["`fills_out`", "egress", "stage"]
        );
    }

    #[test]
    fn ingress_and_egress_share_a_name() {
        let mut plan = graph();
        plan.egress[0].name = "in".into();
        let errors = assert_has!(
            plan,
            PlanViolation::NameClash {
                first: DeclRole::Ingress,
                second: DeclRole::Egress,
                ..
            },
            ["`in`"]
        );
        assert!(matches!(
            errors.violations()[0],
            PlanViolation::NameClash { .. }
        ));
    }

    // ---- SingleRing ---------------------------------------------------------------------

    #[test]
    fn ring_without_ingress() {
        let mut plan = ring();
        plan.ingress.clear();
        assert_only!(
            plan,
            PlanViolation::BoundaryCount {
                role: DeclRole::Ingress,
                ..
            },
            ["exactly one ingress", "found none"]
        );
    }

    #[test]
    fn ring_with_two_ingresses() {
        let plan = ring().with_ingress("more_in");
        assert_only!(
            plan,
            PlanViolation::BoundaryCount {
                role: DeclRole::Ingress,
                ..
            },
            ["exactly one ingress", "`orders_in`", "`more_in`"]
        );
    }

    #[test]
    fn ring_with_two_egresses() {
        let plan = ring().with_egress("audit_out");
        assert_only!(
            plan,
            PlanViolation::BoundaryCount {
                role: DeclRole::Egress,
                expected: "exactly one",
                ..
            },
            ["`audit_out`", "`fills_out`"]
        );
    }

    #[test]
    fn ring_without_stages() {
        let mut plan = ring();
        plan.stages.clear();
        assert_only!(plan, PlanViolation::NoStages { .. }, ["at least one stage"]);
    }

    #[test]
    fn ring_with_too_many_stages() {
        let plan = ring()
            .with_stage(StageDecl::new("c"))
            .with_stage(StageDecl::new("d"))
            .with_stage(StageDecl::new("e"));
        let errors = assert_only!(
            plan,
            PlanViolation::TooManyStages {
                found: 5,
                max: 4,
                ..
            },
            ["`e`"]
        );
        assert!(!errors.to_string().contains("`d`"));
    }

    #[test]
    fn unknown_dependency_with_suggestion() {
        let mut plan = ring();
        plan.stages[1].after = vec!["prase".into()];
        assert_only!(
            plan,
            PlanViolation::UnknownDependency {
                suggestion: Some(_),
                ..
            },
            ["`risk`", "`prase`", "no such stage", "did you mean `parse`"]
        );
    }

    #[test]
    fn unknown_dependency_without_suggestion() {
        let mut plan = ring();
        plan.stages[1].after = vec!["settlement".into()];
        let errors = assert_only!(
            plan,
            PlanViolation::UnknownDependency {
                suggestion: None,
                ..
            },
            ["`settlement`", "no such stage"]
        );
        assert!(!errors.to_string().contains("did you mean"));
    }

    #[test]
    fn dependency_on_a_later_stage() {
        let mut plan = ring();
        plan.stages[0].after = vec!["risk".into()];
        plan.stages[1].after.clear();
        assert_only!(
            plan,
            PlanViolation::DependencyNotEarlier { .. },
            ["`parse`", "`risk`", "must come before"]
        );
    }

    #[test]
    fn self_dependency() {
        let mut plan = ring();
        plan.stages[1].after.push("risk".into());
        assert_only!(
            plan,
            PlanViolation::SelfDependency { .. },
            ["`risk`", "itself"]
        );
    }

    #[test]
    fn duplicate_dependency() {
        let plan = {
            let mut p = ring();
            p.stages[1].after.push("parse".into());
            p
        };
        assert_only!(
            plan,
            PlanViolation::DuplicateDependency { .. },
            ["`risk`", "`parse`", "more than once"]
        );
    }

    #[test]
    fn zero_shards() {
        let mut plan = ring();
        constraints(&mut plan).shards = 0;
        assert_only!(plan, PlanViolation::ZeroShards, ["shards"]);
    }

    #[test]
    fn strict_ordering_with_shards() {
        let mut plan = ring();
        let c = constraints(&mut plan);
        c.shards = 4;
        c.shard_key = Some("account".into());
        assert_only!(
            plan,
            PlanViolation::StrictOrderingWithShards { shards: 4 },
            ["`strict`", "shards = 4", "ordering"]
        );
    }

    #[test]
    fn shards_without_shard_key() {
        let mut plan = ring();
        let c = constraints(&mut plan);
        c.shards = 4;
        c.ordering = OrderingMode::PerKey;
        assert_only!(
            plan,
            PlanViolation::MissingShardKey { shards: 4 },
            ["shard_key"]
        );

        let mut empty_key = ring();
        let c = constraints(&mut empty_key);
        c.shards = 2;
        c.ordering = OrderingMode::PerKey;
        c.shard_key = Some(String::new());
        assert_only!(
            empty_key,
            PlanViolation::MissingShardKey { shards: 2 },
            ["shard_key"]
        );
    }

    #[test]
    fn multi_producer_is_not_supported() {
        let mut plan = ring();
        constraints(&mut plan).producer = ProducerMode::Multi;
        assert_only!(
            plan,
            PlanViolation::MultiProducerNotSupported,
            ["`multi`", "producer", "not supported in v1"]
        );
    }

    #[test]
    fn work_queue_is_not_supported() {
        let mut plan = ring();
        constraints(&mut plan).scheduling = SchedulingMode::WorkQueue;
        assert_only!(
            plan,
            PlanViolation::WorkQueueNotSupported,
            ["`work_queue`", "scheduling", "not supported in v1"]
        );
    }

    #[test]
    fn ring_capacity_must_be_a_power_of_two_of_at_least_two() {
        for capacity in [0, 1, 3, 1000] {
            let mut plan = ring();
            constraints(&mut plan).capacity = capacity;
            assert_only!(
                plan,
                PlanViolation::RingCapacity { .. },
                ["single_ring.capacity", &capacity.to_string()]
            );
        }
        for capacity in [2, 64, RING_V1_MAX_CAPACITY] {
            let mut plan = ring();
            constraints(&mut plan).capacity = capacity;
            assert_eq!(validate_plan_v2(&plan), Ok(()), "capacity {capacity}");
        }
    }

    // ---- LaneGraph ----------------------------------------------------------------------

    #[test]
    fn lane_graph_needs_ingress_egress_and_stages() {
        let plan = PipelinePlanV2::lane_graph("empty");
        let errors = errors(&plan);
        assert_eq!(errors.len(), 3, "{errors}");
        assert!(matches!(
            errors.violations()[0],
            PlanViolation::BoundaryCount {
                role: DeclRole::Ingress,
                expected: "at least one",
                ..
            }
        ));
        assert!(matches!(
            errors.violations()[1],
            PlanViolation::BoundaryCount {
                role: DeclRole::Egress,
                expected: "at least one",
                ..
            }
        ));
        assert!(matches!(
            errors.violations()[2],
            PlanViolation::NoStages { .. }
        ));
        assert!(errors.to_string().contains("at least one ingress"));
        assert!(errors.to_string().contains("at least one egress"));
    }

    #[test]
    fn after_on_lane_graph() {
        let mut plan = graph();
        plan.stages[0].after = vec!["x".into()];
        assert_only!(
            plan,
            PlanViolation::AfterOnLaneGraph { .. },
            ["`parse`", "`x`", "single_ring only"]
        );
    }

    #[test]
    fn missing_on_full() {
        let mut plan = graph();
        graph_mut(&mut plan).on_full = None;
        assert_only!(plan, PlanViolation::MissingOnFull, ["on_full"]);
    }

    #[test]
    fn unknown_source_and_destination() {
        let mut plan = graph();
        graph_mut(&mut plan).connections[0].from = "inn".into();
        graph_mut(&mut plan).connections[1].to = "nowhere".into();
        let errors = assert_has!(
            plan,
            PlanViolation::UnknownSource {
                suggestion: Some(_),
                ..
            },
            [
                "`inn -> parse`",
                "no ingress or stage named `inn`",
                "did you mean `in`"
            ]
        );
        assert_has!(
            plan,
            PlanViolation::UnknownDestination {
                suggestion: None,
                ..
            },
            ["`parse -> nowhere`", "no stage or egress named `nowhere`"]
        );
        // The real boundaries are now unused, and the stage is cut off.
        assert!(errors
            .iter()
            .any(|v| matches!(v, PlanViolation::UnconnectedBoundary { .. })));
        assert!(errors
            .iter()
            .any(|v| matches!(v, PlanViolation::UnreachableStage { .. })));
    }

    #[test]
    fn connection_from_an_egress() {
        let plan = graph().with_connection(Connection::new("out", "parse"));
        assert_only!(
            plan,
            PlanViolation::ConnectionFromEgress { .. },
            ["`out -> parse`", "egress `out`"]
        );
    }

    #[test]
    fn connection_to_an_ingress() {
        let plan = graph().with_connection(Connection::new("parse", "in"));
        assert_only!(
            plan,
            PlanViolation::ConnectionToIngress { .. },
            ["`parse -> in`", "ingress `in`"]
        );
    }

    #[test]
    fn connection_between_boundaries() {
        let plan = graph().with_connection(Connection::new("in", "out"));
        assert_only!(
            plan,
            PlanViolation::BoundaryToBoundary { .. },
            ["`in -> out`"]
        );
    }

    #[test]
    fn duplicate_connection() {
        let plan = graph().with_connection(Connection::new("in", "parse"));
        assert_only!(
            plan,
            PlanViolation::DuplicateConnection { .. },
            ["`in -> parse`", "more than once"]
        );
    }

    #[test]
    fn unconnected_boundary() {
        let plan = graph().with_egress("spare_out");
        assert_only!(
            plan,
            PlanViolation::UnconnectedBoundary {
                role: DeclRole::Egress,
                ..
            },
            ["egress `spare_out`"]
        );
    }

    #[test]
    fn unreachable_stage_and_stage_without_egress() {
        // `orphan -> out` is never fed; `sink` is fed but leads nowhere.
        let plan = graph()
            .with_stage(StageDecl::new("orphan"))
            .with_stage(StageDecl::new("sink"))
            .with_connection(Connection::new("orphan", "out"))
            .with_connection(Connection::new("parse", "sink"));
        let errors = errors(&plan);
        assert_eq!(errors.len(), 2, "{errors}");
        assert!(
            matches!(&errors.violations()[0], PlanViolation::UnreachableStage { stage } if stage == "orphan")
        );
        assert!(
            matches!(&errors.violations()[1], PlanViolation::StageWithoutEgress { stage } if stage == "sink")
        );
        assert!(errors.violations()[0].to_string().contains("`orphan`"));
        assert!(errors.violations()[1].to_string().contains("`sink`"));
    }

    #[test]
    fn cycle_is_printed_as_a_path() {
        // in -> a -> b -> c -> out, and c -> b closes `b -> c -> b`.
        let plan = PipelinePlanV2::lane_graph("loop")
            .with_ingress("in")
            .with_egress("out")
            .with_stage(StageDecl::new("a"))
            .with_stage(StageDecl::new("b"))
            .with_stage(StageDecl::new("c"))
            .with_connection(Connection::new("in", "a"))
            .with_connection(Connection::new("a", "b"))
            .with_connection(Connection::new("b", "c"))
            .with_connection(Connection::new("c", "b"))
            .with_connection(Connection::new("c", "out"));
        let errors = assert_only!(plan, PlanViolation::Cycle { .. }, ["b -> c -> b"]);
        assert_eq!(errors.to_string(), "cycle: b -> c -> b");
    }

    #[test]
    fn each_distinct_cycle_is_reported_once() {
        // Two cycles sharing `a`: a -> b -> a and a -> c -> a. `c` is listed first, so the walk
        // starts there and the cycle through it prints from `c`; cycles come in the order the
        // walk closes them.
        let plan = PipelinePlanV2::lane_graph("loops")
            .with_ingress("in")
            .with_egress("out")
            .with_stage(StageDecl::new("c"))
            .with_stage(StageDecl::new("a"))
            .with_stage(StageDecl::new("b"))
            .with_stage(StageDecl::new("self"))
            .with_connection(Connection::new("in", "a"))
            .with_connection(Connection::new("a", "b"))
            .with_connection(Connection::new("b", "a"))
            .with_connection(Connection::new("a", "c"))
            .with_connection(Connection::new("c", "a"))
            .with_connection(Connection::new("a", "self"))
            .with_connection(Connection::new("self", "self"))
            .with_connection(Connection::new("self", "out"));
        let errors = errors(&plan);
        let cycles: Vec<String> = errors
            .iter()
            .filter(|v| matches!(v, PlanViolation::Cycle { .. }))
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            cycles,
            [
                "cycle: a -> b -> a",
                "cycle: c -> a -> c",
                "cycle: self -> self"
            ]
        );
        assert_eq!(errors.len(), 3, "{errors}");
    }

    #[cfg(not(feature = "lane_graph_journal"))]
    #[test]
    fn journal_lane_needs_its_feature() {
        let mut plan = graph();
        graph_mut(&mut plan).connections[1].lane = LaneIntent::of(LaneKind::Journal);
        assert_only!(
            plan,
            PlanViolation::LaneKindDisabled { kind: LaneKind::Journal, feature: "lane_graph_journal", .. },
            ["lane kind `journal` on connection `parse -> out` needs cargo feature `lane_graph_journal`"]
        );
    }

    #[cfg(not(feature = "lane_graph_journal"))]
    #[test]
    fn journal_boundary_needs_its_feature() {
        let mut plan = graph();
        graph_mut(&mut plan).boundary.kind = LaneKind::Journal;
        assert_only!(
            plan,
            PlanViolation::BoundaryKindDisabled {
                kind: LaneKind::Journal,
                ..
            },
            ["boundary lane kind `journal`", "`lane_graph_journal`"]
        );
    }

    #[cfg(not(feature = "lane_graph_fanout"))]
    #[test]
    fn broadcast_lane_needs_its_feature() {
        let mut plan = graph();
        graph_mut(&mut plan).connections[1].lane = LaneIntent::of(LaneKind::FanoutBroadcast);
        assert_only!(
            plan,
            PlanViolation::LaneKindDisabled {
                kind: LaneKind::FanoutBroadcast,
                ..
            },
            [
                "`fanout_broadcast`",
                "`parse -> out`",
                "`lane_graph_fanout`"
            ]
        );
    }

    #[test]
    fn sequenced_slots_need_capacity() {
        for capacity in [None, Some(0)] {
            let mut plan = graph();
            graph_mut(&mut plan).connections[1].lane = LaneIntent {
                kind: LaneKind::SequencedSlots,
                capacity,
                gating: Some(SEQUENCED_SLOTS_V1_GATING.into()),
            };
            assert_only!(
                plan,
                PlanViolation::SequencedSlotsCapacity { .. },
                ["`parse -> out`", "capacity > 0"]
            );
        }
        // Any positive capacity is fine: sequenced slots are not a power-of-two ring.
        let mut plan = graph();
        graph_mut(&mut plan).connections[1].lane = LaneIntent::sequenced_slots(3);
        assert_eq!(validate_plan_v2(&plan), Ok(()));
    }

    #[test]
    fn sequenced_slots_need_the_v1_gating() {
        let mut plan = graph();
        graph_mut(&mut plan).connections[1].lane.kind = LaneKind::SequencedSlots;
        graph_mut(&mut plan).connections[1].lane.capacity = Some(16);
        graph_mut(&mut plan).connections[1].lane.gating = Some("any_reader".into());
        assert_only!(
            plan,
            PlanViolation::SequencedSlotsGating { .. },
            ["`parse -> out`", "`all_readers`", "`any_reader`"]
        );
        graph_mut(&mut plan).connections[1].lane.gating = None;
        assert_only!(
            plan,
            PlanViolation::SequencedSlotsGating { found: None, .. },
            ["`all_readers`", "found none"]
        );
    }

    #[test]
    fn gating_only_on_sequenced_slots() {
        let mut plan = graph();
        graph_mut(&mut plan).connections[0].lane.gating = Some(SEQUENCED_SLOTS_V1_GATING.into());
        assert_only!(
            plan,
            PlanViolation::UnexpectedGating {
                kind: LaneKind::Events,
                ..
            },
            ["`in -> parse`", "`events`", "all_readers"]
        );
    }

    #[test]
    fn lane_capacity_must_be_a_power_of_two() {
        let mut plan = graph();
        graph_mut(&mut plan).connections[0].lane.capacity = Some(1000);
        assert_only!(
            plan,
            PlanViolation::LaneCapacity { capacity: 1000, .. },
            ["`in -> parse`", "1000", "power of two"]
        );
    }

    #[test]
    fn boundary_capacity_must_be_a_power_of_two() {
        let mut plan = graph();
        graph_mut(&mut plan).boundary = BoundaryLanePolicy {
            capacity: Some(1),
            on_full: Some(OnFull::Drop),
            ..BoundaryLanePolicy::default()
        };
        assert_only!(
            plan,
            PlanViolation::BoundaryCapacity { capacity: 1 },
            ["boundary.capacity", "1"]
        );
    }

    #[test]
    fn sequenced_slots_boundary_needs_capacity() {
        let mut plan = graph();
        graph_mut(&mut plan).boundary.kind = LaneKind::SequencedSlots;
        assert_only!(
            plan,
            PlanViolation::BoundarySequencedSlotsCapacity,
            ["boundary", "sequenced_slots"]
        );
        graph_mut(&mut plan).boundary.capacity = Some(64);
        assert_eq!(validate_plan_v2(&plan), Ok(()));
    }

    /// `src` broadcasting to `n` consumers, each leading to `out`.
    fn broadcast_plan(n: usize) -> PipelinePlanV2 {
        let mut plan = PipelinePlanV2::lane_graph("bcast")
            .with_ingress("in")
            .with_egress("out")
            .with_stage(StageDecl::new("src"))
            .with_connection(Connection::new("in", "src"));
        for i in 0..n {
            let name = format!("c{i}");
            plan = plan
                .with_stage(StageDecl::new(name.clone()))
                .with_connection(
                    Connection::new("src", name.clone())
                        .lane(LaneIntent::of(LaneKind::FanoutBroadcast)),
                )
                .with_connection(Connection::new(name, "out"));
        }
        plan
    }

    #[test]
    fn too_many_broadcast_consumers() {
        let plan = broadcast_plan(FANOUT_V1_MAX_CONSUMERS + 1);
        let errors = assert_has!(
            plan,
            PlanViolation::TooManyBroadcastConsumers {
                max: FANOUT_V1_MAX_CONSUMERS,
                ..
            },
            ["`src`", "9 consumers", "`c8`", "at most 8"]
        );
        let others = errors
            .iter()
            .filter(|v| !matches!(v, PlanViolation::LaneKindDisabled { .. }))
            .count();
        assert_eq!(others, 1, "{errors}");
    }

    #[test]
    fn broadcast_mixed_with_point_to_point_lanes_is_valid() {
        // Lowering routes the broadcast group and the events lane through a router (and a
        // bridge where kinds differ), so a source may mix them.
        let mut plan = broadcast_plan(2);
        graph_mut(&mut plan).connections[3].lane = LaneIntent::events();
        if let Err(errors) = validate_plan_v2(&plan) {
            assert!(
                errors
                    .iter()
                    .all(|v| matches!(v, PlanViolation::LaneKindDisabled { .. })),
                "{errors}"
            );
        }
    }

    #[test]
    fn broadcast_capacity_mismatch() {
        let mut plan = broadcast_plan(2);
        graph_mut(&mut plan).connections[1].lane.capacity = Some(64);
        let errors = assert_has!(
            plan,
            PlanViolation::BroadcastCapacityMismatch { .. },
            ["`src`", "`c0`: 64", "`c1`: 1024"]
        );
        let others = errors
            .iter()
            .filter(|v| !matches!(v, PlanViolation::LaneKindDisabled { .. }))
            .count();
        assert_eq!(others, 1, "{errors}");
    }

    // ---- names --------------------------------------------------------------------------

    #[test]
    fn nul_byte_in_a_stage_name() {
        let mut plan = ring();
        plan.stages[1].name = "ab\u{0}c".into();
        let errors = assert_only!(
            plan,
            PlanViolation::InvalidName {
                character: '\u{0}',
                at: 2,
                ..
            },
            ["stage #2 name"]
        );
        assert_eq!(
            errors.to_string(),
            "stage #2 name `ab\\0c`: character U+0000 at byte 2 is not allowed; names use ASCII \
             letters, digits, '_' and '-'"
        );
    }

    #[test]
    fn every_name_follows_the_name_rule() {
        let mut plan = ring();
        plan.name = "my orders".into();
        plan.ingress[0].name = "orders.in".into();
        plan.egress[0].name = "fills\u{1b}[2J".into();
        plan.stages[0].kind = Some("parse/order".into());
        plan.stages[1].after = vec!["parse".into()];
        let c = constraints(&mut plan);
        c.shards = 2;
        c.ordering = OrderingMode::PerKey;
        c.shard_key = Some("account id".into());
        let errors = errors(&plan);
        let found: Vec<(&str, char, usize)> = errors
            .iter()
            .filter_map(|v| match v {
                PlanViolation::InvalidName {
                    item,
                    character,
                    at,
                    ..
                } => Some((item.as_str(), *character, *at)),
                _ => None,
            })
            .collect();
        assert_eq!(
            found,
            [
                ("pipeline name", ' ', 2),
                ("ingress #1 name", '.', 6),
                ("egress #1 name", '\u{1b}', 5),
                ("stage `parse` kind", '/', 5),
                ("single_ring.shard_key", ' ', 7),
            ],
            "{errors}"
        );
        assert_eq!(errors.len(), found.len(), "{errors}");
        let text = errors.to_string();
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(text.contains("egress #1 name `fills\\u{1b}[2J`: character U+001B at byte 5"));
        assert!(text.contains("ingress #1 name `orders.in`: character '.' (U+002E) at byte 6"));
    }

    #[test]
    fn names_cannot_take_the_shape_of_generated_names() {
        // `router.parse` is what lowering calls the router after `parse`: no plan name can be it.
        let plan = graph().with_stage(StageDecl::new("router.parse"));
        assert_has!(
            plan,
            PlanViolation::InvalidName { character: '.', .. },
            ["stage #2 name `router.parse`"]
        );
        for odd in ["a->b", "caf\u{e9}", "tab\there", "*"] {
            let mut plan = graph();
            plan.name = odd.into();
            assert_only!(plan, PlanViolation::InvalidName { .. }, ["pipeline name"]);
        }
    }

    #[test]
    fn letters_digits_underscore_and_dash_are_names() {
        let mut plan = ring();
        plan.name = "Orders_2-EU".into();
        plan.stages[0].kind = Some("PARSE-v2_x".into());
        assert_eq!(validate_plan_v2(&plan), Ok(()));
    }

    #[test]
    fn names_are_at_most_64_bytes() {
        let mut plan = ring();
        plan.stages[0].name = "p".repeat(NAME_V1_MAX_BYTES);
        plan.stages[1].after = vec![plan.stages[0].name.clone()];
        assert_eq!(validate_plan_v2(&plan), Ok(()));

        let long = "p".repeat(1_000_000);
        plan.stages[0].name = long.clone();
        plan.stages[1].after = vec![long.clone()];
        let errors = assert_only!(
            plan,
            PlanViolation::NameTooLong {
                len: 1_000_000,
                max: NAME_V1_MAX_BYTES,
                ..
            },
            ["stage #1 name", "1000000 bytes long", "at most 64 bytes"]
        );
        // The name is cut in the violation and its message.
        match &errors.violations()[0] {
            PlanViolation::NameTooLong { name, .. } => {
                assert_eq!(name, &format!("{}…", "p".repeat(NAME_V1_MAX_BYTES)));
            }
            other => panic!("{other:?}"),
        }
        assert!(errors.to_string().len() < 200, "{errors}");
    }

    #[test]
    fn a_long_name_costs_one_cut_copy_per_violation() {
        // A stage with a long name and many unknown dependencies: every violation carries the
        // stage's name cut to the name limit, not a copy of the whole name.
        let long = "s".repeat(100_000);
        let mut plan = ring();
        plan.stages[1].name = long;
        plan.stages[1].after = (0..1000).map(|i| format!("x{i}")).collect();
        let errors = errors(&plan);
        assert_eq!(
            errors.len(),
            1001,
            "NameTooLong and one per unknown dependency"
        );
        let bytes: usize = errors.iter().map(|v| v.to_string().len()).sum();
        assert!(bytes < 1001 * 200, "{bytes}");
    }

    // ---- parameters ---------------------------------------------------------------------

    /// A value of the given depth: `[[...[1]...]]`.
    fn nested(depth: usize) -> ParamValue {
        let mut value = ParamValue::Int(1);
        for _ in 1..depth {
            value = ParamValue::Array(vec![value]);
        }
        value
    }

    #[test]
    fn params_nest_at_most_the_limit() {
        let mut plan = ring();
        plan.stages[0]
            .params
            .insert("ok".into(), nested(PARAM_V1_MAX_DEPTH));
        assert_eq!(validate_plan_v2(&plan), Ok(()));
        plan.stages[1]
            .params
            .insert("deep".into(), nested(PARAM_V1_MAX_DEPTH + 1));
        let errors = assert_only!(
            plan,
            PlanViolation::ParamTooDeep {
                depth: 33,
                max: PARAM_V1_MAX_DEPTH,
                ..
            },
            [
                "stage `risk` param `deep` nests 33 levels deep",
                "at most 32 levels"
            ]
        );
        drop(errors);
        // Tables count like arrays.
        let mut table = ParamValue::Int(1);
        for _ in 0..PARAM_V1_MAX_DEPTH {
            table = ParamValue::Table([("k".to_owned(), table)].into());
        }
        let mut plan = ring();
        plan.stages[0].params.insert("t".into(), table);
        assert_only!(plan, PlanViolation::ParamTooDeep { depth: 33, .. }, ["`t`"]);
    }

    #[test]
    fn param_names_are_at_most_64_bytes() {
        let mut plan = ring();
        plan.stages[0]
            .params
            .insert("k".repeat(NAME_V1_MAX_BYTES), ParamValue::Int(1));
        plan.stages[0]
            .params
            .insert(String::new(), ParamValue::Int(1));
        assert_eq!(validate_plan_v2(&plan), Ok(()));
        plan.stages[0]
            .params
            .insert("k".repeat(NAME_V1_MAX_BYTES + 1), ParamValue::Int(1));
        assert_only!(
            plan,
            PlanViolation::ParamNameTooLong {
                len: 65,
                max: NAME_V1_MAX_BYTES,
                ..
            },
            ["stage `parse`", "65 bytes long"]
        );
    }

    // ---- limits -------------------------------------------------------------------------

    #[test]
    fn ring_capacity_is_at_most_the_limit() {
        let mut plan = ring();
        constraints(&mut plan).capacity = RING_V1_MAX_CAPACITY * 2;
        assert_only!(
            plan,
            PlanViolation::RingCapacityTooLarge {
                capacity: 33_554_432,
                max: RING_V1_MAX_CAPACITY
            },
            ["single_ring.capacity is 33554432", "at most 16777216 slots"]
        );
        constraints(&mut plan).capacity = u32::MAX;
        let errors = errors(&plan);
        assert!(matches!(
            errors.violations(),
            [
                PlanViolation::RingCapacity { .. },
                PlanViolation::RingCapacityTooLarge { .. }
            ]
        ));
    }

    #[test]
    fn shards_are_at_most_the_limit() {
        let sharded = |stages: usize, shards: u32| {
            let mut plan = PipelinePlanV2::single_ring("sharded")
                .with_ingress("in")
                .with_egress("out");
            for i in 0..stages {
                plan = plan.with_stage(StageDecl::new(format!("s{i}")));
            }
            plan.with_single_ring(SingleRingConstraints {
                shards,
                ordering: OrderingMode::PerKey,
                shard_key: Some("account".into()),
                ..SingleRingConstraints::default()
            })
        };
        assert_eq!(
            validate_plan_v2(&sharded(1, SINGLE_RING_V1_MAX_SHARDS)),
            Ok(())
        );
        assert_eq!(validate_plan_v2(&sharded(4, 64)), Ok(()));
        let too_many = errors(&sharded(1, SINGLE_RING_V1_MAX_SHARDS + 1));
        assert!(matches!(
            too_many.violations(),
            [
                PlanViolation::TooManyShards {
                    shards: 257,
                    max: 256
                },
                PlanViolation::TooManyRingThreads { threads: 257, .. }
            ]
        ));
        assert_only!(
            sharded(4, 65),
            PlanViolation::TooManyRingThreads {
                stages: 4,
                shards: 65,
                threads: 260,
                max: PIPELINE_V1_MAX_THREADS
            },
            [
                "shards = 65 with 4 stages runs 260 stage threads",
                "at most 256 threads"
            ]
        );
        // No overflow with absurd counts.
        let absurd = errors(&sharded(4, u32::MAX));
        assert!(absurd.iter().any(|v| matches!(
            v,
            PlanViolation::TooManyRingThreads {
                threads: 17_179_869_180,
                ..
            }
        )));
    }

    #[test]
    fn lane_capacities_are_at_most_the_limit() {
        let mut plan = graph();
        graph_mut(&mut plan).connections[0].lane.capacity = Some(RING_V1_MAX_CAPACITY);
        assert_eq!(validate_plan_v2(&plan), Ok(()));
        graph_mut(&mut plan).connections[0].lane.capacity = Some(RING_V1_MAX_CAPACITY * 2);
        assert_only!(
            plan,
            PlanViolation::LaneCapacityTooLarge {
                capacity: 33_554_432,
                ..
            },
            ["`in -> parse`", "33554432", "16777216 slots"]
        );
        // Sequenced slots take any capacity above zero, up to the same limit.
        let mut plan = graph();
        graph_mut(&mut plan).connections[1].lane =
            LaneIntent::sequenced_slots(RING_V1_MAX_CAPACITY + 1);
        assert_only!(
            plan,
            PlanViolation::LaneCapacityTooLarge { .. },
            ["`parse -> out`"]
        );
        let mut plan = graph();
        graph_mut(&mut plan).boundary.capacity = Some(1 << 30);
        assert_only!(
            plan,
            PlanViolation::BoundaryCapacityTooLarge {
                capacity: 1_073_741_824,
                max: RING_V1_MAX_CAPACITY
            },
            ["lane_graph.boundary.capacity is 1073741824"]
        );
    }

    /// `in -> s0 -> s1 -> ... -> s<n-1> -> out`.
    fn chain(n: usize) -> PipelinePlanV2 {
        let mut plan = PipelinePlanV2::lane_graph("chain")
            .with_ingress("in")
            .with_egress("out")
            .with_connection(Connection::new("in", "s0"));
        for i in 0..n {
            plan = plan.with_stage(StageDecl::new(format!("s{i}")));
            let next = if i + 1 < n {
                format!("s{}", i + 1)
            } else {
                "out".to_owned()
            };
            plan = plan.with_connection(Connection::new(format!("s{i}"), next));
        }
        plan
    }

    #[test]
    fn lane_graph_roles_are_at_most_the_thread_limit() {
        assert_eq!(validate_plan_v2(&chain(PIPELINE_V1_MAX_THREADS)), Ok(()));
        assert_only!(
            chain(PIPELINE_V1_MAX_THREADS + 1),
            PlanViolation::TooManyRoles {
                stages: 257,
                inserted: 0,
                max: PIPELINE_V1_MAX_THREADS
            },
            [
                "257 roles (257 stages and 0 inserted",
                "at most 256 threads"
            ]
        );
    }

    #[test]
    fn inserted_roles_count_toward_the_thread_limit() {
        // 254 stages, and a fan-out from s0 to s1 and out: a router; then s1 -> out makes out
        // a fan-in: a merge. 254 + 2 = 256 roles.
        let mut plan =
            chain(PIPELINE_V1_MAX_THREADS - 2).with_connection(Connection::new("s0", "out"));
        assert_eq!(validate_plan_v2(&plan), Ok(()));
        // A sequenced_slots lane on a router output adds a bridge: 257 roles.
        graph_mut(&mut plan).connections[1].lane = LaneIntent::sequenced_slots(64);
        assert_only!(
            plan,
            PlanViolation::TooManyRoles {
                stages: 254,
                inserted: 3,
                ..
            },
            ["257 roles"]
        );
    }

    // ---- bounded reports ----------------------------------------------------------------

    #[test]
    fn cycles_past_sixteen_are_counted() {
        // A chain with a connection back to s0 from every stage: one cycle per stage.
        let n = 1000;
        let mut plan = chain(n);
        for i in 0..n {
            plan = plan.with_connection(Connection::new(format!("s{i}"), "s0"));
        }
        let errors = errors(&plan);
        let cycles = errors
            .iter()
            .filter(|v| matches!(v, PlanViolation::Cycle { .. }))
            .count();
        assert_eq!(cycles, MAX_LISTED_CYCLES);
        assert!(errors.iter().any(|v| matches!(
            v,
            PlanViolation::MoreCycles { count, listed: 16 } if *count == n - MAX_LISTED_CYCLES
        )));
        assert!(errors
            .to_string()
            .contains("… and 984 more cycles; only the first 16 are listed"));
        // The listed cycles are bounded in length too.
        assert!(
            errors.to_string().len() < 40_000,
            "{}",
            errors.to_string().len()
        );
    }

    #[test]
    fn suggestions_stop_after_sixteen_unknown_names() {
        // A hundred names one letter away from `parse`.
        let typos = (0..5).flat_map(|at| {
            ('a'..='z').map(move |c| {
                let mut name: Vec<char> = "parse".chars().collect();
                name[at] = c;
                name.into_iter().collect::<String>()
            })
        });
        let mut plan = graph();
        for typo in typos.filter(|t| t != "parse").take(100) {
            plan = plan.with_connection(Connection::new("parse", typo));
        }
        let errors = errors(&plan);
        let unknown = errors
            .iter()
            .filter(|v| matches!(v, PlanViolation::UnknownDestination { .. }))
            .count();
        let suggested = errors
            .iter()
            .filter(|v| {
                matches!(
                    v,
                    PlanViolation::UnknownDestination {
                        suggestion: Some(_),
                        ..
                    }
                )
            })
            .count();
        assert_eq!(unknown, 100);
        assert_eq!(suggested, 16);
    }

    #[test]
    fn a_repeated_dependency_is_reported_once() {
        let mut plan = ring();
        plan.stages[1].after = vec!["parse".into(); 1000];
        assert_only!(plan, PlanViolation::DuplicateDependency { .. }, ["`parse`"]);
    }

    // ---- reporting ----------------------------------------------------------------------

    #[test]
    fn a_plan_with_many_errors_reports_all_of_them_in_order() {
        let mut plan = PipelinePlanV2::single_ring("")
            .with_ingress("a")
            .with_ingress("b")
            .with_stage(StageDecl::new("s1").after("s2"))
            .with_stage(StageDecl::new("s2").after("s2"))
            .with_stage(StageDecl::new("a"))
            .with_connection(Connection::new("s1", "s2"));
        *constraints(&mut plan) = SingleRingConstraints {
            capacity: 100,
            shards: 0,
            ordering: OrderingMode::Strict,
            producer: ProducerMode::Multi,
            scheduling: SchedulingMode::WorkQueue,
            shard_key: None,
        };
        let errors = errors(&plan);
        let expected = [
            "pipeline name is empty",
            "target `single_ring` does not take a `[lane_graph]` table",
            "name `a` is declared both as ingress and as stage",
            "a `single_ring` plan needs exactly one ingress, found 2: `a`, `b`",
            "a `single_ring` plan needs exactly one egress, found none",
            "stage `s1` runs after `s2`, so `s2` must come before `s1`",
            "stage `s2` runs after itself",
            "single_ring.capacity is 100",
            "single_ring.shards is 0",
            "single_ring.producer `multi` is not supported in v1",
            "single_ring.scheduling `work_queue` is not supported in v1",
            "connection `s1 -> s2`: a `single_ring` plan takes no lane intents",
        ];
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), expected.len(), "{errors}");
        for (line, want) in lines.iter().zip(expected) {
            assert!(
                line.starts_with(want),
                "`{line}` does not start with `{want}`"
            );
        }
        // Display: one violation per line, same order.
        assert_eq!(errors.to_string(), lines.join("\n"));
        assert_eq!(errors.to_string().lines().count(), expected.len());
        // Deterministic.
        assert_eq!(validate_plan_v2(&plan), Err(errors.clone()));
        // The collection API agrees with itself.
        assert!(!errors.is_empty());
        assert_eq!(errors.violations().len(), errors.len());
        assert_eq!((&errors).into_iter().count(), errors.len());
        assert_eq!(
            errors.clone().into_iter().collect::<Vec<_>>(),
            errors.clone().into_violations()
        );
    }

    #[test]
    fn validation_errors_is_a_std_error() {
        let mut plan = ring();
        plan.name.clear();
        let boxed: Box<dyn std::error::Error> = Box::new(errors(&plan));
        assert_eq!(boxed.to_string(), "pipeline name is empty");
    }

    #[test]
    fn long_chains_validate_without_deep_recursion() {
        // A chain far deeper than a recursive walk could take on a test thread's stack, closed
        // into one cycle by its last connection. It has far more stages than a pipeline may
        // run threads, which is reported too.
        const N: usize = 50_000;
        let mut plan = PipelinePlanV2::lane_graph("chain")
            .with_ingress("in")
            .with_egress("out")
            .with_connection(Connection::new("in", "s0"));
        for i in 0..N {
            plan = plan.with_stage(StageDecl::new(format!("s{i}")));
            if i + 1 < N {
                plan =
                    plan.with_connection(Connection::new(format!("s{i}"), format!("s{}", i + 1)));
            }
        }
        plan = plan.with_connection(Connection::new(format!("s{}", N - 1), "out"));
        assert_only!(
            plan,
            PlanViolation::TooManyRoles {
                stages: N,
                inserted: 0,
                max: PIPELINE_V1_MAX_THREADS,
            },
            ["50000 roles", "at most 256 threads"]
        );

        plan = plan.with_connection(Connection::new(format!("s{}", N - 1), "s0"));
        let errors = errors(&plan);
        assert_eq!(errors.len(), 2, "{errors}");
        match &errors.violations()[0] {
            PlanViolation::Cycle { path, omitted } => {
                assert_eq!(*omitted, N - 32);
                assert_eq!(path.len(), 33);
                assert_eq!((path[0].as_str(), path[32].as_str()), ("s0", "s0"));
                assert_eq!((path[15].as_str(), path[16].as_str()), ("s15", "s49984"));
            }
            other => panic!("expected a cycle, got {other}"),
        }
        assert!(matches!(
            errors.violations()[1],
            PlanViolation::TooManyRoles { .. }
        ));
        assert!(errors.violations()[0]
            .to_string()
            .contains("s15 -> … 49968 more … -> s49984"));
    }
}
