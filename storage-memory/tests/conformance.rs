//! The engine's storage conformance suite against `MemoryStorage`.

use nexwatt_storage_memory::MemoryStorage;

nexwatt_engine::storage_conformance_tests!(|| async { MemoryStorage::new() });
