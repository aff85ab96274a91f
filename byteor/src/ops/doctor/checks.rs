//! The checks: each reads what it needs from the [`Host`] and judges it against the profile.
//! What each reads and requests is tabled in the [module docs](super).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::host::{bytes, format_cpu_list, parse_cpu_list, Cmdline, Host, Rlimit, Unreadable};
use super::{Check, CheckStatus, DoctorOptions, DEFAULT_SHM_DIR};
use crate::ops::profile::TuningProfile;

/// Threads assumed when [`DoctorOptions::threads_needed`] is not given: a stage and the
/// producer.
const DEFAULT_THREADS: usize = 2;
/// `CAP_IPC_LOCK`'s bit in `CapEff`: lock memory beyond `RLIMIT_MEMLOCK`.
const CAP_IPC_LOCK: u32 = 14;
/// `CAP_SYS_NICE`'s bit in `CapEff`: real-time scheduling beyond `RLIMIT_RTPRIO`.
const CAP_SYS_NICE: u32 = 23;
/// The highest system user id on most distributions (`SYS_UID_MAX` of `login.defs`);
/// systemd-logind's `RemoveIPC` spares system users.
const SYS_UID_MAX: u32 = 999;
/// What a profile that asks nothing of a property requests.
const NOT_REQUESTED: &str = "not requested";

/// Runs every check, in [`CHECK_IDS`](super::CHECK_IDS) order.
pub(super) fn run(host: &Host, options: &DoctorOptions) -> Vec<Check> {
    let ctx = Ctx::new(host, options);
    vec![
        cores(&ctx),
        isolcpus(&ctx),
        nohz_full(&ctx),
        rcu_nocbs(&ctx),
        governor(&ctx),
        cgroup_cpu(&ctx),
        memlock(&ctx),
        thp(&ctx),
        sched_rt(&ctx),
        shm_space(&ctx),
        remove_ipc(&ctx),
        stale(&ctx),
    ]
}

/// What several checks share, read once.
struct Ctx<'a> {
    host: &'a Host,
    options: &'a DoctorOptions,
    profile: TuningProfile,
    /// Threads the pipeline runs (stages and the producer).
    threads: usize,
    /// Online CPUs.
    online: Result<BTreeSet<u32>, Unreadable>,
    /// `/proc/self/status`.
    status: Result<ProcStatus, Unreadable>,
    /// `/proc/cmdline`.
    cmdline: Result<Cmdline, Unreadable>,
    /// Isolated CPUs.
    isolated: Result<BTreeSet<u32>, Unreadable>,
    /// `nohz_full` CPUs; `None` when the kernel is built without `CONFIG_NO_HZ_FULL`.
    nohz_full: Result<Option<BTreeSet<u32>>, Unreadable>,
}

impl<'a> Ctx<'a> {
    fn new(host: &'a Host, options: &'a DoctorOptions) -> Self {
        let online = host
            .read("/sys/devices/system/cpu/online")
            .and_then(|t| parse_cpu_list(&t).map_err(Unreadable::new));
        let status = host
            .read("/proc/self/status")
            .map(|t| ProcStatus::parse(&t));
        let cmdline = host.read("/proc/cmdline").map(|t| Cmdline::parse(&t));
        let isolated = match host.read("/sys/devices/system/cpu/isolated") {
            Ok(text) => parse_cpu_list(&text).map_err(Unreadable::new),
            Err(e) => match &cmdline {
                Ok(c) => isolcpus_param(c).map_err(Unreadable::new),
                Err(_) => Err(e),
            },
        };
        let nohz_path = "/sys/devices/system/cpu/nohz_full";
        let nohz_full = match host.read(nohz_path) {
            Ok(text) => parse_cpu_list(&text).map(Some).map_err(Unreadable::new),
            // `/sys` is there and the file is not: the kernel has no `CONFIG_NO_HZ_FULL`.
            Err(_) if online.is_ok() && !host.exists(nohz_path) => Ok(None),
            Err(e) => match &cmdline {
                Ok(c) => cpu_param(c, "nohz_full").map(Some).map_err(Unreadable::new),
                Err(_) => Err(e),
            },
        };
        Ctx {
            host,
            options,
            profile: options.profile,
            threads: options.threads_needed.unwrap_or(DEFAULT_THREADS).max(1),
            online,
            status,
            cmdline,
            isolated,
            nohz_full,
        }
    }

    /// Whether the profile spins pinned threads (every profile but `default`).
    fn low_latency(&self) -> bool {
        self.profile.pins_threads()
    }

    /// Stage threads: every thread but the producer, at least one.
    fn stage_threads(&self) -> usize {
        self.threads.saturating_sub(1).max(1)
    }

    /// `CapEff`.
    fn cap_eff(&self) -> Result<u64, Unreadable> {
        match &self.status {
            Ok(s) => s
                .cap_eff
                .ok_or_else(|| Unreadable::new("no CapEff in /proc/self/status")),
            Err(e) => Err(e.clone()),
        }
    }

    /// Whether the process has capability `bit`; `None` when unknown.
    fn has_cap(&self, bit: u32) -> Option<bool> {
        self.cap_eff().ok().map(|caps| caps & (1 << bit) != 0)
    }

    fn is_root(&self) -> bool {
        self.host.system.euid == Ok(0)
    }

