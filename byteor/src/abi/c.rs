//! C headers generated from the Rust layouts: byteor's own region layout
//! ([`region_c_header`], checked in as `byteor/include/byteor.h`) and users' event types
//! ([`events_c_header`]). Every struct comes with `_Static_assert`s on its `sizeof`,
//! `_Alignof` and the `offsetof` of every field, so a C compiler refuses a header that does not
//! match the Rust layout it was generated from.

use std::fmt::Write as _;
use std::mem::{align_of, offset_of, size_of};

use super::region::{
    layout_fingerprint, ControlBlockV1, EventBlockV1, IdentityBlockV1, PeerSlotV1, RegionHeaderV1,
    PEER_DONE, PEER_FAILED, PEER_RUNNING, REGION_ABI_VERSION, REGION_CLOSED, REGION_FAILED,
    REGION_HEADER_BYTES, REGION_MAGIC, REGION_RUNNING, REGION_SEQUENCE_STRIDE, SHM_NAME_BYTES,
    SHM_V1_MAX_PEERS, SHM_V1_MAX_STAGES,
};
use super::EventLayout;

/// The error codes of the C client, in order (`BYTEOR_OK` is 0, then these from 1): the same
/// failures as [`ShmError`](crate::transport::shm::ShmError), one code each.
pub const C_ERROR_CODES: &[(&str, &str)] = &[
    ("MISSING", "no file at the path"),
    (
        "PERMISSION_DENIED",
        "the file may not be opened by this process",
    ),
    (
        "SHORTER_THAN_HEADER",
        "the file is shorter than a region header",
    ),
    (
        "SHORTER_THAN_GEOMETRY",
        "the file is shorter than its header's geometry",
    ),
    ("FOREIGN_MAGIC", "not a byteor ring region"),
    ("ZEROED", "the header is all zeros: never initialised"),
    (
        "STILL_INITIALISING",
        "the creator has not published the region yet",
    ),
    ("ABI_VERSION", "written by another ABI version"),
    ("EVENT_LAYOUT", "holds another event type or layout"),
    ("SPEC_FINGERPRINT", "created for another spec"),
    ("GEOMETRY", "a geometry field disagrees or is impossible"),
    ("STAGE_TAKEN", "another live process runs this stage"),
    ("UNKNOWN_STAGE", "the region has no stage of this name"),
    ("IO", "any other operating-system error (see errno)"),
];

/// One field of a header struct: its C declaration and where Rust put it.
struct CField {
    decl: String,
    name: &'static str,
    offset: usize,
}

/// One header struct.
struct CStruct {
    tag: &'static str,
    doc: &'static str,
    size: usize,
    align: usize,
    fields: Vec<CField>,
}

macro_rules! c_struct {
    ($ty:ty, $tag:literal, $doc:literal, [$($field:ident: $decl:expr),* $(,)?]) => {
        CStruct {
            tag: $tag,
            doc: $doc,
            size: size_of::<$ty>(),
            align: align_of::<$ty>(),
            fields: vec![$(CField {
                decl: $decl.to_string(),
                name: stringify!($field),
                offset: offset_of!($ty, $field),
            }),*],
        }
    };
}

fn header_structs() -> Vec<CStruct> {
    let name = format!("uint8_t {{}}[{SHM_NAME_BYTES}]");
    let named = |field: &str| name.replace("{}", field);
    vec![
        c_struct!(IdentityBlockV1, "byteor_identity_v1", "Block 0: what the region is and how it is laid out.", [
            magic: "uint64_t magic",
            abi_version: "uint32_t abi_version",
            header_bytes: "uint32_t header_bytes",
            region_bytes: "uint64_t region_bytes",
            layout_fingerprint: "uint64_t layout_fingerprint",
            spec_fingerprint: "uint64_t spec_fingerprint",
            capacity: "uint64_t capacity",
            slot_bytes: "uint32_t slot_bytes",
            slot_align: "uint32_t slot_align",
            stage_count: "uint32_t stage_count",
            reserved0: "uint32_t reserved0",
            sequences_offset: "uint64_t sequences_offset",
            slots_offset: "uint64_t slots_offset",
            owner_pid: "uint32_t owner_pid",
            reserved1: "uint32_t reserved1",
            owner_start_time: "uint64_t owner_start_time",
            created_unix_ns: "uint64_t created_unix_ns",
            stage_deps: format!("uint32_t stage_deps[{SHM_V1_MAX_STAGES}]"),
            reserved2: "uint8_t reserved2[8]",
        ]),
        c_struct!(EventBlockV1, "byteor_event_v1", "Block 1: the event type.", [
            name: named("name"),
            size: "uint32_t size",
            align: "uint32_t align",
            field_count: "uint32_t field_count",
            reserved: "uint8_t reserved[52]",
        ]),
        c_struct!(ControlBlockV1, "byteor_control_v1", "Block 2: the producer's word to the stages.", [
            state: "uint32_t state",
            reserved0: "uint32_t reserved0",
            drain_target: "uint64_t drain_target",
            dropped: "uint64_t dropped",
            data_bell: "uint32_t data_bell",
            data_sleepers: "uint32_t data_sleepers",
            room_bell: "uint32_t room_bell",
            room_sleepers: "uint32_t room_sleepers",
            reserved1: "uint8_t reserved1[88]",
        ]),
        c_struct!(PeerSlotV1, "byteor_peer_v1", "One peer's liveness record (peer 0: the producer; 1 + i: stage i).", [
            pid: "uint32_t pid",
            status: "uint32_t status",
            start_time: "uint64_t start_time",
            heartbeat_ns: "uint64_t heartbeat_ns",
            attachments: "uint64_t attachments",
            failed_at: "uint64_t failed_at",
            reserved1: "uint8_t reserved1[88]",
        ]),
        c_struct!(RegionHeaderV1, "byteor_region_header_v1", "The header at offset 0 of every ring region.", [
            identity: "struct byteor_identity_v1 identity",
            event: "struct byteor_event_v1 event",
            control: "struct byteor_control_v1 control",
            stage_names: format!("uint8_t stage_names[{SHM_V1_MAX_STAGES}][{SHM_NAME_BYTES}]"),
            peers: format!("struct byteor_peer_v1 peers[{SHM_V1_MAX_PEERS}]"),
        ]),
    ]
}

