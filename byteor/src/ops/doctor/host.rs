//! What the doctor reads: files of `/proc`, `/sys` and `/etc` under a root directory, and the
//! few values only system calls give.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

/// Why a host value could not be read: the reason a check is `unavailable`
/// (`cannot read /sys/kernel/mm/transparent_hugepage/enabled: No such file or directory`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Unreadable {
    /// What could not be read, and why.
    pub reason: String,
}

impl Unreadable {
    /// An unreadable value with this reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Unreadable {
            reason: reason.into(),
        }
    }
}

/// A resource limit (`getrlimit(2)`): the soft limit the kernel enforces and the hard
/// ceiling an unprivileged process may raise the soft limit to. `None` is unlimited
/// (`RLIM_INFINITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// The soft limit; `None` is unlimited.
    pub soft: Option<u64>,
    /// The hard limit; `None` is unlimited.
    pub hard: Option<u64>,
}

/// Space of the file system that holds the shared-memory directory (`statvfs(2)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsSpace {
    /// The directory measured: the shared-memory directory, or its nearest existing ancestor
    /// when it does not exist yet (`/dev/shm` for `/dev/shm/byteor`).
    pub dir: PathBuf,
    /// Bytes an unprivileged process may still allocate (`f_bavail × f_frsize`).
    pub free_bytes: u64,
    /// Size of the file system (`f_blocks × f_frsize`).
    pub total_bytes: u64,
}

/// The values that come from system calls rather than files: filled in by
/// [`SystemFacts::local`] for this process, or by hand (tests, a host described from
/// elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemFacts {
    /// `RLIMIT_MEMLOCK`, in bytes.
    pub memlock: Result<Rlimit, Unreadable>,
    /// `RLIMIT_RTPRIO`: the highest real-time priority an unprivileged thread may take.
    pub rtprio: Result<Rlimit, Unreadable>,
    /// The effective user id.
    pub euid: Result<u32, Unreadable>,
    /// Space for shared memory. `None`: measured when the doctor runs, with `statvfs(2)` on
    /// the shared-memory directory under the host's root (its nearest existing ancestor);
    /// `Some`: this value.
    pub shm_space: Option<Result<FsSpace, Unreadable>>,
}

impl SystemFacts {
    /// This process's values (on Linux; elsewhere each is unreadable, saying so).
    pub fn local() -> Self {
        SystemFacts {
            memlock: sys::memlock(),
            rtprio: sys::rtprio(),
            euid: sys::euid(),
            shm_space: None,
        }
    }

    /// No value known: each is unreadable ("not measured"), and shared-memory space is
    /// measured under the host's root. The start of a hand-filled description.
    pub fn unknown() -> Self {
        let unknown = || Unreadable::new("not measured");
        SystemFacts {
            memlock: Err(unknown()),
            rtprio: Err(unknown()),
            euid: Err(unknown()),
            shm_space: None,
        }
    }
}

/// The host the checks look at: the files of `/proc`, `/sys`, `/run` and `/etc` under a root
/// directory (`/` for this machine; a directory of fake files in tests), and the values that
/// come from system calls ([`SystemFacts`]).
///
/// `/proc/self/...` is read under the root too: for [`Host::local`], that is this process.
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
    /// The values that come from system calls.
    pub system: SystemFacts,
}

impl Host {
    /// This machine and this process: files under `/`, [`SystemFacts::local`].
    pub fn local() -> Self {
        Host {
            root: PathBuf::from("/"),
            system: SystemFacts::local(),
        }
    }

