//! The checks against fake hosts: trees of `/proc` and `/sys` files in a temporary directory,
//! and hand-filled system-call values.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::host::{bytes, format_cpu_list, parse_cpu_list, Cmdline};
use super::*;
use crate::ops::profile::TuningProfile;

const MIB: u64 = 1 << 20;

/// A fake host's files, removed when dropped.
struct FakeRoot {
    root: PathBuf,
}

impl FakeRoot {
    /// An empty root directory.
    fn empty(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "byteor-doctor-{}-{name}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        FakeRoot { root }
    }

    /// A host that gives `isolated-core` everything for 3 threads: 4 CPUs without SMT, 2-3
    /// isolated, tickless and offloaded, `performance`, THP `madvise`, no CPU quota,
    /// `RemoveIPC=no`, an empty region directory.
    fn ready(name: &str) -> Self {
        let fake = FakeRoot::empty(name);
        fake.write("/sys/devices/system/cpu/online", "0-3\n");
        for cpu in 0..4 {
            let base = format!("/sys/devices/system/cpu/cpu{cpu}");
            fake.write(
                &format!("{base}/topology/core_cpus_list"),
                &format!("{cpu}\n"),
            );
            fake.write(&format!("{base}/cpufreq/scaling_governor"), "performance\n");
        }
        fake.write("/sys/devices/system/cpu/isolated", "2-3\n");
        fake.write("/sys/devices/system/cpu/nohz_full", "2-3\n");
        fake.write(
            "/proc/cmdline",
            "BOOT_IMAGE=/vmlinuz root=/dev/sda1 isolcpus=2-3 nohz_full=2-3 rcu_nocbs=2-3 quiet\n",
        );
        fake.write(
            "/proc/self/status",
            "Name:\tbyteor\nUid:\t1000\t1000\t1000\t1000\nCapEff:\t0000000000000000\n\
             Cpus_allowed_list:\t0-3\n",
        );
        fake.write(
            "/sys/kernel/mm/transparent_hugepage/enabled",
            "always [madvise] never\n",
        );
        fake.write("/proc/self/cgroup", "0::/user.slice/session-1.scope\n");
        fake.write(
            "/sys/fs/cgroup/cgroup.controllers",
            "cpuset cpu io memory pids\n",
        );
        fake.write("/sys/fs/cgroup/user.slice/cpu.max", "max 100000\n");
        fake.write(
            "/sys/fs/cgroup/user.slice/session-1.scope/cpu.max",
            "max 100000\n",
        );
        fake.mkdir("/run/systemd/system");
        fake.write("/etc/systemd/logind.conf", "[Login]\n#RemoveIPC=yes\n");
        fake.write(
            "/etc/systemd/logind.conf.d/byteor.conf",
            "[Login]\nRemoveIPC=no\n",
        );
        fake.mkdir("/dev/shm/byteor");
        fake
    }

    fn path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.path(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn mkdir(&self, path: &str) {
        std::fs::create_dir_all(self.path(path)).unwrap();
    }

    fn remove(&self, path: &str) {
        let path = self.path(path);
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
    }

    fn host(&self, system: SystemFacts) -> Host {
        Host::at(&self.root).with_system(system)
    }
}

impl Drop for FakeRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Unlimited locked memory, real-time priority up to 99, uid 1000, 1 GiB of shared memory.
fn ready_system() -> SystemFacts {
    SystemFacts {
        memlock: Ok(Rlimit {
            soft: None,
            hard: None,
        }),
        rtprio: Ok(Rlimit {
            soft: Some(99),
            hard: Some(99),
        }),
        euid: Ok(1000),
        shm_space: Some(Ok(FsSpace {
            dir: PathBuf::from("/dev/shm"),
            free_bytes: 1024 * MIB,
            total_bytes: 2048 * MIB,
        })),
    }
}

/// `profile` for 3 threads and 1 MiB of regions.
fn options(profile: TuningProfile) -> DoctorOptions {
    DoctorOptions {
        profile,
        shm_dir: PathBuf::from("/dev/shm/byteor"),
        shm_bytes_needed: Some(MIB),
        threads_needed: Some(3),
    }
}

fn report(fake: &FakeRoot, system: SystemFacts, profile: TuningProfile) -> DoctorReport {
    doctor_on(&fake.host(system), &options(profile))
}

fn get<'r>(report: &'r DoctorReport, id: &str) -> &'r Check {
    report
        .check(id)
        .unwrap_or_else(|| panic!("no check {id} in\n{report}"))
}

