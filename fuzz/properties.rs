//! The properties the fuzz targets check, in one place for both users:
//!
//! * the cargo-fuzz crate (`fuzz/src/lib.rs`, `#[path = "../properties.rs"]`), whose targets
//!   call [`from_toml_target`], [`from_kv_target`] and [`plan_pipeline_target`] on every
//!   input; and
//! * the stable CI test `byteor/tests/fuzz_corpus.rs` (`#[path = "../../fuzz/properties.rs"]`),
//!   which replays the checked-in corpus and regressions through the same functions and runs
//!   [`check_plan`] over proptest-generated plans.
//!
//! Every check panics (with the input in the message) when a property breaks, which is what
//! libFuzzer reports as a crash. The file uses nothing but `byteor` and `std`.
//!
//! # Properties
//!
//! Documents ([`from_toml_target`]): text that `PipelinePlanV2::from_toml` accepts gives a
//! plan whose `to_toml` reads back as the same plan and the same text; then every plan
//! property below holds for it.
//!
//! Plans ([`check_plan`]), valid or not:
//! * `validate_plan_v2`, `to_toml`, `lower_v2` and the error `Display`s do not panic;
//! * `from_toml(to_toml(plan))` is the plan again, or (for a plan that does not validate
//!   only) an error; it never gives a different plan;
//! * `lower_v2` succeeds exactly when `validate_plan_v2` does, and is deterministic;
//! * the spec of a valid plan passes `validate_v1`, keeps the plan's target and stage names,
//!   and passes every spec property below;
//! * a small valid SingleRing plan (at most 4 stages, 2 shards, 64 slots) runs: resolved
//!   through a `StageRegistry` of trivial stages, spawned, fed a few events, closed and
//!   joined within a timeout, every stage having seen every event.
//!
//! Specs ([`check_spec`]): `validate_v1`, `describe` and `dot` do not panic (`dot` writes a
//! `digraph`); `from_kv(to_kv(spec))` is the spec again, bit for bit (floats included),
//! writes the same text and has the same fingerprint, which displays as 16 lowercase hex
//! digits and parses back.
//!
//! Spec text ([`from_kv_target`]): text that `PipelineSpecV1::from_kv` accepts gives a spec
//! with every spec property.
//!
//! Limits ([`v1_limits`]): a plan that validates is within every documented v1 limit
//! (`NAME_V1_MAX_BYTES`, `PARAM_V1_MAX_DEPTH`, `RING_V1_MAX_CAPACITY`,
//! `SINGLE_RING_V1_MAX_SHARDS`, `PIPELINE_V1_MAX_THREADS`).
#![allow(dead_code)]

#[path = "plan_bytes.rs"]
pub mod plan_bytes;

use std::collections::BTreeMap;
use std::time::Duration;

use byteor::exec::{EventContext, MutStage, Stage, StageDescriptor, StageError, StageRegistry};
use byteor::lower::lower_v2;
use byteor::plan::{validate_plan_v2, ParamValue, PipelinePlanV2, StageDecl};
use byteor::spec::{
    describe, dot, validate_v1, Fingerprint, PipelineSpecV1, SingleRingSpec, TopologySpec,
};
use byteor::{
    NAME_V1_MAX_BYTES, PARAM_V1_MAX_DEPTH, PIPELINE_V1_MAX_THREADS, RING_V1_MAX_CAPACITY,
    SINGLE_RING_V1_MAX_SHARDS,
};

/// Most stages, shards and slots of a plan the checks actually run.
pub const RUN_MAX_STAGES: usize = 4;
/// See [`RUN_MAX_STAGES`].
pub const RUN_MAX_SHARDS: u32 = 2;
/// See [`RUN_MAX_STAGES`].
pub const RUN_MAX_CAPACITY: u32 = 64;
/// How long a run may take to drain and join before the check fails.
pub const RUN_JOIN_TIMEOUT: Duration = Duration::from_secs(20);

