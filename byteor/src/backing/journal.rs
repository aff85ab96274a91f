//! The journal: an ordered, append-only store of fixed-size plain-data events in segment files
//! of a directory — the storage of the `Journal` lane kind, and what capture records into.
//!
//! * Events get offsets `0, 1, 2, ...`; a reader opens at any retained offset and reads on, so a
//!   late or restarted reader replays from where it left off.
//! * Files: `<dir>/<first offset, 20 digits>.seg`. Each starts with a 32-byte header (magic
//!   `BYTEORJ1`, record size, the segment's first offset, the event's size), then records of
//!   `offset (u64) | event bytes | FNV-1a 64 of both (u64)`, little-endian. A segment is closed
//!   and a new one started once it holds [`JournalOptions::segment_bytes`].
//! * Retention by size: once the segments hold more than [`JournalOptions::retain_bytes`], the
//!   oldest whole segments are deleted (never the one being written).
//! * A crash mid-append leaves a torn tail (a partial record, or one whose checksum does not
//!   match): [`JournalWriter::open`] detects it, truncates the segment to its last whole
//!   record and reports how many bytes it cut ([`Recovery`]). A reader treats a partial record
//!   at the end as "not yet written", never as an event; a bad record followed by good ones is
//!   [`JournalError::Corrupt`].
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use byteor::backing::journal::{JournalOptions, JournalReader, JournalWriter};
//!
//! let dir = std::env::temp_dir().join(format!("byteor-journal-doc-{}", std::process::id()));
//! let (mut writer, recovery) = JournalWriter::<u64>::open(&dir, JournalOptions::default())?;
//! assert_eq!(recovery.next_offset, 0);
//! for v in [10, 20, 30] {
//!     writer.append(&v)?;
//! }
//! writer.flush()?;
//!
//! let mut reader = JournalReader::<u64>::open(&dir, 1)?; // from offset 1
//! assert_eq!(reader.next()?, Some((1, 20)));
//! assert_eq!(reader.next()?, Some((2, 30)));
//! assert_eq!(reader.next()?, None); // nothing more yet
//! # drop((writer, reader)); std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::mem::size_of;
use std::path::{Path, PathBuf};

use crate::kernel::broadcast::Pod;

const MAGIC: [u8; 8] = *b"BYTEORJ1";
const HEADER_BYTES: u64 = 32;

/// How a journal rolls and retains segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalOptions {
    /// A segment is closed once it holds at least this many bytes (default 64 MiB).
    pub segment_bytes: u64,
    /// Oldest segments are deleted while the journal holds more than this (default 1 GiB);
    /// the segment being written is never deleted.
    pub retain_bytes: u64,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            segment_bytes: 64 << 20,
            retain_bytes: 1 << 30,
        }
    }
}

/// Why a journal could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// An operating-system error.
    #[error("journal {}: {op}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// A segment that is not a byteor journal segment.
    #[error("journal segment {}: not a byteor journal segment (bad header)", .path.display())]
    Foreign {
        /// The segment.
        path: PathBuf,
    },
    /// A segment written for events of another size.
    #[error("journal segment {}: holds events of {found} bytes, this journal's are {expected}", .path.display())]
    EventSize {
        /// The segment.
        path: PathBuf,
        /// This journal's event size.
        expected: u64,
        /// The segment's.
        found: u64,
    },
    /// A bad record that is not the torn tail of the newest segment.
    #[error("journal segment {}: record for offset {offset} is corrupt ({reason})", .path.display())]
    Corrupt {
        /// The segment.
        path: PathBuf,
        /// The offset the record should hold.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The offset asked for is no longer (or not yet) in the journal.
    #[error("journal {}: offset {requested} is not retained; the journal holds {first}..{next}", .dir.display())]
    NotRetained {
        /// The directory.
        dir: PathBuf,
        /// The offset asked for.
        requested: u64,
        /// The oldest retained offset.
        first: u64,
        /// The next offset to be written.
        next: u64,
    },
}