fn status(report: &DoctorReport, id: &str) -> CheckStatus {
    get(report, id).status
}

/// Every id once, in order; every check that is not ok says why and what to do.
fn assert_well_formed(report: &DoctorReport) {
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id).collect();
    assert_eq!(ids, CHECK_IDS, "{report}");
    for c in &report.checks {
        assert!(!c.title.is_empty() && !c.requested.is_empty() && !c.observed.is_empty());
        if c.status == CheckStatus::Ok {
            assert_eq!((&c.reason, &c.remediation), (&None, &None), "{report}");
        } else {
            let reason = c.reason.as_deref().unwrap_or("");
            let fix = c.remediation.as_deref().unwrap_or("");
            assert!(!reason.is_empty() && !fix.is_empty(), "{}: {report}", c.id);
        }
    }
}

fn not_ok(report: &DoctorReport) -> Vec<&str> {
    report
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Ok)
        .map(|c| c.id)
        .collect()
}

#[test]
fn a_ready_host_is_ready_on_every_profile() {
    let fake = FakeRoot::ready("ready");
    for profile in TuningProfile::ALL {
        let r = report(&fake, ready_system(), profile);
        assert_well_formed(&r);
        assert_eq!(not_ok(&r), Vec::<&str>::new(), "{profile}:\n{r}");
        assert_eq!(r.readiness(), Readiness::Ready);
        assert_eq!(r.readiness().exit_code(), 0);
    }
    let r = report(&fake, ready_system(), TuningProfile::IsolatedCore);
    assert_eq!(
        get(&r, "cpu.cores").observed,
        "4 CPUs (0-3), 4 physical cores, no SMT"
    );
    assert_eq!(get(&r, "cpu.isolcpus").observed, "2-3 (2 CPUs)");
    assert_eq!(
        get(&r, "cpu.rcu_nocbs").observed,
        "2-3 (rcu_nocbs= and nohz_full)"
    );
    assert_eq!(get(&r, "cpu.governor").observed, "performance on 0-3");
    assert_eq!(get(&r, "mem.thp").observed, "madvise");
    assert_eq!(
        get(&r, "cgroup.cpu").observed,
        "no quota (cgroup v2 /user.slice/session-1.scope)"
    );
    assert_eq!(
        get(&r, "shm.remove_ipc").observed,
        "RemoveIPC=no (/etc/systemd/logind.conf.d/byteor.conf), uid 1000"
    );
    assert_eq!(
        get(&r, "shm.space").observed,
        "1 GiB free of 2 GiB in /dev/shm"
    );
    assert!(get(&r, "shm.space").requested.contains("1048576 bytes"));
}

#[test]
fn a_powersave_governor_is_degraded_on_low_latency_and_ok_on_default() {
    let fake = FakeRoot::ready("powersave");
    fake.write(
        "/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
        "powersave\n",
    );
    let r = report(&fake, ready_system(), TuningProfile::LowLatency);
    let c = get(&r, "cpu.governor");
    assert_eq!(c.status, CheckStatus::Degraded);
    assert_eq!(c.observed, "performance on 0,2-3; powersave on 1");
    assert!(c.reason.as_deref().unwrap().contains("`powersave` on 1"));
    assert!(c
        .remediation
        .as_deref()
        .unwrap()
        .contains("cpupower frequency-set -g performance"));
    assert_eq!(r.readiness(), Readiness::Degraded);
    assert_eq!(r.readiness().exit_code(), 2);

    let r = report(&fake, ready_system(), TuningProfile::Default);
    assert_eq!(status(&r, "cpu.governor"), CheckStatus::Ok);
    assert_eq!(r.readiness(), Readiness::Ready);
}

#[test]
fn no_cpufreq_is_unavailable_and_does_not_count_against_readiness() {
    let fake = FakeRoot::ready("no-cpufreq");
    for cpu in 0..4 {
        fake.remove(&format!("/sys/devices/system/cpu/cpu{cpu}/cpufreq"));
    }
    for profile in TuningProfile::ALL {
        let r = report(&fake, ready_system(), profile);
        assert_well_formed(&r);
        let c = get(&r, "cpu.governor");
        assert_eq!(c.status, CheckStatus::Unavailable);
        let reason = c.reason.as_deref().unwrap();
        assert!(
            reason.contains("no cpufreq: cannot read /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor: No such file or directory"),
            "{reason}"
        );
        assert_eq!(r.readiness(), Readiness::Ready, "{r}");
    }
}

