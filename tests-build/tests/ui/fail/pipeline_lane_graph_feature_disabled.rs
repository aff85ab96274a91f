// A journal lane, in a build of byteor without feature `lane_graph_journal` (tests-build uses
// byteor's default features).
use byteor::exec::lane_graph::LaneGraph;
use tests_build::*;

#[byteor::pipeline]
fn plant() -> LaneGraph {
    let orders = ingress::<Order>("orders_in");
    let forward = stage(Forward);
    let fills = egress::<Order>("fills_out");
    connect(orders, forward).lane(journal());
    connect(forward, fills);
}

fn main() {}
