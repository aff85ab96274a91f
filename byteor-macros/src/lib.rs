//! Procedural macros for [byteor](https://docs.rs/byteor): the `#[pipeline]` attribute and the
//! derive macros for stage and event types.
//!
//! This crate is re-exported by `byteor`; depend on `byteor` rather than on this crate directly.
//! Each macro is a thin entry point: parsing, checking and code generation are plain
//! `proc_macro2` functions in the modules below, unit-tested without a compiler in the loop.
#![deny(missing_docs)]

mod derive;
mod diagnostic;

use proc_macro::TokenStream;

/// Derives `byteor::exec::StageDescriptor` for a stage struct.
///
/// - `#[stage(name = "...")]` sets the registered kind (default: the type name in
///   snake_case); `#[stage(side_effects)]` marks the stage as acting on the outside world.
/// - Every field is a parameter read from the plan's `params` table with `FromParam`.
///   `#[param(default = expr)]` or `#[param(default)]` (via `Default`) makes it optional;
///   `Option<T>` fields are optional too. `#[param(rename = "key")]` reads another key.
///   `#[param(skip)]` fields are not parameters and start from `Default::default()` (or from
///   `default = expr`).
/// - Unknown keys in the table are errors, and every error names the stage and the parameter.
///
/// See `byteor::exec::StageDescriptor` for an example.
#[proc_macro_derive(StageDescriptor, attributes(stage, param))]
pub fn derive_stage_descriptor(input: TokenStream) -> TokenStream {
    derive::stage_descriptor::derive(input.into()).into()
}

/// Derives `byteor::abi::ShmEvent` for an event struct that may live in shared memory.
///
/// The struct must be `#[repr(C)]` (not packed), have named fields of plain-old-data types
/// (fixed-width integers, `f32`, `f64`, arrays of these, other `ShmEvent` structs), and no
/// implicit padding: declare gaps as `_pad: [u8; N]` fields. Each rule is a compile error
/// spanned on the offending token. The struct must also derive `Clone` and `Copy`.
///
/// See `byteor::abi` for an example.
#[proc_macro_derive(ShmEvent)]
pub fn derive_shm_event(input: TokenStream) -> TokenStream {
    derive::shm_event::derive(input.into()).into()
}
