//! loom model tests of the barrier and gating protocol.
