// A SingleRing holds at most four stages.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default());
    let risk = stage(Risk::default()).after([parse]);
    let audit = stage(Audit::default()).after([parse]);
    let publish = stage(Publish::default()).after([risk, audit]);
    let archive = stage(Audit::default()).after([publish]);
}

fn main() {}
