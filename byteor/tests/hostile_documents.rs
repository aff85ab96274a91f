//! Hostile documents of about a megabyte each — long names, many unknown references, long
//! chains with a back edge from every stage, many connections, many readers, deep nesting —
//! built as plans in code, as TOML plan documents and as kv specs. Reading, validating and
//! lowering each must stay within a time bound and a peak-memory bound, and the reports must
//! stay bounded (cycles listed, suggestions offered).
//!
//! Memory is measured with a counting global allocator: the peak of live heap bytes while a
//! document is read, validated and lowered, above what was live before (the document itself).
//! Tests in this binary take turns, so each peak is its own.
//!
//! The TOML parser holds every token and table of a document at once, so `from_toml` first
//! scans the text and refuses one of more than `PLAN_DOCUMENT_MAX_ITEMS` items (about 850 KB
//! of ordinary plan document). TOML documents here are therefore either just under that limit,
//! and read, validated and lowered, or a megabyte of densely packed tokens, and refused by the
//! scan; both are measured.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use byteor::lower::{lower_v2, LowerError};
use byteor::plan::{
    validate_plan_v2, Connection, ParamValue, PipelinePlanV2, PlanDocumentError, PlanViolation,
    StageDecl, ValidationErrors, PLAN_DOCUMENT_MAX_ITEMS,
};
use byteor::spec::{validate_v1, PipelineSpecV1, SpecErrors, SpecViolation, TopologySpec};
use byteor::PARAM_V1_MAX_DEPTH;

// ---- a counting allocator --------------------------------------------------------------------

/// Heap bytes live now, and the most live since the last reset.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Counting;

