//! Cross-process scenarios: the consumer runs in a child process (this benchmark binary,
//! started again with `--ipc-child`), all polling with spin.
//!
//! * h: SPSC throughput, `u64` events, capacity 1024: byteor on shared memory (`create_shm` /
//!   `attach_shm`) vs the same byteor pipeline in one process vs iceoryx2 publish-subscribe
//!   (with `--features iceoryx2`).
//! * i: ping-pong round trip: the producer publishes one event and spins until the consumer's
//!   progress shows it handled it — for byteor the stage's sequence (in the region, or in process
//!   memory), for iceoryx2 a reply on a second service.
//!
//! The child prints `ready` once attached and, for throughput, `done COUNT SUM BAD` once it has
//! seen every event; the run is timed from the first publish to that line (both contenders pay
//! the same pipe hop). Each child is killed if the run fails.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use byteor::backing::RingStorage;
use byteor::exec::ShmRunOptions;
use byteor::prelude::*;

use crate::common::{expected_sum, PingParams, RunParams, Samples, Throughput, CAPACITY};

/// The event of the cross-process scenarios: one `u64`, laid out for shared memory.
#[derive(Debug, Default, Clone, Copy, byteor::ShmEvent)]
#[repr(C)]
pub struct Val {
    /// 0, 1, 2, ...
    pub v: u64,
}

/// Counts and checks what the consumer sees; prints `done` when it has seen `expect` events.
struct Sink {
    count: u64,
    sum: u64,
    bad: u64,
    expect: u64,
    done: Arc<AtomicU64>,
    print: bool,
}

impl Sink {
    fn new(expect: u64, print: bool) -> Self {
        Sink {
            count: 0,
            sum: 0,
            bad: 0,
            expect,
            done: Arc::new(AtomicU64::new(0)),
            print,
        }
    }

    #[inline(always)]
    fn see(&mut self, v: u64) {
        if v != self.count {
            self.bad += 1;
        }
        self.sum = self.sum.wrapping_add(v);
        self.count += 1;
        if self.count == self.expect {
            if self.print {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "done {} {} {}", self.count, self.sum, self.bad);
                let _ = out.flush();
            }
            self.done.store(1, Ordering::Release);
        }
    }
}

impl Stage<Val> for Sink {
    fn on_event(&mut self, e: &Val, _: &EventContext) -> Result<(), StageError> {
        self.see(e.v);
        Ok(())
    }
}

/// The pipeline of both byteor contenders: one busy-spinning stage, `sink`.
macro_rules! ipc_pipeline {
    ($stage:expr) => {
        SingleRing::<Val>::build("ipc", |ring| {
            let ring = ring
                .capacity(CAPACITY as u32)
                .ingress("in")
                .egress("out")
                .wait_strategy(WaitStrategy::BusySpin);
            let (ring, _) = ring.stage("sink", $stage);
            ring.build()
        })
        .map_err(|e| format!("build failed: {e}"))
    };
}

/// A child process, killed and reaped on drop, with its stdout as lines.
struct Kid {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl Kid {
    fn spawn(args: &[String]) -> Result<Kid, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
        let mut child = Command::new(exe)
            .arg("--ipc-child")
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the consumer process: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        Ok(Kid {
            child,
            lines: BufReader::new(stdout),
        })
    }

    /// The next line the child prints (an error if it exits first).
    fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.lines.read_line(&mut line) {
            Ok(0) => Err(format!(
                "the consumer process exited early ({:?})",
                self.child.try_wait()
            )),
            Ok(_) => Ok(line.trim().to_string()),
            Err(e) => Err(format!("reading the consumer process: {e}")),
        }
    }

    fn expect(&mut self, what: &str) -> Result<String, String> {
        let line = self.line()?;
        if line.starts_with(what) {
            Ok(line)
        } else {
            Err(format!(
                "the consumer process said `{line}`, expected `{what}`"
            ))
        }
    }

    fn finish(mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) if s.success() => return Ok(()),
                Ok(Some(s)) => return Err(format!("the consumer process failed: {s}")),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                _ => return Err("the consumer process did not exit".into()),
            }
        }
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A fresh directory for one run's regions, removed on drop.
struct RunDir(std::path::PathBuf);

