//! The event ABI contract: which Rust types may travel through a shared-memory ring, and the
//! layout table that describes them to other processes.
//!
//! A ring slot holds one event by value. When the ring lives in shared memory, a process that
//! did not compile the Rust type (another build, or a C program) reads those bytes, so the
//! type must have one layout that both sides can state: `#[repr(C)]`, fields of fixed-width
//! plain-old-data types only, and no padding the author did not write down. [`ShmEvent`]
//! carries that promise and the layout table ([`EventLayout`]) that a C header generator and
//! the SHM region header (its layout fingerprint) are built from.
//!
//! Derive it with `#[derive(ShmEvent)]`, which checks the rules at compile time:
//!
//! ```
//! use byteor::abi::{FieldType, ShmEvent};
//!
//! #[derive(Clone, Copy, ShmEvent)]
//! #[repr(C)]
//! struct Order {
//!     id: u64,
//!     account: u64,
//!     qty: i64,
//!     price: i64,
//!     side: u8,
//!     _pad: [u8; 7], // explicit: the derive refuses implicit padding
//! }
//!
//! let layout = Order::LAYOUT;
//! assert_eq!(layout.size, 40);
//! assert_eq!(layout.field("side").unwrap().offset, 32);
//! assert_eq!(layout.field("_pad").unwrap().ty, FieldType::Array { elem: &FieldType::U8, len: 7 });
//! ```

use std::fmt;

pub use byteor_macros::ShmEvent;

/// A type whose values can be placed in a shared-memory ring slot and read by another process.
///
/// Use `#[derive(ShmEvent)]` rather than implementing this by hand; the derive also makes the
/// type a [`PodField`] (as [`FieldType::Event`]) so other events can embed it.
///
/// # Safety
///
/// Implementing this trait promises that:
/// - the type is `#[repr(C)]` (not packed), so its layout is the C layout of its fields;
/// - every field is itself a [`PodField`], so every bit pattern a peer may write is a valid value
///   and the type holds no pointers into one process's address space;
/// - the type has no padding bytes (the size equals the sum of the field sizes), so no
///   uninitialised byte is ever copied into shared memory;
/// - [`ShmEvent::LAYOUT`] states the type's true name, size, alignment and field offsets.
pub unsafe trait ShmEvent: Copy + 'static {
    /// The layout table of this event type.
    const LAYOUT: EventLayout;
}

/// Support for `#[derive(ShmEvent)]`; not part of the public API.
#[doc(hidden)]
pub mod __private {
    /// Keeps the set of [`PodField`](super::PodField) types closed: scalars, arrays of field
    /// types, and `#[derive(ShmEvent)]` types (the derive implements it).
    pub trait Sealed {}
}

use __private::Sealed;

/// A type allowed as a field of a [`ShmEvent`]: fixed-width integers, `f32`, `f64`, arrays of
/// field types, and other [`ShmEvent`] types.
///
/// `usize`/`isize` (width depends on the target), `bool` and `char` (not every bit pattern is
/// valid), pointers and references (meaningless in another process), and owning types such as
/// `String`, `Vec` or `Option` are not field types. The trait is sealed; make a struct a field
/// type by deriving [`ShmEvent`] for it (the derive implements both traits).
///
/// # Safety
///
/// Implementors have no invalid bit patterns, no padding and no pointers, and `TYPE` describes
/// them exactly. The trait is sealed, so only this crate's implementations exist.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of a shared-memory event",
    label = "not a plain-old-data field type",
    note = "fields of a `#[derive(ShmEvent)]` struct must be u8, u16, u32, u64, i8, i16, i32, i64, \
            f32, f64, arrays of these, or other `#[derive(ShmEvent)]` structs"
)]
pub unsafe trait PodField: Copy + 'static + Sealed {
    /// How the field type is described in an [`EventLayout`].
    const TYPE: FieldType;
}

macro_rules! scalar_fields {
    ($($ty:ty => $variant:ident),* $(,)?) => {$(
        impl Sealed for $ty {}
        // SAFETY: a fixed-width primitive number: every bit pattern is valid, no padding, no
        // pointers, and `TYPE` names exactly this primitive.
        unsafe impl PodField for $ty {
            const TYPE: FieldType = FieldType::$variant;
        }
    )*};
}

scalar_fields! {
    u8 => U8, u16 => U16, u32 => U32, u64 => U64,
    i8 => I8, i16 => I16, i32 => I32, i64 => I64,
    f32 => F32, f64 => F64,
}

impl<T: PodField, const N: usize> Sealed for [T; N] {}
// SAFETY: an array of `N` field types has `N` times their layout and no padding between
// elements (an element's size is a multiple of its alignment); validity follows from `T`'s.
unsafe impl<T: PodField, const N: usize> PodField for [T; N] {
    const TYPE: FieldType = FieldType::Array {
        elem: &T::TYPE,
        len: N,
    };
}

/// The layout of one [`ShmEvent`] type, as a C compiler would see the `#[repr(C)]` struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLayout {
    /// The Rust type name (without module path); used as the C struct tag.
    pub name: &'static str,
    /// `size_of` the type in bytes.
    pub size: usize,
    /// `align_of` the type in bytes.
    pub align: usize,
    /// The fields, in declaration (and therefore offset) order.
    pub fields: &'static [FieldLayout],
}

