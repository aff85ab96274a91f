// A connection that starts at an egress: an egress is only ever a destination.
use byteor::exec::lane_graph::LaneGraph;
use tests_build::*;

#[byteor::pipeline]
fn plant() -> LaneGraph {
    let orders = ingress::<Order>("orders_in");
    let forward = stage(Forward);
    let fills = egress::<Order>("fills_out");
    connect(orders, forward);
    connect(fills, forward);
    connect(forward, fills);
}

fn main() {}
