//! Planner vocabulary carried by manifests: how descriptions name a
//! connector and talk about its operations. Adding a connector's manifest
//! (with its vocabulary) teaches the planner that connector.
//!
//! Phrases are lower case; `…` (or `...`) inside a verb phrase stands for a
//! few words of anything ("let … know"). Parameter patterns are word
//! sequences with slots: `{}` (a value as written: a quoted string, a
//! capitalised name, or a short lower-case phrase), `{number}`, `{money}`,
//! `{email}`, `{phone}`, `{url}`, `{path}`, `{slug}` (`owner/repo`),
//! `{channel}` (`#name`), or `{NAME}` for a named slot of a pattern that
//! fills two parameters at once (`{property} to {value}`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How descriptions name a connector and its entities.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectorVocabulary {
    /// Other names for the connector, lower case ("qbo", "quickbooks online").
    pub aliases: Vec<String>,
    /// Entity nouns by entity id (`invoice` → ["invoice", "bill"]).
    pub entities: BTreeMap<String, Vec<String>>,
}

/// How descriptions talk about one operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OperationVocabulary {
    /// Verbs (or verb phrases) that ask for it ("update", "move", "set");
    /// for a trigger, the event words ("created", "marked paid").
    pub verbs: Vec<String>,
    /// Example phrasings from the catalog.
    pub phrasings: Vec<String>,
    /// Entities whose record this operation hands to later steps, besides
    /// its own entity (a form submission hands over its contact).
    pub provides: Vec<String>,
    /// Who the operation sends to: `person`, `channel`, or empty when it
    /// is not a message.
    pub recipient: String,
    /// How each parameter is written in descriptions.
    pub params: BTreeMap<String, ParamVocabulary>,
}

/// How descriptions state one parameter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ParamVocabulary {
    /// Patterns with slots, tried in order (see the module docs).
    pub patterns: Vec<String>,
    /// When not empty, the only values accepted (lower case), e.g. the
    /// priorities of a ticket.
    pub values: Vec<String>,
}
