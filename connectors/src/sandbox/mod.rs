//! Sandboxes: a simulated in-memory system for every connector of the
//! catalog.
//!
//! A [`Sandbox`] implements [`Connector`] over a generic record store
//! (collections of JSON records with find / create / update semantics),
//! seeded with plausible records drawn deterministically from a seed plus
//! the example records of the connector's manifest (so a test run's
//! simulated trigger, e.g. invoice `INV-4419`, exists in the sandbox and
//! has a matching HubSpot deal). Each connector adds only what really
//! differs about it (sending an invoice, recording a payment, refunds,
//! issue transitions…) in the private `systems` module.
//!
//! Every sandbox has:
//! - input validation against the manifest (a missing required field is a
//!   permanent `invalid_input`; a find that matches nothing a permanent
//!   `not_found`);
//! - fault injection ([`Sandbox::faults`]): fail the next N calls,
//!   rate-limit with a retry-after, add latency (tokio time; a call whose
//!   latency passes `ctx.deadline` fails there with a retryable `timeout`
//!   and no effect, as a real client gives up);
//! - an effect log ([`Sandbox::effects`]): every write with its
//!   idempotency key, operation, input, output and a sequence number;
//! - idempotency: a write the manifest marks `idempotent`, repeated with
//!   the same idempotency key and input, returns the first result without
//!   a second effect (with another input it is refused, as Stripe does).
//!
//! ## How a sandbox reads its input
//! Each field the manifest declares is taken from the input object, else
//! from a record in it (`deal_id` ← `deal.id`, `customer_email` ←
//! `customer.email`), else — for identifying fields (ids, emails, phones,
//! numbers, company, a person's names) — from the same name anywhere in
//! nested records; an email or phone field under another name (`to`) falls
//! back to the records' `email` / `phone`. A find matches on every key
//! given, setting aside keys that match no record at all while others do
//! (another system's id inferred from the records at hand).
//!
//! ## What the simulated systems hold and enforce
//! | connector | records | rules worth knowing |
//! |---|---|---|
//! | quickbooks | customers, invoices (`INV-4419` paid, `INV-4420` open, `INV-4398` overdue), payments, emails | unique display names; payments reduce the balance, an invoice at 0 is paid, no overpayment |
//! | hubspot | owners 9001.., contacts, deals (7001 *Acme Logistics - Annual plan*, Contract Sent, owner Dana Brooks), tasks, notes, forms | default pipeline stages and lifecycle stages only; unique contact emails |
//! | slack | users of the team, channels, messages, direct messages | every well-formed channel name exists; unknown channel ids and bots are refused |
//! | email | inbox, sent | recipients must be addresses |
//! | google_sheets | sheets `Leads`, `Orders`, `Sheet1` (and any named), rows | appends fill columns from same-named fields |
//! | salesforce | users, leads, contacts, opportunities, tasks | standard stages and lead statuses; leads need last name and company |
//! | stripe | customers, payments, subscriptions, refunds, disputes | refunds up to what is left; cancel now or at period end |
//! | jira | projects (any well-formed key), issues, comments | statuses To Do → In Progress → In Review → Done; status changes only by transition |
//! | github | repos (any owner/name), issues, pull requests, releases, comments | labels are a set; comments on issues and pull requests |
//! | zendesk | tickets, comments | closed tickets are immutable; finds prefer unsolved tickets |
//! | shopify | orders, customers, products, fulfillments | no fulfilling cancelled or fulfilled orders; tags are a set |
//! | twilio | messages | recipients are E.164 numbers |
//! | http | endpoints, posts, webhooks | GET returns what was stored or POSTed at the URL, else an echo |
//! | core | — | conditions evaluated against the input; delays and approvals simulated |
//!
//! ```
//! use nexwatt_connectors::sandbox::Sandboxes;
//! use nexwatt_engine::connector::{Connector, ExecutionContext};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let sandboxes = Sandboxes::new(42);
//! let hubspot = sandboxes.get("hubspot").unwrap();
//! let ctx = ExecutionContext::for_test();
//! let found = hubspot
//!     .execute("deal.find", serde_json::json!({"company": "Acme Logistics"}), &ctx)
//!     .await
//!     .unwrap();
//! assert_eq!(found["deal"]["id"], "7001");
//! # });
//! ```

mod faults;
mod input;
mod store;
mod systems;
mod world;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use nexwatt_engine::connector::{
    Catalog, Connector, ConnectorError, ConnectorManifest, ConnectorRegistry, ExecutionContext,
};
use nexwatt_engine::model::Effect;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use faults::Faults;

use input::Input;
use store::System;
use world::World;

