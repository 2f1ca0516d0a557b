//! The conformance cases, one `pub async fn` each. Each takes a fresh,
//! empty storage (except [`reopen_after_flush`]) and panics on a breach of
//! the [`Storage`] contract.

use std::future::Future;

use crate::id::{AgentId, Cursor, RunId, WorkspaceId};
use crate::model::{
    AgentStatus, EscalationStatus, Resolution, ResolutionAction, RunStatus, StepStatus,
};
use crate::storage::{
    AgentFilter, EscalationFilter, EventFilter, Page, PageRequest, RunFilter, Storage,
    StorageError, StorageErrorKind, StorageExt, Write, WriteBatch,
};

use super::fixtures;

const NO_RUN_FILTER: RunFilter = RunFilter {
    agent: None,
    status: None,
};
const NO_AGENT_FILTER: AgentFilter = AgentFilter { status: None };
const NO_ESCALATION_FILTER: EscalationFilter = EscalationFilter {
    status: None,
    run: None,
    agent: None,
};
const NO_EVENT_FILTER: EventFilter = EventFilter {
    agent: None,
    run: None,
};

/// The limits every pagination case pages at.
pub const LIMITS: [usize; 4] = [1, 2, 7, 100];

fn kind<T: std::fmt::Debug>(result: Result<T, StorageError>) -> StorageErrorKind {
    match result {
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
        Err(e) => e.kind(),
    }
}

fn page(limit: usize, cursor: Option<Cursor>) -> PageRequest {
    PageRequest::new(limit, cursor).expect("limit in range")
}

