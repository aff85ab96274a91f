//! SingleRing spec rules: boundaries, capacity and geometry, shards and ordering, dependency
//! masks and the final-stage mask.

use std::collections::BTreeMap;

use crate::spec::model::{PipelineSpecV1, SingleRingSpec};
use crate::vocab::OrderingMode;
use crate::{
    PIPELINE_V1_MAX_THREADS, RING_V1_MAX_BYTES, RING_V1_MAX_CAPACITY, SINGLE_RING_V1_MAX_SHARDS,
    SINGLE_RING_V1_MAX_STAGES,
};

use super::*;

pub(super) fn check_single_ring(
    spec: &PipelineSpecV1,
    ring: &SingleRingSpec,
    out: &mut Vec<SpecViolation>,
) {
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
