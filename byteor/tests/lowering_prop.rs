//! Property tests: random valid plans lower to valid specs that round-trip through kv with a
//! stable fingerprint and keep the plan's connectivity; arbitrary text never makes `from_kv`
//! panic; arbitrary specs round-trip through kv and can always be validated and described.

use std::collections::{BTreeMap, BTreeSet};

use byteor::lower::lower_v2;
use byteor::plan::{
    validate_plan_v2, BoundaryLanePolicy, Connection, LaneIntent, LaneKind, OnFull, OrderingMode,
    ParamValue, PipelinePlanV2, PlanViolation, SingleRingConstraints, StageDecl,
};
use byteor::spec::{
    describe, dot, validate_v1, EndpointDirection, EndpointSpec, LaneEnd, LaneGraphSpec, LaneSpec,
    PipelineSpecV1, RoleKind, RoleSpec, SingleRingSpec, SlotGeometry, StageSpec, TopologySpec,
};
use byteor::{PIPELINE_V1_MAX_THREADS, SEQUENCED_SLOTS_V1_GATING};
use proptest::prelude::*;

/// Parameter values without NaN (a NaN is unequal to itself; its bit-exact round trip has its
/// own test).
fn param_value() -> impl Strategy<Value = ParamValue> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(ParamValue::Bool),
        any::<i64>().prop_map(ParamValue::Int),
        any::<f64>()
            .prop_filter("NaN", |f| !f.is_nan())
            .prop_map(ParamValue::Float),
        ".{0,8}".prop_map(ParamValue::Str),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(ParamValue::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4).prop_map(ParamValue::Table),
        ]
    })
}

fn params() -> impl Strategy<Value = BTreeMap<String, ParamValue>> {
    prop::collection::btree_map("[a-z_.]{0,6}", param_value(), 0..3)
}

/// A valid SingleRing plan: 1..=4 stages, each after a random subset of the earlier ones.
fn ring_plan() -> impl Strategy<Value = PipelinePlanV2> {
    (
        1usize..=4,
        prop::collection::vec(any::<u8>(), 4),
        1u32..=16,
        1u32..=8,
        any::<bool>(),
        prop::collection::vec(params(), 4),
        prop::collection::vec(any::<bool>(), 4),
    )
        .prop_map(
            |(n, dep_bits, cap_log2, shards, per_key, params, effects)| {
                let mut plan = PipelinePlanV2::single_ring("ring")
                    .with_ingress("in")
                    .with_egress("out");
                for i in 0..n {
                    let mut stage = StageDecl::new(format!("s{i}"))
                        .side_effects(effects[i])
                        .kind(format!("kind{}", i % 2));
                    stage.params = params[i].clone();
                    for j in 0..i {
                        if dep_bits[i] & (1 << j) != 0 {
                            stage = stage.after(format!("s{j}"));
                        }
                    }
                    plan = plan.with_stage(stage);
                }
                plan.with_single_ring(SingleRingConstraints {
                    capacity: 1 << cap_log2,
                    shards,
                    ordering: if shards > 1 || per_key {
                        OrderingMode::PerKey
                    } else {
                        OrderingMode::Strict
                    },
                    shard_key: (shards > 1).then(|| "account".to_owned()),
                    ..SingleRingConstraints::default()
                })
            },
        )
}

/// Lane kinds this build supports.
fn enabled_kinds() -> Vec<LaneKind> {
    LaneKind::ALL
        .into_iter()
        .filter(|k| k.is_enabled())
        .collect()
}

/// A lane intent of an enabled kind with a capacity that suits it.
fn intent(kind_pick: u8, cap_pick: u8) -> LaneIntent {
    let kinds = enabled_kinds();
    let kind = kinds[kind_pick as usize % kinds.len()];
    match kind {
        LaneKind::SequencedSlots => LaneIntent::sequenced_slots(1 + u32::from(cap_pick) % 300),
        _ if cap_pick % 3 == 0 => LaneIntent::of(kind),
        _ => LaneIntent::of(kind).capacity(1 << (cap_pick % 12)),
    }
}

