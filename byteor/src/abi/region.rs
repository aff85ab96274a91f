//! The layout of a shared-memory ring region, version 1: what a process that attaches to a
//! ring — Rust or C — finds at each offset.
//!
//! ```text
//! offset 0      RegionHeaderV1 (1280 bytes, ten 128-byte blocks)
//!                 identity   magic, ABI version (written last), geometry, fingerprints, owner
//!                 event      event type name, size, alignment, field count
//!                 control    the producer's word to the stages: running, closed at N, failed
//!                 stages     up to SHM_V1_MAX_STAGES stage names
//!                 peers      one PeerSlotV1 per peer: the producer, then each stage
//! sequences     the producer's cursor, then one sequence per stage, 128 bytes each
//! slots         capacity slots of slot_bytes each, starting on a 128-byte boundary
//! ```
//!
//! Every field has a fixed width and a fixed offset on every target (no `usize`, no pointers,
//! explicit padding); the words other processes change while the ring runs are atomics of the
//! same size as their integer (`AtomicU32`, `AtomicU64`), and each is read and written only as
//! an atomic. Byte order is the host's: a region is shared between processes of one machine.

use std::sync::atomic::{AtomicU32, AtomicU64};

use super::EventLayout;

/// The first eight bytes of every region: `BYTEOR` then `R` (ring) and format byte `1`.
pub const REGION_MAGIC: [u8; 8] = *b"BYTEORR\x01";

/// The ABI version this build writes and reads. The header's version word is 0 while the
/// creator initialises the region, and this value once it is ready.
pub const REGION_ABI_VERSION: u32 = 1;

/// Most stages one shared-memory ring holds: the SingleRing limit
/// ([`SINGLE_RING_V1_MAX_STAGES`](crate::SINGLE_RING_V1_MAX_STAGES)).
pub const SHM_V1_MAX_STAGES: usize = crate::SINGLE_RING_V1_MAX_STAGES;

/// Peers of one region: the producer (peer 0) and each stage (peer `1 + stage`).
pub const SHM_V1_MAX_PEERS: usize = 1 + SHM_V1_MAX_STAGES;

/// Bytes of a name field (stage and event names), NUL-padded: names are at most
/// [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES) bytes, so a full-length name has no NUL.
pub const SHM_NAME_BYTES: usize = crate::NAME_V1_MAX_BYTES;

/// Block 0 of the header: what the region is and how it is laid out.
#[derive(Debug)]
#[repr(C, align(128))]
pub struct IdentityBlockV1 {
    /// [`REGION_MAGIC`]; read and written as one `u64` atomic.
    pub magic: AtomicU64,
    /// 0 while the creator initialises; [`REGION_ABI_VERSION`] once ready (release store,
    /// the last write of creation).
    pub abi_version: AtomicU32,
    /// `size_of::<RegionHeaderV1>()`: where the sequences start.
    pub header_bytes: u32,
    /// Bytes of the whole region (the file's length).
    pub region_bytes: u64,
    /// [`layout_fingerprint`] of the event type.
    pub layout_fingerprint: u64,
    /// The fingerprint of the spec the ring was created for.
    pub spec_fingerprint: u64,
    /// Slots in the ring: a power of two, at least 2.
    pub capacity: u64,
    /// Bytes of one slot (the event type's size).
    pub slot_bytes: u32,
    /// Alignment of the event type.
    pub slot_align: u32,
    /// Stage sequences after the cursor (at most [`SHM_V1_MAX_STAGES`]).
    pub stage_count: u32,
    /// Reserved, 0.
    pub reserved0: u32,
    /// Offset of the producer's cursor; the stage sequences follow it, 128 bytes apart.
    pub sequences_offset: u64,
    /// Offset of slot 0.
    pub slots_offset: u64,
    /// Process id of the creator.
    pub owner_pid: u32,
    /// Reserved, 0.
    pub reserved1: u32,
    /// Start time of the creator process (clock ticks after boot, `/proc/<pid>/stat` field
    /// 22), so a reused pid is not mistaken for the creator.
    pub owner_start_time: u64,
    /// When the region was created, in nanoseconds since the Unix epoch.
    pub created_unix_ns: u64,
    /// `stage_deps[i]`: bit `j` set when stage `i` runs after stage `j`; 0 means it reads
    /// straight after the producer's cursor. What a stage waits on.
    pub stage_deps: [u32; SHM_V1_MAX_STAGES],
    /// Reserved, 0.
    pub reserved2: [u8; 8],
}

