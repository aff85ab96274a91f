//! Code generation for `-> LaneGraph`: the typed LaneGraph builder calls a person would write.
//!
//! ```text
//! #[pipeline(on_full = "block")]              fn plant() -> Result<(LaneGraphPipeline, Output<u64>, Input<u64>), BuildError> {
//! fn plant() -> LaneGraph {               =>      let mut graph = LaneGraph::builder("plant");
//!     let raw = ingress::<u64>("raw");                graph.on_full(OnFull::Block);
//!     let double = stage(Double);                     let raw = graph.ingress::<u64>("raw");
//!     let out = egress::<u64>("out");                 let double = graph.stage("double", Double);
//!     connect(raw, double);                           let out = graph.egress::<u64>("out");
//!     connect(double, out)                            graph.connect(&raw, &double.0);
//!         .lane(sequenced_slots(64));                 graph.connect_with(&double.1, &out, LaneIntent::sequenced_slots(64));
//! }                                                   Result::map(graph.build(), |pipeline| (pipeline, raw, out))
//!                                                 }
//! ```
//!
//! The function returns the built pipeline and the handle of each ingress and egress, in the
//! order the body declares them: `spawn` hands out a producer or receiver per handle.
//! Declarations come first, then the connections, each in body order, so the plan is the one
//! [`plan_of`](crate::pipeline::plan::plan_of) validated. A `connect` keeps the user's
//! spans, so a connection between different event types is a type error on that `connect`;
//! a lane kind that needs a cargo feature is checked against the user's `byteor` by a macro
//! byteor defines according to its own features.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Index};

use super::{pipeline_name, signature_with};
use crate::pipeline::parse::{ConnectDef, Node, PipelineDef, Value};
use crate::pipeline::syntax::Choice;
use byteor_model::vocab::{LaneKind, OnFull};

