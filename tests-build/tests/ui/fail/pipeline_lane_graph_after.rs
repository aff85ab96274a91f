// `.after([..])` is how SingleRing stages are ordered; LaneGraph stages are wired with
// `connect`.
use byteor::exec::lane_graph::LaneGraph;
use tests_build::*;

#[byteor::pipeline]
fn plant() -> LaneGraph {
    let orders = ingress::<Order>("orders_in");
    let parse = stage(Forward);
    let risk = stage(Forward).after([parse]);
    let fills = egress::<Order>("fills_out");
    connect(orders, parse);
    connect(parse, risk);
    connect(risk, fills);
}

fn main() {}
