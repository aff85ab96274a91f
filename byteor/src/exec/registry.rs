//! The stage registry: run plans authored as documents, resolving each stage by its kind.
//!
//! A plan document names stages and their `kind`s; it cannot carry code. A [`StageRegistry`]
//! maps kinds to stage types that derive [`StageDescriptor`] (name, side effects, typed
//! parameters) and implement [`Stage`] or [`MutStage`]. [`StageRegistry::resolve`] checks a
//! plan, builds one instance per stage and shard from the plan's `params`, and returns a
//! pipeline ready to spawn — the path the operator `run` and `replay` verbs take.
//!
//! Resolved stages run in the same executor as builder-made ones; the only difference is one
//! virtual call per *batch* (not per event) to reach the stage's monomorphised loop.
//!
//! ```
//! use byteor::exec::{StageDescriptor, StageRegistry};
//! use byteor::prelude::*;
//!
//! #[derive(StageDescriptor)]
//! #[stage(name = "scale")]
//! struct Scale {
//!     factor: u64,
//! }
//!
//! impl MutStage<u64> for Scale {
//!     fn on_event(&mut self, v: &mut u64, _: &EventContext) -> Result<(), StageError> {
//!         *v *= self.factor;
//!         Ok(())
//!     }
//! }
//!
//! #[derive(StageDescriptor, Default)]
//! #[stage(name = "check")]
//! struct Check {
//!     #[param(skip)]
//!     seen: u64,
//! }
//!
//! impl Stage<u64> for Check {
//!     fn on_event(&mut self, v: &u64, _: &EventContext) -> Result<(), StageError> {
//!         if *v != (self.seen + 1) * 3 {
//!             return Err(StageError::msg(format!("unexpected {v}")));
//!         }
//!         self.seen += 1;
//!         Ok(())
//!     }
//! }
//!
//! let mut registry = StageRegistry::<u64>::new();
//! registry.register_mut::<Scale>()?.register::<Check>()?;
//!
//! let plan = PipelinePlanV2::from_toml(r#"
//!     version = 2
//!     name = "scaled"
//!     target = "single_ring"
//!     [[ingress]]
//!     name = "numbers"
//!     [[egress]]
//!     name = "checked"
//!     [[stages]]
//!     name = "triple"
//!     kind = "scale"
//!     params = { factor = 3 }
//!     [[stages]]
//!     name = "check"
//!     after = ["triple"]
//!     [single_ring]
//!     capacity = 64
//! "#)?;
//!
//! let pipeline = registry.resolve(&plan)?;
//! let (mut producer, control) = pipeline.spawn()?;
//! for i in 1..=1000u64 {
//!     producer.publish(|v| *v = i)?;
//! }
//! producer.close();
//! assert_eq!(control.join()?.processed("check"), 1000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::kernel::WaitStrategy;
use crate::lower::{lower_v2, LowerError};
use crate::plan::{ExecutionTargetV1, ParamValue, PipelinePlanV2, ValidationErrors};
use crate::spec::PipelineSpecV1;

use super::control::Control;
use super::descriptor::{ParamError, ParamSpec, StageDescriptor};
use super::error::{BuildError, SpawnError};
use super::producer::Producer;
use super::routing::{KeyRouter, Router, Unsharded};
use super::runtime::{BatchHandler, Typed};
use super::stage::{access, MutStage, Stage};
use super::threads::{mem_rings, provided_rings, start, RingRequest};
use super::topology::{check_mutation_order, check_ring_memory, single_ring_of};
use crate::backing::{BackingError, RingStorage};

type MakeStage<E> =
    fn(&BTreeMap<String, ParamValue>) -> Result<Box<dyn BatchHandler<E>>, ParamError>;

/// What the registry knows about one stage kind.
struct Kind<E> {
    side_effects: bool,
    mutates: bool,
    params: &'static [ParamSpec],
    make: MakeStage<E>,
}

