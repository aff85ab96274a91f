// A connection between a stage that emits quotes and one that reads orders: the type error
// points at the `connect` that joins them.
use byteor::exec::lane_graph::LaneGraph;
use tests_build::*;

#[byteor::pipeline]
fn plant() -> LaneGraph {
    let orders = ingress::<Order>("orders_in");
    let quote = stage(Quoter);
    let forward = stage(Forward);
    let fills = egress::<Order>("fills_out");
    connect(orders, quote);
    connect(quote, forward);
    connect(forward, fills);
}

fn main() {}
