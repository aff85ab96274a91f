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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::model::{
    EndpointDirection, LaneEnd, LaneGraphSpec, LaneKind, PipelineSpecV1, RoleKind, SingleRingSpec,
    TopologySpec,
};
use crate::plan::OrderingMode;
use crate::{FANOUT_V1_MAX_CONSUMERS, SEQUENCED_SLOTS_V1_GATING, SINGLE_RING_V1_MAX_STAGES};

/// One rule a spec breaks. Each variant names the offending stage, lane, role or field.
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
    /// `shards` is zero.
    #[error("shards is 0; a ring needs at least one shard")]
    ZeroShards,
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
        /// The referring item (`role `x``, `endpoint `y``).
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
        /// The kind of its first input lane.
        expected: LaneKind,
        /// The lane of another kind.
        lane: String,
        /// That lane's kind.
        found: LaneKind,
    },
    /// Roles that feed each other in a loop.
    #[error("role cycle: {}", .cycle.join(" -> "))]
    RoleCycle {
        /// The roles along the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
}

/// Every violation found in a spec. Displays one violation per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErrors {
    violations: Vec<SpecViolation>,
}

impl SpecErrors {
    /// Number of violations (at least one).
    pub fn len(&self) -> usize {
        self.violations.len()
    }

    /// Always `false`: a `SpecErrors` holds at least one violation.
    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    /// The violations, in the order they were found.
    pub fn iter(&self) -> std::slice::Iter<'_, SpecViolation> {
        self.violations.iter()
    }

    /// The violations as a slice.
    pub fn violations(&self) -> &[SpecViolation] {
        &self.violations
    }

    /// Consumes the errors, returning the violations.
    pub fn into_vec(self) -> Vec<SpecViolation> {
        self.violations
    }
}

impl<'a> IntoIterator for &'a SpecErrors {
    type Item = &'a SpecViolation;
    type IntoIter = std::slice::Iter<'a, SpecViolation>;
    fn into_iter(self) -> Self::IntoIter {
        self.violations.iter()
    }
}

impl IntoIterator for SpecErrors {
    type Item = SpecViolation;
    type IntoIter = std::vec::IntoIter<SpecViolation>;
    fn into_iter(self) -> Self::IntoIter {
        self.violations.into_iter()
    }
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

/// Checks a spec on its own and reports every violation.
///
/// ```
/// use byteor::plan::{PipelinePlanV2, StageDecl};
/// use byteor::spec::{validate_v1, SpecViolation, TopologySpec};
///
/// let plan = PipelinePlanV2::single_ring("orders")
///     .with_ingress("orders_in")
///     .with_egress("fills_out")
///     .with_stage(StageDecl::new("parse"))
///     .with_stage(StageDecl::new("risk").after("parse"));
/// let mut spec = byteor::lower::lower_v2(&plan)?;
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
    if out.is_empty() {
        Ok(())
    } else {
        Err(SpecErrors { violations: out })
    }
}

/// The name of stage `index`, or `#index` when there is no such stage.
fn stage_label(spec: &PipelineSpecV1, index: usize) -> String {
    match spec.stages.get(index) {
        Some(s) => s.name.clone(),
        None => format!("#{index}"),
    }
}

