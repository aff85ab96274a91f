//! Scenario l: async code on both ends. A tokio task publishes `u64`s and one consumer task
//! awaits them — byteor (`publish_async` into a one-stage ring whose stage forwards to an
//! egress queue, received with `recv().await`) against a bounded `tokio::sync::mpsc` (1024)
//! and `flume` (bounded 1024, async API). Both tasks run on one multi-thread runtime with two
//! workers. Throughput, and the round trip of a request/response: the requester awaits the
//! echo of each request before sending the next — echoed by a task (tokio, flume) or, as in
//! byteor, by a thread of its own (tokio, `tokio_thread_ping`).

use std::time::Instant;

use byteor::exec::egress::{self, EgressReceiver};
use byteor::exec::Producer;
use byteor::plan::OnFull;
use byteor::prelude::*;

use crate::common::{PingParams, RunParams, Samples, Throughput};

/// Slots of every queue in the scenario (ring, egress queue, channels).
const CAPACITY: usize = 1024;

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// A running forwarding ring: its producer, control handle and egress receiver.
type ForwardingRing = (Producer<u64>, Control<u64>, EgressReceiver<u64>);

/// A ring whose one stage forwards each event to an egress queue (`Block`).
fn forwarding_ring() -> Result<ForwardingRing, String> {
    let (mut tx, rx) = egress::channel::<u64>(CAPACITY, OnFull::Block);
    let pipeline = SingleRing::<u64>::build("async-bench", |ring| {
        let ring = ring.capacity(CAPACITY as u32).ingress("in").egress("out");
        let (ring, _) = ring.stage(
            "forward",
            from_fn(move |v: &u64, _: &EventContext| {
                tx.send(*v)
                    .map(drop)
                    .map_err(|_| StageError::msg("receiver gone"))
            }),
        );
        ring.build()
    })
    .map_err(|e| e.to_string())?;
    let (producer, control) = pipeline.spawn().map_err(|e| e.to_string())?;
    Ok((producer, control, rx))
}

/// byteor: publish_async -> stage -> egress stream.
pub fn byteor_throughput(p: RunParams) -> Result<Throughput, String> {
    let rt = runtime()?;
    let (mut producer, control, mut rx) = forwarding_ring()?;
    let events = p.events;
    let start = Instant::now();
    let consumer = rt.spawn(async move {
        let mut n = 0u64;
        while rx.recv().await.is_some() {
            n += 1;
        }
        n
    });
    let published = rt.block_on(rt.spawn(async move {
        let mut published = 0;
        let mut timed_out = false;
        for i in 0..events {
            if p.expired(i) {
                timed_out = true;
                break;
            }
            producer
                .publish_async(|e| *e = i)
                .await
                .map_err(|e| e.to_string())?;
            published += 1;
        }
        Ok::<_, String>((published, timed_out))
    }));
    let (published, timed_out) = published.map_err(|e| e.to_string())??;
    let received = rt.block_on(consumer).map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    control.join().map_err(|e| e.to_string())?;
    if received != published {
        return Err(format!("received {received} of {published}"));
    }
    Ok(Throughput {
        published,
        elapsed,
        timed_out,
    })
}

/// tokio::sync::mpsc, bounded.
pub fn tokio_throughput(p: RunParams) -> Result<Throughput, String> {
    let rt = runtime()?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
    let events = p.events;
    let start = Instant::now();
    let consumer = rt.spawn(async move {
        let mut n = 0u64;
        while rx.recv().await.is_some() {
            n += 1;
        }
        n
    });
    let (published, timed_out) = rt
        .block_on(rt.spawn(async move {
            for i in 0..events {
                if p.expired(i) {
                    return (i, true);
                }
                if tx.send(i).await.is_err() {
                    return (i, true);
                }
            }
            (events, false)
        }))
        .map_err(|e| e.to_string())?;
    let received = rt.block_on(consumer).map_err(|e| e.to_string())?;
    if received != published {
        return Err(format!("received {received} of {published}"));
    }
    Ok(Throughput {
        published,
        elapsed: start.elapsed(),
        timed_out,
    })
}

/// flume, bounded, async API.
pub fn flume_throughput(p: RunParams) -> Result<Throughput, String> {
    let rt = runtime()?;
    let (tx, rx) = flume::bounded::<u64>(CAPACITY);
    let events = p.events;
    let start = Instant::now();
    let consumer = rt.spawn(async move {
        let mut n = 0u64;
        while rx.recv_async().await.is_ok() {
            n += 1;
        }
        n
    });
    let (published, timed_out) = rt
        .block_on(rt.spawn(async move {
            for i in 0..events {
                if p.expired(i) {
                    return (i, true);
                }
                if tx.send_async(i).await.is_err() {
                    return (i, true);
                }
            }
            (events, false)
        }))
        .map_err(|e| e.to_string())?;
    let received = rt.block_on(consumer).map_err(|e| e.to_string())?;
    if received != published {
        return Err(format!("received {received} of {published}"));
    }
    Ok(Throughput {
        published,
        elapsed: start.elapsed(),
        timed_out,
    })
}

