//! Lanes between processes: a LaneGraph split over processes keeps each lane that crosses
//! from one process to another in a shared-memory ring region ([`ShmRing`]), whose producer
//! is the lane's writer and whose stages are its readers — the ring protocol of a SingleRing
//! whose stages all read straight after the producer, with the same header checks, locks,
//! heartbeats and end-of-stream word as a SingleRing's regions.
//!
//! * The writer's process creates the region (`<dir>/<pipeline>.lane<id>`, never reusing a
//!   file); readers' processes open it (waiting, bounded, for it to appear) and take their
//!   readers' places. The slots are the lane's capacity rounded up to a power of two, and the
//!   writer gates on the lane's own capacity, so a `sequenced_slots` lane of 1000 slots holds
//!   at most 1000 events in flight, as it does in one process.
//! * Events move as plain data, a batch at a time: the writer copies its staged events into
//!   the slots and publishes the cursor once per batch; a reader copies what is published and
//!   releases it. Under `block` the writer waits for the slowest reader; under `drop` it drops
//!   what does not fit and counts it in the region (`dropped`), so
//!   `published = delivered + dropped` holds across processes.
//! * Closing the lane is the region's end-of-stream notice (the drain target is the cursor);
//!   a reader has finished once it read up to it.
//! * Under the `Parking` strategy a reader with nothing to read sleeps on the region's data
//!   doorbell, which the writer rings after each batch, and a writer waiting for room on its
//!   room doorbell, which readers ring after each release (`kernel::doorbell`: one relaxed
//!   load per batch while nobody sleeps; a futex otherwise, so the wake-up crosses
//!   processes). Closing and failing a stream ring both.
//! * Each process runs a watcher thread: heartbeats for the places it holds; a remote reader
//!   that failed, died, or never attached (within the attach timeout) fails the graph naming
//!   that reader's process role; so does a remote writer that died before closing its lane;
//!   a graph that failed here fails the streams it writes and marks its readers failed, so the
//!   other processes stop too. A reader that has read the whole stream says so in its place
//!   (`done`); at the end the writer's process waits until its lanes are closed (its producers
//!   dropped) and every remote reader said so; then the regions it created are removed.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::abi::region::SHM_V1_MAX_STAGES;
use crate::abi::ShmEvent;
use crate::backing::{RingStorage, ShmRing, SlotView};
use crate::exec::ShmRunOptions;
use crate::kernel::broadcast::Pod;
use crate::kernel::lane::LaneCounts;
use crate::kernel::FinalStageGate;
use crate::spec::LaneSpec;
use crate::transport::shm::{Peer, PeerState, PeerStatus, Region, RingDescriptor, StreamState};
use crate::vocab::{LaneKind, OnFull};

use super::ends::{BatchSink, BatchSource, InEnd, OutEnd, Sleeper};
use super::error::GraphSpawnError;
use super::runtime::ErasedLane;
use super::state::{GraphRuntime, LaneEvent, RoleFailure, RoleWait};

/// The region file of lane `lane` of graph `pipeline` in `dir`: `<dir>/<pipeline>.lane<lane>`.
pub fn shm_lane_path(dir: impl AsRef<Path>, pipeline: &str, lane: u32) -> PathBuf {
    dir.as_ref().join(format!("{pipeline}.lane{lane}"))
}

/// Where and how one lane between processes is made.
pub(super) struct SharedLaneAt<'a> {
    /// The region file.
    pub(super) path: PathBuf,
    /// The spec's fingerprint (checked by every process that opens the region).
    pub(super) fingerprint: u64,
    /// The name of each reader's place in the region (at most `NAME_V1_MAX_BYTES` bytes).
    pub(super) readers: Vec<String>,
    /// Whether this process writes the lane (and creates its region).
    pub(super) writer_here: bool,
    /// Per reader: whether it reads in this process.
    pub(super) readers_here: Vec<bool>,
    /// Region options and peer liveness.
    pub(super) options: &'a ShmRunOptions,
    /// Until when a reader's process waits for the writer's process to create the region.
    pub(super) deadline: Instant,
    /// The graph's runtime (a writer waiting for room stops when the graph does).
    pub(super) rt: Arc<GraphRuntime>,
}

/// What the watcher needs of a lane's region, whatever its event type.
pub(super) trait SharedRegion: Send + Sync {
    /// The region.
    fn region(&self) -> &Region;
    /// Events the writer published.
    fn cursor(&self) -> u64;
    /// Events reader `i` released.
    fn released(&self, i: usize) -> u64;
}

