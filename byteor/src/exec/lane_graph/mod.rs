//! LaneGraph pipelines in one process: typed lanes between stages, with the routers, merges and
//! bridges lowering inserts, every role on its own thread.
//!
//! Build a graph with [`LaneGraph::builder`]: ingresses and egresses with their event types,
//! stages with input and output types ([`LaneStage`]), and connections between an output and an
//! input of the same event type (a connection between different types does not compile). The
//! builder writes the same [`PipelinePlanV2`](crate::plan::PipelinePlanV2) a plan document would; `build` validates and
//! lowers it, so `describe`, `dot`, kv and the fingerprint work on graphs built in code.
//! [`LaneGraphPipeline::spawn`] starts one thread per role and hands back a typed producer per
//! ingress and receiver per egress, and the [`GraphControl`]. Plans authored as documents are
//! resolved by a [`GraphRegistry`] (stage kinds registered with their input and output event
//! types; every connection's types are checked); their endpoints are taken by name
//! ([`GraphEndpoints::producer_named`]).
//!
//! Lanes, by kind:
//! - `Events`, `SequencedSlots`, and `FanoutBroadcast` under `Block`: the in-place
//!   [`kernel::lane`](crate::kernel::lane) (any event type). Under `Block` nothing is lost;
//!   under `Drop` a full lane drops the new event and counts it.
//! - `FanoutBroadcast` under `Drop`: the lossy [`kernel::broadcast`](crate::kernel::broadcast)
//!   — the writer never waits; a reader a full lap behind loses the events written over it,
//!   counted per reader.
//! - `Journal`: segment files in `<journal_dir>/<lane>/`
//!   ([`backing::journal`](crate::backing::journal)). Under `Block` retention never deletes
//!   what an attached reader has not read; under `Drop` it is by size alone and a reader it
//!   overtakes loses the deleted events, counted.
//!
//! The last two store events as plain data: declare the writer's event type with
//! [`GraphBuilder::plain_data`] (or register the stage kind with
//! [`GraphRegistry::register_plain`]). For every lane and reader,
//! `published = delivered + dropped + lost` once the lane is quiescent ([`LaneMetrics`]).
//!
//! ```
//! use byteor::exec::lane_graph::{lane_fn, Emitter, LaneGraph};
//!
//! let mut g = LaneGraph::builder("numbers");
//! let input = g.ingress::<u64>("numbers_in");
//! let (double_in, double_out) = g.stage(
//!     "double",
//!     lane_fn(|n: &u64, out: &mut Emitter<'_, u64>| out.emit(|slot| *slot = n * 2)),
//! );
//! let output = g.egress::<u64>("numbers_out");
//! g.connect(&input, &double_in);
//! g.connect(&double_out, &output);
//! let (mut ends, control) = g.build()?.spawn()?;
//!
//! let mut producer = ends.producer(&input).unwrap();
//! let mut receiver = ends.receiver(&output).unwrap();
//! for n in 1..=3 {
//!     producer.publish(|slot| *slot = n)?;
//! }
//! drop(producer); // end of stream: the graph drains
//! let mut got = Vec::new();
//! while let Some(v) = receiver.recv_timeout(std::time::Duration::from_secs(5))? {
//!     got.push(v);
//! }
//! assert_eq!(got, [2, 4, 6]);
//! let report = control.join()?;
//! assert!(report.lanes.iter().all(|l| l.counts.adds_up()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod builder;
mod ends;
mod error;
mod handles;
mod node;
mod pipeline;
mod placement;
mod pod;
mod ports;
mod registry;
mod runtime;
#[cfg(all(target_os = "linux", not(loom)))]
mod shared;
mod stage;
mod state;

pub use builder::{GraphBuilder, LaneGraph};
pub use error::GraphSpawnError;
pub use handles::{
    EndpointError, GraphControl, GraphEndpoints, GraphError, GraphProducer, GraphReceiver,
    GraphRecvError, GraphReport, LaneMetrics,
};
pub use pipeline::LaneGraphPipeline;
pub use ports::{GraphBrand, Input, Output};
pub use registry::{GraphKindInfo, GraphRegistry, GraphResolveError, TypeMismatch};
#[cfg(all(target_os = "linux", not(loom)))]
pub use shared::shm_lane_path;
pub use stage::{lane_fn, Emitter, LaneFn, LaneStage};
pub use state::{LaneEvent, LaneWait, RoleFailure};