/// Block 1 of the header: the event type, as its [`EventLayout`] states it.
#[derive(Debug)]
#[repr(C, align(128))]
pub struct EventBlockV1 {
    /// The event type's name, NUL-padded.
    pub name: [u8; SHM_NAME_BYTES],
    /// `size_of` the event type.
    pub size: u32,
    /// `align_of` the event type.
    pub align: u32,
    /// Number of fields.
    pub field_count: u32,
    /// Reserved, 0.
    pub reserved: [u8; 52],
}

/// [`ControlBlockV1::state`]: the producer is running.
pub const REGION_RUNNING: u32 = 0;
/// [`ControlBlockV1::state`]: the producer closed the stream; stages finish every event below
/// [`ControlBlockV1::drain_target`] and stop.
pub const REGION_CLOSED: u32 = 1;
/// [`ControlBlockV1::state`]: the pipeline failed; stages stop at once.
pub const REGION_FAILED: u32 = 2;

/// Block 2 of the header: what the producer tells the stage processes.
#[derive(Debug)]
#[repr(C, align(128))]
pub struct ControlBlockV1 {
    /// [`REGION_RUNNING`], [`REGION_CLOSED`] or [`REGION_FAILED`].
    pub state: AtomicU32,
    /// Reserved, 0.
    pub reserved0: u32,
    /// With [`REGION_CLOSED`]: the end of the stream (events below it are to be handled).
    /// Written before the state (release).
    pub drain_target: AtomicU64,
    /// Events the producer was given and dropped for want of room (a lane whose `on_full` is
    /// `drop`); always 0 for a ring, whose producer waits. Written by the producer only.
    pub dropped: AtomicU64,
    /// The doorbell stages sleep on while they wait for events (`kernel::doorbell`): bumped
    /// when the producer publishes while one sleeps; a futex word.
    pub data_bell: AtomicU32,
    /// Stages sleeping on `data_bell`.
    pub data_sleepers: AtomicU32,
    /// The doorbell the producer sleeps on while it waits for room: bumped when a stage
    /// releases events while it sleeps; a futex word.
    pub room_bell: AtomicU32,
    /// Producers sleeping on `room_bell` (0 or 1).
    pub room_sleepers: AtomicU32,
    /// Reserved, 0.
    pub reserved1: [u8; 88],
}

/// [`PeerSlotV1::status`]: attached and working (or never attached).
pub const PEER_RUNNING: u32 = 0;
/// [`PeerSlotV1::status`]: finished cleanly (drained to the end of the stream).
pub const PEER_DONE: u32 = 1;
/// [`PeerSlotV1::status`]: the peer's stage failed at [`PeerSlotV1::failed_at`].
pub const PEER_FAILED: u32 = 2;