impl<T: ShmEvent + Send + Sync> SharedRegion for ShmRing<T> {
    fn region(&self) -> &Region {
        ShmRing::region(self)
    }

    fn cursor(&self) -> u64 {
        RingStorage::cursor(self).load()
    }

    fn released(&self, i: usize) -> u64 {
        self.stage_sequences().get(i).map_or(0, |s| s.load())
    }
}

/// Why a lane of `spec` cannot cross processes, if it cannot (whatever its event type).
pub(super) fn not_shareable(spec: &LaneSpec) -> Option<String> {
    match (spec.kind, spec.on_full) {
        (LaneKind::Journal, _) => Some(
            "a `journal` lane keeps its readers' offsets in its writer's process: run its \
             writer and readers in one process"
                .into(),
        ),
        (LaneKind::FanoutBroadcast, OnFull::Drop) => Some(
            "a `fanout_broadcast` lane under `drop` overwrites slots its readers may still be \
             reading, which works within one process only: give it `on_full = \"block\"`, or \
             run its readers in its writer's process"
                .into(),
        ),
        _ if spec.readers.len() > SHM_V1_MAX_STAGES => Some(format!(
            "it has {} readers and a lane in shared memory has at most {SHM_V1_MAX_STAGES}",
            spec.readers.len()
        )),
        _ => None,
    }
}

/// A lane of `spec` carrying `T`, in the region `at` describes: created here when this
/// process writes it, else opened (waiting until `at.deadline` for it to appear). Only the
/// ends that run here are made.
pub(super) fn shared_lane<T: LaneEvent + ShmEvent + Pod>(
    spec: &LaneSpec,
    at: SharedLaneAt<'_>,
) -> Result<(ErasedLane, Arc<dyn SharedRegion>), GraphSpawnError> {
    if let Some(reason) = not_shareable(spec) {
        return Err(GraphSpawnError::NotShareable {
            lane: spec.name.clone(),
            reason,
        });
    }
    let failed = |source| GraphSpawnError::Region {
        lane: spec.name.clone(),
        source: Box::new(source),
    };
    let capacity = u64::from(spec.capacity);
    let slots = capacity.max(2).next_power_of_two();
    let desc =
        RingDescriptor::new(&T::LAYOUT, at.fingerprint, slots, &at.readers).map_err(failed)?;
    let mut ring = if at.writer_here {
        ShmRing::<T>::create(&at.path, &desc, &at.options.shm).map_err(failed)?
    } else {
        while !at.path.exists() && Instant::now() < at.deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        ShmRing::<T>::open(&at.path, &desc, &at.options.shm).map_err(failed)?
    };
    for (i, here) in at.readers_here.iter().enumerate() {
        if *here {
            ring.region_mut().claim(Peer::Stage(i)).map_err(failed)?;
        }
    }
    let ring = Arc::new(ring);
    let writer = at.writer_here.then(|| {
        let sink = ShmLaneSink {
            gate: FinalStageGate::new(
                &(0..spec.readers.len()).collect::<Vec<_>>(),
                capacity,
                RingStorage::cursor(&*ring).load(),
            ),
            next: RingStorage::cursor(&*ring).load(),
            ring: Arc::clone(&ring),
            block: spec.on_full == OnFull::Block,
            rt: Arc::clone(&at.rt),
            lane: spec.name.clone(),
            room: Arc::new(BellSleeper::room(&ring)),
        };
        Box::new(OutEnd::staged(Box::new(sink), T::default)) as Box<dyn std::any::Any + Send>
    });
    let readers = at
        .readers_here
        .iter()
        .enumerate()
        .map(|(id, here)| {
            here.then(|| {
                let source = ShmLaneSource {
                    next: ring.released(id),
                    ring: Arc::clone(&ring),
                    id,
                    sleeper: Arc::new(BellSleeper::data(&ring)),
                };
                Box::new(InEnd::batched(Box::new(source))) as Box<dyn std::any::Any + Send>
            })
        })
        .collect();
    let counted = Arc::clone(&ring);
    let closing = Arc::clone(&ring);
    let writer_here = at.writer_here;
    // The writer's process counts every reader (it waits for all of them at the end); a
    // reader's process counts its own readers.
    let shown: Vec<usize> = (0..at.readers_here.len())
        .filter(|&i| writer_here || at.readers_here[i])
        .collect();
    let lane = ErasedLane {
        writer,
        readers,
        counts: Box::new(move || {
            let written = SharedRegion::cursor(&*counted);
            let dropped = counted.region().dropped();
            LaneCounts {
                published: written + dropped,
                written,
                dropped,
                delivered: shown.iter().map(|&i| counted.released(i)).collect(),
                lost: vec![0; shown.len()],
                detached: vec![false; shown.len()],
            }
        }),
        close: Box::new(move || {
            if writer_here {
                closing
                    .region()
                    .close_stream(SharedRegion::cursor(&*closing));
            }
        }),
    };
    Ok((lane, ring))
}

