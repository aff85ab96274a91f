// Three stages waiting on each other: one error per member, numbered. The caller below
// still type-checks, so the cycle is all that is reported.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let risk = stage(Risk::default()).after([publish]);
    let audit = stage(Audit::default()).after([risk]);
    let publish = stage(Publish::default()).after([audit]);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pipeline = orders()?;
    println!("{}", pipeline.plan().name);
    let (_producer, control) = pipeline.spawn()?;
    control.join()?;
    Ok(())
}