impl Counting {
    fn grew(by: usize) {
        let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    fn shrank(by: usize) {
        LIVE.fetch_sub(by, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counters only observe
// the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Counting::grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Counting::grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, that is by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        Counting::shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `System` with `layout`; the caller upholds the rest.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            Counting::grew(new_size);
            Counting::shrank(layout.size());
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// ---- bounds --------------------------------------------------------------------------------

/// Documents are about this big.
const DOCUMENT_BYTES: usize = 1 << 20;

/// Peak heap above the document itself, in every build.
const MEMORY_BOUND: usize = 100 << 20;

/// Time to read, validate and lower one document: 1 s in a release build. Debug builds
/// (`cargo test` without `--release`) run this code about ten to twenty times slower, on a
/// machine that may be compiling at the same time, so they get a proportionally looser bound.
const TIME_BOUND: Duration = if cfg!(debug_assertions) {
    Duration::from_secs(20)
} else {
    Duration::from_secs(1)
};

/// Tests take turns, documents built and dropped included, so that each peak is its own.
static TURN: Mutex<()> = Mutex::new(());

/// Waits for this test's turn; the turn lasts as long as the guard.
fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Checks that a document is about a megabyte (at least the largest ordinary TOML document
/// the item limit admits).
fn assert_about_a_megabyte(what: &str, bytes: usize) {
    assert!(
        (DOCUMENT_BYTES * 3 / 4..=DOCUMENT_BYTES * 2).contains(&bytes),
        "{what}: the document is {bytes} bytes, not about a megabyte"
    );
}

/// Runs `work` on a document of `bytes` bytes, reports its time and peak heap, and checks both
/// against the bounds. Call it during the test's [`turn`].
fn measure<T>(what: &str, bytes: usize, work: impl FnOnce() -> T) -> T {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let start = Instant::now();
    let out = work();
    let elapsed = start.elapsed();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    println!(
        "{what}: {bytes} bytes, {:.1} ms, peak {:.1} MiB",
        elapsed.as_secs_f64() * 1e3,
        peak as f64 / f64::from(1 << 20)
    );
    assert!(
        elapsed < TIME_BOUND,
        "{what}: took {elapsed:?} (bound {TIME_BOUND:?})"
    );
    assert!(
        peak < MEMORY_BOUND,
        "{what}: peak heap {peak} bytes (bound {MEMORY_BOUND})"
    );
    out
}

/// [`measure`] for a document of about a megabyte.
fn measure_mb<T>(what: &str, bytes: usize, work: impl FnOnce() -> T) -> T {
    assert_about_a_megabyte(what, bytes);
    measure(what, bytes, work)
}

// ---- helpers --------------------------------------------------------------------------------

/// Validates and lowers a plan; returns the validation errors (the documents here are invalid
/// unless a test says otherwise) after checking that lowering refuses with the same.
fn validate_and_lower(plan: &PipelinePlanV2) -> ValidationErrors {
    let errors = validate_plan_v2(plan).expect_err("a hostile plan");
    match lower_v2(plan) {
        Err(LowerError::Invalid(again)) => assert_eq!(again.len(), errors.len()),
        other => panic!("lowering should refuse the plan: {:?}", other.map(|_| ())),
    }
    errors
}

/// Reads a TOML document, then validates and lowers the plan.
fn read_validate_and_lower(text: &str) -> Result<ValidationErrors, PlanDocumentError> {
    PipelinePlanV2::from_toml(text).map(|plan| validate_and_lower(&plan))
}

fn count(errors: &ValidationErrors, f: impl Fn(&PlanViolation) -> bool) -> usize {
    errors.iter().filter(|v| f(v)).count()
}

fn count_spec(errors: &SpecErrors, f: impl Fn(&SpecViolation) -> bool) -> usize {
    errors.iter().filter(|v| f(v)).count()
}

/// Checks the reports every hostile document shares: at most 16 cycles and 16 suggestions.
fn assert_bounded_reports(errors: &ValidationErrors) {
    assert!(count(errors, |v| matches!(v, PlanViolation::Cycle { .. })) <= 16);
    let suggested = count(errors, |v| {
        matches!(
            v,
            PlanViolation::UnknownDependency {
                suggestion: Some(_),
                ..
            } | PlanViolation::UnknownSource {
                suggestion: Some(_),
                ..
            } | PlanViolation::UnknownDestination {
                suggestion: Some(_),
                ..
            }
        )
    });
    assert!(suggested <= 16, "{suggested} suggestions");
}

/// A name of exactly 64 bytes ending in `tail`.
fn name64(tail: &str) -> String {
    format!("{}{tail}", "n".repeat(64 - tail.len()))
}

/// The TOML document of a lane graph: stages, then connections.
fn lane_graph_toml(stages: &[String], connections: &[(String, String)]) -> String {
    let mut text = String::from(
        "version = 2\nname = \"hostile\"\ntarget = \"lane_graph\"\n\
         [[ingress]]\nname = \"in\"\n[[egress]]\nname = \"out\"\n",
    );
    for s in stages {
        let _ = write!(text, "[[stages]]\nname = \"{s}\"\n");
    }
    text.push_str("[lane_graph]\non_full = \"block\"\n");
    for (from, to) in connections {
        let _ = write!(
            text,
            "[[lane_graph.connections]]\nfrom = \"{from}\"\nto = \"{to}\"\n"
        );
    }
    text
}

// ---- long names --------------------------------------------------------------------------------

#[test]
fn long_names() {
    let _turn = turn();
    // Four stages with 40 KB names, each named again as its kind and by the connections.
    let names: Vec<String> = (0..4)
        .map(|i| format!("{i}{}", "x".repeat(40_000)))
        .collect();
    let mut plan = PipelinePlanV2::lane_graph(names[0].clone())
        .with_ingress("in")
        .with_egress("out")
        .with_connection(Connection::new("in", names[0].clone()))
        .with_connection(Connection::new(names[3].clone(), "out"));
    for (i, name) in names.iter().enumerate() {
        plan = plan.with_stage(StageDecl::new(name.clone()).kind(name.clone()));
        if i + 1 < names.len() {
            plan = plan.with_connection(Connection::new(name.clone(), names[i + 1].clone()));
        }
        // And an unknown one just as long.
        plan = plan.with_connection(Connection::new(name.clone(), format!("{name}?")));
    }
    let text = plan.to_toml();
    let errors = measure_mb("long names, plan in code", text.len(), || {
        validate_and_lower(&plan)
    });
    assert_eq!(
        count(&errors, |v| matches!(v, PlanViolation::NameTooLong { .. })),
        9,
        "pipeline, four stage names, four kinds"
    );
    assert_bounded_reports(&errors);
    // Every violation is small: names are cut.
    assert!(errors.iter().all(|v| v.to_string().len() < 1000));

    let errors = measure_mb("long names, TOML", text.len(), || {
        read_validate_and_lower(&text)
    })
    .expect("well-formed");
    assert_eq!(
        count(&errors, |v| matches!(v, PlanViolation::NameTooLong { .. })),
        9
    );

    // A kv spec with a megabyte-long pipeline name.
    let ring = lower_v2(
        &PipelinePlanV2::single_ring("ring")
            .with_ingress("in")
            .with_egress("out")
            .with_stage(StageDecl::new("s")),
    )
    .expect("valid");
    let mut spec = ring.clone();
    spec.name = "n".repeat(DOCUMENT_BYTES);
    let kv = spec.to_kv();
    let errors = measure_mb("long names, kv", kv.len(), || {
        let spec = PipelineSpecV1::from_kv(&kv).expect("well-formed");
        validate_v1(&spec).expect_err("too long")
    });
    assert!(matches!(
        errors.violations(),
        [SpecViolation::NameTooLong {
            len: 1_048_576,
            max: 64,
            ..
        }]
    ));
}

// ---- unknown references -----------------------------------------------------------------------

#[test]
fn many_unknown_references() {
    let _turn = turn();
    // 4,000 stages with 64-byte names, and 10,000 references to 64-byte names that are not
    // there but look much like them: the "did you mean" search must not compare them all.
    let stages: Vec<String> = (0..4_000).map(|i| name64(&format!("{i:05}"))).collect();
    let unknown: Vec<String> = (0..10_000).map(|i| name64(&format!("q{i:05}"))).collect();

    // SingleRing: one `after` list of unknown names.
    let mut plan = PipelinePlanV2::single_ring("hostile")
        .with_ingress("in")
        .with_egress("out");
    for s in &stages {
        plan = plan.with_stage(StageDecl::new(s.clone()));
    }
    plan.stages[3_999].after = unknown.clone();
    let text = plan.to_toml();
    let errors = measure_mb("unknown dependencies, plan in code", text.len(), || {
        validate_and_lower(&plan)
    });
    assert_eq!(
        count(&errors, |v| matches!(
            v,
            PlanViolation::UnknownDependency { .. }
        )),
        10_000
    );
    assert_bounded_reports(&errors);
    let errors = measure_mb("unknown dependencies, TOML", text.len(), || {
        read_validate_and_lower(&text)
    })
    .expect("well-formed");
    assert_bounded_reports(&errors);

    // LaneGraph: connections between unknown names.
    let connections: Vec<(String, String)> = unknown
        .chunks(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect();
    let text = lane_graph_toml(&stages[..2_000], &connections[..4_000]);
    let errors = measure_mb("unknown connection ends, TOML", text.len(), || {
        read_validate_and_lower(&text)
    })
    .expect("well-formed");
    assert_eq!(
        count(&errors, |v| matches!(
            v,
            PlanViolation::UnknownSource { .. }
        )),
        4_000
    );
    assert_bounded_reports(&errors);

    // Near misses everywhere: every unknown name is one edit from a stage name.
    let near: Vec<(String, String)> = stages[..2_000]
        .iter()
        .map(|s| (format!("{}z", &s[..63]), format!("{}z", &s[..63])))
        .collect();
    let text = lane_graph_toml(&stages[..2_000], &[near.clone(), near].concat());
    let errors = measure_mb("near-miss connection ends, TOML", text.len(), || {
        read_validate_and_lower(&text)
    })
    .expect("well-formed");
    let suggested = count(&errors, |v| {
        matches!(
            v,
            PlanViolation::UnknownSource {
                suggestion: Some(_),
                ..
            }
        )
    });
    assert!((1..=16).contains(&suggested), "{suggested}");
    assert_bounded_reports(&errors);
}

// ---- long chains with many back edges --------------------------------------------------------

/// `in -> s0 -> s1 -> ... -> out`, and a connection back to `s0` from every stage.
fn chain_with_back_edges(n: usize) -> PipelinePlanV2 {
    let mut plan = PipelinePlanV2::lane_graph("hostile")
        .with_ingress("in")
        .with_egress("out")
        .with_connection(Connection::new("in", "s0"));
    for i in 0..n {
        let name = format!("s{i}");
        let next = if i + 1 < n {
            format!("s{}", i + 1)
        } else {
            "out".to_owned()
        };
        plan = plan
            .with_stage(StageDecl::new(name.clone()))
            .with_connection(Connection::new(name.clone(), next))
            .with_connection(Connection::new(name, "s0"));
    }
    plan
}

fn assert_chain_report(errors: &ValidationErrors, n: usize) {
    assert_eq!(
        count(errors, |v| matches!(v, PlanViolation::Cycle { .. })),
        16
    );
    assert!(errors
        .iter()
        .any(|v| matches!(v, PlanViolation::MoreCycles { count, listed: 16 } if *count == n - 16)));
    assert!(errors
        .iter()
        .any(|v| matches!(v, PlanViolation::TooManyRoles { .. })));
    assert_bounded_reports(errors);
}

#[test]
fn long_chains_with_a_back_edge_from_every_stage() {
    let _turn = turn();
    // In code: 9,000 stages and 18,000 connections.
    let n = 9_000;
    let plan = chain_with_back_edges(n);
    let errors = measure_mb(
        "chain with back edges, plan in code",
        plan.to_toml().len(),
        || validate_and_lower(&plan),
    );
    assert_chain_report(&errors, n);

    // As a TOML document as large as the item limit admits.
    let n = 4_400;
    let text = chain_with_back_edges(n).to_toml();
    let errors = measure_mb("chain with back edges, TOML", text.len(), || {
        read_validate_and_lower(&text)
    })
    .expect("well-formed");
    assert_chain_report(&errors, n);
    // A larger one is refused before it is parsed.
    let text = chain_with_back_edges(5_500).to_toml();
    let err = measure_mb(
        "chain with back edges, TOML past the item limit",
        text.len(),
        || read_validate_and_lower(&text),
    )
    .expect_err("too large");
    assert!(matches!(err, PlanDocumentError::TooLarge { .. }), "{err}");

    // As a kv spec: a chain of roles, each also feeding role 0.
    let kv = role_chain_kv(2_600);
    let errors = measure_mb("role chain with back edges, kv", kv.len(), || {
        let spec = PipelineSpecV1::from_kv(&kv).expect("well-formed");
        validate_v1(&spec).expect_err("cycles")
    });
    assert_eq!(
        count_spec(&errors, |v| matches!(v, SpecViolation::RoleCycle { .. })),
        16
    );
    assert!(errors.iter().any(|v| matches!(
        v,
        SpecViolation::MoreRoleCycles {
            count: 2_584,
            listed: 16
        }
    )));
}

/// A kv spec of `n` bridge roles, role `i` writing a lane to role `i + 1` and one to role 0.
fn role_chain_kv(n: u32) -> String {
    let mut lanes: Vec<(u32, u32)> = Vec::new();
    for i in 0..n {
        if i + 1 < n {
            lanes.push((i, i + 1));
        }
        lanes.push((i, 0));
    }
    let mut inputs = vec![Vec::new(); n as usize];
    let mut outputs = vec![Vec::new(); n as usize];
    for (id, &(from, to)) in lanes.iter().enumerate() {
        outputs[from as usize].push(id.to_string());
        inputs[to as usize].push(id.to_string());
    }
    let mut kv = String::from(
        "byteor.spec=1\nname=hostile\ntarget=lane_graph\nstages=0\nlane_graph.on_full=block\n",
    );
    let _ = writeln!(kv, "lanes={}", lanes.len());
    for (id, (from, to)) in lanes.iter().enumerate() {
        let _ = write!(
            kv,
            "lane.{id}.id={id}\nlane.{id}.name=r{from}->r{to}.{id}\nlane.{id}.kind=events\n\
             lane.{id}.capacity=8\nlane.{id}.on_full=block\nlane.{id}.writer=role:{from}\n\
             lane.{id}.readers=role:{to}\n"
        );
    }
    let _ = writeln!(kv, "roles={n}");
    for i in 0..n as usize {
        let _ = write!(
            kv,
            "role.{i}.id={i}\nrole.{i}.name=r{i}\nrole.{i}.kind=bridge\nrole.{i}.inputs={}\n\
             role.{i}.outputs={}\n",
            inputs[i].join(","),
            outputs[i].join(",")
        );
    }
    kv.push_str("endpoints=0\n");
    kv
}

// ---- many connections -------------------------------------------------------------------------

#[test]
fn many_connections() {
    let _turn = turn();
    // A valid plan: 15,000 ingresses merged into one stage, which lowering compiles to one
    // merge reading 15,000 lanes; then the spec is validated on its own.
    let n = 15_000;
    let mut plan = PipelinePlanV2::lane_graph("fan_in")
        .with_egress("out")
        .with_stage(StageDecl::new("hub"))
        .with_connection(Connection::new("hub", "out"));
    for i in 0..n {
        plan = plan
            .with_ingress(format!("i{i}"))
            .with_connection(Connection::new(format!("i{i}"), "hub"));
    }
    let bytes = plan.to_toml().len();
    let spec = measure_mb("fan-in of 15,000 connections, plan in code", bytes, || {
        validate_plan_v2(&plan).expect("valid");
        let spec = lower_v2(&plan).expect("lowers");
        validate_v1(&spec).expect("valid spec");
        spec
    });
    let TopologySpec::LaneGraph(graph) = &spec.topology else {
        panic!("lane graph expected");
    };
    assert_eq!(graph.roles.len(), 2);
    assert_eq!(graph.lanes.len(), n + 2);

    // The same fan-in as a TOML document as large as the item limit admits, and a fan-out.
    let n = 10_000;
    let head = "version = 2\nname = \"fan\"\ntarget = \"lane_graph\"\n\
                [[stages]]\nname = \"hub\"\n[lane_graph]\non_full = \"block\"\n";
    let connection = |from: &str, to: &str| {
        format!("[[lane_graph.connections]]\nfrom = \"{from}\"\nto = \"{to}\"\n")
    };
    let mut fan_in = format!(
        "{head}[[egress]]\nname = \"out\"\n{}",
        connection("hub", "out")
    );
    let mut fan_out = format!(
        "{head}[[ingress]]\nname = \"in\"\n{}",
        connection("in", "hub")
    );
    for i in 0..n {
        let boundary = format!("b{i}");
        let _ = write!(
            fan_in,
            "[[ingress]]\nname = \"{boundary}\"\n{}",
            connection(&boundary, "hub")
        );
        let _ = write!(
            fan_out,
            "[[egress]]\nname = \"{boundary}\"\n{}",
            connection("hub", &boundary)
        );
    }
    for (what, text) in [("fan-in, TOML", fan_in), ("fan-out, TOML", fan_out)] {
        let roles = measure_mb(what, text.len(), || {
            let plan = PipelinePlanV2::from_toml(&text).expect("well-formed");
            validate_plan_v2(&plan).unwrap_or_else(|e| panic!("{e}"));
            let spec = lower_v2(&plan).expect("lowers");
            match spec.topology {
                TopologySpec::LaneGraph(graph) => graph.roles.len(),
                TopologySpec::SingleRing(_) => 0,
            }
        });
        assert_eq!(roles, 2, "{what}: the hub and a merge or a router");
    }

    // Dense: 180 stages, each connected to every later one (16,110 connections).
    let stages: Vec<String> = (0..180).map(|i| format!("s{i}")).collect();
    let mut connections = vec![("in".to_owned(), "s0".to_owned())];
    for i in 0..stages.len() {
        for j in i + 1..stages.len() {
            connections.push((stages[i].clone(), stages[j].clone()));
        }
        connections.push((stages[i].clone(), "out".to_owned()));
    }
    let text = lane_graph_toml(&stages, &connections);
    let errors = measure_mb("dense graph, TOML", text.len(), || {
        read_validate_and_lower(&text)
    })
    .expect("well-formed");
    assert!(matches!(
        errors.violations(),
        [PlanViolation::TooManyRoles { stages: 180, .. }]
    ));
}

// ---- many readers ------------------------------------------------------------------------------

#[test]
fn many_readers() {
    let _turn = turn();
    // 9,000 roles all reading lane 0, which lists them all.
    let n = 9_000;
    let mut kv = String::from(
        "byteor.spec=1\nname=hostile\ntarget=lane_graph\nstages=0\nlane_graph.on_full=block\n\
         lanes=1\nlane.0.id=0\nlane.0.name=wide\nlane.0.kind=events\nlane.0.capacity=8\n\
         lane.0.on_full=block\nlane.0.writer=endpoint:0\n",
    );
    let readers: Vec<String> = (0..n).map(|i| format!("role:{i}")).collect();
    let _ = writeln!(kv, "lane.0.readers={}", readers.join(","));
    let _ = writeln!(kv, "roles={n}");
    for i in 0..n {
        let _ = write!(
            kv,
            "role.{i}.id={i}\nrole.{i}.name=r{i}\nrole.{i}.kind=bridge\nrole.{i}.inputs=0\n\
             role.{i}.outputs=\n"
        );
    }
    kv.push_str("endpoints=1\nendpoint.0.id=0\nendpoint.0.name=in\nendpoint.0.direction=ingress\nendpoint.0.lane=0\n");
    let errors = measure_mb("9,000 readers of one lane, kv", kv.len(), || {
        let spec = PipelineSpecV1::from_kv(&kv).expect("well-formed");
        validate_v1(&spec).expect_err("a point lane with 9,000 readers")
    });
    assert!(errors
        .iter()
        .any(|v| matches!(v, SpecViolation::PointLaneReaders { readers: 9_000, .. })));
    assert!(!errors.iter().any(|v| matches!(
        v,
        SpecViolation::NotAReader { .. } | SpecViolation::ReaderDoesNotRead { .. }
    )));

    // One lane with a 290-byte name listing one reader 150,000 times: reported once.
    let lane = format!("{}->r", "w".repeat(287));
    let kv = format!(
        "byteor.spec=1\nname=hostile\ntarget=lane_graph\nstages=0\nlane_graph.on_full=block\n\
         lanes=1\nlane.0.id=0\nlane.0.name={lane}\nlane.0.kind=events\nlane.0.capacity=8\n\
         lane.0.on_full=block\nlane.0.writer=endpoint:0\nlane.0.readers={}\nroles=0\n\
         endpoints=1\nendpoint.0.id=0\nendpoint.0.name=in\nendpoint.0.direction=ingress\n\
         endpoint.0.lane=0\n",
        vec!["role:0"; 150_000].join(",")
    );
    let errors = measure_mb("one reader listed 150,000 times, kv", kv.len(), || {
        let spec = PipelineSpecV1::from_kv(&kv).expect("well-formed");
        validate_v1(&spec).expect_err("duplicates")
    });
    assert_eq!(
        count_spec(&errors, |v| matches!(
            v,
            SpecViolation::DuplicateReader { .. }
        )),
        1
    );
}

// ---- deep nesting ------------------------------------------------------------------------------

/// `depth` levels of arrays around an integer, built and taken apart without recursion.
fn deep_array(depth: usize) -> ParamValue {
    let mut value = ParamValue::Int(1);
    for _ in 1..depth {
        value = ParamValue::Array(vec![value]);
    }
    value
}

/// Takes a value apart level by level, so that dropping it does not recurse.
fn dismantle(value: ParamValue) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            ParamValue::Array(items) => stack.extend(items),
            ParamValue::Table(table) => stack.extend(table.into_values()),
            _ => {}
        }
    }
}

#[test]
fn deep_nesting() {
    let _turn = turn();
    // In code: a value nested half a million levels deep (a megabyte of `[` and `]`), and
    // 14,000 parameters one level too deep.
    let mut plan = PipelinePlanV2::single_ring("hostile")
        .with_ingress("in")
        .with_egress("out")
        .with_stage(StageDecl::new("s"));
    plan.stages[0]
        .params
        .insert("deep".to_owned(), deep_array(DOCUMENT_BYTES / 2));
    let errors = measure_mb(
        "a value 524,288 levels deep, plan in code",
        DOCUMENT_BYTES,
        || validate_and_lower(&plan),
    );
    assert!(matches!(
        errors.violations(),
        [PlanViolation::ParamTooDeep {
            depth: 524_288,
            max: 32,
            ..
        }]
    ));
    for stage in &mut plan.stages {
        for (_, value) in std::mem::take(&mut stage.params) {
            dismantle(value);
        }
    }
    plan.stages[0].params = (0..14_000)
        .map(|i| (format!("p{i}"), deep_array(PARAM_V1_MAX_DEPTH + 1)))
        .collect::<BTreeMap<_, _>>();
    let bytes = plan.to_toml().len();
    let errors = measure_mb(
        "14,000 parameters 33 levels deep, plan in code",
        bytes,
        || validate_and_lower(&plan),
    );
    assert_eq!(
        count(&errors, |v| matches!(v, PlanViolation::ParamTooDeep { .. })),
        14_000
    );

    // TOML: a megabyte of `[`, of inline tables, and of dotted keys.
    let head = "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n";
    for (what, text) in [
        (
            "a megabyte of `[`, TOML",
            format!("{head}params = {{ x = {} }}\n", "[".repeat(DOCUMENT_BYTES)),
        ),
        (
            "a megabyte of inline tables, TOML",
            format!(
                "{head}params = {{ x = {} }}\n",
                "{ a = ".repeat(DOCUMENT_BYTES / 6)
            ),
        ),
        (
            "a megabyte of dotted keys, TOML",
            format!(
                "{head}[stages.params{}]\nv = 1\n",
                ".a".repeat(DOCUMENT_BYTES / 2)
            ),
        ),
    ] {
        let err = measure_mb(what, text.len(), || PipelinePlanV2::from_toml(&text))
            .expect_err("too deep");
        assert!(
            matches!(
                err,
                PlanDocumentError::TooDeep { .. } | PlanDocumentError::ParamTooDeep { .. }
            ),
            "{what}: {err}"
        );
    }
    // Many parameters just past the limit: a megabyte of them is too many items; a third of
    // a megabyte is read, and the first one is reported.
    let deep = format!(
        "{}1{}",
        "[".repeat(PARAM_V1_MAX_DEPTH),
        "]".repeat(PARAM_V1_MAX_DEPTH)
    );
    let deep_params = |bytes: usize| {
        let mut text = format!("{head}[stages.params]\n");
        for i in 0..bytes / (deep.len() + 10) {
            let _ = writeln!(text, "p{i} = {deep}");
        }
        text
    };
    let text = deep_params(DOCUMENT_BYTES);
    let err = measure_mb("parameters 33 levels deep, TOML", text.len(), || {
        PipelinePlanV2::from_toml(&text)
    })
    .expect_err("too large");
    assert!(matches!(err, PlanDocumentError::TooLarge { .. }), "{err}");
    let text = deep_params(DOCUMENT_BYTES / 3);
    let err = measure(
        "parameters 33 levels deep, TOML, a third",
        text.len(),
        || PipelinePlanV2::from_toml(&text),
    )
    .expect_err("too deep");
    assert!(
        matches!(
            err,
            PlanDocumentError::ParamTooDeep {
                line: 7,
                max: 32,
                ..
            }
        ),
        "{err}"
    );

    // kv: a megabyte of `[`.
    let kv = format!(
        "byteor.spec=1\nname=p\ntarget=single_ring\nstages=1\nstage.0.id=0\nstage.0.name=s\n\
         stage.0.kind=s\nstage.0.side_effects=false\nstage.0.param.x={}\n",
        "[".repeat(DOCUMENT_BYTES)
    );
    let err = measure_mb("a megabyte of `[`, kv", kv.len(), || {
        PipelineSpecV1::from_kv(&kv)
    })
    .expect_err("too deep");
    assert!(err.to_string().contains("deeper than 32 levels"), "{err}");
}

// ---- densely packed tokens ---------------------------------------------------------------------

/// Documents made of the cheapest tokens and the costliest tables the TOML parser holds: a
/// megabyte of each is refused by the scan before parsing; the largest the scan admits is read
/// (and, when it parses, validated and lowered) within the bounds.
#[test]
fn densely_packed_documents() {
    let _turn = turn();
    let head = "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n[[stages]]\nname = \"s\"\n";
    type Shape = (&'static str, Box<dyn Fn(usize) -> String>);
    let shapes: Vec<Shape> = vec![
        (
            "an array of small integers",
            Box::new(move |b| format!("{head}params = {{ x = [{}1] }}\n", "1,".repeat(b / 2))),
        ),
        (
            "an array of empty strings",
            Box::new(move |b| {
                format!("{head}params = {{ x = [{}\"\"] }}\n", "\"\",".repeat(b / 3))
            }),
        ),
        (
            "an array of inline tables",
            Box::new(move |b| {
                format!(
                    "{head}params = {{ x = [{}{{}}] }}\n",
                    "{a=1},".repeat(b / 6)
                )
            }),
        ),
        (
            "parameters of 31 nested arrays",
            Box::new(move |b| {
                let mut text = format!("{head}[stages.params]\n");
                for i in 0..b / 80 {
                    let _ = writeln!(text, "p{i} = {}1{}", "[".repeat(31), "]".repeat(31));
                }
                text
            }),
        ),
        (
            "parameters of 31 nested inline tables",
            Box::new(move |b| {
                let mut text = format!("{head}[stages.params]\n");
                for i in 0..b / 140 {
                    let _ = writeln!(text, "p{i} = {}1{}", "{a=".repeat(31), "}".repeat(31));
                }
                text
            }),
        ),
        (
            "keys of 31 dotted parts",
            Box::new(move |b| {
                let mut text = format!("{head}[stages.params]\n");
                for i in 0..b / 75 {
                    let _ = writeln!(text, "p{i}{} = 1", ".a".repeat(30));
                }
                text
            }),
        ),
        (
            "table headers of 33 dotted parts",
            Box::new(move |b| {
                let mut text = head.to_owned();
                for i in 0..b / 90 {
                    let _ = writeln!(text, "[stages.params.p{i}{}]", ".a".repeat(30));
                }
                text
            }),
        ),
        (
            "stage tables",
            Box::new(|b| {
                format!(
                    "version = 2\nname = \"p\"\ntarget = \"single_ring\"\n{}",
                    "[[stages]]\nname=\"\"\n".repeat(b / 19)
                )
            }),
        ),
        (
            "blank lines",
            Box::new(move |b| format!("{head}{}", "\n".repeat(b))),
        ),
    ];
    for (what, make) in shapes {
        let text = make(DOCUMENT_BYTES);
        let err = measure_mb(&format!("a megabyte of {what}, TOML"), text.len(), || {
            PipelinePlanV2::from_toml(&text)
        })
        .expect_err("too large");
        assert!(
            matches!(err, PlanDocumentError::TooLarge { max, .. } if max == PLAN_DOCUMENT_MAX_ITEMS),
            "{what}: {err}"
        );
        // Shrink until the scan admits it; then it is read in full.
        let mut bytes = DOCUMENT_BYTES;
        let text = loop {
            bytes = bytes * 9 / 10;
            let text = make(bytes);
            if !matches!(
                PipelinePlanV2::from_toml(&text),
                Err(PlanDocumentError::TooLarge { .. })
            ) {
                break text;
            }
        };
        measure(
            &format!("{what} at the item limit, TOML"),
            text.len(),
            || {
                if let Ok(plan) = PipelinePlanV2::from_toml(&text) {
                    let _ = validate_plan_v2(&plan);
                    let _ = lower_v2(&plan);
                }
            },
        );
    }
}
