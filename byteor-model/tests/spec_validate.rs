//! `validate_v1` on specs lowered from plans and then broken, one rule at a time (an
//! integration test: it builds its specs with `lower_v2`, and `spec` itself uses nothing of
//! `plan`).

use byteor_model::lower::lower_v2;
use byteor_model::plan::{Connection, LaneIntent, ParamValue, PipelinePlanV2, StageDecl};
use byteor_model::spec::{
    validate_v1, LaneEnd, LaneGraphSpec, LaneKind, LaneSpec, OrderingMode, PipelineSpecV1,
    RoleKind, RoleSpec, SingleRingSpec, SpecViolation, TopologySpec,
};
use byteor_model::{
    FANOUT_V1_MAX_CONSUMERS, LANE_NAME_V1_MAX_BYTES, NAME_V1_MAX_BYTES, PARAM_V1_MAX_DEPTH,
    PIPELINE_V1_MAX_THREADS, RING_V1_MAX_CAPACITY, ROLE_NAME_V1_MAX_BYTES,
    SEQUENCED_SLOTS_V1_GATING,
};

/// Most role cycles one validation lists (the spec docs promise the first 16).
const MAX_LISTED_CYCLES: usize = 16;

/// parse -> risk, parse -> audit (a fan-out over one slot), strict, one shard.
fn ring_spec() -> PipelineSpecV1 {
    let plan = PipelinePlanV2::single_ring("orders")
        .with_ingress("orders_in")
        .with_egress("fills_out")
        .with_stage(StageDecl::new("parse"))
        .with_stage(StageDecl::new("risk").after("parse"))
        .with_stage(StageDecl::new("audit").after("parse"));
    lower_v2(&plan).expect("valid ring plan")
}

/// Roles: 0 parse, 1 price, 2 risk, 3 book, 4 router.parse, 5 bridge.router.parse.risk,
/// 6 merge.book. Lanes: 0 orders_in->parse, 1 parse->router.parse, 2 router.parse->price,
/// 3 router.parse->bridge.., 4 bridge..->risk (sequenced_slots), 5 price->merge.book,
/// 6 risk->merge.book, 7 book->fills_out, 8 merge.book->book.
fn graph_spec() -> PipelineSpecV1 {
    let plan = PipelinePlanV2::lane_graph("plant")
        .with_ingress("orders_in")
        .with_egress("fills_out")
        .with_stage(StageDecl::new("parse"))
        .with_stage(StageDecl::new("price"))
        .with_stage(StageDecl::new("risk"))
        .with_stage(StageDecl::new("book"))
        .with_connection(Connection::new("orders_in", "parse"))
        .with_connection(Connection::new("parse", "price"))
        .with_connection(Connection::new("parse", "risk").lane(LaneIntent::sequenced_slots(64)))
        .with_connection(Connection::new("price", "book"))
        .with_connection(Connection::new("risk", "book"))
        .with_connection(Connection::new("book", "fills_out"));
    let spec = lower_v2(&plan).expect("valid graph plan");
    // The indices the tests below rely on.
    let g = graph(&spec);
    let roles: Vec<&str> = g.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        roles,
        [
            "parse",
            "price",
            "risk",
            "book",
            "router.parse",
            "bridge.router.parse.risk",
            "merge.book"
        ]
    );
    assert_eq!(g.lanes[4].name, "bridge.router.parse.risk->risk");
    assert_eq!(g.lanes[8].name, "merge.book->book");
    spec
}

fn ring(spec: &mut PipelineSpecV1) -> &mut SingleRingSpec {
    match &mut spec.topology {
        TopologySpec::SingleRing(r) => r,
        TopologySpec::LaneGraph(_) => panic!("ring expected"),
    }
}

fn graph(spec: &PipelineSpecV1) -> &LaneGraphSpec {
    match &spec.topology {
        TopologySpec::LaneGraph(g) => g,
        TopologySpec::SingleRing(_) => panic!("graph expected"),
    }
}

fn graph_mut(spec: &mut PipelineSpecV1) -> &mut LaneGraphSpec {
    match &mut spec.topology {
        TopologySpec::LaneGraph(g) => g,
        TopologySpec::SingleRing(_) => panic!("graph expected"),
    }
}

fn lane_mut(spec: &mut PipelineSpecV1, id: usize) -> &mut LaneSpec {
    &mut graph_mut(spec).lanes[id]
}

fn role_mut(spec: &mut PipelineSpecV1, id: usize) -> &mut RoleSpec {
    &mut graph_mut(spec).roles[id]
}

fn violations(spec: &PipelineSpecV1) -> Vec<SpecViolation> {
    match validate_v1(spec) {
        Ok(()) => Vec::new(),
        Err(e) => e.into_vec(),
    }
}