fn io<'p>(path: &'p Path, op: &'static str) -> impl FnOnce(std::io::Error) -> JournalError + 'p {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// What [`JournalWriter::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The oldest retained offset.
    pub first_offset: u64,
    /// The offset the next append gets.
    pub next_offset: u64,
    /// Bytes cut from the newest segment's torn tail (0 after a clean close).
    pub truncated_bytes: u64,
}

fn segment_name(first: u64) -> String {
    format!("{first:020}.seg")
}

fn record_bytes<T>() -> u64 {
    8 + size_of::<T>() as u64 + 8
}

fn checksum(bytes: &[u8]) -> u64 {
    checksum_from(0xcbf2_9ce4_8422_2325, bytes)
}

/// FNV-1a 64 of `bytes`, continuing from `h` (the hash of what came before them).
fn checksum_from(h: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(h, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The segments of `dir`, by first offset, ascending.
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io(dir, "list")(e)),
    };
    for entry in entries {
        let path = entry.map_err(io(dir, "list"))?.path();
        let first = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".seg"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first) = first {
            out.push((first, path));
        }
    }
    out.sort();
    Ok(out)
}

fn header<T>(first: u64) -> [u8; HEADER_BYTES as usize] {
    let mut h = [0u8; HEADER_BYTES as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..16].copy_from_slice(&record_bytes::<T>().to_le_bytes());
    h[16..24].copy_from_slice(&first.to_le_bytes());
    h[24..32].copy_from_slice(&(size_of::<T>() as u64).to_le_bytes());
    h
}

/// Checks a segment's header: returns its first offset.
fn check_header<T>(path: &Path, file: &mut File) -> Result<u64, JournalError> {
    let mut h = [0u8; HEADER_BYTES as usize];
    file.seek(SeekFrom::Start(0)).map_err(io(path, "seek"))?;
    if file.read_exact(&mut h).is_err() || h[..8] != MAGIC {
        return Err(JournalError::Foreign {
            path: path.to_path_buf(),
        });
    }
    let word = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().unwrap_or([0; 8]));
    let size = word(24);
    if size != size_of::<T>() as u64 || word(8) != record_bytes::<T>() {
        return Err(JournalError::EventSize {
            path: path.to_path_buf(),
            expected: size_of::<T>() as u64,
            found: size,
        });
    }
    Ok(word(16))
}

/// Decodes the record at the reader's position: `Some(event)` when whole and for `offset`.
fn decode<T: Pod>(record: &[u8], offset: u64) -> Result<T, String> {
    let n = size_of::<T>();
    let at = u64::from_le_bytes(record[..8].try_into().unwrap_or([0; 8]));
    let sum = u64::from_le_bytes(record[8 + n..].try_into().unwrap_or([0; 8]));
    if checksum(&record[..8 + n]) != sum {
        return Err("checksum mismatch".into());
    }
    if at != offset {
        return Err(format!("holds offset {at}"));
    }
    let mut value = std::mem::MaybeUninit::<T>::uninit();
    // SAFETY: `record[8..8 + n]` are the `n = size_of::<T>()` bytes an append copied from a
    // valid `T` (`T: Pod`: no padding, every byte initialised), and the checksum matches, so
    // they are those bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(record[8..].as_ptr(), value.as_mut_ptr().cast::<u8>(), n);
        Ok(value.assume_init())
    }
}

/// The writing end of a journal (one per directory at a time).
#[derive(Debug)]
pub struct JournalWriter<T> {
    dir: PathBuf,
    options: JournalOptions,
    /// The open segment: its path, first offset, and buffered file.
    path: PathBuf,
    out: BufWriter<File>,
    /// Bytes in the open segment (header included).
    bytes: u64,
    next: u64,
    /// Offsets at or after this must be kept whatever the size (readers still need them).
    floor: u64,
    _events: PhantomData<T>,
}

