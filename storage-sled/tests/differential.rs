//! Differential property test: random operation sequences applied to
//! `MemoryStorage` and `SledStorage` give identical results (values and
//! error kinds) after every operation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Debug;

use nexwatt_engine::id::{Cursor, RunId, WorkspaceId};
use nexwatt_engine::model::{
    Agent, AgentStatus, Escalation, EscalationStatus, Run, RunStatus, StepStatus,
};
use nexwatt_engine::storage::{
    AgentFilter, EscalationFilter, EventFilter, PageRequest, RunFilter, Storage, StorageError,
    StorageErrorKind, StorageExt, Write, WriteBatch,
};
use nexwatt_engine::testkit::fixtures;
use nexwatt_storage_memory::MemoryStorage;
use nexwatt_storage_sled::SledStorage;
use proptest::prelude::*;
use proptest::sample::{select, Index};

/// Which cursor a list passes.
#[derive(Debug, Clone)]
enum CursorChoice {
    None,
    /// The `next_cursor` of the previous list of this kind.
    Continue,
    /// The id of some agent / run / escalation / event (maybe of another
    /// list or workspace).
    Record(u8, Index),
    /// An id nothing has.
    Ghost,
}

#[derive(Debug, Clone)]
enum Op {
    CreateAgent {
        ws: Index,
        status: AgentStatus,
    },
    CreateRun {
        agent: Index,
        status: RunStatus,
    },
    CreateEscalation {
        run: Index,
        status: EscalationStatus,
    },
    AppendEvent {
        run: Index,
        with_run: bool,
    },
    Recreate {
        kind: u8,
        which: Index,
    },
    UpdateAgent {
        which: Index,
        revision_skew: i8,
        status: AgentStatus,
    },
    UpdateRun {
        which: Index,
        revision_skew: i8,
        status: RunStatus,
    },
    UpdateEscalation {
        which: Index,
        revision_skew: i8,
        status: EscalationStatus,
    },
    CommitStep {
        run: Index,
        revision_skew: i8,
        step: u32,
        escalate: bool,
        events: usize,
        duplicate_event: bool,
    },
    ListAgents {
        ws: Index,
        status: Option<AgentStatus>,
        limit: usize,
        cursor: CursorChoice,
    },
    ListRuns {
        ws: Index,
        agent: Option<Index>,
        status: Option<RunStatus>,
        limit: usize,
        cursor: CursorChoice,
    },
    ListEscalations {
        ws: Index,
        status: Option<EscalationStatus>,
        run: Option<Index>,
        agent: Option<Index>,
        limit: usize,
        cursor: CursorChoice,
    },
    ListEvents {
        ws: Index,
        run: Option<Index>,
        agent: Option<Index>,
        limit: usize,
        cursor: CursorChoice,
    },
    Get {
        kind: u8,
        which: Index,
        other_ws: bool,
    },
    GetSteps {
        run: Index,
        other_ws: bool,
    },
    ListUnfinished,
}

fn cursor_choice() -> impl Strategy<Value = CursorChoice> {
    prop_oneof![
        3 => Just(CursorChoice::None),
        4 => Just(CursorChoice::Continue),
        2 => (0u8..4, any::<Index>()).prop_map(|(k, i)| CursorChoice::Record(k, i)),
        1 => Just(CursorChoice::Ghost),
    ]
}

fn skew() -> impl Strategy<Value = i8> {
    prop_oneof![6 => Just(0i8), 1 => Just(-1i8), 1 => Just(1i8)]
}

fn limit() -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(2), Just(3), Just(7), 1usize..=100]
}

