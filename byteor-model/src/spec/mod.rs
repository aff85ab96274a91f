//! Specs: the canonical [`PipelineSpecV1`], its validation, kv codec, fingerprint, describe and
//! dot.
//!
//! A spec is what [`lower_v2`](crate::lower::lower_v2) makes of a plan and what an executor
//! runs: dense ids, concrete capacities, dependency masks, and (for LaneGraph) every lane and
//! role spelled out, inserted bridges, routers and merges included. Specs travel as text in the
//! canonical [kv format](kv); [`validate_v1`] checks one on its own, whatever its origin;
//! [`PipelineSpecV1::fingerprint`] identifies it; [`describe`] and [`dot`] show it.
//!
//! ```
//! use byteor_model::plan::{Connection, LaneIntent, PipelinePlanV2, StageDecl};
//! use byteor_model::spec::{describe, dot, validate_v1, PipelineSpecV1};
//!
//! // Fan-out from `parse` to `price` and `risk`, fan-in at `book`.
//! let plan = PipelinePlanV2::lane_graph("plant")
//!     .with_ingress("orders_in")
//!     .with_egress("fills_out")
//!     .with_stage(StageDecl::new("parse"))
//!     .with_stage(StageDecl::new("price"))
//!     .with_stage(StageDecl::new("risk"))
//!     .with_stage(StageDecl::new("book"))
//!     .with_connection(Connection::new("orders_in", "parse"))
//!     .with_connection(Connection::new("parse", "price"))
//!     .with_connection(Connection::new("parse", "risk").lane(LaneIntent::sequenced_slots(64)))
//!     .with_connection(Connection::new("price", "book"))
//!     .with_connection(Connection::new("risk", "book"))
//!     .with_connection(Connection::new("book", "fills_out"));
//!
//! let spec = byteor_model::lower::lower_v2(&plan)?;
//! validate_v1(&spec)?;
//!
//! let text = describe(&spec);
//! assert!(text.contains("router.parse"));
//! assert!(text.contains("merge.book"));
//! assert!(text.contains("bridge.router.parse.risk"));
//! assert!(dot(&spec).starts_with("digraph"));
//!
//! // The kv text round-trips exactly, fingerprint included.
//! let back = PipelineSpecV1::from_kv(&spec.to_kv())?;
//! assert_eq!(back, spec);
//! assert_eq!(back.fingerprint(), spec.fingerprint());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod fingerprint;
pub mod kv;
mod model;
mod validate;
mod view;

pub use crate::diagnostics::Violations;
pub use crate::vocab::{LANE_NAME_V1_MAX_BYTES, ROLE_NAME_V1_MAX_BYTES};
pub use fingerprint::{Fingerprint, ParseFingerprintError};
pub use kv::KvError;
pub use model::*;
pub use validate::{validate_v1, SpecErrors, SpecViolation};
pub use view::{describe, dot};
