//! Lanes that store events as plain data — `Journal` lanes (segment files) and
//! `FanoutBroadcast` under `Drop` (the lossy broadcast) — for event types declared plain data
//! ([`Pod`]). [`PodOps`] makes them, and every in-place kind too.

use std::any::Any;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use crate::backing::journal::{retained, JournalError, JournalReader, JournalWriter};
use crate::kernel::broadcast::{broadcast, Broadcast, BroadcastReader, BroadcastWriter, Pod};
use crate::kernel::journal::JournalGate;
use crate::kernel::lane::LaneCounts;
use crate::spec::LaneSpec;
use crate::vocab::{LaneKind, OnFull};

use super::ends::{BatchSink, BatchSource, InEnd, OutEnd};
use super::error::{shape, GraphSpawnError};
use super::runtime::{needs_plain_data, ErasedLane, LaneContext, LaneOps, RoleBody, TypedOps};
use super::state::{GraphRuntime, LaneEvent};

/// [`LaneOps`] for plain-data events of type `T`: every lane kind.
pub(super) struct PodOps<T>(PhantomData<fn() -> T>);

impl<T> PodOps<T> {
    pub(super) fn new() -> Self {
        PodOps(PhantomData)
    }
}

impl<T: LaneEvent + Pod> LaneOps for PodOps<T> {
    fn event_type(&self) -> &'static str {
        std::any::type_name::<T>()
    }

    fn make(&self, spec: &LaneSpec, ctx: &LaneContext) -> Result<ErasedLane, GraphSpawnError> {
        if needs_plain_data(spec).is_none() {
            return TypedOps::<T>::make_in_place(spec);
        }
        match spec.kind {
            LaneKind::Journal => journal_lane::<T>(spec, ctx),
            _ => lossy_broadcast_lane::<T>(spec),
        }
    }

    fn copier(
        &self,
        name: String,
        inputs: Vec<Box<dyn Any + Send>>,
        outputs: Vec<(Box<dyn Any + Send>, OnFull)>,
        rt: Arc<GraphRuntime>,
    ) -> Result<RoleBody, String> {
        TypedOps::<T>::copier_of(name, inputs, outputs, rt)
    }
}

/// The lossy broadcast's writer as a batch sink.
struct BroadcastSink<T> {
    writer: Option<BroadcastWriter<T>>,
}

impl<T: Pod> BatchSink<T> for BroadcastSink<T> {
    fn write(&mut self, events: &[T]) -> Result<(), String> {
        if let Some(w) = self.writer.as_mut() {
            for e in events {
                w.write(*e);
            }
        }
        Ok(())
    }

    fn close(&mut self) {
        // Dropping the writer closes the lane.
        self.writer = None;
    }
}

/// A lossy broadcast reader as a batch source.
struct BroadcastSource<T> {
    reader: BroadcastReader<T>,
}

impl<T: Pod> BatchSource<T> for BroadcastSource<T> {
    fn fill(&mut self, out: &mut Vec<T>, _max: usize) -> Result<(), String> {
        // Everything available (at most a lap): the buffer grows to the lane's capacity once.
        self.reader.read(|_, v| out.push(v));
        Ok(())
    }

    fn is_finished(&self) -> bool {
        self.reader.is_finished()
    }
}

fn lossy_broadcast_lane<T: LaneEvent + Pod>(
    spec: &LaneSpec,
) -> Result<ErasedLane, GraphSpawnError> {
    let (writer, readers) = broadcast::<T>(u64::from(spec.capacity), spec.readers.len().max(1))
        .map_err(|e| shape(&spec.name, e.to_string()))?;
    // The kernel's `Arc` (loom's under the loom build).
    let lane: crate::sync::Arc<Broadcast<T>> = writer.shared();
    let closer = crate::sync::Arc::clone(&lane);
    let sink = BroadcastSink {
        writer: Some(writer),
    };
    Ok(ErasedLane {
        writer: Some(Box::new(OutEnd::staged(Box::new(sink), T::default))),
        readers: readers
            .into_iter()
            .map(|reader| {
                let source = BroadcastSource { reader };
                Some(Box::new(InEnd::batched(Box::new(source))) as Box<dyn Any + Send>)
            })
            .collect(),
        counts: Box::new(move || {
            let published = lane.published();
            let per_reader: Vec<(u64, u64)> =
                (0..lane.readers()).map(|r| lane.reader_counts(r)).collect();
            LaneCounts {
                published,
                written: published,
                dropped: 0,
                delivered: per_reader.iter().map(|c| c.0).collect(),
                lost: per_reader.iter().map(|c| c.1).collect(),
                detached: vec![false; per_reader.len()],
            }
        }),
        close: Box::new(move || closer.close()),
    })
}

/// A journal lane's writer as a batch sink: appends, flushes, then makes the records visible;
/// under `Block` retention keeps everything an attached reader has not read.
struct JournalSink<T> {
    writer: JournalWriter<T>,
    gate: Arc<JournalGate>,
    block: bool,
}

impl<T: Pod> BatchSink<T> for JournalSink<T> {
    fn write(&mut self, events: &[T]) -> Result<(), String> {
        if self.block {
            let floor = self.gate.floor().unwrap_or(u64::MAX);
            self.writer.retain_floor(floor);
        }
        for e in events {
            self.writer.append(e).map_err(|e| e.to_string())?;
        }
        self.writer.flush().map_err(|e| e.to_string())?;
        self.gate.publish(self.writer.next_offset());
        Ok(())
    }

