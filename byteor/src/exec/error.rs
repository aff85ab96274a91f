//! Executor errors. Every variant names the stage, shard or setting it is about.

use std::fmt;

/// A stage that stopped the pipeline: which one, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageFailure {
    /// The stage's name.
    pub stage: String,
    /// The shard it served.
    pub shard: u32,
    /// The sequence (within the shard) it was handling, when the failure was tied to one
    /// event: the event whose `on_event` failed or panicked, or the last event of the batch
    /// whose `on_batch_end` failed. `None` for `on_start` failures.
    pub sequence: Option<u64>,
    /// The error text or panic message.
    pub reason: String,
    /// Whether the stage panicked (rather than returning an error).
    pub panicked: bool,
}

impl fmt::Display for StageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.panicked { "panicked" } else { "failed" };
        write!(f, "stage `{}` (shard {}) {what}", self.stage, self.shard)?;
        if let Some(seq) = self.sequence {
            write!(f, " at sequence {seq}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Why a running pipeline (or one of its handles) stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    /// A stage returned an error or panicked; the pipeline stopped.
    #[error("{0}")]
    StageFailed(StageFailure),
    /// The pipeline was shut down (or its producer closed); it accepts no more events.
    #[error("the pipeline is shut down")]
    Closed,
    /// A process this one shared the pipeline's rings with died (stages split over processes
    /// on shared memory): this process finished what had been published and stopped.
    #[error("the {peer} process (pid {pid}) died: {reason}")]
    PeerDied {
        /// Which peer: `producer`, or `stage `name``.
        peer: String,
        /// Its process id.
        pid: u32,
        /// How the death was seen.
        reason: String,
    },
}

impl PipelineError {
    /// The failed stage's name, when a stage caused the error.
    pub fn stage(&self) -> Option<&str> {
        match self {
            PipelineError::StageFailed(f) => Some(&f.stage),
            _ => None,
        }
    }
}

/// A `publish` that could not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The pipeline stopped (shut down or failed); see the inner error.
    #[error("cannot publish: {0}")]
    Stopped(PipelineError),
    /// The ring is full and a stage it waits on runs in another process that is down (shared
    /// memory): nothing was published. The pipeline keeps running; publish again once the
    /// stage's process is back (a restarted stage resumes where it left off).
    #[error("cannot publish now: the ring is full and {0}")]
    PeerDown(crate::backing::PeerDown),
    /// A batch larger than the ring.
    #[error("a batch of {requested} events does not fit a ring of {capacity} slots")]
    BatchTooLarge {
        /// Events in the batch.
        requested: usize,
        /// Ring capacity.
        capacity: u64,
    },
}

/// A `try_publish` that did not publish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TryPublishError {
    /// The ring (of shard `shard`) is full; nothing was written. Retry later.
    #[error("ring of shard {shard} is full")]
    Full {
        /// The shard whose ring is full.
        shard: u32,
    },
    /// The ring is full and a stage it waits on runs in another process that is down (shared
    /// memory); nothing was written. See [`PublishError::PeerDown`].
    #[error("ring is full and {0}")]
    PeerDown(crate::backing::PeerDown),
    /// The pipeline stopped (shut down or failed).
    #[error("cannot publish: {0}")]
    Stopped(PipelineError),
}

/// Why a pipeline could not be built from the builder.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The authored plan breaks rules (every violation listed).
    #[error("invalid pipeline plan:\n{0}")]
    InvalidPlan(crate::plan::ValidationErrors),
    /// Lowering failed for a reason other than the plan's rules (none in v1: a plan that
    /// validates always lowers).
    #[error("lowering failed: {0}")]
    Lower(crate::lower::LowerError),
    /// The rings would take more memory than the v1 limit
    /// ([`RING_V1_MAX_BYTES`](crate::RING_V1_MAX_BYTES)) for this event type.
    #[error("{0}")]
    RingMemory(crate::backing::BackingError),
    /// A mutating stage is not ordered against another stage, so both could touch the same
    /// event at once.
    #[error(
        "stage `{stage}` mutates events but is not ordered against stage `{other}`: make one run after the other"
    )]
    UnorderedMutation {
        /// The mutating stage.
        stage: String,
        /// A stage that may run on the same event at the same time.
        other: String,
    },
    /// A LaneGraph connection names a handle made by another builder.
    #[error("connection `{from} -> {to}` uses a handle from another LaneGraph builder")]
    ForeignHandle {
        /// The connection's source.
        from: String,
        /// The connection's destination.
        to: String,
    },
}

/// `lower_v2` checks every plan rule once: its `Invalid` is the builder's `InvalidPlan`.
impl From<crate::lower::LowerError> for BuildError {
    fn from(e: crate::lower::LowerError) -> Self {
        match e {
            crate::lower::LowerError::Invalid(violations) => BuildError::InvalidPlan(violations),
            other => BuildError::Lower(other),
        }
    }
}

/// Why `spawn` failed.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The OS refused to start a stage thread.
    #[error("could not start the thread of stage `{stage}` (shard {shard}): {source}")]
    Thread {
        /// The stage.
        stage: String,
        /// The shard.
        shard: u32,
        /// The OS error.
        source: std::io::Error,
    },
    /// Ring storage could not be created.
    #[error("could not create ring storage: {0}")]
    Backing(#[from] crate::backing::BackingError),
    /// A stage factory (a `per_shard` closure, a stage's `Clone`) panicked while making the
    /// instance for a shard.
    #[error("making the instance of stage `{stage}` for shard {shard} panicked: {reason}")]
    InstancePanicked {
        /// The stage.
        stage: String,
        /// The shard.
        shard: u32,
        /// The panic message.
        reason: String,
    },
    /// Ring storage given to [`spawn_on`](super::SingleRingPipeline::spawn_on) does not match
    /// what the shard needs, or is not fresh.
    #[error("the ring storage provided for shard {shard} does not fit: {problem}")]
    Storage {
        /// The shard.
        shard: u32,
        /// What does not fit.
        problem: String,
    },
    /// A stage factory produced no instance for a shard.
    #[error("stage `{stage}` has no instance for shard {shard}")]
    MissingInstance {
        /// The stage.
        stage: String,
        /// The shard.
        shard: u32,
    },
}
