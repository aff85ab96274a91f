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

/// Refuses a mutating stage that is not ordered against every other stage (see
/// [`SingleRingSpec::unordered_mutation`]).
pub(crate) fn check_mutation_order(
    spec: &PipelineSpecV1,
    ring: &SingleRingSpec,
    mutates: &[bool],
) -> Result<(), BuildError> {
    match ring.unordered_mutation(mutates) {
        Some((stage, other)) => Err(BuildError::UnorderedMutation {
            stage: spec.stages[stage].name.clone(),
            other: spec.stages[other].name.clone(),
        }),
        None => Ok(()),
    }
}
