//! The handles of a running graph: producers, receivers, and the control handle.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::kernel::lane::LaneCounts;
use crate::vocab::OnFull;

use super::ends::{InEnd, OutEnd};
use super::ports::{Input, Output};
use super::state::{panic_text, GraphRuntime, LaneEvent, RoleFailure};

#[cfg(feature = "async")]
mod awaiting;

/// One endpoint's lane end before it is handed out, with what it carries.
pub(super) struct ErasedEnd {
    pub(super) end: Box<dyn Any + Send>,
    pub(super) on_full: OnFull,
    pub(super) event_type: &'static str,
}

/// The producers and receivers of a started graph, taken one at a time: by their builder
/// handles ([`producer`](Self::producer), [`receiver`](Self::receiver)), or by name and event
/// type for graphs resolved from documents ([`producer_named`](Self::producer_named),
/// [`receiver_named`](Self::receiver_named)).
pub struct GraphEndpoints {
    pub(super) graph: u64,
    pub(super) writers: HashMap<String, ErasedEnd>,
    pub(super) readers: HashMap<String, ErasedEnd>,
    pub(super) taken_producers: Vec<String>,
    pub(super) taken_receivers: Vec<String>,
    pub(super) rt: Arc<GraphRuntime>,
}

impl std::fmt::Debug for GraphEndpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphEndpoints")
            .field("producers", &self.writers.keys().collect::<Vec<_>>())
            .field("receivers", &self.readers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why [`GraphEndpoints`] did not hand out a producer or receiver by name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The graph has no ingress (for a producer) or egress (for a receiver) of that name.
    #[error("the graph has no {direction} `{name}` (its {direction}es: {})", known.join(", "))]
    Unknown {
        /// `ingress` or `egress`.
        direction: &'static str,
        /// The name asked for.
        name: String,
        /// The names it has, sorted.
        known: Vec<String>,
    },
    /// Its producer or receiver was already taken.
    #[error("the {direction} `{name}` was already taken")]
    Taken {
        /// `ingress` or `egress`.
        direction: &'static str,
        /// The endpoint.
        name: String,
    },
    /// The endpoint carries another event type.
    #[error("the {direction} `{name}` carries {carries}, not {asked}")]
    WrongType {
        /// `ingress` or `egress`.
        direction: &'static str,
        /// The endpoint.
        name: String,
        /// The event type its lane carries.
        carries: &'static str,
        /// The event type asked for.
        asked: &'static str,
    },
}

/// Takes the end named `name` out of `ends` as an `E` (a lane end of event type `T`), leaving
/// it in place when the type is wrong.
fn take_end<T: 'static, E: 'static>(
    ends: &mut HashMap<String, ErasedEnd>,
    taken: &mut Vec<String>,
    direction: &'static str,
    name: &str,
) -> Result<(E, OnFull), EndpointError> {
    let Some(erased) = ends.remove(name) else {
        if taken.iter().any(|t| t == name) {
            return Err(EndpointError::Taken {
                direction,
                name: name.to_owned(),
            });
        }
        let mut known: Vec<String> = ends.keys().chain(taken.iter()).cloned().collect();
        known.sort();
        return Err(EndpointError::Unknown {
            direction,
            name: name.to_owned(),
            known,
        });
    };
    match erased.end.downcast::<E>() {
        Ok(end) => {
            taken.push(name.to_owned());
            Ok((*end, erased.on_full))
        }
        Err(end) => {
            let carries = erased.event_type;
            ends.insert(
                name.to_owned(),
                ErasedEnd {
                    end,
                    on_full: erased.on_full,
                    event_type: carries,
                },
            );
            Err(EndpointError::WrongType {
                direction,
                name: name.to_owned(),
                carries,
                asked: std::any::type_name::<T>(),
            })
        }
    }
}

impl GraphEndpoints {
    /// The producer of ingress `ingress` (once; `None` when already taken, or when the handle
    /// comes from another graph's builder).
    pub fn producer<T: LaneEvent, B>(
        &mut self,
        ingress: &Output<T, B>,
    ) -> Option<GraphProducer<T>> {
        if ingress.graph != self.graph {
            return None;
        }
        self.producer_named(&ingress.name).ok()
    }

    /// The receiver of egress `egress` (once; `None` when already taken, or when the handle
    /// comes from another graph's builder).
    pub fn receiver<T: LaneEvent, B>(&mut self, egress: &Input<T, B>) -> Option<GraphReceiver<T>> {
        if egress.graph != self.graph {
            return None;
        }
        self.receiver_named(&egress.name).ok()
    }

