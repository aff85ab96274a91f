//! LaneGraph lanes that store events as plain data: `Journal` lanes (segment files; retention;
//! restart after a crash) and `FanoutBroadcast` under `Drop` (lossy: a slow reader loses, and
//! its counts say exactly how much).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use byteor::backing::journal::{retained, JournalOptions, JournalReader};
use byteor::exec::lane_graph::{lane_fn, Emitter, GraphSpawnError, LaneGraph};
use byteor::exec::StageError;
use byteor::plan::LaneIntent;
use byteor::vocab::{LaneKind, OnFull};
use tests::{bounded, test_seed, wait_until, Gate, XorShift, TIMEOUT};

/// A fresh directory for one test's journals, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "byteor-test-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The lane of `report` whose name starts (`in->`) or ends (`->out`) as given.
fn lane_named<'r>(
    report: &'r byteor::exec::lane_graph::GraphReport,
    part: &str,
) -> &'r byteor::exec::lane_graph::LaneMetrics {
    report
        .lanes
        .iter()
        .find(|l| {
            if part.ends_with("->") {
                l.lane.starts_with(part)
            } else {
                l.lane.ends_with(part)
            }
        })
        .unwrap_or_else(|| panic!("no lane `{part}` in {report:?}"))
}

/// The journal lane of `report`: the one with a directory under `root`.
fn journal_lane<'r>(
    report: &'r byteor::exec::lane_graph::GraphReport,
    root: &std::path::Path,
) -> &'r byteor::exec::lane_graph::LaneMetrics {
    let dirs: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let [dir] = &dirs[..] else {
        panic!("one journal directory expected: {dirs:?}");
    };
    report.lanes.iter().find(|l| l.lane == *dir).unwrap()
}

/// A stage that passes every event on.
fn pass() -> impl byteor::exec::lane_graph::LaneStage<u64, u64> {
    lane_fn(|v: &u64, out: &mut Emitter<'_, u64>| out.emit(|s| *s = *v))
}

fn segments(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "seg"))
            })
            .count()
        })
        .unwrap_or(0)
}

/// `in -> (journal) -> relay -> out`, with a relay that sleeps now and then.
#[test]
fn a_journal_lane_under_block_loses_nothing_and_retention_waits_for_its_reader() {
    const N: u64 = 1_000_000;
    bounded("journal block", TIMEOUT * 2, || {
        let tmp = TempDir::new("journal-block");
        let mut g = LaneGraph::builder("journaled");
        let input = g.ingress::<u64>("in");
        let mut rng = XorShift::new(test_seed("journal block"));
        let (relay_in, relay_out) = g.stage(
            "relay",
            lane_fn(move |v: &u64, out: &mut Emitter<'_, u64>| {
                if rng.one_in(50_000) {
                    std::thread::sleep(Duration::from_millis(2));
                }
                out.emit(|s| *s = *v)
            }),
        );
        let output = g.egress::<u64>("out");
        g.plain_data(&input)
            .connect_with(&input, &relay_in, LaneIntent::of(LaneKind::Journal))
            .connect(&relay_out, &output);
        // Tiny segments and retention: the writer rolls often and would delete unread
        // segments if retention did not wait for the reader.
        let options = JournalOptions {
            segment_bytes: 64 << 10,
            retain_bytes: 128 << 10,
        };
        let (mut ends, control) = g
            .build()
            .unwrap()
            .journal_dir(&tmp.0)
            .journal_options(options)
            .spawn()
            .unwrap();
        let mut producer = ends.producer(&input).unwrap();
        let mut receiver = ends.receiver(&output).unwrap();
        let feeder = std::thread::spawn(move || {
            let mut next = 0u64;
            while next < N {
                let n = (N - next).min(100) as usize;
                producer
                    .publish_batch(n, |i, slot| *slot = next + i as u64)
                    .unwrap();
                next += n as u64;
            }
        });
        let mut expected = 0u64;
        while let Some(v) = receiver.recv_timeout(TIMEOUT).unwrap() {
            assert_eq!(v, expected, "order");
            expected += 1;
        }
        feeder.join().unwrap();
        assert_eq!(expected, N, "nothing lost");
        let report = control.join().unwrap();
        // Lowering bridged the ingress lane to the journal lane.
        let journal = journal_lane(&report, &tmp.0);
        assert_eq!(journal.counts.published, N, "{journal:?}");
        assert_eq!(journal.counts.delivered, [N]);
        assert_eq!(journal.counts.lost, [0]);
        assert!(
            report.lanes.iter().all(|l| l.counts.adds_up()),
            "{report:?}"
        );
        // Retention ran (it runs when a segment rolls, and never deletes what the reader has
        // not read — how much it could delete depends on how far the reader lagged): the
        // oldest segments are gone, and fewer are left than the ~366 written (24 MB in
        // 64 KiB segments).
        let dir = tmp.0.join(&journal.lane);
        let (first, next) = retained::<u64>(&dir).unwrap();
        assert_eq!(next, N);
        assert!(first > 0, "retention deleted nothing");
        let kept = segments(&dir);
        assert!(kept < 366, "{kept} segments kept");
    });
}

