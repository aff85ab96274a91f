//! The kv codec: the canonical text form of a [`PipelineSpecV1`].
//!
//! # Format
//!
//! Line-oriented `key=value` text, ASCII only in canonical form.
//!
//! * Lines are separated by `\n` (a `\r` before it is ignored). Empty or whitespace-only lines
//!   and lines whose first non-blank character is `#` are ignored.
//! * Every other line is `key=value`, split at its first `=`. No spaces around `=`; nothing is
//!   trimmed. Canonical text holds exactly one `=` per line, because strings escape theirs.
//! * The format version key `byteor.spec=1` is required; [`to_kv`](PipelineSpecV1::to_kv)
//!   writes it first.
//! * [`from_kv`](PipelineSpecV1::from_kv) accepts lines in any order, and rejects unknown keys,
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
//!   levels of nesting (a scalar is 1 level, `[1]` 2, as [`ParamValue::depth`] counts; the
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

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use super::model::{
    EndpointDirection, EndpointSpec, LaneEnd, LaneGraphSpec, LaneKind, LaneSpec, OnFull,
    OrderingMode, ParamValue, PipelineSpecV1, RoleKind, RoleSpec, SingleRingSpec, SlotGeometry,
    StageSpec, TopologySpec,
};
use crate::diagnostics::names::printable;
use crate::vocab::ExecutionTargetV1;
use crate::PARAM_V1_MAX_DEPTH;

/// The key of the format version line.
pub const KV_VERSION_KEY: &str = "byteor.spec";

/// The kv format version [`PipelineSpecV1::to_kv`] writes and
/// [`PipelineSpecV1::from_kv`] reads.
pub const KV_FORMAT_VERSION: u32 = 1;

/// Deepest nesting of a parameter value that `from_kv` accepts: now the one limit
/// [`PARAM_V1_MAX_DEPTH`] that plan documents and validation use
/// too.
#[deprecated(note = "use `byteor_model::PARAM_V1_MAX_DEPTH`, the one parameter nesting limit")]
pub const KV_MAX_PARAM_DEPTH: usize = PARAM_V1_MAX_DEPTH;

/// Why [`PipelineSpecV1::from_kv`] refused a text. Every variant carries a 1-based line number.
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

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Appends `s` with the kv string escaping.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for (i, c) in s.char_indices() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' ' if i == 0 || i + 1 == s.len() => out.push_str("\\u{20}"),
            '=' => out.push_str("\\u{3d}"),
            ' '..='~' => out.push(c),
            _ => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
}

/// `s` with the kv string escaping.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// Appends a parameter value in kv syntax.
pub(crate) fn write_param(out: &mut String, value: &ParamValue) {
    match value {
        ParamValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ParamValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        ParamValue::Float(f) => {
            if f.is_nan() {
                let _ = write!(out, "nan(0x{:016x})", f.to_bits());
            } else {
                let _ = write!(out, "{f:?}");
            }
        }
        ParamValue::Str(s) => {
            out.push('"');
            escape_into(out, s);
            out.push('"');
        }
        ParamValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_param(out, item);
            }
            out.push(']');
        }
        ParamValue::Table(table) => {
            out.push('{');
            for (i, (key, item)) in table.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('"');
                escape_into(out, key);
                out.push_str("\":");
                write_param(out, item);
            }
            out.push('}');
        }
    }
}

fn mask(m: u32) -> String {
    format!("0x{m:08x}")
}

fn join<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    items.iter().map(f).collect::<Vec<_>>().join(",")
}

