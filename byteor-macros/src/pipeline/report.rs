//! Plan violations back onto the user's tokens.
//!
//! `validate_plan_v2` names what is wrong by stage, boundary, dependency or field; this module
//! finds the token that wrote it (a stage's binding, the entry of an `after` list, the value of
//! an option) and reports the violation's own message there, adding only how to write the fix
//! in `#[pipeline]` syntax where the message speaks of a plan document's fields. A violation
//! whose token cannot be found is still reported, on the function's name.

use std::collections::HashMap;

use byteor_model::diagnostics::plan_label;
use byteor_model::plan::{DeclRole, NameItem, PlanViolation, ValidationErrors};
use proc_macro2::Span;
use syn::spanned::Spanned;

use byteor_model::plan::LaneKind;

use super::parse::{ident_name, ConnectDef, Node, PipelineDef, SettingArg, StageDef};
use super::syntax::{
    Target, GRAPH_EGRESS_EXAMPLE, GRAPH_INGRESS_EXAMPLE, GRAPH_STAGE_EXAMPLE, STAGE_EXAMPLE,
    STATEMENTS,
};
use crate::diagnostic::Diagnostics;

/// Reports every violation, each on the token it names.
pub(crate) fn report(def: &PipelineDef, errors: &ValidationErrors, diag: &mut Diagnostics) {
    // How many times an identical violation was seen: the k-th "stage `x` is declared more
    // than once" is about the (k+1)-th later declaration.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for violation in errors {
        let message = violation.to_string();
        let occurrence = {
            let count = seen.entry(message.clone()).or_insert(0);
            *count += 1;
            *count - 1
        };
        for (at, text) in place(def, violation, &message, occurrence) {
            match at {
                At::Token(span) => diag.error(span, text),
                At::Range(first, last) => {
                    diag.error_spanned(range_tokens(first, last), text);
                }
            }
        }
    }
}

/// Where an error goes: one token, or the tokens from the first to the last (a whole
/// `connect(a, b)`).
#[derive(Debug, Clone, Copy)]
enum At {
    Token(Span),
    Range(Span, Span),
}

