//! LaneGraph plans authored as documents, run by stage kind through a `GraphRegistry`; and the
//! LaneGraph stage lifecycle hooks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use byteor::exec::lane_graph::{
    lane_fn, Emitter, EndpointError, GraphRegistry, GraphResolveError, LaneGraph, LaneStage,
};
use byteor::exec::{StageDescriptor, StageError, StageInfo, StageResolveError};
use byteor::plan::PipelinePlanV2;
use tests::{bounded, TIMEOUT};

/// A raw packet: a fixed buffer with a length.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Packet {
    len: u8,
    bytes: [u8; 16],
}

/// A parsed quote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Quote {
    instrument: u32,
    price: u64,
}

/// Parses `instrument:price` packets into quotes; skips packets that do not parse.
#[derive(StageDescriptor, Default)]
#[stage(name = "parse")]
struct Parse;

impl LaneStage<Packet, Quote> for Parse {
    fn on_event(&mut self, p: &Packet, out: &mut Emitter<'_, Quote>) -> Result<(), StageError> {
        let text = std::str::from_utf8(&p.bytes[..usize::from(p.len)])?;
        let Some((instrument, price)) = text.split_once(':') else {
            return Ok(());
        };
        let (Ok(instrument), Ok(price)) = (instrument.parse(), price.parse()) else {
            return Ok(());
        };
        out.emit(|q| *q = Quote { instrument, price })
    }
}

/// Keeps quotes at or above `min_price`, emitting their prices.
#[derive(StageDescriptor)]
#[stage(name = "threshold")]
struct Threshold {
    min_price: u64,
}

impl LaneStage<Quote, u64> for Threshold {
    fn on_event(&mut self, q: &Quote, out: &mut Emitter<'_, u64>) -> Result<(), StageError> {
        if q.price >= self.min_price {
            out.emit(|p| *p = q.price)?;
        }
        Ok(())
    }
}

/// Reads `u32`: joining it after `parse` is a type mismatch.
#[derive(StageDescriptor, Default)]
#[stage(name = "narrow")]
struct Narrow;

impl LaneStage<u32, u32> for Narrow {
    fn on_event(&mut self, v: &u32, out: &mut Emitter<'_, u32>) -> Result<(), StageError> {
        out.emit(|o| *o = *v)
    }
}

fn registry() -> GraphRegistry {
    let mut r = GraphRegistry::new();
    r.register::<Parse, Packet, Quote>().unwrap();
    r.register::<Threshold, Quote, u64>().unwrap();
    r.register::<Narrow, u32, u32>().unwrap();
    r
}

const PLANT: &str = r#"
version = 2
name = "quotes"
target = "lane_graph"

[[ingress]]
name = "packets"

[[egress]]
name = "prices"

[[stages]]
name = "parse"

[[stages]]
name = "expensive"
kind = "threshold"
params = { min_price = 100 }

[lane_graph]
on_full = "block"

[[lane_graph.connections]]
from = "packets"
to = "parse"

[[lane_graph.connections]]
from = "parse"
to = "expensive"

[[lane_graph.connections]]
from = "expensive"
to = "prices"
"#;

fn packet(text: &str) -> impl FnOnce(&mut Packet) + '_ {
    move |p| {
        p.len = text.len() as u8;
        p.bytes[..text.len()].copy_from_slice(text.as_bytes());
    }
}

#[test]
fn a_document_runs_with_stages_resolved_by_kind_across_event_types() {
    bounded("registry plant", TIMEOUT, || {
        let plan = PipelinePlanV2::from_toml(PLANT).unwrap();
        let pipeline = registry().resolve(&plan).unwrap();
        let (mut ends, control) = pipeline.spawn().unwrap();
        let mut producer = ends.producer_named::<Packet>("packets").unwrap();
        let mut receiver = ends.receiver_named::<u64>("prices").unwrap();
        let n = 20_000u64;
        let texts: Vec<String> = (0..n)
            .map(|i| {
                if i % 7 == 3 {
                    "garbage".to_owned()
                } else {
                    format!("{}:{}", i % 13, i % 250)
                }
            })
            .collect();
        let expected: Vec<u64> = (0..n)
            .filter(|i| i % 7 != 3 && i % 250 >= 100)
            .map(|i| i % 250)
            .collect();
        let feeder = std::thread::spawn(move || {
            for t in &texts {
                producer.publish(packet(t)).unwrap();
            }
        });
        let mut got = Vec::with_capacity(expected.len());
        while let Some(v) = receiver.recv_timeout(TIMEOUT).unwrap() {
            got.push(v);
        }
        feeder.join().unwrap();
        assert_eq!(got, expected);
        let report = control.join().unwrap();
        assert!(
            report.lanes.iter().all(|l| l.counts.adds_up()),
            "{report:?}"
        );
        let handled: Vec<_> = report.roles.iter().map(|(r, n)| (r.as_str(), *n)).collect();
        assert!(handled.contains(&("parse", n)), "{handled:?}");
    });
}

