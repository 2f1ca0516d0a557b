//! The README's curl session, executed request by request against a real
//! server on loopback: what the quick start tells a user to type works.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;

use common::TestServer;
use reqwest::Method;
use serde_json::Value;

/// One `curl` command of the session.
#[derive(Debug)]
struct Curl {
    assign: Option<String>,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    jq: Option<String>,
}

/// Splits a shell line into words, honouring '…' and "…" quoting.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

fn session() -> (Vec<Curl>, HashMap<String, String>) {
    let readme = include_str!("../../README.md");
    let block = readme
        .split("```sh")
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.contains("BASE=") && b.contains("curl"))
        .expect("the quick start's curl session");
    let mut logical = Vec::new();
    let mut cur = String::new();
    for line in block.lines() {
        let line = line.split(" #").next().unwrap_or(line);
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        if let Some(stripped) = trimmed.strip_suffix('\\') {
            cur.push_str(stripped);
            cur.push(' ');
        } else {
            cur.push_str(trimmed);
            logical.push(std::mem::take(&mut cur));
        }
    }
    let mut vars = HashMap::new();
    let mut commands = Vec::new();
    for line in logical {
        let (assign, rest) = match line.split_once("=$(") {
            Some((name, rest)) if !name.contains(' ') => (
                Some(name.to_string()),
                rest.trim_end().trim_end_matches(')').to_string(),
            ),
            _ => (None, line.clone()),
        };
        let (cmd, jq) = match rest.split_once("| jq -r") {
            Some((c, j)) => (c.to_string(), Some(words(j.trim())[0].clone())),
            None => (rest.clone(), None),
        };
        let w = words(&cmd);
        if w.first().map(String::as_str) == Some("export") {
            let (k, v) = w[1].split_once('=').unwrap();
            vars.insert(k.to_string(), v.to_string());
            continue;
        }
        if w.first().map(String::as_str) != Some("curl") {
            if let Some((k, v)) = cmd.trim().split_once('=') {
                vars.insert(k.to_string(), v.to_string());
            }
            continue;
        }
        let mut c = Curl {
            assign,
            method: Method::GET,
            url: String::new(),
            headers: Vec::new(),
            body: None,
            jq,
        };
        let mut i = 1;
        while i < w.len() {
            match w[i].as_str() {
                "-s" => {}
                "-X" => {
                    i += 1;
                    c.method = w[i].parse().unwrap();
                }
                "-H" => {
                    i += 1;
                    let (k, v) = w[i].split_once(':').unwrap();
                    c.headers.push((k.trim().to_string(), v.trim().to_string()));
                }
                "-d" => {
                    i += 1;
                    c.body = Some(w[i].clone());
                }
                other => c.url = other.to_string(),
            }
            i += 1;
        }
        commands.push(c);
    }
    (commands, vars)
}

fn expand(s: &str, vars: &HashMap<String, String>) -> String {
    let mut out = s.to_string();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        out = out.replace(&format!("${name}"), &vars[name]);
    }
    out
}

/// `.a.b[0].c` over a JSON value.
fn jq(v: &Value, path: &str) -> Value {
    let mut node = v.clone();
    for part in path.trim_start_matches('.').split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, i)) => (n, Some(i.trim_end_matches(']').parse::<usize>().unwrap())),
            None => (part, None),
        };
        if !name.is_empty() {
            node = node[name].clone();
        }
        if let Some(i) = index {
            node = node[i].clone();
        }
    }
    node
}

#[tokio::test]
async fn the_readme_curl_session_walks_the_seed_example() {
    let s = TestServer::start().await;
    let (commands, mut vars) = session();
    assert!(commands.len() >= 7, "parsed {commands:?}");
    vars.insert("NEXWATT_API_KEY".into(), s.a.key.clone());
    vars.insert("BASE".into(), format!("{}/v1", s.base));

    let mut last = Value::Null;
    for c in &commands {
        let url = expand(&c.url, &vars);
        let path = url.trim_start_matches(&s.base).to_string();
        let mut req = s.http.request(c.method.clone(), &url);
        for (k, v) in &c.headers {
            req = req.header(k, expand(v, &vars));
        }
        if let Some(b) = &c.body {
            req = req.body(expand(b, &vars));
        }
        let answer = s.send(req).await;
        assert!(
            answer.status.is_success(),
            "{} {path}: {} {}",
            c.method,
            answer.status,
            answer.body
        );
        if let Some(t) = common::route_template(&c.method, &path) {
            common::check_response(&c.method, &t, answer.status, &answer.body);
        }
        if let (Some(name), Some(path)) = (&c.assign, &c.jq) {
            let v = jq(&answer.body, path);
            let v = v
                .as_str()
                .unwrap_or_else(|| panic!("{path} of {}", answer.body));
            vars.insert(name.clone(), v.to_string());
        }
        if c.method == Method::POST && path.ends_with("/agents") {
            assert_eq!(answer.body["steps_extracted"], 5);
            assert_eq!(answer.body["steps_flagged"], 1);
        }
        // A person types slower than the runner: let the run settle
        // (awaiting review, or done) before the next command.
        if let Some(run) = vars.get("RUN") {
            let id = run.parse().unwrap();
            s.engine.wait_for_run(s.a.workspace, id).await.unwrap();
        }
        last = answer.body;
    }
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["steps_completed"], 5);
}
