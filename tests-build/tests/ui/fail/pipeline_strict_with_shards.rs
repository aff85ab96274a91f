// Strict ordering needs a single shard.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline(shards = 4, ordering = "strict")]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    shard_key("account", |o: &Order| o.account);
    let parse = stage(Parse::default());
}

fn main() {}
