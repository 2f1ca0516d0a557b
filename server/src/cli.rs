//! The `nexwatt` command line: `serve`, `keys`, `plan`, `connectors`, and
//! `agents` / `runs` / `escalations` as clients of a running server.

use std::io::Write as _;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{self, Client, ClientError};
use crate::dto::{
    AgentDetail, AgentList, AgentSummary, EscalationList, EscalationView, RunDetailView, RunList,
    RunSummary,
};
use crate::keys;
use crate::serve::{self, ServeError, ServeOptions, DEFAULT_DATA_DIR, DEFAULT_LISTEN};

/// Nexwatt, the workflow-automation engine: its REST server and command line.
#[derive(Debug, Parser)]
#[command(name = "nexwatt", version, about, propagate_version = true)]
pub struct Cli {
    /// The sled data directory (used by `serve` and `keys`).
    #[arg(long, global = true, env = "NEXWATT_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the /v1 REST API.
    Serve(ServeArgs),
    /// Manage API keys (works on the data directory while the server is stopped).
    Keys {
        /// What to do with keys.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Plan a description and print the plan (or plan JSON lines from stdin with --jsonl).
    Plan(PlanArgs),
    /// List the connector catalog.
    Connectors {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Agents on a running server.
    Agents {
        /// Server and output options.
        #[command(flatten)]
        remote: Remote,
        /// What to do with agents.
        #[command(subcommand)]
        command: AgentsCommand,
    },
    /// Runs on a running server.
    Runs {
        /// Server and output options.
        #[command(flatten)]
        remote: Remote,
        /// What to do with runs.
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// Escalations on a running server.
    Escalations {
        /// Server and output options.
        #[command(flatten)]
        remote: Remote,
        /// What to do with escalations.
        #[command(subcommand)]
        command: EscalationsCommand,
    },
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "NEXWATT_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Requests per minute per workspace.
    #[arg(long, env = "NEXWATT_RATE_LIMIT", default_value_t = crate::ratelimit::DEFAULT_REQUESTS_PER_MINUTE)]
    pub rate_limit: u32,
    /// Largest request body in bytes.
    #[arg(long, env = "NEXWATT_BODY_LIMIT", default_value_t = crate::api::DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
    /// Seed of the sandboxes' simulated data (test runs).
    #[arg(long, env = "NEXWATT_SANDBOX_SEED", default_value_t = 42)]
    pub sandbox_seed: u64,
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a key (a new workspace name makes a new workspace) and print it once.
    Create {
        /// Workspace name or id (ws_…).
        #[arg(long, default_value = keys::DEFAULT_WORKSPACE)]
        workspace: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id (key_…).
    Revoke {
        /// The key id.
        id: String,
    },
}

/// `plan` options.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The description to plan.
    #[arg(required_unless_present = "jsonl", conflicts_with = "jsonl")]
    pub description: Option<String>,
    /// Read {"id","description"} JSON lines on stdin, write plan JSON lines on stdout.
    #[arg(long)]
    pub jsonl: bool,
}

/// Where the server is and how to print.
#[derive(Debug, Args)]
pub struct Remote {
    /// The server's base URL.
    #[arg(
        long,
        global = true,
        env = "NEXWATT_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// The API key.
    #[arg(long, global = true, env = "NEXWATT_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Page options.
#[derive(Debug, Args)]
pub struct PageArgs {
    /// Results per page (1..=100).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    #[arg(long)]
    pub cursor: Option<String>,
}

/// `agents` subcommands.
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// List agents.
    List {
        /// draft, active or paused.
        #[arg(long)]
        status: Option<String>,
        /// Paging.
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show an agent and its plan.
    Show {
        /// The agent id.
        id: String,
    },
    /// Create an agent from a description.
    Create {
        /// Its name.
        #[arg(long)]
        name: String,
        /// The plain-language description.
        #[arg(long)]
        description: String,
        /// A connector it may use (repeat).
        #[arg(long = "connector")]
        connectors: Vec<String>,
        /// Confidence threshold in [0, 1].
        #[arg(long)]
        confidence_threshold: Option<f64>,
    },
    /// Activate an agent.
    Activate {
        /// The agent id.
        id: String,
    },
    /// Pause an agent.
    Pause {
        /// The agent id.
        id: String,
    },
}

/// Run modes on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Real systems.
    Live,
    /// Simulated input, sandbox writes.
    Test,
}

/// `runs` subcommands.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs.
    List {
        /// Only this agent's runs.
        #[arg(long)]
        agent: Option<String>,
        /// A run status.
        #[arg(long)]
        status: Option<String>,
        /// Paging.
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a run and its step records.
    Show {
        /// The run id.
        id: String,
    },
    /// Start a run of an agent.
    Start {
        /// The agent id.
        agent: String,
        /// live or test.
        #[arg(long, value_enum, default_value = "test")]
        mode: ModeArg,
        /// Trigger input as a JSON object.
        #[arg(long)]
        input: Option<String>,
    },
}

/// Resolution actions on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ActionArg {
    /// Run the step again.
    Retry,
    /// Go on without it.
    Skip,
    /// Run the flagged step as planned.
    Approve,
    /// Fail the run.
    Abort,
    /// Mark ignored.
    Ignore,
}

/// `escalations` subcommands.
#[derive(Debug, Subcommand)]
pub enum EscalationsCommand {
    /// List escalations.
    List {
        /// open, resolved or ignored.
        #[arg(long)]
        status: Option<String>,
        /// Only this run's.
        #[arg(long)]
        run: Option<String>,
        /// Only this agent's.
        #[arg(long)]
        agent: Option<String>,
        /// Paging.
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one escalation.
    Show {
        /// The escalation id.
        id: String,
    },
    /// Resolve an escalation.
    Resolve {
        /// The escalation id.
        id: String,
        /// What to do.
        #[arg(long, value_enum)]
        action: ActionArg,
        /// A note for the audit trail.
        #[arg(long)]
        note: Option<String>,
        /// Edited step input (retry), JSON.
        #[arg(long)]
        input: Option<String>,
        /// Supplied step output (skip), JSON.
        #[arg(long)]
        output: Option<String>,
    },
}

/// A failed command: what to print, and the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server could not run.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// A key command failed.
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    /// A client command failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The plan was refused (invalid or unrecognised description).
    #[error("{0}")]
    Plan(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Parses the arguments, runs the command, prints errors and returns the
/// exit code (0 success, 1 failure, 2 usage).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NEXWATT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

fn print_json(v: &Value) {
    print(&format!(
        "{}\n",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    ));
}

fn parse_json_arg(what: &str, s: &str) -> Result<Value, CliError> {
    serde_json::from_str(s).map_err(|e| {
        CliError::Client(ClientError::Usage(format!(
            "--{what} is not valid JSON: {e}"
        )))
    })
}

fn page_query(page: &PageArgs, q: &mut Vec<(&'static str, String)>) {
    if let Some(l) = page.limit {
        q.push(("limit", l.to_string()));
    }
    if let Some(c) = &page.cursor {
        q.push(("cursor", c.clone()));
    }
}

/// Runs one parsed command.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let data_dir = cli.data_dir;
    match cli.command {
        Command::Serve(args) => {
            let rate_limit = NonZeroU32::new(args.rate_limit)
                .ok_or_else(|| CliError::Other("--rate-limit must be at least 1".into()))?;
            serve::run(ServeOptions {
                listen: args.listen,
                data_dir,
                rate_limit,
                body_limit: args.body_limit,
                sandbox_seed: args.sandbox_seed,
            })
            .await?;
            Ok(())
        }
        Command::Keys { command } => run_keys(&data_dir, command).await,
        Command::Plan(args) => run_plan(args).await,
        Command::Connectors { json } => {
            let catalog =
                nexwatt_connectors::catalog().map_err(|e| CliError::Other(e.to_string()))?;
            if json {
                let json = nexwatt_connectors::listing::catalog_json(catalog);
                print_json(&json);
            } else {
                print(&nexwatt_connectors::listing::catalog_table(catalog));
            }
            Ok(())
        }
        Command::Agents { remote, command } => run_agents(&remote, command).await,
        Command::Runs { remote, command } => run_runs(&remote, command).await,
        Command::Escalations { remote, command } => run_escalations(&remote, command).await,
    }
}

async fn run_keys(data_dir: &std::path::Path, command: KeysCommand) -> Result<(), CliError> {
    if !data_dir.exists() {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| CliError::Other(format!("cannot create {}: {e}", data_dir.display())))?;
    }
    let storage = serve::open_storage(data_dir).await?;
    let storage: Arc<dyn nexwatt_engine::storage::Storage> = storage;
    let result: Result<(), CliError> = match command {
        KeysCommand::Create { workspace, json } => {
            let new = keys::create_key(storage.as_ref(), &workspace).await?;
            if json {
                print_json(&json!({
                    "key_id": new.record.id,
                    "workspace_id": new.workspace.id,
                    "workspace": new.workspace.name,
                    "workspace_created": new.workspace_created,
                    "api_key": new.secret,
                }));
            } else {
                if new.workspace_created {
                    print(&format!(
                        "Created workspace {:?} ({}).\n",
                        new.workspace.name, new.workspace.id
                    ));
                }
                print(&format!(
                    "Created API key {} for workspace {:?} ({}). It is shown only once:\n\n    {}\n\n",
                    new.record.id, new.workspace.name, new.workspace.id, new.secret
                ));
            }
            Ok(())
        }
        KeysCommand::List { json } => {
            let list = keys::list_keys(storage.as_ref()).await?;
            if json {
                let v: Vec<Value> = list
                    .iter()
                    .map(|(k, ws)| {
                        json!({
                            "key_id": k.id,
                            "prefix": k.display_prefix,
                            "workspace_id": k.workspace,
                            "workspace": ws.as_ref().map(|w| w.name.clone()),
                            "created_at": crate::dto::timestamp(k.created_at),
                            "revoked_at": k.revoked_at.map(crate::dto::timestamp),
                        })
                    })
                    .collect();
                print_json(&Value::Array(v));
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|(k, ws)| {
                        vec![
                            k.id.to_string(),
                            format!("{}…", k.display_prefix),
                            ws.as_ref()
                                .map(|w| w.name.clone())
                                .unwrap_or_else(|| k.workspace.to_string()),
                            crate::dto::timestamp(k.created_at),
                            k.revoked_at
                                .map(crate::dto::timestamp)
                                .unwrap_or_else(|| "-".into()),
                        ]
                    })
                    .collect();
                print(&client::table(
                    &["key_id", "prefix", "workspace", "created_at", "revoked_at"],
                    &rows,
                ));
            }
            Ok(())
        }
        KeysCommand::Revoke { id } => {
            let k = keys::revoke_key(storage.as_ref(), &id).await?;
            print(&format!(
                "Revoked API key {} ({}…).\n",
                k.id, k.display_prefix
            ));
            Ok(())
        }
    };
    let flushed = storage.flush().await;
    result?;
    flushed.map_err(|e| CliError::Other(e.to_string()))
}

async fn run_plan(args: PlanArgs) -> Result<(), CliError> {
    use nexwatt_engine::planner::{DeterministicPlanner, PlanRequest, Planner};
    let catalog = nexwatt_connectors::catalog().map_err(|e| CliError::Other(e.to_string()))?;
    let planner = DeterministicPlanner::new(catalog);
    if args.jsonl {
        let stdin = std::io::stdin();
        let stdout = std::io::stdout();
        nexwatt_engine::planner::plan_jsonl(&planner, stdin.lock(), stdout.lock())
            .map_err(|e| CliError::Other(format!("plan --jsonl: {e}")))?;
        return Ok(());
    }
    let description = args.description.unwrap_or_default();
    let result = planner.plan(&PlanRequest::new(description.clone())).await;
    print(&nexwatt_engine::planner::render_text(&description, &result));
    match result {
        Ok(_) => Ok(()),
        Err(e) => Err(CliError::Plan(e.to_string())),
    }
}

async fn run_agents(remote: &Remote, command: AgentsCommand) -> Result<(), CliError> {
    let c = Client::new(&remote.url, remote.api_key.as_deref())?;
    let (value, text) = match command {
        AgentsCommand::List { status, page } => {
            let mut q = Vec::new();
            if let Some(s) = status {
                q.push(("status", s));
            }
            page_query(&page, &mut q);
            let v = c.call(Method::GET, "/agents", &q, None).await?;
            let t = client::render_agent_list(&client::decode::<AgentList>(&v)?);
            (v, t)
        }
        AgentsCommand::Show { id } => {
            let v = c
                .call(Method::GET, &format!("/agents/{id}"), &[], None)
                .await?;
            let t = client::render_agent_detail(&client::decode::<AgentDetail>(&v)?);
            (v, t)
        }
        AgentsCommand::Create {
            name,
            description,
            connectors,
            confidence_threshold,
        } => {
            let mut body =
                json!({"name": name, "description": description, "connectors": connectors});
            if let Some(t) = confidence_threshold {
                body["confidence_threshold"] = json!(t);
            }
            let v = c.call(Method::POST, "/agents", &[], Some(&body)).await?;
            let t = client::render_agent_summary(&client::decode::<AgentSummary>(&v)?);
            (v, t)
        }
        AgentsCommand::Activate { id } => {
            let v = c
                .call(Method::POST, &format!("/agents/{id}/activate"), &[], None)
                .await?;
            let t = client::render_agent_summary(&client::decode::<AgentSummary>(&v)?);
            (v, t)
        }
        AgentsCommand::Pause { id } => {
            let v = c
                .call(Method::POST, &format!("/agents/{id}/pause"), &[], None)
                .await?;
            let t = client::render_agent_summary(&client::decode::<AgentSummary>(&v)?);
            (v, t)
        }
    };
    output(remote, &value, &text);
    Ok(())
}

async fn run_runs(remote: &Remote, command: RunsCommand) -> Result<(), CliError> {
    let c = Client::new(&remote.url, remote.api_key.as_deref())?;
    let (value, text) = match command {
        RunsCommand::List {
            agent,
            status,
            page,
        } => {
            let mut q = Vec::new();
            if let Some(a) = agent {
                q.push(("agent_id", a));
            }
            if let Some(s) = status {
                q.push(("status", s));
            }
            page_query(&page, &mut q);
            let v = c.call(Method::GET, "/runs", &q, None).await?;
            let t = client::render_run_list(&client::decode::<RunList>(&v)?);
            (v, t)
        }
        RunsCommand::Show { id } => {
            let v = c
                .call(Method::GET, &format!("/runs/{id}"), &[], None)
                .await?;
            let t = client::render_run_detail(&client::decode::<RunDetailView>(&v)?);
            (v, t)
        }
        RunsCommand::Start { agent, mode, input } => {
            let input = match input {
                Some(s) => parse_json_arg("input", &s)?,
                None => json!({}),
            };
            let mode = match mode {
                ModeArg::Live => "live",
                ModeArg::Test => "test",
            };
            let body = json!({"mode": mode, "input": input});
            let v = c
                .call(
                    Method::POST,
                    &format!("/agents/{agent}/runs"),
                    &[],
                    Some(&body),
                )
                .await?;
            let t = client::render_run_summary(&client::decode::<RunSummary>(&v)?);
            (v, t)
        }
    };
    output(remote, &value, &text);
    Ok(())
}

async fn run_escalations(remote: &Remote, command: EscalationsCommand) -> Result<(), CliError> {
    let c = Client::new(&remote.url, remote.api_key.as_deref())?;
    let (value, text) = match command {
        EscalationsCommand::List {
            status,
            run,
            agent,
            page,
        } => {
            let mut q = Vec::new();
            if let Some(s) = status {
                q.push(("status", s));
            }
            if let Some(r) = run {
                q.push(("run_id", r));
            }
            if let Some(a) = agent {
                q.push(("agent_id", a));
            }
            page_query(&page, &mut q);
            let v = c.call(Method::GET, "/escalations", &q, None).await?;
            let t = client::render_escalation_list(&client::decode::<EscalationList>(&v)?);
            (v, t)
        }
        EscalationsCommand::Show { id } => {
            let v = c
                .call(Method::GET, &format!("/escalations/{id}"), &[], None)
                .await?;
            let t = client::render_escalation(&client::decode::<EscalationView>(&v)?);
            (v, t)
        }
        EscalationsCommand::Resolve {
            id,
            action,
            note,
            input,
            output,
        } => {
            let action = match action {
                ActionArg::Retry => "retry",
                ActionArg::Skip => "skip",
                ActionArg::Approve => "approve",
                ActionArg::Abort => "abort",
                ActionArg::Ignore => "ignore",
            };
            let mut body = json!({"action": action});
            if let Some(n) = note {
                body["resolution_note"] = json!(n);
            }
            if let Some(i) = input {
                body["input"] = parse_json_arg("input", &i)?;
            }
            if let Some(o) = output {
                body["output"] = parse_json_arg("output", &o)?;
            }
            let v = c
                .call(
                    Method::POST,
                    &format!("/escalations/{id}/resolve"),
                    &[],
                    Some(&body),
                )
                .await?;
            let t = client::render_escalation(&client::decode::<EscalationView>(&v)?);
            (v, t)
        }
    };
    output(remote, &value, &text);
    Ok(())
}

fn output(remote: &Remote, value: &Value, text: &str) {
    if remote.json {
        print_json(value);
    } else {
        print(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let cli = Cli::try_parse_from(["nexwatt", "serve"]).unwrap();
        match cli.command {
            Command::Serve(a) => {
                assert_eq!(a.listen.to_string(), "127.0.0.1:8080");
                assert_eq!(a.rate_limit, 300);
            }
            other => panic!("parsed {other:?}"),
        }
    }
}
