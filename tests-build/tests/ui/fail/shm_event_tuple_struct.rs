// The layout table and the C header name every field.
#[derive(Clone, Copy, byteor::ShmEvent)]
#[repr(C)]
struct Order(u64, i64);

fn main() {}
