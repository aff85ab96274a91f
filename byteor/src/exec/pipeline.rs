//! A built SingleRing pipeline and how it starts.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::kernel::WaitStrategy;
use crate::plan::PipelinePlanV2;
use crate::spec::PipelineSpecV1;

use super::builder::{single_ring_of, Router, StageFactory, StageList};
use super::control::Control;
use super::error::{SpawnError, StageFailure};
use super::producer::Producer;
use super::runtime::{panic_message, run_stage, BatchHandler, Runtime, Typed};
use super::stage::StageImpl;
use crate::backing::check_ring_bytes;
use crate::backing::{BackingError, MemRing, RingStorage};

/// A checked, lowered SingleRing pipeline with its stage instances, not yet running.
///
/// Inspect it with [`plan`](Self::plan) and [`spec`](Self::spec) (and
/// [`describe`](crate::spec::describe) / [`dot`](crate::spec::dot) on the spec); start it with
/// [`spawn`](Self::spawn).
pub struct SingleRingPipeline<E, L, K> {
    plan: PipelinePlanV2,
    spec: PipelineSpecV1,
    stages: L,
    router: K,
    strategy: WaitStrategy,
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
/// [`MemRing`] storage.
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

    fn spawn_all(self, spawner: &mut Spawner<MemRing<E>>) -> Result<(), SpawnError> {
        self.stages.spawn_boxed(spawner)
    }
}

/// One started stage thread.
pub(crate) struct StageThread {
    pub(crate) label: String,
    pub(crate) stage: String,
    pub(crate) shard: u32,
    pub(crate) handle: JoinHandle<Result<u64, StageFailure>>,
}

/// Starts stage threads for a pipeline; used by [`StageList::spawn_all`].
pub struct Spawner<R: RingStorage> {
    rt: Arc<Runtime<R>>,
    threads: Vec<StageThread>,
}

impl<R: RingStorage> std::fmt::Debug for Spawner<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawner")
            .field("threads", &self.threads.len())
            .finish()
    }
}

impl<R: RingStorage> Drop for Spawner<R> {
    /// Stops and joins every thread started so far. On success `start` takes the threads
    /// out first, so this only acts when starting failed or unwound: no stage thread outlives
    /// a failed `spawn`.
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.rt.fail(StageFailure {
            stage: "<spawn>".into(),
            shard: 0,
            sequence: None,
            reason: "the pipeline did not start".into(),
            panicked: false,
        });
        for t in self.threads.drain(..) {
            let _ = t.handle.join();
        }
    }
}

