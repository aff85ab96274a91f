//! Incident bundles: one reproducible archive holding what is needed to understand and re-run
//! an incident on another machine.
//!
//! A bundle is a tar archive. Its first entry, `MANIFEST.sha256`, lists every other entry, one
//! line each: `<sha256 hex>  <size>  <path>`, sorted by path. The usual entries:
//!
//! | path | holds |
//! |---|---|
//! | `plan.toml` | the plan document |
//! | `spec.kv` | the canonical spec (kv text) |
//! | `fingerprint` | the spec fingerprint (16 hex digits and a newline) |
//! | `version.txt` | byteor's version, and the product binary's name and version |
//! | `inputs/<ingress>.events` | captured inputs, in order ([event files](#event-files)) |
//! | `outputs/<egress>.events` | captured outputs, in arrival order |
//! | `snapshot.json`, `doctor.json` | the shared-memory snapshot and the host report, when given |
//!
//! Reproducible: entries are sorted by path and carry fixed metadata (mode 0644, owner 0:0, no
//! user or group names, modification time 0), so the same inputs give a byte-identical
//! archive. [`verify_bundle`] recomputes every digest and names each entry that is missing,
//! extra or altered.
//!
//! # Event files
//! `BYTEORCE` (8 bytes), then the record count (u64), then per event five u64s — `unix_ns`,
//! `seq`, `value`, `stamp_ns`, `checksum` ([`CapturedEvent`]) — all little-endian.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use byteor::ops::bundle::{read_bundle, verify_bundle, BundleWriter};
//!
//! let path = std::env::temp_dir().join(format!("byteor-bundle-doc-{}.tar", std::process::id()));
//! let mut bundle = BundleWriter::new();
//! bundle.add("plan.toml", b"version = 2\n".to_vec());
//! bundle.add("fingerprint", b"0123456789abcdef\n".to_vec());
//! bundle.write(&path)?;
//!
//! assert!(verify_bundle(&path)?.is_intact());
//! assert_eq!(read_bundle(&path)?.text("fingerprint")?, "0123456789abcdef\n");
//! # std::fs::remove_file(&path)?;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::capture::CapturedEvent;

/// The manifest's entry name.
pub const MANIFEST: &str = "MANIFEST.sha256";
const EVENTS_MAGIC: &[u8; 8] = b"BYTEORCE";

/// Why a bundle could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The file could not be written or read.
    #[error("bundle {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The archive has no manifest, or one that does not parse.
    #[error("bundle {path}: {reason}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An entry the caller needs is not in the bundle.
    #[error("the bundle has no `{0}` entry")]
    Missing(String),
    /// An entry is not what its name says.
    #[error("bundle entry `{entry}`: {reason}")]
    Entry {
        /// The entry.
        entry: String,
        /// What is wrong.
        reason: String,
    },
}

/// Builds a bundle in memory, then writes it.
#[derive(Debug, Default)]
pub struct BundleWriter {
    entries: BTreeMap<String, Vec<u8>>,
}

impl BundleWriter {
    /// An empty bundle.
    pub fn new() -> Self {
        BundleWriter::default()
    }

    /// Adds (or replaces) the entry `path`.
    pub fn add(&mut self, path: impl Into<String>, bytes: Vec<u8>) -> &mut Self {
        self.entries.insert(path.into(), bytes);
        self
    }

    /// Adds captured events as an [event file](self#event-files).
    pub fn add_events(&mut self, path: impl Into<String>, events: &[CapturedEvent]) -> &mut Self {
        self.add(path, encode_events(events))
    }

    /// The manifest of the entries added so far.
    pub fn manifest(&self) -> String {
        manifest_of(&self.entries)
    }

    /// Writes the archive to `path` (replacing any file there) and returns its manifest.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<String, BundleError> {
        let path = path.as_ref();
        let io = |source| BundleError::Io {
            path: path.to_path_buf(),
            source,
        };
        let manifest = self.manifest();
        let file = std::fs::File::create(path).map_err(io)?;
        let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
        tar.mode(tar::HeaderMode::Deterministic);
        let mut append = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
            let mut header = tar::Header::new_ustar();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, name, bytes)
        };
        append(MANIFEST, manifest.as_bytes()).map_err(io)?;
        for (name, bytes) in &self.entries {
            append(name, bytes).map_err(io)?;
        }
        let inner = tar.into_inner().map_err(io)?;
        inner
            .into_inner()
            .map_err(|e| io(e.into_error()))?
            .sync_all()
            .map_err(io)?;
        Ok(manifest)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn manifest_of(entries: &BTreeMap<String, Vec<u8>>) -> String {
    let mut out = String::new();
    for (name, bytes) in entries {
        out.push_str(&format!(
            "{}  {}  {name}\n",
            hex(&Sha256::digest(bytes)),
            bytes.len()
        ));
    }
    out
}