/// A facts sheet of a registered kind, for listings and operator tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// The kind (the descriptor's `NAME`).
    pub kind: &'static str,
    /// Whether the stage acts on the outside world.
    pub side_effects: bool,
    /// Whether the stage changes events (`MutStage`).
    pub mutates: bool,
    /// The parameters it reads from `params`.
    pub params: &'static [ParamSpec],
}

/// Maps stage kinds to stage types, for plans authored as documents.
pub struct StageRegistry<E> {
    kinds: BTreeMap<&'static str, Kind<E>>,
}

impl<E> fmt::Debug for StageRegistry<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageRegistry")
            .field("kinds", &self.kinds.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<E: Default + Send + Sync + 'static> Default for StageRegistry<E> {
    fn default() -> Self {
        StageRegistry::new()
    }
}

/// A kind registered twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stage kind `{kind}` is already registered")]
pub struct DuplicateKind {
    /// The kind.
    pub kind: &'static str,
}

/// Why a plan could not be resolved against a registry. Every problem is reported, not just
/// the first.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The plan breaks rules (every violation listed).
    #[error("invalid pipeline plan:\n{0}")]
    InvalidPlan(ValidationErrors),
    /// Lowering failed for a reason other than the plan's rules (none in v1).
    #[error("lowering failed: {0}")]
    Lower(LowerError),
    /// The plan targets an execution model this executor does not run yet.
    #[error(
        "plan `{plan}` targets `{target}`; a StageRegistry resolves `single_ring` plans (`lane_graph` plans: `lane_graph::GraphRegistry`)"
    )]
    UnsupportedTarget {
        /// The plan.
        plan: String,
        /// Its target.
        target: ExecutionTargetV1,
    },
    /// Stages could not be resolved; one entry per problem.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Stages(Vec<StageResolveError>),
    /// A mutating stage is not ordered against another stage.
    #[error("{0}")]
    Build(BuildError),
}

/// A stage of a plan that could not be resolved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StageResolveError {
    /// No registered kind has this name.
    #[error("stage `{stage}`: no stage kind `{kind}` is registered (registered: {})", known.join(", "))]
    UnknownKind {
        /// The stage.
        stage: String,
        /// The kind it asks for.
        kind: String,
        /// The registered kinds.
        known: Vec<String>,
    },
    /// The kind's parameters could not be read from the plan's `params` (one line per
    /// problem, each naming the stage).
    #[error("{}", per_line(.stage, .error))]
    Params {
        /// The stage.
        stage: String,
        /// What was wrong, naming the parameter.
        error: ParamError,
    },
    /// The kind has side effects but the plan does not declare them, so approval and replay
    /// policy would treat it as harmless.
    #[error(
        "stage `{stage}`: kind `{kind}` has side effects, but the plan does not declare `side_effects = true`"
    )]
    UndeclaredSideEffects {
        /// The stage.
        stage: String,
        /// Its kind.
        kind: String,
    },
}

