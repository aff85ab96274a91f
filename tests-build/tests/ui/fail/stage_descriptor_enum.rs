// An enum has no single set of parameters.
#[derive(byteor::StageDescriptor)]
enum Mode {
    Fast,
    Safe,
}

fn main() {}
