//! Rules every target shares: the pipeline name, target and payload agreement, the name rule,
//! duplicate names, stage parameters and boundary counts.

use std::collections::HashMap;

use super::*;
use crate::diagnostics::names::{first_bad_char, plan_label};
use crate::plan::ExecutionTargetV1;
use crate::{NAME_V1_MAX_BYTES, PARAM_V1_MAX_DEPTH};

impl<'a> Validator<'a> {
    /// The name rule for a non-empty name: allowed characters, then length. `item` is built
    /// only when there is something to report.
    pub(super) fn check_name_rule(&mut self, item: NameItem, name: &str) {
        if let Some((at, character)) = first_bad_char(name, &[]) {
            self.push(PlanViolation::InvalidName {
                item: item.clone(),
                name: plan_label(name),
                character,
                at,
            });
        }
        if name.len() > NAME_V1_MAX_BYTES {
            self.push(PlanViolation::NameTooLong {
                item,
                name: plan_label(name),
                len: name.len(),
                max: NAME_V1_MAX_BYTES,
            });
        }
    }

    /// Whether `name` breaks the name rule (so [`check_name_rule`](Self::check_name_rule)
    /// has something to say).
    pub(super) fn breaks_name_rule(name: &str) -> bool {
        name.len() > NAME_V1_MAX_BYTES || first_bad_char(name, &[]).is_some()
    }

    pub(super) fn check_payload(&mut self) {
        let plan = self.plan;
        let (needed, extra, has_needed, has_extra) = match plan.target {
            ExecutionTargetV1::SingleRing => (
                "single_ring",
                "lane_graph",
                plan.single_ring.is_some(),
                plan.lane_graph.is_some(),
            ),
            ExecutionTargetV1::LaneGraph => (
                "lane_graph",
                "single_ring",
                plan.lane_graph.is_some(),
                plan.single_ring.is_some(),
            ),
        };
        if !has_needed {
            self.push(PlanViolation::MissingPayload {
                target: plan.target,
                table: needed,
            });
        }
        if has_extra {
            self.push(PlanViolation::UnexpectedPayload {
                target: plan.target,
                table: extra,
            });
        }
    }

    /// Checks names and returns the name index (first declaration of each name wins).
    pub(super) fn check_names(&mut self) -> HashMap<&'a str, Node> {
        let plan = self.plan;
        let mut index: HashMap<&'a str, Node> = HashMap::new();
        let declared = plan
            .ingress
            .iter()
            .enumerate()
            .map(|(i, b)| (b.name.as_str(), Node::Ingress(i)))
            .chain(
                plan.egress
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (b.name.as_str(), Node::Egress(i))),
            )
            .chain(
                plan.stages
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.name.as_str(), Node::Stage(i))),
            );
        for (name, node) in declared {
            let role = role_of(node);
            let position = match node {
                Node::Ingress(i) | Node::Egress(i) | Node::Stage(i) => i + 1,
            };
            if name.is_empty() {
                self.push(PlanViolation::EmptyName { role, position });
                continue;
            }
            if Self::breaks_name_rule(name) {
                self.check_name_rule(NameItem::Decl { role, position }, name);
            }
            match index.get(name) {
                None => {
                    index.insert(name, node);
                }
                Some(&first) => {
                    let first_role = role_of(first);
                    let violation = if first_role != role {
                        PlanViolation::NameClash {
                            name: plan_label(name),
                            first: first_role,
                            second: role,
                        }
                    } else if role == DeclRole::Stage {
                        PlanViolation::DuplicateStage {
                            name: plan_label(name),
                        }
                    } else {
                        PlanViolation::DuplicateBoundary {
                            role,
                            name: plan_label(name),
                        }
                    };
                    self.push(violation);
                }
            }
        }
        for stage in &plan.stages {
            match stage.kind.as_deref() {
                Some("") => self.push(PlanViolation::EmptyStageKind {
                    stage: plan_label(&stage.name),
                }),
                Some(kind) if Self::breaks_name_rule(kind) => {
                    let item = NameItem::StageKind {
                        stage: plan_label(&stage.name),
                    };
                    self.check_name_rule(item, kind);
                }
                _ => {}
            }
        }
        index
    }

    /// Parameter names are at most [`NAME_V1_MAX_BYTES`] long; values nest at most
    /// [`PARAM_V1_MAX_DEPTH`] levels.
    pub(super) fn check_params(&mut self) {
        for stage in &self.plan.stages {
            for (param, value) in &stage.params {
                if param.len() > NAME_V1_MAX_BYTES {
                    self.push(PlanViolation::ParamNameTooLong {
                        stage: plan_label(&stage.name),
                        param: plan_label(param),
                        len: param.len(),
                        max: NAME_V1_MAX_BYTES,
                    });
                }
                let depth = value.depth();
                if depth > PARAM_V1_MAX_DEPTH {
                    self.push(PlanViolation::ParamTooDeep {
                        stage: plan_label(&stage.name),
                        param: plan_label(param),
                        depth,
                        max: PARAM_V1_MAX_DEPTH,
                    });
                }
            }
        }
    }

    pub(super) fn check_boundary_count(&mut self, role: DeclRole, exactly_one: bool) {
        let plan = self.plan;
        let list = match role {
            DeclRole::Ingress => &plan.ingress,
            _ => &plan.egress,
        };
        let bad = if exactly_one {
            list.len() != 1
        } else {
            list.is_empty()
        };
        if bad {
            self.push(PlanViolation::BoundaryCount {
                target: plan.target,
                role,
                expected: if exactly_one {
                    "exactly one"
                } else {
                    "at least one"
                },
                found: list.iter().map(|b| plan_label(&b.name)).collect(),
            });
        }
    }

    // ---- SingleRing -----------------------------------------------------------------------
}
