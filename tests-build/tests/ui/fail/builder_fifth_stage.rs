// A fifth stage does not compile.
use byteor::prelude::*;
use tests_build::*;

fn main() {
    let _ = SingleRing::<Order>::build("orders", |ring| {
        let ring = ring.ingress("orders_in").egress("fills_out");
        let (ring, a) = ring.stage("a", Parse::default());
        let (ring, b) = ring.stage_after("b", Risk::default(), [a]);
        let (ring, c) = ring.stage_after("c", Audit::default(), [a]);
        let (ring, d) = ring.stage_after("d", Publish::default(), [b, c]);
        let (ring, _) = ring.stage_after("e", Publish::default(), [d]);
        ring.build()
    });
}