impl PipelineSpecV1 {
    /// The canonical kv text of this spec (see the [module docs](crate::spec::kv) for the
    /// format). Equal specs give byte-identical text; [`fingerprint`](Self::fingerprint)
    /// hashes it.
    pub fn to_kv(&self) -> String {
        let mut out = String::new();
        let mut line = |key: &str, value: &str| {
            out.push_str(key);
            out.push('=');
            out.push_str(value);
            out.push('\n');
        };
        line(KV_VERSION_KEY, &KV_FORMAT_VERSION.to_string());
        line("name", &escape(&self.name));
        line("target", self.target().as_str());
        line("stages", &self.stages.len().to_string());
        for (i, stage) in self.stages.iter().enumerate() {
            line(&format!("stage.{i}.id"), &stage.id.to_string());
            line(&format!("stage.{i}.name"), &escape(&stage.name));
            line(&format!("stage.{i}.kind"), &escape(&stage.kind));
            line(
                &format!("stage.{i}.side_effects"),
                if stage.side_effects { "true" } else { "false" },
            );
            for (key, value) in &stage.params {
                let mut v = String::new();
                write_param(&mut v, value);
                line(&format!("stage.{i}.param.{}", escape(key)), &v);
            }
        }
        match &self.topology {
            TopologySpec::SingleRing(ring) => {
                line("single_ring.ingress", &escape(&ring.ingress));
                line("single_ring.egress", &escape(&ring.egress));
                line("single_ring.capacity", &ring.capacity.to_string());
                line("single_ring.slot_size", &ring.slot.size.to_string());
                line("single_ring.slot_align", &ring.slot.align.to_string());
                line("single_ring.shards", &ring.shards.to_string());
                line("single_ring.ordering", ring.ordering.as_str());
                if let Some(key) = &ring.shard_key {
                    line("single_ring.shard_key", &escape(key));
                }
                line("single_ring.deps", &join(&ring.deps, |m| mask(*m)));
                line("single_ring.final_mask", &mask(ring.final_mask));
            }
            TopologySpec::LaneGraph(graph) => {
                line("lane_graph.on_full", graph.on_full.as_str());
                line("lanes", &graph.lanes.len().to_string());
                for (i, lane) in graph.lanes.iter().enumerate() {
                    line(&format!("lane.{i}.id"), &lane.id.to_string());
                    line(&format!("lane.{i}.name"), &escape(&lane.name));
                    line(&format!("lane.{i}.kind"), lane.kind.as_str());
                    line(&format!("lane.{i}.capacity"), &lane.capacity.to_string());
                    if let Some(gating) = &lane.gating {
                        line(&format!("lane.{i}.gating"), &escape(gating));
                    }
                    line(&format!("lane.{i}.on_full"), lane.on_full.as_str());
                    line(&format!("lane.{i}.writer"), &lane.writer.to_string());
                    line(
                        &format!("lane.{i}.readers"),
                        &join(&lane.readers, |r| r.to_string()),
                    );
                }
                line("roles", &graph.roles.len().to_string());
                for (i, role) in graph.roles.iter().enumerate() {
                    line(&format!("role.{i}.id"), &role.id.to_string());
                    line(&format!("role.{i}.name"), &escape(&role.name));
                    line(&format!("role.{i}.kind"), role.kind.as_str());
                    if let Some(stage) = role.stage {
                        line(&format!("role.{i}.stage"), &stage.to_string());
                    }
                    line(
                        &format!("role.{i}.inputs"),
                        &join(&role.inputs, |l| l.to_string()),
                    );
                    line(
                        &format!("role.{i}.outputs"),
                        &join(&role.outputs, |l| l.to_string()),
                    );
                }
                line("endpoints", &graph.endpoints.len().to_string());
                for (i, ep) in graph.endpoints.iter().enumerate() {
                    line(&format!("endpoint.{i}.id"), &ep.id.to_string());
                    line(&format!("endpoint.{i}.name"), &escape(&ep.name));
                    line(&format!("endpoint.{i}.direction"), ep.direction.as_str());
                    line(&format!("endpoint.{i}.lane"), &ep.lane.to_string());
                }
            }
        }
        out
    }

    /// Reads a spec from kv text (see the [module docs](crate::spec::kv) for the format).
    ///
    /// Strict: unknown, repeated or missing keys and malformed values are errors carrying the
    /// 1-based line number. Lines may come in any order; blank lines and `#` comments are
    /// ignored. `from_kv(&spec.to_kv())` gives back `spec` exactly for every spec whose
    /// parameter values nest at most [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH) levels
    /// (every spec that passes [`validate_v1`](crate::spec::validate_v1), and invalid ones
    /// too); a deeper value is refused. Reading takes time and memory linear in the text, and
    /// the parser's recursion is bounded by the nesting limit.
    ///
    /// ```
    /// use byteor_model::spec::{KvError, PipelineSpecV1};
    ///
    /// let err = PipelineSpecV1::from_kv("byteor.spec=1\nname=x\ncolour=blue\n").unwrap_err();
    /// assert_eq!(err.line(), 3);
    /// assert!(matches!(err, KvError::UnknownKey { ref key, .. } if key == "colour"));
    /// ```
    pub fn from_kv(text: &str) -> Result<PipelineSpecV1, KvError> {
        Decoder::new(text)?.decode()
    }
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// Top-level keys shared by both targets.
const COMMON_KEYS: [&str; 4] = [KV_VERSION_KEY, "name", "target", "stages"];
/// Top-level keys of a SingleRing spec.
const RING_KEYS: [&str; 10] = [
    "single_ring.ingress",
    "single_ring.egress",
    "single_ring.capacity",
    "single_ring.slot_size",
    "single_ring.slot_align",
    "single_ring.shards",
    "single_ring.ordering",
    "single_ring.shard_key",
    "single_ring.deps",
    "single_ring.final_mask",
];
/// Top-level keys of a LaneGraph spec.
const GRAPH_KEYS: [&str; 4] = ["lane_graph.on_full", "lanes", "roles", "endpoints"];

/// An indexed table of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Table {
    Stage,
    Lane,
    Role,
    Endpoint,
}

impl Table {
    const ALL: [Table; 4] = [Table::Stage, Table::Lane, Table::Role, Table::Endpoint];

