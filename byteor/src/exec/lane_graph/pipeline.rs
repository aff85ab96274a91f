//! A built LaneGraph and how it starts: lanes made, roles started on their threads, endpoints
//! and the control handle handed back.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::backing::journal::JournalOptions;
use crate::exec::StageInfo;
use crate::kernel::lane::LaneCounts;
use crate::plan::PipelinePlanV2;
use crate::spec::{EndpointDirection, LaneEnd, PipelineSpecV1, TopologySpec};
use crate::vocab::RoleKind;

use super::error::{shape, GraphSpawnError};
use super::handles::{ErasedEnd, GraphControl, GraphEndpoints};
use super::node::Node;
use super::runtime::{ErasedLane, LaneContext, LaneOps, RoleBody};
use super::state::{next_graph_id, panic_text, GraphRuntime, RoleFailure};

/// A validated, lowered LaneGraph with its stages, ready to [`spawn`](Self::spawn).
pub struct LaneGraphPipeline {
    plan: PipelinePlanV2,
    spec: PipelineSpecV1,
    nodes: HashMap<String, Node>,
    id: u64,
    lanes: LaneContext,
}

impl std::fmt::Debug for LaneGraphPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaneGraphPipeline")
            .field("name", &self.plan.name)
            .finish_non_exhaustive()
    }
}

impl LaneGraphPipeline {
    /// A pipeline from a lowered plan and the nodes that implement it; `id` is the graph id
    /// its builder handles carry.
    pub(super) fn new(
        plan: PipelinePlanV2,
        spec: PipelineSpecV1,
        nodes: HashMap<String, Node>,
        id: u64,
    ) -> Self {
        LaneGraphPipeline {
            plan,
            spec,
            nodes,
            id,
            lanes: LaneContext::default(),
        }
    }

    /// A pipeline from a lowered plan and the nodes that implement it, with a fresh id (no
    /// builder handles refer to it).
    pub(super) fn from_parts(
        plan: PipelinePlanV2,
        spec: PipelineSpecV1,
        nodes: HashMap<String, Node>,
    ) -> Self {
        Self::new(plan, spec, nodes, next_graph_id())
    }

    /// The plan the builder wrote.
    pub fn plan(&self) -> &PipelinePlanV2 {
        &self.plan
    }

    /// The lowered spec.
    pub fn spec(&self) -> &PipelineSpecV1 {
        &self.spec
    }

