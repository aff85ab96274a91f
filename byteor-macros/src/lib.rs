//! Procedural macros for [byteor](https://docs.rs/byteor): the `#[pipeline]` attribute and the
//! derive macros for stage and event types.
//!
//! This crate is re-exported by `byteor`; depend on `byteor` rather than on this crate directly.
//! Each macro is a thin entry point: parsing, checking and code generation are plain
//! `proc_macro2` functions in the modules below, unit-tested without a compiler in the loop.
#![deny(missing_docs)]

mod derive;
mod diagnostic;
mod pipeline;

use proc_macro::TokenStream;

/// Declares a pipeline as a function: the body reads like the plan, and the macro expands it
/// into the typed builder calls — `SingleRing::build`, `stage`, `stage_after`, `build` for a
/// ring (`-> SingleRing<E>`), `LaneGraph::builder`, `ingress`, `stage`, `egress`, `connect`,
/// `build` for a graph (`-> LaneGraph`).
///
/// # SingleRing
///
/// ```
/// use byteor::prelude::*;
///
/// # #[derive(Debug, Default, Clone, Copy)] struct Order { qty: i64 }
/// # #[derive(Default)] struct Parse;
/// # impl MutStage<Order> for Parse {
/// #     fn on_event(&mut self, _: &mut Order, _: &EventContext) -> Result<(), StageError> { Ok(()) }
/// # }
/// # struct Risk { max_qty: i64 }
/// # impl Stage<Order> for Risk {
/// #     fn on_event(&mut self, _: &Order, _: &EventContext) -> Result<(), StageError> { Ok(()) }
/// # }
/// # struct Audit;
/// # impl Stage<Order> for Audit {
/// #     fn on_event(&mut self, _: &Order, _: &EventContext) -> Result<(), StageError> { Ok(()) }
/// # }
/// # struct Publish;
/// # impl Stage<Order> for Publish {
/// #     fn on_event(&mut self, _: &Order, _: &EventContext) -> Result<(), StageError> { Ok(()) }
/// # }
/// #[byteor::pipeline(capacity = 1024)]
/// fn orders(max_qty: i64) -> SingleRing<Order> {
///     ingress("orders_in");
///     egress("fills_out");
///     let parse = stage(Parse::default());
///     let risk = stage(Risk { max_qty }).after([parse]);
///     let audit = stage(Audit).side_effects().after([parse]);
///     let publish = stage(Publish).after([risk, audit]);
/// }
///
/// let pipeline = orders(10_000)?; // Result<SingleRingPipeline<Order, ..>, BuildError>
/// assert_eq!(pipeline.plan().name, "orders");
/// assert_eq!(pipeline.plan().stages[3].after, ["risk", "audit"]);
/// # Ok::<(), BuildError>(())
/// ```
///
/// - The return type names the target and the event type: `-> SingleRing<Order>`. The macro
///   turns it into `Result<SingleRingPipeline<Order, ..>, BuildError>`.
/// - Options: `name` (default: the function name), `capacity`, `shards`, `ordering`
///   (`"strict"` / `"per_key"`), `producer` (`"single"`), `scheduling` (`"dedicated"`),
///   `wait_strategy` (an expression).
/// - Body: `ingress("name");` and `egress("name");` once each, `shard_key("name", |e| key);`
///   with `shards > 1`, and `let name = stage(value)` with optional `.after([stages])`,
///   `.side_effects()`, `.kind("kind")` and `.param("key", value)`. The binding is the stage's
///   name; stages run in the order written.
///
/// # LaneGraph
///
/// ```
/// use byteor::exec::lane_graph::{Emitter, LaneGraph};
///
/// # #[derive(Debug, Default, Clone, Copy)] struct Packet { len: u32 }
/// # #[derive(Debug, Default, Clone, Copy, PartialEq)] struct Decision { accept: bool }
/// # use byteor::exec::lane_graph::LaneStage;
/// # use byteor::exec::StageError;
/// # #[derive(Default)] struct Parser;
/// # impl LaneStage<Packet, u32> for Parser {
/// #     fn on_event(&mut self, p: &Packet, out: &mut Emitter<'_, u32>) -> Result<(), StageError> {
/// #         out.emit(|len| *len = p.len)
/// #     }
/// # }
/// # struct Risk { threshold: u32 }
/// # impl LaneStage<u32, Decision> for Risk {
/// #     fn on_event(&mut self, len: &u32, out: &mut Emitter<'_, Decision>) -> Result<(), StageError> {
/// #         out.emit(|d| d.accept = *len <= self.threshold)
/// #     }
/// # }
/// #[byteor::pipeline(on_full = "block")]
/// fn plant(threshold: u32) -> LaneGraph {
///     let raw = ingress::<Packet>("raw");
///     let parse = stage(Parser::default());
///     let risk = stage(Risk { threshold });
///     let decisions = egress::<Decision>("decisions");
///     connect(raw, parse);
///     connect(parse, risk).lane(sequenced_slots(64));
///     connect(risk, decisions);
/// }
///
/// // Result<(LaneGraphPipeline, Output<Packet>, Input<Decision>), BuildError>
/// let (pipeline, raw, decisions) = plant(1500)?;
/// assert_eq!(pipeline.plan().lane_graph.as_ref().unwrap().connections.len(), 3);
/// let (mut ends, control) = pipeline.spawn()?;
/// let mut producer = ends.producer(&raw).unwrap();
/// let mut receiver = ends.receiver(&decisions).unwrap();
/// producer.publish(|p| p.len = 9000)?;
/// drop(producer); // end of stream: the graph drains
/// let timeout = std::time::Duration::from_secs(5);
/// assert_eq!(receiver.recv_timeout(timeout)?, Some(Decision { accept: false }));
/// assert_eq!(receiver.recv_timeout(timeout)?, None);
/// control.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// - The return type is `-> LaneGraph` (the path to `byteor::exec::lane_graph::LaneGraph`,
///   which must be in scope). The macro turns it into
///   `Result<(LaneGraphPipeline, ..handles), BuildError>`: the pipeline, then the handle of
///   each ingress (`Output<E>`) and egress (`Input<E>`) in the order the body declares them,
///   which `spawn`'s endpoints take to hand out producers and receivers.
/// - Options: `name` (default: the function name) and `on_full` (`"block"` / `"drop"`, for
///   every lane).
/// - Body: `let raw = ingress::<Packet>("raw");` and `let out = egress::<Decision>("out");`
///   bind a boundary (its name is the string) to a handle with its event type;
///   `let name = stage(value)` declares a stage named by its binding (`value` implements
///   `LaneStage<In, Out>`); `connect(from, to);` joins an ingress or stage to a stage or
///   egress by their handles, over an `Events` lane of the default capacity, or over the lane
///   `.lane(..)` asks for: `events()`, `events().capacity(n)`, `sequenced_slots(n)`,
///   `fanout_broadcast()`, `journal()` (the last two with an optional `.capacity(n)`); any of
///   them may end with `.on_full("drop")` (or `"block"`): the lane's own `on_full` instead
///   of the graph's — a `Drop` tap to one slow consumer inside a blocking graph.
///   Declarations are made first, then the connections, each in the order written.
/// - A connection between different event types is a type error on that `connect`. A
///   `journal()` lane needs byteor feature `lane_graph_journal`, a `fanout_broadcast()` lane
///   `lane_graph_fanout`; without it the lane is a compile error.
/// - A LaneGraph stage takes no settings (`.kind`, `.param`, `.side_effects`): the builder
///   declares a stage by its name alone.
///
/// # Checks
///
/// Everything the tokens show is checked at compile time, all in one pass, each error on the
/// offending token: the macro builds the plan the function describes and runs the plan
/// model's own validation (`byteor::plan::validate_plan_v2`) on it — unknown or duplicate
/// names, self, cyclic and later dependencies, the stage limit, option values and the
/// combinations v1 refuses; for a graph, unknown handles in `connect` (with the nearest
/// name), connections from an egress or to an ingress, duplicate connections, cycles (on
/// each `connect` of the loop), lane capacities, unreachable stages and unused boundaries —
/// so a `#[pipeline]` function and a plan document are judged by the same rules, in the same
/// words. Statements of the other form (`connect` in a ring, `.after` in a graph) are
/// explained too. What exists only at run time (stage types, mutation
/// order, a kind or parameter given as an expression) is checked by the typed builder.
#[proc_macro_attribute]
pub fn pipeline(args: TokenStream, item: TokenStream) -> TokenStream {
    pipeline::pipeline(args.into(), item.into()).into()
}

