//! The stock binary's stage kinds, its event type, and the ingress generator: enough to bring
//! a plan up and smoke-test a host without writing code.
//!
//! Every kind handles [`BuiltinEvent`] and runs in both execution models (a SingleRing stage and
//! a LaneGraph stage that emits each event it is given, possibly changed).
//!
//! | kind | params | does |
//! |---|---|---|
//! | `pass` | — | nothing: passes every event on |
//! | `count` | — | counts the events it sees (its count is in the run report) |
//! | `checksum` | — | stamps each event's `checksum` from its `seq` and `value` (a writing stage); an event that already carries a checksum is verified, and a mismatch fails the stage |
//! | `verify` | — | checks each event's checksum (a reading stage): one missing or wrong fails the stage |
//! | `stamp` | — | records each event's latency (now − the generator's `stamp_ns`) into a histogram reported by [`take_latencies`] |
//! | `sleep` | `micros` (default 100), `every` (default 1000) | sleeps `micros` µs every `every` events: a slow stage on demand |
//! | `fail` | `at` (default 1) | fails at its `at`-th event: a failing stage on demand |
//!
//! The kinds have no side effects of their own (a plan may still declare `side_effects = true`
//! on any of them, to exercise the policy that governs such stages).
//!
//! [`Generator`] fills events for an ingress: `seq` counts from 0, `value` is a fixed
//! pseudo-random function of `seq`, `stamp_ns` the publish time.
//!
//! ```
//! use byteor::ops::builtin::{builtin_kinds, Generator};
//! use byteor::plan::PipelinePlanV2;
//!
//! let plan = PipelinePlanV2::from_toml(r#"
//!     version = 2
//!     name = "smoke"
//!     target = "single_ring"
//!     [[ingress]]
//!     name = "in"
//!     [[egress]]
//!     name = "out"
//!     [[stages]]
//!     name = "stamp"
//!     kind = "checksum"
//!     [[stages]]
//!     name = "check"
//!     kind = "verify"
//!     after = ["stamp"]
//!     [single_ring]
//!     capacity = 1024
//! "#)?;
//! let (single, _graph) = builtin_kinds();
//! let (mut producer, control) = single.resolve(&plan)?.spawn()?;
//! let mut generator = Generator::new();
//! for _ in 0..1000 {
//!     producer.publish(|e| generator.fill(e))?;
//! }
//! producer.close();
//! assert_eq!(control.join()?.processed("check"), 1000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::abi::ShmEvent;
use crate::exec::lane_graph::{Emitter, GraphRegistry, LaneStage};
use crate::exec::{
    DuplicateKind, EventContext, MutStage, Stage, StageDescriptor, StageError, StageInfo,
    StageRegistry,
};

/// The event the built-in kinds handle: plain data, so it may ride every lane kind and live in
/// shared memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ShmEvent)]
#[repr(C)]
pub struct BuiltinEvent {
    /// Position in the generator's stream, from 0.
    pub seq: u64,
    /// A pseudo-random value derived from `seq` ([`value_of`]).
    pub value: u64,
    /// When the generator published it: [`now_ns`] — on Linux `CLOCK_MONOTONIC`, one clock
    /// for every process of the machine, so a stage in another process measures latency too.
    pub stamp_ns: u64,
    /// 0, or the `checksum` kind's stamp ([`checksum_of`]).
    pub checksum: u64,
}