    fn prefix(self) -> &'static str {
        match self {
            Table::Stage => "stage",
            Table::Lane => "lane",
            Table::Role => "role",
            Table::Endpoint => "endpoint",
        }
    }

    fn count_key(self) -> &'static str {
        match self {
            Table::Stage => "stages",
            Table::Lane => "lanes",
            Table::Role => "roles",
            Table::Endpoint => "endpoints",
        }
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            Table::Stage => &["id", "name", "kind", "side_effects"],
            Table::Lane => &[
                "id", "name", "kind", "capacity", "gating", "on_full", "writer", "readers",
            ],
            Table::Role => &["id", "name", "kind", "stage", "inputs", "outputs"],
            Table::Endpoint => &["id", "name", "direction", "lane"],
        }
    }
}

/// A key, recognised by its shape alone (counts and target are checked later).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    /// A fixed top-level key.
    Fixed(&'static str),
    /// `<table>.<index>.<field>`.
    Indexed(Table, u32, &'static str),
    /// `stage.<index>.param.<name>` with the name decoded.
    Param(u32, String),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Fixed(k) => f.write_str(k),
            Key::Indexed(t, i, field) => write!(f, "{}.{i}.{field}", t.prefix()),
            Key::Param(i, name) => write!(f, "stage.{i}.param.{}", escape(name)),
        }
    }
}

/// A canonical decimal index: `0`, or digits without a leading zero.
fn parse_index(s: &str) -> Option<u32> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

/// Recognises a key. `Ok(None)` for an unknown key, `Err` for a malformed parameter name.
fn classify(raw: &str) -> Result<Option<Key>, String> {
    if let Some(k) = COMMON_KEYS
        .iter()
        .chain(&RING_KEYS)
        .chain(&GRAPH_KEYS)
        .find(|k| **k == raw)
    {
        return Ok(Some(Key::Fixed(k)));
    }
    for table in Table::ALL {
        let Some(rest) = raw
            .strip_prefix(table.prefix())
            .and_then(|r| r.strip_prefix('.'))
        else {
            continue;
        };
        let Some((index, field)) = rest.split_once('.') else {
            return Ok(None);
        };
        let Some(index) = parse_index(index) else {
            return Ok(None);
        };
        if table == Table::Stage {
            if let Some(name) = field.strip_prefix("param.") {
                return unescape(name).map(|n| Some(Key::Param(index, n)));
            }
        }
        return Ok(table
            .fields()
            .iter()
            .find(|f| **f == field)
            .map(|f| Key::Indexed(table, index, f)));
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// A character cursor over one value.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.text.get(self.pos..).and_then(|r| r.chars().next())
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(match self.peek() {
                Some(found) => format!(
                    "expected `{c}` at byte {}, found `{}`",
                    self.pos,
                    shown_char(found)
                ),
                None => format!("expected `{c}` at the end"),
            })
        }
    }
}

/// Decodes an escaped string up to `terminator` (consumed) or, with no terminator, to the end.
fn read_escaped(cur: &mut Cursor<'_>, terminator: Option<char>) -> Result<String, String> {
    let mut out = String::new();
    loop {
        let Some(c) = cur.bump() else {
            return match terminator {
                None => Ok(out),
                Some(t) => Err(format!("unterminated string (missing `{t}`)")),
            };
        };
        if Some(c) == terminator {
            return Ok(out);
        }
        match c {
            '\\' => out.push(read_escape(cur)?),
            '=' => return Err("raw `=` in a string; write `\\u{3d}`".to_owned()),
            c if c.is_control() => {
                return Err(format!(
                    "raw control character U+{:04X}; write `\\u{{{:x}}}`",
                    u32::from(c),
                    u32::from(c)
                ))
            }
            c => out.push(c),
        }
    }
}

/// Decodes the escape after a `\`.
fn read_escape(cur: &mut Cursor<'_>) -> Result<char, String> {
    match cur.bump() {
        Some('\\') => Ok('\\'),
        Some('"') => Ok('"'),
        Some('n') => Ok('\n'),
        Some('r') => Ok('\r'),
        Some('t') => Ok('\t'),
        Some('u') => {
            cur.expect('{')?;
            let mut code = 0u32;
            let mut digits = 0;
            while let Some(c) = cur.peek() {
                let Some(d) = c.to_digit(16) else { break };
                cur.bump();
                digits += 1;
                if digits > 6 {
                    return Err("`\\u{...}` takes 1 to 6 hex digits".to_owned());
                }
                code = code * 16 + d;
            }
            if digits == 0 {
                return Err("`\\u{...}` takes 1 to 6 hex digits".to_owned());
            }
            cur.expect('}')?;
            char::from_u32(code)
                .ok_or_else(|| format!("`\\u{{{code:x}}}` is not a Unicode scalar value"))
        }
        Some(c) => Err(format!("unknown escape `\\{}`", shown_char(c))),
        None => Err("`\\` at the end of the string".to_owned()),
    }
}

/// Decodes a whole value as an escaped string.
fn unescape(s: &str) -> Result<String, String> {
    read_escaped(&mut Cursor::new(s), None)
}

/// Parses a parameter value in kv syntax.
pub(crate) fn parse_param(s: &str) -> Result<ParamValue, String> {
    let mut cur = Cursor::new(s);
    let value = read_param(&mut cur, 1)?;
    match cur.peek() {
        None => Ok(value),
        Some(c) => Err(format!(
            "unexpected `{}` at byte {}",
            shown_char(c),
            cur.pos
        )),
    }
}