/// One write a sandbox applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectRecord {
    /// Order of the effect; shared by the sandboxes of one [`Sandboxes`],
    /// so effects of different connectors can be ordered.
    pub seq: u64,
    /// The connector id.
    pub connector: String,
    /// The operation id, e.g. `deal.update`.
    pub operation: String,
    /// The idempotency key of the call (run and step).
    pub idempotency_key: String,
    /// The run the call belonged to.
    pub run_id: String,
    /// The step number.
    pub step: u32,
    /// The input, as given.
    pub input: Value,
    /// What the call returned.
    pub output: Value,
}

/// How one call to a sandbox ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// It ran and returned.
    Ok,
    /// An idempotent write repeated with the same key: the first result was
    /// returned, nothing was written.
    Replayed,
    /// It failed with this error code (injected or real).
    Failed(String),
}

/// One call a sandbox received (reads, writes and failures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The operation id.
    pub operation: String,
    /// The idempotency key of the call.
    pub idempotency_key: String,
    /// How it ended.
    pub outcome: CallOutcome,
}

#[derive(Debug)]
struct State {
    system: System,
    effects: Vec<EffectRecord>,
    calls: Vec<CallRecord>,
    /// (operation, idempotency key) → (input, output) of idempotent writes.
    replay: HashMap<(String, String), (Value, Value)>,
}

/// The simulated system of one connector. Share it as `Arc<Sandbox>`: the
/// registry holds one clone, tests keep another to inject faults and read
/// the effect log.
#[derive(Debug)]
pub struct Sandbox {
    manifest: ConnectorManifest,
    seed: u64,
    faults: Faults,
    sequence: Arc<AtomicU64>,
    state: Mutex<State>,
}

/// A per-connector seed, so connectors of one seed differ but stay
/// deterministic (FNV-1a of the id mixed with the seed).
fn connector_seed(seed: u64, id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^ seed.rotate_left(17)
}

impl Sandbox {
    /// The sandbox of `manifest`'s connector, seeded with `seed`.
    pub fn new(manifest: ConnectorManifest, seed: u64) -> Self {
        Self::with_sequence(manifest, seed, Arc::new(AtomicU64::new(0)))
    }

