//! The write journal finishes a batch that a crash cut short. A crash that
//! stops sled's recovered log partway through a batch leaves the journal
//! entry of that batch and a first part of its writes (maybe none): these
//! tests build that state with raw sled (the tree as it was before the
//! batch, or with part of the batch, and the batch's journal entry) and
//! check that opening the database makes the batch whole, and deletes the
//! entry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use nexwatt_engine::model::{Run, RunStatus};
use nexwatt_engine::storage::{PageRequest, RunFilter, Storage, StorageExt};
use nexwatt_engine::testkit::fixtures;
use nexwatt_storage_sled::SledStorage;

mod common;
use common::raw_open;

type Snapshot = BTreeMap<Vec<u8>, Vec<u8>>;

/// Every key and value of the `nexwatt` tree, and the journal entry.
fn snapshot(path: &Path) -> (Snapshot, Option<Vec<u8>>) {
    let db = raw_open(path).expect("raw open");
    let tree = db.open_tree("nexwatt").expect("tree");
    let all = tree
        .iter()
        .map(|kv| {
            let (k, v) = kv.expect("read");
            (k.to_vec(), v.to_vec())
        })
        .collect();
    let journal = db.open_tree("nexwatt-journal").expect("journal");
    let entry = journal.get(b"last").expect("read").map(|v| v.to_vec());
    (all, entry)
}

/// Sets the keys in `keys` of the `nexwatt` tree as they are in `to`
/// (removing those it lacks).
fn restore(path: &Path, to: &Snapshot, keys: &[Vec<u8>]) {
    let db = raw_open(path).expect("raw open");
    let tree = db.open_tree("nexwatt").expect("tree");
    for key in keys {
        match to.get(key) {
            Some(value) => tree.insert(&key[..], &value[..]).map(drop),
            None => tree.remove(&key[..]).map(drop),
        }
        .expect("write");
    }
    db.flush().expect("flush");
}

/// The keys whose values differ between two snapshots, in key order.
fn changed(a: &Snapshot, b: &Snapshot) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

async fn runs_with(storage: &SledStorage, run: &Run, status: RunStatus) -> Vec<Run> {
    let filter = RunFilter {
        agent: None,
        status: Some(status),
    };
    storage
        .list_runs(run.workspace, &filter, PageRequest::first())
        .await
        .expect("list")
        .items
}

#[tokio::test]
async fn a_batch_cut_short_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let ws = fixtures::workspace();
    let agent = fixtures::agent(ws.id);
    let mut run = fixtures::run(ws.id, agent.id);
    run.status = RunStatus::Queued;
    {
        let storage = SledStorage::open(&path).await.unwrap();
        storage.create_workspace(&ws).await.unwrap();
        storage.create_agent(&agent).await.unwrap();
        storage.create_run(&run).await.unwrap();
        storage.flush().await.unwrap();
    }
    let (before, _) = snapshot(&path);
    // A batch of several keys: the run, a step record, an event and the
    // event's index entries (the run index is in memory, not in sled).
    let mut updated = run.clone();
    updated.status = RunStatus::Running;
    let record = fixtures::step_record(&run, 1);
    let event = fixtures::event(ws.id, agent.id, Some(run.id));
    {
        let storage = SledStorage::open(&path).await.unwrap();
        storage
            .commit_step(&mut updated, &record, None, std::slice::from_ref(&event))
            .await
            .unwrap();
        storage.flush().await.unwrap();
    }
    let (after, entry) = snapshot(&path);
    assert!(entry.is_some(), "the last batch's journal entry is kept");
    let keys = changed(&before, &after);
    assert!(keys.len() >= 3, "{} keys changed", keys.len());

    // None of the batch, then each part of it, landed: the open finishes it.
    for landed in 0..keys.len() {
        let undone = &keys[landed..];
        restore(&path, &before, undone);
        let (torn, entry_now) = snapshot(&path);
        assert_ne!(torn, after, "the batch is cut short ({landed} landed)");
        assert_eq!(entry_now, entry, "the journal entry is still there");
        {
            let storage = SledStorage::open(&path).await.unwrap();
            let mut expected = updated.clone();
            expected.revision = run.revision + 1;
            assert_eq!(storage.get_run(ws.id, run.id).await.unwrap(), expected);
            assert_eq!(
                runs_with(&storage, &run, RunStatus::Running).await,
                vec![expected.clone()]
            );
            assert!(runs_with(&storage, &run, RunStatus::Queued)
                .await
                .is_empty());
            assert_eq!(
                storage.list_unfinished_runs().await.unwrap(),
                vec![expected]
            );
            assert_eq!(
                storage.get_step_records(ws.id, run.id).await.unwrap(),
                vec![record.clone()]
            );
        }
        let (finished, entry_after) = snapshot(&path);
        assert_eq!(finished, after, "the tree is as after the whole batch");
        assert_eq!(entry_after, None, "the entry is deleted once replayed");
        // Put the entry back for the next round, as the crash left it.
        let db = raw_open(&path).unwrap();
        let journal = db.open_tree("nexwatt-journal").unwrap();
        journal
            .insert(b"last", entry.clone().expect("entry"))
            .unwrap();
        db.flush().unwrap();
    }
}

/// A one-key write skips the journal, so it first deletes the entry of the
/// batch before it: replayed on the next open, that entry would write the
/// run back to its older revision.
#[tokio::test]
async fn a_one_key_write_clears_the_journal_so_no_replay_undoes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let ws = fixtures::workspace();
    let agent = fixtures::agent(ws.id);
    let mut run = fixtures::run(ws.id, agent.id);
    run.status = RunStatus::Queued;
    {
        let storage = SledStorage::open(&path).await.unwrap();
        storage.create_workspace(&ws).await.unwrap();
        storage.create_agent(&agent).await.unwrap();
        storage.create_run(&run).await.unwrap();
        run.status = RunStatus::Running;
        let record = fixtures::step_record(&run, 1);
        storage
            .commit_step(&mut run, &record, None, &[])
            .await
            .unwrap();
        storage.flush().await.unwrap();
    }
    assert!(
        snapshot(&path).1.is_some(),
        "the two-key batch is journaled"
    );
    {
        let storage = SledStorage::open(&path).await.unwrap();
        // The open replayed and deleted it; write two batches again.
        let record = fixtures::step_record(&run, 2);
        storage
            .commit_step(&mut run, &record, None, &[])
            .await
            .unwrap();
        run.status = RunStatus::Completed;
        storage.update_run(&mut run).await.unwrap();
        storage.flush().await.unwrap();
    }
    assert_eq!(snapshot(&path).1, None, "the one-key write cleared it");
    let storage = SledStorage::open(&path).await.unwrap();
    let stored = storage.get_run(ws.id, run.id).await.unwrap();
    assert_eq!(stored, run);
    assert_eq!(stored.status, RunStatus::Completed);
    assert!(storage.list_unfinished_runs().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_corrupt_journal_entry_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    drop(SledStorage::open(&path).await.unwrap());
    for entry in [&[7u8][..], &[1, 0, 0, 0, 0, 0, 0, 0, 200, b'x'][..]] {
        {
            let db = raw_open(&path).unwrap();
            let journal = db.open_tree("nexwatt-journal").unwrap();
            journal.insert(b"last", entry).unwrap();
            db.flush().unwrap();
        }
        let err = SledStorage::open(&path).await.expect_err("corrupt");
        assert!(err.to_string().contains("journal"), "{err}");
    }
}