fn op() -> impl Strategy<Value = Op> {
    let agent_status = select(AgentStatus::ALL.to_vec());
    let run_status = select(RunStatus::ALL.to_vec());
    let esc_status = select(EscalationStatus::ALL.to_vec());
    prop_oneof![
        3 => (any::<Index>(), agent_status.clone())
            .prop_map(|(ws, status)| Op::CreateAgent { ws, status }),
        5 => (any::<Index>(), run_status.clone())
            .prop_map(|(agent, status)| Op::CreateRun { agent, status }),
        2 => (any::<Index>(), esc_status.clone())
            .prop_map(|(run, status)| Op::CreateEscalation { run, status }),
        2 => (any::<Index>(), any::<bool>())
            .prop_map(|(run, with_run)| Op::AppendEvent { run, with_run }),
        1 => (0u8..4, any::<Index>()).prop_map(|(kind, which)| Op::Recreate { kind, which }),
        2 => (any::<Index>(), skew(), agent_status.clone()).prop_map(
            |(which, revision_skew, status)| Op::UpdateAgent { which, revision_skew, status }
        ),
        3 => (any::<Index>(), skew(), run_status.clone()).prop_map(
            |(which, revision_skew, status)| Op::UpdateRun { which, revision_skew, status }
        ),
        2 => (any::<Index>(), skew(), esc_status.clone()).prop_map(
            |(which, revision_skew, status)| Op::UpdateEscalation { which, revision_skew, status }
        ),
        3 => (any::<Index>(), skew(), 1u32..5, any::<bool>(), 0usize..3, prop::bool::weighted(0.1))
            .prop_map(|(run, revision_skew, step, escalate, events, duplicate_event)| {
                Op::CommitStep { run, revision_skew, step, escalate, events, duplicate_event }
            }),
        2 => (any::<Index>(), prop::option::of(agent_status), limit(), cursor_choice())
            .prop_map(|(ws, status, limit, cursor)| Op::ListAgents { ws, status, limit, cursor }),
        3 => (
            any::<Index>(),
            prop::option::of(any::<Index>()),
            prop::option::of(run_status),
            limit(),
            cursor_choice()
        )
            .prop_map(|(ws, agent, status, limit, cursor)| Op::ListRuns {
                ws, agent, status, limit, cursor
            }),
        2 => (
            any::<Index>(),
            prop::option::of(esc_status),
            prop::option::of(any::<Index>()),
            prop::option::of(any::<Index>()),
            limit(),
            cursor_choice()
        )
            .prop_map(|(ws, status, run, agent, limit, cursor)| Op::ListEscalations {
                ws, status, run, agent, limit, cursor
            }),
        2 => (
            any::<Index>(),
            prop::option::of(any::<Index>()),
            prop::option::of(any::<Index>()),
            limit(),
            cursor_choice()
        )
            .prop_map(|(ws, run, agent, limit, cursor)| Op::ListEvents {
                ws, run, agent, limit, cursor
            }),
        3 => (0u8..4, any::<Index>(), prop::bool::weighted(0.3))
            .prop_map(|(kind, which, other_ws)| Op::Get { kind, which, other_ws }),
        1 => (any::<Index>(), any::<bool>())
            .prop_map(|(run, other_ws)| Op::GetSteps { run, other_ws }),
        1 => Just(Op::ListUnfinished),
    ]
}

/// What the test created, to pick targets from. Records are the versions
/// the test last wrote (revisions may be stale on purpose).
#[derive(Default)]
struct Pool {
    workspaces: Vec<WorkspaceId>,
    agents: Vec<Agent>,
    runs: Vec<Run>,
    escalations: Vec<Escalation>,
    events: Vec<nexwatt_engine::model::Event>,
    last_cursor: [Option<Cursor>; 4],
}

impl Pool {
    fn id_of(&self, kind: u8, which: &Index) -> Option<u128> {
        match kind {
            0 => pick(&self.agents, which).map(|a| a.id.ulid().0),
            1 => pick(&self.runs, which).map(|r| r.id.ulid().0),
            2 => pick(&self.escalations, which).map(|e| e.id.ulid().0),
            _ => pick(&self.events, which).map(|e| e.id.ulid().0),
        }
    }

    fn cursor(&self, list: usize, choice: &CursorChoice) -> Option<Cursor> {
        match choice {
            CursorChoice::None => None,
            CursorChoice::Continue => self.last_cursor[list],
            CursorChoice::Record(kind, which) => self
                .id_of(*kind, which)
                .map(nexwatt_engine::storage::backend::cursor_after),
            CursorChoice::Ghost => Some(Cursor::generate()),
        }
    }