    /// The CPUs to isolate for `k` stage threads: the isolated ones when there are enough,
    /// otherwise the last `k` online CPUs but the first (left to housekeeping).
    fn suggested_cpus(&self, k: usize) -> String {
        if let Ok(isolated) = &self.isolated {
            if isolated.len() >= k {
                return format_cpu_list(isolated);
            }
        }
        match &self.online {
            Ok(online) if online.len() > 1 => {
                let first = online.iter().next().copied();
                let picked: BTreeSet<u32> = online
                    .iter()
                    .rev()
                    .filter(|&&c| Some(c) != first)
                    .take(k)
                    .copied()
                    .collect();
                format_cpu_list(&picked)
            }
            _ if k <= 1 => "1".to_owned(),
            _ => format!("1-{k}"),
        }
    }

    /// The isolated CPUs' list, for "covers the isolated CPUs (2-3)".
    fn isolated_nonempty(&self) -> Option<&BTreeSet<u32>> {
        self.isolated.as_ref().ok().filter(|s| !s.is_empty())
    }
}

/// The fields of `/proc/self/status` the checks use.
#[derive(Debug, Default)]
struct ProcStatus {
    cap_eff: Option<u64>,
    cpus_allowed: Option<BTreeSet<u32>>,
}

impl ProcStatus {
    fn parse(text: &str) -> Self {
        let mut status = ProcStatus::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key {
                "CapEff" => status.cap_eff = u64::from_str_radix(value, 16).ok(),
                "Cpus_allowed_list" => status.cpus_allowed = parse_cpu_list(value).ok(),
                _ => {}
            }
        }
        status
    }
}

/// A cpu-list parameter of the kernel command line (absent: empty).
fn cpu_param(cmdline: &Cmdline, key: &str) -> Result<BTreeSet<u32>, String> {
    match cmdline.get(key) {
        Some(Some(list)) => parse_cpu_list(list),
        _ => Ok(BTreeSet::new()),
    }
}

