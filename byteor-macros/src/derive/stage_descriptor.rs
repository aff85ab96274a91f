//! `#[derive(StageDescriptor)]`: parse the struct and its attributes into a [`StageModel`]
//! (collecting every error), then expand the model into an `impl StageDescriptor`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, Fields, Ident, LitBool, LitStr, Member, Type};

use super::{normalize_tokens, snake_case};
use crate::diagnostic::{no_such, Diagnostics};

/// The options of `#[stage(...)]` on the struct.
const STAGE_OPTIONS: &[&str] = &["name", "side_effects"];
/// The options of `#[param(...)]` on a field.
const PARAM_OPTIONS: &[&str] = &["default", "rename", "skip"];

/// Everything the expansion needs, checked.
#[derive(Debug)]
pub(crate) struct StageModel {
    /// The struct.
    pub(crate) ident: Ident,
    /// The registered kind (`#[stage(name)]` or the snake_case type name).
    pub(crate) name: String,
    /// `#[stage(side_effects)]`.
    pub(crate) side_effects: bool,
    /// Fields in declaration order.
    pub(crate) fields: Vec<FieldModel>,
}

/// One field of the stage struct.
#[derive(Debug)]
pub(crate) struct FieldModel {
    /// Field name or index.
    pub(crate) member: Member,
    /// Field type.
    pub(crate) ty: Type,
    /// How the field gets its value.
    pub(crate) source: FieldSource,
}

/// Where a field's value comes from.
#[derive(Debug)]
pub(crate) enum FieldSource {
    /// A parameter read from the plan under `key`.
    Param {
        /// The key in the `params` table.
        key: String,
        /// The value used when the key is absent.
        default: Option<DefaultValue>,
    },
    /// Not a parameter (`#[param(skip)]`): the default value, `Default::default()` if none.
    Skip(Option<DefaultValue>),
}

/// A field's default.
#[derive(Debug)]
pub(crate) enum DefaultValue {
    /// `#[param(default)]`: `Default::default()`.
    Trait(Span),
    /// `#[param(default = expr)]`.
    Expr(Box<Expr>),
}

/// The derive entry point.
pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error(),
    };
    match analyze(&input) {
        Ok(model) => expand(&model),
        Err(diagnostics) => diagnostics.to_compile_errors(),
    }
}

/// Parses and checks the input, reporting every problem.
pub(crate) fn analyze(input: &DeriveInput) -> Result<StageModel, Diagnostics> {
    let mut diag = Diagnostics::new();

    if !input.generics.params.is_empty() {
        diag.error_spanned(
            &input.generics,
            "`#[derive(StageDescriptor)]` does not support generic types: a registered stage \
             kind names one concrete type. Implement `StageDescriptor` by hand for each \
             instantiation you register",
        );
    }

    let mut name = None;
    let mut side_effects = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("stage")) {
        let parsed = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(|i| i.unraw().to_string());
            match key.as_deref() {
                Some("name") => {
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().is_empty() {
                        diag.error(lit.span(), "the stage name must not be empty");
                    } else if name.is_some() {
                        diag.error(meta.path.span(), "`name` is given twice");
                    } else {
                        name = Some(lit.value());
                    }
                }
                Some("side_effects") => {
                    side_effects = if meta.input.peek(syn::Token![=]) {
                        meta.value()?.parse::<LitBool>()?.value
                    } else {
                        true
                    };
                }
                _ => {
                    let shown = meta.path.to_token_stream().to_string().replace(' ', "");
                    diag.error(
                        meta.path.span(),
                        no_such("stage option", "stage options", &shown, STAGE_OPTIONS),
                    );
                    if meta.input.peek(syn::Token![=]) {
                        meta.value()?.parse::<Expr>()?;
                    }
                }
            }
            Ok(())
        });
        if let Err(e) = parsed {
            diag.push(e);
        }
    }

    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => named
                .named
                .iter()
                .filter_map(|f| analyze_field(f, &mut diag))
                .collect(),
            Fields::Unit => Vec::new(),
            Fields::Unnamed(unnamed) if unnamed.unnamed.is_empty() => Vec::new(),
            Fields::Unnamed(unnamed) => {
                diag.error_spanned(
                    unnamed,
                    "stage parameters are named after fields: use a struct with named fields",
                );
                Vec::new()
            }
        },
        Data::Enum(data) => {
            diag.error(
                data.enum_token.span,
                "`#[derive(StageDescriptor)]` needs a struct: an enum has no single set of \
                 parameters",
            );
            Vec::new()
        }
        Data::Union(data) => {
            diag.error(
                data.union_token.span,
                "`#[derive(StageDescriptor)]` needs a struct, not a union",
            );
            Vec::new()
        }
    };

    let mut seen: Vec<(&str, Span)> = Vec::new();
    for field in &fields {
        if let FieldSource::Param { key, .. } = &field.source {
            if seen.iter().any(|(k, _)| k == key) {
                diag.error(
                    field.member.span(),
                    format!("two fields read the parameter `{key}`; rename one of them"),
                );
            } else {
                seen.push((key, field.member.span()));
            }
        }
    }

    if !diag.is_empty() {
        return Err(diag);
    }
    Ok(StageModel {
        ident: input.ident.clone(),
        name: name.unwrap_or_else(|| snake_case(&input.ident.unraw().to_string())),
        side_effects,
        fields,
    })
}

