//! `validate_v1`: a spec checked on its own, with every violation reported.
//!
//! A spec may come from [`lower_v2`](crate::lower::lower_v2), from a kv file or from another
//! tool, so nothing is taken on trust: every id, mask, count and cross-reference is checked, and
//! a malformed spec (ids out of range, lanes that point at missing roles) is reported rather
//! than indexed into.
//!
//! The LaneGraph role shapes checked here are the ones lowering produces and role runners
//! execute:
//!
//! | role kind | reads | writes | lane kinds |
//! |---|---|---|---|
//! | `stage`  | exactly 1 lane | exactly 1 lane | any |
//! | `router` | exactly 1 lane | 2 or more lanes | all the same kind |
//! | `merge`  | 2 or more lanes | exactly 1 lane | all the same kind |
//! | `bridge` | exactly 1 lane | exactly 1 lane | any (a bridge is what changes kinds) |

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::model::{
    EndpointDirection, LaneEnd, LaneGraphSpec, LaneKind, PipelineSpecV1, RoleKind, SingleRingSpec,
    TopologySpec,
};
use crate::diagnostics::cycles::{cycle_text, find_cycles, MAX_LISTED_CYCLES};
use crate::diagnostics::names::{describe_char, first_bad_char, label};
use crate::diagnostics::Violations;
use crate::vocab::OrderingMode;
use crate::{
    FANOUT_V1_MAX_CONSUMERS, LANE_NAME_V1_MAX_BYTES, NAME_V1_MAX_BYTES, PARAM_V1_MAX_DEPTH,
    PIPELINE_V1_MAX_THREADS, RING_V1_MAX_BYTES, RING_V1_MAX_CAPACITY, ROLE_NAME_V1_MAX_BYTES,
    SEQUENCED_SLOTS_V1_GATING, SINGLE_RING_V1_MAX_SHARDS, SINGLE_RING_V1_MAX_STAGES,
};

/// The kinds of names a spec holds, by the rule they follow.
#[derive(Debug, Clone, Copy)]
enum NameKind {
    /// Pipeline, stage, stage kind, endpoint and shard key: the plan name rule.
    Plan,
    /// Role names: the plan rule plus `.` and `*`.
    Role,
    /// Lane names: the role rule plus `>`.
    Lane,
}

impl NameKind {
    fn extra(self) -> &'static [char] {
        match self {
            NameKind::Plan => &[],
            NameKind::Role => &['.', '*'],
            NameKind::Lane => &['.', '*', '>'],
        }
    }

    fn max(self) -> usize {
        match self {
            NameKind::Plan => NAME_V1_MAX_BYTES,
            NameKind::Role => ROLE_NAME_V1_MAX_BYTES,
            NameKind::Lane => LANE_NAME_V1_MAX_BYTES,
        }
    }

    fn rule(self) -> &'static str {
        match self {
            NameKind::Plan => "names use ASCII letters, digits, '_' and '-'",
            NameKind::Role => "role names use ASCII letters, digits, '_', '-', '.' and '*'",
            NameKind::Lane => "lane names use ASCII letters, digits, '_', '-', '.', '*' and '>'",
        }
    }

    /// `name` as a violation stores it: escaped, and cut past this kind's longest name.
    fn label(self, name: &str) -> String {
        label(name, self.max())
    }
}

/// Checks a non-empty name against its kind's rule.
fn check_name(out: &mut Vec<SpecViolation>, kind: NameKind, item: impl Fn() -> String, name: &str) {
    if let Some((at, character)) = first_bad_char(name, kind.extra()) {
        out.push(SpecViolation::InvalidName {
            item: item(),
            name: kind.label(name),
            character,
            at,
            rule: kind.rule(),
        });
    }
    if name.len() > kind.max() {
        out.push(SpecViolation::NameTooLong {
            item: item(),
            name: kind.label(name),
            len: name.len(),
            max: kind.max(),
        });
    }
}

fn char_shown(character: &char) -> String {
    describe_char(*character)
}

