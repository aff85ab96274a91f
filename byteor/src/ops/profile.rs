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

pub use crate::exec::tuning::{Outcome, Setting, TuningProfile, TuningReport, UnknownProfile};

/// Applies `profile` to this process and to the threads of a pipeline that already started:
/// the wait strategy (recorded: it is chosen when the pipeline is built, see
/// [`TuningProfile::wait_strategy`]), `mlockall`, each thread pinned to a CPU of its own (the
/// calling thread — the producer — first), and `SCHED_FIFO` on the stage threads.
///
/// `caller`: a label for the calling thread when it is one of the pipeline's (the producer),
/// pinned first; `None` leaves it alone. `threads` are `(label, OS thread name)` pairs, found among this process's threads by name
/// (`/proc/self/task/*/comm`; see [`thread_name`](crate::exec::thread_name)). CPUs come from
/// this process's affinity mask (`isolated-core`: only those the kernel isolated). Nothing
/// here fails: what cannot be done is reported degraded, with the reason.
pub fn apply(
    profile: TuningProfile,
    caller: Option<&str>,
    threads: &[(String, String)],
) -> TuningReport {
    let mut report = TuningReport::new(profile);
    report.push(
        "wait strategy",
        format!("{:?}", profile.wait_strategy()),
        Outcome::Applied("set when the pipeline was built".into()),
    );
    if profile == TuningProfile::Default {
        return report;
    }
    os::apply(profile, caller, threads, &mut report);
    report
}

/// Applies `profile` to a running SingleRing pipeline — its stage threads, and the calling
/// thread (labelled `caller`) when it is the producer — as [`apply`] does, and keeps the
/// report in the control handle ([`Control::tuning`](crate::exec::Control::tuning)).
///
/// ```
/// use byteor::ops::profile::{tune, TuningProfile};
/// use byteor::prelude::*;
///
/// let pipeline = SingleRing::<u64>::build("tuned", |ring| {
///     let ring = ring.capacity(64).ingress("in").egress("out");
///     let (ring, _) = ring.stage("sum", from_fn(|_: &u64, _: &EventContext| Ok(())));
///     ring.build()
/// })?;
/// let (producer, mut control) = pipeline.spawn()?;
/// let report = tune(&mut control, TuningProfile::Default, Some("producer"));
/// assert_eq!(report.degraded().count(), 0, "default asks for nothing privileged");
/// assert!(control.tuning().is_some());
/// drop(producer);
/// control.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn tune<'c, E, R: crate::backing::RingStorage<Event = E>>(
    control: &'c mut crate::exec::Control<E, R>,
    profile: TuningProfile,
    caller: Option<&str>,
) -> &'c TuningReport {
    let report = apply(profile, caller, &control.stage_thread_names());
    control.set_tuning(report)
}

/// [`tune`] for a running LaneGraph: its role threads, and the calling thread (labelled
/// `caller`) when it publishes; the report is kept in the control handle
/// ([`GraphControl::tuning`](crate::exec::lane_graph::GraphControl::tuning)).
pub fn tune_graph<'c>(
    control: &'c mut crate::exec::lane_graph::GraphControl,
    profile: TuningProfile,
    caller: Option<&str>,
) -> &'c TuningReport {
    let report = apply(profile, caller, &control.role_thread_names());
    control.set_tuning(report)
}

#[cfg(all(target_os = "linux", not(loom)))]
mod os {
    use super::{Outcome, TuningProfile, TuningReport};

    /// `SCHED_FIFO` priority for stage threads: above normal tasks, below the kernel's own
    /// real-time threads (which use 50 and 99).
    const FIFO_PRIORITY: i32 = 10;

    fn errno_text() -> String {
        std::io::Error::last_os_error().to_string()
    }

