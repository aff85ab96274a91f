//! TOML plan documents: [`PipelinePlanV2::from_toml`] and [`PipelinePlanV2::to_toml`].
//!
//! The format is described on [`PipelinePlanV2::from_toml`]. Parsing goes through private
//! serde structs that refuse unknown keys; the model itself stays free of serde. The parser
//! checks the *shape* of the document (keys, types, enum values, `version = 2`) and nothing
//! else: a document that parses but breaks a plan rule becomes a plan that
//! [`validate_plan_v2`](super::validate_plan_v2) reports in full.
//!
//! Choices made where the format could go either way:
//! - `[single_ring]` and `[lane_graph]` are present in the plan exactly when their table is
//!   present in the document. A `single_ring` target needs its table (validation reports a
//!   missing one), but every key in it is optional, so an empty `[single_ring]` means all
//!   defaults.
//! - `lane_graph.boundary`, a connection's `lane`, and `kind` inside either are optional:
//!   the default boundary policy and lane intent are `events` lanes of default capacity.
//!   `lane_graph.on_full` is optional in the document so that validation can report its
//!   absence with the rest.
//! - [`to_toml`](PipelinePlanV2::to_toml) writes every key of `[single_ring]`, the `kind` of
//!   every lane, and omits stage keys at their defaults (`kind`, `side_effects = false`, empty
//!   `params`, empty `after`) and unset optional values.

use super::PipelinePlanV2;
use crate::PARAM_V1_MAX_DEPTH;

/// The plan document version this build reads and writes.
pub const PLAN_DOCUMENT_VERSION: i64 = 2;

mod error;
mod scan;
mod schema;
mod write;

pub use error::PlanDocumentError;
use error::{line_column, malformed};
pub use scan::PLAN_DOCUMENT_MAX_ITEMS;
use scan::{scan, ScanProblem};
use schema::PlanDoc;
use write::write_plan;

