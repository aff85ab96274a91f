// A pointer is an address in one process.
#[derive(Clone, Copy, byteor::ShmEvent)]
#[repr(C)]
struct Order {
    id: u64,
    next: *const Order,
}

fn main() {}
