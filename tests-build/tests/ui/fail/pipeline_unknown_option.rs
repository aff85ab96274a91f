// A misspelt option: the message lists the options and suggests the closest.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline(capacty = 1024)]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default());
}

fn main() {}
