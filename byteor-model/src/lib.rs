//! byteor-model: the plan/spec compiler of [byteor](https://docs.rs/byteor).
//!
//! Plain Rust — no unsafe code, no threads, no procedural macros — so that the runtime
//! (`byteor`) and the authoring macros (`byteor-macros`) can both use it and every plan rule
//! exists once. `byteor` re-exports every module here (`byteor::plan`, `byteor::lower`,
//! `byteor::spec`, `byteor::vocab`) and the v1 limits at its root; most programs name them
//! through `byteor`.
//!
//! # The blessed path
//!
//! ```text
//! PipelinePlanV2  --validate_plan_v2-->  (errors | ok)
//!                 --lower_v2----------->  PipelineSpecV1  --validate_v1--> ok
//! ```
//!
//! ```
//! use byteor_model::plan::{validate_plan_v2, PipelinePlanV2, StageDecl};
//! use byteor_model::{lower::lower_v2, spec::validate_v1};
//!
//! let plan = PipelinePlanV2::single_ring("orders")
//!     .with_ingress("orders_in")
//!     .with_egress("fills_out")
//!     .with_stage(StageDecl::new("parse"))
//!     .with_stage(StageDecl::new("risk").after("parse"));
//! validate_plan_v2(&plan)?;
//! let spec = lower_v2(&plan)?;
//! validate_v1(&spec)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modules
//!
//! Dependencies point one way: `vocab <- plan <- lower -> spec`, and `spec` uses nothing of
//! `plan` (a spec read from kv text stands on its own).
//!
//! * [`vocab`] — the words plans and specs share: execution targets, lane kinds, `on_full`,
//!   ordering, producer and scheduling modes, role kinds, parameter values, the v1 limits.
//! * [`plan`] — [`plan::PipelinePlanV2`], [`plan::validate_plan_v2`], TOML plan documents.
//! * [`lower`] — [`lower::lower_v2`], plan to spec.
//! * [`spec`] — [`spec::PipelineSpecV1`], [`spec::validate_v1`], the kv codec, fingerprint,
//!   `describe` and `dot`.
//! * [`diagnostics`] — [`diagnostics::Violations`], the one collection both validations
//!   return, and the helpers they share (name labels, "did you mean", the cycle walk).
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

pub mod diagnostics;
pub mod lower;
pub mod plan;
pub mod spec;
pub mod vocab;

pub use vocab::{
    FANOUT_V1_MAX_CONSUMERS, LANE_NAME_V1_MAX_BYTES, NAME_V1_MAX_BYTES, PARAM_V1_MAX_DEPTH,
    PIPELINE_V1_MAX_THREADS, RING_V1_MAX_BYTES, RING_V1_MAX_CAPACITY, ROLE_NAME_V1_MAX_BYTES,
    SEQUENCED_SLOTS_V1_GATING, SINGLE_RING_V1_MAX_SHARDS, SINGLE_RING_V1_MAX_STAGES,
};
