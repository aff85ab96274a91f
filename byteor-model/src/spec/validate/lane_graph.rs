//! LaneGraph spec rules: ids and names, lanes, roles, endpoints and role cycles.

use std::collections::{BTreeSet, HashSet};

use crate::diagnostics::cycles::{find_cycles, MAX_LISTED_CYCLES};
use crate::spec::model::{
    EndpointDirection, LaneEnd, LaneGraphSpec, LaneKind, PipelineSpecV1, RoleKind,
};
use crate::{
    FANOUT_V1_MAX_CONSUMERS, PIPELINE_V1_MAX_THREADS, RING_V1_MAX_CAPACITY,
    SEQUENCED_SLOTS_V1_GATING,
};

use super::*;

/// Name lookups that never index out of range, and the lane memberships each side of a lane
/// claims, indexed once so that checking them costs linear time.
struct Names<'a> {
    graph: &'a LaneGraphSpec,
    /// `(lane, reader)` for every reader a lane lists.
    lane_readers: HashSet<(u32, LaneEnd)>,
    /// `(role, lane)` for every lane a role lists as an input.
    role_inputs: HashSet<(u32, u32)>,
    /// `(role, lane)` for every lane a role lists as an output.
    role_outputs: HashSet<(u32, u32)>,
}

impl<'a> Names<'a> {
    fn new(graph: &'a LaneGraphSpec) -> Self {
        let lane_readers = (graph.lanes.iter().enumerate())
            .flat_map(|(i, lane)| lane.readers.iter().map(move |&r| (i as u32, r)))
            .collect();
        let memberships = |lanes: fn(&crate::spec::RoleSpec) -> &Vec<u32>| {
            (graph.roles.iter().enumerate())
                .flat_map(|(i, role)| lanes(role).iter().map(move |&l| (i as u32, l)))
                .collect()
        };
        Names {
            graph,
            lane_readers,
            role_inputs: memberships(|r| &r.inputs),
            role_outputs: memberships(|r| &r.outputs),
        }
    }

    fn role(&self, id: u32) -> String {
        match self.graph.roles.get(id as usize) {
            Some(r) => NameKind::Role.label(&r.name),
            None => format!("role:{id}"),
        }
    }

    fn end(&self, end: LaneEnd) -> String {
        match end {
            LaneEnd::Role(id) => self.role(id),
            LaneEnd::Endpoint(id) => match self.graph.endpoints.get(id as usize) {
                Some(e) => NameKind::Plan.label(&e.name),
                None => format!("endpoint:{id}"),
            },
        }
    }

    fn lane(&self, id: u32) -> String {
        match self.graph.lanes.get(id as usize) {
            Some(l) => NameKind::Lane.label(&l.name),
            None => format!("lane:{id}"),
        }
    }

    /// Whether lane `lane` lists `reader` among its readers.
    fn lists_reader(&self, lane: u32, reader: LaneEnd) -> bool {
        self.lane_readers.contains(&(lane, reader))
    }
}

pub(super) fn check_lane_graph(
    spec: &PipelineSpecV1,
    graph: &LaneGraphSpec,
    out: &mut Vec<SpecViolation>,
) {
    let names = Names::new(graph);
    if spec.stages.is_empty() {
        out.push(SpecViolation::NoStages);
    }
    check_lane_graph_ids_and_names(graph, out);
    check_lanes(graph, &names, out);
    check_roles(spec, graph, &names, out);
    check_endpoints(graph, &names, out);
    check_role_cycles(graph, &names, out);
    if graph.roles.len() > PIPELINE_V1_MAX_THREADS {
        out.push(SpecViolation::TooManyRoles {
            roles: graph.roles.len(),
            max: PIPELINE_V1_MAX_THREADS,
        });
    }
}

