// Two stages feeding each other: one error per connection of the cycle, numbered.
use byteor::exec::lane_graph::LaneGraph;
use tests_build::*;

#[byteor::pipeline]
fn plant() -> LaneGraph {
    let orders = ingress::<Order>("orders_in");
    let parse = stage(Forward);
    let risk = stage(Forward);
    let fills = egress::<Order>("fills_out");
    connect(orders, parse);
    connect(parse, risk);
    connect(risk, parse);
    connect(risk, fills);
}

fn main() {}
