//! What plan and spec validation share to report violations: name labels and the "did you
//! mean" search ([`names`]), and the bounded cycle walk ([`cycles`]).

pub(crate) mod cycles;
pub(crate) mod names;
