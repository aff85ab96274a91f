//! Statistics and printing: per-scenario tables, ratios, and the closing markdown summary.

use std::fmt::Write as _;

use crate::common::{Samples, Throughput};
use crate::idle::IdleCpu;

/// Which project a contender belongs to (the summary has one column per family).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// byteor.
    Byteor,
    /// disruptor 4.x.
    Disruptor,
    /// crossbeam-channel.
    Crossbeam,
    /// rtrb.
    Rtrb,
    /// Two atomics, no library.
    Floor,
    /// byteor itself in one process: the reference of the cross-process scenarios.
    InProcess,
    /// iceoryx2 0.10 (with `--features iceoryx2`).
    Iceoryx2,
    /// byteor's SingleRing: the reference of the LaneGraph fan-out scenario.
    SingleRing,
    /// `tokio::sync::mpsc` (the async scenario).
    TokioMpsc,
    /// flume's async API (the async scenario).
    Flume,
}

/// The peer columns of the summary, in order.
pub const PEERS: [Family; 3] = [Family::Disruptor, Family::Crossbeam, Family::Rtrb];

/// Families compared in the ratios only (the cross-process and LaneGraph scenarios).
pub const OTHERS: [Family; 5] = [
    Family::InProcess,
    Family::Iceoryx2,
    Family::SingleRing,
    Family::TokioMpsc,
    Family::Flume,
];

/// Every family byteor's latency is compared with.
const LATENCY_PEERS: [Family; 8] = [
    Family::Floor,
    Family::Disruptor,
    Family::Crossbeam,
    Family::Rtrb,
    Family::InProcess,
    Family::Iceoryx2,
    Family::TokioMpsc,
    Family::Flume,
];

impl Family {
    fn short(self) -> &'static str {
        match self {
            Family::Byteor => "byteor",
            Family::Disruptor => "disruptor",
            Family::Crossbeam => "crossbeam",
            Family::Rtrb => "rtrb",
            Family::Floor => "floor",
            Family::InProcess => "in-process",
            Family::Iceoryx2 => "iceoryx2",
            Family::SingleRing => "single-ring",
            Family::TokioMpsc => "tokio-mpsc",
            Family::Flume => "flume",
        }
    }
}

/// All runs of one contender in a throughput scenario.
#[derive(Debug, Clone)]
pub struct ThroughputRuns {
    /// Label, e.g. `byteor (parking)`.
    pub label: String,
    /// The variant alone, e.g. `parking`.
    pub variant: String,
    /// Family.
    pub family: Family,
    /// Completed runs.
    pub runs: Vec<Throughput>,
    /// The run that hit the deadline, if one did (later rounds are skipped).
    pub timeout: Option<(usize, Throughput)>,
    /// The round whose run was so slow that later rounds were skipped, if one was.
    pub slow: Option<usize>,
}

impl ThroughputRuns {
    /// Median, min, max in Mevents/s over completed runs.
    pub fn stats(&self) -> Option<(f64, f64, f64)> {
        let mut v: Vec<f64> = self.runs.iter().map(Throughput::mevents_per_sec).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some((median_sorted(&v), v[0], v[v.len() - 1]))
    }

    /// Median in Mevents/s, if there is one.
    pub fn median(&self) -> Option<f64> {
        self.stats().map(|s| s.0)
    }

    /// The rate to compare: the median, or failing that the partial rate of the run that
    /// timed out (`true` in the second field).
    pub fn comparable(&self) -> Option<(f64, bool)> {
        match (self.median(), &self.timeout) {
            (Some(m), _) => Some((m, false)),
            (None, Some((_, t))) => Some((t.mevents_per_sec(), true)),
            (None, None) => None,
        }
    }

    /// Short text for a summary cell.
    fn cell(&self) -> String {
        let mut notes = vec![self.variant.clone()];
        if self.runs.len() == 1 {
            notes.push("1 run".to_string());
        }
        if self.slow.is_some() {
            notes.push("too slow to repeat".to_string());
        }
        match (self.stats(), &self.timeout) {
            (Some((m, _, _)), None) => format!("{} ({})", rate(m), notes.join("; ")),
            (Some((m, _, _)), Some(_)) => {
                notes.push("a later round timed out".to_string());
                format!("{} ({})", rate(m), notes.join("; "))
            }
            (None, Some((_, t))) => {
                notes.push(format!("{} partial", rate(t.mevents_per_sec())));
                format!("timeout ({})", notes.join("; "))
            }
            (None, None) => format!("no runs ({})", self.variant),
        }
    }
}

