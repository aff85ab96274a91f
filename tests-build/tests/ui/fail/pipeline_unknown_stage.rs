// A dependency on a stage that does not exist: the closest name is suggested.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default());
    let risk = stage(Risk::default()).after([parse]);
    let publish = stage(Publish::default()).after([rsik]);
}

fn main() {}
