//! Writing a plan as a TOML document (`to_toml`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::plan::{ParamValue, PipelinePlanV2};

use super::*;

pub(super) fn write_plan(out: &mut String, plan: &PipelinePlanV2) -> std::fmt::Result {
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
            if let Some(on_full) = c.lane.on_full {
                fields.push(format!("on_full = {}", quote(on_full.as_str())));
            }
            writeln!(out, "lane = {{ {} }}", fields.join(", "))?;
        }
    }
    Ok(())
}

/// Writes a parameter table inline: `{ a = 1, b = "x" }`.
pub(super) fn write_table(out: &mut String, table: &BTreeMap<String, ParamValue>) {
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

pub(super) fn write_value(out: &mut String, value: &ParamValue) {
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
pub(super) fn float(f: f64) -> String {
    if f.is_nan() {
        if f.is_sign_negative() { "-nan" } else { "nan" }.to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        format!("{f:?}")
    }
}

/// A key: bare when TOML allows it, quoted otherwise.
pub(super) fn key(k: &str) -> String {
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
pub(super) fn quote(s: &str) -> String {
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