fn check_lane_graph_ids_and_names(graph: &LaneGraphSpec, out: &mut Vec<SpecViolation>) {
    let ids = graph
        .lanes
        .iter()
        .map(|l| ("lane", l.id, &l.name, NameKind::Lane))
        .enumerate()
        .chain(
            graph
                .roles
                .iter()
                .map(|r| ("role", r.id, &r.name, NameKind::Role))
                .enumerate(),
        )
        .chain(
            graph
                .endpoints
                .iter()
                .map(|e| ("endpoint", e.id, &e.name, NameKind::Plan))
                .enumerate(),
        );
    for (index, (table, id, name, kind)) in ids {
        if usize::try_from(id).ok() != Some(index) {
            out.push(SpecViolation::IdMismatch {
                table,
                name: kind.label(name),
                index,
                id,
            });
        }
        if name.is_empty() {
            out.push(SpecViolation::EmptyName {
                item: format!("{table} {index}"),
            });
        } else {
            check_name(out, kind, || format!("{table} {index} name"), name);
        }
    }

    let mut duplicates = |namespace: &'static str, names: Vec<(&String, NameKind)>| {
        let mut seen = BTreeSet::new();
        let mut reported = BTreeSet::new();
        for (name, kind) in names {
            if !name.is_empty() && !seen.insert(name) && reported.insert(name) {
                out.push(SpecViolation::DuplicateName {
                    namespace,
                    name: kind.label(name),
                });
            }
        }
    };
    duplicates(
        "lane",
        graph
            .lanes
            .iter()
            .map(|l| (&l.name, NameKind::Lane))
            .collect(),
    );
    duplicates(
        "role/endpoint",
        graph
            .roles
            .iter()
            .map(|r| (&r.name, NameKind::Role))
            .chain(graph.endpoints.iter().map(|e| (&e.name, NameKind::Plan)))
            .collect(),
    );
}

fn check_lanes(graph: &LaneGraphSpec, names: &Names<'_>, out: &mut Vec<SpecViolation>) {
    for (index, lane) in graph.lanes.iter().enumerate() {
        let id = index as u32;
        let lane_name = || NameKind::Lane.label(&lane.name);

        // The writer exists and writes this lane.
        match lane.writer {
            LaneEnd::Role(r) => match graph.roles.get(r as usize) {
                None => out.push(SpecViolation::UnknownLaneEnd {
                    lane: lane_name(),
                    end: lane.writer,
                    position: "writer",
                }),
                Some(_) if !names.role_outputs.contains(&(r, id)) => {
                    out.push(SpecViolation::WriterDoesNotWrite {
                        lane: lane_name(),
                        writer: names.role(r),
                    })
                }
                Some(_) => {}
            },
            LaneEnd::Endpoint(e) => match graph.endpoints.get(e as usize) {
                None => out.push(SpecViolation::UnknownLaneEnd {
                    lane: lane_name(),
                    end: lane.writer,
                    position: "writer",
                }),
                Some(ep) if ep.direction != EndpointDirection::Ingress || ep.lane != id => out
                    .push(SpecViolation::WriterDoesNotWrite {
                        lane: lane_name(),
                        writer: names.end(lane.writer),
                    }),
                Some(_) => {}
            },
        }

        // Every reader exists, reads this lane, and appears once (a repeat is reported once).
        let mut seen = BTreeSet::new();
        let mut repeated = BTreeSet::new();
        for &reader in &lane.readers {
            if !seen.insert(reader) {
                if repeated.insert(reader) {
                    out.push(SpecViolation::DuplicateReader {
                        lane: lane_name(),
                        reader: names.end(reader),
                    });
                }
                continue;
            }
            let reads = match reader {
                LaneEnd::Role(r) => graph
                    .roles
                    .get(r as usize)
                    .map(|_| names.role_inputs.contains(&(r, id))),
                LaneEnd::Endpoint(e) => graph
                    .endpoints
                    .get(e as usize)
                    .map(|ep| ep.direction == EndpointDirection::Egress && ep.lane == id),
            };
            match reads {
                None => out.push(SpecViolation::UnknownLaneEnd {
                    lane: lane_name(),
                    end: reader,
                    position: "reader",
                }),
                Some(false) => out.push(SpecViolation::ReaderDoesNotRead {
                    lane: lane_name(),
                    reader: names.end(reader),
                }),
                Some(true) => {}
            }
        }

        // Reader count by kind.
        let readers = lane.readers.len();
        if lane.kind == LaneKind::FanoutBroadcast {
            if readers == 0 || readers > FANOUT_V1_MAX_CONSUMERS {
                out.push(SpecViolation::BroadcastReaders {
                    lane: lane_name(),
                    readers,
                    max: FANOUT_V1_MAX_CONSUMERS,
                });
            }
        } else if readers != 1 {
            out.push(SpecViolation::PointLaneReaders {
                lane: lane_name(),
                kind: lane.kind,
                readers,
            });
        }

        // Capacity and gating by kind.
        if lane.kind == LaneKind::SequencedSlots {
            if lane.capacity == 0 {
                out.push(SpecViolation::LaneCapacity {
                    lane: lane_name(),
                    kind: lane.kind,
                    capacity: lane.capacity,
                    rule: "sequenced_slots lanes need a capacity > 0",
                });
            }
            if lane.gating.as_deref() != Some(SEQUENCED_SLOTS_V1_GATING) {
                out.push(SpecViolation::LaneGating {
                    lane: lane_name(),
                    found: match &lane.gating {
                        Some(g) => format!("`{}`", NameKind::Plan.label(g)),
                        None => "none".to_owned(),
                    },
                    required: SEQUENCED_SLOTS_V1_GATING,
                });
            }
        } else {
            if !lane.capacity.is_power_of_two() {
                out.push(SpecViolation::LaneCapacity {
                    lane: lane_name(),
                    kind: lane.kind,
                    capacity: lane.capacity,
                    rule: "this kind needs a power-of-two capacity",
                });
            }
            if let Some(gating) = &lane.gating {
                out.push(SpecViolation::UnexpectedGating {
                    lane: lane_name(),
                    kind: lane.kind,
                    gating: NameKind::Plan.label(gating),
                });
            }
        }
        if lane.capacity > RING_V1_MAX_CAPACITY {
            out.push(SpecViolation::LaneCapacityTooLarge {
                lane: lane_name(),
                capacity: lane.capacity,
                max: RING_V1_MAX_CAPACITY,
            });
        }
        if let Some(feature) = lane.kind.required_feature() {
            if !lane.kind.is_enabled() {
                out.push(SpecViolation::LaneKindDisabled {
                    lane: lane_name(),
                    kind: lane.kind,
                    feature,
                });
            }
        }
    }
}

