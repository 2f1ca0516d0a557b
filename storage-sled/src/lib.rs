//! # nexwatt-storage-sled
//!
//! [`SledStorage`]: a durable [`Storage`] backend on
//! [sled](https://docs.rs/sled/0.34.7) 0.34.7, an embedded ordered
//! key-value store. Data whose write returned before
//! [`Storage::flush`] returned survives a crash (sled also flushes by
//! itself every 500 ms by default).
//!
//! ## Layout
//!
//! Everything lives in one sled tree (`nexwatt`), but for the journal
//! (below). Every [`Storage::apply`] takes the store's write lock, checks
//! the batch's preconditions (with the engine's shared [`plan_batch`]) and
//! writes it; readers (who hold the read lock) never see half of a batch,
//! and since sled's file lock keeps other processes out and the write lock
//! other writers, the checks still hold when the batch lands. Open one
//! database path once per process and share clones of the handle.
//!
//! ### Atomic batches: the journal
//!
//! A batch of several sled writes goes first, together, into the journal,
//! as the one key `last` of the tree `nexwatt-journal` (one sled insert,
//! which sled recovers whole or not at all), then one by one into
//! `nexwatt`. After a
//! crash sled recovers a prefix of its log (it stops at the first torn
//! write), so every batch before the one whose entry the journal holds is
//! whole, and of that last batch a first part (maybe none, maybe all) is
//! there: opening the database writes the entry again, as one atomic
//! `sled::Batch` (rewriting a value it already holds changes nothing), and
//! deletes it. A batch of one sled write (creating or updating a run, say)
//! needs no journal; it deletes the journal's entry first if there is one,
//! since replaying that older batch would write over it. If a write fails
//! partway (a disk error), the store refuses every call until it is
//! reopened.
//!
//! Why not a `sled::Batch` per write: sled 0.34 seals its write buffer
//! before and after every batch, to bound where recovery may stop, which
//! sends two buffer writes to its IO threads per batch, flush or not;
//! with the journal, put + get of a run went from about 54 to 32 µs
//! (`put_get_run/sled`). A sled transaction costs more still (each of its
//! writes reads the key first, and it seals the buffer too).
//!
//! Keys start with a table byte; ids are their 16 big-endian ULID bytes,
//! so keys sort like ids:
//!
//! | table | key | value |
//! |---|---|---|
//! | `m` | `format` | layout version (`5`) |
//! | `w` `k` `a` `r` `e` `v` | id | workspace, API key, agent, run, escalation, event (JSON) |
//! | `h` | SHA-256 hex of a key secret | API key id |
//! | `s` | run id ‖ step (u32 BE) | step record (JSON) |
//! | `A` `E` `V` | [`IndexKey`], its masked-out fields left out (BE) | (empty): agent, escalation, event indexes |
//!
//! ### The run index is in memory
//!
//! Runs are the records written most (at every step), and a run carries
//! four index entries (workspace; + status; + agent; + agent and status),
//! two of which move at every status change. sled 0.34 costs about 6 µs
//! per key written on a 2-core VM, so those entries would be most of a
//! run write. Instead the run index lives in memory ([`IdIndex`], 16 bytes
//! per entry: about 64 bytes per run, 64 MiB per million runs), built from
//! the run records when the database opens (one scan of them, keeping
//! only the indexed fields) and updated under the write lock once a batch
//! has landed. Writing a run is then one sled key: put + get of a run went
//! from 37 to 13 µs (`put_get_run/sled`). Queued and running runs
//! ([`Storage::list_unfinished_runs`]) are read off the index's status
//! entries. The other records are written far less often and keep their
//! indexes in sled.
//!
//! Older layouts are upgraded in place on open. Layout 4 kept the run index
//! in sled (`R ‖ …` keys): they are deleted. Layout 3 also wrote each batch
//! as a `sled::Batch` and had no journal. Layout 2 also kept a `u ‖ run id`
//! marker per unfinished run: deleted too. The version is set to 5 first
//! (an older build then refuses the database rather than trust a half
//! deleted index), then the old keys go, in chunks; every open deletes
//! any left by a crash.
//!
//! A list page is one range scan of the index (`workspace ‖ filter mask ‖
//! run ‖ agent ‖ status ‖ id`, in sled or, for runs, in memory) taking
//! `limit + 1` ids, then one get per record: O(limit · log n), whatever
//! the table's size.
//!
//! Records are stored as JSON (serde_json): they hold arbitrary
//! `serde_json::Value` inputs and outputs, which compact binary serde
//! formats cannot round-trip, and JSON keeps the data readable with any
//! tool. Encoding is a small part of a write's cost next to sled's own
//! (callgrind, creating a run: about 6 000 instructions to encode it as
//! JSON against about 14 000 per sled key written).
//!
//! sled calls block (on the store's lock, on sled's own latches, now and
//! then on the disk), so none of them runs as plain async code on a worker
//! thread. On a multi-threaded tokio runtime each call runs in
//! [`tokio::task::block_in_place`]: it runs right on the calling thread
//! while tokio hands that worker's other tasks to another thread. That
//! costs far less than a `spawn_blocking` hand-off to the blocking pool
//! and back (a thread wake-up each way): put + get of a run went from
//! about 177 to 66 µs. On a current-thread runtime, where `block_in_place`
//! is not allowed, calls go to the blocking pool (`spawn_blocking`);
//! outside any runtime they run on the calling thread. Inside a
//! [`tokio::task::LocalSet`] on a multi-threaded runtime tokio refuses
//! `block_in_place` too: there, set [`SledConfig::block_in_place`] to
//! `false`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), nexwatt_engine::storage::StorageError> {
//! use nexwatt_storage_sled::SledStorage;
//! use nexwatt_engine::storage::Storage;
//! let storage = SledStorage::open("/var/lib/nexwatt/db").await?;
//! storage.flush().await?;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use nexwatt_engine::id::{AgentId, ApiKeyId, EscalationId, EventId, RunId, WorkspaceId};
use nexwatt_engine::model::{
    Agent, ApiKeyRecord, Escalation, Event, KeyHash, Run, RunStatus, StepRecord, Workspace,
};
use nexwatt_engine::storage::backend::{self, plan_batch, BatchState, Change, IndexKey};
use nexwatt_engine::storage::id_index::IdIndex;
use nexwatt_engine::storage::{
    AgentFilter, EscalationFilter, EventFilter, Page, PageRequest, RunFilter, Storage,
    StorageError, StorageErrorKind, WriteBatch,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::runtime::RuntimeFlavor;

const TREE: &str = "nexwatt";
const FORMAT_KEY: &[u8] = b"mformat";
const FORMAT: &[u8] = b"5";
/// Layout 4 (the run index in sled), upgraded on open.
const FORMAT_V4: &[u8] = b"4";
/// Layout 3 (batches as `sled::Batch`, no journal), upgraded on open.
const FORMAT_V3: &[u8] = b"3";
/// Layout 2 (unfinished-run markers), upgraded on open.
const FORMAT_V2: &[u8] = b"2";
/// Keys removed per `sled::Batch` while upgrading (bounded memory).
const UPGRADE_CHUNK: usize = 10_000;
/// The tree holding the last batch's journal entry.
const JOURNAL_TREE: &str = "nexwatt-journal";
const JOURNAL_KEY: &[u8] = b"last";

/// [`SledConfig::segment_size`]'s default (sled's own is 512 KiB).
const DEFAULT_SEGMENT_SIZE: usize = 8 * 1024 * 1024;
/// The file in which sled records a database's storage parameters.
const SLED_CONF_FILE: &str = "conf";

const T_WORKSPACE: u8 = b'w';
const T_API_KEY: u8 = b'k';
const T_KEY_HASH: u8 = b'h';
const T_AGENT: u8 = b'a';
const T_RUN: u8 = b'r';
const T_ESCALATION: u8 = b'e';
const T_EVENT: u8 = b'v';
const T_STEP: u8 = b's';
/// Layout 2's marker table of unfinished runs (dropped by the upgrade).
const T_UNFINISHED_V2: u8 = b'u';
const I_AGENT: u8 = b'A';
/// Layout 4's run index (dropped by the upgrade to 5: it is in memory).
const I_RUN_V4: u8 = b'R';
const I_ESCALATION: u8 = b'E';
const I_EVENT: u8 = b'V';

fn id_key(table: u8, id: u128) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = table;
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

/// `table ‖ workspace ‖ mask ‖ [run] ‖ [agent] ‖ [status] ‖ id`: the
/// [`IndexKey`] without the fields its mask leaves out (zeros), so entries
/// are 34 to 67 bytes instead of 67. Keys of one workspace and mask share
/// one layout, so they still sort like the `IndexKey`s; the id is always
/// the last 16 bytes.
fn index_key(table: u8, key: &IndexKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + IndexKey::ENCODED_LEN);
    out.push(table);
    out.extend_from_slice(&key.workspace.to_be_bytes());
    out.push(key.mask);
    if key.mask & backend::MASK_RUN != 0 {
        out.extend_from_slice(&key.run.to_be_bytes());
    }
    if key.mask & backend::MASK_AGENT != 0 {
        out.extend_from_slice(&key.agent.to_be_bytes());
    }
    if key.mask & backend::MASK_STATUS != 0 {
        out.push(key.status);
    }
    out.extend_from_slice(&key.id.to_be_bytes());
    out
}