/// One rule a spec breaks. Each variant names the offending stage, lane, role or field.
///
/// Names are stored as labels: characters that would not print as themselves and `\` are
/// escaped as `{:?}` escapes them, and a name longer than its kind allows is cut, ending in `…`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecViolation {
    /// A name that must not be empty is empty.
    #[error("{item} has an empty name")]
    EmptyName {
        /// What carries the empty name (`pipeline`, `stage 2`, `lane 0`, ...).
        item: String,
    },
    /// Two items of one namespace share a name.
    #[error("{namespace} name `{name}` is used more than once")]
    DuplicateName {
        /// The namespace: `stage`, `lane`, or `role/endpoint` (roles and endpoints share one).
        namespace: &'static str,
        /// The repeated name.
        name: String,
    },
    /// An id differs from the item's index in its table.
    #[error("{table} `{name}` at index {index} has id {id}; ids must equal indices")]
    IdMismatch {
        /// The table: `stage`, `lane`, `role` or `endpoint`.
        table: &'static str,
        /// The item's name.
        name: String,
        /// Its index in the table.
        index: usize,
        /// The id it carries.
        id: u32,
    },
    /// A stage's kind is empty.
    #[error("stage `{stage}` has an empty kind")]
    EmptyStageKind {
        /// The stage.
        stage: String,
    },
    /// A name holds a character its rule does not allow (see [`validate_v1`]).
    #[error("{item} `{name}`: character {} at byte {at} is not allowed; {rule}", char_shown(.character))]
    InvalidName {
        /// What carries the name (`pipeline name`, `stage 2 name`, `role 5 name`, ...).
        item: String,
        /// The name.
        name: String,
        /// The first character that is not allowed.
        character: char,
        /// Its byte offset in the name.
        at: usize,
        /// The rule, in words.
        rule: &'static str,
    },
    /// A name longer than its kind allows.
    #[error("{item} `{name}` is {len} bytes long; at most {max} bytes are allowed")]
    NameTooLong {
        /// What carries the name.
        item: String,
        /// The name, cut to its first bytes.
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The limit: [`NAME_V1_MAX_BYTES`], [`ROLE_NAME_V1_MAX_BYTES`] or
        /// [`LANE_NAME_V1_MAX_BYTES`].
        max: usize,
    },
    /// A parameter name longer than [`NAME_V1_MAX_BYTES`].
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
    /// A parameter value nested deeper than [`PARAM_V1_MAX_DEPTH`].
    #[error("stage `{stage}` param `{param}` nests {depth} levels deep; parameter values nest at most {max} levels")]
    ParamTooDeep {
        /// The stage.
        stage: String,
        /// The parameter.
        param: String,
        /// How deep its value nests ([`ParamValue::depth`](crate::plan::ParamValue::depth)).
        depth: usize,
        /// [`PARAM_V1_MAX_DEPTH`].
        max: usize,
    },

    /// A SingleRing spec has no stages or too many.
    #[error("single_ring spec has {count} stages; it needs 1..={max}")]
    StageCount {
        /// Stages in the spec.
        count: usize,
        /// [`SINGLE_RING_V1_MAX_STAGES`].
        max: usize,
    },
    /// A LaneGraph spec has no stages.
    #[error("lane_graph spec has no stages")]
    NoStages,
    /// `single_ring.deps` does not hold one mask per stage.
    #[error("single_ring.deps holds {deps} masks for {stages} stages")]
    DepsLength {
        /// Masks in `deps`.
        deps: usize,
        /// Stages in the spec.
        stages: usize,
    },
    /// A dependency mask names a stage that is not earlier (itself, a later one, or none).
    #[error("stage `{stage}` depends on stage id {dependency}, which is not an earlier stage")]
    DependencyNotEarlier {
        /// The dependent stage.
        stage: String,
        /// The bit set in its mask.
        dependency: u32,
    },
    /// `final_mask` sets a bit with no stage behind it.
    #[error("final_mask sets bit {bit}, but there is no stage {bit}")]
    FinalMaskOutOfRange {
        /// The offending bit.
        bit: u32,
    },
    /// A stage no other stage depends on is missing from `final_mask`.
    #[error("stage `{stage}` is final (no stage depends on it) but final_mask leaves it out")]
    FinalStageMissing {
        /// The final stage.
        stage: String,
    },
    /// `final_mask` includes a stage another stage depends on.
    #[error("final_mask includes stage `{stage}`, but stage `{dependent}` depends on it")]
    NotFinal {
        /// The stage wrongly marked final.
        stage: String,
        /// A stage that depends on it.
        dependent: String,
    },
    /// The ring capacity is not a power of two of at least 2.
    #[error("ring capacity {capacity} is not a power of two >= 2")]
    RingCapacity {
        /// The capacity.
        capacity: u32,
    },
    /// The ring capacity is above [`RING_V1_MAX_CAPACITY`].
    #[error("ring capacity {capacity} is more than the {max} slots a ring holds in v1")]
    RingCapacityTooLarge {
        /// The capacity.
        capacity: u32,
        /// [`RING_V1_MAX_CAPACITY`].
        max: u32,
    },
    /// `shards` is zero.
    #[error("shards is 0; a ring needs at least one shard")]
    ZeroShards,
    /// More shards than [`SINGLE_RING_V1_MAX_SHARDS`].
    #[error("shards is {shards}; at most {max} shards are supported in v1")]
    TooManyShards {
        /// The shard count.
        shards: u32,
        /// [`SINGLE_RING_V1_MAX_SHARDS`].
        max: u32,
    },
    /// Stages × shards above [`PIPELINE_V1_MAX_THREADS`].
    #[error("{stages} stages on {shards} shards run {threads} stage threads; a pipeline runs at most {max} threads in v1")]
    TooManyThreads {
        /// Stages in the spec.
        stages: usize,
        /// The shard count.
        shards: u32,
        /// Stages × shards.
        threads: u64,
        /// [`PIPELINE_V1_MAX_THREADS`].
        max: usize,
    },
    /// Ring memory (capacity × slot size × shards) above [`RING_V1_MAX_BYTES`], once a slot
    /// size is bound.
    #[error("{capacity} slots of {slot_size} bytes on {shards} shards need {bytes} bytes of ring memory; at most {max} in v1")]
    RingTooLarge {
        /// Slots per ring.
        capacity: u32,
        /// Slot size in bytes.
        slot_size: u32,
        /// The shard count.
        shards: u32,
        /// Capacity × slot size × shards.
        bytes: u128,
        /// [`RING_V1_MAX_BYTES`].
        max: u64,
    },
    /// `ordering = strict` with several shards.
    #[error("ordering strict requires exactly 1 shard, found {shards}")]
    StrictWithShards {
        /// The shard count.
        shards: u32,
    },
    /// Several shards but no (or an empty) shard key.
    #[error("shard_key is required when shards = {shards}")]
    MissingShardKey {
        /// The shard count.
        shards: u32,
    },
    /// A shard key on a ring that does not shard.
    #[error("shard_key `{key}` is set but shards = {shards}")]
    UnexpectedShardKey {
        /// The key.
        key: String,
        /// The shard count.
        shards: u32,
    },
    /// Slot size and alignment do not describe a slot.
    #[error(
        "slot geometry size {size} / align {align} is invalid: align must be 0 (unbound, with \
         size 0) or a power of two dividing size"
    )]
    SlotGeometry {
        /// Slot size.
        size: u32,
        /// Slot alignment.
        align: u32,
    },

    /// A lane, role or endpoint refers to a lane id that does not exist.
    #[error("{item} refers to lane id {lane}, which does not exist")]
    UnknownLane {
        /// The referring item, as ``role `x` `` or ``endpoint `y` ``.
        item: String,
        /// The missing lane id.
        lane: u32,
    },
    /// A lane names a writer or reader that does not exist.
    #[error("lane `{lane}` names {end} as its {position}, which does not exist")]
    UnknownLaneEnd {
        /// The lane.
        lane: String,
        /// The missing end.
        end: LaneEnd,
        /// `writer` or `reader`.
        position: &'static str,
    },
    /// A lane's writer does not write it (a role without it in `outputs`, or an endpoint that
    /// is not an ingress on this lane).
    #[error("lane `{lane}` names `{writer}` as its writer, but `{writer}` does not write it")]
    WriterDoesNotWrite {
        /// The lane.
        lane: String,
        /// The named writer.
        writer: String,
    },
    /// A role or endpoint writes a lane whose writer is someone else (lanes have one writer).
    #[error("`{by}` writes lane `{lane}`, but the lane's writer is `{writer}`")]
    ExtraWriter {
        /// The lane.
        lane: String,
        /// The role or endpoint that also claims to write it.
        by: String,
        /// The lane's declared writer.
        writer: String,
    },
    /// A lane's reader does not read it.
    #[error("lane `{lane}` names `{reader}` as a reader, but `{reader}` does not read it")]
    ReaderDoesNotRead {
        /// The lane.
        lane: String,
        /// The named reader.
        reader: String,
    },
    /// A role or endpoint reads a lane that does not list it as a reader.
    #[error("`{by}` reads lane `{lane}`, but the lane does not list it as a reader")]
    NotAReader {
        /// The lane.
        lane: String,
        /// The role or endpoint.
        by: String,
    },
    /// A lane lists one reader twice.
    #[error("lane `{lane}` lists reader `{reader}` more than once")]
    DuplicateReader {
        /// The lane.
        lane: String,
        /// The repeated reader.
        reader: String,
    },
    /// A point-to-point lane (any kind but `fanout_broadcast`) without exactly one reader.
    #[error("{kind} lane `{lane}` has {readers} readers; it needs exactly 1")]
    PointLaneReaders {
        /// The lane.
        lane: String,
        /// Its kind.
        kind: LaneKind,
        /// Its reader count.
        readers: usize,
    },
    /// A broadcast lane with no readers or more than [`FANOUT_V1_MAX_CONSUMERS`].
    #[error("fanout_broadcast lane `{lane}` has {readers} readers; it needs 1..={max}")]
    BroadcastReaders {
        /// The lane.
        lane: String,
        /// Its reader count.
        readers: usize,
        /// [`FANOUT_V1_MAX_CONSUMERS`].
        max: usize,
    },
    /// A lane capacity the lane kind cannot have.
    #[error("{kind} lane `{lane}` has capacity {capacity}; {rule}")]
    LaneCapacity {
        /// The lane.
        lane: String,
        /// Its kind.
        kind: LaneKind,
        /// Its capacity.
        capacity: u32,
        /// What the kind needs.
        rule: &'static str,
    },
    /// A lane capacity above [`RING_V1_MAX_CAPACITY`].
    #[error("lane `{lane}` has capacity {capacity}; a lane holds at most {max} slots in v1")]
    LaneCapacityTooLarge {
        /// The lane.
        lane: String,
        /// Its capacity.
        capacity: u32,
        /// [`RING_V1_MAX_CAPACITY`].
        max: u32,
    },
    /// A `sequenced_slots` lane without the v1 gating.
    #[error("sequenced_slots lane `{lane}` has gating {found}; v1 requires `{required}`")]
    LaneGating {
        /// The lane.
        lane: String,
        /// The gating found (quoted) or `none`.
        found: String,
        /// [`SEQUENCED_SLOTS_V1_GATING`].
        required: &'static str,
    },
    /// A gating mode on a lane kind that has none.
    #[error("{kind} lane `{lane}` has gating `{gating}`; only sequenced_slots lanes are gated")]
    UnexpectedGating {
        /// The lane.
        lane: String,
        /// Its kind.
        kind: LaneKind,
        /// The gating found.
        gating: String,
    },
    /// A lane kind whose cargo feature is not compiled into this build.
    #[error("lane `{lane}` has kind {kind}, which needs cargo feature `{feature}`")]
    LaneKindDisabled {
        /// The lane.
        lane: String,
        /// Its kind.
        kind: LaneKind,
        /// The missing feature.
        feature: &'static str,
    },
    /// A stage role without a stage.
    #[error("stage role `{role}` does not name a stage")]
    StageRoleWithoutStage {
        /// The role.
        role: String,
    },
    /// A stage role naming a stage id that does not exist.
    #[error("stage role `{role}` names stage id {stage}, which does not exist")]
    UnknownStage {
        /// The role.
        role: String,
        /// The missing stage id.
        stage: u32,
    },
    /// An inserted role (bridge, router, merge) that names a stage.
    #[error("{kind} role `{role}` names stage id {stage}; only stage roles run stages")]
    InsertedRoleWithStage {
        /// The role.
        role: String,
        /// Its kind.
        kind: RoleKind,
        /// The stage id it names.
        stage: u32,
    },
    /// A stage run by no role, or by several.
    #[error("stage `{stage}` is run by {roles} roles; it needs exactly 1")]
    StageRoleCount {
        /// The stage.
        stage: String,
        /// How many stage roles name it.
        roles: usize,
    },
    /// A role reading or writing the wrong number of lanes for its kind.
    #[error("{kind} role `{role}` reads {inputs} and writes {outputs} lanes; {rule}")]
    RoleShape {
        /// The role.
        role: String,
        /// Its kind.
        kind: RoleKind,
        /// Lanes it reads.
        inputs: usize,
        /// Lanes it writes.
        outputs: usize,
        /// What its kind needs.
        rule: &'static str,
    },
    /// A router or merge touching lanes of different kinds (only bridges change kinds).
    #[error(
        "{kind} role `{role}` handles {expected} lanes but lane `{lane}` is {found}; \
         only bridges change lane kinds"
    )]
    MixedLaneKinds {
        /// The role.
        role: String,
        /// Its kind.
        kind: RoleKind,
        /// The kind of its first lane (inputs first, then outputs).
        expected: LaneKind,
        /// The lane of another kind.
        lane: String,
        /// That lane's kind.
        found: LaneKind,
    },
    /// More roles than [`PIPELINE_V1_MAX_THREADS`]: each role is a thread.
    #[error(
        "lane graph has {roles} roles, each a thread; a pipeline runs at most {max} threads in v1"
    )]
    TooManyRoles {
        /// Roles in the spec.
        roles: usize,
        /// [`PIPELINE_V1_MAX_THREADS`].
        max: usize,
    },
    /// Roles that feed each other in a loop.
    #[error("role cycle: {}", cycle_text(.cycle, .omitted))]
    RoleCycle {
        /// The roles along the cycle from its lowest role id, that role repeated at the end. A
        /// cycle of more than 32 roles is listed by its first 16 and last 16 roles: the
        /// `omitted` ones come between `cycle[15]` and `cycle[16]`.
        cycle: Vec<String>,
        /// Roles of the cycle left out of `cycle` (0 for a cycle of at most 32 roles).
        omitted: usize,
    },
    /// Role cycles found beyond the ones listed.
    #[error("… and {count} more role cycles; only the first {listed} are listed")]
    MoreRoleCycles {
        /// Cycles found but not listed.
        count: usize,
        /// How many were listed.
        listed: usize,
    },
}

/// Every violation found in a spec, in order of discovery. Never empty.
///
/// `Display` prints one violation per line.
pub type SpecErrors = Violations<SpecViolation>;

/// Checks a spec on its own and reports every violation.
///
/// # Names and limits
///
/// The pipeline name, stage names and kinds, boundary (endpoint) names and the shard key follow
/// the plan name rule: 1 to [`NAME_V1_MAX_BYTES`] bytes of ASCII letters, digits, `_` and `-`.
/// Role and lane names may also hold the punctuation lowering uses for the names it generates:
/// role names `.` and `*` (`router.parse`, `bridge.router.parse.*`), up to
/// [`ROLE_NAME_V1_MAX_BYTES`]; lane names also `>` (`parse->router.parse`), up to
/// [`LANE_NAME_V1_MAX_BYTES`]. Parameter names are at most [`NAME_V1_MAX_BYTES`] bytes and
/// values nest at most [`PARAM_V1_MAX_DEPTH`] levels.
///
/// A ring holds at most [`RING_V1_MAX_CAPACITY`] slots (a lane too), on at most
/// [`SINGLE_RING_V1_MAX_SHARDS`] shards; stages × shards, or a lane graph's roles, are at most
/// [`PIPELINE_V1_MAX_THREADS`]; and once a slot size is bound, capacity × slot size × shards is
/// at most [`RING_V1_MAX_BYTES`].
///
/// # Cost
///
/// Time and memory are linear in the spec (up to a logarithmic factor), and so is the output:
/// names in violations are labels of bounded length with unprintable characters escaped; a
/// reader, input or output listed many times is reported once; the first 16 role cycles are
/// listed (a long one by its ends) and the rest counted.
///
/// # Examples
///
/// ```
/// use byteor_model::plan::{PipelinePlanV2, StageDecl};
/// use byteor_model::spec::{validate_v1, SpecViolation, TopologySpec};
///
/// let plan = PipelinePlanV2::single_ring("orders")
///     .with_ingress("orders_in")
///     .with_egress("fills_out")
///     .with_stage(StageDecl::new("parse"))
///     .with_stage(StageDecl::new("risk").after("parse"));
/// let mut spec = byteor_model::lower::lower_v2(&plan)?;
/// assert!(validate_v1(&spec).is_ok());
///
/// // Break two rules: a capacity that is not a power of two, a mask naming a later stage.
/// if let TopologySpec::SingleRing(ring) = &mut spec.topology {
///     ring.capacity = 1000;
///     ring.deps[0] = 0b10;
/// }
/// let errors = validate_v1(&spec).unwrap_err();
/// assert!(errors.iter().any(|v| matches!(v, SpecViolation::RingCapacity { capacity: 1000 })));
/// assert!(errors
///     .iter()
///     .any(|v| matches!(v, SpecViolation::DependencyNotEarlier { stage, .. } if stage == "parse")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn validate_v1(spec: &PipelineSpecV1) -> Result<(), SpecErrors> {
    let mut out = Vec::new();
    check_stages(spec, &mut out);
    match &spec.topology {
        TopologySpec::SingleRing(ring) => check_single_ring(spec, ring, &mut out),
        TopologySpec::LaneGraph(graph) => check_lane_graph(spec, graph, &mut out),
    }
    Violations::check(out)
}

