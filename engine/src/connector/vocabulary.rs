//! Planner vocabulary carried by manifests: how descriptions name a
//! connector and talk about its operations. Adding a connector's manifest
//! (with its vocabulary) teaches the planner that connector.

use serde::{Deserialize, Serialize};

/// How descriptions name a connector and its entities.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectorVocabulary {
    /// Other names for the connector, lower case ("qbo", "quickbooks online").
    pub aliases: Vec<String>,
    /// Entity nouns by entity id (`invoice` → ["invoice", "bill"]).
    pub entities: std::collections::BTreeMap<String, Vec<String>>,
}

/// How descriptions talk about one operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OperationVocabulary {
    /// Verbs (or verb phrases) that ask for it ("update", "move", "set").
    pub verbs: Vec<String>,
    /// Example phrasings from the catalog.
    pub phrasings: Vec<String>,
}
