//! The producer handle: writes events into the ring(s).

use std::sync::Arc;

use crate::backing::{MemRing, RingStorage};
use crate::kernel::{FinalStageGate, Padded, SlotCell, Waiter, WritePrefetch};

use super::error::{PublishError, TryPublishError};
use super::routing::{Router, Unsharded};
use super::runtime::{Runtime, ShardRuntime};
use crate::kernel::RUNNING;

#[cfg(feature = "async")]
mod publish_async;
#[cfg(feature = "async")]
pub use publish_async::{PublishAsync, PublishBatchAsync};

/// The producer's private state for one shard, kept [`Padded`] (alone on its own 128 bytes):
/// sharing a cache line with anything a stage thread reads (the runtime's state word, say)
/// would bounce that line between cores.
///
/// What is published is the ring's cursor, which only the producer writes. `next` is a private
/// copy of it (ahead of it only inside a routed batch): a single publish reads `next` rather
/// than the cursor, because the cursor's line is the one a waiting stage keeps reading, and
/// loading it back costs the producer a cache miss on a round trip (measured: ping-pong p50
/// 320 ns with the copy, 420-440 ns reading the cursor).
struct ProducerShard {
    /// Next sequence to write: the cursor, except while a routed batch writes to several
    /// shards before it publishes any.
    next: u64,
    gate: FinalStageGate,
    /// Prefetching for writing the slots this shard's events go to next, below the gate's
    /// cached limit (see [`WritePrefetch`]).
    prefetch: WritePrefetch,
}

/// Writes events into a running pipeline. There is exactly one producer per pipeline
/// (`producer = single`); it may move to another thread but is not shared.
///
/// Events are written in place: [`publish`](Self::publish) hands the closure the slot's
/// `&mut E`, which still holds an older event — overwrite every field stages read.
///
/// Dropping the producer (or calling [`close`](Self::close)) ends the stream: stages drain
/// everything published and stop, and [`Control::join`](super::Control::join) returns.
///
/// `R` is the ring storage ([`MemRing`] unless the pipeline was started with
/// [`spawn_on`](super::SingleRingPipeline::spawn_on)).
pub struct Producer<E, K = Unsharded, R: RingStorage<Event = E> = MemRing<E>> {
    rt: Arc<Runtime<R>>,
    shards: Box<[Padded<ProducerShard>]>,
    router: K,
    /// Staging event for sharded rings: the shard is known only once the event is filled.
    scratch: E,
    hub_slot: usize,
}

