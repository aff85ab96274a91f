use super::*;
use crate::diagnostics::cycles::MAX_LISTED_CYCLES;
use crate::plan::{
    BoundaryLanePolicy, Connection, LaneGraphPlan, LaneIntent, OnFull, OrderingMode, ParamValue,
    ProducerMode, SchedulingMode, SingleRingConstraints, StageDecl,
};
use crate::{
    FANOUT_V1_MAX_CONSUMERS, NAME_V1_MAX_BYTES, PARAM_V1_MAX_DEPTH, PIPELINE_V1_MAX_THREADS,
    RING_V1_MAX_CAPACITY, SEQUENCED_SLOTS_V1_GATING, SINGLE_RING_V1_MAX_SHARDS,
};

/// A valid SingleRing plan: `in -> parse -> risk -> out`.
fn ring() -> PipelinePlanV2 {
    PipelinePlanV2::single_ring("orders")
        .with_ingress("orders_in")
        .with_egress("fills_out")
        .with_stage(StageDecl::new("parse"))
        .with_stage(StageDecl::new("risk").after("parse"))
}

fn constraints(plan: &mut PipelinePlanV2) -> &mut SingleRingConstraints {
    plan.single_ring.as_mut().expect("ring() has constraints")
}

/// A valid LaneGraph plan: `in -> parse -> out`.
fn graph() -> PipelinePlanV2 {
    PipelinePlanV2::lane_graph("plant")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(StageDecl::new("parse"))
        .with_connection(Connection::new("in", "parse"))
        .with_connection(Connection::new("parse", "out"))
}

fn graph_mut(plan: &mut PipelinePlanV2) -> &mut LaneGraphPlan {
    plan.lane_graph.as_mut().expect("graph() has a lane graph")
}

fn errors(plan: &PipelinePlanV2) -> ValidationErrors {
    match validate_plan_v2(plan) {
        Ok(()) => panic!("plan should be invalid: {plan:#?}"),
        Err(e) => e,
    }
}

/// Asserts that the plan breaks exactly one rule, that it matches the pattern, and that
/// the message names every needle.
macro_rules! assert_only {
    ($plan:expr, $pat:pat, [$($needle:expr),* $(,)?]) => {{
        let errors = errors(&$plan);
        assert_eq!(errors.len(), 1, "expected one violation, got:\n{errors}");
        let v = &errors.violations()[0];
        assert!(matches!(v, $pat), "expected {}, got {v:?}", stringify!($pat));
        let text = v.to_string();
        $(assert!(text.contains($needle), "`{text}` does not mention {:?}", $needle);)*
        errors
    }};
}

/// Asserts that among the plan's violations one matches the pattern and names every needle.
macro_rules! assert_has {
    ($plan:expr, $pat:pat, [$($needle:expr),* $(,)?]) => {{
        let errors = errors(&$plan);
        let v = errors
            .iter()
            .find(|v| matches!(v, $pat))
            .unwrap_or_else(|| panic!("no {} among:\n{errors}", stringify!($pat)));
        let text = v.to_string();
        $(assert!(text.contains($needle), "`{text}` does not mention {:?}", $needle);)*
        errors
    }};
}

// ---- good plans ---------------------------------------------------------------------

#[test]
fn linear_ring_is_valid() {
    assert_eq!(validate_plan_v2(&ring()), Ok(()));
}

#[test]
fn diamond_ring_is_valid() {
    let plan = PipelinePlanV2::single_ring("diamond")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(StageDecl::new("a"))
        .with_stage(StageDecl::new("b").after("a"))
        .with_stage(StageDecl::new("c").after("a"))
        .with_stage(StageDecl::new("d").after("b").after("c"));
    assert_eq!(validate_plan_v2(&plan), Ok(()));
}

#[test]
fn sharded_per_key_ring_is_valid() {
    let plan = ring().with_single_ring(SingleRingConstraints {
        capacity: 4096,
        shards: 4,
        ordering: OrderingMode::PerKey,
        shard_key: Some("account".into()),
        ..SingleRingConstraints::default()
    });
    assert_eq!(validate_plan_v2(&plan), Ok(()));
}

#[test]
fn lane_graph_with_fan_out_fan_in_and_kind_change_is_valid() {
    // in -> parse -> {risk, audit} -> route -> out; parse -> audit changes lane kind.
    let plan = PipelinePlanV2::lane_graph("plant")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(StageDecl::new("parse"))
        .with_stage(StageDecl::new("risk"))
        .with_stage(StageDecl::new("audit"))
        .with_stage(StageDecl::new("route"))
        .with_connection(Connection::new("in", "parse"))
        .with_connection(Connection::new("parse", "risk").lane(LaneIntent::events().capacity(256)))
        .with_connection(Connection::new("parse", "audit"))
        .with_connection(Connection::new("risk", "route"))
        .with_connection(Connection::new("audit", "route").lane(LaneIntent::sequenced_slots(100)))
        .with_connection(Connection::new("route", "out"));
    assert_eq!(validate_plan_v2(&plan), Ok(()));
}

#[cfg(feature = "lane_graph_fanout")]
#[test]
fn lane_graph_with_broadcast_is_valid() {
    let broadcast = LaneIntent::of(LaneKind::FanoutBroadcast).capacity(512);
    let mut plan = PipelinePlanV2::lane_graph("bcast")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(StageDecl::new("src"))
        .with_connection(Connection::new("in", "src"));
    for i in 0..FANOUT_V1_MAX_CONSUMERS {
        let name = format!("c{i}");
        plan = plan
            .with_stage(StageDecl::new(name.clone()))
            .with_connection(Connection::new("src", name.clone()).lane(broadcast.clone()))
            .with_connection(Connection::new(name, "out"));
    }
    assert_eq!(validate_plan_v2(&plan), Ok(()));
}

#[cfg(feature = "lane_graph_journal")]
#[test]
fn journal_lanes_are_valid_with_their_feature() {
    let mut plan = graph();
    graph_mut(&mut plan).connections[1].lane = LaneIntent::of(LaneKind::Journal);
    graph_mut(&mut plan).boundary.kind = LaneKind::Journal;
    assert_eq!(validate_plan_v2(&plan), Ok(()));
}

#[test]
fn lane_graph_with_default_payload_is_valid() {
    assert_eq!(validate_plan_v2(&graph()), Ok(()));
}

// ---- every target -------------------------------------------------------------------

