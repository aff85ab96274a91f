//! `incident-bundle` (make one from a capture, or `verify` one) and `replay`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use byteor::exec::lane_graph::GraphRegistry;
use byteor::exec::StageRegistry;
use byteor::ops::builtin::BuiltinEvent;
use byteor::ops::bundle::{incident_bundle, verify_bundle, IncidentOptions};
use byteor::ops::capture::Window;
use byteor::ops::doctor::{doctor, DoctorOptions};
use byteor::ops::policy::{Approvals, Environment, Policy};
use byteor::ops::replay::{replay, ReplayError, ReplayOptions};
use byteor::ops::snapshot::{snapshot_dir, SnapshotOptions};
use serde_json::json;

use crate::{exit, Format};

/// What `incident-bundle` was asked.
#[derive(Debug, Clone)]
pub(crate) struct BundleArgs {
    pub from: PathBuf,
    pub out: PathBuf,
    pub last: Option<Duration>,
    pub from_seq: Option<u64>,
    pub shm_dir: Option<PathBuf>,
    pub no_doctor: bool,
    pub product: (String, String),
}

/// Parses `60s`, `5m`, `2h`, `500ms` or a number of seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 60s, 5m, 500ms)"))?;
    let secs = match unit {
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (ms, s, m, h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

pub(crate) fn bundle(
    args: &BundleArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, std::io::Error> {
    let window = match (args.last, args.from_seq) {
        (Some(d), _) => Window::Last(d),
        (None, Some(seq)) => Window::FromSeq(seq),
        (None, None) => Window::All,
    };
    let mut extra = Vec::new();
    if let Some(dir) = &args.shm_dir {
        match snapshot_dir(dir, &SnapshotOptions::default()) {
            Ok(snap) => extra.push((
                "snapshot.json".to_owned(),
                format!("{}\n", crate::snapshot::snapshot_json(&snap)).into_bytes(),
            )),
            Err(e) => {
                writeln!(err, "byteor: {e}")?;
                return Ok(exit::USAGE);
            }
        }
    }
    if !args.no_doctor {
        let options = DoctorOptions::default();
        let report = doctor(&options);
        extra.push((
            "doctor.json".to_owned(),
            format!("{}\n", crate::doctor::to_json(&report, &options, None)).into_bytes(),
        ));
    }
    let options = IncidentOptions {
        window: Some(window),
        product: Some(args.product.clone()),
        extra,
    };
    let writer = match incident_bundle(&args.from, &options) {
        Ok(w) => w,
        Err(e) => {
            writeln!(err, "byteor: {}: {e}", args.from.display())?;
            return Ok(exit::USAGE);
        }
    };
    match writer.write(&args.out) {
        Ok(manifest) => {
            writeln!(out, "wrote {}", args.out.display())?;
            write!(out, "{manifest}")?;
            Ok(exit::OK)
        }
        Err(e) => {
            writeln!(err, "byteor: {e}")?;
            Ok(exit::USAGE)
        }
    }
}

pub(crate) fn verify(
    file: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, std::io::Error> {
    match verify_bundle(file) {
        Ok(v) => {
            writeln!(out, "{}: {v}", file.display())?;
            Ok(if v.is_intact() {
                exit::OK
            } else {
                exit::INVALID
            })
        }
        Err(e) => {
            writeln!(err, "byteor: {e}")?;
            Ok(exit::USAGE)
        }
    }
}

/// The environment's policy: `--env` (or `BYTEOR_ENV`) and `--approvals` (or
/// `BYTEOR_APPROVALS`).
pub(crate) fn policy(env: Option<Environment>, approvals: Option<&Path>) -> Result<Policy, String> {
    let env = Environment::from_env(env).map_err(|e| e.to_string())?;
    let from_var = std::env::var_os("BYTEOR_APPROVALS").map(PathBuf::from);
    let approvals = match approvals.map(Path::to_path_buf).or(from_var) {
        Some(path) => Approvals::load(&path).map_err(|e| e.to_string())?,
        None => Approvals::default(),
    };
    Ok(Policy::new(env, approvals))
}

/// What `replay` was asked.
#[derive(Debug, Clone)]
pub(crate) struct ReplayArgs {
    pub file: PathBuf,
    pub promote: bool,
    pub env: Option<Environment>,
    pub approvals: Option<PathBuf>,
    pub format: Format,
}

pub(crate) fn replay_verb(
    args: &ReplayArgs,
    single: &StageRegistry<BuiltinEvent>,
    graph: &GraphRegistry,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, std::io::Error> {
    let policy = match policy(args.env, args.approvals.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            writeln!(err, "byteor: {e}")?;
            return Ok(exit::USAGE);
        }
    };
    let options = ReplayOptions {
        promote: args.promote,
        policy,
    };
    match replay(&args.file, single, graph, &options) {
        Ok(report) => {
            match args.format {
                Format::Text => writeln!(out, "{report}")?,
                Format::Json => {
                    let object = json!({
                        "schema": crate::json::REPLAY_SCHEMA,
                        "dry_run": report.dry_run,
                        "matches": report.matches(),
                        "withheld": report.withheld.iter().map(|(stage, kind, n)| json!({
                            "stage": stage, "kind": kind, "would_receive": n,
                        })).collect::<Vec<_>>(),
                        "diffs": report.diffs.iter().map(|d| json!({
                            "egress": d.egress,
                            "captured": d.captured,
                            "replayed": d.replayed,
                            "equal": d.equal(),
                            "first_difference": d.first_difference.map(|(i, _, _)| i),
                        })).collect::<Vec<_>>(),
                        "run": crate::run::report_json(&report.run),
                    });
                    writeln!(out, "{object}")?;
                }
            }
            Ok(if report.matches() {
                exit::OK
            } else {
                exit::INVALID
            })
        }
        Err(e) => {
            writeln!(err, "byteor: {}: {e}", args.file.display())?;
            Ok(match e {
                ReplayError::Bundle(_) => exit::USAGE,
                _ => exit::INVALID,
            })
        }
    }
}
