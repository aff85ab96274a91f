//! Whether peers are alive, and what they say through the header.

use super::*;

/// What the producer told the stage processes, in the region's control block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// Publishing.
    Running,
    /// The stream ended: handle every event below `drain_target`, then stop.
    Closed {
        /// The end of the stream.
        drain_target: u64,
    },
    /// The pipeline failed: stop now.
    Failed,
}

/// How a peer says it is doing, in its header record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerStatus {
    /// Working (or never attached).
    Running,
    /// Finished cleanly.
    Done,
    /// Its stage failed, at `sequence` when tied to one event.
    Failed {
        /// The event it failed on.
        sequence: Option<u64>,
    },
}

/// Whether a peer is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// No process ever took this place.
    Absent,
    /// A process holds the place's lock, exists, and ticked its heartbeat within the timeout.
    Alive {
        /// The holder.
        pid: u32,
        /// Time since its last heartbeat.
        heartbeat_age: Duration,
    },
    /// The place was taken and its holder is gone or silent.
    Dead {
        /// The last holder.
        pid: u32,
        /// How the death was seen.
        reason: DeathReason,
    },
}

/// How a dead peer was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeathReason {
    /// Its OS lock is free: the process exited or was killed.
    LockReleased,
    /// No process with its pid and start time exists.
    ProcessGone,
    /// It holds its lock but has not ticked its heartbeat for longer than the timeout (stopped,
    /// or stuck).
    HeartbeatStale {
        /// Time since its last heartbeat.
        age: Duration,
    },
}

impl std::fmt::Display for DeathReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeathReason::LockReleased => f.write_str("its lock was released (process exited)"),
            DeathReason::ProcessGone => f.write_str("its process no longer exists"),
            DeathReason::HeartbeatStale { age } => write!(f, "no heartbeat for {age:?}"),
        }
    }
}

/// The state of the peer recorded in `slot`, whose lock is byte `byte` of `file`; `own` when
/// `file`'s description holds that lock itself (which then shows no conflict).
pub(crate) fn peer_state(
    file: &File,
    slot: &PeerSlotV1,
    byte: usize,
    own: bool,
    heartbeat_timeout: Duration,
) -> PeerState {
    let (pid, start_time) = notice::read(&slot.pid, &slot.start_time);
    if pid == 0 {
        return PeerState::Absent;
    }
    let dead = |reason| PeerState::Dead { pid, reason };
    if !own && matches!(os::byte_locked(file, byte as u64), Ok(false)) {
        return dead(DeathReason::LockReleased);
    }
    if !os::process_alive(pid, start_time) {
        return dead(DeathReason::ProcessGone);
    }
    let age = Duration::from_nanos(
        os::monotonic_ns().saturating_sub(slot.heartbeat_ns.load(Ordering::Acquire)),
    );
    if age > heartbeat_timeout {
        return dead(DeathReason::HeartbeatStale { age });
    }
    PeerState::Alive {
        pid,
        heartbeat_age: age,
    }
}
