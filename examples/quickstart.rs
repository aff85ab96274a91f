//! Quick start: author an order pipeline plan.
use byteor::plan::{PipelinePlanV2, StageDecl};

fn main() {
    let plan = PipelinePlanV2::single_ring("orders")
        .with_ingress("orders_in")
        .with_egress("fills_out")
        .with_stage(StageDecl::new("parse"))
        .with_stage(StageDecl::new("risk").after("parse"));
    println!("{plan:#?}");
}
