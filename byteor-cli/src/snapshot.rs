//! `snapshot`: the regions of a directory (or one region file), read-only; `--clean` removes
//! those whose owners are dead.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use byteor::ops::snapshot::{self, Cleaned, RegionView, Snapshot, SnapshotOptions};
use byteor::transport::shm::ShmError;
use clap::ValueEnum;
use serde_json::{json, Value};

use crate::exit;

/// `snapshot`'s output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SnapshotFormat {
    /// A header line per region, then a line per counter.
    #[default]
    Text,
    /// One JSON object (`byteor.snapshot/1`).
    Json,
    /// The OpenMetrics text exposition format (Prometheus).
    Openmetrics,
}

/// What `snapshot` was asked.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotArgs {
    pub path: PathBuf,
    pub format: SnapshotFormat,
    pub watch: Option<f64>,
    pub clean: bool,
    pub yes: bool,
    pub heartbeat_timeout: Duration,
}

fn take(path: &Path, options: &SnapshotOptions) -> Result<Snapshot, ShmError> {
    if path.is_file() {
        Ok(Snapshot {
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            regions: vec![snapshot::snapshot_region(path, options)],
        })
    } else {
        snapshot::snapshot_dir(path, options)
    }
}

pub(crate) fn run(
    args: &SnapshotArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, std::io::Error> {
    if args.clean {
        return clean(args, out, err);
    }
    let options = SnapshotOptions {
        heartbeat_timeout: args.heartbeat_timeout,
    };
    if args.watch.is_some() {
        // SIGINT/SIGTERM end the watch (checked with `stop_requested` below).
        crate::signals::stop_flag();
    }
    loop {
        let snap = match take(&args.path, &options) {
            Ok(snap) => snap,
            Err(e) => {
                writeln!(err, "byteor: {e}")?;
                return Ok(exit::USAGE);
            }
        };
        match args.format {
            SnapshotFormat::Text => write!(out, "{snap}")?,
            SnapshotFormat::Json => writeln!(out, "{}", snapshot_json(&snap))?,
            SnapshotFormat::Openmetrics => write!(out, "{}", snap.to_openmetrics())?,
        }
        out.flush()?;
        let unreadable = snap.regions.iter().any(Result::is_err);
        match args.watch {
            Some(secs) if !crate::signals::stop_requested() => {
                std::thread::sleep(Duration::from_secs_f64(secs.max(0.05)));
                if crate::signals::stop_requested() {
                    return Ok(exit::OK);
                }
                if args.format == SnapshotFormat::Text {
                    writeln!(out)?;
                }
            }
            _ => return Ok(if unreadable { exit::INVALID } else { exit::OK }),
        }
    }
}

fn clean(
    args: &SnapshotArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, std::io::Error> {
    let stale = match snapshot::stale_regions(&args.path) {
        Ok(stale) => stale,
        Err(e) => {
            writeln!(err, "byteor: {e}")?;
            return Ok(exit::USAGE);
        }
    };
    if stale.is_empty() {
        writeln!(out, "no stale regions in {}", args.path.display())?;
        return Ok(exit::OK);
    }
    writeln!(out, "regions whose owners are dead:")?;
    for p in &stale {
        writeln!(out, "  {}", p.display())?;
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            writeln!(err, "byteor: not removing without confirmation: pass --yes")?;
            return Ok(exit::USAGE);
        }
        write!(out, "remove {} region(s)? [y/N] ", stale.len())?;
        out.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            writeln!(out, "nothing removed")?;
            return Ok(exit::OK);
        }
    }
    match snapshot::clean(&args.path) {
        Ok(done) => {
            for c in done {
                match c {
                    Cleaned::Removed(p) => writeln!(out, "removed {}", p.display())?,
                    Cleaned::Kept(p) => {
                        writeln!(out, "kept {} (its owner came back)", p.display())?
                    }
                }
            }
            Ok(exit::OK)
        }
        Err(e) => {
            writeln!(err, "byteor: {e}")?;
            Ok(exit::USAGE)
        }
    }
}

fn peer_json(p: &snapshot::PeerView) -> Value {
    json!({
        "pid": p.pid,
        "health": p.health.map(|h| h.as_str()),
        "heartbeat_age_ms": p.heartbeat_age.map(|a| a.as_secs_f64() * 1e3),
        "death": p.death,
        "status": p.status,
    })
}

fn region_json(r: &RegionView) -> Value {
    json!({
        "path": r.path.display().to_string(),
        "pipeline": r.pipeline,
        "shard": r.shard,
        "abi_version": r.abi_version,
        "spec_fingerprint": r.spec_fingerprint,
        "event": r.event,
        "event_bytes": r.event_bytes,
        "capacity": r.capacity,
        "health": r.health.as_str(),
        "producer": peer_json(&r.producer),
        "stream": r.stream,
        "published": r.published,
        "policy": r.policy,
        "stages": r.stages.iter().map(|s| json!({
            "name": s.name, "sequence": s.sequence, "lag": s.lag, "peer": peer_json(&s.peer),
        })).collect::<Vec<_>>(),
    })
}

/// `snapshot --format json`'s object (`byteor.snapshot/1`, see [`crate::json`]).
pub(crate) fn snapshot_json(snap: &Snapshot) -> Value {
    let mut regions = Vec::new();
    let mut unreadable = Vec::new();
    for r in &snap.regions {
        match r {
            Ok(r) => regions.push(region_json(r)),
            Err(e) => unreadable.push(json!({
                "path": e.path().map(|p| p.display().to_string()),
                "error": e.to_string(),
            })),
        }
    }
    json!({
        "schema": crate::json::SNAPSHOT_SCHEMA,
        "dir": snap.dir.display().to_string(),
        "regions": regions,
        "unreadable": unreadable,
    })
}
