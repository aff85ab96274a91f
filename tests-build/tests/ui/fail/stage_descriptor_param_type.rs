// A parameter field must be readable from a plan value.
use std::time::Duration;

#[derive(byteor::StageDescriptor)]
struct Throttle {
    window: Duration,
}

fn main() {}
