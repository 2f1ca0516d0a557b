//! `SledStorage` works from every kind of caller: a multi-threaded runtime
//! (calls run in `block_in_place`), a current-thread runtime (calls go to
//! the blocking pool), a `LocalSet` with `block_in_place` turned off, and no
//! runtime at all (calls run on the polling thread and complete at once).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use nexwatt_engine::storage::{Storage, StorageExt};
use nexwatt_engine::testkit::fixtures;
use nexwatt_storage_sled::{SledConfig, SledStorage};

/// Writes a workspace, agent and run, flushes, and reads them back.
async fn round_trip(storage: &SledStorage) {
    let ws = fixtures::workspace();
    let agent = fixtures::agent(ws.id);
    let run = fixtures::run(ws.id, agent.id);
    storage.create_workspace(&ws).await.expect("workspace");
    storage.create_agent(&agent).await.expect("agent");
    storage.create_run(&run).await.expect("run");
    storage.flush().await.expect("flush");
    assert_eq!(storage.get_workspace(ws.id).await.unwrap(), ws);
    assert_eq!(storage.get_agent(ws.id, agent.id).await.unwrap(), agent);
    assert_eq!(storage.get_run(ws.id, run.id).await.unwrap(), run);
}

fn config(dir: &tempfile::TempDir, block_in_place: bool) -> SledConfig {
    let mut config = SledConfig::new(dir.path().join("db"));
    config.flush_every_ms = None;
    config.block_in_place = block_in_place;
    config
}

#[test]
fn multi_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let storage = SledStorage::open_with(config(&dir, true)).await.unwrap();
        // On a worker thread as well as in `block_on`.
        let spawned = storage.clone();
        tokio::spawn(async move { round_trip(&spawned).await })
            .await
            .unwrap();
        round_trip(&storage).await;
    });
}

#[test]
fn current_thread_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let storage = SledStorage::open_with(config(&dir, true)).await.unwrap();
        round_trip(&storage).await;
    });
}

#[test]
fn local_set_on_a_multi_thread_runtime_without_block_in_place() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let storage = SledStorage::open_with(config(&dir, false)).await.unwrap();
        let spawned = storage.clone();
        tokio::task::spawn_local(async move { round_trip(&spawned).await })
            .await
            .unwrap();
    });
}

#[test]
fn outside_any_runtime_calls_complete_on_the_first_poll() {
    let dir = tempfile::tempdir().unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let open = pin!(SledStorage::open_with(config(&dir, true)));
    let Poll::Ready(storage) = open.poll(&mut cx) else {
        panic!("open did not complete on the first poll");
    };
    let storage = storage.unwrap();
    let rt = pin!(round_trip(&storage));
    assert!(
        rt.poll(&mut cx).is_ready(),
        "calls did not complete on the first poll"
    );
}
