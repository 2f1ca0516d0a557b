//! The connector catalog, loaded from the manifest files.
//!
//! Each connector has two data files: `manifests/ID.toml` (its operations:
//! kind, effect, params, inputs, example output, idempotency) and
//! `vocabulary/ID.toml` (how descriptions talk about it, for the planner).
//! They are compiled into the binary and merged here into one
//! [`ConnectorManifest`] per connector.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use nexwatt_engine::connector::{
    Catalog, ConnectorManifest, ConnectorVocabulary, OperationVocabulary,
};
use serde::Deserialize;

/// Why the catalog's data files do not load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// A file is not valid TOML of the expected shape.
    #[error("{file}: {source}")]
    Parse {
        /// The file.
        file: String,
        /// The parse error.
        #[source]
        source: toml::de::Error,
    },
    /// The files disagree with each other.
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

macro_rules! connector_files {
    ($($id:literal),* $(,)?) => {
        /// `(id, manifest TOML, vocabulary TOML)` for every connector, in
        /// catalog order.
        pub const FILES: &[(&str, &str, &str)] = &[
            $(($id,
               include_str!(concat!("../manifests/", $id, ".toml")),
               include_str!(concat!("../vocabulary/", $id, ".toml"))),)*
        ];
    };
}

// Catalog order matters: binding rule 7 of the catalog binds an unnamed
// connector to the first one that offers the operation.
connector_files!(
    "quickbooks",
    "hubspot",
    "slack",
    "email",
    "google_sheets",
    "salesforce",
    "stripe",
    "jira",
    "github",
    "zendesk",
    "shopify",
    "twilio",
    "http",
    "core",
);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabularyFile {
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    entities: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    operations: BTreeMap<String, OperationVocabulary>,
}

/// Parses and merges one connector's two files.
pub fn parse_connector(
    id: &str,
    manifest: &str,
    vocabulary: &str,
) -> Result<ConnectorManifest, CatalogError> {
    let manifest_file = format!("manifests/{id}.toml");
    let vocabulary_file = format!("vocabulary/{id}.toml");
    let mut connector: ConnectorManifest =
        toml::from_str(manifest).map_err(|source| CatalogError::Parse {
            file: manifest_file.clone(),
            source,
        })?;
    let vocab: VocabularyFile =
        toml::from_str(vocabulary).map_err(|source| CatalogError::Parse {
            file: vocabulary_file.clone(),
            source,
        })?;
    if connector.id != id {
        return Err(CatalogError::Invalid {
            file: manifest_file,
            message: format!("declares id {:?}", connector.id),
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for op in &connector.operations {
        if !seen.insert(op.id.as_str()) {
            return Err(CatalogError::Invalid {
                file: manifest_file,
                message: format!("operation {} is declared twice", op.id),
            });
        }
    }
    for op_id in vocab.operations.keys() {
        if connector.operation(op_id).is_none() {
            return Err(CatalogError::Invalid {
                file: vocabulary_file,
                message: format!("vocabulary for unknown operation {op_id}"),
            });
        }
    }
    connector.vocabulary = ConnectorVocabulary {
        aliases: vocab.aliases,
        entities: vocab.entities,
    };
    let mut ops = vocab.operations;
    for op in &mut connector.operations {
        if let Some(v) = ops.remove(&op.id) {
            op.vocabulary = v;
        }
    }
    Ok(connector)
}

/// Loads every connector's files into a catalog.
pub fn load_catalog() -> Result<Catalog, CatalogError> {
    FILES
        .iter()
        .map(|(id, manifest, vocabulary)| parse_connector(id, manifest, vocabulary))
        .collect::<Result<Vec<_>, _>>()
        .map(Catalog::new)
}

static CATALOG: OnceLock<Result<Catalog, String>> = OnceLock::new();

/// The built-in catalog, parsed once. The files are compiled in and checked
/// by this crate's tests, so an error here means a broken build; it is
/// still returned, not panicked on.
pub fn catalog() -> Result<&'static Catalog, CatalogError> {
    match CATALOG.get_or_init(|| load_catalog().map_err(|e| e.to_string())) {
        Ok(catalog) => Ok(catalog),
        Err(message) => Err(CatalogError::Invalid {
            file: "catalog".into(),
            message: message.clone(),
        }),
    }
}