#[derive(Debug, Clone)]
struct GraphShape {
    ingresses: usize,
    stages: usize,
    egresses: usize,
    picks: Vec<u8>,
    extra: Vec<(u8, u8)>,
    kinds: Vec<(u8, u8)>,
    boundary: (u8, u8, Option<bool>),
    drop: bool,
}

/// A valid LaneGraph plan: a random DAG over ingresses, stages and egresses in which every
/// stage is reached from an ingress and reaches an egress, and every boundary is connected.
fn graph_plan() -> impl Strategy<Value = PipelinePlanV2> {
    (
        1usize..=2,
        1usize..=6,
        1usize..=3,
        prop::collection::vec(any::<u8>(), 32),
        prop::collection::vec(any::<(u8, u8)>(), 0..10),
        prop::collection::vec(any::<(u8, u8)>(), 40),
        (any::<u8>(), any::<u8>(), any::<Option<bool>>()),
        any::<bool>(),
    )
        .prop_map(
            |(ingresses, stages, egresses, picks, extra, kinds, boundary, drop)| GraphShape {
                ingresses,
                stages,
                egresses,
                picks,
                extra,
                kinds,
                boundary,
                drop,
            },
        )
        .prop_map(build_graph_plan)
}

fn build_graph_plan(shape: GraphShape) -> PipelinePlanV2 {
    // Nodes in topological order: ingresses, stages, egresses.
    let name = |node: usize| {
        if node < shape.ingresses {
            format!("in{node}")
        } else if node < shape.ingresses + shape.stages {
            format!("s{}", node - shape.ingresses)
        } else {
            format!("out{}", node - shape.ingresses - shape.stages)
        }
    };
    let first_stage = shape.ingresses;
    let first_egress = shape.ingresses + shape.stages;
    let total = first_egress + shape.egresses;
    let mut picks = shape.picks.iter().cycle().map(|&p| p as usize);
    let mut edges: Vec<(usize, usize)> = Vec::new();
    let add = |edges: &mut Vec<(usize, usize)>, from: usize, to: usize| {
        if !edges.contains(&(from, to)) {
            edges.push((from, to));
        }
    };
    for stage in first_stage..first_egress {
        // An input from an ingress or an earlier stage; an output to a later stage or egress.
        let from = picks.next().unwrap_or(0) % stage;
        add(&mut edges, from, stage);
        let later = total - stage - 1;
        let to = stage + 1 + picks.next().unwrap_or(0) % later;
        add(&mut edges, stage, to);
    }
    for ingress in 0..first_stage {
        if !edges.iter().any(|&(f, _)| f == ingress) {
            let to = first_stage + picks.next().unwrap_or(0) % shape.stages;
            add(&mut edges, ingress, to);
        }
    }
    for egress in first_egress..total {
        if !edges.iter().any(|&(_, t)| t == egress) {
            let from = first_stage + picks.next().unwrap_or(0) % shape.stages;
            add(&mut edges, from, egress);
        }
    }
    for &(a, b) in &shape.extra {
        let from = a as usize % first_egress;
        let to = first_stage + b as usize % (shape.stages + shape.egresses);
        let boundary_to_boundary = from < first_stage && to >= first_egress;
        if from < to && !boundary_to_boundary {
            add(&mut edges, from, to);
        }
    }

    let mut plan = PipelinePlanV2::lane_graph("graph");
    for i in 0..shape.ingresses {
        plan = plan.with_ingress(name(i));
    }
    for s in first_stage..first_egress {
        plan = plan.with_stage(StageDecl::new(name(s)));
    }
    for e in first_egress..total {
        plan = plan.with_egress(name(e));
    }
    let mut broadcast_per_source: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, &(from, to)) in edges.iter().enumerate() {
        let (k, c) = shape.kinds[i % shape.kinds.len()];
        let mut lane = intent(k, c);
        if lane.kind == LaneKind::FanoutBroadcast {
            let count = broadcast_per_source.entry(from).or_default();
            *count += 1;
            if *count > byteor::FANOUT_V1_MAX_CONSUMERS {
                lane = LaneIntent::events();
            } else {
                // Broadcast connections from one source share one lane: one capacity.
                lane.capacity = None;
            }
        }
        plan = plan.with_connection(Connection::new(name(from), name(to)).lane(lane));
    }
    if let Some(graph) = plan.lane_graph.as_mut() {
        let (k, c, on_full) = shape.boundary;
        let boundary = intent(k, c);
        graph.boundary = BoundaryLanePolicy {
            kind: boundary.kind,
            capacity: boundary.capacity,
            on_full: on_full.map(|d| if d { OnFull::Drop } else { OnFull::Block }),
        };
        graph.on_full = Some(if shape.drop {
            OnFull::Drop
        } else {
            OnFull::Block
        });
    }
    plan
}

