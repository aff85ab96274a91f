// A SingleRing has exactly one egress.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    egress("audit_out");
    let parse = stage(Parse::default());
}

fn main() {}
