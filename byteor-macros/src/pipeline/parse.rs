//! Parsing `#[pipeline(...)] fn name(..) -> SingleRing<E> { ... }` into a [`PipelineDef`].
//!
//! Parsing never stops at the first problem: each malformed option or statement is recorded in
//! the [`Diagnostics`] and skipped, and parsing goes on, so one compilation shows every
//! mistake. Parsing refuses only what the tokens cannot say: unknown options, statements and
//! settings, malformed values, and an option, setting, parameter or shard key written twice
//! (a plan holds one). Every rule about what the values mean (names, dependencies, limits) is
//! the plan model's: see `plan.rs` and `report.rs`.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, ExprCall, ExprLit, FnArg, GenericArgument, Generics, Ident, Item, ItemFn, Lit,
    LitInt, LitStr, Local, Pat, PathArguments, ReturnType, Stmt, Token, Type, Visibility,
};

use super::syntax::{
    self, Choice, OptionSyntax, Setting, SettingSyntax, Statement, Target, ValueShape,
    STAGE_EXAMPLE, STATEMENTS,
};
use crate::diagnostic::{closest, list, no_such, Diagnostics};

/// Everything written in a `#[pipeline]` function, as parsed.
#[derive(Debug)]
pub(crate) struct PipelineDef {
    /// Attributes on the function (doc comments, `#[allow]`, ...), kept on the output.
    pub(crate) attrs: Vec<Attribute>,
    /// Visibility of the function.
    pub(crate) vis: Visibility,
    /// Function name.
    pub(crate) ident: Ident,
    /// Generic parameters and where clause of the function.
    pub(crate) generics: Generics,
    /// Function parameters, as written.
    pub(crate) inputs: syn::punctuated::Punctuated<FnArg, Token![,]>,
    /// The event type (from `-> SingleRing<E>`), when the return type could be read.
    pub(crate) event: Option<Type>,
    /// The path to `SingleRing` as written in the return type (`SingleRing`,
    /// `byteor::exec::SingleRing`), through which the expansion calls the builder.
    pub(crate) ring_path: Option<syn::Path>,
    /// The options of `#[pipeline(...)]`, in order.
    pub(crate) options: Vec<OptionValue>,
    /// `ingress("...")` statements.
    pub(crate) ingress: Vec<Boundary>,
    /// `egress("...")` statements.
    pub(crate) egress: Vec<Boundary>,
    /// `shard_key("...", f)` statements.
    pub(crate) shard_keys: Vec<ShardKey>,
    /// `let name = stage(...)` statements, in order.
    pub(crate) stages: Vec<StageDef>,
    /// Statements that were attempted but malformed or misspelt (`ingress`, `egress`,
    /// `shard_key`, `stage`), so that they are not also reported as missing.
    pub(crate) attempted: Vec<&'static str>,
    /// Where to report problems with the function as a whole.
    pub(crate) span: Span,
}

/// One `key = value` of `#[pipeline(...)]`.
#[derive(Debug)]
pub(crate) struct OptionValue {
    /// The option.
    pub(crate) syntax: &'static OptionSyntax,
    /// The key token.
    pub(crate) key: Ident,
    /// The value.
    pub(crate) value: Value,
}

/// A parsed option value.
#[derive(Debug)]
pub(crate) enum Value {
    /// A string literal.
    Str(LitStr),
    /// An integer literal and its value.
    Int(LitInt, u32),
    /// A name from the option's choice set, and the token it was written with.
    Choice(Choice, Span),
    /// A Rust expression.
    Expr(Box<Expr>),
}

impl Value {
    /// Where the value was written.
    pub(crate) fn span(&self) -> Span {
        match self {
            Value::Str(lit) => lit.span(),
            Value::Int(lit, _) => lit.span(),
            Value::Choice(_, span) => *span,
            Value::Expr(expr) => expr.span(),
        }
    }
}

impl PipelineDef {
    /// The option `name`, if given.
    pub(crate) fn option(&self, name: &str) -> Option<&OptionValue> {
        self.options.iter().find(|o| o.syntax.name == name)
    }

    /// The value of an integer option, if set.
    pub(crate) fn int_option(&self, name: &str) -> Option<u32> {
        match self.option(name).map(|o| &o.value) {
            Some(Value::Int(_, value)) => Some(*value),
            _ => None,
        }
    }

    /// The choice an option names, if set.
    pub(crate) fn choice(&self, name: &str) -> Option<Choice> {
        match self.option(name).map(|o| &o.value) {
            Some(Value::Choice(choice, _)) => Some(*choice),
            _ => None,
        }
    }
}

