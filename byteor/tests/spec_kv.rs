//! The kv codec: exact round trips and every `from_kv` error path, with its line number.

use std::collections::BTreeMap;

use byteor::lower::lower_v2;
use byteor::plan::ExecutionTargetV1;
use byteor::plan::{Connection, LaneIntent, ParamValue, PipelinePlanV2, StageDecl};
use byteor::spec::{KvError, PipelineSpecV1, TopologySpec};

fn ring_spec() -> PipelineSpecV1 {
    let plan = PipelinePlanV2::single_ring("orders")
        .with_ingress("orders_in")
        .with_egress("fills_out")
        .with_stage(StageDecl::new("parse").param("max_qty", 1000))
        .with_stage(StageDecl::new("risk").after("parse"));
    lower_v2(&plan).expect("valid plan")
}

fn graph_spec() -> PipelineSpecV1 {
    let plan = PipelinePlanV2::lane_graph("plant")
        .with_ingress("orders_in")
        .with_egress("fills_out")
        .with_stage(StageDecl::new("parse"))
        .with_stage(StageDecl::new("price"))
        .with_stage(StageDecl::new("risk"))
        .with_connection(Connection::new("orders_in", "parse"))
        .with_connection(Connection::new("parse", "price"))
        .with_connection(Connection::new("parse", "risk").lane(LaneIntent::sequenced_slots(64)))
        .with_connection(Connection::new("price", "fills_out"))
        .with_connection(Connection::new("risk", "fills_out"));
    lower_v2(&plan).expect("valid plan")
}

/// The 1-based line of `key` in `text`.
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| l.split_once('=').map(|(k, _)| k) == Some(key))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no key {key} in\n{text}"))
}

/// `text` with the value of `key` replaced.
fn with_value(text: &str, key: &str, value: &str) -> String {
    text.lines()
        .map(|l| match l.split_once('=') {
            Some((k, _)) if k == key => format!("{k}={value}\n"),
            _ => format!("{l}\n"),
        })
        .collect()
}

