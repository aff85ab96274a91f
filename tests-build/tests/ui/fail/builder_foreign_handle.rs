// A handle from one ring cannot be a dependency in another.
use byteor::prelude::*;
use tests_build::*;

fn main() {
    let _ = SingleRing::<Order>::build("first", |first| {
        let first = first.ingress("a_in").egress("a_out");
        let (first, parse) = first.stage("parse", Parse::default());
        let _ = SingleRing::<Order>::build("second", |second| {
            let second = second.ingress("b_in").egress("b_out");
            let (second, _) = second.stage_after("risk", Risk::default(), [parse]);
            second.build()
        });
        first.build()
    });
}
