//! The operator surface as a library: what the `byteor` command line does, callable from a
//! service.
//!
//! * [`profile`] — tuning profiles (`default`, `low-latency`, `isolated-core`): what each asks
//!   of the host and of the threads a pipeline starts, and a report of what was applied.
//! * [`doctor`] — host readiness for a profile: one check per host property, each with what
//!   was requested, what was observed, a status and, when not ok, the reason and the fix.
//! * [`snapshot`] — a read-only view of every shared-memory region of a directory: owner,
//!   heartbeat, every sequence and lag, as text, JSON-ready values or OpenMetrics.
//! * [`run`] — running a plan document in this process with the built-in generator (every
//!   role, or some of them over shared-memory rings), reporting every stage, lane and egress.
//! * [`builtin`] — the stage kinds and the event type the stock binary runs plans with, and
//!   the ingress generator.
//!
//! `ops` uses the rest of the crate; nothing in the crate uses `ops`.

pub mod builtin;
pub mod bundle;
pub mod capture;
pub mod doctor;
pub mod policy;
pub mod profile;
pub mod replay;
pub mod run;
pub mod snapshot;
