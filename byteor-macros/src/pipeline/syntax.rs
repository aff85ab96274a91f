//! The surface syntax of `#[pipeline]`: attribute options, body statements and stage
//! settings, with how each is written. Parsing, messages and code generation read from here,
//! so a construct is added (or its wording changed) in one place. What the values *mean* — which
//! are allowed, how they combine — is the plan model's business: the macro builds a
//! `PipelinePlanV2` and asks `validate_plan_v2` (see `plan.rs` and `report.rs`).

use byteor_model::vocab::{OrderingMode, ProducerMode, SchedulingMode};

/// One `key = value` option of `#[pipeline(...)]`.
#[derive(Debug)]
pub(crate) struct OptionSyntax {
    /// The key.
    pub(crate) name: &'static str,
    /// What the value looks like.
    pub(crate) value: ValueShape,
    /// How to write it, for messages.
    pub(crate) example: &'static str,
    /// The builder method the value is passed to, if the option maps to one directly.
    /// (`name` goes to `SingleRing::build`, `shards` to `shards` together with the shard key,
    /// and `producer`/`scheduling` have only the builder's one supported mode.)
    pub(crate) builder_method: Option<&'static str>,
}

/// The shape of an option's value.
#[derive(Debug)]
pub(crate) enum ValueShape {
    /// A string literal.
    Str,
    /// An integer literal that fits in 32 bits.
    Int,
    /// One of the names of a vocabulary enum, as a string literal or a bare identifier.
    Choice(ChoiceSet),
    /// Any Rust expression, evaluated when the function runs.
    Expr,
}

/// The vocabulary enums an option names a value of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChoiceSet {
    /// `ordering = ...`: [`OrderingMode`].
    Ordering,
    /// `producer = ...`: [`ProducerMode`].
    Producer,
    /// `scheduling = ...`: [`SchedulingMode`].
    Scheduling,
}

/// A name read from a [`ChoiceSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// An ordering mode.
    Ordering(OrderingMode),
    /// A producer mode.
    Producer(ProducerMode),
    /// A scheduling mode.
    Scheduling(SchedulingMode),
}

impl ChoiceSet {
    /// Every value, in the order the vocabulary lists them.
    pub(crate) fn all(self) -> Vec<Choice> {
        match self {
            ChoiceSet::Ordering => OrderingMode::ALL.map(Choice::Ordering).to_vec(),
            ChoiceSet::Producer => ProducerMode::ALL.map(Choice::Producer).to_vec(),
            ChoiceSet::Scheduling => SchedulingMode::ALL.map(Choice::Scheduling).to_vec(),
        }
    }

    /// The value named `name` (its plan-document name).
    pub(crate) fn find(self, name: &str) -> Option<Choice> {
        self.all().into_iter().find(|c| c.name() == name)
    }

    /// What one value is called in messages, singular and plural.
    pub(crate) fn nouns(self) -> (&'static str, &'static str) {
        match self {
            ChoiceSet::Ordering => ("ordering", "orderings"),
            ChoiceSet::Producer => ("producer mode", "producer modes"),
            ChoiceSet::Scheduling => ("scheduling mode", "scheduling modes"),
        }
    }
}

impl Choice {
    /// The plan-document name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Choice::Ordering(m) => m.as_str(),
            Choice::Producer(m) => m.as_str(),
            Choice::Scheduling(m) => m.as_str(),
        }
    }
}

/// Every option of `#[pipeline(...)]`, in the order messages list them.
pub(crate) const OPTIONS: &[OptionSyntax] = &[
    OptionSyntax {
        name: "name",
        value: ValueShape::Str,
        example: "name = \"orders\"",
        builder_method: None,
    },
    OptionSyntax {
        name: "capacity",
        value: ValueShape::Int,
        example: "capacity = 1024",
        builder_method: Some("capacity"),
    },
    OptionSyntax {
        name: "shards",
        value: ValueShape::Int,
        example: "shards = 4",
        builder_method: None,
    },
    OptionSyntax {
        name: "ordering",
        value: ValueShape::Choice(ChoiceSet::Ordering),
        example: "ordering = \"strict\"",
        builder_method: Some("ordering"),
    },
    OptionSyntax {
        name: "producer",
        value: ValueShape::Choice(ChoiceSet::Producer),
        example: "producer = \"single\"",
        builder_method: None,
    },
    OptionSyntax {
        name: "scheduling",
        value: ValueShape::Choice(ChoiceSet::Scheduling),
        example: "scheduling = \"dedicated\"",
        builder_method: None,
    },
    OptionSyntax {
        name: "wait_strategy",
        value: ValueShape::Expr,
        example: "wait_strategy = WaitStrategy::BusySpin",
        builder_method: Some("wait_strategy"),
    },
];

