//! sled records a database's segment size and refuses to open it with
//! another: a database created with sled's default (512 KiB, which every
//! database made before `SledConfig::segment_size` has) still opens with
//! the new default (8 MiB), and keeps its size; a new database gets the
//! configured size.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use nexwatt_engine::storage::{Storage, StorageExt};
use nexwatt_engine::testkit::fixtures;
use nexwatt_storage_sled::{SledConfig, SledStorage};

const SLED_DEFAULT: usize = 512 * 1024;

/// The `segment_size` line of the storage parameters sled wrote.
fn conf_segment_size(path: &Path) -> usize {
    let bytes = std::fs::read(path.join("conf")).expect("sled conf");
    let text = String::from_utf8_lossy(&bytes[..bytes.len() - 4]).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("segment_size: "))
        .expect("segment_size line")
        .parse()
        .expect("a number")
}

#[tokio::test]
async fn a_database_with_sleds_default_segment_size_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    drop(sled::open(&path).expect("raw sled open"));
    assert_eq!(conf_segment_size(&path), SLED_DEFAULT);
    // sled itself refuses the new default on this database...
    let refused = sled::Config::new()
        .path(&path)
        .segment_size(8 * 1024 * 1024)
        .open();
    assert!(
        matches!(refused, Err(sled::Error::Unsupported(_))),
        "{refused:?}"
    );

    // ...SledStorage opens it with the size it was created with.
    assert_eq!(SledConfig::new(&path).segment_size, 8 * 1024 * 1024);
    let ws = fixtures::workspace();
    let agent = fixtures::agent(ws.id);
    let run = fixtures::run(ws.id, agent.id);
    {
        let storage = SledStorage::open(&path).await.expect("open old database");
        storage.create_workspace(&ws).await.unwrap();
        storage.create_agent(&agent).await.unwrap();
        storage.create_run(&run).await.unwrap();
        storage.flush().await.unwrap();
    }
    let storage = SledStorage::open(&path).await.expect("reopen");
    assert_eq!(storage.get_run(ws.id, run.id).await.unwrap(), run);
    drop(storage);
    assert_eq!(conf_segment_size(&path), SLED_DEFAULT, "size kept");
}

#[tokio::test]
async fn a_new_database_gets_the_configured_segment_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("default");
    drop(SledStorage::open(&path).await.unwrap());
    assert_eq!(conf_segment_size(&path), 8 * 1024 * 1024);

    let path = dir.path().join("small");
    let mut config = SledConfig::new(&path);
    config.segment_size = 1024 * 1024;
    drop(SledStorage::open_with(config).await.unwrap());
    assert_eq!(conf_segment_size(&path), 1024 * 1024);
    // Reopening with the default keeps it.
    drop(SledStorage::open(&path).await.unwrap());
    assert_eq!(conf_segment_size(&path), 1024 * 1024);
}

#[tokio::test]
async fn a_bad_segment_size_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = SledConfig::new(dir.path().join("db"));
    config.segment_size = 3000;
    let err = SledStorage::open_with(config)
        .await
        .expect_err("not a power of two");
    assert!(err.to_string().contains("cannot open"), "{err}");
}
