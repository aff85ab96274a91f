use std::collections::BTreeMap;

use super::error::{key_at, key_before};
use super::scan::MAX_KEY_PARTS;
use super::*;
use crate::plan::{
    validate_plan_v2, BoundaryDecl, BoundaryLanePolicy, Connection, ExecutionTargetV1, LaneIntent,
    LaneKind, OnFull, ParamValue, PlanViolation, SingleRingConstraints, StageDecl,
};

/// The reference example of the plan document format: every key once, both payloads.
const APPENDIX_B: &str = r#"
version = 2                 # plan document version; anything else is an error
name = "orders"
target = "single_ring"      # "single_ring" | "lane_graph"

[[ingress]]                 # boundary catalog
name = "orders_in"
[[egress]]
name = "fills_out"

[[stages]]                  # stage catalog, in topological order
name = "parse"
kind = "parse_order"        # optional: registered stage kind; defaults to name
side_effects = false        # optional; default false
params = { max_qty = 1000 } # optional; handed to the stage's parameter parser
[[stages]]
name = "risk"
after = ["parse"]           # SingleRing dependency list (earlier stages only)

[single_ring]               # required when target = "single_ring"
capacity = 1024             # optional; power of two; default 1024
shards = 1                  # optional; default 1; must be >= 1
ordering = "strict"         # "strict" | "per_key"; strict requires shards == 1
producer = "single"         # "single" | "multi" (rejected in v1)
scheduling = "dedicated"    # "dedicated" | "work_queue" (rejected in v1)
shard_key = "account"       # required when shards > 1

[lane_graph]                # required when target = "lane_graph"
on_full = "block"           # "block" | "drop"
boundary = { kind = "events", capacity = 1024 }   # boundary lane policy
[[lane_graph.connections]]
from = "orders_in"          # an ingress or a stage
to = "parse"                # a stage or an egress
lane = { kind = "events", capacity = 1024 }
"#;

const LANE_GRAPH: &str = r#"
version = 2
name = "plant"
target = "lane_graph"

[[ingress]]
name = "orders_in"

[[egress]]
name = "fills_out"

[[egress]]
name = "audit_out"

[[stages]]
name = "parse"
params = { symbols = ["AAPL", "MSFT"], limits = { max_qty = 1000, max_px = 99.5 }, strict = true }

[[stages]]
name = "risk"
side_effects = true

[[stages]]
name = "audit"
kind = "audit_log"

[lane_graph]
on_full = "drop"
boundary = { kind = "events", capacity = 4096, on_full = "block" }

[[lane_graph.connections]]
from = "orders_in"
to = "parse"
lane = { kind = "events" }

[[lane_graph.connections]]
from = "parse"
to = "risk"
lane = { kind = "sequenced_slots", capacity = 100, gating = "all_readers" }

[[lane_graph.connections]]
from = "parse"
to = "audit"
lane = { kind = "events", capacity = 256 }

[[lane_graph.connections]]
from = "risk"
to = "fills_out"
lane = { kind = "events" }

[[lane_graph.connections]]
from = "audit"
to = "audit_out"
lane = { kind = "events" }
"#;