/// The distinct entries of `ids`, in first-appearance order.
fn distinct(ids: &[u32]) -> impl Iterator<Item = u32> + '_ {
    let mut seen = HashSet::new();
    ids.iter().copied().filter(move |id| seen.insert(*id))
}

fn check_roles(
    spec: &PipelineSpecV1,
    graph: &LaneGraphSpec,
    names: &Names<'_>,
    out: &mut Vec<SpecViolation>,
) {
    let mut roles_per_stage = vec![0usize; spec.stages.len()];
    for (index, role) in graph.roles.iter().enumerate() {
        let me = LaneEnd::Role(index as u32);
        let role_name = || NameKind::Role.label(&role.name);

        // The stage link.
        match (role.kind, role.stage) {
            (RoleKind::Stage, None) => {
                out.push(SpecViolation::StageRoleWithoutStage { role: role_name() })
            }
            (RoleKind::Stage, Some(stage)) => match roles_per_stage.get_mut(stage as usize) {
                Some(count) => *count += 1,
                None => out.push(SpecViolation::UnknownStage {
                    role: role_name(),
                    stage,
                }),
            },
            (kind, Some(stage)) => out.push(SpecViolation::InsertedRoleWithStage {
                role: role_name(),
                kind,
                stage,
            }),
            (_, None) => {}
        }

        // Shape.
        let (inputs, outputs) = (role.inputs.len(), role.outputs.len());
        let (shape_ok, rule) = match role.kind {
            RoleKind::Stage => (
                inputs == 1 && outputs == 1,
                "a stage role reads exactly 1 lane and writes exactly 1",
            ),
            RoleKind::Bridge => (
                inputs == 1 && outputs == 1,
                "a bridge reads exactly 1 lane and writes exactly 1",
            ),
            RoleKind::Router => (
                inputs == 1 && outputs >= 2,
                "a router reads exactly 1 lane and writes 2 or more",
            ),
            RoleKind::Merge => (
                inputs >= 2 && outputs == 1,
                "a merge reads 2 or more lanes and writes exactly 1",
            ),
        };
        if !shape_ok {
            out.push(SpecViolation::RoleShape {
                role: role_name(),
                kind: role.kind,
                inputs,
                outputs,
                rule,
            });
        }

        // Every lane it reads lists it as a reader; every lane it writes names it as writer.
        // A lane listed several times is judged once.
        for lane_id in distinct(&role.inputs) {
            match graph.lanes.get(lane_id as usize) {
                None => out.push(SpecViolation::UnknownLane {
                    item: format!("role `{}`", role_name()),
                    lane: lane_id,
                }),
                Some(_) if !names.lists_reader(lane_id, me) => {
                    out.push(SpecViolation::NotAReader {
                        lane: names.lane(lane_id),
                        by: role_name(),
                    })
                }
                Some(_) => {}
            }
        }
        for lane_id in distinct(&role.outputs) {
            match graph.lanes.get(lane_id as usize) {
                None => out.push(SpecViolation::UnknownLane {
                    item: format!("role `{}`", role_name()),
                    lane: lane_id,
                }),
                Some(lane) if lane.writer != me => out.push(SpecViolation::ExtraWriter {
                    lane: names.lane(lane_id),
                    by: role_name(),
                    writer: names.end(lane.writer),
                }),
                Some(_) => {}
            }
        }

        // Routers and merges move events within one lane kind.
        if matches!(role.kind, RoleKind::Router | RoleKind::Merge) {
            let mut seen = HashSet::new();
            let mut lanes = role
                .inputs
                .iter()
                .chain(&role.outputs)
                .filter(|&&l| seen.insert(l))
                .filter_map(|&l| graph.lanes.get(l as usize).map(|lane| (l, lane)));
            if let Some((_, first)) = lanes.next() {
                for (id, lane) in lanes {
                    if lane.kind != first.kind {
                        out.push(SpecViolation::MixedLaneKinds {
                            role: role_name(),
                            kind: role.kind,
                            expected: first.kind,
                            lane: names.lane(id),
                            found: lane.kind,
                        });
                    }
                }
            }
        }
    }
    for (stage, &roles) in roles_per_stage.iter().enumerate() {
        if roles != 1 {
            out.push(SpecViolation::StageRoleCount {
                stage: stage_label(spec, stage),
                roles,
            });
        }
    }
}

