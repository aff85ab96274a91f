//! The plan a `#[pipeline]` function's tokens describe, as the model's own `PipelinePlanV2`.
//!
//! The macro does not know the plan rules: it builds the plan the typed builder would build
//! from the same function, hands it to `validate_plan_v2`, and `report` maps each violation
//! back to the token it names. What only exists when the function runs — a stage kind or a
//! parameter value given as an expression, the wait strategy — is checked by the builder's
//! `build()` at run time, which validates the complete plan again.

use byteor_model::plan::{
    Connection, LaneIntent, LaneKind, OrderingMode, ParamValue, PipelinePlanV2, ProducerMode,
    SchedulingMode, SingleRingConstraints, StageDecl,
};
use syn::{Expr, ExprLit, Lit, UnOp};

use super::parse::{LaneDef, PipelineDef, SettingArg, Value};
use super::syntax::{Choice, Target};

/// The plan the builder calls of [`expand`](super::expand::expand) make, as far as the tokens
/// show it.
pub(crate) fn plan_of(def: &PipelineDef) -> PipelinePlanV2 {
    match def.target {
        Target::SingleRing => ring_plan_of(def),
        Target::LaneGraph => graph_plan_of(def),
    }
}

/// The plan of a `-> LaneGraph` function: what `LaneGraph::builder`, `ingress`, `egress`,
/// `stage`, `on_full` and `connect`/`connect_with` write, in the order the expansion calls
/// them (declarations in body order, then connections in body order). An `.after` list,
/// which the builder cannot write, is kept so that validation explains it.
fn graph_plan_of(def: &PipelineDef) -> PipelinePlanV2 {
    let mut plan = PipelinePlanV2::lane_graph(def.pipeline_name());
    if let (Some(Choice::OnFull(on_full)), Some(graph)) =
        (def.choice("on_full"), plan.lane_graph.as_mut())
    {
        graph.on_full = Some(on_full);
    }
    for boundary in &def.ingress {
        plan = plan.with_ingress(boundary.name.value());
    }
    for boundary in &def.egress {
        plan = plan.with_egress(boundary.name.value());
    }
    for stage in &def.stages {
        let mut decl = StageDecl::new(stage.name_str());
        decl.after = stage.after().iter().map(super::parse::ident_name).collect();
        plan = plan.with_stage(decl);
    }
    for connect in &def.connections {
        let lane = connect
            .lane
            .as_ref()
            .map_or_else(LaneIntent::events, lane_intent);
        plan = plan.with_connection(
            Connection::new(def.plan_name(&connect.from), def.plan_name(&connect.to)).lane(lane),
        );
    }
    plan
}

/// The `LaneIntent` a lane stands for, as the expansion builds it.
pub(crate) fn lane_intent(lane: &LaneDef) -> LaneIntent {
    let capacity = lane.capacity.as_ref().map(|(_, value)| *value);
    let intent = match (lane.syntax.kind, capacity) {
        (LaneKind::SequencedSlots, Some(capacity)) => LaneIntent::sequenced_slots(capacity),
        (kind, Some(capacity)) => LaneIntent::of(kind).capacity(capacity),
        (kind, None) => LaneIntent::of(kind),
    };
    match lane.on_full {
        Some((_, on_full)) => intent.on_full(on_full),
        None => intent,
    }
}

/// The plan of a `-> SingleRing<E>` function.
fn ring_plan_of(def: &PipelineDef) -> PipelinePlanV2 {
    let mut plan = PipelinePlanV2::single_ring(def.pipeline_name());
    for boundary in &def.ingress {
        plan = plan.with_ingress(boundary.name.value());
    }
    for boundary in &def.egress {
        plan = plan.with_egress(boundary.name.value());
    }
    for stage in &def.stages {
        let mut decl = StageDecl::new(stage.name_str());
        for setting in &stage.settings {
            match &setting.arg {
                SettingArg::After(deps) => {
                    decl.after = deps.iter().map(super::parse::ident_name).collect();
                }
                SettingArg::SideEffects(on) => decl.side_effects = *on,
                SettingArg::Kind(kind) => decl.kind = string_literal(kind),
                SettingArg::Param(key, value) => {
                    decl.params.insert(key.value(), param_value(value));
                }
            }
        }
        plan = plan.with_stage(decl);
    }
    plan.with_single_ring(constraints(def))
}

/// `capacity`, `shards`, `ordering`, `producer`, `scheduling` and the shard key. As in the
/// builder, a ring of several shards orders per key unless `ordering` says otherwise.
fn constraints(def: &PipelineDef) -> SingleRingConstraints {
    let defaults = SingleRingConstraints::default();
    let shards = def.int_option("shards").unwrap_or(defaults.shards);
    let ordering = match def.choice("ordering") {
        Some(Choice::Ordering(ordering)) => ordering,
        _ if shards > 1 => OrderingMode::PerKey,
        _ => defaults.ordering,
    };
    let producer = match def.choice("producer") {
        Some(Choice::Producer(producer)) => producer,
        _ => ProducerMode::Single,
    };
    let scheduling = match def.choice("scheduling") {
        Some(Choice::Scheduling(scheduling)) => scheduling,
        _ => SchedulingMode::Dedicated,
    };
    SingleRingConstraints {
        capacity: def.int_option("capacity").unwrap_or(defaults.capacity),
        shards,
        ordering,
        producer,
        scheduling,
        shard_key: def.shard_keys.first().map(|key| key.name.value()),
    }
}

