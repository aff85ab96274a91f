//! `run --mp`: one child process per role — for a SingleRing plan the producer (the
//! ingress's role) and each stage, over shared-memory rings; for a LaneGraph plan each
//! ingress, stage and egress, over lanes in shared memory. The supervisor starts them, watches them,
//! and when one dies stops the others and names it; it leaves no child running and no region
//! behind.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use byteor::ops::snapshot;
use byteor::plan::PipelinePlanV2;
use byteor::transport::shm::DEFAULT_SHM_DIR;
use byteor::vocab::ExecutionTargetV1;

use crate::run::{RunArgs, RunVerbError, SP_DEFAULT_EVENTS};
use crate::{exit, Format};

/// A child role process; killed and reaped when dropped, whatever happened.
struct RoleChild {
    role: String,
    child: Child,
    status: Option<ExitStatus>,
    output: Arc<std::sync::Mutex<String>>,
}

impl RoleChild {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn poll(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    fn signal(&self, signal: i32) {
        if self.status.is_none() {
            // SAFETY: `kill` with a pid of a child this process started and has not reaped
            // (its status is unknown), so the pid still names that child.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, signal);
            }
        }
    }
}

impl Drop for RoleChild {
    fn drop(&mut self) {
        if self.poll().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How a child ended, in words.
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal} ({})", signal_name(signal)),
        _ => "ended".into(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        _ => "signal",
    }
}