/// What a check got to exercise, so a corpus replay can assert its files reach every stage
/// of the pipeline, not just the parsers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    /// The input parsed (a plan document or kv text) or decoded (plan bytes).
    pub parsed: usize,
    /// A plan validated and lowered.
    pub lowered: usize,
    /// A spec passed `validate_v1`.
    pub valid_spec: usize,
    /// A plan was spawned and ran.
    pub ran: usize,
}

impl std::ops::AddAssign for Reached {
    fn add_assign(&mut self, other: Reached) {
        self.parsed += other.parsed;
        self.lowered += other.lowered;
        self.valid_spec += other.valid_spec;
        self.ran += other.ran;
    }
}

/// Fuzz target `from_toml`: arbitrary bytes (read as UTF-8, lossily) through
/// `PipelinePlanV2::from_toml`, then [`check_document_plan`] on success.
pub fn from_toml_target(data: &[u8]) -> Reached {
    let text = String::from_utf8_lossy(data);
    match PipelinePlanV2::from_toml(&text) {
        Ok(plan) => {
            let mut reached = check_document_plan(&plan);
            reached.parsed += 1;
            reached
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(
                e.line() >= 1 && e.column() >= 1,
                "error position must be 1-based: {shown}"
            );
            assert!(
                shown.starts_with(&format!("line {}, column {}", e.line(), e.column())),
                "error must start with its position: {shown}"
            );
            Reached::default()
        }
    }
}

/// Fuzz target `from_kv`: arbitrary bytes (read as UTF-8, lossily) through
/// `PipelineSpecV1::from_kv`, then [`check_spec`] on success.
pub fn from_kv_target(data: &[u8]) -> Reached {
    let text = String::from_utf8_lossy(data);
    match PipelineSpecV1::from_kv(&text) {
        Ok(spec) => {
            let mut reached = check_spec(&spec);
            reached.parsed += 1;
            reached
        }
        Err(e) => {
            let _ = e.to_string();
            assert!(e.line() >= 1, "kv error line must be 1-based: {e}");
            Reached::default()
        }
    }
}

/// Fuzz target `plan_pipeline`: bytes decoded into a plan by [`plan_bytes::decode`], then
/// [`check_plan`]. Also checks the harness itself: the decoded plan encodes back to bytes that
/// decode to the same plan (the seed generator relies on it).
pub fn plan_pipeline_target(data: &[u8]) -> Reached {
    let plan = plan_bytes::decode(data);
    let bytes = plan_bytes::encode(&plan)
        .unwrap_or_else(|e| panic!("a decoded plan is within the encoder's bounds: {e:?}"));
    let again = plan_bytes::decode(&bytes);
    assert!(
        plans_equal(&again, &plan, Floats::Bits),
        "plan_bytes: decode(encode(plan)) differs\nplan: {plan:?}\nagain: {again:?}"
    );
    let mut reached = check_plan(&plan);
    reached.parsed += 1;
    reached
}

/// [`check_plan`] for a plan read from a document: the document round trip must hold whether
/// or not the plan validates, since `from_toml` already accepted what `to_toml` writes back.
pub fn check_document_plan(plan: &PipelinePlanV2) -> Reached {
    let text = plan.to_toml();
    match PipelinePlanV2::from_toml(&text) {
        Ok(_) => {}
        Err(e) => panic!(
            "to_toml of a plan read from a document does not read back: {e}\n--- to_toml:\n{text}"
        ),
    }
    check_plan(plan)
}

