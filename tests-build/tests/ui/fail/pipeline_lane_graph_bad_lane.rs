// A sequenced-slots lane of no capacity.
use byteor::exec::lane_graph::LaneGraph;
use tests_build::*;

#[byteor::pipeline]
fn plant() -> LaneGraph {
    let orders = ingress::<Order>("orders_in");
    let forward = stage(Forward);
    let fills = egress::<Order>("fills_out");
    connect(orders, forward).lane(sequenced_slots(0));
    connect(forward, fills);
}

fn main() {}