/// The option named `name`.
pub(crate) fn option(name: &str) -> Option<&'static OptionSyntax> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// Every option name.
pub(crate) fn option_names() -> Vec<&'static str> {
    OPTIONS.iter().map(|o| o.name).collect()
}

/// Body statements other than stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Statement {
    /// `ingress("name");`
    Ingress,
    /// `egress("name");`
    Egress,
    /// `shard_key("name", |event| key);`
    ShardKey,
}

/// One body statement form.
#[derive(Debug)]
pub(crate) struct StatementSyntax {
    /// The function-call name.
    pub(crate) name: &'static str,
    /// What it is.
    pub(crate) statement: Statement,
    /// How to write it.
    pub(crate) example: &'static str,
}

/// The statements a body may contain besides `let name = stage(...)`.
pub(crate) const STATEMENTS: &[StatementSyntax] = &[
    StatementSyntax {
        name: "ingress",
        statement: Statement::Ingress,
        example: "ingress(\"orders_in\");",
    },
    StatementSyntax {
        name: "egress",
        statement: Statement::Egress,
        example: "egress(\"fills_out\");",
    },
    StatementSyntax {
        name: "shard_key",
        statement: Statement::ShardKey,
        example: "shard_key(\"account\", |order: &Order| order.account);",
    },
];

/// How a stage is declared.
pub(crate) const STAGE_EXAMPLE: &str = "let risk = stage(Risk::new()).after([parse]);";

/// Settings chained on `stage(...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setting {
    /// `.after([a, b])`
    After,
    /// `.side_effects()` / `.side_effects(bool)`
    SideEffects,
    /// `.kind("registered_kind")`
    Kind,
    /// `.param("key", value)`
    Param,
}

/// One stage setting.
#[derive(Debug)]
pub(crate) struct SettingSyntax {
    /// The method name.
    pub(crate) name: &'static str,
    /// What it is.
    pub(crate) setting: Setting,
    /// How to write it.
    pub(crate) example: &'static str,
    /// Whether it may appear more than once on a stage.
    pub(crate) repeatable: bool,
}

/// Every stage setting, in the order messages list them.
pub(crate) const SETTINGS: &[SettingSyntax] = &[
    SettingSyntax {
        name: "after",
        setting: Setting::After,
        example: ".after([parse, risk])",
        repeatable: false,
    },
    SettingSyntax {
        name: "side_effects",
        setting: Setting::SideEffects,
        example: ".side_effects()",
        repeatable: false,
    },
    SettingSyntax {
        name: "kind",
        setting: Setting::Kind,
        example: ".kind(\"parse_order\")",
        repeatable: false,
    },
    SettingSyntax {
        name: "param",
        setting: Setting::Param,
        example: ".param(\"max_qty\", 1000)",
        repeatable: true,
    },
];

/// The setting named `name`.
pub(crate) fn setting(name: &str) -> Option<&'static SettingSyntax> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// The execution targets a return type can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// `-> SingleRing<E>`.
    SingleRing,
    /// `-> LaneGraph<E>`: refused until the LaneGraph executor exists.
    LaneGraph,
}

/// The return-type names of the targets.
pub(crate) const TARGETS: &[(&str, Target)] = &[
    ("SingleRing", Target::SingleRing),
    ("LaneGraph", Target::LaneGraph),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_within_each_table() {
        fn unique(names: &[&str]) -> bool {
            let mut sorted = names.to_vec();
            sorted.sort_unstable();
            sorted.windows(2).all(|w| w[0] != w[1])
        }
        assert!(unique(&option_names()));
        assert!(unique(
            &STATEMENTS.iter().map(|s| s.name).collect::<Vec<_>>()
        ));
        assert!(unique(&SETTINGS.iter().map(|s| s.name).collect::<Vec<_>>()));
    }

    #[test]
    fn every_setting_has_its_syntax() {
        for syntax in SETTINGS {
            assert_eq!(
                setting(syntax.name).map(|f| f.setting),
                Some(syntax.setting)
            );
            assert!(syntax.example.starts_with(&format!(".{}(", syntax.name)));
        }
        assert!(setting("after").is_some() && setting("afterwards").is_none());
    }

    #[test]
    fn choices_are_the_vocabulary_names() {
        let names = |set: ChoiceSet| set.all().into_iter().map(Choice::name).collect::<Vec<_>>();
        assert_eq!(names(ChoiceSet::Ordering), ["strict", "per_key"]);
        assert_eq!(names(ChoiceSet::Producer), ["single", "multi"]);
        assert_eq!(names(ChoiceSet::Scheduling), ["dedicated", "work_queue"]);
        assert_eq!(
            ChoiceSet::Ordering.find("per_key"),
            Some(Choice::Ordering(OrderingMode::PerKey))
        );
        assert_eq!(ChoiceSet::Producer.find("Multi"), None);
    }
}
