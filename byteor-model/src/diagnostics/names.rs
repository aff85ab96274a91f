//! Names: the character rule plan and spec validation share, how names appear in messages, and
//! the "did you mean" search.
//!
//! Everything here costs at most linear time in the text it looks at, and a bounded amount of
//! work per call where a search is involved, so a hostile document cannot make validation slow.

use crate::NAME_V1_MAX_BYTES;

/// The characters of a plan name, in words, for messages.
pub(crate) const PLAN_NAME_CHARS: &str = "ASCII letters, digits, '_' and '-'";

/// The first character of `name` that is neither an ASCII letter or digit, `_`, `-`, nor one
/// of `extra`, with its byte offset.
pub(crate) fn first_bad_char(name: &str, extra: &[char]) -> Option<(usize, char)> {
    name.char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || extra.contains(&c)))
}

/// `character` as messages show it: `'.' (U+002E)` when it prints, `U+0000` when it does not.
pub(crate) fn describe_char(character: char) -> String {
    if printable(character) && character != ' ' {
        format!("'{character}' (U+{:04X})", u32::from(character))
    } else {
        format!("U+{:04X}", u32::from(character))
    }
}

/// Whether a character shows as itself: printable ASCII, or a non-ASCII character that
/// `{:?}` formatting leaves alone.
pub(crate) fn printable(c: char) -> bool {
    if c.is_ascii() {
        c == ' ' || c.is_ascii_graphic()
    } else {
        c.escape_debug().nth(1).is_none()
    }
}

/// A name (or any text from a document) as a violation stores and shows it: characters that
/// would not print as themselves (control characters, invisible formatting characters) and
/// `\` are escaped the way `{:?}` escapes them, so nothing reaches a terminal raw; and a label
/// longer than `max` bytes is cut there and ends in `…`, so a violation stays small however long
/// the name is.
pub(crate) fn label(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 3);
    for c in text.chars() {
        let before = out.len();
        if printable(c) && c != '\\' {
            out.push(c);
        } else {
            out.extend(c.escape_debug());
        }
        if out.len() > max {
            out.truncate(before);
            out.push('…');
            break;
        }
    }
    out
}

/// A name as plan violations store it: see [`label`]; plan names are at most
/// [`NAME_V1_MAX_BYTES`] long, so a valid name is never cut.
pub(crate) fn plan_label(name: &str) -> String {
    label(name, NAME_V1_MAX_BYTES)
}

/// Most "did you mean" searches one validation runs; unknown names past this get no
/// suggestion.
pub(crate) const MAX_SUGGESTION_SEARCHES: usize = 16;

/// Most edits a suggestion may be away from the unknown name.
const MAX_SUGGESTION_DISTANCE: usize = 3;

/// Edit-distance cells (characters of the name × characters of a candidate) all the searches of
/// one validation may compute, in total.
const SUGGESTION_CELL_BUDGET: usize = 1 << 22;

/// The "did you mean" search of one validation run: at most [`MAX_SUGGESTION_SEARCHES`]
/// searches, together computing at most a fixed number of edit-distance cells, so the cost is
/// bounded however many unknown names and candidates a document holds. The distance is
/// `strsim`'s optimal string alignment (insertions, deletions, substitutions and swaps of two
/// neighbouring characters each count one edit), the metric clap's suggestions use too.
#[derive(Debug)]
pub(crate) struct Suggester {
    searches_left: usize,
    cells_left: usize,
}

impl Suggester {
    /// A fresh search budget.
    pub(crate) fn new() -> Self {
        Suggester {
            searches_left: MAX_SUGGESTION_SEARCHES,
            cells_left: SUGGESTION_CELL_BUDGET,
        }
    }

    /// The candidate closest to `name` by edit distance, when it is close enough to be a likely
    /// typo: at most a third of the name's length (at least one, at most three edits). Names
    /// longer than [`NAME_V1_MAX_BYTES`] are neither searched for nor suggested. The first
    /// closest candidate wins; `None` once the budget is spent.
    pub(crate) fn closest<'c>(
        &mut self,
        name: &str,
        candidates: impl Iterator<Item = &'c str>,
    ) -> Option<String> {
        // Names that are never searched for do not use up a search.
        if name.is_empty() || name.len() > NAME_V1_MAX_BYTES || self.searches_left == 0 {
            return None;
        }
        self.searches_left -= 1;
        nearest(name, candidates, &mut self.cells_left).map(str::to_owned)
    }
}

/// One "did you mean" search: the first candidate closest to `name` within the typo limit (a
/// third of the name's length, at least one and at most three edits), computing at most
/// `cells_left` edit-distance cells (and counting them off). Names longer than
/// [`NAME_V1_MAX_BYTES`] are neither searched for nor suggested.
pub(crate) fn nearest<'c>(
    name: &str,
    candidates: impl Iterator<Item = &'c str>,
    cells_left: &mut usize,
) -> Option<&'c str> {
    if name.is_empty() || name.len() > NAME_V1_MAX_BYTES {
        return None;
    }
    let name_chars = name.chars().count();
    let limit = (name_chars / 3).clamp(1, MAX_SUGGESTION_DISTANCE);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        if candidate.is_empty() || candidate == name || candidate.len() > NAME_V1_MAX_BYTES {
            continue;
        }
        // Only a strictly closer candidate replaces the best one.
        let max = best.map_or(limit, |(d, _)| d - 1);
        if max == 0 {
            break;
        }
        let candidate_chars = candidate.chars().count();
        if name_chars.abs_diff(candidate_chars) > max {
            continue;
        }
        let cells = name_chars * candidate_chars;
        if cells > *cells_left {
            *cells_left = 0;
            break;
        }
        *cells_left -= cells;
        let d = edit_distance(name, candidate);
        if d <= max {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// The "did you mean" of one unknown name outside a validation run (the `#[pipeline]` macro's
/// options, statements and settings): the same metric and caps as plan validation's
/// suggestions, with one search's budget.
pub(crate) fn closest_name<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let mut cells_left = SUGGESTION_CELL_BUDGET;
    nearest(name, candidates.into_iter(), &mut cells_left)
}