/// Encodes events as an [event file](self#event-files).
pub fn encode_events(events: &[CapturedEvent]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + events.len() * 40);
    out.extend_from_slice(EVENTS_MAGIC);
    out.extend_from_slice(&(events.len() as u64).to_le_bytes());
    for e in events {
        for v in [e.unix_ns, e.seq, e.value, e.stamp_ns, e.checksum] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Decodes an [event file](self#event-files); `entry` names it in errors.
pub fn decode_events(entry: &str, bytes: &[u8]) -> Result<Vec<CapturedEvent>, BundleError> {
    let bad = |reason: String| BundleError::Entry {
        entry: entry.to_owned(),
        reason,
    };
    if bytes.len() < 16 || &bytes[..8] != EVENTS_MAGIC {
        return Err(bad("not an event file (no BYTEORCE header)".into()));
    }
    let count = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let body = &bytes[16..];
    if body.len() as u64 != count.saturating_mul(40) {
        return Err(bad(format!(
            "says {count} events but holds {} bytes of them ({} expected)",
            body.len(),
            count.saturating_mul(40)
        )));
    }
    let word =
        |r: &[u8], i: usize| u64::from_le_bytes(r[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    Ok(body
        .chunks_exact(40)
        .map(|r| CapturedEvent {
            unix_ns: word(r, 0),
            seq: word(r, 1),
            value: word(r, 2),
            stamp_ns: word(r, 3),
            checksum: word(r, 4),
        })
        .collect())
}

/// A bundle read into memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The manifest's text.
    pub manifest: String,
    /// Every entry but the manifest, by path.
    pub entries: BTreeMap<String, Vec<u8>>,
}

impl Bundle {
    /// The entry `path`.
    pub fn bytes(&self, path: &str) -> Result<&[u8], BundleError> {
        self.entries
            .get(path)
            .map(Vec::as_slice)
            .ok_or_else(|| BundleError::Missing(path.to_owned()))
    }

    /// The entry `path` as UTF-8 text.
    pub fn text(&self, path: &str) -> Result<&str, BundleError> {
        std::str::from_utf8(self.bytes(path)?).map_err(|e| BundleError::Entry {
            entry: path.to_owned(),
            reason: format!("not UTF-8 text: {e}"),
        })
    }

    /// Every event file under `dir/` (`inputs` or `outputs`), by the name before `.events`.
    pub fn events(&self, dir: &str) -> Result<BTreeMap<String, Vec<CapturedEvent>>, BundleError> {
        let prefix = format!("{dir}/");
        let mut out = BTreeMap::new();
        for (path, bytes) in &self.entries {
            if let Some(name) = path
                .strip_prefix(&prefix)
                .and_then(|n| n.strip_suffix(".events"))
            {
                out.insert(name.to_owned(), decode_events(path, bytes)?);
            }
        }
        Ok(out)
    }
}

/// Reads every entry of the archive at `path` (without checking digests: see
/// [`verify_bundle`]).
pub fn read_bundle(path: impl AsRef<Path>) -> Result<Bundle, BundleError> {
    let path = path.as_ref();
    let io = |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut manifest = None;
    let mut entries = BTreeMap::new();
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let name = entry.path().map_err(io)?.to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(io)?;
        if name == MANIFEST {
            manifest = Some(String::from_utf8(bytes).map_err(|_| BundleError::Manifest {
                path: path.to_path_buf(),
                reason: "the manifest is not UTF-8 text".into(),
            })?);
        } else {
            entries.insert(name, bytes);
        }
    }
    let manifest = manifest.ok_or_else(|| BundleError::Manifest {
        path: path.to_path_buf(),
        reason: format!("no `{MANIFEST}` entry: not a byteor incident bundle"),
    })?;
    Ok(Bundle { manifest, entries })
}

/// What [`verify_bundle`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verification {
    /// Entries the manifest lists that the archive lacks.
    pub missing: Vec<String>,
    /// Entries the archive holds that the manifest does not list.
    pub extra: Vec<String>,
    /// Entries whose size or SHA-256 differs from the manifest's.
    pub altered: Vec<String>,
    /// Entries checked and found as listed.
    pub intact: usize,
}

impl Verification {
    /// Whether every entry is present, listed and unaltered.
    pub fn is_intact(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.altered.is_empty()
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_intact() {
            return write!(f, "intact: {} entries match the manifest", self.intact);
        }
        let mut parts = Vec::new();
        for m in &self.missing {
            parts.push(format!("missing `{m}`"));
        }
        for e in &self.extra {
            parts.push(format!("extra `{e}` (not in the manifest)"));
        }
        for a in &self.altered {
            parts.push(format!("altered `{a}`"));
        }
        write!(f, "not intact: {}", parts.join(", "))
    }
}

/// Checks the archive at `path` against its manifest: every listed entry present with its size
/// and SHA-256, and nothing else.
pub fn verify_bundle(path: impl AsRef<Path>) -> Result<Verification, BundleError> {
    let path = path.as_ref();
    let bundle = read_bundle(path)?;
    let mut listed = BTreeMap::new();
    for (i, line) in bundle.manifest.lines().enumerate() {
        let mut parts = line.splitn(3, "  ");
        let (Some(digest), Some(size), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(BundleError::Manifest {
                path: path.to_path_buf(),
                reason: format!("manifest line {} is not `<sha256>  <size>  <path>`", i + 1),
            });
        };
        let size: u64 = size.parse().map_err(|_| BundleError::Manifest {
            path: path.to_path_buf(),
            reason: format!("manifest line {}: size `{size}` is not a number", i + 1),
        })?;
        listed.insert(name.to_owned(), (digest.to_owned(), size));
    }
    let mut v = Verification::default();
    for (name, (digest, size)) in &listed {
        match bundle.entries.get(name) {
            None => v.missing.push(name.clone()),
            Some(bytes) => {
                if bytes.len() as u64 != *size || hex(&Sha256::digest(bytes)) != *digest {
                    v.altered.push(name.clone());
                } else {
                    v.intact += 1;
                }
            }
        }
    }
    for name in bundle.entries.keys() {
        if !listed.contains_key(name) {
            v.extra.push(name.clone());
        }
    }
    Ok(v)
}

/// What goes into an incident bundle besides the capture.
#[derive(Debug, Clone, Default)]
pub struct IncidentOptions {
    /// Which captured events.
    pub window: Option<super::capture::Window>,
    /// The product binary's name and version (`version.txt`).
    pub product: Option<(String, String)>,
    /// Further entries, such as `snapshot.json` and `doctor.json` (they describe the moment
    /// the bundle is made, so two bundles of one capture differ in them).
    pub extra: Vec<(String, Vec<u8>)>,
}

/// Why an incident bundle could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    /// The capture cannot be read.
    #[error(transparent)]
    Capture(#[from] super::capture::CaptureError),
    /// The captured plan does not parse or lower.
    #[error("the captured plan: {0}")]
    Plan(String),
}

/// Builds the incident bundle of the capture in `capture_dir`: the plan, its spec and
/// fingerprint, the versions, the captured inputs and outputs of `options.window`, and
/// `options.extra`. Write it with [`BundleWriter::write`].
pub fn incident_bundle(
    capture_dir: impl AsRef<Path>,
    options: &IncidentOptions,
) -> Result<BundleWriter, IncidentError> {
    let window = options.window.unwrap_or(super::capture::Window::All);
    let capture = super::capture::read_capture(capture_dir, window)?;
    let plan = crate::plan::PipelinePlanV2::from_toml(&capture.plan_toml)
        .map_err(|e| IncidentError::Plan(e.to_string()))?;
    let spec = crate::lower::lower_v2(&plan).map_err(|e| IncidentError::Plan(e.to_string()))?;
    let mut w = BundleWriter::new();
    w.add("plan.toml", capture.plan_toml.clone().into_bytes());
    w.add("spec.kv", spec.to_kv().into_bytes());
    w.add(
        "fingerprint",
        format!("{}\n", spec.fingerprint()).into_bytes(),
    );
    let mut version = format!("byteor {}\n", env!("CARGO_PKG_VERSION"));
    if let Some((name, v)) = &options.product {
        version.push_str(&format!("product {name} {v}\n"));
    }
    w.add("version.txt", version.into_bytes());
    for (name, events) in &capture.inputs {
        w.add_events(format!("inputs/{name}.events"), events);
    }
    for (name, events) in &capture.outputs {
        w.add_events(format!("outputs/{name}.events"), events);
    }
    for (name, bytes) in &options.extra {
        w.add(name.clone(), bytes.clone());
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("byteor-bundle-{name}-{}.tar", std::process::id()))
    }

    #[test]
    fn same_entries_same_bytes() {
        let (a, b) = (tmp("a"), tmp("b"));
        let make = |order: &[(&str, &[u8])], path: &Path| {
            let mut w = BundleWriter::new();
            for (n, bytes) in order {
                w.add(*n, bytes.to_vec());
            }
            w.write(path).unwrap();
        };
        make(&[("x", b"1"), ("y/z", b"22")], &a);
        make(&[("y/z", b"22"), ("x", b"1")], &b);
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let _ = (std::fs::remove_file(&a), std::fs::remove_file(&b));
    }

    #[test]
    fn events_round_trip_and_bad_files_are_named() {
        let events = [CapturedEvent {
            unix_ns: 1,
            seq: 2,
            value: 3,
            stamp_ns: 4,
            checksum: 5,
        }];
        let bytes = encode_events(&events);
        assert_eq!(decode_events("e", &bytes).unwrap(), events);
        let err = decode_events("inputs/in.events", &bytes[..30]).unwrap_err();
        assert!(err.to_string().contains("inputs/in.events"), "{err}");
        assert!(decode_events("x", b"nope").is_err());
    }
}
