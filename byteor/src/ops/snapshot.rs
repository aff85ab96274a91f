//! A read-only view of shared-memory regions — what `byteor snapshot` prints, AeronStat style:
//! a header line per region (ABI version, pipeline, shard, spec fingerprint, owner pid,
//! heartbeat age, alive / stale / dead), then one line per counter (the producer's cursor,
//! each stage's sequence, lag and process).
//!
//! Taking a snapshot opens each region file, reads its header and sequences with plain atomic
//! loads and takes no place in it: it writes nothing and never blocks or slows the writer. A
//! file that is not a consistent byteor region is listed with the reason instead (a snapshot
//! of a directory never fails because of one bad file).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use byteor::ops::snapshot::{snapshot_dir, Health};
//! use byteor::transport::shm::{Region, RingDescriptor, ShmOptions};
//! use byteor::abi::ShmEvent;
//!
//! #[derive(Clone, Copy, Default, ShmEvent)]
//! #[repr(C)]
//! struct Tick { seq: u64 }
//!
//! let dir = std::env::temp_dir().join(format!("byteor-snapshot-doc-{}", std::process::id()));
//! let desc = RingDescriptor::new(&Tick::LAYOUT, 0xfeed, 64, &["sum"])?;
//! let region = Region::create(dir.join("ticks.0"), &desc, &ShmOptions::default())?;
//! region.heartbeat();
//!
//! let snap = snapshot_dir(&dir, &Default::default())?;
//! let ring = snap.regions[0].as_ref().unwrap();
//! assert_eq!((ring.pipeline.as_str(), ring.shard), ("ticks", Some(0)));
//! assert_eq!(ring.health, Health::Alive);
//! assert_eq!(ring.stages[0].name, "sum");
//! print!("{snap}");
//! # region.remove_file()?; std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::transport::shm::{
    self, DeathReason, PeerState, PeerStatus, RegionInfo, ShmError, StreamState,
};

/// How a snapshot judges liveness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotOptions {
    /// A holder whose heartbeat is older than this is `stale` (default 2 s, the runtime's own
    /// default).
    pub heartbeat_timeout: Duration,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            heartbeat_timeout: Duration::from_secs(2),
        }
    }
}

/// Whether a region's owner (its producer) is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// The owner holds its lock and ticks its heartbeat.
    Alive,
    /// The owner holds its lock but its heartbeat is older than the timeout (stopped or stuck).
    Stale,
    /// The owner is gone (lock released, process gone) or never took its place: the region is
    /// left over, and `snapshot --clean` may remove it.
    Dead,
}

impl Health {
    /// `alive`, `stale` or `dead`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Alive => "alive",
            Health::Stale => "stale",
            Health::Dead => "dead",
        }
    }
}

/// A peer (the producer or a stage process) as a snapshot sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerView {
    /// Its process id (0: no process ever took the place).
    pub pid: u32,
    /// `alive`, `stale` or `dead`; `None` when no process ever took the place.
    pub health: Option<Health>,
    /// Time since its last heartbeat (when it holds its place).
    pub heartbeat_age: Option<Duration>,
    /// How it was found dead, when it is.
    pub death: Option<String>,
    /// What it says of itself: `running`, `done` or `failed`.
    pub status: &'static str,
}

impl PeerView {
    fn new(state: PeerState, status: PeerStatus) -> Self {
        let status = match status {
            PeerStatus::Running => "running",
            PeerStatus::Done => "done",
            PeerStatus::Failed { .. } => "failed",
        };
        match state {
            PeerState::Absent => PeerView {
                pid: 0,
                health: None,
                heartbeat_age: None,
                death: None,
                status,
            },
            PeerState::Alive { pid, heartbeat_age } => PeerView {
                pid,
                health: Some(Health::Alive),
                heartbeat_age: Some(heartbeat_age),
                death: None,
                status,
            },
            PeerState::Dead { pid, reason } => PeerView {
                pid,
                health: Some(match reason {
                    DeathReason::HeartbeatStale { .. } => Health::Stale,
                    _ => Health::Dead,
                }),
                heartbeat_age: match reason {
                    DeathReason::HeartbeatStale { age } => Some(age),
                    _ => None,
                },
                death: Some(reason.to_string()),
                status,
            },
        }
    }
}

/// One stage's counters in a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageView {
    /// Stage name.
    pub name: String,
    /// Its sequence: events it finished in this shard.
    pub sequence: u64,
    /// Published events it has not finished.
    pub lag: u64,
    /// The process running it.
    pub peer: PeerView,
}

