//! LaneGraph scenarios: fan-out 1 → 3 (every consumer sees every event) and fan-in 3 → 1 (three
//! producers merged into one consumer), on byteor's LaneGraph runtime and on the same shape
//! built from crossbeam-channel (a channel per edge, a thread per role).
//!
//! Consumers are stages that check each value (each producer's values in order, for fan-in) and
//! emit nothing; the run is timed from the first publish until every stage has seen every event.

use std::thread;
use std::time::Instant;

use byteor::exec::lane_graph::{lane_fn, Emitter, LaneGraph};
use byteor::exec::StageError;
use byteor::plan::{BoundaryLanePolicy, LaneIntent};
use byteor::vocab::LaneKind;
use crossbeam_channel::bounded;

use crate::common::{Checker, RunParams, Tally, Throughput, CAPACITY};

const NAMES: [&str; 3] = ["a", "b", "c"];

/// A stage that checks each value with a [`Checker`] and emits nothing.
fn checking_stage(
    name: &'static str,
    tally: &std::sync::Arc<Tally>,
) -> impl FnMut(&u64, &mut Emitter<'_, u64>) -> Result<(), StageError> {
    let mut checker = Checker::new(name, tally);
    move |v, _| {
        checker.see(*v);
        Ok(())
    }
}

/// Fan-out 1 → 3 on byteor: over `Events` lanes (an inserted router copies each event to three
/// lanes) or over one `FanoutBroadcast` lane read by all three.
pub fn fan_out(broadcast: bool, params: RunParams) -> Result<Throughput, String> {
    let tally = Tally::new();
    let mut g = LaneGraph::builder("fanout");
    if broadcast {
        // The producer writes the broadcast lane itself (no bridge from an `Events` lane).
        g.boundary(BoundaryLanePolicy {
            kind: LaneKind::FanoutBroadcast,
            capacity: Some(CAPACITY as u32),
            on_full: None,
        });
    }
    let input = g.ingress::<u64>("in");
    let intent = if broadcast {
        LaneIntent::of(LaneKind::FanoutBroadcast).capacity(CAPACITY as u32)
    } else {
        LaneIntent::events().capacity(CAPACITY as u32)
    };
    let mut outs = Vec::new();
    for name in NAMES {
        let (s_in, s_out) = g.stage(name, lane_fn(checking_stage(name, &tally)));
        let out = g.egress::<u64>(&format!("{name}_out"));
        g.connect_with(&input, &s_in, intent.clone());
        g.connect(&s_out, &out);
        outs.push(out);
    }
    let (mut ends, control) = g
        .build()
        .map_err(|e| format!("build: {e}"))?
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let mut producer = ends.producer(&input).ok_or("no producer")?;
    let start = Instant::now();
    let mut next = 0u64;
    let mut timed_out = false;
    while next < params.events {
        if params.expired(next) {
            timed_out = true;
            break;
        }
        let v = next;
        producer
            .publish(|slot| *slot = v)
            .map_err(|e| format!("publish: {e}"))?;
        next += 1;
    }
    drop(producer);
    control.join().map_err(|e| format!("join: {e}"))?;
    let elapsed = start.elapsed();
    drop(ends);
    tally.verify(next, 3)?;
    Ok(Throughput {
        published: next,
        elapsed,
        timed_out,
    })
}

/// Fan-out 1 → 3 on crossbeam-channel: the producer sends to a router thread, which sends a
/// copy to each of three consumers' channels.
pub fn crossbeam_fan_out(params: RunParams) -> Result<Throughput, String> {
    let tally = Tally::new();
    let (tx, rx) = bounded::<u64>(CAPACITY);
    let mut outs = Vec::new();
    let mut threads = Vec::new();
    for name in NAMES {
        let (otx, orx) = bounded::<u64>(CAPACITY);
        outs.push(otx);
        let mut checker = Checker::new(name, &tally);
        threads.push(thread::spawn(move || {
            for v in orx.iter() {
                checker.see(v);
            }
        }));
    }
    threads.push(thread::spawn(move || {
        for v in rx.iter() {
            for out in &outs {
                if out.send(v).is_err() {
                    return;
                }
            }
        }
    }));
    let start = Instant::now();
    let mut next = 0u64;
    let mut timed_out = false;
    while next < params.events {
        if params.expired(next) {
            timed_out = true;
            break;
        }
        tx.send(next).map_err(|_| "the router hung up")?;
        next += 1;
    }
    drop(tx);
    for t in threads {
        t.join().map_err(|_| "a thread panicked")?;
    }
    let elapsed = start.elapsed();
    tally.verify(next, 3)?;
    Ok(Throughput {
        published: next,
        elapsed,
        timed_out,
    })
}

/// One of three producers' values: `producer` in the top 2 bits, its count below.
#[inline(always)]
fn tagged(producer: u64, i: u64) -> u64 {
    (producer << 62) | i
}

/// Checks that each producer's values arrive in order; hands one [`Checker`] per producer the
/// untagged values.
struct PerProducer {
    checkers: Vec<Checker>,
}

