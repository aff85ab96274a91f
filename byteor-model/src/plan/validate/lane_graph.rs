//! LaneGraph rules: lane kinds and capacities, connection shapes, broadcast sources,
//! reachability, cycles and the roles lowering will produce.

use std::collections::{HashMap, HashSet};

use super::*;

use crate::plan::{Connection, LaneKind, OnFull, DEFAULT_LANE_CAPACITY};
use crate::{
    FANOUT_V1_MAX_CONSUMERS, PIPELINE_V1_MAX_THREADS, RING_V1_MAX_CAPACITY,
    SEQUENCED_SLOTS_V1_GATING,
};

impl<'a> Validator<'a> {
    pub(super) fn check_lane_graph(&mut self, index: &HashMap<&'a str, Node>) {
        let plan = self.plan;
        self.check_boundary_count(DeclRole::Ingress, false);
        self.check_boundary_count(DeclRole::Egress, false);
        if plan.stages.is_empty() {
            self.push(PlanViolation::NoStages {
                target: plan.target,
            });
        }
        for stage in &plan.stages {
            if !stage.after.is_empty() {
                self.push(PlanViolation::AfterOnLaneGraph {
                    stage: plan_label(&stage.name),
                    after: stage.after.iter().map(|a| plan_label(a)).collect(),
                });
            }
        }

        let Some(lane_graph) = &plan.lane_graph else {
            self.check_roles(&[], LaneKind::Events);
            return;
        };
        if lane_graph.on_full.is_none() {
            self.push(PlanViolation::MissingOnFull);
        }
        let boundary = &lane_graph.boundary;
        if let Some(feature) = disabled_feature(boundary.kind) {
            self.push(PlanViolation::BoundaryKindDisabled {
                kind: boundary.kind,
                feature,
            });
        }
        // Sequenced slots are not a masked ring: any capacity above zero works for them.
        match (boundary.kind, boundary.capacity) {
            (LaneKind::SequencedSlots, None | Some(0)) => {
                self.push(PlanViolation::BoundarySequencedSlotsCapacity);
            }
            (LaneKind::SequencedSlots, Some(_)) => {}
            (_, Some(capacity)) if !is_ring_capacity(capacity) => {
                self.push(PlanViolation::BoundaryCapacity { capacity });
            }
            _ => {}
        }
        if let Some(capacity) = boundary.capacity.filter(|&c| c > RING_V1_MAX_CAPACITY) {
            self.push(PlanViolation::BoundaryCapacityTooLarge {
                capacity,
                max: RING_V1_MAX_CAPACITY,
            });
        }
        let sources: HashSet<&str> = lane_graph
            .connections
            .iter()
            .map(|c| c.from.as_str())
            .collect();
        let destinations: HashSet<&str> = lane_graph
            .connections
            .iter()
            .map(|c| c.to.as_str())
            .collect();
        for (role, list, used) in [
            (DeclRole::Ingress, &plan.ingress, &sources),
            (DeclRole::Egress, &plan.egress, &destinations),
        ] {
            for b in list {
                if !b.name.is_empty() && !used.contains(b.name.as_str()) {
                    self.push(PlanViolation::UnconnectedBoundary {
                        role,
                        name: plan_label(&b.name),
                    });
                }
            }
        }

        let edges = self.check_connections(&lane_graph.connections, index);
        self.check_sources(&lane_graph.connections, index, lane_graph.on_full);
        self.check_reachability(&edges, index);
        self.check_cycles(&edges);
        self.check_roles(&edges, boundary.kind);
    }

