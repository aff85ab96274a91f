// Every stage handles the ring's event type: the builder's error points at the stage value.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default());
    let ticker = stage(QuoteTicker).after([parse]);
}

fn main() {}