    fn with_sequence(manifest: ConnectorManifest, seed: u64, sequence: Arc<AtomicU64>) -> Self {
        let world = World::new(seed);
        let mut system = System::new(StdRng::seed_from_u64(connector_seed(seed, &manifest.id)));
        systems::seed(&manifest, &mut system, &world);
        Self {
            manifest,
            seed,
            faults: Faults::default(),
            sequence,
            state: Mutex::new(State {
                system,
                effects: Vec::new(),
                calls: Vec::new(),
                replay: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The seed it was built with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Its fault plan.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Every write applied so far, in order.
    pub fn effects(&self) -> Vec<EffectRecord> {
        self.lock().effects.clone()
    }

    /// The writes of `operation` applied so far.
    pub fn effects_of(&self, operation: &str) -> Vec<EffectRecord> {
        self.lock()
            .effects
            .iter()
            .filter(|e| e.operation == operation)
            .cloned()
            .collect()
    }

    /// Every call received so far, in order.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.lock().calls.clone()
    }

    /// The names of its record collections (`deals`, `owners`, …).
    pub fn collections(&self) -> Vec<String> {
        self.lock().system.collection_names()
    }

    /// The current records of `collection`, to inspect the simulated
    /// system.
    pub fn records(&self, collection: &str) -> Vec<Value> {
        self.lock().system.all(collection).to_vec()
    }

    /// Runs a call against the simulated system (after latency).
    fn run(
        &self,
        operation: &str,
        raw: Value,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let id = self.manifest.id.as_str();
        let key = ctx.idempotency_key.as_str();
        let mut state = self.lock();
        let outcome = |state: &mut State, outcome: CallOutcome| {
            state.calls.push(CallRecord {
                operation: operation.to_string(),
                idempotency_key: key.to_string(),
                outcome,
            });
        };
        let Some(op) = self.manifest.operation(operation) else {
            let error = ConnectorError::unknown_operation(id, operation);
            outcome(&mut state, CallOutcome::Failed(error.code().to_string()));
            return Err(error);
        };
        if let Some(error) = self.faults.take_for(operation) {
            outcome(&mut state, CallOutcome::Failed(error.code().to_string()));
            return Err(error);
        }
        let replay_key = (operation.to_string(), key.to_string());
        let write = op.effect == Effect::Write;
        if write && op.idempotent {
            if let Some((first_input, first_output)) = state.replay.get(&replay_key).cloned() {
                if first_input == raw {
                    outcome(&mut state, CallOutcome::Replayed);
                    return Ok(first_output);
                }
                let error = ConnectorError::permanent(
                    "idempotency_key_reused",
                    format!(
                        "{id}.{operation}: idempotency key {key} was already used with a different input"
                    ),
                );
                outcome(&mut state, CallOutcome::Failed(error.code().to_string()));
                return Err(error);
            }
        }
        let result = Input::validate(id, op, raw.clone())
            .and_then(|input| systems::execute(id, &mut state.system, op, &input));
        match result {
            Ok(output) => {
                if write {
                    let seq = self.sequence.fetch_add(1, Ordering::SeqCst) + 1;
                    state.effects.push(EffectRecord {
                        seq,
                        connector: id.to_string(),
                        operation: operation.to_string(),
                        idempotency_key: key.to_string(),
                        run_id: ctx.run_id.to_string(),
                        step: ctx.step,
                        input: raw.clone(),
                        output: output.clone(),
                    });
                    if op.idempotent {
                        state.replay.insert(replay_key, (raw, output.clone()));
                    }
                }
                outcome(&mut state, CallOutcome::Ok);
                Ok(output)
            }
            Err(error) => {
                outcome(&mut state, CallOutcome::Failed(error.code().to_string()));
                Err(error)
            }
        }
    }
}

#[async_trait]
impl Connector for Sandbox {
    fn manifest(&self) -> &ConnectorManifest {
        &self.manifest
    }

    async fn execute(
        &self,
        operation: &str,
        input: Value,
        ctx: &ExecutionContext,
    ) -> Result<Value, ConnectorError> {
        let latency = self.faults.latency();
        let result = if !latency.is_zero() && latency > ctx.remaining() {
            // Like a real client, give up once the deadline has passed,
            // having sent nothing. (Just after it: a caller timing the call
            // out at the deadline itself sees its own timeout first.)
            tokio::time::sleep_until(ctx.deadline + std::time::Duration::from_millis(1)).await;
            let error = ConnectorError::retryable(
                "timeout",
                format!(
                    "{}.{operation}: no answer within the step's deadline (simulated latency {} ms)",
                    self.manifest.id,
                    latency.as_millis()
                ),
            );
            self.lock().calls.push(CallRecord {
                operation: operation.to_string(),
                idempotency_key: ctx.idempotency_key.clone(),
                outcome: CallOutcome::Failed(error.code().to_string()),
            });
            Err(error)
        } else {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            self.run(operation, input, ctx)
        };
        ctx.span.in_scope(|| match &result {
            Ok(_) => tracing::debug!(connector = %self.manifest.id, operation, "sandbox call ok"),
            Err(e) => tracing::debug!(
                connector = %self.manifest.id,
                operation,
                code = e.code(),
                "sandbox call failed"
            ),
        });
        result
    }
}

/// A sandbox for every connector of a catalog, built from one seed.
/// Cloning shares the sandboxes.
#[derive(Debug, Clone)]
pub struct Sandboxes {
    seed: u64,
    sandboxes: Vec<Arc<Sandbox>>,
}

impl Sandboxes {
    /// A sandbox for every connector of the built-in catalog.
    pub fn new(seed: u64) -> Self {
        match crate::catalog() {
            Ok(catalog) => Self::from_catalog(catalog, seed),
            Err(error) => {
                tracing::error!(%error, "the built-in connector catalog does not load; no sandboxes");
                Self {
                    seed,
                    sandboxes: Vec::new(),
                }
            }
        }
    }

    /// A sandbox for every connector of `catalog`, in catalog order.
    pub fn from_catalog(catalog: &Catalog, seed: u64) -> Self {
        let sequence = Arc::new(AtomicU64::new(0));
        let sandboxes = catalog
            .connectors()
            .iter()
            .map(|m| {
                Arc::new(Sandbox::with_sequence(
                    m.clone(),
                    seed,
                    Arc::clone(&sequence),
                ))
            })
            .collect();
        Self { seed, sandboxes }
    }

    /// The seed they were built with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The sandbox of connector `id`.
    pub fn get(&self, id: &str) -> Option<Arc<Sandbox>> {
        self.sandboxes.iter().find(|s| s.manifest.id == id).cloned()
    }

    /// Every sandbox, in catalog order.
    pub fn all(&self) -> &[Arc<Sandbox>] {
        &self.sandboxes
    }

    /// Every effect of every sandbox, in the order they happened.
    pub fn effects(&self) -> Vec<EffectRecord> {
        let mut all: Vec<EffectRecord> = self.sandboxes.iter().flat_map(|s| s.effects()).collect();
        all.sort_by_key(|e| e.seq);
        all
    }

    /// A registry with every sandbox, each paired with the live client of
    /// the same manifest id from `live` (if any). Live clients with no
    /// sandbox are ignored (logged).
    pub fn registry(&self, live: Vec<Arc<dyn Connector>>) -> ConnectorRegistry {
        crate::registry::registry(self, live)
    }
}
