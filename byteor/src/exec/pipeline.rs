//! A built SingleRing pipeline and how it starts.

use crate::backing::{BackingError, MemRing, RingStorage};
use crate::kernel::WaitStrategy;
use crate::plan::PipelinePlanV2;
use crate::spec::PipelineSpecV1;

use super::control::Control;
use super::error::SpawnError;
use super::producer::Producer;
use super::routing::Router;
use super::threads::{mem_rings, provided_rings, start, RingRequest, Spawner, StageList};

/// A checked, lowered SingleRing pipeline with its stage instances, not yet running.
///
/// Inspect it with [`plan`](Self::plan) and [`spec`](Self::spec) (and
/// [`describe`](crate::spec::describe) / [`dot`](crate::spec::dot) on the spec); start it with
/// [`spawn`](Self::spawn).
pub struct SingleRingPipeline<E, L, K> {
    plan: PipelinePlanV2,
    pub(super) spec: PipelineSpecV1,
    pub(super) stages: L,
    pub(super) router: K,
    pub(super) strategy: WaitStrategy,
    _marker: std::marker::PhantomData<fn() -> E>,
}

impl<E, L, K> std::fmt::Debug for SingleRingPipeline<E, L, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingleRingPipeline")
            .field("name", &self.plan.name)
            .field("strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}

/// A built SingleRing pipeline whose stage list type is erased: nameable in signatures and
/// struct fields. Made by [`SingleRingPipeline::boxed`]; `K` is the shard router
/// ([`Unsharded`](super::Unsharded) unless the ring is sharded).
pub type BoxedPipeline<E, K = super::Unsharded> = SingleRingPipeline<E, BoxedStages<E>, K>;

/// A stage list whose concrete type is erased (see [`SingleRingPipeline::boxed`]). It runs over
/// [`MemRing`] storage only: over other storage its pipeline refuses to start
/// ([`SpawnError::Storage`]); keep the concrete pipeline type for `spawn_on` or shared memory.
pub struct BoxedStages<E: Send + Sync + 'static> {
    stages: Box<dyn ErasedStages<E>>,
    mutates: Vec<bool>,
}

impl<E: Send + Sync + 'static> std::fmt::Debug for BoxedStages<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxedStages")
            .field("stages", &self.mutates.len())
            .finish()
    }
}

impl<E: Send + Sync + 'static> BoxedStages<E> {
    fn new<L: StageList<E>>(stages: L) -> Self {
        BoxedStages {
            mutates: stages.mutates(),
            stages: Box::new(stages),
        }
    }
}

/// [`StageList::spawn_all`] callable through a box.
trait ErasedStages<E: Send + Sync + 'static>: Send {
    fn spawn_boxed(self: Box<Self>, spawner: &mut Spawner<MemRing<E>>) -> Result<(), SpawnError>;
}

impl<E: Send + Sync + 'static, L: StageList<E>> ErasedStages<E> for L {
    fn spawn_boxed(self: Box<Self>, spawner: &mut Spawner<MemRing<E>>) -> Result<(), SpawnError> {
        (*self).spawn_all(spawner)
    }
}

impl<E: Send + Sync + 'static> StageList<E> for BoxedStages<E> {
    fn mutates(&self) -> Vec<bool> {
        self.mutates.clone()
    }

    fn spawn_all<R: RingStorage<Event = E>>(
        self,
        spawner: &mut Spawner<R>,
    ) -> Result<(), SpawnError> {
        let any: &mut dyn std::any::Any = spawner;
        match any.downcast_mut::<Spawner<MemRing<E>>>() {
            Some(spawner) => self.stages.spawn_boxed(spawner),
            None => Err(SpawnError::Storage {
                shard: 0,
                problem: format!(
                    "a boxed pipeline runs over `MemRing` only, not `{}`; start the pipeline \
                     before boxing it",
                    std::any::type_name::<R>()
                ),
            }),
        }
    }
}