/// The clock of `stamp_ns`, in nanoseconds: on Linux `CLOCK_MONOTONIC` (shared by every
/// process of the machine; read through the vDSO, no system call); elsewhere the time since
/// this process first asked.
#[inline]
pub fn now_ns() -> u64 {
    #[cfg(all(target_os = "linux", not(loom)))]
    {
        crate::transport::shm::monotonic_ns()
    }
    #[cfg(not(all(target_os = "linux", not(loom))))]
    {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// The generator's value for `seq` (splitmix64: cheap, well spread, reproducible).
#[inline]
pub fn value_of(seq: u64) -> u64 {
    let mut z = seq.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The `checksum` kind's stamp of an event: never 0, so 0 means "not stamped yet".
#[inline]
pub fn checksum_of(seq: u64, value: u64) -> u64 {
    value_of(seq ^ value.rotate_left(17)) | 1
}

/// Fills [`BuiltinEvent`]s for an ingress: `seq` 0, 1, 2, …
#[derive(Debug, Default, Clone)]
pub struct Generator {
    next: u64,
}

impl Generator {
    /// A generator starting at `seq` 0.
    pub fn new() -> Self {
        Generator::default()
    }

    /// A generator starting at `seq` (a second ingress, or a resumed stream).
    pub fn starting_at(seq: u64) -> Self {
        Generator { next: seq }
    }

    /// The `seq` the next event gets.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Writes the next event into `e`.
    #[inline]
    pub fn fill(&mut self, e: &mut BuiltinEvent) {
        let seq = self.next;
        self.next += 1;
        *e = BuiltinEvent {
            seq,
            value: value_of(seq),
            stamp_ns: now_ns(),
            checksum: 0,
        };
    }
}

/// Paces a generator at `rate` events per second: [`Pacer::wait`] before each event returns
/// once it is due. Sleeps when more than a millisecond early, spins with a hint otherwise.
#[derive(Debug, Clone)]
pub struct Pacer {
    start: Instant,
    interval_ns: f64,
    sent: u64,
}

impl Pacer {
    /// A pacer for `rate` events per second (`rate` > 0).
    pub fn new(rate: f64) -> Self {
        Pacer {
            start: Instant::now(),
            interval_ns: 1e9 / rate.max(f64::MIN_POSITIVE),
            sent: 0,
        }
    }

    /// Waits until the next event is due.
    pub fn wait(&mut self) {
        let due = Duration::from_nanos((self.sent as f64 * self.interval_ns) as u64);
        self.sent += 1;
        loop {
            let now = self.start.elapsed();
            if now >= due {
                return;
            }
            let early = due - now;
            if early > Duration::from_millis(1) {
                std::thread::sleep(early - Duration::from_micros(500));
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// The stock registries: every built-in kind, in the SingleRing registry and the LaneGraph
/// one. Add a product's own kinds to them before resolving.
pub fn builtin_kinds() -> (StageRegistry<BuiltinEvent>, GraphRegistry) {
    let mut single = StageRegistry::new();
    let mut graph = GraphRegistry::new();
    register_builtins(&mut single, &mut graph).expect("the registries start empty");
    (single, graph)
}

/// Registers every built-in kind in `single` and `graph`; fails (naming it) if either already
/// has one of the kinds.
pub fn register_builtins(
    single: &mut StageRegistry<BuiltinEvent>,
    graph: &mut GraphRegistry,
) -> Result<(), DuplicateKind> {
    single
        .register::<Pass>()?
        .register::<Count>()?
        .register_mut::<Checksum>()?
        .register::<Verify>()?
        .register::<Stamp>()?
        .register::<Sleep>()?
        .register::<Fail>()?;
    graph
        .register_shm::<Pass, BuiltinEvent, BuiltinEvent>()?
        .register_shm::<Count, BuiltinEvent, BuiltinEvent>()?
        .register_shm::<Checksum, BuiltinEvent, BuiltinEvent>()?
        .register_shm::<Verify, BuiltinEvent, BuiltinEvent>()?
        .register_shm::<Stamp, BuiltinEvent, BuiltinEvent>()?
        .register_shm::<Sleep, BuiltinEvent, BuiltinEvent>()?
        .register_shm::<Fail, BuiltinEvent, BuiltinEvent>()?;
    Ok(())
}

/// What one event does in every model: `Ok(())` to pass it on.
trait Builtin: Send + 'static {
    fn handle(&mut self, e: &mut BuiltinEvent) -> Result<(), StageError>;
    fn start(&mut self, _info: &StageInfo) {}
    fn finish(&mut self) {}
}

macro_rules! builtin_stage {
    ($t:ty) => {
        impl LaneStage<BuiltinEvent, BuiltinEvent> for $t {
            #[inline]
            fn on_event(
                &mut self,
                event: &BuiltinEvent,
                out: &mut Emitter<'_, BuiltinEvent>,
            ) -> Result<(), StageError> {
                let mut e = *event;
                Builtin::handle(self, &mut e)?;
                out.emit(|slot| *slot = e)
            }
            fn on_start(&mut self, info: &StageInfo) -> Result<(), StageError> {
                Builtin::start(self, info);
                Ok(())
            }
            fn on_shutdown(&mut self) {
                Builtin::finish(self);
            }
        }
    };
    ($t:ty, read) => {
        builtin_stage!($t);
        impl Stage<BuiltinEvent> for $t {
            #[inline]
            fn on_event(
                &mut self,
                event: &BuiltinEvent,
                _: &EventContext,
            ) -> Result<(), StageError> {
                let mut e = *event;
                Builtin::handle(self, &mut e)
            }
            fn on_start(&mut self, info: &StageInfo) -> Result<(), StageError> {
                Builtin::start(self, info);
                Ok(())
            }
            fn on_shutdown(&mut self) {
                Builtin::finish(self);
            }
        }
    };
    ($t:ty, write) => {
        builtin_stage!($t);
        impl MutStage<BuiltinEvent> for $t {
            #[inline]
            fn on_event(
                &mut self,
                event: &mut BuiltinEvent,
                _: &EventContext,
            ) -> Result<(), StageError> {
                Builtin::handle(self, event)
            }
        }
    };
}

/// `pass`: does nothing.
#[derive(Debug, Default, StageDescriptor)]
#[stage(name = "pass")]
pub struct Pass;

impl Builtin for Pass {
    #[inline]
    fn handle(&mut self, _: &mut BuiltinEvent) -> Result<(), StageError> {
        Ok(())
    }
}
builtin_stage!(Pass, read);

/// `count`: counts the events it sees.
#[derive(Debug, Default, StageDescriptor)]
#[stage(name = "count")]
pub struct Count {
    #[param(skip)]
    seen: u64,
}

impl Builtin for Count {
    #[inline]
    fn handle(&mut self, _: &mut BuiltinEvent) -> Result<(), StageError> {
        self.seen += 1;
        Ok(())
    }
}
builtin_stage!(Count, read);

/// `checksum`: stamps each event's checksum, or verifies the one it carries.
#[derive(Debug, Default, StageDescriptor)]
#[stage(name = "checksum")]
pub struct Checksum;

impl Builtin for Checksum {
    #[inline]
    fn handle(&mut self, e: &mut BuiltinEvent) -> Result<(), StageError> {
        let want = checksum_of(e.seq, e.value);
        if e.checksum == 0 {
            e.checksum = want;
            Ok(())
        } else if e.checksum == want {
            Ok(())
        } else {
            Err(StageError::msg(format!(
                "event {} carries checksum {:#018x}, expected {want:#018x}",
                e.seq, e.checksum
            )))
        }
    }
}
builtin_stage!(Checksum, write);

/// `verify`: checks each event's checksum.
#[derive(Debug, Default, StageDescriptor)]
#[stage(name = "verify")]
pub struct Verify;

impl Builtin for Verify {
    #[inline]
    fn handle(&mut self, e: &mut BuiltinEvent) -> Result<(), StageError> {
        if e.checksum == 0 {
            return Err(StageError::msg(format!(
                "event {} carries no checksum: run a `checksum` stage before `verify`",
                e.seq
            )));
        }
        Checksum.handle(e)
    }
}
builtin_stage!(Verify, read);

/// A latency histogram: counts per power-of-two bucket of nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    buckets: [u64; 64],
    count: u64,
    max_ns: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: [0; 64],
            count: 0,
            max_ns: 0,
        }
    }
}

impl LatencyHistogram {
    /// Records one latency.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.buckets[(64 - ns.leading_zeros()).min(63) as usize] += 1;
        self.count += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    /// Adds `other`'s counts to this one.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Latencies recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest latency recorded, in nanoseconds.
    pub fn max_ns(&self) -> u64 {
        self.max_ns
    }

    /// An upper bound of the `q` quantile (0.0..=1.0) in nanoseconds: the top of the
    /// power-of-two bucket holding it (so within a factor of two), capped at the maximum.
    /// `None` when nothing was recorded.
    pub fn quantile_ns(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let top = if i == 0 { 0 } else { (1u64 << i.min(63)) - 1 };
                return Some(top.min(self.max_ns));
            }
        }
        Some(self.max_ns)
    }
}

type LatencyKey = (String, String, u32);

fn latencies() -> &'static Mutex<BTreeMap<LatencyKey, LatencyHistogram>> {
    static LATENCIES: OnceLock<Mutex<BTreeMap<LatencyKey, LatencyHistogram>>> = OnceLock::new();
    LATENCIES.get_or_init(Default::default)
}

