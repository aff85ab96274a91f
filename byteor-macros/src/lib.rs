//! Procedural macros for [byteor](https://docs.rs/byteor): the `#[pipeline]` attribute and the
//! derive macros for stage and event types.
//!
//! This crate is re-exported by `byteor`; depend on `byteor` rather than on this crate directly.
#![deny(missing_docs)]