/// Asserts `spec` breaks a rule `expected` recognises, and returns that violation's text.
fn expect(spec: &PipelineSpecV1, expected: impl Fn(&SpecViolation) -> bool) -> String {
    let found = violations(spec);
    match found.iter().find(|v| expected(v)) {
        Some(v) => v.to_string(),
        None => panic!("expected violation not reported; found {found:#?}"),
    }
}

#[test]
fn lowered_fixtures_are_valid() {
    assert_eq!(violations(&ring_spec()), []);
    assert_eq!(violations(&graph_spec()), []);
}

#[test]
fn every_violation_is_reported() {
    let mut spec = ring_spec();
    spec.name.clear();
    ring(&mut spec).capacity = 3;
    ring(&mut spec).shards = 0;
    let errors = validate_v1(&spec).unwrap_err();
    assert_eq!(errors.len(), 3, "{errors}");
    assert_eq!(errors.to_string().lines().count(), 3);
    assert!(!errors.is_empty());
}

#[test]
fn empty_pipeline_name() {
    let mut spec = ring_spec();
    spec.name.clear();
    let text = expect(
        &spec,
        |v| matches!(v, SpecViolation::EmptyName { item } if item == "pipeline"),
    );
    assert_eq!(text, "pipeline has an empty name");
}

#[test]
fn stage_ids_equal_indices() {
    let mut spec = ring_spec();
    spec.stages[1].id = 7;
    let text = expect(
        &spec,
        |v| matches!(v, SpecViolation::IdMismatch { table: "stage", name, index: 1, id: 7 } if name == "risk"),
    );
    assert!(text.contains("`risk`"), "{text}");
}

#[test]
fn stage_names_are_unique_and_kinds_non_empty() {
    let mut spec = ring_spec();
    spec.stages[2].name = "risk".to_owned();
    spec.stages[0].kind.clear();
    expect(
        &spec,
        |v| matches!(v, SpecViolation::DuplicateName { namespace: "stage", name } if name == "risk"),
    );
    expect(
        &spec,
        |v| matches!(v, SpecViolation::EmptyStageKind { stage } if stage == "parse"),
    );
}

#[test]
fn ring_stage_count() {
    let mut spec = ring_spec();
    let extra = spec.stages[2].clone();
    for i in 3..5 {
        let mut s = extra.clone();
        s.id = i;
        s.name = format!("extra{i}");
        spec.stages.push(s);
        ring(&mut spec).deps.push(0);
    }
    expect(&spec, |v| {
        matches!(v, SpecViolation::StageCount { count: 5, max: 4 })
    });

    let mut empty = ring_spec();
    empty.stages.clear();
    ring(&mut empty).deps.clear();
    ring(&mut empty).final_mask = 0;
    expect(&empty, |v| {
        matches!(v, SpecViolation::StageCount { count: 0, .. })
    });
}

#[test]
fn one_mask_per_stage() {
    let mut spec = ring_spec();
    ring(&mut spec).deps.pop();
    expect(&spec, |v| {
        matches!(v, SpecViolation::DepsLength { deps: 2, stages: 3 })
    });
}

#[test]
fn masks_only_name_earlier_stages() {
    for (mask, dependency) in [(0b010, 1), (0b100, 2), (1 << 20, 20)] {
        let mut spec = ring_spec();
        ring(&mut spec).deps[1] = mask;
        let text = expect(
            &spec,
            |v| matches!(v, SpecViolation::DependencyNotEarlier { stage, dependency: d } if stage == "risk" && *d == dependency),
        );
        assert!(text.contains("`risk`"), "{text}");
    }
}

#[test]
fn final_mask_in_range() {
    let mut spec = ring_spec();
    ring(&mut spec).final_mask |= 1 << 9;
    expect(&spec, |v| {
        matches!(v, SpecViolation::FinalMaskOutOfRange { bit: 9 })
    });
}

#[test]
fn final_mask_holds_every_final_stage() {
    let mut spec = ring_spec();
    ring(&mut spec).final_mask = 0b010; // audit left out
    expect(
        &spec,
        |v| matches!(v, SpecViolation::FinalStageMissing { stage } if stage == "audit"),
    );
}

#[test]
fn final_mask_holds_only_final_stages() {
    let mut spec = ring_spec();
    ring(&mut spec).final_mask = 0b111; // parse is depended on
    let text = expect(
        &spec,
        |v| matches!(v, SpecViolation::NotFinal { stage, dependent } if stage == "parse" && dependent == "risk"),
    );
    assert!(
        text.contains("`parse`") && text.contains("`risk`"),
        "{text}"
    );
}

