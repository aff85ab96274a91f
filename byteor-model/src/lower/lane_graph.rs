//! Lowering of LaneGraph plans: concrete lanes, roles and endpoints, with routers, merges and
//! bridges inserted by the rules in the [module docs](super).

use std::collections::BTreeMap;

use super::stage_specs;
use crate::plan::{
    LaneGraphPlan, LaneIntent, LaneKind, OnFull, PipelinePlanV2, DEFAULT_LANE_CAPACITY,
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
            on_full: intent.on_full.unwrap_or(on_full),
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

    /// Names every lane `<writer>-><reader>`, or `<writer>->*` when it has several readers.
    fn name_lanes(&mut self) {
        let names: Vec<String> = (self.lanes.iter())
            .map(|lane| {
                let reader = match lane.readers.as_slice() {
                    [one] => self.end_name(*one),
                    _ => "*",
                };
                format!("{}->{reader}", self.end_name(lane.writer))
            })
            .collect();
        for (lane, name) in self.lanes.iter_mut().zip(names) {
            lane.name = name;
        }
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

/// Compiles a validated LaneGraph plan.
///
/// Runs on plans [`validate_plan_v2`](crate::plan::validate_plan_v2) accepted and re-checks
/// none of the plan rules: names are unique and resolve, connections have the allowed shapes,
/// capacities fit their kinds, every boundary and stage is connected, and generated names
/// cannot clash with declared ones. The code stays total anyway — an unresolvable connection
/// is skipped, a node without connections gets no lanes — so it cannot panic whatever it is
/// given.
pub(super) fn lower(plan: &PipelinePlanV2) -> PipelineSpecV1 {
    let default_graph = LaneGraphPlan::default();
    let graph = plan.lane_graph.as_ref().unwrap_or(&default_graph);
    let on_full = graph.on_full.unwrap_or(OnFull::Block);
    let mut lowering = Lowering::new(plan, graph, on_full);
    let sources = (0..plan.ingress.len())
        .map(Node::Ingress)
        .chain((0..plan.stages.len()).map(Node::Stage));
    for source in sources {
        lowering.source(source);
    }
    let destinations = (0..plan.stages.len())
        .map(Node::Stage)
        .chain((0..plan.egress.len()).map(Node::Egress));
    for destination in destinations {
        lowering.destination(destination);
    }
    let mut b = lowering.b;
    b.name_lanes();

    PipelineSpecV1 {
        name: plan.name.clone(),
        stages: stage_specs(plan),
        topology: TopologySpec::LaneGraph(LaneGraphSpec {
            on_full,
            lanes: b.lanes,
            roles: b.roles,
            endpoints: b.endpoints,
        }),
    }
}

/// The plan's connections resolved to nodes, each node's outgoing and incoming connections in
/// plan order (indexed once, so that lowering costs time linear in the plan).
struct Wiring<'a> {
    conns: Vec<Conn<'a>>,
    outgoing: Vec<Vec<usize>>,
    incoming: Vec<Vec<usize>>,
    ingress: usize,
    stages: usize,
}

impl<'a> Wiring<'a> {
    fn resolve(plan: &'a PipelinePlanV2, graph: &'a LaneGraphPlan) -> Self {
        // The first declaration of a name wins (validation rejects duplicates).
        let mut nodes: BTreeMap<&str, Node> = BTreeMap::new();
        let named = (plan.ingress.iter().enumerate())
            .map(|(i, b)| (b.name.as_str(), Node::Ingress(i)))
            .chain((plan.stages.iter().enumerate()).map(|(i, s)| (s.name.as_str(), Node::Stage(i))))
            .chain(
                (plan.egress.iter().enumerate()).map(|(i, b)| (b.name.as_str(), Node::Egress(i))),
            );
        for (name, node) in named {
            nodes.entry(name).or_insert(node);
        }
        let conns: Vec<Conn<'a>> = graph
            .connections
            .iter()
            .filter_map(|c| {
                Some(Conn {
                    from: *nodes.get(c.from.as_str())?,
                    to: *nodes.get(c.to.as_str())?,
                    from_name: &c.from,
                    intent: &c.lane,
                })
            })
            .collect();
        let mut wiring = Wiring {
            conns: Vec::new(),
            outgoing: vec![Vec::new(); plan.ingress.len() + plan.stages.len() + plan.egress.len()],
            incoming: Vec::new(),
            ingress: plan.ingress.len(),
            stages: plan.stages.len(),
        };
        wiring.incoming = vec![Vec::new(); wiring.outgoing.len()];
        for (index, conn) in conns.iter().enumerate() {
            let (from, to) = (wiring.slot(conn.from), wiring.slot(conn.to));
            if let Some(list) = wiring.outgoing.get_mut(from) {
                list.push(index);
            }
            if let Some(list) = wiring.incoming.get_mut(to) {
                list.push(index);
            }
        }
        wiring.conns = conns;
        wiring
    }

    /// The node's index in `outgoing` and `incoming`.
    fn slot(&self, node: Node) -> usize {
        match node {
            Node::Ingress(i) => i,
            Node::Stage(s) => self.ingress + s,
            Node::Egress(e) => self.ingress + self.stages + e,
        }
    }

    fn outgoing(&self, node: Node) -> &[usize] {
        self.outgoing
            .get(self.slot(node))
            .map_or(&[], Vec::as_slice)
    }

    fn incoming(&self, node: Node) -> &[usize] {
        self.incoming
            .get(self.slot(node))
            .map_or(&[], Vec::as_slice)
    }
}

/// One lowering in progress: the resolved plan, the spec tables being built, and the lane each
/// connection is delivered on once its source is lowered.
struct Lowering<'a> {
    plan: &'a PipelinePlanV2,
    wiring: Wiring<'a>,
    on_full: OnFull,
    boundary: LaneSettings,
    b: Builder,
    ingress_ids: Vec<u32>,
    egress_ids: Vec<u32>,
    delivery: Vec<Option<u32>>,
}