    /// The host whose files are under `root` (`root/proc/cmdline`, `root/sys/...`), with no
    /// system-call value known ([`SystemFacts::unknown`]; set them with
    /// [`with_system`](Self::with_system)).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Host {
            root: root.into(),
            system: SystemFacts::unknown(),
        }
    }

    /// The same host with these system-call values.
    pub fn with_system(mut self, system: SystemFacts) -> Self {
        self.system = system;
        self
    }

    /// The root directory the host's files are read under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the host's `path` is on this machine: an absolute path under the root; a
    /// relative one as it is (relative to the working directory).
    pub fn path(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        match path.strip_prefix("/") {
            Ok(rest) => self.root.join(rest),
            Err(_) => path.to_path_buf(),
        }
    }

    /// The text of the host's file `path`.
    pub(super) fn read(&self, path: &str) -> Result<String, Unreadable> {
        std::fs::read_to_string(self.path(path)).map_err(|e| cannot("read", path, &e))
    }

    /// Whether the host's `path` exists (a broken symbolic link counts).
    pub(super) fn exists(&self, path: &str) -> bool {
        std::fs::symlink_metadata(self.path(path)).is_ok()
    }

    /// The names in the host's directory `path`, sorted.
    pub(super) fn list(&self, path: &str) -> Result<Vec<String>, Unreadable> {
        let entries = std::fs::read_dir(self.path(path)).map_err(|e| cannot("list", path, &e))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Space for shared memory in `dir` (the host's path): [`SystemFacts::shm_space`] when
    /// given, otherwise `statvfs(2)` on `dir` or its nearest existing ancestor.
    pub(super) fn shm_space(&self, dir: &Path) -> Result<FsSpace, Unreadable> {
        if let Some(given) = &self.system.shm_space {
            return given.clone();
        }
        let local = self.path(dir);
        let local = std::path::absolute(&local).unwrap_or(local);
        let existing = local
            .ancestors()
            .find(|p| std::fs::symlink_metadata(p).is_ok())
            .ok_or_else(|| Unreadable::new(format!("{}: no part of it exists", dir.display())))?;
        let (free_bytes, total_bytes) = sys::statvfs(existing)?;
        // Name the directory as the host sees it (without a test root in front).
        let shown = match existing.strip_prefix(&self.root) {
            Ok(rest) if self.root != Path::new("/") => Path::new("/").join(rest),
            _ => existing.to_path_buf(),
        };
        Ok(FsSpace {
            dir: shown,
            free_bytes,
            total_bytes,
        })
    }
}

/// `cannot read /path: No such file or directory`.
pub(super) fn cannot(what: &str, path: &str, e: &io::Error) -> Unreadable {
    Unreadable::new(format!("cannot {what} {path}: {}", os_message(e)))
}

/// The OS error's message without the ` (os error N)` std appends.
pub(super) fn os_message(e: &io::Error) -> String {
    let text = e.to_string();
    match (e.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(at)) => text[..at].to_owned(),
        _ => text,
    }
}

/// The system calls, on Linux.
#[cfg(target_os = "linux")]
mod sys {
    use std::ffi::CString;
    use std::mem::MaybeUninit;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use super::{os_message, Rlimit, Unreadable};

    fn limit_of(rc: libc::c_int, limit: &libc::rlimit, name: &str) -> Result<Rlimit, Unreadable> {
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(Unreadable::new(format!(
                "getrlimit({name}) failed: {}",
                os_message(&e)
            )));
        }
        // `rlim_t` is 32 bits on some targets.
        #[allow(clippy::unnecessary_cast)]
        let value = |v: libc::rlim_t| (v != libc::RLIM_INFINITY).then_some(v as u64);
        Ok(Rlimit {
            soft: value(limit.rlim_cur),
            hard: value(limit.rlim_max),
        })
    }

    pub(super) fn memlock() -> Result<Rlimit, Unreadable> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid, writable `rlimit` that outlives the call, which only
        // writes it; `RLIMIT_MEMLOCK` is a valid resource.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
        limit_of(rc, &limit, "RLIMIT_MEMLOCK")
    }

    pub(super) fn rtprio() -> Result<Rlimit, Unreadable> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid, writable `rlimit` that outlives the call, which only
        // writes it; `RLIMIT_RTPRIO` is a valid resource.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_RTPRIO, &mut limit) };
        limit_of(rc, &limit, "RLIMIT_RTPRIO")
    }

    pub(super) fn euid() -> Result<u32, Unreadable> {
        // SAFETY: `geteuid` takes no argument, touches no memory of ours and cannot fail.
        Ok(unsafe { libc::geteuid() })
    }

    /// `(free, total)` bytes of the file system holding `path`.
    pub(super) fn statvfs(path: &Path) -> Result<(u64, u64), Unreadable> {
        let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
            Unreadable::new(format!("{}: the path holds a NUL byte", path.display()))
        })?;
        let mut st = MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `c_path` is a NUL-terminated string and `st` writable memory the size of a
        // `statvfs`, both alive for the whole call; the call reads the one and writes the
        // other.
        let rc = unsafe { libc::statvfs(c_path.as_ptr(), st.as_mut_ptr()) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(Unreadable::new(format!(
                "statvfs({}) failed: {}",
                path.display(),
                os_message(&e)
            )));
        }
        // SAFETY: `statvfs` returned 0, so it filled the whole structure.
        let st = unsafe { st.assume_init() };
        // The block counts and sizes are 32 bits on some targets.
        #[allow(clippy::unnecessary_cast)]
        let (bavail, blocks, frsize) = (st.f_bavail as u64, st.f_blocks as u64, st.f_frsize as u64);
        Ok((bavail.saturating_mul(frsize), blocks.saturating_mul(frsize)))
    }
}

