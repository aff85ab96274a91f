// A misspelt handle in `connect`: the plan names no such stage, and the message suggests the
// closest one.
use byteor::exec::lane_graph::LaneGraph;
use tests_build::*;

#[byteor::pipeline]
fn plant() -> LaneGraph {
    let orders = ingress::<Order>("orders_in");
    let forward = stage(Forward);
    let fills = egress::<Order>("fills_out");
    connect(orders, froward);
    connect(forward, fills);
}

fn main() {}
