//! Proptest strategies for `PipelinePlanV2` values of both targets, valid and invalid alike.
//!
//! Include from an integration test with
//! `#[path = "common/plan_strategy.rs"] mod plan_strategy;`.
#![allow(dead_code)]

use std::collections::BTreeMap;

use byteor::plan::{
    BoundaryDecl, BoundaryLanePolicy, Connection, ExecutionTargetV1, LaneGraphPlan, LaneIntent,
    LaneKind, OnFull, OrderingMode, ParamValue, PipelinePlanV2, ProducerMode, SchedulingMode,
    SingleRingConstraints, StageDecl,
};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

/// Names drawn mostly from a small pool, so that references (dependencies, connections) often
/// hit declared names and collide, with some arbitrary strings (empty, unicode, control
/// characters, quotes) mixed in.
pub fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec!["in", "out", "a", "b", "c", "d", "parse", "risk"])
            .prop_map(str::to_owned),
        2 => "[a-z_][a-z0-9_]{0,8}",
        1 => any::<String>(),
        1 => Just(String::new()),
    ]
}

/// A `u32` that is often a valid capacity (a power of two), sometimes an invalid one.
pub fn capacity() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => (0u32..32).prop_map(|shift| 1u32 << shift),
        1 => 0u32..5,
        1 => any::<u32>(),
    ]
}

/// Finite floats of every magnitude (NaN is left out: it is not equal to itself).
pub fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        prop::sample::select(vec![
            0.0,
            -0.0,
            0.1,
            1e300,
            -5e-324,
            f64::MAX,
            f64::MIN_POSITIVE
        ]),
    ]
}

/// Stage parameter values, nested up to three levels.
pub fn param_value() -> impl Strategy<Value = ParamValue> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(ParamValue::Bool),
        any::<i64>().prop_map(ParamValue::Int),
        finite_f64().prop_map(ParamValue::Float),
        any::<String>().prop_map(ParamValue::Str),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(ParamValue::Array),
            btree_map(any::<String>(), inner, 0..4).prop_map(ParamValue::Table),
        ]
    })
}

/// A stage declaration.
pub fn stage() -> impl Strategy<Value = StageDecl> {
    (
        name(),
        option::of(name()),
        any::<bool>(),
        btree_map(any::<String>(), param_value(), 0..3),
        vec(name(), 0..3),
    )
        .prop_map(|(name, kind, side_effects, params, after)| StageDecl {
            name,
            kind,
            side_effects,
            params: params.into_iter().collect::<BTreeMap<_, _>>(),
            after,
        })
}

/// SingleRing constraints, supported and unsupported alike.
pub fn single_ring_constraints() -> impl Strategy<Value = SingleRingConstraints> {
    (
        capacity(),
        prop_oneof![3 => 0u32..6, 1 => any::<u32>()],
        prop_oneof![Just(OrderingMode::Strict), Just(OrderingMode::PerKey)],
        prop_oneof![Just(ProducerMode::Single), Just(ProducerMode::Multi)],
        prop_oneof![
            Just(SchedulingMode::Dedicated),
            Just(SchedulingMode::WorkQueue)
        ],
        option::of(name()),
    )
        .prop_map(
            |(capacity, shards, ordering, producer, scheduling, shard_key)| SingleRingConstraints {
                capacity,
                shards,
                ordering,
                producer,
                scheduling,
                shard_key,
            },
        )
}

/// Any lane kind.
pub fn lane_kind() -> impl Strategy<Value = LaneKind> {
    prop::sample::select(LaneKind::ALL.to_vec())
}

/// Any `on_full`.
pub fn on_full() -> impl Strategy<Value = OnFull> {
    prop_oneof![Just(OnFull::Block), Just(OnFull::Drop)]
}

/// A lane intent with optional capacity, gating and `on_full`.
pub fn lane_intent() -> impl Strategy<Value = LaneIntent> {
    (
        lane_kind(),
        option::of(capacity()),
        option::of(prop_oneof![
            3 => Just(byteor::SEQUENCED_SLOTS_V1_GATING.to_owned()),
            1 => any::<String>(),
        ]),
        option::of(on_full()),
    )
        .prop_map(|(kind, capacity, gating, on_full)| LaneIntent {
            kind,
            capacity,
            gating,
            on_full,
        })
}

/// A LaneGraph payload.
pub fn lane_graph_plan() -> impl Strategy<Value = LaneGraphPlan> {
    (
        option::of(on_full()),
        (lane_kind(), option::of(capacity()), option::of(on_full())),
        vec((name(), name(), lane_intent()), 0..6),
    )
        .prop_map(
            |(on_full, (kind, capacity, boundary_on_full), connections)| LaneGraphPlan {
                on_full,
                boundary: BoundaryLanePolicy {
                    kind,
                    capacity,
                    on_full: boundary_on_full,
                },
                connections: connections
                    .into_iter()
                    .map(|(from, to, lane)| Connection { from, to, lane })
                    .collect(),
            },
        )
}

/// A plan of either target. Payloads are independent of the target, so some plans carry the
/// wrong payload, both, or neither; the stage and boundary catalogs are arbitrary.
pub fn plan() -> impl Strategy<Value = PipelinePlanV2> {
    (
        name(),
        prop_oneof![
            Just(ExecutionTargetV1::SingleRing),
            Just(ExecutionTargetV1::LaneGraph)
        ],
        vec(name(), 0..3),
        vec(name(), 0..3),
        vec(stage(), 0..6),
        option::of(single_ring_constraints()),
        option::of(lane_graph_plan()),
    )
        .prop_map(
            |(name, target, ingress, egress, stages, single_ring, lane_graph)| PipelinePlanV2 {
                name,
                target,
                ingress: ingress.into_iter().map(BoundaryDecl::new).collect(),
                egress: egress.into_iter().map(BoundaryDecl::new).collect(),
                stages,
                single_ring,
                lane_graph,
            },
        )
}