#[test]
fn ring_capacity_is_a_power_of_two_of_at_least_two() {
    for capacity in [0, 1, 3, 1000] {
        let mut spec = ring_spec();
        ring(&mut spec).capacity = capacity;
        expect(
            &spec,
            |v| matches!(v, SpecViolation::RingCapacity { capacity: c } if *c == capacity),
        );
    }
    let mut spec = ring_spec();
    ring(&mut spec).capacity = 2;
    assert_eq!(violations(&spec), []);
}

#[test]
fn shards_at_least_one() {
    let mut spec = ring_spec();
    ring(&mut spec).shards = 0;
    expect(&spec, |v| matches!(v, SpecViolation::ZeroShards));
}

#[test]
fn strict_ordering_means_one_shard() {
    let mut spec = ring_spec();
    ring(&mut spec).shards = 2;
    ring(&mut spec).shard_key = Some("account".to_owned());
    expect(&spec, |v| {
        matches!(v, SpecViolation::StrictWithShards { shards: 2 })
    });
    ring(&mut spec).ordering = OrderingMode::PerKey;
    assert_eq!(violations(&spec), []);
}

#[test]
fn shard_key_present_iff_sharded() {
    let mut spec = ring_spec();
    ring(&mut spec).ordering = OrderingMode::PerKey;
    ring(&mut spec).shards = 4;
    expect(&spec, |v| {
        matches!(v, SpecViolation::MissingShardKey { shards: 4 })
    });
    ring(&mut spec).shard_key = Some(String::new());
    expect(&spec, |v| {
        matches!(v, SpecViolation::MissingShardKey { shards: 4 })
    });

    let mut spec = ring_spec();
    ring(&mut spec).shard_key = Some("account".to_owned());
    expect(
        &spec,
        |v| matches!(v, SpecViolation::UnexpectedShardKey { key, shards: 1 } if key == "account"),
    );
}

#[test]
fn slot_geometry_is_consistent() {
    for (size, align, ok) in [
        (0, 0, true),
        (64, 8, true),
        (0, 1, true),
        (8, 0, false),
        (12, 8, false),
        (24, 12, false),
    ] {
        let mut spec = ring_spec();
        ring(&mut spec).slot = byteor_model::spec::SlotGeometry { size, align };
        let bad = violations(&spec)
            .iter()
            .any(|v| matches!(v, SpecViolation::SlotGeometry { size: s, align: a } if *s == size && *a == align));
        assert_eq!(bad, !ok, "size {size} align {align}");
    }
}

#[test]
fn ring_boundary_names_are_not_empty() {
    let mut spec = ring_spec();
    ring(&mut spec).egress.clear();
    expect(
        &spec,
        |v| matches!(v, SpecViolation::EmptyName { item } if item == "single_ring egress"),
    );
}

#[test]
fn lane_graph_has_stages() {
    let mut spec = graph_spec();
    spec.stages.clear();
    expect(&spec, |v| matches!(v, SpecViolation::NoStages));
    // Stage roles now name missing stages.
    expect(
        &spec,
        |v| matches!(v, SpecViolation::UnknownStage { role, stage: 0 } if role == "parse"),
    );
}

#[test]
fn lane_role_endpoint_ids_equal_indices() {
    let mut spec = graph_spec();
    lane_mut(&mut spec, 2).id = 5;
    role_mut(&mut spec, 4).id = 0;
    graph_mut(&mut spec).endpoints[1].id = 9;
    expect(
        &spec,
        |v| matches!(v, SpecViolation::IdMismatch { table: "lane", name, index: 2, id: 5 } if name == "router.parse->price"),
    );
    expect(
        &spec,
        |v| matches!(v, SpecViolation::IdMismatch { table: "role", name, index: 4, id: 0 } if name == "router.parse"),
    );
    expect(
        &spec,
        |v| matches!(v, SpecViolation::IdMismatch { table: "endpoint", name, index: 1, id: 9 } if name == "fills_out"),
    );
}

#[test]
fn graph_names_are_unique_and_non_empty() {
    let mut spec = graph_spec();
    lane_mut(&mut spec, 3).name = "orders_in->parse".to_owned();
    role_mut(&mut spec, 6).name = "fills_out".to_owned();
    lane_mut(&mut spec, 1).name.clear();
    expect(
        &spec,
        |v| matches!(v, SpecViolation::DuplicateName { namespace: "lane", name } if name == "orders_in->parse"),
    );
    expect(
        &spec,
        |v| matches!(v, SpecViolation::DuplicateName { namespace: "role/endpoint", name } if name == "fills_out"),
    );
    expect(
        &spec,
        |v| matches!(v, SpecViolation::EmptyName { item } if item == "lane 1"),
    );
}

#[test]
fn lane_ids_in_range() {
    let mut spec = graph_spec();
    role_mut(&mut spec, 1).inputs = vec![42];
    graph_mut(&mut spec).endpoints[0].lane = 77;
    expect(
        &spec,
        |v| matches!(v, SpecViolation::UnknownLane { item, lane: 42 } if item == "role `price`"),
    );
    expect(
        &spec,
        |v| matches!(v, SpecViolation::UnknownLane { item, lane: 77 } if item == "endpoint `orders_in`"),
    );
}

