//! The body of a `-> LaneGraph` function: bound boundaries and stages, and `connect`.
//!
//! ```text
//! let raw = ingress::<Packet>("raw");
//! let parse = stage(Parser::default());
//! let decisions = egress::<Decision>("decisions");
//! connect(raw, parse);
//! connect(parse, decisions).lane(sequenced_slots(64));
//! ```
//!
//! Bindings are handles: `connect` names them, and the plan names what they are bound to (an
//! ingress or egress by its string, a stage by its binding).

use super::*;
use syn::{AngleBracketedGenericArguments, ExprMethodCall};

use super::syntax::{
    LaneSyntax, CAPACITY_METHOD, CONNECT, CONNECT_EXAMPLE, GRAPH_EGRESS_EXAMPLE,
    GRAPH_INGRESS_EXAMPLE, GRAPH_STAGE_EXAMPLE, LANES, LANE_EXAMPLE, LANE_METHOD, ON_FULL_METHOD,
};
use byteor_model::vocab::OnFull;

/// A `connect(from, to)` statement, with its lane if it asks for one.
#[derive(Debug)]
pub(crate) struct ConnectDef {
    /// The `connect` token.
    pub(crate) connect: Ident,
    /// The source handle.
    pub(crate) from: Ident,
    /// The destination handle.
    pub(crate) to: Ident,
    /// `.lane(..)`, if given.
    pub(crate) lane: Option<LaneDef>,
    /// The closing parenthesis of `connect(from, to)`.
    pub(crate) close: Span,
}

/// The lane of `.lane(kind(..).capacity(n))`.
#[derive(Debug)]
pub(crate) struct LaneDef {
    /// The lane.
    pub(crate) syntax: &'static LaneSyntax,
    /// The lane's function name (`sequenced_slots`).
    pub(crate) ident: Ident,
    /// The capacity literal and its value, if given.
    pub(crate) capacity: Option<(LitInt, u32)>,
    /// `.on_full(..)`: where it is written and the value, if given.
    pub(crate) on_full: Option<(Span, OnFull)>,
}

impl LaneDef {
    /// Where the lane is written: its capacity if it has one, else its kind.
    pub(crate) fn span(&self) -> Span {
        self.capacity
            .as_ref()
            .map_or(self.ident.span(), |(lit, _)| lit.span())
    }
}

/// What a handle is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    /// `def.ingress[i]`.
    Ingress(usize),
    /// `def.egress[i]`.
    Egress(usize),
    /// `def.stages[i]`.
    Stage(usize),
}

impl PipelineDef {
    /// Every bound handle with what it is bound to, in body order.
    pub(crate) fn handles(&self) -> Vec<(&Ident, Node, usize)> {
        let mut handles: Vec<(&Ident, Node, usize)> = Vec::new();
        for (list, node) in [
            (&self.ingress, Node::Ingress as fn(usize) -> Node),
            (&self.egress, Node::Egress),
        ] {
            for (i, b) in list.iter().enumerate() {
                if let Some((handle, _)) = &b.handle {
                    handles.push((handle, node(i), b.position));
                }
            }
        }
        for (i, stage) in self.stages.iter().enumerate() {
            handles.push((&stage.name, Node::Stage(i), stage.position));
        }
        handles.sort_by_key(|(_, _, position)| *position);
        handles
    }

    /// What `handle` is bound to (the last binding of that name, as in Rust).
    pub(crate) fn node(&self, handle: &Ident) -> Option<Node> {
        self.handles()
            .into_iter()
            .rev()
            .find(|(h, _, _)| *h == handle)
            .map(|(_, node, _)| node)
    }

    /// The plan name `handle` stands for: an ingress's or egress's name, a stage's name, or
    /// (unbound) the handle itself, which the plan then reports as unknown.
    pub(crate) fn plan_name(&self, handle: &Ident) -> String {
        match self.node(handle) {
            Some(Node::Ingress(i)) => self.ingress[i].name.value(),
            Some(Node::Egress(i)) => self.egress[i].name.value(),
            Some(Node::Stage(i)) => self.stages[i].name_str(),
            None => ident_name(handle),
        }
    }
}