#[test]
fn empty_pipeline_name() {
    let mut plan = ring();
    plan.name.clear();
    assert_only!(plan, PlanViolation::EmptyPipelineName, ["pipeline name"]);
}

#[test]
fn single_ring_without_its_table() {
    let mut plan = ring();
    plan.single_ring = None;
    assert_only!(
        plan,
        PlanViolation::MissingPayload {
            table: "single_ring",
            ..
        },
        ["[single_ring]", "target `single_ring`"]
    );
}

#[test]
fn single_ring_with_lane_graph_table_and_lane_intents() {
    let plan = ring().with_connection(Connection::new("parse", "risk"));
    let errors = errors(&plan);
    assert_eq!(errors.len(), 2, "{errors}");
    assert!(matches!(
        errors.violations()[0],
        PlanViolation::UnexpectedPayload {
            table: "lane_graph",
            target: ExecutionTargetV1::SingleRing
        }
    ));
    assert!(errors.violations()[0].to_string().contains("[lane_graph]"));
    assert!(matches!(
        &errors.violations()[1],
        PlanViolation::LaneIntentOnSingleRing { from, to } if from == "parse" && to == "risk"
    ));
    assert!(errors.violations()[1]
        .to_string()
        .contains("`parse -> risk`"));
}

#[test]
fn lane_graph_without_its_table() {
    let mut plan = graph();
    plan.lane_graph = None;
    assert_only!(
        plan,
        PlanViolation::MissingPayload {
            table: "lane_graph",
            ..
        },
        ["[lane_graph]"]
    );
}

#[test]
fn lane_graph_with_single_ring_table() {
    let plan = graph().with_single_ring(SingleRingConstraints::default());
    assert_only!(
        plan,
        PlanViolation::UnexpectedPayload {
            table: "single_ring",
            target: ExecutionTargetV1::LaneGraph
        },
        ["[single_ring]", "`lane_graph`"]
    );
}

#[test]
fn empty_stage_name() {
    let mut plan = ring();
    plan.stages.push(StageDecl::new(""));
    assert_only!(
        plan,
        PlanViolation::EmptyName {
            role: DeclRole::Stage,
            position: 3
        },
        ["stage #3"]
    );
}

#[test]
fn empty_boundary_name() {
    let mut plan = ring();
    plan.egress[0].name.clear();
    assert_only!(
        plan,
        PlanViolation::EmptyName {
            role: DeclRole::Egress,
            position: 1
        },
        ["egress #1"]
    );
}

#[test]
fn empty_stage_kind() {
    let mut plan = ring();
    plan.stages[1].kind = Some(String::new());
    assert_only!(
        plan,
        PlanViolation::EmptyStageKind { .. },
        ["`risk`", "`kind`"]
    );
}

#[test]
fn duplicate_stage_name() {
    let plan = ring().with_stage(StageDecl::new("parse"));
    assert_only!(plan, PlanViolation::DuplicateStage { .. }, ["`parse`"]);
}

#[test]
fn duplicate_ingress_name() {
    let plan = graph().with_ingress("in");
    assert_only!(
        plan,
        PlanViolation::DuplicateBoundary {
            role: DeclRole::Ingress,
            ..
        },
        ["ingress `in`"]
    );
}

#[test]
fn stage_named_like_a_boundary() {
    let mut plan = ring();
    plan.stages[1].name = "fills_out".into();
    plan.stages[1].after = vec!["parse".into()];
    assert_only!(
        plan,
        PlanViolation::NameClash {
            first: DeclRole::Egress,
            second: DeclRole::Stage,
            ..
        },
        ["`fills_out`", "egress", "stage"]
    );
}

#[test]
fn ingress_and_egress_share_a_name() {
    let mut plan = graph();
    plan.egress[0].name = "in".into();
    let errors = assert_has!(
        plan,
        PlanViolation::NameClash {
            first: DeclRole::Ingress,
            second: DeclRole::Egress,
            ..
        },
        ["`in`"]
    );
    assert!(matches!(
        errors.violations()[0],
        PlanViolation::NameClash { .. }
    ));
}

// ---- SingleRing ---------------------------------------------------------------------

#[test]
fn ring_without_ingress() {
    let mut plan = ring();
    plan.ingress.clear();
    assert_only!(
        plan,
        PlanViolation::BoundaryCount {
            role: DeclRole::Ingress,
            ..
        },
        ["exactly one ingress", "found none"]
    );
}

#[test]
fn ring_with_two_ingresses() {
    let plan = ring().with_ingress("more_in");
    assert_only!(
        plan,
        PlanViolation::BoundaryCount {
            role: DeclRole::Ingress,
            ..
        },
        ["exactly one ingress", "`orders_in`", "`more_in`"]
    );
}

#[test]
fn ring_with_two_egresses() {
    let plan = ring().with_egress("audit_out");
    assert_only!(
        plan,
        PlanViolation::BoundaryCount {
            role: DeclRole::Egress,
            expected: "exactly one",
            ..
        },
        ["`audit_out`", "`fills_out`"]
    );
}

#[test]
fn ring_without_stages() {
    let mut plan = ring();
    plan.stages.clear();
    assert_only!(plan, PlanViolation::NoStages { .. }, ["at least one stage"]);
}

#[test]
fn ring_with_too_many_stages() {
    let plan = ring()
        .with_stage(StageDecl::new("c"))
        .with_stage(StageDecl::new("d"))
        .with_stage(StageDecl::new("e"));
    let errors = assert_only!(
        plan,
        PlanViolation::TooManyStages {
            found: 5,
            max: 4,
            ..
        },
        ["`e`"]
    );
    assert!(!errors.to_string().contains("`d`"));
}

#[test]
fn unknown_dependency_with_suggestion() {
    let mut plan = ring();
    plan.stages[1].after = vec!["prase".into()];
    assert_only!(
        plan,
        PlanViolation::UnknownDependency {
            suggestion: Some(_),
            ..
        },
        ["`risk`", "`prase`", "no such stage", "did you mean `parse`"]
    );
}

#[test]
fn unknown_dependency_without_suggestion() {
    let mut plan = ring();
    plan.stages[1].after = vec!["settlement".into()];
    let errors = assert_only!(
        plan,
        PlanViolation::UnknownDependency {
            suggestion: None,
            ..
        },
        ["`settlement`", "no such stage"]
    );
    assert!(!errors.to_string().contains("did you mean"));
}

