//! The typed LaneGraph builder: ingresses, egresses, stages and connections, written into the
//! same `PipelinePlanV2` a plan document gives.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::abi::ShmEvent;
use crate::exec::BuildError;
use crate::kernel::broadcast::Pod;
use crate::lower::lower_v2;
use crate::plan::{BoundaryLanePolicy, Connection, LaneIntent, PipelinePlanV2, StageDecl};
use crate::vocab::OnFull;

use super::node::Node;
use super::pipeline::LaneGraphPipeline;
use super::pod::{PodOps, ShmOps};
use super::ports::{GraphBrand, Input, Output};
use super::runtime::{LaneOps, TypedOps};
use super::stage::LaneStage;
use super::state::{next_graph_id, LaneEvent};

/// Entry point of the LaneGraph builder.
#[derive(Debug)]
pub struct LaneGraph;

impl LaneGraph {
    /// A builder for a graph named `name`, with `on_full = Block`. Its handles may leave the
    /// code that builds the graph (to take producers and receivers with after `spawn`); one
    /// used with another builder is reported by [`GraphBuilder::build`]. For a check at
    /// compile time, build in a closure: [`build`](Self::build).
    pub fn builder(name: impl Into<String>) -> GraphBuilder {
        GraphBuilder::new(name)
    }

    /// Builds a graph named `name` in `wire`, whose builder's handles are branded with a
    /// lifetime of their own ([`GraphBrand`]): a handle of another builder does not compile
    /// where this one's are expected, and no handle leaves the closure (take producers and
    /// receivers by name: [`GraphEndpoints::producer_named`](super::GraphEndpoints::producer_named)).
    ///
    /// ```
    /// use byteor::exec::lane_graph::{lane_fn, Emitter, LaneGraph};
    ///
    /// let pipeline = LaneGraph::build("double", |mut g| {
    ///     let input = g.ingress::<u64>("in");
    ///     let (d_in, d_out) = g.stage(
    ///         "double",
    ///         lane_fn(|n: &u64, out: &mut Emitter<'_, u64>| out.emit(|s| *s = n * 2)),
    ///     );
    ///     let output = g.egress::<u64>("out");
    ///     g.connect(&input, &d_in).connect(&d_out, &output);
    ///     g.build()
    /// })?;
    /// let (mut ends, control) = pipeline.spawn()?;
    /// let mut producer = ends.producer_named::<u64>("in")?;
    /// let mut receiver = ends.receiver_named::<u64>("out")?;
    /// producer.publish(|s| *s = 21)?;
    /// drop(producer);
    /// assert_eq!(receiver.recv_timeout(std::time::Duration::from_secs(5))?, Some(42));
    /// control.join()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A handle of another graph is a type error:
    ///
    /// ```compile_fail
    /// use byteor::exec::lane_graph::LaneGraph;
    ///
    /// LaneGraph::build("a", |mut a| {
    ///     let a_in = a.ingress::<u64>("a_in");
    ///     LaneGraph::build("b", |mut b| {
    ///         let b_out = b.egress::<u64>("b_out");
    ///         b.connect(&a_in, &b_out); // `a_in` belongs to `a`
    ///         b.build()
    ///     })
    /// });
    /// ```
    pub fn build<R>(
        name: impl Into<String>,
        wire: impl for<'id> FnOnce(GraphBuilder<GraphBrand<'id>>) -> R,
    ) -> R {
        wire(GraphBuilder::new(name))
    }
}

/// Builds a LaneGraph: see the [module docs](super). `B` brands its handles: `()` for
/// [`LaneGraph::builder`], a [`GraphBrand`] for [`LaneGraph::build`].
pub struct GraphBuilder<B = ()> {
    plan: PipelinePlanV2,
    nodes: HashMap<String, Node>,
    /// This builder's id: its handles carry it, so a handle from another builder is caught.
    id: u64,
    /// Connections that used another builder's handle: `(from, to)`.
    foreign: Vec<(String, String)>,
    _brand: PhantomData<B>,
}

impl<B> GraphBuilder<B> {
    fn new(name: impl Into<String>) -> Self {
        GraphBuilder {
            plan: PipelinePlanV2::lane_graph(name),
            nodes: HashMap::new(),
            id: next_graph_id(),
            foreign: Vec::new(),
            _brand: PhantomData,
        }
    }
}