/// One statement of a LaneGraph body.
pub(super) fn parse_graph_statement(
    position: usize,
    stmt: &Stmt,
    def: &mut PipelineDef,
    diag: &mut Diagnostics,
) {
    match stmt {
        Stmt::Local(local) => match base_call(local.init.as_ref().map(|i| &*i.expr)) {
            Some((name @ ("ingress" | "egress"), call)) => {
                match parse_boundary(position, name, local, call, diag) {
                    Some(boundary) if name == "ingress" => def.ingress.push(boundary),
                    Some(boundary) => def.egress.push(boundary),
                    None => def.attempted.push(if name == "ingress" {
                        "ingress"
                    } else {
                        "egress"
                    }),
                }
            }
            _ => match parse_stage(local, Target::LaneGraph, diag) {
                Some(mut stage) => {
                    stage.position = position;
                    def.stages.push(stage);
                }
                None => def.attempted.push("stage"),
            },
        },
        Stmt::Expr(expr @ (Expr::Call(_) | Expr::MethodCall(_)), _) => {
            match base_call(Some(expr)) {
                Some((CONNECT, call)) => {
                    if let Some(connect) = parse_connect(expr, call, diag) {
                        def.connections.push(connect);
                    }
                }
                Some((name @ ("ingress" | "egress"), call)) => {
                    def.attempted.push(if name == "ingress" {
                        "ingress"
                    } else {
                        "egress"
                    });
                    let example = if name == "ingress" {
                        GRAPH_INGRESS_EXAMPLE
                    } else {
                        GRAPH_EGRESS_EXAMPLE
                    };
                    diag.error_spanned(
                        call,
                        format!(
                            "bind a LaneGraph {name} to a handle, with its event type: \
                             `{example}`; `connect` takes the handle"
                        ),
                    );
                }
                Some(("stage", _)) => {
                    def.attempted.push("stage");
                    diag.error_spanned(
                        stmt,
                        format!(
                            "a stage needs a name: `let name = stage(..)`, as in \
                             `{GRAPH_STAGE_EXAMPLE}`"
                        ),
                    );
                }
                Some(("shard_key", call)) => diag.error_spanned(
                    &call.func,
                    "`shard_key` is a SingleRing statement: a LaneGraph has no shards",
                ),
                _ => match expr {
                    Expr::Call(call) if called_name(call).is_some() => {
                        let name = called_name(call).unwrap_or_default();
                        let suggestion = crate::diagnostic::did_you_mean(
                            &name,
                            ["ingress", "egress", "stage", CONNECT],
                        );
                        diag.error(
                            call.func.span(),
                            format!("No such statement `{name}`.{suggestion} {}", forms()),
                        );
                    }
                    _ => unexpected(stmt, diag),
                },
            }
        }
        _ => unexpected(stmt, diag),
    }
}

/// A one-line reminder of every LaneGraph statement form.
fn forms() -> String {
    format!(
        "A LaneGraph body declares `{GRAPH_INGRESS_EXAMPLE}`, `{GRAPH_EGRESS_EXAMPLE}`, \
         `{GRAPH_STAGE_EXAMPLE}` and `{CONNECT_EXAMPLE}` (or `{LANE_EXAMPLE}`)"
    )
}

fn unexpected(stmt: &Stmt, diag: &mut Diagnostics) {
    diag.error_spanned(
        stmt,
        format!("a `#[pipeline]` body only declares the graph. {}", forms()),
    );
}

/// `let handle = ingress::<E>("name");` (or `egress`).
fn parse_boundary(
    position: usize,
    role: &str,
    local: &Local,
    call: &ExprCall,
    diag: &mut Diagnostics,
) -> Option<Boundary> {
    let example = if role == "ingress" {
        GRAPH_INGRESS_EXAMPLE
    } else {
        GRAPH_EGRESS_EXAMPLE
    };
    let handle = match &local.pat {
        Pat::Ident(pat)
            if pat.by_ref.is_none() && pat.mutability.is_none() && pat.subpat.is_none() =>
        {
            pat.ident.clone()
        }
        other => {
            diag.error_spanned(
                other,
                format!("an {role} is bound to a plain name, its handle, as in `{example}`"),
            );
            return None;
        }
    };
    if let Some((else_token, _)) = local.init.as_ref().and_then(|i| i.diverge.as_ref()) {
        diag.error(
            else_token.span,
            format!("an {role} declaration has no `else` branch"),
        );
        return None;
    }
    if let Some(Expr::MethodCall(method)) = local.init.as_ref().map(|i| &*i.expr) {
        diag.error(
            method.method.span(),
            format!("an {role} takes no settings: `{example}`"),
        );
        return None;
    }
    let Expr::Path(path) = &*call.func else {
        return None;
    };
    let segment = path.path.segments.last()?;
    let event = match &segment.arguments {
        PathArguments::AngleBracketed(AngleBracketedGenericArguments { args, .. })
            if args.len() == 1 =>
        {
            match &args[0] {
                GenericArgument::Type(event) => Some(event.clone()),
                _ => None,
            }
        }
        _ => None,
    };
    let Some(event) = event else {
        diag.error_spanned(
            &call.func,
            format!("name the {role}'s event type: `{example}`"),
        );
        return None;
    };
    let args: Vec<&Expr> = call.args.iter().collect();
    let [Expr::Lit(ExprLit {
        lit: Lit::Str(name),
        ..
    })] = args.as_slice()
    else {
        diag.error_spanned(
            call,
            format!("an {role} takes its name as a string: `{example}`"),
        );
        return None;
    };
    Some(Boundary {
        name: name.clone(),
        span: call.span(),
        handle: Some((handle, event)),
        position,
    })
}

