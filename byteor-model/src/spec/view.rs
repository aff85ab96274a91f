//! Human and graph views of a spec: [`describe`] and [`dot`].
//!
//! Both read the spec defensively: a spec that fails [`validate_v1`](super::validate_v1) (an
//! id out of range, say) is still described, with the dangling reference shown as `#<id>`.

use std::fmt::Write as _;

use super::kv::{escape, write_param};
use super::model::{
    EndpointDirection, LaneEnd, LaneGraphSpec, LaneKind, PipelineSpecV1, RoleKind, SingleRingSpec,
    StageSpec, TopologySpec,
};

/// A plain-text summary of a spec for people: name, target, fingerprint, stages with ids and
/// dependencies, and then the ring (capacity, shards, ordering, final stages) or the lane graph
/// (on_full, endpoints, roles with inserted ones marked `[inserted]`, lanes with kind,
/// capacity, on_full and writer -> readers).
///
/// Names are written with the kv escaping, so a name cannot break the layout.
///
/// ```
/// use byteor_model::plan::{PipelinePlanV2, StageDecl};
///
/// let plan = PipelinePlanV2::single_ring("orders")
///     .with_ingress("orders_in")
///     .with_egress("fills_out")
///     .with_stage(StageDecl::new("parse"))
///     .with_stage(StageDecl::new("risk").after("parse"));
/// let spec = byteor_model::lower::lower_v2(&plan)?;
/// let text = byteor_model::spec::describe(&spec);
/// assert!(text.starts_with("pipeline orders (single_ring)\n"));
/// assert!(text.contains("final stages: risk"));
/// # Ok::<(), byteor_model::lower::LowerError>(())
/// ```
pub fn describe(spec: &PipelineSpecV1) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pipeline {} ({})",
        escape(&spec.name),
        spec.target().as_str()
    );
    let _ = writeln!(out, "fingerprint {}", spec.fingerprint());
    match &spec.topology {
        TopologySpec::SingleRing(ring) => describe_ring(&mut out, spec, ring),
        TopologySpec::LaneGraph(graph) => describe_graph(&mut out, spec, graph),
    }
    out
}

