//! Capture → incident bundle → verify → replay, run as an on-call engineer would, and the
//! environment policy with approvals.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// Runs `plan_file` with capture into `dir/capture` and bundles it into `dir/<bundle>`.
fn capture_and_bundle(dir: &TempDir, plan_file: &Path, events: &str, bundle: &str) -> PathBuf {
    let capture = dir.path("capture");
    let out = byteor(&[
        &"run",
        &plan_file,
        &"--sp",
        &"--quiet",
        &"--events",
        &events,
        &"--capture",
        &capture,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let file = dir.path(bundle);
    let out = byteor(&[
        &"incident-bundle",
        &"--from",
        &capture,
        &"--out",
        &file,
        &"--no-doctor",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    file
}

#[test]
fn lane_graph_round_trip_replays_the_captured_outputs() {
    let dir = TempDir::new("lg");
    let bundle = capture_and_bundle(&dir, &plan("plant.toml"), "20000", "plant.tar");

    let out = byteor(&[&"incident-bundle", &"verify", &bundle]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("intact"),
        "{}",
        text(&out.stdout)
    );

    let out = byteor(&[&"replay", &bundle, &"--format", &"json"]);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["schema"], "byteor.replay/1");
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["matches"], true);
    assert_eq!(v["run"]["published"], 20_000);
    let diffs = v["diffs"].as_array().unwrap();
    let decisions = diffs
        .iter()
        .find(|d| d["egress"] == "decisions_out")
        .unwrap();
    assert_eq!(decisions["captured"], 60_000);
    assert_eq!(decisions["replayed"], 60_000);
    assert_eq!(decisions["equal"], true);
    // The side-effecting `audit` stage was withheld and says what it would have received.
    let withheld = v["withheld"].as_array().unwrap();
    assert_eq!(withheld.len(), 1);
    assert_eq!(withheld[0]["stage"], "audit");
    assert_eq!(withheld[0]["would_receive"], 20_000);
}

#[test]
fn single_ring_round_trip_replays_every_input() {
    let dir = TempDir::new("sr");
    let bundle = capture_and_bundle(&dir, &plan("orders.toml"), "5000", "orders.tar");
    let out = byteor(&[&"replay", &bundle, &"--format", &"json"]);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["run"]["published"], 5000);
    for s in v["run"]["stages"].as_array().unwrap() {
        assert_eq!(s["processed"], 5000, "{s}");
    }
    // The events as they left the ring (after the last final stage), replayed = captured.
    let diffs = v["diffs"].as_array().unwrap();
    assert_eq!(diffs.len(), 1, "{v}");
    assert_eq!(diffs[0]["egress"], "fills_out");
    assert_eq!(diffs[0]["captured"], 5000);
    assert_eq!(diffs[0]["replayed"], 5000);
    assert_eq!(diffs[0]["equal"], true);
}

#[test]
fn bundles_of_one_capture_are_byte_identical_and_windows_select() {
    let dir = TempDir::new("repro");
    let first = capture_and_bundle(&dir, &plan("orders.toml"), "3000", "a.tar");
    let second = dir.path("b.tar");
    let out = byteor(&[
        &"incident-bundle",
        &"--from",
        &dir.path("capture"),
        &"--out",
        &second,
        &"--no-doctor",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read(&first).unwrap(),
        std::fs::read(&second).unwrap()
    );

    // A window by sequence: the inputs from seq 2000 on.
    let windowed = dir.path("w.tar");
    let out = byteor(&[
        &"incident-bundle",
        &"--from",
        &dir.path("capture"),
        &"--out",
        &windowed,
        &"--from-seq",
        &"2000",
        &"--no-doctor",
    ]);
    assert_eq!(out.status.code(), Some(0));
    // The manifest printed: the inputs entry holds 1000 events of 40 bytes and a header.
    let manifest = text(&out.stdout);
    assert!(
        manifest.contains(&format!("  {}  inputs/orders_in.events", 16 + 1000 * 40)),
        "{manifest}"
    );
    let out = byteor(&[&"replay", &windowed, &"--format", &"json"]);
    assert_eq!(json(&out)["run"]["published"], 1000);

    // With the host report, it is there (and listed in the manifest).
    let with_doctor = dir.path("d.tar");
    let out = byteor(&[
        &"incident-bundle",
        &"--from",
        &dir.path("capture"),
        &"--out",
        &with_doctor,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("  doctor.json"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_tampered_bundle_fails_verify_naming_the_entry_and_is_not_replayed() {
    let dir = TempDir::new("tamper");
    let bundle = capture_and_bundle(&dir, &plan("orders.toml"), "1000", "t.tar");
    let mut bytes = std::fs::read(&bundle).unwrap();
    // `version.txt` holds "product byteor ..."; no other entry holds the word.
    let at = bytes
        .windows(7)
        .position(|w| w == b"product")
        .expect("version.txt is in the archive");
    bytes[at + 6] = b'x';
    std::fs::write(&bundle, &bytes).unwrap();

    let out = byteor(&[&"incident-bundle", &"verify", &bundle]);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert!(report.contains("altered `version.txt`"), "{report}");

    let out = byteor(&[&"replay", &bundle]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("version.txt"),
        "{}",
        text(&out.stderr)
    );

    // Not a bundle at all: usage/I/O (2).
    std::fs::write(dir.path("junk.tar"), b"junk").unwrap();
    let out = byteor(&[&"incident-bundle", &"verify", &dir.path("junk.tar")]);
    assert_eq!(out.status.code(), Some(2));
}

/// A bundle whose plan's side-effecting stage fails the moment it is called: the capture ran
/// with a harmless stage of that name; the plan is swapped before bundling.
fn bundle_with_a_stage_that_must_not_run(dir: &TempDir) -> PathBuf {
    let harmless = dir.path("harmless.toml");
    let plan_text = |kind: &str| {
        format!(
            r#"version = 2
name = "sender"
target = "single_ring"
[[ingress]]
name = "in"
[[egress]]
name = "out"
[[stages]]
name = "prepare"
kind = "checksum"
[[stages]]
name = "send_orders"
kind = "{kind}"
side_effects = true
after = ["prepare"]
[single_ring]
capacity = 64
"#
        )
    };
    std::fs::write(&harmless, plan_text("count")).unwrap();
    let capture = dir.path("capture");
    let out = byteor(&[
        &"run",
        &harmless,
        &"--sp",
        &"--quiet",
        &"--events",
        &"100",
        &"--capture",
        &capture,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::write(capture.join("plan.toml"), plan_text("fail")).unwrap();
    let bundle = dir.path("sender.tar");
    let out = byteor(&[
        &"incident-bundle",
        &"--from",
        &capture,
        &"--out",
        &bundle,
        &"--no-doctor",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    bundle
}

#[test]
fn a_dry_run_never_invokes_a_side_effecting_stage() {
    let dir = TempDir::new("dry");
    let bundle = bundle_with_a_stage_that_must_not_run(&dir);
    let out = byteor(&[&"replay", &bundle]);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}{}", text(&out.stderr));
    assert!(
        report.contains("withheld send_orders (kind fail): would have received 100 events"),
        "{report}"
    );
    // Promoted (dev allows it), the stage runs — and fails at its first event, which is what
    // the dry run kept from happening.
    let out = byteor(&[&"replay", &bundle, &"--promote"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("failed: stage `send_orders`"),
        "{}",
        text(&out.stdout)
    );
}

fn approvals(dir: &TempDir, name: &str, stage: &str, fingerprint: &str, expires: &str) -> PathBuf {
    let path = dir.path(name);
    std::fs::write(
        &path,
        format!(
            "[[approval]]\nstage = \"{stage}\"\nfingerprint = \"{fingerprint}\"\napprover = \"alice@example.com\"\nexpires = {expires}\nreason = \"CHG-1\"\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn promotion_and_starts_in_prod_need_matching_unexpired_approvals() {
    let dir = TempDir::new("policy");
    let bundle = capture_and_bundle(&dir, &plan("orders.toml"), "500", "o.tar");
    let fingerprint = text(&byteor(&[&"fingerprint", &plan("orders.toml")]).stdout)
        .trim()
        .to_owned();

    // No approval: refused, naming the stage.
    let out = byteor(&[&"replay", &bundle, &"--promote", &"--env", &"prod"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("stage `audit`: no approval"), "{err}");

    // A matching approval: allowed, and the decision names the approver.
    let good = approvals(
        &dir,
        "good.toml",
        "audit",
        &fingerprint,
        "2099-01-01T00:00:00Z",
    );
    let out = byteor(&[
        &"replay",
        &bundle,
        &"--promote",
        &"--env",
        &"prod",
        &"--approvals",
        &good,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("approved by alice@example.com"),
        "{}",
        text(&out.stdout)
    );

    // An approval for another spec: refused, saying so.
    let other = approvals(
        &dir,
        "other.toml",
        "audit",
        "0000000000000000",
        "2099-01-01",
    );
    let out = byteor(&[
        &"replay",
        &bundle,
        &"--promote",
        &"--env",
        &"staging",
        &"--approvals",
        &other,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("approved only for other specs"),
        "{}",
        text(&out.stderr)
    );

    // Expired: refused, saying so.
    let old = approvals(&dir, "old.toml", "audit", &fingerprint, "2020-01-01");
    let out = byteor(&[
        &"replay",
        &bundle,
        &"--promote",
        &"--env",
        &"prod",
        &"--approvals",
        &old,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("expired"),
        "{}",
        text(&out.stderr)
    );

    // Starting the pipeline follows the same rules, and dev needs nothing.
    let out = byteor(&[
        &"run",
        &plan("orders.toml"),
        &"--sp",
        &"--events",
        &"10",
        &"--env",
        &"prod",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no approval"),
        "{}",
        text(&out.stderr)
    );
    let out = byteor(&[
        &"run",
        &plan("orders.toml"),
        &"--sp",
        &"--events",
        &"10",
        &"--env",
        &"prod",
        &"--approvals",
        &good,
        &"--format",
        &"json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(v["policy"]["env"], "prod");
    assert_eq!(v["policy"]["approved"][0]["approver"], "alice@example.com");
    let out = byteor(&[&"run", &plan("orders.toml"), &"--sp", &"--events", &"10"]);
    assert_eq!(out.status.code(), Some(0));

    // A broken approvals file is a usage error listing its problems.
    std::fs::write(dir.path("bad.toml"), "[[approval]]\nstage = \"audit\"\n").unwrap();
    let out = byteor(&[
        &"replay",
        &bundle,
        &"--promote",
        &"--env",
        &"prod",
        &"--approvals",
        &dir.path("bad.toml"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`fingerprint` is missing"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_bundle_whose_fingerprint_does_not_match_is_refused() {
    let dir = TempDir::new("fp");
    let capture = dir.path("capture");
    let out = byteor(&[
        &"run",
        &plan("orders.toml"),
        &"--sp",
        &"--quiet",
        &"--events",
        &"10",
        &"--capture",
        &capture,
    ]);
    assert_eq!(out.status.code(), Some(0));
    // Forge the recorded fingerprint, and its manifest line, so the archive verifies but
    // the fingerprint is not the spec's.
    let bundle = dir.path("f.tar");
    let out = byteor(&[
        &"incident-bundle",
        &"--from",
        &capture,
        &"--out",
        &bundle,
        &"--no-doctor",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let fingerprint = text(&byteor(&[&"fingerprint", &plan("orders.toml")]).stdout)
        .trim()
        .to_owned();
    let mut bytes = std::fs::read(&bundle).unwrap();
    let content = format!("{fingerprint}\n");
    let at = bytes
        .windows(content.len())
        .position(|w| w == content.as_bytes())
        .expect("the fingerprint entry");
    let forged = "ffffffffffffffff\n";
    bytes[at..at + forged.len()].copy_from_slice(forged.as_bytes());
    // Its manifest line: the SHA-256 of the forged content, so `verify` passes.
    let manifest_line_old = sha_line(&content);
    let manifest_line_new = sha_line(forged);
    let m = bytes
        .windows(manifest_line_old.len())
        .position(|w| w == manifest_line_old.as_bytes())
        .expect("the manifest line");
    bytes[m..m + manifest_line_new.len()].copy_from_slice(manifest_line_new.as_bytes());
    std::fs::write(&bundle, &bytes).unwrap();
    let out = byteor(&[&"incident-bundle", &"verify", &bundle]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = byteor(&[&"replay", &bundle]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("ffffffffffffffff") && err.contains(&fingerprint),
        "{err}"
    );
}

/// The manifest's digest column for `content` (hex SHA-256).
fn sha_line(content: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(content.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
