//! A LaneGraph split over processes (`LaneGraphPipeline::spawn_shm`), each "process" a thread
//! with its own resolved copy of the plan: lanes between them are shared-memory regions. Every
//! event crosses once and in order, a fan-out/fan-in over three processes delivers each event
//! once per branch, a lossy lane counts what it drops, a failure in one process stops the
//! others naming the failed role, a reader process that never starts is named, and lanes that
//! cannot live in shared memory are refused naming the lane; an empty stream reaches a reader
//! that starts late, and `join` waits for a live producer.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use byteor::exec::lane_graph::{
    lane_fn, Emitter, GraphError, GraphProducer, GraphReceiver, GraphRecvError, GraphReport,
    GraphSpawnError, LaneGraph, LaneGraphPipeline, LaneMetrics,
};
use byteor::exec::ShmRunOptions;
use byteor::ops::builtin::{builtin_kinds, value_of, BuiltinEvent};
use byteor::plan::PipelinePlanV2;
use tests::{assert_sleeps_while_idle, bounded, test_seed, XorShift, TIMEOUT};

/// A fresh directory for one test's regions (named after the test and this process), removed
/// when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("byteor-lgshm-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the region directory");
        TempDir(dir)
    }

    /// Fails unless the directory is empty (no region left behind).
    fn assert_empty(&self, what: &str) {
        let left: Vec<_> = (std::fs::read_dir(&self.0).unwrap())
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{what}: {left:?}");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Generous liveness for a shared 2-core machine (every "process" here is one real process).
fn options() -> ShmRunOptions {
    ShmRunOptions {
        heartbeat_timeout: Duration::from_secs(5),
        ..ShmRunOptions::default()
    }
}

/// A plan named `name` from ingress `src` to egress `dst` over the stages and connections
/// given (TOML inline tables).
fn plan_doc(name: &str, stages: &str, connections: &str) -> PipelinePlanV2 {
    PipelinePlanV2::from_toml(&format!(
        r#"
        version = 2
        name = "{name}"
        target = "lane_graph"
        ingress = [{{ name = "src" }}]
        egress = [{{ name = "dst" }}]
        stages = [{stages}]
        [lane_graph]
        on_full = "block"
        connections = [{connections}]
        "#
    ))
    .unwrap()
}

/// `src -> work -> dst`, `work` of the kind (and params) given.
fn chain(name: &str, work: &str) -> PipelinePlanV2 {
    let connections = r#"{ from = "src", to = "work" }, { from = "work", to = "dst" }"#;
    let stages = format!(r#"{{ name = "work", {work} }}"#);
    plan_doc(name, &stages, connections)
}

/// Each process resolves the plan itself, as a separate binary would.
fn resolve(plan: &PipelinePlanV2) -> LaneGraphPipeline {
    builtin_kinds().1.resolve(plan).unwrap()
}

/// What one "process" saw: the seqs its egress `dst` received (if it has it) and how that
/// stream ended, how publishing `n` events into `src` went (if it has it), its `join`, and
/// when that returned.
#[derive(Debug)]
struct Outcome {
    received: Vec<u64>,
    end: Result<(), GraphRecvError>,
    published: Result<(), GraphError>,
    joined: Result<GraphReport, GraphError>,
    at: Instant,
}

/// Starts a "process" running `roles` of `plan` on a thread: it resolves the plan itself, as a
/// separate binary would, publishes `n` events if it has `src` and receives if it has `dst`.
fn process(
    plan: &PipelinePlanV2,
    dir: &Path,
    roles: &'static [&'static str],
    options: &ShmRunOptions,
    n: u64,
) -> JoinHandle<Outcome> {
    let (plan, dir, options) = (plan.clone(), dir.to_path_buf(), options.clone());
    std::thread::spawn(move || {
        let (mut ends, control) = resolve(&plan).spawn_shm(&dir, roles, &options).unwrap();
        let feeder = roles
            .contains(&"src")
            .then(|| feed(ends.producer_named("src").unwrap(), n));
        let (received, end) = match roles.contains(&"dst") {
            true => receive(&mut ends.receiver_named::<BuiltinEvent>("dst").unwrap()),
            false => (Vec::new(), Ok(())),
        };
        let published = feeder.map_or(Ok(()), |f| f.join().unwrap());
        let joined = control.join();
        Outcome {
            received,
            end,
            published,
            joined,
            at: Instant::now(),
        }
    })
}

/// Publishes `n` events with `seq = 0..n` (batches of 100) on a thread of its own.
fn feed(mut producer: GraphProducer<BuiltinEvent>, n: u64) -> JoinHandle<Result<(), GraphError>> {
    std::thread::spawn(move || {
        let mut next = 0;
        while next < n {
            let batch = (n - next).min(100);
            producer.publish_batch(batch as usize, |i, e| {
                let seq = next + i as u64;
                *e = BuiltinEvent {
                    seq,
                    value: value_of(seq),
                    ..BuiltinEvent::default()
                };
            })?;
            next += batch;
        }
        Ok(())
    })
}

/// The seqs received until the stream ended (`Ok`) or the graph failed (`Err`, after the
/// events received before).
fn receive(rx: &mut GraphReceiver<BuiltinEvent>) -> (Vec<u64>, Result<(), GraphRecvError>) {
    let mut got = Vec::new();
    loop {
        rx.recv_all(|e| got.push(e.seq));
        match rx.recv_timeout(TIMEOUT) {
            Ok(Some(e)) => got.push(e.seq),
            Ok(None) => return (got, Ok(())),
            Err(e) => return (got, Err(e)),
        }
    }
}

/// Whether every lane of `report` adds up (`published = delivered + dropped + lost`).
fn adds_up(report: &GraphReport) -> bool {
    report.lanes.iter().all(|l| l.counts.adds_up())
}

/// The lane named `name`.
fn lane<'r>(lanes: &'r [LaneMetrics], name: &str) -> &'r LaneMetrics {
    (lanes.iter().find(|l| l.lane == name))
        .unwrap_or_else(|| panic!("no lane `{name}` in {lanes:?}"))
}

