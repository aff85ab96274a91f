//! Reading values: escaped strings, parameter values, numbers, masks, lists and enum names.

use std::collections::BTreeMap;

use crate::diagnostics::names::printable;
use crate::spec::model::{
    EndpointDirection, LaneEnd, LaneKind, OnFull, OrderingMode, ParamValue, RoleKind,
};
use crate::vocab::ExecutionTargetV1;
use crate::PARAM_V1_MAX_DEPTH;

use super::*;

/// A character cursor over one value.
pub(super) struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0 }
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.text.get(self.pos..).and_then(|r| r.chars().next())
    }

    pub(super) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    pub(super) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    pub(super) fn expect(&mut self, c: char) -> Result<(), String> {
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
pub(super) fn read_escaped(
    cur: &mut Cursor<'_>,
    terminator: Option<char>,
) -> Result<String, String> {
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
pub(super) fn read_escape(cur: &mut Cursor<'_>) -> Result<char, String> {
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
pub(super) fn unescape(s: &str) -> Result<String, String> {
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
pub(super) fn read_param(cur: &mut Cursor<'_>, depth: usize) -> Result<ParamValue, String> {
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

pub(super) fn read_scalar(token: &str) -> Result<ParamValue, String> {
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

pub(super) fn parse_u32(s: &str) -> Result<u32, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected an unsigned decimal integer".to_owned());
    }
    s.parse()
        .map_err(|_| "integer is out of range (at most 4294967295)".to_owned())
}

pub(super) fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected `true` or `false`".to_owned()),
    }
}

pub(super) fn parse_mask(s: &str) -> Result<u32, String> {
    let expected = || "expected a mask: `0x` and 1 to 8 hex digits".to_owned();
    let hex = s.strip_prefix("0x").ok_or_else(expected)?;
    if hex.is_empty() || hex.len() > 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(expected());
    }
    u32::from_str_radix(hex, 16).map_err(|_| expected())
}

pub(super) fn parse_list<T>(
    s: &str,
    item: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .enumerate()
        .map(|(i, part)| item(part).map_err(|e| format!("item {}: {e}", i + 1)))
        .collect()
}

pub(super) fn parse_lane_end(s: &str) -> Result<LaneEnd, String> {
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
pub(super) fn parse_choice<T: Copy>(s: &str, choices: &[(&str, T)]) -> Result<T, String> {
    choices
        .iter()
        .find(|(name, _)| *name == s)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<String> = choices.iter().map(|(n, _)| format!("`{n}`")).collect();
            format!("expected one of {}", names.join(", "))
        })
}

pub(super) fn parse_target(s: &str) -> Result<ExecutionTargetV1, String> {
    parse_choice(
        s,
        &[
            ("single_ring", ExecutionTargetV1::SingleRing),
            ("lane_graph", ExecutionTargetV1::LaneGraph),
        ],
    )
}

pub(super) fn parse_lane_kind(s: &str) -> Result<LaneKind, String> {
    let choices = LaneKind::ALL.map(|k| (k.as_str(), k));
    parse_choice(s, &choices)
}

pub(super) fn parse_on_full(s: &str) -> Result<OnFull, String> {
    parse_choice(s, &[("block", OnFull::Block), ("drop", OnFull::Drop)])
}

pub(super) fn parse_ordering(s: &str) -> Result<OrderingMode, String> {
    parse_choice(
        s,
        &[
            ("strict", OrderingMode::Strict),
            ("per_key", OrderingMode::PerKey),
        ],
    )
}

pub(super) fn parse_role_kind(s: &str) -> Result<RoleKind, String> {
    let choices = RoleKind::ALL.map(|k| (k.as_str(), k));
    parse_choice(s, &choices)
}

pub(super) fn parse_direction(s: &str) -> Result<EndpointDirection, String> {
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
pub(super) fn shown_char(c: char) -> String {
    if printable(c) {
        c.to_string()
    } else {
        c.escape_debug().collect()
    }
}

/// A value (or key) as an error message shows it: its first 64 characters, each as
/// [`shown_char`] shows it, then `...` if there is more.
pub(super) fn cut(value: &str) -> String {
    pub(super) const MAX: usize = 64;
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
