//! byteor: low-latency staged event pipelines in the style of the LMAX Disruptor.
//!
//! A producer writes events in place into a pre-allocated ring; up to
//! [`SINGLE_RING_V1_MAX_STAGES`] stages, each on a dedicated thread, handle every event in
//! dependency order; a slot is reused once every *final* stage has passed it. Nothing is
//! allocated, locked or dispatched dynamically per event.
//!
//! # Quick start
//!
//! ```
//! use byteor::prelude::*;
//!
//! #[derive(Default, Clone, Copy)]
//! struct Order { id: u64, qty: i64, price: i64 }
//!
//! let pipeline = SingleRing::<Order>::build("orders", |ring| {
//!     let ring = ring.capacity(1024).ingress("orders_in").egress("fills_out");
//!     let (ring, parse) = ring.stage("parse", from_fn_mut(|o: &mut Order, _: &EventContext| {
//!         o.qty = o.qty.clamp(-1000, 1000); // the only stage that may change the event
//!         Ok(())
//!     }));
//!     let mut exposure = 0i64;
//!     let (ring, _risk) = ring.stage_after("risk", from_fn(move |o: &Order, _: &EventContext| {
//!         exposure += o.qty * o.price;
//!         Ok(())
//!     }), [parse]);
//!     ring.build()
//! })?;
//! let (mut producer, control) = pipeline.spawn()?;
//! for id in 0..10_000 {
//!     producer.publish(|o| *o = Order { id, qty: 10, price: 100 })?;
//! }
//! producer.close();              // end of stream: stages drain everything published
//! let report = control.join()?;  // per-stage counts; a failed stage is named in the error
//! assert_eq!(report.processed("risk"), 10_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The blessed path
//!
//! Every authoring surface — the typed builder above, the [`pipeline`] macro, a TOML plan
//! document — produces a [`plan::PipelinePlanV2`]. It is checked with
//! [`plan::validate_plan_v2`] (every violation, each naming its offender), lowered with
//! [`lower::lower_v2`] into the canonical [`spec::PipelineSpecV1`], and the spec is checked on
//! its own with [`spec::validate_v1`] before an executor runs it:
//!
//! ```
//! use byteor::plan::{validate_plan_v2, PipelinePlanV2, StageDecl};
//! use byteor::{lower::lower_v2, spec::validate_v1};
//!
//! let plan = PipelinePlanV2::single_ring("orders")
//!     .with_ingress("orders_in")
//!     .with_egress("fills_out")
//!     .with_stage(StageDecl::new("parse"))
//!     .with_stage(StageDecl::new("risk").after("parse"))
//!     .with_stage(StageDecl::new("audit").after("parse"))
//!     .with_stage(StageDecl::new("publish").after("risk").after("audit").side_effects(true));
//!
//! validate_plan_v2(&plan)?;
//! let spec = lower_v2(&plan)?;
//! validate_v1(&spec)?;
//!
//! // The canonical text form round-trips exactly and has a stable fingerprint.
//! let kv = spec.to_kv();
//! assert_eq!(byteor::spec::PipelineSpecV1::from_kv(&kv)?, spec);
//! println!("{}\n{}", spec.fingerprint(), byteor::spec::describe(&spec));
//!
//! // Plan documents round-trip too.
//! assert_eq!(PipelinePlanV2::from_toml(&plan.to_toml())?, plan);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modules
//!
//! * [`plan`] — the plan model, validation, TOML documents.
//! * [`lower`] and [`spec`] — lowering, the canonical spec, kv codec, fingerprint, `describe`,
//!   `dot`.
//! * [`exec`] — stages, the typed builder, producer and control handles, egress, the stage
//!   registry for plans authored as documents.
//! * [`kernel`] — sequences, barriers, the final-stage gate and wait strategies (the only
//!   lock-free protocol code), with a loom model.
//! * [`backing`] — ring storage behind one trait.
//! * [`abi`] — `#[repr(C)]` event layouts for shared memory.
#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod abi;
pub mod backing;
pub mod exec;
pub mod kernel;
pub mod lower;
pub mod plan;
pub mod spec;
mod sync;

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

/// Most shards of one SingleRing. Each shard is a ring of its own with one thread per stage,
/// so this bounds threads and ring memory together with [`PIPELINE_V1_MAX_THREADS`] and
/// [`RING_V1_MAX_BYTES`].
pub const SINGLE_RING_V1_MAX_SHARDS: u32 = 256;

/// Most slots of one ring or lane (`single_ring.capacity`, a lane's or the boundary policy's
/// `capacity`): 2^24. Capacities are powers of two between 2 and this (a `sequenced_slots`
/// lane's, any number between 1 and this).
pub const RING_V1_MAX_CAPACITY: u32 = 1 << 24;

/// Most bytes of ring memory one pipeline may ask for: for a SingleRing, capacity × slot size ×
/// shards (the slot size is the event type's size, known once the executor binds it). 1 GiB.
/// `validate_v1` checks it when a spec's slot size is set.
///
/// A plan within every limit can still fail to start when the host has less memory: ring
/// memory is allocated fallibly, and that failure is an error, never an abort.
pub const RING_V1_MAX_BYTES: u64 = 1 << 30;

/// Most threads one pipeline starts: for a SingleRing, stages × shards; for a LaneGraph, its
/// roles (stages plus the bridges, routers and merges lowering inserts). Plan validation counts
/// the roles lowering will produce, so a plan that validates always lowers within this limit,
/// and `validate_v1` checks it again on the spec.
pub const PIPELINE_V1_MAX_THREADS: usize = 256;

/// Longest pipeline, stage, boundary, stage-kind, shard-key or parameter name, in bytes.
///
/// Those names but parameter names are also made of ASCII letters, digits, `_` and `-` only,
/// so that no name can hold a control character, a path separator, or the `.` and `->`
/// lowering uses in the names of the roles and lanes it inserts (their longest names are
/// [`spec::ROLE_NAME_V1_MAX_BYTES`] and [`spec::LANE_NAME_V1_MAX_BYTES`]).
pub const NAME_V1_MAX_BYTES: usize = 64;

/// Deepest nesting of a stage parameter value: a scalar has depth 1, `[1]` depth 2, `[[1]]`
/// depth 3, and so on (tables count like arrays; see [`plan::ParamValue::depth`]). Plan
/// documents, kv specs and both validators use this one limit, so whatever validates also
/// writes and reads back, and no reader recurses deeper than it.
pub const PARAM_V1_MAX_DEPTH: usize = 32;

/// Most consumers of one `FanoutBroadcast` lane.
///
/// Each consumer of a broadcast lane owns a 128-byte cursor the writer must scan before it may
/// reuse a slot; eight keeps that scan within one kilobyte of hot cache lines and matches the
/// core counts byteor targets. Wider fan-out is built from broadcast lanes in a tree.
pub const FANOUT_V1_MAX_CONSUMERS: usize = 8;

/// The only gating mode of v1 `SequencedSlots` lanes: a slot is reusable once every reader of
/// the lane has released it.
pub const SEQUENCED_SLOTS_V1_GATING: &str = "all_readers";
