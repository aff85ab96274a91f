//! Lowering of LaneGraph plans: concrete lanes, roles and endpoints, with routers, merges and
//! bridges inserted by the rules in the [module docs](super).

use std::collections::{BTreeMap, BTreeSet};

use super::{stage_specs, LowerError};
use crate::plan::{
    ExecutionTargetV1, LaneGraphPlan, LaneIntent, LaneKind, OnFull, PipelinePlanV2,
    DEFAULT_LANE_CAPACITY,
};
use crate::spec::{
    EndpointDirection, EndpointSpec, LaneEnd, LaneGraphSpec, LaneSpec, PipelineSpecV1, RoleKind,
    RoleSpec, TopologySpec,
};
use crate::SEQUENCED_SLOTS_V1_GATING;

/// A plan node a connection can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    Ingress(usize),
    Stage(usize),
    Egress(usize),
}

/// A resolved connection.
struct Conn<'a> {
    from: Node,
    to: Node,
    from_name: &'a str,
    intent: &'a LaneIntent,
}

/// Everything a lane needs besides its ends.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LaneSettings {
    kind: LaneKind,
    capacity: u32,
    gating: Option<String>,
    on_full: OnFull,
}

impl LaneSettings {
    fn from_intent(intent: &LaneIntent, on_full: OnFull) -> Self {
        LaneSettings {
            kind: intent.kind,
            capacity: intent.capacity.unwrap_or(DEFAULT_LANE_CAPACITY),
            gating: match intent.kind {
                LaneKind::SequencedSlots => intent.gating.clone(),
                _ => None,
            },
            on_full,
        }
    }

    fn boundary(graph: &LaneGraphPlan, on_full: OnFull) -> Self {
        let kind = graph.boundary.kind;
        LaneSettings {
            kind,
            capacity: graph.boundary.capacity.unwrap_or(DEFAULT_LANE_CAPACITY),
            gating: match kind {
                LaneKind::SequencedSlots => Some(SEQUENCED_SLOTS_V1_GATING.to_owned()),
                _ => None,
            },
            on_full: graph.boundary.on_full.unwrap_or(on_full),
        }
    }
}

/// Outgoing connections of one source that travel on one lane: a single point-to-point
/// connection, or every `fanout_broadcast` connection of the source.
struct Group {
    settings: LaneSettings,
    conns: Vec<usize>,
    /// The destination's name, or `*` for the broadcast group (used in bridge names).
    label: String,
}

/// The spec tables under construction. Ids are handed out in creation order.
struct Builder {
    lanes: Vec<LaneSpec>,
    roles: Vec<RoleSpec>,
    endpoints: Vec<EndpointSpec>,
}

impl Builder {
    fn role(&mut self, name: String, kind: RoleKind, stage: Option<u32>) -> u32 {
        let id = self.roles.len() as u32;
        self.roles.push(RoleSpec {
            id,
            name,
            kind,
            stage,
            inputs: Vec::new(),
            outputs: Vec::new(),
        });
        id
    }

    /// A new lane written by `writer`. Its name is filled in once all readers are known.
    fn lane(&mut self, settings: &LaneSettings, writer: LaneEnd) -> u32 {
        let id = self.lanes.len() as u32;
        self.lanes.push(LaneSpec {
            id,
            name: String::new(),
            kind: settings.kind,
            capacity: settings.capacity,
            gating: settings.gating.clone(),
            on_full: settings.on_full,
            writer,
            readers: Vec::new(),
        });
        match writer {
            LaneEnd::Role(r) => {
                if let Some(role) = self.roles.get_mut(r as usize) {
                    role.outputs.push(id);
                }
            }
            LaneEnd::Endpoint(e) => {
                if let Some(ep) = self.endpoints.get_mut(e as usize) {
                    ep.lane = id;
                }
            }
        }
        id
    }

