// Work-queue scheduling is not supported in v1.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline(scheduling = "work_queue")]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default());
}

fn main() {}
