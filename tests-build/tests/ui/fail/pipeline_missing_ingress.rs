// A SingleRing needs its ingress.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline]
fn orders() -> SingleRing<Order> {
    egress("fills_out");
    let parse = stage(Parse::default());
}

fn main() {}
