// A type alias hides `usize` from the token check; the `PodField` bound still refuses it.
type Count = usize;

#[derive(Clone, Copy, byteor::ShmEvent)]
#[repr(C)]
struct Order {
    id: u64,
    count: Count,
}

fn main() {}