impl<'a> Lowering<'a> {
    /// Resolves the plan and creates the stage roles and the endpoints.
    fn new(plan: &'a PipelinePlanV2, graph: &'a LaneGraphPlan, on_full: OnFull) -> Self {
        let wiring = Wiring::resolve(plan, graph);
        let mut b = Builder {
            lanes: Vec::new(),
            roles: Vec::new(),
            endpoints: Vec::new(),
        };
        for (i, stage) in plan.stages.iter().enumerate() {
            b.role(stage.name.clone(), RoleKind::Stage, Some(i as u32));
        }
        let ingress_ids: Vec<u32> = (plan.ingress.iter())
            .map(|ingress| push_endpoint(&mut b, &ingress.name, EndpointDirection::Ingress))
            .collect();
        let egress_ids: Vec<u32> = (plan.egress.iter())
            .map(|egress| push_endpoint(&mut b, &egress.name, EndpointDirection::Egress))
            .collect();
        Lowering {
            plan,
            delivery: vec![None; wiring.conns.len()],
            wiring,
            on_full,
            boundary: LaneSettings::boundary(graph, on_full),
            b,
            ingress_ids,
            egress_ids,
        }
    }

    /// Lowers one source (an ingress or a stage): the lane it writes and, for several groups of
    /// outgoing connections, the router and bridges between that lane and each group's lane.
    fn source(&mut self, source: Node) {
        let plan = self.plan;
        let (writer, name) = match source {
            Node::Ingress(i) => (
                LaneEnd::Endpoint(self.ingress_ids.get(i).copied().unwrap_or(0)),
                plan.ingress.get(i).map_or("", |x| x.name.as_str()),
            ),
            Node::Stage(s) => (
                LaneEnd::Role(s as u32),
                plan.stages.get(s).map_or("", |x| x.name.as_str()),
            ),
            Node::Egress(_) => return,
        };
        let groups = group_outgoing(
            plan,
            &self.wiring.conns,
            self.wiring.outgoing(source),
            self.on_full,
        );
        let Some(first) = groups.first() else {
            return;
        };
        // The lane the source writes: the boundary lane for an ingress; for a stage, the lane
        // of its only group, or a router feed like its first point-to-point group.
        let source_settings = match source {
            // A connection's own `on_full` wins over the boundary's when the ingress lane is
            // the connection's lane (one group, of the boundary kind).
            Node::Ingress(_) => match groups.as_slice() {
                [group] if group.settings.kind == self.boundary.kind => LaneSettings {
                    on_full: group
                        .conns
                        .first()
                        .and_then(|&c| self.wiring.conns.get(c))
                        .and_then(|c| c.intent.on_full)
                        .unwrap_or(self.boundary.on_full),
                    ..self.boundary.clone()
                },
                _ => self.boundary.clone(),
            },
            _ if groups.len() == 1 => first.settings.clone(),
            // The router's feed: like its first point-to-point group, but it may drop only
            // when every group may (a `Drop` tap to one slow consumer must not make the feed
            // of the blocking ones lossy).
            _ => {
                let mut feed = groups
                    .iter()
                    .find(|g| g.settings.kind != LaneKind::FanoutBroadcast)
                    .unwrap_or(first)
                    .settings
                    .clone();
                feed.on_full = if groups.iter().all(|g| g.settings.on_full == OnFull::Drop) {
                    OnFull::Drop
                } else {
                    OnFull::Block
                };
                feed
            }
        };
        let source_lane = self.b.lane(&source_settings, writer);

        if let [group] = groups.as_slice() {
            let lane = if group.settings.kind == source_settings.kind {
                source_lane
            } else {
                self.b
                    .bridge(format!("bridge.{name}"), source_lane, &group.settings)
            };
            self.deliver(&group.conns, lane);
            return;
        }

        let router_name = format!("router.{name}");
        let router = self.b.role(router_name.clone(), RoleKind::Router, None);
        self.b.read(source_lane, LaneEnd::Role(router));
        for group in &groups {
            let lane = if group.settings.kind == source_settings.kind {
                self.b.lane(&group.settings, LaneEnd::Role(router))
            } else {
                let feed = self.b.lane(&source_settings, LaneEnd::Role(router));
                self.b.bridge(
                    format!("bridge.{router_name}.{}", group.label),
                    feed,
                    &group.settings,
                )
            };
            self.deliver(&group.conns, lane);
        }
    }

