//! Plans: the `PipelinePlanV2` source contract, its validation and its documents.

mod model;
mod validate;

pub use model::*;
pub use validate::{validate_plan_v2, PlanViolation, ValidationErrors};
