//! Compile-time checks of a parsed `#[pipeline]`: everything the tokens show about the plan.
//!
//! Every rule reports every violation, spanned on the token to change. Rules that need types
//! (a stage handling the event type, a mutating stage ordered against the others) are left to
//! the typed builder the expansion calls; rules that need values computed at run time are left
//! to `validate_plan_v2`, which the builder's `build()` runs.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::Ident;

use super::facts::{self, Setting, Support, SINGLE_RING_V1_MAX_STAGES};
use super::parse::{OptionValue, PipelineDef, SettingArg, StageDef, Value};
use crate::diagnostic::{did_you_mean, list, ordinal, Diagnostics};

/// Runs every check, recording each violation.
pub(crate) fn check(def: &PipelineDef, diag: &mut Diagnostics) {
    check_options(def, diag);
    check_boundaries(def, diag);
    check_sharding(def, diag);
    check_names(def, diag);
    check_stage_count(def, diag);
    check_settings(def, diag);
    check_dependencies(def, diag);
}

impl PipelineDef {
    /// The first occurrence of option `name`.
    pub(crate) fn option(&self, name: &str) -> Option<&OptionValue> {
        self.options.iter().find(|o| o.fact.name == name)
    }

    /// The value of an integer option, if set.
    pub(crate) fn int_option(&self, name: &str) -> Option<(u64, Span)> {
        match self.option(name).map(|o| &o.value) {
            Some(Value::Int(lit, value)) => Some((*value, lit.span())),
            _ => None,
        }
    }

    /// The number of shards (1 unless set).
    pub(crate) fn shards(&self) -> u64 {
        self.int_option("shards").map_or(1, |(n, _)| n)
    }
}

fn check_options(def: &PipelineDef, diag: &mut Diagnostics) {
    for (i, option) in def.options.iter().enumerate() {
        if def.options[..i]
            .iter()
            .any(|o| o.fact.name == option.fact.name)
        {
            diag.error(
                option.key.span(),
                format!("`{}` is given twice", option.fact.name),
            );
            continue;
        }
        match (option.fact.name, &option.value) {
            ("name", Value::Str(lit)) if lit.value().is_empty() => {
                diag.error(lit.span(), "the pipeline name must not be empty");
            }
            ("capacity", Value::Int(lit, capacity)) => {
                if *capacity > u64::from(u32::MAX) {
                    diag.error(lit.span(), "`capacity` must fit in 32 bits");
                } else if *capacity < 2 || !capacity.is_power_of_two() {
                    let above = capacity.max(&2).next_power_of_two();
                    let hint = if above / 2 >= 2 {
                        format!("the nearest are {} and {above}", above / 2)
                    } else {
                        format!("the smallest is {above}")
                    };
                    diag.error(
                        lit.span(),
                        format!(
                            "`capacity` must be a power of two, at least 2: {capacity} is not \
                             ({hint})"
                        ),
                    );
                }
            }
            ("shards", Value::Int(lit, shards)) => {
                if *shards == 0 {
                    diag.error(
                        lit.span(),
                        "`shards` must be at least 1 (one shard is an unsharded ring)",
                    );
                } else if *shards > u64::from(u32::MAX) {
                    diag.error(lit.span(), "`shards` must fit in 32 bits");
                }
            }
            (_, Value::Choice(choice, span)) => match choice.support {
                Support::Unsupported(reason) => {
                    diag.error(
                        *span,
                        format!("`{} = \"{}\"`: {reason}", option.fact.name, choice.name),
                    );
                }
                Support::Ordering("Strict") if def.shards() > 1 => diag.error(
                    *span,
                    format!(
                        "`ordering = \"strict\"` needs one shard; with `shards = {}`, order \
                         holds per shard key (`ordering = \"per_key\"`, the default when \
                         sharded)",
                        def.shards()
                    ),
                ),
                Support::Ordering(_) | Support::BuilderDefault => {}
            },
            _ => {}
        }
    }
}

