// `#[param(...)]` takes `default`, `rename` and `skip` only.
#[derive(byteor::StageDescriptor)]
struct Risk {
    #[param(defualt = 10)]
    max_qty: u32,
}

fn main() {}