/// Two tokens spanning `first` to `last`, for an error covering the range.
fn range_tokens(first: Span, last: Span) -> proc_macro2::TokenStream {
    let first = proc_macro2::Ident::new("first", first);
    let last = proc_macro2::Ident::new("last", last);
    quote::quote!(#first #last)
}

/// Where to report `violation` (its `message`, the `occurrence`-th identical one), and what to
/// say there; empty when parsing already reported the cause.
fn place(
    def: &PipelineDef,
    violation: &PlanViolation,
    message: &str,
    occurrence: usize,
) -> Vec<(At, String)> {
    if def.target == Target::LaneGraph {
        if let Some(places) = place_graph(def, violation, message, occurrence) {
            return places;
        }
    }
    place_decl(def, violation, message, occurrence)
        .into_iter()
        .map(|(span, text)| (At::Token(span), text))
        .collect()
}

/// Where to report a violation about declarations, a SingleRing's `after` lists or options.
fn place_decl(
    def: &PipelineDef,
    violation: &PlanViolation,
    message: &str,
    occurrence: usize,
) -> Vec<(Span, String)> {
    let at = |span: Option<Span>| vec![(span.unwrap_or(def.span), message.to_owned())];
    match violation {
        PlanViolation::EmptyPipelineName => at(def.option_span("name")),
        PlanViolation::InvalidName { item, .. } | PlanViolation::NameTooLong { item, .. } => {
            at(item_span(def, item))
        }
        PlanViolation::EmptyName { role, position } => at(decl_span(def, *role, *position - 1)),
        PlanViolation::EmptyStageKind { stage } => at(stage_named(def, stage).and_then(kind_span)),
        PlanViolation::ParamNameTooLong { stage, param, .. }
        | PlanViolation::ParamTooDeep { stage, param, .. } => {
            at(stage_named(def, stage).and_then(|s| param_span(s, param)))
        }
        PlanViolation::DuplicateStage { name } => at(decls_named(def, DeclRole::Stage, name)
            .get(occurrence + 1)
            .copied()),
        PlanViolation::DuplicateBoundary { role, name } => {
            at(decls_named(def, *role, name).get(occurrence + 1).copied())
        }
        PlanViolation::NameClash { name, second, .. } => {
            at(decls_named(def, *second, name).get(occurrence).copied())
        }
        PlanViolation::BoundaryCount { role, found, .. } => {
            let statement = role.as_str();
            if !found.is_empty() {
                let extra = boundaries(def, *role).iter().skip(1).map(|b| b.span);
                return extra.map(|span| (span, message.to_owned())).collect();
            }
            if def.attempted.contains(&statement) {
                return Vec::new();
            }
            vec![(
                def.span,
                format!(
                    "{message}; add `{}` to the body",
                    example(def.target, statement)
                ),
            )]
        }
        PlanViolation::NoStages { .. } => {
            if def.attempted.contains(&"stage") {
                return Vec::new();
            }
            vec![(
                def.span,
                format!("{message}; declare one: `{}`", example(def.target, "stage")),
            )]
        }
        PlanViolation::TooManyStages { extra, .. } => {
            let extra = def.stages.iter().rev().take(extra.len()).rev();
            extra
                .map(|stage| (stage.name.span(), message.to_owned()))
                .collect()
        }
        PlanViolation::UnknownDependency {
            stage, dependency, ..
        }
        | PlanViolation::DependencyOnBoundary {
            stage, dependency, ..
        }
        | PlanViolation::DependencyNotEarlier { stage, dependency } => {
            at(dependency_span(def, stage, dependency, 0))
        }
        PlanViolation::DuplicateDependency { stage, dependency } => {
            at(dependency_span(def, stage, dependency, 1))
        }
        PlanViolation::SelfDependency { stage } => at(dependency_span(def, stage, stage, 0)),
        PlanViolation::Cycle { path, .. } => cycle(def, path, message),
        PlanViolation::RingCapacity { .. } | PlanViolation::RingCapacityTooLarge { .. } => {
            at(def.option_span("capacity"))
        }
        PlanViolation::ZeroShards
        | PlanViolation::TooManyShards { .. }
        | PlanViolation::TooManyRingThreads { .. } => at(def.option_span("shards")),
        PlanViolation::StrictOrderingWithShards { .. } => {
            at(def.option_span("ordering").or(def.option_span("shards")))
        }
        PlanViolation::MissingShardKey { .. } => {
            if def.attempted.contains(&"shard_key") {
                return Vec::new();
            }
            vec![(
                def.option_span("shards").unwrap_or(def.span),
                format!(
                    "{message}: add `{}` to the body",
                    example(def.target, "shard_key")
                ),
            )]
        }
        PlanViolation::MultiProducerNotSupported => at(def.option_span("producer")),
        PlanViolation::WorkQueueNotSupported => at(def.option_span("scheduling")),
        // Whole-plan violations (too many roles, more cycles than listed), and LaneGraph
        // rules a SingleRing function cannot break.
        _ => at(None),
    }
}

/// Where to report a LaneGraph violation: on the `connect` it is about, the lane it asks
/// for, or the declaration it names; `None` for the violations every target shares.
fn place_graph(
    def: &PipelineDef,
    violation: &PlanViolation,
    message: &str,
    occurrence: usize,
) -> Option<Vec<(At, String)>> {
    let at = |span: Option<Span>| vec![(At::Token(span.unwrap_or(def.span)), message.to_owned())];
    let whole = |c: Option<&ConnectDef>| {
        vec![(
            c.map_or(At::Token(def.span), ConnectDef::at),
            message.to_owned(),
        )]
    };
    let nth = |from: &str, to: &str, n: usize| connections(def, from, to).get(n).copied();
    Some(match violation {
        PlanViolation::Cycle { path, .. } => graph_cycle(def, path, message),
        // The macro's build of the model has features of its own; what the user's byteor
        // supports is checked by the expansion (see `expand::lane_graph`).
        PlanViolation::LaneKindDisabled { .. } | PlanViolation::BoundaryKindDisabled { .. } => {
            Vec::new()
        }
        PlanViolation::MissingOnFull => at(def.option_span("on_full")),
        PlanViolation::AfterOnLaneGraph { stage, after } => {
            let Some(decl) = stage_named(def, stage) else {
                return Some(at(None));
            };
            let span = decl.settings.iter().find_map(|s| match &s.arg {
                SettingArg::After(_) => Some(s.method.span()),
                _ => None,
            });
            let first = after.first().map_or("parse", String::as_str);
            vec![(
                At::Token(span.unwrap_or(decl.name.span())),
                format!("{message}: `connect({first}, {stage});`"),
            )]
        }
        PlanViolation::UnconnectedBoundary { role, name } => {
            let span = boundaries(def, *role)
                .iter()
                .find(|b| plan_label(&b.name.value()) == *name)
                .map(|b| b.handle.as_ref().map_or(b.name.span(), |(h, _)| h.span()));
            at(span)
        }
        PlanViolation::UnknownSource {
            from,
            to,
            suggestion,
        } => vec![(
            At::Token(nth(from, to, occurrence).map_or(def.span, |c| c.from.span())),
            with_handle(def, message, suggestion.as_deref()),
        )],
        PlanViolation::UnknownDestination {
            from,
            to,
            suggestion,
        } => vec![(
            At::Token(nth(from, to, occurrence).map_or(def.span, |c| c.to.span())),
            with_handle(def, message, suggestion.as_deref()),
        )],
        PlanViolation::ConnectionFromEgress { from, to } => {
            at(nth(from, to, occurrence).map(|c| c.from.span()))
        }
        PlanViolation::ConnectionToIngress { from, to } => {
            at(nth(from, to, occurrence).map(|c| c.to.span()))
        }
        PlanViolation::BoundaryToBoundary { from, to } => whole(nth(from, to, occurrence)),
        PlanViolation::DuplicateConnection { from, to } => whole(nth(from, to, occurrence + 1)),
        PlanViolation::SequencedSlotsCapacity { from, to, .. }
        | PlanViolation::SequencedSlotsGating { from, to, .. }
        | PlanViolation::UnexpectedGating { from, to, .. }
        | PlanViolation::LaneCapacity { from, to, .. }
        | PlanViolation::LaneCapacityTooLarge { from, to, .. } => {
            at(nth(from, to, occurrence).map(lane_span))
        }
        PlanViolation::TooManyBroadcastConsumers {
            from,
            consumers,
            max,
        } => {
            let extra = &consumers[(*max).min(consumers.len())..];
            spans_or_function(
                def,
                broadcasts(def, from)
                    .filter(|c| extra.contains(&plan_label(&def.plan_name(&c.to))))
                    .map(lane_span),
                message,
            )
        }
        PlanViolation::BroadcastCapacityMismatch { from, capacities } => {
            let first = capacities.first().map(|(_, c)| *c);
            spans_or_function(
                def,
                broadcasts(def, from)
                    .filter(|c| {
                        let capacity = c.lane.as_ref().and_then(|l| l.capacity.as_ref());
                        let capacity = capacity
                            .map_or(byteor_model::plan::DEFAULT_LANE_CAPACITY, |(_, value)| {
                                *value
                            });
                        Some(capacity) != first
                    })
                    .map(lane_span),
                message,
            )
        }
        PlanViolation::UnreachableStage { stage } | PlanViolation::StageWithoutEgress { stage } => {
            at(stage_named(def, stage).map(|s| s.name.span()))
        }
        _ => return None,
    })
}

/// The connections whose plan endpoints have the labels `from` and `to`, in order.
fn connections<'d>(def: &'d PipelineDef, from: &str, to: &str) -> Vec<&'d ConnectDef> {
    def.connections
        .iter()
        .filter(|c| {
            plan_label(&def.plan_name(&c.from)) == from && plan_label(&def.plan_name(&c.to)) == to
        })
        .collect()
}