fn check_boundaries(def: &PipelineDef, diag: &mut Diagnostics) {
    for (kind, boundaries) in [("ingress", &def.ingress), ("egress", &def.egress)] {
        let example = facts::STATEMENTS
            .iter()
            .find(|s| s.name == kind)
            .map_or("", |s| s.example);
        if boundaries.is_empty() && !def.attempted.contains(&kind) {
            diag.error(
                def.span,
                format!("missing `{example}`: a SingleRing has exactly one {kind}"),
            );
        }
        for extra in boundaries.iter().skip(1) {
            diag.error(
                extra.span,
                format!("a SingleRing has exactly one {kind}; this is a second `{kind}(..)`"),
            );
        }
        for boundary in boundaries {
            if boundary.name.value().is_empty() {
                diag.error(
                    boundary.name.span(),
                    format!("the {kind} name must not be empty"),
                );
            }
        }
    }
    if def.stages.is_empty() && !def.attempted.contains(&"stage") {
        diag.error(
            def.span,
            format!(
                "a pipeline needs at least one stage: `{}`",
                facts::STAGE_EXAMPLE
            ),
        );
    }
}

fn check_sharding(def: &PipelineDef, diag: &mut Diagnostics) {
    let shards = def.int_option("shards");
    for extra in def.shard_keys.iter().skip(1) {
        diag.error(
            extra.span,
            "a ring has one shard key; this is a second `shard_key(..)`",
        );
    }
    match (shards, def.shard_keys.first()) {
        (Some((n, span)), None) if n > 1 && !def.attempted.contains(&"shard_key") => diag.error(
            span,
            format!(
                "`shards = {n}` needs a shard key to route events by: add `{}` to the body",
                facts::STATEMENTS
                    .iter()
                    .find(|s| s.name == "shard_key")
                    .map_or("", |s| s.example)
            ),
        ),
        (shards, Some(key)) if shards.is_none_or(|(n, _)| n <= 1) => diag.error(
            key.span,
            "a shard key routes events between shards, but the ring has one: set \
             `shards = N` (N > 1) in `#[pipeline(...)]`, or remove the shard key",
        ),
        _ => {}
    }
    for key in &def.shard_keys {
        if key.name.value().is_empty() {
            diag.error(key.name.span(), "the shard key name must not be empty");
        }
    }
}

/// What a name is bound to, for duplicate and dependency messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    Ingress,
    Egress,
    Stage(usize),
}

impl Named {
    fn describe(self) -> &'static str {
        match self {
            Named::Ingress => "the ingress",
            Named::Egress => "the egress",
            Named::Stage(_) => "a stage",
        }
    }
}

/// Every declared name with what it names and where, in declaration order (boundaries first).
fn declared_names(def: &PipelineDef) -> Vec<(String, Named, Span)> {
    let mut names = Vec::new();
    for b in &def.ingress {
        names.push((b.name.value(), Named::Ingress, b.name.span()));
    }
    for b in &def.egress {
        names.push((b.name.value(), Named::Egress, b.name.span()));
    }
    for (i, s) in def.stages.iter().enumerate() {
        names.push((s.name_str(), Named::Stage(i), s.name.span()));
    }
    names
}

fn check_names(def: &PipelineDef, diag: &mut Diagnostics) {
    let names = declared_names(def);
    for (i, (name, _, span)) in names.iter().enumerate() {
        if name.is_empty() {
            continue;
        }
        if let Some((_, first, _)) = names[..i].iter().find(|(n, _, _)| n == name) {
            diag.error(
                *span,
                format!(
                    "duplicate name `{name}`: {} above already uses it; stage and boundary \
                     names are unique within a pipeline",
                    first.describe()
                ),
            );
        }
    }
}

fn check_stage_count(def: &PipelineDef, diag: &mut Diagnostics) {
    for (i, stage) in def
        .stages
        .iter()
        .enumerate()
        .skip(SINGLE_RING_V1_MAX_STAGES)
    {
        diag.error(
            stage.name.span(),
            format!(
                "a SingleRing holds at most {SINGLE_RING_V1_MAX_STAGES} stages \
                 (`SINGLE_RING_V1_MAX_STAGES`); `{}` is the {}. Merge stages, or split the work \
                 over several rings",
                stage.name_str(),
                ordinal(i + 1)
            ),
        );
    }
}

