//! `#[pipeline]`: parse -> plan -> validate -> expand, each a plain `proc_macro2` function.
//!
//! The macro holds no plan rule of its own: [`plan::plan_of`] builds the model's
//! `PipelinePlanV2` from the tokens, `validate_plan_v2` judges it, and [`report::report`] puts
//! each violation on the token it names.

pub(crate) mod expand;
pub(crate) mod parse;
pub(crate) mod plan;
pub(crate) mod report;
pub(crate) mod syntax;

use byteor_model::plan::validate_plan_v2;
use proc_macro2::TokenStream;
use quote::quote;

use crate::diagnostic::Diagnostics;

/// Expands `#[pipeline(args)] item`. Never panics: every problem becomes a spanned
/// `compile_error!`, and the output still type-checks where the input allows.
pub(crate) fn pipeline(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut diag = Diagnostics::new();
    let Some(def) = parse::parse(args, item.clone(), &mut diag) else {
        let errors = diag.to_compile_errors();
        return quote!(#errors #item);
    };
    check(&def, &mut diag);
    if diag.is_empty() {
        expand::expand(&def)
    } else {
        expand::expand_with_errors(&def, diag.to_compile_errors())
    }
}

/// Validates the plan the tokens describe, reporting each violation on its token.
fn check(def: &parse::PipelineDef, diag: &mut Diagnostics) {
    if let Err(errors) = validate_plan_v2(&plan::plan_of(def)) {
        report::report(def, &errors, diag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_of_every_phase_is_in_the_output() {
        let out = pipeline(
            quote!(capacity = 100, bogus = 1),
            quote! {
                fn p() -> SingleRing<u64> {
                    ingress("in");
                    let a = stage(A).after([b]);
                    let b = stage(B).after([a]);
                }
            },
        )
        .to_string();
        // capacity, unknown option, missing egress, and the two-member cycle.
        assert_eq!(out.matches("compile_error").count(), 5, "{out}");
        assert!(
            out.contains("(1/2) cycle: a -> b -> a: `b` runs after `a` here"),
            "{out}"
        );
        assert!(
            out.contains("(2/2) cycle: a -> b -> a: `a` runs after `b` here"),
            "{out}"
        );
    }

    #[test]
    fn a_misspelt_or_unnamed_statement_is_not_also_reported_missing() {
        let out = pipeline(
            quote!(shards = 2),
            quote! {
                fn p() -> SingleRing<u64> {
                    ingres("in");
                    egress("out");
                    shard_key(|e: &u64| *e);
                    stage(A);
                }
            },
        )
        .to_string();
        // The misspelt `ingress`, the malformed `shard_key` and the unnamed stage; no
        // "missing ingress", "needs a shard key" or "needs at least one stage".
        assert_eq!(out.matches("compile_error").count(), 3, "{out}");
    }

    #[test]
    fn a_non_function_item_is_passed_through_with_the_error() {
        let out = pipeline(
            quote!(),
            quote!(
                struct S;
            ),
        )
        .to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.ends_with("struct S ;"), "{out}");
    }
}
