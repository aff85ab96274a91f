// An event without `#[repr(C)]` has no layout other processes can know.
#[derive(Clone, Copy, byteor::ShmEvent)]
struct Order {
    id: u64,
    qty: i64,
}

fn main() {}
