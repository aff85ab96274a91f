//! Spec fingerprints: a stable 64-bit identity of a spec's canonical form.
//!
//! # Algorithm
//!
//! The fingerprint is **FNV-1a, 64-bit**, over the bytes of the canonical kv text
//! ([`PipelineSpecV1::to_kv`]):
//!
//! ```text
//! hash = 0xcbf29ce484222325                 (offset basis)
//! for each byte b of to_kv():
//!     hash = hash XOR b
//!     hash = hash * 0x00000100000001b3      (FNV prime, wrapping 64-bit multiply)
//! ```
//!
//! Nothing else goes in: no hasher seeded per process, no map iteration order, no pointer
//! values. The kv text is ASCII with a fixed key order, so the value is the same on every
//! platform and in every release that reads format version 1. Two specs have equal
//! fingerprints when their canonical texts are equal (barring a 64-bit collision); a change to
//! any name, capacity, mask, parameter or lane changes the text and so, almost surely, the
//! fingerprint. It identifies a spec; it is not a cryptographic digest.

use std::fmt;
use std::str::FromStr;

use super::model::PipelineSpecV1;

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64-bit, of `bytes`.
pub(crate) fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// The fingerprint of a spec: FNV-1a 64 of its canonical kv text (see the
/// [module docs](crate::spec::fingerprint)).
///
/// Displays (and parses) as 16 lowercase hex digits.
///
/// ```
/// use byteor_model::spec::Fingerprint;
///
/// let fp: Fingerprint = "00000000000000ff".parse()?;
/// assert_eq!(fp.as_u64(), 255);
/// assert_eq!(fp.to_string(), "00000000000000ff");
/// # Ok::<(), byteor_model::spec::ParseFingerprintError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(u64);

impl Fingerprint {
    /// A fingerprint with the given value.
    pub const fn from_u64(value: u64) -> Self {
        Fingerprint(value)
    }

    /// The 64-bit value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::LowerHex for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({:016x})", self.0)
    }
}

/// Why a string is not a [`Fingerprint`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fingerprint `{input}`: expected exactly 16 hex digits")]
pub struct ParseFingerprintError {
    /// The rejected input (cut to 40 characters).
    pub input: String,
}

impl FromStr for Fingerprint {
    type Err = ParseFingerprintError;

    /// Parses exactly 16 hex digits (either case; [`Display`](fmt::Display) writes lowercase).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Ok(v) = u64::from_str_radix(s, 16) {
                return Ok(Fingerprint(v));
            }
        }
        Err(ParseFingerprintError {
            input: s.chars().take(40).collect(),
        })
    }
}

impl PipelineSpecV1 {
    /// The spec's fingerprint: FNV-1a 64 over [`to_kv`](Self::to_kv).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint(fnv1a_64(self.to_kv().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_64_matches_the_published_test_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn display_and_parse_agree() {
        let fp = Fingerprint::from_u64(0x0123_4567_89ab_cdef);
        assert_eq!(fp.to_string(), "0123456789abcdef");
        assert_eq!(format!("{fp:x}"), "0123456789abcdef");
        assert_eq!(format!("{fp:?}"), "Fingerprint(0123456789abcdef)");
        assert_eq!("0123456789ABCDEF".parse(), Ok(fp));
        for bad in [
            "",
            "0123456789abcde",
            "0123456789abcdef0",
            "+123456789abcdef",
            "xyz",
        ] {
            assert!(bad.parse::<Fingerprint>().is_err(), "{bad}");
        }
        assert!(Fingerprint::from_u64(1) < Fingerprint::from_u64(2));
    }
}
