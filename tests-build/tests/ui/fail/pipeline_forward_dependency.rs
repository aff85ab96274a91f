// Stages are listed in the order they run: a dependency must be declared first.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let risk = stage(Risk::default()).after([parse]);
    let parse = stage(Parse::default());
}

fn main() {}