#[test]
fn a_journal_lane_under_drop_counts_what_retention_took_from_a_stalled_reader() {
    const N: u64 = 200_000;
    bounded("journal drop", TIMEOUT, || {
        let tmp = TempDir::new("journal-drop");
        let gate = Arc::new(Gate::new());
        let mut g = LaneGraph::builder("lossy_journal");
        g.on_full(OnFull::Drop);
        let input = g.ingress::<u64>("in");
        let (pass_in, pass_out) = g.stage("pass", pass());
        // Reads the journal lane; stalls on its first event until the test opens the gate.
        let stall_gate = Arc::clone(&gate);
        let (stall_in, stall_out) = g.stage(
            "stall",
            lane_fn(move |v: &u64, out: &mut Emitter<'_, u64>| {
                if *v == 0 {
                    assert!(stall_gate.wait(TIMEOUT), "the test never opened the gate");
                }
                out.emit(|s| *s = *v)
            }),
        );
        let output = g.egress::<u64>("out");
        g.plain_data(&pass_out)
            .connect(&input, &pass_in)
            .connect_with(&pass_out, &stall_in, LaneIntent::of(LaneKind::Journal))
            .connect(&stall_out, &output);
        let options = JournalOptions {
            segment_bytes: 16 << 10,
            retain_bytes: 32 << 10,
        };
        let (mut ends, control) = g
            .build()
            .unwrap()
            .journal_dir(&tmp.0)
            .journal_options(options)
            .spawn()
            .unwrap();
        let mut producer = ends.producer(&input).unwrap();
        let mut receiver = ends.receiver(&output).unwrap();
        let mut next = 0u64;
        while next < N {
            let n = (N - next).min(100) as usize;
            producer
                .publish_batch(n, |i, s| *s = next + i as u64)
                .unwrap();
            next += n as u64;
            // Let `pass` keep up, so most events reach the journal.
            std::thread::yield_now();
        }
        drop(producer);
        // Everything `pass` got is in the journal once the ingress lane is drained.
        wait_until("pass drained its input", TIMEOUT, || {
            let lanes = control.lanes();
            let ingress = lanes.iter().find(|l| l.lane.starts_with("in->")).unwrap();
            ingress.counts.adds_up()
        });
        gate.open();
        let mut got = Vec::new();
        while let Some(v) = receiver.recv_timeout(TIMEOUT).unwrap() {
            got.push(v);
        }
        let report = control.join().unwrap();
        let journal = journal_lane(&report, &tmp.0);
        let ingress = lane_named(&report, "in->");
        assert_eq!(ingress.counts.published, N);
        assert_eq!(
            ingress.counts.written, journal.counts.published,
            "pass forwards everything it gets: {report:?}"
        );
        let (delivered, lost) = (journal.counts.delivered[0], journal.counts.lost[0]);
        assert_eq!(delivered + lost, journal.counts.published, "{journal:?}");
        assert!(
            lost > 0,
            "retention should have taken events from the stalled reader: {journal:?}"
        );
        // What the stalled reader got is in order: what it read, then what retention kept.
        assert!(got.windows(2).all(|w| w[0] < w[1]), "order");
        assert!(
            report.lanes.iter().all(|l| l.counts.adds_up()),
            "{report:?}"
        );
    });
}

