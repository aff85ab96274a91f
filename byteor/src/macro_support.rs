//! What the code `#[pipeline]` expands to relies on in this crate, beyond its public API.
//!
//! `#[pipeline]` is built for the host, with its own build of the plan model, so it cannot
//! know which lane kinds the user's `byteor` supports. For each lane of a kind that needs a
//! cargo feature, the expansion calls the check below; its definition follows this crate's
//! own features: nothing when the feature is on, a compile error on the lane when it is off.

/// Checks that `journal()` lanes are available: byteor feature `lane_graph_journal`.
#[cfg(feature = "lane_graph_journal")]
#[doc(hidden)]
#[macro_export]
macro_rules! __pipeline_lane_graph_journal {
    ($($lane:tt)*) => {};
}

/// Checks that `journal()` lanes are available: byteor feature `lane_graph_journal`.
#[cfg(not(feature = "lane_graph_journal"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __pipeline_lane_graph_journal {
    ($($lane:tt)*) => {
        ::core::compile_error! {
            "lane kind `journal` needs byteor feature `lane_graph_journal`; enable it in \
Cargo.toml: `byteor = { version = \"..\", features = [\"lane_graph_journal\"] }`"
        }
    };
}

/// Checks that `fanout_broadcast()` lanes are available: byteor feature `lane_graph_fanout`.
#[cfg(feature = "lane_graph_fanout")]
#[doc(hidden)]
#[macro_export]
macro_rules! __pipeline_lane_graph_fanout {
    ($($lane:tt)*) => {};
}

/// Checks that `fanout_broadcast()` lanes are available: byteor feature `lane_graph_fanout`.
#[cfg(not(feature = "lane_graph_fanout"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __pipeline_lane_graph_fanout {
    ($($lane:tt)*) => {
        ::core::compile_error! {
            "lane kind `fanout_broadcast` needs byteor feature `lane_graph_fanout` (a default \
feature); enable it in Cargo.toml: \
`byteor = { version = \"..\", features = [\"lane_graph_fanout\"] }`"
        }
    };
}
