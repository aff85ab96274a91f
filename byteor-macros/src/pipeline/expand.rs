//! Code generation: a [`PipelineDef`] whose plan validated becomes the typed-builder calls a person would
//! write by hand, inside a function with the same name, attributes and parameters.
//!
//! ```text
//! #[pipeline(capacity = 64)]                 fn orders() -> Result<SingleRingPipeline<Order, ..>, BuildError> {
//! fn orders() -> SingleRing<Order> {     =>      SingleRing::<Order>::build("orders", |ring| {
//!     ingress("in"); egress("out");                  let ring = ring.capacity(64);
//!     let a = stage(A);                              let ring = ring.ingress("in").egress("out");
//!     let b = stage(B).after([a]);                   let (ring, a) = ring.stage(StageDecl::new("a"), A);
//! }                                                  let (ring, b) = ring.stage_after(StageDecl::new("b"), B, [a]);
//!                                                    ring.build()
//!                                                })
//!                                            }
//! ```
//!
//! Stage values, settings and dependency names keep the user's spans, so type errors (a stage
//! that does not handle the event type, a non-`Clone` stage on a sharded ring) point at the
//! user's code. The builder's variable has mixed-site hygiene, so it cannot clash with names
//! in the user's expressions.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Ident, Type};

use super::parse::{PipelineDef, SettingArg, Value};
use super::syntax::{Choice, Target};
use byteor_model::vocab::OrderingMode;

mod lane_graph;