/// Every page of a list at `limit`, concatenated; asserts each page has at
/// most `limit` items, only the last page lacks a cursor, and no page but
/// the first is empty.
pub async fn collect_pages<T, F, Fut>(limit: usize, mut fetch: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>, StorageError>>,
{
    let mut all = Vec::new();
    let mut cursor = None;
    let mut pages = 0usize;
    loop {
        let Page { items, next_cursor } = fetch(page(limit, cursor)).await.expect("list page");
        assert!(items.len() <= limit, "page larger than its limit {limit}");
        if pages > 0 {
            assert!(!items.is_empty(), "a cursor led to an empty page");
        }
        pages += 1;
        assert!(pages < 100_000, "pagination does not end");
        all.extend(items);
        match next_cursor {
            Some(c) => cursor = Some(c),
            None => return all,
        }
    }
}

async fn setup_ws(storage: &dyn Storage) -> WorkspaceId {
    let ws = fixtures::workspace();
    storage
        .create_workspace(&ws)
        .await
        .expect("create workspace");
    ws.id
}

/// A create of an existing id fails with `AlreadyExists` for every record
/// type, and the stored record stays the first one.
pub async fn create_twice_is_already_exists(storage: &dyn Storage) {
    let ws = fixtures::workspace();
    storage.create_workspace(&ws).await.unwrap();
    let mut renamed = ws.clone();
    renamed.name = "other".into();
    assert_eq!(
        kind(storage.create_workspace(&renamed).await),
        StorageErrorKind::AlreadyExists
    );
    assert_eq!(storage.get_workspace(ws.id).await.unwrap(), ws);

    let key = fixtures::api_key(ws.id, "nxwt_live_create_twice");
    storage.create_api_key(&key).await.unwrap();
    assert_eq!(
        kind(storage.create_api_key(&key).await),
        StorageErrorKind::AlreadyExists
    );

    let agent = fixtures::agent(ws.id);
    storage.create_agent(&agent).await.unwrap();
    let mut changed = agent.clone();
    changed.name = "changed".into();
    assert_eq!(
        kind(storage.create_agent(&changed).await),
        StorageErrorKind::AlreadyExists
    );
    assert_eq!(storage.get_agent(ws.id, agent.id).await.unwrap(), agent);

    let run = fixtures::run(ws.id, agent.id);
    storage.create_run(&run).await.unwrap();
    let mut changed = run.clone();
    changed.status = RunStatus::Completed;
    assert_eq!(
        kind(storage.create_run(&changed).await),
        StorageErrorKind::AlreadyExists
    );
    assert_eq!(storage.get_run(ws.id, run.id).await.unwrap(), run);

    let esc = fixtures::escalation(&run);
    storage.create_escalation(&esc).await.unwrap();
    assert_eq!(
        kind(storage.create_escalation(&esc).await),
        StorageErrorKind::AlreadyExists
    );

    let event = fixtures::event(ws.id, agent.id, Some(run.id));
    storage.append_event(&event).await.unwrap();
    assert_eq!(
        kind(storage.append_event(&event).await),
        StorageErrorKind::AlreadyExists
    );
    let events = storage
        .list_events(ws.id, &NO_EVENT_FILTER, page(100, None))
        .await
        .unwrap();
    assert_eq!(events.items, vec![event]);
}

/// An update with a stale revision fails with `Conflict` and leaves the
/// stored record as it was; a good update bumps the revision by one.
pub async fn stale_revision_is_conflict_and_leaves_record_untouched(storage: &dyn Storage) {
    let ws = setup_ws(storage).await;
    let mut agent = fixtures::agent(ws);
    storage.create_agent(&agent).await.unwrap();
    let stale = agent.clone();
    agent.status = AgentStatus::Active;
    storage.update_agent(&mut agent).await.unwrap();
    assert_eq!(agent.revision, 2);
    assert_eq!(storage.get_agent(ws, agent.id).await.unwrap(), agent);
    let mut stale_update = stale.clone();
    stale_update.status = AgentStatus::Paused;
    assert_eq!(
        kind(storage.update_agent(&mut stale_update).await),
        StorageErrorKind::Conflict
    );
    assert_eq!(stale_update.revision, 1, "a failed update bumps nothing");
    assert_eq!(storage.get_agent(ws, agent.id).await.unwrap(), agent);
    let active = storage
        .list_agents(
            ws,
            &AgentFilter {
                status: Some(AgentStatus::Active),
            },
            page(10, None),
        )
        .await
        .unwrap();
    assert_eq!(active.items, vec![agent.clone()]);

    let mut run = fixtures::run(ws, agent.id);
    storage.create_run(&run).await.unwrap();
    let stale = run.clone();
    run.status = RunStatus::Running;
    storage.update_run(&mut run).await.unwrap();
    let mut from_future = run.clone();
    from_future.revision += 5;
    assert_eq!(
        kind(storage.update_run(&mut from_future).await),
        StorageErrorKind::Conflict
    );
    let mut stale = stale;
    stale.status = RunStatus::Cancelled;
    assert_eq!(
        kind(storage.update_run(&mut stale).await),
        StorageErrorKind::Conflict
    );
    assert_eq!(storage.get_run(ws, run.id).await.unwrap(), run);
    let cancelled = storage
        .list_runs(
            ws,
            &RunFilter {
                status: Some(RunStatus::Cancelled),
                agent: None,
            },
            page(10, None),
        )
        .await
        .unwrap();
    assert!(cancelled.items.is_empty(), "a failed update reindexed");

    let mut esc = fixtures::escalation(&run);
    storage.create_escalation(&esc).await.unwrap();
    let mut rival = esc.clone();
    esc.status = EscalationStatus::Resolved;
    esc.resolution = Some(Resolution {
        action: ResolutionAction::Approve,
        note: Some("fine".into()),
        actor: "key_a".into(),
        resolved_at: fixtures::time(),
        input: None,
        output: None,
    });
    storage.update_escalation(&mut esc).await.unwrap();
    rival.status = EscalationStatus::Ignored;
    assert_eq!(
        kind(storage.update_escalation(&mut rival).await),
        StorageErrorKind::Conflict
    );
    assert_eq!(storage.get_escalation(ws, esc.id).await.unwrap(), esc);

    let mut key = fixtures::api_key(ws, "nxwt_live_stale");
    storage.create_api_key(&key).await.unwrap();
    let mut stale_key = key.clone();
    key.revoked_at = Some(fixtures::time());
    storage.update_api_key(&mut key).await.unwrap();
    stale_key.display_prefix = "x".into();
    assert_eq!(
        kind(storage.update_api_key(&mut stale_key).await),
        StorageErrorKind::Conflict
    );
    assert_eq!(
        storage
            .get_api_key_by_hash(&key.hash)
            .await
            .unwrap()
            .as_ref(),
        Some(&key)
    );
}

/// Updating a record that does not exist, or through another workspace, is
/// `NotFound` and writes nothing.
pub async fn update_of_missing_or_foreign_record_is_not_found(storage: &dyn Storage) {
    let ws = setup_ws(storage).await;
    let other = setup_ws(storage).await;
    let mut ghost = fixtures::agent(ws);
    assert_eq!(
        kind(storage.update_agent(&mut ghost).await),
        StorageErrorKind::NotFound
    );
    let agent = fixtures::agent(ws);
    storage.create_agent(&agent).await.unwrap();
    let mut foreign = agent.clone();
    foreign.workspace = other;
    assert_eq!(
        kind(storage.update_agent(&mut foreign).await),
        StorageErrorKind::NotFound
    );
    assert_eq!(storage.get_agent(ws, agent.id).await.unwrap(), agent);
    assert_eq!(
        kind(storage.get_agent(other, agent.id).await),
        StorageErrorKind::NotFound
    );

    let mut run = fixtures::run(ws, agent.id);
    assert_eq!(
        kind(storage.update_run(&mut run).await),
        StorageErrorKind::NotFound
    );
    let mut esc = fixtures::escalation(&run);
    assert_eq!(
        kind(storage.update_escalation(&mut esc).await),
        StorageErrorKind::NotFound
    );
    let mut key = fixtures::api_key(ws, "nxwt_live_missing");
    assert_eq!(
        kind(storage.update_api_key(&mut key).await),
        StorageErrorKind::NotFound
    );
    assert!(storage
        .get_api_key_by_hash(&key.hash)
        .await
        .unwrap()
        .is_none());
}

/// Tasks on several OS threads each add 1 to a run's `steps_completed`
/// `M` times by read / compare-and-set / retry-on-conflict; the count ends
/// at exactly tasks × M and the revision at 1 + tasks × M.
pub async fn concurrent_compare_and_set_increments_all_land(storage: &dyn Storage) {
    const TASKS: u32 = 6;
    const EACH: u32 = 25;
    let ws = setup_ws(storage).await;
    let agent = fixtures::agent(ws);
    storage.create_agent(&agent).await.unwrap();
    let run = fixtures::run(ws, agent.id);
    storage.create_run(&run).await.unwrap();
    let run_id = run.id;

    let conflicts: u32 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                scope.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(async move {
                        let mut conflicts = 0;
                        for _ in 0..EACH {
                            loop {
                                let mut current = storage.get_run(ws, run_id).await.unwrap();
                                tokio::task::yield_now().await;
                                current.steps_completed += 1;
                                match storage.update_run(&mut current).await {
                                    Ok(()) => break,
                                    Err(e) if e.kind() == StorageErrorKind::Conflict => {
                                        conflicts += 1;
                                    }
                                    Err(e) => panic!("unexpected error: {e}"),
                                }
                            }
                        }
                        conflicts
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("task")).sum()
    });
    let stored = storage.get_run(ws, run_id).await.unwrap();
    assert_eq!(stored.steps_completed, TASKS * EACH);
    assert_eq!(stored.revision, 1 + u64::from(TASKS * EACH));
    tracing::debug!(conflicts, "compare-and-set race done");
}