/// The record id at the end of an index key.
fn index_key_id(key: &[u8]) -> Option<u128> {
    let start = key.len().checked_sub(16)?;
    let arr: [u8; 16] = key.get(start..)?.try_into().ok()?;
    Some(u128::from_be_bytes(arr))
}

fn step_key(run: RunId, step: u32) -> [u8; 21] {
    let mut key = [0u8; 21];
    key[0] = T_STEP;
    key[1..17].copy_from_slice(&run.to_bytes());
    key[17..].copy_from_slice(&step.to_be_bytes());
    key
}

fn hash_key(hash: &KeyHash) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + hash.as_bytes().len());
    key.push(T_KEY_HASH);
    key.extend_from_slice(hash.as_bytes());
    key
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StorageError> {
    // Records are rarely under 512 bytes: start there rather than grow
    // from serde_json's 128 twice.
    let mut out = Vec::with_capacity(512);
    serde_json::to_writer(&mut out, value).map_err(|e| {
        StorageError::new(StorageErrorKind::Write, "cannot encode a record").with_source(e)
    })?;
    Ok(out)
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| {
        StorageError::new(
            StorageErrorKind::Read,
            format!("stored {what} cannot be decoded"),
        )
        .with_source(e)
    })
}

fn read_error(e: sled::Error) -> StorageError {
    match e {
        sled::Error::Corruption { .. } => {
            StorageError::new(StorageErrorKind::Read, "sled database is corrupt").with_source(e)
        }
        sled::Error::Io(_) => {
            StorageError::new(StorageErrorKind::Read, "sled read failed").with_source(e)
        }
        _ => StorageError::new(StorageErrorKind::Unavailable, "sled is unusable").with_source(e),
    }
}

fn write_error(e: sled::Error) -> StorageError {
    StorageError::new(StorageErrorKind::Write, "sled write failed").with_source(e)
}

fn decode_id(bytes: &[u8]) -> Result<u128, StorageError> {
    let arr: [u8; 16] = bytes
        .try_into()
        .map_err(|_| StorageError::new(StorageErrorKind::Read, "stored id is not 16 bytes"))?;
    Ok(u128::from_be_bytes(arr))
}

