//! Stage threads: one per stage (and shard), named `<pipeline>:<stage>[.<shard>]` within 15
//! bytes (`exec::thread_name`), and
//! every hook of a stage instance runs on that instance's own thread.

use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use byteor::prelude::*;
use tests::{bounded, Ev, TIMEOUT};

/// What one stage instance saw of its threads.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    info: StageInfo,
    start: (Option<String>, ThreadId),
    event: Option<(Option<String>, ThreadId)>,
    shutdown: Option<(Option<String>, ThreadId)>,
}

fn here() -> (Option<String>, ThreadId) {
    let t = std::thread::current();
    (t.name().map(str::to_owned), t.id())
}

/// Records the thread of each hook.
#[derive(Clone, Default)]
struct WhereAmI {
    log: Arc<Mutex<Vec<Seen>>>,
    index: Option<usize>,
}

impl WhereAmI {
    fn update(&self, f: impl FnOnce(&mut Seen)) {
        let i = self.index.expect("on_start ran first");
        f(&mut self.log.lock().unwrap()[i]);
    }
}

impl Stage<Ev> for WhereAmI {
    fn on_start(&mut self, info: &StageInfo) -> Result<(), StageError> {
        let mut log = self.log.lock().unwrap();
        self.index = Some(log.len());
        log.push(Seen {
            info: info.clone(),
            start: here(),
            event: None,
            shutdown: None,
        });
        Ok(())
    }

    fn on_event(&mut self, _: &Ev, _: &EventContext) -> Result<(), StageError> {
        let now = here();
        self.update(|s| {
            s.event.get_or_insert(now);
        });
        Ok(())
    }

    fn on_shutdown(&mut self) {
        let now = here();
        self.update(|s| s.shutdown = Some(now));
    }
}

fn check_threads(log: &[Seen], expected: &[(&str, &str, u32, u32, u32)]) {
    let me = std::thread::current().id();
    let mut by_name: Vec<&Seen> = log.iter().collect();
    by_name.sort_by(|a, b| a.start.0.cmp(&b.start.0));
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(
        by_name.len(),
        expected.len(),
        "one thread per stage instance: {log:#?}"
    );
    for (seen, (name, stage, id, shard, shards)) in by_name.iter().zip(&expected) {
        assert_eq!(seen.start.0.as_deref(), Some(*name));
        assert_eq!(seen.info.stage, *stage);
        assert_eq!(seen.info.id, *id);
        assert_eq!(seen.info.shard, *shard);
        assert_eq!(seen.info.shards, *shards);
        assert_ne!(seen.start.1, me, "{name}: stages run on their own threads");
        assert_eq!(
            seen.event.as_ref(),
            Some(&seen.start),
            "{name}: on_event runs on the on_start thread"
        );
        assert_eq!(
            seen.shutdown.as_ref(),
            Some(&seen.start),
            "{name}: on_shutdown runs on the on_start thread"
        );
    }
    for (i, a) in log.iter().enumerate() {
        for b in &log[i + 1..] {
            assert_ne!(a.start.1, b.start.1, "every instance has its own thread");
        }
    }
}

#[test]
fn stage_threads_are_named_after_pipeline_and_stage() {
    bounded("thread names", TIMEOUT, || {
        let log = Arc::new(Mutex::new(Vec::new()));
        let stage = WhereAmI {
            log: log.clone(),
            index: None,
        };
        let pipeline = SingleRing::<Ev>::build("names", |ring| {
            let ring = ring.capacity(16).ingress("in").egress("out");
            let (ring, parse) = ring.stage("parse", stage.clone());
            let (ring, risk) = ring.stage_after("risk", stage.clone(), [parse]);
            let (ring, _) = ring.stage_after("book", stage.clone(), [risk]);
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        for i in 0..10 {
            producer.publish(|e| e.value = i).unwrap();
        }
        drop(producer);
        control.join_timeout(TIMEOUT).expect("clean join");
        let log = log.lock().unwrap();
        for seen in log.iter() {
            assert_eq!(seen.info.pipeline, "names");
        }
        check_threads(
            &log,
            &[
                ("names:parse", "parse", 0, 0, 1),
                ("names:risk", "risk", 1, 0, 1),
                ("names:book", "book", 2, 0, 1),
            ],
        );
    });
}

#[test]
fn sharded_stage_threads_carry_the_shard_in_their_name() {
    bounded("sharded thread names", TIMEOUT, || {
        let log = Arc::new(Mutex::new(Vec::new()));
        let stage = WhereAmI {
            log: log.clone(),
            index: None,
        };
        let pipeline = SingleRing::<Ev>::build("fx", |ring| {
            let ring = ring
                .capacity(16)
                .ingress("in")
                .egress("out")
                .shards(3, "key", |e: &Ev| e.key);
            let (ring, a) = ring.stage("quote", stage.clone());
            let (ring, _) = ring.stage_after("hedge", stage.clone(), [a]);
            ring.build()
        })
        .unwrap();
        let (mut producer, control) = pipeline.spawn().unwrap();
        // Enough keys that every shard gets events (checked below through on_event).
        for key in 0..300 {
            producer.publish(|e| e.key = key).unwrap();
        }
        drop(producer);
        let report = control.join_timeout(TIMEOUT).expect("clean join");
        assert!(report.published.iter().all(|&n| n > 0), "{report:?}");
        let log = log.lock().unwrap();
        let mut expected = Vec::new();
        let names: Vec<String> = (0..3)
            .flat_map(|s| [format!("fx:quote.{s}"), format!("fx:hedge.{s}")])
            .collect();
        for s in 0..3u32 {
            expected.push((names[2 * s as usize].as_str(), "quote", 0, s, 3));
            expected.push((names[2 * s as usize + 1].as_str(), "hedge", 1, s, 3));
        }
        check_threads(&log, &expected);
    });
}