    /// A workspace: the two real ones, or (rarely) one that holds nothing.
    fn ws(&self, which: &Index) -> WorkspaceId {
        let i = which.index(5);
        if i < 4 {
            self.workspaces[i % 2]
        } else {
            self.workspaces[2]
        }
    }

    fn other_ws(&self, ws: WorkspaceId) -> WorkspaceId {
        if ws == self.workspaces[0] {
            self.workspaces[1]
        } else {
            self.workspaces[0]
        }
    }
}

fn pick<'a, T>(items: &'a [T], which: &Index) -> Option<&'a T> {
    if items.is_empty() {
        None
    } else {
        Some(&items[which.index(items.len())])
    }
}

fn skewed(revision: u64, skew: i8) -> u64 {
    match skew {
        0 => revision,
        s if s < 0 => revision.saturating_sub(1),
        _ => revision + 1,
    }
}

type Outcome<T> = Result<T, StorageErrorKind>;

fn outcome<T>(r: Result<T, StorageError>) -> Outcome<T> {
    r.map_err(|e| e.kind())
}

struct Pair {
    memory: MemoryStorage,
    sled: SledStorage,
}

/// Evaluates `$body` (a future using `$st: &dyn Storage`) on both backends
/// and asserts the outcomes are equal; yields the outcome.
macro_rules! same {
    ($pair:expr, $what:expr, |$st:ident| $body:expr) => {{
        let m = {
            let $st: &dyn Storage = &$pair.memory;
            outcome($body.await)
        };
        let s = {
            let $st: &dyn Storage = &$pair.sled;
            outcome($body.await)
        };
        assert_eq!(m, s, "memory and sled differ on {:?}", $what);
        m
    }};
}

fn page(limit: usize, cursor: Option<Cursor>) -> PageRequest {
    PageRequest::new(limit, cursor).unwrap()
}

