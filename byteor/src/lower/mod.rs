//! Lowering: `PipelinePlanV2` to the canonical `PipelineSpecV1`.