#[test]
fn lane_ends_exist() {
    let mut spec = graph_spec();
    lane_mut(&mut spec, 2).writer = LaneEnd::Role(99);
    lane_mut(&mut spec, 5).readers = vec![LaneEnd::Endpoint(12)];
    expect(
        &spec,
        |v| matches!(v, SpecViolation::UnknownLaneEnd { lane, end: LaneEnd::Role(99), position: "writer" } if lane == "router.parse->price"),
    );
    let text = expect(
        &spec,
        |v| matches!(v, SpecViolation::UnknownLaneEnd { lane, end: LaneEnd::Endpoint(12), position: "reader" } if lane == "price->merge.book"),
    );
    assert!(text.contains("endpoint:12"), "{text}");
}

#[test]
fn the_writer_writes_the_lane() {
    let mut spec = graph_spec();
    // Lane 2 says router.parse writes it, but router.parse lists only lane 3.
    role_mut(&mut spec, 4).outputs = vec![3];
    expect(
        &spec,
        |v| matches!(v, SpecViolation::WriterDoesNotWrite { lane, writer } if lane == "router.parse->price" && writer == "router.parse"),
    );

    // An egress cannot write.
    let mut spec = graph_spec();
    lane_mut(&mut spec, 0).writer = LaneEnd::Endpoint(1);
    expect(
        &spec,
        |v| matches!(v, SpecViolation::WriterDoesNotWrite { lane, writer } if lane == "orders_in->parse" && writer == "fills_out"),
    );
}

#[test]
fn a_lane_has_one_writer() {
    let mut spec = graph_spec();
    // price also claims to write the lane router.parse writes.
    role_mut(&mut spec, 1).outputs.push(2);
    let text = expect(
        &spec,
        |v| matches!(v, SpecViolation::ExtraWriter { lane, by, writer } if lane == "router.parse->price" && by == "price" && writer == "router.parse"),
    );
    assert!(text.contains("`price`"), "{text}");

    // An ingress whose lane someone else writes.
    let mut spec = graph_spec();
    graph_mut(&mut spec).endpoints[0].lane = 1;
    expect(
        &spec,
        |v| matches!(v, SpecViolation::ExtraWriter { lane, by, .. } if lane == "parse->router.parse" && by == "orders_in"),
    );
}

#[test]
fn readers_read_the_lane() {
    let mut spec = graph_spec();
    role_mut(&mut spec, 1).inputs = vec![];
    expect(
        &spec,
        |v| matches!(v, SpecViolation::ReaderDoesNotRead { lane, reader } if lane == "router.parse->price" && reader == "price"),
    );
}

#[test]
fn inputs_are_listed_by_their_lanes() {
    let mut spec = graph_spec();
    role_mut(&mut spec, 1).inputs.push(0);
    expect(
        &spec,
        |v| matches!(v, SpecViolation::NotAReader { lane, by } if lane == "orders_in->parse" && by == "price"),
    );

    let mut spec = graph_spec();
    graph_mut(&mut spec).endpoints[1].lane = 8;
    expect(
        &spec,
        |v| matches!(v, SpecViolation::NotAReader { lane, by } if lane == "merge.book->book" && by == "fills_out"),
    );
}

#[test]
fn readers_are_listed_once() {
    let mut spec = graph_spec();
    lane_mut(&mut spec, 2).readers.push(LaneEnd::Role(1));
    expect(
        &spec,
        |v| matches!(v, SpecViolation::DuplicateReader { lane, reader } if lane == "router.parse->price" && reader == "price"),
    );
}

#[test]
fn point_lanes_have_one_reader() {
    let mut spec = graph_spec();
    lane_mut(&mut spec, 2).readers.push(LaneEnd::Role(2));
    role_mut(&mut spec, 2).inputs.push(2);
    expect(
        &spec,
        |v| matches!(v, SpecViolation::PointLaneReaders { lane, kind: LaneKind::Events, readers: 2 } if lane == "router.parse->price"),
    );
    let mut spec = graph_spec();
    lane_mut(&mut spec, 2).readers.clear();
    expect(&spec, |v| {
        matches!(v, SpecViolation::PointLaneReaders { readers: 0, .. })
    });
}

