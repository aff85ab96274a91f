// A registered stage kind names one concrete type.
#[derive(byteor::StageDescriptor)]
struct Filter<T> {
    threshold: T,
}

fn main() {}
