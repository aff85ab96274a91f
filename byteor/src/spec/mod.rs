//! Specs: the canonical `PipelineSpecV1`, its validation, kv codec, fingerprint, describe and dot.

mod model;

pub use model::*;

/// Violations found in a spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecErrors(String);

/// Validates a spec on its own.
pub fn validate_v1(spec: &PipelineSpecV1) -> Result<(), SpecErrors> {
    if spec.stages.is_empty() {
        return Err(SpecErrors("no stages".into()));
    }
    Ok(())
}
