//! The function signature: what it may not be, and `-> SingleRing<E>` or `-> LaneGraph`.

use super::*;

/// Refuses function shapes the expansion cannot keep.
pub(super) fn check_signature(func: &ItemFn, diag: &mut Diagnostics) {
    let sig = &func.sig;
    if let Some(token) = &sig.asyncness {
        diag.error(
            token.span,
            "a `#[pipeline]` function builds the pipeline synchronously; remove `async`",
        );
    }
    if let Some(token) = &sig.constness {
        diag.error(
            token.span,
            "a `#[pipeline]` function cannot be `const`: building a pipeline allocates",
        );
    }
    if let Some(token) = &sig.unsafety {
        diag.error(
            token.span,
            "a `#[pipeline]` function has nothing unsafe to promise; remove `unsafe`",
        );
    }
    if let Some(abi) = &sig.abi {
        diag.error_spanned(abi, "a `#[pipeline]` function cannot have an `extern` ABI");
    }
    if let Some(variadic) = &sig.variadic {
        diag.error_spanned(variadic, "a `#[pipeline]` function cannot be variadic");
    }
    for input in &sig.inputs {
        if let FnArg::Receiver(receiver) = input {
            diag.error_spanned(
                receiver,
                "a `#[pipeline]` function is a free function; pass what the stages need as \
                 parameters instead of `self`",
            );
        }
    }
}

/// The target the return type names, if it names one; nothing is reported.
pub(super) fn target_of(func: &ItemFn) -> Option<Target> {
    let ReturnType::Type(_, ty) = &func.sig.output else {
        return None;
    };
    let Type::Path(path) = &**ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    syntax::TARGETS
        .iter()
        .find(|(name, _)| last.ident == name)
        .map(|(_, target)| *target)
}

/// What the return type says.
#[derive(Debug)]
pub(crate) enum Returns {
    /// `-> SingleRing<E>`: the path to `SingleRing` (without arguments) and the event type.
    SingleRing(syn::Path, Box<Type>),
    /// `-> LaneGraph`: the path to `LaneGraph`.
    LaneGraph(syn::Path),
}

/// Reads `-> SingleRing<E>` or `-> LaneGraph`: the path to the builder entry point and, for a
/// ring, the event type.
pub(super) fn parse_return_type(func: &ItemFn, diag: &mut Diagnostics) -> Option<Returns> {
    let expected = "declare what the function builds: `-> SingleRing<YourEvent>`";
    let ty = match &func.sig.output {
        ReturnType::Default => {
            diag.error(
                func.sig.paren_token.span.join(),
                format!("missing return type; {expected}"),
            );
            return None;
        }
        ReturnType::Type(_, ty) => ty,
    };
    let Type::Path(path) = &**ty else {
        diag.error_spanned(ty, format!("unexpected return type; {expected}"));
        return None;
    };
    let last = path.path.segments.last()?;
    let target = syntax::TARGETS
        .iter()
        .find(|(name, _)| last.ident == name)
        .map(|(_, target)| *target);
    let event = match &last.arguments {
        PathArguments::AngleBracketed(args) if args.args.len() == 1 => match &args.args[0] {
            GenericArgument::Type(event) => Some(event.clone()),
            _ => None,
        },
        _ => None,
    };
    match (target, event) {
        (Some(Target::SingleRing), Some(event)) => {
            let mut ring_path = path.path.clone();
            if let Some(last) = ring_path.segments.last_mut() {
                last.arguments = PathArguments::None;
            }
            Some(Returns::SingleRing(ring_path, Box::new(event)))
        }
        (Some(Target::LaneGraph), _) => {
            if !matches!(last.arguments, PathArguments::None) {
                diag.error_spanned(
                    &last.arguments,
                    format!(
                        "a LaneGraph has no one event type: each ingress, egress and stage \
                         has its own, named where it is declared (`{}`); write `-> LaneGraph`",
                        syntax::GRAPH_INGRESS_EXAMPLE
                    ),
                );
            }
            let mut graph_path = path.path.clone();
            if let Some(last) = graph_path.segments.last_mut() {
                last.arguments = PathArguments::None;
            }
            Some(Returns::LaneGraph(graph_path))
        }
        (Some(Target::SingleRing), None) => {
            diag.error_spanned(last, format!("name the event type; {expected}"));
            None
        }
        (None, _) => {
            let names: Vec<&str> = syntax::TARGETS.iter().map(|(n, _)| *n).collect();
            diag.error_spanned(
                ty,
                format!(
                    "the return type names the execution target ({}) and the event type; {expected}",
                    list(&names)
                ),
            );
            None
        }
    }
}