/// `connect(from, to)` with an optional `.lane(..)`.
fn parse_connect(expr: &Expr, call: &ExprCall, diag: &mut Diagnostics) -> Option<ConnectDef> {
    let Expr::Path(path) = &*call.func else {
        return None;
    };
    let connect = path.path.segments.last()?.ident.clone();
    if let Some(segment) = path.path.segments.last() {
        if !matches!(segment.arguments, PathArguments::None) {
            diag.error_spanned(
                &segment.arguments,
                "`connect` takes no type arguments: the handles carry the event types",
            );
        }
    }
    let handle = |expr: &Expr| match expr {
        Expr::Path(path) if path.qself.is_none() => path.path.get_ident().cloned(),
        _ => None,
    };
    let args: Vec<&Expr> = call.args.iter().collect();
    let endpoints = match args.as_slice() {
        [from, to] => handle(from).zip(handle(to)),
        _ => None,
    };
    let Some((from, to)) = endpoints else {
        diag.error_spanned(
            call,
            format!("`connect` takes two handles, each a name bound by `let`: `{CONNECT_EXAMPLE}`"),
        );
        return None;
    };
    // The settings, outside in.
    let mut methods: Vec<&ExprMethodCall> = Vec::new();
    let mut at = expr;
    while let Expr::MethodCall(method) = at {
        methods.push(method);
        at = &method.receiver;
    }
    let mut lane = None;
    let mut lane_given = false;
    for method in methods.into_iter().rev() {
        let name = method.method.unraw().to_string();
        if name != LANE_METHOD {
            diag.error(
                method.method.span(),
                format!(
                    "No such connection setting `{name}`. A connection takes its lane: \
                     `{LANE_EXAMPLE}`"
                ),
            );
            continue;
        }
        if std::mem::replace(&mut lane_given, true) {
            diag.error(
                method.method.span(),
                format!("`lane` is set twice on `connect({from}, {to})`"),
            );
            continue;
        }
        let args: Vec<&Expr> = method.args.iter().collect();
        let [arg] = args.as_slice() else {
            diag.error_spanned(method, format!("expected `{LANE_EXAMPLE}`"));
            continue;
        };
        lane = parse_lane(arg, diag);
    }
    Some(ConnectDef {
        connect,
        from,
        to,
        lane,
        close: call.paren_token.span.close(),
    })
}

