//! What plan and spec validation share to report violations: the one collection both return
//! ([`Violations`]), name labels and the "did you mean" search ([`did_you_mean`]), and the
//! bounded cycle walk.

pub(crate) mod cycles;
pub(crate) mod names;

use std::fmt;

/// The closest of `candidates` to the unknown `name`, when it is close enough to be a likely
/// typo — the one "did you mean" of byteor: plan validation and the `#[pipeline]` macro both
/// use it.
///
/// The distance is `strsim`'s optimal string alignment (an insertion, deletion, substitution
/// or swap of two neighbouring characters is one edit); a suggestion is at most a third of
/// the name's length away (at least one edit, at most three); names longer than
/// [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES) are neither searched for nor suggested; the
/// first of equally close candidates wins; the search does a bounded amount of work.
///
/// ```
/// use byteor_model::diagnostics::did_you_mean;
///
/// assert_eq!(did_you_mean("pasre", ["parse", "risk"]), Some("parse"));
/// assert_eq!(did_you_mean("settlement", ["parse", "risk"]), None);
/// ```
pub fn did_you_mean<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    names::closest_name(name, candidates)
}

/// How a plan violation stores and shows a name from the plan: the name itself when it is
/// valid; otherwise characters that would not print as themselves (and `\`) are escaped as
/// `{:?}` escapes them, and the label is cut after
/// [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES) bytes, ending in `…`. Tools that map a
/// [`PlanViolation`](crate::plan::PlanViolation) back to where a name was written compare
/// their names' labels with the violation's.
///
/// ```
/// use byteor_model::diagnostics::plan_label;
///
/// assert_eq!(plan_label("parse"), "parse");
/// assert_eq!(plan_label("a\u{1b}b"), "a\\u{1b}b");
/// assert_eq!(plan_label(&"p".repeat(100)), format!("{}…", "p".repeat(64)));
/// ```
pub fn plan_label(name: &str) -> String {
    names::plan_label(name)
}

/// Every violation one validation found, in order of discovery. Never empty.
///
/// [`validate_plan_v2`](crate::plan::validate_plan_v2) returns
/// [`ValidationErrors`](crate::plan::ValidationErrors) (`Violations<PlanViolation>`) and
/// [`validate_v1`](crate::spec::validate_v1) returns [`SpecErrors`](crate::spec::SpecErrors)
/// (`Violations<SpecViolation>`). `Display` prints one violation per line.
///
/// ```
/// use byteor_model::plan::{validate_plan_v2, PipelinePlanV2, StageDecl};
///
/// let plan = PipelinePlanV2::single_ring("orders").with_stage(StageDecl::new("parse"));
/// let errors = validate_plan_v2(&plan).unwrap_err();
/// assert_eq!(errors.len(), errors.iter().count());
/// assert_eq!(errors.to_string().lines().count(), errors.len());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violations<V> {
    violations: Vec<V>,
}

impl<V> Violations<V> {
    /// `Ok` when `found` is empty, otherwise every violation in it.
    pub(crate) fn check(found: Vec<V>) -> Result<(), Self> {
        if found.is_empty() {
            Ok(())
        } else {
            Err(Violations { violations: found })
        }
    }

    /// Number of violations (at least 1).
    pub fn len(&self) -> usize {
        self.violations.len()
    }

    /// Always `false`: a validation that found nothing returns `Ok`, not an empty collection.
    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    /// The violations, in order of discovery.
    pub fn violations(&self) -> &[V] {
        &self.violations
    }

    /// Iterates over the violations in order of discovery.
    pub fn iter(&self) -> std::slice::Iter<'_, V> {
        self.violations.iter()
    }

    /// Takes the violations out.
    pub fn into_violations(self) -> Vec<V> {
        self.violations
    }

    /// Takes the violations out (the same as [`into_violations`](Self::into_violations)).
    pub fn into_vec(self) -> Vec<V> {
        self.violations
    }
}

impl<V: fmt::Display> fmt::Display for Violations<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl<V: fmt::Debug + fmt::Display> std::error::Error for Violations<V> {}

impl<V> IntoIterator for Violations<V> {
    type Item = V;
    type IntoIter = std::vec::IntoIter<V>;

    fn into_iter(self) -> Self::IntoIter {
        self.violations.into_iter()
    }
}

impl<'a, V> IntoIterator for &'a Violations<V> {
    type Item = &'a V;
    type IntoIter = std::slice::Iter<'a, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.violations.iter()
    }
}
