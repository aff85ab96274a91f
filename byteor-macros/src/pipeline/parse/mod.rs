//! Parsing `#[pipeline(...)] fn name(..) -> SingleRing<E> { ... }` (or `-> LaneGraph`) into a
//! [`PipelineDef`].
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

mod graph;
mod options;
mod signature;
mod stage;

use graph::parse_graph_statement;
pub(crate) use graph::{ConnectDef, LaneDef, Node};
pub(crate) use options::parse_options;
pub(crate) use signature::Returns;
use signature::{check_signature, parse_return_type, target_of};
use stage::parse_stage;

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
    /// What the function builds: named by the return type (a ring when it names neither).
    pub(crate) target: Target,
    /// The event type (from `-> SingleRing<E>`), when the return type could be read.
    pub(crate) event: Option<Type>,
    /// The path to `SingleRing` as written in the return type (`SingleRing`,
    /// `byteor::exec::SingleRing`), through which the expansion calls the builder.
    pub(crate) ring_path: Option<syn::Path>,
    /// The path to `LaneGraph` as written in the return type, for `-> LaneGraph`.
    pub(crate) graph_path: Option<syn::Path>,
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
    /// LaneGraph: `connect(a, b)` statements, in order.
    pub(crate) connections: Vec<ConnectDef>,
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

/// An `ingress("name")` or `egress("name")` statement, or in a LaneGraph
/// `let handle = ingress::<E>("name")`.
#[derive(Debug)]
pub(crate) struct Boundary {
    /// The name literal.
    pub(crate) name: LitStr,
    /// The statement, for "declared twice" messages.
    pub(crate) span: Span,
    /// LaneGraph: the handle it is bound to, and its event type.
    pub(crate) handle: Option<(Ident, Type)>,
    /// Which body statement declares it (0-based), for the order of the returned handles.
    pub(crate) position: usize,
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
    /// LaneGraph: which body statement declares it (0-based).
    pub(crate) position: usize,
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
    let item = syn::parse2::<Item>(item);
    // The options a function takes depend on what it builds: read the return type first,
    // reporting nothing yet, so that errors still come out in source order.
    let target = match &item {
        Ok(Item::Fn(func)) => target_of(func),
        _ => None,
    }
    .unwrap_or(Target::SingleRing);
    let options = parse_options(args, target, diag);
    let func: ItemFn = match item {
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
    let (mut ring_path, mut event, mut graph_path) = (None, None, None);
    match parse_return_type(&func, diag) {
        Some(Returns::SingleRing(path, ty)) => (ring_path, event) = (Some(path), Some(*ty)),
        Some(Returns::LaneGraph(path)) => graph_path = Some(path),
        None => {}
    }
    let mut def = PipelineDef {
        attrs: func.attrs.clone(),
        vis: func.vis.clone(),
        ident: func.sig.ident.clone(),
        generics: func.sig.generics.clone(),
        inputs: func.sig.inputs.clone(),
        target,
        event,
        ring_path,
        graph_path,
        options,
        ingress: Vec::new(),
        egress: Vec::new(),
        shard_keys: Vec::new(),
        stages: Vec::new(),
        connections: Vec::new(),
        attempted: Vec::new(),
        span: func.sig.ident.span(),
    };
    for (position, stmt) in func.block.stmts.iter().enumerate() {
        match target {
            Target::SingleRing => parse_statement(stmt, &mut def, diag),
            Target::LaneGraph => parse_graph_statement(position, stmt, &mut def, diag),
        }
    }
    if target == Target::LaneGraph {
        graph::check_handles(&def, diag);
    }
    Some(def)
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
        Stmt::Local(local) => match base_call(local.init.as_ref().map(|i| &*i.expr)) {
            Some((name @ ("ingress" | "egress"), call)) => {
                def.attempted.push(if name == "ingress" {
                    "ingress"
                } else {
                    "egress"
                });
                diag.error_spanned(
                    call,
                    format!(
                        "a SingleRing's `{name}` is a statement of its own, as in `{}`: the \
                         ring has one event type, named in `-> SingleRing<Order>`; bound \
                         handles with their own event types are a LaneGraph's (`-> LaneGraph`)",
                        example(name)
                    ),
                );
            }
            _ => match parse_stage(local, Target::SingleRing, diag) {
                Some(stage) => def.stages.push(stage),
                None => def.attempted.push("stage"),
            },
        },
        Stmt::Expr(expr @ (Expr::Call(_) | Expr::MethodCall(_)), _)
            if base_call(Some(expr)).is_some_and(|(name, _)| name == syntax::CONNECT) =>
        {
            diag.error_spanned(
                expr,
                format!(
                    "`connect` wires the stages of a LaneGraph (`-> LaneGraph`); a SingleRing \
                     stage names the stages it runs after: `{STAGE_EXAMPLE}`"
                ),
            );
        }
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

/// The call a chain of method calls starts from, with the name it calls, turbofish allowed:
/// `ingress::<E>("in")` -> `ingress`, `connect(a, b).lane(..)` -> `connect`.
fn base_call(expr: Option<&Expr>) -> Option<(&'static str, &ExprCall)> {
    let mut expr = expr?;
    loop {
        match expr {
            Expr::MethodCall(call) => expr = &call.receiver,
            Expr::Call(call) => {
                let Expr::Path(path) = &*call.func else {
                    return None;
                };
                let [segment] = path.path.segments.iter().collect::<Vec<_>>()[..] else {
                    return None;
                };
                if path.qself.is_some() || path.path.leading_colon.is_some() {
                    return None;
                }
                let name = segment.ident.unraw().to_string();
                return ["ingress", "egress", "stage", "shard_key", syntax::CONNECT]
                    .into_iter()
                    .find(|n| *n == name)
                    .map(|n| (n, call));
            }
            _ => return None,
        }
    }
}

/// How a SingleRing statement is written: `ingress("orders_in");`.
fn example(statement: &str) -> &'static str {
    STATEMENTS
        .iter()
        .find(|s| s.name == statement)
        .map_or("", |s| s.example)
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
                handle: None,
                position: 0,
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

#[cfg(test)]
pub(crate) mod tests;
