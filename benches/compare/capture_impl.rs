//! What capture costs: the checked-in `orders` plan (four built-in stages on one ring) run by
//! `byteor::ops::run::run_plan` with the built-in generator, with and without `--capture`
//! (every published event appended to a journal in a temporary directory).

use std::sync::atomic::Ordering;
use std::time::Instant;

use byteor::ops::builtin::builtin_kinds;
use byteor::ops::capture::{Capture, CaptureOptions};
use byteor::ops::run::{run_plan, RunOptions};
use byteor::plan::PipelinePlanV2;

use crate::common::{RunParams, Throughput};

const ORDERS: &str = include_str!("../../examples/plans/orders.toml");

/// Runs the orders plan for `params.events` events; with `capture`, into a fresh capture
/// directory (removed afterwards).
pub fn orders(capture: bool, params: RunParams) -> Result<Throughput, String> {
    let plan = PipelinePlanV2::from_toml(ORDERS).map_err(|e| e.to_string())?;
    let (single, graph) = builtin_kinds();
    let dir = std::env::temp_dir().join(format!("byteor-compare-capture-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut options = RunOptions::events(params.events);
    if capture {
        let retain = (params.events * 64).max(1 << 20);
        options.capture = Some(
            Capture::create(
                &dir,
                &plan,
                &CaptureOptions {
                    retain_bytes: retain,
                },
            )
            .map_err(|e| e.to_string())?,
        );
    }
    let stop = std::sync::Arc::clone(&options.stop);
    let deadline = params.deadline;
    let watchdog = std::thread::spawn(move || {
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let stop = std::sync::Arc::clone(&options.stop);
    let report = run_plan(&plan, &single, &graph, options).map_err(|e| e.to_string());
    let timed_out = Instant::now() >= deadline;
    stop.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    let _ = std::fs::remove_dir_all(&dir);
    let report = report?;
    if !report.complete() {
        return Err(format!("the run did not complete: {report}"));
    }
    Ok(Throughput {
        published: report.published,
        elapsed: report.elapsed,
        timed_out: timed_out && report.published < params.events,
    })
}