/// The edit distance "did you mean" ranks candidates by: `strsim`'s optimal string alignment.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_swaps_as_one() {
        assert_eq!(edit_distance("parse", "prase"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ca", "abc"), 3);
    }

    #[test]
    fn closest_is_the_first_nearest_candidate_within_the_limit() {
        let words = [
            "", "a", "ab", "ba", "abc", "acb", "bca", "parse", "prase", "risk", "rsik", "kitten",
            "sitting", "audit", "aduit", "route", "router", "xyzzy",
        ];
        for name in words {
            let limit = (name.chars().count() / 3).clamp(1, MAX_SUGGESTION_DISTANCE);
            let mut expected: Option<(usize, &str)> = None;
            if !name.is_empty() {
                for c in words {
                    if c.is_empty() || c == name {
                        continue;
                    }
                    let d = edit_distance(name, c);
                    if d <= limit && expected.is_none_or(|(best, _)| d < best) {
                        expected = Some((d, c));
                    }
                }
            }
            let found = Suggester::new().closest(name, words.into_iter());
            assert_eq!(found.as_deref(), expected.map(|(_, c)| c), "{name}");
        }
    }

    #[test]
    fn closest_finds_likely_typos_only() {
        let mut s = Suggester::new();
        assert_eq!(
            s.closest("rsik", ["parse", "risk"].into_iter()),
            Some("risk".into())
        );
        assert_eq!(s.closest("zzzz", ["parse", "risk"].into_iter()), None);
        // The first of equally close candidates wins.
        assert_eq!(
            s.closest("ab", ["ax", "ay", "ab"].into_iter()),
            Some("ax".into())
        );
        // Long names are neither searched for nor suggested.
        let long = "a".repeat(NAME_V1_MAX_BYTES + 1);
        assert_eq!(s.closest(&long, [long.as_str()].into_iter()), None);
        let near = format!("{}b", "a".repeat(NAME_V1_MAX_BYTES));
        assert_eq!(s.closest("aaaa", [near.as_str()].into_iter()), None);
    }

    #[test]
    fn searches_stop_when_the_budget_is_spent() {
        let mut s = Suggester::new();
        for _ in 0..MAX_SUGGESTION_SEARCHES {
            assert!(s.closest("prase", ["parse"].into_iter()).is_some());
        }
        assert_eq!(s.closest("prase", ["parse"].into_iter()), None);

        // Equal-length candidates that all share a long prefix with the name fill the cell
        // budget and end the search.
        let name = "x".repeat(60) + "zzzz";
        let candidates: Vec<String> = (0..20_000)
            .map(|i| format!("{}{i:04}", "x".repeat(60)))
            .collect();
        let mut s = Suggester::new();
        let _ = s.closest(&name, candidates.iter().map(String::as_str));
        assert_eq!(s.cells_left, 0);
        assert_eq!(s.closest("prase", ["parse"].into_iter()), None);
    }

    #[test]
    fn labels_escape_and_cut() {
        assert_eq!(label("parse", 64), "parse");
        assert_eq!(label("a b\"c'", 64), "a b\"c'");
        assert_eq!(label("ab\u{0}c", 64), "ab\\0c");
        assert_eq!(label("esc\u{1b}[2J", 64), "esc\\u{1b}[2J");
        assert_eq!(label("back\\slash", 64), "back\\\\slash");
        assert_eq!(label("caf\u{e9}", 64), "caf\u{e9}");
        assert_eq!(label("rlo\u{202e}", 64), "rlo\\u{202e}");
        assert_eq!(label(&"a".repeat(100), 8), "aaaaaaaa…");
        assert_eq!(label(&"\u{0}".repeat(10), 8), "\\0\\0\\0\\0…");
        assert!(label(&"é".repeat(100), 9).len() <= 9 + '…'.len_utf8());
    }

    #[test]
    fn plan_name_characters() {
        for ok in ["a", "parse_order", "in-1", "A9"] {
            assert_eq!(first_bad_char(ok, &[]), None, "{ok}");
        }
        for bad in ["a.b", "a b", "caf\u{e9}", "a\u{0}", "a->b"] {
            assert!(first_bad_char(bad, &[]).is_some(), "{bad:?}");
        }
        assert_eq!(first_bad_char("ab\u{0}c", &[]), Some((2, '\u{0}')));
        assert_eq!(first_bad_char("a.b->c", &['.', '>']), None);
        assert_eq!(describe_char('.'), "'.' (U+002E)");
        assert_eq!(describe_char('\u{0}'), "U+0000");
        assert_eq!(describe_char(' '), "U+0020");
    }
}
