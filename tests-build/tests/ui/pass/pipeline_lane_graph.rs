// The LaneGraph form: bound boundaries with their event types, stages named by their
// bindings, `connect` with and without a lane. The function returns the pipeline and the
// handles of its ingress and egress; the graph runs to completion.
use std::time::Duration;

use byteor::exec::lane_graph::{Emitter, LaneGraph, LaneStage};
use byteor::exec::StageError;
use tests_build::*;

/// Keeps orders whose quantity is at most `max_qty`, as their ids.
struct Limit {
    max_qty: i64,
}

impl LaneStage<Order, u64> for Limit {
    fn on_event(&mut self, order: &Order, out: &mut Emitter<'_, u64>) -> Result<(), StageError> {
        if order.qty.abs() <= self.max_qty {
            out.emit(|id| *id = order.id)?;
        }
        Ok(())
    }
}

/// Multiplies by ten.
struct Scale;

impl LaneStage<u64, u64> for Scale {
    fn on_event(&mut self, id: &u64, out: &mut Emitter<'_, u64>) -> Result<(), StageError> {
        out.emit(|slot| *slot = id * 10)
    }
}

#[byteor::pipeline(on_full = "block")]
fn plant(max_qty: i64) -> LaneGraph {
    let orders = ingress::<Order>("orders_in");
    let limit = stage(Limit { max_qty });
    let scale = stage(Scale);
    let ids = egress::<u64>("ids_out");
    connect(orders, limit);
    connect(limit, scale).lane(sequenced_slots(64));
    connect(scale, ids).lane(events().capacity(256));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (pipeline, orders, ids) = plant(100)?;
    assert_eq!(pipeline.plan().name, "plant");
    let stages: Vec<&str> = pipeline.plan().stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(stages, ["limit", "scale"]);
    let (mut ends, control) = pipeline.spawn()?;
    let mut producer = ends.producer(&orders).expect("the ingress's producer");
    let mut receiver = ends.receiver(&ids).expect("the egress's receiver");
    for id in 1..=6u64 {
        let qty = if id % 2 == 0 { 1_000 } else { 10 };
        producer.publish(|order| {
            *order = Order {
                id,
                qty,
                ..Order::default()
            }
        })?;
    }
    drop(producer);
    let mut got = Vec::new();
    while let Some(id) = receiver.recv_timeout(Duration::from_secs(30))? {
        got.push(id);
    }
    assert_eq!(got, [10, 30, 50]);
    let report = control.join()?;
    assert!(report.lanes.iter().all(|lane| lane.counts.adds_up()));
    Ok(())
}
