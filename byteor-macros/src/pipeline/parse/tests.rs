//! Parser tests.

use super::*;
use byteor_model::plan::LaneKind;
use quote::quote;

/// Parses an attribute and a function, returning the definition and every message.
pub(crate) fn parse_src(
    args: TokenStream,
    item: TokenStream,
) -> (Option<PipelineDef>, Vec<String>) {
    let mut diag = Diagnostics::new();
    let def = parse(args, item, &mut diag);
    (def, diag.messages())
}

#[test]
fn a_full_pipeline_parses() {
    let (def, errors) = parse_src(
        quote!(
            name = "orders",
            capacity = 1024,
            ordering = "strict",
            producer = single
        ),
        quote! {
            /// Docs stay.
            pub fn orders(max_qty: i64) -> byteor::exec::SingleRing<Order> {
                ingress("orders_in");
                egress("fills_out");
                let parse = stage(Parse::new(max_qty));
                let risk = stage(Risk::default()).after([parse]).param("limit", 5);
                let audit = stage(Audit).side_effects().kind("audit_log").after([parse]);
                let publish = stage(Publish).after([risk, audit]);
            }
        },
    );
    assert!(errors.is_empty(), "{errors:?}");
    let def = def.unwrap();
    assert_eq!(def.options.len(), 4);
    assert_eq!(def.attrs.len(), 1);
    assert_eq!(def.ingress[0].name.value(), "orders_in");
    let names: Vec<String> = def.stages.iter().map(StageDef::name_str).collect();
    assert_eq!(names, ["parse", "risk", "audit", "publish"]);
    let audit = &def.stages[2];
    let settings: Vec<&str> = audit.settings.iter().map(|s| s.syntax.name).collect();
    assert_eq!(
        settings,
        ["side_effects", "kind", "after"],
        "source order is kept"
    );
    assert_eq!(def.stages[3].after().len(), 2);
    assert!(matches!(def.event, Some(Type::Path(_))));
}

#[test]
fn option_errors_are_all_reported_and_parsing_goes_on() {
    let mut diag = Diagnostics::new();
    let options = parse_options(
        quote!(
            capacty = 1024,
            ordering = "stict",
            shards,
            capacity = 64,
            name = 5
        ),
        Target::SingleRing,
        &mut diag,
    );
    let errors = diag.messages();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(errors[0].starts_with("No such option `capacty`. The options are `name`, "));
    assert!(errors[0].ends_with("Did you mean `capacity`?"));
    assert_eq!(
        errors[1],
        "No such ordering `stict`. The orderings are `strict` and `per_key`. \
         Did you mean `strict`?"
    );
    assert_eq!(errors[2], "`shards` needs a value: `shards = 4`");
    assert_eq!(errors[3], "expected a string: `name = \"orders\"`");
    assert_eq!(options.len(), 1);
    assert!(matches!(options[0].value, Value::Int(_, 64)));
}

