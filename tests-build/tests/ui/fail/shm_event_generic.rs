// A shared-memory event has one fixed layout.
#[derive(Clone, Copy, byteor::ShmEvent)]
#[repr(C)]
struct Tagged<T: Copy + 'static> {
    tag: u64,
    value: T,
}

fn main() {}
