//! byteor side by side with disruptor 4.x, crossbeam-channel and rtrb on identical work.
//!
//! `cargo bench -p benches --bench compare [-- --quick] [a b c d e f g]` — see
//! `benches/README.md` for the scenarios, the settings (environment variables) and how to
//! read the output. Run without `--bench` (as `cargo test --benches` does) it makes one tiny
//! smoke round of everything.

mod async_impl;
mod byteor_impl;
mod capture_impl;
mod common;
mod crossbeam_impl;
mod disruptor_impl;
mod floor;
mod idle;
mod instructions;
mod ipc;
mod lanegraph_impl;
mod report;
mod rtrb_impl;

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use byteor::prelude::WaitStrategy;
use disruptor::{BusySpin, BusySpinWithSpinLoopHint};

use common::{PingParams, Publish, RunParams, Samples, Throughput, Topology};
use report::{Family, IdleResult, LatencyRuns, Outcome, Scenario, ThroughputRuns};

const SCENARIOS: &str = "abcdefghijklm";

#[derive(Debug, Clone)]
struct Config {
    mode: &'static str,
    events: u64,
    rounds: usize,
    pings: u64,
    warmup: u64,
    idle_settle: Duration,
    idle_window: Duration,
    timeout: Duration,
    only: Vec<char>,
}

fn env_num(name: &str) -> Result<Option<u64>, String> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .map(Some)
            .map_err(|e| format!("{name}={v}: {e}")),
        Err(_) => Ok(None),
    }
}

const USAGE: &str =
    "usage: compare [--quick] [SCENARIO...]   (scenarios: a b c d e f g h i j k l m)
environment: BYTEOR_BENCH_EVENTS, BYTEOR_BENCH_ROUNDS, BYTEOR_BENCH_PINGS,
             BYTEOR_BENCH_TIMEOUT_SECS, BYTEOR_BENCH_QUICK=1";

impl Config {
    fn load() -> Result<Config, String> {
        let mut bench = false;
        let mut quick = std::env::var("BYTEOR_BENCH_QUICK").is_ok_and(|v| v == "1");
        let mut only = Vec::new();
        for arg in std::env::args().skip(1) {
            match arg.as_str() {
                "--bench" => bench = true,
                "--quick" => quick = true,
                "--help" | "-h" => return Err(USAGE.to_string()),
                s if s.len() == 1 && SCENARIOS.contains(s) => only.extend(s.chars()),
                s if s.starts_with('-') => {} // other harness flags (e.g. from cargo) are ignored
                s => return Err(format!("unknown scenario `{s}`\n{USAGE}")),
            }
        }
        let mut cfg = if !bench {
            // Run by `cargo test --benches`: a smoke round, small enough for a debug build.
            Config {
                mode: "smoke (no --bench flag: run by cargo test)",
                events: 20_000,
                rounds: 1,
                pings: 2_000,
                warmup: 200,
                idle_settle: Duration::from_millis(50),
                idle_window: Duration::from_millis(300),
                timeout: Duration::from_secs(20),
                only,
            }
        } else if quick {
            Config {
                mode: "quick",
                events: 200_000,
                rounds: 3,
                pings: 20_000,
                warmup: 2_000,
                idle_settle: Duration::from_millis(200),
                idle_window: Duration::from_secs(2),
                timeout: Duration::from_secs(60),
                only,
            }
        } else {
            Config {
                mode: "full",
                events: 10_000_000,
                rounds: 7,
                pings: 100_000,
                warmup: 10_000,
                idle_settle: Duration::from_millis(200),
                idle_window: Duration::from_secs(2),
                timeout: Duration::from_secs(60),
                only,
            }
        };
        if let Some(n) = env_num("BYTEOR_BENCH_EVENTS")? {
            cfg.events = n.max(1);
        }
        if let Some(n) = env_num("BYTEOR_BENCH_ROUNDS")? {
            cfg.rounds = n.max(1) as usize;
        }
        if let Some(n) = env_num("BYTEOR_BENCH_PINGS")? {
            cfg.pings = n.max(1);
        }
        if let Some(n) = env_num("BYTEOR_BENCH_TIMEOUT_SECS")? {
            cfg.timeout = Duration::from_secs(n.max(1));
        }
        Ok(cfg)
    }