/// Reads one field's `#[param(...)]` attributes.
fn analyze_field(field: &syn::Field, diag: &mut Diagnostics) -> Option<FieldModel> {
    let ident = field.ident.as_ref()?;
    let mut default: Option<DefaultValue> = None;
    let mut rename: Option<(String, Span)> = None;
    let mut skip: Option<Span> = None;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("param")) {
        let parsed = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(|i| i.unraw().to_string());
            let span = meta.path.span();
            match key.as_deref() {
                Some("default") => {
                    let value = if meta.input.peek(syn::Token![=]) {
                        DefaultValue::Expr(Box::new(meta.value()?.parse()?))
                    } else {
                        DefaultValue::Trait(span)
                    };
                    if default.is_some() {
                        diag.error(span, "`default` is given twice");
                    }
                    default = Some(value);
                }
                Some("rename") => {
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().is_empty() {
                        diag.error(lit.span(), "a parameter name must not be empty");
                    } else if rename.is_some() {
                        diag.error(span, "`rename` is given twice");
                    }
                    rename = Some((lit.value(), span));
                }
                Some("skip") => skip = Some(span),
                _ => {
                    let shown = meta.path.to_token_stream().to_string().replace(' ', "");
                    diag.error(
                        span,
                        no_such(
                            "parameter option",
                            "parameter options",
                            &shown,
                            PARAM_OPTIONS,
                        ),
                    );
                    if meta.input.peek(syn::Token![=]) {
                        meta.value()?.parse::<Expr>()?;
                    }
                }
            }
            Ok(())
        });
        if let Err(e) = parsed {
            diag.push(e);
        }
    }

    let source = match (skip, rename) {
        (Some(_), Some((_, rename_span))) => {
            diag.error(
                rename_span,
                "a `skip` field is not a parameter, so it has no parameter name to `rename`",
            );
            return None;
        }
        (Some(_), None) => FieldSource::Skip(default),
        (None, rename) => FieldSource::Param {
            key: rename
                .map(|(key, _)| key)
                .unwrap_or_else(|| ident.unraw().to_string()),
            default,
        },
    };
    Some(FieldModel {
        member: Member::Named(ident.clone()),
        ty: field.ty.clone(),
        source,
    })
}

