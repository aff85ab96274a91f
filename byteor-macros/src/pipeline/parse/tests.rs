//! Parser tests.

use super::*;
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