/// The name of stage `index` (as a label), or `#index` when there is no such stage.
fn stage_label(spec: &PipelineSpecV1, index: usize) -> String {
    match spec.stages.get(index) {
        Some(s) => NameKind::Plan.label(&s.name),
        None => format!("#{index}"),
    }
}

fn check_stages(spec: &PipelineSpecV1, out: &mut Vec<SpecViolation>) {
    if spec.name.is_empty() {
        out.push(SpecViolation::EmptyName {
            item: "pipeline".to_owned(),
        });
    } else {
        check_name(
            out,
            NameKind::Plan,
            || "pipeline name".to_owned(),
            &spec.name,
        );
    }
    let mut seen = BTreeSet::new();
    let mut reported = BTreeSet::new();
    for (index, stage) in spec.stages.iter().enumerate() {
        if usize::try_from(stage.id).ok() != Some(index) {
            out.push(SpecViolation::IdMismatch {
                table: "stage",
                name: NameKind::Plan.label(&stage.name),
                index,
                id: stage.id,
            });
        }
        if stage.name.is_empty() {
            out.push(SpecViolation::EmptyName {
                item: format!("stage {index}"),
            });
        } else {
            check_name(
                out,
                NameKind::Plan,
                || format!("stage {index} name"),
                &stage.name,
            );
            if !seen.insert(stage.name.as_str()) && reported.insert(stage.name.as_str()) {
                out.push(SpecViolation::DuplicateName {
                    namespace: "stage",
                    name: NameKind::Plan.label(&stage.name),
                });
            }
        }
        if stage.kind.is_empty() {
            out.push(SpecViolation::EmptyStageKind {
                stage: stage_label(spec, index),
            });
        } else {
            check_name(
                out,
                NameKind::Plan,
                || format!("stage {index} kind"),
                &stage.kind,
            );
        }
        for (param, value) in &stage.params {
            if param.len() > NAME_V1_MAX_BYTES {
                out.push(SpecViolation::ParamNameTooLong {
                    stage: stage_label(spec, index),
                    param: NameKind::Plan.label(param),
                    len: param.len(),
                    max: NAME_V1_MAX_BYTES,
                });
            }
            let depth = value.depth();
            if depth > PARAM_V1_MAX_DEPTH {
                out.push(SpecViolation::ParamTooDeep {
                    stage: stage_label(spec, index),
                    param: NameKind::Plan.label(param),
                    depth,
                    max: PARAM_V1_MAX_DEPTH,
                });
            }
        }
    }
}

fn check_single_ring(spec: &PipelineSpecV1, ring: &SingleRingSpec, out: &mut Vec<SpecViolation>) {
    let n = spec.stages.len();
    if n == 0 || n > SINGLE_RING_V1_MAX_STAGES {
        out.push(SpecViolation::StageCount {
            count: n,
            max: SINGLE_RING_V1_MAX_STAGES,
        });
    }
    for (item, name) in [
        ("single_ring ingress", &ring.ingress),
        ("single_ring egress", &ring.egress),
    ] {
        if name.is_empty() {
            out.push(SpecViolation::EmptyName {
                item: item.to_owned(),
            });
        } else {
            check_name(out, NameKind::Plan, || item.to_owned(), name);
        }
    }
    if ring.deps.len() != n {
        out.push(SpecViolation::DepsLength {
            deps: ring.deps.len(),
            stages: n,
        });
    }
    for (i, &mask) in ring.deps.iter().enumerate() {
        for bit in set_bits(mask) {
            if bit as usize >= i {
                out.push(SpecViolation::DependencyNotEarlier {
                    stage: stage_label(spec, i),
                    dependency: bit,
                });
            }
        }
    }

    // Stages some other stage depends on; the first dependent of each names the offender.
    let mut dependent_of: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, &mask) in ring.deps.iter().enumerate() {
        for bit in set_bits(mask) {
            dependent_of.entry(bit).or_insert(i);
        }
    }
    for bit in set_bits(ring.final_mask) {
        if bit as usize >= n {
            out.push(SpecViolation::FinalMaskOutOfRange { bit });
        } else if let Some(&dependent) = dependent_of.get(&bit) {
            out.push(SpecViolation::NotFinal {
                stage: stage_label(spec, bit as usize),
                dependent: stage_label(spec, dependent),
            });
        }
    }
    for j in 0..n.min(32) {
        let bit = j as u32;
        if !dependent_of.contains_key(&bit) && ring.final_mask & (1u32 << bit) == 0 {
            out.push(SpecViolation::FinalStageMissing {
                stage: stage_label(spec, j),
            });
        }
    }

    if ring.capacity < 2 || !ring.capacity.is_power_of_two() {
        out.push(SpecViolation::RingCapacity {
            capacity: ring.capacity,
        });
    }
    if ring.capacity > RING_V1_MAX_CAPACITY {
        out.push(SpecViolation::RingCapacityTooLarge {
            capacity: ring.capacity,
            max: RING_V1_MAX_CAPACITY,
        });
    }
    if ring.shards == 0 {
        out.push(SpecViolation::ZeroShards);
    }
    if ring.shards > SINGLE_RING_V1_MAX_SHARDS {
        out.push(SpecViolation::TooManyShards {
            shards: ring.shards,
            max: SINGLE_RING_V1_MAX_SHARDS,
        });
    }
    let threads = n as u64 * u64::from(ring.shards);
    if threads > PIPELINE_V1_MAX_THREADS as u64 {
        out.push(SpecViolation::TooManyThreads {
            stages: n,
            shards: ring.shards,
            threads,
            max: PIPELINE_V1_MAX_THREADS,
        });
    }
    if ring.ordering == OrderingMode::Strict && ring.shards > 1 {
        out.push(SpecViolation::StrictWithShards {
            shards: ring.shards,
        });
    }
    match &ring.shard_key {
        Some(key) if ring.shards <= 1 => out.push(SpecViolation::UnexpectedShardKey {
            key: NameKind::Plan.label(key),
            shards: ring.shards,
        }),
        Some(key) if key.is_empty() => out.push(SpecViolation::MissingShardKey {
            shards: ring.shards,
        }),
        Some(key) => check_name(
            out,
            NameKind::Plan,
            || "single_ring shard_key".to_owned(),
            key,
        ),
        None if ring.shards > 1 => out.push(SpecViolation::MissingShardKey {
            shards: ring.shards,
        }),
        None => {}
    }
    let slot = ring.slot;
    let slot_ok = if slot.align == 0 {
        slot.size == 0
    } else {
        slot.align.is_power_of_two() && slot.size % slot.align == 0
    };
    if !slot_ok {
        out.push(SpecViolation::SlotGeometry {
            size: slot.size,
            align: slot.align,
        });
    }
    // Each factor is a u32, so the product fits a u128.
    let bytes = u128::from(ring.capacity) * u128::from(slot.size) * u128::from(ring.shards);
    if bytes > u128::from(RING_V1_MAX_BYTES) {
        out.push(SpecViolation::RingTooLarge {
            capacity: ring.capacity,
            slot_size: slot.size,
            shards: ring.shards,
            bytes,
            max: RING_V1_MAX_BYTES,
        });
    }
}

/// Indices of the set bits of `mask`, ascending.
fn set_bits(mask: u32) -> impl Iterator<Item = u32> {
    (0..32u32).filter(move |b| mask & (1u32 << b) != 0)
}

/// Name lookups that never index out of range, and the lane memberships each side of a lane
/// claims, indexed once so that checking them costs linear time.
struct Names<'a> {
    graph: &'a LaneGraphSpec,
    /// `(lane, reader)` for every reader a lane lists.
    lane_readers: HashSet<(u32, LaneEnd)>,
    /// `(role, lane)` for every lane a role lists as an input.
    role_inputs: HashSet<(u32, u32)>,
    /// `(role, lane)` for every lane a role lists as an output.
    role_outputs: HashSet<(u32, u32)>,
}

impl<'a> Names<'a> {
    fn new(graph: &'a LaneGraphSpec) -> Self {
        let lane_readers = (graph.lanes.iter().enumerate())
            .flat_map(|(i, lane)| lane.readers.iter().map(move |&r| (i as u32, r)))
            .collect();
        let memberships = |lanes: fn(&super::model::RoleSpec) -> &Vec<u32>| {
            (graph.roles.iter().enumerate())
                .flat_map(|(i, role)| lanes(role).iter().map(move |&l| (i as u32, l)))
                .collect()
        };
        Names {
            graph,
            lane_readers,
            role_inputs: memberships(|r| &r.inputs),
            role_outputs: memberships(|r| &r.outputs),
        }
    }

    fn role(&self, id: u32) -> String {
        match self.graph.roles.get(id as usize) {
            Some(r) => NameKind::Role.label(&r.name),
            None => format!("role:{id}"),
        }
    }

    fn end(&self, end: LaneEnd) -> String {
        match end {
            LaneEnd::Role(id) => self.role(id),
            LaneEnd::Endpoint(id) => match self.graph.endpoints.get(id as usize) {
                Some(e) => NameKind::Plan.label(&e.name),
                None => format!("endpoint:{id}"),
            },
        }
    }