/// `isolcpus=[flag,...,]cpu-list` (flags: `nohz`, `domain`, `managed_irq`).
fn isolcpus_param(cmdline: &Cmdline) -> Result<BTreeSet<u32>, String> {
    let Some(Some(value)) = cmdline.get("isolcpus") else {
        return Ok(BTreeSet::new());
    };
    let list: Vec<&str> = value
        .split(',')
        .filter(|part| !part.chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
        .collect();
    parse_cpu_list(&list.join(","))
}

/// A check with its title, `ok` until judged otherwise.
fn check(id: &'static str, requested: impl Into<String>, observed: impl Into<String>) -> Check {
    Check {
        id,
        title: title(id),
        requested: requested.into(),
        observed: observed.into(),
        status: CheckStatus::Ok,
        reason: None,
        remediation: None,
    }
}

/// A check whose value could not be read.
fn unavailable(
    id: &'static str,
    requested: impl Into<String>,
    why: &Unreadable,
    fix: impl Into<String>,
) -> Check {
    check(id, requested, "unknown").judged(CheckStatus::Unavailable, why.to_string(), fix)
}

impl Check {
    fn judged(
        mut self,
        status: CheckStatus,
        reason: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        self.status = status;
        self.reason = Some(reason.into());
        self.remediation = Some(fix.into());
        self
    }

    fn degraded(self, reason: impl Into<String>, fix: impl Into<String>) -> Self {
        self.judged(CheckStatus::Degraded, reason, fix)
    }
}

fn title(id: &str) -> &'static str {
    match id {
        "cpu.cores" => "CPU cores",
        "cpu.isolcpus" => "isolated CPUs (isolcpus)",
        "cpu.nohz_full" => "tickless CPUs (nohz_full)",
        "cpu.rcu_nocbs" => "RCU callbacks offloaded (rcu_nocbs)",
        "cpu.governor" => "CPU frequency governor",
        "cgroup.cpu" => "cgroup CPU quota",
        "mem.memlock" => "locked memory (mlockall)",
        "mem.thp" => "transparent huge pages",
        "sched.rt" => "real-time scheduling (SCHED_FIFO)",
        "shm.space" => "shared-memory space",
        "shm.remove_ipc" => "systemd-logind RemoveIPC",
        "shm.stale" => "stale shared-memory regions",
        _ => "",
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

const MOUNT_SYSFS: &str =
    "mount sysfs at /sys (in a container: do not mask /sys/devices/system/cpu)";

// ---------------------------------------------------------------------------------------------
// cpu.*

fn cores(ctx: &Ctx<'_>) -> Check {
    let id = "cpu.cores";
    let t = ctx.threads;
    let requested = if !ctx.low_latency() {
        "a usable CPU".to_owned()
    } else if ctx.options.threads_needed.is_some() {
        format!(
            "{}, one per thread",
            plural(t, "physical core", "physical cores")
        )
    } else {
        format!(
            "{}, one per thread (a stage and the producer)",
            plural(t, "physical core", "physical cores")
        )
    };
    let online = match &ctx.online {
        Ok(online) => online,
        Err(e) => return unavailable(id, requested, e, MOUNT_SYSFS),
    };
    let allowed = ctx
        .status
        .as_ref()
        .ok()
        .and_then(|s| s.cpus_allowed.as_ref());
    let usable: BTreeSet<u32> = match allowed {
        Some(allowed) => online.intersection(allowed).copied().collect(),
        None => online.clone(),
    };
    if usable.is_empty() {
        return check(id, requested, "no usable CPU").judged(
            CheckStatus::Failed,
            format!(
                "no online CPU ({}) is in this process's Cpus_allowed_list",
                format_cpu_list(online)
            ),
            "run the pipeline with an affinity (taskset, cpuset) that includes online CPUs",
        );
    }
    // Physical cores: the distinct sibling groups of the usable CPUs.
    let mut groups: BTreeSet<String> = BTreeSet::new();
    let mut topology_known = true;
    let mut smt = false;
    for cpu in &usable {
        let base = format!("/sys/devices/system/cpu/cpu{cpu}/topology");
        let siblings = ctx
            .host
            .read(&format!("{base}/core_cpus_list"))
            .or_else(|_| ctx.host.read(&format!("{base}/thread_siblings_list")));
        match siblings.ok().and_then(|t| parse_cpu_list(&t).ok()) {
            Some(set) if !set.is_empty() => {
                smt |= set.len() > 1;
                groups.insert(format_cpu_list(&set));
            }
            _ => topology_known = false,
        }
    }
    let cpus = if usable.len() == online.len() {
        format!(
            "{} ({})",
            plural(usable.len(), "CPU", "CPUs"),
            format_cpu_list(&usable)
        )
    } else {
        format!(
            "{} of {} online CPUs allowed ({})",
            usable.len(),
            online.len(),
            format_cpu_list(&usable)
        )
    };
    let (physical, observed) = if topology_known {
        let smt = if smt { "SMT on" } else { "no SMT" };
        let cores = plural(groups.len(), "physical core", "physical cores");
        (groups.len(), format!("{cpus}, {cores}, {smt}"))
    } else {
        (
            usable.len(),
            format!("{cpus}; topology unreadable, each counted as a core"),
        )
    };
    let c = check(id, requested, observed);
    if !ctx.low_latency() || physical >= t {
        return c;
    }
    let reason = if topology_known && usable.len() >= t {
        format!(
            "{} for {t} threads: some would spin on SMT siblings of one core, sharing its \
             execution units",
            plural(physical, "physical core", "physical cores"),
        )
    } else {
        format!(
            "{} for {t} spinning threads: they would share CPUs and take turns",
            plural(physical, "core", "cores"),
        )
    };
    c.degraded(
        reason,
        format!(
            "run on a host (or give the container) at least {t} physical cores, or run a plan \
             with fewer stages or shards"
        ),
    )
}

fn isolcpus(ctx: &Ctx<'_>) -> Check {
    let id = "cpu.isolcpus";
    let k = ctx.stage_threads();
    let wanted = ctx.profile.isolated_cpus();
    let requested = if wanted {
        format!(
            "{} for the stage threads",
            plural(k, "isolated CPU", "isolated CPUs")
        )
    } else {
        NOT_REQUESTED.to_owned()
    };
    let isolated = match &ctx.isolated {
        Ok(isolated) => isolated,
        Err(e) => return unavailable(id, requested, e, MOUNT_SYSFS),
    };
    let observed = if isolated.is_empty() {
        "none".to_owned()
    } else {
        format!(
            "{} ({})",
            format_cpu_list(isolated),
            plural(isolated.len(), "CPU", "CPUs")
        )
    };
    let c = check(id, requested, observed);
    let usable: BTreeSet<u32> = match &ctx.online {
        Ok(online) => isolated.intersection(online).copied().collect(),
        Err(_) => isolated.clone(),
    };
    if !wanted || usable.len() >= k {
        return c;
    }
    let reason = if usable.is_empty() {
        "no CPU is isolated: the stage threads would share their CPUs with every other task \
         and the kernel's housekeeping"
            .to_owned()
    } else {
        format!(
            "{} online ({}) for {k} stage threads",
            plural(usable.len(), "isolated CPU is", "isolated CPUs are"),
            format_cpu_list(&usable)
        )
    };
    let cpus = ctx.suggested_cpus(k);
    c.degraded(reason, kernel_cmdline_fix(&cpus))
}

/// Setting the isolation parameters for `cpus`.
fn kernel_cmdline_fix(cpus: &str) -> String {
    format!(
        "set `isolcpus={cpus} nohz_full={cpus} rcu_nocbs={cpus}` on the kernel command line \
         (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub or grub2-mkconfig) and \
         reboot"
    )
}

/// What the isolation checks of `nohz_full` and `rcu_nocbs` request.
fn covers_isolated(ctx: &Ctx<'_>) -> String {
    if !ctx.profile.isolated_cpus() {
        return NOT_REQUESTED.to_owned();
    }
    match ctx.isolated_nonempty() {
        Some(isolated) => format!("covers the isolated CPUs ({})", format_cpu_list(isolated)),
        None => "covers the stage threads' CPUs".to_owned(),
    }
}

/// The isolated CPUs `set` lacks (all of them when there are none).
fn missing_isolated(ctx: &Ctx<'_>, set: &BTreeSet<u32>) -> Option<BTreeSet<u32>> {
    match ctx.isolated_nonempty() {
        Some(isolated) => {
            let missing: BTreeSet<u32> = isolated.difference(set).copied().collect();
            (!missing.is_empty()).then_some(missing)
        }
        None => set.is_empty().then(BTreeSet::new),
    }
}

fn nohz_full(ctx: &Ctx<'_>) -> Check {
    let id = "cpu.nohz_full";
    let requested = covers_isolated(ctx);
    let cpus = ctx.suggested_cpus(ctx.stage_threads());
    let nohz = match &ctx.nohz_full {
        Ok(nohz) => nohz,
        Err(e) => return unavailable(id, requested, e, MOUNT_SYSFS),
    };
    let Some(set) = nohz else {
        let c = check(
            id,
            requested,
            "unsupported: kernel without CONFIG_NO_HZ_FULL",
        );
        if !ctx.profile.isolated_cpus() {
            return c;
        }
        return c.degraded(
            "this kernel cannot stop the scheduler tick: it interrupts the stage threads' \
             CPUs up to 1000 times a second",
            format!(
                "boot a kernel built with CONFIG_NO_HZ_FULL=y, with `nohz_full={cpus}` on its \
                 command line"
            ),
        );
    };
    let observed = if set.is_empty() {
        "none".to_owned()
    } else {
        format_cpu_list(set)
    };
    let c = check(id, requested, observed);
    if !ctx.profile.isolated_cpus() {
        return c;
    }
    match missing_isolated(ctx, set) {
        None => c,
        Some(missing) if missing.is_empty() => c.degraded(
            "no CPU runs tickless: the scheduler tick interrupts the stage threads up to 1000 \
             times a second",
            format!("add `nohz_full={cpus}` to the kernel command line and reboot"),
        ),
        Some(missing) => c.degraded(
            format!(
                "isolated CPUs {} are not tickless: the scheduler tick interrupts them",
                format_cpu_list(&missing)
            ),
            format!("add `nohz_full={cpus}` to the kernel command line and reboot"),
        ),
    }
}

fn rcu_nocbs(ctx: &Ctx<'_>) -> Check {
    let id = "cpu.rcu_nocbs";
    let requested = covers_isolated(ctx);
    let cpus = ctx.suggested_cpus(ctx.stage_threads());
    let cmdline = match &ctx.cmdline {
        Ok(cmdline) => cmdline,
        Err(e) => {
            return unavailable(
                id,
                requested,
                e,
                "mount procfs at /proc (rcu_nocbs is read from /proc/cmdline)",
            )
        }
    };
    let explicit = match cpu_param(cmdline, "rcu_nocbs") {
        Ok(set) => set,
        Err(e) => {
            return unavailable(
                id,
                requested,
                &Unreadable::new(format!("rcu_nocbs of /proc/cmdline: {e}")),
                "give rcu_nocbs a CPU list (`rcu_nocbs=2-3`)",
            )
        }
    };
    let implied = match &ctx.nohz_full {
        Ok(Some(set)) => set.clone(),
        _ => BTreeSet::new(),
    };
    let all: BTreeSet<u32> = explicit.union(&implied).copied().collect();
    let observed = match (explicit.is_empty(), implied.is_empty()) {
        (true, true) => "none".to_owned(),
        (false, true) => format!("{} (rcu_nocbs=)", format_cpu_list(&all)),
        (true, false) => format!("{} (implied by nohz_full)", format_cpu_list(&all)),
        (false, false) => format!("{} (rcu_nocbs= and nohz_full)", format_cpu_list(&all)),
    };
    let c = check(id, requested, observed);
    if !ctx.profile.isolated_cpus() {
        return c;
    }
    let fix = format!(
        "add `rcu_nocbs={cpus}` to the kernel command line (a kernel built with \
         CONFIG_RCU_NOCB_CPU=y) and reboot"
    );
    match missing_isolated(ctx, &all) {
        None => c,
        Some(missing) if missing.is_empty() => c.degraded(
            "no CPU has its RCU callbacks offloaded: they run on the stage threads' CPUs",
            fix,
        ),
        Some(missing) => c.degraded(
            format!(
                "isolated CPUs {} run their own RCU callbacks",
                format_cpu_list(&missing)
            ),
            fix,
        ),
    }
}

fn governor(ctx: &Ctx<'_>) -> Check {
    let id = "cpu.governor";
    let requested = if ctx.low_latency() {
        "performance on every CPU"
    } else {
        NOT_REQUESTED
    };
    let cpus: Vec<u32> = match &ctx.online {
        Ok(online) => online.iter().copied().collect(),
        Err(e) => match ctx.host.list("/sys/devices/system/cpu") {
            Ok(names) => names
                .iter()
                .filter_map(|n| n.strip_prefix("cpu")?.parse().ok())
                .collect(),
            Err(_) => return unavailable(id, requested, e, MOUNT_SYSFS),
        },
    };
    let mut by_governor: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    let mut unknown = BTreeSet::new();
    let mut first_error = None;
    for cpu in cpus {
        match ctx.host.read(&format!(
            "/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor"
        )) {
            Ok(g) => {
                by_governor
                    .entry(g.trim().to_owned())
                    .or_default()
                    .insert(cpu);
            }
            Err(e) => {
                unknown.insert(cpu);
                first_error.get_or_insert(e);
            }
        }
    }
    if by_governor.is_empty() {
        let why = first_error.unwrap_or_else(|| Unreadable::new("no CPU listed"));
        return unavailable(
            id,
            requested,
            &Unreadable::new(format!(
                "no cpufreq: {why} (a VM, or a kernel without a cpufreq driver: the clock is \
                 not this kernel's to set)"
            )),
            "on a VM, set the governor on the hypervisor's host (`cpupower frequency-set -g \
             performance` there); on bare metal, load a cpufreq driver (intel_pstate, \
             amd-pstate or acpi-cpufreq)",
        );
    }
    let mut parts: Vec<String> = by_governor
        .iter()
        .map(|(g, set)| format!("{g} on {}", format_cpu_list(set)))
        .collect();
    if !unknown.is_empty() {
        parts.push(format!("unknown on {}", format_cpu_list(&unknown)));
    }
    let c = check(id, requested, parts.join("; "));
    let slow: Vec<String> = by_governor
        .iter()
        .filter(|(g, _)| g.as_str() != "performance")
        .map(|(g, set)| format!("`{g}` on {}", format_cpu_list(set)))
        .collect();
    if !ctx.low_latency() || slow.is_empty() {
        return c;
    }
    c.degraded(
        format!(
            "{}: the clock follows the load, so latency varies with frequency changes",
            slow.join(", ")
        ),
        "`sudo cpupower frequency-set -g performance` (or `echo performance | sudo tee \
         /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor`)",
    )
}

// ---------------------------------------------------------------------------------------------
// cgroup.cpu

/// A CPU quota: `quota` µs of CPU time every `period` µs.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Quota {
    quota: u64,
    period: u64,
}

impl Quota {
    fn cpus(self) -> f64 {
        self.quota as f64 / self.period.max(1) as f64
    }
}

/// The process's tightest CPU quota (`None`: no quota), with the cgroup version and group.
fn cgroup_quota(host: &Host) -> Result<(Option<Quota>, u8, String), Unreadable> {
    let text = host.read("/proc/self/cgroup")?;
    let mut v2_group = None;
    let mut v1 = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(hierarchy), Some(controllers), Some(group)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if hierarchy == "0" && controllers.is_empty() {
            v2_group = Some(group.to_owned());
        } else if controllers.split(',').any(|c| c == "cpu") {
            v1 = Some((controllers.to_owned(), group.to_owned()));
        }
    }
    let mount = "/sys/fs/cgroup";
    if let Some(group) = &v2_group {
        if host.exists(&format!("{mount}/cgroup.controllers")) {
            let mut tightest: Option<Quota> = None;
            for dir in group_dirs(host, mount, group) {
                let path = format!("{dir}/cpu.max");
                if !host.exists(&path) {
                    continue;
                }
                let text = host.read(&path)?;
                let mut words = text.split_whitespace();
                let (quota, period) = (words.next(), words.next());
                let quota = match quota {
                    Some("max") => continue,
                    Some(q) => q.parse::<u64>().ok(),
                    None => None,
                };
                let period = period.map_or(Some(100_000), |p| p.parse::<u64>().ok());
                let (Some(quota), Some(period)) = (quota, period) else {
                    return Err(Unreadable::new(format!(
                        "{path}: `{}` is not a CPU quota",
                        text.trim()
                    )));
                };
                tighten(&mut tightest, Quota { quota, period });
            }
            return Ok((tightest, 2, group.clone()));
        }
    }
    let Some((controllers, group)) = v1 else {
        return Err(Unreadable::new(if v2_group.is_some() {
            "no cpu controller: /proc/self/cgroup names no cgroup v1 cpu hierarchy and cgroup v2 \
             is not mounted at /sys/fs/cgroup"
        } else {
            "no cpu controller in /proc/self/cgroup"
        }));
    };
    let candidates = [
        format!("{mount}/{controllers}"),
        format!("{mount}/cpu"),
        format!("{mount}/cpu,cpuacct"),
        format!("{mount}/cpuacct,cpu"),
    ];
    let Some(v1_mount) = candidates.iter().find(|m| host.exists(m)) else {
        return Err(Unreadable::new(format!(
            "the cgroup v1 cpu hierarchy is not mounted under {mount}"
        )));
    };
    let mut tightest: Option<Quota> = None;
    let mut read_any = false;
    for dir in group_dirs(host, v1_mount, &group) {
        let quota_path = format!("{dir}/cpu.cfs_quota_us");
        if !host.exists(&quota_path) {
            continue;
        }
        let quota = host.read(&quota_path)?;
        read_any = true;
        let quota: i64 = quota.trim().parse().map_err(|_| {
            Unreadable::new(format!("{quota_path}: `{}` is not a quota", quota.trim()))
        })?;
        let Ok(quota) = u64::try_from(quota) else {
            continue; // -1: no quota
        };
        let period_path = format!("{dir}/cpu.cfs_period_us");
        let period = host.read(&period_path)?;
        let period: u64 = period.trim().parse().map_err(|_| {
            Unreadable::new(format!(
                "{period_path}: `{}` is not a period",
                period.trim()
            ))
        })?;
        tighten(&mut tightest, Quota { quota, period });
    }
    if !read_any {
        return Err(Unreadable::new(format!(
            "cannot read {v1_mount}/cpu.cfs_quota_us: No such file or directory"
        )));
    }
    Ok((tightest, 1, group))
}