/// Every plan property (see the module docs).
pub fn check_plan(plan: &PipelinePlanV2) -> Reached {
    let mut reached = Reached::default();
    let verdict = validate_plan_v2(plan);
    if let Err(errors) = &verdict {
        assert!(!errors.is_empty(), "validation errors are never empty");
        assert_eq!(errors.len(), errors.iter().count());
        let shown = errors.to_string();
        assert!(
            shown.lines().count() >= errors.len(),
            "one violation per line at least: {shown}"
        );
    }

    // Document round trip.
    let text = plan.to_toml();
    match PipelinePlanV2::from_toml(&text) {
        Ok(back) => {
            assert!(
                plans_equal(&back, plan, Floats::NanAsNan),
                "from_toml(to_toml(plan)) != plan\n--- to_toml:\n{text}\n--- plan: {plan:?}\n--- back: {back:?}"
            );
            let again = back.to_toml();
            assert_eq!(again, text, "to_toml is not stable across a round trip");
            assert_eq!(
                validate_plan_v2(&back),
                verdict,
                "validation differs after a document round trip\n--- to_toml:\n{text}"
            );
        }
        Err(e) => assert!(
            verdict.is_err(),
            "a plan that validates must read back from its to_toml: {e}\n--- to_toml:\n{text}"
        ),
    }

    // Lowering.
    let lowered = lower_v2(plan);
    let spec = match (&verdict, lowered) {
        (Ok(()), Ok(spec)) => spec,
        (Ok(()), Err(e)) => {
            panic!("lower_v2 fails on a plan that validates: {e}\n--- to_toml:\n{text}")
        }
        (Err(errors), Ok(_)) => panic!(
            "lower_v2 accepts a plan validate_plan_v2 rejects:\n{errors}\n--- to_toml:\n{text}"
        ),
        (Err(_), Err(e)) => {
            let _ = e.to_string();
            return reached;
        }
    };
    reached.lowered += 1;
    if let Err(why) = v1_limits(plan, &spec) {
        panic!("a plan that validates breaks a documented v1 limit: {why}\n--- to_toml:\n{text}");
    }
    if let Err(errors) = validate_v1(&spec) {
        panic!("the spec lower_v2 returns fails validate_v1:\n{errors}\n--- to_toml:\n{text}");
    }
    let again = lower_v2(plan).expect("lower_v2 succeeded once on this plan");
    assert!(
        specs_equal(&again, &spec, Floats::Bits),
        "lower_v2 is not deterministic\n--- to_toml:\n{text}"
    );
    assert_eq!(spec.target(), plan.target(), "the spec changes the target");
    assert_eq!(
        spec.stages.iter().map(|s| &s.name).collect::<Vec<_>>(),
        plan.stages.iter().map(|s| &s.name).collect::<Vec<_>>(),
        "the spec's stage table is not the plan's stage catalog"
    );
    reached += check_spec(&spec);
    reached.ran += run_if_small(plan, &spec);
    reached
}

/// Every spec property (see the module docs).
pub fn check_spec(spec: &PipelineSpecV1) -> Reached {
    let mut reached = Reached::default();
    match validate_v1(spec) {
        Ok(()) => reached.valid_spec += 1,
        Err(errors) => {
            assert!(!errors.is_empty(), "spec errors are never empty");
            let _ = errors.to_string();
        }
    }
    let _ = describe(spec);
    let graph = dot(spec);
    assert!(
        graph.starts_with("digraph"),
        "dot output is not a digraph: {graph}"
    );

    let kv = spec.to_kv();
    let back = match PipelineSpecV1::from_kv(&kv) {
        Ok(back) => back,
        Err(e) => panic!("from_kv(to_kv(spec)) fails: {e}\n--- to_kv:\n{kv}"),
    };
    assert!(
        specs_equal(&back, spec, Floats::Bits),
        "from_kv(to_kv(spec)) != spec\n--- to_kv:\n{kv}\n--- spec: {spec:?}\n--- back: {back:?}"
    );
    assert_eq!(back.to_kv(), kv, "to_kv is not stable across a round trip");
    let fingerprint = spec.fingerprint();
    assert_eq!(
        back.fingerprint(),
        fingerprint,
        "fingerprint changes across a kv round trip"
    );
    let shown = fingerprint.to_string();
    assert!(
        shown.len() == 16
            && shown
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "a fingerprint displays as 16 lowercase hex digits, not {shown:?}"
    );
    assert_eq!(
        shown.parse::<Fingerprint>().ok(),
        Some(fingerprint),
        "a fingerprint parses back from its display"
    );
    reached
}