    fn lane(&self, id: u32) -> String {
        match self.graph.lanes.get(id as usize) {
            Some(l) => NameKind::Lane.label(&l.name),
            None => format!("lane:{id}"),
        }
    }

    /// Whether lane `lane` lists `reader` among its readers.
    fn lists_reader(&self, lane: u32, reader: LaneEnd) -> bool {
        self.lane_readers.contains(&(lane, reader))
    }
}

fn check_lane_graph(spec: &PipelineSpecV1, graph: &LaneGraphSpec, out: &mut Vec<SpecViolation>) {
    let names = Names::new(graph);
    if spec.stages.is_empty() {
        out.push(SpecViolation::NoStages);
    }
    check_lane_graph_ids_and_names(graph, out);
    check_lanes(graph, &names, out);
    check_roles(spec, graph, &names, out);
    check_endpoints(graph, &names, out);
    check_role_cycles(graph, &names, out);
    if graph.roles.len() > PIPELINE_V1_MAX_THREADS {
        out.push(SpecViolation::TooManyRoles {
            roles: graph.roles.len(),
            max: PIPELINE_V1_MAX_THREADS,
        });
    }
}

fn check_lane_graph_ids_and_names(graph: &LaneGraphSpec, out: &mut Vec<SpecViolation>) {
    let ids = graph
        .lanes
        .iter()
        .map(|l| ("lane", l.id, &l.name, NameKind::Lane))
        .enumerate()
        .chain(
            graph
                .roles
                .iter()
                .map(|r| ("role", r.id, &r.name, NameKind::Role))
                .enumerate(),
        )
        .chain(
            graph
                .endpoints
                .iter()
                .map(|e| ("endpoint", e.id, &e.name, NameKind::Plan))
                .enumerate(),
        );
    for (index, (table, id, name, kind)) in ids {
        if usize::try_from(id).ok() != Some(index) {
            out.push(SpecViolation::IdMismatch {
                table,
                name: kind.label(name),
                index,
                id,
            });
        }
        if name.is_empty() {
            out.push(SpecViolation::EmptyName {
                item: format!("{table} {index}"),
            });
        } else {
            check_name(out, kind, || format!("{table} {index} name"), name);
        }
    }

    let mut duplicates = |namespace: &'static str, names: Vec<(&String, NameKind)>| {
        let mut seen = BTreeSet::new();
        let mut reported = BTreeSet::new();
        for (name, kind) in names {
            if !name.is_empty() && !seen.insert(name) && reported.insert(name) {
                out.push(SpecViolation::DuplicateName {
                    namespace,
                    name: kind.label(name),
                });
            }
        }
    };
    duplicates(
        "lane",
        graph
            .lanes
            .iter()
            .map(|l| (&l.name, NameKind::Lane))
            .collect(),
    );
    duplicates(
        "role/endpoint",
        graph
            .roles
            .iter()
            .map(|r| (&r.name, NameKind::Role))
            .chain(graph.endpoints.iter().map(|e| (&e.name, NameKind::Plan)))
            .collect(),
    );
}

fn check_lanes(graph: &LaneGraphSpec, names: &Names<'_>, out: &mut Vec<SpecViolation>) {
    for (index, lane) in graph.lanes.iter().enumerate() {
        let id = index as u32;
        let lane_name = || NameKind::Lane.label(&lane.name);

        // The writer exists and writes this lane.
        match lane.writer {
            LaneEnd::Role(r) => match graph.roles.get(r as usize) {
                None => out.push(SpecViolation::UnknownLaneEnd {
                    lane: lane_name(),
                    end: lane.writer,
                    position: "writer",
                }),
                Some(_) if !names.role_outputs.contains(&(r, id)) => {
                    out.push(SpecViolation::WriterDoesNotWrite {
                        lane: lane_name(),
                        writer: names.role(r),
                    })
                }
                Some(_) => {}
            },
            LaneEnd::Endpoint(e) => match graph.endpoints.get(e as usize) {
                None => out.push(SpecViolation::UnknownLaneEnd {
                    lane: lane_name(),
                    end: lane.writer,
                    position: "writer",
                }),
                Some(ep) if ep.direction != EndpointDirection::Ingress || ep.lane != id => out
                    .push(SpecViolation::WriterDoesNotWrite {
                        lane: lane_name(),
                        writer: names.end(lane.writer),
                    }),
                Some(_) => {}
            },
        }

        // Every reader exists, reads this lane, and appears once (a repeat is reported once).
        let mut seen = BTreeSet::new();
        let mut repeated = BTreeSet::new();
        for &reader in &lane.readers {
            if !seen.insert(reader) {
                if repeated.insert(reader) {
                    out.push(SpecViolation::DuplicateReader {
                        lane: lane_name(),
                        reader: names.end(reader),
                    });
                }
                continue;
            }
            let reads = match reader {
                LaneEnd::Role(r) => graph
                    .roles
                    .get(r as usize)
                    .map(|_| names.role_inputs.contains(&(r, id))),
                LaneEnd::Endpoint(e) => graph
                    .endpoints
                    .get(e as usize)
                    .map(|ep| ep.direction == EndpointDirection::Egress && ep.lane == id),
            };
            match reads {
                None => out.push(SpecViolation::UnknownLaneEnd {
                    lane: lane_name(),
                    end: reader,
                    position: "reader",
                }),
                Some(false) => out.push(SpecViolation::ReaderDoesNotRead {
                    lane: lane_name(),
                    reader: names.end(reader),
                }),
                Some(true) => {}
            }
        }

        // Reader count by kind.
        let readers = lane.readers.len();
        if lane.kind == LaneKind::FanoutBroadcast {
            if readers == 0 || readers > FANOUT_V1_MAX_CONSUMERS {
                out.push(SpecViolation::BroadcastReaders {
                    lane: lane_name(),
                    readers,
                    max: FANOUT_V1_MAX_CONSUMERS,
                });
            }
        } else if readers != 1 {
            out.push(SpecViolation::PointLaneReaders {
                lane: lane_name(),
                kind: lane.kind,
                readers,
            });
        }

        // Capacity and gating by kind.
        if lane.kind == LaneKind::SequencedSlots {
            if lane.capacity == 0 {
                out.push(SpecViolation::LaneCapacity {
                    lane: lane_name(),
                    kind: lane.kind,
                    capacity: lane.capacity,
                    rule: "sequenced_slots lanes need a capacity > 0",
                });
            }
            if lane.gating.as_deref() != Some(SEQUENCED_SLOTS_V1_GATING) {
                out.push(SpecViolation::LaneGating {
                    lane: lane_name(),
                    found: match &lane.gating {
                        Some(g) => format!("`{}`", NameKind::Plan.label(g)),
                        None => "none".to_owned(),
                    },
                    required: SEQUENCED_SLOTS_V1_GATING,
                });
            }
        } else {
            if !lane.capacity.is_power_of_two() {
                out.push(SpecViolation::LaneCapacity {
                    lane: lane_name(),
                    kind: lane.kind,
                    capacity: lane.capacity,
                    rule: "this kind needs a power-of-two capacity",
                });
            }
            if let Some(gating) = &lane.gating {
                out.push(SpecViolation::UnexpectedGating {
                    lane: lane_name(),
                    kind: lane.kind,
                    gating: NameKind::Plan.label(gating),
                });
            }
        }
        if lane.capacity > RING_V1_MAX_CAPACITY {
            out.push(SpecViolation::LaneCapacityTooLarge {
                lane: lane_name(),
                capacity: lane.capacity,
                max: RING_V1_MAX_CAPACITY,
            });
        }
        if let Some(feature) = lane.kind.required_feature() {
            if !lane.kind.is_enabled() {
                out.push(SpecViolation::LaneKindDisabled {
                    lane: lane_name(),
                    kind: lane.kind,
                    feature,
                });
            }
        }
    }
}

/// The distinct entries of `ids`, in first-appearance order.
fn distinct(ids: &[u32]) -> impl Iterator<Item = u32> + '_ {
    let mut seen = HashSet::new();
    ids.iter().copied().filter(move |id| seen.insert(*id))
}

fn check_roles(
    spec: &PipelineSpecV1,
    graph: &LaneGraphSpec,
    names: &Names<'_>,
    out: &mut Vec<SpecViolation>,
) {
    let mut roles_per_stage = vec![0usize; spec.stages.len()];
    for (index, role) in graph.roles.iter().enumerate() {
        let me = LaneEnd::Role(index as u32);
        let role_name = || NameKind::Role.label(&role.name);

        // The stage link.
        match (role.kind, role.stage) {
            (RoleKind::Stage, None) => {
                out.push(SpecViolation::StageRoleWithoutStage { role: role_name() })
            }
            (RoleKind::Stage, Some(stage)) => match roles_per_stage.get_mut(stage as usize) {
                Some(count) => *count += 1,
                None => out.push(SpecViolation::UnknownStage {
                    role: role_name(),
                    stage,
                }),
            },
            (kind, Some(stage)) => out.push(SpecViolation::InsertedRoleWithStage {
                role: role_name(),
                kind,
                stage,
            }),
            (_, None) => {}
        }

        // Shape.
        let (inputs, outputs) = (role.inputs.len(), role.outputs.len());
        let (shape_ok, rule) = match role.kind {
            RoleKind::Stage => (
                inputs == 1 && outputs == 1,
                "a stage role reads exactly 1 lane and writes exactly 1",
            ),
            RoleKind::Bridge => (
                inputs == 1 && outputs == 1,
                "a bridge reads exactly 1 lane and writes exactly 1",
            ),
            RoleKind::Router => (
                inputs == 1 && outputs >= 2,
                "a router reads exactly 1 lane and writes 2 or more",
            ),
            RoleKind::Merge => (
                inputs >= 2 && outputs == 1,
                "a merge reads 2 or more lanes and writes exactly 1",
            ),
        };
        if !shape_ok {
            out.push(SpecViolation::RoleShape {
                role: role_name(),
                kind: role.kind,
                inputs,
                outputs,
                rule,
            });
        }

        // Every lane it reads lists it as a reader; every lane it writes names it as writer.
        // A lane listed several times is judged once.
        for lane_id in distinct(&role.inputs) {
            match graph.lanes.get(lane_id as usize) {
                None => out.push(SpecViolation::UnknownLane {
                    item: format!("role `{}`", role_name()),
                    lane: lane_id,
                }),
                Some(_) if !names.lists_reader(lane_id, me) => {
                    out.push(SpecViolation::NotAReader {
                        lane: names.lane(lane_id),
                        by: role_name(),
                    })
                }
                Some(_) => {}
            }
        }
        for lane_id in distinct(&role.outputs) {
            match graph.lanes.get(lane_id as usize) {
                None => out.push(SpecViolation::UnknownLane {
                    item: format!("role `{}`", role_name()),
                    lane: lane_id,
                }),
                Some(lane) if lane.writer != me => out.push(SpecViolation::ExtraWriter {
                    lane: names.lane(lane_id),
                    by: role_name(),
                    writer: names.end(lane.writer),
                }),
                Some(_) => {}
            }
        }

        // Routers and merges move events within one lane kind.
        if matches!(role.kind, RoleKind::Router | RoleKind::Merge) {
            let mut seen = HashSet::new();
            let mut lanes = role
                .inputs
                .iter()
                .chain(&role.outputs)
                .filter(|&&l| seen.insert(l))
                .filter_map(|&l| graph.lanes.get(l as usize).map(|lane| (l, lane)));
            if let Some((_, first)) = lanes.next() {
                for (id, lane) in lanes {
                    if lane.kind != first.kind {
                        out.push(SpecViolation::MixedLaneKinds {
                            role: role_name(),
                            kind: role.kind,
                            expected: first.kind,
                            lane: names.lane(id),
                            found: lane.kind,
                        });
                    }
                }
            }
        }
    }
    for (stage, &roles) in roles_per_stage.iter().enumerate() {
        if roles != 1 {
            out.push(SpecViolation::StageRoleCount {
                stage: stage_label(spec, stage),
                roles,
            });
        }
    }
}

