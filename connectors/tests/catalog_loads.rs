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
