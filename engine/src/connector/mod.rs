//! The `Connector` trait, connector manifests and the registry the runner
//! routes calls through.
//!
//! A connector is a manifest (what it can do) plus
//! [`execute`](Connector::execute). Every connector of the catalog has a
//! sandbox (a simulated system); some also have a live client. The
//! [`ConnectorRegistry`] decides which one a step calls, in one place: test
//! runs never reach a live client for a write.

mod context;
mod error;
mod manifest;
mod registry;
mod vocabulary;

pub use context::ExecutionContext;
pub use error::{ConnectorError, ConnectorErrorKind};
pub use manifest::{
    Catalog, ConnectorManifest, FieldSpec, OperationManifest, ParamSpec, ValueType,
};
pub use registry::{ConnectorRegistry, RegisteredConnector, Route};
pub use vocabulary::{ConnectorVocabulary, OperationVocabulary, ParamVocabulary};

use async_trait::async_trait;

/// A system Nexwatt can act on. Object-safe; the registry holds
/// `Arc<dyn Connector>`.
#[async_trait]
pub trait Connector: Send + Sync + std::fmt::Debug {
    /// What this connector can do. Sandbox and live client of one connector
    /// share the manifest.
    fn manifest(&self) -> &ConnectorManifest;

    /// Runs `operation` (an id of the manifest, e.g. `deal.update`) with
    /// `input`, returning its output.
    ///
    /// Implementations pass `ctx.idempotency_key` to services that honour
    /// one, give up by `ctx.deadline`, and classify every failure (see
    /// [`ConnectorErrorKind`]). Error messages never contain secrets.
    async fn execute(
        &self,
        operation: &str,
        input: serde_json::Value,
        ctx: &ExecutionContext,
    ) -> Result<serde_json::Value, ConnectorError>;
}
