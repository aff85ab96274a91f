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

/// One started stage thread.
pub(crate) struct StageThread {
    pub(crate) label: String,
    pub(crate) stage: String,
    pub(crate) shard: u32,
    pub(crate) handle: JoinHandle<Result<u64, StageFailure>>,
}

/// Starts stage threads for a pipeline; used by [`StageList::spawn_all`].
pub struct Spawner<E> {
    rt: Arc<Runtime<E>>,
    threads: Vec<StageThread>,
}

impl<E> std::fmt::Debug for Spawner<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawner")
            .field("threads", &self.threads.len())
            .finish()
    }
}

impl<E: Default + Send + Sync + 'static> Spawner<E> {
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
            let stage = factory
                .make(shard)
                .ok_or_else(|| SpawnError::MissingInstance {
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
            let handle = std::thread::Builder::new()
                .name(format!("byteor-{}-{label}", self.rt.name))
                .spawn(move || {
                    // Move the stage onto this thread's stack: left in the spawn closure's heap
                    // block, the fields it writes per event could share a cache line with data
                    // the producer reads per publish (false sharing on every event).
                    let mut handler = handler;
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        run_stage::<E, H>(&rt, shard as usize, id, &mut handler)
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

    /// Starts one thread per stage and shard, named `byteor-<pipeline>-<stage>[-<shard>]`, and
    /// returns the producer and the control handle.
    pub fn spawn(self) -> Result<(Producer<E, K>, Control<E>), SpawnError> {
        let stages = self.stages;
        start(&self.spec, self.strategy, self.router, |spawner| {
            stages.spawn_all(spawner)
        })
    }
}

/// Creates the runtime of a lowered SingleRing spec, starts the stage threads with `spawn`,
/// and hands back the producer and control handles. If a thread cannot start, the ones already
/// running are stopped and joined before the error is returned.
pub(crate) fn start<E, K>(
    spec: &PipelineSpecV1,
    strategy: WaitStrategy,
    router: K,
    spawn: impl FnOnce(&mut Spawner<E>) -> Result<(), SpawnError>,
) -> Result<(Producer<E, K>, Control<E>), SpawnError>
where
    E: Default + Send + Sync + 'static,
    K: Router<E>,
{
    let ring = single_ring_of(spec);
    let rt = Arc::new(Runtime::new(
        spec.name.clone(),
        spec.stages.iter().map(|s| s.name.clone()).collect(),
        ring.deps.clone(),
        ring.final_stages().collect(),
        strategy,
        u64::from(ring.capacity),
        ring.shards,
    )?);
    let mut spawner = Spawner {
        rt: Arc::clone(&rt),
        threads: Vec::with_capacity(spec.stages.len() * ring.shards as usize),
    };
    if let Err(e) = spawn(&mut spawner) {
        // Stop what started, then report.
        rt.fail(StageFailure {
            stage: "<spawn>".into(),
            shard: 0,
            sequence: None,
            reason: e.to_string(),
            panicked: false,
        });
        for t in spawner.threads {
            let _ = t.handle.join();
        }
        return Err(e);
    }
    let producer = Producer::new(Arc::clone(&rt), router);
    let control = Control::new(rt, spawner.threads);
    Ok((producer, control))
}
