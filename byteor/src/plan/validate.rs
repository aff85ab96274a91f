//! `validate_plan_v2`.

use super::PipelinePlanV2;

/// One rule a plan breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanViolation {
    /// The pipeline name is empty.
    #[error("pipeline name is empty")]
    EmptyName,
}

/// Every violation found in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors {
    violations: Vec<PlanViolation>,
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for v in &self.violations {
            writeln!(f, "{v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Validates a plan, reporting every violation.
pub fn validate_plan_v2(plan: &PipelinePlanV2) -> Result<(), ValidationErrors> {
    let mut violations = Vec::new();
    if plan.name.is_empty() {
        violations.push(PlanViolation::EmptyName);
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors { violations })
    }
}