#[test]
fn a_restarted_graph_goes_on_after_the_journal_and_a_torn_tail_is_cut() {
    bounded("journal restart", TIMEOUT, move || {
        let tmp = TempDir::new("journal-restart");
        let run = |values: std::ops::Range<u64>| {
            let mut g = LaneGraph::builder("restartable");
            let input = g.ingress::<u64>("in");
            let (pass_in, pass_out) = g.stage("pass", pass());
            let output = g.egress::<u64>("out");
            g.plain_data(&pass_out)
                .connect(&input, &pass_in)
                .connect_with(&pass_out, &output, LaneIntent::of(LaneKind::Journal));
            let (mut ends, control) = g.build().unwrap().journal_dir(&tmp.0).spawn().unwrap();
            let mut producer = ends.producer(&input).unwrap();
            let mut receiver = ends.receiver(&output).unwrap();
            let expected: Vec<u64> = values.clone().collect();
            producer
                .publish_batch(expected.len(), |i, s| *s = expected[i])
                .unwrap();
            drop(producer);
            let mut got = Vec::new();
            while let Some(v) = receiver.recv_timeout(TIMEOUT).unwrap() {
                got.push(v);
            }
            assert_eq!(
                got, expected,
                "a lane delivers what is written while it runs"
            );
            let report = control.join().unwrap();
            tmp.0.join(&journal_lane(&report, &tmp.0).lane)
        };
        let dir = run(0..1000);
        // A crash mid-append: cut the newest segment in the middle of its last record.
        let newest = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .max()
            .unwrap();
        let len = std::fs::metadata(&newest).unwrap().len();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&newest)
            .unwrap();
        file.set_len(len - 5).unwrap();
        drop(file);
        // The record cut in half (offset 999) is gone; the next run goes on from there.
        let dir = run(5000..5500);
        let mut reader = JournalReader::<u64>::open(&dir, 990).unwrap();
        let mut tail = Vec::new();
        while let Some((offset, v)) = reader.next().unwrap() {
            tail.push((offset, v));
        }
        let expected: Vec<(u64, u64)> = (990..999)
            .map(|o| (o, o))
            .chain((0..500).map(|k| (999 + k, 5000 + k)))
            .collect();
        assert_eq!(tail, expected);
    });
}

