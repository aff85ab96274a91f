//! The LaneGraph runtime in one process: fan-out through an inserted router, fan-in through a
//! merge (each input's order kept), a broadcast lane, a bridge between lane kinds, `Drop`
//! accounting to a slow consumer, drain on shutdown, and failing or panicking roles named.

use std::collections::HashMap;
use std::time::Duration;

use byteor::exec::lane_graph::{lane_fn, Emitter, GraphError, LaneGraph};
use byteor::exec::StageError;
use byteor::kernel::WaitStrategy;
use byteor::plan::LaneIntent;
use byteor::spec::TopologySpec;
use byteor::vocab::{LaneKind, OnFull, RoleKind};
#[cfg(target_os = "linux")]
use tests::assert_sleeps_while_idle;
use tests::{bounded, TIMEOUT};

const N: u64 = 50_000;

/// `(source, value)`: which input an event came through, and its number there.
type Tagged = (u64, u64);

fn tag(source: u64) -> impl FnMut(&u64, &mut Emitter<'_, Tagged>) -> Result<(), StageError> {
    move |v, out| out.emit(|slot| *slot = (source, *v))
}

/// Under the default parking waits and under yielding ones (the graph's roles, its merge
/// polling its three inputs, the producer and the receiver all wait with the strategy).
#[test]
fn fan_out_then_fan_in_keeps_every_event_and_each_inputs_order() {
    for strategy in [WaitStrategy::Parking, WaitStrategy::Yielding] {
        fan_out_then_fan_in(strategy);
    }
}

fn fan_out_then_fan_in(strategy: WaitStrategy) {
    bounded("fan-out fan-in", TIMEOUT, move || {
        let mut g = LaneGraph::builder("plant");
        let input = g.ingress::<u64>("ticks_in");
        let output = g.egress::<Tagged>("tagged_out");
        for k in 0..3u64 {
            let (stage_in, stage_out) = g.stage(&format!("tag{k}"), lane_fn(tag(k)));
            g.connect(&input, &stage_in);
            g.connect(&stage_out, &output);
        }
        let pipeline = g.build().unwrap().wait_strategy(strategy);
        let TopologySpec::LaneGraph(spec) = &pipeline.spec().topology else {
            panic!("a lane graph")
        };
        let kinds: Vec<RoleKind> = spec.roles.iter().map(|r| r.kind).collect();
        assert!(
            kinds.contains(&RoleKind::Router) && kinds.contains(&RoleKind::Merge),
            "{kinds:?}"
        );
        let (mut ends, control) = pipeline.spawn().unwrap();
        let mut producer = ends.producer(&input).unwrap();
        let mut receiver = ends.receiver(&output).unwrap();
        let consumer = std::thread::spawn(move || {
            let mut next: HashMap<u64, u64> = HashMap::new();
            let mut total = 0;
            while let Some((source, v)) = receiver.recv_timeout(TIMEOUT).unwrap() {
                let expect = next.entry(source).or_insert(0);
                assert_eq!(v, *expect, "source {source} out of order");
                *expect += 1;
                total += 1;
            }
            (total, next)
        });
        for v in 0..N {
            producer.publish(|slot| *slot = v).unwrap();
        }
        drop(producer);
        let (total, next) = consumer.join().unwrap();
        assert_eq!(total, 3 * N);
        assert!(next.values().all(|&n| n == N), "{next:?}");
        let report = control.join().unwrap();
        for lane in &report.lanes {
            assert!(lane.counts.adds_up(), "{lane:?}");
            assert_eq!(lane.counts.dropped, 0, "{lane:?}");
        }
    });
}

