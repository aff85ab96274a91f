//! The typed SingleRing builder.
//!
//! What the types check, so it never compiles wrong:
//! * every stage handles the ring's event type;
//! * a dependency is a [`StageRef`] returned by *this* builder for a stage added *earlier*, so
//!   unknown names and cycles cannot be written (handles are branded with the lifetime of the
//!   [`SingleRing::build`] closure, so a handle from another ring is a type error);
//! * a ring holds at most [`SINGLE_RING_V1_MAX_STAGES`](crate::SINGLE_RING_V1_MAX_STAGES)
//!   stages — a fifth `stage` call does not compile;
//! * `build()` exists only once an ingress, an egress and at least one stage are set;
//! * on a sharded ring, every stage is `Clone` (one instance per shard) or comes from a
//!   [`per_shard`] factory.
//!
//! What types cannot carry (capacity values, option combinations, mutation ordering) `build()`
//! checks: it runs [`lower_v2`](crate::lower::lower_v2), which checks every plan rule once
//! ([`validate_plan_v2`](crate::plan::validate_plan_v2)) and produces a spec that passes
//! [`validate_v1`](crate::spec::validate_v1), on the plan the builder wrote, and refuses a
//! mutating stage that is not ordered against every other stage.

use std::marker::PhantomData;

use crate::kernel::WaitStrategy;
use crate::plan::{OrderingMode, PipelinePlanV2, StageDecl};

use super::error::BuildError;
use super::routing::{KeyRouter, Router, ShardKey, Unsharded};
use super::stage::{StageEntry, StageFactory, StageImpl};
use super::threads::StageList;
use super::topology::{check_mutation_order, check_ring_memory, single_ring_of};

/// Type-level markers a builder carries without holding values of them.
type Markers<E, I, G> = (fn() -> E, fn() -> I, fn() -> G);

/// An invariant lifetime brand: handles of one builder cannot be used with another.
type Brand<'id> = PhantomData<fn(&'id ()) -> &'id ()>;

/// Entry point of the typed SingleRing builder for events of type `E`.
///
/// ```
/// use byteor::prelude::*;
///
/// #[derive(Default, Clone)]
/// struct Count(u64);
/// impl Stage<u64> for Count {
///     fn on_event(&mut self, _: &u64, _: &EventContext) -> Result<(), StageError> {
///         self.0 += 1;
///         Ok(())
///     }
/// }
///
/// let pipeline = SingleRing::<u64>::build("numbers", |ring| {
///     let ring = ring.capacity(64).ingress("in").egress("out");
///     let (ring, first) = ring.stage("first", Count::default());
///     let (ring, _second) = ring.stage_after("second", Count::default(), [first]);
///     ring.build()
/// })?;
/// assert_eq!(pipeline.plan().stages.len(), 2);
/// # Ok::<(), byteor::exec::BuildError>(())
/// ```
#[derive(Debug)]
pub struct SingleRing<E>(PhantomData<fn() -> E>);

impl<E: Default + Send + Sync + 'static> SingleRing<E> {
    /// Builds a pipeline named `name`: `wire` receives an empty builder and returns what its
    /// `build()` returns. Handles ([`StageRef`]) cannot leave the closure.
    pub fn build<R>(
        name: impl Into<String>,
        wire: impl for<'id> FnOnce(RingBuilder<'id, E>) -> R,
    ) -> R {
        wire(RingBuilder {
            plan: PipelinePlanV2::single_ring(name),
            stages: (),
            router: Unsharded,
            strategy: WaitStrategy::default(),
            _marker: PhantomData,
            _brand: PhantomData,
        })
    }
}

/// A handle to a stage added to a builder; pass it to
/// [`stage_after`](RingBuilder::stage_after) to run a later stage after this one.
#[derive(Clone, Copy)]
pub struct StageRef<'id> {
    index: usize,
    _brand: Brand<'id>,
}

impl StageRef<'_> {
    /// The stage's id (its position in the ring).
    pub fn id(&self) -> usize {
        self.index
    }
}

impl std::fmt::Debug for StageRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StageRef").field(&self.index).finish()
    }
}

/// Typestate markers of [`RingBuilder`].
pub mod state {
    /// No ingress declared yet.
    #[derive(Debug)]
    pub enum NoIngress {}
    /// Ingress declared.
    #[derive(Debug)]
    pub enum WithIngress {}
    /// No egress declared yet.
    #[derive(Debug)]
    pub enum NoEgress {}
    /// Egress declared.
    #[derive(Debug)]
    pub enum WithEgress {}