#[test]
fn broadcast_lanes_have_one_to_max_readers() {
    let mut spec = graph_spec();
    lane_mut(&mut spec, 2).kind = LaneKind::FanoutBroadcast;
    lane_mut(&mut spec, 2).readers.clear();
    expect(
        &spec,
        |v| matches!(v, SpecViolation::BroadcastReaders { lane, readers: 0, max } if lane == "router.parse->price" && *max == FANOUT_V1_MAX_CONSUMERS),
    );

    let mut spec = graph_spec();
    let readers: Vec<LaneEnd> = (0..=FANOUT_V1_MAX_CONSUMERS as u32)
        .map(LaneEnd::Role)
        .collect();
    lane_mut(&mut spec, 2).kind = LaneKind::FanoutBroadcast;
    lane_mut(&mut spec, 2).readers = readers;
    expect(
        &spec,
        |v| matches!(v, SpecViolation::BroadcastReaders { readers, .. } if *readers == FANOUT_V1_MAX_CONSUMERS + 1),
    );
}

#[test]
fn lane_capacity_fits_the_kind() {
    let mut spec = graph_spec();
    lane_mut(&mut spec, 2).capacity = 1000;
    lane_mut(&mut spec, 4).capacity = 0;
    expect(
        &spec,
        |v| matches!(v, SpecViolation::LaneCapacity { lane, kind: LaneKind::Events, capacity: 1000, .. } if lane == "router.parse->price"),
    );
    expect(
        &spec,
        |v| matches!(v, SpecViolation::LaneCapacity { lane, kind: LaneKind::SequencedSlots, capacity: 0, .. } if lane == "bridge.router.parse.risk->risk"),
    );
    // Any positive capacity suits sequenced slots.
    let mut spec = graph_spec();
    lane_mut(&mut spec, 4).capacity = 100;
    assert_eq!(violations(&spec), []);
}

#[test]
fn sequenced_slots_carry_the_v1_gating() {
    let mut spec = graph_spec();
    lane_mut(&mut spec, 4).gating = Some("any_reader".to_owned());
    let text = expect(
        &spec,
        |v| matches!(v, SpecViolation::LaneGating { lane, found, .. } if lane == "bridge.router.parse.risk->risk" && found == "`any_reader`"),
    );
    assert!(text.contains(SEQUENCED_SLOTS_V1_GATING), "{text}");
    lane_mut(&mut spec, 4).gating = None;
    expect(
        &spec,
        |v| matches!(v, SpecViolation::LaneGating { found, .. } if found == "none"),
    );

    let mut spec = graph_spec();
    lane_mut(&mut spec, 2).gating = Some(SEQUENCED_SLOTS_V1_GATING.to_owned());
    expect(
        &spec,
        |v| matches!(v, SpecViolation::UnexpectedGating { lane, kind: LaneKind::Events, .. } if lane == "router.parse->price"),
    );
}

#[test]
fn lane_kinds_need_their_features() {
    let mut spec = graph_spec();
    lane_mut(&mut spec, 7).kind = LaneKind::Journal;
    let disabled = violations(&spec).into_iter().find(|v| {
        matches!(v, SpecViolation::LaneKindDisabled { lane, kind: LaneKind::Journal, feature: "lane_graph_journal" } if lane == "book->fills_out")
    });
    assert_eq!(disabled.is_some(), !cfg!(feature = "lane_graph_journal"));
}

#[test]
fn stage_roles_run_existing_stages() {
    let mut spec = graph_spec();
    role_mut(&mut spec, 1).stage = None;
    expect(
        &spec,
        |v| matches!(v, SpecViolation::StageRoleWithoutStage { role } if role == "price"),
    );
    // ... which leaves stage `price` without a role.
    expect(
        &spec,
        |v| matches!(v, SpecViolation::StageRoleCount { stage, roles: 0 } if stage == "price"),
    );

    let mut spec = graph_spec();
    role_mut(&mut spec, 1).stage = Some(40);
    expect(
        &spec,
        |v| matches!(v, SpecViolation::UnknownStage { role, stage: 40 } if role == "price"),
    );
}

#[test]
fn every_stage_has_exactly_one_role() {
    let mut spec = graph_spec();
    role_mut(&mut spec, 1).stage = Some(0);
    expect(
        &spec,
        |v| matches!(v, SpecViolation::StageRoleCount { stage, roles: 2 } if stage == "parse"),
    );
}

#[test]
fn inserted_roles_run_no_stage() {
    let mut spec = graph_spec();
    role_mut(&mut spec, 6).stage = Some(3);
    expect(
        &spec,
        |v| matches!(v, SpecViolation::InsertedRoleWithStage { role, kind: RoleKind::Merge, stage: 3 } if role == "merge.book"),
    );
}