fn check_endpoints(graph: &LaneGraphSpec, names: &Names<'_>, out: &mut Vec<SpecViolation>) {
    for (index, ep) in graph.endpoints.iter().enumerate() {
        let me = LaneEnd::Endpoint(index as u32);
        let Some(lane) = graph.lanes.get(ep.lane as usize) else {
            out.push(SpecViolation::UnknownLane {
                item: format!("endpoint `{}`", NameKind::Plan.label(&ep.name)),
                lane: ep.lane,
            });
            continue;
        };
        match ep.direction {
            EndpointDirection::Ingress if lane.writer != me => {
                out.push(SpecViolation::ExtraWriter {
                    lane: names.lane(ep.lane),
                    by: names.end(me),
                    writer: names.end(lane.writer),
                })
            }
            EndpointDirection::Egress if !names.lists_reader(ep.lane, me) => {
                out.push(SpecViolation::NotAReader {
                    lane: names.lane(ep.lane),
                    by: names.end(me),
                })
            }
            _ => {}
        }
    }
}

/// Reports the role cycles closed by back edges of a depth-first walk of the role graph (role
/// `a` feeds role `b` when `a` writes a lane `b` reads; the walk starts at roles in id order).
/// Each cycle is reported once, from its lowest role id; the first [`MAX_LISTED_CYCLES`] are
/// listed and the rest counted. Iterative, so a huge spec read from a file cannot overflow the
/// stack.
fn check_role_cycles(graph: &LaneGraphSpec, names: &Names<'_>, out: &mut Vec<SpecViolation>) {
    let n = graph.roles.len();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for lane in &graph.lanes {
        let LaneEnd::Role(w) = lane.writer else {
            continue;
        };
        let w = w as usize;
        if w >= n {
            continue;
        }
        for reader in &lane.readers {
            if let LaneEnd::Role(r) = *reader {
                let r = r as usize;
                if r < n {
                    next[w].push(r);
                }
            }
        }
    }
    // Roles joined by several lanes (or a reader listed twice) are one edge of the walk.
    for successors in &mut next {
        successors.sort_unstable();
        successors.dedup();
    }
    let found = find_cycles(&next);
    for cycle in found.listed {
        out.push(SpecViolation::RoleCycle {
            cycle: cycle.nodes.iter().map(|&r| names.role(r as u32)).collect(),
            omitted: cycle.omitted,
        });
    }
    if found.more > 0 {
        out.push(SpecViolation::MoreRoleCycles {
            count: found.more,
            listed: MAX_LISTED_CYCLES,
        });
    }
}