/// The broadcast connections from the node labelled `from`.
fn broadcasts<'d>(def: &'d PipelineDef, from: &'d str) -> impl Iterator<Item = &'d ConnectDef> {
    def.connections.iter().filter(move |c| {
        plan_label(&def.plan_name(&c.from)) == from
            && c.lane
                .as_ref()
                .is_some_and(|l| l.syntax.kind == LaneKind::FanoutBroadcast)
    })
}

/// The lane a connection asks for, or the `connect` token when it asks for none.
fn lane_span(c: &ConnectDef) -> Span {
    c.lane.as_ref().map_or(c.connect.span(), |lane| lane.span())
}

fn spans_or_function(
    def: &PipelineDef,
    spans: impl Iterator<Item = Span>,
    message: &str,
) -> Vec<(At, String)> {
    let mut out: Vec<(At, String)> = spans.map(|s| (At::Token(s), message.to_owned())).collect();
    if out.is_empty() {
        out.push((At::Token(def.span), message.to_owned()));
    }
    out
}

impl ConnectDef {
    /// The whole `connect(from, to)`.
    fn at(&self) -> At {
        At::Range(self.connect.span(), self.close)
    }
}

/// A suggestion names a plan name; when a boundary of that name is bound to another handle,
/// say which, since `connect` takes handles.
fn with_handle(def: &PipelineDef, message: &str, suggestion: Option<&str>) -> String {
    let bound = suggestion.and_then(|name| {
        def.handles().into_iter().find_map(|(handle, node, _)| {
            let (role, boundary) = match node {
                Node::Ingress(i) => ("ingress", &def.ingress[i]),
                Node::Egress(i) => ("egress", &def.egress[i]),
                Node::Stage(_) => return None,
            };
            (plan_label(&boundary.name.value()) == name && ident_name(handle) != name)
                .then(|| (role, ident_name(handle)))
        })
    });
    match (suggestion, bound) {
        (Some(name), Some((role, handle))) => {
            format!("{message}; {role} `{name}` is bound to the handle `{handle}`")
        }
        _ => message.to_owned(),
    }
}

