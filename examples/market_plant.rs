//! A market-data plant as a LaneGraph, in one process.
//!
//! ```text
//! cargo run --release --example market_plant
//! ```
//!
//! Raw packets → `parse` → quotes, broadcast to `book`, `risk` and `audit` (a `FanoutBroadcast`
//! lane: each sees every quote); their decisions merge into one stream (an inserted merge) over
//! `SequencedSlots` lanes (inserted bridges change the lane kind) and leave through
//! `decisions_out`. A deliberately slow `analytics` consumer taps the quotes over a `Drop`
//! connection inside the blocking plant: it loses quotes (counted) but never slows the plant.
//! Then the same plant with `on_full = Drop` everywhere — the quotes on a lossy broadcast lane —
//! and a consumer that stops reading for a while: the plant never waits, and every event lost
//! is counted. Prints per-lane published / delivered / dropped / lost (each lane's counts add
//! up) and the end-to-end throughput.

use std::time::{Duration, Instant};

use byteor::abi::ShmEvent;
use byteor::exec::lane_graph::{lane_fn, Emitter, LaneGraph};
use byteor::exec::StageError;
use byteor::plan::LaneIntent;
use byteor::vocab::{LaneKind, OnFull};

const PACKETS: u64 = 2_000_000;

/// A raw packet off the wire: 32 bytes of a made-up fixed-width format.
#[derive(Debug, Default, Clone, Copy)]
struct Packet {
    bytes: [u8; 32],
}

/// A parsed quote: plain data (`ShmEvent`), so it may travel on a lossy broadcast lane.
#[derive(Debug, Default, Clone, Copy, ShmEvent)]
#[repr(C)]
struct Quote {
    seq: u64,
    symbol: u64,
    bid: i64,
    ask: i64,
}

/// What a consumer of quotes decided.
#[derive(Debug, Default, Clone, Copy)]
struct Decision {
    seq: u64,
    /// 0 book, 1 risk, 2 audit.
    by: u8,
    accept: bool,
}

fn packet(i: u64) -> Packet {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&i.to_le_bytes());
    bytes[8..12].copy_from_slice(&((i % 500) as u32).to_le_bytes());
    bytes[12..20].copy_from_slice(&(10_000 + (i % 97) as i64).to_le_bytes());
    bytes[20..28].copy_from_slice(&(10_001 + (i % 89) as i64).to_le_bytes());
    Packet { bytes }
}

