//! The ends of a lane as roles see them: the in-place kernel lane (any event type), or a lane
//! that stores events as plain data — a `Journal` lane, a lossy `FanoutBroadcast` — reached a
//! batch at a time. Role loops match on the flavor once per batch or per event (a predictable
//! branch); the plain-data flavors sit behind a trait object called once per batch, never per
//! event, because only the code that knows the event type is plain data can make them.

use std::sync::Arc;
use std::time::Duration;

use crate::kernel::lane::{LaneHandle, LaneReader, LaneWriter};

/// Events a plain-data writer stages before it hands them over.
pub(super) const STAGED: usize = 256;

/// Where a plain-data lane's writer hands its events, a batch at a time.
pub(super) trait BatchSink<T>: Send {
    /// Writes `events`, in order, after everything written before. Never waits for readers.
    fn write(&mut self, events: &[T]) -> Result<(), String>;
    /// Ends the stream (after the last write).
    fn close(&mut self);
}

/// Where a plain-data lane's reader gets its events, a batch at a time.
pub(super) trait BatchSource<T>: Send {
    /// Appends up to `max` events, in order, to `out` (counting them as delivered: handed to
    /// the reading end).
    fn fill(&mut self, out: &mut Vec<T>, max: usize) -> Result<(), String>;
    /// Whether the writer closed the lane and this reader has everything it wrote (or lost).
    fn is_finished(&self) -> bool;
    /// Whether a [`fill`](Self::fill) would find events now, or the stream ended (cheap;
    /// `false` when the source cannot tell without reading: it is then polled).
    fn available(&self) -> bool {
        false
    }
    /// How a waiting thread can sleep until the writer wakes it (lanes between processes);
    /// `None`: the source is polled.
    fn sleeper(&self) -> Option<Arc<dyn Sleeper>> {
        None
    }
}

/// Sleeping until the other side of a lane rings (a lane between processes: the region's
/// doorbell, see `kernel::doorbell`). Called on the slow path of a wait only.
pub(super) trait Sleeper: Send + Sync {
    /// The waiter is about to sleep: the other side wakes it from now on.
    fn announce(&self);
    /// The waiter made progress (pairs with [`announce`](Self::announce)).
    fn retract(&self);
    /// Sleeps (announced) until woken or `timeout`, unless `ready` says the wait is over.
    fn sleep(&self, ready: &mut dyn FnMut() -> bool, timeout: Duration);
}

/// A plain-data writing end: events are filled in place in staging slots and handed over when
/// they are full or at [`flush`](Staged::flush); dropping it flushes and closes the stream.
pub(super) struct Staged<T> {
    /// Staging slots (all `STAGED` exist from the start: filling one never allocates).
    slots: Vec<T>,
    /// Slots filled.
    len: usize,
    /// Where they go.
    sink: Box<dyn BatchSink<T>>,
}

impl<T> Staged<T> {
    #[inline]
    fn stage(&mut self, fill: impl FnOnce(&mut T)) -> Result<(), String> {
        fill(&mut self.slots[self.len]);
        self.len += 1;
        if self.len == self.slots.len() {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), String> {
        if self.len == 0 {
            return Ok(());
        }
        let n = std::mem::take(&mut self.len);
        self.sink.write(&self.slots[..n])
    }
}

impl<T> Drop for Staged<T> {
    fn drop(&mut self) {
        // A flush error here has no one to go to; `OutEnd::close` reports it first.
        let _ = self.flush();
        self.sink.close();
    }
}

/// The writing end of a lane.
pub(super) enum OutEnd<T> {
    /// The in-place lane.
    Lane(LaneWriter<T>),
    /// A plain-data lane.
    Staged(Staged<T>),
}

impl<T> std::fmt::Debug for OutEnd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutEnd::Lane(_) => f.write_str("Lane"),
            OutEnd::Staged(s) => f.debug_struct("Staged").field("len", &s.len).finish(),
        }
    }
}

impl<T> OutEnd<T> {
    /// A plain-data writing end over `sink`, its staging slots made by `slot`.
    pub(super) fn staged(sink: Box<dyn BatchSink<T>>, slot: impl Fn() -> T) -> Self {
        OutEnd::Staged(Staged {
            slots: (0..STAGED).map(|_| slot()).collect(),
            len: 0,
            sink,
        })
    }

    /// The lane to park on while waiting for room, and the writer's slot in its hub (`None`
    /// for plain-data lanes: they never wait).
    pub(super) fn waker(&self) -> Option<(LaneHandle<T>, usize)> {
        match self {
            OutEnd::Lane(w) => Some((w.handle(), w.lane().writer_slot())),
            OutEnd::Staged(_) => None,
        }
    }

    /// Whether a write would not have to wait (plain-data lanes never wait).
    #[inline]
    pub(super) fn has_room(&mut self) -> bool {
        match self {
            OutEnd::Lane(w) => w.has_room(),
            OutEnd::Staged(_) => true,
        }
    }

    /// Whether `n` writes would not have to wait (plain-data lanes never wait).
    #[cfg(feature = "async")]
    pub(super) fn has_room_for(&mut self, n: u64) -> bool {
        match self {
            OutEnd::Lane(w) => w.has_room_for(n),
            OutEnd::Staged(_) => true,
        }
    }

