// A stage for another event type.
use byteor::prelude::*;
use tests_build::*;

fn main() {
    let _ = SingleRing::<Order>::build("orders", |ring| {
        let ring = ring.ingress("orders_in").egress("fills_out");
        let (ring, _) = ring.stage("ticker", QuoteTicker);
        ring.build()
    });
}
