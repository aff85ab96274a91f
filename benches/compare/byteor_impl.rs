//! byteor: SingleRing pipelines built with the typed builder.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use byteor::exec::{SingleRingPipeline, StageList, Unsharded};
use byteor::prelude::*;

use crate::common::{
    spin_until, Checker, Padded, PingParams, Publish, RunParams, Samples, Tally, Throughput,
    Topology, BATCH, CAPACITY,
};

/// A stage doing the shared per-event work.
struct Check(Checker);

impl Stage<u64> for Check {
    #[inline(always)]
    fn on_event(&mut self, event: &u64, _: &EventContext) -> Result<(), StageError> {
        self.0.see(*event);
        Ok(())
    }
}

/// Stage names per topology, in the order they are added.
fn stage_names(topology: Topology) -> &'static [&'static str] {
    match topology {
        Topology::One => &["a"],
        Topology::Chain3 | Topology::Multicast3 => &["a", "b", "c"],
        Topology::Diamond => &["a", "b", "c", "d"],
    }
}

/// Publishes `params.events` values `0..` through `topology` and waits until every stage has
/// drained them.
pub fn throughput(
    topology: Topology,
    strategy: WaitStrategy,
    publish: Publish,
    params: RunParams,
) -> Result<Throughput, String> {
    let tally = Tally::new();
    let check = |name| Check(Checker::new(name, &tally));
    let cap = CAPACITY as u32;
    let err = |e: BuildError| format!("build failed: {e}");
    match topology {
        Topology::One => {
            let p = SingleRing::<u64>::build("one", |ring| {
                let ring = ring.capacity(cap).ingress("in").egress("out");
                let (ring, _) = ring.wait_strategy(strategy).stage("a", check("a"));
                ring.build()
            })
            .map_err(err)?;
            drive(p, topology, publish, params, &tally)
        }
        Topology::Chain3 => {
            let p = SingleRing::<u64>::build("chain", |ring| {
                let ring = ring.capacity(cap).ingress("in").egress("out");
                let (ring, a) = ring.wait_strategy(strategy).stage("a", check("a"));
                let (ring, b) = ring.stage_after("b", check("b"), [a]);
                let (ring, _) = ring.stage_after("c", check("c"), [b]);
                ring.build()
            })
            .map_err(err)?;
            drive(p, topology, publish, params, &tally)
        }
        Topology::Diamond => {
            let p = SingleRing::<u64>::build("diamond", |ring| {
                let ring = ring.capacity(cap).ingress("in").egress("out");
                let (ring, a) = ring.wait_strategy(strategy).stage("a", check("a"));
                let (ring, b) = ring.stage_after("b", check("b"), [a]);
                let (ring, c) = ring.stage_after("c", check("c"), [a]);
                let (ring, _) = ring.stage_after("d", check("d"), [b, c]);
                ring.build()
            })
            .map_err(err)?;
            drive(p, topology, publish, params, &tally)
        }
        Topology::Multicast3 => {
            let p = SingleRing::<u64>::build("multicast", |ring| {
                let ring = ring.capacity(cap).ingress("in").egress("out");
                let (ring, _) = ring.wait_strategy(strategy).stage("a", check("a"));
                let (ring, _) = ring.stage("b", check("b"));
                let (ring, _) = ring.stage("c", check("c"));
                ring.build()
            })
            .map_err(err)?;
            drive(p, topology, publish, params, &tally)
        }
    }
}

fn drive<L: StageList<u64>>(
    pipeline: SingleRingPipeline<u64, L, Unsharded>,
    topology: Topology,
    publish: Publish,
    params: RunParams,
    tally: &Tally,
) -> Result<Throughput, String> {
    let (mut producer, control) = pipeline.spawn().map_err(|e| format!("spawn: {e}"))?;
    let perr = |e: PublishError| format!("publish failed: {e}");
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
                producer.publish(|slot| *slot = v).map_err(perr)?;
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
                producer
                    .publish_batch(n as usize, |i, slot| *slot = base + i as u64)
                    .map_err(perr)?;
                next += n;
            }
        }
    }
    drop(producer);
    let report = control.join().map_err(|e| format!("join failed: {e}"))?;
    let elapsed = start.elapsed();
    let mut problems = Vec::new();
    if report.total_published() != next {
        problems.push(format!(
            "report says {} published, the producer published {next}",
            report.total_published()
        ));
    }
    for name in stage_names(topology) {
        if report.processed(name) != next {
            problems.push(format!(
                "report says stage `{name}` processed {}, expected {next}",
                report.processed(name)
            ));
        }
    }
    if let Err(e) = tally.verify(next, topology.consumers()) {
        problems.push(e);
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(Throughput {
        published: next,
        elapsed,
        timed_out,
    })
}

/// Round trips: the producer publishes `i`, a BusySpin stage stores it into an atomic, the
/// producer spins until it sees it.
pub fn ping_pong(params: PingParams) -> Result<Samples, String> {
    let echo = Arc::new(Padded(AtomicU64::new(u64::MAX)));
    let out = Arc::clone(&echo);
    let pipeline = SingleRing::<u64>::build("pingpong", |ring| {
        let ring = ring
            .capacity(CAPACITY as u32)
            .ingress("in")
            .egress("out")
            .wait_strategy(WaitStrategy::BusySpin);
        let (ring, _) = ring.stage(
            "echo",
            from_fn(move |v: &u64, _: &EventContext| {
                out.0.store(*v, Ordering::Release);
                Ok(())
            }),
        );
        ring.build()
    })
    .map_err(|e| format!("build failed: {e}"))?;
    let (mut producer, control) = pipeline.spawn().map_err(|e| format!("spawn: {e}"))?;
    let samples = params.measure(|i| {
        producer
            .publish(|slot| *slot = i)
            .map_err(|e| format!("publish failed: {e}"))?;
        spin_until(&echo.0, i);
        Ok(())
    });
    drop(producer);
    control.join().map_err(|e| format!("join failed: {e}"))?;
    samples
}

/// A started pipeline of three chained stages with no traffic, for the idle-CPU scenario.
/// Returns a function that ends the stream and checks nothing was processed.
pub fn idle_pipeline(
    strategy: WaitStrategy,
) -> Result<impl FnOnce() -> Result<(), String>, String> {
    let tally = Tally::new();
    let check = |name| Check(Checker::new(name, &tally));
    let pipeline = SingleRing::<u64>::build("idle", |ring| {
        let ring = ring.capacity(CAPACITY as u32).ingress("in").egress("out");
        let (ring, a) = ring.wait_strategy(strategy).stage("a", check("a"));
        let (ring, b) = ring.stage_after("b", check("b"), [a]);
        let (ring, _) = ring.stage_after("c", check("c"), [b]);
        ring.build()
    })
    .map_err(|e| format!("build failed: {e}"))?;
    let (producer, control) = pipeline.spawn().map_err(|e| format!("spawn: {e}"))?;
    Ok(move || {
        drop(producer);
        control.join().map_err(|e| format!("join failed: {e}"))?;
        tally.verify(0, 3)
    })
}
