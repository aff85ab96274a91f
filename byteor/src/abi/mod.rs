//! `#[repr(C)]` layouts shared with other processes, and event layout tables.

pub mod c;
mod event;
pub mod region;

#[doc(hidden)]
pub use event::__private;
pub use event::{EventLayout, FieldLayout, FieldType, PodField, ShmEvent};
pub use region::layout_fingerprint;
