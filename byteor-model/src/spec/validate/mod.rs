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

use std::collections::BTreeSet;

use crate::diagnostics::names::{first_bad_char, label};
use crate::diagnostics::Violations;
use crate::spec::model::{PipelineSpecV1, TopologySpec};
use crate::{
    LANE_NAME_V1_MAX_BYTES, NAME_V1_MAX_BYTES, PARAM_V1_MAX_DEPTH, ROLE_NAME_V1_MAX_BYTES,
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

mod lane_graph;
mod single_ring;
mod violation;

use lane_graph::check_lane_graph;
use single_ring::check_single_ring;
pub use violation::SpecViolation;

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
/// A ring holds at most [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY) slots (a lane too), on at most
/// [`SINGLE_RING_V1_MAX_SHARDS`](crate::SINGLE_RING_V1_MAX_SHARDS) shards; stages × shards, or a lane graph's roles, are at most
/// [`PIPELINE_V1_MAX_THREADS`](crate::PIPELINE_V1_MAX_THREADS); and once a slot size is bound, capacity × slot size × shards is
/// at most [`RING_V1_MAX_BYTES`](crate::RING_V1_MAX_BYTES).
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
