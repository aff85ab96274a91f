//! Quick start, declaratively: the order pipeline of `quickstart.rs`, written with
//! `#[byteor::pipeline]` instead of builder calls.
//!
//! ```text
//!             ┌─> risk ──┐
//!   parse ────┤          ├──> publish
//!             └─> audit ─┘
//! ```
//!
//! The macro checks the shape at compile time (names, dependencies, cycles, the stage limit,
//! option values) and expands to the same builder calls, so the plan, the lowered spec and its
//! fingerprint are exactly those of `quickstart.rs`. This example prints the fingerprint of both
//! and checks they agree, then runs the pipeline.
//!
//! Run it with `cargo run --release --example quickstart_macro`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use byteor::prelude::*;
use examples::orders::{Audit, Order, Parse, Publish, Risk};

/// The order pipeline. The function returns `Result<SingleRingPipeline<Order, ..>, BuildError>`.
#[byteor::pipeline(capacity = 1024)]
fn orders(accepted: Arc<AtomicU64>) -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse { max_qty: 10_000 });
    let risk = stage(Risk::new(1024)).after([parse]);
    let audit = stage(Audit::default()).after([parse]);
    let publish = stage(Publish::new(accepted))
        .side_effects()
        .after([risk, audit]);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const ORDERS: u64 = 1_000_000;
    let accepted = Arc::new(AtomicU64::new(0));
    let pipeline = orders(Arc::clone(&accepted))?;

    // The same pipeline written with builder calls, as in `quickstart.rs`.
    let by_builder = SingleRing::<Order>::build("orders", |ring| {
        let ring = ring.capacity(1024).ingress("orders_in").egress("fills_out");
        let (ring, parse) = ring.stage("parse", Parse { max_qty: 10_000 });
        let (ring, risk) = ring.stage_after("risk", Risk::new(1024), [parse]);
        let (ring, audit) = ring.stage_after("audit", Audit::default(), [parse]);
        let (ring, _) = ring.stage_after(
            StageDecl::new("publish").side_effects(true),
            Publish::new(Arc::new(AtomicU64::new(0))),
            [risk, audit],
        );
        ring.build()
    })?;
    let fingerprint = pipeline.spec().fingerprint();
    println!("plan fingerprint (#[pipeline]): {fingerprint}");
    println!(
        "plan fingerprint (builder):     {}",
        by_builder.spec().fingerprint()
    );
    assert_eq!(fingerprint, by_builder.spec().fingerprint());
    assert_eq!(pipeline.plan(), by_builder.plan());

    let (mut producer, control) = pipeline.spawn()?;
    let start = Instant::now();
    for i in 0..ORDERS {
        producer.publish(|o| Order::fill(o, i))?;
    }
    producer.close();
    let report = control.join()?;
    let elapsed = start.elapsed();

    println!(
        "{ORDERS} orders in {:.1} ms: {:.1} M orders/s",
        elapsed.as_secs_f64() * 1e3,
        ORDERS as f64 / elapsed.as_secs_f64() / 1e6
    );
    for stage in &report.stages {
        println!("  {:<8} processed {}", stage.stage, stage.processed);
    }
    println!("accepted orders: {}", accepted.load(Ordering::Relaxed));
    assert_eq!(report.processed("publish"), ORDERS);
    Ok(())
}