/// A lane's writer in this process, as a batch sink over its region.
struct ShmLaneSink<T> {
    ring: Arc<ShmRing<T>>,
    /// Events below its limit may be written: every reader released what used their slots.
    gate: FinalStageGate,
    /// The next event's sequence.
    next: u64,
    block: bool,
    rt: Arc<GraphRuntime>,
    lane: String,
    /// How it sleeps while it waits for room.
    room: Arc<dyn Sleeper>,
}

impl<T: ShmEvent + Send + Sync> BatchSink<T> for ShmLaneSink<T> {
    fn write(&mut self, events: &[T]) -> Result<(), String> {
        let mut rest = events;
        // Made on the first wait only. Under `Parking` the writer sleeps on the region's room
        // doorbell, which readers ring as they release events.
        let mut wait = None;
        while !rest.is_empty() {
            let end = self.next + rest.len() as u64;
            let n = if self.gate.has_room(self.ring.stage_sequences(), end) {
                rest.len()
            } else {
                (self.gate.limit().saturating_sub(self.next) as usize).min(rest.len())
            };
            if n > 0 {
                let slots = SlotView::of(&*self.ring);
                for (k, event) in rest[..n].iter().enumerate() {
                    // SAFETY: `next + k` is below the gate's limit, `min(readers) + capacity`
                    // with `capacity <= slots`: every reader released the event that used this
                    // slot before, and the sequence is not below the cursor yet, so no reader
                    // reads the slot until the cursor store below — this writer has it alone.
                    // `T` is plain data, written whole.
                    slots
                        .slot(self.next + k as u64)
                        .with_mut(|p| unsafe { p.write(*event) });
                }
                self.next += n as u64;
                RingStorage::cursor(&*self.ring).store(self.next);
                // Readers asleep in other processes: wake them (one relaxed load while none
                // sleeps; once per batch).
                self.ring.region().data_doorbell().ring();
                rest = &rest[n..];
                if let Some(w) = wait.as_mut() {
                    RoleWait::reset(w);
                }
                continue;
            }
            if !self.block {
                self.ring.region().add_dropped(rest.len() as u64);
                return Ok(());
            }
            if self.rt.stopped() {
                return Err(format!(
                    "lane `{}`: the graph stopped while its writer waited for room",
                    self.lane
                ));
            }
            let (ring, gate, rt) = (&self.ring, &mut self.gate, &self.rt);
            let wait = wait.get_or_insert_with(|| rt.wait_on(None, Some(Arc::clone(&self.room))));
            wait.idle(|| gate.has_room(ring.stage_sequences(), end) || rt.stopped());
        }
        Ok(())
    }

    fn close(&mut self) {
        // A role that stops because the graph failed drops its ends too: its readers must not
        // take that for the end of the stream.
        if self.rt.stopped() {
            self.ring.region().fail_stream();
        } else {
            self.ring.region().close_stream(self.next);
        }
    }
}

/// A lane's reader in this process, as a batch source over its region.
struct ShmLaneSource<T> {
    ring: Arc<ShmRing<T>>,
    id: usize,
    /// Events this reader released (it resumes from its place's sequence).
    next: u64,
    /// How a thread waiting on it sleeps (made once).
    sleeper: Arc<dyn Sleeper>,
}

impl<T: ShmEvent + Send + Sync> BatchSource<T> for ShmLaneSource<T> {
    fn fill(&mut self, out: &mut Vec<T>, max: usize) -> Result<(), String> {
        let end = RingStorage::cursor(&*self.ring)
            .load()
            .min(self.next.saturating_add(max as u64));
        if end <= self.next {
            return Ok(());
        }
        let slots = SlotView::of(&*self.ring);
        for seq in self.next..end {
            // SAFETY: `seq` is below the cursor (acquire load above): the writer finished the
            // event and will not write its slot again until this reader's sequence passes
            // `seq`, which the store below does only after the copy. Any bytes are a valid
            // `T` (`ShmEvent`).
            out.push(slots.slot(seq).with(|p| unsafe { p.read() }));
        }
        self.next = end;
        self.ring.stage_sequences()[self.id].store(end);
        // A writer asleep waiting for room: wake it (once per batch).
        self.ring.region().room_doorbell().ring();
        Ok(())
    }

