// The attribute goes on a function.
use tests_build::*;

#[byteor::pipeline]
struct Orders;

fn main() {}
