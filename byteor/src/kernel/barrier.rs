//! Sequence barriers (what a stage may read) and the producer's final-stage gate (what the
//! producer may overwrite).

use super::sequence::Sequence;

/// Most sequences one barrier or gate watches (a SingleRing has at most four stages).
pub const MAX_UPSTREAM: usize = 4;

/// The set of upstream sequences a stage waits on: the producer cursor for a first-level stage,
/// or the sequences of the stages it runs after. Event `n` is available once every upstream
/// sequence is past `n`.
#[derive(Debug, Clone, Copy)]
pub struct SequenceBarrier<'a> {
    upstream: [&'a Sequence; MAX_UPSTREAM],
    len: usize,
}

impl<'a> SequenceBarrier<'a> {
    /// A barrier over `upstream` (1..=[`MAX_UPSTREAM`] sequences).
    ///
    /// # Panics
    /// If `upstream` is empty or longer than [`MAX_UPSTREAM`].
    pub fn new(upstream: &[&'a Sequence]) -> Self {
        assert!(
            (1..=MAX_UPSTREAM).contains(&upstream.len()),
            "a barrier watches 1..=4 sequences"
        );
        let mut arr = [upstream[0]; MAX_UPSTREAM];
        arr[..upstream.len()].copy_from_slice(upstream);
        SequenceBarrier {
            upstream: arr,
            len: upstream.len(),
        }
    }

    /// Number of events available: the minimum of the upstream sequences (`Acquire` loads, so
    /// everything written to those events is visible).
    #[inline(always)]
    pub fn available(&self) -> u64 {
        let mut min = self.upstream[0].load();
        for seq in &self.upstream[1..self.len] {
            min = min.min(seq.load());
        }
        min
    }
}

/// The producer's gate: a slot may be overwritten only once every *final* stage (a stage no
/// other stage depends on) has finished the event that occupied it. Final stages imply all
/// their upstream stages, so this is the whole release condition — no separate gating cell.
///
/// The minimum of the final sequences is cached; the producer reads the stage sequences (other
/// cores' cache lines) only when the cached value says the ring might be full. The gate stores
/// stage *indices*, not references, so a producer handle can own it; the stage sequences are
/// passed to each call.
#[derive(Debug, Clone)]
pub struct FinalStageGate {
    finals: [usize; MAX_UPSTREAM],
    len: usize,
    capacity: u64,
    /// Highest sequence (exclusive) the producer may claim without re-reading the stages.
    limit: u64,
}

impl FinalStageGate {
    /// A gate over the final stages `finals` (indices into the ring's stage sequences, 1..=4 of
    /// them) for a ring of `capacity` slots whose stages have all released sequence `released`.
    ///
    /// # Panics
    /// If `finals` is empty or longer than [`MAX_UPSTREAM`].
    pub fn new(finals: &[usize], capacity: u64, released: u64) -> Self {
        assert!(
            (1..=MAX_UPSTREAM).contains(&finals.len()),
            "a gate watches 1..=4 final stages"
        );
        let mut arr = [finals[0]; MAX_UPSTREAM];
        arr[..finals.len()].copy_from_slice(finals);
        FinalStageGate {
            finals: arr,
            len: finals.len(),
            capacity,
            limit: released + capacity,
        }
    }

    /// Whether events up to `end` (exclusive) may be written. Reads the final stages'
    /// sequences (`stages`, indexed by stage id) only when the cached limit is not enough.
    #[inline(always)]
    pub fn has_room(&mut self, stages: &[Sequence], end: u64) -> bool {
        end <= self.limit || self.refresh(stages, end)
    }

    #[inline]
    fn refresh(&mut self, stages: &[Sequence], end: u64) -> bool {
        self.limit = self.released(stages) + self.capacity;
        end <= self.limit
    }

    /// The minimum final-stage sequence, read now: every event below it is fully processed.
    #[inline]
    pub fn released(&self, stages: &[Sequence]) -> u64 {
        let mut min = u64::MAX;
        for &i in &self.finals[..self.len] {
            // A missing index would be a wiring bug; treating it as "nothing released" makes
            // the producer wait instead of overwriting a slot in use.
            let seq = stages.get(i).map_or(0, Sequence::load);
            min = min.min(seq);
        }
        min
    }

    /// The cached limit: events below it may be written without re-reading the stages.
    #[inline(always)]
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }
}
