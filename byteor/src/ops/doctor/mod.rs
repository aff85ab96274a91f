//! Host readiness for a [tuning profile](super::profile): one check per host property, each
//! with what the profile requests, what was observed, a status and — when not ok — the reason
//! and the fix. The model is pyperf's `system show`.
//!
//! ```
//! use byteor::ops::doctor::{doctor, DoctorOptions, Readiness};
//! use byteor::ops::profile::TuningProfile;
//!
//! let options = DoctorOptions {
//!     profile: TuningProfile::LowLatency,
//!     threads_needed: Some(5), // 4 stages on one shard, and the producer
//!     ..DoctorOptions::default()
//! };
//! let report = doctor(&options);
//! println!("{report}"); // a table, then `ready`, `degraded` or `failed` for the profile
//! let memlock = report.check("mem.memlock").unwrap();
//! println!("{}: {} (requested: {})", memlock.status, memlock.observed, memlock.requested);
//! let code = report.readiness().exit_code(); // 0 ready, 2 degraded, 1 failed
//! # let _ = (code, Readiness::Ready);
//! ```
//!
//! # Statuses and readiness
//!
//! * `ok` — the host gives what the profile requests (or the profile requests nothing of this
//!   property: the check still reports what it observed).
//! * `degraded` — the pipeline runs, but without what the profile asks: applying the profile
//!   on this host reports the same degradation, and latency suffers.
//! * `failed` — the pipeline cannot run as asked: the plan's shared-memory regions do not fit
//!   in the free space of the shared-memory file system.
//! * `unavailable` — the value could not be read (not Linux, a VM without cpufreq, a masked
//!   `/sys`, ...); the reason names what and why. It never aborts the report.
//!
//! [`Readiness`]: `ready` when every check is `ok` or `unavailable`, `failed` when any check
//! failed, `degraded` otherwise; exit codes 0, 1 and 2 ([`Readiness::exit_code`]).
//!
//! # Checks
//!
//! "—": the profile requests nothing of it; the check is `ok` once its value is read.
//! `T` is [`DoctorOptions::threads_needed`] (stage threads and the producer; 2 when not given:
//! one stage and the producer); `S = max(T − 1, 1)` is the stage threads.
//!
//! | check | reads | `default` | `low-latency` | `isolated-core` |
//! |---|---|---|---|---|
//! | `cpu.cores` | `/sys/devices/system/cpu/online`; `cpuN/topology/core_cpus_list` (or `thread_siblings_list`) to group SMT siblings into physical cores; `Cpus_allowed_list` of `/proc/self/status` | a usable CPU | `T` physical cores, each thread its own | as `low-latency` |
//! | `cpu.isolcpus` | `/sys/devices/system/cpu/isolated` (else `isolcpus=` of `/proc/cmdline`) | — | — | `S` isolated online CPUs |
//! | `cpu.nohz_full` | `/sys/devices/system/cpu/nohz_full` (absent when the kernel lacks `CONFIG_NO_HZ_FULL`; without `/sys`, `nohz_full=` of `/proc/cmdline`) | — | — | covers the isolated CPUs |
//! | `cpu.rcu_nocbs` | `rcu_nocbs=` of `/proc/cmdline`; `nohz_full` CPUs count too (the kernel offloads their callbacks as well) | — | — | covers the isolated CPUs |
//! | `cpu.governor` | `cpuN/cpufreq/scaling_governor` of every online CPU (no `cpufreq`: `unavailable`, as on most VMs) | — | `performance` on every CPU | as `low-latency` |
//! | `cgroup.cpu` | `/proc/self/cgroup`, then `cpu.max` (cgroup v2) or `cpu.cfs_quota_us` / `cpu.cfs_period_us` (v1) of the process's group and its ancestors, the tightest counting | — | no quota, or one of at least `T` CPUs | as `low-latency` |
//! | `mem.memlock` | `getrlimit(RLIMIT_MEMLOCK)`; `CapEff` of `/proc/self/status` (bit 14, `CAP_IPC_LOCK`) | — | `mlockall` permitted: an unlimited soft limit or `CAP_IPC_LOCK` | as `low-latency` |
//! | `mem.thp` | `/sys/kernel/mm/transparent_hugepage/enabled` (the bracketed value) | — | not `always` | as `low-latency` |
//! | `sched.rt` | `getrlimit(RLIMIT_RTPRIO)`; `CapEff` bit 23 (`CAP_SYS_NICE`) | — | — | `SCHED_FIFO` permitted: `CAP_SYS_NICE` or a soft limit of at least 1 |
//! | `shm.space` | `statvfs(2)` of the shared-memory directory (or its nearest existing ancestor) | [`shm_bytes_needed`](DoctorOptions::shm_bytes_needed) free; `failed` if less | as `default` | as `default` |
//! | `shm.remove_ipc` | `/run/systemd/system` (booted with systemd?); `RemoveIPC=` of `/etc/systemd/logind.conf` (or `/usr/lib/systemd/logind.conf`) and its `logind.conf.d/*.conf` drop-ins; the effective uid | — | regions survive logout: `RemoveIPC=no`, or root or a system user | as `low-latency` |
//! | `shm.stale` | the region files of the shared-memory directory whose producers are gone ([`stale_regions`](super::snapshot::stale_regions): what `byteor snapshot --clean` removes) | no region whose producer is gone | as `default` | as `default` |
//!
//! Judgements worth knowing:
//!
//! * Missing isolation (`isolcpus`, `nohz_full`, `rcu_nocbs`) on `isolated-core` is
//!   `degraded`, not `failed`: the profile then pins the stage threads to ordinary CPUs and
//!   says so; the pipeline runs.
//! * `mlockall` permission follows the kernel: `CAP_IPC_LOCK`, or a limit. A finite limit is
//!   `degraded` whatever its size — `mlockall(MCL_CURRENT | MCL_FUTURE)` then fails as soon as
//!   the process (heap, stacks, mapped regions) outgrows it. Root without `CAP_IPC_LOCK` (a
//!   container) is limited like anyone; root is assumed to have it only when the capabilities
//!   cannot be read.
//! * `RemoveIPC` (systemd-logind; default `yes`) removes a regular user's shared-memory files
//!   when the user's last session ends — the regions of a pipeline started from a login
//!   shell included. Root and system users (uid below 1000, the usual `SYS_UID_MAX` of 999)
//!   are exempt; a host not booted with systemd has no logind to do it: `ok`.
//! * A stale region is `degraded` under every profile: it holds shared memory, and a pipeline
//!   creating a region of the same name is refused.
//! * A host value that cannot be read makes its check `unavailable`, with the reason, even
//!   where the profile requests nothing of it.
//!
//! The checks read files under [`Host::root`] (`/` for [`Host::local`]) and take the values
//! only system calls give from [`Host::system`], so [`doctor_on`] runs against a directory of
//! fake `/proc` and `/sys` files as well as against this machine.

