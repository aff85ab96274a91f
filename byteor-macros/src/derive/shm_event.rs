//! `#[derive(ShmEvent)]`: checks the SHM/ABI contract of an event struct — `#[repr(C)]`, named
//! plain-old-data fields, no implicit padding — and generates its layout table.
//!
//! What tokens can show is checked here (repr, struct shape, field types that are obviously not
//! plain old data). What only the compiler knows is checked by the generated code: a
//! `PodField` bound on every field type (so an alias of `usize` or a `String` behind a type
//! alias cannot slip through) and `const` assertions on offsets and size (so padding the author
//! did not write down is a compile error).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::diagnostic::Diagnostics;

/// Everything the expansion needs, checked.
#[derive(Debug)]
pub(crate) struct EventModel {
    /// The struct.
    pub(crate) ident: Ident,
    /// Fields in declaration order (which `#[repr(C)]` makes offset order).
    pub(crate) fields: Vec<(Ident, Type)>,
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

/// Checks everything visible in the tokens, reporting every problem.
pub(crate) fn analyze(input: &DeriveInput) -> Result<EventModel, Diagnostics> {
    let mut diag = Diagnostics::new();
    check_repr(input, &mut diag);

    if !input.generics.params.is_empty() {
        diag.error_spanned(
            &input.generics,
            "`#[derive(ShmEvent)]` does not support generic types: a shared-memory event has \
             one fixed layout that other processes compile against",
        );
    }

    let mut fields = Vec::new();
    match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) if !named.named.is_empty() => {
                for field in &named.named {
                    if let Some(ident) = &field.ident {
                        check_field_type(&field.ty, &mut diag);
                        fields.push((ident.clone(), field.ty.clone()));
                    }
                }
            }
            Fields::Named(_) | Fields::Unit => diag.error(
                input.ident.span(),
                "a shared-memory event needs at least one field (C has no empty structs)",
            ),
            Fields::Unnamed(unnamed) => diag.error_spanned(
                unnamed,
                "a shared-memory event needs named fields: the layout table and the C header \
                 name every field",
            ),
        },
        Data::Enum(data) => diag.error(
            data.enum_token.span,
            "`#[derive(ShmEvent)]` needs a struct: an enum's discriminant and variant layout \
             have no portable C form; use a struct with an integer tag field",
        ),
        Data::Union(data) => diag.error(
            data.union_token.span,
            "`#[derive(ShmEvent)]` needs a struct: a union's active field cannot be checked \
             across processes",
        ),
    }

    if diag.is_empty() {
        Ok(EventModel {
            ident: input.ident.clone(),
            fields,
        })
    } else {
        Err(diag)
    }
}

/// `#[repr(C)]` is required; `packed` and `transparent` are refused.
fn check_repr(input: &DeriveInput, diag: &mut Diagnostics) {
    let mut has_c = false;
    let mut first_repr: Option<Span> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        first_repr.get_or_insert(attr.span());
        let parsed = attr.parse_nested_meta(|meta| {
            let span = meta.path.span();
            if meta.path.is_ident("C") {
                has_c = true;
            } else if meta.path.is_ident("packed") {
                diag.error(
                    span,
                    "`#[derive(ShmEvent)]` refuses `repr(packed)`: fields could be unaligned, \
                     so references to them are undefined behaviour and C readers disagree on \
                     the layout. Keep `#[repr(C)]` and add explicit `_pad: [u8; N]` fields",
                );
            } else if meta.path.is_ident("transparent") {
                diag.error(
                    span,
                    "`#[derive(ShmEvent)]` needs `#[repr(C)]`, not `repr(transparent)`",
                );
            }
            // `align(N)` and integer reprs are left to rustc; `align` is allowed as long as it
            // adds no padding, which the generated size assertion checks.
            if meta.input.peek(syn::token::Paren) {
                let arguments;
                syn::parenthesized!(arguments in meta.input);
                arguments.parse::<TokenStream>()?;
            }
            Ok(())
        });
        if let Err(e) = parsed {
            diag.push(e);
        }
    }
    if !has_c {
        diag.error(
            first_repr.unwrap_or_else(|| input.ident.span()),
            format!(
                "`#[derive(ShmEvent)]` needs `#[repr(C)]` on `{}`: without it Rust may reorder \
                 fields, and other processes could not know the layout",
                input.ident
            ),
        );
    }
}

