//! Examples for byteor live next to this crate manifest; this crate has no library code.
