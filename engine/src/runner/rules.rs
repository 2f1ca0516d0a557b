//! Rules checked before a step runs: the agent's allowed connectors, the
//! rules stated in its description, and rules the host supplies.

use chrono::{DateTime, Datelike, Utc};

use crate::model::{Agent, Rule, RuleCheck, Run, Step};

/// What a rule sees of the step about to run.
#[derive(Debug, Clone, Copy)]
pub struct RuleContext<'a> {
    /// The agent whose run it is.
    pub agent: &'a Agent,
    /// The run (its mode, input, workspace).
    pub run: &'a Run,
    /// The step about to run.
    pub step: &'a Step,
    /// The input it would run with.
    pub input: &'a serde_json::Value,
    /// The time now (from the engine's clock).
    pub now: DateTime<Utc>,
}

/// A rule supplied by the host application, checked before every step of
/// every run (after the agent's own rules). A step that breaks one waits
/// for a person with a `rule_violation` escalation.
///
/// ```
/// use nexwatt_engine::{HostRule, RuleContext};
/// #[derive(Debug)]
/// struct NoLiveStripe;
/// impl HostRule for NoLiveStripe {
///     fn name(&self) -> &str { "no-live-stripe" }
///     fn check(&self, ctx: &RuleContext<'_>) -> Option<String> {
///         (ctx.step.connector == "stripe" && ctx.run.mode == nexwatt_engine::model::RunMode::Live)
///             .then(|| "live Stripe calls are disabled on this installation".to_string())
///     }
/// }
/// ```
pub trait HostRule: Send + Sync + std::fmt::Debug {
    /// A short name for messages and logs.
    fn name(&self) -> &str;

    /// `Some(reason)` if the step would break the rule, `None` if it may
    /// run.
    fn check(&self, ctx: &RuleContext<'_>) -> Option<String>;
}

/// The first rule the step would break: the allowed-connectors list, then
/// the agent's rules, then the host's, as a message for the escalation.
pub(crate) fn first_violation(
    ctx: &RuleContext<'_>,
    host_rules: &[std::sync::Arc<dyn HostRule>],
) -> Option<String> {
    let step = ctx.step;
    if !ctx.agent.allows_connector(&step.connector) {
        return Some(format!(
            "step {} uses connector {}, which is not in the agent's allowed connectors ({})",
            step.step,
            step.connector,
            ctx.agent.connectors.join(", ")
        ));
    }
    for rule in &ctx.agent.rules {
        if let Some(why) = check_rule(rule, ctx) {
            return Some(why);
        }
    }
    for rule in host_rules {
        if let Some(why) = rule.check(ctx) {
            return Some(format!("host rule {}: {why}", rule.name()));
        }
    }
    None
}

fn check_rule(rule: &Rule, ctx: &RuleContext<'_>) -> Option<String> {
    let step = ctx.step;
    if !rule
        .applies_to
        .matches(&step.connector, &step.operation, step.effect)
    {
        return None;
    }
    match &rule.check {
        RuleCheck::MaxValue { field, max } => {
            let value = ctx.input.get(field).and_then(super::condition::as_number)?;
            (value > *max).then(|| {
                format!(
                    "rule \"{}\": {field} is {value}, above the limit of {max}",
                    rule.text
                )
            })
        }
        RuleCheck::ForbiddenWeekdays { days } => {
            let today = weekday_name(ctx.now.weekday());
            days.iter()
                .any(|d| d.trim().eq_ignore_ascii_case(today))
                .then(|| {
                    format!(
                        "rule \"{}\": {} must not run on a {today}",
                        rule.text,
                        step.op()
                    )
                })
        }
        RuleCheck::Forbidden => Some(format!(
            "rule \"{}\": {} must not run",
            rule.text,
            step.op()
        )),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

fn weekday_name(day: chrono::Weekday) -> &'static str {
    use chrono::Weekday::*;
    match day {
        Mon => "monday",
        Tue => "tuesday",
        Wed => "wednesday",
        Thu => "thursday",
        Fri => "friday",
        Sat => "saturday",
        Sun => "sunday",
    }
}