impl PerProducer {
    fn new(tally: &std::sync::Arc<Tally>) -> Self {
        PerProducer {
            checkers: NAMES.iter().map(|n| Checker::new(n, tally)).collect(),
        }
    }

    #[inline(always)]
    fn see(&mut self, v: u64) {
        let p = (v >> 62) as usize;
        if let Some(c) = self.checkers.get_mut(p) {
            c.see(v & ((1 << 62) - 1));
        }
    }
}

/// Fan-in 3 → 1 on byteor: three ingresses (a producer thread each, `events / 3` events)
/// merged (an inserted merge) into one checking stage.
pub fn fan_in(params: RunParams) -> Result<Throughput, String> {
    let tally = Tally::new();
    let per = params.events / 3;
    let mut g = LaneGraph::builder("fanin");
    let mut per_producer = PerProducer::new(&tally);
    let (s_in, s_out) = g.stage(
        "merged",
        lane_fn(move |v: &u64, _: &mut Emitter<'_, u64>| {
            per_producer.see(*v);
            Ok(())
        }),
    );
    let out = g.egress::<u64>("out");
    g.connect(&s_out, &out);
    let mut inputs = Vec::new();
    for name in NAMES {
        let input = g.ingress::<u64>(&format!("{name}_in"));
        g.connect_with(
            &input,
            &s_in,
            LaneIntent::events().capacity(CAPACITY as u32),
        );
        inputs.push(input);
    }
    let (mut ends, control) = g
        .build()
        .map_err(|e| format!("build: {e}"))?
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let producers: Vec<_> = inputs
        .iter()
        .map(|i| ends.producer(i).ok_or("no producer"))
        .collect::<Result<_, _>>()?;
    let start = Instant::now();
    let handles: Vec<_> = producers
        .into_iter()
        .enumerate()
        .map(|(k, mut producer)| {
            thread::spawn(move || {
                for i in 0..per {
                    if params.expired(i) {
                        return (i, true);
                    }
                    if producer
                        .publish(|slot| *slot = tagged(k as u64, i))
                        .is_err()
                    {
                        return (i, false);
                    }
                }
                (per, false)
            })
        })
        .collect();
    let mut published = Vec::new();
    let mut timed_out = false;
    for h in handles {
        let (n, t) = h.join().map_err(|_| "a producer panicked")?;
        published.push(n);
        timed_out |= t;
    }
    control.join().map_err(|e| format!("join: {e}"))?;
    let elapsed = start.elapsed();
    drop(ends);
    let n = published.iter().copied().min().unwrap_or(0);
    if !timed_out {
        tally.verify(n, 3)?;
    }
    Ok(Throughput {
        published: published.iter().sum(),
        elapsed,
        timed_out,
    })
}

/// Fan-in 3 → 1 on crossbeam-channel: three producer threads, a channel each, a merge thread
/// forwarding into one channel, one consumer.
pub fn crossbeam_fan_in(params: RunParams) -> Result<Throughput, String> {
    let tally = Tally::new();
    let per = params.events / 3;
    let (mtx, mrx) = bounded::<u64>(CAPACITY);
    let mut per_producer = PerProducer::new(&tally);
    let consumer = thread::spawn(move || {
        for v in mrx.iter() {
            per_producer.see(v);
        }
    });
    let mut receivers = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..3 {
        let (tx, rx) = bounded::<u64>(CAPACITY);
        senders.push(tx);
        receivers.push(rx);
    }
    let merge = thread::spawn(move || {
        let mut sel = crossbeam_channel::Select::new();
        for rx in &receivers {
            sel.recv(rx);
        }
        let mut open = receivers.len();
        while open > 0 {
            let op = sel.select();
            let k = op.index();
            match op.recv(&receivers[k]) {
                Ok(v) => {
                    if mtx.send(v).is_err() {
                        return;
                    }
                }
                Err(_) => {
                    sel.remove(k);
                    open -= 1;
                }
            }
        }
    });
    let start = Instant::now();
    let handles: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(k, tx)| {
            thread::spawn(move || {
                for i in 0..per {
                    if params.expired(i) {
                        return (i, true);
                    }
                    if tx.send(tagged(k as u64, i)).is_err() {
                        return (i, false);
                    }
                }
                (per, false)
            })
        })
        .collect();
    let mut published = Vec::new();
    let mut timed_out = false;
    for h in handles {
        let (n, t) = h.join().map_err(|_| "a producer panicked")?;
        published.push(n);
        timed_out |= t;
    }
    merge.join().map_err(|_| "the merge panicked")?;
    consumer.join().map_err(|_| "the consumer panicked")?;
    let elapsed = start.elapsed();
    let n = published.iter().copied().min().unwrap_or(0);
    if !timed_out {
        tally.verify(n, 3)?;
    }
    Ok(Throughput {
        published: published.iter().sum(),
        elapsed,
        timed_out,
    })
}