#[test]
fn dependency_on_a_later_stage() {
    let mut plan = ring();
    plan.stages[0].after = vec!["risk".into()];
    plan.stages[1].after.clear();
    assert_only!(
        plan,
        PlanViolation::DependencyNotEarlier { .. },
        ["`parse`", "`risk`", "must come before"]
    );
}

#[test]
fn self_dependency() {
    let mut plan = ring();
    plan.stages[1].after.push("risk".into());
    assert_only!(
        plan,
        PlanViolation::SelfDependency { .. },
        ["`risk`", "itself"]
    );
}

#[test]
fn duplicate_dependency() {
    let plan = {
        let mut p = ring();
        p.stages[1].after.push("parse".into());
        p
    };
    assert_only!(
        plan,
        PlanViolation::DuplicateDependency { .. },
        ["`risk`", "`parse`", "more than once"]
    );
}

#[test]
fn zero_shards() {
    let mut plan = ring();
    constraints(&mut plan).shards = 0;
    assert_only!(plan, PlanViolation::ZeroShards, ["shards"]);
}

#[test]
fn strict_ordering_with_shards() {
    let mut plan = ring();
    let c = constraints(&mut plan);
    c.shards = 4;
    c.shard_key = Some("account".into());
    assert_only!(
        plan,
        PlanViolation::StrictOrderingWithShards { shards: 4 },
        ["`strict`", "shards = 4", "ordering"]
    );
}

#[test]
fn shards_without_shard_key() {
    let mut plan = ring();
    let c = constraints(&mut plan);
    c.shards = 4;
    c.ordering = OrderingMode::PerKey;
    assert_only!(
        plan,
        PlanViolation::MissingShardKey { shards: 4 },
        ["shard_key"]
    );

    let mut empty_key = ring();
    let c = constraints(&mut empty_key);
    c.shards = 2;
    c.ordering = OrderingMode::PerKey;
    c.shard_key = Some(String::new());
    assert_only!(
        empty_key,
        PlanViolation::MissingShardKey { shards: 2 },
        ["shard_key"]
    );
}

#[test]
fn multi_producer_is_not_supported() {
    let mut plan = ring();
    constraints(&mut plan).producer = ProducerMode::Multi;
    assert_only!(
        plan,
        PlanViolation::MultiProducerNotSupported,
        ["`multi`", "producer", "not supported in v1"]
    );
}

#[test]
fn work_queue_is_not_supported() {
    let mut plan = ring();
    constraints(&mut plan).scheduling = SchedulingMode::WorkQueue;
    assert_only!(
        plan,
        PlanViolation::WorkQueueNotSupported,
        ["`work_queue`", "scheduling", "not supported in v1"]
    );
}

#[test]
fn ring_capacity_must_be_a_power_of_two_of_at_least_two() {
    for capacity in [0, 1, 3, 1000] {
        let mut plan = ring();
        constraints(&mut plan).capacity = capacity;
        assert_only!(
            plan,
            PlanViolation::RingCapacity { .. },
            ["single_ring.capacity", &capacity.to_string()]
        );
    }
    for capacity in [2, 64, RING_V1_MAX_CAPACITY] {
        let mut plan = ring();
        constraints(&mut plan).capacity = capacity;
        assert_eq!(validate_plan_v2(&plan), Ok(()), "capacity {capacity}");
    }
}

// ---- LaneGraph ----------------------------------------------------------------------

#[test]
fn lane_graph_needs_ingress_egress_and_stages() {
    let plan = PipelinePlanV2::lane_graph("empty");
    let errors = errors(&plan);
    assert_eq!(errors.len(), 3, "{errors}");
    assert!(matches!(
        errors.violations()[0],
        PlanViolation::BoundaryCount {
            role: DeclRole::Ingress,
            expected: "at least one",
            ..
        }
    ));
    assert!(matches!(
        errors.violations()[1],
        PlanViolation::BoundaryCount {
            role: DeclRole::Egress,
            expected: "at least one",
            ..
        }
    ));
    assert!(matches!(
        errors.violations()[2],
        PlanViolation::NoStages { .. }
    ));
    assert!(errors.to_string().contains("at least one ingress"));
    assert!(errors.to_string().contains("at least one egress"));
}

#[test]
fn after_on_lane_graph() {
    let mut plan = graph();
    plan.stages[0].after = vec!["x".into()];
    assert_only!(
        plan,
        PlanViolation::AfterOnLaneGraph { .. },
        ["`parse`", "`x`", "single_ring only"]
    );
}

#[test]
fn missing_on_full() {
    let mut plan = graph();
    graph_mut(&mut plan).on_full = None;
    assert_only!(plan, PlanViolation::MissingOnFull, ["on_full"]);
}

#[test]
fn unknown_source_and_destination() {
    let mut plan = graph();
    graph_mut(&mut plan).connections[0].from = "inn".into();
    graph_mut(&mut plan).connections[1].to = "nowhere".into();
    let errors = assert_has!(
        plan,
        PlanViolation::UnknownSource {
            suggestion: Some(_),
            ..
        },
        [
            "`inn -> parse`",
            "no ingress or stage named `inn`",
            "did you mean `in`"
        ]
    );
    assert_has!(
        plan,
        PlanViolation::UnknownDestination {
            suggestion: None,
            ..
        },
        ["`parse -> nowhere`", "no stage or egress named `nowhere`"]
    );
    // The real boundaries are now unused, and the stage is cut off.
    assert!(errors
        .iter()
        .any(|v| matches!(v, PlanViolation::UnconnectedBoundary { .. })));
    assert!(errors
        .iter()
        .any(|v| matches!(v, PlanViolation::UnreachableStage { .. })));
}

#[test]
fn connection_from_an_egress() {
    let plan = graph().with_connection(Connection::new("out", "parse"));
    assert_only!(
        plan,
        PlanViolation::ConnectionFromEgress { .. },
        ["`out -> parse`", "egress `out`"]
    );
}

#[test]
fn connection_to_an_ingress() {
    let plan = graph().with_connection(Connection::new("parse", "in"));
    assert_only!(
        plan,
        PlanViolation::ConnectionToIngress { .. },
        ["`parse -> in`", "ingress `in`"]
    );
}

#[test]
fn connection_between_boundaries() {
    let plan = graph().with_connection(Connection::new("in", "out"));
    assert_only!(
        plan,
        PlanViolation::BoundaryToBoundary { .. },
        ["`in -> out`"]
    );
}

