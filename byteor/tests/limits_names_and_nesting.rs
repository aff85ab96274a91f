//! The v1 limits on names and parameter nesting hold end to end: whatever validates lowers to
//! a spec that validates, and writes and reads back through both text forms; one step past a
//! limit is refused by validation and by the parsers, naming the offender.

use std::collections::BTreeMap;

use byteor::lower::{lower_v2, LowerError};
use byteor::plan::{
    validate_plan_v2, Connection, LaneIntent, LaneKind, ParamValue, PipelinePlanV2, PlanViolation,
    StageDecl,
};
use byteor::spec::{
    validate_v1, PipelineSpecV1, SpecViolation, TopologySpec, LANE_NAME_V1_MAX_BYTES,
    ROLE_NAME_V1_MAX_BYTES,
};
use byteor::{NAME_V1_MAX_BYTES, PARAM_V1_MAX_DEPTH};

/// A name of exactly the longest length, distinct by its first character.
fn long_name(tag: char) -> String {
    let mut name = String::from(tag);
    name.push_str(&"_".repeat(NAME_V1_MAX_BYTES - 1));
    name
}

/// `[[...[1]...]]` and `{"k":{"k":...{}...}}` of the given depth.
fn nested(depth: usize) -> (ParamValue, ParamValue) {
    let mut array = ParamValue::Int(1);
    let mut table = ParamValue::Table(BTreeMap::new());
    for _ in 1..depth {
        array = ParamValue::Array(vec![array]);
        table = ParamValue::Table(BTreeMap::from([("k".to_owned(), table)]));
    }
    (array, table)
}

/// A lane graph whose every name is as long as names go, shaped so that lowering inserts every
/// kind of role and lane name it has: a router with a bridge on a point-to-point output and on
/// the broadcast group (`bridge.router.<s>.<d>`, `bridge.router.<s>.*`), merges with a bridge
/// on an input (`bridge.merge.<d>.<s>`), and bridges at an ingress and an egress.
fn longest_names_plan() -> PipelinePlanV2 {
    let [i, e, a, b, c, d, f] = ['i', 'e', 'a', 'b', 'c', 'd', 'f'].map(long_name);
    let broadcast = LaneIntent::of(LaneKind::FanoutBroadcast);
    let mut plan = PipelinePlanV2::lane_graph(long_name('p'))
        .with_ingress(i.clone())
        .with_egress(e.clone());
    for stage in [&a, &b, &c, &d, &f] {
        plan = plan.with_stage(StageDecl::new(stage.clone()).kind(long_name('k')));
    }
    plan = plan
        // An ingress whose lane kind differs from the boundary's: `bridge.<ingress>`.
        .with_connection(Connection::new(i.clone(), a.clone()).lane(LaneIntent::sequenced_slots(8)))
        // `a` routes: events to b, sequenced slots to c (a bridge), broadcast to d and f.
        .with_connection(Connection::new(a.clone(), b.clone()))
        .with_connection(Connection::new(a.clone(), c.clone()).lane(LaneIntent::sequenced_slots(8)))
        .with_connection(Connection::new(a.clone(), d.clone()).lane(broadcast.clone()))
        .with_connection(Connection::new(a.clone(), f.clone()).lane(broadcast))
        // `d` merges b (events) and c (sequenced slots, bridged into the merge).
        .with_connection(Connection::new(b.clone(), d.clone()))
        .with_connection(Connection::new(c.clone(), d.clone()).lane(LaneIntent::sequenced_slots(8)))
        // `e` merges d and f; f's lane is sequenced slots.
        .with_connection(Connection::new(d, e.clone()))
        .with_connection(Connection::new(f, e).lane(LaneIntent::sequenced_slots(8)));
    let (array, table) = nested(PARAM_V1_MAX_DEPTH);
    plan.stages[0]
        .params
        .insert("k".repeat(NAME_V1_MAX_BYTES), array);
    plan.stages[1].params.insert("t".to_owned(), table);
    plan
}

#[cfg(feature = "lane_graph_fanout")]
#[test]
fn the_longest_names_lower_to_a_valid_spec_that_round_trips() {
    let plan = longest_names_plan();
    assert_eq!(validate_plan_v2(&plan), Ok(()));
    let spec = lower_v2(&plan).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(validate_v1(&spec), Ok(()));

    let TopologySpec::LaneGraph(graph) = &spec.topology else {
        panic!("lane graph expected");
    };
    let role = |prefix: &str| {
        graph
            .roles
            .iter()
            .find(|r| r.name.starts_with(prefix))
            .unwrap_or_else(|| panic!("no role named {prefix}..."))
    };
    // Every generated name shape is there, and the longest fit their limits.
    for prefix in [
        "router.",
        "merge.",
        "bridge.router.",
        "bridge.merge.",
        "bridge.i",
    ] {
        role(prefix);
    }
    assert!(graph.roles.iter().any(|r| r.name.ends_with(".*")));
    let longest_role = graph.roles.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let longest_lane = graph.lanes.iter().map(|l| l.name.len()).max().unwrap_or(0);
    assert!(longest_role <= ROLE_NAME_V1_MAX_BYTES, "{longest_role}");
    assert!(longest_lane <= LANE_NAME_V1_MAX_BYTES, "{longest_lane}");
    assert_eq!(
        longest_role,
        "bridge.router.".len() + 2 * NAME_V1_MAX_BYTES + 1
    );

    // Both text forms carry it exactly.
    assert_eq!(PipelineSpecV1::from_kv(&spec.to_kv()).as_ref(), Ok(&spec));
    assert_eq!(
        PipelinePlanV2::from_toml(&plan.to_toml()).as_ref(),
        Ok(&plan)
    );
}

