//! A diamond: `enrich` mutates each event first, `price` and `score` read it in parallel, and
//! `decide` runs once both are done — and sees both of their results.
//!
//! `cargo run --release --example diamond`

use std::sync::Arc;

use byteor::prelude::*;

const EVENTS: u64 = 200_000;

#[derive(Default, Clone, Copy)]
struct Quote {
    id: u64,
    base: u64,
}

/// Per-sequence results of the parallel branches. Each branch writes only its own array, and
/// `decide` reads an entry only after both branches finished that sequence.
struct Results {
    price: Vec<std::sync::atomic::AtomicU64>,
    score: Vec<std::sync::atomic::AtomicU64>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let results = Arc::new(Results {
        price: (0..EVENTS).map(|_| AtomicU64::new(0)).collect(),
        score: (0..EVENTS).map(|_| AtomicU64::new(0)).collect(),
    });
    let (r1, r2, r3) = (results.clone(), results.clone(), results.clone());
    let decided = Arc::new(AtomicU64::new(0));
    let d = decided.clone();

    let pipeline = SingleRing::<Quote>::build("diamond", |ring| {
        let ring = ring.capacity(512).ingress("quotes").egress("decisions");
        let (ring, enrich) = ring.stage(
            "enrich",
            from_fn_mut(|q: &mut Quote, _: &EventContext| {
                q.base = q.id * 3;
                Ok(())
            }),
        );
        let (ring, price) = ring.stage_after(
            "price",
            from_fn(move |q: &Quote, _: &EventContext| {
                r1.price[q.id as usize].store(q.base + 1, Relaxed);
                Ok(())
            }),
            [enrich],
        );
        let (ring, score) = ring.stage_after(
            "score",
            from_fn(move |q: &Quote, _: &EventContext| {
                r2.score[q.id as usize].store(q.base + 2, Relaxed);
                Ok(())
            }),
            [enrich],
        );
        let (ring, _) = ring.stage_after(
            "decide",
            from_fn(move |q: &Quote, _: &EventContext| {
                let (p, s) = (
                    r3.price[q.id as usize].load(Relaxed),
                    r3.score[q.id as usize].load(Relaxed),
                );
                if p != q.base + 1 || s != q.base + 2 {
                    return Err(StageError::msg(format!("event {} decided too early", q.id)));
                }
                d.fetch_add(1, Relaxed);
                Ok(())
            }),
            [price, score],
        );
        ring.build()
    })?;
    println!("{}", byteor::spec::describe(pipeline.spec()));

    let (mut producer, control) = pipeline.spawn()?;
    for id in 0..EVENTS {
        producer.publish(|q| q.id = id)?;
    }
    producer.close();
    let report = control.join()?;
    println!(
        "decided {} of {} quotes; every decision saw both branches",
        decided.load(Relaxed),
        report.total_published()
    );
    Ok(())
}