fn tighten(tightest: &mut Option<Quota>, quota: Quota) {
    if tightest.is_none_or(|t| quota.cpus() < t.cpus()) {
        *tightest = Some(quota);
    }
}

/// The group's directory under `mount` and each ancestor's, deepest first, ending with the
/// mount; only the mount when the group's directory is not there (a container's own view,
/// whose root is its group).
fn group_dirs(host: &Host, mount: &str, group: &str) -> Vec<String> {
    let mut dirs = Vec::new();
    let group = group.trim_matches('/');
    if !group.is_empty() && host.exists(&format!("{mount}/{group}")) {
        let mut parts: Vec<&str> = group.split('/').collect();
        while !parts.is_empty() {
            dirs.push(format!("{mount}/{}", parts.join("/")));
            parts.pop();
        }
    }
    dirs.push(mount.to_owned());
    dirs
}

/// `1.5`, `2`, `0.25`.
fn cpus_text(cpus: f64) -> String {
    let text = format!("{cpus:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn cgroup_cpu(ctx: &Ctx<'_>) -> Check {
    let id = "cgroup.cpu";
    let t = ctx.threads;
    let requested = if ctx.low_latency() {
        format!("no quota, or one of at least {}", plural(t, "CPU", "CPUs"))
    } else {
        NOT_REQUESTED.to_owned()
    };
    let (quota, version, group) = match cgroup_quota(ctx.host) {
        Ok(found) => found,
        Err(e) => {
            return unavailable(
                id,
                requested,
                &e,
                "mount the cgroup file system at /sys/fs/cgroup (and procfs at /proc)",
            )
        }
    };
    let Some(quota) = quota else {
        return check(
            id,
            requested,
            format!("no quota (cgroup v{version} {group})"),
        );
    };
    let cpus = quota.cpus();
    let c = check(
        id,
        requested,
        format!(
            "{} CPUs ({} µs every {} µs, cgroup v{version} {group})",
            cpus_text(cpus),
            quota.quota,
            quota.period
        ),
    );
    if !ctx.low_latency() || cpus >= t as f64 {
        return c;
    }
    c.degraded(
        format!(
            "a quota of {} CPUs for {t} spinning threads: once they have used it, the kernel \
             stops the whole group for the rest of each {} µs period",
            cpus_text(cpus),
            quota.period
        ),
        format!(
            "raise the CPU limit to at least {t} or remove it (`docker run --cpus {t}`, \
             Kubernetes `resources.limits.cpu: \"{t}\"`, systemd `CPUQuota={}%`)",
            t * 100
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// mem.*, sched.rt

fn limit_text(limit: Option<u64>, unit: impl Fn(u64) -> String) -> String {
    match limit {
        None => "unlimited".to_owned(),
        Some(n) => unit(n),
    }
}

fn memlock(ctx: &Ctx<'_>) -> Check {
    let id = "mem.memlock";
    let wanted = ctx.profile.locks_memory();
    let requested = if wanted {
        "mlockall permitted: RLIMIT_MEMLOCK unlimited or CAP_IPC_LOCK"
    } else {
        NOT_REQUESTED
    };
    let limit: Rlimit = match &ctx.host.system.memlock {
        Ok(limit) => *limit,
        Err(e) => {
            return unavailable(
                id,
                requested,
                e,
                "check `ulimit -l` in the environment that starts the pipeline",
            )
        }
    };
    let cap = ctx.has_cap(CAP_IPC_LOCK);
    let soft = limit_text(limit.soft, bytes);
    let hard = limit_text(limit.hard, bytes);
    let observed = format!(
        "RLIMIT_MEMLOCK {soft} (hard {hard}), CAP_IPC_LOCK {}",
        yes_no(cap)
    );
    let permitted = limit.soft.is_none() || cap == Some(true) || (cap.is_none() && ctx.is_root());
    let c = check(id, requested, observed);
    if !wanted || permitted {
        return c;
    }
    let lacks = match ctx.cap_eff() {
        Ok(_) => "the process lacks CAP_IPC_LOCK".to_owned(),
        Err(e) => format!("CAP_IPC_LOCK is unknown ({e})"),
    };
    let fix = if limit.hard.is_none() {
        "`ulimit -l unlimited` before starting the pipeline (the hard limit allows it), or \
         `LimitMEMLOCK=infinity` in its systemd unit"
            .to_owned()
    } else {
        "`LimitMEMLOCK=infinity` in the systemd unit, `<user> - memlock unlimited` in \
         /etc/security/limits.conf (then log in again), `--ulimit memlock=-1` for Docker, or \
         grant CAP_IPC_LOCK (`AmbientCapabilities=CAP_IPC_LOCK`)"
            .to_owned()
    };
    c.degraded(
        format!(
            "RLIMIT_MEMLOCK is {soft} and {lacks}: mlockall(MCL_CURRENT | MCL_FUTURE) fails \
             once the process maps more than {soft}, and its pages may be swapped or faulted \
             in on the hot path"
        ),
        fix,
    )
}

fn thp(ctx: &Ctx<'_>) -> Check {
    let id = "mem.thp";
    let requested = if ctx.low_latency() {
        "madvise or never"
    } else {
        NOT_REQUESTED
    };
    let text = match ctx.host.read("/sys/kernel/mm/transparent_hugepage/enabled") {
        Ok(text) => text,
        Err(e) => {
            return unavailable(
                id,
                requested,
                &e,
                "nothing to do if the kernel has no transparent huge pages (they cannot be \
                 `always` then); otherwise mount sysfs at /sys",
            )
        }
    };
    let text = text.trim();
    let mode = match (text.find('['), text.find(']')) {
        (Some(a), Some(b)) if a < b => &text[a + 1..b],
        _ => text,
    };
    let c = check(id, requested, mode);
    if !ctx.low_latency() || mode != "always" {
        return c;
    }
    c.degraded(
        "transparent huge pages `always`: page faults may stall on compaction, and khugepaged \
         collapses pages under the running threads",
        "`echo madvise | sudo tee /sys/kernel/mm/transparent_hugepage/enabled` (at boot: \
         `transparent_hugepage=madvise` on the kernel command line)",
    )
}

fn sched_rt(ctx: &Ctx<'_>) -> Check {
    let id = "sched.rt";
    let wanted = ctx.profile.real_time();
    let requested = if wanted {
        "SCHED_FIFO permitted: CAP_SYS_NICE or RLIMIT_RTPRIO of at least 1"
    } else {
        NOT_REQUESTED
    };
    let limit: Rlimit = match &ctx.host.system.rtprio {
        Ok(limit) => *limit,
        Err(e) => {
            return unavailable(
                id,
                requested,
                e,
                "check `ulimit -r` in the environment that starts the pipeline",
            )
        }
    };
    let cap = ctx.has_cap(CAP_SYS_NICE);
    let soft = limit_text(limit.soft, |n| n.to_string());
    let hard = limit_text(limit.hard, |n| n.to_string());
    let observed = format!(
        "RLIMIT_RTPRIO {soft} (hard {hard}), CAP_SYS_NICE {}",
        yes_no(cap)
    );
    let permitted =
        limit.soft.is_none_or(|n| n >= 1) || cap == Some(true) || (cap.is_none() && ctx.is_root());
    let c = check(id, requested, observed);
    if !wanted || permitted {
        return c;
    }
    let lacks = match ctx.cap_eff() {
        Ok(_) => "the process lacks CAP_SYS_NICE".to_owned(),
        Err(e) => format!("CAP_SYS_NICE is unknown ({e})"),
    };
    let fix = match limit.hard {
        Some(hard) if hard >= 1 => format!(
            "`ulimit -r {hard}` before starting the pipeline (the hard limit allows it), or \
             `LimitRTPRIO={hard}` in its systemd unit"
        ),
        None => "`ulimit -r 99` before starting the pipeline (the hard limit allows it), or \
                 `LimitRTPRIO=99` in its systemd unit"
            .to_owned(),
        Some(_) => "`LimitRTPRIO=99` in the systemd unit, `<user> - rtprio 99` in \
                    /etc/security/limits.conf (then log in again), `--ulimit rtprio=99` for \
                    Docker, or grant CAP_SYS_NICE (`AmbientCapabilities=CAP_SYS_NICE`)"
            .to_owned(),
    };
    c.degraded(
        format!(
            "RLIMIT_RTPRIO is {soft} and {lacks}: sched_setscheduler(SCHED_FIFO) fails with \
             EPERM and the stage threads run under SCHED_OTHER"
        ),
        fix,
    )
}

// ---------------------------------------------------------------------------------------------
// shm.*

fn shm_space(ctx: &Ctx<'_>) -> Check {
    let id = "shm.space";
    let dir = &ctx.options.shm_dir;
    let requested = match ctx.options.shm_bytes_needed {
        Some(n) => format!("{} ({n} bytes) free for the regions", bytes(n)),
        None => "room for the regions (size not given)".to_owned(),
    };
    let space = match ctx.host.shm_space(dir) {
        Ok(space) => space,
        Err(e) => {
            return unavailable(
                id,
                requested,
                &e,
                format!(
                    "make sure the file system of {} (a tmpfs such as /dev/shm) is mounted",
                    dir.display()
                ),
            )
        }
    };
    let observed = format!(
        "{} free of {} in {}",
        bytes(space.free_bytes),
        bytes(space.total_bytes),
        space.dir.display()
    );
    let c = check(id, requested, observed);
    match ctx.options.shm_bytes_needed {
        Some(need) if need > space.free_bytes => c.judged(
            CheckStatus::Failed,
            format!(
                "the regions need {}, {} has {} free: creating them fails for want of space",
                bytes(need),
                space.dir.display(),
                bytes(space.free_bytes)
            ),
            format!(
                "free space in {} (stale regions: {}) or enlarge the tmpfs (`sudo mount -o \
                 remount,size=<size> /dev/shm`; Docker `--shm-size`; Kubernetes an `emptyDir` \
                 with `medium: Memory`)",
                space.dir.display(),
                clean_command(dir)
            ),
        ),
        _ => c,
    }
}

/// The command that removes the stale regions of `dir` (`byteor snapshot [DIR] --clean`).
fn clean_command(dir: &Path) -> String {
    if dir.as_os_str() == DEFAULT_SHM_DIR {
        "`byteor snapshot --clean`".to_owned()
    } else {
        format!("`byteor snapshot {} --clean`", dir.display())
    }
}

/// `RemoveIPC` as systemd-logind sees it, and where the value comes from.
fn logind_remove_ipc(host: &Host) -> (bool, String) {
    let mut value = (true, "the systemd default".to_owned());
    let mut apply = |path: &str| {
        let Ok(text) = host.read(path) else { return };
        let mut in_login = false;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_login = line == "[Login]";
                continue;
            }
            if !in_login || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let Some((key, v)) = line.split_once('=') else {
                continue;
            };
            if key.trim() != "RemoveIPC" {
                continue;
            }
            let parsed = match v.trim().to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" | "1" => Some(true),
                "no" | "false" | "off" | "0" => Some(false),
                _ => None,
            };
            if let Some(parsed) = parsed {
                value = (parsed, path.to_owned());
            }
        }
    };
    // The main file: the first of these (systemd's search path)...
    if let Some(main) = [
        "/etc/systemd/logind.conf",
        "/run/systemd/logind.conf",
        "/usr/local/lib/systemd/logind.conf",
        "/usr/lib/systemd/logind.conf",
    ]
    .into_iter()
    .find(|p| host.exists(p))
    {
        apply(main);
    }
    // ...then every drop-in, by file name; a name in an earlier directory hides the later.
    let mut dropins: BTreeMap<String, String> = BTreeMap::new();
    for dir in [
        "/etc/systemd/logind.conf.d",
        "/run/systemd/logind.conf.d",
        "/usr/local/lib/systemd/logind.conf.d",
        "/usr/lib/systemd/logind.conf.d",
    ] {
        for name in host.list(dir).unwrap_or_default() {
            if name.ends_with(".conf") {
                dropins
                    .entry(name.clone())
                    .or_insert_with(|| format!("{dir}/{name}"));
            }
        }
    }
    for path in dropins.values() {
        apply(path);
    }
    value
}

fn remove_ipc(ctx: &Ctx<'_>) -> Check {
    let id = "shm.remove_ipc";
    let requested = if ctx.low_latency() {
        "regions survive logout: RemoveIPC=no, or root or a system user"
    } else {
        NOT_REQUESTED
    };
    if !ctx.host.exists("/run/systemd/system") {
        return check(id, requested, "not booted with systemd: no RemoveIPC");
    }
    let (remove, source) = logind_remove_ipc(ctx.host);
    let uid = ctx.host.system.euid.clone();
    let who = match &uid {
        Ok(0) => "uid 0 (root)".to_owned(),
        Ok(uid) if *uid <= SYS_UID_MAX => format!("uid {uid} (a system user)"),
        Ok(uid) => format!("uid {uid}"),
        Err(_) => "uid unknown".to_owned(),
    };
    let setting = if remove { "yes" } else { "no" };
    let c = check(
        id,
        requested,
        format!("RemoveIPC={setting} ({source}), {who}"),
    );
    let exempt = !remove || matches!(uid, Ok(uid) if uid <= SYS_UID_MAX);
    if !ctx.low_latency() || exempt {
        return c;
    }
    let runner = match uid {
        Ok(uid) => format!("the pipeline runs as uid {uid}, a regular user"),
        Err(e) => format!("the pipeline's user is unknown ({e})"),
    };
    c.degraded(
        format!(
            "RemoveIPC=yes ({source}) and {runner}: systemd-logind removes the user's \
             shared-memory files — the regions too — when the user's last session ends"
        ),
        "set `RemoveIPC=no` under `[Login]` in /etc/systemd/logind.conf.d/byteor.conf and \
         `sudo systemctl restart systemd-logind`, or run the pipeline as a system user (a \
         service's `User=` with a uid below 1000)",
    )
}

#[cfg(all(target_os = "linux", not(loom)))]
fn stale(ctx: &Ctx<'_>) -> Check {
    /// How many stale regions the reason names before "and N more".
    const NAMED_REGIONS: usize = 5;

    let id = "shm.stale";
    let requested = "no region whose producer is gone";
    let dir = &ctx.options.shm_dir;
    let local = ctx.host.path(dir);
    if std::fs::symlink_metadata(&local).is_err() {
        return check(
            id,
            requested,
            format!("no directory {}: no regions", dir.display()),
        );
    }
    // What `byteor snapshot --clean` would remove: files with the region magic whose
    // producer is gone (anything else in the directory is not a region).
    let stale = match crate::ops::snapshot::stale_regions(&local) {
        Ok(stale) => stale,
        Err(e) => {
            return unavailable(
                id,
                requested,
                &Unreadable::new(e.to_string()),
                format!(
                    "run the doctor as the pipeline's user, who can open {}",
                    dir.display()
                ),
            )
        }
    };
    if stale.is_empty() {
        return check(id, requested, format!("none in {}", dir.display()));
    }
    let sized: Vec<(String, u64)> = stale
        .iter()
        .map(|path| {
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            (name, std::fs::metadata(path).map_or(0, |m| m.len()))
        })
        .collect();
    let total: u64 = sized.iter().map(|(_, len)| len).sum();
    let mut named: Vec<String> = sized
        .iter()
        .take(NAMED_REGIONS)
        .map(|(name, len)| format!("{name} ({})", bytes(*len)))
        .collect();
    if stale.len() > NAMED_REGIONS {
        named.push(format!("and {} more", stale.len() - NAMED_REGIONS));
    }
    let clean = clean_command(dir);
    check(
        id,
        requested,
        format!(
            "{} ({}) in {}",
            plural(stale.len(), "stale region", "stale regions"),
            bytes(total),
            dir.display()
        ),
    )
    .degraded(
        format!(
            "regions whose producer is gone: {}; they hold shared memory, and a pipeline \
             creating a region of the same name is refused",
            named.join(", ")
        ),
        format!("{clean} (removes the regions whose producer is gone, never a live one)"),
    )
}

#[cfg(not(all(target_os = "linux", not(loom))))]
fn stale(_ctx: &Ctx<'_>) -> Check {
    unavailable(
        "shm.stale",
        "no region whose producer is gone",
        &Unreadable::new("shared-memory regions are Linux-only"),
        "nothing to do: no region exists on this platform",
    )
}