#[test]
fn a_lossy_broadcast_lane_never_waits_and_each_reader_counts_what_it_lost() {
    const N: u64 = 300_000;
    bounded("lossy broadcast", TIMEOUT, || {
        let mut g = LaneGraph::builder("lossy_fanout");
        g.on_full(OnFull::Drop);
        let input = g.ingress::<u64>("in");
        let (slow_in, slow_out) = g.stage(
            "slow",
            lane_fn(
                |v: &u64, out: &mut Emitter<'_, u64>| -> Result<(), StageError> {
                    if v % 1000 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    out.emit(|s| *s = *v)
                },
            ),
        );
        let (fast_in, fast_stage_out) = g.stage("fast", pass());
        let fast_out = g.egress::<u64>("fast_out");
        let slow_egress = g.egress::<u64>("slow_out");
        let broadcast = LaneIntent::of(LaneKind::FanoutBroadcast).capacity(64);
        g.plain_data(&input)
            .connect_with(&input, &slow_in, broadcast.clone())
            .connect_with(&input, &fast_in, broadcast)
            .connect(&fast_stage_out, &fast_out)
            .connect(&slow_out, &slow_egress);
        let (mut ends, control) = g.build().unwrap().spawn().unwrap();
        let mut producer = ends.producer(&input).unwrap();
        let mut fast = ends.receiver(&fast_out).unwrap();
        let mut slow = ends.receiver(&slow_egress).unwrap();
        let started = std::time::Instant::now();
        let mut next = 0u64;
        while next < N {
            let n = (N - next).min(64) as usize;
            producer
                .publish_batch(n, |i, s| *s = next + i as u64)
                .unwrap();
            next += n as u64;
        }
        drop(producer);
        let writer_time = started.elapsed();
        let drain = |r: &mut byteor::exec::lane_graph::GraphReceiver<u64>| {
            let mut got = Vec::new();
            while let Some(v) = r.recv_timeout(TIMEOUT).unwrap() {
                got.push(v);
            }
            got
        };
        let fast_got = drain(&mut fast);
        let slow_got = drain(&mut slow);
        let report = control.join().unwrap();
        let lane = report
            .lanes
            .iter()
            .find(|l| l.counts.delivered.len() == 2)
            .expect("the broadcast lane");
        // The producer's lane (under `drop` it drops when the inserted bridge falls behind)
        // feeds the broadcast lane through the bridge.
        let ingress = lane_named(&report, "in->");
        assert_eq!(ingress.counts.published, N);
        assert_eq!(lane.counts.published, ingress.counts.written, "{report:?}");
        assert!(
            report.lanes.iter().all(|l| l.counts.adds_up()),
            "{report:?}"
        );
        for got in [&fast_got, &slow_got] {
            assert!(got.windows(2).all(|w| w[0] < w[1]), "each reader in order");
        }
        // The slow reader (at most 300 sleeps of 1 ms while the writer never waits) lost some.
        let slow_reader = lane
            .counts
            .lost
            .iter()
            .position(|&l| l > 0)
            .expect("some reader lost events");
        assert!(
            lane.counts.delivered[slow_reader] < lane.counts.published,
            "{lane:?} (writer took {writer_time:?})"
        );
    });
}

#[test]
fn plain_data_lanes_need_a_plain_data_declaration_and_journals_a_directory() {
    let mut g = LaneGraph::builder("undeclared");
    let input = g.ingress::<u64>("in");
    let (pass_in, pass_out) = g.stage("pass", pass());
    let output = g.egress::<u64>("out");
    g.connect(&input, &pass_in)
        .connect_with(&pass_out, &output, LaneIntent::of(LaneKind::Journal));
    let err = g.build().unwrap().spawn().unwrap_err();
    assert!(
        matches!(
            &err,
            GraphSpawnError::NotPlainData {
                kind: LaneKind::Journal,
                event_type: "u64",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("plain_data"), "{err}");

    let mut g = LaneGraph::builder("no_dir");
    let input = g.ingress::<u64>("in");
    let (pass_in, pass_out) = g.stage("pass", pass());
    let output = g.egress::<u64>("out");
    g.plain_data(&pass_out)
        .connect(&input, &pass_in)
        .connect_with(&pass_out, &output, LaneIntent::of(LaneKind::Journal));
    let err = g.build().unwrap().spawn().unwrap_err();
    assert!(
        matches!(&err, GraphSpawnError::NoJournalDir { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("journal_dir"), "{err}");

    let mut g = LaneGraph::builder("lossy_undeclared");
    g.on_full(OnFull::Drop);
    let input = g.ingress::<u64>("in");
    let (a_in, a_out) = g.stage("a", pass());
    let (b_in, b_out) = g.stage("b", pass());
    let (a, b) = (g.egress::<u64>("a_out"), g.egress::<u64>("b_out"));
    let broadcast = LaneIntent::of(LaneKind::FanoutBroadcast);
    g.connect_with(&input, &a_in, broadcast.clone())
        .connect_with(&input, &b_in, broadcast)
        .connect(&a_out, &a)
        .connect(&b_out, &b);
    let err = g.build().unwrap().spawn().unwrap_err();
    assert!(
        matches!(
            &err,
            GraphSpawnError::NotPlainData {
                kind: LaneKind::FanoutBroadcast,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("under `drop`"), "{err}");
}