/// One peer's liveness record, on its own 128 bytes: who holds the peer's place and when it
/// last showed signs of life. A peer also holds an OS lock on its own byte of the region file
/// while attached (see `byteor::transport::shm`).
#[derive(Debug)]
#[repr(C, align(128))]
pub struct PeerSlotV1 {
    /// Process id of the attached peer; 0 when none ever attached.
    pub pid: AtomicU32,
    /// [`PEER_RUNNING`], [`PEER_DONE`] or [`PEER_FAILED`].
    pub status: AtomicU32,
    /// Start time of the peer process (as for [`IdentityBlockV1::owner_start_time`]).
    pub start_time: AtomicU64,
    /// Last heartbeat, in nanoseconds of `CLOCK_MONOTONIC` (one clock for every process of
    /// the machine); 0 before the first.
    pub heartbeat_ns: AtomicU64,
    /// How many times a peer attached to this place (re-attachment after a crash counts).
    pub attachments: AtomicU64,
    /// With [`PEER_FAILED`]: the sequence the stage failed at (`u64::MAX`: not tied to one).
    pub failed_at: AtomicU64,
    /// Reserved, 0.
    pub reserved1: [u8; 88],
}

/// The header at offset 0 of every shared-memory ring region.
#[derive(Debug)]
#[repr(C, align(128))]
pub struct RegionHeaderV1 {
    /// What the region is and how it is laid out.
    pub identity: IdentityBlockV1,
    /// The event type.
    pub event: EventBlockV1,
    /// The producer's word to the stages.
    pub control: ControlBlockV1,
    /// Stage names, NUL-padded; the first `stage_count` are used.
    pub stage_names: [[u8; SHM_NAME_BYTES]; SHM_V1_MAX_STAGES],
    /// Peer 0 is the producer, peer `1 + i` stage `i`.
    pub peers: [PeerSlotV1; SHM_V1_MAX_PEERS],
}

/// Bytes of [`RegionHeaderV1`].
pub const REGION_HEADER_BYTES: usize = std::mem::size_of::<RegionHeaderV1>();

/// Bytes between two sequences (the cursor and each stage sequence).
pub const REGION_SEQUENCE_STRIDE: u64 = 128;

const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<IdentityBlockV1>() == 128);
    assert!(offset_of!(IdentityBlockV1, abi_version) == 8);
    assert!(offset_of!(IdentityBlockV1, region_bytes) == 16);
    assert!(offset_of!(IdentityBlockV1, capacity) == 40);
    assert!(offset_of!(IdentityBlockV1, sequences_offset) == 64);
    assert!(offset_of!(IdentityBlockV1, owner_start_time) == 88);
    assert!(offset_of!(IdentityBlockV1, stage_deps) == 104);
    assert!(offset_of!(IdentityBlockV1, reserved2) == 120);
    assert!(size_of::<EventBlockV1>() == 128);
    assert!(size_of::<PeerSlotV1>() == 128);
    assert!(size_of::<ControlBlockV1>() == 128);
    assert!(offset_of!(ControlBlockV1, dropped) == 16);
    assert!(offset_of!(ControlBlockV1, data_bell) == 24);
    assert!(offset_of!(ControlBlockV1, room_sleepers) == 36);
    assert!(offset_of!(RegionHeaderV1, event) == 128);
    assert!(offset_of!(RegionHeaderV1, control) == 256);
    assert!(offset_of!(RegionHeaderV1, stage_names) == 384);
    assert!(offset_of!(RegionHeaderV1, peers) == 640);
    assert!(size_of::<RegionHeaderV1>() == 1280);
    assert!(align_of::<RegionHeaderV1>() == 128);
    assert!(size_of::<AtomicU64>() == 8 && size_of::<AtomicU32>() == 4);
};

/// The geometry of a region: where the sequences and slots start and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionGeometry {
    /// Slots.
    pub capacity: u64,
    /// Bytes per slot.
    pub slot_bytes: u64,
    /// Stage sequences.
    pub stage_count: u64,
    /// Offset of the cursor.
    pub sequences_offset: u64,
    /// Offset of slot 0.
    pub slots_offset: u64,
    /// Bytes of the region.
    pub region_bytes: u64,
}