#[test]
fn role_shapes_follow_their_kind() {
    // A stage reading two lanes.
    let mut spec = graph_spec();
    role_mut(&mut spec, 3).inputs.push(5);
    expect(
        &spec,
        |v| matches!(v, SpecViolation::RoleShape { role, kind: RoleKind::Stage, inputs: 2, outputs: 1, .. } if role == "book"),
    );
    // A router writing one lane.
    let mut spec = graph_spec();
    role_mut(&mut spec, 4).outputs.pop();
    expect(
        &spec,
        |v| matches!(v, SpecViolation::RoleShape { role, kind: RoleKind::Router, outputs: 1, .. } if role == "router.parse"),
    );
    // A merge reading one lane.
    let mut spec = graph_spec();
    role_mut(&mut spec, 6).inputs.pop();
    expect(
        &spec,
        |v| matches!(v, SpecViolation::RoleShape { role, kind: RoleKind::Merge, inputs: 1, .. } if role == "merge.book"),
    );
    // A bridge writing nothing.
    let mut spec = graph_spec();
    role_mut(&mut spec, 5).outputs.clear();
    expect(
        &spec,
        |v| matches!(v, SpecViolation::RoleShape { role, kind: RoleKind::Bridge, outputs: 0, .. } if role == "bridge.router.parse.risk"),
    );
}

#[test]
fn routers_and_merges_keep_one_kind() {
    let mut spec = graph_spec();
    lane_mut(&mut spec, 6).kind = LaneKind::SequencedSlots;
    lane_mut(&mut spec, 6).gating = Some(SEQUENCED_SLOTS_V1_GATING.to_owned());
    let text = expect(
        &spec,
        |v| matches!(v, SpecViolation::MixedLaneKinds { role, kind: RoleKind::Merge, expected: LaneKind::Events, lane, found: LaneKind::SequencedSlots } if role == "merge.book" && lane == "risk->merge.book"),
    );
    assert!(text.contains("only bridges"), "{text}");
}

#[test]
fn role_graph_is_acyclic() {
    let mut spec = graph_spec();
    // Point merge.book's output back at price instead of book: price -> merge.book -> price.
    lane_mut(&mut spec, 8).readers = vec![LaneEnd::Role(1)];
    role_mut(&mut spec, 1).inputs = vec![8];
    lane_mut(&mut spec, 2).readers = vec![LaneEnd::Role(3)];
    role_mut(&mut spec, 3).inputs = vec![2];
    let text = expect(&spec, |v| matches!(v, SpecViolation::RoleCycle { .. }));
    // Listed from the lowest role id.
    assert_eq!(text, "role cycle: price -> merge.book -> price");
}

// ---- names and limits -----------------------------------------------------------------

#[test]
fn names_follow_their_rules() {
    let mut spec = graph_spec();
    spec.name = "plant\u{0}".to_owned();
    spec.stages[1].name = "pri.ce".to_owned();
    spec.stages[2].kind = "risk kind".to_owned();
    graph_mut(&mut spec).endpoints[0].name = "orders->in".to_owned();
    role_mut(&mut spec, 4).name = "router>parse".to_owned();
    lane_mut(&mut spec, 1).name = "parse->router parse".to_owned();
    let found: Vec<(String, char)> = violations(&spec)
        .into_iter()
        .filter_map(|v| match v {
            SpecViolation::InvalidName {
                item, character, ..
            } => Some((item, character)),
            _ => None,
        })
        .collect();
    let expected = [
        ("pipeline name", '\u{0}'),
        ("stage 1 name", '.'),
        ("stage 2 kind", ' '),
        ("lane 1 name", ' '),
        ("role 4 name", '>'),
        ("endpoint 0 name", '-'),
    ];
    // `-` is allowed; the endpoint's first bad character is `>`.
    let expected: Vec<(String, char)> = expected
        .iter()
        .map(|&(item, c)| {
            (
                item.to_owned(),
                if item.starts_with("endpoint") { '>' } else { c },
            )
        })
        .collect();
    assert_eq!(found, expected);
    let text = validate_v1(&spec).unwrap_err().to_string();
    assert!(!text.contains('\u{0}'), "{text:?}");
    assert!(text.contains("pipeline name `plant\\0`: character U+0000 at byte 5"));
    assert!(text.contains("role names use ASCII letters, digits, '_', '-', '.' and '*'"));
}

#[test]
fn generated_names_may_use_their_punctuation() {
    // The fixture's roles and lanes are named `router.parse`, `bridge.router.parse.risk`,
    // `parse->router.parse`, ...; a broadcast group's bridge has a `*`.
    let mut spec = graph_spec();
    role_mut(&mut spec, 5).name = "bridge.router.parse.*".to_owned();
    lane_mut(&mut spec, 4).name = "bridge.router.parse.*->risk".to_owned();
    lane_mut(&mut spec, 3).name = "router.parse->bridge.router.parse.*".to_owned();
    assert_eq!(violations(&spec), []);
}