/// Paging at limits 1, 2, 7 and 100 returns every record exactly once, in
/// id order, for runs, agents, escalations and events.
pub async fn pagination_covers_every_record_once_in_order(storage: &dyn Storage) {
    let ws = setup_ws(storage).await;
    let mut agents = Vec::new();
    for _ in 0..9 {
        let a = fixtures::agent(ws);
        storage.create_agent(&a).await.unwrap();
        agents.push(a);
    }
    let mut runs = Vec::new();
    let mut escalations = Vec::new();
    let mut events = Vec::new();
    for i in 0..130usize {
        let r = fixtures::run(ws, agents[i % agents.len()].id);
        storage.create_run(&r).await.unwrap();
        if i % 10 == 0 {
            let e = fixtures::escalation(&r);
            storage.create_escalation(&e).await.unwrap();
            escalations.push(e);
        }
        if i % 4 == 0 {
            let ev = fixtures::event(ws, r.agent_id, Some(r.id));
            storage.append_event(&ev).await.unwrap();
            events.push(ev);
        }
        runs.push(r);
    }
    for limit in LIMITS {
        let got = collect_pages(limit, |p| storage.list_runs(ws, &NO_RUN_FILTER, p)).await;
        assert_eq!(got, runs, "runs at limit {limit}");
        let got = collect_pages(limit, |p| storage.list_agents(ws, &NO_AGENT_FILTER, p)).await;
        assert_eq!(got, agents, "agents at limit {limit}");
        let got = collect_pages(limit, |p| {
            storage.list_escalations(ws, &NO_ESCALATION_FILTER, p)
        })
        .await;
        assert_eq!(got, escalations, "escalations at limit {limit}");
        let got = collect_pages(limit, |p| storage.list_events(ws, &NO_EVENT_FILTER, p)).await;
        assert_eq!(got, events, "events at limit {limit}");
    }
}

/// Filtered lists page the same way: every match once, in id order.
pub async fn pagination_of_filtered_lists(storage: &dyn Storage) {
    let ws = setup_ws(storage).await;
    let a = fixtures::agent(ws);
    let b = fixtures::agent(ws);
    storage.create_agent(&a).await.unwrap();
    storage.create_agent(&b).await.unwrap();
    let mut runs = Vec::new();
    for i in 0..60usize {
        let mut r = fixtures::run(ws, if i % 3 == 0 { a.id } else { b.id });
        r.status = RunStatus::ALL[i % 4];
        storage.create_run(&r).await.unwrap();
        runs.push(r);
    }
    for limit in LIMITS {
        for agent in [None, Some(a.id), Some(b.id)] {
            for status in [None, Some(RunStatus::Queued), Some(RunStatus::Completed)] {
                let filter = RunFilter { agent, status };
                let want: Vec<_> = runs
                    .iter()
                    .filter(|r| agent.is_none_or(|x| r.agent_id == x))
                    .filter(|r| status.is_none_or(|s| r.status == s))
                    .cloned()
                    .collect();
                let got = collect_pages(limit, |p| storage.list_runs(ws, &filter, p)).await;
                assert_eq!(got, want, "runs {filter:?} at limit {limit}");
            }
        }
    }
}

/// A page that ends exactly at the last record has no cursor; an empty list
/// is one empty page without a cursor.
pub async fn last_page_has_no_cursor(storage: &dyn Storage) {
    let ws = setup_ws(storage).await;
    let empty = storage
        .list_runs(ws, &NO_RUN_FILTER, page(5, None))
        .await
        .unwrap();
    assert!(empty.items.is_empty() && empty.next_cursor.is_none());
    let agent = fixtures::agent(ws);
    storage.create_agent(&agent).await.unwrap();
    for _ in 0..4 {
        storage
            .create_run(&fixtures::run(ws, agent.id))
            .await
            .unwrap();
    }
    let first = storage
        .list_runs(ws, &NO_RUN_FILTER, page(2, None))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    let cursor = first.next_cursor.expect("a second page");
    let second = storage
        .list_runs(ws, &NO_RUN_FILTER, page(2, Some(cursor)))
        .await
        .unwrap();
    assert_eq!(second.items.len(), 2);
    assert!(second.next_cursor.is_none(), "no third page");
    let all = storage
        .list_runs(ws, &NO_RUN_FILTER, page(4, None))
        .await
        .unwrap();
    assert!(all.next_cursor.is_none());
}

