// `side` ends at byte 1 but `qty` is 8-aligned: seven bytes of padding nobody declared.
#[derive(Clone, Copy, byteor::ShmEvent)]
#[repr(C)]
struct Order {
    side: u8,
    qty: i64,
}

fn main() {}
