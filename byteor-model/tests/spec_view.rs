//! `describe` and `dot` on lowered specs (an integration test: it builds its specs with
//! `lower_v2`, and `spec` itself uses nothing of `plan`).

use std::collections::BTreeSet;

use byteor_model::lower::lower_v2;
use byteor_model::plan::{Connection, LaneIntent, PipelinePlanV2, StageDecl};
use byteor_model::spec::{describe, dot};

/// Node ids declared in a dot text, and the (from, to) pairs of its edges.
fn nodes_and_edges(dot: &str) -> (BTreeSet<String>, Vec<(String, String)>) {
    let mut nodes = BTreeSet::new();
    let mut edges = Vec::new();
    for line in dot.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix('"') else {
            continue;
        };
        let (first, rest) = rest.split_once('"').expect("closing quote");
        match rest.strip_prefix(" -> \"") {
            Some(rest) => {
                let (second, _) = rest.split_once('"').expect("closing quote");
                edges.push((first.to_owned(), second.to_owned()));
            }
            None => {
                nodes.insert(first.to_owned());
            }
        }
    }
    (nodes, edges)
}

#[test]
fn dot_edges_join_declared_nodes() {
    let ring = PipelinePlanV2::single_ring("ring")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(StageDecl::new("x"))
        .with_stage(StageDecl::new("y").after("x"))
        .with_stage(StageDecl::new("z").after("x"));
    let graph = PipelinePlanV2::lane_graph("g")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(StageDecl::new("x"))
        .with_stage(StageDecl::new("y"))
        .with_stage(StageDecl::new("z"))
        .with_connection(Connection::new("in", "x"))
        .with_connection(Connection::new("x", "y"))
        .with_connection(Connection::new("x", "z").lane(LaneIntent::sequenced_slots(8)))
        .with_connection(Connection::new("y", "out"))
        .with_connection(Connection::new("z", "out"));
    for plan in [ring, graph] {
        let mut spec = lower_v2(&plan).expect("valid plan");
        // Specs from other tools may carry any name; dot quotes it.
        spec.name = "a \"quoted\" name".to_owned();
        let text = dot(&spec);
        assert!(text.starts_with("digraph \""), "{text}");
        assert!(text.ends_with("}\n"), "{text}");
        let (nodes, edges) = nodes_and_edges(&text);
        assert!(!edges.is_empty());
        for (from, to) in &edges {
            assert!(
                nodes.contains(from) && nodes.contains(to),
                "{from} -> {to}\n{text}"
            );
        }
    }
}

#[test]
fn describe_marks_inserted_roles() {
    let plan = PipelinePlanV2::lane_graph("g")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(StageDecl::new("x"))
        .with_stage(StageDecl::new("y"))
        .with_connection(Connection::new("in", "x"))
        .with_connection(Connection::new("in", "y"))
        .with_connection(Connection::new("x", "out"))
        .with_connection(Connection::new("y", "out"));
    let spec = lower_v2(&plan).expect("valid plan");
    let text = describe(&spec);
    assert!(text.contains("router.in  router [inserted]"), "{text}");
    assert!(text.contains("merge.out  merge [inserted]"), "{text}");
    assert!(
        text.contains("inserted: 1 router, 1 merge, 0 bridges"),
        "{text}"
    );
    assert!(
        text.contains(&format!("fingerprint {}", spec.fingerprint())),
        "{text}"
    );
}
