// An enum has no portable C layout.
#[derive(Clone, Copy, byteor::ShmEvent)]
#[repr(C)]
enum Side {
    Buy,
    Sell,
}

fn main() {}
