//! Specs: the canonical `PipelineSpecV1`, its validation, kv codec, fingerprint, describe and dot.

mod model;

pub use model::*;