impl RegionGeometry {
    /// The geometry of a ring of `capacity` slots of `slot_bytes` with `stage_count` stages;
    /// `None` when the sizes overflow `u64`.
    pub fn new(capacity: u64, slot_bytes: u64, stage_count: u64) -> Option<Self> {
        let sequences_offset = REGION_HEADER_BYTES as u64;
        let sequences = stage_count
            .checked_add(1)?
            .checked_mul(REGION_SEQUENCE_STRIDE)?;
        let slots_offset = sequences_offset.checked_add(sequences)?;
        let region_bytes = capacity
            .checked_mul(slot_bytes)?
            .checked_add(slots_offset)?;
        Some(RegionGeometry {
            capacity,
            slot_bytes,
            stage_count,
            sequences_offset,
            slots_offset,
            region_bytes,
        })
    }
}

/// A stable 64-bit identity of an event layout: FNV-1a 64 over a canonical text of the
/// layout — `name size align`, then per field `name offset size C-declaration`, each item
/// followed by `\n`. Two builds (or a C program given the generated constant) agree on it
/// exactly when they agree on the name, size, alignment and every field.
///
/// ```
/// use byteor::abi::{layout_fingerprint, ShmEvent};
///
/// #[derive(Clone, Copy, ShmEvent)]
/// #[repr(C)]
/// struct Tick { seq: u64, value: u64 }
///
/// #[derive(Clone, Copy, ShmEvent)]
/// #[repr(C)]
/// struct Tock { seq: u64, value: u64 }
///
/// assert_eq!(layout_fingerprint(&Tick::LAYOUT), layout_fingerprint(&Tick::LAYOUT));
/// assert_ne!(layout_fingerprint(&Tick::LAYOUT), layout_fingerprint(&Tock::LAYOUT));
/// ```
pub fn layout_fingerprint(layout: &EventLayout) -> u64 {
    let mut text = format!("{} {} {}\n", layout.name, layout.size, layout.align);
    for field in layout.fields {
        text.push_str(&format!(
            "{} {} {} {}\n",
            field.name,
            field.offset,
            field.size,
            field.ty.c_declaration(field.name)
        ));
    }
    for nested in layout.nested() {
        text.push_str(&nested.c_definition());
    }
    fnv1a_64(text.as_bytes())
}

/// FNV-1a, 64-bit (the hash spec fingerprints use too).
fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `name` as a NUL-padded name field; `None` when longer than [`SHM_NAME_BYTES`].
pub fn name_field(name: &str) -> Option<[u8; SHM_NAME_BYTES]> {
    let bytes = name.as_bytes();
    if bytes.len() > SHM_NAME_BYTES {
        return None;
    }
    let mut field = [0u8; SHM_NAME_BYTES];
    field[..bytes.len()].copy_from_slice(bytes);
    Some(field)
}

/// The text of a NUL-padded name field, lossily decoded (a peer may have written anything).
pub fn name_of(field: &[u8; SHM_NAME_BYTES]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_lays_sequences_then_slots_after_the_header() {
        let g = RegionGeometry::new(1024, 8, 3).unwrap();
        assert_eq!(g.sequences_offset, 1280);
        assert_eq!(g.slots_offset, 1280 + 4 * 128);
        assert_eq!(g.region_bytes, 1280 + 4 * 128 + 8192);
        assert_eq!(g.slots_offset % 128, 0);
        assert_eq!(RegionGeometry::new(u64::MAX, 8, 1), None);
        assert_eq!(RegionGeometry::new(2, 8, u64::MAX), None);
    }

    #[test]
    fn names_round_trip_through_fields() {
        let field = name_field("parse").unwrap();
        assert_eq!(name_of(&field), "parse");
        let long = "n".repeat(SHM_NAME_BYTES);
        assert_eq!(name_of(&name_field(&long).unwrap()), long);
        assert_eq!(name_field(&"n".repeat(SHM_NAME_BYTES + 1)), None);
        let mut odd = [0xffu8; SHM_NAME_BYTES];
        odd[3] = 0;
        assert_eq!(name_of(&odd), "\u{fffd}\u{fffd}\u{fffd}");
    }
}
