//! Rules an agent's runs must keep, stated in its description ("never
//! refund more than $500") or supplied by the host.

use serde::{Deserialize, Serialize};

use super::step::{Effect, SourceSpan};

/// Which operations a rule applies to. Every field left `None` matches
/// anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationSelector {
    /// Connector id, e.g. `stripe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    /// Operation id, e.g. `refund.create`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Operation effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
}

impl OperationSelector {
    /// Whether an operation is selected.
    pub fn matches(&self, connector: &str, operation: &str, effect: Effect) -> bool {
        self.connector.as_deref().is_none_or(|c| c == connector)
            && self.operation.as_deref().is_none_or(|o| o == operation)
            && self.effect.is_none_or(|e| e == effect)
    }
}

/// What a rule checks before a step runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RuleCheck {
    /// A numeric input field must not exceed `max` ("never refund more than
    /// $500").
    MaxValue {
        /// Input field, e.g. `amount`.
        field: String,
        /// The largest allowed value.
        max: f64,
    },
    /// The selected operations must not run on these days of the week
    /// (lower-case English names: "don't message customers on weekends").
    ForbiddenWeekdays {
        /// e.g. `["saturday", "sunday"]`.
        days: Vec<String>,
    },
    /// The selected operations must not run at all.
    Forbidden,
}

/// A rule on an agent's runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The operations it governs.
    #[serde(default)]
    pub applies_to: OperationSelector,
    /// What it checks.
    pub check: RuleCheck,
    /// The rule as a person stated it.
    pub text: String,
    /// Where in the description it was stated, if it came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<SourceSpan>,
}
