//! Arbitrary text through `PipelinePlanV2::from_toml`; on success the document round trip
//! and every plan property (validate, lower, validate_v1, kv, run when small).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    byteor_fuzz::properties::from_toml_target(data);
});
