//! Structure-aware: bytes decoded into a `PipelinePlanV2` of either target, then validate,
//! lower, validate_v1, describe/dot/kv/fingerprint and the document round trip; small valid
//! SingleRing plans are spawned through the stage registry and run.
#![no_main]

use byteor_fuzz::PlanInput;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: PlanInput| {
    byteor_fuzz::properties::plan_pipeline_target(&input.bytes);
});
