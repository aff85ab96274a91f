//! Replay: re-run an incident bundle's captured inputs through its spec, safely.
//!
//! [`replay`] checks the bundle before anything runs — every entry matches its manifest, the
//! recorded fingerprint is the fingerprint of the bundled spec text and of the bundled plan,
//! and this binary has every stage kind the plan names (each problem named) — then publishes
//! the captured inputs, in order, through the plan, and reports per-stage counts. When the
//! bundle holds captured outputs (a LaneGraph's egresses), the replayed outputs are compared
//! with them: merges interleave their inputs by timing, so each egress's events are compared
//! as a sorted list of `(seq, value, checksum)`; the report names the first difference and
//! both counts.
//!
//! **Dry run by default.** A stage the plan declares `side_effects = true` does not act: its
//! kind's code never runs; a pass-through (the built-in `pass` kind) stands in for it, so
//! the stages after it still see the events, and the report lists what each withheld stage
//! would have received. `promote` runs them for real, and only if the [`Policy`] allows
//! them — in `staging` and `prod` that takes an approval for each, for this exact spec
//! fingerprint.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::exec::lane_graph::GraphRegistry;
use crate::exec::StageRegistry;
use crate::lower::lower_v2;
use crate::plan::PipelinePlanV2;
use crate::spec::PipelineSpecV1;
use crate::vocab::ExecutionTargetV1;

use super::builtin::BuiltinEvent;
use super::bundle::{read_bundle, verify_bundle, BundleError};
use super::capture::CapturedEvent;
use super::policy::{now_unix, Decision, Policy, PolicyError};
use super::run::{run_plan, RunError, RunOptions, RunReport};

/// How to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Run side-effecting stages for real (refused unless `policy` allows them).
    pub promote: bool,
    /// The environment and its approvals.
    pub policy: Policy,
}

/// Why a bundle was not replayed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The bundle cannot be read.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// Entries do not match the manifest.
    #[error("the bundle is {0}")]
    NotIntact(String),
    /// An entry does not parse.
    #[error("bundle entry `{entry}` does not parse: {reason}")]
    Unparsable {
        /// The entry.
        entry: &'static str,
        /// Why.
        reason: String,
    },
    /// The recorded fingerprint is not the bundled spec's, or not the bundled plan's.
    #[error(
        "the bundle's fingerprint {recorded} does not match its {what} (fingerprint {computed})"
    )]
    FingerprintMismatch {
        /// `spec.kv` or `plan.toml`.
        what: &'static str,
        /// The `fingerprint` entry.
        recorded: String,
        /// What the spec or plan gives.
        computed: String,
    },
    /// This binary lacks stage kinds the plan names.
    #[error("this binary cannot run `{pipeline}`: {}", .missing.iter().map(|(s, k)| format!("stage `{s}` needs kind `{k}`")).collect::<Vec<_>>().join("; "))]
    MissingKinds {
        /// The pipeline.
        pipeline: String,
        /// `(stage, kind)` for each stage whose kind is not registered.
        missing: Vec<(String, String)>,
    },
    /// `promote` was asked and the policy does not allow the side-effecting stages.
    #[error("--promote refused: {0}")]
    Policy(#[from] PolicyError),
    /// The replay could not run.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// How one egress's replayed outputs compare with the captured ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputDiff {
    /// The egress.
    pub egress: String,
    /// `Some(why)` when the outputs cannot be compared: events reach the egress through a lane
    /// that drops under load, so what arrives depends on timing.
    pub not_comparable: Option<String>,
    /// Events captured.
    pub captured: usize,
    /// Events replayed.
    pub replayed: usize,
    /// The first position (in sorted order) where they differ, with both events there (`None`
    /// past the end of one).
    pub first_difference: Option<(usize, Option<BuiltinEvent>, Option<BuiltinEvent>)>,
}

impl OutputDiff {
    /// Whether the replayed outputs equal the captured ones (or cannot be compared).
    pub fn equal(&self) -> bool {
        self.not_comparable.is_some()
            || (self.first_difference.is_none() && self.captured == self.replayed)
    }
}

/// What a replay did.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// Whether side-effecting stages were withheld (the default).
    pub dry_run: bool,
    /// Per withheld stage: its name, its kind, and the events it would have received.
    pub withheld: Vec<(String, String, u64)>,
    /// The run (counts per stage, lanes, egress).
    pub run: RunReport,
    /// Per egress with captured outputs, the comparison; empty when the bundle holds none.
    pub diffs: Vec<OutputDiff>,
    /// The policy's decision when promoted.
    pub decision: Option<Decision>,
}

