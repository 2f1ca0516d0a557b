//! The planner never panics: any string gives a plan or a typed error, and
//! every plan it gives is well formed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use nexwatt_engine::planner::{DeterministicPlanner, PlanErrorKind, PlanRequest};
use proptest::prelude::*;

fn planner() -> &'static DeterministicPlanner {
    static P: OnceLock<DeterministicPlanner> = OnceLock::new();
    P.get_or_init(|| {
        DeterministicPlanner::new(nexwatt_connectors::catalog().expect("catalog loads"))
    })
}

fn check(description: &str) {
    match planner().plan_sync(&PlanRequest::new(description)) {
        Ok(plan) => {
            assert!(plan.graph.len() >= 2);
            for s in plan.graph.steps() {
                assert!((0.0..=1.0).contains(&s.confidence));
                if let Some(span) = s.span {
                    assert!(
                        span.text(description).is_some(),
                        "span {span:?} off char boundaries"
                    );
                }
            }
            for r in &plan.rules {
                if let Some(span) = r.span {
                    assert!(span.text(description).is_some());
                }
            }
        }
        Err(e) => assert!(matches!(
            e.kind,
            PlanErrorKind::InvalidRequest | PlanErrorKind::DescriptionUnrecognized
        )),
    }
}

const WORDS: &[&str] = &[
    "when",
    "a",
    "new",
    "invoice",
    "is",
    "paid",
    "in",
    "QuickBooks",
    "update",
    "the",
    "matching",
    "deal",
    "HubSpot",
    "to",
    "Closed",
    "Won",
    "and",
    "notify",
    "owner",
    "Slack",
    "#ops",
    "$500",
    "every",
    "Monday",
    "at",
    "9am",
    "wait",
    "2",
    "days",
    "then",
    "if",
    "amount",
    "over",
    "unless",
    "never",
    "refund",
    "more",
    "than",
    ",",
    ";",
    ".",
    "→",
    "\"quoted\"",
    "'s",
    "https://x.io/a",
    "+15550001111",
    "a@b.co",
    "acme/web",
    "/hooks/x",
    "-",
    "(",
    ")",
    "once",
    "both",
    "are",
    "done",
    "in parallel",
    "at the same time as",
    "ticket",
    "Zendesk",
    "Jira",
    "issue",
    "it",
    "them",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn any_unicode_string(s in "\\PC{0,300}") {
        check(&s);
    }

    #[test]
    fn control_characters_and_punctuation(s in "[\\x00-\\x1f\\x7f,.;:!?#$@/\\\\\"'()\\[\\]{}→\\-]{0,400}") {
        check(&s);
    }

    #[test]
    fn sentences_from_catalog_words(words in proptest::collection::vec(proptest::sample::select(WORDS), 0..80)) {
        check(&words.join(" "));
    }
}

#[test]
fn ten_thousand_characters_and_odd_inputs() {
    let long = "When a deal is created in HubSpot, post in #sales. ".repeat(200);
    assert!(long.chars().count() >= 10_000);
    let err = planner()
        .plan_sync(&PlanRequest::new(long.as_str()))
        .expect_err("too long");
    assert_eq!(err.kind, PlanErrorKind::InvalidRequest);
    for s in [
        "!!!???...,,,;;;",
        "\"\"\"\"",
        "\u{0}\u{1}\u{7f}",
        "→→→ -> -> =>",
        "#",
        "$",
        "+",
        "https://",
        "1. 2. 3.",
        "'s 's 's",
        "🦀🦀🦀 when 🦀 post in #🦀",
        "ÀÉÎÕÜ ñ ß 東京 مرحبا",
        "\"unterminated quote when a deal is created in HubSpot, post in #x",
    ] {
        check(s);
    }
    check(&"é".repeat(2000));
    check(&"a ".repeat(1000));
    check(&"post in #ops and ".repeat(110));
}
