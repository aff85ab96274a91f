//! One pipeline, three processes, one ring in `/dev/shm`.
//!
//! ```text
//! cargo run --release --example shm_pipeline
//! ```
//!
//! Phase 1: this process creates the ring and publishes 10M ticks; a Rust stage process (this
//! same program, started with `--stage`) and — when `gcc` is available — the C stage of
//! `examples/c/consumer.c` (compiled on the fly) each handle every tick. It prints what each
//! process counted, what was lost (nothing), and the throughput.
//!
//! Phase 2: a new ring; the Rust stage process is killed with `SIGKILL` while the producer
//! publishes. `publish` reports the dead stage by name; the time from the kill to that report
//! is printed. A restarted stage process resumes where the dead one left off.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use byteor::exec::{shm_region_path, PublishError, ShmRunOptions};
use byteor::prelude::*;
use examples::ticks::Tick;

const EVENTS: u64 = 10_000_000;

/// Sums tick values and counts ticks out of order.
#[derive(Clone, Default)]
struct Sum {
    count: Arc<AtomicU64>,
    sum: Arc<AtomicU64>,
    out_of_order: Arc<AtomicU64>,
}

impl Stage<Tick> for Sum {
    fn on_event(&mut self, t: &Tick, ctx: &EventContext) -> Result<(), StageError> {
        if t.seq != ctx.sequence {
            self.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(t.value, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The pipeline every process builds: `sum` (a Rust stage process) and `c_sum` (the C stage,
/// or — without a C compiler — the Rust stage process again, running this no-op value).
macro_rules! ticks {
    ($name:expr, $sum:expr) => {
        SingleRing::<Tick>::build($name, |ring| {
            let ring = ring
                .capacity(4096)
                .ingress("ticks_in")
                .egress("ticks_out")
                .wait_strategy(WaitStrategy::Yielding);
            let (ring, _) = ring.stage("sum", $sum);
            let (ring, _) = ring.stage("c_sum", from_fn(|_: &Tick, _: &EventContext| Ok(())));
            ring.build()
        })
    };
}

/// Kills and reaps a child on drop.
struct Kid(Option<Child>);

impl Kid {
    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        self.kill();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() >= 4 && args[1] == "--stage" {
        return stage_process(&args[2], &args[3], args.get(4).is_some_and(|a| a == "both"));
    }
    let root = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = root.join(format!("byteor-example-{}", std::process::id()));
    let result = run(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A stage process: attach as `sum` (and `c_sum` when `both`) to pipeline `name` in `dir`,
/// run to the end of the stream.
fn stage_process(dir: &str, name: &str, both: bool) -> Result<(), Box<dyn std::error::Error>> {
    let sum = Sum::default();
    let stages: &[&str] = if both { &["sum", "c_sum"] } else { &["sum"] };
    let control = ticks!(name, sum.clone())?.attach_shm(dir, stages, &ShmRunOptions::default())?;
    let report = control.join()?;
    println!(
        "  rust stage process (pid {}): count={} sum={} out_of_order={} (stage sequence {})",
        std::process::id(),
        sum.count.load(Ordering::Relaxed),
        sum.sum.load(Ordering::Relaxed),
        sum.out_of_order.load(Ordering::Relaxed),
        report.processed("sum"),
    );
    Ok(())
}

fn spawn_stage(dir: &Path, name: &str, both: bool) -> std::io::Result<Kid> {
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command.arg("--stage").arg(dir).arg(name);
    if both {
        command.arg("both");
    }
    Ok(Kid(Some(command.spawn()?)))
}

/// Compiles the C stage, or says why not.
fn build_c_consumer(out: &Path) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .to_path_buf();
    let exe = out.join("consumer");
    let status = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2"])
        .arg("-I")
        .arg(root.join("byteor/include"))
        .arg("-I")
        .arg(root.join("byteor/c"))
        .arg("-I")
        .arg(root.join("examples/c"))
        .arg(root.join("examples/c/consumer.c"))
        .arg("-o")
        .arg(&exe)
        .status();
    match status {
        Ok(s) if s.success() => Some(exe),
        Ok(s) => {
            println!("(C stage skipped: gcc failed with {s})");
            None
        }
        Err(e) => {
            println!("(C stage skipped: no gcc: {e})");
            None
        }
    }
}

/// Publishes tick `i`, waiting (up to 10 s) while a stage process has not attached yet or is
/// being restarted.
fn publish<K: byteor::exec::Router<Tick>>(
    producer: &mut Producer<Tick, K, byteor::backing::ShmRing<Tick>>,
    i: u64,
) -> Result<(), PublishError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match producer.publish(|t| *t = Tick::nth(i)) {
            Ok(_) => return Ok(()),
            Err(PublishError::PeerDown(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => return Err(e),
        }
    }
}

fn run(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let consumer = build_c_consumer(dir);
    let with_c = consumer.is_some();

    println!(
        "phase 1: {EVENTS} ticks through a ring in {}",
        dir.display()
    );
    let pipeline = ticks!("ticks", Sum::default())?;
    let fingerprint = pipeline.spec().fingerprint().to_string();
    let (mut producer, control) = pipeline.create_shm(dir, &ShmRunOptions::default())?;
    let _rust = spawn_stage(dir, "ticks", !with_c)?;
    let c_stage = match &consumer {
        Some(exe) => {
            let region = shm_region_path(dir, "ticks", 0);
            let child = Command::new(exe)
                .arg(&region)
                .arg("c_sum")
                .arg(&fingerprint)
                .stdout(Stdio::piped())
                .spawn()?;
            Some(child)
        }
        None => None,
    };
    let started = Instant::now();
    for i in 0..EVENTS {
        publish(&mut producer, i)?;
    }
    producer.close();
    let report = control.join()?;
    let elapsed = started.elapsed();
    let expected_sum = Tick::sum_of_first(EVENTS);
    if let Some(child) = c_stage {
        let out = child.wait_with_output()?;
        println!(
            "  C stage process: {} (expected count={EVENTS} sum={expected_sum})",
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    // Give the Rust stage process a moment to print its line.
    std::thread::sleep(Duration::from_millis(100));
    let lost: u64 = report
        .stages
        .iter()
        .map(|s| report.total_published() - s.processed)
        .sum();
    println!(
        "  producer: published {}, every stage finished: {:?}; lost {lost}",
        report.total_published(),
        report
            .stages
            .iter()
            .map(|s| (s.stage.as_str(), s.processed))
            .collect::<Vec<_>>()
    );
    println!(
        "  {:.1} M ticks/s across processes ({:.2} s)",
        EVENTS as f64 / elapsed.as_secs_f64() / 1e6,
        elapsed.as_secs_f64()
    );

    println!("phase 2: SIGKILL a stage process while publishing");
    let pipeline = ticks!("ticks2", Sum::default())?;
    let (mut producer, control) = pipeline.create_shm(dir, &ShmRunOptions::default())?;
    let mut victim = spawn_stage(dir, "ticks2", true)?;
    let mut i = 0;
    while control.metrics().processed("sum") < 100_000 {
        publish(&mut producer, i)?;
        i += 1;
    }
    victim.kill();
    let killed = Instant::now();
    let down = loop {
        match producer.publish(|t| *t = Tick::nth(i)) {
            Ok(_) => i += 1,
            Err(PublishError::PeerDown(down)) => break down,
            Err(e) => return Err(e.into()),
        }
    };
    println!(
        "  killed after {i} published; publish reported it {:?} later: {down}",
        killed.elapsed()
    );
    let resumed_from = control.metrics().processed("sum");
    let _restarted = spawn_stage(dir, "ticks2", true)?;
    let total = i + 100_000;
    while i < total {
        publish(&mut producer, i)?;
        i += 1;
    }
    producer.close();
    let report = control.join()?;
    std::thread::sleep(Duration::from_millis(100));
    println!(
        "  a restarted stage process resumed from sequence {resumed_from}; sum finished {} of {}",
        report.processed("sum"),
        report.total_published()
    );
    Ok(())
}
