//! `byteor run` and `byteor snapshot`, run as an operator would: one-shot bring-up of every
//! checked-in plan, a failing stage, a long run watched by `snapshot`, signals, and `run --mp`
//! with a role killed by SIGKILL. Every child process is killed on drop, even on failure.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn pid_alive(pid: u32) -> bool {
    // A reaped child's pid no longer exists (or, rarely, names another process: then its
    // cmdline does not run our binary).
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| text(&c).contains("byteor"))
        .unwrap_or(false)
}

#[test]
fn run_sp_brings_up_every_checked_in_plan_with_exit_0() {
    for name in ["orders.toml", "plant.toml", "relay.toml"] {
        let mut c = command();
        c.args(["run", "--sp", "--events", "100000", "--format", "json"])
            .arg(plan(name));
        let out = output(c);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        let report = json(&out);
        assert_eq!(report["schema"], "byteor.run/1");
        assert_eq!(report["complete"], true);
        assert!(report["failure"].is_null());
        let stages = report["stages"].as_array().unwrap();
        assert!(!stages.is_empty());
        if name == "orders.toml" {
            assert_eq!(report["published"], 100_000);
            for s in stages {
                assert_eq!(s["processed"], 100_000, "{s}");
                assert_eq!(s["expected"], 100_000, "{s}");
            }
            let latency = &report["latency"][0];
            assert_eq!(latency["stage"], "publish");
            assert_eq!(latency["count"], 100_000);
        } else {
            // Every lane adds up: nothing lost under `block`, the analytics tap's drops counted.
            for lane in report["lanes"].as_array().unwrap() {
                assert_eq!(lane["adds_up"], true, "{lane}");
            }
            let egress = report["egress"].as_array().unwrap();
            let (out, want) = match name {
                "plant.toml" => ("decisions_out", 300_000), // three deciders merged
                _ => ("quotes_out", 100_000),
            };
            let received = egress.iter().find(|e| e["name"] == out).unwrap();
            assert_eq!(received["received"], want, "{name}");
        }
    }
}

#[test]
fn run_sp_text_report_names_every_stage() {
    let mut c = command();
    c.args(["run", "--sp", "--events", "20000"])
        .arg(plan("orders.toml"));
    let out = output(c);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    for stage in ["parse", "risk", "audit", "publish"] {
        assert!(report.contains(&format!("stage {stage}")), "{report}");
    }
    assert!(report.contains("complete"), "{report}");
}

#[test]
fn a_failing_stage_exits_1_naming_it() {
    let dir = TempDir::new("fail");
    let plan_path = dir.0.join("fails.toml");
    std::fs::write(
        &plan_path,
        r#"
version = 2
name = "fails"
target = "single_ring"
[[ingress]]
name = "in"
[[egress]]
name = "out"
[[stages]]
name = "first"
kind = "pass"
[[stages]]
name = "broken"
kind = "fail"
params = { at = 500 }
after = ["first"]
[single_ring]
capacity = 64
"#,
    )
    .unwrap();
    let mut c = command();
    c.args(["run", "--sp", "--events", "10000"]).arg(&plan_path);
    let out = output(c);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let report = text(&out.stdout);
    assert!(report.contains("failed: stage `broken`"), "{report}");
    assert!(report.contains("at event 500"), "{report}");
}

#[test]
fn bad_input_has_the_documented_exit_codes() {
    // A plan whose kinds this binary does not have: invalid (1), every stage named.
    let dir = TempDir::new("kinds");
    let p = dir.0.join("unknown.toml");
    std::fs::write(
        &p,
        "version = 2\nname = \"u\"\ntarget = \"single_ring\"\n[[ingress]]\nname = \"in\"\n[[egress]]\nname = \"out\"\n[[stages]]\nname = \"a\"\nkind = \"quote_parser\"\n[[stages]]\nname = \"b\"\nkind = \"pricer\"\n[single_ring]\ncapacity = 64\n",
    )
    .unwrap();
    let mut c = command();
    c.args(["run", "--sp"]).arg(&p);
    let out = output(c);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("quote_parser") && err.contains("pricer"),
        "{err}"
    );

    // A missing file, an unknown profile, an unknown role: usage (2).
    let mut c = command();
    c.args(["run", "--sp", "no/such/plan.toml"]);
    assert_eq!(output(c).status.code(), Some(2));
    let mut c = command();
    c.args(["run", "--sp", "--profile", "turbo"])
        .arg(plan("orders.toml"));
    let out = output(c);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("turbo"));
    let mut c = command();
    c.args(["run", "--role", "nobody", "--shm-dir"])
        .arg(&dir.0)
        .arg(plan("orders.toml"));
    let out = output(c);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("`nobody`"),
        "{}",
        text(&out.stderr)
    );
    // A LaneGraph role that is not a process role (an inserted router) is refused, naming
    // the process roles.
    let mut c = command();
    c.args(["run", "--role", "router.parse", "--shm-dir"])
        .arg(&dir.0)
        .arg(plan("plant.toml"));
    let out = output(c);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("`router.parse`") && err.contains("`packets_in`"),
        "{err}"
    );
}