    fn wants(&self, scenario: char) -> bool {
        self.only.is_empty() || self.only.contains(&scenario)
    }
}

/// Runs `f` on its own thread and waits for it at most `limit`. A run that does not come back
/// is a hang (the producer stops publishing at its deadline, so a healthy run always returns):
/// the process reports it and exits, since its spinning threads would distort every later
/// measurement.
fn guarded<T: Send + 'static>(
    label: &str,
    limit: Duration,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name("bench-run".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| format!("cannot start a run thread: {e}"))?;
    match rx.recv_timeout(limit) {
        Ok(result) => {
            let _ = handle.join();
            result
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = handle.join();
            Err("the run panicked".to_string())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            eprintln!(
                "HANG: `{label}` did not return within {:.0} s (its producer stops publishing \
                 at the run deadline, so this is a stall while draining). Exiting.",
                limit.as_secs_f64()
            );
            std::process::exit(3);
        }
    }
}

type RunFn = Arc<dyn Fn(RunParams) -> Result<Throughput, String> + Send + Sync>;

struct Contender {
    family: Family,
    variant: String,
    run: RunFn,
}

impl Contender {
    fn label(&self) -> String {
        match self.family {
            Family::Crossbeam => "crossbeam-channel".to_string(),
            Family::InProcess => format!("byteor in-process ({})", self.variant),
            Family::SingleRing => format!("byteor SingleRing ({})", self.variant),
            Family::Rtrb => format!("rtrb ({})", self.variant),
            f => format!("{} ({})", family_name(f), self.variant),
        }
    }
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::Byteor => "byteor",
        Family::Disruptor => "disruptor",
        Family::Crossbeam => "crossbeam-channel",
        Family::Rtrb => "rtrb",
        Family::Floor => "floor",
        Family::InProcess => "byteor in-process",
        Family::Iceoryx2 => "iceoryx2",
        Family::SingleRing => "byteor SingleRing",
        Family::TokioMpsc => "tokio::sync::mpsc",
        Family::Flume => "flume",
    }
}

fn byteor(topology: Topology, strategy: WaitStrategy, publish: Publish) -> Contender {
    Contender {
        family: Family::Byteor,
        variant: strategy.as_str().to_string(),
        run: Arc::new(move |p| byteor_impl::throughput(topology, strategy, publish, p)),
    }
}

fn disruptor_busy_spin(topology: Topology, publish: Publish) -> Contender {
    Contender {
        family: Family::Disruptor,
        variant: "BusySpin".to_string(),
        run: Arc::new(move |p| disruptor_impl::throughput(topology, BusySpin, publish, p)),
    }
}

fn disruptor_spin_hint(topology: Topology, publish: Publish) -> Contender {
    Contender {
        family: Family::Disruptor,
        variant: "BusySpinWithSpinLoopHint".to_string(),
        run: Arc::new(move |p| {
            disruptor_impl::throughput(topology, BusySpinWithSpinLoopHint, publish, p)
        }),
    }
}

fn crossbeam(stages: usize) -> Contender {
    Contender {
        family: Family::Crossbeam,
        variant: "bounded".to_string(),
        run: Arc::new(move |p| crossbeam_impl::throughput(stages, p)),
    }
}

fn rtrb(stages: usize, publish: Publish) -> Contender {
    Contender {
        family: Family::Rtrb,
        variant: match publish {
            Publish::Single => "push, chunked reads".to_string(),
            Publish::Batch => "64-slot write chunks".to_string(),
        },
        run: Arc::new(move |p| rtrb_impl::throughput(stages, publish, p)),
    }
}

/// Order of contenders in round `round`: rotated, so no implementation always runs first.
fn rotation(n: usize, round: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |k| (k + round) % n)
}

