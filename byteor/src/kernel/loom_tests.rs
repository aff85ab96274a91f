//! loom model tests of the barrier and gating protocol.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p byteor --lib --release kernel::loom_tests`.
//!
//! Every slot access goes through a loom-tracked `UnsafeCell`, so loom reports a data race if
//! the producer could overwrite a slot a stage is still reading (a slot reused before every
//! final stage released it), or if a stage could read a slot while the stage before it still
//! writes it (a stage seeing a slot before its dependencies finished). The value checks catch
//! stale or skipped events.
//!
//! Threads make a bounded number of attempts instead of waiting: the properties checked are
//! safety properties, which every prefix of an execution must satisfy, and bounded attempts
//! keep the state space finite (unbounded spin-waits exhaust loom's branch budget). Liveness —
//! everything published is eventually processed — is covered by the executor's stress tests.

use loom::sync::Arc;
use loom::thread;

use super::{FinalStageGate, Sequence, SequenceBarrier, SlotCell};

/// Attempts each thread makes before giving up (see the module docs).
const ATTEMPTS: usize = 3;

struct Ring {
    cursor: Sequence,
    stages: Vec<Sequence>,
    slots: Vec<SlotCell<u64>>,
}

/// Stage behaviour in a model.
#[derive(Clone, Copy)]
enum Role {
    /// Multiplies the event by 10 in place (an exclusive, mutating stage).
    Scale,
    /// Reads the event and checks it equals `(seq + 1) * factor`.
    Check { factor: u64 },
}

/// Runs a producer (on the model's main thread) and one thread per stage over a ring of
/// `capacity` slots for `events` events. `deps[i]` is stage i's dependency mask.
fn model(capacity: u64, events: u64, deps: &'static [u32], roles: &'static [Role]) {
    gated_model(capacity, capacity, events, deps, roles);
}

/// [`model`] over `slots` slots with the producer gated on `capacity <= slots` events in
/// flight: a LaneGraph lane in shared memory (a `sequenced_slots` lane of any capacity keeps
/// its events in the next power of two of slots).
fn gated_model(
    capacity: u64,
    slots: u64,
    events: u64,
    deps: &'static [u32],
    roles: &'static [Role],
) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.max_branches = 10_000;
    builder.check(move || {
        let ring = Arc::new(Ring {
            cursor: Sequence::new(0),
            stages: (0..deps.len()).map(|_| Sequence::new(0)).collect(),
            slots: (0..slots).map(|_| SlotCell::new(0)).collect(),
        });
        let handles: Vec<_> = (0..deps.len())
            .map(|id| {
                let ring = Arc::clone(&ring);
                thread::spawn(move || {
                    let mask = deps[id];
                    let upstream: Vec<&Sequence> = if mask == 0 {
                        vec![&ring.cursor]
                    } else {
                        (0..deps.len())
                            .filter(|j| mask & (1 << j) != 0)
                            .map(|j| &ring.stages[j])
                            .collect()
                    };
                    let barrier = SequenceBarrier::new(&upstream);
                    let mut next = 0;
                    for _ in 0..ATTEMPTS {
                        let available = barrier.available();
                        if available <= next {
                            thread::yield_now();
                            continue;
                        }
                        for seq in next..available {
                            let slot = &ring.slots[(seq % slots) as usize];
                            match roles[id] {
                                // SAFETY: the protocol under test gives this stage exclusive
                                // access; loom reports it if it does not.
                                Role::Scale => slot.with_mut(|p| unsafe { *p *= 10 }),
                                Role::Check { factor } => {
                                    // SAFETY: as above, shared access.
                                    let v = slot.with(|p| unsafe { *p });
                                    assert_eq!(v, (seq + 1) * factor, "stage {id} at {seq}");
                                }
                            }
                        }
                        ring.stages[id].store(available);
                        next = available;
                    }
                })
            })
            .collect();

        let used = deps.iter().fold(0, |a, d| a | d);
        let finals: Vec<usize> = (0..deps.len()).filter(|i| used & (1 << i) == 0).collect();
        let mut gate = FinalStageGate::new(&finals, capacity, 0);
        let mut tries = 0;
        for seq in 0..events {
            while !gate.has_room(&ring.stages, seq + 1) {
                tries += 1;
                if tries > ATTEMPTS {
                    break;
                }
                thread::yield_now();
            }
            if !gate.has_room(&ring.stages, seq + 1) {
                break;
            }
            let slot = &ring.slots[(seq % slots) as usize];
            // SAFETY: the gate says every final stage released this slot; loom checks it.
            slot.with_mut(|p| unsafe { *p = seq + 1 });
            ring.cursor.store(seq + 1);
        }
        for h in handles {
            h.join().unwrap();
        }
        // Progress is monotone and consistent: no stage passed its upstream or the cursor.
        let cursor = ring.cursor.load();
        for (id, s) in ring.stages.iter().enumerate() {
            assert!(s.load() <= cursor, "stage {id} passed the cursor");
            for j in 0..deps.len() {
                if deps[id] & (1 << j) != 0 {
                    assert!(
                        s.load() <= ring.stages[j].load(),
                        "stage {id} passed stage {j}"
                    );
                }
            }
        }
    });
}

#[test]
fn chain_mutating_stage_then_reader_wraps_safely() {
    // scale -> check: the reader must see the scaled value, and the producer must not reuse a
    // slot before the reader (the only final stage) released it.
    model(2, 3, &[0, 0b1], &[Role::Scale, Role::Check { factor: 10 }]);
}

#[test]
fn parallel_readers_both_gate_the_producer() {
    // Two independent final stages over the same slots: the producer must wait for both.
    model(
        2,
        3,
        &[0, 0],
        &[Role::Check { factor: 1 }, Role::Check { factor: 1 }],
    );
}

#[test]
fn a_lane_gated_below_its_slot_count_keeps_its_readers_safe() {
    // A lane of capacity 1 kept in 2 slots, read by two readers (as a lane between processes
    // is): the writer holds at most one event in flight and reuses no slot a reader holds.
    gated_model(
        1,
        2,
        3,
        &[0, 0],
        &[Role::Check { factor: 1 }, Role::Check { factor: 1 }],
    );
}