#[test]
fn no_isolated_cpus_are_degraded_on_isolated_core_only() {
    let fake = FakeRoot::ready("no-isolation");
    fake.write("/sys/devices/system/cpu/isolated", "\n");
    fake.write("/sys/devices/system/cpu/nohz_full", "(null)\n");
    fake.write("/proc/cmdline", "BOOT_IMAGE=/vmlinuz quiet\n");
    let r = report(&fake, ready_system(), TuningProfile::IsolatedCore);
    assert_well_formed(&r);
    for id in ["cpu.isolcpus", "cpu.nohz_full", "cpu.rcu_nocbs"] {
        assert_eq!(status(&r, id), CheckStatus::Degraded, "{id}:\n{r}");
        assert_eq!(get(&r, id).observed, "none");
    }
    // Two stage threads on four CPUs: the last two, CPU 0 left to housekeeping.
    let fix = get(&r, "cpu.isolcpus").remediation.clone().unwrap();
    assert!(
        fix.contains("`isolcpus=2-3 nohz_full=2-3 rcu_nocbs=2-3`"),
        "{fix}"
    );
    assert_eq!(r.readiness(), Readiness::Degraded);

    for profile in [TuningProfile::Default, TuningProfile::LowLatency] {
        let r = report(&fake, ready_system(), profile);
        assert_eq!(not_ok(&r), Vec::<&str>::new(), "{profile}:\n{r}");
        assert_eq!(get(&r, "cpu.isolcpus").requested, "not requested");
    }
}

#[test]
fn too_few_isolated_cpus_are_degraded_and_isolation_falls_back_to_the_command_line() {
    let fake = FakeRoot::ready("few-isolated");
    fake.write("/sys/devices/system/cpu/isolated", "3\n");
    let r = report(&fake, ready_system(), TuningProfile::IsolatedCore);
    let c = get(&r, "cpu.isolcpus");
    assert_eq!(c.status, CheckStatus::Degraded);
    assert!(c
        .reason
        .as_deref()
        .unwrap()
        .contains("1 isolated CPU is online (3) for 2 stage threads"));

    // Without the sysfs file, `isolcpus=` of the command line (flags dropped).
    fake.remove("/sys/devices/system/cpu/isolated");
    fake.write(
        "/proc/cmdline",
        "isolcpus=domain,managed_irq,2-3 nohz_full=2-3\n",
    );
    let r = report(&fake, ready_system(), TuningProfile::IsolatedCore);
    assert_eq!(get(&r, "cpu.isolcpus").observed, "2-3 (2 CPUs)");
    assert_eq!(status(&r, "cpu.isolcpus"), CheckStatus::Ok);
    // rcu_nocbs is implied by nohz_full.
    let c = get(&r, "cpu.rcu_nocbs");
    assert_eq!(
        (c.status, c.observed.as_str()),
        (CheckStatus::Ok, "2-3 (implied by nohz_full)")
    );
}

#[test]
fn a_kernel_without_nohz_full_support_is_degraded_on_isolated_core() {
    let fake = FakeRoot::ready("no-nohz");
    fake.remove("/sys/devices/system/cpu/nohz_full");
    let r = report(&fake, ready_system(), TuningProfile::IsolatedCore);
    let c = get(&r, "cpu.nohz_full");
    assert_eq!(c.status, CheckStatus::Degraded);
    assert!(c.observed.contains("CONFIG_NO_HZ_FULL"), "{}", c.observed);
    let r = report(&fake, ready_system(), TuningProfile::LowLatency);
    assert_eq!(status(&r, "cpu.nohz_full"), CheckStatus::Ok);
}