/// Takes the histograms the `stamp` stages of pipeline `pipeline` recorded (those that ended
/// cleanly), per stage name, shards merged.
pub fn take_latencies(pipeline: &str) -> BTreeMap<String, LatencyHistogram> {
    let mut map = latencies().lock().unwrap_or_else(|p| p.into_inner());
    let keys: Vec<LatencyKey> = map.keys().filter(|k| k.0 == pipeline).cloned().collect();
    let mut out: BTreeMap<String, LatencyHistogram> = BTreeMap::new();
    for key in keys {
        if let Some(h) = map.remove(&key) {
            out.entry(key.1).or_default().merge(&h);
        }
    }
    out
}

/// `stamp`: records each event's latency since the generator published it.
#[derive(Debug, Default, StageDescriptor)]
#[stage(name = "stamp")]
pub struct Stamp {
    #[param(skip)]
    key: Option<LatencyKey>,
    #[param(skip)]
    histogram: LatencyHistogram,
}

impl Builtin for Stamp {
    #[inline]
    fn handle(&mut self, e: &mut BuiltinEvent) -> Result<(), StageError> {
        self.histogram.record(now_ns().saturating_sub(e.stamp_ns));
        Ok(())
    }
    fn start(&mut self, info: &StageInfo) {
        self.key = Some((info.pipeline.clone(), info.stage.clone(), info.shard));
    }
    fn finish(&mut self) {
        if let Some(key) = self.key.take() {
            let mut map = latencies().lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key).or_default().merge(&self.histogram);
        }
    }
}
builtin_stage!(Stamp, read);

