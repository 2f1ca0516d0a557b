//! # nexwatt-connectors
//!
//! The connector catalog of Nexwatt as data (one manifest and one
//! vocabulary file per connector), a sandbox (simulated system) for every
//! connector, and live HTTP clients for Slack, HubSpot, QuickBooks Online
//! and generic HTTP.

pub mod catalog;

pub use catalog::{catalog, load_catalog, CatalogError};
pub mod live;
pub mod sandbox;
