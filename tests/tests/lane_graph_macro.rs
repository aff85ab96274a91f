//! `#[pipeline]`'s LaneGraph form is a mirror of the typed LaneGraph builder and of a plan
//! document: the same graph written the three ways has one plan and one lowered spec (so one
//! canonical text and fingerprint), and the macro-built graph runs, every event arriving in
//! order.

use byteor::exec::lane_graph::{lane_fn, Emitter, LaneGraph, LaneGraphPipeline, LaneStage};
use byteor::exec::{BuildError, StageError};
use byteor::lower::lower_v2;
use byteor::plan::{LaneIntent, PipelinePlanV2};
use byteor::spec::PipelineSpecV1;
use byteor::vocab::OnFull;
use tests::{bounded, TIMEOUT};

/// Doubles each number.
struct Double;

impl LaneStage<u64, u64> for Double {
    fn on_event(&mut self, n: &u64, out: &mut Emitter<'_, u64>) -> Result<(), StageError> {
        out.emit(|slot| *slot = n * 2)
    }
}

/// Adds `offset` to each number.
struct Offset {
    offset: u64,
}

impl LaneStage<u64, u64> for Offset {
    fn on_event(&mut self, n: &u64, out: &mut Emitter<'_, u64>) -> Result<(), StageError> {
        out.emit(|slot| *slot = n + self.offset)
    }
}

#[byteor::pipeline(name = "numbers", on_full = "block")]
fn numbers_macro(offset: u64) -> LaneGraph {
    let input = ingress::<u64>("numbers_in");
    let double = stage(Double);
    let offset = stage(Offset { offset });
    let output = egress::<u64>("numbers_out");
    connect(input, double);
    connect(double, offset).lane(sequenced_slots(64));
    connect(offset, output).lane(events().capacity(256).on_full("block"));
}

fn numbers_builder(offset: u64) -> Result<LaneGraphPipeline, BuildError> {
    let mut g = LaneGraph::builder("numbers");
    g.on_full(OnFull::Block);
    let input = g.ingress::<u64>("numbers_in");
    let (double_in, double_out) = g.stage("double", Double);
    let (offset_in, offset_out) = g.stage(
        "offset",
        lane_fn(move |n: &u64, out: &mut Emitter<'_, u64>| out.emit(|slot| *slot = n + offset)),
    );
    let output = g.egress::<u64>("numbers_out");
    g.connect(&input, &double_in);
    g.connect_with(&double_out, &offset_in, LaneIntent::sequenced_slots(64));
    g.connect_with(
        &offset_out,
        &output,
        LaneIntent::events().capacity(256).on_full(OnFull::Block),
    );
    g.build()
}

const NUMBERS_DOCUMENT: &str = r#"
version = 2
name = "numbers"
target = "lane_graph"

[[ingress]]
name = "numbers_in"

[[egress]]
name = "numbers_out"

[[stages]]
name = "double"

[[stages]]
name = "offset"

[lane_graph]
on_full = "block"

[[lane_graph.connections]]
from = "numbers_in"
to = "double"

[[lane_graph.connections]]
from = "double"
to = "offset"
lane = { kind = "sequenced_slots", capacity = 64, gating = "all_readers" }

[[lane_graph.connections]]
from = "offset"
to = "numbers_out"
lane = { kind = "events", capacity = 256, on_full = "block" }
"#;

/// Same plan, same spec, same canonical text, same fingerprint.
fn assert_same(a: (&PipelinePlanV2, &PipelineSpecV1), b: (&PipelinePlanV2, &PipelineSpecV1)) {
    assert_eq!(a.0, b.0, "plans differ");
    assert_eq!(a.1, b.1, "specs differ");
    assert_eq!(a.1.to_kv(), b.1.to_kv());
    assert_eq!(a.1.fingerprint(), b.1.fingerprint(), "fingerprints differ");
}

#[test]
fn macro_builder_and_document_are_one_graph() -> Result<(), Box<dyn std::error::Error>> {
    let (by_macro, _, _) = numbers_macro(1)?;
    let by_builder = numbers_builder(1)?;
    let document = PipelinePlanV2::from_toml(NUMBERS_DOCUMENT)?;
    let document_spec = lower_v2(&document)?;
    assert_same(
        (by_macro.plan(), by_macro.spec()),
        (by_builder.plan(), by_builder.spec()),
    );
    assert_same(
        (by_macro.plan(), by_macro.spec()),
        (&document, &document_spec),
    );
    // The comparison can fail: another lane kind is another fingerprint.
    let mut other = document.clone();
    if let Some(graph) = other.lane_graph.as_mut() {
        graph.connections[1].lane = LaneIntent::events();
    }
    assert_ne!(
        lower_v2(&other)?.fingerprint(),
        by_macro.spec().fingerprint()
    );
    Ok(())
}

#[test]
fn the_macro_built_graph_delivers_every_event_in_order() {
    const N: u64 = 10_000;
    bounded("lane graph macro run", TIMEOUT, || {
        let (pipeline, input, output) = numbers_macro(7).unwrap();
        let (mut ends, control) = pipeline.spawn().unwrap();
        let mut producer = ends.producer(&input).unwrap();
        let mut receiver = ends.receiver(&output).unwrap();
        let consumer = std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(v) = receiver.recv_timeout(TIMEOUT).unwrap() {
                got.push(v);
            }
            got
        });
        for n in 0..N {
            producer.publish(|slot| *slot = n).unwrap();
        }
        drop(producer);
        let got = consumer.join().unwrap();
        let expected: Vec<u64> = (0..N).map(|n| n * 2 + 7).collect();
        assert_eq!(got, expected);
        let report = control.join().unwrap();
        for lane in &report.lanes {
            assert!(lane.counts.adds_up(), "{lane:?}");
            assert_eq!(lane.counts.dropped, 0, "{lane:?}");
        }
    });
}