impl<E, L, K> SingleRingPipeline<E, L, K>
where
    E: Default + Send + Sync + 'static,
    L: StageList<E>,
    K: Router<E>,
{
    pub(crate) fn new(
        plan: PipelinePlanV2,
        spec: PipelineSpecV1,
        stages: L,
        router: K,
        strategy: WaitStrategy,
    ) -> Self {
        SingleRingPipeline {
            plan,
            spec,
            stages,
            router,
            strategy,
            _marker: std::marker::PhantomData,
        }
    }

    /// Erases the stage list's type, so the pipeline's type can be written down — to return
    /// it from a helper function or keep it in a struct field — as
    /// [`BoxedPipeline<E>`](BoxedPipeline) (or `BoxedPipeline<E, R>` for a sharded ring with
    /// router `R`).
    ///
    /// The erasure costs one virtual call per stage when the pipeline starts; the stage threads
    /// run the same monomorphised loops as before, with no dynamic dispatch per event.
    ///
    /// ```
    /// use byteor::exec::BoxedPipeline;
    /// use byteor::prelude::*;
    ///
    /// fn counting_pipeline(name: &str) -> Result<BoxedPipeline<u64>, BuildError> {
    ///     let pipeline = SingleRing::<u64>::build(name, |ring| {
    ///         let ring = ring.capacity(64).ingress("in").egress("out");
    ///         let (ring, parse) = ring.stage("parse", from_fn(|_: &u64, _: &EventContext| Ok(())));
    ///         let (ring, _) =
    ///             ring.stage_after("count", from_fn(|_: &u64, _: &EventContext| Ok(())), [parse]);
    ///         ring.build()
    ///     })?;
    ///     Ok(pipeline.boxed())
    /// }
    ///
    /// let (mut producer, control) = counting_pipeline("numbers")?.spawn()?;
    /// producer.publish(|e| *e = 7)?;
    /// producer.close();
    /// assert_eq!(control.join()?.processed("count"), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A sharded ring's router is part of the type too. A closure router has a type that
    /// cannot be named; implement [`Router`] on a small struct of your own instead (as cheap
    /// as the closure), and name the pipeline `BoxedPipeline<E, MyRouter>`.
    pub fn boxed(self) -> BoxedPipeline<E, K> {
        SingleRingPipeline {
            plan: self.plan,
            spec: self.spec,
            stages: BoxedStages::new(self.stages),
            router: self.router,
            strategy: self.strategy,
            _marker: std::marker::PhantomData,
        }
    }

    /// The plan the builder wrote (the same `PipelinePlanV2` a plan document or the
    /// `#[pipeline]` macro would give).
    pub fn plan(&self) -> &PipelinePlanV2 {
        &self.plan
    }

    /// The lowered, validated spec the pipeline runs.
    pub fn spec(&self) -> &PipelineSpecV1 {
        &self.spec
    }

    /// The wait strategy of stage threads and of the producer.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.strategy
    }

    /// Starts one thread per stage and shard and returns the producer and the control handle.
    ///
    /// Threads are named within Linux's 15-byte limit so `ps`/`top` show them whole: see
    /// [`thread_name`](super::thread_name). If anything fails — the OS refuses a thread, a stage factory panics,
    /// ring memory cannot be allocated — the threads already started are stopped and joined
    /// before the error is returned; `spawn` itself never panics.
    pub fn spawn(self) -> Result<(Producer<E, K>, Control<E>), SpawnError> {
        let rings = mem_rings::<E>(&self.spec)?;
        let stages = self.stages;
        start(&self.spec, self.strategy, self.router, rings, |spawner| {
            stages.spawn_all(spawner)
        })
    }

    /// Like [`spawn`](Self::spawn), but over ring storage the caller provides: `make` is
    /// called once per shard with the ring it must provide (capacity and stage count) and
    /// returns a fresh ring — every sequence at 0 — of any [`RingStorage`] type. The stage
    /// loops and the producer are monomorphised for `R`, exactly as for [`MemRing`]; the
    /// storage is read once per thread start, never per event.
    ///
    /// A ring that does not match the request, or is not fresh, is refused with
    /// [`SpawnError::Storage`]; `make`'s own errors come back as [`SpawnError::Backing`].
    ///
    /// ```
    /// use byteor::backing::MemRing;
    /// use byteor::prelude::*;
    ///
    /// let pipeline = SingleRing::<u64>::build("custom", |ring| {
    ///     let ring = ring.capacity(64).ingress("in").egress("out");
    ///     let (ring, _) = ring.stage("sum", from_fn(|_: &u64, _: &EventContext| Ok(())));
    ///     ring.build()
    /// })?;
    /// // Any storage works; here the in-process ring, made by the caller.
    /// let (mut producer, control) =
    ///     pipeline.spawn_on(|want| MemRing::<u64>::new(want.capacity, want.stages))?;
    /// producer.publish(|e| *e = 1)?;
    /// producer.close();
    /// assert_eq!(control.join()?.processed("sum"), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn spawn_on<R, F>(self, make: F) -> Result<(Producer<E, K, R>, Control<E, R>), SpawnError>
    where
        R: RingStorage<Event = E>,
        F: FnMut(RingRequest) -> Result<R, BackingError>,
    {
        let rings = provided_rings(&self.spec, make)?;
        let stages = self.stages;
        start(&self.spec, self.strategy, self.router, rings, |spawner| {
            stages.spawn_all(spawner)
        })
    }
}
