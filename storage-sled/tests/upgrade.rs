//! Older layouts open under layout 4. A layout-2 database (which kept
//! `u ‖ run id` markers of unfinished runs): the markers are deleted, the
//! version becomes 4, and the unfinished runs are still listed (from the
//! status index). A layout-3 database (no journal): the version becomes 4
//! and everything reads back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nexwatt_engine::model::RunStatus;
use nexwatt_engine::storage::{Storage, StorageExt};
use nexwatt_engine::testkit::fixtures;
use nexwatt_storage_sled::{SledConfig, SledStorage};

/// Opens the database with raw sled, with the segment size `SledStorage`
/// gives new databases (sled refuses any other).
fn raw_open(path: &std::path::Path) -> sled::Result<sled::Db> {
    sled::Config::new()
        .path(path)
        .segment_size(SledConfig::new(path).segment_size)
        .open()
}

#[tokio::test]
async fn layout_2_is_upgraded_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let ws = fixtures::workspace();
    let agent = fixtures::agent(ws.id);
    let mut queued = fixtures::run(ws.id, agent.id);
    queued.status = RunStatus::Queued;
    let mut done = fixtures::run(ws.id, agent.id);
    done.status = RunStatus::Completed;
    {
        let storage = SledStorage::open(&path).await.expect("open");
        storage.create_workspace(&ws).await.expect("workspace");
        storage.create_agent(&agent).await.expect("agent");
        storage.create_run(&queued).await.expect("queued run");
        storage.create_run(&done).await.expect("done run");
        storage.flush().await.expect("flush");
    }
    // Turn it into what layout 2 wrote: version "2" and a marker per
    // unfinished run.
    let marker = {
        let mut key = vec![b'u'];
        key.extend_from_slice(&queued.id.to_bytes());
        key
    };
    {
        let db = raw_open(&path).expect("raw open");
        let tree = db.open_tree("nexwatt").expect("tree");
        tree.insert(b"mformat", &b"2"[..]).expect("version");
        tree.insert(&marker[..], &[][..]).expect("marker");
        db.flush().expect("flush");
    }
    {
        let storage = SledStorage::open_blocking(&SledConfig::new(&path)).expect("upgrade");
        assert_eq!(
            storage.list_unfinished_runs().await.unwrap(),
            vec![queued.clone()]
        );
        assert_eq!(storage.get_run(ws.id, done.id).await.unwrap(), done);
        storage.flush().await.expect("flush");
    }
    let db = raw_open(&path).expect("raw open");
    let tree = db.open_tree("nexwatt").expect("tree");
    assert_eq!(tree.get(b"mformat").unwrap().as_deref(), Some(&b"4"[..]));
    assert!(tree.get(&marker[..]).unwrap().is_none(), "marker deleted");
}

#[tokio::test]
async fn layout_3_is_upgraded_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let ws = fixtures::workspace();
    let agent = fixtures::agent(ws.id);
    let mut queued = fixtures::run(ws.id, agent.id);
    queued.status = RunStatus::Queued;
    {
        let storage = SledStorage::open(&path).await.expect("open");
        storage.create_workspace(&ws).await.expect("workspace");
        storage.create_agent(&agent).await.expect("agent");
        storage.create_run(&queued).await.expect("run");
        storage.flush().await.expect("flush");
    }
    // Turn it into what layout 3 wrote: version "3", no journal.
    {
        let db = raw_open(&path).expect("raw open");
        assert!(db.drop_tree("nexwatt-journal").expect("drop journal"));
        let tree = db.open_tree("nexwatt").expect("tree");
        tree.insert(b"mformat", &b"3"[..]).expect("version");
        db.flush().expect("flush");
    }
    {
        let storage = SledStorage::open(&path).await.expect("upgrade");
        assert_eq!(storage.get_agent(ws.id, agent.id).await.unwrap(), agent);
        assert_eq!(
            storage.list_unfinished_runs().await.unwrap(),
            vec![queued.clone()]
        );
        let mut next = fixtures::run(ws.id, agent.id);
        next.status = RunStatus::Queued;
        storage
            .create_run(&next)
            .await
            .expect("a write after the upgrade");
        storage.flush().await.expect("flush");
    }
    let db = raw_open(&path).expect("raw open");
    let tree = db.open_tree("nexwatt").expect("tree");
    assert_eq!(tree.get(b"mformat").unwrap().as_deref(), Some(&b"4"[..]));
}

#[tokio::test]
async fn an_unknown_layout_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    {
        let db = raw_open(&path).expect("raw open");
        let tree = db.open_tree("nexwatt").expect("tree");
        tree.insert(b"mformat", &b"9"[..]).expect("version");
        db.flush().expect("flush");
    }
    let err = SledStorage::open(&path).await.expect_err("refused");
    assert!(err.to_string().contains("layout version"), "{err}");
}