/// A user splitting a pipeline over two processes relies on every event crossing exactly once,
/// in order, on both sides ending cleanly, and on the regions being gone afterwards.
#[test]
fn two_processes_deliver_every_event_once_in_order_and_remove_their_regions() {
    bounded("two processes", TIMEOUT, || {
        const N: u64 = 200_000;
        let dir = TempDir::new("two");
        let plan = chain("two", "kind = \"pass\"");
        let work = process(&plan, &dir.0, &["work"], &options(), N);
        let ends = process(&plan, &dir.0, &["src", "dst"], &options(), N)
            .join()
            .unwrap();
        let work = work.join().unwrap();
        ends.end.unwrap();
        ends.published.unwrap();
        let got = ends.received;
        assert_eq!(got.len() as u64, N);
        if let Some(i) = (0..got.len()).find(|&i| got[i] != i as u64) {
            panic!("event {i} has seq {} (out of order or repeated)", got[i]);
        }
        let report = ends.joined.unwrap();
        assert!(adds_up(&report), "{report:?}");
        assert_eq!(lane(&report.lanes, "src->work").counts.published, N);
        let work = work.joined.unwrap();
        assert!(work.roles.contains(&("work".into(), N)), "{work:?}");
        dir.assert_empty("regions left behind");
    });
}

/// Over three processes, a broadcast to two branches merged back into one egress delivers each
/// event once per branch, each branch in order, whatever the branches' relative speeds and
/// however the roles are split (lanes crossing between processes both ways).
#[test]
fn a_fan_out_fan_in_over_three_processes_delivers_each_event_once_per_branch() {
    let seed = test_seed("fan_out_fan_in");
    bounded("three processes", TIMEOUT, move || {
        const N: u64 = 50_000;
        let mut rng = XorShift::new(seed);
        let splits: [[&'static [&'static str]; 3]; 3] = [
            [&["src", "dst"], &["parse"], &["a", "b"]],
            [&["src", "a"], &["parse", "dst"], &["b"]],
            [&["src"], &["parse", "b"], &["a", "dst"]],
        ];
        for (k, split) in splits.into_iter().enumerate() {
            let (micros, every) = (rng.range(10, 100), rng.range(8, 64));
            let dir = TempDir::new(&format!("fan{k}"));
            let stages = format!(
                r#"{{ name = "parse", kind = "checksum" }}, {{ name = "a", kind = "verify" }},
                {{ name = "b", kind = "sleep", params = {{ micros = {micros}, every = {every} }} }}"#
            );
            let broadcast = r#"lane = { kind = "fanout_broadcast" }"#;
            let connections = format!(
                r#"{{ from = "src", to = "parse" }}, {{ from = "parse", to = "a", {broadcast} }},
                {{ from = "parse", to = "b", {broadcast} }}, {{ from = "a", to = "dst" }},
                {{ from = "b", to = "dst" }}"#
            );
            let plan = plan_doc("fan", &stages, &connections);
            let what = format!("split {split:?}, `b` sleeps {micros} µs every {every}");
            let outcomes: Vec<Outcome> = (split.iter())
                .map(|roles| process(&plan, &dir.0, roles, &options(), N))
                .collect::<Vec<_>>()
                .into_iter()
                .map(|p| p.join().unwrap())
                .collect();
            let mut handled = Vec::new();
            let mut got = Vec::new();
            for o in outcomes {
                o.end.expect(&what);
                o.published.expect(&what);
                let report = o.joined.expect(&what);
                assert!(adds_up(&report), "{what}: {report:?}");
                handled.extend(report.roles);
                got.extend(o.received);
            }
            for stage in ["parse", "a", "b"] {
                assert!(handled.contains(&(stage.into(), N)), "{what}: {handled:?}");
            }
            assert_eq!(got.len() as u64, 2 * N, "{what}");
            // Each branch is in order, so the first copies of the seqs arrive in increasing
            // order, and so do the second copies.
            let mut copies = vec![0u8; N as usize];
            let mut last = [None, None];
            for &s in &got {
                let c = &mut copies[s as usize];
                assert!(*c < 2, "{what}: seq {s} arrived a third time");
                let last = &mut last[usize::from(*c)];
                assert!(last.is_none_or(|l| l < s), "{what}: {s} after {last:?}");
                *last = Some(s);
                *c += 1;
            }
            assert!(copies.iter().all(|&c| c == 2), "{what}: a seq arrived once");
            dir.assert_empty(&format!("{what}: regions left behind"));
        }
    });
}

