//! # nexwatt-connectors
//!
//! The connector catalog of Nexwatt as data (one manifest and one
//! vocabulary file per connector), a sandbox (simulated system) for every
//! connector, and live HTTP clients for Slack, HubSpot, QuickBooks Online
//! and generic HTTP.
//!
//! - [`catalog()`]: the built-in catalog, loaded from the data files;
//! - [`listing`]: the catalog as JSON and as a table (`nexwatt connectors`);
//! - [`sandbox`]: [`Sandboxes`], one simulated system per connector, with
//!   fault injection and an effect log;
//! - [`registry()`](registry::registry): a `ConnectorRegistry` of the
//!   sandboxes paired with live clients.

pub mod catalog;
pub mod listing;
pub mod live;
pub mod registry;
pub mod sandbox;

pub use catalog::{catalog, load_catalog, CatalogError};
pub use sandbox::{EffectRecord, Faults, Sandbox, Sandboxes};
