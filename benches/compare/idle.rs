//! CPU time of started, idle pipelines, read from `/proc`.
//!
//! The threads a pipeline starts are found by listing `/proc/self/task` before and after it
//! starts. Their time on CPU comes from `/proc/self/task/<tid>/schedstat` (first field:
//! nanoseconds on CPU; third: time slices run, i.e. how often the thread was scheduled). As a
//! cross-check, the whole process's `utime + stime` from `/proc/self/stat` is read too, in
//! clock ticks assumed to be 100 per second (the usual `USER_HZ`).

use std::collections::BTreeSet;
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

/// CPU use of one idle pipeline over a window.
#[derive(Debug, Clone, Copy)]
pub struct IdleCpu {
    /// Threads the pipeline started.
    pub threads: usize,
    /// Their time on CPU as a percentage of one core.
    pub pipeline_pct: f64,
    /// Times per second (all threads together) they were scheduled.
    pub wakeups_per_sec: f64,
    /// The whole process's CPU time (`/proc/self/stat`), percentage of one core.
    pub process_pct: f64,
}

fn task_ids() -> Result<BTreeSet<u32>, String> {
    let dir = fs::read_dir("/proc/self/task").map_err(|e| format!("/proc/self/task: {e}"))?;
    Ok(dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect())
}

/// `(ns on CPU, time slices)` of thread `tid`.
fn schedstat(tid: u32) -> Result<(u64, u64), String> {
    let path = format!("/proc/self/task/{tid}/schedstat");
    let text = fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let fields: Vec<u64> = text
        .split_whitespace()
        .map(|f| f.parse().map_err(|e| format!("{path}: {e}")))
        .collect::<Result<_, _>>()?;
    match fields.as_slice() {
        [run, _, slices, ..] => Ok((*run, *slices)),
        _ => Err(format!("{path}: unexpected contents `{}`", text.trim())),
    }
}

/// `utime + stime` of the process, in clock ticks.
fn process_ticks() -> Result<u64, String> {
    let text =
        fs::read_to_string("/proc/self/stat").map_err(|e| format!("/proc/self/stat: {e}"))?;
    // Fields after the command name (which may contain spaces) start at field 3 (`state`);
    // utime and stime are fields 14 and 15.
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("/proc/self/stat: no `)`")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Result<u64, String> {
        fields
            .get(n - 3)
            .ok_or(format!("/proc/self/stat: no field {n}"))?
            .parse()
            .map_err(|e| format!("/proc/self/stat field {n}: {e}"))
    };
    Ok(field(14)? + field(15)?)
}

fn sum_schedstat(tids: &BTreeSet<u32>) -> Result<(u64, u64), String> {
    tids.iter().try_fold((0, 0), |(run, slices), &tid| {
        let (r, s) = schedstat(tid)?;
        Ok((run + r, slices + s))
    })
}

/// Starts a pipeline with `start`, lets it settle for `settle`, measures its CPU use over
/// `window`, then stops it with the function `start` returned.
pub fn measure<S, F>(start: S, settle: Duration, window: Duration) -> Result<IdleCpu, String>
where
    S: FnOnce() -> Result<F, String>,
    F: FnOnce() -> Result<(), String>,
{
    let before = task_ids()?;
    let stop = start()?;
    let result = (|| -> Result<IdleCpu, String> {
        thread::sleep(settle);
        let tids: BTreeSet<u32> = task_ids()?.difference(&before).copied().collect();
        let (run0, slices0) = sum_schedstat(&tids)?;
        let ticks0 = process_ticks()?;
        let t0 = Instant::now();
        thread::sleep(window);
        let (run1, slices1) = sum_schedstat(&tids)?;
        let ticks1 = process_ticks()?;
        let secs = t0.elapsed().as_secs_f64();
        Ok(IdleCpu {
            threads: tids.len(),
            pipeline_pct: (run1 - run0) as f64 / 1e9 / secs * 100.0,
            wakeups_per_sec: (slices1 - slices0) as f64 / secs,
            process_pct: (ticks1 - ticks0) as f64 / 100.0 / secs * 100.0,
        })
    })();
    let stopped = stop();
    let cpu = result?;
    stopped?;
    Ok(cpu)
}