async fn run_ops(pair: &Pair, ops: &[Op]) {
    let mut pool = Pool::default();
    for _ in 0..2 {
        let ws = fixtures::workspace();
        same!(pair, "create workspace", |st| st.create_workspace(&ws)).unwrap();
        pool.workspaces.push(ws.id);
    }
    // A workspace that exists nowhere.
    pool.workspaces.push(WorkspaceId::generate());

    for (n, op) in ops.iter().enumerate() {
        let what = format!("op {n}: {op:?}");
        match op {
            Op::CreateAgent { ws, status } => {
                let mut agent = fixtures::agent(pool.ws(ws));
                agent.status = *status;
                if same!(pair, &what, |st| st.create_agent(&agent)).is_ok() {
                    pool.agents.push(agent);
                }
            }
            Op::CreateRun { agent, status } => {
                let Some(agent) = pick(&pool.agents, agent) else {
                    continue;
                };
                let mut run = fixtures::run(agent.workspace, agent.id);
                run.status = *status;
                if same!(pair, &what, |st| st.create_run(&run)).is_ok() {
                    pool.runs.push(run);
                }
            }
            Op::CreateEscalation { run, status } => {
                let Some(run) = pick(&pool.runs, run) else {
                    continue;
                };
                let mut esc = fixtures::escalation(run);
                esc.status = *status;
                if same!(pair, &what, |st| st.create_escalation(&esc)).is_ok() {
                    pool.escalations.push(esc);
                }
            }
            Op::AppendEvent { run, with_run } => {
                let Some(run) = pick(&pool.runs, run) else {
                    continue;
                };
                let event =
                    fixtures::event(run.workspace, run.agent_id, with_run.then_some(run.id));
                if same!(pair, &what, |st| st.append_event(&event)).is_ok() {
                    pool.events.push(event);
                }
            }
            Op::Recreate { kind, which } => {
                let write = match kind {
                    0 => pick(&pool.agents, which).map(|a| Write::CreateAgent(a.clone())),
                    1 => pick(&pool.runs, which).map(|r| Write::CreateRun(r.clone())),
                    2 => pick(&pool.escalations, which).map(|e| Write::CreateEscalation(e.clone())),
                    _ => pick(&pool.events, which).map(|e| Write::AppendEvent(e.clone())),
                };
                if let Some(write) = write {
                    let batch = WriteBatch::one(write);
                    let r = same!(pair, &what, |st| st.apply(batch.clone()));
                    assert_eq!(r, Err(StorageErrorKind::AlreadyExists));
                }
            }
            Op::UpdateAgent {
                which,
                revision_skew,
                status,
            } => {
                if pool.agents.is_empty() {
                    continue;
                }
                let i = which.index(pool.agents.len());
                let mut agent = pool.agents[i].clone();
                agent.revision = skewed(agent.revision, *revision_skew);
                agent.status = *status;
                let batch = WriteBatch::one(Write::UpdateAgent(agent.clone()));
                if same!(pair, &what, |st| st.apply(batch.clone())).is_ok() {
                    agent.revision += 1;
                    pool.agents[i] = agent;
                }
            }
            Op::UpdateRun {
                which,
                revision_skew,
                status,
            } => {
                if pool.runs.is_empty() {
                    continue;
                }
                let i = which.index(pool.runs.len());
                let mut run = pool.runs[i].clone();
                run.revision = skewed(run.revision, *revision_skew);
                run.status = *status;
                run.steps_completed += 1;
                let batch = WriteBatch::one(Write::UpdateRun(run.clone()));
                if same!(pair, &what, |st| st.apply(batch.clone())).is_ok() {
                    run.revision += 1;
                    pool.runs[i] = run;
                }
            }
            Op::UpdateEscalation {
                which,
                revision_skew,
                status,
            } => {
                if pool.escalations.is_empty() {
                    continue;
                }
                let i = which.index(pool.escalations.len());
                let mut esc = pool.escalations[i].clone();
                esc.revision = skewed(esc.revision, *revision_skew);
                esc.status = *status;
                let batch = WriteBatch::one(Write::UpdateEscalation(esc.clone()));
                if same!(pair, &what, |st| st.apply(batch.clone())).is_ok() {
                    esc.revision += 1;
                    pool.escalations[i] = esc;
                }
            }
            Op::CommitStep {
                run,
                revision_skew,
                step,
                escalate,
                events,
                duplicate_event,
            } => {
                if pool.runs.is_empty() {
                    continue;
                }
                let i = run.index(pool.runs.len());
                let mut run = pool.runs[i].clone();
                run.revision = skewed(run.revision, *revision_skew);
                run.steps_completed += 1;
                let mut record = fixtures::step_record(&run, *step);
                if *escalate {
                    record.status = StepStatus::AwaitingReview;
                    run.status = RunStatus::AwaitingReview;
                }
                let esc = escalate.then(|| fixtures::escalation(&run));
                let mut evs: Vec<_> = (0..*events)
                    .map(|_| fixtures::event(run.workspace, run.agent_id, Some(run.id)))
                    .collect();
                if *duplicate_event {
                    if let Some(old) = pool.events.first() {
                        evs.push(old.clone());
                    }
                }
                let mut batch = WriteBatch::one(Write::UpdateRun(run.clone()));
                batch.push(Write::PutStepRecord(record));
                if let Some(e) = &esc {
                    batch.push(Write::CreateEscalation(e.clone()));
                }
                for e in &evs {
                    batch.push(Write::AppendEvent(e.clone()));
                }
                if same!(pair, &what, |st| st.apply(batch.clone())).is_ok() {
                    run.revision += 1;
                    pool.runs[i] = run;
                    pool.escalations.extend(esc);
                    pool.events.extend(evs);
                }
            }
            Op::ListAgents {
                ws,
                status,
                limit,
                cursor,
            } => {
                let ws = pool.ws(ws);
                let filter = AgentFilter { status: *status };
                let p = page(*limit, pool.cursor(0, cursor));
                let r = same!(pair, &what, |st| st.list_agents(ws, &filter, p));
                if let Ok(r) = r {
                    pool.last_cursor[0] = r.next_cursor;
                }
            }
            Op::ListRuns {
                ws,
                agent,
                status,
                limit,
                cursor,
            } => {
                let ws = pool.ws(ws);
                let filter = RunFilter {
                    agent: agent
                        .as_ref()
                        .and_then(|a| pick(&pool.agents, a))
                        .map(|a| a.id),
                    status: *status,
                };
                let p = page(*limit, pool.cursor(1, cursor));
                let r = same!(pair, &what, |st| st.list_runs(ws, &filter, p));
                if let Ok(r) = r {
                    pool.last_cursor[1] = r.next_cursor;
                }
            }
            Op::ListEscalations {
                ws,
                status,
                run,
                agent,
                limit,
                cursor,
            } => {
                let ws = pool.ws(ws);
                let filter = EscalationFilter {
                    status: *status,
                    run: run.as_ref().and_then(|r| pick(&pool.runs, r)).map(|r| r.id),
                    agent: agent
                        .as_ref()
                        .and_then(|a| pick(&pool.agents, a))
                        .map(|a| a.id),
                };
                let p = page(*limit, pool.cursor(2, cursor));
                let r = same!(pair, &what, |st| st.list_escalations(ws, &filter, p));
                if let Ok(r) = r {
                    pool.last_cursor[2] = r.next_cursor;
                }
            }
            Op::ListEvents {
                ws,
                run,
                agent,
                limit,
                cursor,
            } => {
                let ws = pool.ws(ws);
                let filter = EventFilter {
                    run: run.as_ref().and_then(|r| pick(&pool.runs, r)).map(|r| r.id),
                    agent: agent
                        .as_ref()
                        .and_then(|a| pick(&pool.agents, a))
                        .map(|a| a.id),
                };
                let p = page(*limit, pool.cursor(3, cursor));
                let r = same!(pair, &what, |st| st.list_events(ws, &filter, p));
                if let Ok(r) = r {
                    pool.last_cursor[3] = r.next_cursor;
                }
            }
            Op::Get {
                kind,
                which,
                other_ws,
            } => match kind {
                0 => {
                    if let Some(a) = pick(&pool.agents, which) {
                        let ws = if *other_ws {
                            pool.other_ws(a.workspace)
                        } else {
                            a.workspace
                        };
                        let r = same!(pair, &what, |st| st.get_agent(ws, a.id));
                        assert_eq!(r.is_ok(), !*other_ws);
                    }
                }
                1 => {
                    if let Some(run) = pick(&pool.runs, which) {
                        let ws = if *other_ws {
                            pool.other_ws(run.workspace)
                        } else {
                            run.workspace
                        };
                        let r = same!(pair, &what, |st| st.get_run(ws, run.id));
                        assert_eq!(r.is_ok(), !*other_ws);
                    }
                }
                2 => {
                    if let Some(e) = pick(&pool.escalations, which) {
                        let ws = if *other_ws {
                            pool.other_ws(e.workspace)
                        } else {
                            e.workspace
                        };
                        let r = same!(pair, &what, |st| st.get_escalation(ws, e.id));
                        assert_eq!(r.is_ok(), !*other_ws);
                    }
                }
                _ => {
                    let ghost = RunId::generate();
                    let ws = pool.workspaces[0];
                    let r = same!(pair, &what, |st| st.get_run(ws, ghost));
                    assert_eq!(r, Err(StorageErrorKind::NotFound));
                }
            },
            Op::GetSteps { run, other_ws } => {
                if let Some(run) = pick(&pool.runs, run) {
                    let ws = if *other_ws {
                        pool.other_ws(run.workspace)
                    } else {
                        run.workspace
                    };
                    let _ = same!(pair, &what, |st| st.get_step_records(ws, run.id));
                }
            }
            Op::ListUnfinished => {
                let _ = same!(pair, &what, |st| st.list_unfinished_runs());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    #[test]
    fn memory_and_sled_agree(ops in prop::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let pair = Pair {
                memory: MemoryStorage::new(),
                sled: SledStorage::temporary().unwrap(),
            };
            run_ops(&pair, &ops).await;
        });
    }
}