/// Writes `s` with `_Alignas` on its first field when it is over-aligned, then its asserts.
fn write_struct(out: &mut String, s: &CStruct) {
    let _ = writeln!(out, "/* {} */\nstruct {} {{", s.doc, s.tag);
    for (i, field) in s.fields.iter().enumerate() {
        let align = if i == 0 && s.align > 8 {
            format!("_Alignas({}) ", s.align)
        } else {
            String::new()
        };
        let _ = writeln!(out, "    {align}{};", field.decl);
    }
    out.push_str("};\n");
    write_asserts(
        out,
        s.tag,
        s.size,
        s.align,
        s.fields.iter().map(|f| (f.name, f.offset)),
    );
}

fn write_asserts<'a>(
    out: &mut String,
    tag: &str,
    size: usize,
    align: usize,
    fields: impl Iterator<Item = (&'a str, usize)>,
) {
    let _ = writeln!(
        out,
        "_Static_assert(sizeof(struct {tag}) == {size}, \"sizeof(struct {tag})\");"
    );
    let _ = writeln!(
        out,
        "_Static_assert(_Alignof(struct {tag}) == {align}, \"_Alignof(struct {tag})\");"
    );
    for (name, offset) in fields {
        let _ = writeln!(
            out,
            "_Static_assert(offsetof(struct {tag}, {name}) == {offset}, \"offsetof({tag}, {name})\");"
        );
    }
    out.push('\n');
}

const PREAMBLE: &str = "\
/* Generated by byteor (`cargo xtask gen-header`); do not edit. */\n";

