// `usize` changes width between targets.
#[derive(Clone, Copy, byteor::ShmEvent)]
#[repr(C)]
struct Order {
    id: u64,
    len: usize,
}

fn main() {}