#[test]
fn nesting_at_the_limit_round_trips_through_both_text_forms() {
    let (array, table) = nested(PARAM_V1_MAX_DEPTH);
    assert_eq!((array.depth(), table.depth()), (32, 32));
    let plan = PipelinePlanV2::single_ring("ring")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(
            StageDecl::new("s")
                .param("array", array)
                .param("table", table),
        );
    assert_eq!(validate_plan_v2(&plan), Ok(()));
    assert_eq!(
        PipelinePlanV2::from_toml(&plan.to_toml()).as_ref(),
        Ok(&plan)
    );
    let spec = lower_v2(&plan).expect("valid");
    assert_eq!(PipelineSpecV1::from_kv(&spec.to_kv()).as_ref(), Ok(&spec));
}

#[test]
fn one_level_past_the_limit_is_refused_everywhere() {
    let (array, table) = nested(PARAM_V1_MAX_DEPTH + 1);
    for (param, value) in [("array", array), ("table", table)] {
        let plan = PipelinePlanV2::single_ring("ring")
            .with_ingress("in")
            .with_egress("out")
            .with_stage(StageDecl::new("s").param(param, value.clone()));

        // Validation names stage and parameter; lowering refuses with it.
        let errors = validate_plan_v2(&plan).expect_err("too deep");
        assert!(
            matches!(
                errors.violations(),
                [PlanViolation::ParamTooDeep { stage, param: p, depth: 33, max: 32 }]
                    if stage == "s" && p == param
            ),
            "{errors}"
        );
        assert!(matches!(lower_v2(&plan), Err(LowerError::Invalid(_))));

        // The plan document is written, and refused on reading.
        assert!(PipelinePlanV2::from_toml(&plan.to_toml()).is_err());

        // A spec built in code is refused by validate_v1, and its kv text by from_kv.
        let mut spec = lower_v2(
            &PipelinePlanV2::single_ring("ring")
                .with_ingress("in")
                .with_egress("out")
                .with_stage(StageDecl::new("s")),
        )
        .expect("valid");
        spec.stages[0].params.insert(param.to_owned(), value);
        let errors = validate_v1(&spec).expect_err("too deep");
        assert!(
            matches!(
                errors.violations(),
                [SpecViolation::ParamTooDeep { stage, param: p, depth: 33, max: 32 }]
                    if stage == "s" && p == param
            ),
            "{errors}"
        );
        let err = PipelineSpecV1::from_kv(&spec.to_kv()).expect_err("too deep");
        assert!(err.to_string().contains("deeper than 32 levels"), "{err}");
    }
}

#[test]
fn a_nul_byte_in_a_name_is_refused_before_anything_runs() {
    let plan = PipelinePlanV2::single_ring("orders\u{0}")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(StageDecl::new("pa\u{0}rse"));
    let errors = validate_plan_v2(&plan).expect_err("NUL bytes");
    assert_eq!(
        errors.to_string(),
        "pipeline name `orders\\0`: character U+0000 at byte 6 is not allowed; names use ASCII \
         letters, digits, '_' and '-'\n\
         stage #1 name `pa\\0rse`: character U+0000 at byte 2 is not allowed; names use ASCII \
         letters, digits, '_' and '-'"
    );
    assert!(matches!(lower_v2(&plan), Err(LowerError::Invalid(_))));

    // A spec from a file is held to the same rule.
    let mut spec = lower_v2(
        &PipelinePlanV2::single_ring("orders")
            .with_ingress("in")
            .with_egress("out")
            .with_stage(StageDecl::new("parse")),
    )
    .expect("valid");
    spec.stages[0].name = "pa\u{0}rse".to_owned();
    let spec = PipelineSpecV1::from_kv(&spec.to_kv()).expect("kv escapes any name");
    let errors = validate_v1(&spec).expect_err("NUL byte");
    assert!(
        matches!(
            errors.violations(),
            [SpecViolation::InvalidName { item, character: '\u{0}', at: 2, .. }] if item == "stage 0 name"
        ),
        "{errors}"
    );
}
