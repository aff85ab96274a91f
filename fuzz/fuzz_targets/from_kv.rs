//! Arbitrary text through `PipelineSpecV1::from_kv`; on success the kv round trip, a stable
//! fingerprint, and `validate_v1`/`describe`/`dot` without panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    byteor_fuzz::properties::from_kv_target(data);
});
