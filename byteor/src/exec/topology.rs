//! What the executor reads from a lowered SingleRing spec: its topology, the stages each
//! stage runs after, whether a mutating stage is ordered against every other, and whether its
//! rings fit the memory limit for an event type.

use crate::spec::{PipelineSpecV1, SingleRingSpec, TopologySpec};

use super::error::BuildError;

/// The SingleRing topology of a spec lowered from a SingleRing plan.
pub(crate) fn single_ring_of(spec: &PipelineSpecV1) -> &SingleRingSpec {
    match &spec.topology {
        TopologySpec::SingleRing(r) => r,
        TopologySpec::LaneGraph(_) => unreachable!("a SingleRing plan lowers to a SingleRing spec"),
    }
}

/// Refuses a SingleRing spec whose rings would exceed
/// [`RING_V1_MAX_BYTES`](crate::RING_V1_MAX_BYTES) for events of type `E` (the plan rules
/// cannot check this: they do not know the event's size).
pub(crate) fn check_ring_memory<E>(spec: &PipelineSpecV1) -> Result<(), BuildError> {
    let ring = single_ring_of(spec);
    crate::backing::check_ring_bytes::<E>(
        &format!("pipeline `{}`", spec.name),
        u64::from(ring.capacity),
        u64::from(ring.shards),
    )
    .map_err(BuildError::RingMemory)
}

/// Bit mask of every stage `stage` runs after, directly or transitively.
pub(crate) fn ancestors(deps: &[u32], stage: usize) -> u32 {
    let mut acc = 0u32;
    let mut frontier = deps.get(stage).copied().unwrap_or(0);
    while frontier != 0 {
        let j = frontier.trailing_zeros() as usize;
        frontier &= frontier - 1;
        if acc & (1 << j) == 0 {
            acc |= 1 << j;
            frontier |= deps.get(j).copied().unwrap_or(0) & !acc;
        }
    }
    acc
}

pub(crate) fn check_mutation_order(
    spec: &PipelineSpecV1,
    ring: &SingleRingSpec,
    mutates: &[bool],
) -> Result<(), BuildError> {
    for (i, &m) in mutates.iter().enumerate() {
        if !m {
            continue;
        }
        for j in 0..mutates.len() {
            if i == j {
                continue;
            }
            let ordered = ancestors(&ring.deps, i) & (1 << j) != 0
                || ancestors(&ring.deps, j) & (1 << i) != 0;
            if !ordered {
                return Err(BuildError::UnorderedMutation {
                    stage: spec.stages[i].name.clone(),
                    other: spec.stages[j].name.clone(),
                });
            }
        }
    }
    Ok(())
}