#[test]
fn a_broadcast_lane_gives_every_reader_every_event_and_a_bridge_changes_kind() {
    bounded("broadcast", TIMEOUT, || {
        let mut g = LaneGraph::builder("broadcast");
        let input = g.ingress::<u64>("in");
        let output = g.egress::<Tagged>("out");
        for k in 0..2u64 {
            let (stage_in, stage_out) = g.stage(&format!("reader{k}"), lane_fn(tag(k)));
            g.connect_with(&input, &stage_in, LaneIntent::of(LaneKind::FanoutBroadcast));
            g.connect_with(&stage_out, &output, LaneIntent::sequenced_slots(100));
        }
        let pipeline = g.build().unwrap();
        let (mut ends, control) = pipeline.spawn().unwrap();
        let mut producer = ends.producer(&input).unwrap();
        let mut receiver = ends.receiver(&output).unwrap();
        let consumer = std::thread::spawn(move || {
            let mut counts = [0u64; 2];
            while let Some((source, _)) = receiver.recv_timeout(TIMEOUT).unwrap() {
                counts[source as usize] += 1;
            }
            counts
        });
        for v in 0..N {
            producer.publish(|slot| *slot = v).unwrap();
        }
        drop(producer);
        assert_eq!(consumer.join().unwrap(), [N, N]);
        let report = control.join().unwrap();
        assert!(report.lanes.iter().all(|l| l.counts.adds_up()));
    });
}

#[test]
fn a_drop_lane_to_a_slow_consumer_counts_exactly_what_it_loses() {
    bounded("drop lane", TIMEOUT, || {
        let mut g = LaneGraph::builder("lossy");
        g.on_full(OnFull::Drop);
        let input = g.ingress::<u64>("in");
        let (slow_in, slow_out) = g.stage(
            "slow",
            lane_fn(|v: &u64, out: &mut Emitter<'_, u64>| {
                if v % 1000 == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
                out.emit(|slot| *slot = *v)
            }),
        );
        let output = g.egress::<u64>("out");
        g.connect_with(&input, &slow_in, LaneIntent::events().capacity(16));
        g.connect(&slow_out, &output);
        let (mut ends, control) = g.build().unwrap().spawn().unwrap();
        let mut producer = ends.producer(&input).unwrap();
        let mut receiver = ends.receiver(&output).unwrap();
        let consumer = std::thread::spawn(move || {
            let mut got = 0u64;
            let mut last = None;
            while let Some(v) = receiver.recv_timeout(TIMEOUT).unwrap() {
                assert!(last.is_none_or(|l| v > l), "in order");
                last = Some(v);
                got += 1;
            }
            got
        });
        for v in 0..N {
            producer.publish(|slot| *slot = v).unwrap(); // never waits under Drop
        }
        drop(producer);
        let received = consumer.join().unwrap();
        let report = control.join().unwrap();
        let dropped: u64 = report.lanes.iter().map(|l| l.counts.dropped).sum();
        for lane in &report.lanes {
            assert!(lane.counts.adds_up(), "{lane:?}");
        }
        assert_eq!(received + dropped, N, "{:?}", report.lanes);
    });
}

