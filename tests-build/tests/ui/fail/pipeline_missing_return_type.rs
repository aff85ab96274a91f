// The return type names the target and the event type.
use tests_build::*;

#[byteor::pipeline]
fn orders() {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default());
}

fn main() {}