#[test]
fn names_have_length_limits() {
    let mut spec = graph_spec();
    spec.stages[0].name = "p".repeat(NAME_V1_MAX_BYTES + 1);
    role_mut(&mut spec, 4).name = "r".repeat(ROLE_NAME_V1_MAX_BYTES + 1);
    lane_mut(&mut spec, 0).name = "l".repeat(LANE_NAME_V1_MAX_BYTES + 1);
    let found: Vec<(String, usize, usize)> = violations(&spec)
        .into_iter()
        .filter_map(|v| match v {
            SpecViolation::NameTooLong { item, len, max, .. } => Some((item, len, max)),
            _ => None,
        })
        .collect();
    assert_eq!(
        found,
        [
            ("stage 0 name".to_owned(), 65, 64),
            ("lane 0 name".to_owned(), 291, 290),
            ("role 4 name".to_owned(), 145, 144),
        ]
    );
    role_mut(&mut spec, 4).name = "r".repeat(ROLE_NAME_V1_MAX_BYTES);
    lane_mut(&mut spec, 0).name = "l".repeat(LANE_NAME_V1_MAX_BYTES);
    spec.stages[0].name = "p".repeat(NAME_V1_MAX_BYTES);
    assert!(!violations(&spec)
        .iter()
        .any(|v| matches!(v, SpecViolation::NameTooLong { .. })));
}

#[test]
fn params_have_limits() {
    let mut spec = ring_spec();
    let mut deep = ParamValue::Int(1);
    for _ in 0..PARAM_V1_MAX_DEPTH {
        deep = ParamValue::Array(vec![deep]);
    }
    spec.stages[0].params.insert("deep".to_owned(), deep);
    spec.stages[1]
        .params
        .insert("k".repeat(NAME_V1_MAX_BYTES + 1), ParamValue::Bool(true));
    let found = violations(&spec);
    assert!(
        matches!(
            &found[..],
            [
                SpecViolation::ParamTooDeep { stage, param, depth: 33, max: 32 },
                SpecViolation::ParamNameTooLong { len: 65, .. },
            ] if stage == "parse" && param == "deep"
        ),
        "{found:#?}"
    );
}

#[test]
fn ring_limits() {
    let mut spec = ring_spec();
    ring(&mut spec).capacity = RING_V1_MAX_CAPACITY;
    assert_eq!(violations(&spec), []);
    ring(&mut spec).capacity = RING_V1_MAX_CAPACITY * 2;
    expect(&spec, |v| {
        matches!(
            v,
            SpecViolation::RingCapacityTooLarge {
                capacity: 33_554_432,
                max: 16_777_216
            }
        )
    });

    let mut spec = ring_spec();
    ring(&mut spec).ordering = OrderingMode::PerKey;
    ring(&mut spec).shard_key = Some("account".to_owned());
    ring(&mut spec).shards = 85; // 3 stages: 255 threads
    assert_eq!(violations(&spec), []);
    ring(&mut spec).shards = 86;
    expect(&spec, |v| {
        matches!(
            v,
            SpecViolation::TooManyThreads {
                stages: 3,
                shards: 86,
                threads: 258,
                max: 256
            }
        )
    });
    ring(&mut spec).shards = 257;
    expect(&spec, |v| {
        matches!(
            v,
            SpecViolation::TooManyShards {
                shards: 257,
                max: 256
            }
        )
    });
    ring(&mut spec).shard_key = Some("acc.ount".to_owned());
    expect(
        &spec,
        |v| matches!(v, SpecViolation::InvalidName { item, character: '.', .. } if item == "single_ring shard_key"),
    );
}

#[test]
fn ring_memory_is_checked_once_a_slot_size_is_bound() {
    let mut spec = ring_spec();
    // 2^20 slots of 1 KiB: exactly 1 GiB.
    ring(&mut spec).capacity = 1 << 20;
    ring(&mut spec).slot = byteor_model::spec::SlotGeometry {
        size: 1024,
        align: 8,
    };
    assert_eq!(violations(&spec), []);
    ring(&mut spec).slot.size = 1032;
    let text = expect(&spec, |v| {
        matches!(
            v,
            SpecViolation::RingTooLarge {
                capacity: 1_048_576,
                slot_size: 1032,
                shards: 1,
                bytes: 1_082_130_432,
                max: 1_073_741_824
            }
        )
    });
    assert!(text.contains("1082130432 bytes of ring memory"), "{text}");
    // No overflow with the largest factors.
    ring(&mut spec).capacity = u32::MAX;
    ring(&mut spec).slot = byteor_model::spec::SlotGeometry {
        size: 1 << 31,
        align: 1 << 31,
    };
    ring(&mut spec).shards = u32::MAX;
    expect(
        &spec,
        |v| matches!(v, SpecViolation::RingTooLarge { bytes, .. } if *bytes == u128::from(u32::MAX) * (1u128 << 31) * u128::from(u32::MAX)),
    );
}