impl PipelinePlanV2 {
    /// Reads a plan from a TOML plan document.
    ///
    /// Only the document's shape is checked here; call
    /// [`validate_plan_v2`](super::validate_plan_v2) on the result for the plan rules.
    ///
    /// # Format
    ///
    /// Every key, with its default where it has one. Unknown keys are errors.
    ///
    /// ```toml
    /// version = 2                 # required; the only version this build reads
    /// name = "orders"             # required; a name (see below)
    /// target = "single_ring"      # required: "single_ring" | "lane_graph"
    ///
    /// [[ingress]]                 # boundary catalog; `name` required
    /// name = "orders_in"
    /// [[egress]]
    /// name = "fills_out"
    ///
    /// [[stages]]                  # stage catalog (topological order for single_ring)
    /// name = "parse"              # required
    /// kind = "parse_order"        # registered stage kind; default: the name
    /// side_effects = false        # default false
    /// params = { max_qty = 1000 } # any TOML values but dates and times, nested <= 32 deep
    /// after = []                  # single_ring only: earlier stages; default []
    ///
    /// [single_ring]               # the single_ring payload; every key optional
    /// capacity = 1024             # power of two, 2 ..= 2^24
    /// shards = 1                  # 1 ..= 256; stages x shards <= 256 threads
    /// ordering = "strict"         # "strict" | "per_key"
    /// producer = "single"         # "single" | "multi" (not supported in v1)
    /// scheduling = "dedicated"    # "dedicated" | "work_queue" (not supported in v1)
    /// shard_key = "account"       # no default; required by validation when shards > 1
    ///
    /// [lane_graph]                # the lane_graph payload
    /// on_full = "block"           # "block" | "drop"; required by validation
    /// boundary = { kind = "events", capacity = 1024, on_full = "drop" }  # all optional
    ///
    /// [[lane_graph.connections]]
    /// from = "orders_in"          # required: an ingress or a stage
    /// to = "parse"                # required: a stage or an egress
    /// lane = { kind = "sequenced_slots", capacity = 64, gating = "all_readers", on_full = "drop" }
    /// # lane kinds: "events" (default) | "journal" | "sequenced_slots" | "fanout_broadcast";
    /// # `lane` and each of its keys are optional; capacities are at most 2^24
    /// ```
    ///
    /// Names — `name`, stage and boundary names, `kind`, `shard_key` — are 1 to
    /// [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES) (64) bytes of ASCII letters, digits, `_`
    /// and `-` (lowering names the bridges, routers, merges and lanes it inserts with `.` and
    /// `->`, so they never clash with yours). Parameter names are at most 64 bytes. A
    /// `lane_graph` plan lowers to at most
    /// [`PIPELINE_V1_MAX_THREADS`](crate::PIPELINE_V1_MAX_THREADS) (256) roles, inserted ones
    /// included. Those rules, like every plan rule, are [`validate_plan_v2`]'s to report; the
    /// parser only refuses what it cannot represent.
    ///
    /// [`validate_plan_v2`]: super::validate_plan_v2
    ///
    /// # Errors
    ///
    /// A [`PlanDocumentError`] with the line and column of the first problem: TOML syntax, an
    /// unknown or missing key, a wrong type, an unknown enum value, a `version` other than 2,
    /// a date/time stage parameter, or a stage parameter nested deeper than
    /// [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH) levels. Before parsing, a linear scan
    /// refuses a document nested far deeper than any plan needs, or holding more than
    /// [`PLAN_DOCUMENT_MAX_ITEMS`] items, so that any text is read in linear time, without
    /// deep recursion, in bounded memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use byteor_model::plan::{ExecutionTargetV1, PipelinePlanV2};
    ///
    /// let plan = PipelinePlanV2::from_toml(
    ///     r#"
    /// version = 2
    /// name = "orders"
    /// target = "single_ring"
    ///
    /// [[ingress]]
    /// name = "orders_in"
    /// [[egress]]
    /// name = "fills_out"
    ///
    /// [[stages]]
    /// name = "parse"
    ///
    /// [single_ring]
    /// "#,
    /// )?;
    /// assert_eq!(plan.target(), ExecutionTargetV1::SingleRing);
    /// assert_eq!(PipelinePlanV2::from_toml(&plan.to_toml())?, plan);
    ///
    /// let err = PipelinePlanV2::from_toml("version = 2\nname = \"x\"\ntarget = \"ring\"\n")
    ///     .unwrap_err();
    /// // line 3, column 10: in `target`: unknown variant `ring`, expected `single_ring` or `lane_graph`
    /// assert_eq!((err.line(), err.column()), (3, 10));
    /// assert!(err.to_string().contains("`single_ring` or `lane_graph`"));
    /// # Ok::<(), byteor_model::plan::PlanDocumentError>(())
    /// ```
    pub fn from_toml(text: &str) -> Result<PipelinePlanV2, PlanDocumentError> {
        if let Err(problem) = scan(text) {
            return Err(match problem {
                ScanProblem::TooDeep(offset) => {
                    let (line, column) = line_column(text, offset);
                    PlanDocumentError::TooDeep {
                        line,
                        column,
                        max: PARAM_V1_MAX_DEPTH,
                    }
                }
                ScanProblem::TooLarge(offset) => {
                    let (line, column) = line_column(text, offset);
                    PlanDocumentError::TooLarge {
                        line,
                        column,
                        max: PLAN_DOCUMENT_MAX_ITEMS,
                    }
                }
            });
        }
        let doc: PlanDoc = toml::from_str(text).map_err(|e| malformed(text, &e))?;
        doc.into_plan(text)
    }

    /// Writes the plan as a TOML plan document.
    ///
    /// The output is deterministic and laid out as in [`from_toml`](Self::from_toml); reading it back
    /// with [`from_toml`](Self::from_toml) gives a plan equal to `self` for every plan whose
    /// parameter values nest at most [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH) levels
    /// and whose document holds at most [`PLAN_DOCUMENT_MAX_ITEMS`] items: every plan that
    /// validates (short of hundreds of kilobytes of boundaries, connections or parameter
    /// values), and invalid plans too (odd names, broken rules). A deeper value, or a larger
    /// document, is written but refused on reading. Only a float parameter that is NaN breaks
    /// that equality, since NaN is not equal to itself.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = write_plan(&mut out, self);
        out
    }
}

#[cfg(test)]
mod tests;