    /// The producer of the ingress named `name`, publishing events of type `T` (once). The
    /// type is checked against what the ingress's lane carries.
    pub fn producer_named<T: LaneEvent>(
        &mut self,
        name: &str,
    ) -> Result<GraphProducer<T>, EndpointError> {
        let (writer, on_full) = take_end::<T, OutEnd<T>>(
            &mut self.writers,
            &mut self.taken_producers,
            "ingress",
            name,
        )?;
        Ok(GraphProducer {
            name: name.to_owned(),
            writer,
            on_full,
            rt: Arc::clone(&self.rt),
        })
    }

    /// The receiver of the egress named `name`, receiving events of type `T` (once). The type
    /// is checked against what the egress's lane carries.
    pub fn receiver_named<T: LaneEvent>(
        &mut self,
        name: &str,
    ) -> Result<GraphReceiver<T>, EndpointError> {
        let (reader, _) =
            take_end::<T, InEnd<T>>(&mut self.readers, &mut self.taken_receivers, "egress", name)?;
        Ok(GraphReceiver {
            name: name.to_owned(),
            reader,
            rt: Arc::clone(&self.rt),
            #[cfg(feature = "async")]
            spin: Default::default(),
        })
    }
}

/// Why a graph handle could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// A role failed; the graph stopped.
    #[error("{0}")]
    RoleFailed(RoleFailure),
    /// The graph is shut down; it accepts no more events.
    #[error("the graph is shut down")]
    Closed,
}

/// Publishes into one ingress lane. Dropping it ends that ingress's stream.
#[derive(Debug)]
pub struct GraphProducer<T> {
    name: String,
    writer: OutEnd<T>,
    on_full: OnFull,
    rt: Arc<GraphRuntime>,
}

impl<T> GraphProducer<T> {
    /// The ingress's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn stopped_error(&self) -> GraphError {
        match self.rt.failure() {
            Some(f) => GraphError::RoleFailed(f),
            None => GraphError::Closed,
        }
    }

    /// Publishes one event, written in place by `fill`: under `Block` waits for room; under
    /// `Drop` a full lane drops it (counted). Fails once the graph stopped. On a journal lane
    /// the event is written to the file before `publish` returns (use
    /// [`publish_batch`](Self::publish_batch) to write many with one call).
    #[inline]
    pub fn publish(&mut self, fill: impl FnOnce(&mut T)) -> Result<(), GraphError> {
        // The common case first: an in-place lane under `Block` with room, the graph running.
        if let OutEnd::Lane(w) = &mut self.writer {
            if self.on_full == OnFull::Block && self.rt.running() && w.has_room() {
                w.try_write(fill);
                return Ok(());
            }
        }
        self.write(fill)?;
        self.flush()
    }

    /// Publishes `n` events, the `i`-th written in place by `fill(i, slot)`, as
    /// [`publish`](Self::publish) would one by one, handing them on together.
    pub fn publish_batch(
        &mut self,
        n: usize,
        mut fill: impl FnMut(usize, &mut T),
    ) -> Result<(), GraphError> {
        for i in 0..n {
            self.write(|slot| fill(i, slot))?;
        }
        self.flush()
    }

    fn write(&mut self, fill: impl FnOnce(&mut T)) -> Result<(), GraphError> {
        if !self.rt.running() {
            return Err(self.stopped_error());
        }
        if self.on_full == OnFull::Drop {
            return self
                .writer
                .write_or_drop(fill)
                .map_err(|e| self.lane_failed(e));
        }
        if !self.writer.has_room() {
            // The slow path: hand over what was written (readers cannot release what they
            // cannot see), then park on the lane until a reader releases a slot.
            self.flush()?;
            let waker = self.writer.waker();
            let mut wait = self
                .rt
                .wait(waker.as_ref().map(|(h, s)| (h.lane().hub(), *s)));
            while !self.writer.has_room() {
                if !self.rt.running() {
                    return Err(self.stopped_error());
                }
                let writer = &mut self.writer;
                wait.idle(|| writer.has_room());
            }
        }
        self.writer
            .try_write(fill)
            .map(drop)
            .map_err(|e| self.lane_failed(e))
    }

    fn flush(&mut self) -> Result<(), GraphError> {
        self.writer.flush().map_err(|e| self.lane_failed(e))
    }

    /// The ingress lane failed (a journal write): the graph stops, naming the ingress.
    fn lane_failed(&self, reason: String) -> GraphError {
        let failure = RoleFailure {
            role: self.name.clone(),
            reason,
        };
        self.rt.fail(failure.clone());
        GraphError::RoleFailed(failure)
    }

    /// Publishes one event if there is room now; returns whether it did.
    pub fn try_publish(&mut self, fill: impl FnOnce(&mut T)) -> Result<bool, GraphError> {
        if !self.rt.running() {
            return Err(self.stopped_error());
        }
        let written = self
            .writer
            .try_write(fill)
            .map_err(|e| self.lane_failed(e))?;
        self.flush()?;
        Ok(written)
    }
}