impl RunDir {
    fn new() -> RunDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let root = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        RunDir(root.join(format!(
            "byteor-bench-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )))
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options() -> ShmRunOptions {
    ShmRunOptions::default()
}

fn check_done(line: &str, published: u64) -> Result<(), String> {
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let expected = [published, expected_sum(published), 0];
    if fields != expected {
        return Err(format!(
            "the consumer saw (count, sum, out of order) {fields:?}, expected {expected:?}"
        ));
    }
    Ok(())
}

/// Scenario h, byteor on shared memory: the stage in a child process.
pub fn shm_throughput(params: RunParams) -> Result<Throughput, String> {
    let dir = RunDir::new();
    let (mut producer, control) = ipc_pipeline!(Sink::new(0, false))?
        .create_shm(&dir.0, &options())
        .map_err(|e| format!("create_shm: {e}"))?;
    let mut kid = Kid::spawn(&[
        "byteor".into(),
        dir.0.display().to_string(),
        params.events.to_string(),
    ])?;
    kid.expect("ready")?;
    let start = Instant::now();
    for i in 0..params.events {
        producer
            .publish(|e| e.v = i)
            .map_err(|e| format!("publish {i}: {e}"))?;
    }
    let done = kid.expect("done")?;
    let elapsed = start.elapsed();
    check_done(&done, params.events)?;
    producer.close();
    control.join().map_err(|e| format!("join: {e}"))?;
    kid.finish()?;
    Ok(Throughput {
        published: params.events,
        elapsed,
        timed_out: false,
    })
}

/// Scenario h, the same byteor pipeline in one process (the reference the shared-memory run is
/// held to).
pub fn in_process_throughput(params: RunParams) -> Result<Throughput, String> {
    let sink = Sink::new(params.events, false);
    let done = Arc::clone(&sink.done);
    let (mut producer, control) = ipc_pipeline!(sink)?
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let start = Instant::now();
    for i in 0..params.events {
        producer
            .publish(|e| e.v = i)
            .map_err(|e| format!("publish {i}: {e}"))?;
    }
    while done.load(Ordering::Acquire) == 0 {
        std::hint::spin_loop();
    }
    let elapsed = start.elapsed();
    producer.close();
    let report = control.join().map_err(|e| format!("join: {e}"))?;
    if report.processed("sink") != params.events {
        return Err(format!("sink processed {}", report.processed("sink")));
    }
    Ok(Throughput {
        published: params.events,
        elapsed,
        timed_out: false,
    })
}

/// Round trips over a byteor ring whose stage is `sink`: publish `i`, spin until the stage's
/// sequence passes it.
fn ring_round_trips<R: RingStorage<Event = Val>, K: byteor::exec::Router<Val>>(
    producer: &mut Producer<Val, K, R>,
    control: &Control<Val, R>,
    params: PingParams,
) -> Result<Samples, String> {
    let ring = control.rings().next().ok_or("no ring")?;
    let sequence = &ring.stage_sequences()[0];
    params.measure(|i| {
        producer
            .publish(|e| e.v = i)
            .map_err(|e| format!("publish {i}: {e}"))?;
        while sequence.load_relaxed() <= i {
            std::hint::spin_loop();
        }
        Ok(())
    })
}

/// Scenario i, byteor on shared memory.
pub fn shm_ping_pong(params: PingParams) -> Result<Samples, String> {
    let dir = RunDir::new();
    let (mut producer, control) = ipc_pipeline!(Sink::new(0, false))?
        .create_shm(&dir.0, &options())
        .map_err(|e| format!("create_shm: {e}"))?;
    let total = params.warmup + params.pings;
    let mut kid = Kid::spawn(&[
        "byteor".into(),
        dir.0.display().to_string(),
        total.to_string(),
    ])?;
    kid.expect("ready")?;
    let samples = ring_round_trips(&mut producer, &control, params)?;
    kid.expect("done")?;
    producer.close();
    control.join().map_err(|e| format!("join: {e}"))?;
    kid.finish()?;
    Ok(samples)
}

/// Scenario i, the same byteor pipeline in one process.
pub fn in_process_ping_pong(params: PingParams) -> Result<Samples, String> {
    let (mut producer, control) = ipc_pipeline!(Sink::new(0, false))?
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let samples = ring_round_trips(&mut producer, &control, params)?;
    producer.close();
    control.join().map_err(|e| format!("join: {e}"))?;
    Ok(samples)
}

/// The consumer process: `--ipc-child KIND ARGS...`. Returns the process exit code, or `None`
/// when this process is not a consumer child.
pub fn child_main() -> Option<i32> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some("--ipc-child") {
        return None;
    }
    let result = match args.get(2).map(String::as_str) {
        Some("byteor") => byteor_child(&args[3], args[4].parse().unwrap_or(0)),
        #[cfg(feature = "iceoryx2")]
        Some(kind) => iceoryx::child(kind, &args[3..]),
        #[cfg(not(feature = "iceoryx2"))]
        Some(kind) => Err(format!("unknown consumer kind `{kind}`")),
        None => Err("no consumer kind".into()),
    };
    Some(match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("consumer process: {e}");
            1
        }
    })
}

fn byteor_child(dir: &str, events: u64) -> Result<(), String> {
    let control = ipc_pipeline!(Sink::new(events, true))?
        .attach_shm(dir, &["sink"], &options())
        .map_err(|e| format!("attach_shm: {e}"))?;
    println!("ready");
    control.join().map_err(|e| format!("join: {e}"))?;
    Ok(())
}

#[cfg(feature = "iceoryx2")]
pub mod iceoryx {
    //! iceoryx2 0.10 publish-subscribe, both sides polling.

