//! Tuning profiles and what applying one did: the data a pipeline's control handle keeps
//! ([`Control::tuning`](super::Control::tuning),
//! [`GraphControl::tuning`](super::lane_graph::GraphControl::tuning)). Applying a profile to a
//! running pipeline is `ops::profile` (Linux).

use std::fmt;
use std::str::FromStr;

use crate::kernel::WaitStrategy;

/// A tuning profile. See [`ops::profile`](crate::ops::profile) (Linux) for what each one asks
/// and how it is applied.
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

/// What became of one setting a profile asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; what is in force now.
    Applied(String),
    /// Not done (or only in part); why, in the OS's words with the limit that mattered.
    Degraded(String),
}

/// One setting a profile asked for, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// What it is about: `wait strategy`, `mlockall`, `cpu <thread>`, `SCHED_FIFO <thread>`.
    pub name: String,
    /// What the profile asked.
    pub requested: String,
    /// What became of it.
    pub outcome: Outcome,
}

/// What applying a profile did: every setting it asked for, applied or degraded (each
/// degradation with its reason). `default` asks for nothing but its wait strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuningReport {
    /// The profile applied.
    pub profile: TuningProfile,
    /// Every setting, in the order applied.
    pub settings: Vec<Setting>,
}

impl TuningReport {
    /// An empty report for `profile`.
    pub fn new(profile: TuningProfile) -> Self {
        TuningReport {
            profile,
            settings: Vec::new(),
        }
    }

    /// The settings that were applied.
    pub fn applied(&self) -> impl Iterator<Item = &Setting> {
        self.settings
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Applied(_)))
    }

    /// The settings that were degraded.
    pub fn degraded(&self) -> impl Iterator<Item = &Setting> {
        self.settings
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Degraded(_)))
    }

    /// Records one setting.
    pub(crate) fn push(
        &mut self,
        name: impl Into<String>,
        requested: impl Into<String>,
        outcome: Outcome,
    ) {
        self.settings.push(Setting {
            name: name.into(),
            requested: requested.into(),
            outcome,
        });
    }
}

impl fmt::Display for TuningReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let degraded = self.degraded().count();
        write!(
            f,
            "tuning profile {}: {} setting(s) requested, {} applied, {degraded} degraded",
            self.profile,
            self.settings.len(),
            self.settings.len() - degraded
        )?;
        for s in &self.settings {
            match &s.outcome {
                Outcome::Applied(now) => {
                    write!(f, "\n  applied   {:<24} {} ({now})", s.name, s.requested)?
                }
                Outcome::Degraded(why) => {
                    write!(f, "\n  degraded  {:<24} {}: {why}", s.name, s.requested)?
                }
            }
        }
        Ok(())
    }
}