/// The plan-level node (stage role or endpoint) directly reachable from `start` through
/// inserted roles only.
fn plan_successors(graph: &LaneGraphSpec, start: LaneEnd) -> BTreeSet<LaneEnd> {
    let writes = |end: LaneEnd| -> Vec<u32> {
        match end {
            LaneEnd::Role(r) => graph.roles[r as usize].outputs.clone(),
            LaneEnd::Endpoint(e) => {
                let ep = &graph.endpoints[e as usize];
                match ep.direction {
                    EndpointDirection::Ingress => vec![ep.lane],
                    EndpointDirection::Egress => vec![],
                }
            }
        }
    };
    let mut found = BTreeSet::new();
    let mut stack = writes(start);
    let mut seen = BTreeSet::new();
    while let Some(lane) = stack.pop() {
        if !seen.insert(lane) {
            continue;
        }
        for &reader in &graph.lanes[lane as usize].readers {
            match reader {
                LaneEnd::Role(r) if graph.roles[r as usize].is_inserted() => {
                    stack.extend(writes(reader))
                }
                _ => {
                    found.insert(reader);
                }
            }
        }
    }
    found
}

/// Checks that the spec's plan-level connectivity is exactly the plan's connection list.
fn assert_same_connectivity(plan: &PipelinePlanV2, spec: &PipelineSpecV1) {
    let TopologySpec::LaneGraph(graph) = &spec.topology else {
        panic!("lane graph expected");
    };
    let node_of = |name: &str| -> LaneEnd {
        if let Some(i) = plan.stages.iter().position(|s| s.name == name) {
            return LaneEnd::Role(i as u32);
        }
        let ep = graph
            .endpoints
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("no endpoint {name}"));
        LaneEnd::Endpoint(ep.id)
    };
    let expected: BTreeSet<(LaneEnd, LaneEnd)> = plan
        .lane_graph
        .as_ref()
        .expect("lane graph")
        .connections
        .iter()
        .map(|c| (node_of(&c.from), node_of(&c.to)))
        .collect();
    let mut actual = BTreeSet::new();
    let starts = (0..plan.stages.len() as u32)
        .map(LaneEnd::Role)
        .chain(graph.endpoints.iter().map(|e| LaneEnd::Endpoint(e.id)));
    for start in starts {
        for to in plan_successors(graph, start) {
            actual.insert((start, to));
        }
    }
    assert_eq!(actual, expected);
}

/// `plan` with `count` more `ingress -> stage -> egress` paths over lanes of the boundary's
/// kind: each adds one stage role and nothing inserted.
fn with_fillers(plan: &PipelinePlanV2, count: usize) -> PipelinePlanV2 {
    let mut plan = plan.clone();
    let boundary = plan
        .lane_graph
        .as_ref()
        .expect("lane graph")
        .boundary
        .clone();
    let lane = LaneIntent {
        kind: boundary.kind,
        capacity: boundary.capacity,
        gating: (boundary.kind == LaneKind::SequencedSlots)
            .then(|| SEQUENCED_SLOTS_V1_GATING.to_owned()),
        on_full: None,
    };
    for k in 0..count {
        let (ingress, stage, egress) = (
            format!("fill_in{k}"),
            format!("fill{k}"),
            format!("fill_out{k}"),
        );
        plan = plan
            .with_ingress(ingress.clone())
            .with_stage(StageDecl::new(stage.clone()))
            .with_egress(egress.clone())
            .with_connection(Connection::new(ingress, stage.clone()).lane(lane.clone()))
            .with_connection(Connection::new(stage, egress).lane(lane.clone()));
    }
    plan
}

