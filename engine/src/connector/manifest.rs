//! Connector manifests: what each connector and operation is, as data.
//!
//! Manifests are kept as files (see the `nexwatt-connectors` crate) and
//! loaded into a [`Catalog`]. The planner reads their vocabulary; the runner
//! reads effects, inputs, example outputs and idempotency.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::vocabulary::{ConnectorVocabulary, OperationVocabulary};
use crate::model::{Effect, OperationKind};

/// The type of a parameter or input field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ValueType {
    /// Free text.
    String,
    /// A number (amounts, thresholds).
    Number,
    /// A whole number (days).
    Integer,
    /// True or false.
    Boolean,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
    /// A duration: a number and a unit letter (`2d`, `3h`, `30m`).
    Duration,
    /// A 24-hour time of day, `HH:MM`.
    Time,
    /// A schedule period (`day`, `monday`, `15 minutes`).
    Schedule,
    /// A condition, `FIELD OP VALUE`.
    Condition,
    /// An absolute URL.
    Url,
    /// An email address.
    Email,
    /// A phone number in E.164 form.
    Phone,
    /// A chat channel, `#name`.
    Channel,
}

/// A parameter the planner fills when the description states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// Its name, e.g. `stage`.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub value_type: ValueType,
    /// What it means.
    #[serde(default)]
    pub description: String,
}

/// An input field an operation reads at run time (from params, bindings or
/// the trigger payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Its name, e.g. `deal_id`.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub value_type: ValueType,
    /// Whether the operation fails without it.
    #[serde(default)]
    pub required: bool,
    /// What it means.
    #[serde(default)]
    pub description: String,
}

/// One operation of a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationManifest {
    /// Unique within the connector, e.g. `deal.update`.
    pub id: String,
    /// Trigger or action.
    pub kind: OperationKind,
    /// Read, write or control.
    pub effect: Effect,
    /// One line saying what it does.
    pub summary: String,
    /// Parameters the planner fills when stated.
    #[serde(default)]
    pub params: Vec<ParamSpec>,
    /// Fields it reads at run time.
    #[serde(default)]
    pub inputs: Vec<FieldSpec>,
    /// An example of its output; for a trigger, the payload a test run
    /// simulates.
    #[serde(default)]
    pub example_output: serde_json::Value,
    /// Whether the live service honours idempotency keys for it (reads are
    /// idempotent by nature). A step whose outcome is unknown after a crash
    /// is re-run only if this is true.
    #[serde(default)]
    pub idempotent: bool,
    /// How descriptions talk about it (for the planner).
    #[serde(default)]
    pub vocabulary: OperationVocabulary,
}

impl OperationManifest {
    /// The entity part of the id (`deal` of `deal.update`).
    pub fn entity(&self) -> &str {
        self.id.split('.').next().unwrap_or(&self.id)
    }

    /// The verb part of the id (`update` of `deal.update`).
    pub fn action(&self) -> &str {
        self.id.rsplit('.').next().unwrap_or(&self.id)
    }
}

/// One connector and its operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorManifest {
    /// Its id, e.g. `hubspot`.
    pub id: String,
    /// Its display name, e.g. `HubSpot`.
    pub name: String,
    /// What kind of system it is (`crm`, `chat`, …).
    pub category: String,
    /// One line saying what it connects to.
    #[serde(default)]
    pub description: String,
    /// Its operations, in catalog order.
    pub operations: Vec<OperationManifest>,
    /// How descriptions name it (for the planner).
    #[serde(default)]
    pub vocabulary: ConnectorVocabulary,
}

impl ConnectorManifest {
    /// The operation with id `id`.
    pub fn operation(&self, id: &str) -> Option<&OperationManifest> {
        self.operations.iter().find(|o| o.id == id)
    }
}

/// Every connector manifest, in catalog order, with lookups by id.
///
/// ```
/// use nexwatt_engine::connector::Catalog;
/// let catalog = Catalog::new(vec![]);
/// assert!(catalog.connector("slack").is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    connectors: Vec<ConnectorManifest>,
    index: BTreeMap<String, usize>,
}

impl Catalog {
    /// A catalog of `connectors`, in the given order (the order matters to
    /// the planner: binding rule 7 prefers earlier connectors).
    pub fn new(connectors: Vec<ConnectorManifest>) -> Self {
        let index = connectors
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        Self { connectors, index }
    }

    /// The connectors, in catalog order.
    pub fn connectors(&self) -> &[ConnectorManifest] {
        &self.connectors
    }

    /// The connector with id `id`.
    pub fn connector(&self, id: &str) -> Option<&ConnectorManifest> {
        self.index.get(id).and_then(|&i| self.connectors.get(i))
    }

    /// The operation `operation` of connector `connector`.
    pub fn operation(&self, connector: &str, operation: &str) -> Option<&OperationManifest> {
        self.connector(connector)?.operation(operation)
    }
}

impl Serialize for Catalog {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.connectors.serialize(s)
    }
}