    fn memlock_limit() -> String {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid, writable rlimit.
        if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } != 0 {
            return "RLIMIT_MEMLOCK unknown".into();
        }
        if lim.rlim_cur == libc::RLIM_INFINITY {
            "RLIMIT_MEMLOCK unlimited".into()
        } else {
            format!("RLIMIT_MEMLOCK {} KiB", lim.rlim_cur / 1024)
        }
    }

    /// The CPUs this process may run on.
    fn allowed_cpus() -> Vec<usize> {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; `sched_getaffinity` writes at most
        // `size_of::<cpu_set_t>()` bytes into it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return Vec::new();
            }
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect()
        }
    }

    fn isolated_cpus() -> Result<Vec<usize>, String> {
        let text = std::fs::read_to_string("/sys/devices/system/cpu/isolated")
            .map_err(|e| format!("cannot read /sys/devices/system/cpu/isolated: {e}"))?;
        crate::ops::doctor::parse_cpu_list(text.trim())
            .map(|set| set.into_iter().map(|c| c as usize).collect())
    }

    /// This process's threads: (tid, name).
    fn threads() -> Vec<(libc::pid_t, String)> {
        let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok())
            .filter_map(|e| {
                let tid: libc::pid_t = e.file_name().to_str()?.parse().ok()?;
                let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
                Some((tid, comm.trim_end().to_owned()))
            })
            .collect()
    }

    fn pin(tid: libc::pid_t, cpu: usize) -> Result<(), String> {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; `cpu` < CPU_SETSIZE (it came from
        // an affinity mask or the isolated list, both below it, checked by the caller).
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            if libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(errno_text());
            }
        }
        Ok(())
    }

    fn fifo(tid: libc::pid_t) -> Result<(), String> {
        let param = libc::sched_param {
            sched_priority: FIFO_PRIORITY,
        };
        // SAFETY: `param` is a valid sched_param; `tid` names a thread of this process.
        if unsafe { libc::sched_setscheduler(tid, libc::SCHED_FIFO, &param) } != 0 {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: `lim` is a valid, writable rlimit.
            let rtprio = if unsafe { libc::getrlimit(libc::RLIMIT_RTPRIO, &mut lim) } == 0 {
                format!("RLIMIT_RTPRIO {}", lim.rlim_cur)
            } else {
                "RLIMIT_RTPRIO unknown".into()
            };
            return Err(format!("{}, {rtprio}, no CAP_SYS_NICE", errno_text()));
        }
        Ok(())
    }

    pub(super) fn apply(
        profile: TuningProfile,
        caller: Option<&str>,
        wanted: &[(String, String)],
        report: &mut TuningReport,
    ) {
        // Memory: locked now and in future, so the hot path takes no page faults.
        // SAFETY: mlockall takes flags only.
        let locked = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } == 0;
        report.push(
            "mlockall",
            "MCL_CURRENT | MCL_FUTURE",
            if locked {
                Outcome::Applied("all memory locked".into())
            } else {
                Outcome::Degraded(format!("{}, {}", errno_text(), memlock_limit()))
            },
        );

        // CPUs: the producer (this thread) first, then each thread in order.
        let allowed = allowed_cpus();
        let (cpus, source) = if profile.isolated_cpus() {
            match isolated_cpus() {
                Ok(iso) => (
                    iso.into_iter()
                        .filter(|c| allowed.contains(c))
                        .collect::<Vec<_>>(),
                    "isolated CPUs",
                ),
                Err(why) => {
                    report.push("isolated CPUs", "isolcpus", Outcome::Degraded(why));
                    (Vec::new(), "isolated CPUs")
                }
            }
        } else {
            (allowed, "allowed CPUs")
        };
        let running = threads();
        // SAFETY: gettid takes no arguments and always succeeds.
        let me = unsafe { libc::gettid() };
        let mut targets: Vec<(String, Option<libc::pid_t>)> = caller
            .map(|c| (c.to_owned(), Some(me)))
            .into_iter()
            .collect();
        for (label, name) in wanted {
            let tid = running.iter().find(|(_, n)| n == name).map(|(t, _)| *t);
            targets.push((label.clone(), tid));
        }
        let total = targets.len();
        for (i, (label, tid)) in targets.iter().enumerate() {
            let name = format!("cpu {label}");
            let Some(tid) = *tid else {
                report.push(
                    name,
                    "a CPU of its own",
                    Outcome::Degraded("thread not found".into()),
                );
                continue;
            };
            match cpus.get(i) {
                Some(&cpu) if cpu < libc::CPU_SETSIZE as usize => match pin(tid, cpu) {
                    Ok(()) => report.push(
                        name,
                        "a CPU of its own",
                        Outcome::Applied(format!("CPU {cpu}")),
                    ),
                    Err(why) => report.push(name, "a CPU of its own", Outcome::Degraded(why)),
                },
                _ => report.push(
                    name,
                    "a CPU of its own",
                    Outcome::Degraded(format!(
                        "{} {source} for {total} threads: left unpinned rather than sharing a CPU",
                        cpus.len()
                    )),
                ),
            }
        }
        if profile.real_time() {
            for (label, tid) in targets.iter().skip(usize::from(caller.is_some())) {
                let name = format!("SCHED_FIFO {label}");
                let requested = format!("SCHED_FIFO priority {FIFO_PRIORITY}");
                match tid {
                    None => report.push(
                        name,
                        requested,
                        Outcome::Degraded("thread not found".into()),
                    ),
                    Some(tid) => match fifo(*tid) {
                        Ok(()) => {
                            report.push(name, requested, Outcome::Applied("SCHED_FIFO".into()))
                        }
                        Err(why) => report.push(name, requested, Outcome::Degraded(why)),
                    },
                }
            }
        }
    }
}