pub(crate) fn supervise(
    args: &RunArgs,
    plan: &PipelinePlanV2,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, RunVerbError> {
    let dir = args
        .shm_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SHM_DIR));
    // The roles, one child each: the ingresses (they publish; SIGTERM stops them and the
    // others follow the end of their streams), then the stages, then (LaneGraph) the egresses.
    let ingresses: Vec<String> = match plan.target {
        ExecutionTargetV1::SingleRing => plan.ingress.iter().take(1),
        ExecutionTargetV1::LaneGraph => plan.ingress.iter().take(usize::MAX),
    }
    .map(|i| i.name.clone())
    .collect();
    let mut others: Vec<String> = plan.stages.iter().map(|s| s.name.clone()).collect();
    if plan.target == ExecutionTargetV1::LaneGraph {
        others.extend(plan.egress.iter().map(|e| e.name.clone()));
    }

    // Refuse before starting anything when the policy does not allow the plan.
    let policy = crate::incident::policy(args.env, args.approvals.as_deref())
        .map_err(RunVerbError::Policy)?;
    let spec = byteor::lower::lower_v2(plan).map_err(|e| RunVerbError::Supervise(e.to_string()))?;
    policy
        .check(&spec, byteor::ops::policy::now_unix())
        .map_err(|e| RunVerbError::Policy(e.to_string()))?;
    // SIGINT/SIGTERM stop the children (checked with `stop_requested` below).
    crate::signals::stop_flag();
    let exe = std::env::current_exe()?;
    let mut children: Vec<RoleChild> = Vec::new();
    // The others first: an ingress's process waits for the processes that read from it to
    // attach, and they wait for its regions.
    for role in others.iter().chain(&ingresses) {
        let mut cmd = Command::new(&exe);
        cmd.arg("run")
            .arg(&args.plan)
            .arg("--role")
            .arg(role)
            .arg("--shm-dir")
            .arg(&dir)
            .arg("--profile")
            .arg(args.profile.name())
            .arg("--quiet")
            .arg("--heartbeat-timeout-ms")
            .arg(args.heartbeat_timeout.as_millis().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(n) = args.events.or(args.sp.then_some(SP_DEFAULT_EVENTS)) {
            cmd.arg("--events").arg(n.to_string());
        }
        if let Some(rate) = args.rate {
            cmd.arg("--rate").arg(rate.to_string());
        }
        if let Some(env) = args.env {
            cmd.arg("--env").arg(env.name());
        }
        if let Some(journal) = &args.journal_dir {
            cmd.arg("--journal-dir").arg(journal);
        }
        if let Some(approvals) = &args.approvals {
            cmd.arg("--approvals").arg(approvals);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| RunVerbError::Supervise(format!("cannot start role `{role}`: {e}")))?;
        let output = Arc::new(std::sync::Mutex::new(String::new()));
        if let Some(stdout) = child.stdout.take() {
            let sink = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        }
        let _ = writeln!(err, "byteor: started role `{role}` pid {}", child.id());
        children.push(RoleChild {
            role: role.clone(),
            child,
            status: None,
            output,
        });
    }
    let stoppers = others.len()..children.len();

    // Watch: the first child to fail is the culprit; a clean end is every child exiting 0.
    let mut culprit: Option<(String, u32, String)> = None;
    let mut stopping_since: Option<Instant> = None;
    let grace = args.heartbeat_timeout + Duration::from_secs(3);
    loop {
        let mut running = 0;
        // Of the children that ended badly since the last look, one killed by a signal is the
        // culprit before one that exited with an error: the others notice a dead peer within
        // milliseconds and exit too, often before this loop looks again.
        let mut failed_now: Vec<(bool, String, u32, String)> = Vec::new();
        for c in children.iter_mut() {
            let seen = c.status.is_some();
            match c.poll() {
                None => running += 1,
                Some(status) if !status.success() && !seen => {
                    use std::os::unix::process::ExitStatusExt;
                    failed_now.push((
                        status.signal().is_some(),
                        c.role.clone(),
                        c.pid(),
                        describe(status),
                    ));
                }
                Some(_) => {}
            }
        }
        if culprit.is_none() {
            failed_now.sort_by_key(|(signalled, ..)| !signalled);
            culprit = failed_now
                .into_iter()
                .next()
                .map(|(_, role, pid, how)| (role, pid, how));
        }
        if running == 0 {
            break;
        }
        if (culprit.is_some() || crate::signals::stop_requested()) && stopping_since.is_none() {
            if let Some((role, pid, how)) = &culprit {
                let _ = writeln!(
                    err,
                    "byteor: role `{role}` (pid {pid}) {how}: stopping the others"
                );
            }
            // The ingresses stop publishing and end their streams; the others follow.
            for c in &children[stoppers.clone()] {
                c.signal(libc::SIGTERM);
            }
            stopping_since = Some(Instant::now());
        }
        if stopping_since.is_some_and(|t| t.elapsed() > grace) {
            for c in children.iter() {
                if c.status.is_none() {
                    let _ = writeln!(
                        err,
                        "byteor: role `{}` (pid {}) did not stop within {grace:?}: killing it",
                        c.role,
                        c.pid()
                    );
                    c.signal(libc::SIGKILL);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    // Every child ended: the pipeline's regions have no owner any more.
    let removed: Vec<PathBuf> = snapshot::clean_pipeline(&dir, &plan.name)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| match c {
            snapshot::Cleaned::Removed(path) => Some(path),
            snapshot::Cleaned::Kept(_) => None,
        })
        .collect();
    for c in &children {
        let status = c.status.map(describe).unwrap_or_else(|| "unknown".into());
        let report = c.output.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match args.format {
            Format::Text => {
                writeln!(out, "role `{}` (pid {}) {status}", c.role, c.pid())?;
                for line in report.lines() {
                    writeln!(out, "  {line}")?;
                }
            }
            Format::Json => {}
        }
    }
    if let Format::Json = args.format {
        let roles: Vec<serde_json::Value> = children
            .iter()
            .map(|c| {
                serde_json::json!({
                    "role": c.role,
                    "pid": c.pid(),
                    "success": c.status.is_some_and(|s| s.success()),
                    "status": c.status.map(describe),
                })
            })
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "schema": crate::json::SUPERVISE_SCHEMA,
                "pipeline": plan.name,
                "complete": culprit.is_none() && children.iter().all(|c| c.status.is_some_and(|s| s.success())),
                "culprit": culprit.as_ref().map(|(role, pid, how)| serde_json::json!({"role": role, "pid": pid, "how": how})),
                "roles": roles,
                "regions_removed": removed.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            })
        )?;
    }
    if let Some((role, pid, how)) = culprit {
        let _ = writeln!(
            err,
            "byteor: `{}` failed: role `{role}` (pid {pid}) {how}",
            plan.name
        );
        return Ok(exit::INVALID);
    }
    let clean = children
        .iter()
        .all(|c| c.status.is_some_and(|s| s.success()));
    Ok(if clean { exit::OK } else { exit::INVALID })
}
