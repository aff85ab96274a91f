//! TOML plan documents: [`PipelinePlanV2::from_toml`] and [`PipelinePlanV2::to_toml`].
//!
//! The format is described on [`PipelinePlanV2::from_toml`]. Parsing goes through private
//! serde structs that refuse unknown keys; the model itself stays free of serde. The parser
//! checks the *shape* of the document (keys, types, enum values, `version = 2`) and nothing
//! else: a document that parses but breaks a plan rule becomes a plan that
//! [`validate_plan_v2`](super::validate_plan_v2) reports in full.
//!
//! Choices made where the format could go either way:
//! - `[single_ring]` and `[lane_graph]` are present in the plan exactly when their table is
//!   present in the document. A `single_ring` target needs its table (validation reports a
//!   missing one), but every key in it is optional, so an empty `[single_ring]` means all
//!   defaults.
//! - `lane_graph.boundary`, a connection's `lane`, and `kind` inside either are optional:
//!   the default boundary policy and lane intent are `events` lanes of default capacity.
//!   `lane_graph.on_full` is optional in the document so that validation can report its
//!   absence with the rest.
//! - [`to_toml`](PipelinePlanV2::to_toml) writes every key of `[single_ring]`, the `kind` of
//!   every lane, and omits stage keys at their defaults (`kind`, `side_effects = false`, empty
//!   `params`, empty `after`) and unset optional values.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;
use toml::Spanned;

use super::{
    BoundaryDecl, BoundaryLanePolicy, Connection, ExecutionTargetV1, LaneGraphPlan, LaneIntent,
    LaneKind, OnFull, OrderingMode, ParamValue, PipelinePlanV2, ProducerMode, SchedulingMode,
    SingleRingConstraints, StageDecl,
};
use crate::diagnostics::names::{label, plan_label};
use crate::PARAM_V1_MAX_DEPTH;

/// The plan document version this build reads and writes.
pub const PLAN_DOCUMENT_VERSION: i64 = 2;

/// Why a TOML plan document could not be read. Every variant carries the 1-based line and
/// column of the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanDocumentError {
    /// The text is not TOML, or does not have the shape of a plan document: an unknown key,
    /// a missing key, a value of the wrong type, an unknown enum value.
    #[error("line {line}, column {column}: {}{message}", key_prefix(.key))]
    Malformed {
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// Where the problem is, when known: the dotted path of the offending key
        /// (`single_ring.shards`), or of the table holding an unknown key (`stages`).
        key: Option<String>,
        /// What is wrong, listing the valid keys or values where there is a fixed set.
        message: String,
    },

    /// `version` is not [`PLAN_DOCUMENT_VERSION`].
    #[error("line {line}, column {column}: in `version`: plan document version {found} is not supported; this build reads version {PLAN_DOCUMENT_VERSION}")]
    UnsupportedVersion {
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// The version the document declares.
        found: i64,
    },

    /// A stage parameter holds a TOML date or time, which stage parameters cannot carry.
    #[error("line {line}, column {column}: stage `{stage}`, param `{param}`: date and time values are not supported in stage params")]
    DatetimeParam {
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// The stage whose `params` hold the value.
        stage: String,
        /// The parameter name (dotted when the value is nested in a table).
        param: String,
    },

    /// A stage parameter value nests deeper than
    /// [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH) levels (a scalar is 1 level, `[1]`
    /// 2, tables count like arrays).
    #[error("line {line}, column {column}: stage `{stage}`, param `{param}`: the value nests deeper than {max} levels, the most stage params may")]
    ParamTooDeep {
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// The stage whose `params` hold the value.
        stage: String,
        /// The parameter name.
        param: String,
        /// [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH).
        max: usize,
    },

    /// The document holds more than [`PLAN_DOCUMENT_MAX_ITEMS`] items (tokens, arrays, and
    /// tables counted as 8); the position is where the count passed the limit.
    #[error("line {line}, column {column}: the document is too large to read: it holds more than {max} items (tokens, with arrays as 2 and tables as 9)")]
    TooLarge {
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// [`PLAN_DOCUMENT_MAX_ITEMS`].
        max: usize,
    },

    /// The document nests deeper than any plan document needs: `[` and `{` more than
    /// [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH)` + 1` levels (room for the deepest
    /// parameter inside `params = { ... }`), found by a scan before parsing, or dotted keys
    /// deeper than the TOML parser follows. A parameter just past the limit is reported as
    /// [`ParamTooDeep`](Self::ParamTooDeep), naming it.
    #[error("line {line}, column {column}: the document nests too deeply to read; stage params nest at most {max} levels")]
    TooDeep {
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH).
        max: usize,
    },
}

impl PlanDocumentError {
    /// 1-based line of the offending text.
    pub fn line(&self) -> usize {
        match self {
            PlanDocumentError::Malformed { line, .. }
            | PlanDocumentError::UnsupportedVersion { line, .. }
            | PlanDocumentError::DatetimeParam { line, .. }
            | PlanDocumentError::ParamTooDeep { line, .. }
            | PlanDocumentError::TooLarge { line, .. }
            | PlanDocumentError::TooDeep { line, .. } => *line,
        }
    }

    /// 1-based column (in characters) of the offending text.
    pub fn column(&self) -> usize {
        match self {
            PlanDocumentError::Malformed { column, .. }
            | PlanDocumentError::UnsupportedVersion { column, .. }
            | PlanDocumentError::DatetimeParam { column, .. }
            | PlanDocumentError::ParamTooDeep { column, .. }
            | PlanDocumentError::TooLarge { column, .. }
            | PlanDocumentError::TooDeep { column, .. } => *column,
        }
    }
}

fn key_prefix(key: &Option<String>) -> String {
    match key {
        Some(k) => format!("in `{k}`: "),
        None => String::new(),
    }
}

