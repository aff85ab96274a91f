// Linear, diamond, parallel and sharded pipelines, function parameters in stage values,
// settings, a path-qualified return type and the four-stage limit all compile, and the plans
// say what the source says.
use byteor::plan::{OrderingMode, ParamValue};
use byteor::prelude::*;
use tests_build::*;

/// Doc comments and attributes stay on the generated function.
#[byteor::pipeline(capacity = 64)]
pub fn linear(max_qty: i64) -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse { max_qty });
    let publish = stage(Publish::default()).after([parse]);
}

#[byteor::pipeline(name = "order_flow", ordering = "strict", producer = "single", scheduling = "dedicated")]
fn diamond() -> byteor::exec::SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse::default()).kind("parse_order").param("max_qty", 1000);
    let risk = stage(Risk::default()).after([parse]);
    let audit = stage(Audit::default()).side_effects().after([parse]);
    let publish = stage(Publish::default()).after([risk, audit]);
}

#[byteor::pipeline(wait_strategy = WaitStrategy::Yielding)]
fn parallel() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let risk = stage(Risk::default());
    let audit = stage(Audit::default());
}

#[byteor::pipeline(capacity = 256, shards = 4)]
fn sharded() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    shard_key("account", |o: &Order| o.account);
    let parse = stage(Parse::default());
    let journal = stage(per_shard(|_shard| Journal::default())).after([parse]);
}

fn main() -> Result<(), BuildError> {
    let plan = linear(10)?.plan().clone();
    assert_eq!(plan.name, "linear");
    assert_eq!(plan.single_ring.as_ref().unwrap().capacity, 64);
    assert_eq!(plan.stages[1].after, ["parse"]);

    let diamond = diamond()?;
    let plan = diamond.plan();
    assert_eq!(plan.name, "order_flow");
    assert_eq!(plan.stages.len(), 4);
    assert_eq!(plan.stages[0].kind.as_deref(), Some("parse_order"));
    assert_eq!(plan.stages[0].params["max_qty"], ParamValue::Int(1000));
    assert!(plan.stages[2].side_effects);
    assert_eq!(plan.stages[3].after, ["risk", "audit"]);

    let parallel = parallel()?;
    assert_eq!(parallel.wait_strategy(), WaitStrategy::Yielding);
    assert!(parallel.plan().stages.iter().all(|s| s.after.is_empty()));

    let sharded = sharded()?;
    let ring = sharded.plan().single_ring.clone().unwrap();
    assert_eq!((ring.shards, ring.ordering), (4, OrderingMode::PerKey));
    assert_eq!(ring.shard_key.as_deref(), Some("account"));
    Ok(())
}
