//! Starting stage threads: the [`Spawner`] that starts one thread per stage and shard over a
//! pipeline's rings, the [`StageList`] of a built pipeline, the rings each shard gets, and
//! thread names.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::backing::{BackingError, MemRing, RingStorage};
use crate::kernel::WaitStrategy;
use crate::spec::PipelineSpecV1;

use super::control::{Control, StageThread};
use super::error::{SpawnError, StageFailure};
use super::producer::Producer;
use super::routing::Router;
use super::runtime::{panic_message, run_stage, BatchHandler, Runtime, Typed};
use super::stage::{StageEntry, StageFactory, StageImpl};
use super::topology::single_ring_of;

/// A non-empty list of stages that can be started; implemented for 1 to 4 stages.
#[diagnostic::on_unimplemented(
    message = "the ring has no stage",
    label = "`build` needs at least one stage",
    note = "add one with `.stage(\"name\", stage)` before `.build()`"
)]
///
/// The list starts over any ring storage (`spawn_all` is generic over it), so one pipeline —
/// including the `impl StageList<E>` a `#[pipeline]` function returns — runs in process memory
/// or on shared memory alike.
pub trait StageList<E>: Send + 'static {
    /// For each stage, whether it mutates events.
    fn mutates(&self) -> Vec<bool>;
    /// Starts one thread per stage and shard over rings of type `R`.
    #[doc(hidden)]
    fn spawn_all<R: RingStorage<Event = E>>(
        self,
        spawner: &mut Spawner<R>,
    ) -> Result<(), SpawnError>;
}

macro_rules! impl_stage_list {
    ($len:expr; $($name:ident : $s:ident : $m:ident),+) => {
        impl<E, $($s, $m),+> StageList<E> for ($(StageEntry<$s, $m>,)+)
        where
            E: Default + Send + Sync + 'static,
            $($s: StageImpl<E, $m>, $m: 'static,)+
        {
            fn mutates(&self) -> Vec<bool> {
                vec![$(<$s as StageImpl<E, $m>>::MUTATES),+]
            }
            fn spawn_all<R: RingStorage<Event = E>>(
                self,
                spawner: &mut Spawner<R>,
            ) -> Result<(), SpawnError> {
                #[allow(non_snake_case)]
                let ($($name,)+) = self;
                $(spawner.spawn_stage::<$s, $m>($name.id, $name.factory)?;)+
                Ok(())
            }
        }
    };
}

impl_stage_list!(1; a: SA: MA);
impl_stage_list!(2; a: SA: MA, b: SB: MB);
impl_stage_list!(3; a: SA: MA, b: SB: MB, c: SC: MC);
impl_stage_list!(4; a: SA: MA, b: SB: MB, c: SC: MC, d: SD: MD);

/// Starts stage threads for a pipeline; used by [`StageList::spawn_all`].
pub struct Spawner<R: RingStorage> {
    rt: Arc<Runtime<R>>,
    threads: Vec<StageThread>,
    /// `selected[i]`: whether stage `i` runs in this process (all, unless the stages are
    /// split over processes).
    selected: Vec<bool>,
}

/// What pipelines split over processes (`exec::shm`) need of a spawner.
#[cfg(all(target_os = "linux", not(loom)))]
impl<R: RingStorage> Spawner<R> {
    /// Runs only the stages marked in `selected` (by stage id) in this process; the others
    /// run elsewhere.
    pub(crate) fn select(&mut self, selected: Vec<bool>) {
        self.selected = selected;
    }

    /// The runtime the threads share.
    pub(crate) fn runtime(&self) -> &Arc<Runtime<R>> {
        &self.rt
    }

    /// Starts a helper thread (not a stage) that the control handle joins with the stages.
    pub(crate) fn spawn_helper(
        &mut self,
        label: &str,
        body: impl FnOnce() -> Result<u64, StageFailure> + Send + 'static,
    ) -> Result<(), SpawnError> {
        let handle = std::thread::Builder::new()
            .name(thread_name(&self.rt.name, label, None))
            .spawn(body)
            .map_err(|source| SpawnError::Thread {
                stage: label.to_owned(),
                shard: 0,
                source,
            })?;
        self.threads.push(StageThread {
            label: label.to_owned(),
            stage: label.to_owned(),
            shard: 0,
            is_stage: false,
            handle,
        });
        Ok(())
    }
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
        if !self.selected.get(id).copied().unwrap_or(true) {
            return Ok(());
        }
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
        if !self.selected.get(id).copied().unwrap_or(true) {
            return Ok(());
        }
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
                is_stage: true,
                handle,
            });
        }
        Ok(())
    }
}

/// The ring one shard of a pipeline needs, as asked of the storage provider of
/// [`SingleRingPipeline::spawn_on`](super::SingleRingPipeline::spawn_on).
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
pub(crate) fn ring_requests(spec: &PipelineSpecV1) -> impl Iterator<Item = RingRequest> + '_ {
    let ring = single_ring_of(spec);
    (0..ring.shards).map(move |shard| RingRequest {
        shard,
        capacity: u64::from(ring.capacity),
        stages: spec.stages.len(),
    })
}

/// In-process rings for every shard of `spec`, allocated fallibly. The pipeline's total ring
/// memory was checked when it was built or resolved (`check_ring_memory`, where the event type
/// is first known); `MemRing::new` bounds each ring again.
pub(crate) fn mem_rings<E: Default + Send + Sync + 'static>(
    spec: &PipelineSpecV1,
) -> Result<Vec<MemRing<E>>, SpawnError> {
    ring_requests(spec)
        .map(|want| Ok(MemRing::new(want.capacity, want.stages)?))
        .collect()
}

/// Rings from a caller's provider, each checked against what was asked.
pub(crate) fn provided_rings<R: RingStorage>(
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
    let (rt, threads) = launch(spec, strategy, rings, spawn)?;
    let producer = Producer::new(Arc::clone(&rt), router);
    let control = Control::new(rt, threads);
    Ok((producer, control))
}

/// [`start`] without a producer: the runtime and the threads `spawn` started.
pub(crate) fn launch<R: RingStorage>(
    spec: &PipelineSpecV1,
    strategy: WaitStrategy,
    rings: Vec<R>,
    spawn: impl FnOnce(&mut Spawner<R>) -> Result<(), SpawnError>,
) -> Result<(Arc<Runtime<R>>, Vec<StageThread>), SpawnError> {
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
        selected: vec![true; spec.stages.len()],
    };
    // On an error or an unwind, dropping the spawner stops and joins what started.
    spawn(&mut spawner)?;
    let threads = std::mem::take(&mut spawner.threads);
    drop(spawner);
    Ok((rt, threads))
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