/// A cursor of another list, of another workspace, or naming no record is
/// `InvalidCursor`; a good cursor keeps working after its record changes.
pub async fn bad_cursors_are_invalid_cursor(storage: &dyn Storage) {
    let ws = setup_ws(storage).await;
    let other = setup_ws(storage).await;
    let agent = fixtures::agent(ws);
    storage.create_agent(&agent).await.unwrap();
    let other_agent = fixtures::agent(other);
    storage.create_agent(&other_agent).await.unwrap();
    let mut runs = Vec::new();
    for _ in 0..3 {
        let r = fixtures::run(ws, agent.id);
        storage.create_run(&r).await.unwrap();
        runs.push(r);
    }
    let other_run = fixtures::run(other, other_agent.id);
    storage.create_run(&other_run).await.unwrap();
    let esc = fixtures::escalation(&runs[0]);
    storage.create_escalation(&esc).await.unwrap();
    let event = fixtures::event(ws, agent.id, Some(runs[0].id));
    storage.append_event(&event).await.unwrap();

    let agent_cursor = Cursor::from_ulid(agent.id.ulid());
    let run_cursor = Cursor::from_ulid(runs[0].id.ulid());
    let foreign_run_cursor = Cursor::from_ulid(other_run.id.ulid());
    let ghost = Cursor::from_ulid(RunId::generate().ulid());

    let runs_with = |c| storage.list_runs(ws, &NO_RUN_FILTER, page(2, Some(c)));
    assert_eq!(
        kind(runs_with(agent_cursor).await),
        StorageErrorKind::InvalidCursor
    );
    assert_eq!(
        kind(runs_with(foreign_run_cursor).await),
        StorageErrorKind::InvalidCursor
    );
    assert_eq!(
        kind(runs_with(ghost).await),
        StorageErrorKind::InvalidCursor
    );
    assert_eq!(
        kind(
            storage
                .list_agents(ws, &NO_AGENT_FILTER, page(2, Some(run_cursor)))
                .await
        ),
        StorageErrorKind::InvalidCursor
    );
    assert_eq!(
        kind(
            storage
                .list_escalations(ws, &NO_ESCALATION_FILTER, page(2, Some(run_cursor)))
                .await
        ),
        StorageErrorKind::InvalidCursor
    );
    assert_eq!(
        kind(
            storage
                .list_events(
                    ws,
                    &NO_EVENT_FILTER,
                    page(2, Some(Cursor::from_ulid(esc.id.ulid())))
                )
                .await
        ),
        StorageErrorKind::InvalidCursor
    );
    assert_eq!(
        kind(
            storage
                .list_agents(other, &NO_AGENT_FILTER, page(2, Some(agent_cursor)))
                .await
        ),
        StorageErrorKind::InvalidCursor
    );

    // A valid cursor continues strictly after its record, in any filter,
    // even after that record changed status.
    let first = runs_with(run_cursor).await.unwrap();
    assert_eq!(first.items, runs[1..].to_vec());
    let mut moved = runs[0].clone();
    moved.status = RunStatus::Running;
    storage.update_run(&mut moved).await.unwrap();
    let queued = storage
        .list_runs(
            ws,
            &RunFilter {
                status: Some(RunStatus::Queued),
                agent: None,
            },
            page(10, Some(run_cursor)),
        )
        .await
        .unwrap();
    assert_eq!(queued.items, runs[1..].to_vec());
}

