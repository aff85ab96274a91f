//! The typed LaneGraph builder: ingresses, egresses, stages and connections, written into the
//! same `PipelinePlanV2` a plan document gives.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::exec::BuildError;
use crate::lower::lower_v2;
use crate::plan::{Connection, LaneIntent, PipelinePlanV2, StageDecl};
use crate::vocab::OnFull;

use super::node::Node;
use super::pipeline::LaneGraphPipeline;
use super::ports::{Input, Output};
use super::runtime::TypedOps;
use super::stage::LaneStage;
use super::state::{next_graph_id, LaneEvent};

/// Entry point of the LaneGraph builder.
#[derive(Debug)]
pub struct LaneGraph;

impl LaneGraph {
    /// A builder for a graph named `name`, with `on_full = Block`.
    pub fn builder(name: impl Into<String>) -> GraphBuilder {
        GraphBuilder {
            plan: PipelinePlanV2::lane_graph(name),
            nodes: HashMap::new(),
            id: next_graph_id(),
            foreign: Vec::new(),
        }
    }
}

/// Builds a LaneGraph: see the [module docs](self).
pub struct GraphBuilder {
    plan: PipelinePlanV2,
    nodes: HashMap<String, Node>,
    /// This builder's id: its handles carry it, so a handle from another builder is caught.
    id: u64,
    /// Connections that used another builder's handle: `(from, to)`.
    foreign: Vec<(String, String)>,
}

impl std::fmt::Debug for GraphBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphBuilder")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl GraphBuilder {
    /// What a writer does when a lane is full, for every lane without its own setting.
    pub fn on_full(&mut self, on_full: OnFull) -> &mut Self {
        if let Some(g) = self.plan.lane_graph.as_mut() {
            g.on_full = Some(on_full);
        }
        self
    }

    /// An ingress of events of type `T`.
    pub fn ingress<T: LaneEvent>(&mut self, name: &str) -> Output<T> {
        self.plan.ingress.push(crate::plan::BoundaryDecl::new(name));
        self.nodes.insert(
            name.to_owned(),
            Node::ingress(Arc::new(TypedOps::<T>::new())),
        );
        Output {
            name: name.to_owned(),
            graph: self.id,
            _events: PhantomData,
        }
    }

    /// An egress of events of type `T`.
    pub fn egress<T: LaneEvent>(&mut self, name: &str) -> Input<T> {
        self.plan.egress.push(crate::plan::BoundaryDecl::new(name));
        Input {
            name: name.to_owned(),
            graph: self.id,
            _events: PhantomData,
        }
    }

    /// A stage reading `In` and emitting `Out`.
    pub fn stage<In: LaneEvent, Out: LaneEvent, S: LaneStage<In, Out>>(
        &mut self,
        name: &str,
        stage: S,
    ) -> (Input<In>, Output<Out>) {
        self.plan.stages.push(StageDecl::new(name));
        self.nodes.insert(name.to_owned(), Node::stage(stage));
        (
            Input {
                name: name.to_owned(),
                graph: self.id,
                _events: PhantomData,
            },
            Output {
                name: name.to_owned(),
                graph: self.id,
                _events: PhantomData,
            },
        )
    }

    /// Connects `from` to `to` over an `Events` lane of the default capacity.
    pub fn connect<T>(&mut self, from: &Output<T>, to: &Input<T>) -> &mut Self {
        self.connect_with(from, to, LaneIntent::events())
    }

    /// Connects `from` to `to` over the lane `lane` asks for. Both handles must come from this
    /// builder (a handle from another one is reported by [`build`](Self::build)).
    pub fn connect_with<T>(
        &mut self,
        from: &Output<T>,
        to: &Input<T>,
        lane: LaneIntent,
    ) -> &mut Self {
        if from.graph != self.id || to.graph != self.id {
            self.foreign.push((from.name.clone(), to.name.clone()));
            return self;
        }
        self.plan
            .lane_graph
            .get_or_insert_with(Default::default)
            .connections
            .push(Connection::new(from.name.clone(), to.name.clone()).lane(lane));
        self
    }

    /// The plan written so far.
    pub fn plan(&self) -> &PipelinePlanV2 {
        &self.plan
    }

    /// Validates and lowers the plan (every violation reported), keeping the stages for
    /// [`LaneGraphPipeline::spawn`].
    pub fn build(self) -> Result<LaneGraphPipeline, BuildError> {
        if let Some((from, to)) = self.foreign.into_iter().next() {
            return Err(BuildError::ForeignHandle { from, to });
        }
        let spec = lower_v2(&self.plan)?;
        Ok(LaneGraphPipeline::new(self.plan, spec, self.nodes, self.id))
    }
}