impl<B> std::fmt::Debug for GraphBuilder<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphBuilder")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl<B> GraphBuilder<B> {
    /// What a writer does when a lane is full, for every lane without its own setting.
    pub fn on_full(&mut self, on_full: OnFull) -> &mut Self {
        if let Some(g) = self.plan.lane_graph.as_mut() {
            g.on_full = Some(on_full);
        }
        self
    }

    /// How boundary lanes — the lanes an ingress writes and an egress reads — behave: their
    /// kind, capacity and `on_full` (the plan's `[lane_graph.boundary]`). Default: `Events`
    /// lanes of the default capacity under the graph's `on_full`. A boundary lane of the kind
    /// the connections ask for needs no inserted bridge: an ingress feeding several stages
    /// over a broadcast lane writes it directly when the boundary kind is `FanoutBroadcast`.
    /// A boundary `on_full` of `Drop` in a `Block` graph lets a slow egress consumer lose
    /// events (counted) instead of holding the graph back.
    pub fn boundary(&mut self, policy: BoundaryLanePolicy) -> &mut Self {
        self.plan
            .lane_graph
            .get_or_insert_with(Default::default)
            .boundary = policy;
        self
    }

    /// An ingress of events of type `T`.
    pub fn ingress<T: LaneEvent>(&mut self, name: &str) -> Output<T, B> {
        self.plan.ingress.push(crate::plan::BoundaryDecl::new(name));
        self.nodes.insert(
            name.to_owned(),
            Node::ingress(Arc::new(TypedOps::<T>::new())),
        );
        Output {
            name: name.to_owned(),
            graph: self.id,
            _events: PhantomData,
            _brand: PhantomData,
        }
    }

    /// An egress of events of type `T`.
    pub fn egress<T: LaneEvent>(&mut self, name: &str) -> Input<T, B> {
        self.plan.egress.push(crate::plan::BoundaryDecl::new(name));
        Input {
            name: name.to_owned(),
            graph: self.id,
            _events: PhantomData,
            _brand: PhantomData,
        }
    }

    /// A stage reading `In` and emitting `Out`.
    pub fn stage<In: LaneEvent, Out: LaneEvent, S: LaneStage<In, Out>>(
        &mut self,
        name: &str,
        stage: S,
    ) -> (Input<In, B>, Output<Out, B>) {
        self.plan.stages.push(StageDecl::new(name));
        self.nodes.insert(
            name.to_owned(),
            Node::stage(stage, Arc::new(TypedOps::<Out>::new())),
        );
        (
            Input {
                name: name.to_owned(),
                graph: self.id,
                _events: PhantomData,
                _brand: PhantomData,
            },
            Output {
                name: name.to_owned(),
                graph: self.id,
                _events: PhantomData,
                _brand: PhantomData,
            },
        )
    }

    /// Connects `from` to `to` over an `Events` lane of the default capacity.
    pub fn connect<T>(&mut self, from: &Output<T, B>, to: &Input<T, B>) -> &mut Self {
        self.connect_with(from, to, LaneIntent::events())
    }

    /// Connects `from` to `to` over the lane `lane` asks for. Both handles must come from this
    /// builder (a handle from another one is reported by [`build`](Self::build)).
    pub fn connect_with<T>(
        &mut self,
        from: &Output<T, B>,
        to: &Input<T, B>,
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

    /// Declares the events leaving `from` (an ingress or a stage's output) plain data, so its
    /// lanes may be of every kind: `Journal` lanes, and `FanoutBroadcast` lanes under `Drop`,
    /// store events as plain data and need it (without it `spawn` refuses them with
    /// [`GraphSpawnError::NotPlainData`](super::GraphSpawnError::NotPlainData)). Inserted
    /// routers, merges and bridges downstream carry the same type and inherit it.
    ///
    /// ```
    /// use byteor::exec::lane_graph::{lane_fn, Emitter, LaneGraph};
    /// use byteor::plan::LaneIntent;
    /// use byteor::vocab::LaneKind;
    ///
    /// let dir = std::env::temp_dir().join(format!("byteor-plain-data-doc-{}", std::process::id()));
    /// let mut g = LaneGraph::builder("captured");
    /// let input = g.ingress::<u64>("ticks");
    /// let pass = |v: &u64, out: &mut Emitter<'_, u64>| out.emit(|s| *s = *v);
    /// let (a_in, a_out) = g.stage("a", lane_fn(pass));
    /// let (b_in, b_out) = g.stage("b", lane_fn(pass));
    /// let output = g.egress::<u64>("ticks_out");
    /// g.plain_data(&a_out); // u64 is plain data: `a` may write a journal lane
    /// g.connect(&input, &a_in)
    ///     .connect_with(&a_out, &b_in, LaneIntent::of(LaneKind::Journal))
    ///     .connect(&b_out, &output);
    /// let (mut ends, control) = g.build()?.journal_dir(&dir).spawn()?;
    /// let mut producer = ends.producer(&input).unwrap();
    /// let mut receiver = ends.receiver(&output).unwrap();
    /// producer.publish_batch(3, |i, slot| *slot = i as u64 * 10)?;
    /// drop(producer);
    /// let mut got = Vec::new();
    /// while let Some(v) = receiver.recv_timeout(std::time::Duration::from_secs(5))? {
    ///     got.push(v);
    /// }
    /// assert_eq!(got, [0, 10, 20]);
    /// control.join()?;
    /// // The journal keeps the records: `dir/a->b/` holds its segment files.
    /// assert!(dir.join("a->b").is_dir());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn plain_data<T: LaneEvent + Pod>(&mut self, from: &Output<T, B>) -> &mut Self {
        self.output_ops(from, Arc::new(PodOps::<T>::new()))
    }

    /// Declares the events `from` emits a `#[derive(ShmEvent)]` type, as
    /// [`plain_data`](Self::plain_data) does, so that the lanes it writes may also run between
    /// processes in shared memory ([`LaneGraphPipeline::spawn_shm`]).
    pub fn shm_event<T: LaneEvent + Pod + ShmEvent>(&mut self, from: &Output<T, B>) -> &mut Self {
        self.output_ops(from, Arc::new(ShmOps::<T>::new()))
    }

    /// Makes the lanes `from` writes with `ops` (a handle of another builder is reported by
    /// [`build`](Self::build)).
    fn output_ops<T>(&mut self, from: &Output<T, B>, ops: Arc<dyn LaneOps>) -> &mut Self {
        if from.graph != self.id {
            self.foreign.push((from.name.clone(), String::new()));
            return self;
        }
        if let Some(node) = self.nodes.get_mut(&from.name) {
            node.output = Some(ops);
        }
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
