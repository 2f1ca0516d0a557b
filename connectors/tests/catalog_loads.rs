//! The built-in catalog's files parse and agree with each other.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[test]
fn catalog_loads() {
    let catalog = nexwatt_connectors::load_catalog().expect("catalog files load");
    assert_eq!(catalog.connectors().len(), 14);
    assert_eq!(catalog.connectors()[0].id, "quickbooks");
    let op = catalog
        .operation("hubspot", "deal.update")
        .expect("hubspot.deal.update");
    assert_eq!(op.effect, nexwatt_engine::model::Effect::Write);
}

/// What the runner relies on in every manifest.
#[test]
fn manifests_are_complete_and_consistent() {
    use nexwatt_engine::connector::ValueType;
    use nexwatt_engine::model::Effect;
    let catalog = nexwatt_connectors::load_catalog().expect("catalog files load");
    // A param whose input is stricter than the planner's text (the planner
    // keeps "to" as written; the operation needs an address or a number).
    let stricter = [
        ("email", "message.received", "from", ValueType::String),
        ("email", "message.send", "to", ValueType::Email),
        ("twilio", "sms.send", "to", ValueType::Phone),
    ];
    for c in catalog.connectors() {
        assert!(!c.description.is_empty(), "{}: description", c.id);
        for op in &c.operations {
            let step = format!("{}.{}", c.id, op.id);
            assert!(!op.summary.is_empty(), "{step}: summary");
            assert!(op.example_output.is_object(), "{step}: example_output");
            if c.id != "core" {
                assert!(
                    op.example_output.as_object().is_some_and(|o| !o.is_empty()),
                    "{step}: example_output is empty"
                );
            }
            if op.effect == Effect::Read || op.effect == Effect::Control {
                assert!(op.idempotent, "{step}: reads and controls are idempotent");
            }
            let mut names = std::collections::BTreeSet::new();
            for field in &op.inputs {
                assert!(
                    names.insert(field.name.as_str()),
                    "{step}: input {} twice",
                    field.name
                );
                assert!(
                    !field.description.is_empty() || !field.required,
                    "{step}: {} undocumented",
                    field.name
                );
            }
            for param in &op.params {
                let input = op
                    .inputs
                    .iter()
                    .find(|f| f.name == param.name)
                    .unwrap_or_else(|| panic!("{step}: param {} is not an input", param.name));
                let allowed = stricter.iter().any(|(cid, oid, name, t)| {
                    *cid == c.id && *oid == op.id && *name == param.name && *t == input.value_type
                });
                assert!(
                    allowed || input.value_type == param.value_type,
                    "{step}: param {} is {:?} but input is {:?}",
                    param.name,
                    param.value_type,
                    input.value_type
                );
            }
        }
    }
}
