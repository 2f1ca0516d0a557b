//! A layout-2 database (which kept `u ‖ run id` markers of unfinished runs)
//! opens under layout 3: the markers are deleted, the version becomes 3,
//! and the unfinished runs are still listed (from the status index).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nexwatt_engine::model::RunStatus;
use nexwatt_engine::storage::{Storage, StorageExt};
use nexwatt_engine::testkit::fixtures;
use nexwatt_storage_sled::{SledConfig, SledStorage};

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
        let db = sled::open(&path).expect("raw open");
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
    let db = sled::open(&path).expect("raw open");
    let tree = db.open_tree("nexwatt").expect("tree");
    assert_eq!(tree.get(b"mformat").unwrap().as_deref(), Some(&b"3"[..]));
    assert!(tree.get(&marker[..]).unwrap().is_none(), "marker deleted");
}

#[tokio::test]
async fn an_unknown_layout_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    {
        let db = sled::open(&path).expect("raw open");
        let tree = db.open_tree("nexwatt").expect("tree");
        tree.insert(b"mformat", &b"9"[..]).expect("version");
        db.flush().expect("flush");
    }
    let err = SledStorage::open(&path).await.expect_err("refused");
    assert!(err.to_string().contains("layout version"), "{err}");
}