fn parse(text: &str) -> PipelinePlanV2 {
    PipelinePlanV2::from_toml(text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
}

fn parse_err(text: &str) -> PlanDocumentError {
    match PipelinePlanV2::from_toml(text) {
        Ok(plan) => panic!("document should be rejected, got {plan:#?}"),
        Err(e) => e,
    }
}

fn assert_round_trip(plan: &PipelinePlanV2) {
    let text = plan.to_toml();
    let back = PipelinePlanV2::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
    assert_eq!(&back, plan, "\n---\n{text}");
    assert_eq!(back.to_toml(), text, "to_toml is not stable");
}

/// Asserts the error's message names every needle and that it points at `line`.
fn assert_error(err: &PlanDocumentError, line: usize, needles: &[&str]) {
    let text = err.to_string();
    assert_eq!(err.line(), line, "wrong line in `{text}`");
    assert!(
        text.starts_with(&format!("line {line}, column {}: ", err.column())),
        "`{text}` does not start with its position"
    );
    for needle in needles {
        assert!(
            text.contains(needle),
            "`{text}` does not mention {needle:?}"
        );
    }
}

#[test]
fn appendix_b_example_reads_and_round_trips() {
    let plan = parse(APPENDIX_B);
    assert_eq!(plan.name, "orders");
    assert_eq!(plan.target, ExecutionTargetV1::SingleRing);
    assert_eq!(plan.ingress, [BoundaryDecl::new("orders_in")]);
    assert_eq!(plan.egress, [BoundaryDecl::new("fills_out")]);
    assert_eq!(
        plan.stages,
        [
            StageDecl::new("parse")
                .kind("parse_order")
                .param("max_qty", 1000),
            StageDecl::new("risk").after("parse"),
        ]
    );
    assert_eq!(
        plan.single_ring,
        Some(SingleRingConstraints {
            shard_key: Some("account".into()),
            ..SingleRingConstraints::default()
        })
    );
    let graph = plan
        .lane_graph
        .as_ref()
        .expect("the example has a [lane_graph] table");
    assert_eq!(graph.on_full, Some(OnFull::Block));
    assert_eq!(graph.boundary.capacity, Some(1024));
    assert_eq!(
        graph.connections,
        [Connection::new("orders_in", "parse").lane(LaneIntent::events().capacity(1024))]
    );
    assert_round_trip(&plan);

    // The example shows every key, so it carries both payloads; validation says so.
    let errors = validate_plan_v2(&plan).unwrap_err();
    assert!(matches!(
        errors.violations()[0],
        PlanViolation::UnexpectedPayload {
            table: "lane_graph",
            ..
        }
    ));
}

#[test]
fn format_reference_in_the_docs_reads_and_round_trips() {
    // The annotated document on `from_toml`, taken from this file so the two cannot drift.
    let source = include_str!("mod.rs");
    let start = source.find("/// ```toml\n").expect("format reference") + "/// ```toml\n".len();
    let end = start + source[start..].find("/// ```\n").expect("end of reference");
    let reference: String = source[start..end]
        .lines()
        .map(|l| {
            l.trim_start()
                .trim_start_matches("///")
                .strip_prefix(' ')
                .unwrap_or("")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let plan = parse(&reference);
    assert_eq!(plan.stages[0].kind.as_deref(), Some("parse_order"));
    let graph = plan.lane_graph.as_ref().expect("lane_graph table");
    assert_eq!(graph.boundary.on_full, Some(OnFull::Drop));
    assert_eq!(
        graph.connections[0].lane,
        LaneIntent::sequenced_slots(64).on_full(OnFull::Drop)
    );
    assert_round_trip(&plan);
}

#[test]
fn lane_graph_document_reads_validates_and_round_trips() {
    let plan = parse(LANE_GRAPH);
    assert_eq!(plan.target(), ExecutionTargetV1::LaneGraph);
    assert_eq!(plan.single_ring, None);
    assert_eq!(validate_plan_v2(&plan), Ok(()));
    let parse_stage = plan.stage("parse").expect("parse stage");
    assert_eq!(
        parse_stage.params["symbols"],
        ParamValue::Array(vec!["AAPL".into(), "MSFT".into()])
    );
    assert_eq!(
        parse_stage.params["limits"],
        ParamValue::Table(BTreeMap::from([
            ("max_px".to_owned(), ParamValue::Float(99.5)),
            ("max_qty".to_owned(), ParamValue::Int(1000)),
        ]))
    );
    assert!(plan.stage("risk").expect("risk stage").side_effects);
    let graph = plan.lane_graph.as_ref().expect("lane graph");
    assert_eq!(graph.on_full, Some(OnFull::Drop));
    assert_eq!(
        graph.boundary,
        BoundaryLanePolicy {
            kind: LaneKind::Events,
            capacity: Some(4096),
            on_full: Some(OnFull::Block),
        }
    );
    assert_eq!(graph.connections[1].lane, LaneIntent::sequenced_slots(100));
    assert_round_trip(&plan);
}

#[test]
fn to_toml_layout() {
    let plan = PipelinePlanV2::single_ring("orders")
        .with_ingress("orders_in")
        .with_egress("fills_out")
        .with_stage(
            StageDecl::new("parse")
                .kind("parse_order")
                .side_effects(true)
                .param("max_qty", 1000)
                .param("venue name", "X \"Y\""),
        )
        .with_stage(StageDecl::new("risk").after("parse"));
    let expected = r#"version = 2
name = "orders"
target = "single_ring"

[[ingress]]
name = "orders_in"

[[egress]]
name = "fills_out"

[[stages]]
name = "parse"
kind = "parse_order"
side_effects = true
params = { max_qty = 1000, "venue name" = "X \"Y\"" }

[[stages]]
name = "risk"
after = ["parse"]

[single_ring]
capacity = 1024
shards = 1
ordering = "strict"
producer = "single"
scheduling = "dedicated"
"#;
    assert_eq!(plan.to_toml(), expected);
    assert_round_trip(&plan);

    let graph = PipelinePlanV2::lane_graph("g")
        .with_connection(Connection::new("a", "b").lane(LaneIntent::sequenced_slots(8)));
    let expected = r#"version = 2
name = "g"
target = "lane_graph"

[lane_graph]
on_full = "block"
boundary = { kind = "events" }

[[lane_graph.connections]]
from = "a"
to = "b"
lane = { kind = "sequenced_slots", capacity = 8, gating = "all_readers" }
"#;
    assert_eq!(graph.to_toml(), expected);
    assert_round_trip(&graph);
}

#[test]
fn optional_keys_take_their_defaults() {
    let plan = parse(
        "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n\
         [single_ring]\n[lane_graph]\n[[lane_graph.connections]]\nfrom = \"a\"\nto = \"b\"\n",
    );
    assert!(plan.ingress.is_empty() && plan.egress.is_empty());
    assert_eq!(plan.stages, [StageDecl::new("s")]);
    assert_eq!(plan.single_ring, Some(SingleRingConstraints::default()));
    let graph = plan.lane_graph.expect("lane graph table");
    assert_eq!(graph.on_full, None);
    assert_eq!(graph.boundary, BoundaryLanePolicy::default());
    assert_eq!(graph.connections, [Connection::new("a", "b")]);
}

#[test]
fn missing_payload_table_is_left_to_validation() {
    let plan = parse("version = 2\nname = \"p\"\ntarget = \"single_ring\"\n");
    assert_eq!(plan.single_ring, None);
    assert_eq!(plan.lane_graph, None);
    let errors = validate_plan_v2(&plan).unwrap_err();
    assert!(matches!(
        errors.violations()[0],
        PlanViolation::MissingPayload {
            table: "single_ring",
            ..
        }
    ));
    assert_round_trip(&plan);
}

#[test]
fn rule_breaking_documents_parse_and_validation_reports_them() {
    let plan = parse(
        r#"
version = 2
name = "orders"
target = "single_ring"
[[ingress]]
name = "in"
[[egress]]
name = "out"
[[stages]]
name = "parse"
[single_ring]
shards = 0
ordering = "strict"
producer = "multi"
scheduling = "work_queue"
"#,
    );
    let errors = validate_plan_v2(&plan).unwrap_err();
    assert_eq!(errors.len(), 3, "{errors}");
    assert!(matches!(errors.violations()[0], PlanViolation::ZeroShards));
    assert!(matches!(
        errors.violations()[1],
        PlanViolation::MultiProducerNotSupported
    ));
    assert!(matches!(
        errors.violations()[2],
        PlanViolation::WorkQueueNotSupported
    ));

    let mut sharded = plan.clone();
    sharded.single_ring.as_mut().expect("table").shards = 4;
    let sharded = parse(&sharded.to_toml());
    let errors = validate_plan_v2(&sharded).unwrap_err();
    assert!(errors
        .iter()
        .any(|v| matches!(v, PlanViolation::StrictOrderingWithShards { shards: 4 })));
}

// ---- errors -------------------------------------------------------------------------

#[test]
fn missing_version() {
    let err = parse_err("name = \"p\"\ntarget = \"single_ring\"\n");
    assert!(matches!(err, PlanDocumentError::Malformed { .. }));
    assert_error(&err, 1, &["missing field `version`"]);
}

#[test]
fn unsupported_version() {
    let err = parse_err("name = \"p\"\n\nversion = 3\ntarget = \"single_ring\"\n");
    assert_eq!(
        err,
        PlanDocumentError::UnsupportedVersion {
            line: 3,
            column: 11,
            found: 3
        }
    );
    assert_error(&err, 3, &["`version`", "version 3", "version 2"]);
}

#[test]
fn version_of_the_wrong_type() {
    let err = parse_err("version = \"2\"\nname = \"p\"\ntarget = \"single_ring\"\n");
    assert!(matches!(err, PlanDocumentError::Malformed { .. }));
    assert_error(&err, 1, &["`version`", "string"]);
}

#[test]
fn unknown_top_level_key() {
    let err = parse_err("version = 2\nname = \"p\"\ntargt = \"single_ring\"\n");
    assert_error(&err, 3, &["`targt`", "`target`", "`stages`"]);
    assert_eq!(err.column(), 1);
}

#[test]
fn unknown_key_in_stages() {
    let err = parse_err(
        "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n\
         depends_on = [\"x\"]\n",
    );
    assert_error(&err, 6, &["`depends_on`", "`after`", "`params`"]);
}

#[test]
fn unknown_key_in_single_ring() {
    let err = parse_err(
        "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[single_ring]\nshards = 2\n\
         shard_by = \"account\"\n",
    );
    assert_error(&err, 6, &["`shard_by`", "`shard_key`", "`capacity`"]);
}

#[test]
fn unknown_key_in_lane_intent() {
    let err = parse_err(
        "version = 2\nname = \"p\"\ntarget = \"lane_graph\"\n[lane_graph]\n\
         [[lane_graph.connections]]\nfrom = \"a\"\nto = \"b\"\n\
         lane = { kind = \"events\", size = 64 }\n",
    );
    assert_error(&err, 8, &["`size`", "`capacity`", "`gating`"]);
}

#[test]
fn unknown_key_in_boundary_policy() {
    let err = parse_err(
        "version = 2\nname = \"p\"\ntarget = \"lane_graph\"\n[lane_graph]\n\
         boundary = { knd = \"events\" }\n",
    );
    assert_error(&err, 5, &["`knd`", "`kind`"]);
}

#[test]
fn bad_enum_values_list_the_valid_ones() {
    let err = parse_err("version = 2\nname = \"p\"\ntarget = \"ring\"\n");
    assert_error(
        &err,
        3,
        &["`target`", "`ring`", "`single_ring`", "`lane_graph`"],
    );
    assert_eq!(err.column(), 10);

    let err = parse_err(
        "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[single_ring]\n\
         ordering = \"strong\"\n",
    );
    assert_error(&err, 5, &["ordering", "`strong`", "`strict`", "`per_key`"]);

    let err = parse_err(
        "version = 2\nname = \"p\"\ntarget = \"lane_graph\"\n[lane_graph]\n\
         [[lane_graph.connections]]\nfrom = \"a\"\nto = \"b\"\nlane = { kind = \"broadcast\" }\n",
    );
    assert_error(
        &err,
        8,
        &[
            "kind",
            "`broadcast`",
            "`events`",
            "`journal`",
            "`sequenced_slots`",
            "`fanout_broadcast`",
        ],
    );

    let err = parse_err(
        "version = 2\nname = \"p\"\ntarget = \"lane_graph\"\n[lane_graph]\non_full = \"wait\"\n",
    );
    assert_error(&err, 5, &["on_full", "`wait`", "`block`", "`drop`"]);
}

#[test]
fn wrong_types_name_the_key() {
    let err = parse_err(
        "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[single_ring]\n\
         shards = \"four\"\n",
    );
    assert_error(&err, 5, &["shards", "string"]);
    assert_eq!(err.column(), 10);

    let err = parse_err(
        "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[single_ring]\ncapacity = -1\n",
    );
    assert_error(&err, 5, &["capacity", "-1"]);

    let err = parse_err(
        "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n\
         side_effects = \"yes\"\n",
    );
    assert_error(&err, 6, &["side_effects"]);

    let err = parse_err("version = 2\nname = 7\ntarget = \"single_ring\"\n");
    assert_error(&err, 2, &["name"]);

    let err = parse_err("version = 2\nname = \"p\"\ntarget = \"single_ring\"\nstages = 3\n");
    assert_error(&err, 4, &["stages"]);
}

#[test]
fn missing_required_keys() {
    let err = parse_err("version = 2\nname = \"p\"\n");
    assert_error(&err, 1, &["`target`"]);

    let err = parse_err(
        "version = 2\nname = \"p\"\ntarget = \"lane_graph\"\n[lane_graph]\n\
         [[lane_graph.connections]]\nfrom = \"a\"\n",
    );
    assert!(err.to_string().contains("`to`"), "{err}");
}

#[test]
fn duplicate_key_names_the_key() {
    let err = parse_err("version = 2\nname = \"p\"\nname = \"q\"\n");
    assert_error(&err, 3, &["`name`", "duplicate"]);
}

#[test]
fn toml_syntax_errors_have_a_position() {
    let err = parse_err("version = 2\nname = \"p\ntarget = \"single_ring\"\n");
    assert!(matches!(err, PlanDocumentError::Malformed { .. }));
    assert_eq!(err.line(), 2, "{err}");

    let err = parse_err("version = 2\n[[stages]\n");
    assert_eq!(err.line(), 2, "{err}");
}

#[test]
fn datetime_params_are_rejected_with_the_param_name() {
    let err = parse_err(
        "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n\
         params = { a = 1, open = 09:30:00 }\n",
    );
    assert!(matches!(
        &err,
        PlanDocumentError::DatetimeParam { stage, param, .. } if stage == "s" && param == "open"
    ));
    assert_error(&err, 6, &["stage `s`", "param `open`"]);

    let err = parse_err(
        "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n\
         [stages.params.session]\nopen = 1979-05-27\n",
    );
    assert_error(&err, 6, &["param `session.open`"]);
}

#[test]
fn positions_count_characters_not_bytes() {
    assert_eq!(line_column("", 0), (1, 1));
    assert_eq!(line_column("abc", 2), (1, 3));
    assert_eq!(line_column("a\nbc", 3), (2, 2));
    assert_eq!(line_column("é = 1", 3), (1, 3));
    // Inside a character or past the end: clamped.
    assert_eq!(line_column("é", 1), (1, 1));
    assert_eq!(line_column("ab", 10), (1, 3));

    let err = parse_err("version = 2\nname = \"ééé\"\ntarget = 5\n");
    assert_eq!((err.line(), err.column()), (3, 10), "{err}");
}

#[test]
fn key_is_read_back_from_the_text() {
    assert_eq!(key_before("a = 1\nshards = x", 15), Some("shards".into()));
    assert_eq!(
        key_before("lane = { capacity= 5", 19),
        Some("capacity".into())
    );
    assert_eq!(key_before("\"odd key\" = 5", 12), Some("odd key".into()));
    assert_eq!(key_before("after = [1, 2]", 12), None);
    assert_eq!(key_before("x", 5), None);
    // Non-ASCII text before a key, or where a bare key would be.
    assert_eq!(key_before("é=é= 1", 7), None);
    assert_eq!(key_before("᧐==", 5), None);
    assert!(PipelinePlanV2::from_toml("᧐==").is_err());
    assert_eq!(key_before("éab = 1", 7), Some("ab".into()));
    assert_eq!(key_at("a = 1\nname = 2", 6..10), Some("name".into()));
    assert_eq!(key_at("a = [1, 2]", 5..6), None);
    assert_eq!(key_at("a", 3..9), None);
}

#[test]
fn strings_and_keys_are_escaped() {
    let odd = "q\"b\\n\nt\tr\rnul\u{0}del\u{7f}bs\u{8}ff\u{c}é🦀";
    let plan = PipelinePlanV2::lane_graph(odd)
        .with_ingress(odd)
        .with_stage(
            StageDecl::new("")
                .kind(odd)
                .param(odd, odd)
                .param("", ParamValue::Table(BTreeMap::new()))
                .after(odd),
        )
        .with_connection(Connection::new(odd, ""));
    assert_round_trip(&plan);
}

#[test]
fn floats_round_trip_exactly() {
    let values = [
        0.0,
        -0.0,
        0.1,
        -2.5,
        1e300,
        -1e-300,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        f64::MIN,
        1e16,
        123456789.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    for f in values {
        let plan = PipelinePlanV2::single_ring("f").with_stage(StageDecl::new("s").param("x", f));
        let back = parse(&plan.to_toml());
        match back.stages[0].params["x"] {
            ParamValue::Float(g) => assert_eq!(g.to_bits(), f.to_bits(), "{f:?}"),
            ref other => panic!("{f:?} read back as {other:?}"),
        }
    }
    let nan = PipelinePlanV2::single_ring("f").with_stage(StageDecl::new("s").param("x", f64::NAN));
    let back = parse(&nan.to_toml());
    assert!(matches!(back.stages[0].params["x"], ParamValue::Float(g) if g.is_nan()));
}

/// `[[...[1]...]]` of the given depth (a scalar is depth 1).
fn nested_array(depth: usize) -> ParamValue {
    let mut value = ParamValue::Int(1);
    for _ in 1..depth {
        value = ParamValue::Array(vec![value]);
    }
    value
}

#[test]
fn params_at_the_nesting_limit_round_trip() {
    let mut table = ParamValue::Table(BTreeMap::new());
    for _ in 1..PARAM_V1_MAX_DEPTH {
        table = ParamValue::Table(BTreeMap::from([("k".to_owned(), table)]));
    }
    assert_eq!(table.depth(), PARAM_V1_MAX_DEPTH);
    let plan = PipelinePlanV2::single_ring("p")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(
            StageDecl::new("s")
                .param("a", nested_array(PARAM_V1_MAX_DEPTH))
                .param("t", table),
        );
    assert_eq!(validate_plan_v2(&plan), Ok(()));
    assert_round_trip(&plan);
}

#[test]
fn params_past_the_nesting_limit_are_refused_by_name() {
    let plan = PipelinePlanV2::single_ring("p").with_stage(
        StageDecl::new("s")
            .param("ok", 1)
            .param("deep", nested_array(PARAM_V1_MAX_DEPTH + 1)),
    );
    let text = plan.to_toml();
    let err = parse_err(&text);
    assert!(
        matches!(
            &err,
            PlanDocumentError::ParamTooDeep { stage, param, max: 32, .. }
                if stage == "s" && param == "deep"
        ),
        "{err:?}"
    );
    assert_error(
        &err,
        7,
        &["stage `s`", "param `deep`", "deeper than 32 levels"],
    );
    // Validation says the same of the plan in memory.
    assert!(validate_plan_v2(&plan)
        .unwrap_err()
        .iter()
        .any(|v| matches!(v, PlanViolation::ParamTooDeep { depth: 33, .. })));
    // Nesting through table headers and dotted keys counts too.
    let text = format!(
        "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n\
         [stages.params{}]\nv = 1\n",
        ".a".repeat(PARAM_V1_MAX_DEPTH)
    );
    assert!(matches!(
        parse_err(&text),
        PlanDocumentError::ParamTooDeep { .. }
    ));
}

#[test]
fn very_deep_documents_are_refused_without_deep_recursion() {
    let head = "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n";
    for text in [
        format!("{head}params = {{ x = {} }}\n", "[".repeat(1 << 20)),
        format!("{head}params = {{ x = {} }}\n", "{ a = ".repeat(100_000)),
        format!("{head}[stages.params{}]\nv = 1\n", ".a".repeat(10_000)),
    ] {
        let err = parse_err(&text);
        assert!(
            matches!(err, PlanDocumentError::TooDeep { max: 32, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("nests too deeply"), "{err}");
    }
}

#[test]
fn parser_messages_never_carry_control_characters() {
    let err =
        parse_err("version = 2\nname = \"p\"\ntarget = \"single_ring\"\n\"k\\u001b[2J\" = 1\n");
    let text = err.to_string();
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(text.contains("k\\u{1b}[2J"), "{text}");
}

#[test]
fn the_scan_skips_strings_and_comments() {
    let brackets = "[".repeat(100);
    let dots = ".".repeat(100);
    let text = format!(
        "version = 2 # [[[[{brackets}\nname = \"{brackets}{dots}\\\"{brackets}\"\n\
         target = 'single_ring'\n[[stages]]\nname = '''{brackets}'''\n\
         kind = \"\"\"\n{brackets}\\\"\"\"{dots}\n\"\"\"\"\"\n\
         params = {{ a = '''x''''', b = \"\"\"y\"\"\"\"\", \"c.{dots}\" = 1.5, d = [1.5, 2.5] }}\n\
         [[stages]]\nname = \"t\"\n[stages.params.\"{dots}\"]\ne = 0.5\n"
    );
    assert_eq!(scan(&text), Ok(()));
    assert_eq!(scan("x = 1979-05-27T00:32:00.999\ny = 1e.5\n"), Ok(()));
    let plan = parse(&text);
    assert_eq!(plan.name, format!("{brackets}{dots}\"{brackets}"));
    assert_eq!(plan.stages[0].name, brackets);
    assert_eq!(
        plan.stages[0].kind.as_deref(),
        Some(format!("{brackets}\"\"\"{dots}\n\"\"").as_str())
    );
    assert_eq!(plan.stages[0].params["a"], ParamValue::Str("x''".into()));
    assert_eq!(plan.stages[0].params["b"], ParamValue::Str("y\"\"".into()));
}

#[test]
fn the_scan_measures_nesting_and_size() {
    let head = "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n";
    // The deepest parameter fits inside `params = { ... }`; one more level does not.
    let at = |depth: usize| {
        format!(
            "{head}params = {{ x = {}{} }}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    assert_eq!(scan(&at(PARAM_V1_MAX_DEPTH)), Ok(()));
    assert!(matches!(
        scan(&at(PARAM_V1_MAX_DEPTH + 1)),
        Err(ScanProblem::TooDeep(_))
    ));
    let keys = |parts: usize| format!("{head}[stages.params]\na{} = 1\n", ".a".repeat(parts - 1));
    assert_eq!(scan(&keys(PARAM_V1_MAX_DEPTH)), Ok(()));
    assert!(matches!(
        scan(&keys(MAX_KEY_PARTS + 1)),
        Err(ScanProblem::TooDeep(_))
    ));
    // Headers and arrays of tables nest no deeper than their brackets.
    assert_eq!(
        scan(&format!(
            "{head}[[stages]]\n[stages.params.a.b]\nx = [[1], [2]]\n"
        )),
        Ok(())
    );
    // Items: a document past the limit is refused where the count passes it.
    let text = format!(
        "{head}params = {{ x = [{}1] }}\n",
        "1,".repeat(PLAN_DOCUMENT_MAX_ITEMS)
    );
    match scan(&text) {
        Err(ScanProblem::TooLarge(at)) => assert!(at < text.len() && at > text.len() / 3),
        other => panic!("{other:?}"),
    }
    let err = parse_err(&text);
    assert!(
        matches!(err, PlanDocumentError::TooLarge { line: 6, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("too large to read"), "{err}");
    // Ordinary plan documents of several hundred kilobytes are read.
    let mut plan = PipelinePlanV2::lane_graph("big")
        .with_ingress("in")
        .with_egress("out");
    for i in 0..2_500 {
        plan = plan
            .with_stage(StageDecl::new(format!("s{i}")))
            .with_connection(Connection::new("in", format!("s{i}")))
            .with_connection(Connection::new(format!("s{i}"), "out"));
    }
    assert!(plan.to_toml().len() > 400_000);
    assert_round_trip(&plan);
}