fn check_settings(def: &PipelineDef, diag: &mut Diagnostics) {
    for stage in &def.stages {
        for (i, setting) in stage.settings.iter().enumerate() {
            let earlier = &stage.settings[..i];
            if !setting.fact.repeatable && earlier.iter().any(|s| s.fact.name == setting.fact.name)
            {
                let hint = if setting.fact.setting == Setting::After {
                    "; list every dependency in one `.after([..])`"
                } else {
                    ""
                };
                diag.error(
                    setting.method.span(),
                    format!(
                        "`{}` is set twice on stage `{}`{hint}",
                        setting.fact.name,
                        stage.name_str()
                    ),
                );
            }
            if let SettingArg::Param(key, _) = &setting.arg {
                let repeated = earlier
                    .iter()
                    .any(|s| matches!(&s.arg, SettingArg::Param(k, _) if k.value() == key.value()));
                if repeated {
                    diag.error(
                        key.span(),
                        format!(
                            "parameter `{}` is set twice on stage `{}`",
                            key.value(),
                            stage.name_str()
                        ),
                    );
                }
            }
        }
    }
}

fn check_dependencies(def: &PipelineDef, diag: &mut Diagnostics) {
    let names = declared_names(def);
    let resolve = |name: &str| names.iter().find(|(n, _, _)| n == name).map(|(_, k, _)| *k);
    let stage_names: Vec<String> = def.stages.iter().map(StageDef::name_str).collect();

    // Edges `dep -> stage` between stages, with the token naming `dep` in `stage`'s list.
    let mut edges: Vec<(usize, usize, &Ident)> = Vec::new();
    for (s, stage) in def.stages.iter().enumerate() {
        let own = stage.name_str();
        for (k, dep) in stage.after().iter().enumerate() {
            let dep_name = syn::ext::IdentExt::unraw(dep).to_string();
            if stage.after()[..k].contains(dep) {
                diag.error(
                    dep.span(),
                    format!("`{dep_name}` is listed twice in `after`"),
                );
                continue;
            }
            if dep_name == own {
                diag.error(dep.span(), format!("stage `{own}` cannot run after itself"));
                continue;
            }
            match resolve(&dep_name) {
                Some(Named::Stage(d)) => edges.push((d, s, dep)),
                Some(Named::Ingress) => diag.error(
                    dep.span(),
                    format!(
                        "`{dep_name}` is the ingress, not a stage: a stage without `after` \
                         already reads from the ingress, so remove it"
                    ),
                ),
                Some(Named::Egress) => diag.error(
                    dep.span(),
                    format!(
                        "`{dep_name}` is the egress, not a stage: nothing runs after the egress"
                    ),
                ),
                None => {
                    let suggestion =
                        did_you_mean(&dep_name, stage_names.iter().map(String::as_str));
                    let message = if suggestion.is_empty() {
                        format!(
                            "unknown stage `{dep_name}` in `after`; the stages are {}",
                            list(&stage_names)
                        )
                    } else {
                        format!("unknown stage `{dep_name}` in `after`.{suggestion}")
                    };
                    diag.error(dep.span(), message);
                }
            }
        }
    }

    let components = strongly_connected(def.stages.len(), &edges);
    let cyclic: Vec<&Vec<usize>> = components.iter().filter(|c| c.len() > 1).collect();
    for component in &cyclic {
        report_cycle(component, &edges, &stage_names, diag);
    }
    let in_cycle = |a: usize, b: usize| cyclic.iter().any(|c| c.contains(&a) && c.contains(&b));
    for &(dep, stage, token) in &edges {
        if dep > stage && !in_cycle(dep, stage) {
            diag.error(
                token.span(),
                format!(
                    "stage `{}` runs after `{}`, which is declared later; declare `{}` first \
                     (stages are listed in the order they run)",
                    stage_names[stage], stage_names[dep], stage_names[dep]
                ),
            );
        }
    }
}

/// Strongly connected components (Tarjan), each sorted by declaration order.
fn strongly_connected(nodes: usize, edges: &[(usize, usize, &Ident)]) -> Vec<Vec<usize>> {
    struct Tarjan<'a> {
        successors: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        components: Vec<Vec<usize>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: usize) {
            self.index[v] = Some(self.next);
            self.low[v] = self.next;
            self.next += 1;
            self.stack.push(v);
            self.on_stack[v] = true;
            for &w in &self.successors[v] {
                match self.index[w] {
                    None => {
                        self.visit(w);
                        self.low[v] = self.low[v].min(self.low[w]);
                    }
                    Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                    Some(_) => {}
                }
            }
            if Some(self.low[v]) == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                component.sort_unstable();
                self.components.push(component);
            }
        }
    }
    let mut successors = vec![Vec::new(); nodes];
    for &(from, to, _) in edges {
        successors[from].push(to);
    }
    let mut tarjan = Tarjan {
        successors: &successors,
        index: vec![None; nodes],
        low: vec![0; nodes],
        on_stack: vec![false; nodes],
        stack: Vec::new(),
        next: 0,
        components: Vec::new(),
    };
    for v in 0..nodes {
        if tarjan.index[v].is_none() {
            tarjan.visit(v);
        }
    }
    tarjan.components.sort_by_key(|c| c[0]);
    tarjan.components
}