// ---- v1 limits ---------------------------------------------------------------------------

/// Nesting depth of a parameter value as `PARAM_V1_MAX_DEPTH` counts it: a scalar is 1, an
/// array or table one more than its deepest element (an empty one is 1).
pub fn param_depth(value: &ParamValue) -> usize {
    match value {
        ParamValue::Array(items) => 1 + items.iter().map(param_depth).max().unwrap_or(0),
        ParamValue::Table(table) => 1 + table_depth(table),
        _ => 1,
    }
}

/// The deepest value of a parameter table (0 when empty).
pub fn table_depth(table: &BTreeMap<String, ParamValue>) -> usize {
    table.values().map(param_depth).max().unwrap_or(0)
}

/// The documented v1 limit (`byteor::*_V1_MAX_*`) a valid plan or its spec exceeds, if any.
pub fn v1_limits(plan: &PipelinePlanV2, spec: &PipelineSpecV1) -> Result<(), String> {
    let long = |what: &str, name: &str| -> Result<(), String> {
        if name.len() > NAME_V1_MAX_BYTES {
            Err(format!(
                "{what} is {} bytes, NAME_V1_MAX_BYTES is {NAME_V1_MAX_BYTES}",
                name.len()
            ))
        } else {
            Ok(())
        }
    };
    long("the pipeline name", &plan.name)?;
    for b in plan.ingress.iter().chain(&plan.egress) {
        long("a boundary name", &b.name)?;
    }
    for s in &plan.stages {
        long("a stage name", &s.name)?;
        if let Some(kind) = &s.kind {
            long("a stage kind", kind)?;
        }
        for key in s.params.keys() {
            long("a parameter name", key)?;
        }
        let depth = table_depth(&s.params);
        if depth > PARAM_V1_MAX_DEPTH {
            return Err(format!(
                "stage {:?} has a parameter {depth} deep, PARAM_V1_MAX_DEPTH is {PARAM_V1_MAX_DEPTH}",
                s.name
            ));
        }
    }
    let capacity = |what: &str, c: u32| -> Result<(), String> {
        if c > RING_V1_MAX_CAPACITY {
            Err(format!(
                "{what} is {c}, RING_V1_MAX_CAPACITY is {RING_V1_MAX_CAPACITY}"
            ))
        } else {
            Ok(())
        }
    };
    match &spec.topology {
        TopologySpec::SingleRing(ring) => {
            capacity("single_ring.capacity", ring.capacity)?;
            if let Some(key) = &ring.shard_key {
                long("the shard key", key)?;
            }
            if ring.shards > SINGLE_RING_V1_MAX_SHARDS {
                return Err(format!(
                    "single_ring.shards is {}, SINGLE_RING_V1_MAX_SHARDS is {SINGLE_RING_V1_MAX_SHARDS}",
                    ring.shards
                ));
            }
            let threads = spec.stages.len() as u64 * u64::from(ring.shards);
            if threads > PIPELINE_V1_MAX_THREADS as u64 {
                return Err(format!(
                    "{threads} stage threads (stages × shards), PIPELINE_V1_MAX_THREADS is {PIPELINE_V1_MAX_THREADS}"
                ));
            }
        }
        TopologySpec::LaneGraph(graph) => {
            for lane in &graph.lanes {
                capacity("a lane capacity", lane.capacity)?;
            }
            if let Some(c) = plan.lane_graph.as_ref().and_then(|g| g.boundary.capacity) {
                capacity("lane_graph.boundary.capacity", c)?;
            }
            if graph.roles.len() > PIPELINE_V1_MAX_THREADS {
                return Err(format!(
                    "{} roles, PIPELINE_V1_MAX_THREADS is {PIPELINE_V1_MAX_THREADS}",
                    graph.roles.len()
                ));
            }
        }
    }
    Ok(())
}

// ---- running small plans -----------------------------------------------------------------