impl<E: Default + Send + Sync + 'static, R: RingStorage<Event = E>> Spawner<R> {
    /// Starts one thread per shard for stage `id`.
    pub(crate) fn spawn_stage<S, M>(
        &mut self,
        id: usize,
        mut factory: StageFactory<S>,
    ) -> Result<(), SpawnError>
    where
        S: StageImpl<E, M>,
        M: 'static,
    {
        let shards = self.rt.shards.len() as u32;
        let mut handlers = Vec::with_capacity(shards as usize);
        for shard in 0..shards {
            // The factory is user code (a `per_shard` closure, a `Clone` impl): a panic in it
            // is this stage's start-up error, not a panic out of `spawn`.
            let made = catch_unwind(AssertUnwindSafe(|| factory.make(shard))).map_err(|p| {
                SpawnError::InstancePanicked {
                    stage: self.rt.stage_names[id].clone(),
                    shard,
                    reason: panic_message(&*p),
                }
            })?;
            let stage = made.ok_or_else(|| SpawnError::MissingInstance {
                stage: self.rt.stage_names[id].clone(),
                shard,
            })?;
            handlers.push(Typed::<S, M>::new(stage));
        }
        self.spawn_handlers(id, handlers)
    }

    /// Starts one thread per handler (one handler per shard, in shard order) for stage `id`.
    pub(crate) fn spawn_handlers<H>(
        &mut self,
        id: usize,
        handlers: Vec<H>,
    ) -> Result<(), SpawnError>
    where
        H: BatchHandler<E> + 'static,
    {
        let shards = self.rt.shards.len() as u32;
        let stage_name = self.rt.stage_names[id].clone();
        for (shard, handler) in (0..shards).zip(handlers) {
            let label = if shards > 1 {
                format!("{stage_name}-{shard}")
            } else {
                stage_name.clone()
            };
            let rt = Arc::clone(&self.rt);
            let sharded = (shards > 1).then_some(shard);
            let handle = std::thread::Builder::new()
                .name(thread_name(&self.rt.name, &stage_name, sharded))
                .spawn(move || {
                    // Move the stage onto this thread's stack: left in the spawn closure's heap
                    // block, the fields it writes per event could share a cache line with data
                    // the producer reads per publish (false sharing on every event).
                    let mut handler = handler;
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        run_stage::<R, H>(&rt, shard as usize, id, &mut handler)
                    }));
                    let outcome = match result {
                        Ok(outcome) => outcome,
                        Err(payload) => Err(StageFailure {
                            stage: rt.stage_names[id].clone(),
                            shard,
                            sequence: None,
                            reason: panic_message(&*payload),
                            panicked: true,
                        }),
                    };
                    if let Err(failure) = &outcome {
                        rt.fail(failure.clone());
                    }
                    outcome
                })
                .map_err(|source| SpawnError::Thread {
                    stage: stage_name.clone(),
                    shard,
                    source,
                })?;
            self.threads.push(StageThread {
                label,
                stage: stage_name.clone(),
                shard,
                handle,
            });
        }
        Ok(())
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
    /// [`thread_name`]. If anything fails — the OS refuses a thread, a stage factory panics,
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
        L: StageList<E, R>,
        F: FnMut(RingRequest) -> Result<R, BackingError>,
    {
        let rings = provided_rings(&self.spec, make)?;
        let stages = self.stages;
        start(&self.spec, self.strategy, self.router, rings, |spawner| {
            stages.spawn_all(spawner)
        })
    }
}

/// The ring one shard of a pipeline needs, as asked of the storage provider of
/// [`SingleRingPipeline::spawn_on`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingRequest {
    /// The shard the ring serves.
    pub shard: u32,
    /// Slots (a power of two).
    pub capacity: u64,
    /// Stage sequences.
    pub stages: usize,
}

/// The requests for every shard of a SingleRing spec.
fn ring_requests(spec: &PipelineSpecV1) -> impl Iterator<Item = RingRequest> + '_ {
    let ring = single_ring_of(spec);
    (0..ring.shards).map(move |shard| RingRequest {
        shard,
        capacity: u64::from(ring.capacity),
        stages: spec.stages.len(),
    })
}

/// In-process rings for every shard of `spec`, within the memory limit, allocated fallibly.
pub(crate) fn mem_rings<E: Default + Send + Sync + 'static>(
    spec: &PipelineSpecV1,
) -> Result<Vec<MemRing<E>>, SpawnError> {
    let ring = single_ring_of(spec);
    check_ring_bytes::<E>(
        &format!("pipeline `{}`", spec.name),
        u64::from(ring.capacity),
        u64::from(ring.shards),
    )?;
    ring_requests(spec)
        .map(|want| Ok(MemRing::new(want.capacity, want.stages)?))
        .collect()
}

/// Rings from a caller's provider, each checked against what was asked.
fn provided_rings<R: RingStorage>(
    spec: &PipelineSpecV1,
    mut make: impl FnMut(RingRequest) -> Result<R, BackingError>,
) -> Result<Vec<R>, SpawnError> {
    ring_requests(spec)
        .map(|want| {
            let ring = make(want)?;
            let mismatch = |what: &str, found: u64, expected: u64| SpawnError::Storage {
                shard: want.shard,
                problem: format!("{what} is {found}, expected {expected}"),
            };
            if ring.capacity() != want.capacity {
                return Err(mismatch("capacity", ring.capacity(), want.capacity));
            }
            if ring.slots().len() as u64 != want.capacity {
                return Err(mismatch(
                    "slot count",
                    ring.slots().len() as u64,
                    want.capacity,
                ));
            }
            let stages = ring.stage_sequences();
            if stages.len() != want.stages {
                return Err(mismatch(
                    "stage sequence count",
                    stages.len() as u64,
                    want.stages as u64,
                ));
            }
            if let Some(used) = std::iter::once(ring.cursor())
                .chain(stages)
                .map(|s| s.load_relaxed())
                .find(|&v| v != 0)
            {
                return Err(mismatch("a sequence of a fresh ring", used, 0));
            }
            Ok(ring)
        })
        .collect()
}