impl<T: Pod> JournalWriter<T> {
    /// Opens the journal in `dir` (created if missing) for appending: finds the newest segment,
    /// cuts its torn tail if a crash left one, and goes on after its last whole record.
    pub fn open(
        dir: impl AsRef<Path>,
        options: JournalOptions,
    ) -> Result<(Self, Recovery), JournalError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io(&dir, "create directory"))?;
        let existing = segments(&dir)?;
        let first_offset = existing.first().map_or(0, |(f, _)| *f);
        let (path, next, bytes, truncated) = match existing.last() {
            None => {
                let path = dir.join(segment_name(0));
                (path, 0, 0, 0)
            }
            Some((_, path)) => {
                let mut file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(io(path, "open"))?;
                let first = check_header::<T>(path, &mut file)?;
                let len = file.metadata().map_err(io(path, "stat"))?.len();
                let whole = Self::whole_records(path, &mut file, first, len)?;
                let keep = HEADER_BYTES + whole * record_bytes::<T>();
                if keep < len {
                    file.set_len(keep).map_err(io(path, "truncate"))?;
                    file.sync_all().map_err(io(path, "sync"))?;
                }
                (path.clone(), first + whole, keep, len - keep)
            }
        };
        let out = Self::open_segment(&path, next, bytes)?;
        let writer = JournalWriter {
            dir,
            options,
            path,
            out,
            bytes: bytes.max(HEADER_BYTES),
            next,
            floor: u64::MAX,
            _events: PhantomData,
        };
        let recovery = Recovery {
            first_offset: first_offset.min(next),
            next_offset: next,
            truncated_bytes: truncated,
        };
        Ok((writer, recovery))
    }

    /// Whole records at the start of a segment whose first offset is `first`: reading stops at
    /// the first partial or bad record (the torn tail).
    fn whole_records(
        path: &Path,
        file: &mut File,
        first: u64,
        len: u64,
    ) -> Result<u64, JournalError> {
        let size = record_bytes::<T>();
        let count = len.saturating_sub(HEADER_BYTES) / size;
        file.seek(SeekFrom::Start(HEADER_BYTES))
            .map_err(io(path, "seek"))?;
        let mut reader = std::io::BufReader::new(file);
        let mut record = vec![0u8; size as usize];
        for k in 0..count {
            reader.read_exact(&mut record).map_err(io(path, "read"))?;
            if decode::<T>(&record, first + k).is_err() {
                return Ok(k);
            }
        }
        Ok(count)
    }

    /// Opens a segment for appending at `bytes`, or — `bytes` below a header — creates it: the
    /// header is written to a temporary file renamed into place, so a reader never finds a
    /// segment without its whole header.
    fn open_segment(path: &Path, first: u64, bytes: u64) -> Result<BufWriter<File>, JournalError> {
        if bytes < HEADER_BYTES {
            let tmp = path.with_extension("seg.tmp");
            std::fs::write(&tmp, header::<T>(first)).map_err(io(&tmp, "write"))?;
            std::fs::rename(&tmp, path).map_err(io(path, "rename"))?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io(path, "open"))?;
        file.seek(SeekFrom::Start(bytes.max(HEADER_BYTES)))
            .map_err(io(path, "seek"))?;
        Ok(BufWriter::with_capacity(64 << 10, file))
    }

    /// Appends `event` and returns its offset. Buffered: readers see it after
    /// [`flush`](Self::flush) (or once the buffer fills).
    pub fn append(&mut self, event: &T) -> Result<u64, JournalError> {
        if self.bytes >= self.options.segment_bytes {
            self.roll()?;
        }
        let offset = self.next;
        let n = size_of::<T>();
        // SAFETY: `T: Pod` has no padding, so all `n` bytes of `event` are initialised and may
        // be read as bytes for as long as the borrow of `event` lasts.
        let bytes = unsafe { std::slice::from_raw_parts((event as *const T).cast::<u8>(), n) };
        let head = offset.to_le_bytes();
        // The record is written in three pieces straight into the buffer (no staging copy);
        // the checksum runs over the offset and the event, as one record would.
        let sum = checksum_from(checksum(&head), bytes);
        let write = |out: &mut BufWriter<File>, piece: &[u8]| out.write_all(piece);
        write(&mut self.out, &head)
            .and_then(|()| write(&mut self.out, bytes))
            .and_then(|()| write(&mut self.out, &sum.to_le_bytes()))
            .map_err(io(&self.path, "write"))?;
        self.bytes += record_bytes::<T>();
        self.next += 1;
        Ok(offset)
    }

    /// Writes buffered records to the file, so readers (and a restart) see them.
    pub fn flush(&mut self) -> Result<(), JournalError> {
        self.out.flush().map_err(io(&self.path, "flush"))
    }

    /// Flushes and asks the OS to put the records on disk (`fsync`).
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.flush()?;
        self.out
            .get_ref()
            .sync_data()
            .map_err(io(&self.path, "sync"))
    }

    /// The offset the next append gets.
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// Keeps every record at or after `floor` whatever the size: retention deletes a segment
    /// only when all its records are older than both the size limit and `floor` (the oldest
    /// record a reader still needs). `u64::MAX` (the default) is retention by size alone.
    pub fn retain_floor(&mut self, floor: u64) {
        self.floor = floor;
    }

    /// Closes the open segment, starts the next, and applies retention.
    fn roll(&mut self) -> Result<(), JournalError> {
        self.flush()?;
        self.path = self.dir.join(segment_name(self.next));
        self.out = Self::open_segment(&self.path, self.next, 0)?;
        self.bytes = HEADER_BYTES;
        self.retain()
    }

    /// Deletes the oldest segments while the journal holds more than `retain_bytes`.
    fn retain(&mut self) -> Result<(), JournalError> {
        let segments = segments(&self.dir)?;
        let mut sizes: Vec<(u64, PathBuf, u64)> = Vec::with_capacity(segments.len());
        for (first, path) in segments {
            let len = std::fs::metadata(&path).map_err(io(&path, "stat"))?.len();
            sizes.push((first, path, len));
        }
        let mut total: u64 = sizes.iter().map(|(_, _, l)| l).sum();
        for (k, (_, path, len)) in sizes.iter().enumerate() {
            // A segment's records end where the next segment starts.
            let end = sizes.get(k + 1).map_or(self.next, |(f, _, _)| *f);
            if total <= self.options.retain_bytes || *path == self.path || end > self.floor {
                break;
            }
            std::fs::remove_file(path).map_err(io(path, "remove"))?;
            total -= len;
        }
        Ok(())
    }
}

