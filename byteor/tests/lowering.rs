//! Lowering snapshots.
//!
//! Each plan below is lowered, and the spec's `to_kv()`, `describe()` and `dot()` output is
//! compared with `tests/snapshots/<name>.kv`, `.describe` and `.dot`. After an intended change
//! to lowering or to those formats, rewrite the files with
//!
//! ```sh
//! BYTEOR_BLESS=1 cargo test -p byteor --test lowering
//! ```
//!
//! and read the diff before committing it: the snapshots are the reviewed record of what
//! lowering produces.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use byteor::lower::{lower_v2, LowerError};
use byteor::plan::{
    BoundaryDecl, Connection, LaneIntent, LaneKind, OnFull, OrderingMode, ParamValue,
    PipelinePlanV2, SingleRingConstraints, StageDecl,
};
use byteor::spec::{describe, dot, validate_v1, PipelineSpecV1};

fn snapshot_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("snapshots")
        .join(file)
}

fn bless() -> bool {
    std::env::var_os("BYTEOR_BLESS").is_some_and(|v| v == "1")
}

fn assert_snapshot(file: &str, actual: &str) {
    let path = snapshot_path(file);
    if bless() {
        fs::create_dir_all(path.parent().expect("snapshot dir")).expect("create snapshot dir");
        fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read snapshot {}: {e}; run with BYTEOR_BLESS=1 to create it",
            path.display()
        )
    });
    assert!(
        actual == expected,
        "snapshot {file} differs (BYTEOR_BLESS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

/// Lowers `plan`, checks the spec, and compares it with the `name` snapshots.
fn check(name: &str, plan: &PipelinePlanV2) -> PipelineSpecV1 {
    let spec = lower_v2(plan).unwrap_or_else(|e| panic!("{name}: {e}"));
    validate_v1(&spec).unwrap_or_else(|e| panic!("{name}: {e}"));
    let kv = spec.to_kv();
    assert_eq!(PipelineSpecV1::from_kv(&kv).as_ref(), Ok(&spec), "{name}");
    assert_eq!(
        lower_v2(plan).as_ref(),
        Ok(&spec),
        "{name}: lowering is deterministic"
    );
    assert_snapshot(&format!("{name}.kv"), &kv);
    assert_snapshot(&format!("{name}.describe"), &describe(&spec));
    assert_snapshot(&format!("{name}.dot"), &dot(&spec));
    if !bless() {
        // The stored kv file is itself a spec that reads back to the lowered one.
        let stored = fs::read_to_string(snapshot_path(&format!("{name}.kv"))).expect("kv file");
        assert_eq!(
            PipelineSpecV1::from_kv(&stored).as_ref(),
            Ok(&spec),
            "{name}"
        );
    }
    spec
}

#[test]
fn single_ring_linear() {
    let plan = PipelinePlanV2::single_ring("orders")
        .with_ingress("orders_in")
        .with_egress("fills_out")
        .with_stage(StageDecl::new("parse").kind("parse_order"))
        .with_stage(StageDecl::new("risk").after("parse"))
        .with_stage(StageDecl::new("route").after("risk").side_effects(true));
    check("single_ring_linear", &plan);
}

#[test]
fn single_ring_diamond() {
    let plan = PipelinePlanV2::single_ring("quotes")
        .with_ingress("quotes_in")
        .with_egress("quotes_out")
        .with_stage(StageDecl::new("decode"))
        .with_stage(StageDecl::new("enrich").after("decode"))
        .with_stage(StageDecl::new("score").after("decode"))
        .with_stage(StageDecl::new("publish").after("enrich").after("score"));
    check("single_ring_diamond", &plan);
}

#[test]
fn single_ring_sharded() {
    let limits = BTreeMap::from([
        ("max_qty".to_owned(), ParamValue::Int(1000)),
        ("max_notional".to_owned(), ParamValue::Float(2.5e7)),
        (
            "venues".to_owned(),
            ParamValue::Array(vec!["XLON".into(), "XPAR".into()]),
        ),
    ]);
    let plan = PipelinePlanV2::single_ring("payments")
        .with_ingress("payments_in")
        .with_egress("ledger_out")
        .with_stage(
            StageDecl::new("parse")
                .param("limits", ParamValue::Table(limits))
                .param("tick", 0.01)
                .param("label", "caf\u{e9} = \"bar\"")
                .param("strict", true),
        )
        .with_stage(StageDecl::new("risk").after("parse"))
        .with_stage(
            StageDecl::new("journal")
                .kind("ledger_journal")
                .after("parse")
                .side_effects(true),
        )
        .with_single_ring(SingleRingConstraints {
            capacity: 4096,
            shards: 4,
            ordering: OrderingMode::PerKey,
            shard_key: Some("account".to_owned()),
            ..SingleRingConstraints::default()
        });
    check("single_ring_sharded", &plan);
}

/// Fan-out from `parse` (router), a change of kind on `parse -> risk` (bridge after the router)
/// and fan-in at `book` (merge).
#[test]
fn lane_graph_plant() {
    let plan = PipelinePlanV2::lane_graph("plant")
        .with_ingress("orders_in")
        .with_egress("fills_out")
        .with_stage(StageDecl::new("parse"))
        .with_stage(StageDecl::new("price"))
        .with_stage(StageDecl::new("risk").kind("risk_check"))
        .with_stage(StageDecl::new("book").side_effects(true))
        .with_connection(Connection::new("orders_in", "parse"))
        .with_connection(Connection::new("parse", "price"))
        .with_connection(Connection::new("parse", "risk").lane(LaneIntent::sequenced_slots(64)))
        .with_connection(Connection::new("price", "book"))
        .with_connection(Connection::new("risk", "book").lane(LaneIntent::events().capacity(256)))
        .with_connection(Connection::new("book", "fills_out"));
    check("lane_graph_plant", &plan);
}

#[cfg(feature = "lane_graph_fanout")]
mod fanout {
    use super::*;
    use byteor::plan::{BoundaryLanePolicy, LaneKind, OnFull};
    use byteor::spec::RoleKind;

    /// A broadcast group beside a point-to-point connection (router plus a bridge into the
    /// broadcast lane), boundary lanes of another kind (bridges at the ingress and in front of the
    /// egress merge), and an egress lane that takes the boundary policy's settings.
    #[test]
    fn lane_graph_broadcast_and_boundaries() {
        let mut plan = PipelinePlanV2::lane_graph("ticks")
            .with_ingress("ticks_in")
            .with_egress("orders_out")
            .with_egress("audit_out")
            .with_stage(StageDecl::new("normalise"))
            .with_stage(StageDecl::new("signal"))
            .with_stage(StageDecl::new("risk"))
            .with_stage(StageDecl::new("audit"))
            .with_connection(Connection::new("ticks_in", "normalise"))
            .with_connection(
                Connection::new("normalise", "signal")
                    .lane(LaneIntent::of(LaneKind::FanoutBroadcast).capacity(512)),
            )
            .with_connection(Connection::new("normalise", "audit"))
            .with_connection(
                Connection::new("normalise", "risk")
                    .lane(LaneIntent::of(LaneKind::FanoutBroadcast).capacity(512)),
            )
            .with_connection(Connection::new("signal", "orders_out"))
            .with_connection(Connection::new("risk", "orders_out"))
            .with_connection(
                Connection::new("audit", "audit_out").lane(LaneIntent::sequenced_slots(100)),
            );
        if let Some(graph) = plan.lane_graph.as_mut() {
            graph.boundary = BoundaryLanePolicy {
                kind: LaneKind::SequencedSlots,
                capacity: Some(256),
                on_full: Some(OnFull::Drop),
            };
        }
        check("lane_graph_broadcast", &plan);
    }

    /// A plain broadcast: one lane, every destination a reader, no router.
    #[test]
    fn broadcast_only_sources_share_one_lane() {
        let broadcast = || LaneIntent::of(LaneKind::FanoutBroadcast);
        let plan = PipelinePlanV2::lane_graph("fan")
            .with_ingress("in")
            .with_egress("out_a")
            .with_egress("out_b")
            .with_egress("out_c")
            .with_stage(StageDecl::new("src"))
            .with_connection(Connection::new("in", "src"))
            .with_connection(Connection::new("src", "out_a").lane(broadcast()))
            .with_connection(Connection::new("src", "out_b").lane(broadcast()))
            .with_connection(Connection::new("src", "out_c").lane(broadcast()));
        let spec = lower_v2(&plan).expect("lowers");
        let byteor::spec::TopologySpec::LaneGraph(graph) = &spec.topology else {
            panic!("lane graph expected");
        };
        assert!(
            graph.roles.iter().all(|r| r.kind != RoleKind::Router),
            "a broadcast group needs no router"
        );
        // Each egress reads the broadcast lane through its own bridge to the events boundary.
        let shared = graph
            .lanes
            .iter()
            .find(|l| l.kind == LaneKind::FanoutBroadcast)
            .expect("a broadcast lane");
        assert_eq!(shared.name, "src->*");
        assert_eq!(shared.readers.len(), 3);
    }
}

#[test]
fn lowering_rejects_what_it_cannot_compile() {
    // Validation is the one check on the way to a spec: a cycle is a plan violation, and
    // lowering reports it as such rather than compiling an invalid spec.
    let plan = PipelinePlanV2::lane_graph("loop")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(StageDecl::new("a"))
        .with_stage(StageDecl::new("b"))
        .with_connection(Connection::new("in", "a"))
        .with_connection(Connection::new("a", "b"))
        .with_connection(Connection::new("b", "a"))
        .with_connection(Connection::new("b", "out"));
    match lower_v2(&plan) {
        Err(LowerError::Invalid(errors)) => {
            assert!(errors.to_string().contains("cycle"), "{errors}");
        }
        other => panic!("expected an error, got {other:?}"),
    }

    let unknown = PipelinePlanV2::lane_graph("p")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(StageDecl::new("a"))
        .with_connection(Connection::new("in", "a"))
        .with_connection(Connection::new("a", "nowhere"));
    match lower_v2(&unknown) {
        Err(LowerError::Invalid(errors)) => {
            assert!(errors.to_string().contains("`nowhere`"), "{errors}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

/// `a` feeds `fast` and `slow`; `slow` leaves through its own egress over a `drop` connection
/// inside a `block` graph.
fn drop_connection_plan() -> PipelinePlanV2 {
    let mut plan = PipelinePlanV2::lane_graph("tap");
    plan.ingress.push(BoundaryDecl::new("in"));
    plan.egress.push(BoundaryDecl::new("out"));
    plan.egress.push(BoundaryDecl::new("analytics_out"));
    for s in ["a", "fast", "slow"] {
        plan.stages.push(StageDecl::new(s));
    }
    let graph = plan.lane_graph.get_or_insert_with(Default::default);
    graph.on_full = Some(OnFull::Block);
    graph.connections = vec![
        Connection::new("in", "a"),
        Connection::new("a", "fast"),
        Connection::new("a", "slow").lane(LaneIntent::events().on_full(OnFull::Drop)),
        Connection::new("fast", "out"),
        Connection::new("slow", "analytics_out").lane(LaneIntent::events().on_full(OnFull::Drop)),
    ];
    plan
}

#[test]
fn a_connection_s_own_on_full_wins_over_the_graph_s_and_the_boundary_s() {
    let plan = drop_connection_plan();
    // Round trip through a document keeps it.
    let text = plan.to_toml();
    assert!(text.contains("on_full = \"drop\""), "{text}");
    assert_eq!(PipelinePlanV2::from_toml(&text).unwrap(), plan);
    let spec = lower_v2(&plan).unwrap();
    validate_v1(&spec).unwrap();
    let byteor::spec::TopologySpec::LaneGraph(graph) = &spec.topology else {
        panic!("a LaneGraph spec");
    };
    let on_full = |name: &str| {
        graph
            .lanes
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("no lane {name}: {}", describe(&spec)))
            .on_full
    };
    assert_eq!(
        on_full("router.a->slow"),
        OnFull::Drop,
        "{}",
        describe(&spec)
    );
    assert_eq!(on_full("router.a->fast"), OnFull::Block);
    // The router's feed drops only if every group does: `fast` blocks.
    assert_eq!(on_full("a->router.a"), OnFull::Block);
    // The egress lane is the connection's lane: its own `drop` is kept.
    assert_eq!(on_full("slow->analytics_out"), OnFull::Drop);
    assert_eq!(on_full("fast->out"), OnFull::Block);
    // A different `on_full` is a different pipeline.
    let mut blocking = plan.clone();
    blocking.lane_graph.as_mut().unwrap().connections[4].lane = LaneIntent::events();
    assert_ne!(
        lower_v2(&blocking).unwrap().fingerprint(),
        spec.fingerprint()
    );
}

#[test]
fn broadcast_connections_of_one_source_must_agree_on_on_full() {
    let mut plan = drop_connection_plan();
    let graph = plan.lane_graph.as_mut().unwrap();
    graph.connections[1].lane = LaneIntent::of(LaneKind::FanoutBroadcast);
    graph.connections[2].lane = LaneIntent::of(LaneKind::FanoutBroadcast).on_full(OnFull::Drop);
    let Err(LowerError::Invalid(errors)) = lower_v2(&plan) else {
        panic!("expected the mismatch to be refused");
    };
    let text = errors.to_string();
    assert!(
        text.contains(
            "broadcast connections from `a` share one lane but ask for different `on_full` (`fast`: block, `slow`: drop)"
        ),
        "{text}"
    );
}
