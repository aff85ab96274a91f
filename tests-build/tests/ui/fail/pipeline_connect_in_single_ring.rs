// `connect` wires LaneGraph stages; a SingleRing stage names what it runs after.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default());
    let risk = stage(Risk::default());
    connect(parse, risk);
}

fn main() {}
