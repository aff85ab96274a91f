//! `validate_plan_v2`: every rule a [`PipelinePlanV2`] must satisfy before it is lowered.
//!
//! Validation never stops at the first problem. It walks the plan in a fixed order and records
//! every [`PlanViolation`] it meets, so one run shows an author everything to fix:
//!
//! 1. the pipeline name;
//! 2. target and payload agreement (`[single_ring]` / `[lane_graph]` tables);
//! 3. names: empty names and stage kinds, the name rule (characters and length), duplicates,
//!    and names shared between stages and boundaries; then stage parameters (name length and
//!    nesting depth);
//! 4. the rules of the declared target, in document order (boundaries, stages, constraints or
//!    connections, then whole-graph properties such as reachability, cycles and the number of
//!    threads the plan needs).
//!
//! # Cost
//!
//! Validation takes time linear (up to a logarithmic factor) in the size of the plan, and its
//! output is linear too, whatever the plan holds:
//! - every name a violation carries is stored as a label of bounded length, with characters
//!   that would not print as themselves escaped (`{:?}`-style), so a control character in a
//!   name never reaches a terminal raw and a megabyte-long name is stored once at most;
//! - "did you mean" suggestions come from a bounded search: the first 16 unknown names get
//!   one, within a fixed amount of work, and only names of at most
//!   [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES) bytes are compared;
//! - the first 16 cycles are listed (a long cycle by its first and last 16 stages), the
//!   others counted in one [`PlanViolation::MoreCycles`];
//! - a dependency listed many times is reported once per stage.

use super::{ExecutionTargetV1, LaneKind, PipelinePlanV2};
use crate::diagnostics::cycles::{find_cycles, Cycles, MAX_LISTED_CYCLES};
use crate::diagnostics::names::{plan_label, Suggester};
use crate::diagnostics::Violations;

mod catalog;
mod lane_graph;
mod single_ring;
mod violation;

pub use violation::{DeclRole, NameItem, PlanViolation};

/// Every violation found in a plan, in order of discovery. Never empty.
///
/// `Display` prints one violation per line.
pub type ValidationErrors = Violations<PlanViolation>;

/// Validates a plan against every rule of its target and reports all violations.
///
/// The order of the violations is deterministic: the plan is walked in a fixed order (name,
/// target payload, names, then the target's rules in catalog and connection order).
///
/// # Examples
///
/// ```
/// use byteor_model::plan::{validate_plan_v2, PipelinePlanV2, PlanViolation, StageDecl};
///
/// let plan = PipelinePlanV2::single_ring("orders")
///     .with_ingress("orders_in")
///     .with_egress("fills_out")
///     .with_stage(StageDecl::new("parse"))
///     .with_stage(StageDecl::new("risk").after("prase"));
///
/// let errors = validate_plan_v2(&plan).unwrap_err();
/// assert_eq!(errors.len(), 1);
/// assert!(matches!(errors.violations()[0], PlanViolation::UnknownDependency { .. }));
/// assert_eq!(
///     errors.to_string(),
///     "stage `risk` runs after `prase`: no such stage (did you mean `parse`?)"
/// );
/// ```
pub fn validate_plan_v2(plan: &PipelinePlanV2) -> Result<(), ValidationErrors> {
    let mut v = Validator {
        plan,
        out: Vec::new(),
        suggester: Suggester::new(),
    };
    v.run();
    Violations::check(v.out)
}

/// A resolved name: which catalog it belongs to and its index there (first declaration wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Ingress(usize),
    Egress(usize),
    Stage(usize),
}

/// A well-formed connection (ingress → stage, stage → stage or stage → egress), first
/// declaration of its pair.
#[derive(Debug, Clone, Copy)]
struct Edge {
    from: Node,
    to: Node,
    kind: LaneKind,
}

struct Validator<'a> {
    plan: &'a PipelinePlanV2,
    out: Vec<PlanViolation>,
    suggester: Suggester,
}

impl<'a> Validator<'a> {
    fn push(&mut self, violation: PlanViolation) {
        self.out.push(violation);
    }

    fn run(&mut self) {
        let plan = self.plan;
        if plan.name.is_empty() {
            self.push(PlanViolation::EmptyPipelineName);
        } else {
            self.check_name_rule(NameItem::Pipeline, &plan.name);
        }
        self.check_payload();
        let index = self.check_names();
        self.check_params();
        match plan.target {
            ExecutionTargetV1::SingleRing => self.check_single_ring(),
            ExecutionTargetV1::LaneGraph => self.check_lane_graph(&index),
        }
    }
}

impl Validator<'_> {
    /// Reports the cycles [`find_cycles`] found among stages, each printed from its stage
    /// that comes first in the catalog: the first [`MAX_LISTED_CYCLES`] listed, the rest
    /// counted.
    fn push_cycles(&mut self, found: Cycles) {
        let plan = self.plan;
        for cycle in &found.listed {
            let path = cycle
                .nodes
                .iter()
                .map(|&s| plan_label(&plan.stages[s].name))
                .collect();
            self.push(PlanViolation::Cycle {
                path,
                omitted: cycle.omitted,
            });
        }
        if found.more > 0 {
            self.push(PlanViolation::MoreCycles {
                count: found.more,
                listed: MAX_LISTED_CYCLES,
            });
        }
    }
}

fn role_of(node: Node) -> DeclRole {
    match node {
        Node::Ingress(_) => DeclRole::Ingress,
        Node::Egress(_) => DeclRole::Egress,
        Node::Stage(_) => DeclRole::Stage,
    }
}

fn is_ring_capacity(capacity: u32) -> bool {
    capacity >= 2 && capacity.is_power_of_two()
}

#[cfg(test)]
mod tests;