    /// Implemented once an ingress is declared.
    #[diagnostic::on_unimplemented(
        message = "the ring has no ingress",
        label = "`build` needs an ingress",
        note = "declare one with `.ingress(\"name\")` before `.build()`"
    )]
    pub trait IngressDeclared {}
    impl IngressDeclared for WithIngress {}

    /// Implemented once an egress is declared.
    #[diagnostic::on_unimplemented(
        message = "the ring has no egress",
        label = "`build` needs an egress",
        note = "declare one with `.egress(\"name\")` before `.build()`"
    )]
    pub trait EgressDeclared {}
    impl EgressDeclared for WithEgress {}
}

use state::*;

/// The typed builder of one SingleRing; see [`SingleRing::build`] and the module docs.
///
/// `L` is the list of stages added so far, `I`/`G` record whether the ingress/egress are set,
/// `K` is the shard router.
pub struct RingBuilder<'id, E, L = (), I = NoIngress, G = NoEgress, K = Unsharded> {
    plan: PipelinePlanV2,
    stages: L,
    router: K,
    strategy: WaitStrategy,
    _marker: PhantomData<Markers<E, I, G>>,
    _brand: Brand<'id>,
}

impl<E, L, I, G, K> std::fmt::Debug for RingBuilder<'_, E, L, I, G, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingBuilder")
            .field("plan", &self.plan)
            .field("strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}

impl<'id, E, L, I, G, K> RingBuilder<'id, E, L, I, G, K> {
    fn retype<L2, I2, G2, K2>(self, stages: L2, router: K2) -> RingBuilder<'id, E, L2, I2, G2, K2> {
        RingBuilder {
            plan: self.plan,
            stages,
            router,
            strategy: self.strategy,
            _marker: PhantomData,
            _brand: PhantomData,
        }
    }

    fn constraints(&mut self) -> &mut crate::plan::SingleRingConstraints {
        self.plan.single_ring.get_or_insert_with(Default::default)
    }

    /// Ring capacity in slots (a power of two, at least 2; checked by `build`). Default 1024.
    pub fn capacity(mut self, capacity: u32) -> Self {
        self.constraints().capacity = capacity;
        self
    }

    /// The ordering guarantee. Set automatically to `PerKey` by [`shards`](Self::shards) with
    /// more than one shard; `Strict` with several shards is refused by `build`.
    pub fn ordering(mut self, ordering: OrderingMode) -> Self {
        self.constraints().ordering = ordering;
        self
    }

    /// How stage threads wait for events and the producer waits for room. Default
    /// [`WaitStrategy::Parking`].
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// The plan written so far.
    pub fn plan(&self) -> &PipelinePlanV2 {
        &self.plan
    }
}

impl<'id, E, L, G, K> RingBuilder<'id, E, L, NoIngress, G, K> {
    /// Declares the ingress boundary (where the producer's events enter).
    pub fn ingress(mut self, name: impl Into<String>) -> RingBuilder<'id, E, L, WithIngress, G, K> {
        self.plan.ingress.push(crate::plan::BoundaryDecl::new(name));
        let (stages, router) = (self.stages, self.router);
        RingBuilder {
            plan: self.plan,
            stages,
            router,
            strategy: self.strategy,
            _marker: PhantomData,
            _brand: PhantomData,
        }
    }
}

impl<'id, E, L, I, K> RingBuilder<'id, E, L, I, NoEgress, K> {
    /// Declares the egress boundary.
    ///
    /// In process, the egress is where final stages hand results on — typically an
    /// [`egress`](super::egress) queue drained on the caller's own thread. It never gates the
    /// producer beyond the final stages: only the stages' own progress releases slots.
    pub fn egress(mut self, name: impl Into<String>) -> RingBuilder<'id, E, L, I, WithEgress, K> {
        self.plan.egress.push(crate::plan::BoundaryDecl::new(name));
        let (stages, router) = (self.stages, self.router);
        RingBuilder {
            plan: self.plan,
            stages,
            router,
            strategy: self.strategy,
            _marker: PhantomData,
            _brand: PhantomData,
        }
    }
}