#[test]
fn duplicate_connection() {
    let plan = graph().with_connection(Connection::new("in", "parse"));
    assert_only!(
        plan,
        PlanViolation::DuplicateConnection { .. },
        ["`in -> parse`", "more than once"]
    );
}

#[test]
fn unconnected_boundary() {
    let plan = graph().with_egress("spare_out");
    assert_only!(
        plan,
        PlanViolation::UnconnectedBoundary {
            role: DeclRole::Egress,
            ..
        },
        ["egress `spare_out`"]
    );
}

#[test]
fn unreachable_stage_and_stage_without_egress() {
    // `orphan -> out` is never fed; `sink` is fed but leads nowhere.
    let plan = graph()
        .with_stage(StageDecl::new("orphan"))
        .with_stage(StageDecl::new("sink"))
        .with_connection(Connection::new("orphan", "out"))
        .with_connection(Connection::new("parse", "sink"));
    let errors = errors(&plan);
    assert_eq!(errors.len(), 2, "{errors}");
    assert!(
        matches!(&errors.violations()[0], PlanViolation::UnreachableStage { stage } if stage == "orphan")
    );
    assert!(
        matches!(&errors.violations()[1], PlanViolation::StageWithoutEgress { stage } if stage == "sink")
    );
    assert!(errors.violations()[0].to_string().contains("`orphan`"));
    assert!(errors.violations()[1].to_string().contains("`sink`"));
}

#[test]
fn cycle_is_printed_as_a_path() {
    // in -> a -> b -> c -> out, and c -> b closes `b -> c -> b`.
    let plan = PipelinePlanV2::lane_graph("loop")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(StageDecl::new("a"))
        .with_stage(StageDecl::new("b"))
        .with_stage(StageDecl::new("c"))
        .with_connection(Connection::new("in", "a"))
        .with_connection(Connection::new("a", "b"))
        .with_connection(Connection::new("b", "c"))
        .with_connection(Connection::new("c", "b"))
        .with_connection(Connection::new("c", "out"));
    let errors = assert_only!(plan, PlanViolation::Cycle { .. }, ["b -> c -> b"]);
    assert_eq!(errors.to_string(), "cycle: b -> c -> b");
}

#[test]
fn each_distinct_cycle_is_reported_once() {
    // Two cycles sharing `a`: a -> b -> a and a -> c -> a. `c` is listed first, so the walk
    // starts there and the cycle through it prints from `c`; cycles come in the order the
    // walk closes them.
    let plan = PipelinePlanV2::lane_graph("loops")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(StageDecl::new("c"))
        .with_stage(StageDecl::new("a"))
        .with_stage(StageDecl::new("b"))
        .with_stage(StageDecl::new("self"))
        .with_connection(Connection::new("in", "a"))
        .with_connection(Connection::new("a", "b"))
        .with_connection(Connection::new("b", "a"))
        .with_connection(Connection::new("a", "c"))
        .with_connection(Connection::new("c", "a"))
        .with_connection(Connection::new("a", "self"))
        .with_connection(Connection::new("self", "self"))
        .with_connection(Connection::new("self", "out"));
    let errors = errors(&plan);
    let cycles: Vec<String> = errors
        .iter()
        .filter(|v| matches!(v, PlanViolation::Cycle { .. }))
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        cycles,
        [
            "cycle: a -> b -> a",
            "cycle: c -> a -> c",
            "cycle: self -> self"
        ]
    );
    assert_eq!(errors.len(), 3, "{errors}");
}

#[cfg(not(feature = "lane_graph_journal"))]
#[test]
fn journal_lane_needs_its_feature() {
    let mut plan = graph();
    graph_mut(&mut plan).connections[1].lane = LaneIntent::of(LaneKind::Journal);
    assert_only!(
        plan,
        PlanViolation::LaneKindDisabled { kind: LaneKind::Journal, feature: "lane_graph_journal", .. },
        ["lane kind `journal` on connection `parse -> out` needs cargo feature `lane_graph_journal`"]
    );
}

#[cfg(not(feature = "lane_graph_journal"))]
#[test]
fn journal_boundary_needs_its_feature() {
    let mut plan = graph();
    graph_mut(&mut plan).boundary.kind = LaneKind::Journal;
    assert_only!(
        plan,
        PlanViolation::BoundaryKindDisabled {
            kind: LaneKind::Journal,
            ..
        },
        ["boundary lane kind `journal`", "`lane_graph_journal`"]
    );
}

#[cfg(not(feature = "lane_graph_fanout"))]
#[test]
fn broadcast_lane_needs_its_feature() {
    let mut plan = graph();
    graph_mut(&mut plan).connections[1].lane = LaneIntent::of(LaneKind::FanoutBroadcast);
    assert_only!(
        plan,
        PlanViolation::LaneKindDisabled {
            kind: LaneKind::FanoutBroadcast,
            ..
        },
        [
            "`fanout_broadcast`",
            "`parse -> out`",
            "`lane_graph_fanout`"
        ]
    );
}

#[test]
fn sequenced_slots_need_capacity() {
    for capacity in [None, Some(0)] {
        let mut plan = graph();
        graph_mut(&mut plan).connections[1].lane = LaneIntent {
            kind: LaneKind::SequencedSlots,
            capacity,
            gating: Some(SEQUENCED_SLOTS_V1_GATING.into()),
            on_full: None,
        };
        assert_only!(
            plan,
            PlanViolation::SequencedSlotsCapacity { .. },
            ["`parse -> out`", "capacity > 0"]
        );
    }
    // Any positive capacity is fine: sequenced slots are not a power-of-two ring.
    let mut plan = graph();
    graph_mut(&mut plan).connections[1].lane = LaneIntent::sequenced_slots(3);
    assert_eq!(validate_plan_v2(&plan), Ok(()));
}

#[test]
fn sequenced_slots_need_the_v1_gating() {
    let mut plan = graph();
    graph_mut(&mut plan).connections[1].lane.kind = LaneKind::SequencedSlots;
    graph_mut(&mut plan).connections[1].lane.capacity = Some(16);
    graph_mut(&mut plan).connections[1].lane.gating = Some("any_reader".into());
    assert_only!(
        plan,
        PlanViolation::SequencedSlotsGating { .. },
        ["`parse -> out`", "`all_readers`", "`any_reader`"]
    );
    graph_mut(&mut plan).connections[1].lane.gating = None;
    assert_only!(
        plan,
        PlanViolation::SequencedSlotsGating { found: None, .. },
        ["`all_readers`", "found none"]
    );
}

