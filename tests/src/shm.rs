//! Shared-memory test support: a directory of regions removed when the test ends, a ring
//! storage that puts each shard's ring in a fresh region, and child processes that are
//! killed and reaped whatever happens to the test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use byteor::backing::{BackingError, ShmRing};
use byteor::exec::RingRequest;
use byteor::transport::shm::{RingDescriptor, ShmOptions};

use crate::Ev;

/// A fresh directory for regions — under `/dev/shm` where it exists (as in production),
/// otherwise the temp directory — removed with everything in it on drop.
#[derive(Debug)]
pub struct ShmDir {
    path: PathBuf,
}

impl ShmDir {
    /// A new, empty directory named after `label`, this process and a counter.
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let root = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let path = root.join(format!(
            "byteor-test-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the region directory");
        ShmDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A region path in it.
    pub fn region(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Leaks the directory guard for storages that must be `'static` and `Copy`; the returned
    /// guard still removes the directory when dropped.
    pub fn leak_path(&self) -> &'static Path {
        Box::leak(self.path.clone().into_boxed_path())
    }
}

impl Drop for ShmDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Ring storage for `spawn_on`: each shard's ring in a new region of `dir`, for a spec with
/// fingerprint 0 and stages named `s0`, `s1`, ...
#[derive(Debug, Clone, Copy)]
pub struct InShm {
    /// Where the regions go.
    pub dir: &'static Path,
}

impl InShm {
    /// The ring for `want`.
    pub fn make(self, want: RingRequest) -> Result<ShmRing<Ev>, BackingError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let stages: Vec<String> = (0..want.stages).map(|i| format!("s{i}")).collect();
        let desc = RingDescriptor::new(
            &<Ev as byteor::abi::ShmEvent>::LAYOUT,
            0,
            want.capacity,
            &stages,
        )?;
        let name = format!(
            "ring-{}-{}",
            want.shard,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Ok(ShmRing::create(
            self.dir.join(name),
            &desc,
            &ShmOptions::default(),
        )?)
    }
}

/// A child process that is killed (`SIGKILL`) and reaped when dropped, so no test leaves
/// one behind, pass or fail.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
}

impl ChildGuard {
    /// Starts `command`.
    pub fn spawn(command: &mut Command) -> Self {
        ChildGuard {
            child: Some(command.spawn().expect("start the child process")),
        }
    }

    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Kills the child with `SIGKILL` and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits up to `timeout` for the child to exit on its own; kills it and panics if it does
    /// not. Returns its exit status.
    pub fn wait_timeout(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("child already reaped");
        loop {
            if let Some(status) = child.try_wait().expect("wait for the child") {
                self.child = None;
                return status;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!("child process did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl ChildGuard {
    /// Waits up to `timeout` for the child to exit and collects its output (started with piped
    /// stdout/stderr); kills it and panics if it does not exit.
    pub fn wait_with_output(mut self, timeout: Duration) -> std::process::Output {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("child already reaped");
        loop {
            if child.try_wait().expect("wait for the child").is_some() {
                let child = self.child.take().expect("present");
                return child.wait_with_output().expect("collect the output");
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!("child process did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the test function `name` of the current test binary in a child process with the
/// environment variable `BYTEOR_TEST_CHILD` set to `role`, and returns the guard. The child
/// test checks the variable and does the role's work; run in its own process, a `SIGBUS` or
/// a `SIGKILL` there cannot take the test runner down.
pub fn spawn_test_child(name: &str, role: &str, env: &[(&str, &str)]) -> ChildGuard {
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = Command::new(exe);
    command
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("BYTEOR_TEST_CHILD", role);
    for (k, v) in env {
        command.env(k, v);
    }
    ChildGuard::spawn(&mut command)
}

/// The role this process was started for by [`spawn_test_child`], if any.
pub fn child_role() -> Option<String> {
    std::env::var("BYTEOR_TEST_CHILD").ok()
}
