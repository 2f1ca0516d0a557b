//! The `nexwatt` binary: plan, connectors, keys, serve, and the client
//! commands against a served data directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

const SEED: &str = "When a new invoice is marked paid in QuickBooks, update the matching deal in HubSpot to Closed Won and notify the account owner in Slack.";

fn nexwatt() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nexwatt"));
    for var in [
        "NEXWATT_DATA_DIR",
        "NEXWATT_LISTEN",
        "NEXWATT_URL",
        "NEXWATT_API_KEY",
        "NEXWATT_RATE_LIMIT",
    ] {
        c.env_remove(var);
    }
    c
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn plan_prints_the_seed_plan_for_a_person() {
    let o = run(nexwatt().args(["plan", SEED]));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o).to_lowercase();
    for word in ["quickbooks", "hubspot", "slack"] {
        assert!(out.contains(word), "{word} missing from:\n{out}");
    }
    assert!(out.contains("flag"), "flags not shown:\n{out}");
}

#[test]
fn plan_refuses_empty_and_too_long_descriptions() {
    let empty = run(nexwatt().args(["plan", "   "]));
    assert!(!empty.status.success());
    let long = "a".repeat(2001);
    let too_long = run(nexwatt().args(["plan", &long]));
    assert!(!too_long.status.success());
    assert!(
        (stdout(&too_long) + &stderr(&too_long)).contains("invalid_request"),
        "{}{}",
        stdout(&too_long),
        stderr(&too_long)
    );
}

#[test]
fn plan_jsonl_writes_one_plan_json_line_per_description() {
    let mut child = nexwatt()
        .args(["plan", "--jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = format!(
        "{}\n{}\n",
        serde_json::json!({"id": "seed", "description": SEED}),
        serde_json::json!({"id": "fox", "description": "The quick brown fox jumps over the lazy dog."}),
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], "seed");
    let steps = lines[0]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    assert_eq!(steps.iter().filter(|s| s["flagged"] == true).count(), 1);
    assert_eq!(lines[1]["id"], "fox");
    assert_eq!(lines[1]["error"]["code"], "description_unrecognized");
}

