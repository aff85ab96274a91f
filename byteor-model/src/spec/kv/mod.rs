//! The kv codec: the canonical text form of a [`PipelineSpecV1`](crate::spec::PipelineSpecV1).
//!
//! # Format
//!
//! Line-oriented `key=value` text, ASCII only in canonical form.
//!
//! * Lines are separated by `\n` (a `\r` before it is ignored). Empty or whitespace-only lines
//!   and lines whose first non-blank character is `#` are ignored.
//! * Every other line is `key=value`, split at its first `=`. No spaces around `=`; nothing is
//!   trimmed. Canonical text holds exactly one `=` per line, because strings escape theirs.
//! * The format version key `byteor.spec=1` is required; [`to_kv`](crate::spec::PipelineSpecV1::to_kv)
//!   writes it first.
//! * [`from_kv`](crate::spec::PipelineSpecV1::from_kv) accepts lines in any order, and rejects unknown keys,
//!   repeated keys, missing keys and malformed values, each error carrying the 1-based line
//!   number (see [`KvError`]).
//!
//! ## Keys, in canonical order
//!
//! | key | value |
//! |---|---|
//! | `byteor.spec` | format version, `1` |
//! | `name` | pipeline name (string) |
//! | `target` | `single_ring` or `lane_graph` |
//! | `stages` | number of stages `n`; then, for each `i` in `0..n`: |
//! | `stage.<i>.id` / `.name` / `.kind` / `.side_effects` | integer / string / string / `true`·`false` |
//! | `stage.<i>.param.<key>` | one line per parameter, keys in sorted order; `<key>` is an escaped string |
//! | **SingleRing** | |
//! | `single_ring.ingress` / `.egress` | strings |
//! | `single_ring.capacity` / `.slot_size` / `.slot_align` / `.shards` | integers |
//! | `single_ring.ordering` | `strict` or `per_key` |
//! | `single_ring.shard_key` | string; the line is absent when the ring has no shard key |
//! | `single_ring.deps` | one mask per stage, comma-separated (`deps[i]`) |
//! | `single_ring.final_mask` | mask |
//! | **LaneGraph** | |
//! | `lane_graph.on_full` | `block` or `drop` |
//! | `lanes` | lane count; then `lane.<i>.id` / `.name` / `.kind` / `.capacity` / `.gating` (absent when none) / `.on_full` / `.writer` / `.readers` |
//! | `roles` | role count; then `role.<i>.id` / `.name` / `.kind` / `.stage` (absent when none) / `.inputs` / `.outputs` |
//! | `endpoints` | endpoint count; then `endpoint.<i>.id` / `.name` / `.direction` / `.lane` |
//!
//! ## Values
//!
//! * Integers: unsigned decimal digits (no sign, no `+`).
//! * Masks: `0x` followed by exactly 8 lowercase hex digits in canonical text (`0x00000003` =
//!   stages 0 and 1); 1 to 8 hex digits of either case are accepted.
//! * Lists (`deps`, `inputs`, `outputs`, `readers`): comma-separated, no spaces; an empty list
//!   is an empty value. Lane ends are `role:<id>` or `endpoint:<id>`.
//! * Enumerations: `events`, `journal`, `sequenced_slots`, `fanout_broadcast`; `block`,
//!   `drop`; `stage`, `bridge`, `router`, `merge`; `ingress`, `egress`.
//! * Strings (names, kinds, keys, gating): the characters themselves, with this escaping:
//!   `\\` for `\`, `\"` for `"`, `\n`, `\r`, `\t`, and `\u{<hex>}` (lowercase, no leading zeros)
//!   for `=`, for a space at the very start or end of the string (so trailing-blank trimming
//!   cannot change a name), and for every other character outside printable ASCII
//!   (`0x20..=0x7e`). The decoder accepts any `\u{...}` of 1 to 6 hex digits naming a Unicode
//!   scalar value, and raw non-ASCII characters; it rejects a raw `=`, a raw control character
//!   and unknown escapes.
//! * Parameter values: `true`, `false`, integers (`-?[0-9]+`, i64), floats, strings in double
//!   quotes (same escaping), arrays `[v,v]` and tables `{"key":v,"key":v}` (keys sorted), with
//!   no whitespace outside strings and at most [`PARAM_V1_MAX_DEPTH`]
//!   levels of nesting (a scalar is 1 level, `[1]` 2, as [`ParamValue::depth`](crate::vocab::ParamValue::depth) counts; the
//!   limit validation applies too, so every spec that validates writes and reads back, and a
//!   deeper value is refused before it is parsed further). A float is written in
//!   Rust's shortest round-trip form (`{:?}`: `1.0`, `0.1`, `1e300`, `-0.0`, `inf`, `-inf`),
//!   which always carries a `.`, an exponent or a letter, so it never reads back as an integer;
//!   a NaN is written with its bit pattern, `nan(0x7ff8000000000000)`, so every float,
//!   NaN payload and sign of zero included, reads back bit for bit.
//!
//! ## Example
//!
//! The spec [`lower_v2`](crate::lower::lower_v2) makes of a two-stage SingleRing plan:
//!
//! ```
//! use byteor_model::spec::PipelineSpecV1;
//!
//! let text = "\
//! byteor.spec=1
//! name=orders
//! target=single_ring
//! stages=2
//! stage.0.id=0
//! stage.0.name=parse
//! stage.0.kind=parse_order
//! stage.0.side_effects=false
//! stage.0.param.limits={\"max_qty\":1000,\"venues\":[\"XLON\",\"XPAR\"]}
//! stage.0.param.tick=0.01
//! stage.1.id=1
//! stage.1.name=risk
//! stage.1.kind=risk
//! stage.1.side_effects=true
//! single_ring.ingress=orders_in
//! single_ring.egress=fills_out
//! single_ring.capacity=1024
//! single_ring.slot_size=0
//! single_ring.slot_align=0
//! single_ring.shards=1
//! single_ring.ordering=strict
//! single_ring.deps=0x00000000,0x00000001
//! single_ring.final_mask=0x00000002
//! ";
//! let spec = PipelineSpecV1::from_kv(text)?;
//! assert_eq!(spec.to_kv(), text);
//! assert_eq!(spec.fingerprint().to_string(), "31591843c7574700");
//!
//! // The plan it comes from.
//! use byteor_model::plan::{ParamValue, PipelinePlanV2, StageDecl};
//! use std::collections::BTreeMap;
//!
//! let limits = BTreeMap::from([
//!     ("max_qty".to_owned(), ParamValue::Int(1000)),
//!     ("venues".to_owned(), ParamValue::Array(vec!["XLON".into(), "XPAR".into()])),
//! ]);
//! let plan = PipelinePlanV2::single_ring("orders")
//!     .with_ingress("orders_in")
//!     .with_egress("fills_out")
//!     .with_stage(
//!         StageDecl::new("parse")
//!             .kind("parse_order")
//!             .param("tick", 0.01)
//!             .param("limits", ParamValue::Table(limits)),
//!     )
//!     .with_stage(StageDecl::new("risk").after("parse").side_effects(true));
//! assert_eq!(byteor_model::lower::lower_v2(&plan)?, spec);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::vocab::ExecutionTargetV1;
use crate::PARAM_V1_MAX_DEPTH;