/// On a task of `rt`, times `warmup + pings` request/response round trips, each the async
/// block `$trip` (which sees the request number as `$i` and returns `Result<(), String>`),
/// keeping the last `pings`; evaluates to the samples (`?` on a task or round-trip failure).
macro_rules! timed_round_trips {
    ($rt:expr, $p:expr, |$i:ident| $trip:block) => {{
        let p: PingParams = $p;
        $rt.block_on($rt.spawn(async move {
            let mut samples = Vec::with_capacity(p.pings as usize);
            for $i in 0..p.warmup + p.pings {
                if Instant::now() > p.deadline {
                    return Err("deadline passed".to_string());
                }
                let t0 = Instant::now();
                $trip
                if $i >= p.warmup {
                    samples.push(t0.elapsed().as_nanos() as u64);
                }
            }
            Ok::<Samples, String>(samples)
        }))
        .map_err(|e| e.to_string())??
    }};
}

/// Round trips through byteor: `publish_async` a request, await its echo from the egress.
pub fn byteor_ping(p: PingParams) -> Result<Samples, String> {
    let rt = runtime()?;
    let (mut producer, control, mut rx) = forwarding_ring()?;
    let samples = timed_round_trips!(rt, p, |i| {
        producer
            .publish_async(|e| *e = i)
            .await
            .map_err(|e| e.to_string())?;
        match rx.recv().await {
            Some(v) if v == i => {}
            other => return Err(format!("echo {other:?} for request {i}")),
        }
    });
    control.join().map_err(|e| e.to_string())?;
    Ok(samples)
}

/// Round trips through two tokio channels and an echo task.
pub fn tokio_ping(p: PingParams) -> Result<Samples, String> {
    let rt = runtime()?;
    let (req_tx, mut req_rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
    let (resp_tx, mut resp_rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
    rt.spawn(async move {
        while let Some(v) = req_rx.recv().await {
            if resp_tx.send(v).await.is_err() {
                break;
            }
        }
    });
    Ok(timed_round_trips!(rt, p, |i| {
        req_tx.send(i).await.map_err(|e| e.to_string())?;
        if resp_rx.recv().await != Some(i) {
            return Err(format!("no echo for request {i}"));
        }
    }))
}

/// Round trips through two tokio channels and an echo on a thread of its own that polls
/// (`try_recv`, spin hints): the shape of a byteor pipeline, whose stage is a thread. A tokio
/// echo *task* (`tokio_ping`) runs on the requester's worker (tokio's LIFO slot), so its round
/// trip never crosses cores; this one does, twice, as byteor's does.
pub fn tokio_thread_ping(p: PingParams) -> Result<Samples, String> {
    let rt = runtime()?;
    let (req_tx, mut req_rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
    let (resp_tx, mut resp_rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
    let echo = std::thread::spawn(move || loop {
        match req_rx.try_recv() {
            Ok(v) => {
                if resp_tx.try_send(v).is_err() {
                    return;
                }
            }
            Err(tokio::sync::mpsc::error::TryRecvError::Empty) => std::hint::spin_loop(),
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => return,
        }
    });
    let samples = timed_round_trips!(rt, p, |i| {
        req_tx.send(i).await.map_err(|e| e.to_string())?;
        if resp_rx.recv().await != Some(i) {
            return Err(format!("no echo for request {i}"));
        }
    });
    echo.join().map_err(|_| "the echo thread panicked")?;
    Ok(samples)
}

/// Round trips through two flume channels and an echo task.
pub fn flume_ping(p: PingParams) -> Result<Samples, String> {
    let rt = runtime()?;
    let (req_tx, req_rx) = flume::bounded::<u64>(CAPACITY);
    let (resp_tx, resp_rx) = flume::bounded::<u64>(CAPACITY);
    rt.spawn(async move {
        while let Ok(v) = req_rx.recv_async().await {
            if resp_tx.send_async(v).await.is_err() {
                break;
            }
        }
    });
    Ok(timed_round_trips!(rt, p, |i| {
        req_tx.send_async(i).await.map_err(|e| e.to_string())?;
        if resp_rx.recv_async().await.ok() != Some(i) {
            return Err(format!("no echo for request {i}"));
        }
    }))
}