impl<'id, E, I, G> RingBuilder<'id, E, (), I, G, Unsharded> {
    /// Splits the ring into `shards` independent rings, each with its own stage threads.
    /// Events are routed by `key` (named `key_name` in the plan); order holds per key. With more
    /// than one shard the ordering becomes `PerKey`. Call before adding stages; stages then
    /// must be `Clone` (one instance per shard) or come from [`per_shard`].
    ///
    /// `key` is a closure (`|order| order.account`); to name the pipeline's type, pass a
    /// [`ShardKey`] type of your own to [`shards_by`](Self::shards_by) instead.
    pub fn shards<F>(
        self,
        shards: u32,
        key_name: impl Into<String>,
        key: F,
    ) -> RingBuilder<'id, E, (), I, G, KeyRouter<F>>
    where
        F: Fn(&E) -> u64 + Send + 'static,
    {
        self.shards_by(shards, key_name, key)
    }

    /// Like [`shards`](Self::shards), with the key given by any [`ShardKey`] — for example a
    /// unit struct of your own, whose type (unlike a closure's) can be written down in
    /// `BoxedPipeline<E, KeyRouter<YourKey>>`.
    pub fn shards_by<F>(
        mut self,
        shards: u32,
        key_name: impl Into<String>,
        key: F,
    ) -> RingBuilder<'id, E, (), I, G, KeyRouter<F>>
    where
        F: ShardKey<E>,
    {
        let c = self.constraints();
        c.shards = shards;
        c.shard_key = Some(key_name.into());
        if shards > 1 {
            c.ordering = OrderingMode::PerKey;
        }
        self.retype((), KeyRouter::new(key, shards))
    }
}

/// A stage made per shard by a function of the shard index; see [`per_shard`].
pub struct PerShard<F>(F);

impl<F> std::fmt::Debug for PerShard<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PerShard")
    }
}

/// Makes one stage instance per shard with `make(shard)`: for stages that are not `Clone`, or
/// that need to know their shard.
///
/// ```
/// use byteor::prelude::*;
/// struct Tagged(u32);
/// impl Stage<u64> for Tagged {
///     fn on_event(&mut self, _: &u64, _: &EventContext) -> Result<(), StageError> { Ok(()) }
/// }
/// let p = SingleRing::<u64>::build("tagged", |ring| {
///     let ring = ring.ingress("in").egress("out").shards(2, "value", |v: &u64| *v);
///     let (ring, _) = ring.stage("tag", per_shard(Tagged));
///     ring.build()
/// })?;
/// # let _ = p;
/// # Ok::<(), byteor::exec::BuildError>(())
/// ```
pub fn per_shard<F>(make: F) -> PerShard<F> {
    PerShard(make)
}

/// Markers telling instances from factories; users never name them.
pub mod source {
    /// A stage instance.
    #[derive(Debug)]
    pub enum Instance {}
    /// A [`per_shard`](super::per_shard) factory.
    #[derive(Debug)]
    pub enum Factory {}
}

/// What [`RingBuilder::stage`] accepts on an unsharded ring: a stage, or a [`per_shard`]
/// factory. `X` is inferred.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a stage for events of type `{E}`",
    label = "expected a type implementing `Stage<{E}>` or `MutStage<{E}>`",
    note = "every stage of a ring handles the ring's event type: implement `Stage<{E}>` (reads `&{E}`) or `MutStage<{E}>` (gets `&mut {E}`)"
)]
pub trait IntoStage<E, X> {
    /// The stage type.
    type Stage;
    /// Access marker of the stage.
    type Access;
    /// The factory.
    fn into_factory(self) -> StageFactory<Self::Stage>;
}

impl<E, M, S: StageImpl<E, M>> IntoStage<E, (source::Instance, M)> for S {
    type Stage = S;
    type Access = M;
    fn into_factory(self) -> StageFactory<S> {
        StageFactory::Once(Some(self))
    }
}

impl<E, M, S: StageImpl<E, M>, F: FnMut(u32) -> S + Send + 'static>
    IntoStage<E, (source::Factory, M)> for PerShard<F>
{
    type Stage = S;
    type Access = M;
    fn into_factory(self) -> StageFactory<S> {
        StageFactory::PerShard(Box::new(self.0))
    }
}

/// What [`RingBuilder::stage`] accepts on a sharded ring: a `Clone` stage (cloned per shard) or
/// a [`per_shard`] factory.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot serve a sharded ring of `{E}` events",
    label = "a sharded ring needs one instance per shard",
    note = "derive or implement `Clone` for the stage, or wrap a constructor in `per_shard(|shard| ...)`; the stage must implement `Stage<{E}>` or `MutStage<{E}>`"
)]
pub trait IntoShardedStage<E, X> {
    /// The stage type.
    type Stage;
    /// Access marker of the stage.
    type Access;
    /// The factory.
    fn into_factory(self) -> StageFactory<Self::Stage>;
}