/// A `drop` lane between processes never holds its writer back for a slow reader; what it
/// drops is counted where the writer runs, and exactly the rest reaches the egress.
#[test]
fn a_drop_lane_between_processes_counts_what_a_slow_reader_loses() {
    bounded("drop lane", TIMEOUT, || {
        const N: u64 = 50_000;
        let dir = TempDir::new("drop");
        let plan = plan_doc(
            "lossy",
            r#"{ name = "fast", kind = "pass" },
            { name = "slow", kind = "sleep", params = { micros = 200, every = 16 } }"#,
            r#"{ from = "src", to = "fast" }, { from = "slow", to = "dst" },
            { from = "fast", to = "slow", lane = { kind = "events", capacity = 64, on_full = "drop" } }"#,
        );
        let reader = process(&plan, &dir.0, &["slow", "dst"], &options(), N);
        let writer = process(&plan, &dir.0, &["src", "fast"], &options(), N);
        let (writer, reader) = (writer.join().unwrap(), reader.join().unwrap());
        writer.published.unwrap();
        let report = writer.joined.unwrap();
        let counts = &lane(&report.lanes, "fast->slow").counts;
        assert!(counts.adds_up(), "{counts:?}");
        assert_eq!(counts.published, N, "{counts:?}");
        assert!(counts.dropped > 0, "nothing dropped: {counts:?}");
        reader.end.unwrap();
        reader.joined.unwrap();
        let got = reader.received;
        assert_eq!(got.len() as u64, N - counts.dropped, "{counts:?}");
        assert!(got.windows(2).all(|w| w[0] < w[1]), "order lost");
        dir.assert_empty("regions left behind");
    });
}

/// A stage that fails in one process stops the other processes of the graph: their `join`
/// fails promptly naming the failed stage, as does the failing process's own.
#[test]
fn a_role_failing_in_one_process_fails_the_others_naming_it() {
    bounded("failure", TIMEOUT, || {
        let dir = TempDir::new("fail");
        let plan = chain("failing", "kind = \"fail\", params = { at = 500 }");
        let work = process(&plan, &dir.0, &["work"], &options(), 0);
        let ends = process(&plan, &dir.0, &["src", "dst"], &options(), 100_000);
        let (ends, work) = (ends.join().unwrap(), work.join().unwrap());
        let Err(GraphError::RoleFailed(there)) = work.joined else {
            panic!("the failing process ended with {:?}", work.joined);
        };
        assert_eq!(there.role, "work", "{there}");
        assert!(there.reason.contains("at = 500"), "{there}");
        let Err(GraphRecvError::Failed(seen)) = &ends.end else {
            panic!("the egress ended with {:?}", ends.end);
        };
        assert_eq!(seen.role, "work", "{seen}");
        let got = &ends.received;
        assert!(
            got.len() < 500,
            "{} passed a stage failing at 500",
            got.len()
        );
        assert!(got.iter().enumerate().all(|(i, &s)| s == i as u64));
        assert!(ends.published.is_err(), "the producer went on");
        let Err(GraphError::RoleFailed(here)) = ends.joined else {
            panic!("the other process ended with {:?}", ends.joined);
        };
        assert_eq!(here.role, "work", "{here}");
        let lag = ends.at.saturating_duration_since(work.at);
        assert!(lag < Duration::from_secs(5), "seen {lag:?} after");
    });
}

