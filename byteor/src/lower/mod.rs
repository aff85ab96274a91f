//! Lowering: `PipelinePlanV2` to the canonical `PipelineSpecV1`.

use crate::plan::{validate_plan_v2, PipelinePlanV2, ValidationErrors};
use crate::spec::{PipelineSpecV1, SingleRingSpec, SlotGeometry, StageSpec, TopologySpec};

/// Why lowering failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LowerError {
    /// The plan is invalid.
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// The plan's target cannot be lowered by this build.
    #[error("target `{0}` cannot be lowered")]
    Unsupported(String),
}

/// Lowers a plan to its canonical spec.
pub fn lower_v2(plan: &PipelinePlanV2) -> Result<PipelineSpecV1, LowerError> {
    validate_plan_v2(plan).map_err(LowerError::Invalid)?;
    let sr = plan
        .single_ring
        .as_ref()
        .ok_or_else(|| LowerError::Unsupported(plan.target.to_string()))?;
    let index = |n: &str| plan.stages.iter().position(|s| s.name == n);
    let deps: Vec<u32> = plan
        .stages
        .iter()
        .map(|s| {
            s.after
                .iter()
                .filter_map(|a| index(a))
                .fold(0, |m, j| m | 1 << j)
        })
        .collect();
    let used = deps.iter().fold(0, |a, d| a | d);
    let all = (1u32 << plan.stages.len()) - 1;
    Ok(PipelineSpecV1 {
        name: plan.name.clone(),
        stages: plan
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| StageSpec {
                id: i as u32,
                name: s.name.clone(),
                kind: s.effective_kind().to_owned(),
                side_effects: s.side_effects,
                params: s.params.clone(),
            })
            .collect(),
        topology: TopologySpec::SingleRing(SingleRingSpec {
            ingress: plan
                .ingress
                .first()
                .map(|b| b.name.clone())
                .unwrap_or_default(),
            egress: plan
                .egress
                .first()
                .map(|b| b.name.clone())
                .unwrap_or_default(),
            capacity: sr.capacity,
            slot: SlotGeometry::default(),
            shards: sr.shards,
            ordering: sr.ordering,
            shard_key: sr.shard_key.clone(),
            deps,
            final_mask: all & !used,
        }),
    })
}
