//! `#[repr(C)]` layouts shared with other processes, and event layout tables.
