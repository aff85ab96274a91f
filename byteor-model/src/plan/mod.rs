//! Plans: the [`PipelinePlanV2`] source contract, its validation and its documents.
//!
//! # The model
//!
//! A [`PipelinePlanV2`] is plain data. It names the pipeline, declares its execution target
//! ([`ExecutionTargetV1::SingleRing`] or [`ExecutionTargetV1::LaneGraph`]) and carries three
//! catalogs — [`ingress`](PipelinePlanV2::ingress) and [`egress`](PipelinePlanV2::egress)
//! boundaries, and [`stages`](PipelinePlanV2::stages) — plus one payload per target:
//! [`SingleRingConstraints`] (capacity, shards, ordering, producer, scheduling, shard key) or a
//! [`LaneGraphPlan`] (connections with lane intents, the boundary lane policy, `on_full`).
//!
//! The model mirrors the TOML plan document one to one, so a plan can say things no valid
//! plan says — a `single_ring` target with a `lane_graph` payload, `shards = 0`, a dependency
//! on an unknown stage. Such plans are representable on purpose: [`validate_plan_v2`] reports
//! *every* violation at once, each a [`PlanViolation`] naming the offending stage, boundary,
//! connection or field.
//!
//! # The rules
//!
//! Every target:
//! - the pipeline name, every stage and boundary name, an explicit stage `kind` and a
//!   (non-empty) `shard_key` are *names*: 1 to [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES)
//!   bytes of ASCII letters, digits, `_` and `-`. Lowering names the roles and lanes it inserts
//!   with `.`, `>` and `*` (`router.parse`, `parse->router.parse`), so a plan name can never
//!   clash with a generated one, and no name can carry a control character into a thread name
//!   or a terminal;
//! - the target has its payload and not the other one's;
//! - stage and boundary names are unique across all three catalogs;
//! - stage parameter names are at most [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES) bytes,
//!   and parameter values nest at most [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH)
//!   levels ([`ParamValue::depth`]).
//!
//! SingleRing:
//! - exactly one ingress and one egress, 1 to [`SINGLE_RING_V1_MAX_STAGES`](crate::SINGLE_RING_V1_MAX_STAGES) stages;
//! - each `after` entry names an *earlier* stage (stages are listed in topological order), no
//!   stage runs after itself, no dependency is listed twice;
//! - `capacity` is a power of two from 2 to
//!   [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY); `shards` is 1 to
//!   [`SINGLE_RING_V1_MAX_SHARDS`](crate::SINGLE_RING_V1_MAX_SHARDS), and stages × shards (one
//!   thread each) at most [`PIPELINE_V1_MAX_THREADS`](crate::PIPELINE_V1_MAX_THREADS); `strict`
//!   ordering needs one shard, more than one shard needs a `shard_key`;
//! - `producer = multi` and `scheduling = work_queue` are not supported in v1;
//! - no connections (lane intents).
//!
//! LaneGraph:
//! - at least one ingress, one egress and one stage; no `after` lists; `on_full` set;
//! - connections go ingress → stage, stage → stage, stage → egress, between declared names,
//!   each at most once; every boundary is used; every stage is reachable from an ingress and
//!   leads to an egress; there is no cycle;
//! - lane kinds are enabled by the build's cargo features ([`LaneKind::required_feature`]);
//!   `sequenced_slots` lanes have a capacity > 0 and gating
//!   [`SEQUENCED_SLOTS_V1_GATING`](crate::SEQUENCED_SLOTS_V1_GATING), other lanes no gating
//!   and, when set, a power-of-two capacity of at least 2 (the boundary policy likewise); no
//!   capacity is above [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY);
//! - the `fanout_broadcast` connections of one source share one lane: all the source's
//!   connections use that kind and one capacity, for at most
//!   [`FANOUT_V1_MAX_CONSUMERS`](crate::FANOUT_V1_MAX_CONSUMERS) consumers;
//! - the roles lowering produces — one per stage, plus the bridges, routers and merges it
//!   inserts ([`crate::lower`] says where) — are at most
//!   [`PIPELINE_V1_MAX_THREADS`](crate::PIPELINE_V1_MAX_THREADS), each being a thread.
//!
//! Together these rules promise that [`lower_v2`](crate::lower::lower_v2) compiles every plan
//! that validates into a spec that passes [`validate_v1`](crate::spec::validate_v1).
//!
//! Validation costs time and memory linear in the plan (up to a logarithmic factor), however
//! hostile: names in violations are stored escaped and cut to a bounded length, "did you
//! mean" suggestions come from a bounded search, and only the first 16 cycles are listed.
//!
//! # Building and validating a plan in code
//!
//! ```
//! use byteor_model::plan::{
//!     validate_plan_v2, OrderingMode, PipelinePlanV2, PlanViolation, SingleRingConstraints,
//!     StageDecl,
//! };
//!
//! // A diamond: `parse` feeds `risk` and `audit`, which both feed `route`.
//! let plan = PipelinePlanV2::single_ring("orders")
//!     .with_ingress("orders_in")
//!     .with_egress("fills_out")
//!     .with_stage(StageDecl::new("parse").kind("parse_order").param("max_qty", 1000))
//!     .with_stage(StageDecl::new("risk").after("parse"))
//!     .with_stage(StageDecl::new("audit").after("parse").side_effects(true))
//!     .with_stage(StageDecl::new("route").after("risk").after("audit"));
//! assert!(validate_plan_v2(&plan).is_ok());
//!
//! // Four shards with strict ordering and no shard key: two violations, both reported.
//! let sharded = plan.with_single_ring(SingleRingConstraints {
//!     shards: 4,
//!     ordering: OrderingMode::Strict,
//!     ..SingleRingConstraints::default()
//! });
//! let errors = validate_plan_v2(&sharded).unwrap_err();
//! assert_eq!(errors.len(), 2);
//! assert!(matches!(errors.violations()[0], PlanViolation::StrictOrderingWithShards { shards: 4 }));
//! assert!(matches!(errors.violations()[1], PlanViolation::MissingShardKey { shards: 4 }));
//! ```
//!
//! # Reading a plan document
//!
//! With the `toml` cargo feature (on by default), plans are read from and written to TOML
//! documents with `PipelinePlanV2::from_toml` (whose docs describe the format) and
//! `PipelinePlanV2::to_toml`, and `from_toml(to_toml(p)) == p` for every plan that validates
//! (indeed for every plan whose parameters nest at most
//! [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH) levels), as long as its document stays
//! within `PLAN_DOCUMENT_MAX_ITEMS` (some 850 KB of plan; the reader refuses larger documents to
//! bound its memory). The parser
//! checks the document's shape (keys, types, enum values, `version = 2`) and reports the
//! first problem with its line and column; the plan rules are left to [`validate_plan_v2`]:
//!
#![cfg_attr(feature = "toml", doc = "```")]
#![cfg_attr(not(feature = "toml"), doc = "```ignore")]
//! use byteor_model::plan::{validate_plan_v2, PipelinePlanV2};
//!
//! let document = r#"
//! version = 2
//! name = "orders"
//! target = "single_ring"
//!
//! [[ingress]]
//! name = "orders_in"
//! [[egress]]
//! name = "fills_out"
//!
//! [[stages]]
//! name = "parse"
//! [[stages]]
//! name = "risk"
//! after = ["parse", "route"]
//! [[stages]]
//! name = "route"
//!
//! [single_ring]
//! shards = 4
//! ordering = "strict"
//! producer = "multi"
//! "#;
//!
//! let plan = PipelinePlanV2::from_toml(document).expect("the document is well-formed");
//! let errors = validate_plan_v2(&plan).unwrap_err();
//! for violation in &errors {
//!     println!("{violation}");
//! }
//! assert_eq!(
//!     errors.to_string(),
//!     "stage `risk` runs after `route`, so `route` must come before `risk` in the stage list \
//!      (single_ring stages are listed in topological order)\n\
//!      single_ring.ordering `strict` requires shards = 1, found shards = 4; use ordering \
//!      `per_key` to shard\n\
//!      single_ring.shards = 4 requires a non-empty `shard_key` to route events to shards\n\
//!      single_ring.producer `multi` is not supported in v1: a single_ring has exactly one producer"
//! );
//! ```

#[cfg(feature = "toml")]
mod document;
mod model;
mod validate;

pub use crate::diagnostics::Violations;
#[cfg(feature = "toml")]
pub use document::{PlanDocumentError, PLAN_DOCUMENT_MAX_ITEMS, PLAN_DOCUMENT_VERSION};
pub use model::*;
pub use validate::{validate_plan_v2, DeclRole, NameItem, PlanViolation, ValidationErrors};
