//! The comparison's workflow on other Rust workflow engines from crates.io
//! (feature `compare`).
//!
//! Every engine runs the same workflow as Nexwatt's
//! [`workflow`](crate::noop::workflow): five no-op steps, each after the one
//! before. Each is used the way its documentation shows for an in-process
//! run, and where it offers a choice the cheapest one is taken, so the
//! ratios Nexwatt is measured by are conservative:
//!
//! - [`dagrs`]: a `Graph` of five `DefaultNode`s whose `Action` returns
//!   `Output::empty()`, edges 1→2→3→4→5, run by `Graph::async_start`
//!   (building the graph is left out of the timing, as dagrs' own
//!   `run_overhead` benchmark does);
//! - [`acts`]: a YAML-equivalent `Workflow` of five steps with no acts,
//!   deployed once on the default in-memory store, each run started with
//!   `executor.proc().start` and awaited through the `on_complete` channel;
//! - [`duroxide`]: an orchestration that schedules five no-op activities one
//!   after another, on its SQLite provider (a file in a temporary
//!   directory, as its `hello_world` example does), started with
//!   `Client::start_orchestration` and awaited with
//!   `Client::wait_for_orchestration` (the dispatchers' idle poll interval is
//!   lowered from 100 ms to 1 ms in its favour).

pub mod acts;
pub mod dagrs;
pub mod duroxide;

/// Why another engine's run failed.
#[derive(Debug, thiserror::Error)]
#[error("{engine}: {message}")]
pub struct OtherEngineError {
    /// Which engine.
    pub engine: &'static str,
    /// What went wrong.
    pub message: String,
}

impl OtherEngineError {
    pub(crate) fn new(engine: &'static str, message: impl std::fmt::Display) -> Self {
        Self {
            engine,
            message: message.to_string(),
        }
    }
}