    /// The in-place lane's capacity (`None` for plain-data lanes: they never wait).
    #[cfg(feature = "async")]
    pub(super) fn capacity(&self) -> Option<u64> {
        match self {
            OutEnd::Lane(w) => Some(w.lane().capacity()),
            OutEnd::Staged(_) => None,
        }
    }

    /// Writes one event filled in place by `fill` if there is room; returns whether it did. It
    /// is handed over at the next [`flush`](Self::flush) (which a writer must do before it
    /// waits for room).
    #[inline]
    pub(super) fn try_write(&mut self, fill: impl FnOnce(&mut T)) -> Result<bool, String> {
        match self {
            OutEnd::Lane(w) => Ok(w.write_deferred(fill)),
            OutEnd::Staged(s) => s.stage(fill).map(|()| true),
        }
    }

    /// Writes one event, or drops it (counted) when the lane is full.
    #[inline]
    pub(super) fn write_or_drop(&mut self, fill: impl FnOnce(&mut T)) -> Result<(), String> {
        match self {
            OutEnd::Lane(w) => {
                w.write_or_drop_deferred(fill);
                Ok(())
            }
            OutEnd::Staged(s) => s.stage(fill),
        }
    }

    /// Hands the events written since the last flush over: the in-place lane publishes them
    /// (one cursor store), a plain-data lane hands its staged events to its sink.
    #[inline]
    pub(super) fn flush(&mut self) -> Result<(), String> {
        match self {
            OutEnd::Lane(w) => {
                w.publish();
                Ok(())
            }
            OutEnd::Staged(s) => s.flush(),
        }
    }

    /// Flushes and ends the stream (readers finish once they have read everything); the end
    /// itself stays (dropping it later changes nothing more).
    pub(super) fn close(&mut self) -> Result<(), String> {
        let flushed = self.flush();
        match self {
            OutEnd::Lane(w) => w.lane().close(),
            OutEnd::Staged(s) => s.sink.close(),
        }
        flushed
    }
}

/// The reading end of a lane.
pub(super) enum InEnd<T> {
    /// The in-place lane.
    Lane(LaneReader<T>),
    /// A plain-data lane, read a batch at a time into `buf` (events `at..` not yet handed on).
    Batched {
        /// The events of the last batch (reused).
        buf: Vec<T>,
        /// The next event of `buf` to hand on.
        at: usize,
        /// Where they come from.
        source: Box<dyn BatchSource<T>>,
    },
}

impl<T> std::fmt::Debug for InEnd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InEnd::Lane(_) => f.write_str("Lane"),
            InEnd::Batched { .. } => f.write_str("Batched"),
        }
    }
}

impl<T> InEnd<T> {
    /// A plain-data reading end over `source`.
    pub(super) fn batched(source: Box<dyn BatchSource<T>>) -> Self {
        InEnd::Batched {
            buf: Vec::with_capacity(STAGED),
            at: 0,
            source,
        }
    }

    /// Reads the events available now, at most `max`, calling `f` on each in order; returns
    /// how many.
    #[inline]
    pub(super) fn read(&mut self, max: u64, mut f: impl FnMut(&T)) -> Result<u64, String> {
        match self {
            InEnd::Lane(r) => Ok(if max == u64::MAX {
                r.read(|_, e| f(e))
            } else {
                r.read_some(max, |_, e| f(e))
            }),
            InEnd::Batched { buf, at, source } => {
                if *at == buf.len() {
                    buf.clear();
                    *at = 0;
                    source.fill(buf, STAGED)?;
                }
                let max = usize::try_from(max).unwrap_or(usize::MAX);
                let n = (buf.len() - *at).min(max);
                buf[*at..*at + n].iter().for_each(f);
                *at += n;
                Ok(n as u64)
            }
        }
    }

    /// The lane to park on while waiting for events, and this reader's slot in its hub
    /// (`None` for plain-data lanes: they are polled).
    pub(super) fn waker(&self) -> Option<(LaneHandle<T>, usize)> {
        match self {
            InEnd::Lane(r) => Some((r.handle(), r.id())),
            InEnd::Batched { .. } => None,
        }
    }

    /// Whether a read would find something now, or the lane is closed (cheap; for a
    /// plain-data lane with nothing buffered, what its source can tell).
    #[inline]
    pub(super) fn ready(&self) -> bool {
        match self {
            InEnd::Lane(r) => r.available() > 0 || r.lane().is_closed(),
            InEnd::Batched { buf, at, source } => *at < buf.len() || source.available(),
        }
    }

    /// How a waiting thread sleeps on a plain-data lane whose writer can wake it (`None`:
    /// in-place lanes, which have [`waker`](Self::waker), and polled sources).
    pub(super) fn sleeper(&self) -> Option<Arc<dyn Sleeper>> {
        match self {
            InEnd::Lane(_) => None,
            InEnd::Batched { source, .. } => source.sleeper(),
        }
    }

    /// Batches at least this large mean the reader is behind (a quarter of the lane; 0 for
    /// plain-data lanes: never paced).
    pub(super) fn pace_below(&self) -> u64 {
        match self {
            InEnd::Lane(r) => r.lane().capacity() / 4,
            InEnd::Batched { .. } => 0,
        }
    }

    /// Whether the writer closed the lane and everything it wrote was read (or lost).
    pub(super) fn is_finished(&self) -> bool {
        match self {
            InEnd::Lane(r) => r.is_finished(),
            InEnd::Batched { buf, at, source } => *at == buf.len() && source.is_finished(),
        }
    }
}