mod checks;
mod host;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;

use crate::abi::region::RegionGeometry;
use crate::spec::{PipelineSpecV1, TopologySpec};

use super::profile::TuningProfile;

/// CPU lists as the kernel writes them (`0-3,8`), for [`profile`](super::profile) too.
pub(crate) use host::parse_cpu_list;
pub use host::{FsSpace, Host, Rlimit, SystemFacts, Unreadable};

/// The default shared-memory directory (as
/// [`transport::shm::DEFAULT_SHM_DIR`](crate::transport::shm::DEFAULT_SHM_DIR) on Linux).
#[cfg(all(target_os = "linux", not(loom)))]
pub const DEFAULT_SHM_DIR: &str = crate::transport::shm::DEFAULT_SHM_DIR;
/// The default shared-memory directory.
#[cfg(not(all(target_os = "linux", not(loom))))]
pub const DEFAULT_SHM_DIR: &str = "/dev/shm/byteor";

/// The slot size [`DoctorOptions::with_spec`] assumes when the spec leaves it to the executor
/// (a spec lowered from a plan document does): 64 bytes, one cache line.
pub const ESTIMATED_SLOT_BYTES: u64 = 64;

/// Every check's id, in report order.
pub const CHECK_IDS: [&str; 12] = [
    "cpu.cores",
    "cpu.isolcpus",
    "cpu.nohz_full",
    "cpu.rcu_nocbs",
    "cpu.governor",
    "cgroup.cpu",
    "mem.memlock",
    "mem.thp",
    "sched.rt",
    "shm.space",
    "shm.remove_ipc",
    "shm.stale",
];

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckStatus {
    /// The host gives what the profile requests.
    Ok,
    /// The pipeline runs without what the profile asks.
    Degraded,
    /// The value could not be read.
    Unavailable,
    /// The pipeline cannot run as asked.
    Failed,
}