#[test]
fn lane_capacity_limit() {
    let mut spec = graph_spec();
    lane_mut(&mut spec, 4).capacity = RING_V1_MAX_CAPACITY + 1;
    expect(
        &spec,
        |v| matches!(v, SpecViolation::LaneCapacityTooLarge { lane, capacity: 16_777_217, .. } if lane == "bridge.router.parse.risk->risk"),
    );
}

#[test]
fn roles_are_at_most_the_thread_limit() {
    let mut spec = graph_spec();
    let extra = PIPELINE_V1_MAX_THREADS + 1 - graph(&spec).roles.len();
    let graph = graph_mut(&mut spec);
    for i in 0..extra {
        let id = graph.roles.len() as u32;
        graph.roles.push(RoleSpec {
            id,
            name: format!("extra{i}"),
            kind: RoleKind::Bridge,
            stage: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
        });
    }
    expect(&spec, |v| {
        matches!(
            v,
            SpecViolation::TooManyRoles {
                roles: 257,
                max: 256
            }
        )
    });
}

#[test]
fn repeated_references_are_reported_once() {
    let mut spec = graph_spec();
    lane_mut(&mut spec, 2).readers = vec![LaneEnd::Role(1); 1000];
    role_mut(&mut spec, 3).inputs = vec![0; 1000];
    role_mut(&mut spec, 2).outputs = vec![99; 1000];
    let found = violations(&spec);
    let count = |f: fn(&SpecViolation) -> bool| found.iter().filter(|v| f(v)).count();
    assert_eq!(
        count(|v| matches!(v, SpecViolation::DuplicateReader { .. })),
        1
    );
    assert_eq!(count(|v| matches!(v, SpecViolation::NotAReader { .. })), 1);
    assert_eq!(
        count(|v| matches!(v, SpecViolation::UnknownLane { lane: 99, .. })),
        1
    );
}

#[test]
fn role_cycles_past_sixteen_are_counted() {
    // n stage roles in a chain, each also feeding role 0 back through a lane of its own.
    let n = 200u32;
    let mut spec = graph_spec();
    let graph = graph_mut(&mut spec);
    graph.roles.clear();
    graph.lanes.clear();
    graph.endpoints.clear();
    for i in 0..n {
        graph.roles.push(RoleSpec {
            id: i,
            name: format!("r{i}"),
            kind: RoleKind::Bridge,
            stage: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
        });
    }
    let link = |graph: &mut LaneGraphSpec, from: u32, to: u32| {
        let id = graph.lanes.len() as u32;
        graph.lanes.push(LaneSpec {
            id,
            name: format!("r{from}->r{to}.{id}"),
            kind: LaneKind::Events,
            capacity: 8,
            gating: None,
            on_full: byteor_model::spec::OnFull::Block,
            writer: LaneEnd::Role(from),
            readers: vec![LaneEnd::Role(to)],
        });
        graph.roles[from as usize].outputs.push(id);
        graph.roles[to as usize].inputs.push(id);
    };
    for i in 0..n {
        if i + 1 < n {
            link(graph, i, i + 1);
        }
        link(graph, i, 0);
        // A second lane on the same pair is the same edge of the walk.
        link(graph, i, 0);
    }
    let found = violations(&spec);
    let cycles = found
        .iter()
        .filter(|v| matches!(v, SpecViolation::RoleCycle { .. }))
        .count();
    assert_eq!(cycles, MAX_LISTED_CYCLES);
    assert!(found.iter().any(|v| matches!(
        v,
        SpecViolation::MoreRoleCycles {
            count: 184,
            listed: 16
        }
    )));
    // Successors are walked in role order, so the short cycles through role 0 come first.
    let last = found
        .iter()
        .rfind(|v| matches!(v, SpecViolation::RoleCycle { .. }))
        .map(ToString::to_string);
    assert_eq!(
        last.as_deref(),
        Some(
            "role cycle: r0 -> r1 -> r2 -> r3 -> r4 -> r5 -> r6 -> r7 -> r8 -> r9 -> r10 -> \
             r11 -> r12 -> r13 -> r14 -> r15 -> r0"
        )
    );

    // A ring of n roles is one cycle, listed by its ends.
    let graph = graph_mut(&mut spec);
    for role in &mut graph.roles {
        role.inputs.clear();
        role.outputs.clear();
    }
    graph.lanes.clear();
    for i in 0..n {
        link(graph, i, (i + 1) % n);
    }
    let found = violations(&spec);
    let cycle = found
        .iter()
        .find_map(|v| match v {
            SpecViolation::RoleCycle { cycle, omitted } => {
                Some((cycle.len(), *omitted, v.to_string()))
            }
            _ => None,
        })
        .expect("the ring is a cycle");
    assert_eq!((cycle.0, cycle.1), (33, 168));
    assert!(
        cycle.2.contains("r15 -> … 168 more … -> r184"),
        "{}",
        cycle.2
    );
}
