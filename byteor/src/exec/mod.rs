//! The executor: stage traits, the typed builder, producer and control handles.
//!
//! A SingleRing pipeline runs one thread per stage (and shard), embedded in the caller's
//! process. The producer writes events in place into a pre-allocated ring; each stage handles
//! every event after the stages it depends on, in batches; the producer reuses a slot once
//! every final stage has passed it. Nothing is allocated, locked or dispatched dynamically per
//! event: stages are monomorphised into their thread loops.
//!
//! ```
//! use byteor::prelude::*;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//!
//! let total = Arc::new(AtomicU64::new(0));
//! let sink = Arc::clone(&total);
//! let pipeline = SingleRing::<u64>::build("sum", |ring| {
//!     let ring = ring.capacity(256).ingress("numbers").egress("total");
//!     let (ring, double) = ring.stage("double", from_fn_mut(|v: &mut u64, _: &EventContext| {
//!         *v *= 2;
//!         Ok(())
//!     }));
//!     let (ring, _) = ring.stage_after("sum", from_fn(move |v: &u64, _: &EventContext| {
//!         sink.fetch_add(*v, Ordering::Relaxed);
//!         Ok(())
//!     }), [double]);
//!     ring.build()
//! })?;
//!
//! let (mut producer, control) = pipeline.spawn()?;
//! for i in 1..=100u64 {
//!     producer.publish(|slot| *slot = i)?;
//! }
//! drop(producer); // end of stream
//! let report = control.join()?;
//! assert_eq!(report.processed("sum"), 100);
//! assert_eq!(total.load(Ordering::Relaxed), 2 * 5050);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod builder;
mod control;
mod descriptor;
pub mod egress;
mod error;
pub mod lane_graph;
mod pipeline;
#[cfg(feature = "async")]
mod poll_spin;
mod producer;
mod registry;
mod routing;
mod runtime;
#[cfg(all(target_os = "linux", not(loom)))]
mod shm;
mod stage;
mod threads;
mod topology;
pub mod tuning;

pub use builder::{
    per_shard, source, state, IntoShardedStage, IntoStage, PerShard, RingBuilder, RingIsFull,
    SingleRing, StageRef, StageSlots,
};
pub use control::{
    Control, JoinError, PipelineMetrics, PipelineReport, PipelineState, ShardMetrics, StageMetrics,
    StageReport,
};
/// Plumbing the `StageDescriptor` derive expands to; not API.
#[doc(hidden)]
pub use descriptor::{read_param, reject_unknown_params};
pub use descriptor::{FromParam, ParamError, ParamSpec, StageDescriptor, ValueError};
pub use error::{
    BuildError, PipelineError, PublishError, SpawnError, StageFailure, TryPublishError,
};
pub use pipeline::{BoxedPipeline, BoxedStages, SingleRingPipeline};
pub use producer::Producer;
#[cfg(feature = "async")]
pub use producer::{PublishAsync, PublishBatchAsync};
pub use registry::{
    DuplicateKind, EgressTap, KindInfo, ResolveError, ResolvedPipeline, ResolvedSpawnError,
    StageRegistry, StageResolveError,
};
pub use routing::{shard_for_key, KeyRouter, Router, ShardKey, Unsharded};
#[cfg(all(target_os = "linux", not(loom)))]
pub use shm::{shm_region_path, ShmRunOptions};
pub use stage::{
    access, from_fn, from_fn_mut, BatchContext, EventContext, FnMutStage, FnStage, MutStage, Stage,
    StageError, StageImpl, StageInfo,
};
/// Types the builder's type parameters name (a built pipeline's stage list, its entries and
/// where their instances come from, the spawner they start on): public so that those types
/// can be written down, not meant to be used directly.
#[doc(hidden)]
pub use stage::{StageEntry, StageFactory};
#[doc(hidden)]
pub use threads::Spawner;
pub use threads::{thread_name, RingRequest, StageList, THREAD_NAME_MAX_BYTES};