/// A stage that only counts (the runtime counts for it).
#[derive(StageDescriptor, Default)]
#[stage(name = "fuzz_count")]
struct Count;

impl Stage<u64> for Count {
    fn on_event(&mut self, _: &u64, _: &EventContext) -> Result<(), StageError> {
        Ok(())
    }
}

/// The one mutating stage: makes every (even) event odd.
#[derive(StageDescriptor, Default)]
#[stage(name = "fuzz_bump")]
struct Bump;

impl MutStage<u64> for Bump {
    fn on_event(&mut self, v: &mut u64, _: &EventContext) -> Result<(), StageError> {
        *v += 1;
        Ok(())
    }
}

/// A stage after `fuzz_bump`: every event it sees must have been bumped.
#[derive(StageDescriptor, Default)]
#[stage(name = "fuzz_after_bump")]
struct AfterBump;

impl Stage<u64> for AfterBump {
    fn on_event(&mut self, v: &u64, _: &EventContext) -> Result<(), StageError> {
        if *v % 2 == 1 {
            Ok(())
        } else {
            Err(StageError::msg(format!(
                "event {v} reached a stage ordered after `fuzz_bump` unbumped"
            )))
        }
    }
}

fn registry() -> StageRegistry<u64> {
    let mut registry = StageRegistry::new();
    registry
        .register::<Count>()
        .and_then(|r| r.register_mut::<Bump>())
        .and_then(|r| r.register::<AfterBump>())
        .expect("the three kinds are distinct");
    registry
}

/// Stage 0 dominates when every other stage runs after it, directly or not; then it is the
/// only stage that may mutate events.
fn first_stage_dominates(ring: &SingleRingSpec) -> bool {
    let mut reach = vec![0u32; ring.deps.len()];
    for i in 0..ring.deps.len() {
        let mut r = ring.deps[i];
        for j in ring.dependencies(i) {
            r |= reach.get(j).copied().unwrap_or(0);
        }
        reach[i] = r;
    }
    reach.iter().skip(1).all(|r| r & 1 == 1)
}

/// Runs a small, valid SingleRing plan through the registry (see the module docs). Returns 1
/// when it ran, 0 when the plan is not one the checks run.
fn run_if_small(plan: &PipelinePlanV2, spec: &PipelineSpecV1) -> usize {
    let TopologySpec::SingleRing(ring) = &spec.topology else {
        return 0;
    };
    if spec.stages.len() > RUN_MAX_STAGES
        || ring.shards > RUN_MAX_SHARDS
        || ring.capacity > RUN_MAX_CAPACITY
    {
        return 0;
    }

    // The plan as it is, with each stage's kind pointing at a registered trivial stage and no
    // params (the trivial stages take none). Stage 0 mutates when it is ordered before every
    // other stage, and the others then check they only see mutated events.
    let bump = first_stage_dominates(ring);
    let mut run = plan.clone();
    for (i, stage) in run.stages.iter_mut().enumerate() {
        let kind = match (bump, i) {
            (true, 0) => "fuzz_bump",
            (true, _) => "fuzz_after_bump",
            (false, _) => "fuzz_count",
        };
        *stage = StageDecl {
            kind: Some(kind.to_owned()),
            params: BTreeMap::new(),
            ..stage.clone()
        };
    }
    let text = run.to_toml();
    let registry = registry();
    let resolved = registry
        .resolve(&run)
        .unwrap_or_else(|e| panic!("a valid small plan does not resolve: {e}\n--- plan:\n{text}"));

    let events = 2 * u64::from(ring.capacity) + 3;
    let report = if ring.shards == 1 {
        let (mut producer, control) = resolved
            .spawn()
            .unwrap_or_else(|e| panic!("spawn failed: {e}\n--- plan:\n{text}"));
        for i in 0..events {
            producer
                .publish(|v| *v = 2 * i)
                .unwrap_or_else(|e| panic!("publish failed: {e}\n--- plan:\n{text}"));
        }
        producer.close();
        join(control.join_timeout(RUN_JOIN_TIMEOUT), &text)
    } else {
        let (mut producer, control) = resolved
            .spawn_sharded(|v: &u64| *v / 2)
            .unwrap_or_else(|e| panic!("spawn_sharded failed: {e}\n--- plan:\n{text}"));
        for i in 0..events {
            producer
                .publish(|v| *v = 2 * i)
                .unwrap_or_else(|e| panic!("publish failed: {e}\n--- plan:\n{text}"));
        }
        producer.close();
        join(control.join_timeout(RUN_JOIN_TIMEOUT), &text)
    };
    assert_eq!(
        report.total_published(),
        events,
        "published count\n--- plan:\n{text}"
    );
    for stage in &spec.stages {
        assert_eq!(
            report.processed(&stage.name),
            events,
            "stage {:?} did not see every event\n--- plan:\n{text}",
            stage.name
        );
    }
    1
}