/// Derives `byteor::exec::StageDescriptor` for a stage struct.
///
/// - `#[stage(name = "...")]` sets the registered kind (default: the type name in
///   snake_case); `#[stage(side_effects)]` marks the stage as acting on the outside world.
/// - Every field is a parameter read from the plan's `params` table with `FromParam`.
///   `#[param(default = expr)]` or `#[param(default)]` (via `Default`) makes it optional;
///   `Option<T>` fields are optional too. `#[param(rename = "key")]` reads another key.
///   `#[param(skip)]` fields are not parameters and start from `Default::default()` (or from
///   `default = expr`).
/// - Unknown keys in the table are errors, and every error names the stage and the parameter.
///
/// See `byteor::exec::StageDescriptor` for an example.
#[proc_macro_derive(StageDescriptor, attributes(stage, param))]
pub fn derive_stage_descriptor(input: TokenStream) -> TokenStream {
    derive::stage_descriptor::derive(input.into()).into()
}

/// Derives `byteor::abi::ShmEvent` for an event struct that may live in shared memory.
///
/// The struct must be `#[repr(C)]` (not packed), have named fields of plain-old-data types
/// (fixed-width integers, `f32`, `f64`, arrays of these, other `ShmEvent` structs), and no
/// implicit padding: declare gaps as `_pad: [u8; N]` fields. Each rule is a compile error
/// spanned on the offending token. The struct must also derive `Clone` and `Copy`.
///
/// See `byteor::abi` for an example.
#[proc_macro_derive(ShmEvent)]
pub fn derive_shm_event(input: TokenStream) -> TokenStream {
    derive::shm_event::derive(input.into()).into()
}