impl<T> Drop for JournalWriter<T> {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// A reading end of a journal: reads on from an offset, across segments, as far as the writer
/// has written.
#[derive(Debug)]
pub struct JournalReader<T> {
    dir: PathBuf,
    /// The open segment: path, first offset, file (positioned at `next`'s record).
    segment: Option<(PathBuf, u64, File)>,
    next: u64,
    record: Vec<u8>,
    /// Bytes of a batch read, reused.
    batch: Vec<u8>,
    _events: PhantomData<T>,
}

impl<T: Pod> JournalReader<T> {
    /// A reader of the journal in `dir` starting at offset `from` — any retained offset, or
    /// the next one to be written (to follow only new events).
    pub fn open(dir: impl AsRef<Path>, from: u64) -> Result<Self, JournalError> {
        let dir = dir.as_ref().to_path_buf();
        let mut reader = JournalReader {
            dir,
            segment: None,
            next: from,
            record: vec![0u8; record_bytes::<T>() as usize],
            batch: Vec::new(),
            _events: PhantomData,
        };
        reader.seek(from)?;
        Ok(reader)
    }

    /// Positions the reader at `offset`.
    fn seek(&mut self, offset: u64) -> Result<(), JournalError> {
        let segments = segments(&self.dir)?;
        let first = segments.first().map_or(0, |(f, _)| *f);
        let holder = segments.iter().rev().find(|(f, _)| *f <= offset);
        let Some((start, path)) = holder else {
            if segments.is_empty() && offset == 0 {
                self.segment = None;
                return Ok(());
            }
            return Err(JournalError::NotRetained {
                dir: self.dir.clone(),
                requested: offset,
                first,
                next: self.end_offset(&segments)?,
            });
        };
        let mut file = File::open(path).map_err(io(path, "open"))?;
        let segment_first = check_header::<T>(path, &mut file)?;
        let len = file.metadata().map_err(io(path, "stat"))?.len();
        let held = len.saturating_sub(HEADER_BYTES) / record_bytes::<T>();
        let is_last = segments.last().is_some_and(|(f, _)| f == start);
        if offset > segment_first + held && !is_last {
            // Past this segment but before the next one starts: a gap.
            return Err(JournalError::NotRetained {
                dir: self.dir.clone(),
                requested: offset,
                first,
                next: self.end_offset(&segments)?,
            });
        }
        if offset > segment_first + held {
            return Err(JournalError::NotRetained {
                dir: self.dir.clone(),
                requested: offset,
                first,
                next: segment_first + held,
            });
        }
        let at = HEADER_BYTES + (offset - segment_first) * record_bytes::<T>();
        file.seek(SeekFrom::Start(at)).map_err(io(path, "seek"))?;
        self.segment = Some((path.clone(), segment_first, file));
        self.next = offset;
        Ok(())
    }