/// How to open a sled database.
#[derive(Debug, Clone)]
pub struct SledConfig {
    /// The database directory (created if missing).
    pub path: PathBuf,
    /// sled's page cache size in bytes (default 256 MiB).
    pub cache_capacity: u64,
    /// How often sled flushes by itself, in milliseconds; `None` flushes
    /// only on [`Storage::flush`] (default `Some(500)`).
    pub flush_every_ms: Option<u64>,
    /// Delete the database when the last handle drops (tests, scratch).
    pub temporary: bool,
    /// The size of sled's log segments and write buffers, in bytes, for a
    /// database this creates: a power of two from 256 bytes to 16 MiB
    /// (default 8 MiB). sled writes its log a buffer of this size at a
    /// time and starts a new segment when one is full, so bigger segments
    /// mean fewer buffer writes and segment switches: put + get of a run
    /// took about 47 µs with sled's own default of 512 KiB and 38 µs with
    /// 8 MiB (on a busy 2-core machine).
    /// sled records the size in the database and cannot open it with
    /// another, so an existing database always opens with the size it was
    /// created with, whatever this says.
    pub segment_size: usize,
    /// Run sled calls in [`tokio::task::block_in_place`] when awaited on a
    /// multi-threaded runtime (default `true`), else always on the
    /// blocking pool (`spawn_blocking`, a thread hand-off each way). Turn
    /// it off to await the store inside a [`tokio::task::LocalSet`] on a
    /// multi-threaded runtime, where tokio forbids `block_in_place`.
    pub block_in_place: bool,
    /// How long opening waits for the database's file lock while another
    /// handle in this process still holds it (default 5 s). sled's IO
    /// threads let go of a database a moment after its last handle drops
    /// ([`SledStorage`]'s drop waits for that), and a raw `sled::Db` of
    /// the same path may be closing. Another process holding the lock is
    /// refused after the same wait. Zero: fail at once.
    pub lock_wait: Duration,
}

impl SledConfig {
    /// The defaults, at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cache_capacity: 256 * 1024 * 1024,
            flush_every_ms: Some(500),
            temporary: false,
            segment_size: DEFAULT_SEGMENT_SIZE,
            block_in_place: true,
            lock_wait: Duration::from_secs(5),
        }
    }
}

/// A durable store in a sled database. Cheap to clone: clones share the
/// database. Dropping the last clone closes it: when the drop returns, the
/// database's file lock is free (the drop waits, up to a few seconds, for
/// sled's IO threads to let go of it), so the same path opens again at
/// once, in this process or another.
#[derive(Debug, Clone)]
pub struct SledStorage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    /// The [`JOURNAL_KEY`] of the last batch (see the crate docs).
    journal: sled::Tree,
    /// Writers hold it for writing while they check and apply a batch;
    /// readers of several keys hold it for reading. It guards what the
    /// store keeps in memory.
    lock: RwLock<Memory>,
    /// Set (under the write lock) when a batch's sled writes failed: the
    /// tree may hold part of it, so every later call fails until a reopen
    /// finishes the batch from the journal (or finds it absent) and
    /// rebuilds the run index.
    torn: AtomicBool,
    /// [`SledConfig::block_in_place`].
    block_in_place: bool,
    /// Last, so it drops after the sled handles above.
    _release: LockRelease,
}

/// Waits, when dropped, until the database's file lock is free: sled's IO
/// threads hold the database a moment after its last handle drops.
#[derive(Debug)]
struct LockRelease {
    /// The file sled locks; `None` for a temporary database (deleted).
    lock_file: Option<PathBuf>,
}

/// The longest [`LockRelease`] waits.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

impl Drop for LockRelease {
    fn drop(&mut self) {
        let Some(path) = &self.lock_file else {
            return;
        };
        let deadline = Instant::now() + RELEASE_WAIT;
        let mut pause = Duration::from_micros(100);
        loop {
            let Ok(file) = std::fs::File::open(path) else {
                return;
            };
            if fs2::FileExt::try_lock_exclusive(&file).is_ok() {
                // Closing the file drops the lock.
                return;
            }
            if Instant::now() >= deadline {
                tracing::warn!(path = %path.display(), "sled still holds the database lock after its last handle dropped");
                return;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }
}

/// Whether sled failed to open because the database's file lock is held.
fn lock_busy(e: &sled::Error) -> bool {
    // sled 0.34 reports it as an `Other` IO error with this text.
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

/// What the store keeps in memory beside sled, under [`Inner::lock`].
#[derive(Default)]
struct Memory {
    /// The run index (see the crate docs), built from the run records when
    /// the database opens.
    runs: IdIndex,
    /// Whether the journal holds an entry: a batch of one key must delete
    /// it first, or a replay after a crash would write the older batch
    /// over it.
    journal_full: bool,
}

/// Counts only: the index of a large database is megabytes, and an engine
/// (which prints its storage) may be logged with `?`.
impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("run_index_prefixes", &self.runs.prefixes().count())
            .field("journal_full", &self.journal_full)
            .finish()
    }
}

impl Inner {
    /// Fails if a batch failed halfway (see [`Inner::torn`]).
    fn check_whole(&self) -> Result<(), StorageError> {
        if self.torn.load(Ordering::Acquire) {
            Err(StorageError::new(
                StorageErrorKind::Unavailable,
                "a write to the sled database failed halfway; reopen the database to finish it",
            ))
        } else {
            Ok(())
        }
    }
}

impl SledStorage {
    /// Opens (or creates) the database at `path` with the default
    /// [`SledConfig`], off the async worker threads.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::open_with(SledConfig::new(path.as_ref())).await
    }

    /// Opens a database as `config` says, off the async worker threads
    /// (see [the crate docs](crate)).
    pub async fn open_with(config: SledConfig) -> Result<Self, StorageError> {
        off_worker(config.block_in_place, move || Self::open_blocking(&config)).await
    }