    use super::*;
    use iceoryx2::port::backpressure_strategy::BackpressureStrategy;
    use iceoryx2::prelude::*;

    fn service_name(tag: &str) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        format!(
            "byteor-bench/{}/{}/{tag}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
    }

    type Node = iceoryx2::node::Node<ipc::Service>;
    type PubSub =
        iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, u64, ()>;

    fn open(node: &Node, name: &str) -> Result<PubSub, String> {
        let name: ServiceName = name
            .try_into()
            .map_err(|e| format!("service name: {e:?}"))?;
        node.service_builder(&name)
            .publish_subscribe::<u64>()
            .enable_safe_overflow(false)
            .subscriber_max_buffer_size(CAPACITY)
            .history_size(0)
            .max_publishers(1)
            .max_subscribers(1)
            .open_or_create()
            .map_err(|e| format!("service: {e:?}"))
    }

    fn node() -> Result<Node, String> {
        NodeBuilder::new()
            .create::<ipc::Service>()
            .map_err(|e| format!("node: {e:?}"))
    }

    /// Scenario h, iceoryx2.
    pub fn throughput(params: RunParams) -> Result<Throughput, String> {
        let node = node()?;
        let name = service_name("data");
        let service = open(&node, &name)?;
        let publisher = service
            .publisher_builder()
            .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
            .create()
            .map_err(|e| format!("publisher: {e:?}"))?;
        let mut kid = Kid::spawn(&["iceoryx2-sub".into(), name, params.events.to_string()])?;
        kid.expect("ready")?;
        let start = Instant::now();
        for i in 0..params.events {
            publisher
                .send_copy(i)
                .map_err(|e| format!("send {i}: {e:?}"))?;
        }
        let done = kid.expect("done")?;
        let elapsed = start.elapsed();
        check_done(&done, params.events)?;
        kid.finish()?;
        Ok(Throughput {
            published: params.events,
            elapsed,
            timed_out: false,
        })
    }

    /// Scenario i, iceoryx2: ping on one service, pong on another.
    pub fn ping_pong(params: PingParams) -> Result<Samples, String> {
        let node = node()?;
        let (ping_name, pong_name) = (service_name("ping"), service_name("pong"));
        let ping = open(&node, &ping_name)?;
        let pong = open(&node, &pong_name)?;
        let publisher = ping
            .publisher_builder()
            .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
            .create()
            .map_err(|e| format!("publisher: {e:?}"))?;
        let subscriber = pong
            .subscriber_builder()
            .create()
            .map_err(|e| format!("subscriber: {e:?}"))?;
        let total = params.warmup + params.pings;
        let mut kid = Kid::spawn(&[
            "iceoryx2-echo".into(),
            ping_name,
            pong_name,
            total.to_string(),
        ])?;
        kid.expect("ready")?;
        let samples = params.measure(|i| {
            publisher
                .send_copy(i)
                .map_err(|e| format!("send {i}: {e:?}"))?;
            loop {
                if let Some(sample) = subscriber
                    .receive()
                    .map_err(|e| format!("receive: {e:?}"))?
                {
                    if *sample == i {
                        return Ok(());
                    }
                    return Err(format!("pong {} for ping {i}", *sample));
                }
            }
        })?;
        kid.finish()?;
        Ok(samples)
    }

    /// The iceoryx2 consumer processes.
    pub fn child(kind: &str, args: &[String]) -> Result<(), String> {
        let node = node()?;
        match kind {
            "iceoryx2-sub" => {
                let service = open(&node, &args[0])?;
                let events: u64 = args[1].parse().map_err(|_| "event count")?;
                let subscriber = service
                    .subscriber_builder()
                    .create()
                    .map_err(|e| format!("subscriber: {e:?}"))?;
                println!("ready");
                let mut sink = Sink::new(events, true);
                while sink.count < events {
                    if let Some(sample) = subscriber
                        .receive()
                        .map_err(|e| format!("receive: {e:?}"))?
                    {
                        sink.see(*sample);
                    }
                }
                Ok(())
            }
            "iceoryx2-echo" => {
                let ping = open(&node, &args[0])?;
                let pong = open(&node, &args[1])?;
                let total: u64 = args[2].parse().map_err(|_| "ping count")?;
                let subscriber = ping
                    .subscriber_builder()
                    .create()
                    .map_err(|e| format!("subscriber: {e:?}"))?;
                let publisher = pong
                    .publisher_builder()
                    .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                    .create()
                    .map_err(|e| format!("publisher: {e:?}"))?;
                println!("ready");
                let mut echoed = 0;
                while echoed < total {
                    if let Some(sample) = subscriber
                        .receive()
                        .map_err(|e| format!("receive: {e:?}"))?
                    {
                        publisher
                            .send_copy(*sample)
                            .map_err(|e| format!("send: {e:?}"))?;
                        echoed += 1;
                    }
                }
                Ok(())
            }
            other => Err(format!("unknown consumer kind `{other}`")),
        }
    }
}
