// A shared-memory event is copied in and out of ring slots: it must be `Copy`.
#[derive(Clone, byteor::ShmEvent)]
#[repr(C)]
struct Order {
    id: u64,
    qty: i64,
}

fn main() {}
