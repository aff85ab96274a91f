//! Environments and approvals: whether a pipeline with side-effecting stages may start.
//!
//! * `dev` (the default) runs anything.
//! * In `staging` and `prod`, every stage declared `side_effects = true` needs an approval that
//!   names the stage and the exact spec fingerprint it was approved for, and has not expired. A
//!   missing, expired or mismatched approval refuses the start, listing every unapproved stage
//!   with why ([`PolicyError`]).
//! * Replay is a dry run unless promoted; promotion in `staging`/`prod` needs the same
//!   approvals (see [`replay`](super::replay)).
//!
//! The environment comes from `--env`, else the `BYTEOR_ENV` variable, else `dev`
//! ([`Environment::from_env`]).
//!
//! # Approvals file (TOML)
//!
//! ```toml
//! [[approval]]
//! stage = "audit"                      # the stage's name in the plan
//! fingerprint = "24d02314d9800ec9"     # the spec fingerprint it was approved for
//! approver = "alice@example.com"       # who approved it (required, any text)
//! expires = 2026-12-31T00:00:00Z       # a TOML date-time with offset, or a date (valid through
//!                                      # that day, UTC)
//! reason = "CHG-1234"                  # optional
//! ```
//!
//! ```
//! use byteor::ops::policy::{Approvals, Environment, Policy};
//! use byteor::plan::PipelinePlanV2;
//! use byteor::lower::lower_v2;
//!
//! let plan = PipelinePlanV2::from_toml(r#"
//!     version = 2
//!     name = "orders"
//!     target = "single_ring"
//!     [[ingress]]
//!     name = "in"
//!     [[egress]]
//!     name = "out"
//!     [[stages]]
//!     name = "send"
//!     kind = "count"
//!     side_effects = true
//!     [single_ring]
//!     capacity = 64
//! "#)?;
//! let spec = lower_v2(&plan)?;
//! let now = 1_800_000_000; // unix seconds
//!
//! // dev runs anything; prod without an approval refuses, naming the stage.
//! assert!(Policy::new(Environment::Dev, Approvals::default()).check(&spec, now).is_ok());
//! let refused = Policy::new(Environment::Prod, Approvals::default()).check(&spec, now);
//! assert!(refused.unwrap_err().to_string().contains("`send`"));
//!
//! let approvals = Approvals::from_toml(&format!(r#"
//!     [[approval]]
//!     stage = "send"
//!     fingerprint = "{}"
//!     approver = "alice"
//!     expires = 2099-01-01
//! "#, spec.fingerprint()))?;
//! let decision = Policy::new(Environment::Prod, approvals).check(&spec, now)?;
//! assert_eq!(decision.approved[0].approver, "alice");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::spec::PipelineSpecV1;

/// Where a pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Environment {
    /// Anything runs.
    #[default]
    Dev,
    /// Side-effecting stages need approvals.
    Staging,
    /// Side-effecting stages need approvals.
    Prod,
}

impl Environment {
    /// Every environment.
    pub const ALL: [Environment; 3] = [Environment::Dev, Environment::Staging, Environment::Prod];

    /// `dev`, `staging` or `prod`.
    pub fn name(self) -> &'static str {
        match self {
            Environment::Dev => "dev",
            Environment::Staging => "staging",
            Environment::Prod => "prod",
        }
    }

    /// Whether side-effecting stages need approvals here.
    pub fn needs_approvals(self) -> bool {
        !matches!(self, Environment::Dev)
    }

    /// `given` if any, else the `BYTEOR_ENV` variable, else `dev`.
    pub fn from_env(given: Option<Environment>) -> Result<Environment, UnknownEnvironment> {
        match given {
            Some(env) => Ok(env),
            None => match std::env::var("BYTEOR_ENV") {
                Ok(v) if !v.is_empty() => v.parse(),
                _ => Ok(Environment::Dev),
            },
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An environment name that is not `dev`, `staging` or `prod`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown environment `{given}`: expected dev, staging or prod")]
pub struct UnknownEnvironment {
    /// The name given.
    pub given: String,
}

impl FromStr for Environment {
    type Err = UnknownEnvironment;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Environment::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| UnknownEnvironment {
                given: s.to_owned(),
            })
    }
}

/// One approval: a side-effecting stage may run under one spec fingerprint until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The stage's name.
    pub stage: String,
    /// The spec fingerprint (16 hex digits) it was approved for.
    pub fingerprint: String,
    /// Who approved it.
    pub approver: String,
    /// When it expires, in seconds since the Unix epoch.
    pub expires_unix: i64,
    /// Why (a ticket, a change number), if given.
    pub reason: Option<String>,
}

/// Every approval of an approvals file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Approvals {
    /// In file order.
    pub approvals: Vec<Approval>,
}

