// LaneGraph authoring via the macro comes with the LaneGraph executor.
use tests_build::*;

#[byteor::pipeline]
fn orders() -> LaneGraph<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default());
}

fn main() {}
