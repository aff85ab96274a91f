// A connection between lanes of different event types does not compile.
use byteor::exec::lane_graph::{lane_fn, Emitter, LaneGraph};

fn main() {
    let mut g = LaneGraph::builder("typed");
    let input = g.ingress::<u64>("in");
    let (quote_in, _quote_out) = g.stage(
        "quote",
        lane_fn(|v: &u32, out: &mut Emitter<'_, u32>| out.emit(|s| *s = *v)),
    );
    g.connect(&input, &quote_in);
}