    /// Checks each connection; returns the well-formed edges (deduplicated), in order.
    pub(super) fn check_connections(
        &mut self,
        connections: &[Connection],
        index: &HashMap<&'a str, Node>,
    ) -> Vec<Edge> {
        let plan = self.plan;
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        let mut edges = Vec::new();
        for c in connections {
            let from = || plan_label(&c.from);
            let to = || plan_label(&c.to);
            let src = index.get(c.from.as_str()).copied();
            let dst = index.get(c.to.as_str()).copied();
            match src {
                None => {
                    let candidates = plan
                        .ingress
                        .iter()
                        .map(|b| b.name.as_str())
                        .chain(plan.stages.iter().map(|s| s.name.as_str()));
                    let suggestion = self.suggester.closest(&c.from, candidates);
                    self.push(PlanViolation::UnknownSource {
                        from: from(),
                        to: to(),
                        suggestion,
                    });
                }
                Some(Node::Egress(_)) => self.push(PlanViolation::ConnectionFromEgress {
                    from: from(),
                    to: to(),
                }),
                Some(_) => {}
            }
            match dst {
                None => {
                    let candidates = plan
                        .stages
                        .iter()
                        .map(|s| s.name.as_str())
                        .chain(plan.egress.iter().map(|b| b.name.as_str()));
                    let suggestion = self.suggester.closest(&c.to, candidates);
                    self.push(PlanViolation::UnknownDestination {
                        from: from(),
                        to: to(),
                        suggestion,
                    });
                }
                Some(Node::Ingress(_)) => self.push(PlanViolation::ConnectionToIngress {
                    from: from(),
                    to: to(),
                }),
                Some(_) => {}
            }
            if let (Some(Node::Ingress(_)), Some(Node::Egress(_))) = (src, dst) {
                self.push(PlanViolation::BoundaryToBoundary {
                    from: from(),
                    to: to(),
                });
            }
            let first_time = seen.insert((c.from.as_str(), c.to.as_str()));
            if !first_time {
                self.push(PlanViolation::DuplicateConnection {
                    from: from(),
                    to: to(),
                });
            }
            self.check_lane(c);

            if let (Some(s), Some(d)) = (src, dst) {
                let well_formed = matches!(
                    (s, d),
                    (Node::Ingress(_), Node::Stage(_))
                        | (Node::Stage(_), Node::Stage(_))
                        | (Node::Stage(_), Node::Egress(_))
                );
                if well_formed && first_time {
                    edges.push(Edge {
                        from: s,
                        to: d,
                        kind: c.lane.kind,
                    });
                }
            }
        }
        edges
    }

    pub(super) fn check_lane(&mut self, c: &Connection) {
        let lane = &c.lane;
        let from = || plan_label(&c.from);
        let to = || plan_label(&c.to);
        if let Some(feature) = disabled_feature(lane.kind) {
            self.push(PlanViolation::LaneKindDisabled {
                from: from(),
                to: to(),
                kind: lane.kind,
                feature,
            });
        }
        if lane.kind == LaneKind::SequencedSlots {
            if lane.capacity.is_none_or(|cap| cap == 0) {
                self.push(PlanViolation::SequencedSlotsCapacity {
                    from: from(),
                    to: to(),
                    capacity: lane.capacity,
                });
            }
            if lane.gating.as_deref() != Some(SEQUENCED_SLOTS_V1_GATING) {
                self.push(PlanViolation::SequencedSlotsGating {
                    from: from(),
                    to: to(),
                    expected: SEQUENCED_SLOTS_V1_GATING,
                    found: lane.gating.as_deref().map(plan_label),
                });
            }
        } else {
            if let Some(gating) = &lane.gating {
                self.push(PlanViolation::UnexpectedGating {
                    from: from(),
                    to: to(),
                    kind: lane.kind,
                    gating: plan_label(gating),
                });
            }
            if let Some(capacity) = lane.capacity {
                if !is_ring_capacity(capacity) {
                    self.push(PlanViolation::LaneCapacity {
                        from: from(),
                        to: to(),
                        capacity,
                    });
                }
            }
        }
        if let Some(capacity) = lane.capacity.filter(|&c| c > RING_V1_MAX_CAPACITY) {
            self.push(PlanViolation::LaneCapacityTooLarge {
                from: from(),
                to: to(),
                capacity,
                max: RING_V1_MAX_CAPACITY,
            });
        }
    }