impl EventLayout {
    /// Looks up a field by name.
    pub fn field(&self, name: &str) -> Option<&'static FieldLayout> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The C definition of this struct, e.g. `struct Order {\n  uint64_t id;\n ...};`.
    ///
    /// Nested event types are referred to as `struct Name`; their definitions are emitted by
    /// calling this on their own layouts (see [`EventLayout::nested`]), before this one.
    pub fn c_definition(&self) -> String {
        let mut out = format!("struct {} {{\n", self.name);
        for field in self.fields {
            out.push_str("    ");
            out.push_str(&field.ty.c_declaration(field.name));
            out.push_str(";\n");
        }
        out.push_str("};\n");
        out
    }

    /// The event types this one contains (directly, or as array elements), each once, in
    /// the order a C header must define them: dependencies first, `self` excluded.
    pub fn nested(&self) -> Vec<&'static EventLayout> {
        fn visit(layout: &EventLayout, out: &mut Vec<&'static EventLayout>) {
            for field in layout.fields {
                let mut ty = &field.ty;
                while let FieldType::Array { elem, .. } = ty {
                    ty = elem;
                }
                if let FieldType::Event(inner) = ty {
                    if !out.iter().any(|seen| seen.name == inner.name) {
                        visit(inner, out);
                        out.push(inner);
                    }
                }
            }
        }
        let mut out = Vec::new();
        visit(self, &mut out);
        out
    }
}

/// One field of an [`EventLayout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldLayout {
    /// The field name as written in Rust (raw identifiers without `r#`).
    pub name: &'static str,
    /// Byte offset from the start of the struct (`core::mem::offset_of!`).
    pub offset: usize,
    /// `size_of` the field type.
    pub size: usize,
    /// `align_of` the field type.
    pub align: usize,
    /// The field type.
    pub ty: FieldType,
}

/// The type of an event field, in terms a C declaration can be written from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `u8` / `uint8_t`.
    U8,
    /// `u16` / `uint16_t`.
    U16,
    /// `u32` / `uint32_t`.
    U32,
    /// `u64` / `uint64_t`.
    U64,
    /// `i8` / `int8_t`.
    I8,
    /// `i16` / `int16_t`.
    I16,
    /// `i32` / `int32_t`.
    I32,
    /// `i64` / `int64_t`.
    I64,
    /// `f32` / `float`.
    F32,
    /// `f64` / `double`.
    F64,
    /// `[elem; len]` / `elem name[len]`.
    Array {
        /// The element type.
        elem: &'static FieldType,
        /// The number of elements.
        len: usize,
    },
    /// Another event type, embedded by value (`struct Name`).
    Event(&'static EventLayout),
}

impl FieldType {
    /// The C type of a scalar or nested event (`uint64_t`, `double`, `struct Name`); for an
    /// array, the C type of its innermost element.
    pub fn c_type(&self) -> String {
        match self {
            FieldType::U8 => "uint8_t".into(),
            FieldType::U16 => "uint16_t".into(),
            FieldType::U32 => "uint32_t".into(),
            FieldType::U64 => "uint64_t".into(),
            FieldType::I8 => "int8_t".into(),
            FieldType::I16 => "int16_t".into(),
            FieldType::I32 => "int32_t".into(),
            FieldType::I64 => "int64_t".into(),
            FieldType::F32 => "float".into(),
            FieldType::F64 => "double".into(),
            FieldType::Array { elem, .. } => elem.c_type(),
            FieldType::Event(layout) => format!("struct {}", layout.name),
        }
    }

    /// A C declaration of a member called `name` of this type, without the trailing `;`:
    /// `uint64_t id`, `uint8_t _pad[7]`, `int32_t grid[2][3]`.
    pub fn c_declaration(&self, name: &str) -> String {
        let mut decl = format!("{} {}", self.c_type(), name);
        let mut ty = self;
        while let FieldType::Array { elem, len } = ty {
            decl.push_str(&format!("[{len}]"));
            ty = elem;
        }
        decl
    }
}

