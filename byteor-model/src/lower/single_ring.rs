//! Lowering of SingleRing plans.

use std::collections::BTreeMap;

use super::{stage_specs, LowerError};
use crate::plan::{ExecutionTargetV1, PipelinePlanV2, ProducerMode, SchedulingMode};
use crate::spec::{PipelineSpecV1, SingleRingSpec, SlotGeometry, TopologySpec};
use crate::SINGLE_RING_V1_MAX_STAGES;

pub(super) fn lower(plan: &PipelinePlanV2) -> Result<PipelineSpecV1, LowerError> {
    let constraints = plan.single_ring.as_ref().ok_or(LowerError::MissingTarget {
        target: ExecutionTargetV1::SingleRing,
    })?;
    if plan.lane_graph.is_some() {
        return Err(LowerError::UnexpectedPayload {
            target: ExecutionTargetV1::SingleRing,
            payload: ExecutionTargetV1::LaneGraph,
        });
    }
    if constraints.producer != ProducerMode::Single {
        return Err(LowerError::Unsupported {
            setting: "producer",
            value: constraints.producer.as_str(),
        });
    }
    if constraints.scheduling != SchedulingMode::Dedicated {
        return Err(LowerError::Unsupported {
            setting: "scheduling",
            value: constraints.scheduling.as_str(),
        });
    }
    let (ingress, egress) = match (plan.ingress.as_slice(), plan.egress.as_slice()) {
        ([ingress], [egress]) => (ingress, egress),
        (i, e) => {
            return Err(LowerError::BoundaryCount {
                ingress: i.len(),
                egress: e.len(),
            })
        }
    };
    let n = plan.stages.len();
    if n == 0 || n > SINGLE_RING_V1_MAX_STAGES {
        return Err(LowerError::StageCount {
            count: n,
            max: SINGLE_RING_V1_MAX_STAGES,
        });
    }

    let mut index = BTreeMap::new();
    for name in [&ingress.name, &egress.name] {
        if index.insert(name.as_str(), None).is_some() {
            return Err(LowerError::DuplicateName { name: name.clone() });
        }
    }
    for (i, stage) in plan.stages.iter().enumerate() {
        if index.insert(stage.name.as_str(), Some(i)).is_some() {
            return Err(LowerError::DuplicateName {
                name: stage.name.clone(),
            });
        }
    }

    let mut deps = Vec::with_capacity(n);
    for (i, stage) in plan.stages.iter().enumerate() {
        let mut mask = 0u32;
        for dep in &stage.after {
            let j = match index.get(dep.as_str()) {
                Some(Some(j)) => *j,
                _ => {
                    return Err(LowerError::UnknownDependency {
                        stage: stage.name.clone(),
                        dependency: dep.clone(),
                    })
                }
            };
            if j >= i {
                return Err(LowerError::DependencyNotEarlier {
                    stage: stage.name.clone(),
                    dependency: dep.clone(),
                });
            }
            // j < i < SINGLE_RING_V1_MAX_STAGES, so the shift stays inside the mask.
            mask |= 1u32 << j;
        }
        deps.push(mask);
    }
    let depended_on = deps.iter().fold(0u32, |acc, m| acc | m);
    let all = (0..n).fold(0u32, |acc, i| acc | (1u32 << i));
    let final_mask = all & !depended_on;

    Ok(PipelineSpecV1 {
        name: plan.name.clone(),
        stages: stage_specs(plan),
        topology: TopologySpec::SingleRing(SingleRingSpec {
            ingress: ingress.name.clone(),
            egress: egress.name.clone(),
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
    })
}