/// An `ingress("name")` or `egress("name")` statement.
#[derive(Debug)]
pub(crate) struct Boundary {
    /// The name literal.
    pub(crate) name: LitStr,
    /// The statement, for "declared twice" messages.
    pub(crate) span: Span,
}

/// A `shard_key("name", key_fn)` statement.
#[derive(Debug)]
pub(crate) struct ShardKey {
    /// The key's name in the plan.
    pub(crate) name: LitStr,
    /// The function from `&E` to `u64`.
    pub(crate) key_fn: Expr,
    /// The statement.
    pub(crate) span: Span,
}

/// A `let name = stage(value).setting(..)...;` statement.
#[derive(Debug)]
pub(crate) struct StageDef {
    /// The stage's name (the binding).
    pub(crate) name: Ident,
    /// The stage value expression.
    pub(crate) value: Expr,
    /// The settings, in source order.
    pub(crate) settings: Vec<SettingUse>,
}

impl StageDef {
    /// The stage's name as a string (raw identifiers without `r#`).
    pub(crate) fn name_str(&self) -> String {
        ident_name(&self.name)
    }

    /// The dependencies named in the first `.after([...])`.
    pub(crate) fn after(&self) -> &[Ident] {
        self.settings
            .iter()
            .find_map(|s| match &s.arg {
                SettingArg::After(deps) => Some(deps.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }
}

/// The name an identifier stands for in the plan: raw identifiers without `r#`.
pub(crate) fn ident_name(ident: &Ident) -> String {
    ident.unraw().to_string()
}

/// One setting chained on `stage(...)`.
#[derive(Debug)]
pub(crate) struct SettingUse {
    /// The setting.
    pub(crate) syntax: &'static SettingSyntax,
    /// The method name token.
    pub(crate) method: Ident,
    /// Its parsed argument.
    pub(crate) arg: SettingArg,
}

/// The argument of a stage setting.
#[derive(Debug)]
pub(crate) enum SettingArg {
    /// `after([a, b])`.
    After(Vec<Ident>),
    /// `side_effects()` (true) or `side_effects(bool)`.
    SideEffects(bool),
    /// `kind(expr)`.
    Kind(Box<Expr>),
    /// `param("key", expr)`.
    Param(LitStr, Box<Expr>),
}

/// Parses the attribute arguments and the function. Returns `None` when the item is not a
/// function at all (the error is recorded).
pub(crate) fn parse(
    args: TokenStream,
    item: TokenStream,
    diag: &mut Diagnostics,
) -> Option<PipelineDef> {
    let options = parse_options(args, diag);
    let func: ItemFn = match syn::parse2::<Item>(item) {
        Ok(Item::Fn(func)) => func,
        Ok(other) => {
            diag.error_spanned(
                other,
                "`#[pipeline]` goes on a function: \
                 `fn orders() -> SingleRing<Order> { ingress(\"orders_in\"); ... }`",
            );
            return None;
        }
        Err(e) => {
            diag.push(e);
            return None;
        }
    };
    check_signature(&func, diag);
    let (ring_path, event) = parse_return_type(&func, diag).unzip();
    let mut def = PipelineDef {
        attrs: func.attrs.clone(),
        vis: func.vis.clone(),
        ident: func.sig.ident.clone(),
        generics: func.sig.generics.clone(),
        inputs: func.sig.inputs.clone(),
        event,
        ring_path,
        options,
        ingress: Vec::new(),
        egress: Vec::new(),
        shard_keys: Vec::new(),
        stages: Vec::new(),
        attempted: Vec::new(),
        span: func.sig.ident.span(),
    };
    for stmt in &func.block.stmts {
        parse_statement(stmt, &mut def, diag);
    }
    Some(def)
}

/// Parses `key = value, ...`, recording each bad option and going on with the next.
pub(crate) fn parse_options(args: TokenStream, diag: &mut Diagnostics) -> Vec<OptionValue> {
    let parser = |input: ParseStream| {
        let mut options = Vec::new();
        while !input.is_empty() {
            match parse_option(input) {
                Ok(option)
                    if options
                        .iter()
                        .any(|o: &OptionValue| o.syntax.name == option.syntax.name) =>
                {
                    diag.error(
                        option.key.span(),
                        format!("`{}` is given twice", option.syntax.name),
                    );
                }
                Ok(option) => options.push(option),
                Err(e) => {
                    diag.push(e);
                    skip_past_comma(input);
                    continue;
                }
            }
            if !input.is_empty() {
                if let Err(e) = input.parse::<Token![,]>() {
                    diag.push(e);
                    skip_past_comma(input);
                }
            }
        }
        Ok(options)
    };
    match parser.parse2(args) {
        Ok(options) => options,
        Err(e) => {
            diag.push(e);
            Vec::new()
        }
    }
}

fn parse_option(input: ParseStream) -> syn::Result<OptionValue> {
    let key = Ident::parse_any(input)?;
    let name = key.unraw().to_string();
    let syntax = syntax::option(&name).ok_or_else(|| {
        syn::Error::new(
            key.span(),
            no_such("option", "options", &name, &syntax::option_names()),
        )
    })?;
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            key.span(),
            format!("`{name}` needs a value: `{}`", syntax.example),
        ));
    }
    input.parse::<Token![=]>()?;
    let value = match &syntax.value {
        ValueShape::Str => Value::Str(input.parse().map_err(|e| {
            syn::Error::new(e.span(), format!("expected a string: `{}`", syntax.example))
        })?),
        ValueShape::Int => {
            let lit: LitInt = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!("expected an integer: `{}`", syntax.example),
                )
            })?;
            let value = lit.base10_parse::<u64>()?;
            let value = u32::try_from(value).map_err(|_| {
                syn::Error::new(
                    lit.span(),
                    format!("`{name}` must fit in 32 bits; {value} does not"),
                )
            })?;
            Value::Int(lit, value)
        }
        ValueShape::Choice(set) => {
            let (text, span) = if input.peek(LitStr) {
                let lit: LitStr = input.parse()?;
                (lit.value(), lit.span())
            } else if input.peek(Ident::peek_any) {
                let ident = Ident::parse_any(input)?;
                (ident.unraw().to_string(), ident.span())
            } else {
                return Err(input.error(format!("expected a name: `{}`", syntax.example)));
            };
            let choice = set.find(&text).ok_or_else(|| {
                let names: Vec<&str> = set.all().into_iter().map(Choice::name).collect();
                let (noun, plural) = set.nouns();
                syn::Error::new(span, no_such(noun, plural, &text, &names))
            })?;
            Value::Choice(choice, span)
        }
        ValueShape::Expr => Value::Expr(Box::new(input.parse()?)),
    };
    Ok(OptionValue { syntax, key, value })
}

