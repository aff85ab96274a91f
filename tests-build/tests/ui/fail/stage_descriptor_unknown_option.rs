// `#[stage(...)]` takes `name` and `side_effects` only.
#[derive(byteor::StageDescriptor)]
#[stage(name = "risk", side_efects)]
struct Risk {
    max_qty: u32,
}

fn main() {}