#[test]
fn gating_only_on_sequenced_slots() {
    let mut plan = graph();
    graph_mut(&mut plan).connections[0].lane.gating = Some(SEQUENCED_SLOTS_V1_GATING.into());
    assert_only!(
        plan,
        PlanViolation::UnexpectedGating {
            kind: LaneKind::Events,
            ..
        },
        ["`in -> parse`", "`events`", "all_readers"]
    );
}

#[test]
fn lane_capacity_must_be_a_power_of_two() {
    let mut plan = graph();
    graph_mut(&mut plan).connections[0].lane.capacity = Some(1000);
    assert_only!(
        plan,
        PlanViolation::LaneCapacity { capacity: 1000, .. },
        ["`in -> parse`", "1000", "power of two"]
    );
}

#[test]
fn boundary_capacity_must_be_a_power_of_two() {
    let mut plan = graph();
    graph_mut(&mut plan).boundary = BoundaryLanePolicy {
        capacity: Some(1),
        on_full: Some(OnFull::Drop),
        ..BoundaryLanePolicy::default()
    };
    assert_only!(
        plan,
        PlanViolation::BoundaryCapacity { capacity: 1 },
        ["boundary.capacity", "1"]
    );
}

#[test]
fn sequenced_slots_boundary_needs_capacity() {
    let mut plan = graph();
    graph_mut(&mut plan).boundary.kind = LaneKind::SequencedSlots;
    assert_only!(
        plan,
        PlanViolation::BoundarySequencedSlotsCapacity,
        ["boundary", "sequenced_slots"]
    );
    graph_mut(&mut plan).boundary.capacity = Some(64);
    assert_eq!(validate_plan_v2(&plan), Ok(()));
}

/// `src` broadcasting to `n` consumers, each leading to `out`.
fn broadcast_plan(n: usize) -> PipelinePlanV2 {
    let mut plan = PipelinePlanV2::lane_graph("bcast")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(StageDecl::new("src"))
        .with_connection(Connection::new("in", "src"));
    for i in 0..n {
        let name = format!("c{i}");
        plan = plan
            .with_stage(StageDecl::new(name.clone()))
            .with_connection(
                Connection::new("src", name.clone())
                    .lane(LaneIntent::of(LaneKind::FanoutBroadcast)),
            )
            .with_connection(Connection::new(name, "out"));
    }
    plan
}

#[test]
fn too_many_broadcast_consumers() {
    let plan = broadcast_plan(FANOUT_V1_MAX_CONSUMERS + 1);
    let errors = assert_has!(
        plan,
        PlanViolation::TooManyBroadcastConsumers {
            max: FANOUT_V1_MAX_CONSUMERS,
            ..
        },
        ["`src`", "9 consumers", "`c8`", "at most 8"]
    );
    let others = errors
        .iter()
        .filter(|v| !matches!(v, PlanViolation::LaneKindDisabled { .. }))
        .count();
    assert_eq!(others, 1, "{errors}");
}

#[test]
fn broadcast_mixed_with_point_to_point_lanes_is_valid() {
    // Lowering routes the broadcast group and the events lane through a router (and a
    // bridge where kinds differ), so a source may mix them.
    let mut plan = broadcast_plan(2);
    graph_mut(&mut plan).connections[3].lane = LaneIntent::events();
    if let Err(errors) = validate_plan_v2(&plan) {
        assert!(
            errors
                .iter()
                .all(|v| matches!(v, PlanViolation::LaneKindDisabled { .. })),
            "{errors}"
        );
    }
}

#[test]
fn broadcast_capacity_mismatch() {
    let mut plan = broadcast_plan(2);
    graph_mut(&mut plan).connections[1].lane.capacity = Some(64);
    let errors = assert_has!(
        plan,
        PlanViolation::BroadcastCapacityMismatch { .. },
        ["`src`", "`c0`: 64", "`c1`: 1024"]
    );
    let others = errors
        .iter()
        .filter(|v| !matches!(v, PlanViolation::LaneKindDisabled { .. }))
        .count();
    assert_eq!(others, 1, "{errors}");
}

// ---- names --------------------------------------------------------------------------

#[test]
fn nul_byte_in_a_stage_name() {
    let mut plan = ring();
    plan.stages[1].name = "ab\u{0}c".into();
    let errors = assert_only!(
        plan,
        PlanViolation::InvalidName {
            character: '\u{0}',
            at: 2,
            ..
        },
        ["stage #2 name"]
    );
    assert_eq!(
        errors.to_string(),
        "stage #2 name `ab\\0c`: character U+0000 at byte 2 is not allowed; names use ASCII \
         letters, digits, '_' and '-'"
    );
}

#[test]
fn every_name_follows_the_name_rule() {
    let mut plan = ring();
    plan.name = "my orders".into();
    plan.ingress[0].name = "orders.in".into();
    plan.egress[0].name = "fills\u{1b}[2J".into();
    plan.stages[0].kind = Some("parse/order".into());
    plan.stages[1].after = vec!["parse".into()];
    let c = constraints(&mut plan);
    c.shards = 2;
    c.ordering = OrderingMode::PerKey;
    c.shard_key = Some("account id".into());
    let errors = errors(&plan);
    let found: Vec<(String, char, usize)> = errors
        .iter()
        .filter_map(|v| match v {
            PlanViolation::InvalidName {
                item,
                character,
                at,
                ..
            } => Some((item.to_string(), *character, *at)),
            _ => None,
        })
        .collect();
    let found: Vec<(&str, char, usize)> =
        found.iter().map(|(i, c, a)| (i.as_str(), *c, *a)).collect();
    assert_eq!(
        found,
        [
            ("pipeline name", ' ', 2),
            ("ingress #1 name", '.', 6),
            ("egress #1 name", '\u{1b}', 5),
            ("stage `parse` kind", '/', 5),
            ("single_ring.shard_key", ' ', 7),
        ],
        "{errors}"
    );
    assert_eq!(errors.len(), found.len(), "{errors}");
    let text = errors.to_string();
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(text.contains("egress #1 name `fills\\u{1b}[2J`: character U+001B at byte 5"));
    assert!(text.contains("ingress #1 name `orders.in`: character '.' (U+002E) at byte 6"));
}

