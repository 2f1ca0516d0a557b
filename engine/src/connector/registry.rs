//! The registry of connectors and the one place that decides whether a
//! call goes to a sandbox or a live client.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Connector, ConnectorError};
use crate::model::{Effect, RunMode};

/// A connector as registered: its sandbox, and its live client if it has
/// one.
#[derive(Debug, Clone)]
pub struct RegisteredConnector {
    /// The simulated system: serves every test-mode write, and test-mode
    /// reads unless live reads are allowed.
    pub sandbox: Arc<dyn Connector>,
    /// The real client, if the connector has one.
    pub live: Option<Arc<dyn Connector>>,
}

/// Which implementation a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The sandbox.
    Sandbox,
    /// The live client.
    Live,
}

/// Connectors by id.
///
/// ```
/// use nexwatt_engine::connector::{ConnectorRegistry, Route};
/// use nexwatt_engine::model::{Effect, RunMode};
/// // Test mode never routes a write live, whatever is registered.
/// assert_eq!(ConnectorRegistry::route_for(RunMode::Test, Effect::Write, true, true), Some(Route::Sandbox));
/// // Live mode needs a live client.
/// assert_eq!(ConnectorRegistry::route_for(RunMode::Live, Effect::Write, false, false), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConnectorRegistry {
    connectors: BTreeMap<String, RegisteredConnector>,
    live_reads_in_test: bool,
}

impl ConnectorRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a connector's sandbox (and live client, if any) under the
    /// sandbox manifest's id, replacing an earlier registration.
    pub fn register(
        &mut self,
        sandbox: Arc<dyn Connector>,
        live: Option<Arc<dyn Connector>>,
    ) -> &mut Self {
        let id = sandbox.manifest().id.clone();
        self.connectors
            .insert(id, RegisteredConnector { sandbox, live });
        self
    }

    /// Lets test runs send *reads* to live clients (writes still never go
    /// live in test mode).
    pub fn allow_live_reads_in_test(&mut self, allow: bool) -> &mut Self {
        self.live_reads_in_test = allow;
        self
    }

    /// The registration of `id`.
    pub fn get(&self, id: &str) -> Option<&RegisteredConnector> {
        self.connectors.get(id)
    }

    /// Registered ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.connectors.keys().map(String::as_str)
    }

    /// The routing rule, as a pure function: where a call of `effect` in
    /// `mode` goes, or `None` when live mode has no live client.
    pub fn route_for(
        mode: RunMode,
        effect: Effect,
        has_live: bool,
        live_reads_in_test: bool,
    ) -> Option<Route> {
        match mode {
            RunMode::Test => {
                if effect == Effect::Read && live_reads_in_test && has_live {
                    Some(Route::Live)
                } else {
                    Some(Route::Sandbox)
                }
            }
            RunMode::Live => has_live.then_some(Route::Live),
        }
    }

    /// The implementation a call of `connector` with `effect` in `mode`
    /// goes to. Fails with a permanent `unknown_connector` or
    /// `no_live_client` error.
    pub fn resolve(
        &self,
        connector: &str,
        effect: Effect,
        mode: RunMode,
    ) -> Result<(Route, Arc<dyn Connector>), ConnectorError> {
        let entry = self.connectors.get(connector).ok_or_else(|| {
            ConnectorError::permanent(
                "unknown_connector",
                format!("no connector {connector:?} is registered"),
            )
        })?;
        match Self::route_for(mode, effect, entry.live.is_some(), self.live_reads_in_test) {
            Some(Route::Sandbox) => Ok((Route::Sandbox, Arc::clone(&entry.sandbox))),
            Some(Route::Live) => match &entry.live {
                Some(live) => Ok((Route::Live, Arc::clone(live))),
                None => Err(no_live(connector)),
            },
            None => Err(no_live(connector)),
        }
    }
}

fn no_live(connector: &str) -> ConnectorError {
    ConnectorError::permanent(
        "no_live_client",
        format!(
            "connector {connector} has no live client configured; it can run in test mode (sandbox) only"
        ),
    )
}