    fn end_offset(&self, segments: &[(u64, PathBuf)]) -> Result<u64, JournalError> {
        let Some((first, path)) = segments.last() else {
            return Ok(0);
        };
        let len = std::fs::metadata(path).map_err(io(path, "stat"))?.len();
        Ok(first + len.saturating_sub(HEADER_BYTES) / record_bytes::<T>())
    }

    /// The next event and its offset, or `None` when the reader has caught up with what the
    /// writer has written (a partial record at the end is not yet written, and is not read).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<(u64, T)>, JournalError> {
        loop {
            let Some((path, _, file)) = self.segment.as_mut() else {
                // No segment yet: maybe the writer created one since.
                if segments(&self.dir)?.is_empty() {
                    return Ok(None);
                }
                self.seek(self.next)?;
                if self.segment.is_none() {
                    return Ok(None);
                }
                continue;
            };
            let size = self.record.len() as u64;
            let position = file.stream_position().map_err(io(path, "seek"))?;
            let len = file.metadata().map_err(io(path, "stat"))?.len();
            if position + size <= len {
                file.read_exact(&mut self.record)
                    .map_err(io(path, "read"))?;
                let offset = self.next;
                return match decode::<T>(&self.record, offset) {
                    Ok(event) => {
                        self.next += 1;
                        Ok(Some((offset, event)))
                    }
                    Err(reason) => Err(JournalError::Corrupt {
                        path: path.clone(),
                        offset,
                        reason,
                    }),
                };
            }
            // At the end of this segment: move on if the writer has started the next one.
            let next_path = self.dir.join(segment_name(self.next));
            if position + size > len && next_path.exists() && next_path != *path {
                self.seek(self.next)?;
                continue;
            }
            return Ok(None);
        }
    }