    /// Where `Journal` lanes keep their segment files: each in `<dir>/<lane name>/`, created if
    /// missing. A journal lane that finds segments there (a restart) goes on after the last
    /// whole record — a torn tail is cut — and delivers what is written from then on; the
    /// records before stay readable with
    /// [`JournalReader`](crate::backing::journal::JournalReader). Required when the graph has
    /// journal lanes.
    pub fn journal_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.lanes.journal_root = Some(dir.into());
        self
    }

    /// How journal lanes roll and retain segments (default [`JournalOptions::default`]). Under
    /// `Block` a segment is never deleted before every attached reader has read it, whatever
    /// the size; under `Drop` retention is by size alone and a reader that falls behind it
    /// loses the deleted events (counted).
    pub fn journal_options(mut self, options: JournalOptions) -> Self {
        self.lanes.journal_options = options;
        self
    }

    /// Creates every lane and starts one thread per role; returns the endpoints (take a
    /// producer per ingress and a receiver per egress) and the control handle. If anything
    /// fails, the threads already started are stopped and joined first.
    pub fn spawn(mut self) -> Result<(GraphEndpoints, GraphControl), GraphSpawnError> {
        let TopologySpec::LaneGraph(graph) = &self.spec.topology else {
            return Err(shape(&self.spec.name, "not a LaneGraph spec"));
        };
        let graph = graph.clone();
        // The event type of each lane: its writer's output type, through inserted roles.
        let mut ops: Vec<Option<Arc<dyn LaneOps>>> = vec![None; graph.lanes.len()];
        for _ in 0..=graph.roles.len() {
            for lane in &graph.lanes {
                if ops[lane.id as usize].is_some() {
                    continue;
                }
                ops[lane.id as usize] = match lane.writer {
                    LaneEnd::Endpoint(e) => {
                        let name = &graph.endpoints[e as usize].name;
                        self.nodes.get(name).and_then(|n| n.output.clone())
                    }
                    LaneEnd::Role(r) => {
                        let role = &graph.roles[r as usize];
                        match role.kind {
                            RoleKind::Stage => {
                                self.nodes.get(&role.name).and_then(|n| n.output.clone())
                            }
                            _ => role.inputs.first().and_then(|&i| ops[i as usize].clone()),
                        }
                    }
                };
            }
        }
        let mut lanes: Vec<ErasedLane> = Vec::with_capacity(graph.lanes.len());
        for lane in &graph.lanes {
            let lane_ops = ops[lane.id as usize]
                .clone()
                .ok_or_else(|| shape(&lane.name, "its event type is unknown"))?;
            lanes.push(lane_ops.make(lane, &self.lanes)?);
        }
        // Hands out lane ends: a role's inputs are reader ends, its outputs writer ends.
        let take_reader = |lanes: &mut Vec<ErasedLane>, lane: u32, me: LaneEnd| {
            let spec = &graph.lanes[lane as usize];
            let k = spec.readers.iter().position(|&r| r == me).unwrap_or(0);
            lanes[lane as usize]
                .readers
                .get_mut(k)
                .and_then(Option::take)
                .ok_or_else(|| shape(&spec.name, format!("no reader end for {me}")))
        };
        let take_writer = |lanes: &mut Vec<ErasedLane>, lane: u32| {
            lanes[lane as usize]
                .writer
                .take()
                .ok_or_else(|| shape(&graph.lanes[lane as usize].name, "its writer is taken"))
        };
        let rt = Arc::new(GraphRuntime::new());
        let mut bodies: Vec<(String, RoleBody)> = Vec::new();
        for role in &graph.roles {
            let me = LaneEnd::Role(role.id);
            match role.kind {
                RoleKind::Stage => {
                    let ([input], [output]) = (&role.inputs[..], &role.outputs[..]) else {
                        return Err(shape(
                            &role.name,
                            "a stage role needs one input and one output lane",
                        ));
                    };
                    let starter = self
                        .nodes
                        .get_mut(&role.name)
                        .and_then(|n| n.stage.take())
                        .ok_or_else(|| shape(&role.name, "no stage of that name"))?;
                    let reader = take_reader(&mut lanes, *input, me)?;
                    let writer = take_writer(&mut lanes, *output)?;
                    let on_full = graph.lanes[*output as usize].on_full;
                    let info = StageInfo {
                        pipeline: self.plan.name.clone(),
                        stage: role.name.clone(),
                        id: role.id,
                        shard: 0,
                        shards: 1,
                    };
                    let body = starter(info, reader, writer, on_full, Arc::clone(&rt))
                        .map_err(|e| shape(&role.name, e))?;
                    bodies.push((role.name.clone(), body));
                }
                _ => {
                    let lane_ops = role
                        .inputs
                        .first()
                        .and_then(|&i| ops[i as usize].clone())
                        .ok_or_else(|| shape(&role.name, "an inserted role without an input"))?;
                    let mut inputs = Vec::new();
                    for &i in &role.inputs {
                        inputs.push(take_reader(&mut lanes, i, me)?);
                    }
                    let mut outputs = Vec::new();
                    for &o in &role.outputs {
                        outputs
                            .push((take_writer(&mut lanes, o)?, graph.lanes[o as usize].on_full));
                    }
                    let body = lane_ops
                        .copier(role.name.clone(), inputs, outputs, Arc::clone(&rt))
                        .map_err(|e| shape(&role.name, e))?;
                    bodies.push((role.name.clone(), body));
                }
            }
        }
        let mut endpoints = GraphEndpoints {
            graph: self.id,
            writers: HashMap::new(),
            readers: HashMap::new(),
            taken_producers: Vec::new(),
            taken_receivers: Vec::new(),
            rt: Arc::clone(&rt),
        };
        let mut ingress_closers = Vec::new();
        for ep in &graph.endpoints {
            let spec = &graph.lanes[ep.lane as usize];
            let event_type = ops[ep.lane as usize]
                .as_ref()
                .map_or("?", |o| o.event_type());
            match ep.direction {
                EndpointDirection::Ingress => {
                    let writer = take_writer(&mut lanes, ep.lane)?;
                    endpoints.writers.insert(
                        ep.name.clone(),
                        ErasedEnd {
                            end: writer,
                            on_full: spec.on_full,
                            event_type,
                        },
                    );
                    ingress_closers.push(ep.lane);
                }
                EndpointDirection::Egress => {
                    let reader = take_reader(&mut lanes, ep.lane, LaneEnd::Endpoint(ep.id))?;
                    endpoints.readers.insert(
                        ep.name.clone(),
                        ErasedEnd {
                            end: reader,
                            on_full: spec.on_full,
                            event_type,
                        },
                    );
                }
            }
        }
        // What the control handle keeps of each lane: its counts, and for ingress lanes how to
        // close them on shutdown.
        let mut metrics: Vec<(String, Box<dyn Fn() -> LaneCounts + Send + Sync>)> = Vec::new();
        let mut closers: Vec<Box<dyn Fn() + Send + Sync>> = Vec::new();
        for (spec, lane) in graph.lanes.iter().zip(lanes) {
            if ingress_closers.contains(&spec.id) {
                closers.push(lane.close);
            }
            metrics.push((spec.name.clone(), lane.counts));
        }
        let mut threads = Vec::with_capacity(bodies.len());
        for (name, body) in bodies {
            let rt_thread = Arc::clone(&rt);
            let role = name.clone();
            let spawned = std::thread::Builder::new()
                .name(crate::exec::thread_name(&self.plan.name, &name, None))
                .spawn(move || match catch_unwind(AssertUnwindSafe(body)) {
                    Ok(outcome) => outcome,
                    Err(payload) => {
                        let failure = RoleFailure {
                            role,
                            reason: panic_text(&*payload),
                        };
                        rt_thread.fail(failure.clone());
                        Err(failure)
                    }
                });
            match spawned {
                Ok(handle) => threads.push((name, handle)),
                Err(source) => {
                    rt.fail(RoleFailure {
                        role: name.clone(),
                        reason: "the graph did not start".into(),
                    });
                    for (_, t) in threads {
                        let _ = t.join();
                    }
                    return Err(GraphSpawnError::Thread { role: name, source });
                }
            }
        }
        let control = GraphControl {
            name: self.plan.name.clone(),
            rt,
            threads,
            metrics,
            closers,
        };
        Ok((endpoints, control))
    }
}