#[test]
fn smt_siblings_count_as_one_core_and_affinity_limits_the_cpus() {
    let fake = FakeRoot::ready("smt");
    for (cpu, siblings) in [(0, "0,2"), (1, "1,3"), (2, "0,2"), (3, "1,3")] {
        fake.write(
            &format!("/sys/devices/system/cpu/cpu{cpu}/topology/core_cpus_list"),
            siblings,
        );
    }
    let r = report(&fake, ready_system(), TuningProfile::LowLatency);
    let c = get(&r, "cpu.cores");
    assert_eq!(c.observed, "4 CPUs (0-3), 2 physical cores, SMT on");
    assert_eq!(c.status, CheckStatus::Degraded);
    assert!(c.reason.as_deref().unwrap().contains("SMT siblings"));
    let r = report(&fake, ready_system(), TuningProfile::Default);
    assert_eq!(status(&r, "cpu.cores"), CheckStatus::Ok);

    let fake = FakeRoot::ready("affinity");
    fake.write(
        "/proc/self/status",
        "CapEff:\t0000000000000000\nCpus_allowed_list:\t0-1\n",
    );
    let r = report(&fake, ready_system(), TuningProfile::LowLatency);
    let c = get(&r, "cpu.cores");
    assert_eq!(
        c.observed,
        "2 of 4 online CPUs allowed (0-1), 2 physical cores, no SMT"
    );
    assert_eq!(c.status, CheckStatus::Degraded);
}

#[test]
fn memlock_of_8_mib_without_cap_ipc_lock_is_degraded_on_low_latency() {
    let fake = FakeRoot::ready("memlock");
    let system = SystemFacts {
        memlock: Ok(Rlimit {
            soft: Some(8 * MIB),
            hard: Some(8 * MIB),
        }),
        ..ready_system()
    };
    let r = report(&fake, system.clone(), TuningProfile::LowLatency);
    let c = get(&r, "mem.memlock");
    assert_eq!(c.status, CheckStatus::Degraded);
    assert_eq!(
        c.observed,
        "RLIMIT_MEMLOCK 8 MiB (hard 8 MiB), CAP_IPC_LOCK no"
    );
    let reason = c.reason.as_deref().unwrap();
    assert!(reason.contains("RLIMIT_MEMLOCK is 8 MiB"), "{reason}");
    assert!(reason.contains("lacks CAP_IPC_LOCK"), "{reason}");
    assert!(c
        .remediation
        .as_deref()
        .unwrap()
        .contains("LimitMEMLOCK=infinity"));

    let r = report(&fake, system.clone(), TuningProfile::Default);
    assert_eq!(status(&r, "mem.memlock"), CheckStatus::Ok);
    assert_eq!(get(&r, "mem.memlock").requested, "not requested");

    // CAP_IPC_LOCK (bit 14) lifts the limit.
    fake.write("/proc/self/status", "CapEff:\t0000000000004000\n");
    let r = report(&fake, system.clone(), TuningProfile::LowLatency);
    assert_eq!(status(&r, "mem.memlock"), CheckStatus::Ok, "{r}");

    // Root without readable capabilities is assumed to have it.
    fake.remove("/proc/self/status");
    let root = SystemFacts {
        euid: Ok(0),
        ..system
    };
    let r = report(&fake, root, TuningProfile::LowLatency);
    assert_eq!(status(&r, "mem.memlock"), CheckStatus::Ok, "{r}");
}

#[test]
fn real_time_scheduling_is_requested_by_isolated_core_only() {
    let fake = FakeRoot::ready("rt");
    let system = SystemFacts {
        rtprio: Ok(Rlimit {
            soft: Some(0),
            hard: Some(0),
        }),
        ..ready_system()
    };
    let r = report(&fake, system.clone(), TuningProfile::IsolatedCore);
    let c = get(&r, "sched.rt");
    assert_eq!(c.status, CheckStatus::Degraded);
    assert!(c.reason.as_deref().unwrap().contains("RLIMIT_RTPRIO is 0"));
    assert!(c.remediation.as_deref().unwrap().contains("LimitRTPRIO=99"));
    let r = report(&fake, system.clone(), TuningProfile::LowLatency);
    assert_eq!(status(&r, "sched.rt"), CheckStatus::Ok);

    // CAP_SYS_NICE (bit 23).
    fake.write("/proc/self/status", "CapEff:\t0000000000800000\n");
    let r = report(&fake, system, TuningProfile::IsolatedCore);
    assert_eq!(status(&r, "sched.rt"), CheckStatus::Ok, "{r}");
}

