//! The engine's storage conformance suite against `SledStorage`, plus
//! reopen-after-flush.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nexwatt_storage_sled::SledStorage;

nexwatt_engine::storage_conformance_tests!(
    fresh: || async { SledStorage::temporary().expect("temporary sled") },
    reopen: {
        let dir = tempfile::tempdir().expect("tempdir");
        move || {
            let path = dir.path().join("db");
            async move { SledStorage::open(&path).await.expect("open sled") }
        }
    },
);
