//! Writing the kv text: `to_kv`, escaping, parameter values and masks.

use std::fmt::Write as _;

use crate::spec::model::{ParamValue, PipelineSpecV1, TopologySpec};

use super::*;

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
}
