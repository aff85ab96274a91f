//! The executor: stage traits, the typed builder, producer and control handles.

mod descriptor;
pub use descriptor::*;