/// Refuses, with a reason, field types that are obviously not plain old data. Everything else
/// is checked by the generated `PodField` bound.
fn check_field_type(ty: &Type, diag: &mut Diagnostics) {
    let reason: Option<String> = match ty {
        Type::Array(array) => {
            check_field_type(&array.elem, diag);
            None
        }
        Type::Paren(inner) => {
            check_field_type(&inner.elem, diag);
            None
        }
        Type::Group(inner) => {
            check_field_type(&inner.elem, diag);
            None
        }
        Type::Ptr(_) | Type::Reference(_) => Some(
            "a pointer is an address in one process; another process cannot follow it. \
             Store an index or an offset (u32/u64) instead"
                .into(),
        ),
        Type::BareFn(_) => Some(
            "a function pointer is an address in one process; another process cannot call it"
                .into(),
        ),
        Type::Slice(_) => Some(
            "a slice has no fixed size; use a fixed-size array `[T; N]` and a length field".into(),
        ),
        Type::Tuple(tuple) if tuple.elems.is_empty() => {
            Some("`()` has no C representation; remove the field".into())
        }
        Type::Tuple(_) => {
            Some("a tuple has no guaranteed layout; use a `#[derive(ShmEvent)]` struct".into())
        }
        Type::TraitObject(_) | Type::ImplTrait(_) => Some(
            "a trait object has no fixed layout; shared-memory fields are concrete \
             plain-old-data types"
                .into(),
        ),
        Type::Never(_) => Some("`!` has no values; remove the field".into()),
        Type::Path(path) if path.qself.is_none() => path.path.segments.last().and_then(|last| {
            let name = last.ident.to_string();
            let reason = match name.as_str() {
                "usize" | "isize" => format!(
                    "`{name}` changes width between targets, so its layout is not fixed; \
                         use `{}64` (or `{}32`)",
                    &name[..1],
                    &name[..1]
                ),
                "bool" => "not every byte is a valid `bool`, and a peer process may write \
                               any byte; use `u8` (0 or 1)"
                    .into(),
                "char" => "not every `u32` is a valid `char`, and a peer process may write \
                               any value; use `u32`"
                    .into(),
                "str" | "String" => "a string owns memory in one process; use a \
                                         fixed-size byte array `[u8; N]` and a length field"
                    .into(),
                "Vec" | "Box" | "Rc" | "Arc" | "HashMap" | "BTreeMap" | "VecDeque" | "HashSet"
                | "BTreeSet" => format!(
                    "`{name}` owns memory in one process through a pointer; use a \
                         fixed-size array `[T; N]` and a length field"
                ),
                "Option" => "`Option` adds a discriminant with no C form; use the value \
                                 plus a `u8` flag field"
                    .into(),
                "Cell" | "RefCell" | "UnsafeCell" | "Mutex" | "RwLock" => format!(
                    "`{name}` is interior mutability inside one process; shared-memory \
                         events are plain data"
                ),
                _ => return None,
            };
            Some(reason)
        }),
        _ => None,
    };
    if let Some(reason) = reason {
        diag.error_spanned(ty, format!("not a shared-memory field type: {reason}"));
    }
}