    /// Opens a database as `config` says, blocking the calling thread while
    /// sled recovers its log. For hosts that open storage before starting a
    /// runtime.
    pub fn open_blocking(config: &SledConfig) -> Result<Self, StorageError> {
        let segment_size = match stored_segment_size(&config.path) {
            Some(stored) if stored != config.segment_size => {
                tracing::debug!(
                    path = %config.path.display(),
                    stored,
                    configured = config.segment_size,
                    "opening an existing sled database with the segment size it was created with"
                );
                stored
            }
            _ => config.segment_size,
        };
        let sled_config = sled::Config::new()
            .path(&config.path)
            .segment_size(segment_size)
            .cache_capacity(config.cache_capacity)
            .flush_every_ms(config.flush_every_ms)
            .temporary(config.temporary);
        let deadline = Instant::now() + config.lock_wait;
        let mut pause = Duration::from_micros(100);
        let db = loop {
            match sled_config.open() {
                Ok(db) => break db,
                Err(e) if lock_busy(&e) && Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                Err(e) => {
                    return Err(StorageError::new(
                        StorageErrorKind::Unavailable,
                        format!("cannot open sled database at {}", config.path.display()),
                    )
                    .with_source(e))
                }
            }
        };
        let tree = db.open_tree(TREE).map_err(read_error)?;
        let journal = db.open_tree(JOURNAL_TREE).map_err(read_error)?;
        match tree.get(FORMAT_KEY).map_err(read_error)? {
            None => {
                tree.insert(FORMAT_KEY, FORMAT).map_err(write_error)?;
            }
            Some(found) if found.as_ref() == FORMAT => finish_last_batch(&tree, &journal)?,
            Some(found) if found.as_ref() == FORMAT_V4 => {
                finish_last_batch(&tree, &journal)?;
                set_version(&tree, "4")?;
            }
            // Layouts 3 and 2 had no journal.
            Some(found) if found.as_ref() == FORMAT_V3 => set_version(&tree, "3")?,
            Some(found) if found.as_ref() == FORMAT_V2 => set_version(&tree, "2")?,
            Some(found) => {
                return Err(StorageError::new(
                    StorageErrorKind::Unavailable,
                    format!(
                        "database at {} has layout version {:?}; this build reads versions 2 to 5",
                        config.path.display(),
                        String::from_utf8_lossy(&found)
                    ),
                ))
            }
        }
        drop_old_keys(&tree)?;
        let runs = run_index(&tree)?;
        tracing::debug!(path = %config.path.display(), "opened sled storage");
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                tree,
                journal,
                lock: RwLock::new(Memory {
                    runs,
                    journal_full: false,
                }),
                torn: AtomicBool::new(false),
                _release: LockRelease {
                    lock_file: (!config.temporary).then(|| config.path.join("db")),
                },
                block_in_place: config.block_in_place,
            }),
        })
    }

    /// A database in a temporary directory, deleted when the last handle
    /// drops. Blocks briefly; meant for tests.
    pub fn temporary() -> Result<Self, StorageError> {
        let dir =
            std::env::temp_dir().join(format!("nexwatt-sled-{}", nexwatt_engine::id::next_ulid()));
        let mut config = SledConfig::new(dir);
        config.temporary = true;
        config.cache_capacity = 16 * 1024 * 1024;
        Self::open_blocking(&config)
    }

    /// Runs `f` against the tree under the read lock, off the async worker
    /// threads.
    async fn blocking<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Reader<'_>) -> Result<T, StorageError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        off_worker(self.inner.block_in_place, move || {
            let memory = inner.lock.read().map_err(|_| poisoned())?;
            inner.check_whole()?;
            f(&Reader {
                tree: &inner.tree,
                runs: &memory.runs,
            })
        })
        .await
    }

    /// [`Storage::apply`] on the calling thread (which it blocks).
    pub fn apply_blocking(&self, batch: WriteBatch) -> Result<(), StorageError> {
        apply_batch(&self.inner, batch)
    }
}

/// The segment size that the sled database at `path` was created with,
/// read from the storage parameters sled 0.34 keeps in `path/conf` (lines
/// of `name: value`, then a CRC), which sled checks on open: it refuses a
/// size other than the stored one. `None` for a new database, or when the
/// file cannot be read or parsed (sled's own open then reports what is
/// wrong, if anything).
fn stored_segment_size(path: &Path) -> Option<usize> {
    let bytes = std::fs::read(path.join(SLED_CONF_FILE)).ok()?;
    let text = bytes.get(..bytes.len().checked_sub(4)?)?;
    std::str::from_utf8(text)
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("segment_size:"))
        .and_then(|value| value.trim().parse().ok())
}

/// Runs the blocking `f` where it cannot stall an async worker thread: in
/// `block_in_place` on a multi-threaded runtime (if `block_in_place`
/// allows), on the blocking pool on any other runtime, and right here
/// outside of one.
async fn off_worker<T, F>(block_in_place: bool, f: F) -> Result<T, StorageError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Err(_) => f(),
        Ok(handle) if block_in_place && handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        Ok(handle) => handle.spawn_blocking(f).await.map_err(join_error)?,
    }
}

fn join_error(e: tokio::task::JoinError) -> StorageError {
    StorageError::new(
        StorageErrorKind::Unavailable,
        "a blocking storage task failed",
    )
    .with_source(e)
}

/// Reads the batch planner makes, under the write lock.
struct TreeState<'a> {
    tree: &'a sled::Tree,
}

impl TreeState<'_> {
    fn record<T: DeserializeOwned>(
        &self,
        table: u8,
        id: u128,
        what: &str,
    ) -> Result<Option<T>, StorageError> {
        match self.tree.get(id_key(table, id)).map_err(read_error)? {
            None => Ok(None),
            Some(bytes) => decode(&bytes, what).map(Some),
        }
    }

    fn exists(&self, key: &[u8]) -> Result<bool, StorageError> {
        self.tree.contains_key(key).map_err(read_error)
    }
}