/// Nothing of workspace A is visible through workspace B.
pub async fn workspace_isolation(storage: &dyn Storage) {
    let a = setup_ws(storage).await;
    let b = setup_ws(storage).await;
    let agent = fixtures::agent(a);
    storage.create_agent(&agent).await.unwrap();
    let mut run = fixtures::run(a, agent.id);
    storage.create_run(&run).await.unwrap();
    let esc = fixtures::escalation(&run);
    let event = fixtures::event(a, agent.id, Some(run.id));
    let record = fixtures::step_record(&run, 1);
    storage
        .commit_step(&mut run, &record, Some(&esc), std::slice::from_ref(&event))
        .await
        .unwrap();
    let key = fixtures::api_key(a, "nxwt_live_isolation");
    storage.create_api_key(&key).await.unwrap();

    assert_eq!(
        kind(storage.get_agent(b, agent.id).await),
        StorageErrorKind::NotFound
    );
    assert_eq!(
        kind(storage.get_run(b, run.id).await),
        StorageErrorKind::NotFound
    );
    assert_eq!(
        kind(storage.get_escalation(b, esc.id).await),
        StorageErrorKind::NotFound
    );
    assert_eq!(
        kind(storage.get_step_records(b, run.id).await),
        StorageErrorKind::NotFound
    );
    let p = || page(100, None);
    assert!(storage
        .list_agents(b, &NO_AGENT_FILTER, p())
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(storage
        .list_runs(
            b,
            &RunFilter {
                agent: Some(agent.id),
                status: None
            },
            p()
        )
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(storage
        .list_escalations(
            b,
            &EscalationFilter {
                run: Some(run.id),
                ..Default::default()
            },
            p()
        )
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(storage
        .list_events(b, &NO_EVENT_FILTER, p())
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(storage.list_api_keys(Some(b)).await.unwrap().is_empty());
    assert_eq!(storage.list_api_keys(Some(a)).await.unwrap(), vec![key]);

    // A step record claiming workspace B for A's run is refused.
    let mut foreign = fixtures::step_record(&run, 2);
    foreign.workspace = b;
    assert_eq!(
        kind(
            storage
                .apply(WriteBatch::one(Write::PutStepRecord(foreign)))
                .await
        ),
        StorageErrorKind::NotFound
    );
    // Everything is still visible through A.
    assert_eq!(storage.get_run(a, run.id).await.unwrap(), run);
    assert_eq!(
        storage.get_step_records(a, run.id).await.unwrap(),
        vec![record]
    );
}

/// The agent list filters by status.
pub async fn agent_filters(storage: &dyn Storage) {
    let ws = setup_ws(storage).await;
    let mut all = Vec::new();
    for i in 0..9usize {
        let mut a = fixtures::agent(ws);
        a.status = AgentStatus::ALL[i % 3];
        storage.create_agent(&a).await.unwrap();
        all.push(a);
    }
    for status in AgentStatus::ALL {
        let got = storage
            .list_agents(
                ws,
                &AgentFilter {
                    status: Some(status),
                },
                page(100, None),
            )
            .await
            .unwrap()
            .items;
        let want: Vec<_> = all.iter().filter(|a| a.status == status).cloned().collect();
        assert_eq!(got, want, "agents {status:?}");
    }
    // A status change moves the agent between filtered lists.
    let mut moved = all[0].clone();
    moved.status = AgentStatus::Active;
    storage.update_agent(&mut moved).await.unwrap();
    let drafts = storage
        .list_agents(
            ws,
            &AgentFilter {
                status: Some(AgentStatus::Draft),
            },
            page(100, None),
        )
        .await
        .unwrap()
        .items;
    assert!(!drafts.iter().any(|a| a.id == moved.id));
    let active = storage
        .list_agents(
            ws,
            &AgentFilter {
                status: Some(AgentStatus::Active),
            },
            page(100, None),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(active.first(), Some(&moved));
}

/// The run list filters by agent, status, and both.
pub async fn run_filters(storage: &dyn Storage) {
    let ws = setup_ws(storage).await;
    let agents: Vec<_> = (0..3).map(|_| fixtures::agent(ws)).collect();
    for a in &agents {
        storage.create_agent(a).await.unwrap();
    }
    let mut runs = Vec::new();
    for i in 0..36usize {
        let mut r = fixtures::run(ws, agents[i % 3].id);
        r.status = RunStatus::ALL[(i / 3) % 6];
        storage.create_run(&r).await.unwrap();
        runs.push(r);
    }
    let mut agent_options: Vec<Option<AgentId>> = agents.iter().map(|a| Some(a.id)).collect();
    agent_options.push(None);
    agent_options.push(Some(AgentId::generate()));
    for agent in agent_options {
        for status in std::iter::once(None).chain(RunStatus::ALL.map(Some)) {
            let filter = RunFilter { agent, status };
            let want: Vec<_> = runs
                .iter()
                .filter(|r| agent.is_none_or(|x| r.agent_id == x))
                .filter(|r| status.is_none_or(|s| r.status == s))
                .cloned()
                .collect();
            let got = storage
                .list_runs(ws, &filter, page(100, None))
                .await
                .unwrap()
                .items;
            assert_eq!(got, want, "runs {filter:?}");
        }
    }
    // Moving a run's status moves it between filtered lists.
    let mut moved = runs[0].clone();
    let from = moved.status;
    moved.status = RunStatus::Failed;
    storage.update_run(&mut moved).await.unwrap();
    let old = storage
        .list_runs(
            ws,
            &RunFilter {
                agent: Some(moved.agent_id),
                status: Some(from),
            },
            page(100, None),
        )
        .await
        .unwrap()
        .items;
    assert!(!old.iter().any(|r| r.id == moved.id));
    let new = storage
        .list_runs(
            ws,
            &RunFilter {
                agent: Some(moved.agent_id),
                status: Some(RunStatus::Failed),
            },
            page(100, None),
        )
        .await
        .unwrap()
        .items;
    assert!(new.contains(&moved));
}

/// The escalation list filters by status, run, agent, and combinations.
pub async fn escalation_filters(storage: &dyn Storage) {
    let ws = setup_ws(storage).await;
    let agents: Vec<_> = (0..2).map(|_| fixtures::agent(ws)).collect();
    for a in &agents {
        storage.create_agent(a).await.unwrap();
    }
    let mut runs = Vec::new();
    for i in 0..4usize {
        let r = fixtures::run(ws, agents[i % 2].id);
        storage.create_run(&r).await.unwrap();
        runs.push(r);
    }
    let mut escs = Vec::new();
    for i in 0..24usize {
        let mut e = fixtures::escalation(&runs[i % 4]);
        e.status = EscalationStatus::ALL[(i / 4) % 3];
        storage.create_escalation(&e).await.unwrap();
        escs.push(e);
    }
    let statuses = std::iter::once(None).chain(EscalationStatus::ALL.map(Some));
    for status in statuses {
        for run in [None, Some(runs[0].id), Some(runs[3].id)] {
            for agent in [None, Some(agents[0].id), Some(agents[1].id)] {
                let filter = EscalationFilter { status, run, agent };
                let want: Vec<_> = escs
                    .iter()
                    .filter(|e| status.is_none_or(|s| e.status == s))
                    .filter(|e| run.is_none_or(|r| e.run_id == r))
                    .filter(|e| agent.is_none_or(|a| e.agent_id == a))
                    .cloned()
                    .collect();
                let got = collect_pages(3, |p| storage.list_escalations(ws, &filter, p)).await;
                assert_eq!(got, want, "escalations {filter:?}");
            }
        }
    }
}

/// The event list filters by run, agent, and both; events without a run
/// appear only in lists not filtered by run.
pub async fn event_filters(storage: &dyn Storage) {
    let ws = setup_ws(storage).await;
    let agents: Vec<_> = (0..2).map(|_| fixtures::agent(ws)).collect();
    let runs: Vec<_> = (0..3)
        .map(|i| fixtures::run(ws, agents[i % 2].id))
        .collect();
    let mut events = Vec::new();
    for i in 0..30usize {
        let run = if i % 5 == 0 { None } else { Some(&runs[i % 3]) };
        let e = fixtures::event(
            ws,
            run.map_or(agents[i % 2].id, |r| r.agent_id),
            run.map(|r| r.id),
        );
        storage.append_event(&e).await.unwrap();
        events.push(e);
    }
    for run in [None, Some(runs[0].id), Some(runs[1].id)] {
        for agent in [None, Some(agents[0].id), Some(agents[1].id)] {
            let filter = EventFilter { agent, run };
            let want: Vec<_> = events
                .iter()
                .filter(|e| run.is_none_or(|r| e.run_id == Some(r)))
                .filter(|e| agent.is_none_or(|a| e.agent_id == a))
                .cloned()
                .collect();
            let got = collect_pages(4, |p| storage.list_events(ws, &filter, p)).await;
            assert_eq!(got, want, "events {filter:?}");
        }
    }
}

/// `commit_step` writes the step record, the run, the escalation and the
/// events together.
pub async fn commit_step_writes_everything(storage: &dyn Storage) {
    let ws = setup_ws(storage).await;
    let agent = fixtures::agent(ws);
    storage.create_agent(&agent).await.unwrap();
    let mut run = fixtures::run(ws, agent.id);
    storage.create_run(&run).await.unwrap();
    run.status = RunStatus::AwaitingReview;
    run.steps_completed = 1;
    let mut record = fixtures::step_record(&run, 2);
    record.status = StepStatus::AwaitingReview;
    let esc = fixtures::escalation(&run);
    let events = vec![
        fixtures::event(ws, agent.id, Some(run.id)),
        fixtures::event(ws, agent.id, Some(run.id)),
    ];
    storage
        .commit_step(&mut run, &record, Some(&esc), &events)
        .await
        .unwrap();
    assert_eq!(run.revision, 2);
    assert_eq!(storage.get_run(ws, run.id).await.unwrap(), run);
    assert_eq!(
        storage.get_step_records(ws, run.id).await.unwrap(),
        vec![record.clone()]
    );
    assert_eq!(storage.get_escalation(ws, esc.id).await.unwrap(), esc);
    let listed = storage
        .list_events(
            ws,
            &EventFilter {
                run: Some(run.id),
                agent: None,
            },
            page(10, None),
        )
        .await
        .unwrap();
    assert_eq!(listed.items, events);
    // A second commit replaces the step record.
    record.status = StepStatus::Succeeded;
    run.status = RunStatus::Running;
    storage
        .commit_step(&mut run, &record, None, &[])
        .await
        .unwrap();
    assert_eq!(
        storage.get_step_records(ws, run.id).await.unwrap(),
        vec![record]
    );
    assert_eq!(storage.get_run(ws, run.id).await.unwrap().revision, 3);
}

/// `commit_step` with a stale run revision writes nothing: no step record,
/// no escalation, no event, run unchanged.
pub async fn commit_step_with_stale_run_writes_nothing(storage: &dyn Storage) {
    let ws = setup_ws(storage).await;
    let agent = fixtures::agent(ws);
    storage.create_agent(&agent).await.unwrap();
    let mut run = fixtures::run(ws, agent.id);
    storage.create_run(&run).await.unwrap();
    let mut stale = run.clone();
    run.status = RunStatus::Running;
    storage.update_run(&mut run).await.unwrap();

    stale.status = RunStatus::AwaitingReview;
    let record = fixtures::step_record(&stale, 2);
    let esc = fixtures::escalation(&stale);
    let event = fixtures::event(ws, agent.id, Some(run.id));
    assert_eq!(
        kind(
            storage
                .commit_step(
                    &mut stale,
                    &record,
                    Some(&esc),
                    std::slice::from_ref(&event)
                )
                .await
        ),
        StorageErrorKind::Conflict
    );
    assert_eq!(storage.get_run(ws, run.id).await.unwrap(), run);
    assert!(storage
        .get_step_records(ws, run.id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        kind(storage.get_escalation(ws, esc.id).await),
        StorageErrorKind::NotFound
    );
    assert!(storage
        .list_escalations(ws, &NO_ESCALATION_FILTER, page(10, None))
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(storage
        .list_events(ws, &NO_EVENT_FILTER, page(10, None))
        .await
        .unwrap()
        .items
        .is_empty());
}

/// A batch whose last write fails its precondition writes nothing of the
/// writes before it.
pub async fn batch_with_one_failing_precondition_writes_nothing(storage: &dyn Storage) {
    let ws = setup_ws(storage).await;
    let agent = fixtures::agent(ws);
    storage.create_agent(&agent).await.unwrap();
    let existing = fixtures::run(ws, agent.id);
    storage.create_run(&existing).await.unwrap();

    let new_agent = fixtures::agent(ws);
    let new_run = fixtures::run(ws, new_agent.id);
    let esc = fixtures::escalation(&new_run);
    let event = fixtures::event(ws, new_agent.id, Some(new_run.id));
    let mut changed_agent = agent.clone();
    changed_agent.status = AgentStatus::Active;
    let batch: WriteBatch = [
        Write::CreateAgent(new_agent.clone()),
        Write::UpdateAgent(changed_agent),
        Write::CreateRun(new_run.clone()),
        Write::PutStepRecord(fixtures::step_record(&new_run, 1)),
        Write::CreateEscalation(esc.clone()),
        Write::AppendEvent(event),
        Write::CreateRun(existing.clone()),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        kind(storage.apply(batch).await),
        StorageErrorKind::AlreadyExists
    );
    assert_eq!(
        kind(storage.get_agent(ws, new_agent.id).await),
        StorageErrorKind::NotFound
    );
    assert_eq!(storage.get_agent(ws, agent.id).await.unwrap(), agent);
    assert_eq!(
        kind(storage.get_run(ws, new_run.id).await),
        StorageErrorKind::NotFound
    );
    assert_eq!(
        kind(storage.get_escalation(ws, esc.id).await),
        StorageErrorKind::NotFound
    );
    assert!(storage
        .list_events(ws, &NO_EVENT_FILTER, page(10, None))
        .await
        .unwrap()
        .items
        .is_empty());
    let agents = storage
        .list_agents(ws, &NO_AGENT_FILTER, page(10, None))
        .await
        .unwrap();
    assert_eq!(agents.items, vec![agent.clone()]);

    // The same batch without the failing write lands whole, and a step
    // record may name a run created earlier in the batch.
    let mut changed_agent = agent.clone();
    changed_agent.status = AgentStatus::Active;
    let batch: WriteBatch = [
        Write::CreateAgent(new_agent.clone()),
        Write::UpdateAgent(changed_agent),
        Write::CreateRun(new_run.clone()),
        Write::PutStepRecord(fixtures::step_record(&new_run, 1)),
        Write::CreateEscalation(esc.clone()),
    ]
    .into_iter()
    .collect();
    storage.apply(batch).await.unwrap();
    assert_eq!(storage.get_agent(ws, agent.id).await.unwrap().revision, 2);
    assert_eq!(
        storage
            .get_step_records(ws, new_run.id)
            .await
            .unwrap()
            .len(),
        1
    );
    // A step record of a run that does not exist is NotFound.
    let ghost = fixtures::run(ws, agent.id);
    assert_eq!(
        kind(
            storage
                .apply(WriteBatch::one(Write::PutStepRecord(
                    fixtures::step_record(&ghost, 1)
                )))
                .await
        ),
        StorageErrorKind::NotFound
    );
}

/// A batch that writes one record twice, or an empty batch, is
/// `InvalidRequest` and writes nothing.
pub async fn batch_writing_one_record_twice_is_invalid(storage: &dyn Storage) {
    let ws = setup_ws(storage).await;
    let agent = fixtures::agent(ws);
    let run = fixtures::run(ws, agent.id);
    let batch: WriteBatch = [
        Write::CreateAgent(agent.clone()),
        Write::CreateRun(run.clone()),
        Write::UpdateRun(run.clone()),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        kind(storage.apply(batch).await),
        StorageErrorKind::InvalidRequest
    );
    assert_eq!(
        kind(storage.get_agent(ws, agent.id).await),
        StorageErrorKind::NotFound
    );
    assert_eq!(
        kind(storage.apply(WriteBatch::default()).await),
        StorageErrorKind::InvalidRequest
    );
}

/// Step records come back by step number; putting one again replaces it;
/// records of another run stay apart.
pub async fn step_records_by_run_in_step_order(storage: &dyn Storage) {
    let ws = setup_ws(storage).await;
    let agent = fixtures::agent(ws);
    storage.create_agent(&agent).await.unwrap();
    let run = fixtures::run(ws, agent.id);
    let neighbour = fixtures::run(ws, agent.id);
    storage.create_run(&run).await.unwrap();
    storage.create_run(&neighbour).await.unwrap();
    assert!(storage
        .get_step_records(ws, run.id)
        .await
        .unwrap()
        .is_empty());
    for step in [3u32, 1, 10, 2] {
        storage
            .apply(WriteBatch::one(Write::PutStepRecord(
                fixtures::step_record(&run, step),
            )))
            .await
            .unwrap();
    }
    storage
        .apply(WriteBatch::one(Write::PutStepRecord(
            fixtures::step_record(&neighbour, 1),
        )))
        .await
        .unwrap();
    let mut replaced = fixtures::step_record(&run, 2);
    replaced.status = StepStatus::Failed;
    replaced.attempts = 3;
    storage
        .apply(WriteBatch::one(Write::PutStepRecord(replaced.clone())))
        .await
        .unwrap();
    let got = storage.get_step_records(ws, run.id).await.unwrap();
    assert_eq!(
        got.iter().map(|r| r.step).collect::<Vec<_>>(),
        vec![1, 2, 3, 10]
    );
    assert_eq!(got[1], replaced);
    assert!(got.iter().all(|r| r.run_id == run.id));
    assert_eq!(
        storage
            .get_step_records(ws, neighbour.id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        kind(storage.get_step_records(ws, RunId::generate()).await),
        StorageErrorKind::NotFound
    );
}

/// `list_unfinished_runs` returns the queued and running runs of every
/// workspace, in id order, and follows status changes.
pub async fn list_unfinished_runs(storage: &dyn Storage) {
    let a = setup_ws(storage).await;
    let b = setup_ws(storage).await;
    let mut want = Vec::new();
    let mut all = Vec::new();
    for i in 0..12usize {
        let ws = if i % 2 == 0 { a } else { b };
        let agent = fixtures::agent(ws);
        storage.create_agent(&agent).await.unwrap();
        let mut r = fixtures::run(ws, agent.id);
        r.status = RunStatus::ALL[i % 6];
        storage.create_run(&r).await.unwrap();
        if matches!(r.status, RunStatus::Queued | RunStatus::Running) {
            want.push(r.clone());
        }
        all.push(r);
    }
    assert_eq!(storage.list_unfinished_runs().await.unwrap(), want);
    // Finishing a running run drops it; re-queueing... a run going from
    // awaiting review back to running adds it.
    let mut finished = want[1].clone();
    finished.status = RunStatus::Completed;
    storage.update_run(&mut finished).await.unwrap();
    let mut resumed = all
        .iter()
        .find(|r| r.status == RunStatus::AwaitingReview)
        .cloned()
        .expect("an awaiting run");
    resumed.status = RunStatus::Running;
    storage.update_run(&mut resumed).await.unwrap();
    let mut want: Vec<_> = want.into_iter().filter(|r| r.id != finished.id).collect();
    want.push(resumed);
    want.sort_by_key(|r| r.id);
    assert_eq!(storage.list_unfinished_runs().await.unwrap(), want);
}

/// API keys are found by hash (revoked or not), listed per workspace in id
/// order, and two keys cannot share a hash.
pub async fn api_keys_by_hash(storage: &dyn Storage) {
    let a = setup_ws(storage).await;
    let b = setup_ws(storage).await;
    let k1 = fixtures::api_key(a, "nxwt_live_one");
    let k2 = fixtures::api_key(b, "nxwt_live_two");
    let mut k3 = fixtures::api_key(a, "nxwt_live_three");
    for k in [&k1, &k2, &k3] {
        storage.create_api_key(k).await.unwrap();
    }
    assert_eq!(
        storage
            .get_api_key_by_hash(&k2.hash)
            .await
            .unwrap()
            .as_ref(),
        Some(&k2)
    );
    assert!(storage
        .get_api_key_by_hash(&crate::model::KeyHash::of_secret("nxwt_live_nope"))
        .await
        .unwrap()
        .is_none());
    k3.revoked_at = Some(fixtures::time());
    storage.update_api_key(&mut k3).await.unwrap();
    assert_eq!(
        storage
            .get_api_key_by_hash(&k3.hash)
            .await
            .unwrap()
            .as_ref(),
        Some(&k3)
    );
    assert_eq!(
        storage.list_api_keys(Some(a)).await.unwrap(),
        vec![k1.clone(), k3.clone()]
    );
    assert_eq!(
        storage.list_api_keys(None).await.unwrap(),
        vec![k1.clone(), k2.clone(), k3.clone()]
    );
    let mut twin = fixtures::api_key(b, "nxwt_live_one");
    assert_eq!(
        kind(storage.create_api_key(&twin).await),
        StorageErrorKind::AlreadyExists
    );
    twin.hash = crate::model::KeyHash::of_secret("nxwt_live_rotated");
    storage.create_api_key(&twin).await.unwrap();
    // Rotating a key's hash moves the lookup.
    let mut rotated = k1.clone();
    rotated.hash = crate::model::KeyHash::of_secret("nxwt_live_one_b");
    storage.update_api_key(&mut rotated).await.unwrap();
    assert!(storage
        .get_api_key_by_hash(&k1.hash)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        storage
            .get_api_key_by_hash(&rotated.hash)
            .await
            .unwrap()
            .map(|k| k.id),
        Some(k1.id)
    );
}

/// Workspaces are found by id and listed in id order.
pub async fn workspaces_get_and_list(storage: &dyn Storage) {
    let mut made = Vec::new();
    for _ in 0..5 {
        let ws = fixtures::workspace();
        storage.create_workspace(&ws).await.unwrap();
        made.push(ws);
    }
    assert_eq!(storage.list_workspaces().await.unwrap(), made);
    assert_eq!(storage.get_workspace(made[3].id).await.unwrap(), made[3]);
    assert_eq!(
        kind(storage.get_workspace(WorkspaceId::generate()).await),
        StorageErrorKind::NotFound
    );
}

/// What [`write_durable_state`] wrote, to check after a reopen.
#[derive(Debug, Clone)]
pub struct DurableState {
    workspace: crate::model::Workspace,
    agent: crate::model::Agent,
    runs: Vec<crate::model::Run>,
    records: Vec<crate::model::StepRecord>,
    escalation: crate::model::Escalation,
    events: Vec<crate::model::Event>,
    key: crate::model::ApiKeyRecord,
}

/// Writes one of everything (with updates and a step commit) and flushes.
pub async fn write_durable_state(storage: &dyn Storage) -> DurableState {
    let workspace = fixtures::workspace();
    storage.create_workspace(&workspace).await.unwrap();
    let ws = workspace.id;
    let mut agent = fixtures::agent(ws);
    storage.create_agent(&agent).await.unwrap();
    agent.status = AgentStatus::Active;
    storage.update_agent(&mut agent).await.unwrap();
    let mut runs = Vec::new();
    for _ in 0..25 {
        let r = fixtures::run(ws, agent.id);
        storage.create_run(&r).await.unwrap();
        runs.push(r);
    }
    let run = &mut runs[0];
    run.status = RunStatus::AwaitingReview;
    let record = fixtures::step_record(run, 2);
    let escalation = fixtures::escalation(run);
    let events = vec![fixtures::event(ws, agent.id, Some(run.id))];
    storage
        .commit_step(run, &record, Some(&escalation), &events)
        .await
        .unwrap();
    let key = fixtures::api_key(ws, "nxwt_live_durable");
    storage.create_api_key(&key).await.unwrap();
    storage.flush().await.unwrap();
    DurableState {
        workspace,
        agent,
        runs,
        records: vec![record],
        escalation,
        events,
        key,
    }
}

/// Checks everything [`write_durable_state`] wrote is there, and that the
/// reopened store still takes writes.
pub async fn check_durable_state(storage: &dyn Storage, state: &DurableState) {
    let ws = state.workspace.id;
    assert_eq!(storage.get_workspace(ws).await.unwrap(), state.workspace);
    assert_eq!(
        storage.get_agent(ws, state.agent.id).await.unwrap(),
        state.agent
    );
    let runs = collect_pages(7, |p| storage.list_runs(ws, &NO_RUN_FILTER, p)).await;
    assert_eq!(runs, state.runs);
    assert_eq!(
        storage
            .get_step_records(ws, state.runs[0].id)
            .await
            .unwrap(),
        state.records
    );
    assert_eq!(
        storage
            .get_escalation(ws, state.escalation.id)
            .await
            .unwrap(),
        state.escalation
    );
    let open = storage
        .list_escalations(
            ws,
            &EscalationFilter {
                status: Some(EscalationStatus::Open),
                ..Default::default()
            },
            page(10, None),
        )
        .await
        .unwrap();
    assert_eq!(open.items, vec![state.escalation.clone()]);
    assert_eq!(
        storage
            .list_events(ws, &NO_EVENT_FILTER, page(10, None))
            .await
            .unwrap()
            .items,
        state.events
    );
    assert_eq!(
        storage
            .get_api_key_by_hash(&state.key.hash)
            .await
            .unwrap()
            .as_ref(),
        Some(&state.key)
    );
    let unfinished = storage.list_unfinished_runs().await.unwrap();
    assert_eq!(unfinished, state.runs[1..].to_vec());
    let mut run = state.runs[1].clone();
    run.status = RunStatus::Running;
    storage.update_run(&mut run).await.unwrap();
    assert_eq!(storage.get_run(ws, run.id).await.unwrap(), run);
}

/// Writes, flushes, drops the store, reopens it with `open` (which must
/// open the same durable database each call) and finds everything; twice.
pub async fn reopen_after_flush<F, Fut, S>(open: &F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    S: Storage,
{
    let state = {
        let storage = open().await;
        write_durable_state(&storage).await
    };
    {
        let storage = open().await;
        check_durable_state(&storage, &state).await;
        storage.flush().await.unwrap();
    }
    let storage = open().await;
    let run = storage.get_run(state.workspace.id, state.runs[1].id).await;
    assert_eq!(run.unwrap().status, RunStatus::Running);
}
