//! `#[pipeline]` is a mirror of the typed builder: for every shape, the macro-built pipeline
//! has the same plan and the same lowered spec (and so the same canonical text and
//! fingerprint) as the pipeline written with builder calls, and it runs the same way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use byteor::plan::{OrderingMode, ParamValue};
use byteor::prelude::*;

#[derive(Debug, Default, Clone, Copy)]
struct Order {
    id: u64,
    account: u64,
    qty: i64,
}

#[derive(Debug, Clone)]
struct Parse {
    max_qty: i64,
}

impl MutStage<Order> for Parse {
    fn on_event(&mut self, order: &mut Order, _: &EventContext) -> Result<(), StageError> {
        order.qty = order.qty.clamp(-self.max_qty, self.max_qty);
        Ok(())
    }
}

/// Adds every quantity it sees to a shared total.
#[derive(Debug, Clone)]
struct Sum(Arc<AtomicU64>);

impl Stage<Order> for Sum {
    fn on_event(&mut self, order: &Order, _: &EventContext) -> Result<(), StageError> {
        self.0
            .fetch_add(order.qty.unsigned_abs(), Ordering::Relaxed);
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
struct Count(u64);

impl Stage<Order> for Count {
    fn on_event(&mut self, _: &Order, _: &EventContext) -> Result<(), StageError> {
        self.0 += 1;
        Ok(())
    }
}

/// Same plan, same spec, same canonical text, same fingerprint.
fn assert_same(
    macro_built: (&PipelinePlanV2, &PipelineSpecV1),
    builder_built: (&PipelinePlanV2, &PipelineSpecV1),
) {
    assert_eq!(macro_built.0, builder_built.0, "plans differ");
    assert_eq!(macro_built.1, builder_built.1, "specs differ");
    assert_eq!(macro_built.1.to_kv(), builder_built.1.to_kv());
    assert_eq!(
        macro_built.1.fingerprint(),
        builder_built.1.fingerprint(),
        "fingerprints differ"
    );
}

#[byteor::pipeline(capacity = 128)]
fn linear_macro(max_qty: i64) -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse { max_qty });
    let count = stage(Count::default()).after([parse]);
}

#[test]
fn linear() -> Result<(), BuildError> {
    let m = linear_macro(10)?;
    let b = SingleRing::<Order>::build("linear_macro", |ring| {
        let ring = ring.capacity(128).ingress("orders_in").egress("fills_out");
        let (ring, parse) = ring.stage("parse", Parse { max_qty: 10 });
        let (ring, _) = ring.stage_after("count", Count::default(), [parse]);
        ring.build()
    })?;
    assert_same((m.plan(), m.spec()), (b.plan(), b.spec()));
    Ok(())
}

#[byteor::pipeline(name = "orders", ordering = "strict")]
fn diamond_macro(total: Arc<AtomicU64>) -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse { max_qty: 100 })
        .kind("parse_order")
        .param("max_qty", 100);
    let risk = stage(Count::default()).after([parse]);
    let audit = stage(Sum(total)).side_effects().after([parse]);
    let publish = stage(Count::default()).after([risk, audit]);
}

fn diamond_builder(
    total: Arc<AtomicU64>,
) -> Result<
    byteor::exec::SingleRingPipeline<
        Order,
        impl byteor::exec::StageList<Order>,
        impl byteor::exec::Router<Order>,
    >,
    BuildError,
> {
    SingleRing::<Order>::build("orders", |ring| {
        let ring = ring
            .ordering(OrderingMode::Strict)
            .ingress("orders_in")
            .egress("fills_out");
        let (ring, parse) = ring.stage(
            StageDecl::new("parse")
                .kind("parse_order")
                .param("max_qty", 100),
            Parse { max_qty: 100 },
        );
        let (ring, risk) = ring.stage_after("risk", Count::default(), [parse]);
        let (ring, audit) = ring.stage_after(
            StageDecl::new("audit").side_effects(true),
            Sum(total),
            [parse],
        );
        let (ring, _) = ring.stage_after("publish", Count::default(), [risk, audit]);
        ring.build()
    })
}