/// Reads a value at nesting level `depth` (the whole parameter is level 1).
fn read_param(cur: &mut Cursor<'_>, depth: usize) -> Result<ParamValue, String> {
    if depth > PARAM_V1_MAX_DEPTH {
        return Err(format!(
            "parameter nested deeper than {PARAM_V1_MAX_DEPTH} levels (at byte {})",
            cur.pos
        ));
    }
    match cur.peek() {
        Some('"') => {
            cur.bump();
            read_escaped(cur, Some('"')).map(ParamValue::Str)
        }
        Some('[') => {
            cur.bump();
            let mut items = Vec::new();
            if cur.eat(']') {
                return Ok(ParamValue::Array(items));
            }
            loop {
                items.push(read_param(cur, depth + 1)?);
                if cur.eat(',') {
                    continue;
                }
                cur.expect(']')?;
                return Ok(ParamValue::Array(items));
            }
        }
        Some('{') => {
            cur.bump();
            let mut table = BTreeMap::new();
            if cur.eat('}') {
                return Ok(ParamValue::Table(table));
            }
            loop {
                cur.expect('"')?;
                let key = read_escaped(cur, Some('"'))?;
                cur.expect(':')?;
                let value = read_param(cur, depth + 1)?;
                if table.contains_key(&key) {
                    return Err(format!("table key \"{}\" appears twice", escape(&key)));
                }
                table.insert(key, value);
                if cur.eat(',') {
                    continue;
                }
                cur.expect('}')?;
                return Ok(ParamValue::Table(table));
            }
        }
        _ => {
            let start = cur.pos;
            while let Some(c) = cur.peek() {
                if matches!(c, ',' | ']' | '}') {
                    break;
                }
                cur.bump();
            }
            let token = cur.text.get(start..cur.pos).unwrap_or("");
            read_scalar(token)
        }
    }
}

fn read_scalar(token: &str) -> Result<ParamValue, String> {
    match token {
        "" => return Err("expected a value".to_owned()),
        "true" => return Ok(ParamValue::Bool(true)),
        "false" => return Ok(ParamValue::Bool(false)),
        _ => {}
    }
    let digits = token.strip_prefix('-').unwrap_or(token);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return token
            .parse::<i64>()
            .map(ParamValue::Int)
            .map_err(|_| format!("integer `{}` is out of range for i64", cut(token)));
    }
    if let Some(hex) = token
        .strip_prefix("nan(0x")
        .and_then(|r| r.strip_suffix(')'))
    {
        let bits = if hex.len() == 16 {
            u64::from_str_radix(hex, 16).ok()
        } else {
            None
        };
        return match bits.map(f64::from_bits) {
            Some(f) if f.is_nan() => Ok(ParamValue::Float(f)),
            _ => Err(format!(
                "`{}` is not `nan(0x<16 hex digits of a NaN>)`",
                cut(token)
            )),
        };
    }
    // Rust's float grammar also admits "inf", "infinity" and "nan"; anything else with a
    // letter or a quote is a mistake (a string needs quotes).
    token.parse::<f64>().map(ParamValue::Float).map_err(|_| {
        format!(
            "`{}` is not a value (strings need double quotes)",
            cut(token)
        )
    })
}

fn parse_u32(s: &str) -> Result<u32, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected an unsigned decimal integer".to_owned());
    }
    s.parse()
        .map_err(|_| "integer is out of range (at most 4294967295)".to_owned())
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected `true` or `false`".to_owned()),
    }
}

fn parse_mask(s: &str) -> Result<u32, String> {
    let expected = || "expected a mask: `0x` and 1 to 8 hex digits".to_owned();
    let hex = s.strip_prefix("0x").ok_or_else(expected)?;
    if hex.is_empty() || hex.len() > 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(expected());
    }
    u32::from_str_radix(hex, 16).map_err(|_| expected())
}

fn parse_list<T>(s: &str, item: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .enumerate()
        .map(|(i, part)| item(part).map_err(|e| format!("item {}: {e}", i + 1)))
        .collect()
}

fn parse_lane_end(s: &str) -> Result<LaneEnd, String> {
    let expected = || "expected `role:<id>` or `endpoint:<id>`".to_owned();
    if let Some(id) = s.strip_prefix("role:") {
        parse_u32(id).map(LaneEnd::Role).map_err(|_| expected())
    } else if let Some(id) = s.strip_prefix("endpoint:") {
        parse_u32(id).map(LaneEnd::Endpoint).map_err(|_| expected())
    } else {
        Err(expected())
    }
}

/// Parses one of a fixed set of names.
fn parse_choice<T: Copy>(s: &str, choices: &[(&str, T)]) -> Result<T, String> {
    choices
        .iter()
        .find(|(name, _)| *name == s)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<String> = choices.iter().map(|(n, _)| format!("`{n}`")).collect();
            format!("expected one of {}", names.join(", "))
        })
}