/// Generates the `impl StageDescriptor`.
pub(crate) fn expand(model: &StageModel) -> TokenStream {
    let ident = &model.ident;
    let name = &model.name;
    let side_effects = model.side_effects;

    let mut specs = Vec::new();
    let mut reads = Vec::new();
    let mut bindings = Vec::new();
    let mut inits = Vec::new();
    for (i, field) in model.fields.iter().enumerate() {
        let member = &field.member;
        let ty = &field.ty;
        let var = Ident::new(&format!("__param_{i}"), Span::mixed_site());
        match &field.source {
            FieldSource::Param { key, default } => {
                let ty_text = normalize_tokens(ty);
                let (default_fn, default_text, has_default) = match default {
                    None => (quote!(::core::option::Option::None), quote!(None), false),
                    Some(DefaultValue::Trait(span)) => (
                        quote_spanned! {*span=>
                            ::core::option::Option::Some(
                                <#ty as ::core::default::Default>::default as fn() -> #ty
                            )
                        },
                        quote!(Some("Default::default()")),
                        true,
                    ),
                    Some(DefaultValue::Expr(expr)) => {
                        let text = normalize_tokens(expr);
                        (
                            quote_spanned! {expr.span()=>
                                ::core::option::Option::Some((|| -> #ty { #expr }) as fn() -> #ty)
                            },
                            quote!(Some(#text)),
                            true,
                        )
                    }
                };
                let required = if has_default {
                    quote!(false)
                } else {
                    quote!(!<#ty as ::byteor::exec::FromParam>::OPTIONAL)
                };
                specs.push(quote! {
                    ::byteor::exec::ParamSpec {
                        name: #key,
                        ty: #ty_text,
                        required: #required,
                        default: #default_text,
                    }
                });
                reads.push(quote_spanned! {ty.span()=>
                    let #var: ::core::option::Option<#ty> = ::byteor::exec::read_param(
                        params, <Self as ::byteor::exec::StageDescriptor>::NAME, #key, #ty_text,
                        #default_fn,
                        <#ty as ::byteor::exec::FromParam>::from_param,
                        <#ty as ::byteor::exec::FromParam>::absent,
                        &mut errors,
                    );
                });
                bindings.push(var.clone());
                inits.push(quote!(#member: #var));
            }
            FieldSource::Skip(None) => {
                inits.push(quote_spanned! {ty.span()=>
                    #member: <#ty as ::core::default::Default>::default()
                });
            }
            FieldSource::Skip(Some(DefaultValue::Trait(span))) => {
                inits.push(quote_spanned! {*span=>
                    #member: <#ty as ::core::default::Default>::default()
                });
            }
            FieldSource::Skip(Some(DefaultValue::Expr(expr))) => {
                inits.push(quote!(#member: #expr));
            }
        }
    }

    let build = if bindings.is_empty() {
        quote! {
            if errors.is_empty() {
                return ::core::result::Result::Ok(Self { #(#inits,)* });
            }
        }
    } else {
        quote! {
            if let (#(::core::option::Option::Some(#bindings),)*) = (#(#bindings,)*) {
                if errors.is_empty() {
                    return ::core::result::Result::Ok(Self { #(#inits,)* });
                }
            }
        }
    };

    quote! {
        #[automatically_derived]
        impl ::byteor::exec::StageDescriptor for #ident {
            const NAME: &'static str = #name;
            const SIDE_EFFECTS: bool = #side_effects;
            const PARAMS: &'static [::byteor::exec::ParamSpec] = &[#(#specs),*];

            fn from_params(
                params: &::std::collections::BTreeMap<
                    ::std::string::String,
                    ::byteor::plan::ParamValue,
                >,
            ) -> ::core::result::Result<Self, ::byteor::exec::ParamError> {
                let mut errors = ::std::vec::Vec::new();
                ::byteor::exec::reject_unknown_params(
                    params,
                    <Self as ::byteor::exec::StageDescriptor>::NAME,
                    <Self as ::byteor::exec::StageDescriptor>::PARAMS,
                    &mut errors,
                );
                #(#reads)*
                #build
                ::core::result::Result::Err(::byteor::exec::ParamError::from_errors(errors))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyze_str(src: &str) -> Result<StageModel, Vec<String>> {
        let input: DeriveInput = syn::parse_str(src).unwrap();
        analyze(&input).map_err(|d| d.messages())
    }

    #[test]
    fn name_defaults_to_snake_case_and_fields_become_params() {
        let model = analyze_str(
            "struct RiskCheck { max_qty: u32, #[param(default = 5)] burst: u32, \
             #[param(rename = \"venue\")] v: Option<String>, #[param(skip)] cache: Vec<u8> }",
        )
        .unwrap();
        assert_eq!(model.name, "risk_check");
        assert!(!model.side_effects);
        let keys: Vec<Option<&str>> = model
            .fields
            .iter()
            .map(|f| match &f.source {
                FieldSource::Param { key, .. } => Some(key.as_str()),
                FieldSource::Skip(_) => None,
            })
            .collect();
        assert_eq!(keys, [Some("max_qty"), Some("burst"), Some("venue"), None]);
    }

    #[test]
    fn stage_attribute_sets_name_and_side_effects() {
        let model =
            analyze_str("#[stage(name = \"audit_log\", side_effects)] struct Audit;").unwrap();
        assert_eq!(
            (model.name.as_str(), model.side_effects),
            ("audit_log", true)
        );
        let model = analyze_str("#[stage(side_effects = false)] struct Audit;").unwrap();
        assert!(!model.side_effects);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = analyze_str(
            "#[stage(nmae = \"x\", side_effect)] struct S<T> { \
             #[param(defualt)] a: u32, #[param(skip, rename = \"b\")] b: u8, \
             #[param(rename = \"a\")] c: u8 }",
        )
        .unwrap_err();
        assert_eq!(errors.len(), 6, "{errors:#?}");
        assert!(errors[0].contains("does not support generic types"));
        assert_eq!(
            errors[1],
            "No such stage option `nmae`. The stage options are `name` and `side_effects`. \
             Did you mean `name`?"
        );
        assert!(errors[2].starts_with("No such stage option `side_effect`"));
        assert!(errors[3].contains("Did you mean `default`?"));
        assert!(errors[4].contains("no parameter name to `rename`"));
        assert_eq!(
            errors[5],
            "two fields read the parameter `a`; rename one of them"
        );
    }

    #[test]
    fn enums_unions_and_tuple_structs_are_refused() {
        assert!(analyze_str("enum E { A }").unwrap_err()[0].contains("needs a struct"));
        assert!(analyze_str("union U { a: u8 }").unwrap_err()[0].contains("not a union"));
        assert!(analyze_str("struct T(u32);").unwrap_err()[0].contains("named fields"));
        assert!(analyze_str("struct T();").is_ok());
    }

    #[test]
    fn expansion_reads_each_param_and_lists_specs() {
        let model = analyze_str(
            "struct Risk { max_qty: u32, #[param(default)] burst: u16, #[param(skip)] s: u8 }",
        )
        .unwrap();
        let out = expand(&model).to_string();
        assert!(
            out.contains("const NAME : & 'static str = \"risk\""),
            "{out}"
        );
        assert!(
            out.contains("< u32 as :: byteor :: exec :: FromParam > :: from_param"),
            "{out}"
        );
        assert!(
            out.contains("name : \"burst\" , ty : \"u16\" , required : false"),
            "{out}"
        );
        assert!(
            out.contains("default : Some (\"Default::default()\")"),
            "{out}"
        );
        assert!(
            !out.contains("name : \"s\""),
            "skipped fields are not parameters: {out}"
        );
        assert!(out.contains("reject_unknown_params"), "{out}");
    }
}
