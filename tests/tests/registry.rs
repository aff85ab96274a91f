//! Plans authored as documents, run by stage kind through a `StageRegistry`.

use std::time::Duration;

use byteor::exec::{
    ResolveError, ResolvedSpawnError, StageDescriptor, StageRegistry, StageResolveError,
};
use byteor::prelude::*;

#[derive(Default, Clone, Copy, Debug)]
struct Tick {
    key: u64,
    value: u64,
}

/// Adds `offset` to every value (mutates).
#[derive(StageDescriptor)]
#[stage(name = "offset")]
struct Offset {
    offset: u64,
}

impl MutStage<Tick> for Offset {
    fn on_event(&mut self, t: &mut Tick, _: &EventContext) -> Result<(), StageError> {
        t.value += self.offset;
        Ok(())
    }
}

/// Checks per-key order of the offset values.
#[derive(StageDescriptor)]
#[stage(name = "ordered")]
struct Ordered {
    #[param(default = 16)]
    keys: u64,
    #[param(skip)]
    last: Vec<u64>,
}

impl Stage<Tick> for Ordered {
    fn on_event(&mut self, t: &Tick, _: &EventContext) -> Result<(), StageError> {
        if self.last.is_empty() {
            self.last = vec![0; self.keys as usize];
        }
        let last = &mut self.last[(t.key % self.keys) as usize];
        if t.value <= *last {
            return Err(StageError::msg(format!(
                "key {} went back: {} after {}",
                t.key, t.value, last
            )));
        }
        *last = t.value;
        Ok(())
    }
}

/// Pretends to send orders out.
#[derive(StageDescriptor, Default)]
#[stage(name = "send", side_effects)]
struct Send;

impl Stage<Tick> for Send {
    fn on_event(&mut self, _: &Tick, _: &EventContext) -> Result<(), StageError> {
        Ok(())
    }
}

fn registry() -> StageRegistry<Tick> {
    let mut r = StageRegistry::new();
    r.register_mut::<Offset>()
        .unwrap()
        .register::<Ordered>()
        .unwrap()
        .register::<Send>()
        .unwrap();
    r
}

const LINEAR: &str = r#"
version = 2
name = "ticks"
target = "single_ring"
[[ingress]]
name = "in"
[[egress]]
name = "out"
[[stages]]
name = "shift"
kind = "offset"
params = { offset = 1000 }
[[stages]]
name = "check"
kind = "ordered"
after = ["shift"]
[[stages]]
name = "send"
side_effects = true
after = ["check"]
[single_ring]
capacity = 64
"#;

#[test]
fn a_document_runs_by_kind_with_its_params() {
    let plan = PipelinePlanV2::from_toml(LINEAR).unwrap();
    let pipeline = registry()
        .resolve(&plan)
        .unwrap()
        .wait_strategy(WaitStrategy::Yielding);
    assert_eq!(pipeline.spec().stages[0].kind, "offset");
    let (mut producer, control) = pipeline.spawn().unwrap();
    for i in 0..20_000u64 {
        producer
            .publish(|t| {
                t.key = i % 7;
                t.value = i;
            })
            .unwrap();
    }
    producer.close();
    let report = control.join_timeout(Duration::from_secs(60)).unwrap();
    for stage in ["shift", "check", "send"] {
        assert_eq!(report.processed(stage), 20_000, "{stage}");
    }
}

#[test]
fn every_unresolvable_stage_is_reported_at_once() {
    let doc = LINEAR
        .replace("kind = \"offset\"", "kind = \"ofset\"")
        .replace("side_effects = true\n", "")
        .replace(
            "name = \"check\"\nkind = \"ordered\"",
            "name = \"check\"\nkind = \"ordered\"\nparams = { keys = \"many\", extra = 1 }",
        );
    let plan = PipelinePlanV2::from_toml(&doc).unwrap();
    let err = registry().resolve(&plan).unwrap_err();
    let ResolveError::Stages(problems) = &err else {
        panic!("expected stage problems, got {err}");
    };
    assert_eq!(problems.len(), 3, "{err}");
    assert!(
        matches!(&problems[0], StageResolveError::UnknownKind { stage, kind, known }
        if stage == "shift" && kind == "ofset" && known.contains(&"offset".to_owned()))
    );
    assert!(matches!(&problems[1], StageResolveError::Params { stage, .. } if stage == "check"));
    assert!(
        matches!(&problems[2], StageResolveError::UndeclaredSideEffects { stage, kind }
        if stage == "send" && kind == "send")
    );
    let text = err.to_string();
    // The stage is named once, and the kind as a kind (not as a second stage).
    assert!(
        text.contains(
            "stage `check`: kind `ordered`: parameter `keys` must be an integer, found a string"
        ),
        "{text}"
    );
    assert!(!text.contains("stage `ordered`"), "{text}");
    for needle in [
        "`shift`",
        "`ofset`",
        "offset, ordered, send",
        "`check`",
        "keys",
        "`send`",
        "side_effects = true",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[test]
fn invalid_plans_and_other_targets_are_refused_before_resolving() {
    let plan =
        PipelinePlanV2::from_toml(&LINEAR.replace("capacity = 64", "capacity = 60")).unwrap();
    assert!(matches!(
        registry().resolve(&plan),
        Err(ResolveError::InvalidPlan(_))
    ));

    let graph = PipelinePlanV2::lane_graph("g")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(StageDecl::new("check").kind("ordered"))
        .with_connection(byteor::plan::Connection::new("in", "check"))
        .with_connection(byteor::plan::Connection::new("check", "out"));
    let err = registry().resolve(&graph).unwrap_err();
    assert!(
        matches!(err, ResolveError::UnsupportedTarget { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("lane_graph"));
}

#[test]
fn a_mutating_kind_must_be_ordered_against_every_stage() {
    let doc = LINEAR.replace("after = [\"shift\"]\n", "");
    let plan = PipelinePlanV2::from_toml(&doc).unwrap();
    let err = registry().resolve(&plan).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("`shift`") && text.contains("`check`"),
        "{text}"
    );
}

#[test]
fn kinds_register_once_and_describe_themselves() {
    let mut r = registry();
    let dup = r.register::<Send>().unwrap_err();
    assert_eq!(dup.kind, "send");
    let send = r.kind("send").unwrap();
    assert!(send.side_effects && !send.mutates);
    let offset = r.kind("offset").unwrap();
    assert!(offset.mutates);
    assert_eq!(offset.params.len(), 1);
    assert_eq!(
        r.kinds().map(|k| k.kind).collect::<Vec<_>>(),
        ["offset", "ordered", "send"]
    );
}

#[test]
fn sharded_documents_need_their_key_function() {
    let doc = LINEAR.replace(
        "capacity = 64",
        "capacity = 64\nshards = 3\nordering = \"per_key\"\nshard_key = \"key\"",
    );
    let plan = PipelinePlanV2::from_toml(&doc).unwrap();
    let err = registry().resolve(&plan).unwrap().spawn().unwrap_err();
    assert!(
        matches!(err, ResolvedSpawnError::NeedsShardKey { shards: 3, .. }),
        "{err}"
    );

    let pipeline = registry()
        .resolve(&plan)
        .unwrap()
        .wait_strategy(WaitStrategy::Yielding);
    let (mut producer, control) = pipeline.spawn_sharded(|t: &Tick| t.key).unwrap();
    for i in 0..9_000u64 {
        producer
            .publish(|t| {
                t.key = i % 11;
                t.value = i;
            })
            .unwrap();
    }
    producer.close();
    let report = control.join_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(report.processed("check"), 9_000);
    assert_eq!(report.published.len(), 3);
}
