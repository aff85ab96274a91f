//! `byteor doctor`: whether this host is ready for a tuning profile
//! ([`byteor::ops::doctor`]), optionally for the threads and shared memory of a plan.
//!
//! ```text
//! byteor doctor [--profile default|low-latency|isolated-core] [--plan PLAN] [--shm-dir DIR]
//!               [--json | --format text|json]
//! ```
//!
//! * `--profile` (default `default`): what the host is judged against.
//! * `--plan`: a plan document or spec, lowered as the plan verbs do (an invalid one: its
//!   violations, exit 1). Its needs are checked: threads (SingleRing: stages × shards and the
//!   producer; LaneGraph: roles and the producer) and shared memory (SingleRing: one region
//!   per shard, with 64-byte slots assumed when the spec leaves the slot size to the
//!   executor — see [`DoctorOptions::with_spec`](byteor::ops::doctor::DoctorOptions::with_spec)).
//! * `--shm-dir` (default `/dev/shm/byteor`): where the regions live (space, stale regions).
//!
//! Text: a table — status, check, observed, requested — with the reason and the fix under each
//! check that is not ok, and a last line `ready|degraded|failed for profile P: ...`.
//!
//! Exit codes: 0 ready, 2 degraded, 1 failed; as for every verb, 1 for an invalid plan and 2 for
//! a usage error or a plan that cannot be read.
//!
//! # JSON: `byteor.doctor/1`
//!
//! ```text
//! { "schema": "byteor.doctor/1", "profile": "low-latency", "readiness": "degraded",
//!   "shm_dir": "/dev/shm/byteor",
//!   "plan": { "file": "orders.toml", "pipeline": "orders", "threads_needed": 5,
//!             "shm_bytes_needed": 67456 },
//!   "checks": [ { "id": "mem.thp", "title": "transparent huge pages",
//!                 "requested": "madvise or never", "observed": "always",
//!                 "status": "degraded",
//!                 "reason": "transparent huge pages `always`: ...",
//!                 "remediation": "`echo madvise | sudo tee ...`" } ] }
//! ```
//!
//! * `profile`: `default`, `low-latency` or `isolated-core`.
//! * `readiness`: `ready` (every check `ok` or `unavailable`), `degraded` (some check
//!   degraded, none failed) or `failed` (some check failed); the exit code follows it.
//! * `plan`: `null` without `--plan`; `shm_bytes_needed` is `null` for a LaneGraph (it runs in
//!   one process).
//! * `checks`: every check, always in the same order, each once: `cpu.cores`, `cpu.isolcpus`,
//!   `cpu.nohz_full`, `cpu.rcu_nocbs`, `cpu.governor`, `cgroup.cpu`, `mem.memlock`,
//!   `mem.thp`, `sched.rt`, `shm.space`, `shm.remove_ipc`, `shm.stale`
//!   ([`CHECK_IDS`](byteor::ops::doctor::CHECK_IDS); what each reads and requests per profile
//!   is tabled in [`byteor::ops::doctor`]). `status` is `ok`, `degraded`, `unavailable` or
//!   `failed`; `reason` and `remediation` are `null` when `ok`, strings otherwise.

use std::io::Write;
use std::path::{Path, PathBuf};

use byteor::ops::doctor::{doctor, DoctorOptions, DoctorReport};
use byteor::ops::profile::TuningProfile;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use serde_json::{json, Value};

use crate::input::{lowered, InputError};
use crate::Format;

/// The `schema` of `doctor`'s JSON output.
pub const DOCTOR_SCHEMA: &str = "byteor.doctor/1";

/// `byteor doctor`'s arguments.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 ready; 2 degraded; 1 failed. As for every verb: 1 for an invalid \
                  plan, 2 for a usage error or a plan that cannot be read."
)]
pub struct DoctorArgs {
    /// The tuning profile to judge the host against.
    #[arg(long, value_name = "PROFILE", default_value = "default", value_parser = profile_parser())]
    profile: TuningProfile,
    /// A plan document (.toml) or spec (.kv): check for the threads and shared memory it needs.
    #[arg(long, value_name = "PLAN")]
    plan: Option<PathBuf>,
    /// The directory of the shared-memory regions [default: /dev/shm/byteor].
    #[arg(long, value_name = "DIR")]
    shm_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// JSON output (the same as `--format json`).
    #[arg(long, conflicts_with = "format")]
    json: bool,
}

/// A profile name, with the profiles listed in `--help` and in the error for another name.
fn profile_parser() -> impl TypedValueParser<Value = TuningProfile> {
    PossibleValuesParser::new(TuningProfile::ALL.map(TuningProfile::name))
        .try_map(|name| name.parse::<TuningProfile>())
}

/// The plan the host was checked for.
pub(crate) struct PlanNeeds<'a> {
    file: &'a Path,
    pipeline: String,
}

/// `doctor`: checks this host, prints the report; the exit code is its readiness's.
pub(crate) fn doctor_verb(args: &DoctorArgs, out: &mut dyn Write) -> Result<u8, InputError> {
    let mut options = DoctorOptions {
        profile: args.profile,
        ..DoctorOptions::default()
    };
    if let Some(dir) = &args.shm_dir {
        options.shm_dir = dir.clone();
    }
    let plan = match &args.plan {
        Some(file) => {
            let l = lowered(file)?;
            options = options.with_spec(&l.spec);
            Some(PlanNeeds {
                file,
                pipeline: l.spec.name,
            })
        }
        None => None,
    };
    let report = doctor(&options);
    let format = if args.json { Format::Json } else { args.format };
    match format {
        Format::Json => writeln!(out, "{}", to_json(&report, &options, plan.as_ref()))?,
        Format::Text => {
            if let Some(plan) = &plan {
                let memory = match options.shm_bytes_needed {
                    Some(n) => format!("{n} bytes of shared memory"),
                    None => "no shared memory".to_owned(),
                };
                writeln!(
                    out,
                    "plan `{}` ({}): {} threads, {memory}",
                    plan.pipeline,
                    plan.file.display(),
                    options.threads_needed.unwrap_or(0),
                )?;
            }
            write!(out, "{report}")?;
        }
    }
    Ok(report.readiness().exit_code())
}

/// The `byteor.doctor/1` object of `report`.
pub(crate) fn to_json(
    report: &DoctorReport,
    options: &DoctorOptions,
    plan: Option<&PlanNeeds<'_>>,
) -> Value {
    let checks: Vec<Value> = report
        .checks
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "title": c.title,
                "requested": c.requested,
                "observed": c.observed,
                "status": c.status.as_str(),
                "reason": c.reason,
                "remediation": c.remediation,
            })
        })
        .collect();
    let plan = plan.map(|p| {
        json!({
            "file": p.file.display().to_string(),
            "pipeline": p.pipeline,
            "threads_needed": options.threads_needed,
            "shm_bytes_needed": options.shm_bytes_needed,
        })
    });
    json!({
        "schema": DOCTOR_SCHEMA,
        "profile": report.profile.name(),
        "readiness": report.readiness().as_str(),
        "shm_dir": options.shm_dir.display().to_string(),
        "plan": plan,
        "checks": checks,
    })
}
