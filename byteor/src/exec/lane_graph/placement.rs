//! Which roles of a graph run in this process when the graph is split over processes.
//!
//! A process is given *process roles* by name: ingresses (it publishes into them), stages
//! and egresses (it receives from them). The roles lowering inserted go with a process role
//! next to them: a router or a bridge runs where its input's writer runs (it copies what that
//! role writes), a merge where its output's reader runs (it gathers for that role). So a lane
//! crosses processes only where the plan has a connection between two process roles.

// Without shared memory (other targets, loom builds) every role runs in one process.
#![cfg_attr(not(all(target_os = "linux", not(loom))), allow(dead_code))]

use crate::spec::{LaneEnd, LaneGraphSpec};
use crate::vocab::RoleKind;

use super::error::GraphSpawnError;

/// Which roles and endpoints run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Placement {
    /// Per role id: runs in this process.
    roles: Vec<bool>,
    /// Per endpoint id: its handle is taken in this process.
    endpoints: Vec<bool>,
}

impl Placement {
    /// Everything runs here.
    pub(super) fn all(graph: &LaneGraphSpec) -> Self {
        Placement {
            roles: vec![true; graph.roles.len()],
            endpoints: vec![true; graph.endpoints.len()],
        }
    }

    /// The process roles `names` and the inserted roles that go with them. Every name that is
    /// not an ingress, a stage or an egress of the graph is reported.
    pub(super) fn of(
        pipeline: &str,
        graph: &LaneGraphSpec,
        names: &[&str],
    ) -> Result<Self, GraphSpawnError> {
        let known = process_roles(graph);
        let unknown: Vec<String> = names
            .iter()
            .filter(|n| !known.iter().any(|k| k == *n))
            .map(|n| (*n).to_owned())
            .collect();
        if !unknown.is_empty() || names.is_empty() {
            return Err(GraphSpawnError::UnknownRoles {
                pipeline: pipeline.to_owned(),
                unknown,
                known,
            });
        }
        let here = |end: LaneEnd| names.contains(&owner(graph, end).as_str());
        Ok(Placement {
            roles: (0..graph.roles.len() as u32)
                .map(|r| here(LaneEnd::Role(r)))
                .collect(),
            endpoints: (0..graph.endpoints.len() as u32)
                .map(|e| here(LaneEnd::Endpoint(e)))
                .collect(),
        })
    }

    /// Whether `end` runs here.
    pub(super) fn here(&self, end: LaneEnd) -> bool {
        match end {
            LaneEnd::Role(r) => self.roles.get(r as usize).copied().unwrap_or(false),
            LaneEnd::Endpoint(e) => self.endpoints.get(e as usize).copied().unwrap_or(false),
        }
    }
}

/// The names a process may be given, in spec order: endpoints (ingresses and egresses), then
/// stages.
pub(super) fn process_roles(graph: &LaneGraphSpec) -> Vec<String> {
    graph
        .endpoints
        .iter()
        .map(|e| e.name.clone())
        .chain(
            graph
                .roles
                .iter()
                .filter(|r| r.kind == RoleKind::Stage)
                .map(|r| r.name.clone()),
        )
        .collect()
}

/// The process role `end` runs with: itself for an endpoint or a stage; for an inserted role,
/// the process role it goes with (see the module docs).
pub(super) fn owner(graph: &LaneGraphSpec, end: LaneEnd) -> String {
    let mut end = end;
    // Each step moves along one lane; a chain of inserted roles is never longer than the
    // number of roles (the bound only guards against a malformed spec).
    for _ in 0..=graph.roles.len() {
        let next = match end {
            LaneEnd::Endpoint(e) => {
                return graph
                    .endpoints
                    .get(e as usize)
                    .map_or_else(String::new, |ep| ep.name.clone())
            }
            LaneEnd::Role(r) => {
                let Some(role) = graph.roles.get(r as usize) else {
                    return String::new();
                };
                let lane = |id: Option<&u32>| id.and_then(|&l| graph.lanes.get(l as usize));
                match role.kind {
                    RoleKind::Stage => return role.name.clone(),
                    RoleKind::Router | RoleKind::Bridge => {
                        lane(role.inputs.first()).map(|l| l.writer)
                    }
                    RoleKind::Merge => {
                        lane(role.outputs.first()).and_then(|l| l.readers.first().copied())
                    }
                }
            }
        };
        match next {
            Some(n) => end = n,
            None => return String::new(),
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lower::lower_v2;
    use crate::spec::TopologySpec;

    fn plant() -> LaneGraphSpec {
        let plan = crate::plan::PipelinePlanV2::from_toml(include_str!(
            "../../../../examples/plans/plant.toml"
        ))
        .unwrap();
        match lower_v2(&plan).unwrap().topology {
            TopologySpec::LaneGraph(g) => g,
            TopologySpec::SingleRing(_) => unreachable!(),
        }
    }

    fn role(graph: &LaneGraphSpec, name: &str) -> LaneEnd {
        LaneEnd::Role(graph.roles.iter().find(|r| r.name == name).unwrap().id)
    }

    #[test]
    fn inserted_roles_go_with_the_role_they_copy_for_or_gather_for() {
        let g = plant();
        assert_eq!(owner(&g, role(&g, "router.parse")), "parse");
        assert_eq!(owner(&g, role(&g, "bridge.router.parse.*")), "parse");
        assert_eq!(
            owner(&g, role(&g, "bridge.merge.decisions_out.risk")),
            "risk"
        );
        assert_eq!(owner(&g, role(&g, "merge.decisions_out")), "decisions_out");
        assert_eq!(owner(&g, role(&g, "book")), "book");
    }

    #[test]
    fn a_process_runs_its_roles_and_what_goes_with_them() {
        let g = plant();
        let p = Placement::of("plant", &g, &["parse", "packets_in"]).unwrap();
        assert!(p.here(role(&g, "parse")));
        assert!(p.here(role(&g, "router.parse")));
        assert!(!p.here(role(&g, "book")));
        assert!(!p.here(role(&g, "merge.decisions_out")));
        assert!(p.here(LaneEnd::Endpoint(0)), "packets_in");
        assert!(!p.here(LaneEnd::Endpoint(1)), "decisions_out");
    }

    #[test]
    fn unknown_and_inserted_names_are_refused_with_the_known_ones() {
        let g = plant();
        let err = Placement::of("plant", &g, &["parse", "router.parse", "nope"]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`router.parse`") && text.contains("`nope`"),
            "{text}"
        );
        assert!(
            text.contains("`packets_in`") && text.contains("`analytics`"),
            "{text}"
        );
        assert!(Placement::of("plant", &g, &[]).is_err());
    }
}