/// A process given a role the graph does not have, or a lane that shared memory cannot carry,
/// is refused before anything runs, naming the role (with the ones it could have) or the lane.
#[test]
fn roles_and_lanes_that_cannot_run_split_are_refused_by_name() {
    let dir = TempDir::new("refuse");
    let plan = chain("refused", "kind = \"pass\"");
    let err = resolve(&plan)
        .spawn_shm(&dir.0, &["src", "nope"], &options())
        .unwrap_err();
    let text = err.to_string();
    let GraphSpawnError::UnknownRoles { unknown, known, .. } = err else {
        panic!("{text}");
    };
    assert_eq!(unknown, ["nope"]);
    assert_eq!(known, ["src", "dst", "work"]);
    assert!(text.contains("`nope`") && text.contains("`work`"), "{text}");
    let none = resolve(&plan).spawn_shm(&dir.0, &[], &options());
    assert!(
        matches!(none, Err(GraphSpawnError::UnknownRoles { .. })),
        "{none:?}"
    );

    // Stages `a`, `b`, `c` fed `src -> a`, wired as given; run on the writer's side of `a`.
    let stages = r#"{ name = "a", kind = "pass" }, { name = "b", kind = "pass" },
        { name = "c", kind = "pass" }"#;
    let wired = |name: &str, wiring: &str| {
        resolve(&plan_doc(
            name,
            stages,
            &format!(r#"{{ from = "src", to = "a" }}, {wiring}"#),
        ))
    };
    // Events that are not a `ShmEvent` type cannot cross either.
    let mut g = LaneGraph::builder("words");
    let input = g.ingress::<u64>("src");
    let (double_in, double_out) = g.stage(
        "double",
        lane_fn(|n: &u64, out: &mut Emitter<'_, u64>| out.emit(|slot| *slot = n * 2)),
    );
    let output = g.egress::<u64>("dst");
    g.connect(&input, &double_in);
    g.connect(&double_out, &output);
    let cases = [
        (
            wired(
                "journal",
                r#"{ from = "a", to = "b", lane = { kind = "journal" } },
                { from = "b", to = "c" }, { from = "c", to = "dst" }"#,
            ),
            ["src", "a"],
            "a->b",
            "a `journal` lane",
        ),
        (
            wired(
                "lossy",
                r#"{ from = "a", to = "b", lane = { kind = "fanout_broadcast", on_full = "drop" } },
                { from = "a", to = "c", lane = { kind = "fanout_broadcast", on_full = "drop" } },
                { from = "b", to = "dst" }, { from = "c", to = "dst" }"#,
            ),
            ["src", "a"],
            "a->*",
            "a `fanout_broadcast` lane under `drop`",
        ),
        (
            g.build().unwrap(),
            ["src", "double"],
            "double->dst",
            "its events (u64) are not registered",
        ),
    ];
    for (pipeline, roles, lane_name, why) in cases {
        let err = pipeline.spawn_shm(&dir.0, &roles, &options()).unwrap_err();
        let text = err.to_string();
        let GraphSpawnError::NotShareable { lane, reason } = err else {
            panic!("{lane_name}: {text}");
        };
        assert_eq!(lane, lane_name, "{text}");
        assert!(reason.contains(why), "{text}");
    }
    dir.assert_empty("a refused graph made regions");
}

/// A writer whose reader's process never starts does not wait forever: its `join` fails soon
/// after the attach timeout, naming the absent process role.
#[test]
fn a_reader_process_that_never_starts_is_named_after_the_attach_timeout() {
    bounded("never attached", TIMEOUT, || {
        let dir = TempDir::new("absent");
        let plan = chain("lonely", "kind = \"pass\"");
        let options = ShmRunOptions {
            attach_timeout: Duration::from_millis(300),
            ..options()
        };
        let started = Instant::now();
        let outcome = process(&plan, &dir.0, &["src"], &options, 3)
            .join()
            .unwrap();
        let took = outcome.at - started;
        outcome.published.unwrap();
        let Err(GraphError::RoleFailed(f)) = outcome.joined else {
            panic!("the writer ended with {:?}", outcome.joined);
        };
        assert_eq!(f.role, "work", "{f}");
        assert!(f.reason.contains("never attached"), "{f}");
        assert!(f.reason.contains("src->work"), "{f}");
        assert!(took < Duration::from_secs(5), "took {took:?}");
    });
}

/// An empty stream is still a stream: a reader process that starts within the attach timeout
/// after its writer published nothing and ended gets the end of it, and both sides end cleanly.
#[test]
fn an_empty_stream_reaches_a_reader_process_that_starts_late() {
    bounded("empty stream", TIMEOUT, || {
        let dir = TempDir::new("empty");
        let plan = chain("empty", "kind = \"pass\"");
        let options = ShmRunOptions {
            attach_timeout: Duration::from_secs(3),
            ..options()
        };
        let (plan2, dir2, options2) = (plan.clone(), dir.0.clone(), options.clone());
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let (mut ends, control) = resolve(&plan2)
                .spawn_shm(&dir2, &["work", "dst"], &options2)
                .map_err(|e| e.to_string())?;
            let (got, end) = receive(&mut ends.receiver_named("dst").unwrap());
            let joined = control.join().map(drop);
            Ok::<_, String>((got, end, joined))
        });
        process(&plan, &dir.0, &["src"], &options, 0)
            .join()
            .unwrap()
            .joined
            .unwrap();
        let (got, end, joined) = reader.join().unwrap().expect("the reader process started");
        assert_eq!((got, end, joined), (vec![], Ok(()), Ok(())));
        dir.assert_empty("regions left behind");
    });
}