/// Plan validation counts the roles lowering produces exactly: a plan at the thread limit
/// lowers, one role more is refused with the same count.
fn assert_role_count_is_predicted(plan: &PipelinePlanV2, spec: &PipelineSpecV1) {
    let TopologySpec::LaneGraph(graph) = &spec.topology else {
        panic!("lane graph expected");
    };
    let (roles, stages) = (graph.roles.len(), plan.stages.len());
    let full = with_fillers(plan, PIPELINE_V1_MAX_THREADS - roles);
    let full_spec = lower_v2(&full).unwrap_or_else(|e| panic!("{e}"));
    let TopologySpec::LaneGraph(full_graph) = &full_spec.topology else {
        panic!("lane graph expected");
    };
    assert_eq!(full_graph.roles.len(), PIPELINE_V1_MAX_THREADS);

    let fill = PIPELINE_V1_MAX_THREADS + 1 - roles;
    let errors = validate_plan_v2(&with_fillers(plan, fill)).expect_err("one role too many");
    assert!(
        matches!(
            errors.violations(),
            [PlanViolation::TooManyRoles { stages: s, inserted, max }]
                if *s == stages + fill && *inserted == roles - stages && *max == PIPELINE_V1_MAX_THREADS
        ),
        "{errors}"
    );
}

fn assert_lowers_and_round_trips(plan: &PipelinePlanV2) -> PipelineSpecV1 {
    let spec = lower_v2(plan).unwrap_or_else(|e| panic!("{e}\n{plan:#?}"));
    if let Err(e) = validate_v1(&spec) {
        panic!("{e}\n{}", describe(&spec));
    }
    let text = spec.to_kv();
    let back = PipelineSpecV1::from_kv(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, spec);
    assert_eq!(back.to_kv(), text);
    assert_eq!(back.fingerprint(), spec.fingerprint());
    assert_eq!(lower_v2(plan).as_ref(), Ok(&spec), "deterministic");
    spec
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        // Integration tests have no lib.rs next to them to persist failures beside.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn valid_ring_plans_lower_to_valid_specs(plan in ring_plan()) {
        let spec = assert_lowers_and_round_trips(&plan);
        let TopologySpec::SingleRing(ring) = &spec.topology else {
            panic!("ring expected");
        };
        // deps mirror the `after` lists; final stages are the ones nobody runs after.
        for (i, stage) in plan.stages.iter().enumerate() {
            let expected: Vec<usize> = stage
                .after
                .iter()
                .map(|d| plan.stages.iter().position(|s| &s.name == d).expect("known"))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            prop_assert_eq!(ring.dependencies(i).collect::<Vec<_>>(), expected);
            let depended = plan.stages.iter().any(|s| s.after.contains(&stage.name));
            prop_assert_eq!(ring.final_stages().any(|f| f == i), !depended);
        }
    }

    #[test]
    fn valid_graph_plans_lower_to_valid_specs(plan in graph_plan()) {
        let spec = assert_lowers_and_round_trips(&plan);
        assert_same_connectivity(&plan, &spec);
        assert_role_count_is_predicted(&plan, &spec);
    }

    #[test]
    fn from_kv_never_panics_on_text(text in ".{0,400}") {
        let _ = PipelineSpecV1::from_kv(&text);
    }

    #[test]
    fn from_kv_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = PipelineSpecV1::from_kv(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn from_kv_never_panics_on_damaged_specs(
        plan in graph_plan(),
        edits in prop::collection::vec((any::<u16>(), any::<u8>(), any::<char>()), 1..6),
    ) {
        let mut text: Vec<char> = lower_v2(&plan).expect("valid").to_kv().chars().collect();
        for (at, op, c) in edits {
            let at = at as usize % (text.len() + 1);
            match op % 3 {
                0 if at < text.len() => { text.remove(at); }
                1 => text.insert(at, c),
                _ => text.insert(at, ['=', '\n', ',', '.', '0', '\\'][op as usize % 6]),
            }
        }
        let text: String = text.into_iter().collect();
        if let Ok(spec) = PipelineSpecV1::from_kv(&text) {
            // Whatever reads must be checkable, describable, and round-trip.
            let _ = validate_v1(&spec);
            let _ = describe(&spec);
            let _ = dot(&spec);
            prop_assert_eq!(PipelineSpecV1::from_kv(&spec.to_kv()), Ok(spec));
        }
    }

    #[test]
    fn arbitrary_specs_round_trip_and_never_panic(spec in arbitrary_spec()) {
        let text = spec.to_kv();
        let back = PipelineSpecV1::from_kv(&text);
        prop_assert_eq!(back.as_ref(), Ok(&spec));
        let _ = validate_v1(&spec);
        let _ = describe(&spec);
        let _ = dot(&spec);
    }
}