    /// The offset of the next event this reader returns.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Reads events in order into `out` (appended), at most `max` of them and none at or
    /// after offset `upto`, with one `read` per segment touched: the batch form of
    /// [`next`](Self::next), for readers that know how far the writer has flushed. Returns how
    /// many it read.
    pub fn read_batch(
        &mut self,
        upto: u64,
        max: usize,
        out: &mut Vec<T>,
    ) -> Result<usize, JournalError> {
        let size = record_bytes::<T>();
        let mut read = 0usize;
        let mut bytes = std::mem::take(&mut self.batch);
        let result = loop {
            if read >= max || self.next >= upto {
                break Ok(read);
            }
            let Some((path, first, file)) = self.segment.as_mut() else {
                if segments(&self.dir)?.is_empty() {
                    break Ok(read);
                }
                self.seek(self.next)?;
                if self.segment.is_none() {
                    break Ok(read);
                }
                continue;
            };
            let len = file.metadata().map_err(io(path, "stat"))?.len();
            let held_end = *first + len.saturating_sub(HEADER_BYTES) / size;
            if self.next >= held_end {
                // At the end of this segment: move on if the writer has started the next one.
                let next_path = self.dir.join(segment_name(self.next));
                if next_path.exists() && next_path != *path {
                    self.seek(self.next)?;
                    continue;
                }
                break Ok(read);
            }
            let k = (held_end.min(upto) - self.next).min((max - read) as u64);
            bytes.resize((k * size) as usize, 0);
            file.read_exact(&mut bytes).map_err(io(path, "read"))?;
            for (i, record) in bytes.chunks_exact(size as usize).enumerate() {
                let offset = self.next + i as u64;
                match decode::<T>(record, offset) {
                    Ok(event) => out.push(event),
                    Err(reason) => {
                        return Err(JournalError::Corrupt {
                            path: path.clone(),
                            offset,
                            reason,
                        })
                    }
                }
            }
            self.next += k;
            read += k as usize;
        };
        self.batch = bytes;
        result
    }
}