/// `events()`, `events().capacity(256)`, `sequenced_slots(64)`, `fanout_broadcast()`,
/// `journal()`, ..., each optionally followed by `.on_full("drop")`.
fn parse_lane(expr: &Expr, diag: &mut Diagnostics) -> Option<LaneDef> {
    let lanes = || {
        LANES
            .iter()
            .map(|l| format!("`{}`", l.example))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // `kind(..)` followed by settings: `.capacity(n)`, `.on_full("drop")`.
    let mut settings: Vec<&ExprMethodCall> = Vec::new();
    let mut base = expr;
    while let Expr::MethodCall(method) = base {
        settings.push(method);
        base = &method.receiver;
    }
    settings.reverse();
    let Expr::Call(call) = base else {
        diag.error_spanned(expr, format!("expected a lane: {}", lanes()));
        return None;
    };
    let ident = match &*call.func {
        Expr::Path(path) if path.qself.is_none() => path.path.get_ident().cloned(),
        _ => None,
    };
    let Some(ident) = ident else {
        diag.error_spanned(&call.func, format!("expected a lane: {}", lanes()));
        return None;
    };
    let name = ident.unraw().to_string();
    let Some(syntax) = syntax::lane(&name) else {
        let names: Vec<&str> = LANES.iter().map(|l| l.kind.as_str()).collect();
        diag.error(ident.span(), no_such("lane", "lanes", &name, &names));
        return None;
    };
    let literal = |expr: &Expr, diag: &mut Diagnostics| -> Option<(LitInt, u32)> {
        let Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) = expr
        else {
            diag.error_spanned(
                expr,
                "a lane capacity is an integer literal, so that it is checked at compile time",
            );
            return None;
        };
        match lit.base10_parse::<u32>() {
            Ok(value) => Some((lit.clone(), value)),
            Err(_) => {
                diag.error(lit.span(), "a lane capacity must fit in 32 bits");
                None
            }
        }
    };
    let args: Vec<&Expr> = call.args.iter().collect();
    let mut capacity = match (syntax.capacity_argument, args.as_slice()) {
        (true, [arg]) => Some(literal(arg, diag)?),
        (false, []) => None,
        _ => {
            diag.error_spanned(call, format!("expected `{}`", syntax.example));
            return None;
        }
    };
    let mut on_full = None;
    for method in settings {
        let method_name = method.method.unraw().to_string();
        let args: Vec<&Expr> = method.args.iter().collect();
        match method_name.as_str() {
            CAPACITY_METHOD => {
                if syntax.capacity_argument {
                    diag.error(
                        method.method.span(),
                        format!(
                            "`{name}` takes its capacity as its argument: `{}`",
                            syntax.example
                        ),
                    );
                    return None;
                }
                if capacity.is_some() {
                    diag.error(method.method.span(), "the capacity is set twice");
                    return None;
                }
                let [arg] = args.as_slice() else {
                    diag.error_spanned(method, format!("expected `{name}().capacity(1024)`"));
                    return None;
                };
                capacity = Some(literal(arg, diag)?);
            }
            ON_FULL_METHOD => {
                if on_full.is_some() {
                    diag.error(method.method.span(), "`on_full` is set twice");
                    return None;
                }
                let value = match args.as_slice() {
                    [Expr::Lit(ExprLit {
                        lit: Lit::Str(lit), ..
                    })] => Some((lit.value(), lit.span())),
                    [Expr::Path(path)] => path
                        .path
                        .get_ident()
                        .map(|i| (i.unraw().to_string(), i.span())),
                    _ => None,
                };
                let Some((text, span)) = value else {
                    diag.error_spanned(
                        method,
                        "expected `.on_full(\"block\")` or `.on_full(\"drop\")`",
                    );
                    return None;
                };
                let choices = [OnFull::Block, OnFull::Drop];
                let Some(value) = choices.into_iter().find(|o| o.as_str() == text) else {
                    let names: Vec<&str> = choices.iter().map(|o| o.as_str()).collect();
                    diag.error(
                        span,
                        no_such("`on_full`", "`on_full` values", &text, &names),
                    );
                    return None;
                };
                on_full = Some((span, value));
            }
            _ => {
                diag.error(
                    method.method.span(),
                    format!(
                        "No such lane setting `{method_name}`. A lane takes `.capacity(n)` and `.on_full(\"drop\")`"
                    ),
                );
                return None;
            }
        }
    }
    Some(LaneDef {
        syntax,
        ident,
        capacity,
        on_full,
    })
}

/// Each handle names one thing. Two declarations bound to the same name, which the plan does
/// not already refuse (same plan name), leave `connect` ambiguous: the later one would shadow.
pub(super) fn check_handles(def: &PipelineDef, diag: &mut Diagnostics) {
    let handles = def.handles();
    let plan_name = |node: Node| match node {
        Node::Ingress(i) => def.ingress[i].name.value(),
        Node::Egress(i) => def.egress[i].name.value(),
        Node::Stage(i) => def.stages[i].name_str(),
    };
    let what = |node: Node| match node {
        Node::Ingress(_) => "ingress",
        Node::Egress(_) => "egress",
        Node::Stage(_) => "stage",
    };
    for (k, (handle, node, _)) in handles.iter().enumerate() {
        let earlier = handles[..k]
            .iter()
            .find(|(h, n, _)| h == handle && plan_name(*n) != plan_name(*node));
        if let Some((_, first, _)) = earlier {
            diag.error(
                handle.span(),
                format!(
                    "handle `{}` is already bound to {} `{}`; give each ingress, egress and \
                     stage its own binding, which is what `connect` names",
                    ident_name(handle),
                    what(*first),
                    plan_name(*first)
                ),
            );
        }
    }
}
