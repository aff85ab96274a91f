//! SingleRing rules: stage count, dependencies in topological order, ring constraints.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::diagnostics::names::plan_label;
use crate::plan::{OrderingMode, ProducerMode, SchedulingMode, SingleRingConstraints};
use crate::{
    PIPELINE_V1_MAX_THREADS, RING_V1_MAX_CAPACITY, SINGLE_RING_V1_MAX_SHARDS,
    SINGLE_RING_V1_MAX_STAGES,
};

impl<'a> Validator<'a> {
    pub(super) fn check_single_ring(&mut self) {
        let plan = self.plan;
        self.check_boundary_count(DeclRole::Ingress, true);
        self.check_boundary_count(DeclRole::Egress, true);
        if plan.stages.is_empty() {
            self.push(PlanViolation::NoStages {
                target: plan.target,
            });
        } else if plan.stages.len() > SINGLE_RING_V1_MAX_STAGES {
            self.push(PlanViolation::TooManyStages {
                max: SINGLE_RING_V1_MAX_STAGES,
                found: plan.stages.len(),
                extra: plan.stages[SINGLE_RING_V1_MAX_STAGES..]
                    .iter()
                    .map(|s| plan_label(&s.name))
                    .collect(),
            });
        }
        self.check_dependencies();
        if let Some(constraints) = &plan.single_ring {
            self.check_constraints(constraints);
        }
        if let Some(lane_graph) = &plan.lane_graph {
            for c in &lane_graph.connections {
                self.push(PlanViolation::LaneIntentOnSingleRing {
                    from: plan_label(&c.from),
                    to: plan_label(&c.to),
                });
            }
        }
    }

    /// `after` lists: each entry names another, earlier stage, once. Dependencies that form
    /// a cycle are reported as the cycle (moving a stage cannot fix it); other entries that
    /// name a later stage as [`PlanViolation::DependencyNotEarlier`].
    pub(super) fn check_dependencies(&mut self) {
        let plan = self.plan;
        let stages = &plan.stages;
        // First position of each stage name: a dependency is earlier exactly when its first
        // declaration is (a duplicate name is reported on its own).
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, s) in stages.iter().enumerate() {
            first.entry(s.name.as_str()).or_insert(i);
        }
        // First pass: `succ[j]`, the stages that run after stage `j`, and the cycles it makes.
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); stages.len()];
        for (i, stage) in stages.iter().enumerate() {
            let mut seen: HashSet<&str> = HashSet::new();
            for dep in &stage.after {
                match first.get(dep.as_str()) {
                    Some(&j) if j != i && seen.insert(dep.as_str()) => succ[j].push(i),
                    _ => {}
                }
            }
        }
        let cycles = find_cycles(&succ);
        // `j -> i` is an edge of a listed cycle: the cycle says it all.
        let on_cycle = |j: usize, i: usize| {
            cycles
                .listed
                .iter()
                .any(|c| c.nodes.windows(2).any(|w| w[0] == j && w[1] == i))
        };
        // Second pass: each entry in order.
        for (i, stage) in stages.iter().enumerate() {
            // Each entry is judged once: a repeat is reported the first time it repeats.
            let mut seen: HashSet<&str> = HashSet::new();
            let mut repeated: HashSet<&str> = HashSet::new();
            for dep in &stage.after {
                if !seen.insert(dep.as_str()) {
                    if repeated.insert(dep.as_str()) {
                        self.push(PlanViolation::DuplicateDependency {
                            stage: plan_label(&stage.name),
                            dependency: plan_label(dep),
                        });
                    }
                    continue;
                }
                if *dep == stage.name {
                    self.push(PlanViolation::SelfDependency {
                        stage: plan_label(&stage.name),
                    });
                    continue;
                }
                match first.get(dep.as_str()) {
                    // A dependency on an earlier stage: what the rule asks for.
                    Some(&j) if j < i || on_cycle(j, i) => {}
                    Some(_) => self.push(PlanViolation::DependencyNotEarlier {
                        stage: plan_label(&stage.name),
                        dependency: plan_label(dep),
                    }),
                    None => self.unknown_dependency(&stage.name, dep),
                }
            }
        }
        self.push_cycles(cycles);
    }

    /// An `after` entry that names no stage: a boundary, or nothing at all.
    fn unknown_dependency(&mut self, stage: &str, dep: &str) {
        let plan = self.plan;
        let boundary = |list: &[crate::plan::BoundaryDecl]| list.iter().any(|b| b.name == dep);
        let role = if boundary(&plan.ingress) {
            Some(DeclRole::Ingress)
        } else if boundary(&plan.egress) {
            Some(DeclRole::Egress)
        } else {
            None
        };
        let violation = match role {
            Some(role) => PlanViolation::DependencyOnBoundary {
                stage: plan_label(stage),
                dependency: plan_label(dep),
                role,
            },
            None => PlanViolation::UnknownDependency {
                stage: plan_label(stage),
                dependency: plan_label(dep),
                suggestion: self
                    .suggester
                    .closest(dep, plan.stages.iter().map(|s| s.name.as_str())),
            },
        };
        self.push(violation);
    }

    pub(super) fn check_constraints(&mut self, c: &SingleRingConstraints) {
        if !is_ring_capacity(c.capacity) {
            self.push(PlanViolation::RingCapacity {
                capacity: c.capacity,
            });
        }
        if c.capacity > RING_V1_MAX_CAPACITY {
            self.push(PlanViolation::RingCapacityTooLarge {
                capacity: c.capacity,
                max: RING_V1_MAX_CAPACITY,
            });
        }
        if c.shards == 0 {
            self.push(PlanViolation::ZeroShards);
        }
        if c.shards > SINGLE_RING_V1_MAX_SHARDS {
            self.push(PlanViolation::TooManyShards {
                shards: c.shards,
                max: SINGLE_RING_V1_MAX_SHARDS,
            });
        }
        let stages = self.plan.stages.len();
        let threads = stages as u64 * u64::from(c.shards);
        if threads > PIPELINE_V1_MAX_THREADS as u64 {
            self.push(PlanViolation::TooManyRingThreads {
                stages,
                shards: c.shards,
                threads,
                max: PIPELINE_V1_MAX_THREADS,
            });
        }
        if c.ordering == OrderingMode::Strict && c.shards > 1 {
            self.push(PlanViolation::StrictOrderingWithShards { shards: c.shards });
        }
        if c.shards > 1 && c.shard_key.as_deref().is_none_or(str::is_empty) {
            self.push(PlanViolation::MissingShardKey { shards: c.shards });
        }
        if let Some(key) = c.shard_key.as_deref().filter(|k| !k.is_empty()) {
            if Self::breaks_name_rule(key) {
                self.check_name_rule(NameItem::ShardKey, key);
            }
        }
        if c.producer == ProducerMode::Multi {
            self.push(PlanViolation::MultiProducerNotSupported);
        }
        if c.scheduling == SchedulingMode::WorkQueue {
            self.push(PlanViolation::WorkQueueNotSupported);
        }
    }

    // ---- LaneGraph ------------------------------------------------------------------------
}