#[test]
fn connections_between_different_event_types_are_reported_with_both_names() {
    // `parse` emits Quote; `narrow` reads u32. A second egress fed by `parse` and by
    // `narrow` mixes Quote and u32 too.
    let doc = PLANT.replace(
        "kind = \"threshold\"\nparams = { min_price = 100 }",
        "kind = \"narrow\"",
    );
    let plan = PipelinePlanV2::from_toml(&doc).unwrap();
    let err = registry().resolve(&plan).unwrap_err();
    let GraphResolveError::Types(mismatches) = &err else {
        panic!("expected a type mismatch, got {err}");
    };
    assert_eq!(mismatches.len(), 1, "{err}");
    let m = &mismatches[0];
    assert_eq!((m.from.as_str(), m.to.as_str()), ("parse", "expensive"));
    assert!(m.out_type.ends_with("Quote") && m.in_type == "u32", "{m:?}");
    let text = err.to_string();
    assert!(
        text.contains("connection `parse -> expensive`: `parse` emits")
            && text.contains("Quote")
            && text.contains("`expensive` reads u32"),
        "{text}"
    );
}

#[test]
fn every_unresolvable_stage_is_reported_at_once() {
    let doc = PLANT
        .replace(
            "[[stages]]\nname = \"parse\"",
            "[[stages]]\nname = \"parse\"\nkind = \"pasre\"",
        )
        .replace("min_price = 100", "min_prise = 100");
    let plan = PipelinePlanV2::from_toml(&doc).unwrap();
    let err = registry().resolve(&plan).unwrap_err();
    let GraphResolveError::Stages(problems) = &err else {
        panic!("expected stage problems, got {err}");
    };
    assert_eq!(problems.len(), 2, "{err}");
    assert!(
        matches!(&problems[0], StageResolveError::UnknownKind { stage, kind, .. }
            if stage == "parse" && kind == "pasre"),
        "{err}"
    );
    assert!(
        matches!(&problems[1], StageResolveError::Params { stage, .. } if stage == "expensive"),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("min_price"), "{text}");
}

#[test]
fn a_single_ring_plan_or_an_invalid_one_is_refused_with_its_reason() {
    let single = PipelinePlanV2::from_toml(
        r#"
version = 2
name = "ring"
target = "single_ring"
[[ingress]]
name = "in"
[[egress]]
name = "out"
[[stages]]
name = "parse"
"#,
    )
    .unwrap();
    let err = registry().resolve(&single).unwrap_err();
    assert!(
        matches!(&err, GraphResolveError::NotLaneGraph { plan, .. } if plan == "ring"),
        "{err}"
    );
    let broken =
        PipelinePlanV2::from_toml(&PLANT.replace("to = \"prices\"", "to = \"pricez\"")).unwrap();
    let err = registry().resolve(&broken).unwrap_err();
    assert!(matches!(err, GraphResolveError::InvalidPlan(_)), "{err}");
    assert!(err.to_string().contains("pricez"), "{err}");
}

