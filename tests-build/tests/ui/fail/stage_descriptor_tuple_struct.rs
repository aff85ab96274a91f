// Parameters are named after fields.
#[derive(byteor::StageDescriptor)]
struct Risk(u32);

fn main() {}