/// Receives from one egress lane, on the caller's thread.
///
/// Keep receiving until the stream ends, or drop the receiver: under `Block` an egress a live
/// receiver does not read fills up and holds the graph back (shutdown then waits for it too),
/// while a dropped receiver no longer holds anything back (its lane's counts mark it
/// detached).
#[derive(Debug)]
pub struct GraphReceiver<T> {
    name: String,
    reader: InEnd<T>,
    rt: Arc<GraphRuntime>,
    #[cfg(feature = "async")]
    spin: crate::exec::poll_spin::PollSpin,
}

impl<T: Clone> GraphReceiver<T> {
    /// The egress's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next event if one is there now.
    pub fn try_recv(&mut self) -> Option<T> {
        let mut out = None;
        let read = self.reader.read(1, |e| out = Some(e.clone()));
        self.check(read);
        out
    }

    /// A read that failed (a journal read error) stops the graph, naming the egress.
    fn check(&self, read: Result<u64, String>) -> u64 {
        read.unwrap_or_else(|reason| {
            self.rt.fail(RoleFailure {
                role: self.name.clone(),
                reason,
            });
            0
        })
    }

    /// The next event, waiting up to `timeout`; `Ok(None)` once the stream ended (every
    /// ingress closed and the graph drained) and everything was received;
    /// [`Timeout`](GraphRecvError::Timeout) when nothing arrived in time, and
    /// [`Failed`](GraphRecvError::Failed) once a role failed (after the events already in the
    /// egress lane).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<T>, GraphRecvError> {
        let deadline = Instant::now() + timeout;
        let waker = self.reader.waker();
        let mut wait = self.rt.wait_on(
            waker.as_ref().map(|(h, s)| (h.lane().hub(), *s)),
            self.reader.sleeper(),
        );
        loop {
            if let Some(e) = self.try_recv() {
                return Ok(Some(e));
            }
            // A failed role's lanes close too: the failure comes first.
            if let Some(f) = self.rt.failure() {
                return Err(GraphRecvError::Failed(f));
            }
            if self.reader.is_finished() {
                return Ok(None);
            }
            if Instant::now() >= deadline {
                return Err(GraphRecvError::Timeout(timeout));
            }
            let reader = &self.reader;
            wait.cap(deadline.saturating_duration_since(Instant::now()));
            wait.idle(|| reader.ready());
        }
    }

    /// Reads every event available now in place, calling `f` on each; returns how many.
    pub fn recv_all(&mut self, mut f: impl FnMut(&T)) -> u64 {
        let read = self.reader.read(u64::MAX, |e| f(e));
        self.check(read)
    }
}

/// Why [`GraphReceiver::recv_timeout`] returned no event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphRecvError {
    /// Nothing arrived in time (the stream has not ended).
    #[error("nothing received within {0:?}")]
    Timeout(Duration),
    /// A role failed.
    #[error("{0}")]
    Failed(RoleFailure),
}

/// One lane's counts, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneMetrics {
    /// The lane's name in the spec.
    pub lane: String,
    /// Its counts.
    pub counts: LaneCounts,
}

/// What a finished graph did: per role events handled, per lane counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphReport {
    /// Graph name.
    pub graph: String,
    /// Per role: name and events it handled (stages) or copied (inserted roles).
    pub roles: Vec<(String, u64)>,
    /// Per lane counts.
    pub lanes: Vec<LaneMetrics>,
}

/// Controls a running graph: metrics, shutdown, join. Dropping it shuts the graph down and
/// joins its threads.
pub struct GraphControl {
    pub(super) name: String,
    pub(super) rt: Arc<GraphRuntime>,
    pub(super) threads: Vec<(String, JoinHandle<Result<u64, RoleFailure>>)>,
    pub(super) metrics: Vec<(String, Box<dyn Fn() -> LaneCounts + Send + Sync>)>,
    pub(super) closers: Vec<Box<dyn Fn() + Send + Sync>>,
    /// For a graph split over processes: the thread watching the other processes.
    pub(super) watcher: Option<Watcher>,
    /// What applying a tuning profile did, once one was applied.
    pub(super) tuning: Option<crate::exec::tuning::TuningReport>,
}