    fn read(&mut self, lane: u32, reader: LaneEnd) {
        if let Some(l) = self.lanes.get_mut(lane as usize) {
            l.readers.push(reader);
        }
        match reader {
            LaneEnd::Role(r) => {
                if let Some(role) = self.roles.get_mut(r as usize) {
                    role.inputs.push(lane);
                }
            }
            LaneEnd::Endpoint(e) => {
                if let Some(ep) = self.endpoints.get_mut(e as usize) {
                    ep.lane = lane;
                }
            }
        }
    }

    fn kind_of(&self, lane: u32) -> Option<LaneKind> {
        self.lanes.get(lane as usize).map(|l| l.kind)
    }

    /// A bridge reading `input` and writing a new lane with `settings`; returns that lane.
    fn bridge(&mut self, name: String, input: u32, settings: &LaneSettings) -> u32 {
        let bridge = self.role(name, RoleKind::Bridge, None);
        self.read(input, LaneEnd::Role(bridge));
        self.lane(settings, LaneEnd::Role(bridge))
    }

    fn end_name(&self, end: LaneEnd) -> &str {
        match end {
            LaneEnd::Role(r) => self.roles.get(r as usize).map_or("", |r| r.name.as_str()),
            LaneEnd::Endpoint(e) => self
                .endpoints
                .get(e as usize)
                .map_or("", |e| e.name.as_str()),
        }
    }
}