/// The offsets a journal holds: `(oldest retained, next to be written)` as far as its files
/// show (records still in a writer's buffer are not counted).
pub fn retained<T>(dir: impl AsRef<Path>) -> Result<(u64, u64), JournalError> {
    let dir = dir.as_ref();
    let segments = segments(dir)?;
    let (Some((first, _)), Some((last, path))) = (segments.first(), segments.last()) else {
        return Ok((0, 0));
    };
    let len = std::fs::metadata(path).map_err(io(path, "stat"))?.len();
    Ok((
        *first,
        last + len.saturating_sub(HEADER_BYTES) / record_bytes::<T>(),
    ))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn dir(label: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("byteor-journal-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_restarted_reader_resumes_at_its_offset_across_segments() {
        let d = dir("resume");
        let options = JournalOptions {
            segment_bytes: HEADER_BYTES + 10 * record_bytes::<u64>(),
            retain_bytes: u64::MAX,
        };
        let (mut w, _) = JournalWriter::<u64>::open(&d, options.clone()).unwrap();
        for v in 0..35u64 {
            assert_eq!(w.append(&(v * 2)).unwrap(), v);
        }
        w.flush().unwrap();
        assert_eq!(segments(&d).unwrap().len(), 4);
        let mut r = JournalReader::<u64>::open(&d, 0).unwrap();
        for v in 0..17u64 {
            assert_eq!(r.next().unwrap(), Some((v, v * 2)));
        }
        let resume = r.position();
        drop(r);
        let mut r = JournalReader::<u64>::open(&d, resume).unwrap();
        for v in 17..35u64 {
            assert_eq!(r.next().unwrap(), Some((v, v * 2)));
        }
        assert_eq!(r.next().unwrap(), None);
        // The writer goes on; the reader follows.
        w.append(&70).unwrap();
        w.flush().unwrap();
        assert_eq!(r.next().unwrap(), Some((35, 70)));
        // A writer reopened after a clean close goes on where it stopped.
        drop(w);
        let (w, recovery) = JournalWriter::<u64>::open(&d, options).unwrap();
        assert_eq!(
            recovery,
            Recovery {
                first_offset: 0,
                next_offset: 36,
                truncated_bytes: 0
            }
        );
        assert_eq!(w.next_offset(), 36);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn batch_reads_cross_segments_and_stop_at_the_limit_and_the_count() {
        let d = dir("batch");
        let options = JournalOptions {
            segment_bytes: HEADER_BYTES + 10 * record_bytes::<u64>(),
            retain_bytes: u64::MAX,
        };
        let (mut w, _) = JournalWriter::<u64>::open(&d, options).unwrap();
        for v in 0..35u64 {
            w.append(&(v + 100)).unwrap();
        }
        w.flush().unwrap();
        let mut r = JournalReader::<u64>::open(&d, 3).unwrap();
        let mut out = Vec::new();
        // At most 12, crossing from the first segment into the second.
        assert_eq!(r.read_batch(u64::MAX, 12, &mut out).unwrap(), 12);
        assert_eq!(out, (103..115).collect::<Vec<_>>());
        // Not at or past offset 20, however many are asked for.
        out.clear();
        assert_eq!(r.read_batch(20, 100, &mut out).unwrap(), 5);
        assert_eq!(out, (115..120).collect::<Vec<_>>());
        assert_eq!(r.read_batch(20, 100, &mut out).unwrap(), 0);
        // The rest, through two more segments; then nothing until the writer goes on.
        out.clear();
        assert_eq!(r.read_batch(u64::MAX, 100, &mut out).unwrap(), 15);
        assert_eq!(out, (120..135).collect::<Vec<_>>());
        assert_eq!(r.read_batch(u64::MAX, 100, &mut out).unwrap(), 0);
        w.append(&135).unwrap();
        w.flush().unwrap();
        out.clear();
        assert_eq!(r.read_batch(u64::MAX, 100, &mut out).unwrap(), 1);
        assert_eq!((out[0], r.position()), (135, 36));
        assert_eq!(retained::<u64>(&d).unwrap(), (0, 36));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn retention_keeps_what_is_at_or_after_the_floor() {
        let d = dir("floor");
        let options = JournalOptions {
            segment_bytes: HEADER_BYTES + 10 * record_bytes::<u64>(),
            retain_bytes: 0,
        };
        let (mut w, _) = JournalWriter::<u64>::open(&d, options).unwrap();
        w.retain_floor(15);
        for v in 0..45u64 {
            w.append(&v).unwrap();
        }
        w.flush().unwrap();
        // Segments start at 0, 10, 20, 30, 40: the one holding 15 (and all after) stay.
        let firsts: Vec<u64> = segments(&d).unwrap().iter().map(|(f, _)| *f).collect();
        assert_eq!(firsts, [10, 20, 30, 40]);
        w.retain_floor(u64::MAX);
        for v in 45..51u64 {
            w.append(&v).unwrap();
        }
        let firsts: Vec<u64> = segments(&d).unwrap().iter().map(|(f, _)| *f).collect();
        assert_eq!(firsts, [50], "by size alone once the floor is lifted");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_torn_tail_is_cut_on_reopen_and_never_read_as_an_event() {
        let d = dir("torn");
        let (mut w, _) = JournalWriter::<[u64; 3]>::open(&d, JournalOptions::default()).unwrap();
        for v in 0..5u64 {
            w.append(&[v, v + 1, v + 2]).unwrap();
        }
        w.flush().unwrap();
        drop(w);
        let (_, path) = segments(&d).unwrap().pop().unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        // A crash in the middle of the last record.
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 7)
            .unwrap();
        let mut r = JournalReader::<[u64; 3]>::open(&d, 0).unwrap();
        for v in 0..4u64 {
            assert_eq!(r.next().unwrap(), Some((v, [v, v + 1, v + 2])));
        }
        assert_eq!(r.next().unwrap(), None, "a partial record is not an event");
        let (mut w, recovery) =
            JournalWriter::<[u64; 3]>::open(&d, JournalOptions::default()).unwrap();
        assert_eq!(recovery.next_offset, 4);
        assert_eq!(recovery.truncated_bytes, record_bytes::<[u64; 3]>() - 7);
        // A garbled (whole-length) last record is cut too.
        w.append(&[9, 9, 9]).unwrap();
        w.flush().unwrap();
        drop(w);
        let len = std::fs::metadata(&path).unwrap().len();
        let mut file = OpenOptions::new().write(true).open(&path).unwrap();
        file.seek(SeekFrom::Start(len - 12)).unwrap();
        file.write_all(&[0xff; 4]).unwrap();
        drop(file);
        let (w, recovery) = JournalWriter::<[u64; 3]>::open(&d, JournalOptions::default()).unwrap();
        assert_eq!(recovery.next_offset, 4, "the garbled record is gone");
        assert_eq!(recovery.truncated_bytes, record_bytes::<[u64; 3]>());
        drop(w);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn retention_deletes_the_oldest_segments_and_says_what_is_gone() {
        let d = dir("retain");
        let seg = HEADER_BYTES + 10 * record_bytes::<u64>();
        let options = JournalOptions {
            segment_bytes: seg,
            retain_bytes: 3 * seg,
        };
        let (mut w, _) = JournalWriter::<u64>::open(&d, options).unwrap();
        for v in 0..100u64 {
            w.append(&v).unwrap();
        }
        w.flush().unwrap();
        let kept = segments(&d).unwrap();
        assert!(kept.len() <= 4, "{kept:?}");
        let first = kept[0].0;
        assert!(first > 0);
        match JournalReader::<u64>::open(&d, 0) {
            Err(JournalError::NotRetained {
                requested: 0,
                first: f,
                next: 100,
                ..
            }) => assert_eq!(f, first),
            other => panic!("expected NotRetained, got {other:?}"),
        }
        let mut r = JournalReader::<u64>::open(&d, first).unwrap();
        assert_eq!(r.next().unwrap(), Some((first, first)));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_reader_follows_a_live_writer_through_partial_records_and_segment_rolls() {
        const N: u64 = 200_000;
        let d = dir("follow");
        let options = JournalOptions {
            // Segments of 1000 records, and a 64 KiB write buffer that cuts records in two.
            segment_bytes: HEADER_BYTES + 1000 * record_bytes::<[u64; 2]>(),
            retain_bytes: u64::MAX,
        };
        let (mut w, _) = JournalWriter::<[u64; 2]>::open(&d, options).unwrap();
        let reader_dir = d.clone();
        let reader = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            let mut r = JournalReader::<[u64; 2]>::open(&reader_dir, 0).unwrap();
            let mut expect = 0;
            while expect < N {
                match r.next().unwrap() {
                    Some((offset, v)) => {
                        assert_eq!((offset, v), (expect, [expect, !expect]));
                        expect += 1;
                    }
                    None => {
                        assert!(std::time::Instant::now() < deadline, "stuck at {expect}");
                        std::thread::yield_now();
                    }
                }
            }
            expect
        });
        for v in 0..N {
            w.append(&[v, !v]).unwrap();
            if v % 777 == 0 {
                w.flush().unwrap();
            }
        }
        w.flush().unwrap();
        assert_eq!(reader.join().unwrap(), N);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn other_files_and_other_event_sizes_are_refused() {
        let d = dir("foreign");
        let (mut w, _) = JournalWriter::<u64>::open(&d, JournalOptions::default()).unwrap();
        w.append(&1).unwrap();
        drop(w);
        assert!(matches!(
            JournalReader::<u32>::open(&d, 0),
            Err(JournalError::EventSize {
                expected: 4,
                found: 8,
                ..
            })
        ));
        let d2 = dir("foreign2");
        std::fs::create_dir_all(&d2).unwrap();
        std::fs::write(
            d2.join(segment_name(0)),
            b"not a journal at all, not at all",
        )
        .unwrap();
        assert!(matches!(
            JournalWriter::<u64>::open(&d2, JournalOptions::default()),
            Err(JournalError::Foreign { .. })
        ));
        std::fs::remove_dir_all(&d).unwrap();
        std::fs::remove_dir_all(&d2).unwrap();
    }
}