/// Any spec the model can hold, valid or not, with arbitrary strings.
fn arbitrary_spec() -> impl Strategy<Value = PipelineSpecV1> {
    let stage = (any::<u32>(), ".{0,8}", ".{0,8}", any::<bool>(), params()).prop_map(
        |(id, name, kind, side_effects, params)| StageSpec {
            id,
            name,
            kind,
            side_effects,
            params,
        },
    );
    let small = || 0u32..12;
    let end = || {
        prop_oneof![
            small().prop_map(LaneEnd::Role),
            small().prop_map(LaneEnd::Endpoint)
        ]
    };
    let kind = || prop::sample::select(LaneKind::ALL.to_vec());
    let on_full = || prop::sample::select(vec![OnFull::Block, OnFull::Drop]);
    let lane = (
        small(),
        ".{0,8}",
        kind(),
        any::<u32>(),
        prop::option::of(".{0,8}"),
        on_full(),
        end(),
        prop::collection::vec(end(), 0..4),
    )
        .prop_map(
            |(id, name, kind, capacity, gating, on_full, writer, readers)| LaneSpec {
                id,
                name,
                kind,
                capacity,
                gating,
                on_full,
                writer,
                readers,
            },
        );
    let role = (
        small(),
        ".{0,8}",
        prop::sample::select(RoleKind::ALL.to_vec()),
        prop::option::of(small()),
        prop::collection::vec(small(), 0..3),
        prop::collection::vec(small(), 0..3),
    )
        .prop_map(|(id, name, kind, stage, inputs, outputs)| RoleSpec {
            id,
            name,
            kind,
            stage,
            inputs,
            outputs,
        });
    let endpoint = (
        small(),
        ".{0,8}",
        prop::sample::select(vec![EndpointDirection::Ingress, EndpointDirection::Egress]),
        small(),
    )
        .prop_map(|(id, name, direction, lane)| EndpointSpec {
            id,
            name,
            direction,
            lane,
        });
    let graph = (
        on_full(),
        prop::collection::vec(lane, 0..6),
        prop::collection::vec(role, 0..6),
        prop::collection::vec(endpoint, 0..3),
    )
        .prop_map(|(on_full, lanes, roles, endpoints)| {
            TopologySpec::LaneGraph(LaneGraphSpec {
                on_full,
                lanes,
                roles,
                endpoints,
            })
        });
    let ring = (
        (".{0,8}", ".{0,8}", any::<u32>(), any::<u32>(), any::<u32>()),
        (
            any::<u32>(),
            prop::sample::select(vec![OrderingMode::Strict, OrderingMode::PerKey]),
            prop::option::of(".{0,8}"),
            prop::collection::vec(any::<u32>(), 0..6),
            any::<u32>(),
        ),
    )
        .prop_map(
            |(
                (ingress, egress, capacity, size, align),
                (shards, ordering, shard_key, deps, final_mask),
            )| {
                TopologySpec::SingleRing(SingleRingSpec {
                    ingress,
                    egress,
                    capacity,
                    slot: SlotGeometry { size, align },
                    shards,
                    ordering,
                    shard_key,
                    deps,
                    final_mask,
                })
            },
        );
    (
        ".{0,8}",
        prop::collection::vec(stage, 0..5),
        prop_oneof![ring, graph],
    )
        .prop_map(|(name, stages, topology)| PipelineSpecV1 {
            name,
            stages,
            topology,
        })
}