fn join<R, E: std::fmt::Display>(result: Result<R, E>, text: &str) -> R {
    match result {
        Ok(report) => report,
        Err(e) => {
            let shown = e.to_string();
            // A timed-out join hands back the control handle, whose drop would wait for the
            // stuck threads; leak it so the failure is reported instead of hanging.
            std::mem::forget(e);
            panic!("the pipeline did not end cleanly: {shown}\n--- plan:\n{text}")
        }
    }
}

// ---- equality that sees float bits -------------------------------------------------------

/// How parameter floats compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Floats {
    /// Bit for bit (the kv codec keeps NaN payloads and signed zeros).
    Bits,
    /// Bit for bit, except that any two NaNs are equal (TOML writes NaN as `nan`/`-nan`,
    /// without its payload; `to_toml`'s stable text covers the sign).
    NanAsNan,
}

fn floats_equal(a: f64, b: f64, mode: Floats) -> bool {
    a.to_bits() == b.to_bits() || (mode == Floats::NanAsNan && a.is_nan() && b.is_nan())
}

/// Parameter values equal, floats compared per `mode`.
pub fn values_equal(a: &ParamValue, b: &ParamValue, mode: Floats) -> bool {
    match (a, b) {
        (ParamValue::Float(x), ParamValue::Float(y)) => floats_equal(*x, *y, mode),
        (ParamValue::Array(x), ParamValue::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| values_equal(x, y, mode))
        }
        (ParamValue::Table(x), ParamValue::Table(y)) => tables_equal(x, y, mode),
        _ => a == b,
    }
}

fn tables_equal(
    a: &BTreeMap<String, ParamValue>,
    b: &BTreeMap<String, ParamValue>,
    mode: Floats,
) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && values_equal(va, vb, mode))
}

/// Plans equal, parameter floats compared per `mode`.
pub fn plans_equal(a: &PipelinePlanV2, b: &PipelinePlanV2, mode: Floats) -> bool {
    a.name == b.name
        && a.target == b.target
        && a.ingress == b.ingress
        && a.egress == b.egress
        && a.single_ring == b.single_ring
        && a.lane_graph == b.lane_graph
        && a.stages.len() == b.stages.len()
        && a.stages.iter().zip(&b.stages).all(|(x, y)| {
            x.name == y.name
                && x.kind == y.kind
                && x.side_effects == y.side_effects
                && x.after == y.after
                && tables_equal(&x.params, &y.params, mode)
        })
}

/// Specs equal, parameter floats compared per `mode`.
pub fn specs_equal(a: &PipelineSpecV1, b: &PipelineSpecV1, mode: Floats) -> bool {
    a.name == b.name
        && a.topology == b.topology
        && a.stages.len() == b.stages.len()
        && a.stages.iter().zip(&b.stages).all(|(x, y)| {
            x.id == y.id
                && x.name == y.name
                && x.kind == y.kind
                && x.side_effects == y.side_effects
                && tables_equal(&x.params, &y.params, mode)
        })
}