impl BatchState for TreeState<'_> {
    type Error = StorageError;

    fn workspace_exists(&mut self, id: WorkspaceId) -> Result<bool, StorageError> {
        self.exists(&id_key(T_WORKSPACE, id.ulid().0))
    }
    fn api_key(&mut self, id: ApiKeyId) -> Result<Option<ApiKeyRecord>, StorageError> {
        self.record(T_API_KEY, id.ulid().0, "api key")
    }
    fn api_key_by_hash(&mut self, hash: &KeyHash) -> Result<Option<ApiKeyId>, StorageError> {
        match self.tree.get(hash_key(hash)).map_err(read_error)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(ApiKeyId::from_bytes(decode_id(&bytes)?.to_be_bytes()))),
        }
    }
    fn agent(&mut self, id: AgentId) -> Result<Option<Agent>, StorageError> {
        self.record(T_AGENT, id.ulid().0, "agent")
    }
    fn run(&mut self, id: RunId) -> Result<Option<Run>, StorageError> {
        self.record(T_RUN, id.ulid().0, "run")
    }
    fn escalation(&mut self, id: EscalationId) -> Result<Option<Escalation>, StorageError> {
        self.record(T_ESCALATION, id.ulid().0, "escalation")
    }
    fn event_exists(&mut self, id: EventId) -> Result<bool, StorageError> {
        self.exists(&id_key(T_EVENT, id.ulid().0))
    }
}

fn reindex(batch: &mut Writes, table: u8, old: &[IndexKey], new: &[IndexKey]) {
    for key in old {
        if !new.contains(key) {
            batch.remove(index_key(table, key));
        }
    }
    for key in new {
        if !old.contains(key) {
            batch.insert(index_key(table, key), Vec::new());
        }
    }
}

fn write_change(batch: &mut Writes, change: &Change) -> Result<(), StorageError> {
    match change {
        Change::Workspace(w) => {
            batch.insert(id_key(T_WORKSPACE, w.id.ulid().0).to_vec(), encode(w)?);
        }
        Change::ApiKey { old, new } => {
            if let Some(old) = old {
                if old.hash != new.hash {
                    batch.remove(hash_key(&old.hash));
                }
            }
            batch.insert(hash_key(&new.hash), new.id.to_bytes().to_vec());
            batch.insert(id_key(T_API_KEY, new.id.ulid().0).to_vec(), encode(new)?);
        }
        Change::Agent { old, new } => {
            let old_keys = old.as_ref().map(backend::agent_entries).unwrap_or_default();
            reindex(batch, I_AGENT, &old_keys, &backend::agent_entries(new));
            batch.insert(id_key(T_AGENT, new.id.ulid().0).to_vec(), encode(new)?);
        }
        // The run index is in memory (updated once the batch has landed).
        Change::Run { new, .. } => {
            batch.insert(id_key(T_RUN, new.id.ulid().0).to_vec(), encode(new)?);
        }
        Change::Step(s) => {
            batch.insert(step_key(s.run_id, s.step).to_vec(), encode(s)?);
        }
        Change::Escalation { old, new } => {
            let old_keys = old
                .as_ref()
                .map(backend::escalation_entries)
                .unwrap_or_default();
            reindex(
                batch,
                I_ESCALATION,
                &old_keys,
                &backend::escalation_entries(new),
            );
            batch.insert(id_key(T_ESCALATION, new.id.ulid().0).to_vec(), encode(new)?);
        }
        Change::Event(e) => {
            reindex(batch, I_EVENT, &[], &backend::event_entries(e));
            batch.insert(id_key(T_EVENT, e.id.ulid().0).to_vec(), encode(e)?);
        }
    }
    Ok(())
}

/// Checks the batch and writes it, under the store's write lock: no other
/// write of this store runs in between (and sled's file lock keeps other
/// processes out), so the checks still hold when the batch lands, and
/// readers, under the read lock, see all of it or none of it. Its sled
/// writes go first into the journal as one key, then one by one into the
/// tree, so that a crash at any point leaves either the previous journal
/// entry (and none of this batch) or this one, which the next open
/// replays (see the crate docs).
fn apply_batch(inner: &Inner, batch: WriteBatch) -> Result<(), StorageError> {
    let mut memory = inner.lock.write().map_err(|_| poisoned())?;
    inner.check_whole()?;
    let tree = &inner.tree;
    let changes = plan_batch(batch, &mut TreeState { tree })?;
    // A record and its (up to four) index entries per change, mostly.
    let mut writes = Writes {
        ops: Vec::with_capacity(changes.len() * 5),
    };
    for change in &changes {
        write_change(&mut writes, change)?;
    }
    if writes.ops.is_empty() {
        return Ok(());
    }
    let written = if writes.ops.len() == 1 {
        // One key: sled recovers it whole or not at all. The journal's
        // entry (a batch that landed whole before this one) goes first.
        let cleared = if memory.journal_full {
            inner.journal.remove(JOURNAL_KEY).map(drop)
        } else {
            Ok(())
        };
        cleared.map_err(write_error).and_then(|()| {
            memory.journal_full = false;
            writes.apply(tree)
        })
    } else {
        inner
            .journal
            .insert(JOURNAL_KEY, writes.journal_entry())
            .map_err(write_error)
            .and_then(|_| {
                memory.journal_full = true;
                writes.apply(tree)
            })
    };
    if written.is_err() {
        // The journal entry, and part of the batch, may be in the tree:
        // refuse everything until a reopen replays or drops it.
        inner.torn.store(true, Ordering::Release);
        tracing::error!("a sled write failed halfway; the store refuses calls until reopened");
        return written;
    }
    for change in &changes {
        if let Change::Run { old, new } = change {
            let moved = old.as_ref().is_none_or(|old| {
                old.status != new.status
                    || old.agent_id != new.agent_id
                    || old.workspace != new.workspace
            });
            if moved {
                let old_keys = old.as_ref().map(backend::run_entries).unwrap_or_default();
                memory.runs.update(&old_keys, &backend::run_entries(new));
            }
        }
    }
    Ok(())
}

