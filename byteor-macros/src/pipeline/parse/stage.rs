//! `let name = stage(value).setting(..)...;` and its settings.

use super::*;

/// Parses `let name = stage(value).settings...;` in a function that builds `target`.
pub(super) fn parse_stage(
    local: &Local,
    target: Target,
    diag: &mut Diagnostics,
) -> Option<StageDef> {
    let example = match target {
        Target::SingleRing => STAGE_EXAMPLE,
        Target::LaneGraph => syntax::GRAPH_STAGE_EXAMPLE,
    };
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
                format!("a stage is bound to a plain name, as in `{example}`"),
            );
            return None;
        }
    };
    let Some(init) = &local.init else {
        diag.error_spanned(local, format!("a stage needs a value: `{example}`"));
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
                let declares = match target {
                    Target::SingleRing => format!("a stage: `{STAGE_EXAMPLE}`"),
                    Target::LaneGraph => format!(
                        "an ingress, an egress or a stage: `{}`, `{}` or `{}`",
                        syntax::GRAPH_INGRESS_EXAMPLE,
                        syntax::GRAPH_EGRESS_EXAMPLE,
                        syntax::GRAPH_STAGE_EXAMPLE
                    ),
                };
                diag.error_spanned(
                    other,
                    format!(
                        "a `let` in a `#[pipeline]` body declares {declares}; compute other \
                         values in the caller and pass them as parameters"
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
        } else if target == Target::LaneGraph && method != "after" {
            // `.after` goes into the plan, whose validation explains connections instead.
            let what = if syntax::setting(&method).is_some() {
                format!("`.{method}(..)` is a SingleRing stage setting")
            } else {
                format!("No such stage setting `{method}`")
            };
            diag.error(
                call.method.span(),
                format!(
                    "{what}: the LaneGraph builder declares a stage by its name and value \
                     alone, and `connect` wires it: `{}`",
                    syntax::CONNECT_EXAMPLE
                ),
            );
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
        position: 0,
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