#[test]
fn names_cannot_take_the_shape_of_generated_names() {
    // `router.parse` is what lowering calls the router after `parse`: no plan name can be it.
    let plan = graph().with_stage(StageDecl::new("router.parse"));
    assert_has!(
        plan,
        PlanViolation::InvalidName { character: '.', .. },
        ["stage #2 name `router.parse`"]
    );
    for odd in ["a->b", "caf\u{e9}", "tab\there", "*"] {
        let mut plan = graph();
        plan.name = odd.into();
        assert_only!(plan, PlanViolation::InvalidName { .. }, ["pipeline name"]);
    }
}

#[test]
fn letters_digits_underscore_and_dash_are_names() {
    let mut plan = ring();
    plan.name = "Orders_2-EU".into();
    plan.stages[0].kind = Some("PARSE-v2_x".into());
    assert_eq!(validate_plan_v2(&plan), Ok(()));
}

#[test]
fn names_are_at_most_64_bytes() {
    let mut plan = ring();
    plan.stages[0].name = "p".repeat(NAME_V1_MAX_BYTES);
    plan.stages[1].after = vec![plan.stages[0].name.clone()];
    assert_eq!(validate_plan_v2(&plan), Ok(()));

    let long = "p".repeat(1_000_000);
    plan.stages[0].name = long.clone();
    plan.stages[1].after = vec![long.clone()];
    let errors = assert_only!(
        plan,
        PlanViolation::NameTooLong {
            len: 1_000_000,
            max: NAME_V1_MAX_BYTES,
            ..
        },
        ["stage #1 name", "1000000 bytes long", "at most 64 bytes"]
    );
    // The name is cut in the violation and its message.
    match &errors.violations()[0] {
        PlanViolation::NameTooLong { name, .. } => {
            assert_eq!(name, &format!("{}…", "p".repeat(NAME_V1_MAX_BYTES)));
        }
        other => panic!("{other:?}"),
    }
    assert!(errors.to_string().len() < 200, "{errors}");
}

#[test]
fn a_long_name_costs_one_cut_copy_per_violation() {
    // A stage with a long name and many unknown dependencies: every violation carries the
    // stage's name cut to the name limit, not a copy of the whole name.
    let long = "s".repeat(100_000);
    let mut plan = ring();
    plan.stages[1].name = long;
    plan.stages[1].after = (0..1000).map(|i| format!("x{i}")).collect();
    let errors = errors(&plan);
    assert_eq!(
        errors.len(),
        1001,
        "NameTooLong and one per unknown dependency"
    );
    let bytes: usize = errors.iter().map(|v| v.to_string().len()).sum();
    assert!(bytes < 1001 * 200, "{bytes}");
}

// ---- parameters ---------------------------------------------------------------------

/// A value of the given depth: `[[...[1]...]]`.
fn nested(depth: usize) -> ParamValue {
    let mut value = ParamValue::Int(1);
    for _ in 1..depth {
        value = ParamValue::Array(vec![value]);
    }
    value
}

#[test]
fn params_nest_at_most_the_limit() {
    let mut plan = ring();
    plan.stages[0]
        .params
        .insert("ok".into(), nested(PARAM_V1_MAX_DEPTH));
    assert_eq!(validate_plan_v2(&plan), Ok(()));
    plan.stages[1]
        .params
        .insert("deep".into(), nested(PARAM_V1_MAX_DEPTH + 1));
    let errors = assert_only!(
        plan,
        PlanViolation::ParamTooDeep {
            depth: 33,
            max: PARAM_V1_MAX_DEPTH,
            ..
        },
        [
            "stage `risk` param `deep` nests 33 levels deep",
            "at most 32 levels"
        ]
    );
    drop(errors);
    // Tables count like arrays.
    let mut table = ParamValue::Int(1);
    for _ in 0..PARAM_V1_MAX_DEPTH {
        table = ParamValue::Table([("k".to_owned(), table)].into());
    }
    let mut plan = ring();
    plan.stages[0].params.insert("t".into(), table);
    assert_only!(plan, PlanViolation::ParamTooDeep { depth: 33, .. }, ["`t`"]);
}

#[test]
fn param_names_are_at_most_64_bytes() {
    let mut plan = ring();
    plan.stages[0]
        .params
        .insert("k".repeat(NAME_V1_MAX_BYTES), ParamValue::Int(1));
    plan.stages[0]
        .params
        .insert(String::new(), ParamValue::Int(1));
    assert_eq!(validate_plan_v2(&plan), Ok(()));
    plan.stages[0]
        .params
        .insert("k".repeat(NAME_V1_MAX_BYTES + 1), ParamValue::Int(1));
    assert_only!(
        plan,
        PlanViolation::ParamNameTooLong {
            len: 65,
            max: NAME_V1_MAX_BYTES,
            ..
        },
        ["stage `parse`", "65 bytes long"]
    );
}

// ---- limits -------------------------------------------------------------------------

#[test]
fn ring_capacity_is_at_most_the_limit() {
    let mut plan = ring();
    constraints(&mut plan).capacity = RING_V1_MAX_CAPACITY * 2;
    assert_only!(
        plan,
        PlanViolation::RingCapacityTooLarge {
            capacity: 33_554_432,
            max: RING_V1_MAX_CAPACITY
        },
        ["single_ring.capacity is 33554432", "at most 16777216 slots"]
    );
    constraints(&mut plan).capacity = u32::MAX;
    let errors = errors(&plan);
    assert!(matches!(
        errors.violations(),
        [
            PlanViolation::RingCapacity { .. },
            PlanViolation::RingCapacityTooLarge { .. }
        ]
    ));
}

