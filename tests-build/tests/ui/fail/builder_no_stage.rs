// `build` needs at least one stage.
use byteor::prelude::*;
use tests_build::*;

fn main() {
    let _ = SingleRing::<Order>::build("orders", |ring| {
        ring.ingress("orders_in").egress("fills_out").build()
    });
}