impl<E, M, S: StageImpl<E, M> + Clone> IntoShardedStage<E, (source::Instance, M)> for S {
    type Stage = S;
    type Access = M;
    fn into_factory(self) -> StageFactory<S> {
        StageFactory::Cloned(self, S::clone)
    }
}

impl<E, M, S: StageImpl<E, M>, F: FnMut(u32) -> S + Send + 'static>
    IntoShardedStage<E, (source::Factory, M)> for PerShard<F>
{
    type Stage = S;
    type Access = M;
    fn into_factory(self) -> StageFactory<S> {
        StageFactory::PerShard(Box::new(self.0))
    }
}

/// Appending a stage to the builder's stage list — implemented for lists of 0 to 3 stages.
pub trait StageSlots<T> {
    /// The list with `T` appended.
    type Output;
    /// Appends `T`.
    fn push(self, t: T) -> Self::Output;
}

impl<T> StageSlots<T> for () {
    type Output = (T,);
    fn push(self, t: T) -> (T,) {
        (t,)
    }
}
impl<A, T> StageSlots<T> for (A,) {
    type Output = (A, T);
    fn push(self, t: T) -> (A, T) {
        (self.0, t)
    }
}
impl<A, B, T> StageSlots<T> for (A, B) {
    type Output = (A, B, T);
    fn push(self, t: T) -> (A, B, T) {
        (self.0, self.1, t)
    }
}
impl<A, B, C, T> StageSlots<T> for (A, B, C) {
    type Output = (A, B, C, T);
    fn push(self, t: T) -> (A, B, C, T) {
        (self.0, self.1, self.2, t)
    }
}

impl<'id, E, L, I, G, K> RingBuilder<'id, E, L, I, G, K> {
    fn push_stage<S, M>(
        mut self,
        decl: StageDecl,
        deps: &[StageRef<'id>],
        factory: StageFactory<S>,
    ) -> (RingBuilder<'id, E, L::Output, I, G, K>, StageRef<'id>)
    where
        L: StageSlots<StageEntry<S, M>>,
    {
        let id = self.plan.stages.len();
        let mut decl = decl;
        let mut seen = Vec::new();
        for d in deps {
            if !seen.contains(&d.index) {
                seen.push(d.index);
            }
        }
        seen.sort_unstable();
        // Names a caller wrote into the declaration's `after` are kept next to the handles;
        // `validate_plan_v2` at `build` refuses any that is unknown or not an earlier stage.
        let declared = std::mem::take(&mut decl.after);
        decl.after = declared
            .into_iter()
            .chain(
                seen.iter()
                    .filter_map(|&i| self.plan.stages.get(i).map(|s| s.name.clone())),
            )
            .collect();
        self.plan.stages.push(decl);
        let entry = StageEntry {
            id,
            factory,
            _access: PhantomData,
        };
        let stages = self.stages.push(entry);
        let router = self.router;
        let next = RingBuilder {
            plan: self.plan,
            stages,
            router,
            strategy: self.strategy,
            _marker: PhantomData,
            _brand: PhantomData,
        };
        (
            next,
            StageRef {
                index: id,
                _brand: PhantomData,
            },
        )
    }
}

/// Generates `stage` / `stage_after` for a builder holding the listed stages (fewer than four).
/// One impl per list length keeps the output type concrete, so misuse reads as a plain trait
/// error on the stage, and a fifth stage hits [`RingIsFull`] with its own message.
macro_rules! stage_methods {
    ($($held:ident),*) => {
        impl<'id, E, $($held,)* I, G> RingBuilder<'id, E, ($($held,)*), I, G, Unsharded> {
            /// Adds a stage that runs directly on the producer's events. `decl` is the stage's
            /// name (a `&str`) or a full [`StageDecl`] (kind, side effects, params). Returns the
            /// builder and a handle for later stages to depend on.
            #[allow(clippy::type_complexity)]
            pub fn stage<T, X>(
                self,
                decl: impl Into<StageDecl>,
                stage: T,
            ) -> (
                RingBuilder<'id, E, ($($held,)* StageEntry<T::Stage, T::Access>,), I, G, Unsharded>,
                StageRef<'id>,
            )
            where
                T: IntoStage<E, X>,
            {
                self.push_stage(decl.into(), &[], stage.into_factory())
            }

            /// Adds a stage that runs after every stage in `after` (handles from this builder).
            #[allow(clippy::type_complexity)]
            pub fn stage_after<T, X>(
                self,
                decl: impl Into<StageDecl>,
                stage: T,
                after: impl IntoIterator<Item = StageRef<'id>>,
            ) -> (
                RingBuilder<'id, E, ($($held,)* StageEntry<T::Stage, T::Access>,), I, G, Unsharded>,
                StageRef<'id>,
            )
            where
                T: IntoStage<E, X>,
            {
                let deps: Vec<StageRef<'id>> = after.into_iter().collect();
                self.push_stage(decl.into(), &deps, stage.into_factory())
            }
        }

        impl<'id, E, $($held,)* I, G, F> RingBuilder<'id, E, ($($held,)*), I, G, KeyRouter<F>> {
            /// Adds a stage (cloned per shard, or a [`per_shard`] factory) that runs directly on
            /// the producer's events.
            #[allow(clippy::type_complexity)]
            pub fn stage<T, X>(
                self,
                decl: impl Into<StageDecl>,
                stage: T,
            ) -> (
                RingBuilder<'id, E, ($($held,)* StageEntry<T::Stage, T::Access>,), I, G, KeyRouter<F>>,
                StageRef<'id>,
            )
            where
                T: IntoShardedStage<E, X>,
            {
                self.push_stage(decl.into(), &[], stage.into_factory())
            }

            /// Adds a stage (cloned per shard, or a [`per_shard`] factory) that runs after every
            /// stage in `after`.
            #[allow(clippy::type_complexity)]
            pub fn stage_after<T, X>(
                self,
                decl: impl Into<StageDecl>,
                stage: T,
                after: impl IntoIterator<Item = StageRef<'id>>,
            ) -> (
                RingBuilder<'id, E, ($($held,)* StageEntry<T::Stage, T::Access>,), I, G, KeyRouter<F>>,
                StageRef<'id>,
            )
            where
                T: IntoShardedStage<E, X>,
            {
                let deps: Vec<StageRef<'id>> = after.into_iter().collect();
                self.push_stage(decl.into(), &deps, stage.into_factory())
            }
        }
    };
}

stage_methods!();
stage_methods!(SA);
stage_methods!(SA, SB);
stage_methods!(SA, SB, SC);

mod sealed {
    pub trait Never {}
}

/// Implemented by nothing: the bound of `stage` / `stage_after` on a ring that already holds
/// four stages, so a fifth stage is a compile error with this message.
#[diagnostic::on_unimplemented(
    message = "a SingleRing holds at most 4 stages (`SINGLE_RING_V1_MAX_STAGES`)",
    label = "this would be the ring's fifth stage",
    note = "merge stages, or use a LaneGraph for larger topologies"
)]
pub trait RingIsFull<E>: sealed::Never {
    /// Never called: no type implements this trait.
    fn refuse<R>(self) -> R;
}

