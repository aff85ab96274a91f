//! byteor inside a tokio service: a TCP server on 127.0.0.1 (an ephemeral port) accepts
//! newline-delimited orders from many connections, publishes them into a ring with
//! `publish_async`, and streams each connection's results back from the ring's egress stream.
//! A built-in client sends the orders over 8 connections and prints the throughput and the
//! round-trip latency percentiles.
//!
//! `cargo run --release --example tokio_service --features async`
//! (`TOKIO_SERVICE_ORDERS` sets the order count; 1,000,000 by default.)

use examples::tokio_service::{expected_accepted, run};

const CONNECTIONS: u32 = 8;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let orders: u64 = match std::env::var("TOKIO_SERVICE_ORDERS") {
        Ok(n) => n.parse()?,
        Err(_) => 1_000_000,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(orders, CONNECTIONS))?;
    assert_eq!(report.orders, orders, "every order answered");
    assert_eq!(report.accepted, expected_accepted(orders, CONNECTIONS));
    println!(
        "{} orders over {CONNECTIONS} connections in {:.2?}: {:.0} orders/s ({} accepted)",
        report.orders,
        report.elapsed,
        report.throughput(),
        report.accepted
    );
    println!(
        "round trip: p50 {:.1?}, p99 {:.1?}, p99.9 {:.1?}",
        report.percentile(0.50),
        report.percentile(0.99),
        report.percentile(0.999)
    );
    Ok(())
}