/// Generates the padding assertions and the `unsafe impl ShmEvent`.
pub(crate) fn expand(model: &EventModel) -> TokenStream {
    let ident = &model.ident;
    let name = ident.unraw().to_string();

    let mut entries = Vec::new();
    let mut asserts = Vec::new();
    let mut prev: Option<(&Ident, &Type)> = None;
    for (field, ty) in &model.fields {
        let field_name = field.unraw().to_string();
        entries.push(quote_spanned! {ty.span()=>
            ::byteor::abi::FieldLayout {
                name: #field_name,
                offset: ::core::mem::offset_of!(#ident, #field),
                size: ::core::mem::size_of::<#ty>(),
                align: ::core::mem::align_of::<#ty>(),
                ty: <#ty as ::byteor::abi::PodField>::TYPE,
            }
        });
        if let Some((prev_field, prev_ty)) = prev {
            let message = format!(
                "`{name}` has implicit padding before field `{field_name}`: \
                 `{}` ends before `{field_name}` is aligned. Declare the gap as a field \
                 (`_pad: [u8; N]`) or reorder the fields",
                prev_field.unraw()
            );
            asserts.push(quote_spanned! {field.span()=>
                ::core::assert!(
                    ::core::mem::offset_of!(#ident, #field)
                        == ::core::mem::offset_of!(#ident, #prev_field)
                            + ::core::mem::size_of::<#prev_ty>(),
                    #message
                );
            });
        }
        prev = Some((field, ty));
    }
    if let Some((last, last_ty)) = prev {
        let message = format!(
            "`{name}` has implicit padding after its last field `{}`: its size is rounded up \
             to its alignment. Declare the tail as a field (`_pad: [u8; N]`)",
            last.unraw()
        );
        asserts.push(quote_spanned! {ident.span()=>
            ::core::assert!(
                ::core::mem::size_of::<#ident>()
                    == ::core::mem::offset_of!(#ident, #last) + ::core::mem::size_of::<#last_ty>(),
                #message
            );
        });
    }
    quote! {
        // Checked when the crate compiles: fields are laid out back to back with no padding.
        const _: () = { #(#asserts)* };

        // SAFETY: `#[derive(ShmEvent)]` checked that the struct is `#[repr(C)]` and not packed;
        // every field type is bound by `PodField` (below, in `LAYOUT`); the `const` assertions
        // above prove there is no padding; and the table is computed from the type itself.
        #[automatically_derived]
        unsafe impl ::byteor::abi::ShmEvent for #ident {
            const LAYOUT: ::byteor::abi::EventLayout = ::byteor::abi::EventLayout {
                name: #name,
                size: ::core::mem::size_of::<#ident>(),
                align: ::core::mem::align_of::<#ident>(),
                fields: &[#(#entries),*],
            };
        }

        #[automatically_derived]
        impl ::byteor::abi::__private::Sealed for #ident {}

        // SAFETY: `Pod` asks for `Copy + Send + Sync + 'static` (bounds the compiler checks)
        // and no padding, which the `const` assertions above prove.
        #[automatically_derived]
        unsafe impl ::byteor::kernel::broadcast::Pod for #ident {}

        // SAFETY: the `ShmEvent` contract above is the `PodField` contract for a struct.
        #[automatically_derived]
        unsafe impl ::byteor::abi::PodField for #ident {
            const TYPE: ::byteor::abi::FieldType = ::byteor::abi::FieldType::Event(
                &<#ident as ::byteor::abi::ShmEvent>::LAYOUT,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyze_str(src: &str) -> Result<EventModel, Vec<String>> {
        let input: DeriveInput = syn::parse_str(src).unwrap();
        analyze(&input).map_err(|d| d.messages())
    }

    #[test]
    fn repr_c_struct_of_pod_fields_is_accepted() {
        let model = analyze_str(
            "#[repr(C)] struct Order { id: u64, qty: i64, tag: [u8; 8], r#type: u32, p: u32 }",
        )
        .unwrap();
        assert_eq!(model.fields.len(), 5);
        let aligned = analyze_str("#[repr(C, align(8))] struct A { a: u64 }");
        assert!(aligned.is_ok(), "{:?}", aligned.err());
    }

    #[test]
    fn repr_is_required_and_packed_is_refused() {
        let errors = analyze_str("struct A { a: u64 }").unwrap_err();
        assert!(
            errors[0].contains("needs `#[repr(C)]` on `A`"),
            "{errors:?}"
        );
        let errors = analyze_str("#[repr(C, packed)] struct A { a: u64 }").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("refuses `repr(packed)`"));
        let errors = analyze_str("#[repr(transparent)] struct A { a: u64 }").unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn obviously_wrong_field_types_are_each_reported() {
        let errors = analyze_str(
            "#[repr(C)] struct A { a: usize, b: bool, c: *const u8, d: &'static u8, \
             e: String, f: Vec<u8>, g: Option<u64>, h: [char; 4], i: (u8, u8), j: u64 }",
        )
        .unwrap_err();
        assert_eq!(errors.len(), 9, "{errors:#?}");
        assert!(errors[0].contains("use `u64` (or `u32`)"));
        assert!(errors[1].contains("use `u8` (0 or 1)"));
        assert!(
            errors[7].contains("use `u32`"),
            "arrays are checked element-wise"
        );
    }

    #[test]
    fn shapes_other_than_named_structs_are_refused() {
        for src in [
            "#[repr(C)] enum E { A }",
            "#[repr(C)] union U { a: u8 }",
            "#[repr(C)] struct T(u8);",
            "#[repr(C)] struct T;",
            "#[repr(C)] struct T<X> { x: X }",
        ] {
            assert_eq!(analyze_str(src).unwrap_err().len(), 1, "{src}");
        }
    }

    #[test]
    fn expansion_asserts_each_gap_and_the_tail() {
        let model = analyze_str("#[repr(C)] struct A { a: u8, b: u8, c: u16 }").unwrap();
        let out = expand(&model).to_string();
        assert_eq!(out.matches(":: core :: assert !").count(), 3, "{out}");
        assert!(out.contains("implicit padding before field `c`"), "{out}");
        assert!(
            out.contains("implicit padding after its last field `c`"),
            "{out}"
        );
        assert!(
            out.contains("< u16 as :: byteor :: abi :: PodField > :: TYPE"),
            "{out}"
        );
        assert!(
            out.contains("unsafe impl :: byteor :: abi :: ShmEvent for A"),
            "{out}"
        );
    }
}