/// `text` without the line of `key`.
fn without(text: &str, key: &str) -> String {
    text.lines()
        .filter(|l| l.split_once('=').map(|(k, _)| k) != Some(key))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn err(text: &str) -> KvError {
    match PipelineSpecV1::from_kv(text) {
        Ok(spec) => panic!("expected an error, got {spec:?}"),
        Err(e) => e,
    }
}

#[test]
fn round_trips_exactly() {
    for spec in [ring_spec(), graph_spec()] {
        let text = spec.to_kv();
        assert!(text.starts_with("byteor.spec=1\n"));
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"));
        assert!(text.is_ascii());
        let back = PipelineSpecV1::from_kv(&text).expect("reads back");
        assert_eq!(back, spec);
        assert_eq!(back.to_kv(), text);
        assert_eq!(back.fingerprint(), spec.fingerprint());
    }
}

#[test]
fn awkward_names_and_params_round_trip() {
    let nested = BTreeMap::from([
        ("=".to_owned(), ParamValue::Array(vec![])),
        ("a b".to_owned(), ParamValue::Table(BTreeMap::new())),
        (
            "deep".to_owned(),
            ParamValue::Array(vec![ParamValue::Array(vec![ParamValue::Float(-0.0)])]),
        ),
    ]);
    // Plans only take plain names, so the awkward ones go into the lowered spec: specs from
    // other tools may carry any text, and the kv form must carry it exactly.
    let plan = PipelinePlanV2::single_ring("pipe")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(
            StageDecl::new("stage")
                .param("", "empty key")
                .param("stage.0.name", "looks like a key")
                .param("nested", ParamValue::Table(nested))
                .param("tiny", 5e-324)
                .param("huge", f64::MAX)
                .param("neg_inf", f64::NEG_INFINITY)
                .param("int_min", ParamValue::Int(i64::MIN)),
        );
    let mut spec = lower_v2(&plan).expect("valid plan");
    spec.name = " pipe=line\n#1 ".to_owned();
    spec.stages[0].name = "caf\u{e9} \u{1f980}".to_owned();
    spec.stages[0].kind = "k\tind".to_owned();
    if let TopologySpec::SingleRing(ring) = &mut spec.topology {
        ring.ingress = "in\\put".to_owned();
        ring.egress = "\"out\"".to_owned();
    }
    let text = spec.to_kv();
    assert!(text.is_ascii());
    // One `=` per line: strings escape theirs.
    assert!(text.lines().all(|l| l.matches('=').count() == 1), "{text}");
    assert_eq!(PipelineSpecV1::from_kv(&text).as_ref(), Ok(&spec), "{text}");

    // A NaN keeps its bit pattern.
    let mut nan_spec = spec.clone();
    let bits = 0x7ff8_0000_dead_beef_u64;
    nan_spec.stages[0]
        .params
        .insert("nan".to_owned(), ParamValue::Float(f64::from_bits(bits)));
    let text = nan_spec.to_kv();
    assert!(
        text.contains("stage.0.param.nan=nan(0x7ff80000deadbeef)\n"),
        "{text}"
    );
    let back = PipelineSpecV1::from_kv(&text).expect("reads back");
    match back.stages[0].params.get("nan") {
        Some(ParamValue::Float(f)) => assert_eq!(f.to_bits(), bits),
        other => panic!("{other:?}"),
    }
    assert_eq!(back.to_kv(), text);
}

#[test]
fn specs_that_fail_validation_still_round_trip() {
    let mut spec = graph_spec();
    if let TopologySpec::LaneGraph(graph) = &mut spec.topology {
        graph.lanes[0].id = 40;
        graph.lanes[0].readers.clear();
        graph.roles[4].stage = Some(9);
        graph.endpoints[0].lane = u32::MAX;
    }
    spec.stages[1].id = 17;
    let text = spec.to_kv();
    assert_eq!(PipelineSpecV1::from_kv(&text), Ok(spec));
}

#[test]
fn lines_in_any_order_with_comments_blanks_and_crlf() {
    let spec = graph_spec();
    let text = spec.to_kv();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.reverse();
    let mut shuffled = String::from("# a hand-edited spec\n\n");
    for (i, l) in lines.iter().enumerate() {
        shuffled.push_str(l);
        shuffled.push_str(if i % 2 == 0 { "\r\n" } else { "\n" });
        if i % 5 == 0 {
            shuffled.push_str("   \n  # note\n\t\n");
        }
    }
    assert_eq!(PipelineSpecV1::from_kv(&shuffled), Ok(spec));
}

#[test]
fn accepts_non_canonical_but_exact_spellings() {
    let spec = ring_spec();
    let text = spec.to_kv();
    let text = with_value(&text, "single_ring.final_mask", "0x2");
    let text = with_value(&text, "name", "\\u{6f}rders");
    assert_eq!(PipelineSpecV1::from_kv(&text), Ok(spec));
}

#[test]
fn missing_separator() {
    let text = "byteor.spec=1\nname orders\n";
    let e = err(text);
    assert_eq!(e, KvError::MissingSeparator { line: 2 });
    assert_eq!(e.to_string(), "line 2: expected `key=value`");
}

#[test]
fn unknown_keys() {
    let base = ring_spec().to_kv();
    for key in [
        "colour",
        "stage.0.colour",
        "stage.01.name",
        "stage.x.name",
        " name",
        "lanes.0",
    ] {
        let text = format!("{base}{key}=1\n");
        let line = base.lines().count() + 1;
        let e = err(&text);
        assert_eq!(
            e,
            KvError::UnknownKey {
                line,
                key: key.to_owned()
            },
            "{key}"
        );
        assert!(e
            .to_string()
            .starts_with(&format!("line {line}: unknown key")));
    }
}

#[test]
fn bad_parameter_key() {
    let base = ring_spec().to_kv();
    let text = format!("{base}stage.0.param.a\\qb=1\n");
    match err(&text) {
        KvError::BadKey { line, key, reason } => {
            assert_eq!(line, base.lines().count() + 1);
            assert_eq!(key, "stage.0.param.a\\qb");
            assert!(reason.contains("unknown escape"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn duplicate_keys() {
    let base = ring_spec().to_kv();
    let first = line_of(&base, "name");
    let text = format!("{base}name=again\n");
    let e = err(&text);
    assert_eq!(
        e,
        KvError::DuplicateKey {
            line: base.lines().count() + 1,
            key: "name".to_owned(),
            first
        }
    );
    // Two spellings of one parameter name are one key.
    let text = format!("{base}stage.0.param.m\\u{{61}}x_qty=5\n");
    assert!(matches!(
        err(&text),
        KvError::DuplicateKey { key, .. } if key == "stage.0.param.max_qty"
    ));
}

#[test]
fn index_beyond_count() {
    let base = graph_spec().to_kv();
    let text = format!("{base}role.9.name=ghost\n");
    let e = err(&text);
    assert_eq!(
        e,
        KvError::IndexOutOfRange {
            line: base.lines().count() + 1,
            key: "role.9.name".to_owned(),
            count_key: "roles",
            count: 6,
            count_line: line_of(&base, "roles"),
        }
    );
    let base = ring_spec().to_kv();
    let text = format!("{base}stage.2.param.x=1\n");
    assert!(matches!(
        err(&text),
        KvError::IndexOutOfRange {
            count_key: "stages",
            count: 2,
            ..
        }
    ));
}

#[test]
fn keys_of_the_other_target() {
    let base = ring_spec().to_kv();
    let text = format!("{base}lanes=0\n");
    assert_eq!(
        err(&text),
        KvError::WrongTarget {
            line: base.lines().count() + 1,
            key: "lanes".to_owned(),
            target: ExecutionTargetV1::SingleRing,
            target_line: line_of(&base, "target"),
        }
    );
    let base = graph_spec().to_kv();
    let text = format!("{base}single_ring.capacity=8\n");
    assert!(matches!(
        err(&text),
        KvError::WrongTarget { key, target: ExecutionTargetV1::LaneGraph, .. } if key == "single_ring.capacity"
    ));
}

#[test]
fn version_line() {
    assert_eq!(err(""), KvError::MissingVersion);
    assert_eq!(err("# only a comment\n"), KvError::MissingVersion);
    let text = without(&ring_spec().to_kv(), "byteor.spec");
    let e = err(&text);
    assert_eq!(e, KvError::MissingVersion);
    assert_eq!(e.line(), 1);

    let text = with_value(&ring_spec().to_kv(), "byteor.spec", "2");
    assert_eq!(
        err(&text),
        KvError::UnsupportedVersion {
            line: 1,
            found: "2".to_owned()
        }
    );
}

#[test]
fn missing_keys_point_at_the_line_that_requires_them() {
    let base = ring_spec().to_kv();
    let cases = [
        ("name", "byteor.spec"),
        ("target", "byteor.spec"),
        ("stages", "byteor.spec"),
        ("stage.1.kind", "stages"),
        ("single_ring.capacity", "target"),
        ("single_ring.deps", "target"),
    ];
    for (missing, required_by) in cases {
        let text = without(&base, missing);
        let e = err(&text);
        match &e {
            KvError::MissingKey { line, key, .. } => {
                assert_eq!(key, missing);
                assert_eq!(*line, line_of(&text, required_by), "{missing}");
            }
            other => panic!("{missing}: {other:?}"),
        }
        assert!(
            e.to_string().contains(&format!("missing key `{missing}`")),
            "{e}"
        );
    }

    let base = graph_spec().to_kv();
    for (missing, required_by) in [
        ("lane.3.readers", "lanes"),
        ("role.5.outputs", "roles"),
        ("endpoint.1.direction", "endpoints"),
        ("lane_graph.on_full", "target"),
    ] {
        let text = without(&base, missing);
        match err(&text) {
            KvError::MissingKey { line, key, .. } => {
                assert_eq!(key, missing);
                assert_eq!(line, line_of(&text, required_by), "{missing}");
            }
            other => panic!("{missing}: {other:?}"),
        }
    }
}

#[test]
fn optional_keys_may_be_absent() {
    // Gating and role stages are optional lines; without them the spec differs but reads.
    let text = without(&graph_spec().to_kv(), "role.0.stage");
    let spec = PipelineSpecV1::from_kv(&text).expect("reads");
    let TopologySpec::LaneGraph(graph) = &spec.topology else {
        panic!("graph expected")
    };
    assert_eq!(graph.roles[0].stage, None);
}

#[test]
fn bad_values() {
    let ring = ring_spec().to_kv();
    let graph = graph_spec().to_kv();
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            &ring,
            "target",
            "ring",
            "expected one of `single_ring`, `lane_graph`",
        ),
        (&ring, "stages", "two", "unsigned decimal"),
        (&ring, "stage.0.id", "-1", "unsigned decimal"),
        (&ring, "stage.0.id", "+1", "unsigned decimal"),
        (&ring, "single_ring.capacity", "4294967296", "out of range"),
        (&ring, "stage.0.side_effects", "yes", "`true` or `false`"),
        (&ring, "stage.0.name", "a=b", "raw `=`"),
        (&ring, "stage.0.name", "a\\", "at the end"),
        (&ring, "stage.0.name", "tab\there", "control character"),
        (&ring, "stage.0.kind", "\\u{110000}", "not a Unicode scalar"),
        (
            &ring,
            "stage.0.param.max_qty",
            "lots",
            "strings need double quotes",
        ),
        (&ring, "stage.0.param.max_qty", "[1,", "expected a value"),
        (&ring, "single_ring.ordering", "fifo", "`strict`, `per_key`"),
        (&ring, "single_ring.deps", "0x0,zero", "item 2"),
        (&ring, "single_ring.final_mask", "0x123456789", "mask"),
        (&ring, "single_ring.final_mask", "2", "mask"),
        (&graph, "lane_graph.on_full", "wait", "`block`, `drop`"),
        (&graph, "lane.0.kind", "pipe", "`events`"),
        (
            &graph,
            "lane.0.writer",
            "stage:0",
            "`role:<id>` or `endpoint:<id>`",
        ),
        (&graph, "lane.0.readers", "role:1,", "item 2"),
        (
            &graph,
            "role.0.kind",
            "worker",
            "`stage`, `bridge`, `router`, `merge`",
        ),
        (&graph, "role.0.inputs", "1 2", "item 1"),
        (&graph, "endpoint.0.direction", "in", "`ingress`, `egress`"),
    ];
    for &(base, key, value, reason_part) in cases {
        let text = with_value(base, key, value);
        let e = err(&text);
        match &e {
            KvError::BadValue {
                line,
                key: k,
                value: v,
                reason,
            } => {
                assert_eq!(*line, line_of(&text, key), "{key}={value}");
                assert_eq!(k, key);
                // Control characters are shown escaped, never raw.
                assert_eq!(v, &value.replace('\t', "\\t"));
                assert!(reason.contains(reason_part), "{key}={value}: {reason}");
            }
            other => panic!("{key}={value}: {other:?}"),
        }
        assert!(e
            .to_string()
            .starts_with(&format!("line {}: bad value", e.line())));
    }
}

#[test]
fn long_values_are_cut_in_errors() {
    let text = with_value(
        &ring_spec().to_kv(),
        "single_ring.capacity",
        &"9".repeat(500),
    );
    match err(&text) {
        KvError::BadValue { value, .. } => {
            assert_eq!(value.len(), 64 + 3);
            assert!(value.ends_with("..."));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn huge_counts_fail_fast_without_allocating() {
    let text = with_value(&ring_spec().to_kv(), "stages", "4294967295");
    assert!(matches!(err(&text), KvError::MissingKey { key, .. } if key == "stage.2.id"));
}
