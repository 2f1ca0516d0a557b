//! Shared pieces of the Nexwatt benchmarks: a no-op connector and the step
//! graphs it runs, a planner that returns a hand-built graph, the
//! process's memory use, and (feature `compare`) the same workflow on other
//! Rust workflow engines.

pub mod memory;
pub mod nexwatt;
pub mod noop;
#[cfg(feature = "compare")]
pub mod others;
pub mod planner;