#[test]
fn shutdown_drains_every_lane_while_a_producer_is_still_held() {
    bounded("shutdown", TIMEOUT, || {
        let mut g = LaneGraph::builder("drain");
        let input = g.ingress::<u64>("in");
        let (a_in, a_out) = g.stage(
            "a",
            lane_fn(|v: &u64, out: &mut Emitter<'_, u64>| out.emit(|s| *s = v + 1)),
        );
        let output = g.egress::<u64>("out");
        g.connect(&input, &a_in);
        g.connect(&a_out, &output);
        let (mut ends, control) = g.build().unwrap().spawn().unwrap();
        let mut producer = ends.producer(&input).unwrap();
        let mut receiver = ends.receiver(&output).unwrap();
        for v in 0..500 {
            producer.publish(|s| *s = v).unwrap();
        }
        let collect = std::thread::spawn(move || {
            let mut n = 0;
            while receiver.recv_timeout(TIMEOUT).unwrap().is_some() {
                n += 1;
            }
            n
        });
        let report = control.shutdown().unwrap();
        assert_eq!(collect.join().unwrap(), 500);
        // Every lane carried all 500; the roles' lanes were drained by the time the roles
        // ended (the egress lane's reader is the receiver thread, counted above).
        for lane in &report.lanes {
            assert_eq!(lane.counts.published, 500, "{lane:?}");
            if lane.lane.ends_with("->out") {
                continue;
            }
            assert!(lane.counts.adds_up(), "{lane:?}");
        }
        assert_eq!(producer.publish(|s| *s = 1), Err(GraphError::Closed));
    });
}

#[test]
fn a_failing_or_panicking_stage_stops_the_graph_and_is_named() {
    for panics in [false, true] {
        bounded("failure", TIMEOUT, move || {
            let mut g = LaneGraph::builder("fails");
            let input = g.ingress::<u64>("in");
            let (bad_in, bad_out) = g.stage(
                "picky",
                lane_fn(move |v: &u64, out: &mut Emitter<'_, u64>| {
                    if *v == 300 {
                        if panics {
                            panic!("cannot stand 300");
                        }
                        return Err(StageError::msg("refused 300"));
                    }
                    out.emit(|s| *s = *v)
                }),
            );
            let output = g.egress::<u64>("out");
            g.connect(&input, &bad_in);
            g.connect(&bad_out, &output);
            let (mut ends, control) = g.build().unwrap().spawn().unwrap();
            let mut producer = ends.producer(&input).unwrap();
            let mut receiver = ends.receiver(&output).unwrap();
            let drain = std::thread::spawn(move || {
                while receiver.try_recv().is_some()
                    || receiver.recv_timeout(Duration::from_millis(50)).is_ok()
                {}
            });
            let mut refused = None;
            for v in 0..100_000u64 {
                if let Err(e) = producer.publish(|s| *s = v) {
                    refused = Some(e);
                    break;
                }
            }
            match refused {
                Some(GraphError::RoleFailed(f)) => assert_eq!(f.role, "picky"),
                other => panic!("expected the failure, got {other:?}"),
            }
            match control.join() {
                Err(GraphError::RoleFailed(f)) => {
                    assert_eq!(f.role, "picky");
                    let expected = if panics {
                        "cannot stand 300"
                    } else {
                        "refused 300"
                    };
                    assert!(f.reason.contains(expected), "{f}");
                }
                other => panic!("expected the failure, got {other:?}"),
            }
            drop(producer);
            let _ = drain.join();
        });
    }
}