impl fmt::Display for FieldType {
    /// The Rust spelling: `u64`, `[u8; 7]`, `Order`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldType::U8 => f.write_str("u8"),
            FieldType::U16 => f.write_str("u16"),
            FieldType::U32 => f.write_str("u32"),
            FieldType::U64 => f.write_str("u64"),
            FieldType::I8 => f.write_str("i8"),
            FieldType::I16 => f.write_str("i16"),
            FieldType::I32 => f.write_str("i32"),
            FieldType::I64 => f.write_str("i64"),
            FieldType::F32 => f.write_str("f32"),
            FieldType::F64 => f.write_str("f64"),
            FieldType::Array { elem, len } => write!(f, "[{elem}; {len}]"),
            FieldType::Event(layout) => f.write_str(layout.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{align_of, offset_of, size_of};

    #[derive(Clone, Copy)]
    #[repr(C)]
    struct Price {
        mantissa: i64,
        exponent: i32,
        _pad: [u8; 4],
    }

    // SAFETY: repr(C), PodField fields only, 16 bytes = 8 + 4 + 4 (no padding), and the table
    // below is computed from the type itself.
    unsafe impl ShmEvent for Price {
        const LAYOUT: EventLayout = EventLayout {
            name: "Price",
            size: size_of::<Price>(),
            align: align_of::<Price>(),
            fields: &[
                FieldLayout {
                    name: "mantissa",
                    offset: offset_of!(Price, mantissa),
                    size: size_of::<i64>(),
                    align: align_of::<i64>(),
                    ty: <i64 as PodField>::TYPE,
                },
                FieldLayout {
                    name: "exponent",
                    offset: offset_of!(Price, exponent),
                    size: size_of::<i32>(),
                    align: align_of::<i32>(),
                    ty: <i32 as PodField>::TYPE,
                },
                FieldLayout {
                    name: "_pad",
                    offset: offset_of!(Price, _pad),
                    size: size_of::<[u8; 4]>(),
                    align: align_of::<[u8; 4]>(),
                    ty: <[u8; 4] as PodField>::TYPE,
                },
            ],
        };
    }

    impl Sealed for Price {}
    // SAFETY: `Price` is a `ShmEvent` (above); that contract is the `PodField` contract.
    unsafe impl PodField for Price {
        const TYPE: FieldType = FieldType::Event(&Price::LAYOUT);
    }

    #[derive(Clone, Copy)]
    #[repr(C)]
    struct Quote {
        bid: Price,
        levels: [[u32; 3]; 2],
        history: [Price; 2],
    }

    // SAFETY: as above; 16 + 24 + 32 = 72 bytes, 8-aligned, no padding.
    unsafe impl ShmEvent for Quote {
        const LAYOUT: EventLayout = EventLayout {
            name: "Quote",
            size: size_of::<Quote>(),
            align: align_of::<Quote>(),
            fields: &[
                FieldLayout {
                    name: "bid",
                    offset: offset_of!(Quote, bid),
                    size: size_of::<Price>(),
                    align: align_of::<Price>(),
                    ty: <Price as PodField>::TYPE,
                },
                FieldLayout {
                    name: "levels",
                    offset: offset_of!(Quote, levels),
                    size: size_of::<[[u32; 3]; 2]>(),
                    align: align_of::<[[u32; 3]; 2]>(),
                    ty: <[[u32; 3]; 2] as PodField>::TYPE,
                },
                FieldLayout {
                    name: "history",
                    offset: offset_of!(Quote, history),
                    size: size_of::<[Price; 2]>(),
                    align: align_of::<[Price; 2]>(),
                    ty: <[Price; 2] as PodField>::TYPE,
                },
            ],
        };
    }

    #[test]
    fn scalar_and_array_types_describe_themselves() {
        assert_eq!(<u8 as PodField>::TYPE, FieldType::U8);
        assert_eq!(<f64 as PodField>::TYPE, FieldType::F64);
        assert_eq!(
            <[[u32; 3]; 2] as PodField>::TYPE,
            FieldType::Array {
                elem: &FieldType::Array {
                    elem: &FieldType::U32,
                    len: 3
                },
                len: 2
            }
        );
        assert_eq!(
            <[[u32; 3]; 2] as PodField>::TYPE.to_string(),
            "[[u32; 3]; 2]"
        );
    }

    #[test]
    fn nested_event_layout_is_reachable_from_the_field_type() {
        let bid = Quote::LAYOUT.field("bid").unwrap();
        assert_eq!(bid.ty, FieldType::Event(&Price::LAYOUT));
        assert_eq!((bid.offset, bid.size, bid.align), (0, 16, 8));
        let history = Quote::LAYOUT.field("history").unwrap();
        assert_eq!((history.offset, history.size), (40, 32));
        assert_eq!(Quote::LAYOUT.size, 72);
        assert_eq!(history.ty.to_string(), "[Price; 2]");
    }

    #[test]
    fn c_declarations_follow_c_array_syntax() {
        assert_eq!(FieldType::U64.c_declaration("id"), "uint64_t id");
        let grid = <[[i32; 3]; 2] as PodField>::TYPE;
        // Rust `[[i32; 3]; 2]` is two rows of three: C `int32_t grid[2][3]`.
        assert_eq!(grid.c_declaration("grid"), "int32_t grid[2][3]");
        assert_eq!(
            <[Price; 2] as PodField>::TYPE.c_declaration("history"),
            "struct Price history[2]"
        );
    }

    #[test]
    fn c_definition_lists_every_field_and_nested_types_come_first() {
        assert_eq!(
            Quote::LAYOUT.c_definition(),
            "struct Quote {\n    struct Price bid;\n    uint32_t levels[2][3];\n    \
             struct Price history[2];\n};\n"
        );
        let nested: Vec<&str> = Quote::LAYOUT.nested().iter().map(|l| l.name).collect();
        assert_eq!(nested, ["Price"]);
        assert!(Price::LAYOUT.nested().is_empty());
    }
}