/// The thread that watches the other processes of a graph split over processes.
pub(super) struct Watcher {
    /// Its outcome: the failure it saw, if any.
    pub(super) handle: JoinHandle<Result<(), RoleFailure>>,
    /// Sent once this process's roles ended (the watcher then waits for the other processes
    /// to read what was written here); dropped to abandon the graph.
    pub(super) done: std::sync::mpsc::Sender<()>,
    /// Run after a clean end: removes the regions this process created.
    pub(super) cleanup: Box<dyn FnOnce() + Send>,
}

impl Watcher {
    /// Tells the watcher this process's roles ended, waits for it, and returns what it saw
    /// (cleaning up after a clean end when `clean` says the roles ended cleanly).
    fn finish(self, clean: bool) -> Result<(), RoleFailure> {
        let _ = self.done.send(());
        let outcome = self.handle.join().unwrap_or_else(|payload| {
            Err(RoleFailure {
                role: "shm-watch".into(),
                reason: panic_text(&*payload),
            })
        });
        if clean && outcome.is_ok() {
            (self.cleanup)();
        }
        outcome
    }
}

impl std::fmt::Debug for GraphControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphControl")
            .field("graph", &self.name)
            .field("roles", &self.threads.len())
            .finish()
    }
}

impl GraphControl {
    /// Per lane counts now (exact once the graph is quiescent).
    pub fn lanes(&self) -> Vec<LaneMetrics> {
        self.metrics
            .iter()
            .map(|(lane, counts)| LaneMetrics {
                lane: lane.clone(),
                counts: counts(),
            })
            .collect()
    }

    /// What applying a tuning profile to this graph did — requested, applied and degraded
    /// settings, each degradation with its reason — once one was applied
    /// (`ops::profile::tune_graph` on Linux; `byteor run --profile` applies one to every run).
    pub fn tuning(&self) -> Option<&crate::exec::tuning::TuningReport> {
        self.tuning.as_ref()
    }

    /// Keeps what applying a tuning profile did (see [`tuning`](Self::tuning)).
    #[cfg_attr(not(all(target_os = "linux", not(loom))), allow(dead_code))]
    pub(crate) fn set_tuning(
        &mut self,
        report: crate::exec::tuning::TuningReport,
    ) -> &crate::exec::tuning::TuningReport {
        self.tuning.insert(report)
    }

    /// `(label, OS thread name)` of each role thread this handle runs.
    #[cfg_attr(not(all(target_os = "linux", not(loom))), allow(dead_code))]
    pub(crate) fn role_thread_names(&self) -> Vec<(String, String)> {
        self.threads
            .iter()
            .filter_map(|(role, t)| Some((role.clone(), t.thread().name()?.to_owned())))
            .collect()
    }

    /// The first failure, if a role failed.
    pub fn failure(&self) -> Option<RoleFailure> {
        self.rt.failure()
    }

    /// Stops accepting events (producers fail with [`GraphError::Closed`]), lets every role
    /// drain what its lanes hold, in topological order, and joins the threads.
    pub fn shutdown(self) -> Result<GraphReport, GraphError> {
        self.rt.close();
        for close in &self.closers {
            close();
        }
        self.join()
    }

    /// Waits for the graph to end — every producer dropped and every lane drained, or a role
    /// failed — and joins the threads.
    pub fn join(mut self) -> Result<GraphReport, GraphError> {
        let threads = std::mem::take(&mut self.threads);
        let mut roles = Vec::with_capacity(threads.len());
        for (name, t) in threads {
            match t.join() {
                Ok(Ok(n)) => roles.push((name, n)),
                Ok(Err(_)) => {}
                Err(payload) => self.rt.fail(RoleFailure {
                    role: name,
                    reason: panic_text(&*payload),
                }),
            }
        }
        if let Some(watcher) = self.watcher.take() {
            if let Err(f) = watcher.finish(self.rt.failure().is_none()) {
                self.rt.fail(f);
            }
        }
        if let Some(f) = self.rt.failure() {
            return Err(GraphError::RoleFailed(f));
        }
        Ok(GraphReport {
            graph: self.name.clone(),
            roles,
            lanes: self.lanes(),
        })
    }
}

impl Drop for GraphControl {
    fn drop(&mut self) {
        if self.threads.is_empty() && self.watcher.is_none() {
            return;
        }
        self.rt.close();
        for close in &self.closers {
            close();
        }
        for (_, t) in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(watcher) = self.watcher.take() {
            // Abandoned: the watcher stops at once (dropping `done`), nothing is removed.
            drop(watcher.done);
            let _ = watcher.handle.join();
        }
    }
}
