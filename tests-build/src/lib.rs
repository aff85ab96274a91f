//! Compile-pass and compile-fail tests of byteor's macros and typed builder live in `tests/ui`;
//! `tests/trybuild.rs` runs them. This crate has no library code.
