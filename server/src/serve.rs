//! `nexwatt serve`: opens the data directory, builds the engine, makes the
//! first workspace and key on first start, serves the API and shuts down
//! gracefully on SIGINT / SIGTERM.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nexwatt_engine::connector::Catalog;
use nexwatt_engine::planner::Planner;
use nexwatt_engine::storage::{Storage, StorageError};
use nexwatt_engine::{Engine, EngineBuilder, EngineError};
use nexwatt_storage_sled::SledStorage;

use crate::api::{app, AppState, DEFAULT_BODY_LIMIT};
use crate::keys::{self, KeyError};
use crate::ratelimit::{WorkspaceRateLimiter, DEFAULT_REQUESTS_PER_MINUTE};

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "./nexwatt-data";

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Another process (a running server) holds the data directory.
    #[error("the data directory {0} is in use by another process: a Nexwatt server is running on it (stop it first, or use another --data-dir)")]
    DataDirInUse(PathBuf),
    /// Storage failed to open or work.
    #[error("storage error in {dir}: {source}")]
    Storage {
        /// The data directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: StorageError,
    },
    /// The connector catalog did not load.
    #[error("connector catalog: {0}")]
    Catalog(String),
    /// The live connectors' configuration (environment) is invalid.
    #[error("live connector configuration: {0}")]
    LiveConfig(String),
    /// The engine failed to build or stop.
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    /// Making the first key failed.
    #[error("API keys: {0}")]
    Keys(#[from] KeyError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

impl ServeError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::DataDirInUse(_) => "data_dir_in_use",
            Self::Storage { .. } => "storage",
            Self::Catalog(_) => "catalog",
            Self::LiveConfig(_) => "live_config",
            Self::Engine(_) => "engine",
            Self::Keys(_) => "keys",
            Self::Bind { .. } => "bind",
            Self::Io(_) => "io",
        }
    }
}

fn is_lock_error(err: &StorageError) -> bool {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(&s.to_string());
        source = s.source();
    }
    let text = text.to_ascii_lowercase();
    text.contains("acquire lock")
        || text.contains("resource temporarily unavailable")
        || text.contains("wouldblock")
        || text.contains("would block")
}

/// Opens the sled storage in `dir`, saying clearly when a running server
/// holds it.
pub async fn open_storage(dir: &Path) -> Result<Arc<SledStorage>, ServeError> {
    match SledStorage::open(dir).await {
        Ok(s) => Ok(Arc::new(s)),
        Err(e) if is_lock_error(&e) => Err(ServeError::DataDirInUse(dir.to_path_buf())),
        Err(source) => Err(ServeError::Storage {
            dir: dir.to_path_buf(),
            source,
        }),
    }
}

/// The connector catalog, the sandbox + live registry and the
/// deterministic planner, over `storage`: the engine `serve` runs.
pub async fn build_engine(
    storage: Arc<dyn Storage>,
    sandbox_seed: u64,
) -> Result<Engine, ServeError> {
    let catalog: Catalog = nexwatt_connectors::catalog()
        .map_err(|e| ServeError::Catalog(e.to_string()))?
        .clone();
    let catalog = Arc::new(catalog);
    let live_config = nexwatt_connectors::live::LiveConfig::from_env()
        .map_err(|e| ServeError::LiveConfig(e.to_string()))?;
    let live = nexwatt_connectors::live::live_clients(&live_config);
    let registry = nexwatt_connectors::sandbox::Sandboxes::new(sandbox_seed).registry(live);
    let planner: Arc<dyn Planner> =
        Arc::new(nexwatt_engine::planner::DeterministicPlanner::new(&catalog));
    Ok(EngineBuilder::new(storage, registry, planner, catalog)
        .build()
        .await?)
}

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The sled data directory.
    pub data_dir: PathBuf,
    /// Requests per minute per workspace.
    pub rate_limit: NonZeroU32,
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// Seed of the sandboxes' simulated data.
    pub sandbox_seed: u64,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            rate_limit: NonZeroU32::new(DEFAULT_REQUESTS_PER_MINUTE).unwrap_or(NonZeroU32::MIN),
            body_limit: DEFAULT_BODY_LIMIT,
            sandbox_seed: 42,
        }
    }
}

/// Installs the SIGINT / SIGTERM handlers now (so a signal that arrives
/// right after the server says it is listening is not lost) and returns a
/// future that completes on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {},
                        _ = term.recv() => {},
                    }
                }
                (int, term) => {
                    if let Err(e) = int.and(term) {
                        tracing::error!(error = %e, "cannot listen for SIGINT/SIGTERM; falling back to Ctrl-C");
                    }
                    if let Err(e) = tokio::signal::ctrl_c().await {
                        tracing::error!(error = %e, "cannot listen for Ctrl-C either");
                        std::future::pending::<()>().await;
                    }
                }
            }
            tracing::info!("shutdown signal received; finishing in-flight requests and steps");
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown signal received; finishing in-flight requests and steps");
    }
}

/// Runs the server until SIGINT or SIGTERM. On first start (an empty data
/// directory) creates the `default` workspace and an API key and prints the
/// key once on stdout.
pub async fn run(options: ServeOptions) -> Result<(), ServeError> {
    std::fs::create_dir_all(&options.data_dir)?;
    let storage = open_storage(&options.data_dir).await?;
    // Bind before anything starts: a server that cannot listen exits
    // before it resumes runs or makes a key.
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: options.listen,
            source,
        })?;
    let dyn_storage: Arc<dyn Storage> = storage.clone();
    if let Some(new) = keys::bootstrap(dyn_storage.as_ref()).await? {
        println!(
            "First start: created workspace {:?} ({}) and API key {}.\n\n    {}\n\nThis key is shown only once; keep it (export NEXWATT_API_KEY={}).",
            new.workspace.name, new.workspace.id, new.record.id, new.secret, new.secret
        );
    }
    let engine = build_engine(dyn_storage, options.sandbox_seed).await?;
    let mut state = AppState::new(
        engine.clone(),
        WorkspaceRateLimiter::per_minute(options.rate_limit),
    );
    state.body_limit = options.body_limit;
    let local = listener.local_addr()?;
    let shutdown = shutdown_signal();
    println!(
        "Nexwatt listening on http://{local}/v1 (data: {}, rate limit {}/min per workspace)",
        options.data_dir.display(),
        options.rate_limit
    );
    tracing::info!(%local, "listening");
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await;
    let stopped = engine.shutdown().await;
    served?;
    stopped?;
    println!("Nexwatt stopped; in-flight steps committed and storage flushed.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexwatt_engine::storage::StorageErrorKind;

    #[test]
    fn sled_lock_errors_are_recognised() {
        let e = StorageError::new(
            StorageErrorKind::Unavailable,
            "could not acquire lock on \"./nexwatt-data/db\": Os { code: 11, kind: WouldBlock, message: \"Resource temporarily unavailable\" }",
        );
        assert!(is_lock_error(&e));
        let other = StorageError::new(StorageErrorKind::Read, "corrupted page");
        assert!(!is_lock_error(&other));
    }
}
