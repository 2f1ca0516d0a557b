//! Older layouts open under layout 5. A layout-2 database (which kept
//! `u ‖ run id` markers of unfinished runs): the markers are deleted, the
//! version becomes 5, and the unfinished runs are still listed (from the
//! status index). A layout-3 database (no journal) and a layout-4 one
//! (the run index in sled, `R ‖ …` keys): the run index keys are deleted
//! (layout 5 keeps it in memory), the version becomes 5 and everything
//! reads back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nexwatt_engine::model::{Agent, Run, RunStatus, Workspace};
use nexwatt_engine::storage::{PageRequest, RunFilter, Storage, StorageExt};
use nexwatt_engine::testkit::fixtures;
use nexwatt_storage_sled::{SledConfig, SledStorage};

mod common;
use common::raw_open;

/// Adds run index keys as layout 4 kept them (`R ‖ workspace ‖ mask ‖ id`
/// for the workspace-wide entry; the other entries look alike).
fn add_layout_4_run_index(tree: &sled::Tree, runs: &[&Run]) {
    for run in runs {
        let mut key = vec![b'R'];
        key.extend_from_slice(&run.workspace.to_bytes());
        key.push(0);
        key.extend_from_slice(&run.id.to_bytes());
        tree.insert(key, &[][..]).expect("index key");
    }
}

/// The version, and whether any run index key is left.
fn layout_of(path: &std::path::Path) -> (Vec<u8>, bool) {
    let db = raw_open(path).expect("raw open");
    let tree = db.open_tree("nexwatt").expect("tree");
    let version = tree.get(b"mformat").unwrap().expect("version").to_vec();
    let index_left = tree.scan_prefix([b'R']).next().is_some();
    (version, index_left)
}

/// A database at `path` holding a workspace, an agent and one run of it
/// per status in `statuses`, written by this build and flushed.
async fn seed(path: &std::path::Path, statuses: &[RunStatus]) -> (Workspace, Agent, Vec<Run>) {
    let ws = fixtures::workspace();
    let agent = fixtures::agent(ws.id);
    let storage = SledStorage::open(path).await.expect("open");
    storage.create_workspace(&ws).await.expect("workspace");
    storage.create_agent(&agent).await.expect("agent");
    let mut runs = Vec::new();
    for status in statuses {
        let mut run = fixtures::run(ws.id, agent.id);
        run.status = *status;
        storage.create_run(&run).await.expect("run");
        runs.push(run);
    }
    storage.flush().await.expect("flush");
    (ws, agent, runs)
}

#[tokio::test]
async fn layout_2_is_upgraded_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let (ws, _, runs) = seed(&path, &[RunStatus::Queued, RunStatus::Completed]).await;
    let (queued, done) = (runs[0].clone(), runs[1].clone());
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
        add_layout_4_run_index(&tree, &[&queued, &done]);
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
    assert_eq!(layout_of(&path), (b"5".to_vec(), false));
    let db = raw_open(&path).expect("raw open");
    let tree = db.open_tree("nexwatt").expect("tree");
    assert!(tree.get(&marker[..]).unwrap().is_none(), "marker deleted");
}

#[tokio::test]
async fn layout_3_is_upgraded_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let (ws, agent, runs) = seed(&path, &[RunStatus::Queued]).await;
    let queued = runs[0].clone();
    // Turn it into what layout 3 wrote: version "3", no journal.
    {
        let db = raw_open(&path).expect("raw open");
        assert!(db.drop_tree("nexwatt-journal").expect("drop journal"));
        let tree = db.open_tree("nexwatt").expect("tree");
        tree.insert(b"mformat", &b"3"[..]).expect("version");
        add_layout_4_run_index(&tree, &[&queued]);
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
    assert_eq!(layout_of(&path), (b"5".to_vec(), false));
}

#[tokio::test]
async fn layout_4_is_upgraded_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let (ws, agent, runs) = seed(
        &path,
        &[RunStatus::Queued, RunStatus::Completed, RunStatus::Running],
    )
    .await;
    // Turn it into what layout 4 wrote: version "4", the run index in sled
    // (more keys than one upgrade chunk would be a slow test; a few show
    // they go).
    {
        let db = raw_open(&path).expect("raw open");
        let tree = db.open_tree("nexwatt").expect("tree");
        tree.insert(b"mformat", &b"4"[..]).expect("version");
        add_layout_4_run_index(&tree, &runs.iter().collect::<Vec<_>>());
        db.flush().expect("flush");
    }
    {
        let storage = SledStorage::open(&path).await.expect("upgrade");
        let all = storage
            .list_runs(ws.id, &RunFilter::default(), PageRequest::first())
            .await
            .unwrap();
        assert_eq!(all.items, runs);
        let running = RunFilter {
            agent: Some(agent.id),
            status: Some(RunStatus::Running),
        };
        let page = storage
            .list_runs(ws.id, &running, PageRequest::first())
            .await
            .unwrap();
        assert_eq!(page.items, vec![runs[2].clone()]);
        assert_eq!(
            storage.list_unfinished_runs().await.unwrap(),
            vec![runs[0].clone(), runs[2].clone()]
        );
    }
    assert_eq!(layout_of(&path), (b"5".to_vec(), false));
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

/// A crash partway through an upgrade leaves version 5 with some old run
/// index keys (the version is set first, so an older build refuses the
/// database rather than trust the half-deleted index): the next open
/// deletes the rest.
#[tokio::test]
async fn old_keys_left_at_layout_5_are_deleted_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let (_, _, runs) = seed(&path, &[RunStatus::Running]).await;
    let run = runs[0].clone();
    {
        let db = raw_open(&path).expect("raw open");
        let tree = db.open_tree("nexwatt").expect("tree");
        add_layout_4_run_index(&tree, &[&run]);
        db.flush().expect("flush");
    }
    assert_eq!(layout_of(&path), (b"5".to_vec(), true));
    {
        let storage = SledStorage::open(&path).await.expect("open");
        assert_eq!(storage.list_unfinished_runs().await.unwrap(), vec![run]);
    }
    assert_eq!(layout_of(&path), (b"5".to_vec(), false));
}
