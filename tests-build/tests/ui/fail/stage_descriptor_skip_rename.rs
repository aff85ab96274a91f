// A skipped field is not a parameter, so it has no parameter name.
#[derive(byteor::StageDescriptor)]
struct Risk {
    max_qty: u32,
    #[param(skip, rename = "cache")]
    seen: Vec<u64>,
}

fn main() {}