/// One error per connection of a LaneGraph cycle `a -> b -> ... -> a`, each on the
/// `connect(a, b)` that makes the step, numbered so the reader can follow the loop.
fn graph_cycle(def: &PipelineDef, path: &[String], message: &str) -> Vec<(At, String)> {
    let steps: Vec<(At, &String, &String)> = path
        .windows(2)
        .filter_map(|w| Some((connections(def, &w[0], &w[1]).first()?.at(), &w[0], &w[1])))
        .collect();
    if steps.is_empty() {
        return vec![(At::Token(def.span), message.to_owned())];
    }
    let n = steps.len();
    steps
        .into_iter()
        .enumerate()
        .map(|(k, (span, from, to))| {
            (
                span,
                format!(
                    "({}/{n}) {message}: `{from}` feeds `{to}` here, which closes the loop, so \
                     no event could ever leave these stages",
                    k + 1
                ),
            )
        })
        .collect()
}

/// One error per dependency of a cycle `a -> b -> ... -> a`, each on the `after` entry that
/// makes the step (`a` in `b`'s list), numbered so the reader can follow the loop.
fn cycle(def: &PipelineDef, path: &[String], message: &str) -> Vec<(Span, String)> {
    let steps: Vec<(Span, &String, &String)> = path
        .windows(2)
        .filter_map(|w| Some((dependency_span(def, &w[1], &w[0], 0)?, &w[0], &w[1])))
        .collect();
    if steps.is_empty() {
        return vec![(def.span, message.to_owned())];
    }
    let n = steps.len();
    steps
        .into_iter()
        .enumerate()
        .map(|(k, (span, dep, stage))| {
            (
                span,
                format!(
                    "({}/{n}) {message}: `{stage}` runs after `{dep}` here, which closes the \
                     loop, so none of these stages could ever start",
                    k + 1
                ),
            )
        })
        .collect()
}

impl PipelineDef {
    /// Where option `name`'s value was written.
    fn option_span(&self, name: &str) -> Option<Span> {
        self.option(name).map(|o| o.value.span())
    }
}