    /// Rules over all connections of one source: broadcast lanes are shared by the source's
    /// connections, so they must agree on the kind and capacity, and are bounded in consumers.
    pub(super) fn check_sources(
        &mut self,
        connections: &[Connection],
        index: &HashMap<&'a str, Node>,
        graph_on_full: Option<OnFull>,
    ) {
        let mut order: Vec<&str> = Vec::new();
        let mut by_source: HashMap<&str, Vec<&Connection>> = HashMap::new();
        for c in connections {
            if !matches!(
                index.get(c.from.as_str()),
                Some(Node::Ingress(_) | Node::Stage(_))
            ) {
                continue;
            }
            by_source
                .entry(c.from.as_str())
                .or_insert_with(|| {
                    order.push(c.from.as_str());
                    Vec::new()
                })
                .push(c);
        }
        for from in order {
            let group = &by_source[from];
            let broadcast: Vec<&Connection> = group
                .iter()
                .copied()
                .filter(|c| c.lane.kind == LaneKind::FanoutBroadcast)
                .collect();
            if broadcast.is_empty() {
                continue;
            }
            let mut seen: HashSet<&str> = HashSet::new();
            let consumers: Vec<String> = broadcast
                .iter()
                .filter(|c| seen.insert(c.to.as_str()))
                .map(|c| plan_label(&c.to))
                .collect();
            if consumers.len() > FANOUT_V1_MAX_CONSUMERS {
                self.push(PlanViolation::TooManyBroadcastConsumers {
                    from: plan_label(from),
                    consumers,
                    max: FANOUT_V1_MAX_CONSUMERS,
                });
            }
            let on_full = |c: &Connection| c.lane.on_full.or(graph_on_full);
            let first_on_full = on_full(broadcast[0]);
            if broadcast.iter().any(|c| on_full(c) != first_on_full) {
                self.push(PlanViolation::BroadcastOnFullMismatch {
                    from: plan_label(from),
                    on_full: broadcast
                        .iter()
                        .map(|c| (plan_label(&c.to), on_full(c)))
                        .collect(),
                });
            }
            let capacity = |c: &Connection| c.lane.capacity.unwrap_or(DEFAULT_LANE_CAPACITY);
            let first = capacity(broadcast[0]);
            if broadcast.iter().any(|c| capacity(c) != first) {
                self.push(PlanViolation::BroadcastCapacityMismatch {
                    from: plan_label(from),
                    capacities: broadcast
                        .iter()
                        .map(|c| (plan_label(&c.to), capacity(c)))
                        .collect(),
                });
            }
        }
    }

    pub(super) fn check_reachability(&mut self, edges: &[Edge], index: &HashMap<&'a str, Node>) {
        let plan = self.plan;
        let n = plan.stages.len();
        // Stages fed by an ingress seed the forward flood; stages feeding an egress seed the
        // backward one.
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut reached = vec![false; n];
        let mut reaches_egress = vec![false; n];
        let mut forward = Vec::new();
        let mut backward = Vec::new();
        for edge in edges {
            match (edge.from, edge.to) {
                (Node::Ingress(_), Node::Stage(j)) if !reached[j] => {
                    reached[j] = true;
                    forward.push(j);
                }
                (Node::Stage(i), Node::Egress(_)) if !reaches_egress[i] => {
                    reaches_egress[i] = true;
                    backward.push(i);
                }
                (Node::Stage(i), Node::Stage(j)) => {
                    succ[i].push(j);
                    pred[j].push(i);
                }
                _ => {}
            }
        }
        flood(&succ, &mut reached, forward);
        flood(&pred, &mut reaches_egress, backward);

        for (i, stage) in plan.stages.iter().enumerate() {
            // A name resolves to its first declaration. A stage whose name is empty, repeated
            // or taken by a boundary is already reported and has no edges of its own.
            if index.get(stage.name.as_str()) != Some(&Node::Stage(i)) {
                continue;
            }
            if !plan.ingress.is_empty() && !reached[i] {
                self.push(PlanViolation::UnreachableStage {
                    stage: plan_label(&stage.name),
                });
            }
            if !plan.egress.is_empty() && !reaches_egress[i] {
                self.push(PlanViolation::StageWithoutEgress {
                    stage: plan_label(&stage.name),
                });
            }
        }
    }