/// The sled writes of one batch, in order: `(key, Some(value))` inserts,
/// `(key, None)` removes.
#[derive(Default)]
struct Writes {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// A journal entry that cannot be read back.
fn corrupt_journal() -> StorageError {
    StorageError::new(StorageErrorKind::Read, "the sled write journal is corrupt")
}

impl Writes {
    fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((key, Some(value)));
    }

    fn remove(&mut self, key: Vec<u8>) {
        self.ops.push((key, None));
    }

    /// The journal entry: per write, a tag byte (`1` insert, `0` remove),
    /// the key's length (u64 BE) and bytes, and for an insert the value's
    /// length and bytes.
    fn journal_entry(&self) -> Vec<u8> {
        let len = self
            .ops
            .iter()
            .map(|(k, v)| 17 + k.len() + v.as_ref().map_or(0, Vec::len))
            .sum();
        let mut out = Vec::with_capacity(len);
        for (key, value) in &self.ops {
            out.push(u8::from(value.is_some()));
            out.extend_from_slice(&(key.len() as u64).to_be_bytes());
            out.extend_from_slice(key);
            if let Some(value) = value {
                out.extend_from_slice(&(value.len() as u64).to_be_bytes());
                out.extend_from_slice(value);
            }
        }
        out
    }

    /// Reads a [`Writes::journal_entry`] back.
    fn from_journal_entry(mut bytes: &[u8]) -> Result<Self, StorageError> {
        fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], StorageError> {
            if bytes.len() < n {
                return Err(corrupt_journal());
            }
            let (head, tail) = bytes.split_at(n);
            *bytes = tail;
            Ok(head)
        }
        fn take_chunk(bytes: &mut &[u8]) -> Result<Vec<u8>, StorageError> {
            let len: [u8; 8] = take(bytes, 8)?.try_into().map_err(|_| corrupt_journal())?;
            let len = usize::try_from(u64::from_be_bytes(len)).map_err(|_| corrupt_journal())?;
            take(bytes, len).map(<[u8]>::to_vec)
        }
        let mut writes = Writes::default();
        while !bytes.is_empty() {
            let tag = take(&mut bytes, 1)?;
            let key = take_chunk(&mut bytes)?;
            match tag {
                [1] => writes.insert(key, take_chunk(&mut bytes)?),
                [0] => writes.remove(key),
                _ => return Err(corrupt_journal()),
            }
        }
        Ok(writes)
    }

    /// Writes them to `tree` one by one.
    fn apply(self, tree: &sled::Tree) -> Result<(), StorageError> {
        for (key, value) in self.ops {
            match value {
                Some(value) => tree.insert(key, value),
                None => tree.remove(key),
            }
            .map_err(write_error)?;
        }
        Ok(())
    }
}

/// On open: writes the last batch's journal entry (if any) into the tree
/// as one atomic `sled::Batch`, then deletes it. The entry's writes may all
/// be in the tree already (then this rewrites the same values) or only a
/// first part of them (a crash mid-batch): either way the batch is whole
/// afterwards. Replaying twice (a crash before the delete) is harmless.
fn finish_last_batch(tree: &sled::Tree, journal: &sled::Tree) -> Result<(), StorageError> {
    let Some(entry) = journal.get(JOURNAL_KEY).map_err(read_error)? else {
        return Ok(());
    };
    let writes = Writes::from_journal_entry(&entry)?;
    let n = writes.ops.len();
    let mut batch = sled::Batch::default();
    for (key, value) in writes.ops {
        match value {
            Some(value) => batch.insert(key, value),
            None => batch.remove(key),
        }
    }
    tree.apply_batch(batch).map_err(write_error)?;
    journal.remove(JOURNAL_KEY).map_err(write_error)?;
    tracing::debug!(writes = n, "replayed the last batch from the sled journal");
    Ok(())
}

/// Upgrades a layout 2, 3 or 4 database (journal already replayed) to
/// layout 5 by setting the version. First, so that an older build, should
/// it be started again, refuses the database instead of trusting an index
/// that [`drop_old_keys`] has half deleted.
fn set_version(tree: &sled::Tree, from: &str) -> Result<(), StorageError> {
    tree.insert(FORMAT_KEY, FORMAT).map_err(write_error)?;
    tracing::info!("upgraded sled storage layout {from} -> 5");
    Ok(())
}

/// Deletes what older layouts kept and layout 5 does not: layout 2's
/// unfinished-run markers and layout 4's run index (in memory now), a
/// chunk of keys per `sled::Batch`. Runs on every open: after a crash
/// partway it finishes; otherwise it costs two seeks.
fn drop_old_keys(tree: &sled::Tree) -> Result<(), StorageError> {
    let mut removed = 0usize;
    for table in [T_UNFINISHED_V2, I_RUN_V4] {
        loop {
            let keys: Vec<sled::IVec> = tree
                .scan_prefix([table])
                .keys()
                .take(UPGRADE_CHUNK)
                .collect::<Result<_, _>>()
                .map_err(read_error)?;
            if keys.is_empty() {
                break;
            }
            removed += keys.len();
            let mut batch = sled::Batch::default();
            for key in keys {
                batch.remove(key);
            }
            tree.apply_batch(batch).map_err(write_error)?;
        }
    }
    if removed > 0 {
        tracing::info!(removed, "deleted the keys of older sled storage layouts");
    }
    Ok(())
}

/// The fields of a run record that its index entries carry.
#[derive(serde::Deserialize)]
struct RunIndexed {
    id: RunId,
    workspace: WorkspaceId,
    agent_id: AgentId,
    status: RunStatus,
}

/// Builds the run index from every run record.
fn run_index(tree: &sled::Tree) -> Result<IdIndex, StorageError> {
    let mut runs = IdIndex::default();
    let mut count = 0usize;
    for value in tree.scan_prefix([T_RUN]).values() {
        let run: RunIndexed = decode(&value.map_err(read_error)?, "run")?;
        runs.update(
            &[],
            &backend::run_entries_of(run.workspace, run.id, run.agent_id, run.status),
        );
        count += 1;
    }
    tracing::debug!(runs = count, "built the run index");
    Ok(runs)
}

