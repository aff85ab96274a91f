//! The built `byteor` binary, run as an operator would: every verb on good and bad input, with
//! the documented exit codes and JSON output parsed and checked.

mod common;

use common::*;
use serde_json::Value;

const PLANS: [&str; 2] = ["orders.toml", "plant.toml"];

#[test]
fn every_checked_in_plan_validates_with_exit_0_in_text_and_json() {
    for name in PLANS {
        let out = byteor(&[&"validate", &plan(name)]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert!(stdout(&out).contains(": valid "), "{}", stdout(&out));

        let out = byteor(&[&"validate", &plan(name), &"--format", &"json"]);
        assert_eq!(out.status.code(), Some(0));
        let v = json(&out);
        assert_eq!(v["schema"], "byteor.validate/1");
        assert_eq!(v["valid"], true);
        assert_eq!(v["violations"].as_array().map(Vec::len), Some(0));
        assert_eq!(v["fingerprint"].as_str().map(str::len), Some(16), "{v}");
    }
}

#[test]
fn an_invalid_plan_reports_every_violation_with_exit_1() {
    let out = byteor(&[&"validate", &fixture("broken.toml")]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("invalid single_ring `broken`: 3 problems"),
        "{text}"
    );
    for expected in [
        "stage `parse` runs after `pasre`: no such stage",
        "stage `risk` runs after itself",
        "single_ring.capacity is 1000; it must be a power of two",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    let out = byteor(&[&"validate", &fixture("broken.toml"), &"--format", &"json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["valid"], false);
    assert_eq!(v["pipeline"], "broken");
    assert_eq!(v["target"], "single_ring");
    assert_eq!(v["fingerprint"], Value::Null);
    assert_eq!(v["violations"].as_array().map(Vec::len), Some(3), "{v}");

    // The other verbs refuse it the same way, on stderr.
    for verb in ["describe", "dot", "lower", "fingerprint"] {
        let out = byteor(&[&verb, &fixture("broken.toml")]);
        assert_eq!(out.status.code(), Some(1), "{verb}");
        assert!(
            stderr(&out).contains("invalid plan `broken`"),
            "{verb}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty(), "{verb} printed on stdout");
    }
}

#[test]
fn a_document_that_does_not_parse_is_invalid_and_says_where() {
    let out = byteor(&[&"validate", &fixture("unparsable.toml")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("line 4, column"), "{}", stdout(&out));
    let out = byteor(&[
        &"validate",
        &fixture("unparsable.toml"),
        &"--format",
        &"json",
    ]);
    let v = json(&out);
    assert_eq!(
        (v["valid"].clone(), v["pipeline"].clone()),
        (Value::Bool(false), Value::Null)
    );
}

#[test]
fn usage_and_io_errors_exit_2() {
    let out = byteor(&[&"validate", &"no/such/plan.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no/such/plan.toml"),
        "{}",
        stderr(&out)
    );
    let out = byteor(&[&"frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = byteor(&[&"validate", &plan("orders.toml"), &"--format", &"yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = byteor(&[&"dot", &plan("orders.toml"), &"--format", &"json"]);
    assert_eq!(out.status.code(), Some(2), "dot has no --format");
    // Help is not an error, and documents the exit codes.
    let out = byteor(&[&"--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Exit codes: 0 success; 1 invalid input"));
}

#[test]
fn describe_shows_the_lowered_pipeline_in_text_and_json() {
    let out = byteor(&[&"describe", &plan("orders.toml")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).starts_with("pipeline orders (single_ring)"),
        "{}",
        stdout(&out)
    );

    let v = json(&byteor(&[
        &"describe",
        &plan("orders.toml"),
        &"--format",
        &"json",
    ]));
    assert_eq!(v["schema"], "byteor.describe/1");
    assert_eq!(v["lane_graph"], Value::Null);
    let ring = &v["single_ring"];
    assert_eq!(ring["capacity"], 1024);
    assert_eq!(ring["stages"][3]["name"], "publish");
    assert_eq!(
        ring["stages"][3]["after"],
        serde_json::json!(["risk", "audit"])
    );
    assert_eq!(ring["stages"][3]["final"], true);
    assert_eq!(ring["stages"][0]["final"], false);

    let v = json(&byteor(&[
        &"describe",
        &plan("plant.toml"),
        &"--format",
        &"json",
    ]));
    let graph = &v["lane_graph"];
    assert_eq!(v["single_ring"], Value::Null);
    let roles = graph["roles"].as_array().unwrap();
    assert!(
        roles
            .iter()
            .any(|r| r["name"] == "merge.decisions_out" && r["inserted"] == true),
        "{graph}"
    );
    let tap = graph["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["readers"] == serde_json::json!(["analytics"]))
        .expect("the analytics lane");
    assert_eq!(
        (tap["on_full"].as_str(), tap["capacity"].as_u64()),
        (Some("drop"), Some(256))
    );
}

#[test]
fn dot_lower_and_fingerprint_agree_between_a_plan_and_its_lowered_spec() {
    let dir = std::env::temp_dir().join(format!("byteor-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in PLANS {
        let out = byteor(&[&"dot", &plan(name)]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).starts_with("digraph"), "{}", stdout(&out));

        let lowered = byteor(&[&"lower", &plan(name)]);
        assert_eq!(lowered.status.code(), Some(0));
        let kv = dir.join(name).with_extension("kv");
        std::fs::write(&kv, &lowered.stdout).unwrap();

        let from_plan = stdout(&byteor(&[&"fingerprint", &plan(name)]));
        let from_kv = stdout(&byteor(&[&"fingerprint", &kv]));
        assert_eq!(from_plan, from_kv, "{name}");
        assert_eq!(from_plan.trim().len(), 16);
        let v = json(&byteor(&[&"fingerprint", &kv, &"--format", &"json"]));
        assert_eq!(v["schema"], "byteor.fingerprint/1");
        assert_eq!(v["fingerprint"].as_str(), Some(from_plan.trim()));
        // A spec file validates too, and lowering it again changes nothing.
        let out = byteor(&[&"validate", &kv]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        assert_eq!(byteor(&[&"lower", &kv]).stdout, lowered.stdout);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
