//! Properties of `validate_plan_v2` over arbitrary plans, valid and invalid.

#[path = "common/plan_strategy.rs"]
mod plan_strategy;

use byteor::plan::validate_plan_v2;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Validation never panics, is deterministic, and prints one line per violation.
    #[test]
    fn validation_is_total_and_deterministic(plan in plan_strategy::plan()) {
        let first = validate_plan_v2(&plan);
        prop_assert_eq!(&first, &validate_plan_v2(&plan));
        if let Err(errors) = first {
            prop_assert!(!errors.is_empty());
            let shown = errors.to_string();
            let lines = errors.iter().map(ToString::to_string).collect::<Vec<_>>();
            prop_assert_eq!(shown, lines.join("\n"));
            for line in &lines {
                prop_assert!(!line.is_empty());
            }
        }
    }
}
