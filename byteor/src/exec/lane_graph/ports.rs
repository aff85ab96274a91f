//! The handles the builder gives out for a graph's nodes: where events leave one
//! ([`Output`]) and where they enter one ([`Input`]).

use std::marker::PhantomData;

/// Where events leave a node: an ingress, or a stage's output. Connect it to an [`Input`] of
/// the same event type.
#[derive(Debug)]
pub struct Output<T> {
    pub(super) name: String,
    pub(super) graph: u64,
    pub(super) _events: PhantomData<fn() -> T>,
}

/// Where events enter a node: a stage's input, or an egress.
#[derive(Debug)]
pub struct Input<T> {
    pub(super) name: String,
    pub(super) graph: u64,
    pub(super) _events: PhantomData<fn(T)>,
}
