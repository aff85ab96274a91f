//! Capture: every ingress event a run publishes — with its position and the wall-clock time —
//! and every event that reaches an egress, recorded into `Journal` lanes of a directory, for
//! incident bundles and replay.
//!
//! Layout of a capture directory:
//!
//! ```text
//! <dir>/plan.toml            the plan document the run ran
//! <dir>/inputs/<ingress>/    a journal of CapturedEvent, one per published event, in order
//! <dir>/outputs/<egress>/    a journal of CapturedEvent, one per event received (LaneGraph)
//! ```
//!
//! Each journal keeps at most [`CaptureOptions::retain_bytes`] (the oldest segments go first);
//! a torn tail left by a crash is cut when the capture is opened again, never read as an event
//! (see [`backing::journal`](crate::backing::journal)). A SingleRing's outputs are its events
//! as they leave the ring, after the last final stage (recorded on that stage's thread, in
//! process; a role split over processes records inputs only).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use byteor::ops::builtin::{BuiltinEvent, Generator};
//! use byteor::ops::capture::{read_capture, Capture, CaptureOptions, Window};
//! use byteor::plan::PipelinePlanV2;
//!
//! let dir = std::env::temp_dir().join(format!("byteor-capture-doc-{}", std::process::id()));
//! let plan = PipelinePlanV2::from_toml(r#"
//!     version = 2
//!     name = "c"
//!     target = "single_ring"
//!     [[ingress]]
//!     name = "in"
//!     [[egress]]
//!     name = "out"
//!     [[stages]]
//!     name = "a"
//!     kind = "pass"
//!     [single_ring]
//!     capacity = 64
//! "#)?;
//! let mut capture = Capture::create(&dir, &plan, &CaptureOptions::default())?;
//! let mut g = Generator::new();
//! for _ in 0..10 {
//!     let mut e = BuiltinEvent::default();
//!     g.fill(&mut e);
//!     capture.record_input(0, &e)?;
//! }
//! capture.flush()?;
//! let read = read_capture(&dir, Window::FromSeq(7))?;
//! assert_eq!(read.inputs["in"].iter().map(|c| c.seq).collect::<Vec<_>>(), [7, 8, 9]);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::abi::ShmEvent;
use crate::backing::journal::{JournalError, JournalOptions, JournalReader, JournalWriter};
use crate::plan::PipelinePlanV2;

use super::builtin::BuiltinEvent;

/// One captured event: a [`BuiltinEvent`] and when it was captured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ShmEvent)]
#[repr(C)]
pub struct CapturedEvent {
    /// Wall-clock time of capture, nanoseconds since the Unix epoch.
    pub unix_ns: u64,
    /// The event's `seq`.
    pub seq: u64,
    /// The event's `value`.
    pub value: u64,
    /// The event's `stamp_ns`.
    pub stamp_ns: u64,
    /// The event's `checksum`.
    pub checksum: u64,
}

impl CapturedEvent {
    /// `e`, captured at `unix_ns`.
    pub fn new(e: &BuiltinEvent, unix_ns: u64) -> Self {
        CapturedEvent {
            unix_ns,
            seq: e.seq,
            value: e.value,
            stamp_ns: e.stamp_ns,
            checksum: e.checksum,
        }
    }

    /// The event.
    pub fn event(&self) -> BuiltinEvent {
        BuiltinEvent {
            seq: self.seq,
            value: self.value,
            stamp_ns: self.stamp_ns,
            checksum: self.checksum,
        }
    }
}

/// Nanoseconds since the Unix epoch now.
pub fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// How much a capture keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Bytes each journal (one per ingress and egress) keeps; older segments are deleted.
    /// Default 256 MiB.
    pub retain_bytes: u64,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            retain_bytes: 256 << 20,
        }
    }
}

/// Why a capture could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// A journal failed.
    #[error("capture {path}: {source}")]
    Journal {
        /// The journal's directory.
        path: PathBuf,
        /// Why.
        source: JournalError,
    },
    /// A file of the capture could not be written or read.
    #[error("capture {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The capture's plan document does not parse.
    #[error("capture {path}: the plan does not parse: {reason}")]
    Plan {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The plan cannot be written as a document (plan documents are a `toml` feature).
    #[error("the plan cannot be written as a document: {0}")]
    Document(String),
}

/// Writes a capture: one journal per ingress and per egress of a plan.
#[derive(Debug)]
pub struct Capture {
    dir: PathBuf,
    /// `None` once taken by [`Capture::take_input`].
    inputs: Vec<(String, Option<JournalWriter<CapturedEvent>>)>,
    /// `None` once taken by [`Capture::take_output`].
    outputs: Vec<(String, Option<JournalWriter<CapturedEvent>>)>,
}

fn journal(
    dir: &Path,
    options: &CaptureOptions,
) -> Result<JournalWriter<CapturedEvent>, CaptureError> {
    let opts = JournalOptions {
        retain_bytes: options.retain_bytes,
        segment_bytes: (options.retain_bytes / 4).clamp(64 << 10, 64 << 20),
    };
    JournalWriter::open(dir, opts)
        .map(|(w, _recovery)| w)
        .map_err(|source| CaptureError::Journal {
            path: dir.to_path_buf(),
            source,
        })
}

