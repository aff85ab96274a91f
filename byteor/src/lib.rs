//! byteor: low-latency staged event pipelines in the style of the LMAX Disruptor.
//!
//! A pipeline is authored as a [`plan::PipelinePlanV2`], validated with
//! [`plan::validate_plan_v2`], lowered with [`lower::lower_v2`] into the canonical
//! [`spec::PipelineSpecV1`], checked again with [`spec::validate_v1`], and run by an executor.
#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod abi;
pub mod backing;
pub mod exec;
pub mod kernel;
pub mod lower;
pub mod plan;
pub mod spec;

/// The names most programs need: `use byteor::prelude::*;`.
pub mod prelude {
    pub use crate::exec::{
        from_fn, from_fn_mut, per_shard, BatchContext, BuildError, Control, EventContext, MutStage,
        PipelineError, Producer, PublishError, SingleRing, Stage, StageError, StageInfo, StageRef,
        TryPublishError,
    };
    pub use crate::kernel::WaitStrategy;
    pub use crate::lower::lower_v2;
    pub use crate::plan::{OrderingMode, PipelinePlanV2, StageDecl};
    pub use crate::spec::{validate_v1, PipelineSpecV1};
}

/// The authoring macros: `#[pipeline]`, `#[derive(StageDescriptor)]` (also at
/// [`exec::StageDescriptor`]) and `#[derive(ShmEvent)]` (also at [`abi::ShmEvent`]).
pub use byteor_macros::{pipeline, ShmEvent, StageDescriptor};

// The macro crate cannot depend on this one, so it checks the stage limit against its own copy;
// this stops the build if the two ever disagree.
const _: () = assert!(byteor_macros::__single_ring_v1_max_stages!() == SINGLE_RING_V1_MAX_STAGES);

/// Most stages a SingleRing holds (per shard).
pub const SINGLE_RING_V1_MAX_STAGES: usize = 4;

/// Most consumers of one `FanoutBroadcast` lane.
///
/// Each consumer of a broadcast lane owns a 128-byte cursor the writer must scan before it may
/// reuse a slot; eight keeps that scan within one kilobyte of hot cache lines and matches the
/// core counts byteor targets. Wider fan-out is built from broadcast lanes in a tree.
pub const FANOUT_V1_MAX_CONSUMERS: usize = 8;

/// The only gating mode of v1 `SequencedSlots` lanes: a slot is reusable once every reader of
/// the lane has released it.
pub const SEQUENCED_SLOTS_V1_GATING: &str = "all_readers";