#[test]
fn endpoints_by_name_check_the_name_the_type_and_that_they_are_taken_once() {
    let plan = PipelinePlanV2::from_toml(PLANT).unwrap();
    let (mut ends, control) = registry().resolve(&plan).unwrap().spawn().unwrap();
    let err = ends.producer_named::<Packet>("packet").unwrap_err();
    assert_eq!(
        err,
        EndpointError::Unknown {
            direction: "ingress",
            name: "packet".into(),
            known: vec!["packets".into()],
        }
    );
    let err = ends.producer_named::<u64>("packets").unwrap_err();
    assert!(
        matches!(&err, EndpointError::WrongType { name, carries, asked: "u64", .. }
            if name == "packets" && carries.ends_with("Packet")),
        "{err}"
    );
    // A wrong type leaves the endpoint available.
    let producer = ends.producer_named::<Packet>("packets").unwrap();
    let err = ends.producer_named::<Packet>("packets").unwrap_err();
    assert_eq!(
        err,
        EndpointError::Taken {
            direction: "ingress",
            name: "packets".into()
        }
    );
    let err = ends.receiver_named::<Quote>("prices").unwrap_err();
    assert!(matches!(err, EndpointError::WrongType { .. }), "{err}");
    let receiver = ends.receiver_named::<u64>("prices").unwrap();
    drop((producer, receiver));
    control.join().unwrap();
}

/// Records its lifecycle: start info, batch ends, events, shutdown.
struct Hooks {
    log: Arc<Mutex<Vec<String>>>,
    pending: u64,
}

impl LaneStage<u64, u64> for Hooks {
    fn on_start(&mut self, info: &StageInfo) -> Result<(), StageError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("start {}/{}", info.pipeline, info.stage));
        Ok(())
    }

    fn on_event(&mut self, v: &u64, _: &mut Emitter<'_, u64>) -> Result<(), StageError> {
        // Buffers: emits one sum per batch.
        self.pending += v;
        Ok(())
    }

    fn on_batch_end(&mut self, out: &mut Emitter<'_, u64>) -> Result<(), StageError> {
        let sum = std::mem::take(&mut self.pending);
        out.emit(|o| *o = sum)
    }

    fn on_shutdown(&mut self) {
        self.log.lock().unwrap().push("shutdown".into());
    }
}

#[test]
fn lane_stages_get_start_batch_end_and_shutdown_hooks() {
    bounded("hooks", TIMEOUT, || {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut g = LaneGraph::builder("hooks");
        let input = g.ingress::<u64>("in");
        let (h_in, h_out) = g.stage(
            "summing",
            Hooks {
                log: Arc::clone(&log),
                pending: 0,
            },
        );
        let output = g.egress::<u64>("out");
        g.connect(&input, &h_in).connect(&h_out, &output);
        let (mut ends, control) = g.build().unwrap().spawn().unwrap();
        let mut producer = ends.producer(&input).unwrap();
        let mut receiver = ends.receiver(&output).unwrap();
        for v in 1..=1000u64 {
            producer.publish(|s| *s = v).unwrap();
        }
        drop(producer);
        let mut total = 0;
        while let Some(sum) = receiver.recv_timeout(TIMEOUT).unwrap() {
            total += sum;
        }
        assert_eq!(total, 500_500, "every event summed into some batch's emit");
        control.join().unwrap();
        assert_eq!(*log.lock().unwrap(), ["start hooks/summing", "shutdown"]);
    });
}

#[test]
fn an_error_from_on_start_stops_the_graph_and_names_the_stage() {
    struct Refuses;
    impl LaneStage<u64, u64> for Refuses {
        fn on_start(&mut self, _: &StageInfo) -> Result<(), StageError> {
            Err(StageError::msg("no licence"))
        }
        fn on_event(&mut self, _: &u64, _: &mut Emitter<'_, u64>) -> Result<(), StageError> {
            Ok(())
        }
    }
    bounded("on_start error", TIMEOUT, || {
        let mut g = LaneGraph::builder("refusing");
        let input = g.ingress::<u64>("in");
        let (r_in, r_out) = g.stage("gate", Refuses);
        let (p_in, p_out) = g.stage(
            "pass",
            lane_fn(|v: &u64, o: &mut Emitter<'_, u64>| o.emit(|s| *s = *v)),
        );
        let output = g.egress::<u64>("out");
        g.connect(&input, &r_in)
            .connect(&r_out, &p_in)
            .connect(&p_out, &output);
        let (_ends, control) = g.build().unwrap().spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while control.failure().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "the failure was not seen"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let err = control.join().unwrap_err();
        assert!(
            err.to_string().contains("role `gate` failed: no licence"),
            "{err}"
        );
    });
}
