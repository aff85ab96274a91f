//! rtrb: wait-free SPSC ring buffers, one per hop, a thread per consumer.
//!
//! rtrb has no waiting of its own; both sides use the spin-then-yield [`Backoff`]. Consumers
//! read everything available as one chunk; a chain stage moves each chunk into the next ring
//! with one chunk write. Batch publish writes chunks of [`BATCH`].

use std::thread;
use std::time::Instant;

use rtrb::{Consumer, Producer, RingBuffer};

use crate::common::{
    Backoff, Checker, PingParams, Publish, RunParams, Samples, Tally, Throughput, BATCH, CAPACITY,
};

/// Takes every value available from `input` as one chunk, checks it and (in a chain) moves it
/// on to `output`. Returns when the upstream side is gone and the ring is empty.
fn consume(
    input: &mut Consumer<u64>,
    mut output: Option<&mut Producer<u64>>,
    checker: &mut Checker,
) {
    let mut backoff = Backoff::default();
    loop {
        let mut n = input.slots();
        if let Some(out) = output.as_deref() {
            n = n.min(out.slots());
        }
        if n == 0 {
            // `is_abandoned` is read with Acquire, so every value pushed before the producer
            // was dropped is visible to the `slots` check below.
            if input.is_abandoned() && input.slots() == 0 {
                return;
            }
            backoff.snooze();
            continue;
        }
        backoff.reset();
        let Ok(chunk) = input.read_chunk(n) else {
            unreachable!("{n} slots were available")
        };
        let (first, second) = chunk.as_slices();
        for &v in first.iter().chain(second) {
            checker.see(v);
        }
        if let Some(out) = output.as_deref_mut() {
            let Ok(dst) = out.write_chunk_uninit(n) else {
                unreachable!("{n} slots were free")
            };
            dst.fill_from_iter(first.iter().chain(second).copied());
        }
        chunk.commit_all();
    }
}

/// One consumer (`stages == 1`) or a chain of `stages` consumers, each checking every value.
pub fn throughput(
    stages: usize,
    publish: Publish,
    params: RunParams,
) -> Result<Throughput, String> {
    const NAMES: [&str; 3] = ["a", "b", "c"];
    let tally = Tally::new();
    let (mut tx, mut input) = RingBuffer::<u64>::new(CAPACITY);
    let mut threads = Vec::new();
    for (s, name) in NAMES.iter().enumerate().take(stages) {
        let mut checker = Checker::new(name, &tally);
        let (next_tx, next_rx) = RingBuffer::<u64>::new(CAPACITY);
        let mut output = (s + 1 < stages).then_some(next_tx);
        let mut rx = std::mem::replace(&mut input, next_rx);
        threads.push(thread::spawn(move || {
            consume(&mut rx, output.as_mut(), &mut checker)
        }));
    }
    drop(input);
    let start = Instant::now();
    let mut next = 0u64;
    let mut timed_out = false;
    let mut backoff = Backoff::default();
    match publish {
        Publish::Single => {
            while next < params.events {
                if params.expired(next) {
                    timed_out = true;
                    break;
                }
                while tx.push(next).is_err() {
                    backoff.snooze();
                }
                backoff.reset();
                next += 1;
            }
        }
        Publish::Batch => {
            while next < params.events {
                if params.expired(next) {
                    timed_out = true;
                    break;
                }
                let n = (params.events - next).min(BATCH as u64) as usize;
                let chunk = loop {
                    match tx.write_chunk_uninit(n) {
                        Ok(chunk) => break chunk,
                        Err(_) => backoff.snooze(),
                    }
                };
                backoff.reset();
                chunk.fill_from_iter(next..next + n as u64);
                next += n as u64;
            }
        }
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

/// Round trips over two rings, both sides spinning without a pause hint.
pub fn ping_pong(params: PingParams) -> Result<Samples, String> {
    let (mut ping_tx, mut ping_rx) = RingBuffer::<u64>::new(CAPACITY);
    let (mut pong_tx, mut pong_rx) = RingBuffer::<u64>::new(CAPACITY);
    let echo = thread::spawn(move || loop {
        match ping_rx.pop() {
            Ok(v) => while pong_tx.push(v).is_err() {},
            Err(_) => {
                if ping_rx.is_abandoned() && ping_rx.is_empty() {
                    return;
                }
            }
        }
    });
    let samples = params.measure(|i| {
        while ping_tx.push(i).is_err() {}
        loop {
            match pong_rx.pop() {
                Ok(v) if v == i => return Ok(()),
                Ok(v) => return Err(format!("echo returned {v}, expected {i}")),
                Err(_) => {}
            }
        }
    });
    drop(ping_tx);
    echo.join()
        .map_err(|_| "echo thread panicked".to_string())?;
    samples
}