impl ReplayReport {
    /// Whether the replay ran cleanly and every compared egress matched.
    pub fn matches(&self) -> bool {
        self.run.complete() && self.diffs.iter().all(OutputDiff::equal)
    }
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            writeln!(
                f,
                "dry run: side-effecting stages do not act (a pass-through stands in for each)"
            )?;
            for (stage, kind, n) in &self.withheld {
                writeln!(
                    f,
                    "  withheld {stage} (kind {kind}): would have received {n} events"
                )?;
            }
        } else if let Some(d) = &self.decision {
            writeln!(f, "promoted: {d}")?;
        }
        writeln!(f, "{}", self.run)?;
        for d in &self.diffs {
            if let Some(why) = &d.not_comparable {
                writeln!(
                    f,
                    "outputs {}: not compared, {why} ({} captured, {} replayed)",
                    d.egress, d.captured, d.replayed
                )?;
                continue;
            }
            match &d.first_difference {
                None if d.equal() => writeln!(
                    f,
                    "outputs {}: {} replayed = {} captured",
                    d.egress, d.replayed, d.captured
                )?,
                None => writeln!(
                    f,
                    "outputs {}: {} replayed, {} captured",
                    d.egress, d.replayed, d.captured
                )?,
                Some((i, c, r)) => writeln!(
                    f,
                    "outputs {}: differ at sorted position {i}: captured {c:?}, replayed {r:?} ({} captured, {} replayed)",
                    d.egress, d.captured, d.replayed
                )?,
            }
        }
        if self.matches() {
            write!(f, "replay matches")
        } else {
            write!(f, "replay differs")
        }
    }
}

/// The sort key outputs are compared on (the stamp is re-taken on replay).
fn key(e: &BuiltinEvent) -> (u64, u64, u64) {
    (e.seq, e.value, e.checksum)
}

fn diff(egress: &str, captured: &[CapturedEvent], replayed: &[BuiltinEvent]) -> OutputDiff {
    let mut c: Vec<BuiltinEvent> = captured.iter().map(CapturedEvent::event).collect();
    let mut r = replayed.to_vec();
    c.sort_by_key(key);
    r.sort_by_key(key);
    let first_difference = (0..c.len().max(r.len()))
        .find(|&i| c.get(i).map(key) != r.get(i).map(key))
        .map(|i| (i, c.get(i).copied(), r.get(i).copied()));
    OutputDiff {
        egress: egress.to_owned(),
        not_comparable: None,
        captured: c.len(),
        replayed: r.len(),
        first_difference,
    }
}

/// The first lane that drops under load on the way from the ingresses to egress `egress`, if
/// any (walking the lanes back from the egress).
fn lossy_lane_before(spec: &PipelineSpecV1, egress: &str) -> Option<String> {
    let crate::spec::TopologySpec::LaneGraph(g) = &spec.topology else {
        return None;
    };
    let end = g.endpoints.iter().find(|e| e.name == egress)?;
    let mut todo = vec![end.lane];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(lane) = todo.pop() {
        if !seen.insert(lane) {
            continue;
        }
        let l = g.lanes.get(lane as usize)?;
        if l.on_full == crate::vocab::OnFull::Drop {
            return Some(l.name.clone());
        }
        if let crate::spec::LaneEnd::Role(role) = l.writer {
            todo.extend(
                g.lanes
                    .iter()
                    .filter(|x| x.readers.contains(&crate::spec::LaneEnd::Role(role)))
                    .map(|x| x.id),
            );
        }
    }
    None
}

/// Whether `registry`s have `kind` for `target`.
fn has_kind(
    target: ExecutionTargetV1,
    single: &StageRegistry<BuiltinEvent>,
    graph: &GraphRegistry,
    kind: &str,
) -> bool {
    match target {
        ExecutionTargetV1::SingleRing => single.kind(kind).is_some(),
        ExecutionTargetV1::LaneGraph => graph.kinds().any(|k| k.kind == kind),
    }
}

/// The kind that stands in for a withheld stage.
pub const STAND_IN_KIND: &str = "pass";

