// On a sharded ring every stage is cloned per shard.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline(shards = 2)]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    shard_key("account", |o: &Order| o.account);
    let journal = stage(Journal::default());
}

fn main() {}
