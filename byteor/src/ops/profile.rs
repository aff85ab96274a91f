//! Tuning profiles: how much of the host a pipeline may assume.
//!
//! | profile | wait strategy | threads | memory | scheduling |
//! |---|---|---|---|---|
//! | `default` | parking | wherever the OS puts them | as allocated | normal |
//! | `low-latency` | spin (with hint) | pinned, each to its own core | `mlockall` | normal |
//! | `isolated-core` | spin (with hint) | pinned to the isolated CPUs (`isolcpus`) | `mlockall` | `SCHED_FIFO` |
//!
//! `default` asks for nothing privileged. The others ask for what a low-latency host gives;
//! [`doctor`](super::doctor) says whether this host does, and applying a profile reports what
//! was requested, what was applied and what was degraded, each degradation with its reason.

use std::fmt;
use std::str::FromStr;

use crate::kernel::WaitStrategy;

/// A tuning profile. See the [module docs](self) for what each one asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TuningProfile {
    /// No privileged assumptions: parking waits, threads where the OS puts them.
    #[default]
    Default,
    /// Spinning waits, stage threads pinned to distinct cores, memory locked.
    LowLatency,
    /// Stage threads on the isolated CPUs under `SCHED_FIFO`, memory locked.
    IsolatedCore,
}

impl TuningProfile {
    /// Every profile, from the least to the most demanding.
    pub const ALL: [TuningProfile; 3] = [
        TuningProfile::Default,
        TuningProfile::LowLatency,
        TuningProfile::IsolatedCore,
    ];

    /// The profile's name as the command line spells it: `default`, `low-latency`,
    /// `isolated-core`.
    pub fn name(self) -> &'static str {
        match self {
            TuningProfile::Default => "default",
            TuningProfile::LowLatency => "low-latency",
            TuningProfile::IsolatedCore => "isolated-core",
        }
    }

    /// The wait strategy stage threads and the producer use under this profile.
    pub fn wait_strategy(self) -> WaitStrategy {
        match self {
            TuningProfile::Default => WaitStrategy::Parking,
            TuningProfile::LowLatency | TuningProfile::IsolatedCore => WaitStrategy::SpinHint,
        }
    }

    /// Whether threads are pinned to CPUs of their own.
    pub fn pins_threads(self) -> bool {
        !matches!(self, TuningProfile::Default)
    }

    /// Whether the process locks its memory (`mlockall`).
    pub fn locks_memory(self) -> bool {
        !matches!(self, TuningProfile::Default)
    }

    /// Whether stage threads run under a real-time policy (`SCHED_FIFO`).
    pub fn real_time(self) -> bool {
        matches!(self, TuningProfile::IsolatedCore)
    }

    /// Whether stage threads go on the CPUs the kernel isolated (`isolcpus`).
    pub fn isolated_cpus(self) -> bool {
        matches!(self, TuningProfile::IsolatedCore)
    }
}

impl fmt::Display for TuningProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A profile name that is not one of [`TuningProfile::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tuning profile `{given}`: expected one of default, low-latency, isolated-core")]
pub struct UnknownProfile {
    /// The name given.
    pub given: String,
}

impl FromStr for TuningProfile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TuningProfile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownProfile {
                given: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in TuningProfile::ALL {
            assert_eq!(p.name().parse::<TuningProfile>(), Ok(p));
        }
        let err = "fast".parse::<TuningProfile>().unwrap_err();
        assert!(err.to_string().contains("`fast`"), "{err}");
    }

    #[test]
    fn default_asks_for_nothing_privileged() {
        let p = TuningProfile::Default;
        assert_eq!(p.wait_strategy(), WaitStrategy::Parking);
        assert!(!p.pins_threads() && !p.locks_memory() && !p.real_time());
    }
}