/// The function for a pipeline that passed every check.
pub(crate) fn expand(def: &PipelineDef) -> TokenStream {
    if def.target == Target::LaneGraph {
        return lane_graph::expand(def);
    }
    let (Some(event), Some(ring_path)) = (&def.event, &def.ring_path) else {
        // `parse` reports a return type it cannot read; stay total regardless.
        return expand_with_errors(def, TokenStream::new());
    };
    let ring = ring_ident();
    let name = pipeline_name(def);

    let config: Vec<TokenStream> = def
        .options
        .iter()
        .filter_map(|option| {
            let method = format_ident!("{}", option.syntax.builder_method?);
            let arg = match &option.value {
                Value::Int(lit, value) => {
                    let mut literal = Literal::u32_unsuffixed(*value);
                    literal.set_span(lit.span());
                    quote!(#literal)
                }
                Value::Choice(Choice::Ordering(ordering), span) => {
                    let variant = match ordering {
                        OrderingMode::Strict => "Strict",
                        OrderingMode::PerKey => "PerKey",
                    };
                    let variant = Ident::new(variant, *span);
                    quote_spanned!(*span=> ::byteor::plan::OrderingMode::#variant)
                }
                // Producer and scheduling modes: the plan validated, so each is the builder's
                // one mode, with nothing to call.
                Value::Choice(..) => return None,
                Value::Expr(expr) => quote!(#expr),
                Value::Str(lit) => quote!(#lit),
            };
            Some(quote!(.#method(#arg)))
        })
        .collect();

    // Sharding first: `shards` picks per-key ordering for several shards, and an explicit
    // `ordering` (configured after it) stands, exactly as the validated plan says.
    let sharding = def.shard_keys.first().map(|key| {
        let mut shards = Literal::u32_unsuffixed(def.int_option("shards").unwrap_or(1));
        shards.set_span(def.option("shards").map_or(key.span, |o| o.value.span()));
        let key_name = &key.name;
        let key_fn = &key.key_fn;
        quote!(let #ring = #ring.shards(#shards, #key_name, #key_fn);)
    });

    let ingress = def.ingress.first().map(|b| &b.name);
    let egress = def.egress.first().map(|b| &b.name);

    let mut stages = Vec::new();
    let mut handles = Vec::new();
    for stage in &def.stages {
        let handle = &stage.name;
        let name = Literal::string(&stage.name_str());
        let value = &stage.value;
        let settings = stage.settings.iter().filter_map(|setting| {
            let method = &setting.method;
            match &setting.arg {
                SettingArg::After(_) => None,
                SettingArg::SideEffects(on) => Some(quote!(.#method(#on))),
                SettingArg::Kind(kind) => Some(quote!(.#method(#kind))),
                SettingArg::Param(key, value) => Some(quote!(.#method(#key, #value))),
            }
        });
        let decl = quote!(::byteor::plan::StageDecl::new(#name) #(#settings)*);
        let after = stage.after();
        // The builder's type errors about a stage (wrong event type, not `Clone` on a sharded
        // ring) are reported on the method call: give it the stage value's span.
        let span = value.span();
        stages.push(if after.is_empty() {
            let method = Ident::new("stage", span);
            quote!(let (#ring, #handle) = #ring.#method(#decl, #value);)
        } else {
            let method = Ident::new("stage_after", span);
            quote!(let (#ring, #handle) = #ring.#method(#decl, #value, [#(#after),*]);)
        });
        handles.push(handle);
    }

    // `build` fails to type-check only because of a stage; say so on the function name.
    let built = Ident::new("ring", Span::mixed_site().located_at(def.span));
    let build = quote_spanned!(def.span=> #built.build());
    let signature = signature(def, Some(event));
    quote! {
        #signature {
            #ring_path::<#event>::build(#name, |#ring| {
                #sharding
                let #ring = #ring #(#config)*;
                let #ring = #ring.ingress(#ingress).egress(#egress);
                #(#stages)*
                // Every handle is a stage name; final stages are simply not depended on.
                let _ = (#(&#handles,)*);
                #build
            })
        }
    }
}

/// The function for a pipeline with errors: the `compile_error!`s, plus a body of the right
/// type (a one-stage placeholder pipeline that is never built, since compilation fails) so
/// that callers and IDEs still type-check. Stage values are kept in a closure that is never
/// called, so completion and type errors inside them keep working.
pub(crate) fn expand_with_errors(def: &PipelineDef, errors: TokenStream) -> TokenStream {
    let keep_values = keep_values(def);
    if def.target == Target::LaneGraph {
        return lane_graph::expand_with_errors(def, errors, keep_values);
    }
    let (Some(event), Some(ring_path)) = (&def.event, &def.ring_path) else {
        let signature = signature(def, None);
        return quote! {
            #signature {
                #errors
                #keep_values
            }
        };
    };
    let ring = ring_ident();
    let name = pipeline_name(def);
    let signature = signature(def, Some(event));
    quote! {
        #signature {
            #errors
            #keep_values
            #ring_path::<#event>::build(#name, |#ring| {
                let (#ring, _) = #ring.ingress("").egress("").stage(
                    "",
                    ::byteor::exec::from_fn(
                        |_: &#event, _: &::byteor::exec::EventContext| ::core::result::Result::Ok(())
                    ),
                );
                #ring.build()
            })
        }
    }
}

/// Stage values in a closure that is never called: completion and type errors inside them
/// keep working when the function has errors.
fn keep_values(def: &PipelineDef) -> TokenStream {
    let values = def.stages.iter().map(|s| &s.value);
    quote! {
        let _ = || { #(let _ = #values;)* };
    }
}

/// The builder variable: mixed-site hygiene keeps it apart from every user identifier.
fn ring_ident() -> Ident {
    Ident::new("ring", Span::mixed_site())
}

/// `name = "..."`, or the function name.
fn pipeline_name(def: &PipelineDef) -> Literal {
    match def.option("name").map(|o| &o.value) {
        Some(Value::Str(lit)) => {
            let mut literal = Literal::string(&lit.value());
            literal.set_span(lit.span());
            literal
        }
        _ => Literal::string(&def.ident.unraw().to_string()),
    }
}

/// `attrs vis fn name<generics>(inputs) -> Result<SingleRingPipeline<E, ..>, BuildError> where ..`
fn signature(def: &PipelineDef, event: Option<&Type>) -> TokenStream {
    let output = event.map(|event| {
        let span = event.span();
        quote_spanned! {span=>
            -> ::core::result::Result<
                ::byteor::exec::SingleRingPipeline<
                    #event,
                    impl ::byteor::exec::StageList<#event>,
                    impl ::byteor::exec::Router<#event>,
                >,
                ::byteor::exec::BuildError,
            >
        }
    });
    signature_with(def, output)
}

/// `attrs vis fn name<generics>(inputs) output where ..`
fn signature_with(def: &PipelineDef, output: Option<TokenStream>) -> TokenStream {
    let PipelineDef {
        attrs,
        vis,
        ident,
        generics,
        inputs,
        ..
    } = def;
    let where_clause = &generics.where_clause;
    quote! {
        #(#attrs)*
        #vis fn #ident #generics (#inputs) #output #where_clause
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::parse::tests::parse_src;

    fn expand_src(args: TokenStream, item: TokenStream) -> String {
        let (def, errors) = parse_src(args, item);
        assert!(errors.is_empty(), "{errors:?}");
        expand(&def.unwrap()).to_string()
    }

    #[test]
    fn stages_become_builder_calls_in_order() {
        let out = expand_src(
            quote!(capacity = 64, ordering = "strict", producer = "single"),
            quote! {
                fn orders(limit: u32) -> SingleRing<Order> {
                    ingress("orders_in");
                    egress("fills_out");
                    let parse = stage(Parse::new(limit));
                    let audit = stage(Audit).side_effects().param("level", 2).after([parse]);
                }
            },
        );
        let expected = [
            "fn orders (limit : u32) -> :: core :: result :: Result < :: byteor :: exec :: \
             SingleRingPipeline < Order , impl :: byteor :: exec :: StageList < Order > , impl \
             :: byteor :: exec :: Router < Order > , > , :: byteor :: exec :: BuildError , >",
            "SingleRing :: < Order > :: build (\"orders\" , | ring |",
            "let ring = ring . capacity (64) . ordering (:: byteor :: plan :: OrderingMode :: \
             Strict) ;",
            "let ring = ring . ingress (\"orders_in\") . egress (\"fills_out\") ;",
            "let (ring , parse) = ring . stage (:: byteor :: plan :: StageDecl :: new \
             (\"parse\") , Parse :: new (limit)) ;",
            "let (ring , audit) = ring . stage_after (:: byteor :: plan :: StageDecl :: new \
             (\"audit\") . side_effects (true) . param (\"level\" , 2) , Audit , [parse]) ;",
            "let _ = (& parse , & audit ,) ; ring . build () }) }",
        ];
        let mut rest = out.as_str();
        for part in expected {
            let at = rest
                .find(part)
                .unwrap_or_else(|| panic!("missing `{part}` in\n{out}"));
            rest = &rest[at + part.len()..];
        }
        assert!(
            !out.contains("producer"),
            "the builder's default mode needs no call"
        );
    }

    #[test]
    fn sharding_and_name_and_wait_strategy() {
        let out = expand_src(
            quote!(
                name = "books",
                shards = 4,
                wait_strategy = WaitStrategy::BusySpin
            ),
            quote! {
                pub(crate) fn p() -> byteor::exec::SingleRing<Quote> {
                    shard_key("symbol", |q: &Quote| q.symbol);
                    ingress("a"); egress("b");
                    let s = stage(S);
                }
            },
        );
        assert!(out.contains("build (\"books\" ,"), "{out}");
        assert!(
            out.contains(". wait_strategy (WaitStrategy :: BusySpin)"),
            "{out}"
        );
        assert!(
            out.contains(
                "let ring = ring . shards (4 , \"symbol\" , | q : & Quote | q . symbol) ;"
            ),
            "{out}"
        );
        assert!(out.starts_with("pub (crate) fn p ()"), "{out}");
        assert!(
            out.contains("byteor :: exec :: SingleRing :: < Quote > :: build"),
            "{out}"
        );
    }

    #[test]
    fn with_errors_the_function_keeps_its_type_and_stage_values() {
        let (def, _) = parse_src(
            quote!(),
            quote! {
                fn p(x: u32) -> SingleRing<Order> {
                    let a = stage(A::new(x));
                }
            },
        );
        let out = expand_with_errors(&def.unwrap(), quote!(compile_error!("boom");)).to_string();
        assert!(out.contains("compile_error ! (\"boom\")"), "{out}");
        assert!(
            out.contains("let _ = || { let _ = A :: new (x) ; } ;"),
            "{out}"
        );
        assert!(out.contains("-> :: core :: result :: Result <"), "{out}");
        assert!(out.contains(":: byteor :: exec :: from_fn"), "{out}");
    }

    #[test]
    fn a_graph_becomes_lane_graph_builder_calls() {
        let out = expand_src(
            quote!(on_full = "block"),
            quote! {
                fn plant(threshold: u64) -> LaneGraph {
                    let raw = ingress::<Packet>("raw_in");
                    let parse = stage(Parser::default());
                    connect(raw, parse);
                    let risk = stage(Risk { threshold });
                    let out = egress::<Decision>("decisions");
                    connect(parse, risk).lane(sequenced_slots(64));
                    connect(risk, out).lane(journal());
                    connect(raw, risk).lane(fanout_broadcast().capacity(8));
                }
            },
        );
        let expected = [
            "fn plant (threshold : u64) -> :: core :: result :: Result < (:: byteor :: exec :: \
             lane_graph :: LaneGraphPipeline , :: byteor :: exec :: lane_graph :: Output < \
             Packet > , :: byteor :: exec :: lane_graph :: Input < Decision > ,) , :: byteor :: \
             exec :: BuildError , >",
            ":: byteor :: __pipeline_lane_graph_journal ! (journal) ;",
            ":: byteor :: __pipeline_lane_graph_fanout ! (fanout_broadcast) ;",
            "let mut graph = LaneGraph :: builder (\"plant\") ;",
            "graph . on_full (:: byteor :: plan :: OnFull :: Block) ;",
            "let raw = graph . ingress :: < Packet > (\"raw_in\") ;",
            "let parse = graph . stage (\"parse\" , Parser :: default ()) ;",
            "let risk = graph . stage (\"risk\" , Risk { threshold }) ;",
            "let out = graph . egress :: < Decision > (\"decisions\") ;",
            "graph . connect (& raw , & parse . 0) ;",
            "graph . connect_with (& parse . 1 , & risk . 0 , :: byteor :: plan :: LaneIntent :: \
             sequenced_slots (64)) ;",
            "graph . connect_with (& risk . 1 , & out , :: byteor :: plan :: LaneIntent :: of (:: \
             byteor :: vocab :: LaneKind :: Journal)) ;",
            "graph . connect_with (& raw , & risk . 0 , :: byteor :: plan :: LaneIntent :: of (:: \
             byteor :: vocab :: LaneKind :: FanoutBroadcast) . capacity (8)) ;",
            "let _ = (& parse , & risk ,) ;",
            ":: core :: result :: Result :: map (graph . build () , | pipeline | (pipeline , raw , \
             out ,))",
        ];
        let mut rest = out.as_str();
        for part in expected {
            let at = rest
                .find(part)
                .unwrap_or_else(|| panic!("missing `{part}` in\n{out}"));
            rest = &rest[at + part.len()..];
        }
    }

    #[test]
    fn a_graph_with_errors_keeps_its_type_and_its_feature_checks() {
        let (def, _) = parse_src(
            quote!(),
            quote! {
                fn g() -> LaneGraph {
                    let raw = ingress::<u64>("raw");
                    let a = stage(A::new());
                    connect(raw, a).lane(journal());
                }
            },
        );
        let out = expand_with_errors(&def.unwrap(), quote!(compile_error!("boom");)).to_string();
        assert!(out.contains("compile_error ! (\"boom\")"), "{out}");
        assert!(
            out.contains(":: byteor :: __pipeline_lane_graph_journal ! (journal)"),
            "{out}"
        );
        assert!(
            out.contains("let _ = || { let _ = A :: new () ; } ;"),
            "{out}"
        );
        assert!(out.contains("Output < u64 > ,) ,"), "{out}");
        assert!(out.ends_with(":: core :: unreachable ! () }"), "{out}");
    }
}
