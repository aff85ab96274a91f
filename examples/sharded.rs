//! A 4-shard per-key ring: events are routed by account, each shard has its own stage
//! threads, and order holds per account.
//!
//! `cargo run --release --example sharded`

use byteor::prelude::*;

#[derive(Default, Clone, Copy)]
struct Trade {
    account: u64,
    seq_in_account: u64,
}

/// Checks that each account's trades arrive in order (one instance per shard).
#[derive(Clone)]
struct OrderCheck {
    last: Vec<u64>,
}

impl Stage<Trade> for OrderCheck {
    fn on_event(&mut self, t: &Trade, _: &EventContext) -> Result<(), StageError> {
        let last = &mut self.last[t.account as usize];
        if t.seq_in_account != *last + 1 {
            return Err(StageError::msg(format!(
                "account {} out of order: {} after {}",
                t.account, t.seq_in_account, last
            )));
        }
        *last = t.seq_in_account;
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const ACCOUNTS: u64 = 64;
    const TRADES: u64 = 400_000;
    let pipeline = SingleRing::<Trade>::build("trades", |ring| {
        let ring = ring
            .capacity(256)
            .ingress("trades_in")
            .egress("positions")
            .shards(4, "account", |t: &Trade| t.account);
        let check = OrderCheck {
            last: vec![0; ACCOUNTS as usize],
        };
        let (ring, first) = ring.stage("check", check.clone());
        let (ring, _) = ring.stage_after("recheck", check, [first]);
        ring.build()
    })?;
    println!("{}", byteor::spec::describe(pipeline.spec()));

    let (mut producer, control) = pipeline.spawn()?;
    let mut next = vec![0u64; ACCOUNTS as usize];
    for i in 0..TRADES {
        let account = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58; // 0..64
        next[account as usize] += 1;
        let seq = next[account as usize];
        producer.publish(|t| {
            t.account = account;
            t.seq_in_account = seq;
        })?;
    }
    producer.close();
    let report = control.join()?;
    for (shard, published) in report.published.iter().enumerate() {
        println!("shard {shard}: {published} trades");
    }
    println!("all {TRADES} trades in order per account");
    Ok(())
}