/// One ring region's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionView {
    /// The file.
    pub path: PathBuf,
    /// The pipeline, from the file name (`<pipeline>.<shard>`, or `<pipeline>.lane<id>` for a
    /// LaneGraph lane between processes).
    pub pipeline: String,
    /// The shard, from the file name (a SingleRing's ring).
    pub shard: Option<u32>,
    /// The lane id, from the file name (a LaneGraph lane: the producer is its writer, the
    /// stages its readers).
    pub lane: Option<u32>,
    /// Events the producer dropped for want of room (a lane under `drop`; 0 for a ring).
    pub dropped: u64,
    /// The region's ABI version.
    pub abi_version: u32,
    /// The spec fingerprint the region was created for (16 hex digits).
    pub spec_fingerprint: String,
    /// The event type's name.
    pub event: String,
    /// Bytes of one event.
    pub event_bytes: u64,
    /// Slots in the ring.
    pub capacity: u64,
    /// The owner's (producer's) health: the region's.
    pub health: Health,
    /// The producer.
    pub producer: PeerView,
    /// What the producer told the stages: `running`, `closed` or `failed`.
    pub stream: &'static str,
    /// Events published: the producer's cursor.
    pub published: u64,
    /// Each stage, in stage order.
    pub stages: Vec<StageView>,
    /// The policy decision the producer started under (environment, side-effecting stages,
    /// the approvals that allowed them), from its [`policy_path`] file, if it wrote one.
    pub policy: Option<String>,
}

impl RegionView {
    fn from_info(info: RegionInfo) -> Self {
        let (pipeline, shard, lane) = match region_name(&info.path) {
            Some((name, RegionOf::Shard(shard))) => (name.to_owned(), Some(shard), None),
            Some((name, RegionOf::Lane(lane))) => (name.to_owned(), None, Some(lane)),
            None => (
                info.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                None,
                None,
            ),
        };
        let producer = PeerView::new(info.producer, PeerStatus::Running);
        let health = producer.health.unwrap_or(Health::Dead);
        let stages = info
            .ring
            .stages()
            .iter()
            .zip(info.stage_sequences.iter())
            .zip(info.stages.iter())
            .map(|((name, &sequence), &(state, status))| StageView {
                name: name.clone(),
                sequence,
                lag: info.published.saturating_sub(sequence),
                peer: PeerView::new(state, status),
            })
            .collect();
        RegionView {
            pipeline,
            shard,
            lane,
            dropped: info.dropped,
            abi_version: crate::abi::region::REGION_ABI_VERSION,
            spec_fingerprint: format!("{:016x}", info.ring.spec_fingerprint()),
            event: info.ring.event().name.clone(),
            event_bytes: info.ring.event().size,
            capacity: info.ring.capacity(),
            health,
            producer,
            stream: match info.stream {
                StreamState::Running => "running",
                StreamState::Closed { .. } => "closed",
                StreamState::Failed => "failed",
            },
            published: info.published,
            stages,
            policy: None,
            path: info.path,
        }
    }
}

/// A snapshot of a directory of regions.
#[derive(Debug)]
pub struct Snapshot {
    /// The directory.
    pub dir: PathBuf,
    /// Every regular file of it, in path order: the region's view, or why it could not be read.
    pub regions: Vec<Result<RegionView, ShmError>>,
}

/// The file next to a pipeline's regions in `dir` where its producer records the policy
/// decision it started under: `<dir>/<pipeline>.policy` (text; removed with the regions).
pub fn policy_path(dir: impl AsRef<Path>, pipeline: &str) -> PathBuf {
    dir.as_ref().join(format!("{pipeline}.{POLICY_EXTENSION}"))
}

/// The extension of [`policy_path`] files (never a region).
const POLICY_EXTENSION: &str = "policy";

fn is_policy_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == POLICY_EXTENSION)
}

/// Snapshots one region file.
pub fn snapshot_region(
    path: impl AsRef<Path>,
    options: &SnapshotOptions,
) -> Result<RegionView, ShmError> {
    let path = path.as_ref();
    let mut view = shm::inspect(path, options.heartbeat_timeout).map(RegionView::from_info)?;
    if let Some(dir) = path.parent() {
        view.policy = std::fs::read_to_string(policy_path(dir, &view.pipeline))
            .ok()
            .map(|t| t.trim_end().to_owned());
    }
    Ok(view)
}

