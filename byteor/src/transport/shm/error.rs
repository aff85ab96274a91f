//! What can be wrong with a shared-memory region, each its own variant naming the path and
//! what was expected and found.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// An event layout as a region header or a caller states it: enough to tell two apart in a
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutSummary {
    /// The event type's name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its alignment in bytes.
    pub align: u64,
    /// Its [`layout_fingerprint`](crate::abi::layout_fingerprint).
    pub fingerprint: u64,
}

impl fmt::Display for LayoutSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` ({} bytes, align {}, layout {:016x})",
            self.name, self.size, self.align, self.fingerprint
        )
    }
}

/// Why a shared-memory region could not be created, opened or joined.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShmError {
    /// The ring description itself is unusable (before any file is touched).
    #[error("cannot lay out a shared-memory ring: {reason}")]
    BadDescriptor {
        /// What is wrong.
        reason: String,
    },

    /// No file at the path.
    #[error("shared-memory region {}: no such file", .path.display())]
    Missing {
        /// The region file.
        path: PathBuf,
    },

    /// The file (or its directory) may not be opened by this process.
    #[error("shared-memory region {}: permission denied (regions are created with mode 0600 by default: run as the creating user, or create with a wider mode)", .path.display())]
    PermissionDenied {
        /// The region file.
        path: PathBuf,
    },

    /// Creation found a file at the path: regions are never reused or overwritten.
    #[error("shared-memory region {} already exists; remove it if it is stale (`byteor::transport::shm::remove_stale`), or use another name", .path.display())]
    Exists {
        /// The region file.
        path: PathBuf,
    },

    /// The file is shorter than a region header.
    #[error("shared-memory region {}: {found} bytes, shorter than the {expected}-byte region header", .path.display())]
    ShorterThanHeader {
        /// The region file.
        path: PathBuf,
        /// Bytes needed.
        expected: u64,
        /// The file's length.
        found: u64,
    },

    /// The file is shorter than the geometry its header states.
    #[error("shared-memory region {}: {found} bytes, shorter than the {expected} bytes its header's geometry needs (truncated?)", .path.display())]
    ShorterThanGeometry {
        /// The region file.
        path: PathBuf,
        /// Bytes the header's geometry needs.
        expected: u64,
        /// The file's length.
        found: u64,
    },

    /// The file does not start with the region magic.
    #[error("shared-memory region {}: not a byteor ring region (magic {}, expected {})", .path.display(), hex(.found), hex(.expected))]
    ForeignMagic {
        /// The region file.
        path: PathBuf,
        /// [`REGION_MAGIC`](crate::abi::region::REGION_MAGIC).
        expected: [u8; 8],
        /// The first eight bytes.
        found: [u8; 8],
    },

    /// The header is all zeros: a creator sized the file and never wrote it.
    #[error("shared-memory region {}: the header is all zeros after waiting {waited:?}; its creator never initialised it — remove it if it is stale", .path.display())]
    Zeroed {
        /// The region file.
        path: PathBuf,
        /// How long the opener waited for the creator.
        waited: Duration,
    },

    /// The creator has not finished initialising (its version word is still 0).
    #[error("shared-memory region {}: still initialising after {waited:?} (creator pid {creator_pid}); if that process is gone the region is stale", .path.display())]
    StillInitialising {
        /// The region file.
        path: PathBuf,
        /// How long the opener waited.
        waited: Duration,
        /// The creator's process id, as far as it wrote it (0: not yet).
        creator_pid: u32,
    },

    /// The region was written by another ABI version.
    #[error("shared-memory region {}: ABI version {found}, this build reads version {expected}", .path.display())]
    AbiVersion {
        /// The region file.
        path: PathBuf,
        /// [`REGION_ABI_VERSION`](crate::abi::region::REGION_ABI_VERSION).
        expected: u32,
        /// The header's version.
        found: u32,
    },

    /// The region holds another event type (or another layout of it).
    #[error("shared-memory region {}: holds events {found}, this process expects {expected}", .path.display())]
    EventLayout {
        /// The region file.
        path: PathBuf,
        /// The layout the opener expects.
        expected: LayoutSummary,
        /// The layout the header states.
        found: LayoutSummary,
    },

    /// The region was created for another spec.
    #[error("shared-memory region {}: created for spec {found:016x}, this process runs spec {expected:016x}", .path.display())]
    SpecFingerprint {
        /// The region file.
        path: PathBuf,
        /// The opener's spec fingerprint.
        expected: u64,
        /// The header's.
        found: u64,
    },

    /// A geometry field disagrees with what the opener expects, or is impossible.
    #[error("shared-memory region {}: {field} is {found}, expected {expected}", .path.display())]
    Geometry {
        /// The region file.
        path: PathBuf,
        /// The header field (`capacity`, `stage_count`, `stage 1 name`, ...).
        field: String,
        /// What the opener expects (or what the layout rules require).
        expected: String,
        /// What the header says.
        found: String,
    },

    /// Another live process holds the producer's place: one ring has one producer.
    #[error("shared-memory region {}: the producer's place is held by pid {pid}; one ring has one producer", .path.display())]
    ProducerTaken {
        /// The region file.
        path: PathBuf,
        /// The holder's process id, as the header records it.
        pid: u32,
    },

    /// Another live process runs this stage.
    #[error("shared-memory region {}: stage `{stage}` is attached by pid {pid}", .path.display())]
    StageTaken {
        /// The region file.
        path: PathBuf,
        /// The stage.
        stage: String,
        /// The holder's process id, as the header records it.
        pid: u32,
    },

    /// A stage name the region does not have.
    #[error("shared-memory region {}: no stage named `{stage}`; its stages are {}", .path.display(), quoted(.stages))]
    UnknownStage {
        /// The region file.
        path: PathBuf,
        /// The name asked for.
        stage: String,
        /// The region's stages.
        stages: Vec<String>,
    },

    /// The file system could not reserve the region's bytes (a full `/dev/shm`: Docker gives
    /// containers 64 MB by default, `--shm-size` raises it).
    #[error("shared-memory region {}: no space for {bytes} bytes in its file system (`df {}`; in a container, raise --shm-size)", .path.display(), .path.parent().map_or("/".into(), |p| p.display().to_string()))]
    NoSpace {
        /// The region file.
        path: PathBuf,
        /// Bytes asked for.
        bytes: u64,
    },

    /// Any other operating-system error.
    #[error("shared-memory region {}: {op}: {source}", .path.display())]
    Io {
        /// The region file.
        path: PathBuf,
        /// What was being done (`open`, `map`, `lock`, ...).
        op: &'static str,
        /// The error.
        source: std::io::Error,
    },
}

impl ShmError {
    /// The region file the error is about, if any.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            ShmError::BadDescriptor { .. } => None,
            ShmError::Missing { path }
            | ShmError::PermissionDenied { path }
            | ShmError::Exists { path }
            | ShmError::ShorterThanHeader { path, .. }
            | ShmError::ShorterThanGeometry { path, .. }
            | ShmError::ForeignMagic { path, .. }
            | ShmError::Zeroed { path, .. }
            | ShmError::StillInitialising { path, .. }
            | ShmError::AbiVersion { path, .. }
            | ShmError::EventLayout { path, .. }
            | ShmError::SpecFingerprint { path, .. }
            | ShmError::Geometry { path, .. }
            | ShmError::ProducerTaken { path, .. }
            | ShmError::StageTaken { path, .. }
            | ShmError::UnknownStage { path, .. }
            | ShmError::NoSpace { path, .. }
            | ShmError::Io { path, .. } => Some(path),
        }
    }

    /// An I/O error at `path`, with the kinds that have their own variant mapped to it.
    pub(crate) fn io(path: &std::path::Path, op: &'static str, source: std::io::Error) -> Self {
        let path = path.to_path_buf();
        match source.kind() {
            std::io::ErrorKind::NotFound => ShmError::Missing { path },
            std::io::ErrorKind::PermissionDenied => ShmError::PermissionDenied { path },
            std::io::ErrorKind::AlreadyExists => ShmError::Exists { path },
            _ => ShmError::Io { path, op, source },
        }
    }
}

fn hex(bytes: &[u8; 8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn quoted(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}
