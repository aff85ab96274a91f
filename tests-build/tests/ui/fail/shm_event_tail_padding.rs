// The struct is rounded up from 12 to 16 bytes: four bytes of tail padding nobody declared.
#[derive(Clone, Copy, byteor::ShmEvent)]
#[repr(C)]
struct Order {
    id: u64,
    qty: i32,
}

fn main() {}
