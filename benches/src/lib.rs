//! Benchmarks for byteor live in `benches/`; this crate has no library code.