impl CheckStatus {
    /// `ok`, `degraded`, `unavailable` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Degraded => "degraded",
            CheckStatus::Unavailable => "unavailable",
            CheckStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One host property, judged against a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Stable id: `cpu.cores`, `mem.memlock`, ... (every one in [`CHECK_IDS`]).
    pub id: &'static str,
    /// What it is about, for people: `CPU frequency governor`.
    pub title: &'static str,
    /// What the profile requests (`performance on every CPU`; `not requested`).
    pub requested: String,
    /// What the host has (`powersave on 0-3`; `unknown` when it could not be read).
    pub observed: String,
    /// How it came out.
    pub status: CheckStatus,
    /// Why it is not ok (`None` when ok).
    pub reason: Option<String>,
    /// What to do about it: a command or a setting (`None` when ok).
    pub remediation: Option<String>,
}

/// The whole host, for a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Readiness {
    /// Every check is ok or unavailable.
    Ready,
    /// Some check is degraded, none failed.
    Degraded,
    /// Some check failed.
    Failed,
}

impl Readiness {
    /// `ready`, `degraded` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Ready => "ready",
            Readiness::Degraded => "degraded",
            Readiness::Failed => "failed",
        }
    }

    /// The exit code of `byteor doctor`: 0 ready, 2 degraded, 1 failed.
    pub fn exit_code(self) -> u8 {
        match self {
            Readiness::Ready => 0,
            Readiness::Degraded => 2,
            Readiness::Failed => 1,
        }
    }
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What to check the host for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorOptions {
    /// The profile the host is judged against.
    pub profile: TuningProfile,
    /// The shared-memory directory (default [`DEFAULT_SHM_DIR`]).
    pub shm_dir: PathBuf,
    /// Bytes of shared memory the pipeline's regions take (`None`: not known; the space is
    /// reported, not judged).
    pub shm_bytes_needed: Option<u64>,
    /// Threads the pipeline runs: stage threads and the producer (`None`: 2).
    pub threads_needed: Option<usize>,
}

impl Default for DoctorOptions {
    /// The `default` profile, [`DEFAULT_SHM_DIR`], no known needs.
    fn default() -> Self {
        DoctorOptions {
            profile: TuningProfile::Default,
            shm_dir: PathBuf::from(DEFAULT_SHM_DIR),
            shm_bytes_needed: None,
            threads_needed: None,
        }
    }
}

impl DoctorOptions {
    /// These options for the pipeline `spec` describes:
    ///
    /// * SingleRing: `stages × shards + 1` threads (each shard runs every stage on a thread of
    ///   its own; the producer); shared memory for one region per shard, each the
    ///   [`RegionGeometry`] of its capacity, stages and slot size — the spec's slot size when
    ///   set, [`ESTIMATED_SLOT_BYTES`] when left to the executor (as in a spec lowered from a
    ///   plan document), so an estimate for larger events.
    /// * LaneGraph: one thread per role and the producer; no shared memory (in one process its
    ///   lanes are in process memory; split over processes, only the lanes between them are
    ///   regions).
    pub fn with_spec(mut self, spec: &PipelineSpecV1) -> Self {
        match &spec.topology {
            TopologySpec::SingleRing(ring) => {
                let stages = spec.stages.len();
                let shards = ring.shards.max(1) as usize;
                self.threads_needed = Some(stages.saturating_mul(shards).saturating_add(1));
                let slot = match u64::from(ring.slot.size) {
                    0 => ESTIMATED_SLOT_BYTES,
                    size => size,
                };
                self.shm_bytes_needed =
                    RegionGeometry::new(u64::from(ring.capacity), slot, stages as u64)
                        .map(|g| g.region_bytes.saturating_mul(shards as u64));
            }
            TopologySpec::LaneGraph(graph) => {
                self.threads_needed = Some(graph.roles.len().saturating_add(1));
                self.shm_bytes_needed = None;
            }
        }
        self
    }
}

