// A stage that runs after itself.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default());
    let risk = stage(Risk::default()).after([parse, risk]);
}

fn main() {}