#[test]
fn a_graph_built_in_code_is_the_plan_a_document_would_give() {
    let mut g = LaneGraph::builder("doc");
    let input = g.ingress::<u64>("in");
    let (a_in, a_out) = g.stage(
        "a",
        lane_fn(|v: &u64, out: &mut Emitter<'_, u64>| out.emit(|s| *s = *v)),
    );
    let output = g.egress::<u64>("out");
    g.connect(&input, &a_in);
    g.connect(&a_out, &output);
    let pipeline = g.build().unwrap();
    let toml = pipeline.plan().to_toml();
    let reread = byteor::plan::PipelinePlanV2::from_toml(&toml).unwrap();
    assert_eq!(&reread, pipeline.plan());
    let spec = byteor::lower::lower_v2(&reread).unwrap();
    assert_eq!(spec.fingerprint(), pipeline.spec().fingerprint());
}

#[test]
fn handles_from_another_builder_and_cycles_are_refused_at_build() {
    let mut other = LaneGraph::builder("other");
    let foreign = other.ingress::<u64>("in");
    let mut g = LaneGraph::builder("mine");
    let _input = g.ingress::<u64>("in");
    let (a_in, a_out) = g.stage(
        "a",
        lane_fn(|v: &u64, out: &mut Emitter<'_, u64>| out.emit(|s| *s = *v)),
    );
    let output = g.egress::<u64>("out");
    g.connect(&foreign, &a_in);
    g.connect(&a_out, &output);
    match g.build() {
        Err(byteor::exec::BuildError::ForeignHandle { from, to }) => {
            assert_eq!((from.as_str(), to.as_str()), ("in", "a"))
        }
        other => panic!("expected ForeignHandle, got {other:?}"),
    }

    // a -> b -> a: the model's cycle rule, every violation reported.
    let mut g = LaneGraph::builder("loop");
    let input = g.ingress::<u64>("in");
    let pass = || lane_fn(|v: &u64, out: &mut Emitter<'_, u64>| out.emit(|s| *s = *v));
    let (a_in, a_out) = g.stage("a", pass());
    let (b_in, b_out) = g.stage("b", pass());
    let output = g.egress::<u64>("out");
    g.connect(&input, &a_in);
    g.connect(&a_out, &b_in);
    g.connect(&b_out, &a_in);
    g.connect(&b_out, &output);
    match g.build() {
        Err(byteor::exec::BuildError::InvalidPlan(errors)) => {
            assert!(
                errors.to_string().contains("cycle: a -> b -> a"),
                "{errors}"
            )
        }
        other => panic!("expected the cycle, got {other:?}"),
    }

    // A producer for another graph's handle is not handed out.
    let mut g = LaneGraph::builder("ok");
    let input = g.ingress::<u64>("in");
    let (a_in, a_out) = g.stage("a", pass());
    let output = g.egress::<u64>("out");
    g.connect(&input, &a_in);
    g.connect(&a_out, &output);
    let (mut ends, control) = g.build().unwrap().spawn().unwrap();
    assert!(ends.producer(&foreign).is_none());
    drop(ends);
    control.shutdown().unwrap();
}

#[test]
fn a_receiver_dropped_mid_stream_does_not_hold_the_graph_back() {
    bounded("dropped receiver", TIMEOUT, || {
        let mut g = LaneGraph::builder("walkaway");
        let input = g.ingress::<u64>("in");
        let (a_in, a_out) = g.stage(
            "a",
            lane_fn(|v: &u64, out: &mut Emitter<'_, u64>| out.emit(|s| *s = *v)),
        );
        let output = g.egress::<u64>("out");
        g.connect_with(&input, &a_in, LaneIntent::events().capacity(8));
        g.connect_with(&a_out, &output, LaneIntent::events().capacity(8));
        let (mut ends, control) = g.build().unwrap().spawn().unwrap();
        let mut producer = ends.producer(&input).unwrap();
        let mut receiver = ends.receiver(&output).unwrap();
        for v in 0..4 {
            producer.publish(|s| *s = v).unwrap();
        }
        assert_eq!(receiver.recv_timeout(TIMEOUT).unwrap(), Some(0));
        drop(receiver); // walks away: the egress lane no longer waits for it
        for v in 4..10_000 {
            producer.publish(|s| *s = v).unwrap();
        }
        drop(producer);
        let report = control.join().unwrap();
        let out = report
            .lanes
            .iter()
            .find(|l| l.lane.ends_with("->out"))
            .unwrap();
        assert_eq!(out.counts.published, 10_000);
        assert_eq!(out.counts.detached, [true]);
        assert!(report.lanes.iter().all(|l| l.counts.adds_up()));
    });
}

#[test]
fn a_drop_connection_to_a_slow_consumer_never_holds_a_blocking_graph_back() {
    const EVENTS: u64 = 200_000;
    bounded("drop tap", TIMEOUT, || {
        let mut g = LaneGraph::builder("tapped");
        let input = g.ingress::<u64>("in");
        let pass = |v: &u64, out: &mut Emitter<'_, u64>| out.emit(|s| *s = *v);
        let (a_in, a_out) = g.stage("a", lane_fn(pass));
        let (fast_in, fast_out) = g.stage("fast", lane_fn(pass));
        // The analytics consumer sleeps on every 1000th event: far slower than the plant.
        let (slow_in, slow_out) = g.stage(
            "slow",
            lane_fn(|v: &u64, out: &mut Emitter<'_, u64>| {
                if v % 1000 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                out.emit(|s| *s = *v)
            }),
        );
        let out = g.egress::<u64>("out");
        let analytics = g.egress::<u64>("analytics_out");
        let tap = LaneIntent::events().capacity(64).on_full(OnFull::Drop);
        g.connect(&input, &a_in)
            .connect(&a_out, &fast_in)
            .connect_with(&a_out, &slow_in, tap)
            .connect(&fast_out, &out)
            .connect(&slow_out, &analytics);
        let (mut ends, control) = g.build().unwrap().spawn().unwrap();
        let mut producer = ends.producer(&input).unwrap();
        let mut receiver = ends.receiver(&out).unwrap();
        let mut analytics = ends.receiver(&analytics).unwrap();
        let analytics_reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(v) = analytics.recv_timeout(TIMEOUT).unwrap() {
                got.push(v);
            }
            got
        });
        let started = std::time::Instant::now();
        let feeder = std::thread::spawn(move || {
            for v in 0..EVENTS {
                producer.publish(|s| *s = v).unwrap();
            }
        });
        let mut got = 0u64;
        while let Some(v) = receiver.recv_timeout(TIMEOUT).unwrap() {
            assert_eq!(v, got, "the blocking path loses nothing, in order");
            got += 1;
        }
        let plant_time = started.elapsed();
        feeder.join().unwrap();
        assert_eq!(got, EVENTS);
        let analytics_got = analytics_reader.join().unwrap();
        let report = control.join().unwrap();
        assert!(
            report.lanes.iter().all(|l| l.counts.adds_up()),
            "{report:?}"
        );
        let tap = report
            .lanes
            .iter()
            .find(|l| l.lane == "router.a->slow")
            .unwrap_or_else(|| panic!("no tap lane in {report:?}"));
        assert!(
            tap.counts.dropped > 0,
            "the slow consumer should have lost events: {tap:?} (plant took {plant_time:?})"
        );
        assert_eq!(tap.counts.published, EVENTS);
        assert_eq!(tap.counts.written + tap.counts.dropped, EVENTS);
        assert_eq!(analytics_got.len() as u64, tap.counts.written);
        assert!(analytics_got.windows(2).all(|w| w[0] < w[1]), "in order");
    });
}

/// An idle merge sleeps until one of its inputs has an event: it parks on every input's hub
/// at once, so a writer wakes it, instead of looking again every millisecond (a poller would
/// switch context about a thousand times a second). An event after a long idle still arrives,
/// through either input.
#[cfg(target_os = "linux")]
#[test]
fn an_idle_merge_parks_on_all_its_inputs_and_any_of_them_wakes_it() {
    bounded("idle merge", TIMEOUT, || {
        let pass = |v: &u64, out: &mut Emitter<'_, u64>| out.emit(|s| *s = *v);
        let mut g = LaneGraph::builder("fi");
        let a_in = g.ingress::<u64>("a_in");
        let b_in = g.ingress::<u64>("b_in");
        let (a, a_out) = g.stage("a", lane_fn(pass));
        let (b, b_out) = g.stage("b", lane_fn(pass));
        let out = g.egress::<u64>("out");
        g.connect(&a_in, &a).connect(&b_in, &b);
        g.connect(&a_out, &out).connect(&b_out, &out);
        let (mut ends, control) = g.build().unwrap().spawn().unwrap();
        let mut pa = ends.producer(&a_in).unwrap();
        let mut pb = ends.producer(&b_in).unwrap();
        let mut rx = ends.receiver(&out).unwrap();
        pa.publish(|s| *s = 1).unwrap();
        assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), Some(1));
        assert_sleeps_while_idle("fi:merge.out", "merge");
        pb.publish(|s| *s = 2).unwrap();
        assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), Some(2));
        std::thread::sleep(Duration::from_millis(100));
        pa.publish(|s| *s = 3).unwrap();
        assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), Some(3));
        drop((pa, pb));
        assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), None);
        control.join().unwrap();
    });
}