#[test]
fn snapshot_sees_a_running_pipeline_advance_and_sigterm_drains_it() {
    let dir = TempDir::new("snap");
    let mut c = command();
    c.args([
        "run",
        "--rate",
        "200000",
        "--quiet",
        "--format",
        "json",
        "--shm-dir",
    ])
    .arg(&dir.0)
    .arg(plan("orders.toml"))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut run = Guard(c.spawn().unwrap());

    // Wait for the region, then take two snapshots apart.
    let deadline = Instant::now() + Duration::from_secs(20);
    let snap = |format: &str| {
        let mut c = command();
        c.args(["snapshot", "--format", format]).arg(&dir.0);
        output(c)
    };
    let first = loop {
        let out = snap("json");
        let v = json(&out);
        if v["regions"].as_array().is_some_and(|r| !r.is_empty())
            && v["regions"][0]["published"].as_u64().unwrap_or(0) > 0
        {
            break v;
        }
        assert!(Instant::now() < deadline, "no region appeared: {v}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(first["schema"], "byteor.snapshot/1");
    let region = &first["regions"][0];
    assert_eq!(region["pipeline"], "orders");
    assert_eq!(region["health"], "alive");
    assert_eq!(region["event"], "BuiltinEvent");
    assert_eq!(region["producer"]["pid"], run.0.id());
    // The policy decision the producer started under is next to its regions.
    assert!(
        region["policy"]
            .as_str()
            .is_some_and(|p| p.contains("environment dev")),
        "{region}"
    );
    let stages: Vec<&str> = region["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["parse", "risk", "audit", "publish"]);
    std::thread::sleep(Duration::from_millis(300));
    let second = json(&snap("json"));
    let published = |v: &Value| v["regions"][0]["published"].as_u64().unwrap();
    assert!(
        published(&second) > published(&first),
        "the counters advance: {} then {}",
        published(&first),
        published(&second)
    );
    let text_view = text(&snap("text").stdout);
    assert!(text_view.contains("pipeline orders shard 0"), "{text_view}");
    assert!(text_view.contains("stage publish"), "{text_view}");
    let metrics = text(&snap("openmetrics").stdout);
    assert!(metrics.contains("byteor_published_total{pipeline=\"orders\",shard=\"0\"}"));
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");

    // The owner is alive: --clean removes nothing.
    let mut c = command();
    c.args(["snapshot", "--clean", "--yes"]).arg(&dir.0);
    let out = output(c);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(dir.files(), ["orders.0", "orders.policy"]);

    // SIGTERM: the run stops publishing, drains, reports complete and removes its region.
    // SAFETY: signalling our own child, which is not reaped yet (the guard holds it).
    unsafe { libc::kill(run.0.id() as libc::pid_t, libc::SIGTERM) };
    let status = run.wait_for(Duration::from_secs(30));
    let mut report = String::new();
    std::io::Read::read_to_string(run.0.stdout.as_mut().unwrap(), &mut report).unwrap();
    assert_eq!(status.code(), Some(0), "{report}");
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["complete"], true);
    assert!(report["published"].as_u64().unwrap() >= published(&second));
    assert!(dir.files().is_empty(), "{:?}", dir.files());
}

#[test]
fn snapshot_clean_removes_only_dead_owners_regions() {
    let dir = TempDir::new("clean");
    // A region left by a process that died: a child runs a producer role and is killed.
    let mut c = command();
    c.args(["run", "--role", "orders_in", "--quiet", "--shm-dir"])
        .arg(&dir.0)
        .arg(plan("orders.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = Guard(c.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while dir.files().is_empty() {
        assert!(Instant::now() < deadline, "the producer created no region");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    child.0.kill().unwrap();
    child.wait_for(Duration::from_secs(10));
    std::fs::write(dir.0.join("notes.txt"), "not a region").unwrap();

    let mut c = command();
    c.args(["snapshot", "--json"]).arg(&dir.0);
    let v = json(&output(c));
    assert_eq!(v["regions"][0]["health"], "dead", "{v}");
    assert_eq!(v["unreadable"].as_array().unwrap().len(), 1, "{v}");

    // Without --yes and without a terminal it refuses.
    let mut c = command();
    c.args(["snapshot", "--clean"])
        .arg(&dir.0)
        .stdin(Stdio::null());
    assert_eq!(output(c).status.code(), Some(2));
    assert_eq!(dir.files(), ["notes.txt", "orders.0", "orders.policy"]);

    let mut c = command();
    c.args(["snapshot", "--clean", "--yes"]).arg(&dir.0);
    let out = output(c);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("removed"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        dir.files(),
        ["notes.txt"],
        "only the dead owner's region goes"
    );
}

#[test]
fn run_mp_runs_one_process_per_role_and_cleans_up() {
    mp_runs_cleanly(
        "orders.toml",
        &["parse", "risk", "audit", "publish", "orders_in"],
    );
}

#[test]
fn run_mp_runs_a_lane_graph_one_process_per_ingress_stage_and_egress() {
    mp_runs_cleanly(
        "plant.toml",
        &[
            "parse",
            "book",
            "risk",
            "audit",
            "analytics",
            "decisions_out",
            "analytics_out",
            "packets_in",
        ],
    );
}

/// Starts the supervisor: `run --mp ARGS --shm-dir DIR PLAN`, its output piped.
fn start_mp(plan_file: &str, dir: &TempDir, args: &[&str]) -> Guard {
    let mut c = command();
    c.args(["run", "--mp"])
        .args(args)
        .arg("--shm-dir")
        .arg(&dir.0)
        .arg(plan(plan_file))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Guard(c.spawn().unwrap())
}

/// `run --mp` of a checked-in plan: one child per process role, in the order given, every one
/// exits 0, and no region is left.
fn mp_runs_cleanly(plan_file: &str, want_roles: &[&str]) {
    let dir = TempDir::new(&format!("mp-ok-{plan_file}"));
    let mut sup = start_mp(plan_file, &dir, &["--events", "50000", "--format", "json"]);
    let status = sup.wait_for(Duration::from_secs(60));
    let mut out = String::new();
    std::io::Read::read_to_string(sup.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(sup.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "byteor.supervise/1");
    assert_eq!(v["complete"], true);
    let roles: Vec<&str> = v["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, want_roles);
    assert!(dir.files().is_empty(), "{:?}", dir.files());
}

#[test]
fn run_mp_names_a_role_killed_with_sigkill_and_leaves_nothing_behind() {
    mp_kill("orders.toml", 5, "risk");
}

#[test]
fn run_mp_of_a_three_role_lane_graph_names_the_killed_role_and_leaves_nothing_behind() {
    mp_kill("relay.toml", 3, "enrich");
}

/// `run --mp` of `plan_file` (`roles` child processes), `victim`'s process killed with
/// SIGKILL while events flow: the supervisor exits 1 within the heartbeat timeout (and a
/// margin), naming the victim; no child is left running and no region is left behind.
fn mp_kill(plan_file: &str, roles: usize, victim: &str) {
    let dir = TempDir::new(&format!("mp-kill-{plan_file}"));
    let heartbeat = Duration::from_millis(500);
    let mut sup = start_mp(
        plan_file,
        &dir,
        &["--rate", "100000", "--heartbeat-timeout-ms", "500"],
    );

    // Read the supervisor's stderr on a thread: "started role `risk` pid N", then the verdict.
    let stderr = sup.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let mut pids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while pids.len() < roles {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("not every role started: {lines:?}"));
        if let Some(rest) = line.strip_prefix("byteor: started role `") {
            let (role, pid) = rest.split_once("` pid ").unwrap();
            pids.push((role.to_owned(), pid.parse::<u32>().unwrap()));
        }
        lines.push(line);
    }
    // Let it run, check it publishes, then kill one stage process.
    let deadline = Instant::now() + Duration::from_secs(20);
    while dir.files().is_empty() {
        assert!(Instant::now() < deadline, "no region");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let killed = pids.iter().find(|(r, _)| r == victim).unwrap().1;
    // SAFETY: `killed` is a live grandchild: the supervisor has not reaped it (it is running).
    unsafe { libc::kill(killed as libc::pid_t, libc::SIGKILL) };
    let killed_at = Instant::now();

    let status = sup.wait_for(Duration::from_secs(30));
    let took = killed_at.elapsed();
    assert_eq!(status.code(), Some(1));
    assert!(
        took < heartbeat + Duration::from_secs(5),
        "the supervisor took {took:?} to stop"
    );
    let mut rest: Vec<String> = rx.try_iter().collect();
    // The reader thread may still be draining the pipe.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !rest.iter().any(|l| l.contains("failed: role")) && Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            rest.push(l);
        }
    }
    let all = rest.join("\n");
    assert!(
        all.contains(&format!(
            "role `{victim}` (pid {killed}) was killed by signal 9 (SIGKILL)"
        )),
        "{all}"
    );
    // No orphan, no stale region.
    for (role, pid) in &pids {
        assert!(
            !pid_alive(*pid),
            "role `{role}` (pid {pid}) is still running"
        );
    }
    assert!(dir.files().is_empty(), "{:?}", dir.files());
}