impl<E, K, R: RingStorage<Event = E>> std::fmt::Debug for Producer<E, K, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("pipeline", &self.rt.name)
            .field(
                "published",
                &self
                    .rt
                    .shards
                    .iter()
                    .map(ShardRuntime::published)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl<E, K, R> Producer<E, K, R>
where
    E: Default + Send + Sync,
    K: Router<E>,
    R: RingStorage<Event = E>,
{
    pub(crate) fn new(rt: Arc<Runtime<R>>, router: K) -> Self {
        let shards = rt
            .shards
            .iter()
            .map(|s| {
                let capacity = s.ring.capacity();
                Padded(ProducerShard {
                    next: 0,
                    gate: FinalStageGate::new(&rt.finals, capacity, 0),
                    prefetch: WritePrefetch::new::<E>(capacity),
                })
            })
            .collect::<Box<[_]>>();
        // `split` relies on this: an unsharded producer indexes shard 0 unchecked.
        assert!(
            !shards.is_empty() && shards.len() == rt.shards.len(),
            "a pipeline has at least one shard"
        );
        let hub_slot = rt.producer_slot();
        Producer {
            rt,
            shards,
            router,
            scratch: E::default(),
            hub_slot,
        }
    }

    /// Slots per ring.
    pub fn capacity(&self) -> u64 {
        self.shards[0].gate.capacity()
    }

    /// Events published so far, over all shards.
    pub fn published(&self) -> u64 {
        self.rt.shards.iter().map(ShardRuntime::published).sum()
    }

    /// Shard `shard`'s producer state and runtime, and the staging event. Unsharded, that is
    /// shard 0, reached without a bounds check (on the path of every publish, the checks
    /// saved per access add up).
    #[inline(always)]
    fn split(&mut self, shard: usize) -> (&mut ProducerShard, &ShardRuntime<R>, &mut E) {
        if K::SHARDED {
            (
                &mut self.shards[shard],
                &self.rt.shards[shard],
                &mut self.scratch,
            )
        } else {
            debug_assert_eq!(shard, 0);
            // SAFETY: `new` asserts that both slices hold at least one shard (and as many), and
            // neither is resized afterwards, so index 0 is in bounds of both.
            unsafe {
                (
                    self.shards.get_unchecked_mut(0),
                    self.rt.shards.get_unchecked(0),
                    &mut self.scratch,
                )
            }
        }
    }

    /// Whether shard `shard` has room for events below `end` (cheap while the cached gate says
    /// so).
    #[inline(always)]
    fn room(&mut self, shard: usize, end: u64) -> bool {
        let (ps, sh, _) = self.split(shard);
        ps.gate.has_room(sh.ring.stage_sequences(), end)
    }

    #[inline(always)]
    fn check_running(&self) -> Result<(), PublishError> {
        if self.rt.state() == RUNNING {
            Ok(())
        } else {
            Err(PublishError::Stopped(self.rt.stopped_error()))
        }
    }

    /// Waits until shard `shard` has room for events below `end`.
    #[cold]
    #[inline(never)]
    fn wait_for_room(&mut self, shard: usize, end: u64) -> Result<(), PublishError> {
        let rt = &*self.rt;
        let sh = &rt.shards[shard];
        let seqs = sh.ring.stage_sequences();
        let ps = &mut self.shards[shard];
        let mut waiter = Waiter::new(rt.strategy, &sh.hub, self.hub_slot);
        let mut seen = ps.gate.limit();
        loop {
            if ps.gate.has_room(seqs, end) {
                waiter.reset();
                return Ok(());
            }
            // The final stages freed some slots, just not enough yet (a batch needs more):
            // they are running, so stay on the cheap first steps of the wait instead of
            // escalating to yields and parks that would make this producer slow to notice.
            if ps.gate.limit() != seen {
                seen = ps.gate.limit();
                waiter.reset();
            }
            if rt.state() != RUNNING {
                return Err(PublishError::Stopped(rt.stopped_error()));
            }
            // A stage in another process that is down will not free room: say so rather
            // than wait for it.
            if let Some(down) = sh.ring.peer_down() {
                return Err(PublishError::PeerDown(down));
            }
            let gate = &ps.gate;
            waiter.idle(|| gate.released(seqs) + gate.capacity() >= end || rt.state() != RUNNING);
        }
    }

    /// Publishes one event, waiting (with the pipeline's wait strategy) while the ring is full.
    /// `fill` writes the event into its slot. Returns the event's sequence within its shard.
    ///
    /// Fails once the pipeline has been shut down or a stage has failed (the error names it).
    /// If `fill` panics, the panic propagates and nothing is published: the producer stays
    /// usable, and its next event takes the same sequence.
    #[inline]
    pub fn publish<F: FnOnce(&mut E)>(&mut self, fill: F) -> Result<u64, PublishError> {
        self.check_running()?;
        let mut fill = Some(fill);
        let shard = self.route(&mut fill);
        // One look-up of the shard for the whole publish: after the event's store the
        // compiler could not reuse anything it had loaded through `self`.
        let (ps, sh, scratch) = self.split(shard);
        let seq = ps.next;
        if !ps.gate.has_room(sh.ring.stage_sequences(), seq + 1) {
            return self.publish_after_wait(shard, seq, fill);
        }
        write_slot(sh, scratch, seq, fill);
        ps.next = seq + 1;
        sh.publish(seq + 1);
        ps.prefetch
            .after_one(seq, ps.gate.limit(), |s| sh.ring.slot(s));
        Ok(seq)
    }

    /// The rest of a [`publish`](Self::publish) that found the ring full: out of line, so the
    /// path with room stays short.
    #[cold]
    #[inline(never)]
    fn publish_after_wait<F: FnOnce(&mut E)>(
        &mut self,
        shard: usize,
        seq: u64,
        fill: Option<F>,
    ) -> Result<u64, PublishError> {
        self.wait_for_room(shard, seq + 1)?;
        self.put(shard, seq, fill);
        Ok(seq)
    }

    /// Publishes one event if there is room right now; never waits. Returns the event's
    /// sequence within its shard, as [`publish`](Self::publish) does (the shard's events are
    /// numbered from 0 in publish order). On a full ring returns
    /// [`TryPublishError::Full`] and writes nothing. (On an unsharded ring `fill` is not called
    /// then; on a sharded ring it was called to find the shard, and the event is discarded.)
    #[inline]
    pub fn try_publish<F: FnOnce(&mut E)>(&mut self, fill: F) -> Result<u64, TryPublishError> {
        if self.rt.state() != RUNNING {
            return Err(TryPublishError::Stopped(self.rt.stopped_error()));
        }
        let mut fill = Some(fill);
        let shard = self.route(&mut fill);
        let seq = self.split(shard).0.next;
        if !self.room(shard, seq + 1) {
            return Err(self.full(shard));
        }
        self.put(shard, seq, fill);
        Ok(seq)
    }
    /// Why shard `shard` has no room: full, or full and waiting on a stage whose process is
    /// down (shared memory).
    #[cold]
    fn full(&self, shard: usize) -> TryPublishError {
        match self.rt.shards[shard].ring.peer_down() {
            Some(down) => TryPublishError::PeerDown(down),
            None => TryPublishError::Full {
                shard: shard as u32,
            },
        }
    }

    /// The shard of the next event. On a sharded ring the shard is known only once the event is
    /// written, so `fill` is taken and run on the staging event; unsharded, it is left for
    /// [`commit`](Self::commit) to run in place.
    #[inline(always)]
    fn route<F: FnOnce(&mut E)>(&mut self, fill: &mut Option<F>) -> usize {
        if !K::SHARDED {
            return 0;
        }
        if let Some(f) = fill.take() {
            f(&mut self.scratch);
        }
        self.router.shard(&self.scratch)
    }

    /// Writes and publishes event `seq` of `shard`, the shard's cursor (a single publish) —
    /// with `fill` in place, or from the staging event when routing already ran `fill`. The
    /// caller has checked there is room.
    ///
    /// Stages see the event only once the cursor passes it, and the cursor moves only after
    /// `fill` returned: if `fill` unwinds, nothing was published and the next publish reuses
    /// the slot.
    #[inline(always)]
    fn put<F: FnOnce(&mut E)>(&mut self, shard: usize, seq: u64, fill: Option<F>) {
        let (ps, sh, scratch) = self.split(shard);
        write_slot(sh, scratch, seq, fill);
        ps.next = seq + 1;
        sh.publish(seq + 1);
        ps.prefetch
            .after_one(seq, ps.gate.limit(), |s| sh.ring.slot(s));
    }

    /// Publishes `count` events filled by `fill(i, slot)` for `i in 0..count`, all or nothing:
    /// stages see none of them until every one is written, then all at once (one cursor store
    /// per shard the batch touched). Waits for room like [`publish`](Self::publish). `count`
    /// may not exceed the ring capacity.
    ///
    /// If `fill` panics, or the pipeline stops while the batch waits for room, no event of the
    /// batch is published, on any shard; the producer stays usable.
    pub fn publish_batch<F: FnMut(usize, &mut E)>(
        &mut self,
        count: usize,
        mut fill: F,
    ) -> Result<(), PublishError> {
        self.check_running()?;
        let capacity = self.capacity();
        if count as u64 > capacity {
            return Err(PublishError::BatchTooLarge {
                requested: count,
                capacity,
            });
        }
        if count == 0 {
            return Ok(());
        }
        if !K::SHARDED {
            // Nothing moves before every `fill` returned: the cursor and the write position
            // both jump to the end of the batch at once.
            return self.publish_batch_direct(count, &mut fill);
        }
        // Events written but not yet published must not leak into the stream with the next
        // publish, whether `fill` panicked or the wait for room failed: roll every shard's
        // write position back to what it published.
        let batch = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.publish_batch_routed(count, &mut fill)
        }));
        match batch {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                self.rewind_unpublished();
                Err(e)
            }
            Err(payload) => {
                self.rewind_unpublished();
                std::panic::resume_unwind(payload)
            }
        }
    }

    /// Puts every shard's write position back to what it published.
    fn rewind_unpublished(&mut self) {
        for (ps, sh) in self.shards.iter_mut().zip(self.rt.shards.iter()) {
            ps.next = sh.published();
        }
    }

    /// An unsharded batch: room for all of it, then one cursor store.
    fn publish_batch_direct<F: FnMut(usize, &mut E)>(
        &mut self,
        count: usize,
        fill: &mut F,
    ) -> Result<(), PublishError> {
        let start = self.split(0).0.next;
        let end = start + count as u64;
        if !self.room(0, end) {
            self.wait_for_room(0, end)?;
        }
        // One store per event (the event itself): the cursor moves once for the whole batch.
        // The batch's slots are at most two runs of consecutive cells (it may wrap around the
        // end of the ring), walked as slices: no index arithmetic per event.
        let (ps, sh, _) = self.split(0);
        let cells = sh.ring.slots();
        let first = (start & (cells.len() as u64 - 1)) as usize;
        let (before, from_first) = cells.split_at(first);
        // `count <= capacity`, so the part past the end fits in the cells before `first`.
        let wrapped = count.saturating_sub(from_first.len());
        let unwrapped = count - wrapped;
        for (i, cell) in from_first[..unwrapped].iter().enumerate() {
            // SAFETY: `cell` holds event `start + i`, for which the gate showed room: see
            // `write_cell`.
            unsafe { write_cell(cell, |slot| fill(i, slot)) };
        }
        for (i, cell) in before[..wrapped].iter().enumerate() {
            // SAFETY: as above, for event `start + unwrapped + i`.
            unsafe { write_cell(cell, |slot| fill(unwrapped + i, slot)) };
        }
        ps.next = end;
        sh.publish(end);
        ps.prefetch
            .after(start, end, ps.gate.limit(), |s| sh.ring.slot(s));
        Ok(())
    }

    /// A routed batch: each event goes to its shard as soon as `fill` tells which, and every
    /// shard is published once at the end.
    ///
    /// Waiting for room with events of the batch still unpublished cannot deadlock: a shard
    /// holds at most `count <= capacity` events of the batch, and every slot before them was
    /// published, so the stages free enough room by finishing what they can already see.
    fn publish_batch_routed<F: FnMut(usize, &mut E)>(
        &mut self,
        count: usize,
        fill: &mut F,
    ) -> Result<(), PublishError> {
        for i in 0..count {
            fill(i, &mut self.scratch);
            let shard = self.router.shard(&self.scratch);
            let seq = self.shards[shard].next;
            if !self.room(shard, seq + 1) {
                self.wait_for_room(shard, seq + 1)?;
            }
            let (ps, sh, scratch) = self.split(shard);
            ps.next = seq + 1;
            write_slot::<E, R, fn(&mut E)>(sh, scratch, seq, None);
        }
        for (ps, sh) in self.shards.iter().zip(self.rt.shards.iter()) {
            if ps.next != sh.published() {
                sh.publish(ps.next);
            }
        }
        Ok(())
    }

    /// Ends the stream: stages drain everything published, then stop. Same as dropping the
    /// producer.
    pub fn close(self) {
        drop(self)
    }
}