pub(super) fn lower(plan: &PipelinePlanV2) -> Result<PipelineSpecV1, LowerError> {
    let graph = plan.lane_graph.as_ref().ok_or(LowerError::MissingTarget {
        target: ExecutionTargetV1::LaneGraph,
    })?;
    if plan.single_ring.is_some() {
        return Err(LowerError::UnexpectedPayload {
            target: ExecutionTargetV1::LaneGraph,
            payload: ExecutionTargetV1::SingleRing,
        });
    }
    if let Some(stage) = plan.stages.iter().find(|s| !s.after.is_empty()) {
        return Err(LowerError::UnexpectedDependencies {
            stage: stage.name.clone(),
        });
    }
    let on_full = graph.on_full.ok_or(LowerError::MissingOnFull)?;
    let boundary = LaneSettings::boundary(graph, on_full);
    check_capacity(boundary.kind, graph.boundary.capacity).map_err(|capacity| {
        LowerError::BoundaryCapacity {
            kind: boundary.kind,
            capacity,
        }
    })?;

    // Resolve names.
    let mut nodes: BTreeMap<&str, Node> = BTreeMap::new();
    let named = (plan.ingress.iter().enumerate()).map(|(i, b)| (b.name.as_str(), Node::Ingress(i)));
    let named = named
        .chain((plan.stages.iter().enumerate()).map(|(i, s)| (s.name.as_str(), Node::Stage(i))))
        .chain((plan.egress.iter().enumerate()).map(|(i, b)| (b.name.as_str(), Node::Egress(i))));
    for (name, node) in named {
        if nodes.insert(name, node).is_some() {
            return Err(LowerError::DuplicateName {
                name: name.to_owned(),
            });
        }
    }

    // Resolve connections.
    let mut conns = Vec::with_capacity(graph.connections.len());
    let mut pairs = BTreeSet::new();
    for c in &graph.connections {
        let lookup = |name: &str| {
            nodes
                .get(name)
                .copied()
                .ok_or_else(|| LowerError::UnknownNode {
                    from: c.from.clone(),
                    to: c.to.clone(),
                    name: name.to_owned(),
                })
        };
        let (from, to) = (lookup(&c.from)?, lookup(&c.to)?);
        let shape_ok = matches!(
            (from, to),
            (Node::Ingress(_), Node::Stage(_))
                | (Node::Stage(_), Node::Stage(_))
                | (Node::Stage(_), Node::Egress(_))
        );
        if !shape_ok {
            return Err(LowerError::BadConnection {
                from: c.from.clone(),
                to: c.to.clone(),
            });
        }
        if !pairs.insert((from, to)) {
            return Err(LowerError::DuplicateConnection {
                from: c.from.clone(),
                to: c.to.clone(),
            });
        }
        if c.lane.kind == LaneKind::SequencedSlots && c.lane.capacity.is_none() {
            return Err(LowerError::MissingCapacity {
                from: c.from.clone(),
                to: c.to.clone(),
            });
        }
        check_capacity(c.lane.kind, c.lane.capacity).map_err(|capacity| {
            LowerError::ConnectionCapacity {
                from: c.from.clone(),
                to: c.to.clone(),
                kind: c.lane.kind,
                capacity,
            }
        })?;
        conns.push(Conn {
            from,
            to,
            from_name: &c.from,
            intent: &c.lane,
        });
    }

    // Each node's outgoing and incoming connections, in plan order, indexed once so that
    // lowering costs time linear in the plan.
    let (ni, ns) = (plan.ingress.len(), plan.stages.len());
    let slot = |node: Node| match node {
        Node::Ingress(i) => i,
        Node::Stage(s) => ni + s,
        Node::Egress(e) => ni + ns + e,
    };
    let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); ni + ns + plan.egress.len()];
    let mut incoming: Vec<Vec<usize>> = vec![Vec::new(); outgoing.len()];
    for (index, conn) in conns.iter().enumerate() {
        if let Some(list) = outgoing.get_mut(slot(conn.from)) {
            list.push(index);
        }
        if let Some(list) = incoming.get_mut(slot(conn.to)) {
            list.push(index);
        }
    }

    let mut b = Builder {
        lanes: Vec::new(),
        roles: Vec::new(),
        endpoints: Vec::new(),
    };
    for (i, stage) in plan.stages.iter().enumerate() {
        b.role(stage.name.clone(), RoleKind::Stage, Some(i as u32));
    }
    let ingress_ids: Vec<u32> = plan
        .ingress
        .iter()
        .map(|ingress| push_endpoint(&mut b, &ingress.name, EndpointDirection::Ingress))
        .collect();
    let egress_ids: Vec<u32> = plan
        .egress
        .iter()
        .map(|egress| push_endpoint(&mut b, &egress.name, EndpointDirection::Egress))
        .collect();

    // Phase 1, sources: the lane each connection is delivered on.
    let mut delivery: Vec<Option<u32>> = vec![None; conns.len()];
    let sources = (0..plan.ingress.len())
        .map(Node::Ingress)
        .chain((0..plan.stages.len()).map(Node::Stage));
    for source in sources {
        let (writer, name) = match source {
            Node::Ingress(i) => (
                LaneEnd::Endpoint(ingress_ids.get(i).copied().unwrap_or(0)),
                plan.ingress.get(i).map_or("", |x| x.name.as_str()),
            ),
            Node::Stage(s) => (
                LaneEnd::Role(s as u32),
                plan.stages.get(s).map_or("", |x| x.name.as_str()),
            ),
            Node::Egress(_) => continue,
        };
        let outgoing = outgoing.get(slot(source)).map_or(&[][..], Vec::as_slice);
        let groups = group_outgoing(plan, &conns, outgoing, on_full);
        let Some(first) = groups.first() else {
            return Err(match source {
                Node::Stage(_) => LowerError::StageWithoutOutput {
                    stage: name.to_owned(),
                },
                _ => LowerError::UnconnectedBoundary {
                    name: name.to_owned(),
                },
            });
        };
        // The lane the source writes: the boundary lane for an ingress; for a stage, the lane
        // of its only group, or a router feed like its first point-to-point group.
        let source_settings = match source {
            Node::Ingress(_) => boundary.clone(),
            _ if groups.len() == 1 => first.settings.clone(),
            _ => groups
                .iter()
                .find(|g| g.settings.kind != LaneKind::FanoutBroadcast)
                .unwrap_or(first)
                .settings
                .clone(),
        };
        let source_lane = b.lane(&source_settings, writer);

        if let [group] = groups.as_slice() {
            let lane = if group.settings.kind == source_settings.kind {
                source_lane
            } else {
                b.bridge(format!("bridge.{name}"), source_lane, &group.settings)
            };
            for &c in &group.conns {
                if let Some(slot) = delivery.get_mut(c) {
                    *slot = Some(lane);
                }
            }
            continue;
        }

        let router_name = format!("router.{name}");
        let router = b.role(router_name.clone(), RoleKind::Router, None);
        b.read(source_lane, LaneEnd::Role(router));
        for group in &groups {
            let lane = if group.settings.kind == source_settings.kind {
                b.lane(&group.settings, LaneEnd::Role(router))
            } else {
                let feed = b.lane(&source_settings, LaneEnd::Role(router));
                b.bridge(
                    format!("bridge.{router_name}.{}", group.label),
                    feed,
                    &group.settings,
                )
            };
            for &c in &group.conns {
                if let Some(slot) = delivery.get_mut(c) {
                    *slot = Some(lane);
                }
            }
        }
    }

    // Phase 2, destinations: readers, merges and bridges into the destination.
    let destinations = (0..plan.stages.len())
        .map(Node::Stage)
        .chain((0..plan.egress.len()).map(Node::Egress));
    for dest in destinations {
        let (reader, name) = match dest {
            Node::Stage(s) => (
                LaneEnd::Role(s as u32),
                plan.stages.get(s).map_or("", |x| x.name.as_str()),
            ),
            Node::Egress(e) => (
                LaneEnd::Endpoint(egress_ids.get(e).copied().unwrap_or(0)),
                plan.egress.get(e).map_or("", |x| x.name.as_str()),
            ),
            Node::Ingress(_) => continue,
        };
        let incoming: Vec<(&Conn<'_>, u32)> = incoming
            .get(slot(dest))
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|&c| Some((conns.get(c)?, (*delivery.get(c)?)?)))
            .collect();
        let is_egress = matches!(dest, Node::Egress(_));

        match incoming.as_slice() {
            [] => {
                return Err(if is_egress {
                    LowerError::UnconnectedBoundary {
                        name: name.to_owned(),
                    }
                } else {
                    LowerError::StageWithoutInput {
                        stage: name.to_owned(),
                    }
                })
            }
            [(_, lane)] if !is_egress => b.read(*lane, reader),
            [(_, lane)] => {
                if b.kind_of(*lane) == Some(boundary.kind) {
                    // The lane becomes the egress boundary lane.
                    if let Some(l) = b.lanes.get_mut(*lane as usize) {
                        l.capacity = boundary.capacity;
                        l.gating = boundary.gating.clone();
                        l.on_full = boundary.on_full;
                    }
                    b.read(*lane, reader);
                } else {
                    let out = b.bridge(format!("bridge.{name}"), *lane, &boundary);
                    b.read(out, reader);
                }
            }
            many => {
                // The merge moves events within one kind: the boundary kind in front of an
                // egress, else the kind of the first incoming connection that is not a
                // broadcast one (or of the first connection, when all are).
                let merge_settings = if is_egress {
                    boundary.clone()
                } else {
                    let (first, _) = many
                        .iter()
                        .find(|(c, _)| c.intent.kind != LaneKind::FanoutBroadcast)
                        .or(many.first())
                        .copied()
                        .ok_or(LowerError::StageWithoutInput {
                            stage: name.to_owned(),
                        })?;
                    LaneSettings::from_intent(first.intent, on_full)
                };
                let merge_name = format!("merge.{name}");
                let merge = b.role(merge_name.clone(), RoleKind::Merge, None);
                for (conn, lane) in many {
                    if b.kind_of(*lane) == Some(merge_settings.kind) {
                        b.read(*lane, LaneEnd::Role(merge));
                    } else {
                        let out = b.bridge(
                            format!("bridge.{merge_name}.{}", conn.from_name),
                            *lane,
                            &merge_settings,
                        );
                        b.read(out, LaneEnd::Role(merge));
                    }
                }
                let out = b.lane(&merge_settings, LaneEnd::Role(merge));
                b.read(out, reader);
            }
        }
    }

    // Lane names: `<writer>-><reader>`, or `<writer>->*` for a lane with several readers.
    let lane_names: Vec<String> = b
        .lanes
        .iter()
        .map(|lane| {
            let reader = match lane.readers.as_slice() {
                [one] => b.end_name(*one),
                _ => "*",
            };
            format!("{}->{reader}", b.end_name(lane.writer))
        })
        .collect();
    for (lane, name) in b.lanes.iter_mut().zip(lane_names) {
        lane.name = name;
    }

    // Inserted names must not clash with declared ones (or each other).
    let mut seen = BTreeSet::new();
    let names = (b.roles.iter().map(|r| &r.name))
        .chain(b.endpoints.iter().map(|e| &e.name))
        .chain(b.lanes.iter().map(|l| &l.name));
    for name in names {
        if !seen.insert(name.as_str()) {
            return Err(LowerError::NameCollision { name: name.clone() });
        }
    }

    Ok(PipelineSpecV1 {
        name: plan.name.clone(),
        stages: stage_specs(plan),
        topology: TopologySpec::LaneGraph(LaneGraphSpec {
            on_full,
            lanes: b.lanes,
            roles: b.roles,
            endpoints: b.endpoints,
        }),
    })
}