/// Creates the runtime of a lowered SingleRing spec over `rings` (one per shard), starts the
/// stage threads with `spawn`, and hands back the producer and control handles. If a thread
/// cannot start, the ones already running are stopped and joined before the error is
/// returned.
#[allow(clippy::type_complexity)]
pub(crate) fn start<E, K, R>(
    spec: &PipelineSpecV1,
    strategy: WaitStrategy,
    router: K,
    rings: Vec<R>,
    spawn: impl FnOnce(&mut Spawner<R>) -> Result<(), SpawnError>,
) -> Result<(Producer<E, K, R>, Control<E, R>), SpawnError>
where
    E: Default + Send + Sync + 'static,
    K: Router<E>,
    R: RingStorage<Event = E>,
{
    let ring = single_ring_of(spec);
    let rt = Arc::new(Runtime::new(
        spec.name.clone(),
        spec.stages.iter().map(|s| s.name.clone()).collect(),
        ring.deps.clone(),
        ring.final_stages().collect(),
        strategy,
        rings,
    ));
    let mut spawner = Spawner {
        rt: Arc::clone(&rt),
        threads: Vec::with_capacity(spec.stages.len() * ring.shards as usize),
    };
    // On an error or an unwind, dropping the spawner stops and joins what started.
    spawn(&mut spawner)?;
    let threads = std::mem::take(&mut spawner.threads);
    drop(spawner);
    let producer = Producer::new(Arc::clone(&rt), router);
    let control = Control::new(rt, threads);
    Ok((producer, control))
}

/// Longest thread name Linux keeps (16 bytes with the terminating NUL); a longer one is cut
/// short in `ps`, `top` and `/proc/<pid>/task/*/comm`.
pub const THREAD_NAME_MAX_BYTES: usize = 15;

/// The name of the thread running `stage` of `pipeline` (on `shard`, for sharded rings).
///
/// The scheme keeps names readable within [`THREAD_NAME_MAX_BYTES`] (the full names stay in
/// metrics, reports and errors):
///
/// 1. a sharded ring's threads end in `.<shard>`, kept whole;
/// 2. the stage name comes next, cut to the bytes left;
/// 3. if at least two bytes remain, the pipeline name is put in front, cut to fit, followed
///    by `:`.
///
/// Characters other than ASCII letters, digits, `_`, `-` and `.` become `_` (plan validation
/// refuses them in names anyway; a spec built in code is not trusted to).
///
/// ```
/// use byteor::exec::thread_name;
///
/// assert_eq!(thread_name("orders", "risk", None), "orders:risk");
/// assert_eq!(thread_name("orders", "risk", Some(3)), "orders:risk.3");
/// assert_eq!(thread_name("market_data", "normalize", None), "marke:normalize");
/// assert_eq!(thread_name("orders", "normalize_book", Some(12)), "normalize_bo.12");
/// ```
pub fn thread_name(pipeline: &str, stage: &str, shard: Option<u32>) -> String {
    let clean = |name: &str| -> String {
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let suffix = shard.map(|s| format!(".{s}")).unwrap_or_default();
    let mut stage = clean(stage);
    stage.truncate(THREAD_NAME_MAX_BYTES.saturating_sub(suffix.len()));
    let left = THREAD_NAME_MAX_BYTES - stage.len() - suffix.len();
    let mut name = String::with_capacity(THREAD_NAME_MAX_BYTES);
    if left >= 2 {
        let mut pipeline = clean(pipeline);
        pipeline.truncate(left - 1);
        if !pipeline.is_empty() {
            name.push_str(&pipeline);
            name.push(':');
        }
    }
    name.push_str(&stage);
    name.push_str(&suffix);
    name
}
