//! # nexwatt-server
//!
//! The `/v1` REST API of Nexwatt (axum) and the `nexwatt` command.
//!
//! [`app`] builds the router over an [`Engine`](nexwatt_engine::Engine), so
//! a host or a test can serve it on any listener:
//!
//! ```no_run
//! # async fn demo(engine: nexwatt_engine::Engine) -> std::io::Result<()> {
//! use std::num::NonZeroU32;
//! use nexwatt_server::{app, AppState, ratelimit::WorkspaceRateLimiter};
//!
//! let limiter = WorkspaceRateLimiter::per_minute(NonZeroU32::new(300).unwrap());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app(AppState::new(engine, limiter))).await
//! # }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod api;
pub mod cli;
pub mod client;
pub mod dto;
pub mod error;
pub mod keys;
pub mod ratelimit;
pub mod serve;

pub use api::{app, AppState};
pub use error::ApiError;
