//! One process, one open handle per database path: sled's file lock. A
//! dropped `SledStorage` frees the path when its drop returns; opening
//! waits up to `SledConfig::lock_wait` for a holder to let go, and then
//! refuses with a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use nexwatt_engine::storage::{Storage, StorageErrorKind, StorageExt};
use nexwatt_engine::testkit::fixtures;
use nexwatt_storage_sled::{SledConfig, SledStorage};

#[test]
fn a_dropped_store_frees_its_path_for_a_raw_open_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = SledConfig::new(dir.path().join("db"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for round in 0..20 {
        let storage = SledStorage::open_blocking(&config).unwrap();
        rt.block_on(async {
            for _ in 0..10 {
                storage
                    .create_workspace(&fixtures::workspace())
                    .await
                    .unwrap();
                storage.flush().await.unwrap();
            }
        });
        drop(storage);
        // Raw sled does not wait for the lock: it must be free already.
        // (Without the wait in the drop this fails now and then, under
        // load: sled's IO threads let go a moment after the handle.)
        let raw = sled::Config::new()
            .path(&config.path)
            .segment_size(config.segment_size)
            .open()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        drop(raw);
    }
}

#[test]
fn a_held_database_is_refused_after_the_lock_wait() {
    let dir = tempfile::tempdir().unwrap();
    let held = SledStorage::open_blocking(&SledConfig::new(dir.path().join("db"))).unwrap();
    let mut config = SledConfig::new(dir.path().join("db"));
    config.lock_wait = Duration::ZERO;
    let err = SledStorage::open_blocking(&config).expect_err("the path is held");
    assert_eq!(err.kind(), StorageErrorKind::Unavailable);
    assert!(
        err.to_string().contains("cannot open sled database"),
        "{err}"
    );
    drop(held);
    SledStorage::open_blocking(&config).expect("free once the holder dropped");
}

#[test]
fn opening_waits_for_a_holder_that_lets_go() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let held = SledStorage::open_blocking(&SledConfig::new(&path)).unwrap();
    let mut config = SledConfig::new(&path);
    config.lock_wait = Duration::from_secs(30);
    // Whether the opener tries before or after the drop, it must succeed.
    let opener = std::thread::spawn(move || SledStorage::open_blocking(&config).map(drop));
    drop(held);
    opener
        .join()
        .unwrap()
        .expect("opened once the holder dropped");
}
