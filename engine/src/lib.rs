//! # nexwatt-engine
//!
//! The core of Nexwatt, an embeddable workflow-automation engine: the data
//! model, the [`Storage`](storage::Storage), [`Connector`](connector::Connector)
//! and [`Planner`](planner::Planner) traits, the step graph, and the runner.
//!
//! The other crates plug into this one: `nexwatt-storage-memory` and
//! `nexwatt-storage-sled` implement `Storage`, `nexwatt-connectors` ships the
//! connector catalog, and `nexwatt-server` serves the REST API.

pub mod clock;
pub mod connector;
pub mod engine;
pub mod id;
pub mod model;
pub mod planner;
pub mod runner;
pub mod storage;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use engine::{
    CreateAgent, Engine, EngineBuilder, EngineError, EngineLimits, ErrorKind, Resolve, RunDetail,
    StartRun,
};
pub use runner::{HostRule, RuleContext};