/// Snapshots every region of `dir` (a missing directory has none).
pub fn snapshot_dir(
    dir: impl AsRef<Path>,
    options: &SnapshotOptions,
) -> Result<Snapshot, ShmError> {
    let dir = dir.as_ref();
    let regions = shm::list(dir)?
        .into_iter()
        .filter(|status| !is_policy_file(&status.path))
        .map(|status| snapshot_region(&status.path, options))
        .collect();
    Ok(Snapshot {
        dir: dir.to_path_buf(),
        regions,
    })
}

/// What [`clean`] did to one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleaned {
    /// Its owner was gone: removed.
    Removed(PathBuf),
    /// Its owner is alive (or was being created): kept.
    Kept(PathBuf),
}

/// The regions of `dir` whose owners are dead — what [`clean`] would remove. Only files that
/// start with the region magic count: anything else in the directory is never touched.
pub fn stale_regions(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>, ShmError> {
    Ok(shm::list(dir)?
        .into_iter()
        .filter(|r| !r.owner_alive && has_region_magic(&r.path))
        .map(|r| r.path)
        .collect())
}

/// Whether the file at `path` starts with [`REGION_MAGIC`](crate::abi::region::REGION_MAGIC).
fn has_region_magic(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == crate::abi::region::REGION_MAGIC)
}

/// Removes the regions of `dir` whose owners are dead, and only those: each is checked again
/// under its owner's lock as it is removed ([`shm::remove_stale`]), so a region whose owner
/// came back meanwhile is kept.
pub fn clean(dir: impl AsRef<Path>) -> Result<Vec<Cleaned>, ShmError> {
    clean_where(dir.as_ref(), |_| true)
}

/// [`clean`], for the regions of pipeline `pipeline` only.
pub fn clean_pipeline(dir: impl AsRef<Path>, pipeline: &str) -> Result<Vec<Cleaned>, ShmError> {
    clean_where(dir.as_ref(), |path| {
        region_name(path).is_some_and(|(name, _)| name == pipeline)
    })
}

fn clean_where(dir: &Path, wanted: impl Fn(&Path) -> bool) -> Result<Vec<Cleaned>, ShmError> {
    let mut out = Vec::new();
    for path in stale_regions(dir)?.into_iter().filter(|p| wanted(p)) {
        if shm::remove_stale(&path)? {
            out.push(Cleaned::Removed(path));
        } else {
            out.push(Cleaned::Kept(path));
        }
    }
    remove_orphan_policies(dir);
    Ok(out)
}

/// What a region file holds, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RegionOf {
    /// A SingleRing's ring: `<pipeline>.<shard>`.
    Shard(u32),
    /// A LaneGraph lane between processes: `<pipeline>.lane<id>`.
    Lane(u32),
}

/// The pipeline a region file's name gives and what the region holds, if the name has one of
/// the two forms ([`shm_region_path`](crate::exec::shm_region_path),
/// [`shm_lane_path`](crate::exec::lane_graph::shm_lane_path)).
fn region_name(path: &Path) -> Option<(&str, RegionOf)> {
    let (name, suffix) = path.file_name()?.to_str()?.rsplit_once('.')?;
    match suffix.strip_prefix("lane") {
        Some(lane) => Some((name, RegionOf::Lane(lane.parse().ok()?))),
        None => Some((name, RegionOf::Shard(suffix.parse().ok()?))),
    }
}

/// Removes the [`policy_path`] files of `dir` whose pipeline has no region left.
pub fn remove_orphan_policies(dir: impl AsRef<Path>) {
    let dir = dir.as_ref();
    let Ok(files) = shm::list(dir) else { return };
    let (policies, regions): (Vec<_>, Vec<_>) = files.iter().partition(|f| is_policy_file(&f.path));
    for f in policies {
        let Some(pipeline) = f.path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let has_region = regions
            .iter()
            .any(|r| region_name(&r.path).is_some_and(|(name, _)| name == pipeline));
        if !has_region {
            let _ = std::fs::remove_file(&f.path);
        }
    }
}