/// Rows of cells written with every column but the last padded to its widest cell.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new() -> Self {
        Table { rows: Vec::new() }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn write(&self, out: &mut String) {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for row in &self.rows {
            let mut line = String::from(" ");
            for (i, cell) in row.iter().enumerate() {
                line.push(' ');
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths
                        .get(i)
                        .copied()
                        .unwrap_or(0)
                        .saturating_sub(cell.chars().count());
                    line.extend(std::iter::repeat_n(' ', pad + 1));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

fn stage_name(spec: &PipelineSpecV1, id: usize) -> String {
    match spec.stages.get(id) {
        Some(stage) => escape(&stage.name),
        None => format!("#{id}"),
    }
}

fn stage_cells(stage: &StageSpec) -> Vec<String> {
    let mut cells = vec![format!("[{}]", stage.id), escape(&stage.name)];
    cells.push(format!("kind={}", escape(&stage.kind)));
    let mut extra = Vec::new();
    if stage.side_effects {
        extra.push("side_effects".to_owned());
    }
    if !stage.params.is_empty() {
        let mut params = String::from("params={");
        for (i, (key, value)) in stage.params.iter().enumerate() {
            if i > 0 {
                params.push(',');
            }
            params.push_str(&escape(key));
            params.push(':');
            write_param(&mut params, value);
        }
        params.push('}');
        extra.push(params);
    }
    if !extra.is_empty() {
        cells.push(extra.join("  "));
    }
    cells
}

fn describe_ring(out: &mut String, spec: &PipelineSpecV1, ring: &SingleRingSpec) {
    let _ = write!(
        out,
        "ring: capacity {}, shards {}, ordering {}",
        ring.capacity,
        ring.shards,
        ring.ordering.as_str()
    );
    if let Some(key) = &ring.shard_key {
        let _ = write!(out, ", shard key {}", escape(key));
    }
    if ring.slot.size == 0 && ring.slot.align == 0 {
        out.push_str(", slot bound by the executor\n");
    } else {
        let _ = writeln!(
            out,
            ", slot size {} align {}",
            ring.slot.size, ring.slot.align
        );
    }
    let _ = writeln!(
        out,
        "ingress {} -> egress {}",
        escape(&ring.ingress),
        escape(&ring.egress)
    );
    out.push_str("stages:\n");
    let mut table = Table::new();
    for (i, stage) in spec.stages.iter().enumerate() {
        let deps: Vec<String> = ring.dependencies(i).map(|j| stage_name(spec, j)).collect();
        let mut cells = stage_cells(stage);
        let after = if deps.is_empty() {
            "after: (ingress)".to_owned()
        } else {
            format!("after: {}", deps.join(", "))
        };
        cells.insert(3, after);
        table.row(cells);
    }
    table.write(out);
    let finals: Vec<String> = ring.final_stages().map(|j| stage_name(spec, j)).collect();
    let _ = writeln!(out, "final stages: {}", finals.join(", "));
}

/// Display names of lane ends and lanes, tolerant of dangling ids.
struct GraphNames<'a> {
    graph: &'a LaneGraphSpec,
}

impl GraphNames<'_> {
    fn end(&self, end: LaneEnd) -> String {
        match end {
            LaneEnd::Role(id) => match self.graph.roles.get(id as usize) {
                Some(r) => escape(&r.name),
                None => format!("#{end}"),
            },
            LaneEnd::Endpoint(id) => match self.graph.endpoints.get(id as usize) {
                Some(e) => escape(&e.name),
                None => format!("#{end}"),
            },
        }
    }

    fn lane(&self, id: u32) -> String {
        match self.graph.lanes.get(id as usize) {
            Some(l) => escape(&l.name),
            None => format!("#lane:{id}"),
        }
    }

    fn lanes(&self, ids: &[u32]) -> String {
        if ids.is_empty() {
            "-".to_owned()
        } else {
            ids.iter()
                .map(|&l| self.lane(l))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

fn describe_graph(out: &mut String, spec: &PipelineSpecV1, graph: &LaneGraphSpec) {
    let names = GraphNames { graph };
    let _ = writeln!(out, "on_full: {}", graph.on_full.as_str());

    out.push_str("stages:\n");
    let mut table = Table::new();
    for stage in &spec.stages {
        table.row(stage_cells(stage));
    }
    table.write(out);

    out.push_str("endpoints:\n");
    let mut table = Table::new();
    for ep in &graph.endpoints {
        let verb = match ep.direction {
            EndpointDirection::Ingress => "writes",
            EndpointDirection::Egress => "reads",
        };
        table.row(vec![
            format!("[{}]", ep.id),
            escape(&ep.name),
            ep.direction.as_str().to_owned(),
            format!("{verb} {}", names.lane(ep.lane)),
        ]);
    }
    table.write(out);

    out.push_str("roles:\n");
    let mut table = Table::new();
    for role in &graph.roles {
        let what = match (role.kind, role.stage) {
            (RoleKind::Stage, Some(stage)) => format!("stage {}", stage_name(spec, stage as usize)),
            (RoleKind::Stage, None) => "stage (none)".to_owned(),
            (kind, _) => format!("{kind} [inserted]"),
        };
        table.row(vec![
            format!("[{}]", role.id),
            escape(&role.name),
            what,
            format!("reads {}", names.lanes(&role.inputs)),
            format!("writes {}", names.lanes(&role.outputs)),
        ]);
    }
    table.write(out);

    out.push_str("lanes:\n");
    let mut table = Table::new();
    for lane in &graph.lanes {
        let mut params = format!("capacity={}", lane.capacity);
        if let Some(gating) = &lane.gating {
            let _ = write!(params, " gating={}", escape(gating));
        }
        let _ = write!(params, " on_full={}", lane.on_full.as_str());
        let readers: Vec<String> = lane.readers.iter().map(|&r| names.end(r)).collect();
        let readers = if readers.is_empty() {
            "(no reader)".to_owned()
        } else {
            readers.join(", ")
        };
        table.row(vec![
            format!("[{}]", lane.id),
            escape(&lane.name),
            lane.kind.as_str().to_owned(),
            params,
            format!("{} -> {}", names.end(lane.writer), readers),
        ]);
    }
    table.write(out);

    let count = |kind: RoleKind| graph.roles.iter().filter(|r| r.kind == kind).count();
    let (routers, merges, bridges) = (
        count(RoleKind::Router),
        count(RoleKind::Merge),
        count(RoleKind::Bridge),
    );
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let _ = writeln!(
        out,
        "inserted: {}, {}, {}",
        plural(routers, "router", "routers"),
        plural(merges, "merge", "merges"),
        plural(bridges, "bridge", "bridges"),
    );
}

/// A string as a Graphviz quoted string (quotes included).
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The spec as a Graphviz `digraph`.
///
/// Node ids are quoted and stable (`"ingress"`, `"egress"`, `"s<id>"` for ring stages,
/// `"r<id>"` for roles, `"e<id>"` for endpoints); labels carry the names. Boundaries are drawn
/// as `cds` shapes, inserted roles (bridges, routers, merges) dashed and grey, and every edge
/// is labelled with its lane kind (`ring` on a SingleRing).
///
/// ```
/// use byteor_model::plan::{PipelinePlanV2, StageDecl};
///
/// let plan = PipelinePlanV2::single_ring("orders")
///     .with_ingress("orders_in")
///     .with_egress("fills_out")
///     .with_stage(StageDecl::new("parse"));
/// let spec = byteor_model::lower::lower_v2(&plan)?;
/// let dot = byteor_model::spec::dot(&spec);
/// assert!(dot.starts_with("digraph \"orders\" {"));
/// assert!(dot.contains("\"ingress\" -> \"s0\" [label=\"ring\"];"));
/// # Ok::<(), byteor_model::lower::LowerError>(())
/// ```
pub fn dot(spec: &PipelineSpecV1) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quoted(&spec.name));
    out.push_str("  rankdir=LR;\n");
    let _ = writeln!(
        out,
        "  label={};",
        quoted(&format!(
            "{} ({}) {}",
            spec.name,
            spec.target().as_str(),
            spec.fingerprint()
        ))
    );
    out.push_str("  labelloc=t;\n");
    out.push_str("  node [shape=box];\n");
    match &spec.topology {
        TopologySpec::SingleRing(ring) => dot_ring(&mut out, spec, ring),
        TopologySpec::LaneGraph(graph) => dot_graph(&mut out, spec, graph),
    }
    out.push_str("}\n");
    out
}

fn stage_label(stage: &StageSpec) -> String {
    if stage.kind == stage.name {
        stage.name.clone()
    } else {
        format!("{}\n{}", stage.name, stage.kind)
    }
}

fn dot_ring(out: &mut String, spec: &PipelineSpecV1, ring: &SingleRingSpec) {
    let _ = writeln!(
        out,
        "  \"ingress\" [label={}, shape=cds];",
        quoted(&ring.ingress)
    );
    for (i, stage) in spec.stages.iter().enumerate() {
        let _ = writeln!(out, "  \"s{i}\" [label={}];", quoted(&stage_label(stage)));
    }
    let _ = writeln!(
        out,
        "  \"egress\" [label={}, shape=cds];",
        quoted(&ring.egress)
    );
    for i in 0..spec.stages.len() {
        let mut deps = ring
            .dependencies(i)
            .filter(|&j| j < spec.stages.len())
            .peekable();
        if deps.peek().is_none() {
            let _ = writeln!(out, "  \"ingress\" -> \"s{i}\" [label=\"ring\"];");
        }
        for j in deps {
            let _ = writeln!(out, "  \"s{j}\" -> \"s{i}\" [label=\"ring\"];");
        }
    }
    for i in ring.final_stages().filter(|&i| i < spec.stages.len()) {
        let _ = writeln!(out, "  \"s{i}\" -> \"egress\" [label=\"ring\"];");
    }
}

fn dot_node_id(end: LaneEnd) -> String {
    match end {
        LaneEnd::Role(id) => format!("\"r{id}\""),
        LaneEnd::Endpoint(id) => format!("\"e{id}\""),
    }
}

fn dot_graph(out: &mut String, spec: &PipelineSpecV1, graph: &LaneGraphSpec) {
    for ep in &graph.endpoints {
        let _ = writeln!(
            out,
            "  \"e{}\" [label={}, shape=cds];",
            ep.id,
            quoted(&format!("{}\n{}", ep.name, ep.direction.as_str()))
        );
    }
    for role in &graph.roles {
        let id = dot_node_id(LaneEnd::Role(role.id));
        match (
            role.kind,
            role.stage.and_then(|s| spec.stages.get(s as usize)),
        ) {
            (RoleKind::Stage, Some(stage)) => {
                let _ = writeln!(out, "  {id} [label={}];", quoted(&stage_label(stage)));
            }
            (RoleKind::Stage, None) => {
                let _ = writeln!(out, "  {id} [label={}];", quoted(&role.name));
            }
            (kind, _) => {
                let _ = writeln!(
                    out,
                    "  {id} [label={}, style=dashed, color=grey50, fontcolor=grey50];",
                    quoted(&format!("{}\n{kind}", role.name))
                );
            }
        }
    }
    for lane in &graph.lanes {
        let style = if lane.kind == LaneKind::FanoutBroadcast {
            ", style=bold"
        } else {
            ""
        };
        for &reader in &lane.readers {
            let _ = writeln!(
                out,
                "  {} -> {} [label={}, tooltip={}{style}];",
                dot_node_id(lane.writer),
                dot_node_id(reader),
                quoted(lane.kind.as_str()),
                quoted(&lane.name)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_quotes_awkward_names() {
        assert_eq!(quoted("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    }
}
