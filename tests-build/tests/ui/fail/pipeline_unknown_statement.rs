// A misspelt statement.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline]
fn orders() -> SingleRing<Order> {
    ingres("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default());
}

fn main() {}