#[test]
fn shared_memory_below_the_need_fails() {
    let fake = FakeRoot::ready("space");
    let system = SystemFacts {
        shm_space: Some(Ok(FsSpace {
            dir: PathBuf::from("/dev/shm"),
            free_bytes: MIB / 2,
            total_bytes: 64 * MIB,
        })),
        ..ready_system()
    };
    for profile in TuningProfile::ALL {
        let r = report(&fake, system.clone(), profile);
        let c = get(&r, "shm.space");
        assert_eq!(c.status, CheckStatus::Failed, "{r}");
        assert!(c
            .reason
            .as_deref()
            .unwrap()
            .contains("need 1 MiB, /dev/shm has 512 KiB free"));
        assert!(c.remediation.as_deref().unwrap().contains("--shm-size"));
        assert_eq!(r.readiness(), Readiness::Failed);
        assert_eq!(r.readiness().exit_code(), 1);
    }
    // No need given: reported, not judged.
    let opts = DoctorOptions {
        shm_bytes_needed: None,
        ..options(TuningProfile::LowLatency)
    };
    let r = doctor_on(&fake.host(system), &opts);
    assert_eq!(status(&r, "shm.space"), CheckStatus::Ok);
    assert_eq!(
        get(&r, "shm.space").observed,
        "512 KiB free of 64 MiB in /dev/shm"
    );
}

#[test]
fn shared_memory_space_is_measured_at_the_nearest_existing_directory() {
    let fake = FakeRoot::ready("statvfs");
    fake.remove("/dev/shm/byteor");
    let system = SystemFacts {
        shm_space: None,
        ..ready_system()
    };
    let r = report(&fake, system, TuningProfile::Default);
    let c = get(&r, "shm.space");
    if cfg!(target_os = "linux") {
        assert_eq!(c.status, CheckStatus::Ok, "{r}");
        assert!(c.observed.ends_with(" in /dev/shm"), "{}", c.observed);
    } else {
        assert_eq!(c.status, CheckStatus::Unavailable);
    }
}

#[test]
fn transparent_huge_pages_always_are_degraded_on_low_latency() {
    let fake = FakeRoot::ready("thp");
    fake.write(
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "[always] madvise never\n",
    );
    let r = report(&fake, ready_system(), TuningProfile::LowLatency);
    let c = get(&r, "mem.thp");
    assert_eq!(
        (c.status, c.observed.as_str()),
        (CheckStatus::Degraded, "always")
    );
    assert!(c.remediation.as_deref().unwrap().contains("madvise"));
    let r = report(&fake, ready_system(), TuningProfile::Default);
    assert_eq!(status(&r, "mem.thp"), CheckStatus::Ok);
}

#[test]
fn a_cpu_quota_below_the_threads_is_degraded() {
    let fake = FakeRoot::ready("quota");
    fake.write(
        "/sys/fs/cgroup/user.slice/session-1.scope/cpu.max",
        "50000 100000\n",
    );
    let opts = DoctorOptions {
        threads_needed: Some(2),
        ..options(TuningProfile::LowLatency)
    };
    let r = doctor_on(&fake.host(ready_system()), &opts);
    let c = get(&r, "cgroup.cpu");
    assert_eq!(c.status, CheckStatus::Degraded, "{r}");
    assert_eq!(
        c.observed,
        "0.5 CPUs (50000 µs every 100000 µs, cgroup v2 /user.slice/session-1.scope)"
    );
    assert!(c.remediation.as_deref().unwrap().contains("--cpus 2"));
    let r = report(&fake, ready_system(), TuningProfile::Default);
    assert_eq!(status(&r, "cgroup.cpu"), CheckStatus::Ok);

    // The tightest quota of the group and its ancestors counts.
    fake.write(
        "/sys/fs/cgroup/user.slice/session-1.scope/cpu.max",
        "max 100000\n",
    );
    fake.write("/sys/fs/cgroup/user.slice/cpu.max", "150000 100000\n");
    let r = doctor_on(&fake.host(ready_system()), &opts);
    let c = get(&r, "cgroup.cpu");
    assert_eq!(c.status, CheckStatus::Degraded, "{r}");
    assert!(c.observed.starts_with("1.5 CPUs"), "{}", c.observed);
    fake.write("/sys/fs/cgroup/user.slice/cpu.max", "400000 100000\n");
    let r = doctor_on(&fake.host(ready_system()), &opts);
    assert_eq!(status(&r, "cgroup.cpu"), CheckStatus::Ok, "{r}");
}