/// Skips tokens up to and including the next top-level `,`.
fn skip_past_comma(input: ParseStream) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            rest = next;
            if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
        }
        Ok(((), rest))
    });
}

/// Refuses function shapes the expansion cannot keep.
fn check_signature(func: &ItemFn, diag: &mut Diagnostics) {
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

/// Reads `-> SingleRing<E>`: the path to the builder entry point and the event type.
fn parse_return_type(func: &ItemFn, diag: &mut Diagnostics) -> Option<(syn::Path, Type)> {
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
            Some((ring_path, event))
        }
        (Some(Target::LaneGraph), _) => {
            diag.error(
                last.ident.span(),
                "LaneGraph authoring via `#[pipeline]` comes with the LaneGraph executor; for \
                 now build a LaneGraph plan with `PipelinePlanV2::lane_graph(..)` or a plan \
                 document",
            );
            None
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

/// A one-line reminder of every statement form.
fn statement_forms() -> String {
    let mut forms: Vec<String> = STATEMENTS
        .iter()
        .map(|s| format!("`{}`", s.example))
        .collect();
    forms.push(format!("`{STAGE_EXAMPLE}`"));
    forms.join(", ")
}

fn parse_statement(stmt: &Stmt, def: &mut PipelineDef, diag: &mut Diagnostics) {
    let unnamed_stage =
        format!("a stage needs a name: `let name = stage(..)`, as in `{STAGE_EXAMPLE}`");
    match stmt {
        Stmt::Local(local) => match parse_stage(local, diag) {
            Some(stage) => def.stages.push(stage),
            None => def.attempted.push("stage"),
        },
        Stmt::Expr(Expr::Call(call), _) => match called_name(call).as_deref() {
            Some(name) => match STATEMENTS.iter().find(|s| s.name == name) {
                Some(syntax) => parse_call_statement(syntax.statement, call, def, diag),
                None if name == "stage" => {
                    def.attempted.push("stage");
                    diag.error_spanned(stmt, unnamed_stage);
                }
                None => {
                    let names: Vec<&'static str> = STATEMENTS.iter().map(|s| s.name).collect();
                    // A misspelt `ingress` is not also a missing one.
                    if let Some(meant) = closest(name, names.iter().copied()) {
                        def.attempted.extend(names.iter().find(|n| **n == meant));
                    }
                    diag.error(
                        call.func.span(),
                        format!(
                            "{} Declare stages with `{STAGE_EXAMPLE}`",
                            no_such("statement", "statements", name, &names)
                        ),
                    );
                }
            },
            None => unexpected_statement(stmt, diag),
        },
        Stmt::Expr(Expr::MethodCall(_), _) => {
            def.attempted.push("stage");
            diag.error_spanned(stmt, unnamed_stage);
        }
        _ => unexpected_statement(stmt, diag),
    }
}

fn unexpected_statement(stmt: &Stmt, diag: &mut Diagnostics) {
    diag.error_spanned(
        stmt,
        format!(
            "a `#[pipeline]` body only declares the ring: {}",
            statement_forms()
        ),
    );
}

/// The name of a call to a plain identifier: `ingress(..)` -> `ingress`.
fn called_name(call: &ExprCall) -> Option<String> {
    match &*call.func {
        Expr::Path(path) if path.qself.is_none() => {
            path.path.get_ident().map(|ident| ident.unraw().to_string())
        }
        _ => None,
    }
}

fn parse_call_statement(
    statement: Statement,
    call: &ExprCall,
    def: &mut PipelineDef,
    diag: &mut Diagnostics,
) {
    let syntax = STATEMENTS
        .iter()
        .find(|s| s.statement == statement)
        .unwrap_or(&STATEMENTS[0]);
    let args: Vec<&Expr> = call.args.iter().collect();
    let wrong = |def: &mut PipelineDef, diag: &mut Diagnostics| {
        def.attempted.push(syntax.name);
        diag.error_spanned(call, format!("expected `{}`", syntax.example));
    };
    match statement {
        Statement::Ingress | Statement::Egress => {
            let [Expr::Lit(ExprLit {
                lit: Lit::Str(name),
                ..
            })] = args.as_slice()
            else {
                return wrong(def, diag);
            };
            let boundary = Boundary {
                name: name.clone(),
                span: call.span(),
            };
            if statement == Statement::Ingress {
                def.ingress.push(boundary);
            } else {
                def.egress.push(boundary);
            }
        }
        Statement::ShardKey => {
            let [Expr::Lit(ExprLit {
                lit: Lit::Str(name),
                ..
            }), key_fn] = args.as_slice()
            else {
                return wrong(def, diag);
            };
            if !def.shard_keys.is_empty() {
                diag.error(
                    call.span(),
                    "a ring has one shard key; this is a second `shard_key(..)`",
                );
                return;
            }
            def.shard_keys.push(ShardKey {
                name: name.clone(),
                key_fn: (*key_fn).clone(),
                span: call.span(),
            });
        }
    }
}

/// Parses `let name = stage(value).settings...;`.
fn parse_stage(local: &Local, diag: &mut Diagnostics) -> Option<StageDef> {
    let name = match &local.pat {
        Pat::Ident(pat)
            if pat.by_ref.is_none() && pat.mutability.is_none() && pat.subpat.is_none() =>
        {
            pat.ident.clone()
        }
        Pat::Type(typed) => {
            diag.error_spanned(
                &typed.ty,
                "remove the type annotation: a stage binding is the stage's name",
            );
            return None;
        }
        other => {
            diag.error_spanned(
                other,
                format!("a stage is bound to a plain name, as in `{STAGE_EXAMPLE}`"),
            );
            return None;
        }
    };
    let Some(init) = &local.init else {
        diag.error_spanned(local, format!("a stage needs a value: `{STAGE_EXAMPLE}`"));
        return None;
    };
    if let Some((else_token, _)) = &init.diverge {
        diag.error(else_token.span, "a stage declaration has no `else` branch");
        return None;
    }

    // Unwind `stage(value).a(..).b(..)` from the outside in, then read the settings in the
    // order they were written (so their errors come out in source order too).
    let mut calls = Vec::new();
    let mut expr = &*init.expr;
    let value = loop {
        match expr {
            Expr::MethodCall(call) => {
                calls.push(call);
                expr = &call.receiver;
            }
            Expr::Call(call) if called_name(call).as_deref() == Some("stage") => {
                if call.args.len() != 1 {
                    diag.error_spanned(
                        call,
                        "`stage` takes the stage value, as in `stage(Parse::default())`",
                    );
                    return None;
                }
                break call.args[0].clone();
            }
            other => {
                diag.error_spanned(
                    other,
                    format!(
                        "a `let` in a `#[pipeline]` body declares a stage: `{STAGE_EXAMPLE}`; \
                         compute other values in the caller and pass them as parameters"
                    ),
                );
                return None;
            }
        }
    };
    let mut settings = Vec::new();
    for call in calls.into_iter().rev() {
        let method = call.method.unraw().to_string();
        if let Some(turbofish) = &call.turbofish {
            diag.error_spanned(turbofish, "stage settings take no type arguments");
        } else if let Some(syntax) = syntax::setting(&method) {
            let args: Vec<&Expr> = call.args.iter().collect();
            if let Some(arg) = parse_setting(syntax, &call.method, &args, call.span(), diag) {
                let setting = SettingUse {
                    syntax,
                    method: call.method.clone(),
                    arg,
                };
                if !given_twice(&name, &settings, &setting, diag) {
                    settings.push(setting);
                }
            }
        } else {
            let names: Vec<&str> = syntax::SETTINGS.iter().map(|s| s.name).collect();
            diag.error(
                call.method.span(),
                no_such("stage setting", "stage settings", &method, &names),
            );
        }
    }
    Some(StageDef {
        name,
        value,
        settings,
    })
}

/// Reports a setting a stage already has (or a parameter it already sets): a stage has one
/// of each.
fn given_twice(
    stage: &Ident,
    earlier: &[SettingUse],
    setting: &SettingUse,
    diag: &mut Diagnostics,
) -> bool {
    let stage = stage.unraw();
    if let SettingArg::Param(key, _) = &setting.arg {
        let repeated = earlier
            .iter()
            .any(|s| matches!(&s.arg, SettingArg::Param(k, _) if k.value() == key.value()));
        if repeated {
            diag.error(
                key.span(),
                format!(
                    "parameter `{}` is set twice on stage `{stage}`",
                    key.value()
                ),
            );
        }
        return repeated;
    }
    let repeated =
        !setting.syntax.repeatable && earlier.iter().any(|s| s.syntax.name == setting.syntax.name);
    if repeated {
        let hint = if setting.syntax.setting == Setting::After {
            "; list every dependency in one `.after([..])`"
        } else {
            ""
        };
        diag.error(
            setting.method.span(),
            format!(
                "`{}` is set twice on stage `{stage}`{hint}",
                setting.syntax.name
            ),
        );
    }
    repeated
}

fn parse_setting(
    form: &'static SettingSyntax,
    method: &Ident,
    args: &[&Expr],
    call_span: Span,
    diag: &mut Diagnostics,
) -> Option<SettingArg> {
    let wrong = |diag: &mut Diagnostics| {
        diag.error(call_span, format!("expected `{}`", form.example));
        None
    };
    match form.setting {
        Setting::After => {
            let [arg] = args else { return wrong(diag) };
            let Expr::Array(array) = arg else {
                diag.error_spanned(
                    arg,
                    format!(
                        "list the stages this one runs after in brackets: `{}`",
                        form.example
                    ),
                );
                return None;
            };
            let mut deps = Vec::new();
            for elem in &array.elems {
                match elem {
                    Expr::Path(path) if path.qself.is_none() && path.path.get_ident().is_some() => {
                        deps.extend(path.path.get_ident().cloned());
                    }
                    other => diag.error_spanned(
                        other,
                        "name a stage declared in this pipeline (the name it is bound to)",
                    ),
                }
            }
            Some(SettingArg::After(deps))
        }
        Setting::SideEffects => match args {
            [] => Some(SettingArg::SideEffects(true)),
            [Expr::Lit(ExprLit {
                lit: Lit::Bool(value),
                ..
            })] => Some(SettingArg::SideEffects(value.value)),
            _ => {
                diag.error(
                    method.span(),
                    "expected `.side_effects()` or `.side_effects(true | false)`",
                );
                None
            }
        },
        Setting::Kind => match args {
            [kind] => Some(SettingArg::Kind(Box::new((*kind).clone()))),
            _ => wrong(diag),
        },
        Setting::Param => match args {
            [Expr::Lit(ExprLit {
                lit: Lit::Str(key), ..
            }), value] => Some(SettingArg::Param(key.clone(), Box::new((*value).clone()))),
            _ => wrong(diag),
        },
    }
}

#[cfg(test)]
pub(crate) mod tests {
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
        assert!(errors[0].starts_with("LaneGraph authoring via `#[pipeline]` comes with"));
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
}
