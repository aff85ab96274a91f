// A `String` owns heap memory in one process.
#[derive(Clone, byteor::ShmEvent)]
#[repr(C)]
struct Order {
    id: u64,
    symbol: String,
}

fn main() {}