    /// Records that the connections `conns` travel on `lane`.
    fn deliver(&mut self, conns: &[usize], lane: u32) {
        for &c in conns {
            if let Some(slot) = self.delivery.get_mut(c) {
                *slot = Some(lane);
            }
        }
    }

    /// Lowers one destination (a stage or an egress): it reads its one incoming lane, through a
    /// bridge to the boundary kind in front of an egress, or a merge of several.
    fn destination(&mut self, dest: Node) {
        let plan = self.plan;
        let (reader, name) = match dest {
            Node::Stage(s) => (
                LaneEnd::Role(s as u32),
                plan.stages.get(s).map_or("", |x| x.name.as_str()),
            ),
            Node::Egress(e) => (
                LaneEnd::Endpoint(self.egress_ids.get(e).copied().unwrap_or(0)),
                plan.egress.get(e).map_or("", |x| x.name.as_str()),
            ),
            Node::Ingress(_) => return,
        };
        let incoming: Vec<(&Conn<'_>, u32)> = (self.wiring.incoming(dest).iter())
            .filter_map(|&c| Some((self.wiring.conns.get(c)?, (*self.delivery.get(c)?)?)))
            .collect();
        let is_egress = matches!(dest, Node::Egress(_));
        let b = &mut self.b;
        let boundary = &self.boundary;

        match incoming.as_slice() {
            [] => {}
            [(_, lane)] if !is_egress => b.read(*lane, reader),
            [(conn, lane)] => {
                if b.kind_of(*lane) == Some(boundary.kind) {
                    // The lane becomes the egress boundary lane (the connection's own
                    // `on_full`, if it has one, wins over the boundary's).
                    if let Some(l) = b.lanes.get_mut(*lane as usize) {
                        l.capacity = boundary.capacity;
                        l.gating = boundary.gating.clone();
                        l.on_full = conn.intent.on_full.unwrap_or(boundary.on_full);
                    }
                    b.read(*lane, reader);
                } else {
                    let out = b.bridge(format!("bridge.{name}"), *lane, boundary);
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
                    many.iter()
                        .find(|(c, _)| c.intent.kind != LaneKind::FanoutBroadcast)
                        .or(many.first())
                        .map_or_else(
                            || boundary.clone(),
                            |(first, _)| LaneSettings::from_intent(first.intent, self.on_full),
                        )
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