impl PipelineDef {
    /// `name = "..."`, or the function's name.
    pub(crate) fn pipeline_name(&self) -> String {
        match self.option("name").map(|o| &o.value) {
            Some(Value::Str(lit)) => lit.value(),
            _ => super::parse::ident_name(&self.ident),
        }
    }
}

/// The text of a string literal expression.
fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s.value()),
        Expr::Group(group) => string_literal(&group.expr),
        Expr::Paren(paren) => string_literal(&paren.expr),
        _ => None,
    }
}

/// A parameter value as far as the tokens show it: literals and arrays of them as they are;
/// any other expression is computed when the function runs (and checked by `build()` then),
/// so at compile time it stands as an empty string, a scalar.
fn param_value(expr: &Expr) -> ParamValue {
    literal_param(expr).unwrap_or_else(|| ParamValue::Str(String::new()))
}

fn literal_param(expr: &Expr) -> Option<ParamValue> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Str(s) => Some(ParamValue::Str(s.value())),
            Lit::Int(i) => i.base10_parse().ok().map(ParamValue::Int),
            Lit::Float(f) => f.base10_parse().ok().map(ParamValue::Float),
            Lit::Bool(b) => Some(ParamValue::Bool(b.value)),
            _ => None,
        },
        Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => {
            match literal_param(&unary.expr)? {
                ParamValue::Int(i) => i.checked_neg().map(ParamValue::Int),
                ParamValue::Float(f) => Some(ParamValue::Float(-f)),
                _ => None,
            }
        }
        Expr::Array(array) => array
            .elems
            .iter()
            .map(literal_param)
            .collect::<Option<Vec<_>>>()
            .map(ParamValue::Array),
        Expr::Reference(reference) => literal_param(&reference.expr),
        Expr::Group(group) => literal_param(&group.expr),
        Expr::Paren(paren) => literal_param(&paren.expr),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::parse::tests::parse_src;
    use quote::quote;

    #[test]
    fn the_plan_is_what_the_builder_would_build() {
        let (def, errors) = parse_src(
            quote!(name = "books", shards = 4, producer = single),
            quote! {
                fn p(limit: i64) -> SingleRing<Quote> {
                    ingress("quotes_in");
                    egress("books_out");
                    shard_key("symbol", |q: &Quote| q.symbol);
                    let parse = stage(P).kind("parse_quote").param("depth", [[1, -2], [3]]);
                    let r#book = stage(B).after([parse]).side_effects().param("limit", limit);
                }
            },
        );
        assert!(errors.is_empty(), "{errors:?}");
        let plan = plan_of(&def.unwrap());
        let expected = PipelinePlanV2::single_ring("books")
            .with_ingress("quotes_in")
            .with_egress("books_out")
            .with_stage(StageDecl::new("parse").kind("parse_quote").param(
                "depth",
                ParamValue::Array(vec![
                    ParamValue::Array(vec![ParamValue::Int(1), ParamValue::Int(-2)]),
                    ParamValue::Array(vec![ParamValue::Int(3)]),
                ]),
            ))
            .with_stage(
                StageDecl::new("book")
                    .after("parse")
                    .side_effects(true)
                    .param("limit", ""),
            )
            .with_single_ring(SingleRingConstraints {
                shards: 4,
                ordering: OrderingMode::PerKey,
                shard_key: Some("symbol".into()),
                ..SingleRingConstraints::default()
            });
        assert_eq!(plan, expected);
    }

    #[test]
    fn the_function_name_names_an_unnamed_pipeline_and_a_kind_expression_is_left_to_build() {
        let (def, _) = parse_src(
            quote!(capacity = 64, ordering = per_key),
            quote! {
                fn r#orders() -> SingleRing<Order> {
                    let a = stage(A).kind(kind_name());
                }
            },
        );
        let plan = plan_of(&def.unwrap());
        assert_eq!(plan.name, "orders");
        assert_eq!(plan.stages[0].kind, None);
        let ring = plan.single_ring.unwrap();
        assert_eq!((ring.capacity, ring.shards), (64, 1));
        assert_eq!(ring.ordering, OrderingMode::PerKey);
    }

    #[test]
    fn a_graph_plan_is_what_the_lane_graph_builder_would_write() {
        let (def, errors) = parse_src(
            quote!(name = "plant", on_full = "drop"),
            quote! {
                fn p(threshold: u64) -> LaneGraph {
                    let parse = stage(Parser::default());
                    let raw = ingress::<Packet>("raw_in");
                    connect(raw, parse).lane(fanout_broadcast().capacity(64));
                    let risk = stage(Risk { threshold });
                    let decisions = egress::<Decision>("decisions");
                    connect(parse, risk).lane(sequenced_slots(64));
                    connect(risk, decisions);
                }
            },
        );
        assert!(errors.is_empty(), "{errors:?}");
        let mut expected = PipelinePlanV2::lane_graph("plant")
            .with_ingress("raw_in")
            .with_egress("decisions")
            .with_stage(StageDecl::new("parse"))
            .with_stage(StageDecl::new("risk"))
            .with_connection(
                Connection::new("raw_in", "parse")
                    .lane(LaneIntent::of(LaneKind::FanoutBroadcast).capacity(64)),
            )
            .with_connection(Connection::new("parse", "risk").lane(LaneIntent::sequenced_slots(64)))
            .with_connection(Connection::new("risk", "decisions"));
        expected.lane_graph.as_mut().unwrap().on_full = Some(byteor_model::plan::OnFull::Drop);
        assert_eq!(plan_of(&def.unwrap()), expected);
    }
}
