// Not every byte is a valid `bool`.
#[derive(Clone, Copy, byteor::ShmEvent)]
#[repr(C)]
struct Order {
    id: u64,
    buy: bool,
    _pad: [u8; 7],
}

fn main() {}
