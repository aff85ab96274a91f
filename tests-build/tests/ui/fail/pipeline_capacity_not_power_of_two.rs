// Ring capacity must be a power of two.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline(capacity = 1000)]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default());
}

fn main() {}
