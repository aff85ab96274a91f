//! The surface syntax of `#[pipeline]`: attribute options, body statements and stage
//! settings, with how each is written. Parsing, messages and code generation read from here,
//! so a construct is added (or its wording changed) in one place. What the values *mean* — which
//! are allowed, how they combine — is the plan model's business: the macro builds a
//! `PipelinePlanV2` and asks `validate_plan_v2` (see `plan.rs` and `report.rs`).

use byteor_model::vocab::{LaneKind, OnFull, OrderingMode, ProducerMode, SchedulingMode};

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
    /// The targets that take the option.
    pub(crate) targets: &'static [Target],
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
    /// `on_full = ...`: [`OnFull`].
    OnFull,
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
    /// What a LaneGraph writer does when a lane is full.
    OnFull(OnFull),
}

impl ChoiceSet {
    /// Every value, in the order the vocabulary lists them.
    pub(crate) fn all(self) -> Vec<Choice> {
        match self {
            ChoiceSet::Ordering => OrderingMode::ALL.map(Choice::Ordering).to_vec(),
            ChoiceSet::Producer => ProducerMode::ALL.map(Choice::Producer).to_vec(),
            ChoiceSet::Scheduling => SchedulingMode::ALL.map(Choice::Scheduling).to_vec(),
            ChoiceSet::OnFull => [OnFull::Block, OnFull::Drop].map(Choice::OnFull).to_vec(),
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
            ChoiceSet::OnFull => ("on_full behaviour", "on_full behaviours"),
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
            Choice::OnFull(m) => m.as_str(),
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
        targets: &[Target::SingleRing, Target::LaneGraph],
    },
    OptionSyntax {
        name: "capacity",
        value: ValueShape::Int,
        example: "capacity = 1024",
        builder_method: Some("capacity"),
        targets: &[Target::SingleRing],
    },
    OptionSyntax {
        name: "shards",
        value: ValueShape::Int,
        example: "shards = 4",
        builder_method: None,
        targets: &[Target::SingleRing],
    },
    OptionSyntax {
        name: "ordering",
        value: ValueShape::Choice(ChoiceSet::Ordering),
        example: "ordering = \"strict\"",
        builder_method: Some("ordering"),
        targets: &[Target::SingleRing],
    },
    OptionSyntax {
        name: "producer",
        value: ValueShape::Choice(ChoiceSet::Producer),
        example: "producer = \"single\"",
        builder_method: None,
        targets: &[Target::SingleRing],
    },
    OptionSyntax {
        name: "scheduling",
        value: ValueShape::Choice(ChoiceSet::Scheduling),
        example: "scheduling = \"dedicated\"",
        builder_method: None,
        targets: &[Target::SingleRing],
    },
    OptionSyntax {
        name: "wait_strategy",
        value: ValueShape::Expr,
        example: "wait_strategy = WaitStrategy::BusySpin",
        builder_method: Some("wait_strategy"),
        targets: &[Target::SingleRing],
    },
    OptionSyntax {
        name: "on_full",
        value: ValueShape::Choice(ChoiceSet::OnFull),
        example: "on_full = \"block\"",
        builder_method: Some("on_full"),
        targets: &[Target::LaneGraph],
    },
];

/// The option named `name`.
pub(crate) fn option(name: &str) -> Option<&'static OptionSyntax> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// The name of every option `target` takes.
pub(crate) fn option_names(target: Target) -> Vec<&'static str> {
    OPTIONS
        .iter()
        .filter(|o| o.targets.contains(&target))
        .map(|o| o.name)
        .collect()
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
    /// `-> SingleRing<E>`: one ring, one event type.
    SingleRing,
    /// `-> LaneGraph`: typed lanes between stages, an event type per boundary and stage.
    LaneGraph,
}

impl Target {
    /// The return-type name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Target::SingleRing => "SingleRing",
            Target::LaneGraph => "LaneGraph",
        }
    }
}