/// All samples of one contender in the latency scenario.
#[derive(Debug, Clone)]
pub struct LatencyRuns {
    /// Label.
    pub label: String,
    /// Family.
    pub family: Family,
    /// Round-trip samples in ns, pooled over rounds.
    pub samples: Samples,
    /// Median of each round's p50.
    pub round_p50s: Vec<u64>,
    /// Why the contender has no samples, if it failed to finish.
    pub failure: Option<String>,
}

impl LatencyRuns {
    /// `(p50, p99, p99.9, max)` of the pooled samples.
    pub fn percentiles(&self) -> Option<(u64, u64, u64, u64)> {
        if self.samples.is_empty() {
            return None;
        }
        let mut v = self.samples.clone();
        v.sort_unstable();
        Some((
            percentile(&v, 50.0),
            percentile(&v, 99.0),
            percentile(&v, 99.9),
            v[v.len() - 1],
        ))
    }
}

/// Result of the idle-CPU scenario for one contender.
#[derive(Debug, Clone)]
pub struct IdleResult {
    /// Label.
    pub label: String,
    /// Family.
    pub family: Family,
    /// Measurement, or why it failed.
    pub cpu: Result<IdleCpu, String>,
}

/// One scenario's results.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Throughput scenario.
    Throughput(Vec<ThroughputRuns>),
    /// Ping-pong latency scenario.
    Latency(Vec<LatencyRuns>),
    /// Idle CPU scenario.
    Idle(Vec<IdleResult>),
}

/// A finished scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Letter and title, e.g. `a. 1P -> 1 stage, single publish`.
    pub title: String,
    /// Results.
    pub outcome: Outcome,
}

/// `byteor / peer` throughput, marked when either side only has a timed-out partial rate.
fn ratio(byteor: &ThroughputRuns, peer: &ThroughputRuns) -> Option<(f64, &'static str)> {
    let (b, b_partial) = byteor.comparable()?;
    let (p, p_partial) = peer.comparable()?;
    let note = match (b_partial, p_partial) {
        (false, false) => "",
        (false, true) => " (vs its timed-out partial rate)",
        (true, false) => " (byteor timed out: partial rate)",
        (true, true) => " (both timed out: partial rates)",
    };
    Some((b / p, note))
}

/// `byteor / peer` round by round: `(median, min, max, rounds)` of the ratios of runs from the
/// same round. Both contenders run back to back within a round, so a change in the host's speed
/// between rounds (a noisy neighbour, a migrated vCPU) cancels out of each ratio; the ratio of
/// medians can mix a fast round of one with a slow round of the other.
fn paired(byteor: &ThroughputRuns, peer: &ThroughputRuns) -> Option<(f64, f64, f64, usize)> {
    // Completed runs are kept in round order, and a contender that stops early (timeout, too
    // slow) stops for all later rounds, so the two lists line up from round 1.
    let mut v: Vec<f64> = byteor
        .runs
        .iter()
        .zip(&peer.runs)
        .map(|(b, p)| b.mevents_per_sec() / p.mevents_per_sec())
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some((median_sorted(&v), v[0], v[v.len() - 1], v.len()))
}

/// A rate with enough digits to tell collapsed runs apart.
pub fn rate(mevents_per_sec: f64) -> String {
    if mevents_per_sec >= 10.0 {
        format!("{mevents_per_sec:.1}")
    } else if mevents_per_sec >= 1.0 {
        format!("{mevents_per_sec:.2}")
    } else {
        format!("{mevents_per_sec:.3}")
    }
}

fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile of sorted `v`.
pub fn percentile(v: &[u64], p: f64) -> u64 {
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The detailed table of one scenario.
pub fn detail(s: &Scenario) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n== {} ==", s.title);
    match &s.outcome {
        Outcome::Throughput(rows) => {
            let _ = writeln!(
                out,
                "{:<44} {:>9} {:>9} {:>9}  runs   (Mevents/s)",
                "implementation", "median", "min", "max"
            );
            for r in rows {
                match r.stats() {
                    Some((m, lo, hi)) => {
                        let _ = write!(
                            out,
                            "{:<44} {:>9} {:>9} {:>9}  {:>4}",
                            r.label,
                            rate(m),
                            rate(lo),
                            rate(hi),
                            r.runs.len()
                        );
                    }
                    None => {
                        let _ = write!(
                            out,
                            "{:<44} {:>9} {:>9} {:>9}  {:>4}",
                            r.label, "-", "-", "-", 0
                        );
                    }
                }
                if let Some(round) = r.slow {
                    let _ = write!(
                        out,
                        "   round {} was too slow to repeat; later rounds skipped",
                        round + 1
                    );
                }
                if let Some((round, t)) = &r.timeout {
                    let _ = write!(
                        out,
                        "   timeout in round {}: {} events in {:.1} s ({} Mev/s); later rounds skipped",
                        round + 1,
                        t.published,
                        t.elapsed.as_secs_f64(),
                        rate(t.mevents_per_sec())
                    );
                }
                let _ = writeln!(out);
            }
            let ratios: Vec<String> = rows
                .iter()
                .filter(|b| b.family == Family::Byteor)
                .flat_map(|b| {
                    rows.iter()
                        .filter(|p| p.family != Family::Byteor)
                        .filter_map(move |p| {
                            let (r, note) = ratio(b, p)?;
                            let mut line = format!("  {} / {} = {r:.2}x{note}", b.label, p.label);
                            if let Some((m, lo, hi, n)) = paired(b, p) {
                                let _ = write!(
                                    line,
                                    "; round by round: median {m:.2}x, {lo:.2}x..{hi:.2}x over {n}"
                                );
                            }
                            Some(line)
                        })
                })
                .collect();
            if !ratios.is_empty() {
                let _ = writeln!(
                    out,
                    "byteor's throughput relative to each peer (median / median; > 1 = byteor faster):"
                );
                for r in ratios {
                    let _ = writeln!(out, "{r}");
                }
            }
        }
        Outcome::Latency(rows) => {
            let _ = writeln!(
                out,
                "{:<44} {:>8} {:>8} {:>8} {:>9} {:>12}   (round trip, ns)",
                "implementation", "p50", "p99", "p99.9", "max", "p50 min..max"
            );
            for r in rows {
                match (r.percentiles(), &r.failure) {
                    (Some((p50, p99, p999, max)), _) => {
                        let lo = r.round_p50s.iter().min().copied().unwrap_or(0);
                        let hi = r.round_p50s.iter().max().copied().unwrap_or(0);
                        let _ = writeln!(
                            out,
                            "{:<44} {p50:>8} {p99:>8} {p999:>8} {max:>9} {:>12}",
                            r.label,
                            format!("{lo}..{hi}")
                        );
                    }
                    (None, failure) => {
                        let _ = writeln!(
                            out,
                            "{:<44} failed: {}",
                            r.label,
                            failure.as_deref().unwrap_or("no samples")
                        );
                    }
                }
            }
            let p50 = |f: Family| {
                rows.iter()
                    .find(|r| r.family == f)
                    .and_then(|r| Some((r.label.as_str(), r.percentiles()?.0)))
            };
            if let Some((bl, b)) = p50(Family::Byteor) {
                let _ = writeln!(out, "byteor's p50 relative to each (> 1 = byteor slower):");
                for f in LATENCY_PEERS {
                    if let Some((pl, p)) = p50(f) {
                        let _ = writeln!(out, "  {bl} / {pl} = {:.2}x", b as f64 / p as f64);
                    }
                }
            }
        }
        Outcome::Idle(rows) => {
            for r in rows {
                match &r.cpu {
                    Ok(c) => {
                        let _ = writeln!(
                            out,
                            "{:<44} {:>7.2}% of one core over {} threads, {:.0} wake-ups/s \
                             (process total from /proc/self/stat at 100 Hz: {:.1}%)",
                            r.label, c.pipeline_pct, c.threads, c.wakeups_per_sec, c.process_pct
                        );
                    }
                    Err(e) => {
                        let _ = writeln!(out, "{:<44} failed: {e}", r.label);
                    }
                }
            }
        }
    }
    out
}