fn poisoned() -> StorageError {
    StorageError::new(
        StorageErrorKind::Unavailable,
        "sled storage lock poisoned by a panicking thread",
    )
}

/// Reads, under the read lock.
struct Reader<'a> {
    tree: &'a sled::Tree,
    runs: &'a IdIndex,
}

impl Reader<'_> {
    fn record<T: DeserializeOwned>(
        &self,
        table: u8,
        id: u128,
        what: &str,
    ) -> Result<Option<T>, StorageError> {
        match self.tree.get(id_key(table, id)).map_err(read_error)? {
            None => Ok(None),
            Some(bytes) => decode(&bytes, what).map(Some),
        }
    }

    fn scoped<T: DeserializeOwned>(
        &self,
        table: u8,
        workspace: WorkspaceId,
        id: u128,
        what: &str,
        workspace_of: impl Fn(&T) -> WorkspaceId,
    ) -> Result<Option<T>, StorageError> {
        Ok(self
            .record::<T>(table, id, what)?
            .filter(|r| workspace_of(r) == workspace))
    }

    fn prefix<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
        what: &str,
    ) -> Result<Vec<T>, StorageError> {
        self.tree
            .scan_prefix(prefix)
            .values()
            .map(|v| decode(&v.map_err(read_error)?, what))
            .collect()
    }

    /// The index range of `page` of the list `scan`: after the cursor's
    /// record, which must be a `table` record of `workspace`. `None`: the
    /// cursor is the largest id there is, nothing comes after it.
    fn page_bounds<T: DeserializeOwned>(
        &self,
        table: u8,
        workspace: WorkspaceId,
        scan: IndexKey,
        page: PageRequest,
        what: &str,
        workspace_of: impl Fn(&T) -> WorkspaceId,
    ) -> Result<Option<(IndexKey, IndexKey)>, StorageError> {
        let after = match page.cursor() {
            None => None,
            Some(cursor) => {
                let id = backend::cursor_id(cursor);
                if self
                    .scoped::<T>(table, workspace, id, what, &workspace_of)?
                    .is_none()
                {
                    return Err(backend::foreign_cursor(cursor, what));
                }
                Some(id)
            }
        };
        Ok(scan.range_after(after))
    }

    #[allow(clippy::too_many_arguments)]
    fn page<T: DeserializeOwned>(
        &self,
        table: u8,
        index: u8,
        workspace: WorkspaceId,
        scan: IndexKey,
        page: PageRequest,
        what: &str,
        id_of: impl Fn(&T) -> u128,
        workspace_of: impl Fn(&T) -> WorkspaceId,
    ) -> Result<Page<T>, StorageError> {
        let Some((low, high)) =
            self.page_bounds(table, workspace, scan, page, what, workspace_of)?
        else {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        };
        let mut items = Vec::with_capacity(page.limit() + 1);
        let range = index_key(index, &low)..=index_key(index, &high);
        for entry in self.tree.range(range).keys().take(page.limit() + 1) {
            let key = entry.map_err(read_error)?;
            let id = index_key_id(&key).ok_or_else(|| {
                StorageError::new(StorageErrorKind::Read, format!("bad {what} index key"))
            })?;
            let record = self.record::<T>(table, id, what)?.ok_or_else(|| {
                StorageError::new(
                    StorageErrorKind::Read,
                    format!("{what} index names a missing record"),
                )
            })?;
            items.push(record);
        }
        Ok(backend::into_page(items, page, id_of))
    }
}

impl Reader<'_> {
    /// A page of runs, off the in-memory run index.
    fn run_page(
        &self,
        workspace: WorkspaceId,
        scan: IndexKey,
        page: PageRequest,
    ) -> Result<Page<Run>, StorageError> {
        let Some((low, high)) =
            self.page_bounds(T_RUN, workspace, scan, page, "run", |r: &Run| r.workspace)?
        else {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        };
        let mut items = Vec::with_capacity(page.limit() + 1);
        for id in self.runs.range(low, high).take(page.limit() + 1) {
            items.push(self.run(id)?);
        }
        Ok(backend::into_page(items, page, |r: &Run| r.id.ulid().0))
    }

    /// Run `id`, which the run index names.
    fn run(&self, id: u128) -> Result<Run, StorageError> {
        self.record(T_RUN, id, "run")?.ok_or_else(|| {
            StorageError::new(StorageErrorKind::Read, "run index names a missing record")
        })
    }
}

#[async_trait]
impl Storage for SledStorage {
    async fn apply(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let inner = Arc::clone(&self.inner);
        off_worker(self.inner.block_in_place, move || {
            apply_batch(&inner, batch)
        })
        .await
    }

    async fn flush(&self) -> Result<(), StorageError> {
        // A blocking flush under the write lock, not `flush_async`: sled
        // 0.34's async flush can lose its wake-up and hang when it overlaps
        // concurrent batches (sled issues #1241, #1308, #1412). Keeping our
        // own writes out while it runs costs one fsync of write latency.
        let inner = Arc::clone(&self.inner);
        off_worker(self.inner.block_in_place, move || {
            let _guard = inner.lock.write().map_err(|_| poisoned())?;
            inner.db.flush().map(drop).map_err(write_error)
        })
        .await
    }

    async fn get_workspace(&self, id: WorkspaceId) -> Result<Workspace, StorageError> {
        self.blocking(move |r| {
            r.record(T_WORKSPACE, id.ulid().0, "workspace")?
                .ok_or_else(|| StorageError::not_found(format!("workspace {id}")))
        })
        .await
    }

    async fn list_workspaces(&self) -> Result<Vec<Workspace>, StorageError> {
        self.blocking(|r| r.prefix(&[T_WORKSPACE], "workspace"))
            .await
    }