#[test]
fn connectors_json_matches_the_catalog() {
    let o = run(nexwatt().args(["connectors", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let listed = v.as_array().unwrap();
    let catalog = nexwatt_connectors::catalog().unwrap();
    assert_eq!(listed.len(), catalog.connectors().len());
    for (json, manifest) in listed.iter().zip(catalog.connectors()) {
        assert_eq!(json["id"], manifest.id.as_str());
        assert!(json["name"].is_string());
        let ops = json["operations"].as_array().unwrap();
        assert_eq!(ops.len(), manifest.operations.len());
        for op in ops {
            assert!(op["id"].is_string() && op["kind"].is_string() && op["effect"].is_string());
        }
    }
    let table = run(nexwatt().arg("connectors"));
    assert!(table.status.success());
    assert!(stdout(&table).contains("quickbooks"));
}

#[test]
fn keys_create_list_revoke_on_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let created = run(nexwatt().env("NEXWATT_DATA_DIR", &data).args([
        "keys",
        "create",
        "--workspace",
        "acme",
        "--json",
    ]));
    assert!(created.status.success(), "{}", stderr(&created));
    let v: Value = serde_json::from_slice(&created.stdout).unwrap();
    let secret = v["api_key"].as_str().unwrap().to_string();
    assert!(secret.starts_with("nxwt_live_") && secret.len() >= 10 + 32);
    assert_eq!(v["workspace"], "acme");
    assert_eq!(v["workspace_created"], true);
    let key_id = v["key_id"].as_str().unwrap().to_string();

    // A second key for the same workspace, by id, via --data-dir.
    let ws_id = v["workspace_id"].as_str().unwrap().to_string();
    let second = run(nexwatt().args(["--data-dir"]).arg(&data).args([
        "keys",
        "create",
        "--workspace",
        &ws_id,
    ]));
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(stdout(&second).contains("nxwt_live_"));
    assert!(!stdout(&second).contains("Created workspace"));

    let listed = run(nexwatt()
        .env("NEXWATT_DATA_DIR", &data)
        .args(["keys", "list"]));
    assert!(listed.status.success());
    let table = stdout(&listed);
    assert!(table.contains(&key_id) && table.contains("acme"));
    assert!(!table.contains(&secret), "the secret is never shown again");

    let revoked = run(nexwatt()
        .env("NEXWATT_DATA_DIR", &data)
        .args(["keys", "revoke", &key_id]));
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let again = run(nexwatt()
        .env("NEXWATT_DATA_DIR", &data)
        .args(["keys", "revoke", &key_id]));
    assert!(!again.status.success());
    let json = run(nexwatt()
        .env("NEXWATT_DATA_DIR", &data)
        .args(["keys", "list", "--json"]));
    let keys: Value = serde_json::from_slice(&json.stdout).unwrap();
    let k = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == key_id.as_str())
        .unwrap();
    assert!(k["revoked_at"].is_string());
    let unknown = run(nexwatt().env("NEXWATT_DATA_DIR", &data).args([
        "keys",
        "revoke",
        "key_01J8K3N0P1Q2R3S4T5V6V7W8XY",
    ]));
    assert!(!unknown.status.success());
}

struct Served {
    child: Child,
    url: String,
    key: String,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

/// Starts `nexwatt serve` on a free port and reads, from its stdout, the
/// first-start key and the address it listens on.
fn serve(data: &std::path::Path) -> Served {
    let mut child = nexwatt()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut key = String::new();
    let url = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .unwrap();
        if let Some(k) = line
            .split_whitespace()
            .find(|w| w.starts_with("nxwt_live_"))
        {
            key = k.trim_end_matches(['.', ')']).to_string();
        }
        if let Some(rest) = line.strip_prefix("Nexwatt listening on ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches("/v1")
                .to_string();
        }
    };
    Served {
        child,
        url,
        key,
        lines,
    }
}

fn terminate(mut s: Served) -> String {
    let pid = s.child.id().to_string();
    // The shell's own `kill`: no procps needed.
    assert!(Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .unwrap()
        .success());
    let status = s.child.wait().unwrap();
    let rest: Vec<String> = s.lines.by_ref().map_while(Result::ok).collect();
    assert!(status.success(), "serve exited with {status}");
    rest.join("\n")
}

#[test]
fn serve_prints_a_key_once_keys_refuse_while_it_runs_and_clients_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = serve(&data);
    assert!(
        served.key.starts_with("nxwt_live_"),
        "first start prints a key"
    );

    // keys cannot open the data directory while the server holds it.
    let busy = run(nexwatt()
        .env("NEXWATT_DATA_DIR", &data)
        .args(["keys", "list"]));
    assert!(!busy.status.success());
    assert!(
        stderr(&busy).contains("server is running"),
        "{}",
        stderr(&busy)
    );

    let client = |args: &[&str]| {
        let o = run(nexwatt()
            .env("NEXWATT_URL", &served.url)
            .env("NEXWATT_API_KEY", &served.key)
            .args(args));
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    let created: Value = serde_json::from_str(&client(&[
        "agents",
        "create",
        "--name",
        "invoice-sync-v1",
        "--description",
        SEED,
        "--connector",
        "quickbooks",
        "--connector",
        "hubspot",
        "--connector",
        "slack",
        "--confidence-threshold",
        "0.7",
        "--json",
    ]))
    .unwrap();
    assert_eq!(created["steps_extracted"], 5);
    let agent = created["agent_id"].as_str().unwrap();
    assert!(client(&["agents", "list"]).contains("invoice-sync-v1"));
    assert!(client(&["agents", "show", agent]).contains("FLAGGED"));
    let run_out: Value = serde_json::from_str(&client(&[
        "runs", "start", agent, "--mode", "test", "--json",
    ]))
    .unwrap();
    let run_id = run_out["run_id"].as_str().unwrap();
    assert!(client(&["runs", "list"]).contains(run_id));
    assert!(client(&["runs", "show", run_id]).contains(run_id));
    let escs: Value = serde_json::from_str(&client(&["escalations", "list", "--json"])).unwrap();
    assert!(escs["escalations"].is_array());
    assert!(client(&["agents", "activate", agent]).contains("active"));
    assert!(client(&["agents", "pause", agent]).contains("paused"));

    // Errors from the server are reported with their code.
    let bad = run(nexwatt()
        .env("NEXWATT_URL", &served.url)
        .env("NEXWATT_API_KEY", "nxwt_live_wrong")
        .args(["agents", "list"]));
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("unauthorized"), "{}", stderr(&bad));

    // SIGTERM: a clean stop.
    let tail = terminate(served);
    assert!(tail.contains("stopped"), "{tail}");

    // The second start finds the workspace and prints no new key; keys
    // work again now that the server is stopped.
    let listed = run(nexwatt()
        .env("NEXWATT_DATA_DIR", &data)
        .args(["keys", "list", "--json"]));
    assert!(listed.status.success(), "{}", stderr(&listed));
    let keys: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["workspace"], "default");
    let again = serve(&data);
    assert!(
        again.key.is_empty(),
        "the key is printed only on first start"
    );
    terminate(again);
}

#[test]
fn client_commands_without_a_server_or_key_say_why() {
    let no_key = run(nexwatt().args(["agents", "list"]));
    assert!(!no_key.status.success());
    assert!(stderr(&no_key).contains("NEXWATT_API_KEY"));
    let no_server = run(nexwatt()
        .env("NEXWATT_URL", "http://127.0.0.1:9")
        .env("NEXWATT_API_KEY", "nxwt_live_x")
        .args(["runs", "list"]));
    assert!(!no_server.status.success());
    assert!(
        stderr(&no_server).contains("cannot reach"),
        "{}",
        stderr(&no_server)
    );
}

#[test]
fn serve_on_a_busy_port_exits_with_a_clear_error_and_makes_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = run(nexwatt()
        .env("NEXWATT_DATA_DIR", &data)
        .env("NEXWATT_LISTEN", &addr)
        .arg("serve"));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot listen on"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("nxwt_live_"));
    let listed = run(nexwatt()
        .env("NEXWATT_DATA_DIR", &data)
        .args(["keys", "list", "--json"]));
    assert!(listed.status.success(), "{}", stderr(&listed));
    let keys: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(keys.as_array().unwrap().is_empty());
}