/// `stage `name`: <problem>` for each problem of `error`, one per line.
fn per_line(stage: &str, error: &ParamError) -> String {
    error
        .iter()
        .map(|e| format!("stage `{stage}`: {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl<E: Default + Send + Sync + 'static> StageRegistry<E> {
    /// An empty registry.
    pub fn new() -> Self {
        StageRegistry {
            kinds: BTreeMap::new(),
        }
    }

    fn insert(&mut self, kind: &'static str, entry: Kind<E>) -> Result<&mut Self, DuplicateKind> {
        if self.kinds.contains_key(kind) {
            return Err(DuplicateKind { kind });
        }
        self.kinds.insert(kind, entry);
        Ok(self)
    }

    /// Registers a reading stage under its descriptor's `NAME`.
    pub fn register<S>(&mut self) -> Result<&mut Self, DuplicateKind>
    where
        S: StageDescriptor + Stage<E>,
    {
        self.insert(
            S::NAME,
            Kind {
                side_effects: S::SIDE_EFFECTS,
                mutates: false,
                params: S::PARAMS,
                make: |params| {
                    let stage = S::from_params(params)?;
                    Ok(Box::new(Typed::<S, access::Shared>::new(stage)))
                },
            },
        )
    }

    /// Registers a mutating stage under its descriptor's `NAME`.
    pub fn register_mut<S>(&mut self) -> Result<&mut Self, DuplicateKind>
    where
        S: StageDescriptor + MutStage<E>,
    {
        self.insert(
            S::NAME,
            Kind {
                side_effects: S::SIDE_EFFECTS,
                mutates: true,
                params: S::PARAMS,
                make: |params| {
                    let stage = S::from_params(params)?;
                    Ok(Box::new(Typed::<S, access::Exclusive>::new(stage)))
                },
            },
        )
    }

    /// The registered kinds, in name order.
    pub fn kinds(&self) -> impl Iterator<Item = KindInfo> + '_ {
        self.kinds.iter().map(|(&kind, k)| KindInfo {
            kind,
            side_effects: k.side_effects,
            mutates: k.mutates,
            params: k.params,
        })
    }

    /// Facts about one kind.
    pub fn kind(&self, kind: &str) -> Option<KindInfo> {
        self.kinds().find(|k| k.kind == kind)
    }

    /// Checks and lowers `plan` (each plan rule checked once, by `lower_v2`), resolves every
    /// stage by kind and builds one instance per stage and shard from the plan's `params`.
    /// Reports every unresolvable stage at once.
    pub fn resolve(&self, plan: &PipelinePlanV2) -> Result<ResolvedPipeline<E>, ResolveError> {
        // Checks every plan rule once; the spec it returns passes `validate_v1`.
        let spec = lower_v2(plan).map_err(|e| match e {
            LowerError::Invalid(violations) => ResolveError::InvalidPlan(violations),
            other => ResolveError::Lower(other),
        })?;
        if plan.target != ExecutionTargetV1::SingleRing {
            return Err(ResolveError::UnsupportedTarget {
                plan: plan.name.clone(),
                target: plan.target,
            });
        }
        let shards = single_ring_of(&spec).shards;
        check_ring_memory::<E>(&spec).map_err(ResolveError::Build)?;

        let mut problems = Vec::new();
        let mut handlers: Vec<Vec<Box<dyn BatchHandler<E>>>> = Vec::new();
        let mut mutates = Vec::new();
        for stage in &spec.stages {
            let Some(kind) = self.kinds.get(stage.kind.as_str()) else {
                problems.push(StageResolveError::UnknownKind {
                    stage: stage.name.clone(),
                    kind: stage.kind.clone(),
                    known: self.kinds.keys().map(|k| (*k).to_owned()).collect(),
                });
                continue;
            };
            if kind.side_effects && !stage.side_effects {
                problems.push(StageResolveError::UndeclaredSideEffects {
                    stage: stage.name.clone(),
                    kind: stage.kind.clone(),
                });
            }
            let mut per_shard = Vec::with_capacity(shards as usize);
            for _ in 0..shards {
                match (kind.make)(&stage.params) {
                    Ok(h) => per_shard.push(h),
                    Err(error) => {
                        problems.push(StageResolveError::Params {
                            stage: stage.name.clone(),
                            error,
                        });
                        break;
                    }
                }
            }
            mutates.push(kind.mutates);
            handlers.push(per_shard);
        }
        if !problems.is_empty() {
            return Err(ResolveError::Stages(problems));
        }
        check_mutation_order(&spec, single_ring_of(&spec), &mutates)
            .map_err(ResolveError::Build)?;
        Ok(ResolvedPipeline {
            plan: plan.clone(),
            spec,
            handlers,
            strategy: WaitStrategy::default(),
        })
    }
}

/// A plan resolved against a [`StageRegistry`], ready to spawn.
pub struct ResolvedPipeline<E> {
    plan: PipelinePlanV2,
    spec: PipelineSpecV1,
    /// Per stage, one handler per shard.
    handlers: Vec<Vec<Box<dyn BatchHandler<E>>>>,
    strategy: WaitStrategy,
}

impl<E> fmt::Debug for ResolvedPipeline<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedPipeline")
            .field("name", &self.plan.name)
            .field("strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}

/// Where [`ResolvedPipeline::tap_egress`] hands each batch of events leaving the ring.
pub type EgressTap<E> = Box<dyn FnMut(&[E]) + Send>;

/// A final stage's handler that copies each batch it finished to a tap.
struct Tapped<E> {
    inner: Box<dyn BatchHandler<E>>,
    tap: EgressTap<E>,
    /// The batch's events, reused from batch to batch.
    batch: Vec<E>,
}

impl<E: Clone + Send> BatchHandler<E> for Tapped<E> {
    fn start(&mut self, info: &crate::exec::StageInfo) -> Result<(), crate::exec::StageError> {
        self.inner.start(info)
    }

    /// # Safety
    /// `BatchHandler::handle`'s contract. SAFETY: this adds no requirement of its own; it
    /// passes the contract on to the wrapped handler and reads the same events.
    unsafe fn handle(
        &mut self,
        slots: crate::backing::SlotView<'_, E>,
        start: u64,
        end: u64,
        shard: u32,
        current: &std::cell::Cell<u64>,
    ) -> Result<(), (u64, crate::exec::StageError)> {
        // SAFETY: our caller's guarantees, passed on unchanged.
        unsafe { self.inner.handle(slots, start, end, shard, current) }?;
        self.batch.clear();
        for seq in start..end {
            // SAFETY: events `start..end` are published and finished by every stage this one
            // runs after, and are not overwritten until this stage passes them (the caller's
            // contract). This is the last final stage: a stage that mutates events is ordered
            // against every other stage (`check_mutation_order`), so none writes them now and a
            // shared read is valid.
            let event = slots.slot(seq).with(|p| unsafe { (*p).clone() });
            self.batch.push(event);
        }
        (self.tap)(&self.batch);
        Ok(())
    }

    fn batch_end(
        &mut self,
        batch: &crate::exec::BatchContext,
    ) -> Result<(), crate::exec::StageError> {
        self.inner.batch_end(batch)
    }

    fn shutdown(&mut self) {
        self.inner.shutdown()
    }
}

/// Spawning a resolved plan that needs a shard key function.
#[derive(Debug, thiserror::Error)]
pub enum ResolvedSpawnError {
    /// The plan has several shards: use [`ResolvedPipeline::spawn_sharded`] with the key function
    /// named by the plan's `shard_key`.
    #[error("plan `{plan}` has {shards} shards keyed by `{key}`: spawn it with `spawn_sharded` and that key's function")]
    NeedsShardKey {
        /// The plan.
        plan: String,
        /// Shards.
        shards: u32,
        /// The plan's shard key name.
        key: String,
    },
    /// Starting the threads failed.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
}

impl<E: Default + Send + Sync + 'static> ResolvedPipeline<E> {
    /// The plan.
    pub fn plan(&self) -> &PipelinePlanV2 {
        &self.plan
    }

    /// The lowered spec.
    pub fn spec(&self) -> &PipelineSpecV1 {
        &self.spec
    }

    /// Sets the wait strategy (default [`WaitStrategy::Parking`]).
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Starts an unsharded plan.
    pub fn spawn(self) -> Result<(Producer<E, Unsharded>, Control<E>), ResolvedSpawnError> {
        self.check_unsharded()?;
        let rings = mem_rings::<E>(&self.spec)?;
        self.start_on(Unsharded, rings)
    }

    /// Starts a plan (sharded or not) routing events by `key`, the function behind the plan's
    /// `shard_key`.
    #[allow(clippy::type_complexity)]
    pub fn spawn_sharded<F>(
        self,
        key: F,
    ) -> Result<(Producer<E, KeyRouter<F>>, Control<E>), ResolvedSpawnError>
    where
        F: Fn(&E) -> u64 + Send + 'static,
    {
        let shards = single_ring_of(&self.spec).shards;
        let rings = mem_rings::<E>(&self.spec)?;
        self.start_on(KeyRouter::new(key, shards), rings)
    }

    /// Like [`spawn`](Self::spawn), over ring storage the caller provides (see
    /// [`SingleRingPipeline::spawn_on`](super::SingleRingPipeline::spawn_on)).
    #[allow(clippy::type_complexity)]
    pub fn spawn_on<R, M>(
        self,
        make: M,
    ) -> Result<(Producer<E, Unsharded, R>, Control<E, R>), ResolvedSpawnError>
    where
        R: RingStorage<Event = E>,
        M: FnMut(RingRequest) -> Result<R, BackingError>,
    {
        self.check_unsharded()?;
        let rings = provided_rings(&self.spec, make)?;
        self.start_on(Unsharded, rings)
    }

    /// Like [`spawn_sharded`](Self::spawn_sharded), over ring storage the caller provides.
    #[allow(clippy::type_complexity)]
    pub fn spawn_sharded_on<F, R, M>(
        self,
        key: F,
        make: M,
    ) -> Result<(Producer<E, KeyRouter<F>, R>, Control<E, R>), ResolvedSpawnError>
    where
        F: Fn(&E) -> u64 + Send + 'static,
        R: RingStorage<Event = E>,
        M: FnMut(RingRequest) -> Result<R, BackingError>,
    {
        let shards = single_ring_of(&self.spec).shards;
        let rings = provided_rings(&self.spec, make)?;
        self.start_on(KeyRouter::new(key, shards), rings)
    }

    /// Refuses a sharded plan started without its key function.
    fn check_unsharded(&self) -> Result<(), ResolvedSpawnError> {
        let ring = single_ring_of(&self.spec);
        if ring.shards > 1 {
            return Err(ResolvedSpawnError::NeedsShardKey {
                plan: self.plan.name.clone(),
                shards: ring.shards,
                key: ring.shard_key.clone().unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// The spec, the wait strategy and the stages' handlers (per stage, one per shard).
    #[allow(clippy::type_complexity)]
    #[cfg_attr(not(all(target_os = "linux", not(loom))), allow(dead_code))]
    pub(crate) fn into_parts(
        self,
    ) -> (
        PipelineSpecV1,
        WaitStrategy,
        Vec<Vec<Box<dyn BatchHandler<E>>>>,
    ) {
        (self.spec, self.strategy, self.handlers)
    }

    /// Hands every event to a tap as it leaves the ring — once the last final stage (in stage
    /// order) finished it: what the plan's egress gets. `make(shard)` gives each shard's tap,
    /// which is called on that stage's thread once per batch, with the batch's events in
    /// order (copies). For capture and replay; one extra copy per event while tapped.
    pub fn tap_egress<F>(mut self, mut make: F) -> Self
    where
        E: Clone,
        F: FnMut(u32) -> EgressTap<E>,
    {
        let ring = single_ring_of(&self.spec);
        if let Some(last) = ring.final_stages().max() {
            let handlers = std::mem::take(&mut self.handlers[last]);
            self.handlers[last] = handlers
                .into_iter()
                .enumerate()
                .map(|(shard, inner)| {
                    Box::new(Tapped {
                        inner,
                        tap: make(shard as u32),
                        batch: Vec::new(),
                    }) as Box<dyn BatchHandler<E>>
                })
                .collect();
        }
        self
    }

    /// Starts the resolved stages over `rings` with `router`.
    #[allow(clippy::type_complexity)]
    fn start_on<K, R>(
        self,
        router: K,
        rings: Vec<R>,
    ) -> Result<(Producer<E, K, R>, Control<E, R>), ResolvedSpawnError>
    where
        K: Router<E>,
        R: RingStorage<Event = E>,
    {
        let handlers = self.handlers;
        Ok(start(
            &self.spec,
            self.strategy,
            router,
            rings,
            |spawner| {
                for (id, per_shard) in handlers.into_iter().enumerate() {
                    spawner.spawn_handlers(id, per_shard)?;
                }
                Ok(())
            },
        )?)
    }
}
