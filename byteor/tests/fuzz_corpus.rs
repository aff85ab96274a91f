//! The fuzz targets' properties on stable, bounded for CI:
//!
//! * every checked-in corpus file (`fuzz/corpus/<target>/`) and every regression input
//!   (`fuzz/regressions/<target>/`) replayed through the target's property function;
//! * the same properties over proptest-generated plans (`common/plan_strategy.rs`).
//!
//! The property functions are `fuzz/properties.rs`, included here and in the cargo-fuzz crate,
//! so the two cannot drift. See `fuzz/README.md` for running the fuzzers themselves.
#![cfg(feature = "toml")]

#[path = "../../fuzz/properties.rs"]
mod properties;

#[path = "common/plan_strategy.rs"]
mod plan_strategy;

use std::cell::Cell;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use byteor::plan::{ExecutionTargetV1, OrderingMode, PipelinePlanV2, ProducerMode, SchedulingMode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRng, TestRunner};

use properties::{plan_bytes, Floats, Reached};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir`, sorted; none when the directory does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "<non-text panic>".to_owned())
}

/// Replays the corpus and regressions of `target` through `check`; fails listing every input
/// that breaks a property. Returns what the inputs reached.
fn replay(target: &str, check: fn(&[u8]) -> Reached) -> Reached {
    let corpus = files_in(&fuzz_dir().join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "no corpus for `{target}`; run `cargo run --manifest-path fuzz/Cargo.toml --bin gen_seeds`"
    );
    let regressions = files_in(&fuzz_dir().join("regressions").join(target));

    let mut reached = Reached::default();
    let mut failures = Vec::new();
    for file in corpus.iter().chain(&regressions) {
        let bytes = fs::read(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        match catch_unwind(AssertUnwindSafe(|| check(&bytes))) {
            Ok(r) => reached += r,
            Err(payload) => failures.push(format!("{}: {}", file.display(), panic_text(&*payload))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} `{target}` inputs break a property:\n\n{}",
        failures.len(),
        corpus.len() + regressions.len(),
        failures.join("\n\n")
    );
    reached
}

#[test]
fn from_toml_corpus_keeps_every_property() {
    let reached = replay("from_toml", properties::from_toml_target);
    // The seeds are documents from the docs and tests plus `to_toml` of representative plans:
    // most parse, many lower, and the small rings among them run.
    assert!(reached.parsed >= 20, "{reached:?}");
    assert!(reached.lowered >= 10, "{reached:?}");
    assert!(reached.ran >= 5, "{reached:?}");
}

#[test]
fn from_kv_corpus_keeps_every_property() {
    let reached = replay("from_kv", properties::from_kv_target);
    // Specs of valid plans and specs broken on purpose: both kinds parse.
    assert!(reached.parsed >= 20, "{reached:?}");
    assert!(reached.valid_spec >= 10, "{reached:?}");
    assert!(reached.valid_spec < reached.parsed, "{reached:?}");
}

#[test]
fn plan_pipeline_corpus_keeps_every_property() {
    let reached = replay("plan_pipeline", properties::plan_pipeline_target);
    assert!(reached.parsed >= 20, "{reached:?}");
    assert!(reached.lowered >= 10, "{reached:?}");
    assert!(reached.ran >= 5, "{reached:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Generated plans of both targets, valid or not, keep every plan property; their byte
    /// form (when within the `plan_pipeline` bounds) decodes to the same plan and keeps them
    /// too.
    #[test]
    fn generated_plans_keep_every_property(plan in plan_strategy::plan()) {
        properties::check_plan(&plan);
        if let Ok(bytes) = plan_bytes::encode(&plan) {
            let decoded = plan_bytes::decode(&bytes);
            prop_assert!(
                properties::plans_equal(&decoded, &plan, Floats::Bits),
                "plan_bytes round trip: {:?} became {:?}", plan, decoded
            );
            properties::plan_pipeline_target(&bytes);
        }
    }

    /// Generated plans written as documents keep the `from_toml` target's properties.
    #[test]
    fn generated_documents_keep_every_property(plan in plan_strategy::plan()) {
        properties::from_toml_target(plan.to_toml().as_bytes());
    }
}

/// Small SingleRing plans from the shared strategies: 1 to 4 generated stages (names, kinds,
/// params, side effects) under generated constraints, repaired just enough that most of them
/// validate and are spawned through the registry — names made unique, each `after` list
/// drawn from the earlier stages, capacity and shards in the range the checks run, the v1
/// producer and scheduling, and a shard key when there are two shards. Deterministic, so the
/// number of runs it asserts is stable.
#[test]
fn small_generated_rings_run() {
    let strategy = (
        proptest::collection::vec(
            (plan_strategy::stage(), any::<u8>()),
            1..=byteor::SINGLE_RING_V1_MAX_STAGES,
        ),
        plan_strategy::single_ring_constraints(),
        1u32..=6,
        1u32..=2,
    )
        .prop_map(|(stages, mut constraints, capacity_log2, shards)| {
            constraints.capacity = 1 << capacity_log2;
            constraints.shards = shards;
            constraints.producer = ProducerMode::Single;
            constraints.scheduling = SchedulingMode::Dedicated;
            if shards > 1 {
                constraints.ordering = OrderingMode::PerKey;
                if constraints.shard_key.as_deref().is_none_or(str::is_empty) {
                    constraints.shard_key = Some("key".to_owned());
                }
            }
            let mut plan = PipelinePlanV2::single_ring("ring")
                .with_ingress("in")
                .with_egress("out")
                .with_single_ring(constraints);
            let mut names: Vec<String> = Vec::new();
            for (i, (mut stage, deps)) in stages.into_iter().enumerate() {
                if stage.name.is_empty()
                    || ["in", "out"].contains(&stage.name.as_str())
                    || names.contains(&stage.name)
                {
                    stage.name = format!("{}#{i}", stage.name);
                }
                if stage.kind.as_deref() == Some("") {
                    stage.kind = None;
                }
                stage.after = (0..i)
                    .filter(|j| deps & (1 << j) != 0)
                    .map(|j| names[j].clone())
                    .collect();
                names.push(stage.name.clone());
                plan.stages.push(stage);
            }
            plan
        });
    let config = Config {
        cases: 128,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config.clone(),
        TestRng::deterministic_rng(config.rng_algorithm),
    );
    let reached = Cell::new(Reached::default());
    let result = runner.run(&strategy, |plan| {
        assert_eq!(plan.target(), ExecutionTargetV1::SingleRing);
        let mut sum = reached.get();
        sum += properties::check_plan(&plan);
        reached.set(sum);
        Ok(())
    });
    let reached = reached.get();
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(reached.lowered >= 10, "{reached:?}");
    assert!(reached.ran >= 10, "{reached:?}");
}
