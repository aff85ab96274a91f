//! Properties of TOML plan documents: exact round trips, and no panics on any input.
#![cfg(feature = "toml")]

#[path = "common/plan_strategy.rs"]
mod plan_strategy;

use byteor::plan::{validate_plan_v2, PipelinePlanV2};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_plan_round_trips(plan in plan_strategy::plan()) {
        let text = plan.to_toml();
        let back = PipelinePlanV2::from_toml(&text)
            .map_err(|e| TestCaseError::fail(format!("{e}\n---\n{text}")))?;
        prop_assert_eq!(&back, &plan, "document:\n{}", text);
        // Validation sees the same plan either way.
        prop_assert_eq!(validate_plan_v2(&back), validate_plan_v2(&plan));
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = PipelinePlanV2::from_toml(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = PipelinePlanV2::from_toml(&text);
    }

    #[test]
    fn toml_like_text_never_panics(text in "[a-z_=\\[\\]{}\",.# 0-9\n-]{0,300}") {
        if let Err(e) = PipelinePlanV2::from_toml(&text) {
            prop_assert!(e.line() >= 1 && e.column() >= 1);
            prop_assert!(e.line() <= text.lines().count().max(1) + 1, "{}", e);
        }
    }

    /// Damaged real documents reach deeper than random text: every error still has a position.
    #[test]
    fn damaged_documents_never_panic(
        plan in plan_strategy::plan(),
        cut in any::<prop::sample::Index>(),
        insert in any::<prop::sample::Index>(),
        junk in "[\\[\\]{}=\",\n a-z0-9]{1,4}",
    ) {
        let text = plan.to_toml();
        let chars: Vec<char> = text.chars().collect();
        let at = cut.index(chars.len() + 1);
        let mut damaged: String = chars[..at].iter().collect();
        damaged.push_str(&junk);
        let rest: String = chars[at..].iter().collect();
        let skip = insert.index(rest.chars().count() + 1);
        damaged.extend(rest.chars().skip(skip));
        if let Err(e) = PipelinePlanV2::from_toml(&damaged) {
            prop_assert!(e.line() >= 1 && e.column() >= 1);
            prop_assert!(!e.to_string().is_empty());
        }
    }
}