/// Replays the bundle at `path`; see the [module docs](self).
pub fn replay(
    path: impl AsRef<Path>,
    single: &StageRegistry<BuiltinEvent>,
    graph: &GraphRegistry,
    options: &ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    let path = path.as_ref();
    let verification = verify_bundle(path)?;
    if !verification.is_intact() {
        return Err(ReplayError::NotIntact(verification.to_string()));
    }
    let bundle = read_bundle(path)?;
    let plan = PipelinePlanV2::from_toml(bundle.text("plan.toml")?).map_err(|e| {
        ReplayError::Unparsable {
            entry: "plan.toml",
            reason: e.to_string(),
        }
    })?;
    let spec =
        PipelineSpecV1::from_kv(bundle.text("spec.kv")?).map_err(|e| ReplayError::Unparsable {
            entry: "spec.kv",
            reason: e.to_string(),
        })?;
    let recorded = bundle.text("fingerprint")?.trim().to_owned();
    let spec_fp = spec.fingerprint().to_string();
    if spec_fp != recorded {
        return Err(ReplayError::FingerprintMismatch {
            what: "spec.kv",
            recorded,
            computed: spec_fp,
        });
    }
    let spec_fp_for_report = spec_fp.clone();
    let plan_fp = lower_v2(&plan)
        .map_err(|e| ReplayError::Unparsable {
            entry: "plan.toml",
            reason: e.to_string(),
        })?
        .fingerprint()
        .to_string();
    if plan_fp != recorded {
        return Err(ReplayError::FingerprintMismatch {
            what: "plan.toml",
            recorded,
            computed: plan_fp,
        });
    }
    let missing: Vec<(String, String)> = plan
        .stages
        .iter()
        .filter(|s| !has_kind(plan.target, single, graph, s.effective_kind()))
        .map(|s| (s.name.clone(), s.effective_kind().to_owned()))
        .collect();
    if !missing.is_empty() {
        return Err(ReplayError::MissingKinds {
            pipeline: plan.name.clone(),
            missing,
        });
    }

    let dry_run = !options.promote;
    let decision = if options.promote {
        Some(options.policy.check(&spec, now_unix())?)
    } else {
        None
    };
    let mut run_plan_doc = plan.clone();
    let mut withheld = Vec::new();
    if dry_run {
        for stage in run_plan_doc.stages.iter_mut().filter(|s| s.side_effects) {
            withheld.push((stage.name.clone(), stage.effective_kind().to_owned()));
            stage.kind = Some(STAND_IN_KIND.to_owned());
            stage.params = Default::default();
        }
        if !withheld.is_empty() && !has_kind(plan.target, single, graph, STAND_IN_KIND) {
            return Err(ReplayError::MissingKinds {
                pipeline: plan.name.clone(),
                missing: vec![("(dry-run stand-in)".into(), STAND_IN_KIND.into())],
            });
        }
    }
    let inputs: BTreeMap<String, Vec<BuiltinEvent>> = bundle
        .events("inputs")?
        .into_iter()
        .map(|(name, events)| (name, events.iter().map(CapturedEvent::event).collect()))
        .collect();
    let captured_outputs = bundle.events("outputs")?;
    let mut run = run_plan(
        &run_plan_doc,
        single,
        graph,
        RunOptions {
            inputs: Some(inputs),
            collect_outputs: true,
            // The policy was applied above (dry run, or promoted under it).
            policy: Policy::default(),
            ..RunOptions::default()
        },
    )?;
    // The run went under `dev` (the decision was taken above): report the real one; and the
    // bundle's fingerprint (a dry run's plan has stand-ins, so lowers to another one).
    run.policy = decision.clone();
    run.fingerprint = spec_fp_for_report;
    let withheld = withheld
        .into_iter()
        .map(|(stage, kind)| {
            let n = run
                .stages
                .iter()
                .find(|s| s.name == stage)
                .map_or(0, |s| s.processed);
            (stage, kind, n)
        })
        .collect();
    let diffs = captured_outputs
        .iter()
        .map(|(egress, events)| {
            let replayed = run.outputs.get(egress).map(Vec::as_slice).unwrap_or(&[]);
            let mut d = diff(egress, events, replayed);
            if let Some(lane) = lossy_lane_before(&spec, egress) {
                d.not_comparable = Some(format!(
                    "its events pass lane `{lane}`, which drops under load (what arrives depends on timing)"
                ));
                d.first_difference = None;
            }
            d
        })
        .collect();
    Ok(ReplayReport {
        dry_run,
        withheld,
        run,
        diffs,
        decision,
    })
}