fn parse_target(s: &str) -> Result<ExecutionTargetV1, String> {
    parse_choice(
        s,
        &[
            ("single_ring", ExecutionTargetV1::SingleRing),
            ("lane_graph", ExecutionTargetV1::LaneGraph),
        ],
    )
}

fn parse_lane_kind(s: &str) -> Result<LaneKind, String> {
    let choices = LaneKind::ALL.map(|k| (k.as_str(), k));
    parse_choice(s, &choices)
}

fn parse_on_full(s: &str) -> Result<OnFull, String> {
    parse_choice(s, &[("block", OnFull::Block), ("drop", OnFull::Drop)])
}

fn parse_ordering(s: &str) -> Result<OrderingMode, String> {
    parse_choice(
        s,
        &[
            ("strict", OrderingMode::Strict),
            ("per_key", OrderingMode::PerKey),
        ],
    )
}

fn parse_role_kind(s: &str) -> Result<RoleKind, String> {
    let choices = RoleKind::ALL.map(|k| (k.as_str(), k));
    parse_choice(s, &choices)
}

fn parse_direction(s: &str) -> Result<EndpointDirection, String> {
    parse_choice(
        s,
        &[
            ("ingress", EndpointDirection::Ingress),
            ("egress", EndpointDirection::Egress),
        ],
    )
}

/// A character as an error message shows it: escaped (`{:?}`-style) when it would not print
/// as itself.
fn shown_char(c: char) -> String {
    if printable(c) {
        c.to_string()
    } else {
        c.escape_debug().collect()
    }
}

/// A value (or key) as an error message shows it: its first 64 characters, each as
/// [`shown_char`] shows it, then `...` if there is more.
fn cut(value: &str) -> String {
    const MAX: usize = 64;
    let mut out = String::new();
    for (n, c) in value.chars().enumerate() {
        if n == MAX {
            out.push_str("...");
            break;
        }
        out.push_str(&shown_char(c));
    }
    out
}

/// The line that makes other keys required, for [`KvError::MissingKey`].
#[derive(Clone)]
struct Anchor {
    line: usize,
    text: String,
}

/// A parsed kv text, consumed key by key while the spec is built.
struct Decoder<'a> {
    entries: BTreeMap<Key, (usize, &'a str)>,
    version: Anchor,
}