/// Writes event `seq` into its slot of `sh`: with `fill` in place, or by swapping in the
/// staging event. See [`Producer::put`].
#[inline(always)]
fn write_slot<E, R: RingStorage<Event = E>, F: FnOnce(&mut E)>(
    sh: &ShardRuntime<R>,
    scratch: &mut E,
    seq: u64,
    fill: Option<F>,
) {
    let write = |slot: &mut E| match fill {
        Some(f) => f(slot),
        None => core::mem::swap(slot, scratch),
    };
    // SAFETY: every caller checked (through the gate) that the ring has room for `seq`, and
    // writes at or past the cursor.
    unsafe { write_cell(sh.ring.slot(seq), write) }
}

/// Runs `write` on the event in `cell`.
///
/// # Safety
/// `cell` holds an event the producer may overwrite: the gate showed every final stage (so
/// every stage) finished the event that used the slot before, and the cursor does not cover it
/// yet (stages never read past the cursor). The producer being the only writer, nobody else
/// accesses the slot meanwhile.
#[inline(always)]
unsafe fn write_cell<E>(cell: &SlotCell<E>, write: impl FnOnce(&mut E)) {
    cell.with_mut(|p| {
        // SAFETY: exclusive access to the slot, guaranteed by the caller (above).
        write(unsafe { &mut *p })
    });
}

impl<E, K, R: RingStorage<Event = E>> Drop for Producer<E, K, R> {
    fn drop(&mut self) {
        // Anything written but unpublished (a batch interrupted by a panicking closure) is not
        // part of the stream.
        let rt = &*self.rt;
        rt.close_from_producer(rt.shards.iter().map(ShardRuntime::published));
    }
}