fn throughput_scenario(cfg: &Config, title: &str, contenders: Vec<Contender>) -> Scenario {
    eprintln!("\n-- {title}");
    let mut rows: Vec<ThroughputRuns> = contenders
        .iter()
        .map(|c| ThroughputRuns {
            label: c.label(),
            variant: c.variant.clone(),
            family: c.family,
            runs: Vec::new(),
            timeout: None,
            slow: None,
        })
        .collect();
    for round in 0..cfg.rounds {
        for i in rotation(contenders.len(), round) {
            if rows[i].timeout.is_some() || rows[i].slow.is_some() {
                continue;
            }
            let c = &contenders[i];
            let label = c.label();
            let run = Arc::clone(&c.run);
            let params = RunParams {
                events: cfg.events,
                deadline: Instant::now() + cfg.timeout,
            };
            let limit = cfg.timeout + Duration::from_secs(60);
            match guarded(&label, limit, move || run(params)) {
                Ok(t) if t.timed_out => {
                    eprintln!(
                        "   round {}/{} {label:<44} timeout after {} events ({:.3} Mev/s)",
                        round + 1,
                        cfg.rounds,
                        t.published,
                        t.mevents_per_sec()
                    );
                    rows[i].timeout = Some((round, t));
                }
                Ok(t) => {
                    eprintln!(
                        "   round {}/{} {label:<44} {:>8} Mev/s ({:.2} s)",
                        round + 1,
                        cfg.rounds,
                        report::rate(t.mevents_per_sec()),
                        t.elapsed.as_secs_f64()
                    );
                    if t.elapsed > cfg.timeout / 4 && round + 1 < cfg.rounds {
                        eprintln!("   (longer than a quarter of the timeout: not repeated)");
                        rows[i].slow = Some(round);
                    }
                    rows[i].runs.push(t);
                }
                Err(e) => {
                    eprintln!("FAILED: {title}: {label}, round {}: {e}", round + 1);
                    std::process::exit(1);
                }
            }
        }
    }
    Scenario {
        title: title.to_string(),
        outcome: Outcome::Throughput(rows),
    }
}

type PingFn = Arc<dyn Fn(PingParams) -> Result<Samples, String> + Send + Sync>;

fn latency_scenario(cfg: &Config, title: &str) -> Scenario {
    let contenders: Vec<(String, Family, PingFn)> = vec![
        (
            "byteor (busy_spin)".to_string(),
            Family::Byteor,
            Arc::new(byteor_impl::ping_pong),
        ),
        (
            "disruptor (BusySpin)".to_string(),
            Family::Disruptor,
            Arc::new(|p| disruptor_impl::ping_pong(BusySpin, p)),
        ),
        (
            "crossbeam-channel (blocking recv)".to_string(),
            Family::Crossbeam,
            Arc::new(crossbeam_impl::ping_pong),
        ),
        (
            "rtrb (spinning push/pop)".to_string(),
            Family::Rtrb,
            Arc::new(rtrb_impl::ping_pong),
        ),
        (
            "floor (two padded AtomicU64)".to_string(),
            Family::Floor,
            Arc::new(floor::ping_pong),
        ),
    ];
    ping_scenario(cfg, title, contenders)
}

fn ping_scenario(cfg: &Config, title: &str, contenders: Vec<(String, Family, PingFn)>) -> Scenario {
    eprintln!("\n-- {title}");
    let mut rows: Vec<LatencyRuns> = contenders
        .iter()
        .map(|(label, family, _)| LatencyRuns {
            label: label.clone(),
            family: *family,
            samples: Vec::new(),
            round_p50s: Vec::new(),
            failure: None,
        })
        .collect();
    for round in 0..cfg.rounds {
        for i in rotation(contenders.len(), round) {
            if rows[i].failure.is_some() {
                continue;
            }
            let (label, _, run) = &contenders[i];
            let run = Arc::clone(run);
            let params = PingParams {
                pings: cfg.pings,
                warmup: cfg.warmup,
                deadline: Instant::now() + cfg.timeout,
            };
            let limit = cfg.timeout + Duration::from_secs(60);
            match guarded(label, limit, move || run(params)) {
                Ok(mut samples) => {
                    samples.sort_unstable();
                    let p50 = report::percentile(&samples, 50.0);
                    eprintln!(
                        "   round {}/{} {label:<44} p50 {p50} ns, p99 {} ns",
                        round + 1,
                        cfg.rounds,
                        report::percentile(&samples, 99.0)
                    );
                    rows[i].round_p50s.push(p50);
                    rows[i].samples.extend(samples);
                }
                Err(e) => {
                    eprintln!("   round {}/{} {label}: {e}", round + 1, cfg.rounds);
                    rows[i].failure = Some(e);
                }
            }
        }
    }
    Scenario {
        title: title.to_string(),
        outcome: Outcome::Latency(rows),
    }
}