    async fn get_api_key_by_hash(
        &self,
        hash: &KeyHash,
    ) -> Result<Option<ApiKeyRecord>, StorageError> {
        let key = hash_key(hash);
        self.blocking(move |r| match r.tree.get(key).map_err(read_error)? {
            None => Ok(None),
            Some(id) => r.record(T_API_KEY, decode_id(&id)?, "api key"),
        })
        .await
    }

    async fn list_api_keys(
        &self,
        workspace: Option<WorkspaceId>,
    ) -> Result<Vec<ApiKeyRecord>, StorageError> {
        self.blocking(move |r| {
            let all: Vec<ApiKeyRecord> = r.prefix(&[T_API_KEY], "api key")?;
            Ok(all
                .into_iter()
                .filter(|k| workspace.is_none_or(|ws| k.workspace == ws))
                .collect())
        })
        .await
    }

    async fn get_agent(&self, workspace: WorkspaceId, id: AgentId) -> Result<Agent, StorageError> {
        self.blocking(move |r| {
            r.scoped(T_AGENT, workspace, id.ulid().0, "agent", |a: &Agent| {
                a.workspace
            })?
            .ok_or_else(|| StorageError::not_found(format!("agent {id}")))
        })
        .await
    }

    async fn list_agents(
        &self,
        workspace: WorkspaceId,
        filter: &AgentFilter,
        page: PageRequest,
    ) -> Result<Page<Agent>, StorageError> {
        let scan = backend::agent_scan(workspace, filter);
        self.blocking(move |r| {
            r.page(
                T_AGENT,
                I_AGENT,
                workspace,
                scan,
                page,
                "agent",
                |a: &Agent| a.id.ulid().0,
                |a: &Agent| a.workspace,
            )
        })
        .await
    }

    async fn get_run(&self, workspace: WorkspaceId, id: RunId) -> Result<Run, StorageError> {
        self.blocking(move |r| {
            r.scoped(T_RUN, workspace, id.ulid().0, "run", |x: &Run| x.workspace)?
                .ok_or_else(|| StorageError::not_found(format!("run {id}")))
        })
        .await
    }

    async fn list_runs(
        &self,
        workspace: WorkspaceId,
        filter: &RunFilter,
        page: PageRequest,
    ) -> Result<Page<Run>, StorageError> {
        let scan = backend::run_scan(workspace, filter);
        self.blocking(move |r| r.run_page(workspace, scan, page))
            .await
    }

    async fn list_unfinished_runs(&self) -> Result<Vec<Run>, StorageError> {
        self.blocking(|r| {
            // Every workspace's `queued` and `running` entries.
            let unfinished = [RunStatus::Queued, RunStatus::Running].map(backend::run_status_byte);
            let mut ids: Vec<u128> = r
                .runs
                .prefixes()
                .filter(|(prefix, _)| {
                    prefix.mask == backend::MASK_STATUS && unfinished.contains(&prefix.status)
                })
                .flat_map(|(_, ids)| ids.iter_from(0))
                .collect();
            ids.sort_unstable();
            ids.into_iter().map(|id| r.run(id)).collect()
        })
        .await
    }

    async fn get_step_records(
        &self,
        workspace: WorkspaceId,
        run: RunId,
    ) -> Result<Vec<StepRecord>, StorageError> {
        self.blocking(move |r| {
            if r.scoped(T_RUN, workspace, run.ulid().0, "run", |x: &Run| x.workspace)?
                .is_none()
            {
                return Err(StorageError::not_found(format!("run {run}")));
            }
            r.prefix(&step_key(run, 0)[..17], "step record")
        })
        .await
    }

    async fn get_escalation(
        &self,
        workspace: WorkspaceId,
        id: EscalationId,
    ) -> Result<Escalation, StorageError> {
        self.blocking(move |r| {
            r.scoped(
                T_ESCALATION,
                workspace,
                id.ulid().0,
                "escalation",
                |e: &Escalation| e.workspace,
            )?
            .ok_or_else(|| StorageError::not_found(format!("escalation {id}")))
        })
        .await
    }

    async fn list_escalations(
        &self,
        workspace: WorkspaceId,
        filter: &EscalationFilter,
        page: PageRequest,
    ) -> Result<Page<Escalation>, StorageError> {
        let scan = backend::escalation_scan(workspace, filter);
        self.blocking(move |r| {
            r.page(
                T_ESCALATION,
                I_ESCALATION,
                workspace,
                scan,
                page,
                "escalation",
                |e: &Escalation| e.id.ulid().0,
                |e: &Escalation| e.workspace,
            )
        })
        .await
    }

    async fn list_events(
        &self,
        workspace: WorkspaceId,
        filter: &EventFilter,
        page: PageRequest,
    ) -> Result<Page<Event>, StorageError> {
        let scan = backend::event_scan(workspace, filter);
        self.blocking(move |r| {
            r.page(
                T_EVENT,
                I_EVENT,
                workspace,
                scan,
                page,
                "event",
                |e: &Event| e.id.ulid().0,
                |e: &Event| e.workspace,
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::Writes;
    use proptest::prelude::*;

    fn ops() -> impl Strategy<Value = Vec<(Vec<u8>, Option<Vec<u8>>)>> {
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..40),
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
            ),
            0..12,
        )
    }

    proptest! {
        /// A journal entry reads back as the writes it was made of; a
        /// cut-short one is an error or a shorter prefix of them (sled
        /// stores the entry whole, so this is only about never panicking).
        #[test]
        fn journal_entries_round_trip(ops in ops(), cut in any::<prop::sample::Index>()) {
            let entry = Writes { ops: ops.clone() }.journal_entry();
            prop_assert_eq!(Writes::from_journal_entry(&entry).unwrap().ops, ops.clone());
            if !entry.is_empty() {
                let cut = cut.index(entry.len());
                if let Ok(read) = Writes::from_journal_entry(&entry[..cut]) {
                    prop_assert!(read.ops.len() < ops.len());
                    prop_assert_eq!(&read.ops[..], &ops[..read.ops.len()]);
                }
            }
        }
    }
}
