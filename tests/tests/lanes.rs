//! The lane kinds under load, with jittered readers on two cores: every lane under `Block` over
//! a million events (nothing lost, order kept, every reader sees every event), `Drop`
//! accounting exact under a stalled reader (`published = delivered + dropped` per reader), and
//! a journal reader that follows a live writer and resumes after a restart.

use std::time::{Duration, Instant};

use byteor::backing::journal::{JournalOptions, JournalReader, JournalWriter};
use byteor::kernel::broadcast::broadcast;
use byteor::kernel::lane::lane;
use tests::{bounded, test_seed, Jitter, TIMEOUT};

const EVENTS: u64 = 1_000_000;

/// `Events` (one reader), and the shape `SequencedSlots` and `FanoutBroadcast` under `Block`
/// share: a capacity that is no power of two, three readers each seeing every event and all
/// gating the reuse of a slot.
#[test]
fn block_lanes_lose_nothing_and_keep_order_under_jittered_readers() {
    for (capacity, readers, label) in [(1024u64, 1usize, "events"), (1000, 3, "sequenced")] {
        let seed = test_seed(label);
        bounded(label, TIMEOUT, move || {
            let (mut writer, readers) = lane::<[u64; 2]>(capacity, readers).unwrap();
            let handles: Vec<_> = readers
                .into_iter()
                .enumerate()
                .map(|(k, mut r)| {
                    std::thread::spawn(move || {
                        let mut jitter = Jitter::new(seed ^ k as u64, 64, 4096);
                        let mut expect = 0u64;
                        while expect < EVENTS {
                            let n = r.read(|seq, e| {
                                assert_eq!((seq, *e), (expect, [expect, !expect]));
                                expect += 1;
                                jitter.step();
                            });
                            if n == 0 {
                                std::thread::yield_now();
                            }
                        }
                        r.delivered()
                    })
                })
                .collect();
            let mut jitter = Jitter::new(seed, 256, 8192);
            for v in 0..EVENTS {
                while !writer.try_write(|e| *e = [v, !v]) {
                    std::thread::yield_now();
                }
                jitter.step();
            }
            for h in handles {
                assert_eq!(h.join().unwrap(), EVENTS);
            }
            let counts = writer.lane().counts();
            assert_eq!((counts.published, counts.dropped), (EVENTS, 0));
            assert!(counts.adds_up(), "{counts:?}");
        });
    }
}

/// `Drop` on an in-place lane: a stalled reader makes the writer drop (never wait), and the
/// counts add up exactly for every reader.
#[test]
fn drop_lane_accounting_is_exact_under_a_stalled_reader() {
    bounded("drop lane", TIMEOUT, || {
        let (mut writer, mut readers) = lane::<u64>(64, 2).unwrap();
        let mut slow = readers.pop().unwrap();
        let mut fast = readers.pop().unwrap();
        let mut written = 0;
        for v in 0..100_000u64 {
            if writer.write_or_drop(|e| *e = v) {
                written += 1;
            }
            fast.read(|_, _| {});
            if v % 10_000 == 0 {
                slow.read(|_, _| {}); // the slow reader wakes now and then
            }
        }
        fast.read(|_, _| {});
        slow.read(|_, _| {});
        let counts = writer.lane().counts();
        assert_eq!(counts.published, 100_000);
        assert_eq!(counts.written, written);
        assert!(counts.dropped > 90_000, "{counts:?}");
        assert!(counts.adds_up(), "{counts:?}");
    });
}

/// `FanoutBroadcast` under `Drop`: the writer never waits; a stalled reader loses exactly what
/// was written over it, a reader that keeps up loses nothing.
#[test]
fn lossy_broadcast_counts_every_lost_event_per_reader() {
    let seed = test_seed("broadcast");
    bounded("broadcast", TIMEOUT, move || {
        let (mut writer, readers) = broadcast::<[u64; 2]>(256, 3).unwrap();
        let handles: Vec<_> = readers
            .into_iter()
            .enumerate()
            .map(|(k, mut r)| {
                std::thread::spawn(move || {
                    let mut jitter = Jitter::new(seed ^ k as u64, 64, 2048);
                    let mut last = None;
                    let deadline = Instant::now() + TIMEOUT;
                    loop {
                        r.read(|seq, e| {
                            assert_eq!(e, [seq, !seq], "a whole event");
                            assert!(last.is_none_or(|l| seq > l), "in order");
                            last = Some(seq);
                            jitter.step();
                        });
                        let (delivered, dropped) = r.counts();
                        if delivered + dropped == EVENTS {
                            return (delivered, dropped);
                        }
                        assert!(Instant::now() < deadline, "reader {k} stuck");
                        if k == 2 {
                            std::thread::sleep(Duration::from_micros(300)); // the slow one
                        } else {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for v in 0..EVENTS {
            writer.write([v, !v]);
        }
        let counts: Vec<(u64, u64)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        for (delivered, dropped) in &counts {
            assert_eq!(delivered + dropped, EVENTS);
        }
        assert!(counts[2].1 > 0, "the slow reader lost events: {counts:?}");
        assert!(writer.lane().adds_up());
    });
}

/// A journal reader follows a live writer, stops half way, and a new reader resumes at its
/// offset.
#[test]
fn a_journal_reader_restarted_mid_stream_resumes_at_its_offset() {
    bounded("journal", TIMEOUT, || {
        let dir = std::env::temp_dir().join(format!("byteor-lanes-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let options = JournalOptions {
            segment_bytes: 1 << 20,
            retain_bytes: u64::MAX,
        };
        let (mut writer, _) = JournalWriter::<u64>::open(&dir, options).unwrap();
        let follow = dir.clone();
        let reader = std::thread::spawn(move || {
            let mut r = JournalReader::<u64>::open(&follow, 0).unwrap();
            while r.position() < EVENTS / 2 {
                if let Some((offset, v)) = r.next().unwrap() {
                    assert_eq!(v, offset * 3);
                } else {
                    std::thread::yield_now();
                }
            }
            r.position()
        });
        for v in 0..EVENTS {
            writer.append(&(v * 3)).unwrap();
            if v % 4096 == 0 {
                writer.flush().unwrap();
            }
        }
        writer.flush().unwrap();
        let resume = reader.join().unwrap();
        let mut r = JournalReader::<u64>::open(&dir, resume).unwrap();
        let mut n = resume;
        while let Some((offset, v)) = r.next().unwrap() {
            assert_eq!((offset, v), (n, n * 3));
            n += 1;
        }
        assert_eq!(n, EVENTS);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