/// The closing markdown table: one row per byteor variant (or per scenario for latency and
/// idle CPU); peer cells show each peer's best variant.
pub fn summary(scenarios: &[Scenario]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | byteor | disruptor | crossbeam | rtrb | ratios (byteor / peer) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for s in scenarios {
        match &s.outcome {
            Outcome::Throughput(rows) => {
                // A completed variant beats one that timed out; then the higher rate wins.
                let best = |f: Family| {
                    let key = |r: &ThroughputRuns| match r.comparable() {
                        Some((v, partial)) => (!partial, v),
                        None => (false, -1.0),
                    };
                    rows.iter().filter(|r| r.family == f).max_by(|a, b| {
                        let (ka, kb) = (key(a), key(b));
                        ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
                    })
                };
                for b in rows.iter().filter(|r| r.family == Family::Byteor) {
                    let mut line = format!("| {} | {} |", s.title, b.cell());
                    let mut ratios = Vec::new();
                    for f in PEERS {
                        match best(f) {
                            Some(p) => {
                                let _ = write!(line, " {} |", p.cell());
                                if let Some((r, note)) = ratio(b, p) {
                                    ratios.push(format!("{r:.2}x {}{note}", f.short()));
                                }
                            }
                            None => line.push_str(" n/a |"),
                        }
                    }
                    for f in OTHERS {
                        if let Some(p) = best(f) {
                            if let Some((r, note)) = ratio(b, p) {
                                ratios.push(format!("{r:.2}x {}{note}", f.short()));
                            }
                        }
                    }
                    let _ = writeln!(out, "{line} {} |", ratios.join(", "));
                }
            }
            Outcome::Latency(rows) => {
                let cell = |f: Family| {
                    rows.iter()
                        .find(|r| r.family == f)
                        .map(|r| match r.percentiles() {
                            Some((p50, p99, p999, _)) => format!("{p50} / {p99} / {p999}"),
                            None => "failed".to_string(),
                        })
                        .unwrap_or_else(|| "n/a".to_string())
                };
                let p50 = |f: Family| {
                    rows.iter()
                        .find(|r| r.family == f)
                        .and_then(|r| r.percentiles())
                        .map(|p| p.0)
                };
                let mut ratios = Vec::new();
                if let Some(b) = p50(Family::Byteor) {
                    for f in LATENCY_PEERS {
                        if let Some(p) = p50(f) {
                            let note = if f == Family::Floor {
                                format!(" (floor p50 {p} ns)")
                            } else {
                                String::new()
                            };
                            ratios.push(format!(
                                "p50 {:.2}x {}{note}",
                                b as f64 / p as f64,
                                f.short()
                            ));
                        }
                    }
                }
                let _ = writeln!(
                    out,
                    "| {} (ns p50 / p99 / p99.9) | {} | {} | {} | {} | {} |",
                    s.title,
                    cell(Family::Byteor),
                    cell(Family::Disruptor),
                    cell(Family::Crossbeam),
                    cell(Family::Rtrb),
                    ratios.join(", ")
                );
            }
            Outcome::Idle(rows) => {
                let cell = |f: Family| {
                    rows.iter()
                        .find(|r| r.family == f)
                        .map(|r| match &r.cpu {
                            Ok(c) => format!(
                                "{:.2}% of a core ({})",
                                c.pipeline_pct,
                                r.label.split_once(' ').map_or("", |x| x.1)
                            ),
                            Err(_) => "failed".to_string(),
                        })
                        .unwrap_or_else(|| "n/a".to_string())
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | |",
                    s.title,
                    cell(Family::Byteor),
                    cell(Family::Disruptor),
                    cell(Family::Crossbeam),
                    cell(Family::Rtrb)
                );
            }
        }
    }
    out
}