/// The function for a graph that passed every check.
pub(crate) fn expand(def: &PipelineDef) -> TokenStream {
    let Some(graph_path) = &def.graph_path else {
        return expand_with_errors(def, TokenStream::new(), super::keep_values(def));
    };
    let graph = Ident::new("graph", Span::mixed_site());
    let name = pipeline_name(def);
    let on_full = def
        .option("on_full")
        .and_then(|option| match &option.value {
            Value::Choice(Choice::OnFull(on_full), span) => {
                let variant = Ident::new(
                    match on_full {
                        OnFull::Block => "Block",
                        OnFull::Drop => "Drop",
                    },
                    *span,
                );
                Some(quote_spanned!(*span=> #graph.on_full(::byteor::plan::OnFull::#variant);))
            }
            _ => None,
        });

    let mut declarations = Vec::new();
    let mut stages = Vec::new();
    for (handle, node, _) in def.handles() {
        declarations.push(match node {
            Node::Ingress(i) | Node::Egress(i) => {
                let (boundary, method) = match node {
                    Node::Ingress(_) => (&def.ingress[i], "ingress"),
                    _ => (&def.egress[i], "egress"),
                };
                let Some((_, event)) = &boundary.handle else {
                    continue;
                };
                // An event type that cannot travel a lane is reported on the type.
                let method = Ident::new(method, event.span());
                let name = &boundary.name;
                quote!(let #handle = #graph.#method::<#event>(#name);)
            }
            Node::Stage(i) => {
                let stage = &def.stages[i];
                let name = Literal::string(&stage.name_str());
                let value = &stage.value;
                // A value that is no `LaneStage` is reported on the value.
                let method = Ident::new("stage", value.span());
                stages.push(handle);
                quote!(let #handle = #graph.#method(#name, #value);)
            }
        });
    }
    let connections = def.connections.iter().map(|c| connection(def, &graph, c));
    let returned = returned_handles(def);
    let checks = feature_checks(def);
    let built = Ident::new("pipeline", Span::mixed_site());
    let signature = signature_with(def, Some(output(def)));
    quote! {
        #signature {
            #(#checks)*
            let mut #graph = #graph_path::builder(#name);
            #on_full
            #(#declarations)*
            #(#connections)*
            // Every stage handle is a stage name; its ends are what `connect` used.
            let _ = (#(&#stages,)*);
            ::core::result::Result::map(#graph.build(), |#built| (#built, #(#returned,)*))
        }
    }
}

/// `graph.connect(&from, &to);` or `graph.connect_with(&from, &to, lane);`, spanned on the
/// user's `connect(from, to)`: a type mismatch points at the handle of the other type.
fn connection(def: &PipelineDef, graph: &Ident, c: &ConnectDef) -> TokenStream {
    let end = |handle: &Ident, source: bool| {
        let span = handle.span();
        match def.node(handle) {
            Some(Node::Stage(_)) => {
                let index = Index {
                    index: u32::from(source),
                    span,
                };
                quote_spanned!(span=> &#handle.#index)
            }
            _ => quote_spanned!(span=> &#handle),
        }
    };
    let from = end(&c.from, true);
    let to = end(&c.to, false);
    let span = c.connect.span();
    match &c.lane {
        None => {
            let method = Ident::new("connect", span);
            quote_spanned!(span=> #graph.#method(#from, #to);)
        }
        Some(lane) => {
            let method = Ident::new("connect_with", span);
            let lane_span = lane.ident.span();
            let kind = Ident::new(
                match lane.syntax.kind {
                    LaneKind::Events => "Events",
                    LaneKind::Journal => "Journal",
                    LaneKind::SequencedSlots => "SequencedSlots",
                    LaneKind::FanoutBroadcast => "FanoutBroadcast",
                },
                lane_span,
            );
            let intent = quote_spanned!(lane_span=> ::byteor::plan::LaneIntent);
            let intent = match (lane.syntax.kind, &lane.capacity) {
                (LaneKind::SequencedSlots, Some((lit, value))) => {
                    let capacity = capacity_literal(*value, lit.span());
                    quote_spanned!(lane_span=> #intent::sequenced_slots(#capacity))
                }
                (_, Some((lit, value))) => {
                    let capacity = capacity_literal(*value, lit.span());
                    quote_spanned!(lane_span=>
                        #intent::of(::byteor::vocab::LaneKind::#kind).capacity(#capacity))
                }
                (_, None) => {
                    quote_spanned!(lane_span=> #intent::of(::byteor::vocab::LaneKind::#kind))
                }
            };
            let intent = match &lane.on_full {
                Some((on_full_span, on_full)) => {
                    let variant = Ident::new(
                        match on_full {
                            OnFull::Block => "Block",
                            OnFull::Drop => "Drop",
                        },
                        *on_full_span,
                    );
                    quote_spanned!(lane_span=> #intent.on_full(::byteor::vocab::OnFull::#variant))
                }
                None => intent,
            };
            quote_spanned!(span=> #graph.#method(#from, #to, #intent);)
        }
    }
}

fn capacity_literal(value: u32, span: Span) -> Literal {
    let mut literal = Literal::u32_unsuffixed(value);
    literal.set_span(span);
    literal
}

/// The handles the function returns: each ingress and egress, in body order.
fn returned_handles(def: &PipelineDef) -> Vec<&Ident> {
    def.handles()
        .into_iter()
        .filter(|(_, node, _)| !matches!(node, Node::Stage(_)))
        .map(|(handle, _, _)| handle)
        .collect()
}

/// `-> Result<(LaneGraphPipeline, Output<A>, .., Input<B>, ..), BuildError>`.
fn output(def: &PipelineDef) -> TokenStream {
    let handles = def.handles().into_iter().filter_map(|(_, node, _)| {
        let (boundary, end) = match node {
            Node::Ingress(i) => (&def.ingress[i], "Output"),
            Node::Egress(i) => (&def.egress[i], "Input"),
            Node::Stage(_) => return None,
        };
        let (_, event) = boundary.handle.as_ref()?;
        let end = format_ident!("{}", end);
        Some(quote!(::byteor::exec::lane_graph::#end<#event>))
    });
    let span = def.graph_path.as_ref().map_or(def.span, |path| path.span());
    quote_spanned! {span=>
        -> ::core::result::Result<
            (::byteor::exec::lane_graph::LaneGraphPipeline, #(#handles,)*),
            ::byteor::exec::BuildError,
        >
    }
}

/// For each lane whose kind needs a cargo feature: a call of the byteor macro that checks it
/// in the user's build (nothing when the feature is on, a compile error on the lane when it
/// is off). The macro's own build of the plan model may have other features.
fn feature_checks(def: &PipelineDef) -> Vec<TokenStream> {
    def.connections
        .iter()
        .filter_map(|c| {
            let lane = c.lane.as_ref()?;
            let check = Ident::new(lane.syntax.feature_check?, lane.ident.span());
            let at = &lane.ident;
            Some(quote_spanned!(at.span()=> ::byteor::#check!(#at);))
        })
        .collect()
}

/// The function for a graph with errors: the `compile_error!`s, the feature checks, the stage
/// values kept for the IDE, and a body of the right type that never runs.
pub(crate) fn expand_with_errors(
    def: &PipelineDef,
    errors: TokenStream,
    keep_values: TokenStream,
) -> TokenStream {
    let output = def.graph_path.as_ref().map(|_| output(def));
    let signature = signature_with(def, output);
    let checks = feature_checks(def);
    // The path to `LaneGraph` stays in use, as in the expansion without errors.
    let body = def.graph_path.as_ref().map(|path| {
        quote! {
            let _: ::core::option::Option<#path> = ::core::option::Option::None;
            ::core::unreachable!()
        }
    });
    quote! {
        #signature {
            #errors
            #(#checks)*
            #keep_values
            #body
        }
    }
}