impl PipelinePlanV2 {
    /// Reads a plan from a TOML plan document.
    ///
    /// Only the document's shape is checked here; call
    /// [`validate_plan_v2`](super::validate_plan_v2) on the result for the plan rules.
    ///
    /// # Format
    ///
    /// Every key, with its default where it has one. Unknown keys are errors.
    ///
    /// ```toml
    /// version = 2                 # required; the only version this build reads
    /// name = "orders"             # required; a name (see below)
    /// target = "single_ring"      # required: "single_ring" | "lane_graph"
    ///
    /// [[ingress]]                 # boundary catalog; `name` required
    /// name = "orders_in"
    /// [[egress]]
    /// name = "fills_out"
    ///
    /// [[stages]]                  # stage catalog (topological order for single_ring)
    /// name = "parse"              # required
    /// kind = "parse_order"        # registered stage kind; default: the name
    /// side_effects = false        # default false
    /// params = { max_qty = 1000 } # any TOML values but dates and times, nested <= 32 deep
    /// after = []                  # single_ring only: earlier stages; default []
    ///
    /// [single_ring]               # the single_ring payload; every key optional
    /// capacity = 1024             # power of two, 2 ..= 2^24
    /// shards = 1                  # 1 ..= 256; stages x shards <= 256 threads
    /// ordering = "strict"         # "strict" | "per_key"
    /// producer = "single"         # "single" | "multi" (not supported in v1)
    /// scheduling = "dedicated"    # "dedicated" | "work_queue" (not supported in v1)
    /// shard_key = "account"       # no default; required by validation when shards > 1
    ///
    /// [lane_graph]                # the lane_graph payload
    /// on_full = "block"           # "block" | "drop"; required by validation
    /// boundary = { kind = "events", capacity = 1024, on_full = "drop" }  # all optional
    ///
    /// [[lane_graph.connections]]
    /// from = "orders_in"          # required: an ingress or a stage
    /// to = "parse"                # required: a stage or an egress
    /// lane = { kind = "sequenced_slots", capacity = 64, gating = "all_readers" }
    /// # lane kinds: "events" (default) | "journal" | "sequenced_slots" | "fanout_broadcast";
    /// # `lane` and each of its keys are optional; capacities are at most 2^24
    /// ```
    ///
    /// Names — `name`, stage and boundary names, `kind`, `shard_key` — are 1 to
    /// [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES) (64) bytes of ASCII letters, digits, `_`
    /// and `-` (lowering names the bridges, routers, merges and lanes it inserts with `.` and
    /// `->`, so they never clash with yours). Parameter names are at most 64 bytes. A
    /// `lane_graph` plan lowers to at most
    /// [`PIPELINE_V1_MAX_THREADS`](crate::PIPELINE_V1_MAX_THREADS) (256) roles, inserted ones
    /// included. Those rules, like every plan rule, are [`validate_plan_v2`]'s to report; the
    /// parser only refuses what it cannot represent.
    ///
    /// [`validate_plan_v2`]: super::validate_plan_v2
    ///
    /// # Errors
    ///
    /// A [`PlanDocumentError`] with the line and column of the first problem: TOML syntax, an
    /// unknown or missing key, a wrong type, an unknown enum value, a `version` other than 2,
    /// a date/time stage parameter, or a stage parameter nested deeper than
    /// [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH) levels. Before parsing, a linear scan
    /// refuses a document nested far deeper than any plan needs, or holding more than
    /// [`PLAN_DOCUMENT_MAX_ITEMS`] items, so that any text is read in linear time, without
    /// deep recursion, in bounded memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use byteor_model::plan::{ExecutionTargetV1, PipelinePlanV2};
    ///
    /// let plan = PipelinePlanV2::from_toml(
    ///     r#"
    /// version = 2
    /// name = "orders"
    /// target = "single_ring"
    ///
    /// [[ingress]]
    /// name = "orders_in"
    /// [[egress]]
    /// name = "fills_out"
    ///
    /// [[stages]]
    /// name = "parse"
    ///
    /// [single_ring]
    /// "#,
    /// )?;
    /// assert_eq!(plan.target(), ExecutionTargetV1::SingleRing);
    /// assert_eq!(PipelinePlanV2::from_toml(&plan.to_toml())?, plan);
    ///
    /// let err = PipelinePlanV2::from_toml("version = 2\nname = \"x\"\ntarget = \"ring\"\n")
    ///     .unwrap_err();
    /// // line 3, column 10: in `target`: unknown variant `ring`, expected `single_ring` or `lane_graph`
    /// assert_eq!((err.line(), err.column()), (3, 10));
    /// assert!(err.to_string().contains("`single_ring` or `lane_graph`"));
    /// # Ok::<(), byteor_model::plan::PlanDocumentError>(())
    /// ```
    pub fn from_toml(text: &str) -> Result<PipelinePlanV2, PlanDocumentError> {
        if let Err(problem) = scan(text) {
            return Err(match problem {
                ScanProblem::TooDeep(offset) => {
                    let (line, column) = line_column(text, offset);
                    PlanDocumentError::TooDeep {
                        line,
                        column,
                        max: PARAM_V1_MAX_DEPTH,
                    }
                }
                ScanProblem::TooLarge(offset) => {
                    let (line, column) = line_column(text, offset);
                    PlanDocumentError::TooLarge {
                        line,
                        column,
                        max: PLAN_DOCUMENT_MAX_ITEMS,
                    }
                }
            });
        }
        let doc: PlanDoc = toml::from_str(text).map_err(|e| malformed(text, &e))?;
        doc.into_plan(text)
    }

    /// Writes the plan as a TOML plan document.
    ///
    /// The output is deterministic and laid out as in [`from_toml`](Self::from_toml); reading it back
    /// with [`from_toml`](Self::from_toml) gives a plan equal to `self` for every plan whose
    /// parameter values nest at most [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH) levels
    /// and whose document holds at most [`PLAN_DOCUMENT_MAX_ITEMS`] items: every plan that
    /// validates (short of hundreds of kilobytes of boundaries, connections or parameter
    /// values), and invalid plans too (odd names, broken rules). A deeper value, or a larger
    /// document, is written but refused on reading. Only a float parameter that is NaN breaks
    /// that equality, since NaN is not equal to itself.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = write_plan(&mut out, self);
        out
    }
}

// ---- reading ----------------------------------------------------------------------------------

/// Deepest nesting of `[` and `{` a plan document may have: a parameter value of
/// [`PARAM_V1_MAX_DEPTH`] levels inside a `params = { ... }` table (the value's innermost
/// level may itself be an empty array or table).
const MAX_BRACKET_DEPTH: usize = PARAM_V1_MAX_DEPTH + 1;

/// Most parts of one dotted key (`a.b.c` has three) a plan document needs: a parameter
/// value of [`PARAM_V1_MAX_DEPTH`] levels of tables under `stages.params`.
const MAX_KEY_PARTS: usize = PARAM_V1_MAX_DEPTH + 2;

/// What a table costs the parser beyond its token, in items (see
/// [`PLAN_DOCUMENT_MAX_ITEMS`]).
const TABLE_ITEMS: usize = 8;

/// Most items a plan document may hold: [`from_toml`](PipelinePlanV2::from_toml) refuses a
/// longer document with [`PlanDocumentError::TooLarge`] before parsing it.
///
/// An item is a token — a punctuation mark, a line break, a run of blanks, a bare word, a
/// string, a comment — plus one for each array, and 8 more for each table: a table header,
/// an inline table, and each part of a dotted key after the first. The TOML parser holds every
/// token and every table of a document at once, at up to about 130 bytes per item (measured:
/// a document of any shape at this limit costs it at most some 80 MiB), so this limit bounds
/// the memory reading takes. It admits some 850 KB of ordinary plan document — thousands of
/// stages and boundaries, tens of thousands of connections; a plan within the v1 limits needs
/// a small fraction of that — and less of densely packed parameter values.
pub const PLAN_DOCUMENT_MAX_ITEMS: usize = 640 * 1024;

/// What [`scan`] found wrong with a document, at a byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScanProblem {
    /// `[`/`{` nested deeper than [`MAX_BRACKET_DEPTH`], or a key of more than
    /// [`MAX_KEY_PARTS`] parts.
    TooDeep(usize),
    /// More than [`PLAN_DOCUMENT_MAX_ITEMS`] items.
    TooLarge(usize),
}