#[test]
fn a_cgroup_v1_quota_is_read() {
    let fake = FakeRoot::ready("quota-v1");
    fake.remove("/sys/fs/cgroup");
    fake.write(
        "/proc/self/cgroup",
        "4:memory:/docker/abc\n1:cpu,cpuacct:/docker/abc\n0::/\n",
    );
    fake.write("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    fake.write("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    fake.write(
        "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us",
        "200000\n",
    );
    fake.write(
        "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us",
        "100000\n",
    );
    let r = report(&fake, ready_system(), TuningProfile::LowLatency);
    let c = get(&r, "cgroup.cpu");
    assert_eq!(c.status, CheckStatus::Degraded, "{r}");
    assert_eq!(
        c.observed,
        "2 CPUs (200000 µs every 100000 µs, cgroup v1 /docker/abc)"
    );

    fake.write(
        "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us",
        "-1\n",
    );
    let r = report(&fake, ready_system(), TuningProfile::LowLatency);
    let c = get(&r, "cgroup.cpu");
    assert_eq!(
        (c.status, c.observed.as_str()),
        (CheckStatus::Ok, "no quota (cgroup v1 /docker/abc)")
    );
}

#[test]
fn remove_ipc_for_a_regular_user_is_degraded_on_low_latency() {
    let fake = FakeRoot::ready("remove-ipc");
    fake.remove("/etc/systemd/logind.conf.d/byteor.conf");
    let r = report(&fake, ready_system(), TuningProfile::LowLatency);
    let c = get(&r, "shm.remove_ipc");
    assert_eq!(c.status, CheckStatus::Degraded, "{r}");
    assert_eq!(c.observed, "RemoveIPC=yes (the systemd default), uid 1000");
    assert!(c.remediation.as_deref().unwrap().contains("RemoveIPC=no"));
    let r = report(&fake, ready_system(), TuningProfile::Default);
    assert_eq!(status(&r, "shm.remove_ipc"), CheckStatus::Ok);

    // Root and system users are spared.
    for euid in [0, 998] {
        let system = SystemFacts {
            euid: Ok(euid),
            ..ready_system()
        };
        let r = report(&fake, system, TuningProfile::LowLatency);
        assert_eq!(status(&r, "shm.remove_ipc"), CheckStatus::Ok, "{r}");
    }
    // A later drop-in overrides an earlier one; `/etc` hides a `/usr/lib` of the same name.
    fake.write(
        "/usr/lib/systemd/logind.conf.d/10-no.conf",
        "[Login]\nRemoveIPC=no\n",
    );
    fake.write(
        "/etc/systemd/logind.conf.d/20-yes.conf",
        "[Login]\nRemoveIPC=yes\n",
    );
    let r = report(&fake, ready_system(), TuningProfile::LowLatency);
    assert_eq!(status(&r, "shm.remove_ipc"), CheckStatus::Degraded);
    fake.write(
        "/etc/systemd/logind.conf.d/20-yes.conf",
        "[Other]\nRemoveIPC=yes\n",
    );
    let r = report(&fake, ready_system(), TuningProfile::LowLatency);
    assert_eq!(status(&r, "shm.remove_ipc"), CheckStatus::Ok, "{r}");

    // Not booted with systemd: no logind.
    fake.remove("/usr/lib/systemd/logind.conf.d/10-no.conf");
    fake.remove("/run/systemd/system");
    let r = report(&fake, ready_system(), TuningProfile::LowLatency);
    let c = get(&r, "shm.remove_ipc");
    assert_eq!(c.status, CheckStatus::Ok);
    assert!(c.observed.contains("not booted with systemd"));
}

#[cfg(all(target_os = "linux", not(loom)))]
#[test]
fn stale_regions_are_degraded_and_a_missing_directory_is_fine() {
    let fake = FakeRoot::ready("stale");
    // A file that is not a region is not stale: `snapshot --clean` never removes it.
    fake.write("/dev/shm/byteor/notes.txt", "not a region");
    let r = report(&fake, ready_system(), TuningProfile::LowLatency);
    let c = get(&r, "shm.stale");
    assert_eq!(
        (c.status, c.observed.as_str()),
        (CheckStatus::Ok, "none in /dev/shm/byteor")
    );

    // A region file whose producer is gone (nobody holds its lock).
    let mut region = crate::abi::region::REGION_MAGIC.to_vec();
    region.resize(2048, 0);
    std::fs::write(fake.path("/dev/shm/byteor/orders.0"), region).unwrap();
    for profile in TuningProfile::ALL {
        let r = report(&fake, ready_system(), profile);
        let c = get(&r, "shm.stale");
        assert_eq!(c.status, CheckStatus::Degraded, "{r}");
        assert_eq!(c.observed, "1 stale region (2 KiB) in /dev/shm/byteor");
        assert!(c.reason.as_deref().unwrap().contains("orders.0 (2 KiB)"));
        assert!(c
            .remediation
            .as_deref()
            .unwrap()
            .starts_with("`byteor snapshot --clean`"));
    }
    fake.remove("/dev/shm/byteor");
    let r = report(&fake, ready_system(), TuningProfile::LowLatency);
    let c = get(&r, "shm.stale");
    assert_eq!(c.status, CheckStatus::Ok);
    assert_eq!(c.observed, "no directory /dev/shm/byteor: no regions");
}

#[test]
fn an_empty_root_still_reports_every_check() {
    let fake = FakeRoot::empty("empty");
    for profile in TuningProfile::ALL {
        let opts = DoctorOptions {
            profile,
            ..DoctorOptions::default()
        };
        let r = doctor_on(&fake.host(SystemFacts::unknown()), &opts);
        assert_well_formed(&r);
        let c = get(&r, "cpu.cores");
        assert_eq!(c.status, CheckStatus::Unavailable);
        assert_eq!(
            c.reason.as_deref(),
            Some("cannot read /sys/devices/system/cpu/online: No such file or directory")
        );
        for id in [
            "cpu.governor",
            "cgroup.cpu",
            "mem.memlock",
            "mem.thp",
            "sched.rt",
        ] {
            assert_eq!(status(&r, id), CheckStatus::Unavailable, "{id}: {r}");
        }
        // Unavailable is not a degradation.
        assert_eq!(r.readiness(), Readiness::Ready, "{r}");
    }
}

#[test]
fn this_host_reports_every_check() {
    for profile in TuningProfile::ALL {
        let opts = DoctorOptions {
            profile,
            threads_needed: Some(64),
            shm_bytes_needed: Some(MIB),
            ..DoctorOptions::default()
        };
        let r = doctor(&opts);
        assert_well_formed(&r);
        let text = r.to_string();
        for id in CHECK_IDS {
            assert!(text.contains(id), "{text}");
        }
    }
}

#[test]
fn readiness_follows_the_worst_check() {
    let with = |statuses: &[CheckStatus]| DoctorReport {
        profile: TuningProfile::LowLatency,
        checks: statuses
            .iter()
            .zip(CHECK_IDS)
            .map(|(&status, id)| Check {
                id,
                title: "t",
                requested: "r".into(),
                observed: "o".into(),
                status,
                reason: None,
                remediation: None,
            })
            .collect(),
    };
    use CheckStatus::*;
    assert_eq!(with(&[Ok, Unavailable, Ok]).readiness(), Readiness::Ready);
    assert_eq!(
        with(&[Ok, Degraded, Unavailable]).readiness(),
        Readiness::Degraded
    );
    assert_eq!(with(&[Failed, Degraded, Ok]).readiness(), Readiness::Failed);
    assert_eq!(
        [Readiness::Ready, Readiness::Degraded, Readiness::Failed].map(Readiness::exit_code),
        [0, 2, 1]
    );
    assert_eq!(
        [Ok, Degraded, Unavailable, Failed].map(CheckStatus::as_str),
        ["ok", "degraded", "unavailable", "failed"]
    );
    let r = with(&[Ok, Degraded]);
    assert_eq!((r.count(Ok), r.count(Degraded), r.count(Failed)), (1, 1, 0));
    assert!(r.check("cpu.isolcpus").is_some() && r.check("nope").is_none());
}

#[test]
fn the_table_has_a_line_per_check_then_the_readiness() {
    let fake = FakeRoot::ready("table");
    fake.write(
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "[always] madvise never\n",
    );
    let r = report(&fake, ready_system(), TuningProfile::LowLatency);
    let text = r.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("STATUS"), "{text}");
    for id in CHECK_IDS {
        let line = lines
            .iter()
            .find(|l| l.split_whitespace().nth(1) == Some(id))
            .unwrap_or_else(|| panic!("no line for {id}:\n{text}"));
        let c = get(&r, id);
        assert!(line.starts_with(c.status.as_str()), "{line}");
        assert!(
            line.contains(&c.observed) && line.ends_with(&c.requested),
            "{line}"
        );
    }
    assert!(
        text.contains("\n               reason: transparent huge pages `always`"),
        "{text}"
    );
    assert!(
        text.contains("\n               fix: `echo madvise"),
        "{text}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        "degraded for profile low-latency: 11 ok, 1 degraded"
    );
}

