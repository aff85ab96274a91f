// The default value must have the field's type.
#[derive(byteor::StageDescriptor)]
struct Risk {
    #[param(default = "ten")]
    max_qty: u32,
}

fn main() {}