fn check_stages(spec: &PipelineSpecV1, out: &mut Vec<SpecViolation>) {
    if spec.name.is_empty() {
        out.push(SpecViolation::EmptyName {
            item: "pipeline".to_owned(),
        });
    }
    let mut seen = BTreeSet::new();
    let mut reported = BTreeSet::new();
    for (index, stage) in spec.stages.iter().enumerate() {
        if usize::try_from(stage.id).ok() != Some(index) {
            out.push(SpecViolation::IdMismatch {
                table: "stage",
                name: stage.name.clone(),
                index,
                id: stage.id,
            });
        }
        if stage.name.is_empty() {
            out.push(SpecViolation::EmptyName {
                item: format!("stage {index}"),
            });
        } else if !seen.insert(stage.name.as_str()) && reported.insert(stage.name.as_str()) {
            out.push(SpecViolation::DuplicateName {
                namespace: "stage",
                name: stage.name.clone(),
            });
        }
        if stage.kind.is_empty() {
            out.push(SpecViolation::EmptyStageKind {
                stage: stage_label(spec, index),
            });
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
    if ring.ingress.is_empty() {
        out.push(SpecViolation::EmptyName {
            item: "single_ring ingress".to_owned(),
        });
    }
    if ring.egress.is_empty() {
        out.push(SpecViolation::EmptyName {
            item: "single_ring egress".to_owned(),
        });
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
    if ring.shards == 0 {
        out.push(SpecViolation::ZeroShards);
    }
    if ring.ordering == OrderingMode::Strict && ring.shards > 1 {
        out.push(SpecViolation::StrictWithShards {
            shards: ring.shards,
        });
    }
    match &ring.shard_key {
        Some(key) if ring.shards <= 1 => out.push(SpecViolation::UnexpectedShardKey {
            key: key.clone(),
            shards: ring.shards,
        }),
        Some(key) if key.is_empty() => out.push(SpecViolation::MissingShardKey {
            shards: ring.shards,
        }),
        None if ring.shards > 1 => out.push(SpecViolation::MissingShardKey {
            shards: ring.shards,
        }),
        _ => {}
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
}

/// Indices of the set bits of `mask`, ascending.
fn set_bits(mask: u32) -> impl Iterator<Item = u32> {
    (0..32u32).filter(move |b| mask & (1u32 << b) != 0)
}

/// Name lookups that never index out of range.
struct Names<'a> {
    graph: &'a LaneGraphSpec,
}

impl Names<'_> {
    fn role(&self, id: u32) -> String {
        match self.graph.roles.get(id as usize) {
            Some(r) => r.name.clone(),
            None => format!("role:{id}"),
        }
    }

    fn end(&self, end: LaneEnd) -> String {
        match end {
            LaneEnd::Role(id) => self.role(id),
            LaneEnd::Endpoint(id) => match self.graph.endpoints.get(id as usize) {
                Some(e) => e.name.clone(),
                None => format!("endpoint:{id}"),
            },
        }
    }
}

fn check_lane_graph(spec: &PipelineSpecV1, graph: &LaneGraphSpec, out: &mut Vec<SpecViolation>) {
    let names = Names { graph };
    if spec.stages.is_empty() {
        out.push(SpecViolation::NoStages);
    }
    check_lane_graph_ids_and_names(graph, out);
    check_lanes(graph, &names, out);
    check_roles(spec, graph, &names, out);
    check_endpoints(graph, &names, out);
    check_role_cycles(graph, &names, out);
}

fn check_lane_graph_ids_and_names(graph: &LaneGraphSpec, out: &mut Vec<SpecViolation>) {
    let ids = graph
        .lanes
        .iter()
        .map(|l| ("lane", l.id, &l.name))
        .enumerate()
        .chain(
            graph
                .roles
                .iter()
                .map(|r| ("role", r.id, &r.name))
                .enumerate(),
        )
        .chain(
            graph
                .endpoints
                .iter()
                .map(|e| ("endpoint", e.id, &e.name))
                .enumerate(),
        );
    for (index, (table, id, name)) in ids {
        if usize::try_from(id).ok() != Some(index) {
            out.push(SpecViolation::IdMismatch {
                table,
                name: name.clone(),
                index,
                id,
            });
        }
        if name.is_empty() {
            out.push(SpecViolation::EmptyName {
                item: format!("{table} {index}"),
            });
        }
    }

    let mut duplicates = |namespace: &'static str, names: Vec<&String>| {
        let mut seen = BTreeSet::new();
        let mut reported = BTreeSet::new();
        for name in names {
            if !name.is_empty() && !seen.insert(name) && reported.insert(name) {
                out.push(SpecViolation::DuplicateName {
                    namespace,
                    name: name.clone(),
                });
            }
        }
    };
    duplicates("lane", graph.lanes.iter().map(|l| &l.name).collect());
    duplicates(
        "role/endpoint",
        graph
            .roles
            .iter()
            .map(|r| &r.name)
            .chain(graph.endpoints.iter().map(|e| &e.name))
            .collect(),
    );
}

fn check_lanes(graph: &LaneGraphSpec, names: &Names<'_>, out: &mut Vec<SpecViolation>) {
    for (index, lane) in graph.lanes.iter().enumerate() {
        let id = index as u32;
        let lane_name = || lane.name.clone();

        // The writer exists and writes this lane.
        match lane.writer {
            LaneEnd::Role(r) => match graph.roles.get(r as usize) {
                None => out.push(SpecViolation::UnknownLaneEnd {
                    lane: lane_name(),
                    end: lane.writer,
                    position: "writer",
                }),
                Some(role) if !role.outputs.contains(&id) => {
                    out.push(SpecViolation::WriterDoesNotWrite {
                        lane: lane_name(),
                        writer: role.name.clone(),
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
                        writer: ep.name.clone(),
                    }),
                Some(_) => {}
            },
        }

        // Every reader exists, reads this lane, and appears once.
        let mut seen = BTreeSet::new();
        for &reader in &lane.readers {
            if !seen.insert(reader) {
                out.push(SpecViolation::DuplicateReader {
                    lane: lane_name(),
                    reader: names.end(reader),
                });
                continue;
            }
            let reads = match reader {
                LaneEnd::Role(r) => graph
                    .roles
                    .get(r as usize)
                    .map(|role| role.inputs.contains(&id)),
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
                        Some(g) => format!("`{g}`"),
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
                    gating: gating.clone(),
                });
            }
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

fn check_roles(
    spec: &PipelineSpecV1,
    graph: &LaneGraphSpec,
    names: &Names<'_>,
    out: &mut Vec<SpecViolation>,
) {
    let mut roles_per_stage = vec![0usize; spec.stages.len()];
    for (index, role) in graph.roles.iter().enumerate() {
        let me = LaneEnd::Role(index as u32);

        // The stage link.
        match (role.kind, role.stage) {
            (RoleKind::Stage, None) => out.push(SpecViolation::StageRoleWithoutStage {
                role: role.name.clone(),
            }),
            (RoleKind::Stage, Some(stage)) => match roles_per_stage.get_mut(stage as usize) {
                Some(count) => *count += 1,
                None => out.push(SpecViolation::UnknownStage {
                    role: role.name.clone(),
                    stage,
                }),
            },
            (kind, Some(stage)) => out.push(SpecViolation::InsertedRoleWithStage {
                role: role.name.clone(),
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
                role: role.name.clone(),
                kind: role.kind,
                inputs,
                outputs,
                rule,
            });
        }

        // Every lane it reads lists it as a reader; every lane it writes names it as writer.
        for &lane_id in &role.inputs {
            match graph.lanes.get(lane_id as usize) {
                None => out.push(SpecViolation::UnknownLane {
                    item: format!("role `{}`", role.name),
                    lane: lane_id,
                }),
                Some(lane) if !lane.readers.contains(&me) => out.push(SpecViolation::NotAReader {
                    lane: lane.name.clone(),
                    by: role.name.clone(),
                }),
                Some(_) => {}
            }
        }
        for &lane_id in &role.outputs {
            match graph.lanes.get(lane_id as usize) {
                None => out.push(SpecViolation::UnknownLane {
                    item: format!("role `{}`", role.name),
                    lane: lane_id,
                }),
                Some(lane) if lane.writer != me => out.push(SpecViolation::ExtraWriter {
                    lane: lane.name.clone(),
                    by: role.name.clone(),
                    writer: names.end(lane.writer),
                }),
                Some(_) => {}
            }
        }

        // Routers and merges move events within one lane kind.
        if matches!(role.kind, RoleKind::Router | RoleKind::Merge) {
            let mut lanes = role
                .inputs
                .iter()
                .chain(&role.outputs)
                .filter_map(|&l| graph.lanes.get(l as usize));
            if let Some(first) = lanes.next() {
                for lane in lanes {
                    if lane.kind != first.kind {
                        out.push(SpecViolation::MixedLaneKinds {
                            role: role.name.clone(),
                            kind: role.kind,
                            expected: first.kind,
                            lane: lane.name.clone(),
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
                item: format!("endpoint `{}`", ep.name),
                lane: ep.lane,
            });
            continue;
        };
        match ep.direction {
            EndpointDirection::Ingress if lane.writer != me => {
                out.push(SpecViolation::ExtraWriter {
                    lane: lane.name.clone(),
                    by: ep.name.clone(),
                    writer: names.end(lane.writer),
                })
            }
            EndpointDirection::Egress if !lane.readers.contains(&me) => {
                out.push(SpecViolation::NotAReader {
                    lane: lane.name.clone(),
                    by: ep.name.clone(),
                })
            }
            _ => {}
        }
    }
}

/// Reports a cycle for every back edge a depth-first walk of the role graph meets (role `a`
/// feeds role `b` when `a` writes a lane `b` reads). Iterative, so a huge spec read from a
/// file cannot overflow the stack.
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
                if r < n && !next[w].contains(&r) {
                    next[w].push(r);
                }
            }
        }
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; n];
    for root in 0..n {
        if mark[root] != Mark::New {
            continue;
        }
        // Stack of (role, index of the next successor to visit).
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::OnPath;
        while let Some(top) = path.last_mut() {
            let (node, cursor) = *top;
            if let Some(&succ) = next[node].get(cursor) {
                top.1 += 1;
                match mark[succ] {
                    Mark::New => {
                        mark[succ] = Mark::OnPath;
                        path.push((succ, 0));
                    }
                    Mark::OnPath => {
                        let start = path.iter().position(|&(r, _)| r == succ).unwrap_or(0);
                        let mut cycle: Vec<String> = path[start..]
                            .iter()
                            .map(|&(r, _)| names.role(r as u32))
                            .collect();
                        cycle.push(names.role(succ as u32));
                        out.push(SpecViolation::RoleCycle { cycle });
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                path.pop();
            }
        }
    }
}