fn parse(p: &Packet, out: &mut Emitter<'_, Quote>) -> Result<(), StageError> {
    let word = |at: usize| u64::from_le_bytes(p.bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    let quote = Quote {
        seq: word(0),
        symbol: u64::from(u32::from_le_bytes(
            p.bytes[8..12].try_into().unwrap_or([0; 4]),
        )),
        bid: word(12) as i64,
        ask: word(20) as i64,
    };
    if quote.ask < quote.bid {
        return Ok(()); // crossed: not a quote to act on
    }
    out.emit(|slot| *slot = quote)
}

fn decide(by: u8) -> impl FnMut(&Quote, &mut Emitter<'_, Decision>) -> Result<(), StageError> {
    move |q, out| {
        let accept = match by {
            0 => q.ask - q.bid < 50,
            1 => q.symbol != 13,
            _ => true,
        };
        out.emit(|slot| {
            *slot = Decision {
                seq: q.seq,
                by,
                accept,
            }
        })
    }
}

fn run(on_full: OnFull, pause_consumer: bool) -> Result<(), Box<dyn std::error::Error>> {
    let mut g = LaneGraph::builder("plant");
    g.on_full(on_full);
    let packets = g.ingress::<Packet>("packets_in");
    let (parse_in, quotes) = g.stage("parse", lane_fn(parse));
    // Quotes are plain data: under `Drop` their broadcast lane is the lossy one.
    g.plain_data(&quotes);
    let decisions = g.egress::<Decision>("decisions_out");
    g.connect(&packets, &parse_in);
    for (k, name) in ["book", "risk", "audit"].into_iter().enumerate() {
        let (d_in, d_out) = g.stage(name, lane_fn(decide(k as u8)));
        g.connect_with(&quotes, &d_in, LaneIntent::of(LaneKind::FanoutBroadcast));
        g.connect_with(&d_out, &decisions, LaneIntent::sequenced_slots(1000));
    }
    // The analytics tap: slow on purpose, fed over a `Drop` lane of its own.
    let (tap_in, tap_out) = g.stage("analytics", lane_fn(analytics));
    let analytics_out = g.egress::<u64>("analytics_out");
    g.connect_with(
        &quotes,
        &tap_in,
        LaneIntent::events().capacity(256).on_full(OnFull::Drop),
    );
    g.connect(&tap_out, &analytics_out);
    let pipeline = g.build()?;
    if on_full == OnFull::Block {
        println!("{}", byteor::spec::describe(pipeline.spec()));
    }
    let (mut ends, control) = pipeline.spawn()?;
    let mut producer = ends.producer(&packets).ok_or("producer")?;
    let mut decisions_rx = ends.receiver(&decisions).ok_or("decisions")?;
    let mut analytics_rx = ends.receiver(&analytics_out).ok_or("analytics")?;
    let analytics_reader = std::thread::spawn(move || {
        let mut seen = 0u64;
        while let Ok(Some(_)) = analytics_rx.recv_timeout(Duration::from_secs(30)) {
            seen += 1;
        }
        seen
    });

    let started = Instant::now();
    let consumer = std::thread::spawn(move || {
        let (mut accepted, mut total, mut last) = (0u64, 0u64, [None::<u64>; 3]);
        if pause_consumer {
            std::thread::sleep(Duration::from_millis(200));
        }
        while let Ok(Some(d)) = decisions_rx.recv_timeout(Duration::from_secs(30)) {
            // Each decider's decisions arrive in quote order (a merge keeps each input's order).
            let by = &mut last[usize::from(d.by)];
            assert!(by.is_none_or(|l| d.seq > l), "decisions out of order");
            *by = Some(d.seq);
            total += 1;
            accepted += u64::from(d.accept);
        }
        (total, accepted)
    });
    for i in 0..PACKETS {
        producer.publish(|slot| *slot = packet(i))?;
    }
    drop(producer);
    let (decided, accepted) = consumer.join().map_err(|_| "consumer panicked")?;
    let elapsed = started.elapsed();
    let analyzed = analytics_reader
        .join()
        .map_err(|_| "analytics reader panicked")?;
    let report = control.join()?;

    println!("on_full = {}:", on_full.as_str());
    println!(
        "  {:<56} {:>10} {:>16} {:>10} {:>12}  adds up",
        "lane", "published", "delivered", "dropped", "lost"
    );
    for lane in &report.lanes {
        let c = &lane.counts;
        let delivered: Vec<String> = c.delivered.iter().map(u64::to_string).collect();
        let lost: Vec<String> = c.lost.iter().map(u64::to_string).collect();
        println!(
            "  {:<56} {:>10} {:>16} {:>10} {:>12}  {}",
            lane.lane,
            c.published,
            delivered.join("/"),
            c.dropped,
            lost.join("/"),
            if c.adds_up() { "yes" } else { "NO" }
        );
    }
    println!(
        "  {PACKETS} packets -> {decided} decisions received ({accepted} accepted), \
         {analyzed} quotes analyzed; {:.1} M packets/s end to end ({:.2} s)",
        PACKETS as f64 / elapsed.as_secs_f64() / 1e6,
        elapsed.as_secs_f64()
    );
    Ok(())
}

/// The analytics consumer: slow on purpose (a pause every 512 quotes), emits the symbol.
fn analytics(q: &Quote, out: &mut Emitter<'_, u64>) -> Result<(), StageError> {
    if q.seq % 512 == 0 {
        std::thread::sleep(Duration::from_micros(200));
    }
    out.emit(|slot| *slot = q.symbol)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    run(OnFull::Block, false)?;
    run(OnFull::Drop, true)
}
