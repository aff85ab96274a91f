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

/// Edit-distance cells all the searches of one validation may fill, in total.
const SUGGESTION_CELL_BUDGET: usize = 1 << 22;

/// The "did you mean" search of one validation run: at most [`MAX_SUGGESTION_SEARCHES`]
/// searches, together filling at most a fixed number of edit-distance cells, so the cost is
/// bounded however many unknown names and candidates a document holds.
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

    /// The candidate closest to `name` by edit distance (a swap of two neighbouring characters
    /// counts as one edit), when it is close enough to be a likely typo: at most a third of the
    /// name's length (at least one, at most three edits). Names longer than
    /// [`NAME_V1_MAX_BYTES`] are neither searched for nor suggested. The first closest
    /// candidate wins; `None` once the budget is spent.
    pub(crate) fn closest<'c>(
        &mut self,
        name: &str,
        candidates: impl Iterator<Item = &'c str>,
    ) -> Option<String> {
        if name.is_empty() || name.len() > NAME_V1_MAX_BYTES || self.searches_left == 0 {
            return None;
        }
        self.searches_left -= 1;
        let target: Vec<char> = name.chars().collect();
        let limit = (target.len() / 3).clamp(1, MAX_SUGGESTION_DISTANCE);
        let mut rows = Rows::default();
        let mut other: Vec<char> = Vec::with_capacity(NAME_V1_MAX_BYTES);
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
            other.clear();
            other.extend(candidate.chars());
            if target.len().abs_diff(other.len()) > max {
                continue;
            }
            let cells = target.len() * other.len();
            if cells > self.cells_left {
                self.cells_left = 0;
                break;
            }
            self.cells_left -= cells;
            if let Some(d) = rows.distance_within(&target, &other, max) {
                best = Some((d, candidate));
            }
        }
        best.map(|(_, c)| c.to_owned())
    }
}

/// The three rows the edit-distance recurrence keeps, reused across candidates.
#[derive(Default)]
struct Rows {
    before: Vec<usize>,
    prev: Vec<usize>,
    cur: Vec<usize>,
}

impl Rows {
    /// The optimal-string-alignment distance between `a` and `b` (insertions, deletions,
    /// substitutions and adjacent transpositions each cost one) when it is at most `max`;
    /// `None` as soon as every alignment is known to cost more.
    fn distance_within(&mut self, a: &[char], b: &[char], max: usize) -> Option<usize> {
        let m = b.len();
        for row in [&mut self.before, &mut self.prev, &mut self.cur] {
            row.clear();
            row.resize(m + 1, 0);
        }
        for (j, cell) in self.prev.iter_mut().enumerate() {
            *cell = j;
        }
        // The smallest cell of the row before; a transposition reaches back two rows.
        let mut prev_min = 0;
        for i in 1..=a.len() {
            self.cur[0] = i;
            let mut row_min = i;
            for j in 1..=m {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut d = (self.prev[j - 1] + cost)
                    .min(self.prev[j] + 1)
                    .min(self.cur[j - 1] + 1);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    d = d.min(self.before[j - 2] + 1);
                }
                self.cur[j] = d;
                row_min = row_min.min(d);
            }
            if row_min.min(prev_min) > max {
                return None;
            }
            prev_min = row_min;
            std::mem::swap(&mut self.before, &mut self.prev);
            std::mem::swap(&mut self.prev, &mut self.cur);
        }
        let d = self.prev[m];
        (d <= max).then_some(d)
    }
}

/// The edit distance [`Suggester::closest`] uses, without a bound (names of at most a few
/// hundred characters; for tests and small inputs).
#[cfg(test)]
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    Rows::default()
        .distance_within(&a, &b, usize::MAX - 1)
        .unwrap_or(usize::MAX)
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
    fn bounded_distance_agrees_with_the_full_one() {
        let words = [
            "", "a", "ab", "ba", "abc", "acb", "bca", "parse", "prase", "risk", "rsik", "kitten",
            "sitting", "audit", "aduit", "route", "router", "xyzzy",
        ];
        let mut rows = Rows::default();
        for a in words {
            for b in words {
                let full = edit_distance(a, b);
                let (ac, bc): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
                for max in 0..5 {
                    let bounded = rows.distance_within(&ac, &bc, max);
                    assert_eq!(bounded, (full <= max).then_some(full), "{a} {b} {max}");
                }
            }
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