    fn available(&self) -> bool {
        RingStorage::cursor(&*self.ring).load() > self.next
            || self.ring.region().stream_state() != StreamState::Running
    }

    fn sleeper(&self) -> Option<Arc<dyn Sleeper>> {
        Some(Arc::clone(&self.sleeper))
    }

    fn is_finished(&self) -> bool {
        let region = self.ring.region();
        let finished = match region.stream_state() {
            StreamState::Closed { drain_target } => self.next >= drain_target,
            _ => false,
        };
        // Tell the writer's process this reader has the whole stream (it waits for that
        // before it ends), unless this process already said it failed.
        let place = Peer::Stage(self.id);
        if finished && region.status(place) == PeerStatus::Running {
            region.set_status(place, PeerStatus::Done);
        }
        finished
    }
}

/// A lane end sleeping on one of its region's doorbells: a reader on the data doorbell (the
/// writer rings it after publishing), a writer on the room doorbell (readers ring it after
/// releasing).
struct BellSleeper<T> {
    ring: Arc<ShmRing<T>>,
    bell: for<'r> fn(&'r Region) -> crate::kernel::doorbell::Doorbell<'r>,
}

impl<T> BellSleeper<T> {
    fn data(ring: &Arc<ShmRing<T>>) -> Self {
        BellSleeper {
            ring: Arc::clone(ring),
            bell: Region::data_doorbell,
        }
    }

    fn room(ring: &Arc<ShmRing<T>>) -> Self {
        BellSleeper {
            ring: Arc::clone(ring),
            bell: Region::room_doorbell,
        }
    }
}

impl<T: ShmEvent + Send + Sync> Sleeper for BellSleeper<T> {
    fn announce(&self) {
        (self.bell)(self.ring.region()).announce();
    }

    fn retract(&self) {
        (self.bell)(self.ring.region()).retract();
    }

    fn sleep(&self, ready: &mut dyn FnMut() -> bool, timeout: Duration) {
        (self.bell)(self.ring.region()).sleep(ready, timeout);
    }
}

/// A lane between processes as the watcher sees it.
pub(super) struct WatchedLane {
    /// The lane's name.
    pub(super) lane: String,
    pub(super) region: Arc<dyn SharedRegion>,
    /// Whether its writer runs here.
    pub(super) writer_here: bool,
    /// The process role its writer runs with.
    pub(super) writer_role: String,
    /// Per reader: the process role it runs with, and whether that is here.
    pub(super) readers: Vec<(String, bool)>,
}

