//! Shared helpers for the Nexwatt benchmarks.
