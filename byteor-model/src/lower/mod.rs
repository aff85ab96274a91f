//! Lowering: a [`PipelinePlanV2`] compiled to the canonical [`PipelineSpecV1`].
//!
//! [`lower_v2`] validates the plan with [`validate_plan_v2`] — once: that is the only place a
//! plan rule is checked between a plan and its spec — and then compiles it. Compilation cannot
//! fail: the plan rules are built so that every plan that validates lowers to a spec that
//! passes [`validate_v1`](crate::spec::validate_v1), names, limits and all (the property tests
//! check this over generated plans, and debug builds check every spec lowered), so the only
//! [`LowerError`] is the plan's violations. It never panics. It is deterministic: the same plan
//! gives a byte-identical spec (and [`to_kv`](PipelineSpecV1::to_kv) text, and fingerprint),
//! because everything follows the plan's own order — stage catalog, boundary catalogs,
//! connection list — and no hash map is iterated.
//!
//! ```
//! use byteor_model::plan::{PipelinePlanV2, StageDecl};
//! use byteor_model::spec::{describe, validate_v1, TopologySpec};
//!
//! let plan = PipelinePlanV2::single_ring("orders")
//!     .with_ingress("orders_in")
//!     .with_egress("fills_out")
//!     .with_stage(StageDecl::new("parse"))
//!     .with_stage(StageDecl::new("risk").after("parse"))
//!     .with_stage(StageDecl::new("audit").after("parse"));
//! let spec = byteor_model::lower::lower_v2(&plan)?;
//! validate_v1(&spec)?;
//! let TopologySpec::SingleRing(ring) = &spec.topology else { unreachable!() };
//! assert_eq!(ring.deps, [0b000, 0b001, 0b001]);
//! assert_eq!(ring.final_mask, 0b110); // risk and audit gate the producer
//! println!("{}", describe(&spec));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # SingleRing
//!
//! `stages[i]` is the plan's `i`-th stage (`id == i`, kind = the plan's kind or the stage
//! name). `deps[i]` has bit `j` set for each stage `i` runs `after`; `final_mask` has bit `i`
//! set for each stage no other stage depends on. Capacity, shards and ordering are copied, and
//! the shard key too when `shards > 1` (a single-shard ring has no use for one, and the
//! canonical form leaves it out); the slot geometry is left `0/0` for the executor to fill
//! when it binds an event type.
//!
//! # LaneGraph
//!
//! ## Tables and ids
//!
//! * Roles `0..n` are the stage roles, `roles[i]` running `stages[i]` under the stage's name.
//!   Inserted roles follow, in creation order.
//! * Endpoints are the ingresses in catalog order, then the egresses.
//! * Lanes get ids in creation order. Creation walks the *sources* (ingresses, then stages, in
//!   catalog order; each source's connections in plan order), then the *destinations*
//!   (stages, then egresses; each destination's incoming connections in plan order).
//!
//! ## Role shapes
//!
//! Lanes have exactly one writer. Every stage role reads exactly one lane and writes exactly
//! one lane; only an inserted **router** writes several lanes, only an inserted **merge** reads
//! several, and only an inserted **bridge** reads one kind of lane and writes another.
//! Routers and merges move events within a single lane kind, so a runner needs one router and
//! one merge per kind rather than one per combination of kinds; every change of kind around
//! them, or at a boundary, is a bridge.
//!
//! ## Lane settings
//!
//! * A lane carrying connection `c` has `c`'s kind, `c`'s capacity (or
//!   [`DEFAULT_LANE_CAPACITY`](crate::plan::DEFAULT_LANE_CAPACITY)), `c`'s gating when it is
//!   `sequenced_slots` (none otherwise) and `c`'s own `on_full`, falling back to the graph's.
//!   The `fanout_broadcast` connections of one source share one lane, set up from the first of
//!   them (validation makes them agree on capacity and `on_full`).
//! * An **endpoint lane** — the lane an ingress writes, or the lane an egress reads — follows
//!   the boundary lane policy: its kind, its capacity (or the default), gating
//!   [`SEQUENCED_SLOTS_V1_GATING`](crate::SEQUENCED_SLOTS_V1_GATING) for `sequenced_slots`, and
//!   its `on_full`, falling back to the graph's — except that when the endpoint lane is the
//!   lane of a connection with its own `on_full`, the connection's wins.
//! * A lane between a router or merge and a bridge has the router's (merge's) kind and the
//!   settings of the router's input lane (the merge's output lane).
//!
//! ## Sources: broadcast lanes and routers
//!
//! The outgoing connections of a source form *groups*: each non-broadcast connection is a
//! group of its own; all `fanout_broadcast` connections together are one group whose lane has
//! every destination as a reader. The source writes exactly one lane:
//!
//! * an **ingress** writes its endpoint lane (boundary kind);
//! * a **stage** with one group writes that group's lane; with several, it writes a feed lane
//!   set up like its first non-broadcast connection, except its `on_full`: `drop` only when
//!   every group's lane drops, else `block` (a `drop` tap to one slow consumer never makes the
//!   feed of the others lossy).
//!
//! With one group, the group travels on that lane — behind a bridge `bridge.<ingress>` when an
//! ingress's boundary kind differs from the group's kind. With two or more groups, a
//! **router** `router.<source>` reads the source's lane and writes one lane per group: the
//! group's own lane when its kind is the router's kind, otherwise a lane of the router's kind
//! into a bridge `bridge.router.<source>.<dest>` (`<dest>` is `*` for the broadcast group)
//! that writes the group's lane.
//!
//! ## Destinations: merges
//!
//! A destination reached by one lane reads it — through a bridge `bridge.<egress>` when an
//! egress's lane has another kind than the boundary kind (otherwise that lane becomes the
//! egress's endpoint lane and takes the boundary settings). A destination reached by two or
//! more lanes gets a **merge** `merge.<dest>` that reads them all and writes the one lane the
//! destination reads. The merge's kind and output-lane settings are the boundary policy's in
//! front of an egress, otherwise those of the destination's first incoming non-broadcast
//! connection (or first connection, when all are broadcast). An incoming lane of another kind
//! enters through a bridge `bridge.merge.<dest>.<source>`.
//!
//! ## Names
//!
//! | item | name |
//! |---|---|
//! | stage role | the stage name |
//! | endpoint | the boundary name |
//! | router after source `s` | `router.<s>` |
//! | merge before destination `d` | `merge.<d>` |
//! | bridge after ingress `i` / before egress `e` | `bridge.<i>` / `bridge.<e>` |
//! | bridge on `router.<s>`'s output toward `d` (`*`: the broadcast group) | `bridge.router.<s>.<d>` |
//! | bridge on `merge.<d>`'s input from `s` | `bridge.merge.<d>.<s>` |
//! | lane | `<writer>-><reader>`, or `<writer>->*` when it has several readers |
//!
//! Plan names hold only ASCII letters, digits, `_` and `-` (see [`crate::plan`]), while every
//! inserted role's name holds a `.` and every lane's name a `->`, so a generated name cannot
//! clash with a declared one. With names of at most
//! [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES), role names fit
//! [`ROLE_NAME_V1_MAX_BYTES`](crate::spec::ROLE_NAME_V1_MAX_BYTES) and lane names
//! [`LANE_NAME_V1_MAX_BYTES`](crate::spec::LANE_NAME_V1_MAX_BYTES).
//!
//! ## Cost
//!
//! Each node's connections are indexed once, so lowering takes time linear in the plan (up to
//! a logarithmic factor for name lookups); plan validation has already bounded the roles by
//! [`PIPELINE_V1_MAX_THREADS`](crate::PIPELINE_V1_MAX_THREADS), and it counts them with the
//! rules above.
//!
//! ## Picture
//!
//! A plan with a fan-out from `parse`, a change of kind on `parse -> risk`
//! (`sequenced_slots`, every other connection `events`) and a fan-in at `book`:
//!
//! ```text
//! plan:  orders_in --> parse --> price --> book --> fills_out
//!                        |                  ^
//!                        +==> risk ---------+
//!
//! spec:  orders_in --> parse --> router.parse --> price ----------------------> merge.book --> book --> fills_out
//!                                     |                                            ^
//!                                     +--> bridge.router.parse.risk ==> risk ------+
//!
//!        -->  events lane        ==>  sequenced_slots lane
//! ```
//!
//! The lanes are `orders_in->parse`, `parse->router.parse`, `router.parse->price`,
//! `router.parse->bridge.router.parse.risk`, `bridge.router.parse.risk->risk`,
//! `price->merge.book`, `risk->merge.book`, `merge.book->book` and `book->fills_out`.