/// The watcher of a graph split over processes (see the module docs). Returns once `done`
/// says this process's roles have all ended and every remote reader of the lanes written here
/// has read them to the end (or at once when `done` is dropped: the graph is being
/// abandoned), or with the failure it saw.
pub(super) fn watch(
    rt: &GraphRuntime,
    lanes: &[WatchedLane],
    options: &ShmRunOptions,
    attach_deadline: Instant,
    done: &Receiver<()>,
) -> Result<(), RoleFailure> {
    let mut ending = false;
    loop {
        for lane in lanes {
            lane.region.region().heartbeat();
        }
        if rt.stopped() {
            fail_streams(lanes);
            return Ok(());
        }
        if let Some(failure) = look(lanes, options, attach_deadline) {
            rt.fail(failure.clone());
            fail_streams(lanes);
            return Err(failure);
        }
        if ending && drained(lanes) {
            return Ok(());
        }
        if !ending {
            match done.recv_timeout(options.tick) {
                Ok(()) => {
                    ending = true;
                    mark_readers_done(lanes);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        } else {
            std::thread::sleep(options.tick);
        }
    }
}

/// The first problem with another process this process's lanes show, if any.
fn look(
    lanes: &[WatchedLane],
    options: &ShmRunOptions,
    attach_deadline: Instant,
) -> Option<RoleFailure> {
    for lane in lanes {
        let region = lane.region.region();
        if lane.writer_here {
            for (i, (role, here)) in lane.readers.iter().enumerate() {
                if *here {
                    continue;
                }
                let peer = Peer::Stage(i);
                let pid = region.peer_pid(peer);
                let failure = |reason: String| {
                    Some(RoleFailure {
                        role: role.clone(),
                        reason,
                    })
                };
                match region.status(peer) {
                    PeerStatus::Failed { .. } => {
                        return failure(format!("failed in its process (pid {pid})"));
                    }
                    PeerStatus::Done => continue,
                    PeerStatus::Running => {}
                }
                match region.peer_state(peer, options.heartbeat_timeout) {
                    PeerState::Alive { .. } => {}
                    PeerState::Absent if Instant::now() < attach_deadline => {}
                    PeerState::Absent => {
                        return failure(format!(
                            "its process never attached to lane `{}`",
                            lane.lane
                        ));
                    }
                    PeerState::Dead { pid, reason } => {
                        return failure(format!("its process (pid {pid}) died: {reason}"));
                    }
                }
            }
        } else {
            let failure = |reason: String| {
                Some(RoleFailure {
                    role: lane.writer_role.clone(),
                    reason,
                })
            };
            match region.stream_state() {
                StreamState::Failed => {
                    return failure("the graph failed in its process".into());
                }
                StreamState::Closed { .. } => {}
                StreamState::Running => {
                    if let PeerState::Dead { pid, reason } =
                        region.peer_state(Peer::Producer, options.heartbeat_timeout)
                    {
                        return failure(format!(
                            "its process (pid {pid}) died before it closed lane `{}`: {reason}",
                            lane.lane
                        ));
                    }
                }
            }
        }
    }
    None
}

/// Whether every lane written here is closed and every remote reader of it said it read the
/// whole stream. (Counting what was written so far is not enough: a producer of this process
/// may still publish, and a reader that has not attached yet has read nothing.)
fn drained(lanes: &[WatchedLane]) -> bool {
    lanes.iter().filter(|l| l.writer_here).all(|lane| {
        let region = lane.region.region();
        matches!(region.stream_state(), StreamState::Closed { .. })
            && lane
                .readers
                .iter()
                .enumerate()
                .all(|(i, (_, here))| *here || region.status(Peer::Stage(i)) == PeerStatus::Done)
    })
}

/// Records that the readers of this process finished.
fn mark_readers_done(lanes: &[WatchedLane]) {
    for lane in lanes {
        for (i, (_, here)) in lane.readers.iter().enumerate() {
            if *here {
                lane.region
                    .region()
                    .set_status(Peer::Stage(i), PeerStatus::Done);
            }
        }
    }
}

/// The graph failed here: the streams written here fail, and this process's readers are
/// marked failed, so every other process of the graph stops.
fn fail_streams(lanes: &[WatchedLane]) {
    for lane in lanes {
        let region = lane.region.region();
        if lane.writer_here {
            region.fail_stream();
        }
        for (i, (_, here)) in lane.readers.iter().enumerate() {
            if *here {
                region.set_status(Peer::Stage(i), PeerStatus::Failed { sequence: None });
            }
        }
        // This process's own sleepers on lanes it reads: wake them to see the failure.
        region.data_doorbell().ring();
    }
}

impl super::handles::GraphControl {
    /// Starts the watcher over `lanes` (the lanes of this process that cross to others).
    pub(super) fn watch(
        &mut self,
        lanes: Vec<WatchedLane>,
        options: ShmRunOptions,
    ) -> Result<(), GraphSpawnError> {
        let (done, done_rx) = std::sync::mpsc::channel();
        let rt = Arc::clone(&self.rt);
        let deadline = Instant::now() + options.attach_timeout;
        let created: Vec<Arc<dyn SharedRegion>> = lanes
            .iter()
            .filter(|l| l.writer_here)
            .map(|l| Arc::clone(&l.region))
            .collect();
        let handle = std::thread::Builder::new()
            .name(crate::exec::thread_name(&self.name, "shm-watch", None))
            .spawn(move || watch(&rt, &lanes, &options, deadline, &done_rx))
            .map_err(|source| {
                self.rt.fail(RoleFailure {
                    role: "shm-watch".into(),
                    reason: "the graph did not start".into(),
                });
                GraphSpawnError::Thread {
                    role: "shm-watch".into(),
                    source,
                }
            })?;
        self.watcher = Some(super::handles::Watcher {
            handle,
            done,
            cleanup: Box::new(move || {
                for region in created {
                    let _ = region.region().remove_file();
                }
            }),
        });
        Ok(())
    }
}