    fn close(&mut self) {
        self.gate.close();
    }
}

/// A journal lane's reader as a batch source.
struct JournalSource<T> {
    reader: JournalReader<T>,
    dir: PathBuf,
    gate: Arc<JournalGate>,
    id: usize,
}

impl<T: Pod> JournalSource<T> {
    /// Moves a reader that retention overtook to the oldest retained record; returns how many
    /// it skipped (0 when it was not behind).
    fn catch_up(&mut self) -> Result<u64, JournalError> {
        let position = self.reader.position();
        let (first, _) = retained::<T>(&self.dir)?;
        if first <= position {
            return Ok(0);
        }
        self.reader = JournalReader::open(&self.dir, first)?;
        Ok(first - position)
    }
}

impl<T: Pod> BatchSource<T> for JournalSource<T> {
    fn fill(&mut self, out: &mut Vec<T>, max: usize) -> Result<(), String> {
        let upto = self.gate.visible();
        let mut lost = 0;
        let before = out.len();
        for _ in 0..2 {
            match self.reader.read_batch(upto, max, out) {
                Ok(n) if n > 0 || self.reader.position() >= upto => break,
                Ok(_) | Err(JournalError::NotRetained { .. }) => {
                    // Records below `upto` exist but the reader cannot reach them: retention
                    // deleted them (only under `drop`).
                    lost += self.catch_up().map_err(|e| e.to_string())?;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        let delivered = (out.len() - before) as u64;
        self.gate
            .advance(self.id, self.reader.position(), delivered, lost);
        Ok(())
    }

    fn is_finished(&self) -> bool {
        // `closed` is set after the last `visible` store.
        self.gate.is_closed() && self.reader.position() >= self.gate.visible()
    }
}

impl<T> Drop for JournalSource<T> {
    fn drop(&mut self) {
        self.gate.detach(self.id);
    }
}

fn journal_lane<T: LaneEvent + Pod>(
    spec: &LaneSpec,
    ctx: &LaneContext,
) -> Result<ErasedLane, GraphSpawnError> {
    let Some(root) = &ctx.journal_root else {
        return Err(GraphSpawnError::NoJournalDir {
            lane: spec.name.clone(),
        });
    };
    let dir = root.join(&spec.name);
    let failed = |source| GraphSpawnError::Journal {
        lane: spec.name.clone(),
        source,
    };
    let (writer, recovery) =
        JournalWriter::<T>::open(&dir, ctx.journal_options.clone()).map_err(failed)?;
    let start = recovery.next_offset;
    let readers = spec.readers.len().max(1);
    let gate = Arc::new(JournalGate::new(readers, start));
    let mut ends = Vec::with_capacity(readers);
    for id in 0..readers {
        let source = JournalSource {
            reader: JournalReader::<T>::open(&dir, start).map_err(failed)?,
            dir: dir.clone(),
            gate: Arc::clone(&gate),
            id,
        };
        ends.push(Some(
            Box::new(InEnd::batched(Box::new(source))) as Box<dyn Any + Send>
        ));
    }
    let sink = JournalSink {
        writer,
        gate: Arc::clone(&gate),
        block: spec.on_full == OnFull::Block,
    };
    let counts_gate = Arc::clone(&gate);
    Ok(ErasedLane {
        writer: Some(Box::new(OutEnd::staged(Box::new(sink), T::default))),
        readers: ends,
        counts: Box::new(move || {
            let published = counts_gate.published() - start;
            let per_reader: Vec<_> = (0..counts_gate.readers())
                .map(|r| counts_gate.reader_counts(r))
                .collect();
            LaneCounts {
                published,
                written: published,
                dropped: 0,
                delivered: per_reader.iter().map(|c| c.0).collect(),
                lost: per_reader.iter().map(|c| c.1).collect(),
                detached: per_reader.iter().map(|c| c.2).collect(),
            }
        }),
        close: Box::new(move || gate.close()),
    })
}

/// [`LaneOps`] for events of a `#[derive(ShmEvent)]` type `T`: every lane kind, as
/// [`PodOps`], and lanes between processes (in shared memory).
pub(super) struct ShmOps<T>(PhantomData<fn() -> T>);

impl<T> ShmOps<T> {
    pub(super) fn new() -> Self {
        ShmOps(PhantomData)
    }
}

impl<T: LaneEvent + Pod + crate::abi::ShmEvent> LaneOps for ShmOps<T> {
    fn event_type(&self) -> &'static str {
        std::any::type_name::<T>()
    }

    fn make(&self, spec: &LaneSpec, ctx: &LaneContext) -> Result<ErasedLane, GraphSpawnError> {
        PodOps::<T>::new().make(spec, ctx)
    }

    #[cfg(all(target_os = "linux", not(loom)))]
    fn make_shared(
        &self,
        spec: &LaneSpec,
        at: super::shared::SharedLaneAt<'_>,
    ) -> Result<(ErasedLane, Arc<dyn super::shared::SharedRegion>), GraphSpawnError> {
        super::shared::shared_lane::<T>(spec, at)
    }

    fn copier(
        &self,
        name: String,
        inputs: Vec<Box<dyn Any + Send>>,
        outputs: Vec<(Box<dyn Any + Send>, OnFull)>,
        rt: Arc<GraphRuntime>,
    ) -> Result<RoleBody, String> {
        TypedOps::<T>::copier_of(name, inputs, outputs, rt)
    }
}
