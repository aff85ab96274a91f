//! disruptor 4.x (single producer, processors on managed threads).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use disruptor::wait_strategies::WaitStrategy;
use disruptor::{build_single_producer, Producer, Sequence};

use crate::common::{
    spin_until, Checker, Padded, PingParams, Publish, RunParams, Samples, Tally, Throughput,
    Topology, BATCH, CAPACITY,
};

/// Publishes `params.events` values `0..` through `topology` with wait strategy `wait`, and
/// waits until every processor has drained them (dropping the producer joins the processors).
pub fn throughput<W: WaitStrategy + 'static>(
    topology: Topology,
    wait: W,
    publish: Publish,
    params: RunParams,
) -> Result<Throughput, String> {
    let tally = Tally::new();
    let handler = |name| {
        let mut checker = Checker::new(name, &tally);
        move |v: &u64, _: Sequence, _: bool| checker.see(*v)
    };
    let factory = || 0u64;
    let result = match topology {
        Topology::One => {
            let producer = build_single_producer(CAPACITY, factory, wait)
                .handle_events_with(handler("a"))
                .build();
            drive(producer, publish, params)
        }
        Topology::Chain3 => {
            let producer = build_single_producer(CAPACITY, factory, wait)
                .handle_events_with(handler("a"))
                .and_then()
                .handle_events_with(handler("b"))
                .and_then()
                .handle_events_with(handler("c"))
                .build();
            drive(producer, publish, params)
        }
        Topology::Diamond => {
            let producer = build_single_producer(CAPACITY, factory, wait)
                .handle_events_with(handler("a"))
                .and_then()
                .handle_events_with(handler("b"))
                .handle_events_with(handler("c"))
                .and_then()
                .handle_events_with(handler("d"))
                .build();
            drive(producer, publish, params)
        }
        Topology::Multicast3 => {
            let producer = build_single_producer(CAPACITY, factory, wait)
                .handle_events_with(handler("a"))
                .handle_events_with(handler("b"))
                .handle_events_with(handler("c"))
                .build();
            drive(producer, publish, params)
        }
    };
    tally.verify(result.published, topology.consumers())?;
    Ok(result)
}

fn drive<P: Producer<u64>>(mut producer: P, publish: Publish, params: RunParams) -> Throughput {
    let start = Instant::now();
    let mut next = 0u64;
    let mut timed_out = false;
    match publish {
        Publish::Single => {
            while next < params.events {
                if params.expired(next) {
                    timed_out = true;
                    break;
                }
                let v = next;
                producer.publish(|e| *e = v);
                next += 1;
            }
        }
        Publish::Batch => {
            while next < params.events {
                if params.expired(next) {
                    timed_out = true;
                    break;
                }
                let n = (params.events - next).min(BATCH as u64);
                let base = next;
                producer.batch_publish(n as usize, |iter| {
                    for (i, e) in iter.enumerate() {
                        *e = base + i as u64;
                    }
                });
                next += n;
            }
        }
    }
    // Dropping the producer waits until every processor has handled every event.
    drop(producer);
    Throughput {
        published: next,
        elapsed: start.elapsed(),
        timed_out,
    }
}

/// Round trips through a single BusySpin processor that stores the event into an atomic.
pub fn ping_pong<W: WaitStrategy + 'static>(
    wait: W,
    params: PingParams,
) -> Result<Samples, String> {
    let echo = Arc::new(Padded(AtomicU64::new(u64::MAX)));
    let out = Arc::clone(&echo);
    let mut producer = build_single_producer(CAPACITY, || 0u64, wait)
        .handle_events_with(move |v: &u64, _: Sequence, _: bool| out.0.store(*v, Ordering::Release))
        .build();
    let samples = params.measure(|i| {
        producer.publish(|e| *e = i);
        spin_until(&echo.0, i);
        Ok(())
    });
    drop(producer);
    samples
}

/// A started three-processor chain with no traffic, for the idle-CPU scenario. Returns a
/// function that ends it and checks nothing was processed.
pub fn idle_pipeline<W: WaitStrategy + 'static>(wait: W) -> impl FnOnce() -> Result<(), String> {
    let tally = Tally::new();
    let handler = |name| {
        let mut checker = Checker::new(name, &tally);
        move |v: &u64, _: Sequence, _: bool| checker.see(*v)
    };
    let producer = build_single_producer(CAPACITY, || 0u64, wait)
        .handle_events_with(handler("a"))
        .and_then()
        .handle_events_with(handler("b"))
        .and_then()
        .handle_events_with(handler("c"))
        .build();
    move || {
        drop(producer);
        tally.verify(0, 3)
    }
}
