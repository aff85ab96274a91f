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

/// An order as it travels the ring. Plain data: slots are pre-allocated and reused.
#[derive(Debug, Default, Clone, Copy)]
struct Order {
    id: u64,
    account: u64,
    qty: i64,
    price: i64,
    /// Set by `parse`: 0 = ok, otherwise a reject code.
    reject: u32,
}

/// Rejects nonsensical orders and clamps quantities (mutates the order).
struct Parse {
    max_qty: i64,
}

impl MutStage<Order> for Parse {
    fn on_event(&mut self, order: &mut Order, _: &EventContext) -> Result<(), StageError> {
        order.reject = u32::from(order.price <= 0);
        order.qty = order.qty.clamp(-self.max_qty, self.max_qty);
        Ok(())
    }
}

/// Tracks per-account exposure (reads only).
struct Risk {
    exposure: Vec<i64>,
    breaches: u64,
}

impl Risk {
    fn new(accounts: usize) -> Self {
        Risk {
            exposure: vec![0; accounts],
            breaches: 0,
        }
    }
}

impl Stage<Order> for Risk {
    fn on_event(&mut self, order: &Order, _: &EventContext) -> Result<(), StageError> {
        if order.reject == 0 {
            let slot = &mut self.exposure[(order.account % 1024) as usize];
            *slot += order.qty * order.price;
            if slot.abs() > 1_000_000_000 {
                self.breaches += 1;
                *slot = 0;
            }
        }
        Ok(())
    }
}

/// Keeps a running checksum of everything seen, as an audit trail would.
#[derive(Default)]
struct Audit {
    checksum: u64,
}

impl Stage<Order> for Audit {
    fn on_event(&mut self, order: &Order, ctx: &EventContext) -> Result<(), StageError> {
        self.checksum = self
            .checksum
            .rotate_left(5)
            .wrapping_add(order.id ^ ctx.sequence);
        Ok(())
    }
}

/// Counts accepted orders (a stand-in for writing them to the egress).
struct Publish {
    accepted: Arc<AtomicU64>,
    local: u64,
}

impl Stage<Order> for Publish {
    fn on_event(&mut self, order: &Order, _: &EventContext) -> Result<(), StageError> {
        self.local += u64::from(order.reject == 0);
        Ok(())
    }

    fn on_batch_end(&mut self, _: &BatchContext) -> Result<(), StageError> {
        // Publish the count once per batch, not per event.
        self.accepted.store(self.local, Ordering::Relaxed);
        Ok(())
    }
}

/// The order pipeline. The function returns `Result<SingleRingPipeline<Order, ..>, BuildError>`.
#[byteor::pipeline(capacity = 1024)]
fn orders(accepted: Arc<AtomicU64>) -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse { max_qty: 10_000 });
    let risk = stage(Risk::new(1024)).after([parse]);
    let audit = stage(Audit::default()).after([parse]);
    let publish = stage(Publish { accepted, local: 0 })
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
            Publish {
                accepted: Arc::new(AtomicU64::new(0)),
                local: 0,
            },
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
        producer.publish(|o| {
            o.id = i;
            o.account = i.wrapping_mul(0x9E37_79B9) % 4096;
            o.qty = (i % 200) as i64 - 100;
            o.price = if i % 1000 == 999 {
                0
            } else {
                100 + (i % 50) as i64
            };
        })?;
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
