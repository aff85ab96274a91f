//! Routing events to shards: the [`Router`] a producer is monomorphised over, by key
//! ([`KeyRouter`] over a [`ShardKey`]) or not at all ([`Unsharded`]).

/// Routing of events to shards, chosen by [`RingBuilder::shards`](super::RingBuilder::shards).
pub trait Router<E>: Send + 'static {
    /// Whether events are routed over several shards.
    const SHARDED: bool;
    /// The shard `event` goes to.
    fn shard(&self, event: &E) -> usize;
}

/// One shard: every event goes to shard 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unsharded;

impl<E> Router<E> for Unsharded {
    const SHARDED: bool = false;
    #[inline(always)]
    fn shard(&self, _: &E) -> usize {
        0
    }
}

/// Routes events by a key function: `shard = mix(key(event)) * shards >> 64`, where `mix` is a
/// fixed 64-bit finaliser (so consecutive keys spread evenly). The same key always reaches the
/// same shard, which is what per-key ordering rests on.
#[derive(Clone)]
pub struct KeyRouter<F> {
    key: F,
    shards: u32,
}

impl<F> std::fmt::Debug for KeyRouter<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRouter")
            .field("shards", &self.shards)
            .finish_non_exhaustive()
    }
}

/// The shard a key maps to among `shards` shards.
///
/// ```
/// let s = byteor::exec::shard_for_key(42, 4);
/// assert!(s < 4);
/// assert_eq!(s, byteor::exec::shard_for_key(42, 4));
/// ```
#[inline(always)]
pub fn shard_for_key(key: u64, shards: u32) -> usize {
    // SplitMix64 finaliser: a fixed bijection with good avalanche.
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((u128::from(z) * u128::from(shards)) >> 64) as usize
}

impl<F> KeyRouter<F> {
    pub(crate) fn new(key: F, shards: u32) -> Self {
        KeyRouter { key, shards }
    }
}

/// The key a sharded ring routes an event by (see [`RingBuilder::shards`](super::RingBuilder::shards)).
///
/// Every `Fn(&E) -> u64 + Send + 'static` closure is a `ShardKey<E>`. Implement it on a type
/// of your own when the pipeline's type has to be written down (a closure's type cannot be
/// named) and pass it to [`RingBuilder::shards_by`](super::RingBuilder::shards_by): the router
/// is then `KeyRouter<YourKey>`, a direct call per event.
///
/// ```
/// use byteor::exec::{BoxedPipeline, KeyRouter, ShardKey};
/// use byteor::prelude::*;
///
/// #[derive(Default, Clone, Copy)]
/// struct Order { account: u64 }
///
/// struct ByAccount;
/// impl ShardKey<Order> for ByAccount {
///     fn key(&self, order: &Order) -> u64 {
///         order.account
///     }
/// }
///
/// fn sharded() -> Result<BoxedPipeline<Order, KeyRouter<ByAccount>>, BuildError> {
///     let pipeline = SingleRing::<Order>::build("orders", |ring| {
///         let ring = ring.ingress("in").egress("out").shards_by(4, "account", ByAccount);
///         let (ring, _) = ring.stage("risk", from_fn(|_: &Order, _: &EventContext| Ok(())));
///         ring.build()
///     })?;
///     Ok(pipeline.boxed())
/// }
/// assert_eq!(sharded()?.spec().name, "orders");
/// # Ok::<(), BuildError>(())
/// ```
pub trait ShardKey<E>: Send + 'static {
    /// The event's key: events with equal keys go to the same shard, in order.
    fn key(&self, event: &E) -> u64;
}

impl<E, F: Fn(&E) -> u64 + Send + 'static> ShardKey<E> for F {
    #[inline(always)]
    fn key(&self, event: &E) -> u64 {
        self(event)
    }
}

impl<E, F: ShardKey<E>> Router<E> for KeyRouter<F> {
    const SHARDED: bool = true;
    #[inline(always)]
    fn shard(&self, event: &E) -> usize {
        shard_for_key(self.key.key(event), self.shards)
    }
}
