//! The engine's storage conformance suite against `MemoryStorage`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nexwatt_storage_memory::MemoryStorage;

nexwatt_engine::storage_conformance_tests!(|| async { MemoryStorage::new() });