/// An approvals file that cannot be used; every problem of the file is listed.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalsError {
    /// The file cannot be read.
    #[error("cannot read approvals file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It is not TOML.
    #[error("approvals file is not TOML: {0}")]
    Toml(String),
    /// Entries miss fields or carry wrong types.
    #[error("approvals file: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl Approvals {
    /// Reads an approvals file.
    pub fn load(path: impl AsRef<Path>) -> Result<Approvals, ApprovalsError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ApprovalsError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Approvals::from_toml(&text)
    }

    /// Parses an approvals document (see the [module docs](self)).
    pub fn from_toml(text: &str) -> Result<Approvals, ApprovalsError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ApprovalsError::Toml(e.to_string()))?;
        let mut problems = Vec::new();
        let mut approvals = Vec::new();
        for key in table.keys() {
            if key != "approval" {
                problems.push(format!(
                    "unknown key `{key}` (expected `[[approval]]` entries)"
                ));
            }
        }
        let entries = match table.get("approval") {
            None => &Vec::new(),
            Some(toml::Value::Array(a)) => a,
            Some(_) => {
                return Err(ApprovalsError::Invalid(vec![
                    "`approval` must be an array of tables (`[[approval]]`)".into(),
                ]))
            }
        };
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("approval {}", i + 1);
            let Some(t) = entry.as_table() else {
                problems.push(format!("{at}: not a table"));
                continue;
            };
            let text = |field: &str, problems: &mut Vec<String>| match t.get(field) {
                Some(toml::Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(_) => {
                    problems.push(format!("{at}: `{field}` must be a non-empty string"));
                    None
                }
                None => {
                    problems.push(format!("{at}: `{field}` is missing"));
                    None
                }
            };
            let stage = text("stage", &mut problems);
            let fingerprint = text("fingerprint", &mut problems);
            let approver = text("approver", &mut problems);
            let reason = match t.get("reason") {
                Some(toml::Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    problems.push(format!("{at}: `reason` must be a string"));
                    None
                }
                None => None,
            };
            let expires = match t.get("expires") {
                Some(toml::Value::Datetime(d)) => match unix_seconds(d) {
                    Ok(s) => Some(s),
                    Err(why) => {
                        problems.push(format!("{at}: `expires`: {why}"));
                        None
                    }
                },
                Some(_) => {
                    problems.push(format!(
                        "{at}: `expires` must be a TOML date-time with offset or a date (e.g. 2026-12-31T00:00:00Z)"
                    ));
                    None
                }
                None => {
                    problems.push(format!("{at}: `expires` is missing"));
                    None
                }
            };
            for key in t.keys() {
                if !["stage", "fingerprint", "approver", "expires", "reason"]
                    .contains(&key.as_str())
                {
                    problems.push(format!("{at}: unknown field `{key}`"));
                }
            }
            if let (Some(stage), Some(fingerprint), Some(approver), Some(expires_unix)) =
                (stage, fingerprint, approver, expires)
            {
                approvals.push(Approval {
                    stage,
                    fingerprint,
                    approver,
                    expires_unix,
                    reason,
                });
            }
        }
        if problems.is_empty() {
            Ok(Approvals { approvals })
        } else {
            Err(ApprovalsError::Invalid(problems))
        }
    }
}

/// Days from 1970-01-01 to `y-m-d` (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A TOML date-time (with an offset) or a date (through the end of that day, UTC) in Unix
/// seconds.
fn unix_seconds(d: &toml::value::Datetime) -> Result<i64, String> {
    let Some(date) = d.date else {
        return Err("a time without a date".into());
    };
    let days = days_from_civil(date.year as i64, date.month as i64, date.day as i64);
    match (d.time, d.offset) {
        (None, _) => Ok((days + 1) * 86_400 - 1),
        (Some(_), None) => Err("a local date-time: give an offset (e.g. `Z`)".into()),
        (Some(t), Some(offset)) => {
            let secs = days * 86_400
                + t.hour as i64 * 3600
                + t.minute as i64 * 60
                + t.second.unwrap_or(0) as i64;
            let offset_minutes = match offset {
                toml::value::Offset::Z => 0,
                toml::value::Offset::Custom { minutes } => minutes as i64,
            };
            Ok(secs - offset_minutes * 60)
        }
    }
}

/// Seconds since the Unix epoch now.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Why a side-effecting stage is not approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unapproved {
    /// No approval names it.
    Missing {
        /// The stage.
        stage: String,
    },
    /// Its approvals are for other specs.
    OtherFingerprint {
        /// The stage.
        stage: String,
        /// The fingerprints its approvals name.
        approved_for: Vec<String>,
    },
    /// Its approval for this spec expired.
    Expired {
        /// The stage.
        stage: String,
        /// Who approved it.
        approver: String,
        /// When it expired (Unix seconds).
        expired_unix: i64,
    },
}

impl fmt::Display for Unapproved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unapproved::Missing { stage } => write!(f, "stage `{stage}`: no approval"),
            Unapproved::OtherFingerprint {
                stage,
                approved_for,
            } => write!(
                f,
                "stage `{stage}`: approved only for other specs ({})",
                approved_for.join(", ")
            ),
            Unapproved::Expired {
                stage,
                approver,
                expired_unix,
            } => write!(
                f,
                "stage `{stage}`: the approval by {approver} expired at unix time {expired_unix}"
            ),
        }
    }
}

