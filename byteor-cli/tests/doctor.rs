//! `byteor doctor`, the built binary on this host: the `byteor.doctor/1` object, the text
//! table, the exit codes, a plan's needs.

mod common;

use std::process::Output;

use byteor::abi::region::RegionGeometry;
use byteor::ops::doctor::{CHECK_IDS, ESTIMATED_SLOT_BYTES};
use common::*;
use serde_json::Value;

const ORDERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/plans/orders.toml");

/// The exit code `readiness` stands for.
fn code_of(readiness: &str) -> i32 {
    match readiness {
        "ready" => 0,
        "degraded" => 2,
        "failed" => 1,
        other => panic!("readiness `{other}`"),
    }
}

/// The object's shape: schema, profile, readiness, every check once in order, each with its
/// fields; the exit code agrees with the readiness.
fn assert_doctor_object(out: &Output, profile: &str) -> Value {
    let v = json(out);
    assert_eq!(v["schema"], "byteor.doctor/1", "{v}");
    assert_eq!(v["profile"], profile);
    let readiness = v["readiness"].as_str().expect("readiness is a string");
    assert_eq!(out.status.code(), Some(code_of(readiness)), "{v}");
    let checks = v["checks"].as_array().expect("checks is an array");
    let ids: Vec<&str> = checks.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, CHECK_IDS, "{v}");
    let mut worst = "ready";
    for c in checks {
        for field in ["title", "requested", "observed", "status"] {
            assert!(c[field].is_string(), "{field} of {c}");
        }
        match c["status"].as_str().unwrap() {
            "ok" => {
                assert!(c["reason"].is_null() && c["remediation"].is_null(), "{c}");
            }
            status @ ("degraded" | "unavailable" | "failed") => {
                assert!(
                    c["reason"].is_string() && c["remediation"].is_string(),
                    "{c}"
                );
                worst = match (worst, status) {
                    (_, "failed") | ("failed", _) => "failed",
                    (_, "degraded") => "degraded",
                    (w, _) => w,
                };
            }
            other => panic!("status `{other}` in {c}"),
        }
    }
    assert_eq!(readiness, worst, "{v}");
    v
}

#[test]
fn json_on_this_host_has_every_check_and_the_exit_code_of_its_readiness() {
    let out = byteor(&[&"doctor", &"--json"]);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    let v = assert_doctor_object(&out, "default");
    assert!(v["plan"].is_null());
    assert_eq!(v["shm_dir"], "/dev/shm/byteor");

    for profile in ["default", "low-latency", "isolated-core"] {
        let out = byteor(&[&"doctor", &"--profile", &profile, &"--format", &"json"]);
        assert_doctor_object(&out, profile);
    }
}

#[test]
fn text_has_a_line_per_check_and_ends_with_the_readiness() {
    let out = byteor(&[&"doctor", &"--profile", &"low-latency"]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    for id in CHECK_IDS {
        let line = lines
            .iter()
            .find(|l| l.split_whitespace().nth(1) == Some(id))
            .unwrap_or_else(|| panic!("no line for {id}:\n{text}"));
        let status = line.split_whitespace().next().unwrap();
        assert!(
            ["ok", "degraded", "unavailable", "failed"].contains(&status),
            "{line}"
        );
    }
    let last = lines.last().expect("some output");
    let readiness = last.split_whitespace().next().unwrap();
    assert!(
        last.contains(" for profile low-latency: "),
        "last line: {last}"
    );
    assert_eq!(out.status.code(), Some(code_of(readiness)), "{text}");
}

#[test]
fn an_unknown_profile_is_a_usage_error_naming_it() {
    let out = byteor(&[&"doctor", &"--profile", &"nope"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("'nope'"), "{err}");
    assert!(err.contains("low-latency"), "{err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_plan_s_threads_and_shared_memory_are_checked() {
    // orders: 4 stages on one shard of 1024 slots, 64-byte slots assumed.
    let region = RegionGeometry::new(1024, ESTIMATED_SLOT_BYTES, 4).unwrap();
    let bytes = region.region_bytes;

    let out = byteor(&[&"doctor", &"--plan", &ORDERS, &"--json"]);
    let v = assert_doctor_object(&out, "default");
    assert_eq!(v["plan"]["pipeline"], "orders", "{v}");
    assert_eq!(v["plan"]["threads_needed"], 5);
    assert_eq!(v["plan"]["shm_bytes_needed"], bytes);
    let space = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "shm.space")
        .unwrap();
    let requested = space["requested"].as_str().unwrap();
    assert!(
        requested.contains(&format!("({bytes} bytes)")),
        "{requested}"
    );

    let out = byteor(&[&"doctor", &"--plan", &ORDERS, &"--profile", &"low-latency"]);
    let text = stdout(&out);
    assert!(text.starts_with("plan `orders` ("), "{text}");
    assert!(
        text.contains(&format!("5 threads, {bytes} bytes of shared memory")),
        "{text}"
    );
    assert!(text.contains("5 physical cores, one per thread"), "{text}");
    assert!(
        text.contains(&format!("({bytes} bytes) free for the regions")),
        "{text}"
    );
}

#[test]
fn a_plan_that_cannot_be_read_exits_2_and_an_invalid_one_exits_1() {
    let out = byteor(&[&"doctor", &"--plan", &"no/such/plan.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("no/such/plan.toml"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());

    let out = byteor(&[&"doctor", &"--plan", &fixture("broken.toml"), &"--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("invalid plan `broken`"), "{err}");
    assert!(err.contains("stage `risk` runs after itself"), "{err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn the_shared_memory_directory_is_the_one_given() {
    let dir = std::env::temp_dir().join(format!("byteor-doctor-cli-{}", std::process::id()));
    let out = byteor(&[&"doctor", &"--shm-dir", &dir, &"--json"]);
    let v = assert_doctor_object(&out, "default");
    assert_eq!(v["shm_dir"], dir.display().to_string());
    let stale = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "shm.stale")
        .unwrap();
    assert_eq!(stale["status"], "ok", "{stale}");
    assert!(
        stale["observed"]
            .as_str()
            .unwrap()
            .contains(&dir.display().to_string()),
        "{stale}"
    );
}

#[test]
fn json_and_format_conflict() {
    let out = byteor(&[&"doctor", &"--json", &"--format", &"text"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
}
