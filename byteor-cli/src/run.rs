//! `run`: a plan in this process (all roles, or some over shared memory), with the built-in
//! generator; and `run --mp`, one child process per role under a supervisor.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use byteor::exec::lane_graph::GraphRegistry;
use byteor::exec::{ShmRunOptions, StageRegistry};
use byteor::ops::builtin::BuiltinEvent;
use byteor::ops::capture::{Capture, CaptureError, CaptureOptions};
use byteor::ops::policy::Environment;
use byteor::ops::profile::{Outcome, TuningProfile};
use byteor::ops::run::{run_plan, Progress, RunError, RunOptions, RunReport};
use byteor::plan::PipelinePlanV2;
use serde_json::{json, Value};

use crate::input::{load, Input, InputError};
use crate::{exit, json as schemas, Format};

/// What `run` was asked.
#[derive(Debug, Clone)]
pub(crate) struct RunArgs {
    pub plan: PathBuf,
    pub sp: bool,
    pub events: Option<u64>,
    pub rate: Option<f64>,
    pub profile: TuningProfile,
    pub shm_dir: Option<PathBuf>,
    pub roles: Vec<String>,
    pub mp: bool,
    pub journal_dir: Option<PathBuf>,
    pub quiet: bool,
    pub format: Format,
    pub heartbeat_timeout: Duration,
    pub capture: Option<PathBuf>,
    pub capture_retain_bytes: u64,
    pub env: Option<Environment>,
    pub approvals: Option<PathBuf>,
}

/// Events `--sp` publishes when `--events` is not given.
pub(crate) const SP_DEFAULT_EVENTS: u64 = 1_000_000;

/// Why `run` could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunVerbError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{0}: `run` needs a plan document (a spec in kv text names no stage kinds' parameters to resolve)")]
    NotAPlan(String),
    #[error("cannot run `{plan}`: {source}")]
    Run {
        plan: String,
        #[source]
        source: RunError,
    },
    #[error("{0}")]
    Supervise(String),
    #[error("{0}")]
    Policy(String),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Output(#[from] std::io::Error),
}

impl RunVerbError {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            RunVerbError::Input(e) => e.exit_code(),
            RunVerbError::NotAPlan(_) => exit::USAGE,
            RunVerbError::Run { source, .. } => match source {
                RunError::Resolve(_)
                | RunError::ResolveGraph(_)
                | RunError::Endpoint(_)
                | RunError::Policy(_)
                | RunError::Lower(_) => exit::INVALID,
                _ => exit::USAGE,
            },
            RunVerbError::Supervise(_) => exit::INVALID,
            RunVerbError::Policy(_) => exit::USAGE,
            RunVerbError::Capture(_) => exit::USAGE,
            RunVerbError::Output(_) => exit::USAGE,
        }
    }
}

fn read_plan(path: &Path) -> Result<PipelinePlanV2, RunVerbError> {
    match load(path)? {
        Input::Plan(plan) => {
            // Every plan rule, reported the way `validate` does.
            crate::input::lowered(path)?;
            Ok(plan)
        }
        Input::Spec(_) => Err(RunVerbError::NotAPlan(path.display().to_string())),
    }
}