impl<'id, E, SA, SB, SC, SD, I, G, K> RingBuilder<'id, E, (SA, SB, SC, SD), I, G, K> {
    /// Not available: a SingleRing holds at most four stages. Calling it does not compile.
    pub fn stage<T: RingIsFull<E>>(
        self,
        decl: impl Into<StageDecl>,
        stage: T,
    ) -> (Self, StageRef<'id>) {
        let _ = decl;
        stage.refuse()
    }

    /// Not available: a SingleRing holds at most four stages. Calling it does not compile.
    pub fn stage_after<T: RingIsFull<E>>(
        self,
        decl: impl Into<StageDecl>,
        stage: T,
        after: impl IntoIterator<Item = StageRef<'id>>,
    ) -> (Self, StageRef<'id>) {
        let _ = (decl, after);
        stage.refuse()
    }
}

impl<E, L, I, G, K> RingBuilder<'_, E, L, I, G, K>
where
    E: Default + Send + Sync + 'static,
    K: Router<E>,
{
    /// Checks and lowers the plan, and returns the pipeline ready to [`spawn`](super::SingleRingPipeline::spawn).
    ///
    /// Runs `lower_v2` (which checks every plan rule once) and refuses a mutating stage that
    /// is not ordered against every other stage.
    pub fn build(self) -> Result<super::SingleRingPipeline<E, L, K>, BuildError>
    where
        L: StageList<E>,
        I: IngressDeclared,
        G: EgressDeclared,
    {
        // Checks every plan rule once; the spec it returns passes `validate_v1`.
        let spec = crate::lower::lower_v2(&self.plan)?;
        let ring = single_ring_of(&spec);
        check_mutation_order(&spec, ring, &self.stages.mutates())?;
        check_ring_memory::<E>(&spec)?;
        Ok(super::SingleRingPipeline::new(
            self.plan,
            spec,
            self.stages,
            self.router,
            self.strategy,
        ))
    }
}
