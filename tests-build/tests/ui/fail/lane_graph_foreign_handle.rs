// A handle of one graph's builder used with another builder: with `LaneGraph::build` each
// builder's handles carry a brand of their own, so this does not compile.
use byteor::exec::lane_graph::{lane_fn, Emitter, LaneGraph};

fn main() {
    let _ = LaneGraph::build("quotes", |mut quotes| {
        let raw = quotes.ingress::<u64>("raw");
        LaneGraph::build("orders", |mut orders| {
            let (parse_in, parse_out) = orders.stage(
                "parse",
                lane_fn(|v: &u64, out: &mut Emitter<'_, u64>| out.emit(|s| *s = *v)),
            );
            let done = orders.egress::<u64>("done");
            orders.connect(&raw, &parse_in).connect(&parse_out, &done);
            orders.build()
        })
    });
}