impl Capture {
    /// Opens (or continues) a capture of `plan` in `dir`: writes the plan document and opens a
    /// journal per ingress and egress, cutting any torn tail a crash left.
    pub fn create(
        dir: impl AsRef<Path>,
        plan: &PipelinePlanV2,
        options: &CaptureOptions,
    ) -> Result<Capture, CaptureError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|source| CaptureError::Io {
            path: dir.clone(),
            source,
        })?;
        let text = plan_text(plan)?;
        let plan_path = dir.join("plan.toml");
        std::fs::write(&plan_path, text).map_err(|source| CaptureError::Io {
            path: plan_path,
            source,
        })?;
        let mut inputs = Vec::new();
        for i in &plan.ingress {
            inputs.push((
                i.name.clone(),
                Some(journal(&dir.join("inputs").join(&i.name), options)?),
            ));
        }
        let mut outputs = Vec::new();
        for e in &plan.egress {
            outputs.push((
                e.name.clone(),
                Some(journal(&dir.join("outputs").join(&e.name), options)?),
            ));
        }
        Ok(Capture {
            dir,
            inputs,
            outputs,
        })
    }

    /// The capture's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records `e` as published into ingress number `ingress` (plan order). Does nothing for
    /// an ingress whose writer was taken ([`take_input`](Self::take_input)).
    #[inline]
    pub fn record_input(&mut self, ingress: usize, e: &BuiltinEvent) -> Result<(), CaptureError> {
        let Some((name, Some(w))) = self.inputs.get_mut(ingress) else {
            return Ok(());
        };
        w.append(&CapturedEvent::new(e, unix_ns()))
            .map(|_| ())
            .map_err(|source| CaptureError::Journal {
                path: self.dir.join("inputs").join(name.as_str()),
                source,
            })
    }

    /// Takes the writer of ingress number `ingress` (plan order), to record on the thread that
    /// publishes into it; `None` if taken already.
    pub fn take_input(&mut self, ingress: usize) -> Option<CaptureTap> {
        let (name, writer) = self.inputs.get_mut(ingress)?;
        Some(CaptureTap {
            path: self.dir.join("inputs").join(name.as_str()),
            writer: writer.take()?,
        })
    }

    /// Takes the writer of egress number `egress` (plan order), to record on the thread that
    /// drains it; `None` if taken already.
    pub fn take_output(&mut self, egress: usize) -> Option<CaptureTap> {
        let (name, writer) = self.outputs.get_mut(egress)?;
        Some(CaptureTap {
            path: self.dir.join("outputs").join(name.as_str()),
            writer: writer.take()?,
        })
    }

    /// Writes everything recorded so far to the files.
    pub fn flush(&mut self) -> Result<(), CaptureError> {
        for (name, w) in self.inputs.iter_mut() {
            let Some(w) = w else { continue };
            w.flush().map_err(|source| CaptureError::Journal {
                path: self.dir.join("inputs").join(name.as_str()),
                source,
            })?;
        }
        for (name, w) in self.outputs.iter_mut() {
            let Some(w) = w else { continue };
            w.flush().map_err(|source| CaptureError::Journal {
                path: self.dir.join("outputs").join(name.as_str()),
                source,
            })?;
        }
        Ok(())
    }
}

/// Records the events of one ingress or egress, on the thread that publishes or drains it.
#[derive(Debug)]
pub struct CaptureTap {
    path: PathBuf,
    writer: JournalWriter<CapturedEvent>,
}

impl CaptureTap {
    /// Records `e` (published, or received).
    #[inline]
    pub fn record(&mut self, e: &BuiltinEvent) -> Result<(), CaptureError> {
        self.writer
            .append(&CapturedEvent::new(e, unix_ns()))
            .map(|_| ())
            .map_err(|source| CaptureError::Journal {
                path: self.path.clone(),
                source,
            })
    }

    /// Writes everything recorded so far to the files.
    pub fn flush(&mut self) -> Result<(), CaptureError> {
        self.writer.flush().map_err(|source| CaptureError::Journal {
            path: self.path.clone(),
            source,
        })
    }
}

/// The plan as a document.
pub(crate) fn plan_text(plan: &PipelinePlanV2) -> Result<String, CaptureError> {
    #[cfg(feature = "toml")]
    {
        Ok(plan.to_toml())
    }
    #[cfg(not(feature = "toml"))]
    {
        let _ = plan;
        Err(CaptureError::Document(
            "byteor was built without its `toml` feature".into(),
        ))
    }
}

/// Which captured events to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Every retained event.
    All,
    /// Events captured within this long before the last one (per journal).
    Last(Duration),
    /// Input events whose `seq` is at least this, and outputs captured from the time the first
    /// of those inputs was.
    FromSeq(u64),
}

/// A capture as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureContents {
    /// The plan document's text.
    pub plan_toml: String,
    /// Per ingress, in order.
    pub inputs: BTreeMap<String, Vec<CapturedEvent>>,
    /// Per egress, in order of arrival.
    pub outputs: BTreeMap<String, Vec<CapturedEvent>>,
}