/// Reports the shortest cycle through the first-declared member of a cyclic component, one
/// numbered error per member, each on the dependency that closes its part of the loop.
fn report_cycle(
    component: &[usize],
    edges: &[(usize, usize, &Ident)],
    names: &[String],
    diag: &mut Diagnostics,
) {
    let start = component[0];
    // Breadth-first search along `dep -> stage` edges inside the component, back to `start`.
    let mut previous: HashMap<usize, usize> = HashMap::new();
    let mut frontier = vec![start];
    let mut closing = None;
    'search: while !frontier.is_empty() {
        let mut next = Vec::new();
        for &v in &frontier {
            for &(from, to, _) in edges {
                if from != v || !component.contains(&to) {
                    continue;
                }
                if to == start {
                    closing = Some(v);
                    break 'search;
                }
                if to != start && !previous.contains_key(&to) {
                    previous.insert(to, v);
                    next.push(to);
                }
            }
        }
        frontier = next;
    }
    let Some(last) = closing else { return };
    let mut cycle = vec![last];
    while let Some(&p) = previous.get(cycle.last().unwrap_or(&start)) {
        cycle.push(p);
    }
    if cycle.last() != Some(&start) {
        cycle.push(start);
    }
    cycle.reverse(); // start -> ... -> last
    let path = cycle
        .iter()
        .chain(std::iter::once(&start))
        .map(|&i| names[i].as_str())
        .collect::<Vec<_>>()
        .join(" -> ");
    let n = cycle.len();
    for (k, &stage) in cycle.iter().enumerate() {
        let dep = if k == 0 { cycle[n - 1] } else { cycle[k - 1] };
        let token = edges
            .iter()
            .find(|(from, to, _)| *from == dep && *to == stage)
            .map(|(_, _, token)| token.span());
        if let Some(span) = token {
            diag.error(
                span,
                format!(
                    "({}/{n}) dependency cycle `{path}`: `{}` runs after `{}` here, which \
                     closes the loop, so none of these stages could ever start",
                    k + 1,
                    names[stage],
                    names[dep]
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::parse::tests::parse_src;
    use proc_macro2::TokenStream;
    use quote::quote;

    fn check_src(args: TokenStream, body: TokenStream) -> Vec<String> {
        let (def, mut errors) = parse_src(args, quote!(fn p() -> SingleRing<Order> { #body }));
        assert!(errors.is_empty(), "parse errors: {errors:?}");
        let mut diag = Diagnostics::new();
        check(&def.unwrap(), &mut diag);
        errors.extend(diag.messages());
        errors
    }

    fn ring(stages: TokenStream) -> TokenStream {
        quote! { ingress("source"); egress("sink"); #stages }
    }

    #[test]
    fn a_diamond_passes() {
        let errors = check_src(
            quote!(capacity = 1024),
            ring(quote! {
                let parse = stage(P);
                let risk = stage(R).after([parse]);
                let audit = stage(A).after([parse]).side_effects();
                let publish = stage(Pb).after([risk, audit]);
            }),
        );
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn a_three_stage_cycle_is_reported_on_each_member() {
        let errors = check_src(
            quote!(),
            ring(quote! {
                let a = stage(A).after([c]);
                let b = stage(B).after([a]);
                let c = stage(C).after([b]);
            }),
        );
        assert_eq!(
            errors,
            [
                "(1/3) dependency cycle `a -> b -> c -> a`: `a` runs after `c` here, which \
                 closes the loop, so none of these stages could ever start",
                "(2/3) dependency cycle `a -> b -> c -> a`: `b` runs after `a` here, which \
                 closes the loop, so none of these stages could ever start",
                "(3/3) dependency cycle `a -> b -> c -> a`: `c` runs after `b` here, which \
                 closes the loop, so none of these stages could ever start",
            ]
        );
    }

    #[test]
    fn self_unknown_boundary_duplicate_and_forward_dependencies() {
        let errors = check_src(
            quote!(),
            ring(quote! {
                let parse = stage(P).after([parse]);
                let risk = stage(R).after([pasre, source, audit, parse, parse]);
                let audit = stage(A).after([nothing_like_it]);
            }),
        );
        assert_eq!(errors.len(), 6, "{errors:#?}");
        assert_eq!(errors[0], "stage `parse` cannot run after itself");
        assert_eq!(
            errors[1],
            "unknown stage `pasre` in `after`. Did you mean `parse`?"
        );
        assert!(errors[2].starts_with("`source` is the ingress, not a stage"));
        assert_eq!(errors[3], "`parse` is listed twice in `after`");
        assert_eq!(
            errors[4],
            "unknown stage `nothing_like_it` in `after`; the stages are `parse`, `risk` and \
             `audit`"
        );
        assert!(errors[5].starts_with("stage `risk` runs after `audit`, which is declared later"));
    }

    #[test]
    fn names_are_unique_across_stages_and_boundaries() {
        let errors = check_src(
            quote!(),
            ring(quote! {
                let source = stage(P);
                let risk = stage(R);
                let risk = stage(R2);
            }),
        );
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("duplicate name `source`: the ingress above"));
        assert!(errors[1].starts_with("duplicate name `risk`: a stage above already uses it"));
    }

    #[test]
    fn more_than_four_stages_is_an_error_per_extra_stage() {
        let errors = check_src(
            quote!(),
            ring(quote! {
                let a = stage(A); let b = stage(B); let c = stage(C);
                let d = stage(D); let e = stage(E); let f = stage(F);
            }),
        );
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("a SingleRing holds at most 4 stages"));
        assert!(errors[0].contains("`e` is the 5th"));
        assert!(errors[1].contains("`f` is the 6th"));
    }

    #[test]
    fn option_rules() {
        let errors = check_src(
            quote!(
                capacity = 1000,
                shards = 0,
                producer = "multi",
                scheduling = "work_queue"
            ),
            ring(quote!(let a = stage(A);)),
        );
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert_eq!(
            errors[0],
            "`capacity` must be a power of two, at least 2: 1000 is not (the nearest are 512 \
             and 1024)"
        );
        assert!(errors[1].starts_with("`shards` must be at least 1"));
        assert!(errors[2].starts_with("`producer = \"multi\"`: several producers"));
        assert!(errors[2].contains("not supported in v1"));
        assert!(errors[3].contains("not supported in v1"));

        let errors = check_src(
            quote!(capacity = 1, capacity = 4),
            ring(quote!(let a = stage(A);)),
        );
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].ends_with("1 is not (the smallest is 2)"));
        assert_eq!(errors[1], "`capacity` is given twice");
    }

    #[test]
    fn sharding_rules() {
        let errors = check_src(
            quote!(shards = 4, ordering = "strict"),
            ring(quote!(let a = stage(A);)),
        );
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("`ordering = \"strict\"` needs one shard"));
        assert!(errors[1].starts_with("`shards = 4` needs a shard key"));

        let errors = check_src(
            quote!(),
            ring(quote! { shard_key("account", |o: &Order| o.account); let a = stage(A); }),
        );
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].starts_with("a shard key routes events between shards"));

        let errors = check_src(
            quote!(shards = 2),
            ring(quote! { shard_key("account", |o: &Order| o.account); let a = stage(A); }),
        );
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn boundaries_are_required_once_and_stages_at_least_once() {
        let errors = check_src(quote!(), quote!(egress("a"); egress("b");));
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors[0].starts_with("missing `ingress(\"orders_in\");`"));
        assert!(errors[1].starts_with("a SingleRing has exactly one egress"));
        assert!(errors[2].starts_with("a pipeline needs at least one stage"));
    }

    #[test]
    fn settings_are_set_once_and_params_keyed_once() {
        let errors = check_src(
            quote!(),
            ring(quote! {
                let a = stage(A).kind("x").kind("y").param("k", 1).param("k", 2).param("j", 3);
                let b = stage(B).after([a]).after([a]);
            }),
        );
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert_eq!(errors[0], "`kind` is set twice on stage `a`");
        assert_eq!(errors[1], "parameter `k` is set twice on stage `a`");
        assert!(errors[2].ends_with("list every dependency in one `.after([..])`"));
    }
}
