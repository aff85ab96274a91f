//! The handles the builder gives out for a graph's nodes: where events leave one
//! ([`Output`]) and where they enter one ([`Input`]).

use std::marker::PhantomData;

/// The brand of the handles of a graph built with [`LaneGraph::build`](super::LaneGraph::build):
/// an invariant lifetime unique to that builder, so a handle of another builder does not
/// compile where this one's are expected, and no handle outlives the closure.
#[derive(Debug)]
pub struct GraphBrand<'id>(PhantomData<fn(&'id ()) -> &'id ()>);

/// Where events leave a node: an ingress, or a stage's output. Connect it to an [`Input`] of
/// the same event type (and the same builder: `B` is its brand, `()` for
/// [`LaneGraph::builder`](super::LaneGraph::builder), whose handles are checked when the graph
/// is built).
#[derive(Debug)]
pub struct Output<T, B = ()> {
    pub(super) name: String,
    pub(super) graph: u64,
    pub(super) _events: PhantomData<fn() -> T>,
    pub(super) _brand: PhantomData<B>,
}

/// Where events enter a node: a stage's input, or an egress.
#[derive(Debug)]
pub struct Input<T, B = ()> {
    pub(super) name: String,
    pub(super) graph: u64,
    pub(super) _events: PhantomData<fn(T)>,
    pub(super) _brand: PhantomData<B>,
}
