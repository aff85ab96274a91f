// A misspelt ordering: the message lists the orderings.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline(ordering = "stict")]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default());
}

fn main() {}
