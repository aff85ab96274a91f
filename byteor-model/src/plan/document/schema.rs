//! The document's shape as serde reads it, and its conversion into a `PipelinePlanV2`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::diagnostics::names::plan_label;
use crate::plan::{
    BoundaryDecl, BoundaryLanePolicy, Connection, ExecutionTargetV1, LaneGraphPlan, LaneIntent,
    LaneKind, OnFull, OrderingMode, ParamValue, PipelinePlanV2, ProducerMode, SchedulingMode,
    SingleRingConstraints, StageDecl,
};
use crate::PARAM_V1_MAX_DEPTH;

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanDoc {
    version: Spanned<i64>,
    name: String,
    target: TargetDoc,
    #[serde(default)]
    ingress: Vec<BoundaryDoc>,
    #[serde(default)]
    egress: Vec<BoundaryDoc>,
    #[serde(default)]
    stages: Vec<StageDoc>,
    single_ring: Option<SingleRingDoc>,
    lane_graph: Option<LaneGraphDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BoundaryDoc {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StageDoc {
    name: String,
    kind: Option<String>,
    #[serde(default)]
    side_effects: bool,
    #[serde(default)]
    params: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    after: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct SingleRingDoc {
    capacity: u32,
    shards: u32,
    ordering: OrderingDoc,
    producer: ProducerDoc,
    scheduling: SchedulingDoc,
    shard_key: Option<String>,
}

impl Default for SingleRingDoc {
    fn default() -> Self {
        let d = SingleRingConstraints::default();
        SingleRingDoc {
            capacity: d.capacity,
            shards: d.shards,
            ordering: d.ordering.into(),
            producer: d.producer.into(),
            scheduling: d.scheduling.into(),
            shard_key: d.shard_key,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LaneGraphDoc {
    on_full: Option<OnFullDoc>,
    #[serde(default)]
    boundary: BoundaryPolicyDoc,
    #[serde(default)]
    connections: Vec<ConnectionDoc>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct BoundaryPolicyDoc {
    #[serde(default)]
    kind: LaneKindDoc,
    capacity: Option<u32>,
    on_full: Option<OnFullDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConnectionDoc {
    from: String,
    to: String,
    #[serde(default)]
    lane: LaneDoc,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct LaneDoc {
    #[serde(default)]
    kind: LaneKindDoc,
    capacity: Option<u32>,
    gating: Option<String>,
    on_full: Option<OnFullDoc>,
}

/// Serde mirrors of the model's enums: the model stays serde-free, and the document names
/// (snake_case) are spelled once, here.
macro_rules! doc_enum {
    ($doc:ident => $model:ident { $($variant:ident),+ $(,)? } default $default:ident) => {
        #[derive(Deserialize, Clone, Copy)]
        #[serde(rename_all = "snake_case")]
        enum $doc {
            $($variant),+
        }

        impl Default for $doc {
            fn default() -> Self {
                $doc::$default
            }
        }

        impl From<$doc> for $model {
            fn from(d: $doc) -> Self {
                match d {
                    $($doc::$variant => $model::$variant),+
                }
            }
        }

        impl From<$model> for $doc {
            fn from(m: $model) -> Self {
                match m {
                    $($model::$variant => $doc::$variant),+
                }
            }
        }
    };
}

doc_enum!(TargetDoc => ExecutionTargetV1 { SingleRing, LaneGraph } default SingleRing);
doc_enum!(OrderingDoc => OrderingMode { Strict, PerKey } default Strict);
doc_enum!(ProducerDoc => ProducerMode { Single, Multi } default Single);
doc_enum!(SchedulingDoc => SchedulingMode { Dedicated, WorkQueue } default Dedicated);
doc_enum!(OnFullDoc => OnFull { Block, Drop } default Block);
doc_enum!(LaneKindDoc => LaneKind { Events, Journal, SequencedSlots, FanoutBroadcast } default Events);

impl PlanDoc {
    pub(super) fn into_plan(self, text: &str) -> Result<PipelinePlanV2, PlanDocumentError> {
        if *self.version.get_ref() != PLAN_DOCUMENT_VERSION {
            let (line, column) = line_column(text, self.version.span().start);
            return Err(PlanDocumentError::UnsupportedVersion {
                line,
                column,
                found: *self.version.get_ref(),
            });
        }
        let stages = self
            .stages
            .into_iter()
            .map(|s| s.into_stage(text))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PipelinePlanV2 {
            name: self.name,
            target: self.target.into(),
            ingress: self
                .ingress
                .into_iter()
                .map(|b| BoundaryDecl::new(b.name))
                .collect(),
            egress: self
                .egress
                .into_iter()
                .map(|b| BoundaryDecl::new(b.name))
                .collect(),
            stages,
            single_ring: self.single_ring.map(|r| SingleRingConstraints {
                capacity: r.capacity,
                shards: r.shards,
                ordering: r.ordering.into(),
                producer: r.producer.into(),
                scheduling: r.scheduling.into(),
                shard_key: r.shard_key,
            }),
            lane_graph: self.lane_graph.map(|g| LaneGraphPlan {
                on_full: g.on_full.map(Into::into),
                boundary: BoundaryLanePolicy {
                    kind: g.boundary.kind.into(),
                    capacity: g.boundary.capacity,
                    on_full: g.boundary.on_full.map(Into::into),
                },
                connections: g
                    .connections
                    .into_iter()
                    .map(|c| Connection {
                        from: c.from,
                        to: c.to,
                        lane: LaneIntent {
                            kind: c.lane.kind.into(),
                            capacity: c.lane.capacity,
                            gating: c.lane.gating,
                            on_full: c.lane.on_full.map(Into::into),
                        },
                    })
                    .collect(),
            }),
        })
    }
}

impl StageDoc {
    pub(super) fn into_stage(self, text: &str) -> Result<StageDecl, PlanDocumentError> {
        let mut params = BTreeMap::new();
        for (key, value) in self.params {
            let span = value.span();
            let converted = param_value(value.into_inner(), 1).map_err(|(problem, path)| {
                let (line, column) = line_column(text, span.start);
                let stage = plan_label(&self.name);
                match problem {
                    ParamProblem::Datetime => {
                        let mut param = key.clone();
                        for segment in path.iter().rev() {
                            param.push('.');
                            param.push_str(segment);
                        }
                        PlanDocumentError::DatetimeParam {
                            line,
                            column,
                            stage,
                            param: plan_label(&param),
                        }
                    }
                    ParamProblem::TooDeep => PlanDocumentError::ParamTooDeep {
                        line,
                        column,
                        stage,
                        param: plan_label(&key),
                        max: PARAM_V1_MAX_DEPTH,
                    },
                }
            })?;
            params.insert(key, converted);
        }
        Ok(StageDecl {
            name: self.name,
            kind: self.kind,
            side_effects: self.side_effects,
            params,
            after: self.after,
        })
    }
}

/// Why a TOML value cannot be a stage parameter.
pub(super) enum ParamProblem {
    /// It holds a date or time.
    Datetime,
    /// It nests deeper than [`PARAM_V1_MAX_DEPTH`].
    TooDeep,
}

/// Converts a TOML value at nesting level `depth` (a parameter's value is level 1); on a
/// problem, returns it with the table keys leading to it, innermost first (array positions are
/// not keys and are left out). The recursion stops at [`PARAM_V1_MAX_DEPTH`] levels.
pub(super) fn param_value(
    value: toml::Value,
    depth: usize,
) -> Result<ParamValue, (ParamProblem, Vec<String>)> {
    if depth > PARAM_V1_MAX_DEPTH {
        return Err((ParamProblem::TooDeep, Vec::new()));
    }
    Ok(match value {
        toml::Value::String(s) => ParamValue::Str(s),
        toml::Value::Integer(i) => ParamValue::Int(i),
        toml::Value::Float(f) => ParamValue::Float(f),
        toml::Value::Boolean(b) => ParamValue::Bool(b),
        toml::Value::Datetime(_) => return Err((ParamProblem::Datetime, Vec::new())),
        toml::Value::Array(items) => ParamValue::Array(
            items
                .into_iter()
                .map(|item| param_value(item, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(table) => {
            let mut map = BTreeMap::new();
            for (k, v) in table {
                match param_value(v, depth + 1) {
                    Ok(v) => {
                        map.insert(k, v);
                    }
                    Err((problem, mut path)) => {
                        path.push(k);
                        return Err((problem, path));
                    }
                }
            }
            ParamValue::Table(map)
        }
    })
}
