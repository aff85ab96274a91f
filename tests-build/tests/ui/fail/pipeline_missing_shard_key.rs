// Several shards need a key to route events by.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline(shards = 4)]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default());
}

fn main() {}
