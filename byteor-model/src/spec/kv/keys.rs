//! The keys of the format: top-level keys per target, indexed tables and their fields.

use std::fmt;

use super::values::unescape;
use super::*;

/// Top-level keys shared by both targets.
pub(super) const COMMON_KEYS: [&str; 4] = [KV_VERSION_KEY, "name", "target", "stages"];
/// Top-level keys of a SingleRing spec.
pub(super) const RING_KEYS: [&str; 10] = [
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
pub(super) const GRAPH_KEYS: [&str; 4] = ["lane_graph.on_full", "lanes", "roles", "endpoints"];

/// An indexed table of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Table {
    Stage,
    Lane,
    Role,
    Endpoint,
}

impl Table {
    pub(super) const ALL: [Table; 4] = [Table::Stage, Table::Lane, Table::Role, Table::Endpoint];

    pub(super) fn prefix(self) -> &'static str {
        match self {
            Table::Stage => "stage",
            Table::Lane => "lane",
            Table::Role => "role",
            Table::Endpoint => "endpoint",
        }
    }

    pub(super) fn count_key(self) -> &'static str {
        match self {
            Table::Stage => "stages",
            Table::Lane => "lanes",
            Table::Role => "roles",
            Table::Endpoint => "endpoints",
        }
    }

    pub(super) fn fields(self) -> &'static [&'static str] {
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
pub(super) enum Key {
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
pub(super) fn parse_index(s: &str) -> Option<u32> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

/// Recognises a key. `Ok(None)` for an unknown key, `Err` for a malformed parameter name.
pub(super) fn classify(raw: &str) -> Result<Option<Key>, String> {
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