/// Runs `args`: exit 0 only when the run was complete.
pub(crate) fn run(
    args: &RunArgs,
    single: &StageRegistry<BuiltinEvent>,
    graph: &GraphRegistry,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, RunVerbError> {
    let plan = read_plan(&args.plan)?;
    if args.mp {
        return crate::supervise::supervise(args, &plan, out, err);
    }
    let policy = crate::incident::policy(args.env, args.approvals.as_deref())
        .map_err(RunVerbError::Policy)?;
    let capture = match &args.capture {
        Some(dir) => Some(Capture::create(
            dir,
            &plan,
            &CaptureOptions {
                retain_bytes: args.capture_retain_bytes,
            },
        )?),
        None => None,
    };
    let stop = crate::signals::stop_flag();
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let mut options = RunOptions {
        events: args.events.or(args.sp.then_some(SP_DEFAULT_EVENTS)),
        rate: args.rate,
        profile: args.profile,
        stop,
        progress: None,
        progress_every: Duration::from_secs(1),
        journal_dir: args.journal_dir.clone(),
        shm_dir: args.shm_dir.clone(),
        roles: (!args.roles.is_empty()).then(|| args.roles.clone()),
        capture,
        policy,
        ..RunOptions::default()
    };
    options.shm_options = ShmRunOptions {
        heartbeat_timeout: args.heartbeat_timeout,
        ..ShmRunOptions::default()
    };
    if show_progress {
        options.progress = Some(Box::new(|p: &Progress| {
            let mut line = format!(
                "\r{:>6.1} s {:>14} events {:>8.2} M/s  lag",
                p.elapsed.as_secs_f64(),
                p.published,
                p.published as f64 / p.elapsed.as_secs_f64().max(1e-9) / 1e6
            );
            for (name, lag) in &p.lag {
                line.push_str(&format!(" {name} {lag}"));
            }
            let _ = write!(std::io::stderr(), "{line}\x1b[K");
        }));
    }
    if !args.quiet {
        let _ = writeln!(
            err,
            "byteor: running `{}` ({}){}; profile {}, wait strategy {:?}",
            plan.name,
            match (&args.roles, args.sp) {
                (roles, _) if !roles.is_empty() => format!("roles {}", roles.join(", ")),
                (_, true) => "every role in this process, one shot".into(),
                _ =>
                    "every role in this process; SIGINT or SIGTERM stops, drains and reports".into(),
            },
            match (&args.shm_dir, options.events) {
                (Some(dir), Some(n)) => format!(", rings in {}, {n} events", dir.display()),
                (Some(dir), None) => format!(", rings in {}", dir.display()),
                (None, Some(n)) => format!(", {n} events"),
                (None, None) => String::new(),
            },
            args.profile,
            args.profile.wait_strategy(),
        );
    }
    let report = run_plan(&plan, single, graph, options).map_err(|source| RunVerbError::Run {
        plan: plan.name.clone(),
        source,
    })?;
    if show_progress {
        let _ = writeln!(std::io::stderr());
    }
    match args.format {
        Format::Json => writeln!(out, "{}", report_json(&report))?,
        Format::Text => writeln!(out, "{report}")?,
    }
    Ok(if report.complete() {
        exit::OK
    } else {
        exit::INVALID
    })
}

/// `run --format json`'s object (`byteor.run/1`, see [`crate::json`]).
pub(crate) fn report_json(r: &RunReport) -> Value {
    json!({
        "schema": schemas::RUN_SCHEMA,
        "pipeline": r.pipeline,
        "target": r.target.as_str(),
        "fingerprint": r.fingerprint,
        "complete": r.complete(),
        "published": r.published,
        "elapsed_secs": r.elapsed.as_secs_f64(),
        "events_per_sec": r.rate(),
        "stages": r.stages.iter().map(|s| json!({
            "name": s.name, "processed": s.processed, "expected": s.expected,
        })).collect::<Vec<_>>(),
        "lanes": r.lanes.iter().map(|l| json!({
            "name": l.lane,
            "published": l.counts.published,
            "written": l.counts.written,
            "dropped": l.counts.dropped,
            "delivered": l.counts.delivered,
            "lost": l.counts.lost,
            "adds_up": l.counts.adds_up(),
        })).collect::<Vec<_>>(),
        "egress": r.egress.iter().map(|(name, n)| json!({ "name": name, "received": n }))
            .collect::<Vec<_>>(),
        "latency": r.latency.iter().map(|(stage, h)| json!({
            "stage": stage,
            "count": h.count(),
            "p50_ns": h.quantile_ns(0.5),
            "p99_ns": h.quantile_ns(0.99),
            "p999_ns": h.quantile_ns(0.999),
            "max_ns": h.max_ns(),
        })).collect::<Vec<_>>(),
        "failure": r.failure,
        "policy": r.policy.as_ref().map(|d| json!({
            "env": d.env.name(),
            "side_effecting": d.side_effecting,
            "approved": d.approved.iter().map(|a| json!({
                "stage": a.stage, "approver": a.approver, "expires_unix": a.expires_unix,
                "reason": a.reason,
            })).collect::<Vec<_>>(),
        })),
        "tuning": {
            "profile": r.tuning.profile.name(),
            "settings": r.tuning.settings.iter().map(|s| {
                let (status, detail) = match &s.outcome {
                    Outcome::Applied(now) => ("applied", now),
                    Outcome::Degraded(why) => ("degraded", why),
                };
                json!({ "name": s.name, "requested": s.requested, "status": status, "detail": detail })
            }).collect::<Vec<_>>(),
        },
    })
}
