//! Quick start: an order pipeline on one ring.
//!
//! ```text
//!             ┌─> risk ──┐
//!   parse ────┤          ├──> publish
//!             └─> audit ─┘
//! ```
//!
//! `parse` validates and normalises each order in place (it mutates, so it runs first and
//! alone); `risk` and `audit` read the same order in parallel; `publish` runs after both and
//! hands accepted orders to the egress. One million orders, then the throughput, the per-stage
//! metrics and the `describe` text of the lowered spec.
//!
//! Run it with `cargo run --release --example quickstart`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use byteor::prelude::*;
use examples::orders::{Audit, Order, Parse, Publish, Risk};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const ORDERS: u64 = 1_000_000;
    let accepted = Arc::new(AtomicU64::new(0));

    let pipeline = SingleRing::<Order>::build("orders", |ring| {
        let ring = ring.capacity(1024).ingress("orders_in").egress("fills_out");
        let (ring, parse) = ring.stage("parse", Parse { max_qty: 10_000 });
        let (ring, risk) = ring.stage_after("risk", Risk::new(1024), [parse]);
        let (ring, audit) = ring.stage_after("audit", Audit::default(), [parse]);
        let (ring, _) = ring.stage_after(
            StageDecl::new("publish").side_effects(true),
            Publish::new(Arc::clone(&accepted)),
            [risk, audit],
        );
        ring.build()
    })?;

    println!("{}", byteor::spec::describe(pipeline.spec()));

    let (mut producer, control) = pipeline.spawn()?;
    let start = Instant::now();
    for i in 0..ORDERS {
        producer.publish(|o| Order::fill(o, i))?;
    }
    producer.close();
    let metrics = control.metrics();
    let report = control.join()?;
    let elapsed = start.elapsed();

    println!(
        "{ORDERS} orders in {:.1} ms: {:.1} M orders/s",
        elapsed.as_secs_f64() * 1e3,
        ORDERS as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!("metrics just after the last publish:\n{metrics}");
    for stage in &report.stages {
        println!("  {:<8} processed {}", stage.stage, stage.processed);
    }
    println!("accepted orders: {}", accepted.load(Ordering::Relaxed));
    assert_eq!(report.processed("publish"), ORDERS);
    Ok(())
}
