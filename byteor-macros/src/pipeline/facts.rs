//! The table of facts about the `#[pipeline]` language: attribute options, body statements and
//! stage settings. Parsing, checking, messages and code generation all read from here, so a
//! construct is added (or its wording changed) in one place.

/// Most stages a SingleRing holds: the model's own limit (`byteor::SINGLE_RING_V1_MAX_STAGES`
/// is the same constant), so the macro and the library cannot disagree.
pub(crate) use byteor_model::SINGLE_RING_V1_MAX_STAGES;

/// One `key = value` option of `#[pipeline(...)]`.
#[derive(Debug)]
pub(crate) struct OptionFact {
    /// The key.
    pub(crate) name: &'static str,
    /// What the value looks like.
    pub(crate) value: ValueShape,
    /// How to write it, for messages.
    pub(crate) example: &'static str,
    /// The builder method the value is passed to, if the option maps to one directly.
    /// (`name` goes to `SingleRing::build`, `shards` to `shards` together with the shard key,
    /// and `producer`/`scheduling` only accept the builder's one mode.)
    pub(crate) builder_method: Option<&'static str>,
}

/// The shape of an option's value.
#[derive(Debug)]
pub(crate) enum ValueShape {
    /// A string literal.
    Str,
    /// An integer literal.
    Int,
    /// One of a fixed set of names, as a string literal or a bare identifier.
    Choice(&'static ChoiceSet),
    /// Any Rust expression, evaluated when the function runs.
    Expr,
}

/// The names an enumerated option accepts.
#[derive(Debug)]
pub(crate) struct ChoiceSet {
    /// What one value is called in messages (`ordering`).
    pub(crate) noun: &'static str,
    /// Plural of `noun`.
    pub(crate) plural: &'static str,
    /// The names, in the order messages list them.
    pub(crate) choices: &'static [ChoiceFact],
}

/// One accepted name of an enumerated option.
#[derive(Debug)]
pub(crate) struct ChoiceFact {
    /// The name, as in plan documents.
    pub(crate) name: &'static str,
    /// What the builder does with it.
    pub(crate) support: Support,
}

/// What choosing a value means for the builder.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Support {
    /// `OrderingMode::<variant>` passed to the builder's `ordering`.
    Ordering(&'static str),
    /// The builder's only mode; nothing to call.
    BuilderDefault,
    /// Refused in v1, with the reason.
    Unsupported(&'static str),
}

/// `ordering = ...`.
pub(crate) const ORDERINGS: ChoiceSet = ChoiceSet {
    noun: "ordering",
    plural: "orderings",
    choices: &[
        ChoiceFact {
            name: "strict",
            support: Support::Ordering("Strict"),
        },
        ChoiceFact {
            name: "per_key",
            support: Support::Ordering("PerKey"),
        },
    ],
};

/// `producer = ...`.
pub(crate) const PRODUCERS: ChoiceSet = ChoiceSet {
    noun: "producer mode",
    plural: "producer modes",
    choices: &[
        ChoiceFact {
            name: "single",
            support: Support::BuilderDefault,
        },
        ChoiceFact {
            name: "multi",
            support: Support::Unsupported(
                "several producers claiming into one SingleRing are not supported in v1; use \
                 one producer per ring (or one ring per producer)",
            ),
        },
    ],
};

/// `scheduling = ...`.
pub(crate) const SCHEDULINGS: ChoiceSet = ChoiceSet {
    noun: "scheduling mode",
    plural: "scheduling modes",
    choices: &[
        ChoiceFact {
            name: "dedicated",
            support: Support::BuilderDefault,
        },
        ChoiceFact {
            name: "work_queue",
            support: Support::Unsupported(
                "work-queue scheduling over one SingleRing is not supported in v1; every stage \
                 runs on its own thread (`dedicated`)",
            ),
        },
    ],
};

/// Every option of `#[pipeline(...)]`, in the order messages list them.
pub(crate) const OPTIONS: &[OptionFact] = &[
    OptionFact {
        name: "name",
        value: ValueShape::Str,
        example: "name = \"orders\"",
        builder_method: None,
    },
    OptionFact {
        name: "capacity",
        value: ValueShape::Int,
        example: "capacity = 1024",
        builder_method: Some("capacity"),
    },
    OptionFact {
        name: "shards",
        value: ValueShape::Int,
        example: "shards = 4",
        builder_method: None,
    },
    OptionFact {
        name: "ordering",
        value: ValueShape::Choice(&ORDERINGS),
        example: "ordering = \"strict\"",
        builder_method: Some("ordering"),
    },
    OptionFact {
        name: "producer",
        value: ValueShape::Choice(&PRODUCERS),
        example: "producer = \"single\"",
        builder_method: None,
    },
    OptionFact {
        name: "scheduling",
        value: ValueShape::Choice(&SCHEDULINGS),
        example: "scheduling = \"dedicated\"",
        builder_method: None,
    },
    OptionFact {
        name: "wait_strategy",
        value: ValueShape::Expr,
        example: "wait_strategy = WaitStrategy::BusySpin",
        builder_method: Some("wait_strategy"),
    },
];

/// The option named `name`.
pub(crate) fn option(name: &str) -> Option<&'static OptionFact> {
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
pub(crate) struct StatementFact {
    /// The function-call name.
    pub(crate) name: &'static str,
    /// What it is.
    pub(crate) statement: Statement,
    /// How to write it.
    pub(crate) example: &'static str,
}

/// The statements a body may contain besides `let name = stage(...)`.
pub(crate) const STATEMENTS: &[StatementFact] = &[
    StatementFact {
        name: "ingress",
        statement: Statement::Ingress,
        example: "ingress(\"orders_in\");",
    },
    StatementFact {
        name: "egress",
        statement: Statement::Egress,
        example: "egress(\"fills_out\");",
    },
    StatementFact {
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
pub(crate) struct SettingFact {
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
pub(crate) const SETTINGS: &[SettingFact] = &[
    SettingFact {
        name: "after",
        setting: Setting::After,
        example: ".after([parse, risk])",
        repeatable: false,
    },
    SettingFact {
        name: "side_effects",
        setting: Setting::SideEffects,
        example: ".side_effects()",
        repeatable: false,
    },
    SettingFact {
        name: "kind",
        setting: Setting::Kind,
        example: ".kind(\"parse_order\")",
        repeatable: false,
    },
    SettingFact {
        name: "param",
        setting: Setting::Param,
        example: ".param(\"max_qty\", 1000)",
        repeatable: true,
    },
];

/// The setting named `name`.
pub(crate) fn setting(name: &str) -> Option<&'static SettingFact> {
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
        for set in [&ORDERINGS, &PRODUCERS, &SCHEDULINGS] {
            assert!(unique(
                &set.choices.iter().map(|c| c.name).collect::<Vec<_>>()
            ));
        }
    }

    #[test]
    fn every_setting_has_its_fact() {
        for fact in SETTINGS {
            assert_eq!(setting(fact.name).map(|f| f.setting), Some(fact.setting));
            assert!(fact.example.starts_with(&format!(".{}(", fact.name)));
        }
        assert!(setting("after").is_some() && setting("afterwards").is_none());
    }

    #[test]
    fn v1_refuses_multi_producer_and_work_queue_only() {
        let refused: Vec<&str> = [&PRODUCERS, &SCHEDULINGS, &ORDERINGS]
            .iter()
            .flat_map(|s| s.choices)
            .filter(|c| matches!(c.support, Support::Unsupported(_)))
            .map(|c| c.name)
            .collect();
        assert_eq!(refused, ["multi", "work_queue"]);
    }
}
