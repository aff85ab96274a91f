//! crossbeam-channel: bounded MPMC channels, one per hop, a thread per consumer.
//!
//! A chain forwards each value to the next stage's channel after checking it. Channels have no
//! batch publish; receivers block (crossbeam spins briefly, then parks).

use std::thread;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::common::{Checker, PingParams, RunParams, Samples, Tally, Throughput, CAPACITY};

/// One consumer (`stages == 1`) or a chain of `stages` consumers, each checking every value.
pub fn throughput(stages: usize, params: RunParams) -> Result<Throughput, String> {
    const NAMES: [&str; 3] = ["a", "b", "c"];
    let tally = Tally::new();
    let (tx, mut input) = bounded::<u64>(CAPACITY);
    let mut threads = Vec::new();
    for (s, name) in NAMES.iter().enumerate().take(stages) {
        let mut checker = Checker::new(name, &tally);
        let (next_tx, next_rx) = bounded::<u64>(CAPACITY);
        let output: Option<Sender<u64>> = (s + 1 < stages).then_some(next_tx);
        let rx: Receiver<u64> = std::mem::replace(&mut input, next_rx);
        threads.push(thread::spawn(move || {
            for v in rx.iter() {
                checker.see(v);
                if let Some(out) = &output {
                    if out.send(v).is_err() {
                        break;
                    }
                }
            }
        }));
    }
    drop(input);
    let start = Instant::now();
    let mut next = 0u64;
    let mut timed_out = false;
    while next < params.events {
        if params.expired(next) {
            timed_out = true;
            break;
        }
        tx.send(next)
            .map_err(|_| "a consumer hung up early".to_string())?;
        next += 1;
    }
    drop(tx);
    for t in threads {
        t.join()
            .map_err(|_| "consumer thread panicked".to_string())?;
    }
    let elapsed = start.elapsed();
    tally.verify(next, stages)?;
    Ok(Throughput {
        published: next,
        elapsed,
        timed_out,
    })
}

/// Round trips over two bounded channels (blocking `recv` on both sides).
pub fn ping_pong(params: PingParams) -> Result<Samples, String> {
    let (ping_tx, ping_rx) = bounded::<u64>(CAPACITY);
    let (pong_tx, pong_rx) = bounded::<u64>(CAPACITY);
    let echo = thread::spawn(move || {
        for v in ping_rx.iter() {
            if pong_tx.send(v).is_err() {
                break;
            }
        }
    });
    let samples = params.measure(|i| {
        ping_tx
            .send(i)
            .map_err(|_| "echo thread hung up".to_string())?;
        match pong_rx.recv() {
            Ok(v) if v == i => Ok(()),
            Ok(v) => Err(format!("echo returned {v}, expected {i}")),
            Err(_) => Err("echo thread hung up".to_string()),
        }
    });
    drop(ping_tx);
    echo.join()
        .map_err(|_| "echo thread panicked".to_string())?;
    samples
}
