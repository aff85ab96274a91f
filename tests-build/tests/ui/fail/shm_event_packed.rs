// `repr(packed)` makes fields unaligned.
#[derive(Clone, Copy, byteor::ShmEvent)]
#[repr(C, packed)]
struct Order {
    id: u64,
    side: u8,
}

fn main() {}