fn age(d: Option<Duration>) -> String {
    match d {
        Some(d) if d < Duration::from_secs(1) => format!("{} ms", d.as_millis()),
        Some(d) => format!("{:.1} s", d.as_secs_f64()),
        None => "-".into(),
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.regions.is_empty() {
            return writeln!(f, "no regions in {}", self.dir.display());
        }
        for region in &self.regions {
            match region {
                Ok(r) => write!(f, "{r}")?,
                Err(e) => writeln!(
                    f,
                    "{}: unreadable: {e}",
                    e.path().unwrap_or(&self.dir).display()
                )?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for RegionView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: abi {} pipeline {} {} spec {} event {} ({} B) capacity {} owner pid {} heartbeat {} {} stream {}",
            self.path.display(),
            self.abi_version,
            self.pipeline,
            match (self.shard, self.lane) {
                (_, Some(lane)) => format!("lane {lane}"),
                (Some(shard), None) => format!("shard {shard}"),
                (None, None) => "shard -".into(),
            },
            self.spec_fingerprint,
            self.event,
            self.event_bytes,
            self.capacity,
            self.producer.pid,
            age(self.producer.heartbeat_age),
            self.health.as_str(),
            self.stream,
        )?;
        if let Some(policy) = &self.policy {
            writeln!(f, "  {policy}")?;
        }
        writeln!(f, "  {:<24} {:>14}", "cursor", self.published)?;
        if self.dropped > 0 {
            writeln!(f, "  {:<24} {:>14}", "dropped", self.dropped)?;
        }
        for s in &self.stages {
            let health = s.peer.health.map_or("unattached", Health::as_str);
            writeln!(
                f,
                "  {:<24} {:>14}  lag {:>10}  pid {:>7}  heartbeat {:>8}  {} {}",
                format!("stage {}", s.name),
                s.sequence,
                s.lag,
                s.peer.pid,
                age(s.peer.heartbeat_age),
                health,
                s.peer.status,
            )?;
        }
        Ok(())
    }
}

impl Snapshot {
    /// The snapshot in the OpenMetrics text exposition format (what Prometheus scrapes):
    /// `byteor_region_up`, `byteor_published_total`, `byteor_stage_processed_total`,
    /// `byteor_stage_lag`, `byteor_heartbeat_age_seconds`, labelled by `pipeline`, `shard` (`lane` for a lane)
    /// and `stage`; ends with `# EOF`.
    pub fn to_openmetrics(&self) -> String {
        let regions: Vec<&RegionView> = self
            .regions
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .collect();
        // Each family: its header, then one sample per (labels, value) its rows give.
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, String)>| {
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "# HELP {name} {help}");
            let sample = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            for (labels, value) in rows {
                let _ = writeln!(out, "{sample}{{{labels}}} {value}");
            }
        };
        let labels = |r: &RegionView| match r.lane {
            Some(lane) => format!("pipeline=\"{}\",lane=\"{lane}\"", escape(&r.pipeline)),
            None => format!(
                "pipeline=\"{}\",shard=\"{}\"",
                escape(&r.pipeline),
                r.shard.map_or(String::new(), |s| s.to_string())
            ),
        };
        let per_stage = |value: fn(&StageView) -> u64| -> Vec<(String, String)> {
            regions
                .iter()
                .flat_map(|r| {
                    r.stages.iter().map(move |s| {
                        let l = format!("{},stage=\"{}\"", labels(r), escape(&s.name));
                        (l, value(s).to_string())
                    })
                })
                .collect()
        };
        family(
            "byteor_region_up",
            "gauge",
            "1 while the region's owner is alive.",
            regions
                .iter()
                .map(|r| (labels(r), u8::from(r.health == Health::Alive).to_string()))
                .collect(),
        );
        family(
            "byteor_published",
            "counter",
            "Events the producer published.",
            regions
                .iter()
                .map(|r| (labels(r), r.published.to_string()))
                .collect(),
        );
        family(
            "byteor_stage_processed",
            "counter",
            "Events the stage finished.",
            per_stage(|s| s.sequence),
        );
        family(
            "byteor_stage_lag",
            "gauge",
            "Published events the stage has not finished.",
            per_stage(|s| s.lag),
        );
        let heartbeats = regions
            .iter()
            .flat_map(|r| {
                let producer = ("producer".to_owned(), r.producer.heartbeat_age);
                let stages = r
                    .stages
                    .iter()
                    .map(|s| (escape(&s.name), s.peer.heartbeat_age));
                std::iter::once(producer)
                    .chain(stages)
                    .filter_map(move |(peer, age)| {
                        let age = age?;
                        let l = format!("{},peer=\"{peer}\"", labels(r));
                        Some((l, format!("{:.6}", age.as_secs_f64())))
                    })
            })
            .collect();
        family(
            "byteor_heartbeat_age_seconds",
            "gauge",
            "Time since the peer's last heartbeat.",
            heartbeats,
        );
        out.push_str("# EOF\n");
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::ShmEvent;
    use crate::transport::shm::{Peer, Region, RingDescriptor, ShmOptions};

    #[derive(Clone, Copy, Default, ShmEvent)]
    #[repr(C)]
    struct Tick {
        seq: u64,
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("byteor-snap-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_live_region_with_a_stage_and_its_metrics() {
        let d = dir("live");
        let desc = RingDescriptor::new(&Tick::LAYOUT, 0xabc, 64, &["a", "b"]).unwrap();
        let owner = Region::create(d.join("p.3"), &desc, &ShmOptions::default()).unwrap();
        owner.heartbeat();
        let mut stage = Region::open(d.join("p.3"), &desc, &ShmOptions::default()).unwrap();
        stage.claim(Peer::Stage(1)).unwrap();
        std::fs::write(d.join("junk"), b"not a region").unwrap();

        // In path order: the junk file (unreadable, listed with why), then the region.
        let snap = snapshot_dir(&d, &SnapshotOptions::default()).unwrap();
        assert_eq!(snap.regions.len(), 2);
        assert!(matches!(
            snap.regions[0],
            Err(ShmError::ShorterThanHeader { .. })
        ));
        let r = snap.regions[1].as_ref().unwrap();
        assert_eq!((r.pipeline.as_str(), r.shard), ("p", Some(3)));
        assert_eq!(r.spec_fingerprint, "0000000000000abc");
        assert_eq!(r.health, Health::Alive);
        assert_eq!(r.producer.pid, std::process::id());
        assert_eq!(r.stages[0].peer.health, None);
        assert_eq!(r.stages[1].peer.health, Some(Health::Alive));
        let text = snap.to_string();
        assert!(text.contains("pipeline p shard 3"), "{text}");
        assert!(text.contains("unreadable"), "{text}");
        let metrics = snap.to_openmetrics();
        assert!(
            metrics.contains("byteor_region_up{pipeline=\"p\",shard=\"3\"} 1"),
            "{metrics}"
        );
        assert!(metrics.contains("byteor_stage_lag{pipeline=\"p\",shard=\"3\",stage=\"b\"} 0"));
        assert!(metrics.ends_with("# EOF\n"));

        // The owner is alive: nothing to clean.
        assert!(stale_regions(&d)
            .unwrap()
            .iter()
            .all(|p| p != &d.join("p.3")));
        drop(stage);
        owner.remove_file().unwrap();
        drop(owner);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_lane_region_shows_its_lane_and_drops_and_is_cleaned_with_its_pipeline() {
        let d = dir("lane");
        let desc = RingDescriptor::new(&Tick::LAYOUT, 0xabc, 64, &["reader"]).unwrap();
        let path = crate::exec::lane_graph::shm_lane_path(&d, "g", 7);
        assert_eq!(path, d.join("g.lane7"));
        let writer = Region::create(&path, &desc, &ShmOptions::default()).unwrap();
        writer.add_dropped(5);
        let snap = snapshot_dir(&d, &SnapshotOptions::default()).unwrap();
        let r = snap.regions[0].as_ref().unwrap();
        assert_eq!((r.pipeline.as_str(), r.shard, r.lane), ("g", None, Some(7)));
        assert_eq!(r.dropped, 5);
        let text = snap.to_string();
        assert!(text.contains("pipeline g lane 7"), "{text}");
        assert!(text.contains("dropped"), "{text}");
        assert!(
            snap.to_openmetrics()
                .contains("byteor_region_up{pipeline=\"g\",lane=\"7\"} 1"),
            "{}",
            snap.to_openmetrics()
        );
        // Its writer gone, the region is stale and `clean_pipeline` knows it is `g`'s.
        drop(writer);
        let cleaned = clean_pipeline(&d, "g").unwrap();
        assert_eq!(cleaned, [Cleaned::Removed(path.clone())]);
        assert!(!path.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_missing_directory_has_no_regions() {
        let snap = snapshot_dir(dir("none"), &SnapshotOptions::default()).unwrap();
        assert!(snap.regions.is_empty());
        assert!(snap.to_string().starts_with("no regions"));
    }
}
