//! The C side of shared memory: the generated headers compile with their `_Static_assert`s
//! (sizes, alignments, offsets equal to the Rust layout), and the C example stage
//! (`examples/c/consumer.c`, built with `gcc -std=c11 -Wall -Wextra -Werror`) attached to a ring
//! a Rust producer publishes into sees every event once, in order, with the exact sum; its
//! open errors are the Rust ones. Skipped, saying so, where no C compiler exists.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use byteor::exec::{shm_region_path, PublishError, ShmRunOptions};
use byteor::prelude::*;
use examples::ticks::Tick;
use tests::shm::{ChildGuard, ShmDir};
use tests::TIMEOUT;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `gcc` with the project's include paths, or `None` (and a message) where there is none.
fn gcc() -> Option<Command> {
    if Command::new("gcc").arg("--version").output().is_err() {
        eprintln!("skipped: no C compiler (`gcc`) on this machine");
        return None;
    }
    let mut gcc = Command::new("gcc");
    gcc.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2"])
        .arg("-I")
        .arg(root().join("byteor/include"))
        .arg("-I")
        .arg(root().join("byteor/c"))
        .arg("-I")
        .arg(root().join("examples/c"));
    Some(gcc)
}

fn run(command: &mut Command) -> std::process::Output {
    let out = command.output().expect("run the command");
    assert!(
        out.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn the_generated_headers_compile_and_assert_the_rust_layout() {
    let Some(mut gcc) = gcc() else { return };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let source = dir.join("headers.c");
    std::fs::write(
        &source,
        "#define _GNU_SOURCE\n#include \"byteor.h\"\n#include \"byteor_client.h\"\n\
         #include \"tick.h\"\nint main(void) { return 0; }\n",
    )
    .unwrap();
    run(gcc.arg("-fsyntax-only").arg(&source));
    // The checked-in headers are what the code generates (also `cargo xtask gen-header --check`).
    let byteor_h = std::fs::read_to_string(root().join("byteor/include/byteor.h")).unwrap();
    assert_eq!(byteor_h, byteor::abi::c::region_c_header());
}

fn build_consumer() -> Option<PathBuf> {
    let mut gcc = gcc()?;
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("byteor-c-consumer");
    run(gcc
        .arg(root().join("examples/c/consumer.c"))
        .arg("-o")
        .arg(&out));
    Some(out)
}

#[test]
fn a_c_stage_sees_every_event_once_in_order() {
    let Some(consumer) = build_consumer() else {
        return;
    };
    const EVENTS: u64 = 200_000;
    let dir = ShmDir::new("c-client");
    let pipeline = SingleRing::<Tick>::build("ticks", |ring| {
        let ring = ring
            .capacity(1024)
            .ingress("in")
            .egress("out")
            .wait_strategy(WaitStrategy::Yielding);
        // Runs in the C process; this value is never started.
        let (ring, _) = ring.stage("sum", from_fn(|_: &Tick, _: &EventContext| Ok(())));
        ring.build()
    })
    .unwrap();
    let fingerprint = format!("{}", pipeline.spec().fingerprint());
    let (mut producer, control) = pipeline
        .create_shm(dir.path(), &ShmRunOptions::default())
        .unwrap();
    let region = shm_region_path(dir.path(), "ticks", 0);

    // A wrong spec fingerprint is the Rust error, by its C name.
    let out = Command::new(&consumer)
        .args([region.to_str().unwrap(), "sum", "1234"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("BYTEOR_ERR_SPEC_FINGERPRINT"),
        "{out:?}"
    );

    let child = ChildGuard::spawn(
        Command::new(&consumer)
            .args([region.to_str().unwrap(), "sum", &fingerprint])
            .stdout(std::process::Stdio::piped()),
    );
    let deadline = Instant::now() + TIMEOUT;
    for i in 0..EVENTS {
        loop {
            match producer.publish(|t| *t = Tick::nth(i)) {
                Ok(_) => break,
                Err(PublishError::PeerDown(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("publish {i}: {e}"),
            }
        }
    }
    producer.close();
    let report = tests::finished(control.join_timeout(TIMEOUT)).expect("the C stage drained");
    assert_eq!(report.processed("sum"), EVENTS);
    let out = child.wait_with_output(TIMEOUT);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "count={EVENTS} sum={} out_of_order=0",
            Tick::sum_of_first(EVENTS)
        )
    );
}