/// Elsewhere: nothing is read.
#[cfg(not(target_os = "linux"))]
mod sys {
    use std::path::Path;

    use super::{Rlimit, Unreadable};

    fn not_linux(what: &str) -> Unreadable {
        Unreadable::new(format!("{what} is only read on Linux"))
    }

    pub(super) fn memlock() -> Result<Rlimit, Unreadable> {
        Err(not_linux("RLIMIT_MEMLOCK"))
    }

    pub(super) fn rtprio() -> Result<Rlimit, Unreadable> {
        Err(not_linux("RLIMIT_RTPRIO"))
    }

    pub(super) fn euid() -> Result<u32, Unreadable> {
        Err(not_linux("the effective user id"))
    }

    pub(super) fn statvfs(_path: &Path) -> Result<(u64, u64), Unreadable> {
        Err(not_linux("shared-memory space"))
    }
}

/// A CPU list as the kernel writes it (`0-3,8,10-11`); empty text (or `(null)`, which older
/// kernels print for an empty `nohz_full`) is the empty set.
pub(crate) fn parse_cpu_list(text: &str) -> Result<BTreeSet<u32>, String> {
    /// Far above any real machine: a guard against a garbage range.
    const MAX_CPUS: u32 = 1 << 16;
    let text = text.trim();
    let mut cpus = BTreeSet::new();
    if text.is_empty() || text == "(null)" {
        return Ok(cpus);
    }
    let number = |s: &str| {
        s.trim()
            .parse::<u32>()
            .ok()
            .filter(|&n| n < MAX_CPUS)
            .ok_or_else(|| format!("`{text}` is not a CPU list"))
    };
    for part in text.split(',') {
        // `2-7:2/4` (group syntax) is cmdline-only and rare: a range's stride part is dropped.
        let part = part.split(':').next().unwrap_or(part);
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return Err(format!("`{text}` is not a CPU list"));
                }
                cpus.extend(a..=b);
            }
            None => {
                cpus.insert(number(part)?);
            }
        }
    }
    Ok(cpus)
}

/// The kernel's form of a CPU set: `0-3,8,10-11`; `none` when empty.
pub(super) fn format_cpu_list(cpus: &BTreeSet<u32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = cpus.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(",")
    }
}

/// The kernel command line's parameters, in order (`/proc/cmdline`, up to a `--`, after which
/// the arguments are init's).
#[derive(Debug, Clone, Default)]
pub(super) struct Cmdline {
    params: Vec<(String, Option<String>)>,
}

impl Cmdline {
    pub(super) fn parse(text: &str) -> Self {
        let mut params = Vec::new();
        for word in text.split_whitespace() {
            if word == "--" {
                break;
            }
            let param = match word.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.trim_matches('"').to_owned())),
                None => (word.to_owned(), None),
            };
            params.push(param);
        }
        Cmdline { params }
    }

    /// The last occurrence of `key`: `Some(None)` when given without a value.
    pub(super) fn get(&self, key: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_deref())
    }
}

/// Bytes for people: `512 B`, `8 MiB`, `21.5 GiB`.
pub(super) fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut unit = 0;
    let mut scale = 1u64;
    while unit + 1 < UNITS.len() && n / scale >= 1024 {
        scale *= 1024;
        unit += 1;
    }
    if n % scale == 0 {
        format!("{} {}", n / scale, UNITS[unit])
    } else {
        format!("{:.1} {}", n as f64 / scale as f64, UNITS[unit])
    }
}