#[cfg(not(all(target_os = "linux", not(loom))))]
mod os {
    use super::{Outcome, TuningProfile, TuningReport};

    pub(super) fn apply(
        _: TuningProfile,
        _: Option<&str>,
        _: &[(String, String)],
        report: &mut TuningReport,
    ) {
        report.push(
            "mlockall, CPU placement, SCHED_FIFO",
            "as the profile asks",
            Outcome::Degraded("not available on this platform (Linux only)".into()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::WaitStrategy;

    #[test]
    fn names_round_trip() {
        for p in TuningProfile::ALL {
            assert_eq!(p.name().parse::<TuningProfile>(), Ok(p));
        }
        let err = "fast".parse::<TuningProfile>().unwrap_err();
        assert!(err.to_string().contains("`fast`"), "{err}");
    }

    #[test]
    fn applying_default_changes_nothing() {
        let report = apply(TuningProfile::Default, Some("producer"), &[]);
        assert_eq!(report.settings.len(), 1);
        assert_eq!(report.degraded().count(), 0);
        assert!(report.to_string().contains("wait strategy"), "{report}");
    }

    #[test]
    fn applying_low_latency_reports_every_setting() {
        // Whatever this host allows, every setting is reported, applied or degraded with a
        // reason; an unknown thread is degraded, never an error.
        let report = apply(
            TuningProfile::LowLatency,
            Some("producer"),
            &[("ghost".into(), "no-such-thread".into())],
        );
        let names: Vec<&str> = report.settings.iter().map(|s| s.name.as_str()).collect();
        assert!(names.contains(&"cpu ghost"), "{report}");
        let ghost = report
            .settings
            .iter()
            .find(|s| s.name == "cpu ghost")
            .unwrap();
        assert!(
            matches!(&ghost.outcome, Outcome::Degraded(why) if !why.is_empty()),
            "{report}"
        );
        #[cfg(target_os = "linux")]
        assert!(
            names.contains(&"mlockall") && names.contains(&"cpu producer"),
            "{report}"
        );
        // Undo the pinning of this test thread and the memory lock for the other tests.
        #[cfg(target_os = "linux")]
        // SAFETY: munlockall takes no arguments.
        unsafe {
            libc::munlockall();
        }
    }

    #[test]
    fn default_asks_for_nothing_privileged() {
        let p = TuningProfile::Default;
        assert_eq!(p.wait_strategy(), WaitStrategy::Parking);
        assert!(!p.pins_threads() && !p.locks_memory() && !p.real_time());
    }
}