fn boundaries(def: &PipelineDef, role: DeclRole) -> &[super::parse::Boundary] {
    match role {
        DeclRole::Ingress => &def.ingress,
        _ => &def.egress,
    }
}

/// The `index`-th declaration of a catalog.
fn decl_span(def: &PipelineDef, role: DeclRole, index: usize) -> Option<Span> {
    match role {
        DeclRole::Stage => def.stages.get(index).map(|s| s.name.span()),
        _ => boundaries(def, role).get(index).map(|b| b.name.span()),
    }
}

/// Every declaration of a catalog whose name has the label `name`, in order.
fn decls_named(def: &PipelineDef, role: DeclRole, name: &str) -> Vec<Span> {
    match role {
        DeclRole::Stage => def
            .stages
            .iter()
            .filter(|s| plan_label(&s.name_str()) == name)
            .map(|s| s.name.span())
            .collect(),
        _ => boundaries(def, role)
            .iter()
            .filter(|b| plan_label(&b.name.value()) == name)
            .map(|b| b.name.span())
            .collect(),
    }
}

fn item_span(def: &PipelineDef, item: &NameItem) -> Option<Span> {
    match item {
        NameItem::Pipeline => def.option_span("name").or(Some(def.ident.span())),
        NameItem::Decl { role, position } => decl_span(def, *role, position - 1),
        NameItem::StageKind { stage } => stage_named(def, stage).and_then(kind_span),
        NameItem::ShardKey => def.shard_keys.first().map(|key| key.name.span()),
        _ => None,
    }
}

/// The first stage whose name has the label `label`.
fn stage_named<'d>(def: &'d PipelineDef, label: &str) -> Option<&'d StageDef> {
    def.stages
        .iter()
        .find(|stage| plan_label(&stage.name_str()) == label)
}

fn kind_span(stage: &StageDef) -> Option<Span> {
    stage.settings.iter().find_map(|s| match &s.arg {
        SettingArg::Kind(kind) => Some(kind.span()),
        _ => None,
    })
}

fn param_span(stage: &StageDef, param: &str) -> Option<Span> {
    stage.settings.iter().find_map(|s| match &s.arg {
        SettingArg::Param(key, _) if plan_label(&key.value()) == param => Some(key.span()),
        _ => None,
    })
}

/// The `nth` entry (0-based) naming `dependency` in the `after` list of stage `stage` (both
/// labels).
fn dependency_span(def: &PipelineDef, stage: &str, dependency: &str, nth: usize) -> Option<Span> {
    stage_named(def, stage)?
        .after()
        .iter()
        .filter(|dep| plan_label(&ident_name(dep)) == dependency)
        .nth(nth)
        .map(|dep| dep.span())
}