/// A start refused by the policy: every unapproved side-effecting stage, with why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{pipeline}` (fingerprint {fingerprint}) may not run its side-effecting stages in {env}: {}",
    .unapproved.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
)]
pub struct PolicyError {
    /// The environment.
    pub env: Environment,
    /// The pipeline.
    pub pipeline: String,
    /// Its spec fingerprint.
    pub fingerprint: String,
    /// Every unapproved stage.
    pub unapproved: Vec<Unapproved>,
}

/// What the policy allowed, and on what grounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The environment.
    pub env: Environment,
    /// The side-effecting stages of the spec.
    pub side_effecting: Vec<String>,
    /// The approvals that allowed them (none in `dev`).
    pub approved: Vec<Approval>,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy: environment {}", self.env)?;
        if self.side_effecting.is_empty() {
            return write!(f, "; no side-effecting stage");
        }
        if !self.env.needs_approvals() {
            return write!(
                f,
                "; side-effecting stages {} run without approval in dev",
                self.side_effecting.join(", ")
            );
        }
        for a in &self.approved {
            write!(
                f,
                "; `{}` approved by {} until unix time {}{}",
                a.stage,
                a.approver,
                a.expires_unix,
                a.reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )?;
        }
        Ok(())
    }
}

/// An environment and the approvals it knows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// Where it runs.
    pub env: Environment,
    /// What was approved.
    pub approvals: Approvals,
}

impl Policy {
    /// A policy for `env` with `approvals`.
    pub fn new(env: Environment, approvals: Approvals) -> Self {
        Policy { env, approvals }
    }

    /// Whether `spec`'s side-effecting stages may run at `now_unix` (seconds): the decision
    /// with its grounds, or every unapproved stage.
    pub fn check(&self, spec: &PipelineSpecV1, now_unix: i64) -> Result<Decision, PolicyError> {
        let fingerprint = spec.fingerprint().to_string();
        let side_effecting: Vec<String> = spec
            .stages
            .iter()
            .filter(|s| s.side_effects)
            .map(|s| s.name.clone())
            .collect();
        let mut approved = Vec::new();
        let mut unapproved = Vec::new();
        if self.env.needs_approvals() {
            for stage in &side_effecting {
                let mine: Vec<&Approval> = self
                    .approvals
                    .approvals
                    .iter()
                    .filter(|a| &a.stage == stage)
                    .collect();
                let for_spec: Vec<&&Approval> = mine
                    .iter()
                    .filter(|a| a.fingerprint == fingerprint)
                    .collect();
                if let Some(valid) = for_spec.iter().find(|a| a.expires_unix > now_unix) {
                    approved.push((**valid).clone());
                } else if let Some(expired) = for_spec.iter().max_by_key(|a| a.expires_unix) {
                    unapproved.push(Unapproved::Expired {
                        stage: stage.clone(),
                        approver: expired.approver.clone(),
                        expired_unix: expired.expires_unix,
                    });
                } else if mine.is_empty() {
                    unapproved.push(Unapproved::Missing {
                        stage: stage.clone(),
                    });
                } else {
                    unapproved.push(Unapproved::OtherFingerprint {
                        stage: stage.clone(),
                        approved_for: mine.iter().map(|a| a.fingerprint.clone()).collect(),
                    });
                }
            }
        }
        if unapproved.is_empty() {
            Ok(Decision {
                env: self.env,
                side_effecting,
                approved,
            })
        } else {
            Err(PolicyError {
                env: self.env,
                pipeline: spec.name.clone(),
                fingerprint,
                unapproved,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_convert() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        let d: toml::value::Datetime = "2026-12-31T00:00:00Z".parse().unwrap();
        assert_eq!(unix_seconds(&d), Ok(1_798_675_200));
        let d: toml::value::Datetime = "2026-12-31T02:00:00+02:00".parse().unwrap();
        assert_eq!(unix_seconds(&d), Ok(1_798_675_200));
        let d: toml::value::Datetime = "2026-12-31".parse().unwrap();
        assert_eq!(unix_seconds(&d), Ok(1_798_675_200 + 86_399));
        let d: toml::value::Datetime = "2026-12-31T00:00:00".parse().unwrap();
        assert!(unix_seconds(&d).is_err());
    }

    #[test]
    fn a_bad_file_lists_every_problem() {
        let err = Approvals::from_toml(
            r#"
            colour = "blue"
            [[approval]]
            stage = "a"
            approver = 3
            expires = "tomorrow"
            extra = 1
        "#,
        )
        .unwrap_err()
        .to_string();
        for want in [
            "unknown key `colour`",
            "`fingerprint` is missing",
            "`approver` must be a non-empty string",
            "`expires` must be a TOML date-time",
            "unknown field `extra`",
        ] {
            assert!(err.contains(want), "{want}: {err}");
        }
    }

    #[test]
    fn environments_parse() {
        assert_eq!("prod".parse(), Ok(Environment::Prod));
        assert!("production".parse::<Environment>().is_err());
        assert_eq!(
            Environment::from_env(Some(Environment::Staging)),
            Ok(Environment::Staging)
        );
    }
}