impl<'a> Decoder<'a> {
    /// Splits the text into entries: syntax, unknown keys and repeated keys, in line order.
    fn new(text: &'a str) -> Result<Self, KvError> {
        let mut entries: BTreeMap<Key, (usize, &'a str)> = BTreeMap::new();
        for (index, raw_line) in text.split('\n').enumerate() {
            let line = index + 1;
            let content = raw_line.strip_suffix('\r').unwrap_or(raw_line);
            let trimmed = content.trim_start_matches([' ', '\t']);
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let Some((raw_key, value)) = content.split_once('=') else {
                return Err(KvError::MissingSeparator { line });
            };
            let key = match classify(raw_key) {
                Ok(Some(key)) => key,
                Ok(None) => {
                    return Err(KvError::UnknownKey {
                        line,
                        key: cut(raw_key),
                    })
                }
                Err(reason) => {
                    return Err(KvError::BadKey {
                        line,
                        key: cut(raw_key),
                        reason,
                    })
                }
            };
            if let Some(&(first, _)) = entries.get(&key) {
                return Err(KvError::DuplicateKey {
                    line,
                    key: key.to_string(),
                    first,
                });
            }
            entries.insert(key, (line, value));
        }
        let version = match entries.get(&Key::Fixed(KV_VERSION_KEY)) {
            None => return Err(KvError::MissingVersion),
            Some(&(line, value)) => {
                if value != KV_FORMAT_VERSION.to_string() {
                    return Err(KvError::UnsupportedVersion {
                        line,
                        found: cut(value),
                    });
                }
                Anchor {
                    line,
                    text: format!("{KV_VERSION_KEY}={value}"),
                }
            }
        };
        Ok(Decoder { entries, version })
    }

    /// Takes a required key and parses its value.
    fn req<T>(
        &mut self,
        key: Key,
        anchor: &Anchor,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<(T, usize), KvError> {
        match self.entries.remove(&key) {
            None => Err(KvError::MissingKey {
                line: anchor.line,
                key: key.to_string(),
                required_by: anchor.text.clone(),
            }),
            Some((line, value)) => {
                parse(value)
                    .map(|v| (v, line))
                    .map_err(|reason| KvError::BadValue {
                        line,
                        key: key.to_string(),
                        value: cut(value),
                        reason,
                    })
            }
        }
    }

    /// Takes an optional key and parses its value.
    fn opt<T>(
        &mut self,
        key: Key,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, KvError> {
        match self.entries.remove(&key) {
            None => Ok(None),
            Some((line, value)) => parse(value).map(Some).map_err(|reason| KvError::BadValue {
                line,
                key: key.to_string(),
                value: cut(value),
                reason,
            }),
        }
    }

    /// Reads a count key and checks every key of its table against it.
    fn count(&mut self, table: Table, anchor: &Anchor) -> Result<(u32, Anchor), KvError> {
        let (count, line) = self.req(Key::Fixed(table.count_key()), anchor, parse_u32)?;
        let beyond = self
            .entries
            .iter()
            .filter_map(|(key, &(l, _))| match key {
                Key::Indexed(t, i, _) if *t == table && *i >= count => Some((l, key)),
                Key::Param(i, _) if table == Table::Stage && *i >= count => Some((l, key)),
                _ => None,
            })
            .min_by_key(|(l, _)| *l);
        if let Some((l, key)) = beyond {
            return Err(KvError::IndexOutOfRange {
                line: l,
                key: key.to_string(),
                count_key: table.count_key(),
                count,
                count_line: line,
            });
        }
        Ok((
            count,
            Anchor {
                line,
                text: format!("{}={count}", table.count_key()),
            },
        ))
    }

    /// Rejects keys of the target the text does not declare (the earliest line first).
    fn check_target(&self, target: ExecutionTargetV1, target_line: usize) -> Result<(), KvError> {
        let foreign = self
            .entries
            .iter()
            .filter(|(key, _)| {
                let graph_key = match key {
                    Key::Fixed(k) => GRAPH_KEYS.contains(k),
                    Key::Indexed(t, _, _) => *t != Table::Stage,
                    Key::Param(..) => false,
                };
                let ring_key = matches!(key, Key::Fixed(k) if RING_KEYS.contains(k));
                match target {
                    ExecutionTargetV1::SingleRing => graph_key,
                    ExecutionTargetV1::LaneGraph => ring_key,
                }
            })
            .min_by_key(|(_, &(line, _))| line);
        match foreign {
            None => Ok(()),
            Some((key, &(line, _))) => Err(KvError::WrongTarget {
                line,
                key: key.to_string(),
                target,
                target_line,
            }),
        }
    }

    fn decode(mut self) -> Result<PipelineSpecV1, KvError> {
        let version = self.version.clone();
        self.entries.remove(&Key::Fixed(KV_VERSION_KEY));
        let (target, target_line) = self.req(Key::Fixed("target"), &version, parse_target)?;
        self.check_target(target, target_line)?;
        let target_anchor = Anchor {
            line: target_line,
            text: format!("target={}", target.as_str()),
        };
        let (name, _) = self.req(Key::Fixed("name"), &version, unescape)?;

        let (stage_count, stages_anchor) = self.count(Table::Stage, &version)?;
        let mut stages = Vec::new();
        for i in 0..stage_count {
            let (id, _) = self.req(
                Key::Indexed(Table::Stage, i, "id"),
                &stages_anchor,
                parse_u32,
            )?;
            let (name, _) = self.req(
                Key::Indexed(Table::Stage, i, "name"),
                &stages_anchor,
                unescape,
            )?;
            let (kind, _) = self.req(
                Key::Indexed(Table::Stage, i, "kind"),
                &stages_anchor,
                unescape,
            )?;
            let (side_effects, _) = self.req(
                Key::Indexed(Table::Stage, i, "side_effects"),
                &stages_anchor,
                parse_bool,
            )?;
            let param_keys: Vec<Key> = self
                .entries
                .range(Key::Param(i, String::new())..)
                .map(|(k, _)| k.clone())
                .take_while(|k| matches!(k, Key::Param(j, _) if *j == i))
                .collect();
            let mut params = BTreeMap::new();
            for key in param_keys {
                let Key::Param(_, param_name) = &key else {
                    continue;
                };
                let param_name = param_name.clone();
                if let Some(value) = self.opt(key, parse_param)? {
                    params.insert(param_name, value);
                }
            }
            stages.push(StageSpec {
                id,
                name,
                kind,
                side_effects,
                params,
            });
        }

        let topology = match target {
            ExecutionTargetV1::SingleRing => {
                TopologySpec::SingleRing(self.decode_ring(&target_anchor)?)
            }
            ExecutionTargetV1::LaneGraph => {
                TopologySpec::LaneGraph(self.decode_graph(&target_anchor)?)
            }
        };

        // Every recognised key has been consumed by now; anything left is a key the
        // declared shape does not have.
        if let Some((key, &(line, _))) = self.entries.iter().min_by_key(|(_, &(l, _))| l) {
            return Err(KvError::UnknownKey {
                line,
                key: key.to_string(),
            });
        }
        Ok(PipelineSpecV1 {
            name,
            stages,
            topology,
        })
    }

    fn decode_ring(&mut self, anchor: &Anchor) -> Result<SingleRingSpec, KvError> {
        let fixed = Key::Fixed;
        let (ingress, _) = self.req(fixed("single_ring.ingress"), anchor, unescape)?;
        let (egress, _) = self.req(fixed("single_ring.egress"), anchor, unescape)?;
        let (capacity, _) = self.req(fixed("single_ring.capacity"), anchor, parse_u32)?;
        let (size, _) = self.req(fixed("single_ring.slot_size"), anchor, parse_u32)?;
        let (align, _) = self.req(fixed("single_ring.slot_align"), anchor, parse_u32)?;
        let (shards, _) = self.req(fixed("single_ring.shards"), anchor, parse_u32)?;
        let (ordering, _) = self.req(fixed("single_ring.ordering"), anchor, parse_ordering)?;
        let shard_key = self.opt(fixed("single_ring.shard_key"), unescape)?;
        let (deps, _) = self.req(fixed("single_ring.deps"), anchor, |s| {
            parse_list(s, parse_mask)
        })?;
        let (final_mask, _) = self.req(fixed("single_ring.final_mask"), anchor, parse_mask)?;
        Ok(SingleRingSpec {
            ingress,
            egress,
            capacity,
            slot: SlotGeometry { size, align },
            shards,
            ordering,
            shard_key,
            deps,
            final_mask,
        })
    }

    fn decode_graph(&mut self, anchor: &Anchor) -> Result<LaneGraphSpec, KvError> {
        let (on_full, _) = self.req(Key::Fixed("lane_graph.on_full"), anchor, parse_on_full)?;

        let (count, at) = self.count(Table::Lane, anchor)?;
        let mut lanes = Vec::new();
        for i in 0..count {
            let key = |field| Key::Indexed(Table::Lane, i, field);
            lanes.push(LaneSpec {
                id: self.req(key("id"), &at, parse_u32)?.0,
                name: self.req(key("name"), &at, unescape)?.0,
                kind: self.req(key("kind"), &at, parse_lane_kind)?.0,
                capacity: self.req(key("capacity"), &at, parse_u32)?.0,
                gating: self.opt(key("gating"), unescape)?,
                on_full: self.req(key("on_full"), &at, parse_on_full)?.0,
                writer: self.req(key("writer"), &at, parse_lane_end)?.0,
                readers: self
                    .req(key("readers"), &at, |s| parse_list(s, parse_lane_end))?
                    .0,
            });
        }

        let (count, at) = self.count(Table::Role, anchor)?;
        let mut roles = Vec::new();
        for i in 0..count {
            let key = |field| Key::Indexed(Table::Role, i, field);
            roles.push(RoleSpec {
                id: self.req(key("id"), &at, parse_u32)?.0,
                name: self.req(key("name"), &at, unescape)?.0,
                kind: self.req(key("kind"), &at, parse_role_kind)?.0,
                stage: self.opt(key("stage"), parse_u32)?,
                inputs: self
                    .req(key("inputs"), &at, |s| parse_list(s, parse_u32))?
                    .0,
                outputs: self
                    .req(key("outputs"), &at, |s| parse_list(s, parse_u32))?
                    .0,
            });
        }

        let (count, at) = self.count(Table::Endpoint, anchor)?;
        let mut endpoints = Vec::new();
        for i in 0..count {
            let key = |field| Key::Indexed(Table::Endpoint, i, field);
            endpoints.push(EndpointSpec {
                id: self.req(key("id"), &at, parse_u32)?.0,
                name: self.req(key("name"), &at, unescape)?.0,
                direction: self.req(key("direction"), &at, parse_direction)?.0,
                lane: self.req(key("lane"), &at, parse_u32)?.0,
            });
        }

        Ok(LaneGraphSpec {
            on_full,
            lanes,
            roles,
            endpoints,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips_awkward_strings() {
        for s in [
            "",
            "plain",
            " lead",
            "trail ",
            " ",
            "  ",
            "a=b",
            "quote\"back\\slash",
            "line\nbreak\r\ttab",
            "nul\0bell\u{7}del\u{7f}",
            "caf\u{e9} \u{1f980}",
            "\\u{41}",
        ] {
            let escaped = escape(s);
            assert!(
                escaped.bytes().all(|b| (0x20..=0x7e).contains(&b)),
                "{escaped:?}"
            );
            assert!(!escaped.contains('='), "{escaped:?}");
            assert!(!escaped.starts_with(' ') && !escaped.ends_with(' '));
            assert_eq!(unescape(&escaped).as_deref(), Ok(s));
        }
        assert_eq!(escape("a=b c "), "a\\u{3d}b c\\u{20}");
        assert_eq!(escape("\u{e9}"), "\\u{e9}");
    }

    #[test]
    fn unescape_rejects_malformed_escapes() {
        for bad in [
            "\\",
            "\\q",
            "\\u",
            "\\u{",
            "\\u{}",
            "\\u{1234567}",
            "\\u{d800}",
            "\\u{110000}",
            "\\u{zz}",
            "a=b",
            "tab\there",
        ] {
            assert!(unescape(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(unescape("\\u{41}").as_deref(), Ok("A"));
        assert_eq!(unescape("caf\u{e9}").as_deref(), Ok("caf\u{e9}"));
    }

    #[test]
    fn params_round_trip_exactly() {
        let mut table = BTreeMap::new();
        table.insert("b".to_owned(), ParamValue::Int(-3));
        table.insert("a=\"x\"".to_owned(), ParamValue::Str("[1,2]".to_owned()));
        table.insert("".to_owned(), ParamValue::Array(vec![]));
        let values = [
            ParamValue::Bool(true),
            ParamValue::Int(i64::MIN),
            ParamValue::Int(i64::MAX),
            ParamValue::Float(0.1),
            ParamValue::Float(-0.0),
            ParamValue::Float(1e300),
            ParamValue::Float(5e-324),
            ParamValue::Float(f64::INFINITY),
            ParamValue::Float(f64::NEG_INFINITY),
            ParamValue::Float(3.0),
            ParamValue::Str("a,b]c}".to_owned()),
            ParamValue::Array(vec![
                ParamValue::Table(table.clone()),
                ParamValue::Array(vec![ParamValue::Float(2.5)]),
            ]),
            ParamValue::Table(table),
        ];
        for v in values {
            let mut text = String::new();
            write_param(&mut text, &v);
            let back = parse_param(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(back, v, "{text}");
            if let (ParamValue::Float(a), ParamValue::Float(b)) = (&back, &v) {
                assert_eq!(a.to_bits(), b.to_bits(), "{text}");
            }
        }
    }

    #[test]
    fn nan_keeps_its_bits() {
        for bits in [
            0x7ff8_0000_0000_0000u64,
            0xfff8_0000_0000_0001,
            0x7ff0_0000_0000_0001,
        ] {
            let v = ParamValue::Float(f64::from_bits(bits));
            let mut text = String::new();
            write_param(&mut text, &v);
            assert_eq!(text, format!("nan(0x{bits:016x})"));
            match parse_param(&text) {
                Ok(ParamValue::Float(f)) => assert_eq!(f.to_bits(), bits),
                other => panic!("{text}: {other:?}"),
            }
        }
        // The bit form must name a NaN.
        assert!(parse_param("nan(0x3ff0000000000000)").is_err());
        assert!(parse_param("nan(0x7ff8)").is_err());
    }

    #[test]
    fn integers_and_floats_are_told_apart() {
        assert_eq!(parse_param("1"), Ok(ParamValue::Int(1)));
        assert_eq!(parse_param("1.0"), Ok(ParamValue::Float(1.0)));
        assert_eq!(parse_param("1e3"), Ok(ParamValue::Float(1000.0)));
        assert_eq!(parse_param("-7"), Ok(ParamValue::Int(-7)));
        assert!(parse_param("9223372036854775808").is_err());
        assert!(parse_param("abc").is_err());
        assert!(parse_param("").is_err());
        assert!(parse_param("[1,]").is_err());
        assert!(parse_param("[1 ,2]").is_err());
        assert!(parse_param("{\"a\":1,\"a\":2}").is_err());
        assert!(parse_param("{a:1}").is_err());
        assert!(parse_param("\"open").is_err());
        assert!(parse_param("[1]x").is_err());
    }

    #[test]
    fn nesting_stops_at_the_one_limit() {
        // `[]` nested PARAM_V1_MAX_DEPTH times has that depth; one more level is refused.
        let nested = |levels: usize| "[".repeat(levels) + &"]".repeat(levels);
        let ok = parse_param(&nested(PARAM_V1_MAX_DEPTH)).expect("at the limit");
        assert_eq!(ok.depth(), PARAM_V1_MAX_DEPTH);
        let err = parse_param(&nested(PARAM_V1_MAX_DEPTH + 1)).unwrap_err();
        assert!(err.contains("deeper than 32 levels"), "{err}");
        // A scalar counts as a level.
        let scalar = |levels: usize| "[".repeat(levels) + "1" + &"]".repeat(levels);
        assert!(parse_param(&scalar(PARAM_V1_MAX_DEPTH - 1)).is_ok());
        assert!(parse_param(&scalar(PARAM_V1_MAX_DEPTH)).is_err());
        // Tables count like arrays.
        let tables = |levels: usize| "{\"a\":".repeat(levels) + "1" + &"}".repeat(levels);
        assert!(parse_param(&tables(PARAM_V1_MAX_DEPTH - 1)).is_ok());
        assert!(parse_param(&tables(PARAM_V1_MAX_DEPTH)).is_err());
        // A megabyte of brackets is refused without deep recursion.
        assert!(parse_param(&"[".repeat(1 << 20)).is_err());
        #[allow(deprecated)]
        let alias = KV_MAX_PARAM_DEPTH;
        assert_eq!(alias, PARAM_V1_MAX_DEPTH);
    }

    #[test]
    fn keys_are_recognised_by_shape() {
        assert_eq!(classify("name"), Ok(Some(Key::Fixed("name"))));
        assert_eq!(
            classify("stage.12.kind"),
            Ok(Some(Key::Indexed(Table::Stage, 12, "kind")))
        );
        assert_eq!(
            classify("stage.0.param.a.b"),
            Ok(Some(Key::Param(0, "a.b".to_owned())))
        );
        assert_eq!(
            classify("stage.0.param.\\u{3d}"),
            Ok(Some(Key::Param(0, "=".to_owned())))
        );
        for unknown in [
            "stage.01.kind",
            "stage.x.kind",
            "stage.0",
            "lane.0.colour",
            "stagez",
        ] {
            assert_eq!(classify(unknown), Ok(None), "{unknown}");
        }
        assert!(classify("stage.0.param.\\q").is_err());
    }
}
