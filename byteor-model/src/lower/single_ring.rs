//! Lowering of SingleRing plans.
//!
//! Runs on plans [`validate_plan_v2`](crate::plan::validate_plan_v2) accepted and re-checks
//! none of the plan rules: a validated plan has its `single_ring` payload, one ingress, one
//! egress, 1 to [`SINGLE_RING_V1_MAX_STAGES`](crate::SINGLE_RING_V1_MAX_STAGES) stages with
//! unique names, and dependencies only on earlier stages. The code stays total anyway (it
//! never indexes out of bounds or overflows a shift), so it cannot panic whatever it is given.

use std::collections::BTreeMap;

use super::stage_specs;
use crate::plan::{PipelinePlanV2, SingleRingConstraints};
use crate::spec::{PipelineSpecV1, SingleRingSpec, SlotGeometry, TopologySpec};

/// Compiles a validated SingleRing plan.
pub(super) fn lower(plan: &PipelinePlanV2) -> PipelineSpecV1 {
    let default_constraints = SingleRingConstraints::default();
    let constraints = plan.single_ring.as_ref().unwrap_or(&default_constraints);
    let boundary_name = |catalog: &[crate::plan::BoundaryDecl]| {
        catalog.first().map(|b| b.name.clone()).unwrap_or_default()
    };
    let deps = dependency_masks(plan);
    let final_mask = final_stages(&deps);

    PipelineSpecV1 {
        name: plan.name.clone(),
        stages: stage_specs(plan),
        topology: TopologySpec::SingleRing(SingleRingSpec {
            ingress: boundary_name(&plan.ingress),
            egress: boundary_name(&plan.egress),
            capacity: constraints.capacity,
            slot: SlotGeometry::default(),
            shards: constraints.shards,
            ordering: constraints.ordering,
            // A key only means something to a sharded ring; the canonical form drops it
            // otherwise (validate_v1 wants it present exactly when shards > 1).
            shard_key: constraints
                .shard_key
                .clone()
                .filter(|_| constraints.shards > 1),
            deps,
            final_mask,
        }),
    }
}

/// `deps[i]` has bit `j` set for each stage `j` that stage `i` runs after.
fn dependency_masks(plan: &PipelinePlanV2) -> Vec<u32> {
    let mut index = BTreeMap::new();
    for (i, stage) in plan.stages.iter().enumerate() {
        index.entry(stage.name.as_str()).or_insert(i);
    }
    plan.stages
        .iter()
        .map(|stage| {
            stage
                .after
                .iter()
                .filter_map(|dep| index.get(dep.as_str()))
                .fold(0u32, |mask, &j| mask | bit(j))
        })
        .collect()
}

/// The stages no other stage depends on: the ones the producer gates on.
fn final_stages(deps: &[u32]) -> u32 {
    let depended_on = deps.iter().fold(0u32, |acc, m| acc | m);
    let all = (0..deps.len()).fold(0u32, |acc, i| acc | bit(i));
    all & !depended_on
}

/// Bit `i` of a stage mask (validation keeps `i` below the stage limit, far inside the mask).
fn bit(i: usize) -> u32 {
    u32::try_from(i)
        .ok()
        .and_then(|i| 1u32.checked_shl(i))
        .unwrap_or(0)
}