/// `join` waits for the graph to end, every producer dropped: in a process that runs only an
/// ingress it does not return while the producer still publishes (its report counts every
/// event, and the reader process gets them all).
#[test]
fn join_waits_for_a_live_producer_in_a_process_that_only_publishes() {
    bounded("live producer", TIMEOUT, || {
        let dir = TempDir::new("live");
        let plan = chain("live", "kind = \"pass\"");
        let options = ShmRunOptions {
            heartbeat_timeout: Duration::from_secs(1),
            ..options()
        };
        let reader = process(&plan, &dir.0, &["work", "dst"], &options, 0);
        let (mut ends, control) = resolve(&plan)
            .spawn_shm(&dir.0, &["src"], &options)
            .unwrap();
        let mut producer = ends.producer_named::<BuiltinEvent>("src").unwrap();
        let feeder = std::thread::spawn(move || {
            for seq in 0..20 {
                if seq == 10 {
                    std::thread::sleep(Duration::from_millis(1500));
                }
                producer.publish(|e| e.seq = seq).unwrap();
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        let report = control.join().unwrap();
        let producer_done = feeder.is_finished();
        feeder.join().unwrap();
        let reader = reader.join().unwrap();
        let published = lane(&report.lanes, "src->work").counts.published;
        assert_eq!((reader.received.len(), reader.end), (20, Ok(())));
        assert_eq!(published, 20, "the report counts events published after it");
        assert!(producer_done, "join returned before the producer ended");
    });
}

/// A reader of a lane between processes that has nothing to read sleeps on the region's
/// doorbell until the writer rings it, instead of looking again every millisecond (a poller
/// switches context about a thousand times a second), and an event after a long idle still
/// arrives.
#[test]
fn an_idle_reader_between_processes_sleeps_until_the_writer_rings() {
    bounded("idle shm reader", TIMEOUT, || {
        let dir = TempDir::new("doorbell");
        let plan = chain("bell", "kind = \"pass\"");
        let options = options();
        let (plan2, dir2, options2) = (plan.clone(), dir.0.clone(), options.clone());
        let work = std::thread::spawn(move || {
            let (_, control) = resolve(&plan2)
                .spawn_shm(&dir2, &["work"], &options2)
                .unwrap();
            control.join().map(drop)
        });
        let (mut ends, control) = resolve(&plan)
            .spawn_shm(&dir.0, &["src", "dst"], &options)
            .unwrap();
        let mut producer = ends.producer_named::<BuiltinEvent>("src").unwrap();
        let mut rx = ends.receiver_named::<BuiltinEvent>("dst").unwrap();
        producer.publish(|e| e.seq = 1).unwrap();
        assert_eq!(rx.recv_timeout(TIMEOUT).unwrap().map(|e| e.seq), Some(1));
        assert_sleeps_while_idle("bell:work", "reader");
        let sent = Instant::now();
        producer.publish(|e| e.seq = 2).unwrap();
        assert_eq!(rx.recv_timeout(TIMEOUT).unwrap().map(|e| e.seq), Some(2));
        assert!(sent.elapsed() < TIMEOUT);
        drop(producer);
        assert_eq!(rx.recv_timeout(TIMEOUT).unwrap().map(|e| e.seq), None);
        drop(rx);
        control.join().unwrap();
        work.join().unwrap().unwrap();
        dir.assert_empty("regions left behind");
    });
}
