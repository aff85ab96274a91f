//! Why a LaneGraph could not start.

use crate::vocab::LaneKind;

/// Why a LaneGraph could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphSpawnError {
    /// A lane kind this runtime does not run yet.
    #[error(
        "lane `{lane}`: {kind} lanes{detail} are not run by the in-process LaneGraph runtime yet"
    )]
    LaneKind {
        /// The lane.
        lane: String,
        /// Its kind.
        kind: LaneKind,
        /// What about it (`` under `drop` ``, or nothing).
        detail: &'static str,
    },
    /// The OS refused a role's thread.
    #[error("could not start the thread of role `{role}`: {source}")]
    Thread {
        /// The role.
        role: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The lowered graph has a shape this runtime does not expect (a bug in lowering or here).
    #[error("role or lane `{what}`: {problem}")]
    Shape {
        /// The role or lane.
        what: String,
        /// What is wrong.
        problem: String,
    },
}

pub(super) fn shape(what: &str, problem: impl Into<String>) -> GraphSpawnError {
    GraphSpawnError::Shape {
        what: what.to_owned(),
        problem: problem.into(),
    }
}
