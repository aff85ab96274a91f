//! Reading a verb's input — a plan document or a spec in kv text — and lowering it.

use std::path::{Path, PathBuf};

use byteor::lower::{lower_v2, LowerError};
use byteor::plan::{PipelinePlanV2, PlanDocumentError, ValidationErrors};
use byteor::spec::{validate_v1, KvError, PipelineSpecV1, SpecErrors};

use crate::exit;

/// What a file held.
#[derive(Debug)]
pub enum Input {
    /// A plan document.
    Plan(PipelinePlanV2),
    /// A spec in canonical kv text.
    Spec(PipelineSpecV1),
}

/// A valid input, lowered: the plan it came from (for a plan document) and its spec.
#[derive(Debug)]
pub struct Lowered {
    /// The plan, when the input was a plan document.
    pub plan: Option<PipelinePlanV2>,
    /// The spec (lowered from the plan, or read as it is and validated).
    pub spec: PipelineSpecV1,
}

/// Why a verb could not get a valid spec out of its file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The file could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A plan document that does not parse (line and column in the message).
    #[error("{}: {source}", .path.display())]
    Document {
        /// The file.
        path: PathBuf,
        /// What is wrong, where.
        source: PlanDocumentError,
    },
    /// A spec in kv text that does not parse.
    #[error("{}: {source}", .path.display())]
    Kv {
        /// The file.
        path: PathBuf,
        /// What is wrong, where.
        source: KvError,
    },
    /// A file that is neither a plan document nor a kv spec (both parse errors given).
    #[error(
        "{}: neither a plan document nor a spec in kv text\n  as a plan document: {document}\n  as kv text: {kv}",
        .path.display()
    )]
    Unrecognised {
        /// The file.
        path: PathBuf,
        /// Why it is not a plan document.
        document: Box<PlanDocumentError>,
        /// Why it is not kv text.
        kv: Box<KvError>,
    },
    /// A plan that breaks plan rules (every violation).
    #[error("{}: invalid plan `{plan}`:\n{violations}", .path.display())]
    InvalidPlan {
        /// The file.
        path: PathBuf,
        /// The plan's name.
        plan: String,
        /// Every violation.
        violations: ValidationErrors,
    },
    /// A spec that breaks spec rules (every violation).
    #[error("{}: invalid spec `{spec}`:\n{violations}", .path.display())]
    InvalidSpec {
        /// The file.
        path: PathBuf,
        /// The spec's name.
        spec: String,
        /// Every violation.
        violations: SpecErrors,
    },
    /// Lowering failed for a reason other than the plan's rules.
    #[error("{}: {source}", .path.display())]
    Lower {
        /// The file.
        path: PathBuf,
        /// Why.
        source: LowerError,
    },
    /// Output could not be written.
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

impl InputError {
    /// The exit code this error ends the command with.
    pub fn exit_code(&self) -> u8 {
        match self {
            InputError::Io { .. } | InputError::Output(_) => exit::USAGE,
            _ => exit::INVALID,
        }
    }

    /// Every violation's message, when the error is a plan or spec that breaks rules (one
    /// message otherwise: the error itself).
    pub fn messages(&self) -> Vec<String> {
        match self {
            InputError::InvalidPlan { violations, .. } => {
                violations.iter().map(ToString::to_string).collect()
            }
            InputError::InvalidSpec { violations, .. } => {
                violations.iter().map(ToString::to_string).collect()
            }
            other => vec![other.to_string()],
        }
    }
}

/// Reads `path`: a plan document (`.toml`), a kv spec (`.kv`), or — any other extension —
/// whichever of the two it parses as.
pub fn load(path: &Path) -> Result<Input, InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let as_plan = |text: &str| PipelinePlanV2::from_toml(text);
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => as_plan(&text)
            .map(Input::Plan)
            .map_err(|source| InputError::Document {
                path: path.to_path_buf(),
                source,
            }),
        Some("kv") => PipelineSpecV1::from_kv(&text)
            .map(Input::Spec)
            .map_err(|source| InputError::Kv {
                path: path.to_path_buf(),
                source,
            }),
        _ => match as_plan(&text) {
            Ok(plan) => Ok(Input::Plan(plan)),
            Err(document) => match PipelineSpecV1::from_kv(&text) {
                Ok(spec) => Ok(Input::Spec(spec)),
                Err(kv) => Err(InputError::Unrecognised {
                    path: path.to_path_buf(),
                    document: Box::new(document),
                    kv: Box::new(kv),
                }),
            },
        },
    }
}

/// Reads `path` and lowers it (a plan) or validates it (a spec).
pub fn lowered(path: &Path) -> Result<Lowered, InputError> {
    match load(path)? {
        Input::Plan(plan) => match lower_v2(&plan) {
            Ok(spec) => Ok(Lowered {
                plan: Some(plan),
                spec,
            }),
            Err(LowerError::Invalid(violations)) => Err(InputError::InvalidPlan {
                path: path.to_path_buf(),
                plan: plan.name.clone(),
                violations,
            }),
            Err(source) => Err(InputError::Lower {
                path: path.to_path_buf(),
                source,
            }),
        },
        Input::Spec(spec) => match validate_v1(&spec) {
            Ok(()) => Ok(Lowered { plan: None, spec }),
            Err(violations) => Err(InputError::InvalidSpec {
                path: path.to_path_buf(),
                spec: spec.name.clone(),
                violations,
            }),
        },
    }
}