/// `sleep`: sleeps `micros` µs every `every` events.
#[derive(Debug, StageDescriptor)]
#[stage(name = "sleep")]
pub struct Sleep {
    #[param(default = 100)]
    micros: u64,
    #[param(default = 1000)]
    every: u64,
    #[param(skip)]
    seen: u64,
}

impl Builtin for Sleep {
    #[inline]
    fn handle(&mut self, _: &mut BuiltinEvent) -> Result<(), StageError> {
        self.seen += 1;
        if self.every > 0 && self.seen % self.every == 0 {
            std::thread::sleep(Duration::from_micros(self.micros));
        }
        Ok(())
    }
}
builtin_stage!(Sleep, read);

/// `fail`: fails at its `at`-th event.
#[derive(Debug, StageDescriptor)]
#[stage(name = "fail")]
pub struct Fail {
    #[param(default = 1)]
    at: u64,
    #[param(skip)]
    seen: u64,
}

impl Builtin for Fail {
    #[inline]
    fn handle(&mut self, e: &mut BuiltinEvent) -> Result<(), StageError> {
        self.seen += 1;
        if self.seen == self.at {
            return Err(StageError::msg(format!(
                "failing at event {} (seq {}) as configured (`at = {}`)",
                self.seen, e.seq, self.at
            )));
        }
        Ok(())
    }
}
builtin_stage!(Fail, read);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_stamps_then_verifies() {
        let mut g = Generator::new();
        let mut e = BuiltinEvent::default();
        g.fill(&mut e);
        let mut c = Checksum;
        c.handle(&mut e).unwrap();
        assert_ne!(e.checksum, 0);
        c.handle(&mut e).unwrap();
        e.value ^= 1;
        let err = c.handle(&mut e).unwrap_err();
        assert!(err.to_string().contains("expected"), "{err}");
    }

    #[test]
    fn fail_fails_at_its_event() {
        let mut f = Fail { at: 3, seen: 0 };
        let mut e = BuiltinEvent::default();
        assert!(f.handle(&mut e).is_ok());
        assert!(f.handle(&mut e).is_ok());
        assert!(f.handle(&mut e).is_err());
        assert!(f.handle(&mut e).is_ok());
    }

    #[test]
    fn histogram_quantiles_bound_the_truth() {
        let mut h = LatencyHistogram::default();
        assert_eq!(h.quantile_ns(0.5), None);
        for ns in 1..=1000u64 {
            h.record(ns);
        }
        let p50 = h.quantile_ns(0.5).unwrap();
        assert!((500..=1023).contains(&p50), "{p50}");
        assert_eq!(h.quantile_ns(1.0), Some(1000));
        assert_eq!(h.count(), 1000);
    }

    #[test]
    fn generator_is_reproducible() {
        let mut a = Generator::starting_at(7);
        let mut e = BuiltinEvent::default();
        a.fill(&mut e);
        assert_eq!((e.seq, e.value), (7, value_of(7)));
        assert_eq!(a.next_seq(), 8);
    }
}