fn read_journal(dir: &Path) -> Result<Vec<CapturedEvent>, CaptureError> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let (first, _) = crate::backing::journal::retained::<CapturedEvent>(dir).map_err(|source| {
        CaptureError::Journal {
            path: dir.to_path_buf(),
            source,
        }
    })?;
    let mut reader = JournalReader::<CapturedEvent>::open(dir, first).map_err(|source| {
        CaptureError::Journal {
            path: dir.to_path_buf(),
            source,
        }
    })?;
    let mut out = Vec::new();
    while let Some((_, e)) = reader.next().map_err(|source| CaptureError::Journal {
        path: dir.to_path_buf(),
        source,
    })? {
        out.push(e);
    }
    Ok(out)
}

fn names(dir: &Path) -> Result<Vec<String>, CaptureError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| CaptureError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        if entry.path().is_dir() {
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the capture in `dir`, the events of `window` only.
pub fn read_capture(
    dir: impl AsRef<Path>,
    window: Window,
) -> Result<CaptureContents, CaptureError> {
    let dir = dir.as_ref();
    let plan_path = dir.join("plan.toml");
    let plan_toml = std::fs::read_to_string(&plan_path).map_err(|source| CaptureError::Io {
        path: plan_path,
        source,
    })?;
    let mut inputs = BTreeMap::new();
    for name in names(&dir.join("inputs"))? {
        inputs.insert(name.clone(), read_journal(&dir.join("inputs").join(&name))?);
    }
    let mut outputs = BTreeMap::new();
    for name in names(&dir.join("outputs"))? {
        outputs.insert(
            name.clone(),
            read_journal(&dir.join("outputs").join(&name))?,
        );
    }
    match window {
        Window::All => {}
        Window::Last(d) => {
            let span = d.as_nanos() as u64;
            for events in inputs.values_mut().chain(outputs.values_mut()) {
                if let Some(last) = events.last().map(|e| e.unix_ns) {
                    events.retain(|e| e.unix_ns + span >= last);
                }
            }
        }
        Window::FromSeq(seq) => {
            let mut since = u64::MAX;
            for events in inputs.values_mut() {
                events.retain(|e| e.seq >= seq);
                since = since.min(events.first().map_or(u64::MAX, |e| e.unix_ns));
            }
            for events in outputs.values_mut() {
                events.retain(|e| e.unix_ns >= since);
            }
        }
    }
    Ok(CaptureContents {
        plan_toml,
        inputs,
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::builtin::Generator;

    fn plan() -> PipelinePlanV2 {
        PipelinePlanV2::from_toml(
            r#"
            version = 2
            name = "cap"
            target = "single_ring"
            [[ingress]]
            name = "in"
            [[egress]]
            name = "out"
            [[stages]]
            name = "a"
            kind = "pass"
            [single_ring]
            capacity = 64
        "#,
        )
        .unwrap()
    }

    #[test]
    fn a_torn_tail_is_cut_on_reopen_and_never_read() {
        let dir = std::env::temp_dir().join(format!("byteor-capture-torn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut capture = Capture::create(&dir, &plan(), &CaptureOptions::default()).unwrap();
        let mut g = Generator::new();
        for _ in 0..100 {
            let mut e = BuiltinEvent::default();
            g.fill(&mut e);
            capture.record_input(0, &e).unwrap();
        }
        capture.flush().unwrap();
        drop(capture);
        // A crash mid-append: half a record at the end of the segment.
        let seg = std::fs::read_dir(dir.join("inputs/in"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes.extend_from_slice(&[0xAB; 21]);
        std::fs::write(&seg, &bytes).unwrap();

        // Read as it is: the partial record is not an event.
        let read = read_capture(&dir, Window::All).unwrap();
        assert_eq!(read.inputs["in"].len(), 100);
        // Reopened for writing: the tail is cut, and capture goes on after the last whole one.
        let mut capture = Capture::create(&dir, &plan(), &CaptureOptions::default()).unwrap();
        let mut e = BuiltinEvent::default();
        g.fill(&mut e);
        capture.record_input(0, &e).unwrap();
        capture.flush().unwrap();
        let read = read_capture(&dir, Window::All).unwrap();
        let seqs: Vec<u64> = read.inputs["in"].iter().map(|c| c.seq).collect();
        assert_eq!(seqs, (0..101).collect::<Vec<_>>());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_capture_windows_by_time_and_sequence() {
        let dir = std::env::temp_dir().join(format!("byteor-capture-win-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut capture = Capture::create(&dir, &plan(), &CaptureOptions::default()).unwrap();
        let mut g = Generator::new();
        for _ in 0..10 {
            let mut e = BuiltinEvent::default();
            g.fill(&mut e);
            capture.record_input(0, &e).unwrap();
        }
        capture.flush().unwrap();
        let all = read_capture(&dir, Window::Last(Duration::from_secs(3600))).unwrap();
        assert_eq!(all.inputs["in"].len(), 10);
        assert!(all.outputs["out"].is_empty());
        let none = read_capture(&dir, Window::FromSeq(10)).unwrap();
        assert!(none.inputs["in"].is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
