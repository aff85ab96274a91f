// A ring has at least one shard.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline(shards = 0)]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default());
}

fn main() {}
