//! The spec violations `validate_v1` reports, and how each reads.

use crate::diagnostics::cycles::cycle_text;
use crate::diagnostics::names::describe_char;
use crate::spec::model::{LaneEnd, LaneKind, RoleKind};

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
    /// A name holds a character its rule does not allow (see [`validate_v1`](crate::spec::validate_v1)).
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
        /// The limit: [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES), [`ROLE_NAME_V1_MAX_BYTES`](crate::ROLE_NAME_V1_MAX_BYTES) or
        /// [`LANE_NAME_V1_MAX_BYTES`](crate::LANE_NAME_V1_MAX_BYTES).
        max: usize,
    },
    /// A parameter name longer than [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES).
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
    /// A parameter value nested deeper than [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH).
    #[error("stage `{stage}` param `{param}` nests {depth} levels deep; parameter values nest at most {max} levels")]
    ParamTooDeep {
        /// The stage.
        stage: String,
        /// The parameter.
        param: String,
        /// How deep its value nests ([`ParamValue::depth`](crate::vocab::ParamValue::depth)).
        depth: usize,
        /// [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH).
        max: usize,
    },

    /// A SingleRing spec has no stages or too many.
    #[error("single_ring spec has {count} stages; it needs 1..={max}")]
    StageCount {
        /// Stages in the spec.
        count: usize,
        /// [`SINGLE_RING_V1_MAX_STAGES`](crate::SINGLE_RING_V1_MAX_STAGES).
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
    /// The ring capacity is above [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY).
    #[error("ring capacity {capacity} is more than the {max} slots a ring holds in v1")]
    RingCapacityTooLarge {
        /// The capacity.
        capacity: u32,
        /// [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY).
        max: u32,
    },
    /// `shards` is zero.
    #[error("shards is 0; a ring needs at least one shard")]
    ZeroShards,
    /// More shards than [`SINGLE_RING_V1_MAX_SHARDS`](crate::SINGLE_RING_V1_MAX_SHARDS).
    #[error("shards is {shards}; at most {max} shards are supported in v1")]
    TooManyShards {
        /// The shard count.
        shards: u32,
        /// [`SINGLE_RING_V1_MAX_SHARDS`](crate::SINGLE_RING_V1_MAX_SHARDS).
        max: u32,
    },
    /// Stages × shards above [`PIPELINE_V1_MAX_THREADS`](crate::PIPELINE_V1_MAX_THREADS).
    #[error("{stages} stages on {shards} shards run {threads} stage threads; a pipeline runs at most {max} threads in v1")]
    TooManyThreads {
        /// Stages in the spec.
        stages: usize,
        /// The shard count.
        shards: u32,
        /// Stages × shards.
        threads: u64,
        /// [`PIPELINE_V1_MAX_THREADS`](crate::PIPELINE_V1_MAX_THREADS).
        max: usize,
    },
    /// Ring memory (capacity × slot size × shards) above [`RING_V1_MAX_BYTES`](crate::RING_V1_MAX_BYTES), once a slot
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
        /// [`RING_V1_MAX_BYTES`](crate::RING_V1_MAX_BYTES).
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
    /// A broadcast lane with no readers or more than [`FANOUT_V1_MAX_CONSUMERS`](crate::FANOUT_V1_MAX_CONSUMERS).
    #[error("fanout_broadcast lane `{lane}` has {readers} readers; it needs 1..={max}")]
    BroadcastReaders {
        /// The lane.
        lane: String,
        /// Its reader count.
        readers: usize,
        /// [`FANOUT_V1_MAX_CONSUMERS`](crate::FANOUT_V1_MAX_CONSUMERS).
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
    /// A lane capacity above [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY).
    #[error("lane `{lane}` has capacity {capacity}; a lane holds at most {max} slots in v1")]
    LaneCapacityTooLarge {
        /// The lane.
        lane: String,
        /// Its capacity.
        capacity: u32,
        /// [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY).
        max: u32,
    },
    /// A `sequenced_slots` lane without the v1 gating.
    #[error("sequenced_slots lane `{lane}` has gating {found}; v1 requires `{required}`")]
    LaneGating {
        /// The lane.
        lane: String,
        /// The gating found (quoted) or `none`.
        found: String,
        /// [`SEQUENCED_SLOTS_V1_GATING`](crate::SEQUENCED_SLOTS_V1_GATING).
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
    /// More roles than [`PIPELINE_V1_MAX_THREADS`](crate::PIPELINE_V1_MAX_THREADS): each role is a thread.
    #[error(
        "lane graph has {roles} roles, each a thread; a pipeline runs at most {max} threads in v1"
    )]
    TooManyRoles {
        /// Roles in the spec.
        roles: usize,
        /// [`PIPELINE_V1_MAX_THREADS`](crate::PIPELINE_V1_MAX_THREADS).
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