fn check_endpoints(graph: &LaneGraphSpec, names: &Names<'_>, out: &mut Vec<SpecViolation>) {
    for (index, ep) in graph.endpoints.iter().enumerate() {
        let me = LaneEnd::Endpoint(index as u32);
        let Some(lane) = graph.lanes.get(ep.lane as usize) else {
            out.push(SpecViolation::UnknownLane {
                item: format!("endpoint `{}`", NameKind::Plan.label(&ep.name)),
                lane: ep.lane,
            });
            continue;
        };
        match ep.direction {
            EndpointDirection::Ingress if lane.writer != me => {
                out.push(SpecViolation::ExtraWriter {
                    lane: names.lane(ep.lane),
                    by: names.end(me),
                    writer: names.end(lane.writer),
                })
            }
            EndpointDirection::Egress if !names.lists_reader(ep.lane, me) => {
                out.push(SpecViolation::NotAReader {
                    lane: names.lane(ep.lane),
                    by: names.end(me),
                })
            }
            _ => {}
        }
    }
}

/// Reports the role cycles closed by back edges of a depth-first walk of the role graph (role
/// `a` feeds role `b` when `a` writes a lane `b` reads; the walk starts at roles in id order).
/// Each cycle is reported once, from its lowest role id; the first [`MAX_LISTED_CYCLES`] are
/// listed and the rest counted. Iterative, so a huge spec read from a file cannot overflow the
/// stack.
fn check_role_cycles(graph: &LaneGraphSpec, names: &Names<'_>, out: &mut Vec<SpecViolation>) {
    let n = graph.roles.len();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for lane in &graph.lanes {
        let LaneEnd::Role(w) = lane.writer else {
            continue;
        };
        let w = w as usize;
        if w >= n {
            continue;
        }
        for reader in &lane.readers {
            if let LaneEnd::Role(r) = *reader {
                let r = r as usize;
                if r < n {
                    next[w].push(r);
                }
            }
        }
    }
    // Roles joined by several lanes (or a reader listed twice) are one edge of the walk.
    for successors in &mut next {
        successors.sort_unstable();
        successors.dedup();
    }
    let found = find_cycles(&next);
    for cycle in found.listed {
        out.push(SpecViolation::RoleCycle {
            cycle: cycle.nodes.iter().map(|&r| names.role(r as u32)).collect(),
            omitted: cycle.omitted,
        });
    }
    if found.more > 0 {
        out.push(SpecViolation::MoreRoleCycles {
            count: found.more,
            listed: MAX_LISTED_CYCLES,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lower::lower_v2;
    use crate::plan::ParamValue;
    use crate::plan::{Connection, LaneIntent, PipelinePlanV2, StageDecl};
    use crate::spec::model::{LaneSpec, RoleSpec};

    /// parse -> risk, parse -> audit (a fan-out over one slot), strict, one shard.
    fn ring_spec() -> PipelineSpecV1 {
        let plan = PipelinePlanV2::single_ring("orders")
            .with_ingress("orders_in")
            .with_egress("fills_out")
            .with_stage(StageDecl::new("parse"))
            .with_stage(StageDecl::new("risk").after("parse"))
            .with_stage(StageDecl::new("audit").after("parse"));
        lower_v2(&plan).expect("valid ring plan")
    }

    /// Roles: 0 parse, 1 price, 2 risk, 3 book, 4 router.parse, 5 bridge.router.parse.risk,
    /// 6 merge.book. Lanes: 0 orders_in->parse, 1 parse->router.parse, 2 router.parse->price,
    /// 3 router.parse->bridge.., 4 bridge..->risk (sequenced_slots), 5 price->merge.book,
    /// 6 risk->merge.book, 7 book->fills_out, 8 merge.book->book.
    fn graph_spec() -> PipelineSpecV1 {
        let plan = PipelinePlanV2::lane_graph("plant")
            .with_ingress("orders_in")
            .with_egress("fills_out")
            .with_stage(StageDecl::new("parse"))
            .with_stage(StageDecl::new("price"))
            .with_stage(StageDecl::new("risk"))
            .with_stage(StageDecl::new("book"))
            .with_connection(Connection::new("orders_in", "parse"))
            .with_connection(Connection::new("parse", "price"))
            .with_connection(Connection::new("parse", "risk").lane(LaneIntent::sequenced_slots(64)))
            .with_connection(Connection::new("price", "book"))
            .with_connection(Connection::new("risk", "book"))
            .with_connection(Connection::new("book", "fills_out"));
        let spec = lower_v2(&plan).expect("valid graph plan");
        // The indices the tests below rely on.
        let g = graph(&spec);
        let roles: Vec<&str> = g.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            roles,
            [
                "parse",
                "price",
                "risk",
                "book",
                "router.parse",
                "bridge.router.parse.risk",
                "merge.book"
            ]
        );
        assert_eq!(g.lanes[4].name, "bridge.router.parse.risk->risk");
        assert_eq!(g.lanes[8].name, "merge.book->book");
        spec
    }

    fn ring(spec: &mut PipelineSpecV1) -> &mut SingleRingSpec {
        match &mut spec.topology {
            TopologySpec::SingleRing(r) => r,
            TopologySpec::LaneGraph(_) => panic!("ring expected"),
        }
    }

    fn graph(spec: &PipelineSpecV1) -> &LaneGraphSpec {
        match &spec.topology {
            TopologySpec::LaneGraph(g) => g,
            TopologySpec::SingleRing(_) => panic!("graph expected"),
        }
    }

    fn graph_mut(spec: &mut PipelineSpecV1) -> &mut LaneGraphSpec {
        match &mut spec.topology {
            TopologySpec::LaneGraph(g) => g,
            TopologySpec::SingleRing(_) => panic!("graph expected"),
        }
    }

    fn lane_mut(spec: &mut PipelineSpecV1, id: usize) -> &mut LaneSpec {
        &mut graph_mut(spec).lanes[id]
    }

    fn role_mut(spec: &mut PipelineSpecV1, id: usize) -> &mut RoleSpec {
        &mut graph_mut(spec).roles[id]
    }

    fn violations(spec: &PipelineSpecV1) -> Vec<SpecViolation> {
        match validate_v1(spec) {
            Ok(()) => Vec::new(),
            Err(e) => e.into_vec(),
        }
    }

    /// Asserts `spec` breaks a rule `expected` recognises, and returns that violation's text.
    fn expect(spec: &PipelineSpecV1, expected: impl Fn(&SpecViolation) -> bool) -> String {
        let found = violations(spec);
        match found.iter().find(|v| expected(v)) {
            Some(v) => v.to_string(),
            None => panic!("expected violation not reported; found {found:#?}"),
        }
    }

    #[test]
    fn lowered_fixtures_are_valid() {
        assert_eq!(violations(&ring_spec()), []);
        assert_eq!(violations(&graph_spec()), []);
    }

    #[test]
    fn every_violation_is_reported() {
        let mut spec = ring_spec();
        spec.name.clear();
        ring(&mut spec).capacity = 3;
        ring(&mut spec).shards = 0;
        let errors = validate_v1(&spec).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors}");
        assert_eq!(errors.to_string().lines().count(), 3);
        assert!(!errors.is_empty());
    }

    #[test]
    fn empty_pipeline_name() {
        let mut spec = ring_spec();
        spec.name.clear();
        let text = expect(
            &spec,
            |v| matches!(v, SpecViolation::EmptyName { item } if item == "pipeline"),
        );
        assert_eq!(text, "pipeline has an empty name");
    }

    #[test]
    fn stage_ids_equal_indices() {
        let mut spec = ring_spec();
        spec.stages[1].id = 7;
        let text = expect(
            &spec,
            |v| matches!(v, SpecViolation::IdMismatch { table: "stage", name, index: 1, id: 7 } if name == "risk"),
        );
        assert!(text.contains("`risk`"), "{text}");
    }

    #[test]
    fn stage_names_are_unique_and_kinds_non_empty() {
        let mut spec = ring_spec();
        spec.stages[2].name = "risk".to_owned();
        spec.stages[0].kind.clear();
        expect(
            &spec,
            |v| matches!(v, SpecViolation::DuplicateName { namespace: "stage", name } if name == "risk"),
        );
        expect(
            &spec,
            |v| matches!(v, SpecViolation::EmptyStageKind { stage } if stage == "parse"),
        );
    }

    #[test]
    fn ring_stage_count() {
        let mut spec = ring_spec();
        let extra = spec.stages[2].clone();
        for i in 3..5 {
            let mut s = extra.clone();
            s.id = i;
            s.name = format!("extra{i}");
            spec.stages.push(s);
            ring(&mut spec).deps.push(0);
        }
        expect(&spec, |v| {
            matches!(v, SpecViolation::StageCount { count: 5, max: 4 })
        });

        let mut empty = ring_spec();
        empty.stages.clear();
        ring(&mut empty).deps.clear();
        ring(&mut empty).final_mask = 0;
        expect(&empty, |v| {
            matches!(v, SpecViolation::StageCount { count: 0, .. })
        });
    }

    #[test]
    fn one_mask_per_stage() {
        let mut spec = ring_spec();
        ring(&mut spec).deps.pop();
        expect(&spec, |v| {
            matches!(v, SpecViolation::DepsLength { deps: 2, stages: 3 })
        });
    }

    #[test]
    fn masks_only_name_earlier_stages() {
        for (mask, dependency) in [(0b010, 1), (0b100, 2), (1 << 20, 20)] {
            let mut spec = ring_spec();
            ring(&mut spec).deps[1] = mask;
            let text = expect(
                &spec,
                |v| matches!(v, SpecViolation::DependencyNotEarlier { stage, dependency: d } if stage == "risk" && *d == dependency),
            );
            assert!(text.contains("`risk`"), "{text}");
        }
    }

    #[test]
    fn final_mask_in_range() {
        let mut spec = ring_spec();
        ring(&mut spec).final_mask |= 1 << 9;
        expect(&spec, |v| {
            matches!(v, SpecViolation::FinalMaskOutOfRange { bit: 9 })
        });
    }

    #[test]
    fn final_mask_holds_every_final_stage() {
        let mut spec = ring_spec();
        ring(&mut spec).final_mask = 0b010; // audit left out
        expect(
            &spec,
            |v| matches!(v, SpecViolation::FinalStageMissing { stage } if stage == "audit"),
        );
    }

    #[test]
    fn final_mask_holds_only_final_stages() {
        let mut spec = ring_spec();
        ring(&mut spec).final_mask = 0b111; // parse is depended on
        let text = expect(
            &spec,
            |v| matches!(v, SpecViolation::NotFinal { stage, dependent } if stage == "parse" && dependent == "risk"),
        );
        assert!(
            text.contains("`parse`") && text.contains("`risk`"),
            "{text}"
        );
    }

    #[test]
    fn ring_capacity_is_a_power_of_two_of_at_least_two() {
        for capacity in [0, 1, 3, 1000] {
            let mut spec = ring_spec();
            ring(&mut spec).capacity = capacity;
            expect(
                &spec,
                |v| matches!(v, SpecViolation::RingCapacity { capacity: c } if *c == capacity),
            );
        }
        let mut spec = ring_spec();
        ring(&mut spec).capacity = 2;
        assert_eq!(violations(&spec), []);
    }

    #[test]
    fn shards_at_least_one() {
        let mut spec = ring_spec();
        ring(&mut spec).shards = 0;
        expect(&spec, |v| matches!(v, SpecViolation::ZeroShards));
    }

    #[test]
    fn strict_ordering_means_one_shard() {
        let mut spec = ring_spec();
        ring(&mut spec).shards = 2;
        ring(&mut spec).shard_key = Some("account".to_owned());
        expect(&spec, |v| {
            matches!(v, SpecViolation::StrictWithShards { shards: 2 })
        });
        ring(&mut spec).ordering = OrderingMode::PerKey;
        assert_eq!(violations(&spec), []);
    }

    #[test]
    fn shard_key_present_iff_sharded() {
        let mut spec = ring_spec();
        ring(&mut spec).ordering = OrderingMode::PerKey;
        ring(&mut spec).shards = 4;
        expect(&spec, |v| {
            matches!(v, SpecViolation::MissingShardKey { shards: 4 })
        });
        ring(&mut spec).shard_key = Some(String::new());
        expect(&spec, |v| {
            matches!(v, SpecViolation::MissingShardKey { shards: 4 })
        });

        let mut spec = ring_spec();
        ring(&mut spec).shard_key = Some("account".to_owned());
        expect(
            &spec,
            |v| matches!(v, SpecViolation::UnexpectedShardKey { key, shards: 1 } if key == "account"),
        );
    }

    #[test]
    fn slot_geometry_is_consistent() {
        for (size, align, ok) in [
            (0, 0, true),
            (64, 8, true),
            (0, 1, true),
            (8, 0, false),
            (12, 8, false),
            (24, 12, false),
        ] {
            let mut spec = ring_spec();
            ring(&mut spec).slot = crate::spec::SlotGeometry { size, align };
            let bad = violations(&spec)
                .iter()
                .any(|v| matches!(v, SpecViolation::SlotGeometry { size: s, align: a } if *s == size && *a == align));
            assert_eq!(bad, !ok, "size {size} align {align}");
        }
    }

    #[test]
    fn ring_boundary_names_are_not_empty() {
        let mut spec = ring_spec();
        ring(&mut spec).egress.clear();
        expect(
            &spec,
            |v| matches!(v, SpecViolation::EmptyName { item } if item == "single_ring egress"),
        );
    }

    #[test]
    fn lane_graph_has_stages() {
        let mut spec = graph_spec();
        spec.stages.clear();
        expect(&spec, |v| matches!(v, SpecViolation::NoStages));
        // Stage roles now name missing stages.
        expect(
            &spec,
            |v| matches!(v, SpecViolation::UnknownStage { role, stage: 0 } if role == "parse"),
        );
    }

    #[test]
    fn lane_role_endpoint_ids_equal_indices() {
        let mut spec = graph_spec();
        lane_mut(&mut spec, 2).id = 5;
        role_mut(&mut spec, 4).id = 0;
        graph_mut(&mut spec).endpoints[1].id = 9;
        expect(
            &spec,
            |v| matches!(v, SpecViolation::IdMismatch { table: "lane", name, index: 2, id: 5 } if name == "router.parse->price"),
        );
        expect(
            &spec,
            |v| matches!(v, SpecViolation::IdMismatch { table: "role", name, index: 4, id: 0 } if name == "router.parse"),
        );
        expect(
            &spec,
            |v| matches!(v, SpecViolation::IdMismatch { table: "endpoint", name, index: 1, id: 9 } if name == "fills_out"),
        );
    }

    #[test]
    fn graph_names_are_unique_and_non_empty() {
        let mut spec = graph_spec();
        lane_mut(&mut spec, 3).name = "orders_in->parse".to_owned();
        role_mut(&mut spec, 6).name = "fills_out".to_owned();
        lane_mut(&mut spec, 1).name.clear();
        expect(
            &spec,
            |v| matches!(v, SpecViolation::DuplicateName { namespace: "lane", name } if name == "orders_in->parse"),
        );
        expect(
            &spec,
            |v| matches!(v, SpecViolation::DuplicateName { namespace: "role/endpoint", name } if name == "fills_out"),
        );
        expect(
            &spec,
            |v| matches!(v, SpecViolation::EmptyName { item } if item == "lane 1"),
        );
    }

    #[test]
    fn lane_ids_in_range() {
        let mut spec = graph_spec();
        role_mut(&mut spec, 1).inputs = vec![42];
        graph_mut(&mut spec).endpoints[0].lane = 77;
        expect(
            &spec,
            |v| matches!(v, SpecViolation::UnknownLane { item, lane: 42 } if item == "role `price`"),
        );
        expect(
            &spec,
            |v| matches!(v, SpecViolation::UnknownLane { item, lane: 77 } if item == "endpoint `orders_in`"),
        );
    }

    #[test]
    fn lane_ends_exist() {
        let mut spec = graph_spec();
        lane_mut(&mut spec, 2).writer = LaneEnd::Role(99);
        lane_mut(&mut spec, 5).readers = vec![LaneEnd::Endpoint(12)];
        expect(
            &spec,
            |v| matches!(v, SpecViolation::UnknownLaneEnd { lane, end: LaneEnd::Role(99), position: "writer" } if lane == "router.parse->price"),
        );
        let text = expect(
            &spec,
            |v| matches!(v, SpecViolation::UnknownLaneEnd { lane, end: LaneEnd::Endpoint(12), position: "reader" } if lane == "price->merge.book"),
        );
        assert!(text.contains("endpoint:12"), "{text}");
    }

    #[test]
    fn the_writer_writes_the_lane() {
        let mut spec = graph_spec();
        // Lane 2 says router.parse writes it, but router.parse lists only lane 3.
        role_mut(&mut spec, 4).outputs = vec![3];
        expect(
            &spec,
            |v| matches!(v, SpecViolation::WriterDoesNotWrite { lane, writer } if lane == "router.parse->price" && writer == "router.parse"),
        );

        // An egress cannot write.
        let mut spec = graph_spec();
        lane_mut(&mut spec, 0).writer = LaneEnd::Endpoint(1);
        expect(
            &spec,
            |v| matches!(v, SpecViolation::WriterDoesNotWrite { lane, writer } if lane == "orders_in->parse" && writer == "fills_out"),
        );
    }

    #[test]
    fn a_lane_has_one_writer() {
        let mut spec = graph_spec();
        // price also claims to write the lane router.parse writes.
        role_mut(&mut spec, 1).outputs.push(2);
        let text = expect(
            &spec,
            |v| matches!(v, SpecViolation::ExtraWriter { lane, by, writer } if lane == "router.parse->price" && by == "price" && writer == "router.parse"),
        );
        assert!(text.contains("`price`"), "{text}");

        // An ingress whose lane someone else writes.
        let mut spec = graph_spec();
        graph_mut(&mut spec).endpoints[0].lane = 1;
        expect(
            &spec,
            |v| matches!(v, SpecViolation::ExtraWriter { lane, by, .. } if lane == "parse->router.parse" && by == "orders_in"),
        );
    }

    #[test]
    fn readers_read_the_lane() {
        let mut spec = graph_spec();
        role_mut(&mut spec, 1).inputs = vec![];
        expect(
            &spec,
            |v| matches!(v, SpecViolation::ReaderDoesNotRead { lane, reader } if lane == "router.parse->price" && reader == "price"),
        );
    }

    #[test]
    fn inputs_are_listed_by_their_lanes() {
        let mut spec = graph_spec();
        role_mut(&mut spec, 1).inputs.push(0);
        expect(
            &spec,
            |v| matches!(v, SpecViolation::NotAReader { lane, by } if lane == "orders_in->parse" && by == "price"),
        );

        let mut spec = graph_spec();
        graph_mut(&mut spec).endpoints[1].lane = 8;
        expect(
            &spec,
            |v| matches!(v, SpecViolation::NotAReader { lane, by } if lane == "merge.book->book" && by == "fills_out"),
        );
    }

    #[test]
    fn readers_are_listed_once() {
        let mut spec = graph_spec();
        lane_mut(&mut spec, 2).readers.push(LaneEnd::Role(1));
        expect(
            &spec,
            |v| matches!(v, SpecViolation::DuplicateReader { lane, reader } if lane == "router.parse->price" && reader == "price"),
        );
    }

    #[test]
    fn point_lanes_have_one_reader() {
        let mut spec = graph_spec();
        lane_mut(&mut spec, 2).readers.push(LaneEnd::Role(2));
        role_mut(&mut spec, 2).inputs.push(2);
        expect(
            &spec,
            |v| matches!(v, SpecViolation::PointLaneReaders { lane, kind: LaneKind::Events, readers: 2 } if lane == "router.parse->price"),
        );
        let mut spec = graph_spec();
        lane_mut(&mut spec, 2).readers.clear();
        expect(&spec, |v| {
            matches!(v, SpecViolation::PointLaneReaders { readers: 0, .. })
        });
    }

    #[test]
    fn broadcast_lanes_have_one_to_max_readers() {
        let mut spec = graph_spec();
        lane_mut(&mut spec, 2).kind = LaneKind::FanoutBroadcast;
        lane_mut(&mut spec, 2).readers.clear();
        expect(
            &spec,
            |v| matches!(v, SpecViolation::BroadcastReaders { lane, readers: 0, max } if lane == "router.parse->price" && *max == FANOUT_V1_MAX_CONSUMERS),
        );

        let mut spec = graph_spec();
        let readers: Vec<LaneEnd> = (0..=FANOUT_V1_MAX_CONSUMERS as u32)
            .map(LaneEnd::Role)
            .collect();
        lane_mut(&mut spec, 2).kind = LaneKind::FanoutBroadcast;
        lane_mut(&mut spec, 2).readers = readers;
        expect(
            &spec,
            |v| matches!(v, SpecViolation::BroadcastReaders { readers, .. } if *readers == FANOUT_V1_MAX_CONSUMERS + 1),
        );
    }

    #[test]
    fn lane_capacity_fits_the_kind() {
        let mut spec = graph_spec();
        lane_mut(&mut spec, 2).capacity = 1000;
        lane_mut(&mut spec, 4).capacity = 0;
        expect(
            &spec,
            |v| matches!(v, SpecViolation::LaneCapacity { lane, kind: LaneKind::Events, capacity: 1000, .. } if lane == "router.parse->price"),
        );
        expect(
            &spec,
            |v| matches!(v, SpecViolation::LaneCapacity { lane, kind: LaneKind::SequencedSlots, capacity: 0, .. } if lane == "bridge.router.parse.risk->risk"),
        );
        // Any positive capacity suits sequenced slots.
        let mut spec = graph_spec();
        lane_mut(&mut spec, 4).capacity = 100;
        assert_eq!(violations(&spec), []);
    }

    #[test]
    fn sequenced_slots_carry_the_v1_gating() {
        let mut spec = graph_spec();
        lane_mut(&mut spec, 4).gating = Some("any_reader".to_owned());
        let text = expect(
            &spec,
            |v| matches!(v, SpecViolation::LaneGating { lane, found, .. } if lane == "bridge.router.parse.risk->risk" && found == "`any_reader`"),
        );
        assert!(text.contains(SEQUENCED_SLOTS_V1_GATING), "{text}");
        lane_mut(&mut spec, 4).gating = None;
        expect(
            &spec,
            |v| matches!(v, SpecViolation::LaneGating { found, .. } if found == "none"),
        );

        let mut spec = graph_spec();
        lane_mut(&mut spec, 2).gating = Some(SEQUENCED_SLOTS_V1_GATING.to_owned());
        expect(
            &spec,
            |v| matches!(v, SpecViolation::UnexpectedGating { lane, kind: LaneKind::Events, .. } if lane == "router.parse->price"),
        );
    }

    #[test]
    fn lane_kinds_need_their_features() {
        let mut spec = graph_spec();
        lane_mut(&mut spec, 7).kind = LaneKind::Journal;
        let disabled = violations(&spec).into_iter().find(|v| {
            matches!(v, SpecViolation::LaneKindDisabled { lane, kind: LaneKind::Journal, feature: "lane_graph_journal" } if lane == "book->fills_out")
        });
        assert_eq!(disabled.is_some(), !cfg!(feature = "lane_graph_journal"));
    }

    #[test]
    fn stage_roles_run_existing_stages() {
        let mut spec = graph_spec();
        role_mut(&mut spec, 1).stage = None;
        expect(
            &spec,
            |v| matches!(v, SpecViolation::StageRoleWithoutStage { role } if role == "price"),
        );
        // ... which leaves stage `price` without a role.
        expect(
            &spec,
            |v| matches!(v, SpecViolation::StageRoleCount { stage, roles: 0 } if stage == "price"),
        );

        let mut spec = graph_spec();
        role_mut(&mut spec, 1).stage = Some(40);
        expect(
            &spec,
            |v| matches!(v, SpecViolation::UnknownStage { role, stage: 40 } if role == "price"),
        );
    }

    #[test]
    fn every_stage_has_exactly_one_role() {
        let mut spec = graph_spec();
        role_mut(&mut spec, 1).stage = Some(0);
        expect(
            &spec,
            |v| matches!(v, SpecViolation::StageRoleCount { stage, roles: 2 } if stage == "parse"),
        );
    }

    #[test]
    fn inserted_roles_run_no_stage() {
        let mut spec = graph_spec();
        role_mut(&mut spec, 6).stage = Some(3);
        expect(
            &spec,
            |v| matches!(v, SpecViolation::InsertedRoleWithStage { role, kind: RoleKind::Merge, stage: 3 } if role == "merge.book"),
        );
    }

    #[test]
    fn role_shapes_follow_their_kind() {
        // A stage reading two lanes.
        let mut spec = graph_spec();
        role_mut(&mut spec, 3).inputs.push(5);
        expect(
            &spec,
            |v| matches!(v, SpecViolation::RoleShape { role, kind: RoleKind::Stage, inputs: 2, outputs: 1, .. } if role == "book"),
        );
        // A router writing one lane.
        let mut spec = graph_spec();
        role_mut(&mut spec, 4).outputs.pop();
        expect(
            &spec,
            |v| matches!(v, SpecViolation::RoleShape { role, kind: RoleKind::Router, outputs: 1, .. } if role == "router.parse"),
        );
        // A merge reading one lane.
        let mut spec = graph_spec();
        role_mut(&mut spec, 6).inputs.pop();
        expect(
            &spec,
            |v| matches!(v, SpecViolation::RoleShape { role, kind: RoleKind::Merge, inputs: 1, .. } if role == "merge.book"),
        );
        // A bridge writing nothing.
        let mut spec = graph_spec();
        role_mut(&mut spec, 5).outputs.clear();
        expect(
            &spec,
            |v| matches!(v, SpecViolation::RoleShape { role, kind: RoleKind::Bridge, outputs: 0, .. } if role == "bridge.router.parse.risk"),
        );
    }

    #[test]
    fn routers_and_merges_keep_one_kind() {
        let mut spec = graph_spec();
        lane_mut(&mut spec, 6).kind = LaneKind::SequencedSlots;
        lane_mut(&mut spec, 6).gating = Some(SEQUENCED_SLOTS_V1_GATING.to_owned());
        let text = expect(
            &spec,
            |v| matches!(v, SpecViolation::MixedLaneKinds { role, kind: RoleKind::Merge, expected: LaneKind::Events, lane, found: LaneKind::SequencedSlots } if role == "merge.book" && lane == "risk->merge.book"),
        );
        assert!(text.contains("only bridges"), "{text}");
    }

    #[test]
    fn role_graph_is_acyclic() {
        let mut spec = graph_spec();
        // Point merge.book's output back at price instead of book: price -> merge.book -> price.
        lane_mut(&mut spec, 8).readers = vec![LaneEnd::Role(1)];
        role_mut(&mut spec, 1).inputs = vec![8];
        lane_mut(&mut spec, 2).readers = vec![LaneEnd::Role(3)];
        role_mut(&mut spec, 3).inputs = vec![2];
        let text = expect(&spec, |v| matches!(v, SpecViolation::RoleCycle { .. }));
        // Listed from the lowest role id.
        assert_eq!(text, "role cycle: price -> merge.book -> price");
    }

    // ---- names and limits -----------------------------------------------------------------

    #[test]
    fn names_follow_their_rules() {
        let mut spec = graph_spec();
        spec.name = "plant\u{0}".to_owned();
        spec.stages[1].name = "pri.ce".to_owned();
        spec.stages[2].kind = "risk kind".to_owned();
        graph_mut(&mut spec).endpoints[0].name = "orders->in".to_owned();
        role_mut(&mut spec, 4).name = "router>parse".to_owned();
        lane_mut(&mut spec, 1).name = "parse->router parse".to_owned();
        let found: Vec<(String, char)> = violations(&spec)
            .into_iter()
            .filter_map(|v| match v {
                SpecViolation::InvalidName {
                    item, character, ..
                } => Some((item, character)),
                _ => None,
            })
            .collect();
        let expected = [
            ("pipeline name", '\u{0}'),
            ("stage 1 name", '.'),
            ("stage 2 kind", ' '),
            ("lane 1 name", ' '),
            ("role 4 name", '>'),
            ("endpoint 0 name", '-'),
        ];
        // `-` is allowed; the endpoint's first bad character is `>`.
        let expected: Vec<(String, char)> = expected
            .iter()
            .map(|&(item, c)| {
                (
                    item.to_owned(),
                    if item.starts_with("endpoint") { '>' } else { c },
                )
            })
            .collect();
        assert_eq!(found, expected);
        let text = validate_v1(&spec).unwrap_err().to_string();
        assert!(!text.contains('\u{0}'), "{text:?}");
        assert!(text.contains("pipeline name `plant\\0`: character U+0000 at byte 5"));
        assert!(text.contains("role names use ASCII letters, digits, '_', '-', '.' and '*'"));
    }

    #[test]
    fn generated_names_may_use_their_punctuation() {
        // The fixture's roles and lanes are named `router.parse`, `bridge.router.parse.risk`,
        // `parse->router.parse`, ...; a broadcast group's bridge has a `*`.
        let mut spec = graph_spec();
        role_mut(&mut spec, 5).name = "bridge.router.parse.*".to_owned();
        lane_mut(&mut spec, 4).name = "bridge.router.parse.*->risk".to_owned();
        lane_mut(&mut spec, 3).name = "router.parse->bridge.router.parse.*".to_owned();
        assert_eq!(violations(&spec), []);
    }

    #[test]
    fn names_have_length_limits() {
        let mut spec = graph_spec();
        spec.stages[0].name = "p".repeat(NAME_V1_MAX_BYTES + 1);
        role_mut(&mut spec, 4).name = "r".repeat(ROLE_NAME_V1_MAX_BYTES + 1);
        lane_mut(&mut spec, 0).name = "l".repeat(LANE_NAME_V1_MAX_BYTES + 1);
        let found: Vec<(String, usize, usize)> = violations(&spec)
            .into_iter()
            .filter_map(|v| match v {
                SpecViolation::NameTooLong { item, len, max, .. } => Some((item, len, max)),
                _ => None,
            })
            .collect();
        assert_eq!(
            found,
            [
                ("stage 0 name".to_owned(), 65, 64),
                ("lane 0 name".to_owned(), 291, 290),
                ("role 4 name".to_owned(), 145, 144),
            ]
        );
        role_mut(&mut spec, 4).name = "r".repeat(ROLE_NAME_V1_MAX_BYTES);
        lane_mut(&mut spec, 0).name = "l".repeat(LANE_NAME_V1_MAX_BYTES);
        spec.stages[0].name = "p".repeat(NAME_V1_MAX_BYTES);
        assert!(!violations(&spec)
            .iter()
            .any(|v| matches!(v, SpecViolation::NameTooLong { .. })));
    }

    #[test]
    fn params_have_limits() {
        let mut spec = ring_spec();
        let mut deep = ParamValue::Int(1);
        for _ in 0..PARAM_V1_MAX_DEPTH {
            deep = ParamValue::Array(vec![deep]);
        }
        spec.stages[0].params.insert("deep".to_owned(), deep);
        spec.stages[1]
            .params
            .insert("k".repeat(NAME_V1_MAX_BYTES + 1), ParamValue::Bool(true));
        let found = violations(&spec);
        assert!(
            matches!(
                &found[..],
                [
                    SpecViolation::ParamTooDeep { stage, param, depth: 33, max: 32 },
                    SpecViolation::ParamNameTooLong { len: 65, .. },
                ] if stage == "parse" && param == "deep"
            ),
            "{found:#?}"
        );
    }

    #[test]
    fn ring_limits() {
        let mut spec = ring_spec();
        ring(&mut spec).capacity = RING_V1_MAX_CAPACITY;
        assert_eq!(violations(&spec), []);
        ring(&mut spec).capacity = RING_V1_MAX_CAPACITY * 2;
        expect(&spec, |v| {
            matches!(
                v,
                SpecViolation::RingCapacityTooLarge {
                    capacity: 33_554_432,
                    max: 16_777_216
                }
            )
        });

        let mut spec = ring_spec();
        ring(&mut spec).ordering = OrderingMode::PerKey;
        ring(&mut spec).shard_key = Some("account".to_owned());
        ring(&mut spec).shards = 85; // 3 stages: 255 threads
        assert_eq!(violations(&spec), []);
        ring(&mut spec).shards = 86;
        expect(&spec, |v| {
            matches!(
                v,
                SpecViolation::TooManyThreads {
                    stages: 3,
                    shards: 86,
                    threads: 258,
                    max: 256
                }
            )
        });
        ring(&mut spec).shards = 257;
        expect(&spec, |v| {
            matches!(
                v,
                SpecViolation::TooManyShards {
                    shards: 257,
                    max: 256
                }
            )
        });
        ring(&mut spec).shard_key = Some("acc.ount".to_owned());
        expect(
            &spec,
            |v| matches!(v, SpecViolation::InvalidName { item, character: '.', .. } if item == "single_ring shard_key"),
        );
    }

    #[test]
    fn ring_memory_is_checked_once_a_slot_size_is_bound() {
        let mut spec = ring_spec();
        // 2^20 slots of 1 KiB: exactly 1 GiB.
        ring(&mut spec).capacity = 1 << 20;
        ring(&mut spec).slot = crate::spec::SlotGeometry {
            size: 1024,
            align: 8,
        };
        assert_eq!(violations(&spec), []);
        ring(&mut spec).slot.size = 1032;
        let text = expect(&spec, |v| {
            matches!(
                v,
                SpecViolation::RingTooLarge {
                    capacity: 1_048_576,
                    slot_size: 1032,
                    shards: 1,
                    bytes: 1_082_130_432,
                    max: 1_073_741_824
                }
            )
        });
        assert!(text.contains("1082130432 bytes of ring memory"), "{text}");
        // No overflow with the largest factors.
        ring(&mut spec).capacity = u32::MAX;
        ring(&mut spec).slot = crate::spec::SlotGeometry {
            size: 1 << 31,
            align: 1 << 31,
        };
        ring(&mut spec).shards = u32::MAX;
        expect(
            &spec,
            |v| matches!(v, SpecViolation::RingTooLarge { bytes, .. } if *bytes == u128::from(u32::MAX) * (1u128 << 31) * u128::from(u32::MAX)),
        );
    }

    #[test]
    fn lane_capacity_limit() {
        let mut spec = graph_spec();
        lane_mut(&mut spec, 4).capacity = RING_V1_MAX_CAPACITY + 1;
        expect(
            &spec,
            |v| matches!(v, SpecViolation::LaneCapacityTooLarge { lane, capacity: 16_777_217, .. } if lane == "bridge.router.parse.risk->risk"),
        );
    }

    #[test]
    fn roles_are_at_most_the_thread_limit() {
        let mut spec = graph_spec();
        let extra = PIPELINE_V1_MAX_THREADS + 1 - graph(&spec).roles.len();
        let graph = graph_mut(&mut spec);
        for i in 0..extra {
            let id = graph.roles.len() as u32;
            graph.roles.push(RoleSpec {
                id,
                name: format!("extra{i}"),
                kind: RoleKind::Bridge,
                stage: None,
                inputs: Vec::new(),
                outputs: Vec::new(),
            });
        }
        expect(&spec, |v| {
            matches!(
                v,
                SpecViolation::TooManyRoles {
                    roles: 257,
                    max: 256
                }
            )
        });
    }

    #[test]
    fn repeated_references_are_reported_once() {
        let mut spec = graph_spec();
        lane_mut(&mut spec, 2).readers = vec![LaneEnd::Role(1); 1000];
        role_mut(&mut spec, 3).inputs = vec![0; 1000];
        role_mut(&mut spec, 2).outputs = vec![99; 1000];
        let found = violations(&spec);
        let count = |f: fn(&SpecViolation) -> bool| found.iter().filter(|v| f(v)).count();
        assert_eq!(
            count(|v| matches!(v, SpecViolation::DuplicateReader { .. })),
            1
        );
        assert_eq!(count(|v| matches!(v, SpecViolation::NotAReader { .. })), 1);
        assert_eq!(
            count(|v| matches!(v, SpecViolation::UnknownLane { lane: 99, .. })),
            1
        );
    }

    #[test]
    fn role_cycles_past_sixteen_are_counted() {
        // n stage roles in a chain, each also feeding role 0 back through a lane of its own.
        let n = 200u32;
        let mut spec = graph_spec();
        let graph = graph_mut(&mut spec);
        graph.roles.clear();
        graph.lanes.clear();
        graph.endpoints.clear();
        for i in 0..n {
            graph.roles.push(RoleSpec {
                id: i,
                name: format!("r{i}"),
                kind: RoleKind::Bridge,
                stage: None,
                inputs: Vec::new(),
                outputs: Vec::new(),
            });
        }
        let link = |graph: &mut LaneGraphSpec, from: u32, to: u32| {
            let id = graph.lanes.len() as u32;
            graph.lanes.push(LaneSpec {
                id,
                name: format!("r{from}->r{to}.{id}"),
                kind: LaneKind::Events,
                capacity: 8,
                gating: None,
                on_full: crate::spec::OnFull::Block,
                writer: LaneEnd::Role(from),
                readers: vec![LaneEnd::Role(to)],
            });
            graph.roles[from as usize].outputs.push(id);
            graph.roles[to as usize].inputs.push(id);
        };
        for i in 0..n {
            if i + 1 < n {
                link(graph, i, i + 1);
            }
            link(graph, i, 0);
            // A second lane on the same pair is the same edge of the walk.
            link(graph, i, 0);
        }
        let found = violations(&spec);
        let cycles = found
            .iter()
            .filter(|v| matches!(v, SpecViolation::RoleCycle { .. }))
            .count();
        assert_eq!(cycles, MAX_LISTED_CYCLES);
        assert!(found.iter().any(|v| matches!(
            v,
            SpecViolation::MoreRoleCycles {
                count: 184,
                listed: 16
            }
        )));
        // Successors are walked in role order, so the short cycles through role 0 come first.
        let last = found
            .iter()
            .rfind(|v| matches!(v, SpecViolation::RoleCycle { .. }))
            .map(ToString::to_string);
        assert_eq!(
            last.as_deref(),
            Some(
                "role cycle: r0 -> r1 -> r2 -> r3 -> r4 -> r5 -> r6 -> r7 -> r8 -> r9 -> r10 -> \
                 r11 -> r12 -> r13 -> r14 -> r15 -> r0"
            )
        );

        // A ring of n roles is one cycle, listed by its ends.
        let graph = graph_mut(&mut spec);
        for role in &mut graph.roles {
            role.inputs.clear();
            role.outputs.clear();
        }
        graph.lanes.clear();
        for i in 0..n {
            link(graph, i, (i + 1) % n);
        }
        let found = violations(&spec);
        let cycle = found
            .iter()
            .find_map(|v| match v {
                SpecViolation::RoleCycle { cycle, omitted } => {
                    Some((cycle.len(), *omitted, v.to_string()))
                }
                _ => None,
            })
            .expect("the ring is a cycle");
        assert_eq!((cycle.0, cycle.1), (33, 168));
        assert!(
            cycle.2.contains("r15 -> … 168 more … -> r184"),
            "{}",
            cycle.2
        );
    }
}