/// The key of the format version line.
pub const KV_VERSION_KEY: &str = "byteor.spec";

/// The kv format version [`PipelineSpecV1::to_kv`](crate::spec::PipelineSpecV1::to_kv) writes and
/// [`PipelineSpecV1::from_kv`](crate::spec::PipelineSpecV1::from_kv) reads.
pub const KV_FORMAT_VERSION: u32 = 1;

/// Deepest nesting of a parameter value that `from_kv` accepts: now the one limit
/// [`PARAM_V1_MAX_DEPTH`] that plan documents and validation use
/// too.
#[deprecated(note = "use `byteor_model::PARAM_V1_MAX_DEPTH`, the one parameter nesting limit")]
pub const KV_MAX_PARAM_DEPTH: usize = PARAM_V1_MAX_DEPTH;

/// Why [`PipelineSpecV1::from_kv`](crate::spec::PipelineSpecV1::from_kv) refused a text. Every variant carries a 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// A line that is neither blank, a comment, nor `key=value`.
    #[error("line {line}: expected `key=value`")]
    MissingSeparator {
        /// The line.
        line: usize,
    },
    /// A key the format does not define.
    #[error("line {line}: unknown key `{key}`")]
    UnknownKey {
        /// The line.
        line: usize,
        /// The key as written.
        key: String,
    },
    /// A parameter key whose name is not a valid escaped string.
    #[error("line {line}: bad key `{key}`: {reason}")]
    BadKey {
        /// The line.
        line: usize,
        /// The key as written.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key written twice.
    #[error("line {line}: duplicate key `{key}` (first set on line {first})")]
    DuplicateKey {
        /// The line of the repeat.
        line: usize,
        /// The key.
        key: String,
        /// The line where it was first set.
        first: usize,
    },
    /// An indexed key beyond the count that declares the table.
    #[error("line {line}: key `{key}` is beyond `{count_key}={count}` (line {count_line})")]
    IndexOutOfRange {
        /// The line.
        line: usize,
        /// The key.
        key: String,
        /// The count key (`stages`, `lanes`, `roles`, `endpoints`).
        count_key: &'static str,
        /// The count.
        count: u32,
        /// The line of the count.
        count_line: usize,
    },
    /// A key that belongs to the other target.
    #[error("line {line}: key `{key}` does not belong to target {target} (line {target_line})")]
    WrongTarget {
        /// The line.
        line: usize,
        /// The key.
        key: String,
        /// The declared target.
        target: ExecutionTargetV1,
        /// The line of the `target` key.
        target_line: usize,
    },
    /// The format version line is absent.
    #[error("line 1: missing format version line `{KV_VERSION_KEY}={KV_FORMAT_VERSION}`")]
    MissingVersion,
    /// A format version this build does not read.
    #[error(
        "line {line}: unsupported format version `{found}`; this build reads {KV_FORMAT_VERSION}"
    )]
    UnsupportedVersion {
        /// The line.
        line: usize,
        /// The version found.
        found: String,
    },
    /// A required key is absent.
    #[error("line {line}: missing key `{key}` (required by `{required_by}` on this line)")]
    MissingKey {
        /// The line of the key that requires it.
        line: usize,
        /// The missing key.
        key: String,
        /// The line that requires it, as `key=value`.
        required_by: String,
    },
    /// A value that does not parse.
    #[error("line {line}: bad value `{value}` for `{key}`: {reason}")]
    BadValue {
        /// The line.
        line: usize,
        /// The key.
        key: String,
        /// The value: its first 64 characters and `...` when it is longer, characters that
        /// would not print as themselves escaped.
        value: String,
        /// What was expected.
        reason: String,
    },
}

impl KvError {
    /// The 1-based line the error points at.
    pub fn line(&self) -> usize {
        match self {
            KvError::MissingVersion => 1,
            KvError::MissingSeparator { line }
            | KvError::UnknownKey { line, .. }
            | KvError::BadKey { line, .. }
            | KvError::DuplicateKey { line, .. }
            | KvError::IndexOutOfRange { line, .. }
            | KvError::WrongTarget { line, .. }
            | KvError::UnsupportedVersion { line, .. }
            | KvError::MissingKey { line, .. }
            | KvError::BadValue { line, .. } => *line,
        }
    }
}

mod decode;
mod encode;
mod keys;
mod values;

pub(crate) use encode::{escape, write_param};

#[cfg(test)]
mod tests;