#[test]
fn shards_are_at_most_the_limit() {
    let sharded = |stages: usize, shards: u32| {
        let mut plan = PipelinePlanV2::single_ring("sharded")
            .with_ingress("in")
            .with_egress("out");
        for i in 0..stages {
            plan = plan.with_stage(StageDecl::new(format!("s{i}")));
        }
        plan.with_single_ring(SingleRingConstraints {
            shards,
            ordering: OrderingMode::PerKey,
            shard_key: Some("account".into()),
            ..SingleRingConstraints::default()
        })
    };
    assert_eq!(
        validate_plan_v2(&sharded(1, SINGLE_RING_V1_MAX_SHARDS)),
        Ok(())
    );
    assert_eq!(validate_plan_v2(&sharded(4, 64)), Ok(()));
    let too_many = errors(&sharded(1, SINGLE_RING_V1_MAX_SHARDS + 1));
    assert!(matches!(
        too_many.violations(),
        [
            PlanViolation::TooManyShards {
                shards: 257,
                max: 256
            },
            PlanViolation::TooManyRingThreads { threads: 257, .. }
        ]
    ));
    assert_only!(
        sharded(4, 65),
        PlanViolation::TooManyRingThreads {
            stages: 4,
            shards: 65,
            threads: 260,
            max: PIPELINE_V1_MAX_THREADS
        },
        [
            "shards = 65 with 4 stages runs 260 stage threads",
            "at most 256 threads"
        ]
    );
    // No overflow with absurd counts.
    let absurd = errors(&sharded(4, u32::MAX));
    assert!(absurd.iter().any(|v| matches!(
        v,
        PlanViolation::TooManyRingThreads {
            threads: 17_179_869_180,
            ..
        }
    )));
}

#[test]
fn lane_capacities_are_at_most_the_limit() {
    let mut plan = graph();
    graph_mut(&mut plan).connections[0].lane.capacity = Some(RING_V1_MAX_CAPACITY);
    assert_eq!(validate_plan_v2(&plan), Ok(()));
    graph_mut(&mut plan).connections[0].lane.capacity = Some(RING_V1_MAX_CAPACITY * 2);
    assert_only!(
        plan,
        PlanViolation::LaneCapacityTooLarge {
            capacity: 33_554_432,
            ..
        },
        ["`in -> parse`", "33554432", "16777216 slots"]
    );
    // Sequenced slots take any capacity above zero, up to the same limit.
    let mut plan = graph();
    graph_mut(&mut plan).connections[1].lane =
        LaneIntent::sequenced_slots(RING_V1_MAX_CAPACITY + 1);
    assert_only!(
        plan,
        PlanViolation::LaneCapacityTooLarge { .. },
        ["`parse -> out`"]
    );
    let mut plan = graph();
    graph_mut(&mut plan).boundary.capacity = Some(1 << 30);
    assert_only!(
        plan,
        PlanViolation::BoundaryCapacityTooLarge {
            capacity: 1_073_741_824,
            max: RING_V1_MAX_CAPACITY
        },
        ["lane_graph.boundary.capacity is 1073741824"]
    );
}

/// `in -> s0 -> s1 -> ... -> s<n-1> -> out`.
fn chain(n: usize) -> PipelinePlanV2 {
    let mut plan = PipelinePlanV2::lane_graph("chain")
        .with_ingress("in")
        .with_egress("out")
        .with_connection(Connection::new("in", "s0"));
    for i in 0..n {
        plan = plan.with_stage(StageDecl::new(format!("s{i}")));
        let next = if i + 1 < n {
            format!("s{}", i + 1)
        } else {
            "out".to_owned()
        };
        plan = plan.with_connection(Connection::new(format!("s{i}"), next));
    }
    plan
}

#[test]
fn lane_graph_roles_are_at_most_the_thread_limit() {
    assert_eq!(validate_plan_v2(&chain(PIPELINE_V1_MAX_THREADS)), Ok(()));
    assert_only!(
        chain(PIPELINE_V1_MAX_THREADS + 1),
        PlanViolation::TooManyRoles {
            stages: 257,
            inserted: 0,
            max: PIPELINE_V1_MAX_THREADS
        },
        [
            "257 roles (257 stages and 0 inserted",
            "at most 256 threads"
        ]
    );
}

#[test]
fn inserted_roles_count_toward_the_thread_limit() {
    // 254 stages, and a fan-out from s0 to s1 and out: a router; then s1 -> out makes out
    // a fan-in: a merge. 254 + 2 = 256 roles.
    let mut plan = chain(PIPELINE_V1_MAX_THREADS - 2).with_connection(Connection::new("s0", "out"));
    assert_eq!(validate_plan_v2(&plan), Ok(()));
    // A sequenced_slots lane on a router output adds a bridge: 257 roles.
    graph_mut(&mut plan).connections[1].lane = LaneIntent::sequenced_slots(64);
    assert_only!(
        plan,
        PlanViolation::TooManyRoles {
            stages: 254,
            inserted: 3,
            ..
        },
        ["257 roles"]
    );
}

// ---- bounded reports ----------------------------------------------------------------

#[test]
fn cycles_past_sixteen_are_counted() {
    // A chain with a connection back to s0 from every stage: one cycle per stage.
    let n = 1000;
    let mut plan = chain(n);
    for i in 0..n {
        plan = plan.with_connection(Connection::new(format!("s{i}"), "s0"));
    }
    let errors = errors(&plan);
    let cycles = errors
        .iter()
        .filter(|v| matches!(v, PlanViolation::Cycle { .. }))
        .count();
    assert_eq!(cycles, MAX_LISTED_CYCLES);
    assert!(errors.iter().any(|v| matches!(
        v,
        PlanViolation::MoreCycles { count, listed: 16 } if *count == n - MAX_LISTED_CYCLES
    )));
    assert!(errors
        .to_string()
        .contains("… and 984 more cycles; only the first 16 are listed"));
    // The listed cycles are bounded in length too.
    assert!(
        errors.to_string().len() < 40_000,
        "{}",
        errors.to_string().len()
    );
}