/// The return-type names of the targets.
pub(crate) const TARGETS: &[(&str, Target)] = &[
    ("SingleRing", Target::SingleRing),
    ("LaneGraph", Target::LaneGraph),
];

// ---- LaneGraph ------------------------------------------------------------------------

/// How a LaneGraph ingress is declared.
pub(crate) const GRAPH_INGRESS_EXAMPLE: &str = "let raw = ingress::<Packet>(\"raw\");";

/// How a LaneGraph egress is declared.
pub(crate) const GRAPH_EGRESS_EXAMPLE: &str = "let decisions = egress::<Decision>(\"decisions\");";

/// How a LaneGraph stage is declared.
pub(crate) const GRAPH_STAGE_EXAMPLE: &str = "let parse = stage(Parse::default());";

/// How two LaneGraph nodes are connected.
pub(crate) const CONNECT_EXAMPLE: &str = "connect(raw, parse);";

/// How a connection asks for a lane.
pub(crate) const LANE_EXAMPLE: &str = "connect(parse, risk).lane(sequenced_slots(64));";

/// The function-call name of the connection statement.
pub(crate) const CONNECT: &str = "connect";

/// The method that sets a connection's lane.
pub(crate) const LANE_METHOD: &str = "lane";

/// The method that sets a lane's capacity.
pub(crate) const CAPACITY_METHOD: &str = "capacity";

/// The method that sets a lane's own `on_full`.
pub(crate) const ON_FULL_METHOD: &str = "on_full";

/// One lane of `connect(a, b).lane(..)`: named after its lane kind.
#[derive(Debug)]
pub(crate) struct LaneSyntax {
    /// The lane kind, whose document name is the function name.
    pub(crate) kind: LaneKind,
    /// Whether the capacity is the function's argument (`sequenced_slots(64)`) rather than
    /// an optional `.capacity(n)` (`events().capacity(256)`).
    pub(crate) capacity_argument: bool,
    /// How to write it.
    pub(crate) example: &'static str,
    /// The byteor macro that checks the lane kind's cargo feature in the user's build, if the
    /// kind needs one.
    pub(crate) feature_check: Option<&'static str>,
}

/// Every lane, in the order the vocabulary lists the kinds.
pub(crate) const LANES: &[LaneSyntax] = &[
    LaneSyntax {
        kind: LaneKind::Events,
        capacity_argument: false,
        example: "events().capacity(1024)",
        feature_check: None,
    },
    LaneSyntax {
        kind: LaneKind::Journal,
        capacity_argument: false,
        example: "journal()",
        feature_check: Some("__pipeline_lane_graph_journal"),
    },
    LaneSyntax {
        kind: LaneKind::SequencedSlots,
        capacity_argument: true,
        example: "sequenced_slots(64)",
        feature_check: None,
    },
    LaneSyntax {
        kind: LaneKind::FanoutBroadcast,
        capacity_argument: false,
        example: "fanout_broadcast()",
        feature_check: Some("__pipeline_lane_graph_fanout"),
    },
];

/// The lane called `name`.
pub(crate) fn lane(name: &str) -> Option<&'static LaneSyntax> {
    LANES.iter().find(|l| l.kind.as_str() == name)
}

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
        assert!(unique(&option_names(Target::SingleRing)));
        assert!(unique(&option_names(Target::LaneGraph)));
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
        assert_eq!(names(ChoiceSet::OnFull), ["block", "drop"]);
    }

    #[test]
    fn options_belong_to_their_targets() {
        assert_eq!(option_names(Target::LaneGraph), ["name", "on_full"]);
        assert!(!option_names(Target::SingleRing).contains(&"on_full"));
        for option in OPTIONS {
            assert!(!option.targets.is_empty(), "{}", option.name);
        }
    }

    #[test]
    fn every_lane_kind_has_its_lane() {
        for kind in LaneKind::ALL {
            let syntax = lane(kind.as_str()).unwrap();
            assert!(syntax.example.starts_with(kind.as_str()));
            assert_eq!(
                syntax.feature_check.is_some(),
                kind.required_feature().is_some()
            );
        }
    }
}