/// `byteor.h`: the region layout, its constants and the C client's error codes, each struct
/// with `_Static_assert`s on its size, alignment and every field offset.
///
/// ```
/// let header = byteor::abi::c::region_c_header();
/// assert!(header.contains("struct byteor_region_header_v1 {"));
/// assert!(header.contains("_Static_assert(sizeof(struct byteor_region_header_v1) == 1280"));
/// ```
pub fn region_c_header() -> String {
    let mut out = String::from(PREAMBLE);
    for line in [
        "/* The layout of a byteor shared-memory ring region, version 1 (see byteor::abi::region).",
        " * Words other processes change while the ring runs (abi_version, control.state,",
        " * control.drain_target, every peer field, every sequence) are accessed atomically:",
        " * __atomic_load_n / __atomic_store_n with acquire / release ordering. */",
        "#ifndef BYTEOR_H",
        "#define BYTEOR_H",
        "",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
    ] {
        out.push_str(line);
        out.push('\n');
    }
    let magic: String = REGION_MAGIC.iter().map(|b| format!("\\x{b:02x}")).collect();
    let constants: &[(&str, String, &str)] = &[
        (
            "BYTEOR_REGION_MAGIC",
            format!("\"{magic}\""),
            "first 8 bytes of every region",
        ),
        (
            "BYTEOR_REGION_ABI_VERSION",
            format!("{REGION_ABI_VERSION}u"),
            "identity.abi_version once ready (0 while initialising)",
        ),
        (
            "BYTEOR_REGION_HEADER_BYTES",
            format!("{REGION_HEADER_BYTES}u"),
            "where the sequences start",
        ),
        (
            "BYTEOR_SEQUENCE_STRIDE",
            format!("{REGION_SEQUENCE_STRIDE}u"),
            "bytes between two sequences (cursor, then one per stage)",
        ),
        (
            "BYTEOR_SHM_MAX_STAGES",
            format!("{SHM_V1_MAX_STAGES}u"),
            "stages per region",
        ),
        (
            "BYTEOR_SHM_MAX_PEERS",
            format!("{SHM_V1_MAX_PEERS}u"),
            "peer records: the producer, then one per stage",
        ),
        (
            "BYTEOR_SHM_NAME_BYTES",
            format!("{SHM_NAME_BYTES}u"),
            "NUL-padded name fields",
        ),
        (
            "BYTEOR_REGION_RUNNING",
            format!("{REGION_RUNNING}u"),
            "control.state: publishing",
        ),
        (
            "BYTEOR_REGION_CLOSED",
            format!("{REGION_CLOSED}u"),
            "control.state: handle events below control.drain_target, then stop",
        ),
        (
            "BYTEOR_REGION_FAILED",
            format!("{REGION_FAILED}u"),
            "control.state: stop now",
        ),
        (
            "BYTEOR_PEER_RUNNING",
            format!("{PEER_RUNNING}u"),
            "peer status: working",
        ),
        (
            "BYTEOR_PEER_DONE",
            format!("{PEER_DONE}u"),
            "peer status: finished cleanly",
        ),
        (
            "BYTEOR_PEER_FAILED",
            format!("{PEER_FAILED}u"),
            "peer status: failed at failed_at",
        ),
    ];
    for (name, value, doc) in constants {
        let _ = writeln!(out, "/* {doc} */\n#define {name} {value}");
    }
    out.push('\n');
    for s in header_structs() {
        write_struct(&mut out, &s);
    }
    out.push_str("/* Results of the C client (byteor/c/byteor_client.h). */\nenum byteor_error {\n    BYTEOR_OK = 0,\n");
    for (i, (name, doc)) in C_ERROR_CODES.iter().enumerate() {
        let _ = writeln!(out, "    BYTEOR_ERR_{name} = {}, /* {doc} */", i + 1);
    }
    out.push_str("};\n\n#endif /* BYTEOR_H */\n");
    out
}

/// A C header defining `layouts` — and the event types they nest, each once, dependencies
/// first — with, per type, its layout fingerprint and name as macros
/// (`BYTEOR_LAYOUT_FINGERPRINT_<Name>`, `BYTEOR_EVENT_NAME_<Name>`) and `_Static_assert`s on
/// its size, alignment and every field offset. `guard` is the include guard.
///
/// Call it from a build script or a small tool with your `#[derive(ShmEvent)]` types and
/// check the output in beside your C code.
///
/// ```
/// use byteor::abi::{c::events_c_header, ShmEvent};
///
/// #[derive(Clone, Copy, ShmEvent)]
/// #[repr(C)]
/// struct Tick { seq: u64, value: u64 }
///
/// let header = events_c_header("TICK_H", &[&Tick::LAYOUT]);
/// assert!(header.contains("struct Tick {\n    uint64_t seq;\n    uint64_t value;\n};"));
/// assert!(header.contains("#define BYTEOR_LAYOUT_FINGERPRINT_Tick 0x"));
/// assert!(header.contains("_Static_assert(offsetof(struct Tick, value) == 8"));
/// ```
pub fn events_c_header(guard: &str, layouts: &[&EventLayout]) -> String {
    let mut out = String::from(PREAMBLE);
    let _ = write!(
        out,
        "#ifndef {guard}\n#define {guard}\n\n#include <stddef.h>\n#include <stdint.h>\n\n"
    );
    let mut done: Vec<&str> = Vec::new();
    for layout in layouts {
        for l in layout.nested().into_iter().chain(std::iter::once(*layout)) {
            if done.contains(&l.name) {
                continue;
            }
            done.push(l.name);
            out.push_str(&l.c_definition());
            let _ = writeln!(
                out,
                "#define BYTEOR_LAYOUT_FINGERPRINT_{} 0x{:016x}ull",
                l.name,
                layout_fingerprint(l)
            );
            let _ = writeln!(out, "#define BYTEOR_EVENT_NAME_{0} \"{0}\"", l.name);
            write_asserts(
                &mut out,
                l.name,
                l.size,
                l.align,
                l.fields.iter().map(|f| (f.name, f.offset)),
            );
        }
    }
    let _ = writeln!(out, "#endif /* {guard} */");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_field_is_listed_once_in_offset_order() {
        for s in header_structs() {
            let offsets: Vec<usize> = s.fields.iter().map(|f| f.offset).collect();
            assert!(
                offsets.windows(2).all(|w| w[0] < w[1]),
                "{}: {offsets:?}",
                s.tag
            );
            assert!(
                s.fields.iter().all(|f| f.decl.contains(f.name)),
                "{}",
                s.tag
            );
        }
        let header = region_c_header();
        assert!(header.contains("_Alignas(128) uint64_t magic;"));
        assert!(header.contains("BYTEOR_ERR_IO = 14,"));
    }
}
