//! Instructions per event, counted by `valgrind --tool=callgrind`: a figure for regressions
//! that does not move with the host's speed, as the timings do.
//!
//! `compare --instructions` starts this binary again under callgrind (`--one IMPL N`: run one
//! contender's 1P → 1 stage scenario over `N` events and exit) at two event counts and reports
//! `(I(N2) - I(N1)) / (N2 - N1)`: the instructions every event costs, publish and handling,
//! both threads together, with start-up and shut-down cancelled out. Under callgrind the
//! threads take turns on one core, so a waiting thread's loop is counted too, and how long a
//! waiter spins before it yields or parks depends on the clock: each count is the least of
//! [`RUNS`] runs (the run least disturbed by waiting), which holds within a few percent on a
//! quiet host. disruptor is left out: its consumer only busy-spins, so its count is mostly the
//! spins it made while the producer had the core (billions).

use std::process::Command;
use std::time::{Duration, Instant};

use byteor::kernel::WaitStrategy;

use crate::common::{Publish, RunParams, Topology};
use crate::{byteor_impl, rtrb_impl};

/// The contenders `--one` runs, by name.
const IMPLS: [&str; 4] = ["byteor", "byteor-batch", "rtrb", "rtrb-batch"];

/// Runs per count; the least is kept.
const RUNS: usize = 3;

/// Event counts of the two runs per contender.
const N1: u64 = 200_000;
const N2: u64 = 1_200_000;

/// `--one IMPL N`: runs contender `IMPL` over `N` events; `Some(exit code)` when the arguments
/// asked for it.
pub fn one_main() -> Option<i32> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--one")?;
    let (Some(name), Some(n)) = (args.get(at + 1), args.get(at + 2)) else {
        eprintln!(
            "usage: compare --one IMPL EVENTS  (IMPL: {})",
            IMPLS.join(", ")
        );
        return Some(2);
    };
    let Ok(events) = n.parse::<u64>() else {
        eprintln!("not a number of events: {n}");
        return Some(2);
    };
    Some(match run_one(name, events) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{name}: {e}");
            1
        }
    })
}

fn run_one(name: &str, events: u64) -> Result<(), String> {
    let params = RunParams {
        events,
        deadline: Instant::now() + Duration::from_secs(600),
    };
    let run = match name {
        "byteor" => byteor_impl::throughput(
            Topology::One,
            WaitStrategy::Parking,
            Publish::Single,
            params,
        ),
        "byteor-batch" => {
            byteor_impl::throughput(Topology::One, WaitStrategy::Parking, Publish::Batch, params)
        }
        "rtrb" => rtrb_impl::throughput(1, Publish::Single, params),
        "rtrb-batch" => rtrb_impl::throughput(1, Publish::Batch, params),
        _ => return Err(format!("unknown contender (known: {})", IMPLS.join(", "))),
    }?;
    if run.published != events {
        return Err(format!("published {} of {events}", run.published));
    }
    Ok(())
}

/// The least of [`RUNS`] counts of [`count_once`].
fn count(exe: &std::path::Path, name: &str, n: u64) -> Result<u64, String> {
    let mut least = u64::MAX;
    for _ in 0..RUNS {
        least = least.min(count_once(exe, name, n)?);
    }
    Ok(least)
}

/// Instructions callgrind counted for `--one name n`.
fn count_once(exe: &std::path::Path, name: &str, n: u64) -> Result<u64, String> {
    let out = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(exe)
        .args(["--one", name, &n.to_string()])
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("`{name}` under callgrind failed:\n{stderr}"));
    }
    stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no instruction count in callgrind's output:\n{stderr}"))
}

/// `--instructions`: the table (or why it cannot be made); the exit code.
pub fn instructions_main() -> i32 {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("cannot find this binary: {e}");
            return 2;
        }
    };
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("valgrind is not installed: `compare --instructions` needs its callgrind tool");
        return 2;
    }
    println!(
        "== instructions per event, 1P -> 1 stage (callgrind; {N1} and {N2} events, least of {RUNS} runs) =="
    );
    println!(
        "{:<16} {:>16} {:>16} {:>12}",
        "contender", "I(N1)", "I(N2)", "per event"
    );
    for name in IMPLS {
        match (count(&exe, name, N1), count(&exe, name, N2)) {
            (Ok(a), Ok(b)) => {
                let per = b.saturating_sub(a) as f64 / (N2 - N1) as f64;
                println!("{name:<16} {a:>16} {b:>16} {per:>12.1}");
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("{e}");
                return 1;
            }
        }
    }
    0
}