    /// Reports the cycles closed by back edges of a depth-first walk that starts at stages in
    /// catalog order and follows connections in declaration order. Every group of stages that
    /// forms a cycle is reported at least once, and no cycle twice; a cycle is printed from its
    /// stage that comes first in the catalog. The first [`MAX_LISTED_CYCLES`] cycles are
    /// listed, the rest counted.
    pub(super) fn check_cycles(&mut self, edges: &[Edge]) {
        let plan = self.plan;
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); plan.stages.len()];
        for edge in edges {
            if let (Node::Stage(i), Node::Stage(j)) = (edge.from, edge.to) {
                succ[i].push(j);
            }
        }
        self.push_cycles(find_cycles(&succ));
    }

    /// The thread limit: one role per stage, plus the bridges, routers and merges lowering
    /// inserts for the well-formed `edges` (exactly the ones `lower_v2` inserts for a plan
    /// that is otherwise valid; see [`crate::lower`] for the rules counted here).
    pub(super) fn check_roles(&mut self, edges: &[Edge], boundary: LaneKind) {
        let plan = self.plan;
        let (ni, ns, ne) = (plan.ingress.len(), plan.stages.len(), plan.egress.len());
        // Outgoing tallies of ingresses then stages; incoming tallies of stages then egresses.
        let mut out = vec![Tally::default(); ni + ns];
        let mut inc = vec![Tally::default(); ns + ne];
        for edge in edges {
            let source = match edge.from {
                Node::Ingress(i) => i,
                Node::Stage(s) => ni + s,
                Node::Egress(_) => continue,
            };
            let dest = match edge.to {
                Node::Stage(s) => s,
                Node::Egress(e) => ns + e,
                Node::Ingress(_) => continue,
            };
            out[source].add(edge.kind);
            inc[dest].add(edge.kind);
        }
        let mut inserted = 0usize;
        for (at, tally) in out.iter().enumerate() {
            let broadcast = tally.of(LaneKind::FanoutBroadcast);
            let point = tally.count - broadcast;
            let groups = point + usize::from(broadcast > 0);
            let is_ingress = at < ni;
            // The kind of the lane the source writes.
            let source_kind = match (is_ingress, groups, tally.first_point, tally.first) {
                (true, ..) => boundary,
                (false, 1, _, Some(first)) => first,
                (false, _, Some(first_point), _) => first_point,
                _ => continue,
            };
            match groups {
                0 => {}
                // The group travels on the source's lane, through a bridge if kinds differ.
                1 => inserted += usize::from(tally.first != Some(source_kind)),
                // A router, and a bridge on each of its outputs of another kind.
                _ => {
                    let same_point = if source_kind == LaneKind::FanoutBroadcast {
                        0
                    } else {
                        tally.of(source_kind)
                    };
                    inserted += 1
                        + (point - same_point)
                        + usize::from(broadcast > 0 && source_kind != LaneKind::FanoutBroadcast);
                }
            }
        }
        for (at, tally) in inc.iter().enumerate() {
            let is_egress = at >= ns;
            match tally.count {
                0 => {}
                // An egress reads its lane through a bridge when the kind is not the boundary's.
                1 => inserted += usize::from(is_egress && tally.first != Some(boundary)),
                // A merge, and a bridge on each of its inputs of another kind.
                count => {
                    let merge_kind = if is_egress {
                        boundary
                    } else {
                        match tally.first_point.or(tally.first) {
                            Some(kind) => kind,
                            None => continue,
                        }
                    };
                    inserted += 1 + (count - tally.of(merge_kind));
                }
            }
        }
        if ns + inserted > PIPELINE_V1_MAX_THREADS {
            self.push(PlanViolation::TooManyRoles {
                stages: ns,
                inserted,
                max: PIPELINE_V1_MAX_THREADS,
            });
        }
    }
}

/// Connections of one node in one direction, by lane kind.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    count: usize,
    by_kind: [usize; 4],
    /// The kind of the first connection.
    first: Option<LaneKind>,
    /// The kind of the first connection that is not `fanout_broadcast`.
    first_point: Option<LaneKind>,
}

impl Tally {
    fn add(&mut self, kind: LaneKind) {
        self.count += 1;
        self.by_kind[kind_index(kind)] += 1;
        self.first.get_or_insert(kind);
        if kind != LaneKind::FanoutBroadcast {
            self.first_point.get_or_insert(kind);
        }
    }

    fn of(&self, kind: LaneKind) -> usize {
        self.by_kind[kind_index(kind)]
    }
}

fn kind_index(kind: LaneKind) -> usize {
    match kind {
        LaneKind::Events => 0,
        LaneKind::Journal => 1,
        LaneKind::SequencedSlots => 2,
        LaneKind::FanoutBroadcast => 3,
    }
}

fn flood(adjacency: &[Vec<usize>], marked: &mut [bool], mut work: Vec<usize>) {
    while let Some(i) = work.pop() {
        for &j in &adjacency[i] {
            if !marked[j] {
                marked[j] = true;
                work.push(j);
            }
        }
    }
}

pub(super) fn disabled_feature(kind: LaneKind) -> Option<&'static str> {
    if kind.is_enabled() {
        None
    } else {
        kind.required_feature()
    }
}