#[test]
fn diamond() -> Result<(), BuildError> {
    let m = diamond_macro(Arc::default())?;
    let b = diamond_builder(Arc::default())?;
    assert_same((m.plan(), m.spec()), (b.plan(), b.spec()));
    // The comparison can fail: another shape has another fingerprint.
    assert_ne!(
        m.spec().fingerprint(),
        linear_macro(10)?.spec().fingerprint()
    );
    let parse = &m.plan().stages[0];
    assert_eq!(parse.params["max_qty"], ParamValue::Int(100));
    assert_eq!(m.plan().stages[3].after, ["risk", "audit"]);
    Ok(())
}

#[byteor::pipeline(capacity = 64, wait_strategy = WaitStrategy::Yielding)]
fn parallel_macro() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let left = stage(Count::default());
    let middle = stage(Count::default());
    let right = stage(Count::default());
}

#[test]
fn parallel_fan_out_over_the_same_slot() -> Result<(), BuildError> {
    let m = parallel_macro()?;
    let b = SingleRing::<Order>::build("parallel_macro", |ring| {
        let ring = ring
            .capacity(64)
            .wait_strategy(WaitStrategy::Yielding)
            .ingress("orders_in")
            .egress("fills_out");
        let (ring, _) = ring.stage("left", Count::default());
        let (ring, _) = ring.stage("middle", Count::default());
        let (ring, _) = ring.stage("right", Count::default());
        ring.build()
    })?;
    assert_same((m.plan(), m.spec()), (b.plan(), b.spec()));
    assert_eq!(m.wait_strategy(), b.wait_strategy());
    Ok(())
}

#[byteor::pipeline(capacity = 256, shards = 4)]
fn sharded_macro() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    shard_key("account", |o: &Order| o.account);
    let parse = stage(Parse { max_qty: 5 });
    let count = stage(per_shard(|_| Count::default())).after([parse]);
}

#[test]
fn sharded() -> Result<(), BuildError> {
    let m = sharded_macro()?;
    let b = SingleRing::<Order>::build("sharded_macro", |ring| {
        let ring = ring
            .capacity(256)
            .shards(4, "account", |o: &Order| o.account)
            .ingress("orders_in")
            .egress("fills_out");
        let (ring, parse) = ring.stage("parse", Parse { max_qty: 5 });
        let (ring, _) = ring.stage_after("count", per_shard(|_| Count::default()), [parse]);
        ring.build()
    })?;
    assert_same((m.plan(), m.spec()), (b.plan(), b.spec()));
    let ring = m.plan().single_ring.clone().unwrap_or_default();
    assert_eq!((ring.shards, ring.ordering), (4, OrderingMode::PerKey));
    Ok(())
}

/// Publishes the same 500 orders; returns each stage's processed count and the audit total.
fn run<L, K>(
    pipeline: byteor::exec::SingleRingPipeline<Order, L, K>,
    total: &AtomicU64,
) -> Result<(Vec<u64>, u64), Box<dyn std::error::Error>>
where
    L: byteor::exec::StageList<Order>,
    K: byteor::exec::Router<Order>,
{
    let (mut producer, control) = pipeline.spawn()?;
    for id in 0..500u64 {
        producer.publish(|o| {
            o.id = id;
            o.account = id % 7;
            o.qty = (id as i64 % 300) - 150;
        })?;
    }
    drop(producer);
    let report = control.join()?;
    let processed = ["parse", "risk", "audit", "publish"].map(|s| report.processed(s));
    Ok((processed.to_vec(), total.load(Ordering::Relaxed)))
}

#[test]
fn macro_and_builder_pipelines_process_the_same_events_the_same_way(
) -> Result<(), Box<dyn std::error::Error>> {
    let (m_total, b_total) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let by_macro = run(diamond_macro(Arc::clone(&m_total))?, &m_total)?;
    let by_builder = run(diamond_builder(Arc::clone(&b_total))?, &b_total)?;
    assert_eq!(by_macro, by_builder);
    assert_eq!(by_macro.0, [500; 4]);
    // `parse` clamps to +-100 before `audit` sums, in both.
    let expected: u64 = (0..500i64)
        .map(|id| ((id % 300) - 150).clamp(-100, 100).unsigned_abs())
        .sum();
    assert_eq!(by_macro.1, expected);
    Ok(())
}