/// How a statement of a `target` function is written: `ingress("orders_in");`.
fn example(target: Target, statement: &str) -> &'static str {
    match (target, statement) {
        (Target::SingleRing, "stage") => STAGE_EXAMPLE,
        (Target::LaneGraph, "ingress") => GRAPH_INGRESS_EXAMPLE,
        (Target::LaneGraph, "egress") => GRAPH_EGRESS_EXAMPLE,
        (Target::LaneGraph, "stage") => GRAPH_STAGE_EXAMPLE,
        _ => STATEMENTS
            .iter()
            .find(|s| s.name == statement)
            .map_or("", |s| s.example),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::parse::tests::parse_src;
    use proc_macro2::TokenStream;
    use quote::quote;

    /// Every message parsing and plan validation report for a ring function with `body`.
    fn check_src(args: TokenStream, body: TokenStream) -> Vec<String> {
        let (def, mut errors) = parse_src(args, quote!(fn p() -> SingleRing<Order> { #body }));
        let mut diag = Diagnostics::new();
        super::super::check(&def.unwrap(), &mut diag);
        errors.extend(diag.messages());
        errors
    }

    fn ring(stages: TokenStream) -> TokenStream {
        quote! { ingress("source"); egress("sink"); #stages }
    }

    #[test]
    fn a_diamond_passes() {
        let errors = check_src(
            quote!(capacity = 1024),
            ring(quote! {
                let parse = stage(P);
                let risk = stage(R).after([parse]);
                let audit = stage(A).after([parse]).side_effects();
                let publish = stage(Pb).after([risk, audit]);
            }),
        );
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn a_three_stage_cycle_is_reported_on_each_member() {
        let errors = check_src(
            quote!(),
            ring(quote! {
                let a = stage(A).after([c]);
                let b = stage(B).after([a]);
                let c = stage(C).after([b]);
            }),
        );
        let tail = "here, which closes the loop, so none of these stages could ever start";
        assert_eq!(
            errors,
            [
                format!("(1/3) cycle: a -> b -> c -> a: `b` runs after `a` {tail}"),
                format!("(2/3) cycle: a -> b -> c -> a: `c` runs after `b` {tail}"),
                format!("(3/3) cycle: a -> b -> c -> a: `a` runs after `c` {tail}"),
            ]
        );
    }

    #[test]
    fn self_unknown_boundary_duplicate_and_later_dependencies() {
        let errors = check_src(
            quote!(),
            ring(quote! {
                let parse = stage(P).after([parse]);
                let risk = stage(R).after([pasre, source, audit, parse, parse]);
                let audit = stage(A).after([nothing_like_it]);
            }),
        );
        assert_eq!(
            errors,
            [
                "stage `parse` runs after itself",
                "stage `risk` runs after `pasre`: no such stage (did you mean `parse`?)",
                "stage `risk` runs after `source`, which is an ingress, not a stage: a stage \
                 without `after` already reads from the ingress",
                "stage `risk` runs after `audit`, so `audit` must come before `risk` in the \
                 stage list (single_ring stages are listed in topological order)",
                "stage `risk` lists `parse` more than once in `after`",
                "stage `audit` runs after `nothing_like_it`: no such stage",
            ]
        );
    }

    #[test]
    fn names_are_unique_across_stages_and_boundaries() {
        let errors = check_src(
            quote!(),
            ring(quote! {
                let source = stage(P);
                let risk = stage(R);
                let risk = stage(R2);
                let risk = stage(R3);
            }),
        );
        assert_eq!(
            errors,
            [
                "name `source` is declared both as ingress and as stage; stages and boundaries \
                 share one namespace",
                "stage `risk` is declared more than once",
                "stage `risk` is declared more than once",
                "a `single_ring` plan holds at most 4 stages in v1, found 4; `risk` past the limit",
            ][..3]
        );
    }

    #[test]
    fn each_stage_past_the_limit_is_an_error() {
        let errors = check_src(
            quote!(),
            ring(quote! {
                let a = stage(A); let b = stage(B); let c = stage(C);
                let d = stage(D); let e = stage(E); let f = stage(F);
            }),
        );
        let message = "a `single_ring` plan holds at most 4 stages in v1, found 6; `e`, `f` \
                       past the limit";
        assert_eq!(errors, [message, message]);
    }

    #[test]
    fn option_rules() {
        let errors = check_src(
            quote!(
                capacity = 1000,
                shards = 0,
                producer = "multi",
                scheduling = "work_queue"
            ),
            ring(quote!(let a = stage(A);)),
        );
        assert_eq!(
            errors,
            [
                "single_ring.capacity is 1000; it must be a power of two of at least 2 (the \
                 nearest are 512 and 1024)",
                "single_ring.shards is 0; it must be at least 1",
                "single_ring.producer `multi` is not supported in v1: a single_ring has exactly \
                 one producer",
                "single_ring.scheduling `work_queue` is not supported in v1: single_ring stages \
                 run on dedicated threads",
            ]
        );

        let errors = check_src(
            quote!(capacity = 1, capacity = 4, shards = 5000000000),
            ring(quote!(let a = stage(A);)),
        );
        assert_eq!(
            errors,
            [
                "`capacity` is given twice",
                "`shards` must fit in 32 bits; 5000000000 does not",
                "single_ring.capacity is 1; it must be a power of two of at least 2 (the \
                 smallest is 2)",
            ]
        );
    }

    #[test]
    fn sharding_rules() {
        let errors = check_src(
            quote!(shards = 4, ordering = "strict"),
            ring(quote!(let a = stage(A);)),
        );
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("single_ring.ordering `strict` requires shards = 1"));
        assert!(errors[1].starts_with("single_ring.shards = 4 requires a non-empty `shard_key`"));
        assert!(errors[1].ends_with(
            ": add `shard_key(\"account\", |order: &Order| order.account);` to the body"
        ));

        // A shard key on one shard is what `RingBuilder::shards(1, ..)` builds: allowed.
        for args in [quote!(), quote!(shards = 2)] {
            let errors = check_src(
                args,
                ring(quote! { shard_key("account", |o: &Order| o.account); let a = stage(A); }),
            );
            assert!(errors.is_empty(), "{errors:?}");
        }

        let errors = check_src(
            quote!(shards = 2),
            ring(quote! {
                shard_key("account id", |o: &Order| o.account);
                shard_key("desk", |o: &Order| o.desk);
                let a = stage(A);
            }),
        );
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("a ring has one shard key"));
        assert!(errors[1].starts_with("single_ring.shard_key `account id`: character "));
    }

    #[test]
    fn boundaries_are_required_once_and_stages_at_least_once() {
        let errors = check_src(quote!(), quote!(egress("a"); egress("b");));
        assert_eq!(
            errors,
            [
                "a `single_ring` plan needs exactly one ingress, found none; add \
                 `ingress(\"orders_in\");` to the body",
                "a `single_ring` plan needs exactly one egress, found 2: `a`, `b`",
                "a `single_ring` plan needs at least one stage, found none; declare one: \
                 `let risk = stage(Risk::new()).after([parse]);`",
            ]
        );
    }

    #[test]
    fn settings_are_set_once_and_params_keyed_once() {
        let errors = check_src(
            quote!(),
            ring(quote! {
                let a = stage(A).kind("x").kind("y").param("k", 1).param("k", 2).param("j", 3);
                let b = stage(B).after([a]).after([a]);
            }),
        );
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert_eq!(errors[0], "`kind` is set twice on stage `a`");
        assert_eq!(errors[1], "parameter `k` is set twice on stage `a`");
        assert!(errors[2].ends_with("list every dependency in one `.after([..])`"));
    }

    #[test]
    fn names_follow_the_name_rule_where_the_tokens_show_them() {
        let long = "k".repeat(65);
        let errors = check_src(
            quote!(name = "my orders"),
            quote! {
                ingress("in.bound"); egress("");
                let a = stage(A).kind("parse/order").kind_of_nothing().param(#long, 1);
                let b = stage(B).kind(computed()).param("deep", [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]);
            },
        );
        assert_eq!(errors.len(), 7, "{errors:#?}");
        assert!(errors[0].starts_with("No such stage setting `kind_of_nothing`"));
        assert!(errors[1].starts_with("pipeline name `my orders`: character "));
        assert!(errors[2].starts_with("ingress #1 name `in.bound`: character '.'"));
        assert_eq!(errors[3], "egress #1 has an empty name");
        assert!(errors[4].starts_with("stage `a` kind `parse/order`: character '/'"));
        assert!(errors[5].starts_with("stage `a` param `kkkk"));
        assert!(errors[6].starts_with("stage `b` param `deep` nests 33 levels deep"));
    }

    /// Every message parsing and plan validation report for a graph function with `body`.
    fn check_graph(args: TokenStream, body: TokenStream) -> Vec<String> {
        let (def, mut errors) = parse_src(args, quote!(fn g() -> LaneGraph { #body }));
        let mut diag = Diagnostics::new();
        super::super::check(&def.unwrap(), &mut diag);
        errors.extend(diag.messages());
        errors
    }

    fn graph(connections: TokenStream) -> TokenStream {
        quote! {
            let raw = ingress::<u64>("raw_in");
            let parse = stage(P);
            let risk = stage(R);
            let out = egress::<u64>("out");
            #connections
        }
    }

    #[test]
    fn a_graph_with_every_lane_passes_whatever_the_macros_features() {
        let errors = check_graph(
            quote!(on_full = drop),
            graph(quote! {
                connect(raw, parse).lane(fanout_broadcast());
                connect(raw, risk).lane(fanout_broadcast().capacity(1024));
                connect(parse, out).lane(journal());
                connect(risk, out).lane(sequenced_slots(100));
            }),
        );
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn connections_to_unknown_handles_suggest_the_nearest_name() {
        let errors = check_graph(
            quote!(),
            graph(quote! {
                connect(raw, pasre);
                connect(parse, risk);
                connect(risk, ou);
                connect(rwa, parse);
            }),
        );
        assert_eq!(
            errors,
            [
                "egress `out` is not used by any connection",
                "connection `raw_in -> pasre`: no stage or egress named `pasre` (did you mean \
                 `parse`?)",
                "connection `risk -> ou`: no stage or egress named `ou` (did you mean `out`?)",
                "connection `rwa -> parse`: no ingress or stage named `rwa`",
                "stage `parse` is not reachable from any ingress",
                "stage `parse` does not lead to any egress",
                "stage `risk` is not reachable from any ingress",
                "stage `risk` does not lead to any egress",
            ]
        );
        // A boundary bound to another name: the suggestion says which handle to write.
        let errors = check_graph(
            quote!(),
            graph(quote! {
                connect(raw, parse); connect(parse, risk); connect(risk, out_);
                connect(raw_i, risk);
            }),
        );
        assert!(
            errors.iter().any(|e| e.ends_with(
                "(did you mean `raw_in`?); ingress `raw_in` is bound to the handle `raw`"
            )),
            "{errors:#?}"
        );
    }

    #[test]
    fn a_graph_cycle_is_reported_on_each_connection() {
        let errors = check_graph(
            quote!(),
            graph(quote! {
                connect(raw, parse);
                connect(parse, risk);
                connect(risk, parse);
                connect(risk, out);
            }),
        );
        let tail = "here, which closes the loop, so no event could ever leave these stages";
        assert_eq!(
            errors,
            [
                format!("(1/2) cycle: parse -> risk -> parse: `parse` feeds `risk` {tail}"),
                format!("(2/2) cycle: parse -> risk -> parse: `risk` feeds `parse` {tail}"),
            ]
        );
    }

    #[test]
    fn connection_shapes_and_lanes() {
        let errors = check_graph(
            quote!(),
            graph(quote! {
                connect(raw, parse).lane(sequenced_slots(0));
                connect(parse, risk).lane(events().capacity(100));
                connect(parse, risk);
                connect(risk, out).lane(journal().capacity(1 << 20));
                connect(out, parse);
                connect(risk, raw);
                connect(raw, out);
            }),
        );
        assert_eq!(
            errors,
            [
                "a lane capacity is an integer literal, so that it is checked at compile time",
                "connection `raw_in -> parse`: lane kind `sequenced_slots` needs an explicit \
                 capacity > 0, found 0",
                "connection `parse -> risk`: lane capacity 100 must be a power of two of at \
                 least 2",
                "connection `parse -> risk` is declared more than once",
                "connection `out -> parse` starts at egress `out`; an egress can only be a \
                 destination",
                "connection `risk -> raw_in` ends at ingress `raw_in`; an ingress can only be a \
                 source",
                "connection `raw_in -> out` joins two boundaries; connect them through a stage",
            ]
        );
    }

    #[test]
    fn graph_declarations() {
        let errors = check_graph(
            quote!(),
            quote! {
                let raw = ingress::<u64>("raw");
                let unused = ingress::<u64>("unused");
                let a = stage(A);
                let b = stage(B).after([a]);
                let a = stage(A2);
                connect(raw, a);
                connect(a, b);
            },
        );
        assert_eq!(
            errors,
            [
                "stage `a` is declared more than once",
                "a `lane_graph` plan needs at least one egress, found none; add \
                 `let decisions = egress::<Decision>(\"decisions\");` to the body",
                "stage `b` has `after = [`a`]`, but `after` lists are single_ring only; wire \
                 lane_graph stages with connections: `connect(a, b);`",
                "ingress `unused` is not used by any connection",
            ]
        );
    }
}
