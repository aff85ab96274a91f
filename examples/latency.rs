//! Ping-pong latency: the producer publishes one event, a one-stage ring echoes it back
//! through an atomic, and the producer waits for the echo before the next one. Prints
//! round-trip percentiles.
//!
//! `cargo run --release --example latency` (uses busy-spinning: two threads, two cores).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use byteor::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const ROUNDS: usize = 200_000;
    let echo = Arc::new(AtomicU64::new(0));
    let e = echo.clone();
    let pipeline = SingleRing::<u64>::build("pingpong", |ring| {
        let ring = ring
            .capacity(64)
            .ingress("ping")
            .egress("pong")
            .wait_strategy(WaitStrategy::BusySpin);
        let (ring, _) = ring.stage(
            "echo",
            from_fn(move |v: &u64, _: &EventContext| {
                e.store(*v, Ordering::Release);
                Ok(())
            }),
        );
        ring.build()
    })?;
    let (mut producer, control) = pipeline.spawn()?;
    let mut samples = Vec::with_capacity(ROUNDS);
    for i in 1..=ROUNDS as u64 {
        let start = Instant::now();
        producer.publish(|v| *v = i)?;
        while echo.load(Ordering::Acquire) != i {
            std::hint::spin_loop();
        }
        samples.push(start.elapsed().as_nanos() as u64);
    }
    producer.close();
    control.join()?;
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "round trip over {ROUNDS} pings: p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
        pct(0.50),
        pct(0.99),
        pct(0.999),
        samples[samples.len() - 1]
    );
    Ok(())
}