/// Every check, for one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorReport {
    /// The profile the host was judged against.
    pub profile: TuningProfile,
    /// One per id of [`CHECK_IDS`], in that order.
    pub checks: Vec<Check>,
}

impl DoctorReport {
    /// `ready` when every check is ok or unavailable, `failed` when any failed, `degraded`
    /// otherwise.
    pub fn readiness(&self) -> Readiness {
        let any = |s: CheckStatus| self.checks.iter().any(|c| c.status == s);
        if any(CheckStatus::Failed) {
            Readiness::Failed
        } else if any(CheckStatus::Degraded) {
            Readiness::Degraded
        } else {
            Readiness::Ready
        }
    }

    /// The check `id` (`"mem.thp"`).
    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// How many checks came out `status`.
    pub fn count(&self, status: CheckStatus) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

impl fmt::Display for DoctorReport {
    /// A table — status, check, observed, requested — with the reason and the fix under each
    /// check that is not ok, then the readiness line:
    ///
    /// ```text
    /// STATUS       CHECK           OBSERVED                      REQUESTED
    /// ok           cpu.cores       4 CPUs (0-3), 4 cores, no SMT 2 physical cores, one per thread
    /// degraded     mem.thp         always                        madvise or never
    ///                reason: ...
    ///                fix: ...
    /// degraded for profile low-latency: 10 ok, 1 degraded, 1 unavailable
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Observed texts longer than this push their line's requested column right.
        const OBSERVED_MAX: usize = 56;
        let id_width = self.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
        let observed_width = self
            .checks
            .iter()
            .map(|c| c.observed.chars().count())
            .filter(|&n| n <= OBSERVED_MAX)
            .max()
            .unwrap_or(0)
            .max("OBSERVED".len());
        writeln!(
            f,
            "{:<11}  {:<id_width$}  {:<observed_width$}  REQUESTED",
            "STATUS", "CHECK", "OBSERVED"
        )?;
        for c in &self.checks {
            writeln!(
                f,
                "{:<11}  {:<id_width$}  {:<observed_width$}  {}",
                c.status, c.id, c.observed, c.requested
            )?;
            let indent = 11 + 2 + 2;
            if let Some(reason) = &c.reason {
                writeln!(f, "{:indent$}reason: {reason}", "")?;
            }
            if let Some(fix) = &c.remediation {
                writeln!(f, "{:indent$}fix: {fix}", "")?;
            }
        }
        let mut counts = Vec::new();
        for status in [
            CheckStatus::Ok,
            CheckStatus::Degraded,
            CheckStatus::Failed,
            CheckStatus::Unavailable,
        ] {
            let n = self.count(status);
            if n > 0 {
                counts.push(format!("{n} {status}"));
            }
        }
        writeln!(
            f,
            "{} for profile {}: {}",
            self.readiness(),
            self.profile,
            counts.join(", ")
        )
    }
}

/// Checks this machine (files under `/`, this process's limits and capabilities) for
/// `options`.
pub fn doctor(options: &DoctorOptions) -> DoctorReport {
    doctor_on(&Host::local(), options)
}

/// Checks `host` for `options`. Never fails and never panics: a value that cannot be read
/// makes its check `unavailable`; the report has every check of [`CHECK_IDS`].
pub fn doctor_on(host: &Host, options: &DoctorOptions) -> DoctorReport {
    DoctorReport {
        profile: options.profile,
        checks: checks::run(host, options),
    }
}
