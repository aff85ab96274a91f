//! The pre-scan: bounds a document's nesting, key depth and item count before the TOML parser
//! sees it, so that reading costs memory linear in the document.

use crate::PARAM_V1_MAX_DEPTH;

/// Deepest nesting of `[` and `{` a plan document may have: a parameter value of
/// [`PARAM_V1_MAX_DEPTH`] levels inside a `params = { ... }` table (the value's innermost
/// level may itself be an empty array or table).
pub(super) const MAX_BRACKET_DEPTH: usize = PARAM_V1_MAX_DEPTH + 1;

/// Most parts of one dotted key (`a.b.c` has three) a plan document needs: a parameter
/// value of [`PARAM_V1_MAX_DEPTH`] levels of tables under `stages.params`.
pub(super) const MAX_KEY_PARTS: usize = PARAM_V1_MAX_DEPTH + 2;

/// What a table costs the parser beyond its token, in items (see
/// [`PLAN_DOCUMENT_MAX_ITEMS`]).
pub(super) const TABLE_ITEMS: usize = 8;

/// Most items a plan document may hold: [`from_toml`](crate::plan::PipelinePlanV2::from_toml) refuses a
/// longer document with [`PlanDocumentError::TooLarge`](crate::plan::PlanDocumentError::TooLarge) before parsing it.
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
pub(super) enum ScanProblem {
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
pub(super) fn scan(text: &str) -> Result<(), ScanProblem> {
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