/// One linear pass over a TOML text, outside strings and comments, that refuses what the
/// TOML parser would spend too much on: `[`/`{` nested deeper than a plan document needs,
/// dotted keys of more parts than it needs, and more than [`PLAN_DOCUMENT_MAX_ITEMS`] items.
///
/// The TOML parser copes with any of these without recursion, but holds every token of the
/// document first (about a hundred bytes apiece, a table several times that): a megabyte of
/// `[`, or of dotted keys, would cost hundreds of megabytes before it is refused.
fn scan(text: &str) -> Result<(), ScanProblem> {
    #[derive(Clone, Copy, PartialEq)]
    enum In {
        Code,
        Comment,
        Basic,
        Literal,
        MultiBasic,
        MultiLiteral,
    }
    /// What an open `[` or `{` is.
    #[derive(Clone, Copy, PartialEq)]
    enum Open {
        Header,
        Array,
        Table,
    }
    let bytes = text.as_bytes();
    let triple = |at: usize, quote: u8| bytes.get(at..at + 3) == Some(&[quote; 3][..]);
    let bare = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b':');
    let mut items = 0usize;
    let mut state = In::Code;
    let mut open: Vec<Open> = Vec::new();
    // Whether code is in a value (after `=`, or inside an array) rather than in a key.
    let mut in_value = false;
    let mut key_parts = 1;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let at = i;
        match state {
            In::Code => {
                let prev = i.checked_sub(1).and_then(|p| bytes.get(p)).copied();
                match b {
                    b'#' => {
                        state = In::Comment;
                        items += 1;
                    }
                    b'"' | b'\'' => {
                        items += 1;
                        let long = triple(i, b);
                        state = match (b, long) {
                            (b'"', true) => In::MultiBasic,
                            (b'"', false) => In::Basic,
                            (_, true) => In::MultiLiteral,
                            (_, false) => In::Literal,
                        };
                        if long {
                            i += 2;
                        }
                    }
                    b'[' | b'{' => {
                        let kind = if b == b'{' {
                            Open::Table
                        } else if in_value {
                            Open::Array
                        } else {
                            Open::Header
                        };
                        // The second `[` of an array-of-tables header opens the same table.
                        let double = kind == Open::Header && prev == Some(b'[');
                        items += match kind {
                            Open::Array => 2,
                            Open::Table | Open::Header if !double => 1 + TABLE_ITEMS,
                            _ => 1,
                        };
                        open.push(kind);
                        if open.len() > MAX_BRACKET_DEPTH {
                            return Err(ScanProblem::TooDeep(at));
                        }
                        in_value = kind == Open::Array;
                        key_parts = 1;
                    }
                    b']' | b'}' => {
                        items += 1;
                        // After a value closes, code is still in the value it was part of;
                        // after a header, in the header's line.
                        in_value = open.pop() != Some(Open::Header);
                    }
                    b'=' => {
                        items += 1;
                        in_value = true;
                        key_parts = 1;
                    }
                    b',' => {
                        items += 1;
                        in_value = open.last() == Some(&Open::Array);
                        key_parts = 1;
                    }
                    b'.' if !in_value => {
                        items += 1 + TABLE_ITEMS;
                        key_parts += 1;
                        if key_parts > MAX_KEY_PARTS {
                            return Err(ScanProblem::TooDeep(at));
                        }
                    }
                    b'\n' => {
                        items += 1;
                        if !open.contains(&Open::Array) {
                            in_value = false;
                            key_parts = 1;
                            // A header closes on its own line (an unclosed one is the
                            // parser's to report).
                            open.retain(|&o| o != Open::Header);
                        }
                    }
                    b' ' | b'\t' | b'\r' => {
                        if !matches!(prev, Some(b' ' | b'\t' | b'\r')) {
                            items += 1;
                        }
                    }
                    _ => {
                        // A bare word (key, number, boolean, date) is one token.
                        if !bare(b) || !prev.is_some_and(|p| bare(p) || p == b'.') {
                            items += 1;
                        }
                    }
                }
            }
            In::Comment | In::Basic | In::Literal if b == b'\n' => {
                state = In::Code;
                items += 1;
                if !open.contains(&Open::Array) {
                    in_value = false;
                    key_parts = 1;
                }
            }
            In::Basic | In::MultiBasic if b == b'\\' => i += 1,
            In::Basic if b == b'"' => state = In::Code,
            In::Literal if b == b'\'' => state = In::Code,
            In::MultiBasic | In::MultiLiteral
                if triple(i, b) && b == if state == In::MultiBasic { b'"' } else { b'\'' } =>
            {
                // A closing delimiter may follow up to two quotes of the string's own.
                let mut end = i + 3;
                while end < i + 5 && bytes.get(end) == Some(&b) {
                    end += 1;
                }
                state = In::Code;
                i = end - 1;
            }
            _ => {}
        }
        if items > PLAN_DOCUMENT_MAX_ITEMS {
            return Err(ScanProblem::TooLarge(at));
        }
        i += 1;
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanDoc {
    version: Spanned<i64>,
    name: String,
    target: TargetDoc,
    #[serde(default)]
    ingress: Vec<BoundaryDoc>,
    #[serde(default)]
    egress: Vec<BoundaryDoc>,
    #[serde(default)]
    stages: Vec<StageDoc>,
    single_ring: Option<SingleRingDoc>,
    lane_graph: Option<LaneGraphDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BoundaryDoc {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StageDoc {
    name: String,
    kind: Option<String>,
    #[serde(default)]
    side_effects: bool,
    #[serde(default)]
    params: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    after: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SingleRingDoc {
    capacity: u32,
    shards: u32,
    ordering: OrderingDoc,
    producer: ProducerDoc,
    scheduling: SchedulingDoc,
    shard_key: Option<String>,
}

impl Default for SingleRingDoc {
    fn default() -> Self {
        let d = SingleRingConstraints::default();
        SingleRingDoc {
            capacity: d.capacity,
            shards: d.shards,
            ordering: d.ordering.into(),
            producer: d.producer.into(),
            scheduling: d.scheduling.into(),
            shard_key: d.shard_key,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LaneGraphDoc {
    on_full: Option<OnFullDoc>,
    #[serde(default)]
    boundary: BoundaryPolicyDoc,
    #[serde(default)]
    connections: Vec<ConnectionDoc>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BoundaryPolicyDoc {
    #[serde(default)]
    kind: LaneKindDoc,
    capacity: Option<u32>,
    on_full: Option<OnFullDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionDoc {
    from: String,
    to: String,
    #[serde(default)]
    lane: LaneDoc,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LaneDoc {
    #[serde(default)]
    kind: LaneKindDoc,
    capacity: Option<u32>,
    gating: Option<String>,
}

/// Serde mirrors of the model's enums: the model stays serde-free, and the document names
/// (snake_case) are spelled once, here.
macro_rules! doc_enum {
    ($doc:ident => $model:ident { $($variant:ident),+ $(,)? } default $default:ident) => {
        #[derive(Deserialize, Clone, Copy)]
        #[serde(rename_all = "snake_case")]
        enum $doc {
            $($variant),+
        }

        impl Default for $doc {
            fn default() -> Self {
                $doc::$default
            }
        }

        impl From<$doc> for $model {
            fn from(d: $doc) -> Self {
                match d {
                    $($doc::$variant => $model::$variant),+
                }
            }
        }

        impl From<$model> for $doc {
            fn from(m: $model) -> Self {
                match m {
                    $($model::$variant => $doc::$variant),+
                }
            }
        }
    };
}

doc_enum!(TargetDoc => ExecutionTargetV1 { SingleRing, LaneGraph } default SingleRing);
doc_enum!(OrderingDoc => OrderingMode { Strict, PerKey } default Strict);
doc_enum!(ProducerDoc => ProducerMode { Single, Multi } default Single);
doc_enum!(SchedulingDoc => SchedulingMode { Dedicated, WorkQueue } default Dedicated);
doc_enum!(OnFullDoc => OnFull { Block, Drop } default Block);
doc_enum!(LaneKindDoc => LaneKind { Events, Journal, SequencedSlots, FanoutBroadcast } default Events);

impl PlanDoc {
    fn into_plan(self, text: &str) -> Result<PipelinePlanV2, PlanDocumentError> {
        if *self.version.get_ref() != PLAN_DOCUMENT_VERSION {
            let (line, column) = line_column(text, self.version.span().start);
            return Err(PlanDocumentError::UnsupportedVersion {
                line,
                column,
                found: *self.version.get_ref(),
            });
        }
        let stages = self
            .stages
            .into_iter()
            .map(|s| s.into_stage(text))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PipelinePlanV2 {
            name: self.name,
            target: self.target.into(),
            ingress: self
                .ingress
                .into_iter()
                .map(|b| BoundaryDecl::new(b.name))
                .collect(),
            egress: self
                .egress
                .into_iter()
                .map(|b| BoundaryDecl::new(b.name))
                .collect(),
            stages,
            single_ring: self.single_ring.map(|r| SingleRingConstraints {
                capacity: r.capacity,
                shards: r.shards,
                ordering: r.ordering.into(),
                producer: r.producer.into(),
                scheduling: r.scheduling.into(),
                shard_key: r.shard_key,
            }),
            lane_graph: self.lane_graph.map(|g| LaneGraphPlan {
                on_full: g.on_full.map(Into::into),
                boundary: BoundaryLanePolicy {
                    kind: g.boundary.kind.into(),
                    capacity: g.boundary.capacity,
                    on_full: g.boundary.on_full.map(Into::into),
                },
                connections: g
                    .connections
                    .into_iter()
                    .map(|c| Connection {
                        from: c.from,
                        to: c.to,
                        lane: LaneIntent {
                            kind: c.lane.kind.into(),
                            capacity: c.lane.capacity,
                            gating: c.lane.gating,
                        },
                    })
                    .collect(),
            }),
        })
    }
}

impl StageDoc {
    fn into_stage(self, text: &str) -> Result<StageDecl, PlanDocumentError> {
        let mut params = BTreeMap::new();
        for (key, value) in self.params {
            let span = value.span();
            let converted = param_value(value.into_inner(), 1).map_err(|(problem, path)| {
                let (line, column) = line_column(text, span.start);
                let stage = plan_label(&self.name);
                match problem {
                    ParamProblem::Datetime => {
                        let mut param = key.clone();
                        for segment in path.iter().rev() {
                            param.push('.');
                            param.push_str(segment);
                        }
                        PlanDocumentError::DatetimeParam {
                            line,
                            column,
                            stage,
                            param: plan_label(&param),
                        }
                    }
                    ParamProblem::TooDeep => PlanDocumentError::ParamTooDeep {
                        line,
                        column,
                        stage,
                        param: plan_label(&key),
                        max: PARAM_V1_MAX_DEPTH,
                    },
                }
            })?;
            params.insert(key, converted);
        }
        Ok(StageDecl {
            name: self.name,
            kind: self.kind,
            side_effects: self.side_effects,
            params,
            after: self.after,
        })
    }
}

/// Why a TOML value cannot be a stage parameter.
enum ParamProblem {
    /// It holds a date or time.
    Datetime,
    /// It nests deeper than [`PARAM_V1_MAX_DEPTH`].
    TooDeep,
}

/// Converts a TOML value at nesting level `depth` (a parameter's value is level 1); on a
/// problem, returns it with the table keys leading to it, innermost first (array positions are
/// not keys and are left out). The recursion stops at [`PARAM_V1_MAX_DEPTH`] levels.
fn param_value(
    value: toml::Value,
    depth: usize,
) -> Result<ParamValue, (ParamProblem, Vec<String>)> {
    if depth > PARAM_V1_MAX_DEPTH {
        return Err((ParamProblem::TooDeep, Vec::new()));
    }
    Ok(match value {
        toml::Value::String(s) => ParamValue::Str(s),
        toml::Value::Integer(i) => ParamValue::Int(i),
        toml::Value::Float(f) => ParamValue::Float(f),
        toml::Value::Boolean(b) => ParamValue::Bool(b),
        toml::Value::Datetime(_) => return Err((ParamProblem::Datetime, Vec::new())),
        toml::Value::Array(items) => ParamValue::Array(
            items
                .into_iter()
                .map(|item| param_value(item, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(table) => {
            let mut map = BTreeMap::new();
            for (k, v) in table {
                match param_value(v, depth + 1) {
                    Ok(v) => {
                        map.insert(k, v);
                    }
                    Err((problem, mut path)) => {
                        path.push(k);
                        return Err((problem, path));
                    }
                }
            }
            ParamValue::Table(map)
        }
    })
}

fn malformed(text: &str, err: &toml::de::Error) -> PlanDocumentError {
    let span = err.span().unwrap_or(0..0);
    let (line, column) = line_column(text, span.start);
    // The parser stops following nested arrays, inline tables and dotted keys at a fixed
    // depth (far deeper than parameters may nest) and says so with "recursion" in the message.
    if err.message().contains("recursion") {
        return PlanDocumentError::TooDeep {
            line,
            column,
            max: PARAM_V1_MAX_DEPTH,
        };
    }
    let key = error_key_path(err)
        .or_else(|| key_before(text, span.start))
        .or_else(|| key_at(text, span));
    // Messages may quote the document; keep what they quote printable.
    PlanDocumentError::Malformed {
        line,
        column,
        key: key.map(|k| label(&k, 256)),
        message: printable(err.message()),
    }
}

/// `text` with every control character escaped (`{:?}`-style), the rest as it is.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// The dotted key path the toml crate attaches to a value error. The crate shows it only in
/// its `Display` output, and only when the error carries no source text, as a last line
/// ``in `a.b` ``.
fn error_key_path(err: &toml::de::Error) -> Option<String> {
    let mut bare = err.clone();
    bare.set_input(None);
    let shown = bare.to_string();
    let last = shown.lines().last()?;
    let path = last.strip_prefix("in `")?.strip_suffix('`')?;
    (!path.is_empty()).then(|| path.to_owned())
}

/// The key of a `key = value` pair whose value starts at `offset`, read back from the text.
fn key_before(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?.trim_end_matches([' ', '\t']);
    let before = before.strip_suffix('=')?.trim_end_matches([' ', '\t']);
    let key = if let Some(quoted) = before.strip_suffix('"') {
        let open = quoted.rfind('"')?;
        &quoted[open + 1..]
    } else {
        // Bare keys are ASCII, so the byte after the last non-key character starts the key.
        let is_key_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        let start = before
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_key_char(c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        &before[start..]
    };
    (!key.is_empty()).then(|| key.to_owned())
}

/// The key spelled at `span`, when the span covers a key (as for a duplicate key): the text
/// there is followed by `=` on the same line.
fn key_at(text: &str, span: std::ops::Range<usize>) -> Option<String> {
    let spelled = text.get(span.clone())?;
    let after = text.get(span.end..)?.trim_start_matches([' ', '\t']);
    let single_line = !spelled.is_empty() && !spelled.contains('\n');
    (single_line && after.starts_with('=')).then(|| spelled.trim_matches('"').to_owned())
}

/// 1-based line and column (in characters) of a byte offset. Offsets past the end, or inside
/// a character, are clamped back to the nearest character boundary.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

// ---- writing ----------------------------------------------------------------------------------

fn write_plan(out: &mut String, plan: &PipelinePlanV2) -> std::fmt::Result {
    writeln!(out, "version = {PLAN_DOCUMENT_VERSION}")?;
    writeln!(out, "name = {}", quote(&plan.name))?;
    writeln!(out, "target = {}", quote(plan.target.as_str()))?;

    for (table, list) in [("ingress", &plan.ingress), ("egress", &plan.egress)] {
        for b in list {
            writeln!(out, "\n[[{table}]]")?;
            writeln!(out, "name = {}", quote(&b.name))?;
        }
    }

    for s in &plan.stages {
        writeln!(out, "\n[[stages]]")?;
        writeln!(out, "name = {}", quote(&s.name))?;
        if let Some(kind) = &s.kind {
            writeln!(out, "kind = {}", quote(kind))?;
        }
        if s.side_effects {
            writeln!(out, "side_effects = true")?;
        }
        if !s.params.is_empty() {
            out.push_str("params = ");
            write_table(out, &s.params);
            out.push('\n');
        }
        if !s.after.is_empty() {
            let items: Vec<String> = s.after.iter().map(|a| quote(a)).collect();
            writeln!(out, "after = [{}]", items.join(", "))?;
        }
    }

    if let Some(r) = &plan.single_ring {
        writeln!(out, "\n[single_ring]")?;
        writeln!(out, "capacity = {}", r.capacity)?;
        writeln!(out, "shards = {}", r.shards)?;
        writeln!(out, "ordering = {}", quote(r.ordering.as_str()))?;
        writeln!(out, "producer = {}", quote(r.producer.as_str()))?;
        writeln!(out, "scheduling = {}", quote(r.scheduling.as_str()))?;
        if let Some(key) = &r.shard_key {
            writeln!(out, "shard_key = {}", quote(key))?;
        }
    }

    if let Some(g) = &plan.lane_graph {
        writeln!(out, "\n[lane_graph]")?;
        if let Some(on_full) = g.on_full {
            writeln!(out, "on_full = {}", quote(on_full.as_str()))?;
        }
        let b = &g.boundary;
        let mut fields = vec![format!("kind = {}", quote(b.kind.as_str()))];
        if let Some(c) = b.capacity {
            fields.push(format!("capacity = {c}"));
        }
        if let Some(on_full) = b.on_full {
            fields.push(format!("on_full = {}", quote(on_full.as_str())));
        }
        writeln!(out, "boundary = {{ {} }}", fields.join(", "))?;

        for c in &g.connections {
            writeln!(out, "\n[[lane_graph.connections]]")?;
            writeln!(out, "from = {}", quote(&c.from))?;
            writeln!(out, "to = {}", quote(&c.to))?;
            let mut fields = vec![format!("kind = {}", quote(c.lane.kind.as_str()))];
            if let Some(cap) = c.lane.capacity {
                fields.push(format!("capacity = {cap}"));
            }
            if let Some(gating) = &c.lane.gating {
                fields.push(format!("gating = {}", quote(gating)));
            }
            writeln!(out, "lane = {{ {} }}", fields.join(", "))?;
        }
    }
    Ok(())
}

/// Writes a parameter table inline: `{ a = 1, b = "x" }`.
fn write_table(out: &mut String, table: &BTreeMap<String, ParamValue>) {
    if table.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{ ");
    for (i, (k, v)) in table.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&key(k));
        out.push_str(" = ");
        write_value(out, v);
    }
    out.push_str(" }");
}

fn write_value(out: &mut String, value: &ParamValue) {
    match value {
        ParamValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ParamValue::Int(i) => out.push_str(&i.to_string()),
        ParamValue::Float(f) => out.push_str(&float(*f)),
        ParamValue::Str(s) => out.push_str(&quote(s)),
        ParamValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        ParamValue::Table(table) => write_table(out, table),
    }
}

/// A TOML float that reads back as the same `f64`. Rust's `Debug` form is the shortest text
/// that round-trips, always has a `.` or an exponent, and is TOML float syntax.
fn float(f: f64) -> String {
    if f.is_nan() {
        if f.is_sign_negative() { "-nan" } else { "nan" }.to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        format!("{f:?}")
    }
}

/// A key: bare when TOML allows it, quoted otherwise.
fn key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        k.to_owned()
    } else {
        quote(k)
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() && u32::from(c) <= 0x7f || c == '\u{7f}' => {
                // Remaining C0 controls and DEL must be escaped in basic strings.
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{validate_plan_v2, PlanViolation};

    /// The reference example of the plan document format: every key once, both payloads.
    const APPENDIX_B: &str = r#"
version = 2                 # plan document version; anything else is an error
name = "orders"
target = "single_ring"      # "single_ring" | "lane_graph"

[[ingress]]                 # boundary catalog
name = "orders_in"
[[egress]]
name = "fills_out"

[[stages]]                  # stage catalog, in topological order
name = "parse"
kind = "parse_order"        # optional: registered stage kind; defaults to name
side_effects = false        # optional; default false
params = { max_qty = 1000 } # optional; handed to the stage's parameter parser
[[stages]]
name = "risk"
after = ["parse"]           # SingleRing dependency list (earlier stages only)

[single_ring]               # required when target = "single_ring"
capacity = 1024             # optional; power of two; default 1024
shards = 1                  # optional; default 1; must be >= 1
ordering = "strict"         # "strict" | "per_key"; strict requires shards == 1
producer = "single"         # "single" | "multi" (rejected in v1)
scheduling = "dedicated"    # "dedicated" | "work_queue" (rejected in v1)
shard_key = "account"       # required when shards > 1

[lane_graph]                # required when target = "lane_graph"
on_full = "block"           # "block" | "drop"
boundary = { kind = "events", capacity = 1024 }   # boundary lane policy
[[lane_graph.connections]]
from = "orders_in"          # an ingress or a stage
to = "parse"                # a stage or an egress
lane = { kind = "events", capacity = 1024 }
"#;

    const LANE_GRAPH: &str = r#"
version = 2
name = "plant"
target = "lane_graph"

[[ingress]]
name = "orders_in"

[[egress]]
name = "fills_out"

[[egress]]
name = "audit_out"

[[stages]]
name = "parse"
params = { symbols = ["AAPL", "MSFT"], limits = { max_qty = 1000, max_px = 99.5 }, strict = true }

[[stages]]
name = "risk"
side_effects = true

[[stages]]
name = "audit"
kind = "audit_log"

[lane_graph]
on_full = "drop"
boundary = { kind = "events", capacity = 4096, on_full = "block" }

[[lane_graph.connections]]
from = "orders_in"
to = "parse"
lane = { kind = "events" }

[[lane_graph.connections]]
from = "parse"
to = "risk"
lane = { kind = "sequenced_slots", capacity = 100, gating = "all_readers" }

[[lane_graph.connections]]
from = "parse"
to = "audit"
lane = { kind = "events", capacity = 256 }

[[lane_graph.connections]]
from = "risk"
to = "fills_out"
lane = { kind = "events" }

[[lane_graph.connections]]
from = "audit"
to = "audit_out"
lane = { kind = "events" }
"#;

    fn parse(text: &str) -> PipelinePlanV2 {
        PipelinePlanV2::from_toml(text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
    }

    fn parse_err(text: &str) -> PlanDocumentError {
        match PipelinePlanV2::from_toml(text) {
            Ok(plan) => panic!("document should be rejected, got {plan:#?}"),
            Err(e) => e,
        }
    }

    fn assert_round_trip(plan: &PipelinePlanV2) {
        let text = plan.to_toml();
        let back = PipelinePlanV2::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
        assert_eq!(&back, plan, "\n---\n{text}");
        assert_eq!(back.to_toml(), text, "to_toml is not stable");
    }

    /// Asserts the error's message names every needle and that it points at `line`.
    fn assert_error(err: &PlanDocumentError, line: usize, needles: &[&str]) {
        let text = err.to_string();
        assert_eq!(err.line(), line, "wrong line in `{text}`");
        assert!(
            text.starts_with(&format!("line {line}, column {}: ", err.column())),
            "`{text}` does not start with its position"
        );
        for needle in needles {
            assert!(
                text.contains(needle),
                "`{text}` does not mention {needle:?}"
            );
        }
    }

    #[test]
    fn appendix_b_example_reads_and_round_trips() {
        let plan = parse(APPENDIX_B);
        assert_eq!(plan.name, "orders");
        assert_eq!(plan.target, ExecutionTargetV1::SingleRing);
        assert_eq!(plan.ingress, [BoundaryDecl::new("orders_in")]);
        assert_eq!(plan.egress, [BoundaryDecl::new("fills_out")]);
        assert_eq!(
            plan.stages,
            [
                StageDecl::new("parse")
                    .kind("parse_order")
                    .param("max_qty", 1000),
                StageDecl::new("risk").after("parse"),
            ]
        );
        assert_eq!(
            plan.single_ring,
            Some(SingleRingConstraints {
                shard_key: Some("account".into()),
                ..SingleRingConstraints::default()
            })
        );
        let graph = plan
            .lane_graph
            .as_ref()
            .expect("the example has a [lane_graph] table");
        assert_eq!(graph.on_full, Some(OnFull::Block));
        assert_eq!(graph.boundary.capacity, Some(1024));
        assert_eq!(
            graph.connections,
            [Connection::new("orders_in", "parse").lane(LaneIntent::events().capacity(1024))]
        );
        assert_round_trip(&plan);

        // The example shows every key, so it carries both payloads; validation says so.
        let errors = validate_plan_v2(&plan).unwrap_err();
        assert!(matches!(
            errors.violations()[0],
            PlanViolation::UnexpectedPayload {
                table: "lane_graph",
                ..
            }
        ));
    }

    #[test]
    fn format_reference_in_the_docs_reads_and_round_trips() {
        // The annotated document on `from_toml`, taken from this file so the two cannot drift.
        let source = include_str!("document.rs");
        let start = source.find("/// ```toml\n").expect("format reference") + "/// ```toml\n".len();
        let end = start + source[start..].find("/// ```\n").expect("end of reference");
        let reference: String = source[start..end]
            .lines()
            .map(|l| {
                l.trim_start()
                    .trim_start_matches("///")
                    .strip_prefix(' ')
                    .unwrap_or("")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let plan = parse(&reference);
        assert_eq!(plan.stages[0].kind.as_deref(), Some("parse_order"));
        let graph = plan.lane_graph.as_ref().expect("lane_graph table");
        assert_eq!(graph.boundary.on_full, Some(OnFull::Drop));
        assert_eq!(graph.connections[0].lane, LaneIntent::sequenced_slots(64));
        assert_round_trip(&plan);
    }

    #[test]
    fn lane_graph_document_reads_validates_and_round_trips() {
        let plan = parse(LANE_GRAPH);
        assert_eq!(plan.target(), ExecutionTargetV1::LaneGraph);
        assert_eq!(plan.single_ring, None);
        assert_eq!(validate_plan_v2(&plan), Ok(()));
        let parse_stage = plan.stage("parse").expect("parse stage");
        assert_eq!(
            parse_stage.params["symbols"],
            ParamValue::Array(vec!["AAPL".into(), "MSFT".into()])
        );
        assert_eq!(
            parse_stage.params["limits"],
            ParamValue::Table(BTreeMap::from([
                ("max_px".to_owned(), ParamValue::Float(99.5)),
                ("max_qty".to_owned(), ParamValue::Int(1000)),
            ]))
        );
        assert!(plan.stage("risk").expect("risk stage").side_effects);
        let graph = plan.lane_graph.as_ref().expect("lane graph");
        assert_eq!(graph.on_full, Some(OnFull::Drop));
        assert_eq!(
            graph.boundary,
            BoundaryLanePolicy {
                kind: LaneKind::Events,
                capacity: Some(4096),
                on_full: Some(OnFull::Block),
            }
        );
        assert_eq!(graph.connections[1].lane, LaneIntent::sequenced_slots(100));
        assert_round_trip(&plan);
    }

    #[test]
    fn to_toml_layout() {
        let plan = PipelinePlanV2::single_ring("orders")
            .with_ingress("orders_in")
            .with_egress("fills_out")
            .with_stage(
                StageDecl::new("parse")
                    .kind("parse_order")
                    .side_effects(true)
                    .param("max_qty", 1000)
                    .param("venue name", "X \"Y\""),
            )
            .with_stage(StageDecl::new("risk").after("parse"));
        let expected = r#"version = 2
name = "orders"
target = "single_ring"

[[ingress]]
name = "orders_in"

[[egress]]
name = "fills_out"

[[stages]]
name = "parse"
kind = "parse_order"
side_effects = true
params = { max_qty = 1000, "venue name" = "X \"Y\"" }

[[stages]]
name = "risk"
after = ["parse"]

[single_ring]
capacity = 1024
shards = 1
ordering = "strict"
producer = "single"
scheduling = "dedicated"
"#;
        assert_eq!(plan.to_toml(), expected);
        assert_round_trip(&plan);

        let graph = PipelinePlanV2::lane_graph("g")
            .with_connection(Connection::new("a", "b").lane(LaneIntent::sequenced_slots(8)));
        let expected = r#"version = 2
name = "g"
target = "lane_graph"

[lane_graph]
on_full = "block"
boundary = { kind = "events" }

[[lane_graph.connections]]
from = "a"
to = "b"
lane = { kind = "sequenced_slots", capacity = 8, gating = "all_readers" }
"#;
        assert_eq!(graph.to_toml(), expected);
        assert_round_trip(&graph);
    }

    #[test]
    fn optional_keys_take_their_defaults() {
        let plan = parse(
            "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n\
             [single_ring]\n[lane_graph]\n[[lane_graph.connections]]\nfrom = \"a\"\nto = \"b\"\n",
        );
        assert!(plan.ingress.is_empty() && plan.egress.is_empty());
        assert_eq!(plan.stages, [StageDecl::new("s")]);
        assert_eq!(plan.single_ring, Some(SingleRingConstraints::default()));
        let graph = plan.lane_graph.expect("lane graph table");
        assert_eq!(graph.on_full, None);
        assert_eq!(graph.boundary, BoundaryLanePolicy::default());
        assert_eq!(graph.connections, [Connection::new("a", "b")]);
    }

    #[test]
    fn missing_payload_table_is_left_to_validation() {
        let plan = parse("version = 2\nname = \"p\"\ntarget = \"single_ring\"\n");
        assert_eq!(plan.single_ring, None);
        assert_eq!(plan.lane_graph, None);
        let errors = validate_plan_v2(&plan).unwrap_err();
        assert!(matches!(
            errors.violations()[0],
            PlanViolation::MissingPayload {
                table: "single_ring",
                ..
            }
        ));
        assert_round_trip(&plan);
    }

    #[test]
    fn rule_breaking_documents_parse_and_validation_reports_them() {
        let plan = parse(
            r#"
version = 2
name = "orders"
target = "single_ring"
[[ingress]]
name = "in"
[[egress]]
name = "out"
[[stages]]
name = "parse"
[single_ring]
shards = 0
ordering = "strict"
producer = "multi"
scheduling = "work_queue"
"#,
        );
        let errors = validate_plan_v2(&plan).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors}");
        assert!(matches!(errors.violations()[0], PlanViolation::ZeroShards));
        assert!(matches!(
            errors.violations()[1],
            PlanViolation::MultiProducerNotSupported
        ));
        assert!(matches!(
            errors.violations()[2],
            PlanViolation::WorkQueueNotSupported
        ));

        let mut sharded = plan.clone();
        sharded.single_ring.as_mut().expect("table").shards = 4;
        let sharded = parse(&sharded.to_toml());
        let errors = validate_plan_v2(&sharded).unwrap_err();
        assert!(errors
            .iter()
            .any(|v| matches!(v, PlanViolation::StrictOrderingWithShards { shards: 4 })));
    }

    // ---- errors -------------------------------------------------------------------------

    #[test]
    fn missing_version() {
        let err = parse_err("name = \"p\"\ntarget = \"single_ring\"\n");
        assert!(matches!(err, PlanDocumentError::Malformed { .. }));
        assert_error(&err, 1, &["missing field `version`"]);
    }

    #[test]
    fn unsupported_version() {
        let err = parse_err("name = \"p\"\n\nversion = 3\ntarget = \"single_ring\"\n");
        assert_eq!(
            err,
            PlanDocumentError::UnsupportedVersion {
                line: 3,
                column: 11,
                found: 3
            }
        );
        assert_error(&err, 3, &["`version`", "version 3", "version 2"]);
    }

    #[test]
    fn version_of_the_wrong_type() {
        let err = parse_err("version = \"2\"\nname = \"p\"\ntarget = \"single_ring\"\n");
        assert!(matches!(err, PlanDocumentError::Malformed { .. }));
        assert_error(&err, 1, &["`version`", "string"]);
    }

    #[test]
    fn unknown_top_level_key() {
        let err = parse_err("version = 2\nname = \"p\"\ntargt = \"single_ring\"\n");
        assert_error(&err, 3, &["`targt`", "`target`", "`stages`"]);
        assert_eq!(err.column(), 1);
    }

    #[test]
    fn unknown_key_in_stages() {
        let err = parse_err(
            "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n\
             depends_on = [\"x\"]\n",
        );
        assert_error(&err, 6, &["`depends_on`", "`after`", "`params`"]);
    }

    #[test]
    fn unknown_key_in_single_ring() {
        let err = parse_err(
            "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[single_ring]\nshards = 2\n\
             shard_by = \"account\"\n",
        );
        assert_error(&err, 6, &["`shard_by`", "`shard_key`", "`capacity`"]);
    }

    #[test]
    fn unknown_key_in_lane_intent() {
        let err = parse_err(
            "version = 2\nname = \"p\"\ntarget = \"lane_graph\"\n[lane_graph]\n\
             [[lane_graph.connections]]\nfrom = \"a\"\nto = \"b\"\n\
             lane = { kind = \"events\", size = 64 }\n",
        );
        assert_error(&err, 8, &["`size`", "`capacity`", "`gating`"]);
    }

    #[test]
    fn unknown_key_in_boundary_policy() {
        let err = parse_err(
            "version = 2\nname = \"p\"\ntarget = \"lane_graph\"\n[lane_graph]\n\
             boundary = { knd = \"events\" }\n",
        );
        assert_error(&err, 5, &["`knd`", "`kind`"]);
    }

    #[test]
    fn bad_enum_values_list_the_valid_ones() {
        let err = parse_err("version = 2\nname = \"p\"\ntarget = \"ring\"\n");
        assert_error(
            &err,
            3,
            &["`target`", "`ring`", "`single_ring`", "`lane_graph`"],
        );
        assert_eq!(err.column(), 10);

        let err = parse_err(
            "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[single_ring]\n\
             ordering = \"strong\"\n",
        );
        assert_error(&err, 5, &["ordering", "`strong`", "`strict`", "`per_key`"]);

        let err = parse_err(
            "version = 2\nname = \"p\"\ntarget = \"lane_graph\"\n[lane_graph]\n\
             [[lane_graph.connections]]\nfrom = \"a\"\nto = \"b\"\nlane = { kind = \"broadcast\" }\n",
        );
        assert_error(
            &err,
            8,
            &[
                "kind",
                "`broadcast`",
                "`events`",
                "`journal`",
                "`sequenced_slots`",
                "`fanout_broadcast`",
            ],
        );

        let err = parse_err(
            "version = 2\nname = \"p\"\ntarget = \"lane_graph\"\n[lane_graph]\non_full = \"wait\"\n",
        );
        assert_error(&err, 5, &["on_full", "`wait`", "`block`", "`drop`"]);
    }

    #[test]
    fn wrong_types_name_the_key() {
        let err = parse_err(
            "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[single_ring]\n\
             shards = \"four\"\n",
        );
        assert_error(&err, 5, &["shards", "string"]);
        assert_eq!(err.column(), 10);

        let err = parse_err(
            "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[single_ring]\ncapacity = -1\n",
        );
        assert_error(&err, 5, &["capacity", "-1"]);

        let err = parse_err(
            "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n\
             side_effects = \"yes\"\n",
        );
        assert_error(&err, 6, &["side_effects"]);

        let err = parse_err("version = 2\nname = 7\ntarget = \"single_ring\"\n");
        assert_error(&err, 2, &["name"]);

        let err = parse_err("version = 2\nname = \"p\"\ntarget = \"single_ring\"\nstages = 3\n");
        assert_error(&err, 4, &["stages"]);
    }

    #[test]
    fn missing_required_keys() {
        let err = parse_err("version = 2\nname = \"p\"\n");
        assert_error(&err, 1, &["`target`"]);

        let err = parse_err(
            "version = 2\nname = \"p\"\ntarget = \"lane_graph\"\n[lane_graph]\n\
             [[lane_graph.connections]]\nfrom = \"a\"\n",
        );
        assert!(err.to_string().contains("`to`"), "{err}");
    }

    #[test]
    fn duplicate_key_names_the_key() {
        let err = parse_err("version = 2\nname = \"p\"\nname = \"q\"\n");
        assert_error(&err, 3, &["`name`", "duplicate"]);
    }

    #[test]
    fn toml_syntax_errors_have_a_position() {
        let err = parse_err("version = 2\nname = \"p\ntarget = \"single_ring\"\n");
        assert!(matches!(err, PlanDocumentError::Malformed { .. }));
        assert_eq!(err.line(), 2, "{err}");

        let err = parse_err("version = 2\n[[stages]\n");
        assert_eq!(err.line(), 2, "{err}");
    }

    #[test]
    fn datetime_params_are_rejected_with_the_param_name() {
        let err = parse_err(
            "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n\
             params = { a = 1, open = 09:30:00 }\n",
        );
        assert!(matches!(
            &err,
            PlanDocumentError::DatetimeParam { stage, param, .. } if stage == "s" && param == "open"
        ));
        assert_error(&err, 6, &["stage `s`", "param `open`"]);

        let err = parse_err(
            "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n\
             [stages.params.session]\nopen = 1979-05-27\n",
        );
        assert_error(&err, 6, &["param `session.open`"]);
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(line_column("", 0), (1, 1));
        assert_eq!(line_column("abc", 2), (1, 3));
        assert_eq!(line_column("a\nbc", 3), (2, 2));
        assert_eq!(line_column("é = 1", 3), (1, 3));
        // Inside a character or past the end: clamped.
        assert_eq!(line_column("é", 1), (1, 1));
        assert_eq!(line_column("ab", 10), (1, 3));

        let err = parse_err("version = 2\nname = \"ééé\"\ntarget = 5\n");
        assert_eq!((err.line(), err.column()), (3, 10), "{err}");
    }

    #[test]
    fn key_is_read_back_from_the_text() {
        assert_eq!(key_before("a = 1\nshards = x", 15), Some("shards".into()));
        assert_eq!(
            key_before("lane = { capacity= 5", 19),
            Some("capacity".into())
        );
        assert_eq!(key_before("\"odd key\" = 5", 12), Some("odd key".into()));
        assert_eq!(key_before("after = [1, 2]", 12), None);
        assert_eq!(key_before("x", 5), None);
        // Non-ASCII text before a key, or where a bare key would be.
        assert_eq!(key_before("é=é= 1", 7), None);
        assert_eq!(key_before("᧐==", 5), None);
        assert!(PipelinePlanV2::from_toml("᧐==").is_err());
        assert_eq!(key_before("éab = 1", 7), Some("ab".into()));
        assert_eq!(key_at("a = 1\nname = 2", 6..10), Some("name".into()));
        assert_eq!(key_at("a = [1, 2]", 5..6), None);
        assert_eq!(key_at("a", 3..9), None);
    }

    #[test]
    fn strings_and_keys_are_escaped() {
        let odd = "q\"b\\n\nt\tr\rnul\u{0}del\u{7f}bs\u{8}ff\u{c}é🦀";
        let plan = PipelinePlanV2::lane_graph(odd)
            .with_ingress(odd)
            .with_stage(
                StageDecl::new("")
                    .kind(odd)
                    .param(odd, odd)
                    .param("", ParamValue::Table(BTreeMap::new()))
                    .after(odd),
            )
            .with_connection(Connection::new(odd, ""));
        assert_round_trip(&plan);
    }

    #[test]
    fn floats_round_trip_exactly() {
        let values = [
            0.0,
            -0.0,
            0.1,
            -2.5,
            1e300,
            -1e-300,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f64::MIN,
            1e16,
            123456789.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for f in values {
            let plan =
                PipelinePlanV2::single_ring("f").with_stage(StageDecl::new("s").param("x", f));
            let back = parse(&plan.to_toml());
            match back.stages[0].params["x"] {
                ParamValue::Float(g) => assert_eq!(g.to_bits(), f.to_bits(), "{f:?}"),
                ref other => panic!("{f:?} read back as {other:?}"),
            }
        }
        let nan =
            PipelinePlanV2::single_ring("f").with_stage(StageDecl::new("s").param("x", f64::NAN));
        let back = parse(&nan.to_toml());
        assert!(matches!(back.stages[0].params["x"], ParamValue::Float(g) if g.is_nan()));
    }

    /// `[[...[1]...]]` of the given depth (a scalar is depth 1).
    fn nested_array(depth: usize) -> ParamValue {
        let mut value = ParamValue::Int(1);
        for _ in 1..depth {
            value = ParamValue::Array(vec![value]);
        }
        value
    }

    #[test]
    fn params_at_the_nesting_limit_round_trip() {
        let mut table = ParamValue::Table(BTreeMap::new());
        for _ in 1..PARAM_V1_MAX_DEPTH {
            table = ParamValue::Table(BTreeMap::from([("k".to_owned(), table)]));
        }
        assert_eq!(table.depth(), PARAM_V1_MAX_DEPTH);
        let plan = PipelinePlanV2::single_ring("p")
            .with_ingress("in")
            .with_egress("out")
            .with_stage(
                StageDecl::new("s")
                    .param("a", nested_array(PARAM_V1_MAX_DEPTH))
                    .param("t", table),
            );
        assert_eq!(validate_plan_v2(&plan), Ok(()));
        assert_round_trip(&plan);
    }

    #[test]
    fn params_past_the_nesting_limit_are_refused_by_name() {
        let plan = PipelinePlanV2::single_ring("p").with_stage(
            StageDecl::new("s")
                .param("ok", 1)
                .param("deep", nested_array(PARAM_V1_MAX_DEPTH + 1)),
        );
        let text = plan.to_toml();
        let err = parse_err(&text);
        assert!(
            matches!(
                &err,
                PlanDocumentError::ParamTooDeep { stage, param, max: 32, .. }
                    if stage == "s" && param == "deep"
            ),
            "{err:?}"
        );
        assert_error(
            &err,
            7,
            &["stage `s`", "param `deep`", "deeper than 32 levels"],
        );
        // Validation says the same of the plan in memory.
        assert!(validate_plan_v2(&plan)
            .unwrap_err()
            .iter()
            .any(|v| matches!(v, PlanViolation::ParamTooDeep { depth: 33, .. })));
        // Nesting through table headers and dotted keys counts too.
        let text = format!(
            "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n\
             [stages.params{}]\nv = 1\n",
            ".a".repeat(PARAM_V1_MAX_DEPTH)
        );
        assert!(matches!(
            parse_err(&text),
            PlanDocumentError::ParamTooDeep { .. }
        ));
    }

    #[test]
    fn very_deep_documents_are_refused_without_deep_recursion() {
        let head =
            "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n";
        for text in [
            format!("{head}params = {{ x = {} }}\n", "[".repeat(1 << 20)),
            format!("{head}params = {{ x = {} }}\n", "{ a = ".repeat(100_000)),
            format!("{head}[stages.params{}]\nv = 1\n", ".a".repeat(10_000)),
        ] {
            let err = parse_err(&text);
            assert!(
                matches!(err, PlanDocumentError::TooDeep { max: 32, .. }),
                "{err}"
            );
            assert!(err.to_string().contains("nests too deeply"), "{err}");
        }
    }

    #[test]
    fn parser_messages_never_carry_control_characters() {
        let err =
            parse_err("version = 2\nname = \"p\"\ntarget = \"single_ring\"\n\"k\\u001b[2J\" = 1\n");
        let text = err.to_string();
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(text.contains("k\\u{1b}[2J"), "{text}");
    }

    #[test]
    fn the_scan_skips_strings_and_comments() {
        let brackets = "[".repeat(100);
        let dots = ".".repeat(100);
        let text = format!(
            "version = 2 # [[[[{brackets}\nname = \"{brackets}{dots}\\\"{brackets}\"\n\
             target = 'single_ring'\n[[stages]]\nname = '''{brackets}'''\n\
             kind = \"\"\"\n{brackets}\\\"\"\"{dots}\n\"\"\"\"\"\n\
             params = {{ a = '''x''''', b = \"\"\"y\"\"\"\"\", \"c.{dots}\" = 1.5, d = [1.5, 2.5] }}\n\
             [[stages]]\nname = \"t\"\n[stages.params.\"{dots}\"]\ne = 0.5\n"
        );
        assert_eq!(scan(&text), Ok(()));
        assert_eq!(scan("x = 1979-05-27T00:32:00.999\ny = 1e.5\n"), Ok(()));
        let plan = parse(&text);
        assert_eq!(plan.name, format!("{brackets}{dots}\"{brackets}"));
        assert_eq!(plan.stages[0].name, brackets);
        assert_eq!(
            plan.stages[0].kind.as_deref(),
            Some(format!("{brackets}\"\"\"{dots}\n\"\"").as_str())
        );
        assert_eq!(plan.stages[0].params["a"], ParamValue::Str("x''".into()));
        assert_eq!(plan.stages[0].params["b"], ParamValue::Str("y\"\"".into()));
    }

    #[test]
    fn the_scan_measures_nesting_and_size() {
        let head =
            "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n";
        // The deepest parameter fits inside `params = { ... }`; one more level does not.
        let at = |depth: usize| {
            format!(
                "{head}params = {{ x = {}{} }}\n",
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        assert_eq!(scan(&at(PARAM_V1_MAX_DEPTH)), Ok(()));
        assert!(matches!(
            scan(&at(PARAM_V1_MAX_DEPTH + 1)),
            Err(ScanProblem::TooDeep(_))
        ));
        let keys =
            |parts: usize| format!("{head}[stages.params]\na{} = 1\n", ".a".repeat(parts - 1));
        assert_eq!(scan(&keys(PARAM_V1_MAX_DEPTH)), Ok(()));
        assert!(matches!(
            scan(&keys(MAX_KEY_PARTS + 1)),
            Err(ScanProblem::TooDeep(_))
        ));
        // Headers and arrays of tables nest no deeper than their brackets.
        assert_eq!(
            scan(&format!(
                "{head}[[stages]]\n[stages.params.a.b]\nx = [[1], [2]]\n"
            )),
            Ok(())
        );
        // Items: a document past the limit is refused where the count passes it.
        let text = format!(
            "{head}params = {{ x = [{}1] }}\n",
            "1,".repeat(PLAN_DOCUMENT_MAX_ITEMS)
        );
        match scan(&text) {
            Err(ScanProblem::TooLarge(at)) => assert!(at < text.len() && at > text.len() / 3),
            other => panic!("{other:?}"),
        }
        let err = parse_err(&text);
        assert!(
            matches!(err, PlanDocumentError::TooLarge { line: 6, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("too large to read"), "{err}");
        // Ordinary plan documents of several hundred kilobytes are read.
        let mut plan = PipelinePlanV2::lane_graph("big")
            .with_ingress("in")
            .with_egress("out");
        for i in 0..2_500 {
            plan = plan
                .with_stage(StageDecl::new(format!("s{i}")))
                .with_connection(Connection::new("in", format!("s{i}")))
                .with_connection(Connection::new(format!("s{i}"), "out"));
        }
        assert!(plan.to_toml().len() > 400_000);
        assert_round_trip(&plan);
    }
}
