// `build` needs an ingress.
use byteor::prelude::*;
use tests_build::*;

fn main() {
    let _ = SingleRing::<Order>::build("orders", |ring| {
        let ring = ring.egress("fills_out");
        let (ring, _) = ring.stage("parse", Parse::default());
        ring.build()
    });
}