fn idle_scenario(cfg: &Config, title: &str) -> Scenario {
    eprintln!("\n-- {title}");
    let (settle, window) = (cfg.idle_settle, cfg.idle_window);
    let limit = settle + window + Duration::from_secs(60);
    let byteor = guarded("byteor idle", limit, move || {
        Ok(idle::measure(
            || byteor_impl::idle_pipeline(WaitStrategy::Parking),
            settle,
            window,
        ))
    })
    .and_then(|r| r);
    let disruptor = guarded("disruptor idle", limit, move || {
        Ok(idle::measure(
            || Ok(disruptor_impl::idle_pipeline(BusySpin)),
            settle,
            window,
        ))
    })
    .and_then(|r| r);
    let rows = vec![
        IdleResult {
            label: "byteor parking (default)".to_string(),
            family: Family::Byteor,
            cpu: byteor,
        },
        IdleResult {
            label: "disruptor BusySpin".to_string(),
            family: Family::Disruptor,
            cpu: disruptor,
        },
    ];
    for r in &rows {
        match &r.cpu {
            Ok(c) => eprintln!("   {:<44} {:.2}% of one core", r.label, c.pipeline_pct),
            Err(e) => eprintln!("   {:<44} failed: {e}", r.label),
        }
    }
    Scenario {
        title: title.to_string(),
        outcome: Outcome::Idle(rows),
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|e| format!("unavailable ({e})"))
}

/// Median cost of reading the clock twice, which every latency sample includes once.
fn timer_overhead_ns() -> u64 {
    let mut v: Vec<u64> = (0..10_000)
        .map(|_| {
            let t0 = Instant::now();
            t0.elapsed().as_nanos() as u64
        })
        .collect();
    v.sort_unstable();
    v[v.len() / 2]
}

/// Scenario h's contenders: byteor on shared memory, the same in one process, iceoryx2.
fn ipc_throughput_contenders() -> Vec<Contender> {
    #[allow(unused_mut)]
    let mut contenders = vec![
        Contender {
            family: Family::Byteor,
            variant: "shm, busy_spin".to_string(),
            run: Arc::new(ipc::shm_throughput),
        },
        Contender {
            family: Family::InProcess,
            variant: "busy_spin".to_string(),
            run: Arc::new(ipc::in_process_throughput),
        },
    ];
    #[cfg(feature = "iceoryx2")]
    contenders.push(Contender {
        family: Family::Iceoryx2,
        variant: "publish-subscribe, spin".to_string(),
        run: Arc::new(ipc::iceoryx::throughput),
    });
    contenders
}

/// Scenario i's contenders.
fn ipc_ping_contenders() -> Vec<(String, Family, PingFn)> {
    #[allow(unused_mut)]
    let mut contenders: Vec<(String, Family, PingFn)> = vec![
        (
            "byteor (shm, busy_spin)".to_string(),
            Family::Byteor,
            Arc::new(ipc::shm_ping_pong),
        ),
        (
            "byteor in-process (busy_spin)".to_string(),
            Family::InProcess,
            Arc::new(ipc::in_process_ping_pong),
        ),
    ];
    #[cfg(feature = "iceoryx2")]
    contenders.push((
        "iceoryx2 (publish-subscribe, spin)".to_string(),
        Family::Iceoryx2,
        Arc::new(ipc::iceoryx::ping_pong),
    ));
    contenders
}

