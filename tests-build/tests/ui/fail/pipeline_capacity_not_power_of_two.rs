// Ring capacity must be a power of two. The function still has its type, so the caller
// below compiles: the capacity is the only error.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline(capacity = 1000)]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default());
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pipeline = orders()?;
    println!("{}", pipeline.plan().name);
    let (_producer, control) = pipeline.spawn()?;
    control.join()?;
    Ok(())
}