fn push_endpoint(b: &mut Builder, name: &str, direction: EndpointDirection) -> u32 {
    let id = b.endpoints.len() as u32;
    b.endpoints.push(EndpointSpec {
        id,
        name: name.to_owned(),
        direction,
        // Set when its lane is created (ingress) or read (egress).
        lane: u32::MAX,
    });
    id
}

/// The connections `outgoing` (indices into `conns`, in plan order) of one source, grouped by
/// the lane they travel on, in the order of each group's first connection.
fn group_outgoing(
    plan: &PipelinePlanV2,
    conns: &[Conn<'_>],
    outgoing: &[usize],
    on_full: OnFull,
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut broadcast: Option<usize> = None;
    for (index, conn) in outgoing
        .iter()
        .filter_map(|&index| Some((index, conns.get(index)?)))
    {
        if conn.intent.kind == LaneKind::FanoutBroadcast {
            if let Some(g) = broadcast.and_then(|g| groups.get_mut(g)) {
                g.conns.push(index);
                continue;
            }
            broadcast = Some(groups.len());
            groups.push(Group {
                settings: LaneSettings::from_intent(conn.intent, on_full),
                conns: vec![index],
                label: "*".to_owned(),
            });
        } else {
            let label = match conn.to {
                Node::Stage(s) => plan.stages.get(s).map(|x| x.name.clone()),
                Node::Egress(e) => plan.egress.get(e).map(|x| x.name.clone()),
                Node::Ingress(i) => plan.ingress.get(i).map(|x| x.name.clone()),
            };
            groups.push(Group {
                settings: LaneSettings::from_intent(conn.intent, on_full),
                conns: vec![index],
                label: label.unwrap_or_default(),
            });
        }
    }
    groups
}

/// Checks a lane capacity for its kind; `Err` carries the offending capacity.
/// `sequenced_slots` lanes need a capacity > 0, every other kind a power of two.
fn check_capacity(kind: LaneKind, capacity: Option<u32>) -> Result<(), u32> {
    let capacity = capacity.unwrap_or(DEFAULT_LANE_CAPACITY);
    let ok = match kind {
        LaneKind::SequencedSlots => capacity > 0,
        _ => capacity.is_power_of_two(),
    };
    if ok {
        Ok(())
    } else {
        Err(capacity)
    }
}