mod lane_graph;
mod single_ring;

use crate::plan::{validate_plan_v2, ExecutionTargetV1, PipelinePlanV2, ValidationErrors};
use crate::spec::{PipelineSpecV1, StageSpec};

/// Why a plan could not be lowered: it breaks plan rules.
///
/// [`Invalid`](LowerError::Invalid) carries every violation [`validate_plan_v2`] found. A plan
/// that validates always lowers, so there is no other variant; the enum stays
/// `#[non_exhaustive]` so that one can be added without breaking callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LowerError {
    /// The plan breaks plan rules.
    #[error("invalid plan:\n{0}")]
    Invalid(ValidationErrors),
}

impl From<ValidationErrors> for LowerError {
    fn from(errors: ValidationErrors) -> Self {
        LowerError::Invalid(errors)
    }
}

/// Validates `plan` with [`validate_plan_v2`] and compiles it to the canonical spec (see the
/// [module docs](self) for the rules). The result passes
/// [`validate_v1`](crate::spec::validate_v1). Never panics.
pub fn lower_v2(plan: &PipelinePlanV2) -> Result<PipelineSpecV1, LowerError> {
    validate_plan_v2(plan)?;
    let spec = match plan.target {
        ExecutionTargetV1::SingleRing => single_ring::lower(plan),
        ExecutionTargetV1::LaneGraph => lane_graph::lower(plan),
    };
    debug_assert_eq!(
        crate::spec::validate_v1(&spec).map_err(|e| e.to_string()),
        Ok(()),
        "a plan that validates lowers to a spec that validates"
    );
    Ok(spec)
}

/// The stage table: `stages[i]` is the plan's `i`-th stage with its effective kind.
fn stage_specs(plan: &PipelinePlanV2) -> Vec<StageSpec> {
    plan.stages
        .iter()
        .enumerate()
        .map(|(i, stage)| StageSpec {
            id: i as u32,
            name: stage.name.clone(),
            kind: stage.effective_kind().to_owned(),
            side_effects: stage.side_effects,
            params: stage.params.clone(),
        })
        .collect()
}
