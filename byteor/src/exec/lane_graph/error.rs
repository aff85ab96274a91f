//! Why a LaneGraph could not start.

use crate::backing::journal::JournalError;
use crate::vocab::LaneKind;

/// Why a LaneGraph could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphSpawnError {
    /// A lane of a kind that stores events as plain data (`journal`, `fanout_broadcast` under
    /// `drop`) carries an event type the graph does not know to be plain data.
    #[error(
        "lane `{lane}`: {kind} lanes{detail} store events as plain data, but its writer's events ({event_type}) were not declared plain data: use `GraphBuilder::plain_data` on the writer's output (the type must implement `Pod`, as `#[derive(ShmEvent)]` types do), or `GraphRegistry::register_plain`"
    )]
    NotPlainData {
        /// The lane.
        lane: String,
        /// Its kind.
        kind: LaneKind,
        /// What about it (`` under `drop` ``, or nothing).
        detail: &'static str,
        /// The event type.
        event_type: &'static str,
    },
    /// A `Journal` lane, but no directory for journals was given.
    #[error(
        "lane `{lane}` is a journal lane: give the graph a directory for its segments with `LaneGraphPipeline::journal_dir`"
    )]
    NoJournalDir {
        /// The lane.
        lane: String,
    },
    /// A journal lane's segments could not be opened.
    #[error("journal lane `{lane}`: {source}")]
    Journal {
        /// The lane.
        lane: String,
        /// What went wrong, naming the path.
        source: JournalError,
    },
    /// The OS refused a role's thread.
    #[error("could not start the thread of role `{role}`: {source}")]
    Thread {
        /// The role.
        role: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Roles given to a process that the graph does not have (or none at all).
    #[error(
        "graph `{pipeline}` has no process role {}: a process runs some of its ingresses, stages and egresses ({})",
        if unknown.is_empty() { "(none were given)".to_owned() } else { unknown.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ") },
        known.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
    )]
    UnknownRoles {
        /// The graph.
        pipeline: String,
        /// The names that are not process roles.
        unknown: Vec<String>,
        /// The process roles it has.
        known: Vec<String>,
    },
    /// A lane between processes that shared memory cannot carry.
    #[error("lane `{lane}` runs between processes, but {reason}")]
    NotShareable {
        /// The lane.
        lane: String,
        /// Why it cannot (its kind, its readers, its event type).
        reason: String,
    },
    /// A lane's shared-memory region could not be created or opened.
    #[cfg(all(target_os = "linux", not(loom)))]
    #[error("lane `{lane}`: {source}")]
    Region {
        /// The lane.
        lane: String,
        /// What went wrong, naming the file (boxed: the error is large).
        source: Box<crate::transport::shm::ShmError>,
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