#[test]
fn suggestions_stop_after_sixteen_unknown_names() {
    // A hundred names one letter away from `parse`.
    let typos = (0..5).flat_map(|at| {
        ('a'..='z').map(move |c| {
            let mut name: Vec<char> = "parse".chars().collect();
            name[at] = c;
            name.into_iter().collect::<String>()
        })
    });
    let mut plan = graph();
    for typo in typos.filter(|t| t != "parse").take(100) {
        plan = plan.with_connection(Connection::new("parse", typo));
    }
    let errors = errors(&plan);
    let unknown = errors
        .iter()
        .filter(|v| matches!(v, PlanViolation::UnknownDestination { .. }))
        .count();
    let suggested = errors
        .iter()
        .filter(|v| {
            matches!(
                v,
                PlanViolation::UnknownDestination {
                    suggestion: Some(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(unknown, 100);
    assert_eq!(suggested, 16);
}

#[test]
fn single_ring_dependency_cycles_are_reported_as_cycles() {
    // risk -> audit -> publish -> risk: no order of the list fixes it, so the cycle is the
    // violation, not "declare `publish` first".
    let plan = ring()
        .with_stage(StageDecl::new("audit").after("risk"))
        .with_stage(StageDecl::new("publish").after("audit"));
    let mut plan = plan;
    plan.stages[1].after.push("publish".into());
    let errors = assert_only!(
        plan,
        PlanViolation::Cycle { omitted: 0, .. },
        ["cycle: risk -> audit -> publish -> risk"]
    );
    assert_eq!(
        errors.to_string(),
        "cycle: risk -> audit -> publish -> risk"
    );

    // A later dependency off any cycle is still "declare it first".
    let mut plan = ring().with_stage(StageDecl::new("audit"));
    plan.stages[1].after.push("audit".into());
    assert_only!(
        plan,
        PlanViolation::DependencyNotEarlier { .. },
        ["`audit` must come before `risk`"]
    );
}

#[test]
fn a_dependency_on_a_boundary_says_which_boundary() {
    let mut plan = ring();
    plan.stages[1].after = vec!["parse".into(), "orders_in".into(), "fills_out".into()];
    let found: Vec<String> = errors(&plan).iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        [
            "stage `risk` runs after `orders_in`, which is an ingress, not a stage: a stage \
             without `after` already reads from the ingress",
            "stage `risk` runs after `fills_out`, which is an egress, not a stage: nothing runs \
             after an egress",
        ]
    );
}

#[test]
fn a_ring_capacity_that_is_no_power_of_two_names_the_nearest() {
    for (capacity, hint) in [
        (1000, "the nearest are 512 and 1024"),
        (0, "the smallest is 2"),
        (1, "the smallest is 2"),
        (3, "the nearest are 2 and 4"),
        (u32::MAX, "the nearest are 2147483648 and 4294967296"),
    ] {
        let mut plan = ring();
        constraints(&mut plan).capacity = capacity;
        assert_has!(plan, PlanViolation::RingCapacity { .. }, [hint]);
    }
}

#[test]
fn a_repeated_dependency_is_reported_once() {
    let mut plan = ring();
    plan.stages[1].after = vec!["parse".into(); 1000];
    assert_only!(plan, PlanViolation::DuplicateDependency { .. }, ["`parse`"]);
}

// ---- reporting ----------------------------------------------------------------------

#[test]
fn a_plan_with_many_errors_reports_all_of_them_in_order() {
    let mut plan = PipelinePlanV2::single_ring("")
        .with_ingress("a")
        .with_ingress("b")
        .with_stage(StageDecl::new("s1").after("s2"))
        .with_stage(StageDecl::new("s2").after("s2"))
        .with_stage(StageDecl::new("a"))
        .with_connection(Connection::new("s1", "s2"));
    *constraints(&mut plan) = SingleRingConstraints {
        capacity: 100,
        shards: 0,
        ordering: OrderingMode::Strict,
        producer: ProducerMode::Multi,
        scheduling: SchedulingMode::WorkQueue,
        shard_key: None,
    };
    let errors = errors(&plan);
    let expected = [
        "pipeline name is empty",
        "target `single_ring` does not take a `[lane_graph]` table",
        "name `a` is declared both as ingress and as stage",
        "a `single_ring` plan needs exactly one ingress, found 2: `a`, `b`",
        "a `single_ring` plan needs exactly one egress, found none",
        "stage `s1` runs after `s2`, so `s2` must come before `s1`",
        "stage `s2` runs after itself",
        "single_ring.capacity is 100",
        "single_ring.shards is 0",
        "single_ring.producer `multi` is not supported in v1",
        "single_ring.scheduling `work_queue` is not supported in v1",
        "connection `s1 -> s2`: a `single_ring` plan takes no lane intents",
    ];
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), expected.len(), "{errors}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(want),
            "`{line}` does not start with `{want}`"
        );
    }
    // Display: one violation per line, same order.
    assert_eq!(errors.to_string(), lines.join("\n"));
    assert_eq!(errors.to_string().lines().count(), expected.len());
    // Deterministic.
    assert_eq!(validate_plan_v2(&plan), Err(errors.clone()));
    // The collection API agrees with itself.
    assert!(!errors.is_empty());
    assert_eq!(errors.violations().len(), errors.len());
    assert_eq!((&errors).into_iter().count(), errors.len());
    assert_eq!(
        errors.clone().into_iter().collect::<Vec<_>>(),
        errors.clone().into_violations()
    );
}

#[test]
fn validation_errors_is_a_std_error() {
    let mut plan = ring();
    plan.name.clear();
    let boxed: Box<dyn std::error::Error> = Box::new(errors(&plan));
    assert_eq!(boxed.to_string(), "pipeline name is empty");
}

#[test]
fn long_chains_validate_without_deep_recursion() {
    // A chain far deeper than a recursive walk could take on a test thread's stack, closed
    // into one cycle by its last connection. It has far more stages than a pipeline may
    // run threads, which is reported too.
    const N: usize = 50_000;
    let mut plan = PipelinePlanV2::lane_graph("chain")
        .with_ingress("in")
        .with_egress("out")
        .with_connection(Connection::new("in", "s0"));
    for i in 0..N {
        plan = plan.with_stage(StageDecl::new(format!("s{i}")));
        if i + 1 < N {
            plan = plan.with_connection(Connection::new(format!("s{i}"), format!("s{}", i + 1)));
        }
    }
    plan = plan.with_connection(Connection::new(format!("s{}", N - 1), "out"));
    assert_only!(
        plan,
        PlanViolation::TooManyRoles {
            stages: N,
            inserted: 0,
            max: PIPELINE_V1_MAX_THREADS,
        },
        ["50000 roles", "at most 256 threads"]
    );

    plan = plan.with_connection(Connection::new(format!("s{}", N - 1), "s0"));
    let errors = errors(&plan);
    assert_eq!(errors.len(), 2, "{errors}");
    match &errors.violations()[0] {
        PlanViolation::Cycle { path, omitted } => {
            assert_eq!(*omitted, N - 32);
            assert_eq!(path.len(), 33);
            assert_eq!((path[0].as_str(), path[32].as_str()), ("s0", "s0"));
            assert_eq!((path[15].as_str(), path[16].as_str()), ("s15", "s49984"));
        }
        other => panic!("expected a cycle, got {other}"),
    }
    assert!(matches!(
        errors.violations()[1],
        PlanViolation::TooManyRoles { .. }
    ));
    assert!(errors.violations()[0]
        .to_string()
        .contains("s15 -> … 49968 more … -> s49984"));
}
