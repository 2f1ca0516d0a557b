//! Building a [`ConnectorRegistry`] from the sandboxes and live clients.

use std::sync::Arc;

use nexwatt_engine::connector::{Connector, ConnectorRegistry};

use crate::sandbox::Sandboxes;

/// A registry holding every sandbox of `sandboxes`, each paired with the
/// live client of the same manifest id from `live`, if one is given. A
/// live client whose id has no sandbox is not registered (every connector
/// needs a sandbox for test runs); it is logged.
pub fn registry(sandboxes: &Sandboxes, live: Vec<Arc<dyn Connector>>) -> ConnectorRegistry {
    let mut registry = ConnectorRegistry::new();
    for client in &live {
        let id = &client.manifest().id;
        if sandboxes.get(id).is_none() {
            tracing::warn!(connector = %id, "live client has no sandbox; not registered");
        }
    }
    for sandbox in sandboxes.all() {
        let id = sandbox.manifest().id.clone();
        let client = live.iter().find(|c| c.manifest().id == id).cloned();
        let sandbox: Arc<dyn Connector> = sandbox.clone();
        registry.register(sandbox, client);
    }
    registry
}
