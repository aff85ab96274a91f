//! Integration tests for byteor live in `tests/`; this crate has no library code.
