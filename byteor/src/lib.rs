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
//! * [`vocab`] — the words plans and specs share (targets, lane kinds, modes, role kinds,
//!   parameter values, the v1 limits).
//! * [`plan`] — the plan model, validation, TOML documents.
//! * [`lower`] and [`spec`] — lowering, the canonical spec, kv codec, fingerprint, `describe`,
//!   `dot`.
//!
//! These four live in the `byteor-model` crate (no unsafe code, no threads) and are
//! re-exported here unchanged.
//! * [`exec`] — stages, the typed builder, producer and control handles, egress, the stage
//!   registry for plans authored as documents.
//! * [`kernel`] — sequences, barriers, the final-stage gate and wait strategies (the only
//!   lock-free protocol code), with a loom model.
//! * [`backing`] — ring storage behind one trait.
//! * [`abi`] — `#[repr(C)]` event layouts for shared memory.
#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

// The derive macros name paths `::byteor::...`; this lets the crate use them on its own types.
extern crate self as byteor;

pub mod abi;
pub mod backing;
pub mod exec;
pub mod kernel;
mod macro_support;
// The operator surface needs shared memory (snapshot, roles over processes): Linux only.
#[cfg(all(target_os = "linux", not(loom)))]
pub mod ops;
mod sync;
pub mod transport;

/// The model crate, re-exported: plans, lowering, specs and their shared vocabulary live in
/// [`byteor_model`] so that this crate and `byteor-macros` share one set of plan rules.
pub use byteor_model::{diagnostics, lower, plan, spec, vocab};

/// The v1 limits (defined in [`vocab`]).
pub use byteor_model::vocab::{
    FANOUT_V1_MAX_CONSUMERS, NAME_V1_MAX_BYTES, PARAM_V1_MAX_DEPTH, PIPELINE_V1_MAX_THREADS,
    RING_V1_MAX_BYTES, RING_V1_MAX_CAPACITY, SEQUENCED_SLOTS_V1_GATING, SINGLE_RING_V1_MAX_SHARDS,
    SINGLE_RING_V1_MAX_STAGES,
};

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
