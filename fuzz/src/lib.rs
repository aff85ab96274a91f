//! Support for byteor's cargo-fuzz targets: the shared property checks and the input type of
//! the structure-aware `plan_pipeline` target.
//!
//! The properties live in `fuzz/properties.rs` (with the byte format in `fuzz/plan_bytes.rs`)
//! so that the stable CI test `byteor/tests/fuzz_corpus.rs` includes the very same code.

use std::fmt;

use arbitrary::{Arbitrary, Unstructured};

#[path = "../properties.rs"]
pub mod properties;

pub use properties::plan_bytes;

/// The input of the `plan_pipeline` target: the raw bytes, decoded into a plan by
/// [`plan_bytes::decode`].
///
/// It implements [`Arbitrary`] by taking every byte as they are, rather than deriving a plan
/// generator: the decoding then depends on nothing but `plan_bytes.rs`, so the stable CI test
/// (which cannot depend on `arbitrary`) replays corpus files as exactly the same plans. Its
/// `Debug` form is the decoded plan as a TOML document, which is what
/// `cargo fuzz fmt plan_pipeline <input>` prints.
pub struct PlanInput {
    /// The input bytes.
    pub bytes: Vec<u8>,
}

impl<'a> Arbitrary<'a> for PlanInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let n = u.len();
        Ok(PlanInput {
            bytes: u.bytes(n)?.to_vec(),
        })
    }

    fn arbitrary_take_rest(u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(PlanInput {
            bytes: u.take_rest().to_vec(),
        })
    }
}

impl fmt::Debug for PlanInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plan = plan_bytes::decode(&self.bytes);
        writeln!(f, "# {} input bytes decode to this plan", self.bytes.len())?;
        f.write_str(&plan.to_toml())
    }
}