#[test]
fn return_type_names_target_and_event() {
    let body = quote!({
        ingress("a");
    });
    let (_, errors) = parse_src(quote!(), quote!(fn p() #body));
    assert!(errors[0].starts_with("missing return type"), "{errors:?}");
    let (_, errors) = parse_src(quote!(), quote!(fn p() -> LaneGraph<Order> #body));
    assert!(
        errors[0].starts_with("a LaneGraph has no one event type"),
        "{errors:?}"
    );
    let (_, errors) = parse_src(quote!(), quote!(fn p() -> Vec<Order> #body));
    assert!(
        errors[0].contains("`SingleRing` and `LaneGraph`"),
        "{errors:?}"
    );
    let (_, errors) = parse_src(quote!(), quote!(fn p() -> SingleRing #body));
    assert!(errors[0].starts_with("name the event type"), "{errors:?}");
}

#[test]
fn bad_statements_and_settings_are_each_reported() {
    let (def, errors) = parse_src(
        quote!(),
        quote! {
            async fn p() -> SingleRing<u64> {
                ingres("in");
                stage(Parse);
                let x = 5;
                let a = stage(A).afer([b]);
                let b = stage(B).after(a);
                let c = stage(C).after([a, b.c]).side_effects(1);
                println!("hi");
            }
        },
    );
    assert_eq!(errors.len(), 9, "{errors:#?}");
    assert!(errors[0].contains("remove `async`"));
    assert!(errors[1].starts_with("No such statement `ingres`"));
    assert!(errors[1].contains("Did you mean `ingress`?"));
    assert!(errors[2].starts_with("a stage needs a name"));
    assert!(errors[3].starts_with("a `let` in a `#[pipeline]` body declares a stage"));
    assert!(errors[4].starts_with("No such stage setting `afer`"));
    assert!(errors[5].starts_with("list the stages this one runs after in brackets"));
    assert!(errors[6].starts_with("name a stage declared in this pipeline"));
    assert!(errors[7].starts_with("expected `.side_effects()`"));
    assert!(errors[8].starts_with("a `#[pipeline]` body only declares the ring: "));
    // The well-formed parts still parse; `c`'s `side_effects(1)` is dropped, its `after`
    // keeps the readable `a`.
    let def = def.unwrap();
    assert_eq!(def.stages.len(), 3);
    assert_eq!(def.stages[2].after().len(), 1);
}

#[test]
fn non_functions_are_refused() {
    let (def, errors) = parse_src(
        quote!(),
        quote!(
            mod orders {}
        ),
    );
    assert!(def.is_none());
    assert!(errors[0].starts_with("`#[pipeline]` goes on a function"));
}

#[test]
fn a_lane_graph_parses_into_handles_stages_and_connections() {
    let (def, errors) = parse_src(
        quote!(on_full = "drop"),
        quote! {
            fn plant(threshold: u64) -> byteor::exec::lane_graph::LaneGraph {
                let raw = ingress::<Packet>("raw_in");
                let parse = stage(Parser::default());
                let risk = stage(Risk { threshold });
                let decisions = egress::<Decision>("decisions");
                connect(raw, parse);
                connect(parse, risk).lane(sequenced_slots(64));
                connect(risk, decisions).lane(events().capacity(256).on_full("drop"));
            }
        },
    );
    assert!(errors.is_empty(), "{errors:?}");
    let on_full = def
        .as_ref()
        .and_then(|d| d.connections[2].lane.as_ref())
        .and_then(|l| l.on_full.as_ref())
        .map(|(_, o)| *o);
    assert_eq!(on_full, Some(byteor_model::vocab::OnFull::Drop));
    let def = def.unwrap();
    assert_eq!(def.target, Target::LaneGraph);
    assert!(def.graph_path.is_some() && def.event.is_none());
    let handles: Vec<String> = def
        .handles()
        .iter()
        .map(|(h, _, _)| ident_name(h))
        .collect();
    assert_eq!(handles, ["raw", "parse", "risk", "decisions"]);
    assert_eq!(def.plan_name(&def.connections[0].from), "raw_in");
    let lanes: Vec<Option<(LaneKind, Option<u32>)>> = def
        .connections
        .iter()
        .map(|c| {
            c.lane
                .as_ref()
                .map(|l| (l.syntax.kind, l.capacity.as_ref().map(|(_, v)| *v)))
        })
        .collect();
    assert_eq!(
        lanes,
        [
            None,
            Some((LaneKind::SequencedSlots, Some(64))),
            Some((LaneKind::Events, Some(256)))
        ]
    );
}

#[test]
fn lane_graph_statement_errors_are_each_reported() {
    let (def, errors) = parse_src(
        quote!(capacity = 64, on_ful = "block"),
        quote! {
            fn plant() -> LaneGraph {
                ingress("raw");
                let raw = ingress("raw");
                let out = egress::<u64>(name);
                let a = stage(A).kind("k");
                shard_key("k", |e: &u64| *e);
                conect(raw, a);
                connect(raw, stage(B));
                connect(a, out).lane(sequenced_slots(0).capacity(4)).lane(events());
                connect(a, out).lane(journal(8));
                connect(a, out).lane(ring());
                connect(a, out).lane(events().capacity(n)).route();
                connect(a, out).lane(events().on_full("sometimes"));
                connect(a, out).lane(events().prefetch(8));
                let a2 = stage(A2).after([a]);
            }
        },
    );
    let expected = [
        "`capacity` is a SingleRing option; a LaneGraph takes `name` and `on_full`; a lane's \
         capacity is set on its connection: `connect(parse, risk).lane(sequenced_slots(64));`",
        "No such option `on_ful`. The options are `name` and `on_full`. Did you mean `on_full`?",
        "bind a LaneGraph ingress to a handle, with its event type: \
         `let raw = ingress::<Packet>(\"raw\");`; `connect` takes the handle",
        "name the ingress's event type: `let raw = ingress::<Packet>(\"raw\");`",
        "an egress takes its name as a string: \
         `let decisions = egress::<Decision>(\"decisions\");`",
        "`.kind(..)` is a SingleRing stage setting: the LaneGraph builder declares a stage by \
         its name and value alone, and `connect` wires it: `connect(raw, parse);`",
        "`shard_key` is a SingleRing statement: a LaneGraph has no shards",
        "No such statement `conect`. Did you mean `connect`? A LaneGraph body declares",
        "`connect` takes two handles, each a name bound by `let`: `connect(raw, parse);`",
        "`sequenced_slots` takes its capacity as its argument: `sequenced_slots(64)`",
        "`lane` is set twice on `connect(a, out)`",
        "expected `journal()`",
        "No such lane `ring`. The lanes are `events`, `journal`, `sequenced_slots` and \
         `fanout_broadcast`.",
        "a lane capacity is an integer literal, so that it is checked at compile time",
        "No such connection setting `route`. A connection takes its lane: \
         `connect(parse, risk).lane(sequenced_slots(64));`",
        "No such `on_full` `sometimes`. The `on_full` values are `block` and `drop`.",
        "No such lane setting `prefetch`. A lane takes `.capacity(n)` and `.on_full(\"drop\")`",
    ];
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    for (error, expected) in errors.iter().zip(expected) {
        assert!(error.starts_with(expected), "{error}\nexpected: {expected}");
    }
    let def = def.unwrap();
    // `.after` is kept for the plan to explain; the malformed boundaries are attempts.
    assert_eq!(def.stages[1].after().len(), 1);
    assert!(def.attempted.contains(&"ingress") && def.attempted.contains(&"egress"));
}

#[test]
fn statements_of_the_other_form_are_explained() {
    let (_, errors) = parse_src(
        quote!(on_full = "block"),
        quote! {
            fn p() -> SingleRing<Order> {
                let input = ingress::<Order>("in");
                egress("out");
                let a = stage(A);
                connect(input, a).lane(events());
            }
        },
    );
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(errors[0].starts_with("`on_full` is a LaneGraph option; a SingleRing takes `name`"));
    assert!(errors[1].starts_with("a SingleRing's `ingress` is a statement of its own"));
    assert!(errors[2].starts_with("`connect` wires the stages of a LaneGraph"));
}

#[test]
fn a_handle_names_one_thing() {
    let (_, errors) = parse_src(
        quote!(),
        quote! {
            fn p() -> LaneGraph {
                let raw = ingress::<u64>("raw_in");
                let raw = stage(A);
                let out = egress::<u64>("out");
                connect(raw, out);
            }
        },
    );
    assert_eq!(
        errors,
        [
            "handle `raw` is already bound to ingress `raw_in`; give each ingress, egress and \
          stage its own binding, which is what `connect` names"
        ]
    );
}