#[test]
fn options_from_a_spec_count_threads_and_region_bytes() {
    use crate::lower::lower_v2;
    use crate::plan::{PipelinePlanV2, SingleRingConstraints, StageDecl};
    use crate::vocab::OrderingMode;

    let plan = PipelinePlanV2::single_ring("orders")
        .with_ingress("orders_in")
        .with_egress("fills_out")
        .with_stage(StageDecl::new("parse"))
        .with_stage(StageDecl::new("risk").after("parse"))
        .with_stage(StageDecl::new("audit").after("parse"))
        .with_single_ring(SingleRingConstraints {
            capacity: 256,
            shards: 2,
            ordering: OrderingMode::PerKey,
            shard_key: Some("account".into()),
            ..SingleRingConstraints::default()
        });
    let spec = lower_v2(&plan).unwrap();
    let opts = DoctorOptions::default().with_spec(&spec);
    assert_eq!(opts.threads_needed, Some(3 * 2 + 1));
    let region = RegionGeometry::new(256, ESTIMATED_SLOT_BYTES, 3).unwrap();
    assert_eq!(opts.shm_bytes_needed, Some(2 * region.region_bytes));
}

#[cfg(feature = "toml")]
#[test]
fn options_from_a_lane_graph_count_its_roles() {
    let plan = crate::plan::PipelinePlanV2::from_toml(
        r#"
version = 2
name = "graph"
target = "lane_graph"
[[ingress]]
name = "in"
[[egress]]
name = "out"
[[stages]]
name = "a"
[[stages]]
name = "b"
[lane_graph]
on_full = "block"
[[lane_graph.connections]]
from = "in"
to = "a"
[[lane_graph.connections]]
from = "a"
to = "b"
[[lane_graph.connections]]
from = "b"
to = "out"
"#,
    )
    .unwrap();
    let spec = crate::lower::lower_v2(&plan).unwrap();
    let TopologySpec::LaneGraph(graph) = &spec.topology else {
        panic!("not a lane graph")
    };
    let opts = DoctorOptions::default().with_spec(&spec);
    assert_eq!(opts.threads_needed, Some(graph.roles.len() + 1));
    assert_eq!(opts.shm_bytes_needed, None);
}

#[test]
fn cpu_lists_command_lines_and_sizes_parse_and_print() {
    let set = parse_cpu_list("0-3,8,10-11\n").unwrap();
    assert_eq!(set.len(), 7);
    assert_eq!(format_cpu_list(&set), "0-3,8,10-11");
    assert!(parse_cpu_list("").unwrap().is_empty());
    assert!(parse_cpu_list("(null)\n").unwrap().is_empty());
    assert_eq!(format_cpu_list(&parse_cpu_list("").unwrap()), "none");
    assert!(parse_cpu_list("3-1").is_err());
    assert!(parse_cpu_list("0-4294967295").is_err());
    assert!(parse_cpu_list("x").is_err());

    let c = Cmdline::parse("ro quiet nohz_full=2-3 rcu_nocbs nohz_full=1-3 -- nohz_full=9");
    assert_eq!(c.get("nohz_full"), Some(Some("1-3")));
    assert_eq!(c.get("rcu_nocbs"), Some(None));
    assert_eq!(c.get("isolcpus"), None);

    assert_eq!(bytes(512), "512 B");
    assert_eq!(bytes(8 * MIB), "8 MiB");
    assert_eq!(bytes(MIB + MIB / 2), "1.5 MiB");
}