fn main() {
    // A consumer process of the cross-process scenarios (this binary, started again).
    if let Some(code) = ipc::child_main() {
        std::process::exit(code);
    }
    // One contender alone, for `--instructions` (this binary under callgrind).
    if let Some(code) = instructions::one_main() {
        std::process::exit(code);
    }
    if std::env::args().any(|a| a == "--instructions") {
        std::process::exit(instructions::instructions_main());
    }
    let cfg = match Config::load() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    // The checkers compare sums against this closed form; make sure it is right.
    for n in [0u64, 1, 2, 3, 64, 1001] {
        assert_eq!(common::expected_sum(n), (0..n).sum::<u64>());
    }
    let started = Instant::now();
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let load_before = loadavg();
    println!(
        "byteor compare — mode {}: {} events x {} rounds, capacity {}, {} pings, timeout {} s",
        cfg.mode,
        cfg.events,
        cfg.rounds,
        common::CAPACITY,
        cfg.pings,
        cfg.timeout.as_secs()
    );
    println!(
        "host: {cores} cores available; load average before: {load_before}; \
         timer overhead ~{} ns per sample",
        timer_overhead_ns()
    );

    let single = Publish::Single;
    let batch = Publish::Batch;
    let mut scenarios = Vec::new();
    if cfg.wants('a') {
        let t = Topology::One;
        scenarios.push(throughput_scenario(
            &cfg,
            "a. 1P -> 1 stage, single publish",
            vec![
                byteor(t, WaitStrategy::Parking, single),
                byteor(t, WaitStrategy::BusySpin, single),
                disruptor_busy_spin(t, single),
                disruptor_spin_hint(t, single),
                crossbeam(1),
                rtrb(1, single),
            ],
        ));
    }
    if cfg.wants('b') {
        let t = Topology::One;
        scenarios.push(throughput_scenario(
            &cfg,
            "b. 1P -> 1 stage, batches of 64",
            vec![
                byteor(t, WaitStrategy::Parking, batch),
                byteor(t, WaitStrategy::BusySpin, batch),
                disruptor_busy_spin(t, batch),
                disruptor_spin_hint(t, batch),
                rtrb(1, batch),
            ],
        ));
    }
    if cfg.wants('c') {
        let t = Topology::Chain3;
        scenarios.push(throughput_scenario(
            &cfg,
            "c. 1P -> 3-stage chain a -> b -> c",
            vec![
                byteor(t, WaitStrategy::Parking, single),
                byteor(t, WaitStrategy::BusySpin, single),
                byteor(t, WaitStrategy::Yielding, single),
                disruptor_busy_spin(t, single),
                disruptor_spin_hint(t, single),
                crossbeam(3),
                rtrb(3, single),
            ],
        ));
    }
    if cfg.wants('d') {
        let t = Topology::Diamond;
        scenarios.push(throughput_scenario(
            &cfg,
            "d. diamond a; b, c after a; d after b, c",
            vec![
                byteor(t, WaitStrategy::Parking, single),
                byteor(t, WaitStrategy::BusySpin, single),
                byteor(t, WaitStrategy::Yielding, single),
                disruptor_busy_spin(t, single),
                disruptor_spin_hint(t, single),
            ],
        ));
    }
    if cfg.wants('e') {
        let t = Topology::Multicast3;
        scenarios.push(throughput_scenario(
            &cfg,
            "e. multicast 1P -> 3 parallel stages",
            vec![
                byteor(t, WaitStrategy::Parking, single),
                byteor(t, WaitStrategy::BusySpin, single),
                byteor(t, WaitStrategy::Yielding, single),
                disruptor_busy_spin(t, single),
                disruptor_spin_hint(t, single),
            ],
        ));
    }
    if cfg.wants('f') {
        scenarios.push(latency_scenario(&cfg, "f. ping-pong round trip"));
    }
    if cfg.wants('g') {
        scenarios.push(idle_scenario(&cfg, "g. idle CPU, empty 3-stage pipeline"));
    }
    if cfg.wants('h') {
        scenarios.push(throughput_scenario(
            &cfg,
            "h. cross-process 1P -> 1 stage (u64)",
            ipc_throughput_contenders(),
        ));
    }
    if cfg.wants('j') {
        scenarios.push(throughput_scenario(
            &cfg,
            "j. LaneGraph fan-out 1 -> 3",
            vec![
                Contender {
                    family: Family::Byteor,
                    variant: "lanegraph, events lanes + router".to_string(),
                    run: Arc::new(|p| lanegraph_impl::fan_out(false, p)),
                },
                Contender {
                    family: Family::Byteor,
                    variant: "lanegraph, broadcast lane".to_string(),
                    run: Arc::new(|p| lanegraph_impl::fan_out(true, p)),
                },
                Contender {
                    family: Family::Crossbeam,
                    variant: "router thread".to_string(),
                    run: Arc::new(lanegraph_impl::crossbeam_fan_out),
                },
                Contender {
                    family: Family::SingleRing,
                    variant: "multicast, parking".to_string(),
                    run: Arc::new(|p| {
                        byteor_impl::throughput(
                            Topology::Multicast3,
                            WaitStrategy::Parking,
                            Publish::Single,
                            p,
                        )
                    }),
                },
            ],
        ));
    }
    if cfg.wants('k') {
        scenarios.push(throughput_scenario(
            &cfg,
            "k. LaneGraph fan-in 3 -> 1",
            vec![
                Contender {
                    family: Family::Byteor,
                    variant: "lanegraph, merge".to_string(),
                    run: Arc::new(lanegraph_impl::fan_in),
                },
                Contender {
                    family: Family::Crossbeam,
                    variant: "merge thread".to_string(),
                    run: Arc::new(lanegraph_impl::crossbeam_fan_in),
                },
            ],
        ));
    }
    if cfg.wants('l') {
        scenarios.push(throughput_scenario(
            &cfg,
            "l. async: a tokio task publishes, a consumer task awaits",
            vec![
                Contender {
                    family: Family::Byteor,
                    variant: "publish_async -> egress recv().await".to_string(),
                    run: Arc::new(async_impl::byteor_throughput),
                },
                Contender {
                    family: Family::TokioMpsc,
                    variant: "bounded 1024".to_string(),
                    run: Arc::new(async_impl::tokio_throughput),
                },
                Contender {
                    family: Family::Flume,
                    variant: "bounded 1024, async API".to_string(),
                    run: Arc::new(async_impl::flume_throughput),
                },
            ],
        ));
        scenarios.push(ping_scenario(
            &cfg,
            "l. async request/response round trip (tokio tasks)",
            vec![
                (
                    "byteor (publish_async, egress recv)".to_string(),
                    Family::Byteor,
                    Arc::new(async_impl::byteor_ping),
                ),
                (
                    "tokio::sync::mpsc (bounded 1024)".to_string(),
                    Family::TokioMpsc,
                    Arc::new(async_impl::tokio_ping),
                ),
                (
                    "tokio::sync::mpsc, echo on a thread".to_string(),
                    Family::TokioMpsc,
                    Arc::new(async_impl::tokio_thread_ping),
                ),
                (
                    "flume (async API)".to_string(),
                    Family::Flume,
                    Arc::new(async_impl::flume_ping),
                ),
            ],
        ));
    }
    if cfg.wants('i') {
        scenarios.push(ping_scenario(
            &cfg,
            "i. cross-process ping-pong round trip",
            ipc_ping_contenders(),
        ));
    }

    if cfg.wants('m') {
        scenarios.push(throughput_scenario(
            &cfg,
            "m. capture cost: the orders plan (4 built-in stages) with and without capture",
            vec![
                Contender {
                    family: Family::Byteor,
                    variant: "run_plan, no capture".to_string(),
                    run: Arc::new(|p| capture_impl::orders(false, p)),
                },
                Contender {
                    family: Family::Byteor,
                    variant: "run_plan, --capture (journal)".to_string(),
                    run: Arc::new(|p| capture_impl::orders(true, p)),
                },
            ],
        ));
    }
    for s in &scenarios {
        print!("{}", report::detail(s));
    }
    println!("\n== summary (Mevents/s unless noted; best variant of each peer) ==\n");
    print!("{}", report::summary(&scenarios));
    println!(
        "\nload average before: {load_before}; after: {}; {} cores; wall time {:.0} s",
        loadavg(),
        cores,
        started.elapsed().as_secs_f64()
    );
}
