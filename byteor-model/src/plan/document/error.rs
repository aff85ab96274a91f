//! `PlanDocumentError`: what is wrong with a document, and where (line, column, key).

use crate::diagnostics::names::label;
use crate::PARAM_V1_MAX_DEPTH;

use super::*;

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

pub(super) fn malformed(text: &str, err: &toml::de::Error) -> PlanDocumentError {
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
pub(super) fn printable(text: &str) -> String {
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
pub(super) fn error_key_path(err: &toml::de::Error) -> Option<String> {
    let mut bare = err.clone();
    bare.set_input(None);
    let shown = bare.to_string();
    let last = shown.lines().last()?;
    let path = last.strip_prefix("in `")?.strip_suffix('`')?;
    (!path.is_empty()).then(|| path.to_owned())
}

/// The key of a `key = value` pair whose value starts at `offset`, read back from the text.
pub(super) fn key_before(text: &str, offset: usize) -> Option<String> {
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
pub(super) fn key_at(text: &str, span: std::ops::Range<usize>) -> Option<String> {
    let spelled = text.get(span.clone())?;
    let after = text.get(span.end..)?.trim_start_matches([' ', '\t']);
    let single_line = !spelled.is_empty() && !spelled.contains('\n');
    (single_line && after.starts_with('=')).then(|| spelled.trim_matches('"').to_owned())
}

/// 1-based line and column (in characters) of a byte offset. Offsets past the end, or inside
/// a character, are clamped back to the nearest character boundary.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
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
