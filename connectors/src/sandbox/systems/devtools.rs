//! Jira (issues, comments, transitions), GitHub (issues, pull requests,
//! labels, comments, releases) and Zendesk (tickets and comments).

use nexwatt_engine::connector::ConnectorError;
use rand::Rng;
use serde_json::{json, Value};

use super::{canonical, nothing_to_change, pick_event, Call, Entity};
use crate::sandbox::input::resolve;
use crate::sandbox::store::{contains, exact, found, Key, System};
use crate::sandbox::world::{World, TEAM};

const JIRA_PROJECTS: &[&str] = &["OPS", "ENG", "SUP"];
/// Jira's workflow statuses.
pub(crate) const JIRA_STATUSES: &[&str] = &["To Do", "In Progress", "In Review", "Done"];
const JIRA_TYPES: &[&str] = &["Bug", "Task", "Story", "Epic"];
const JIRA_PRIORITIES: &[&str] = &["lowest", "low", "medium", "high", "highest"];
const ISSUE_KEY: &[Key] = &[exact("issue_key", &["key", "id"])];
const ISSUE: Entity = Entity {
    key: "issue",
    collection: "issues",
    id: "key",
};
const SUMMARIES: &[&str] = &[
    "Invoice PDF shows wrong tax rate",
    "Slow dashboard load for large accounts",
    "Password reset email not delivered",
    "Add CSV export to reports",
    "Webhook retries flood the queue",
    "Upgrade TLS certificates",
    "Mobile menu overlaps content",
    "Customer cannot change billing address",
];

fn person(m: &crate::sandbox::world::Member) -> Value {
    json!({"account_id": format!("5b10ac8d82e05b22cc7d{}", m.handle.to_lowercase()), "name": m.name(), "email": m.email()})
}

pub(super) fn jira_seed(sys: &mut System, _world: &World) {
    for project in JIRA_PROJECTS {
        sys.insert("projects", json!({"key": project}));
    }
    for (p, project) in JIRA_PROJECTS.iter().enumerate() {
        for n in 0..6 {
            let number = 120 + n * 3 + p;
            let status = JIRA_STATUSES[sys.rng().gen_range(0..JIRA_STATUSES.len())];
            let summary = SUMMARIES[sys.rng().gen_range(0..SUMMARIES.len())];
            let kind = JIRA_TYPES[sys.rng().gen_range(0..3)];
            let priority = JIRA_PRIORITIES[sys.rng().gen_range(1..5)];
            let assignee = person(&TEAM[sys.rng().gen_range(0..TEAM.len())]);
            let reporter = person(&TEAM[sys.rng().gen_range(0..TEAM.len())]);
            let created = sys.date_in(-(40 - n as i64));
            sys.insert(
                "issues",
                json!({"id": (10000 + p * 100 + n).to_string(), "key": format!("{project}-{number}"), "project": project,
                       "summary": summary, "description": format!("{summary}. Seen in production."), "issue_type": kind,
                       "priority": priority, "status": status, "labels": [], "assignee": assignee, "reporter": reporter,
                       "created": format!("{created}T14:00:00Z")}),
            );
        }
    }
}

/// The project `given` (a key such as `OPS`). The simulated site has every
/// project a plan names: a well-formed key not seen before is created.
fn jira_project(sys: &mut System, what: &str, given: &str) -> Result<String, ConnectorError> {
    let key = given.trim().to_uppercase();
    let well_formed = (2..=10).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_uppercase())
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !well_formed {
        return Err(ConnectorError::invalid_input(format!(
            "{what}: {given:?} is not a Jira project key (2-10 capital letters or digits, e.g. OPS)"
        )));
    }
    if sys.index_of("projects", "key", &key).is_none() {
        sys.insert("projects", json!({ "key": key }));
    }
    Ok(key)
}

fn jira_priority(what: &str, given: &str) -> Result<String, ConnectorError> {
    let g = given.trim().to_lowercase();
    let mapped = match g.as_str() {
        "urgent" | "critical" | "blocker" => "highest",
        "normal" => "medium",
        "minor" | "trivial" => "low",
        other => other,
    };
    canonical(what, "priority", mapped, JIRA_PRIORITIES)
}

fn find_issue(sys: &System, call: &Call<'_>) -> Result<usize, ConnectorError> {
    sys.find_one(
        &call.what(),
        "issues",
        &[exact("issue_key", &["key", "id"])],
        call.input,
        &|_| true,
    )
    .map(|(i, _)| i)
}

fn jira_transition(what: &str, from: &str, to: &str) -> Result<(), ConnectorError> {
    if from == to {
        return Err(ConnectorError::permanent(
            "transition_unavailable",
            format!("{what}: the issue is already {to}"),
        ));
    }
    Ok(())
}

pub(super) fn jira(sys: &mut System, call: &Call<'_>) -> Result<Value, ConnectorError> {
    let what = call.what();
    let input = call.input;
    match call.op.id.as_str() {
        "issue.created" => {
            let project = match input.str("project") {
                Some(p) => Some(jira_project(sys, &what, p)?),
                None => None,
            };
            let i = pick_event(sys, call, &ISSUE, ISSUE_KEY, &|r| {
                project.as_ref().is_none_or(|p| r["project"] == json!(p))
            })?;
            let mut issue = sys.record("issues", i);
            if let Some(p) = project.filter(|p| issue["project"] != json!(p)) {
                // A project with no issues yet: simulate its first.
                issue["key"] = json!(format!("{p}-1"));
                issue["project"] = json!(p);
            }
            Ok(json!({ "issue": issue }))
        }
        "issue.transitioned" => {
            let to = match input.str("status") {
                Some(s) => canonical(&what, "status", s, JIRA_STATUSES)?,
                None => "Done".to_string(),
            };
            let target = to.clone();
            let i = pick_event(sys, call, &ISSUE, ISSUE_KEY, &|r| {
                r["status"] != json!(target)
            })?;
            let mut issue = sys.record("issues", i);
            let mut from = issue["status"].as_str().unwrap_or("To Do").to_string();
            if from == to {
                let pos = JIRA_STATUSES.iter().position(|s| *s == to).unwrap_or(0);
                from = JIRA_STATUSES[pos.saturating_sub(1).max(usize::from(pos == 0))].to_string();
            }
            issue["status"] = json!(to);
            Ok(json!({ "issue": issue, "from_status": from, "to_status": to }))
        }
        "issue.create" => {
            let project = jira_project(sys, &what, input.str("project").unwrap_or("OPS"))?;
            let kind = canonical(
                &what,
                "issue_type",
                input.str("issue_type").unwrap_or("Task"),
                JIRA_TYPES,
            )?;
            let priority = jira_priority(&what, input.str("priority").unwrap_or("medium"))?;
            let number = sys
                .all("issues")
                .iter()
                .filter(|i| i["project"] == json!(project))
                .filter_map(|i| i["key"].as_str()?.rsplit('-').next()?.parse::<i64>().ok())
                .max()
                .unwrap_or(0)
                + 1;
            let id = sys.next_number("issues", "id", "", 10043).to_string();
            let created = sys.now();
            let issue = json!({
                "id": id, "key": format!("{project}-{number}"), "project": project,
                "summary": input.text_or_summary("summary"), "description": input.str("description").unwrap_or_default(),
                "issue_type": kind, "priority": priority, "status": "To Do", "labels": input.strings("labels"),
                "assignee": Value::Null, "reporter": {"account_id": "nexwatt", "name": "Nexwatt", "email": null},
                "created": created,
            });
            sys.insert("issues", issue.clone());
            Ok(json!({ "issue": issue }))
        }
        "issue.update" => {
            let i = find_issue(sys, call)?;
            let mut fields = input.obj("fields").cloned().unwrap_or_default();
            if let Some(field) = input.str("field") {
                let value = input.get("value").cloned().ok_or_else(|| {
                    ConnectorError::invalid_input(format!("{what}: `field` needs a `value`"))
                })?;
                fields.insert(field.to_string(), value);
            }
            if fields.is_empty() {
                return Err(nothing_to_change(&what, &["field", "fields"]));
            }
            let mut changed = Vec::new();
            for (name, value) in fields {
                let field = super::snake(&name);
                let text = value
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| value.to_string());
                let new = match field.as_str() {
                    "priority" => json!(jira_priority(&what, &text)?),
                    "summary" | "description" => json!(text),
                    "issue_type" | "type" => json!(canonical(&what, "issue_type", &text, JIRA_TYPES)?),
                    "labels" => match value {
                        Value::Array(items) => Value::Array(items),
                        _ => json!(text.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>()),
                    },
                    "assignee" => {
                        let wanted = text.to_lowercase();
                        let member = TEAM
                            .iter()
                            .find(|m| m.email() == wanted || m.name().to_lowercase() == wanted)
                            .ok_or_else(|| {
                                ConnectorError::permanent("not_found", format!("{what}: no Jira user {text:?}"))
                            })?;
                        person(member)
                    }
                    "status" => {
                        return Err(ConnectorError::invalid_input(format!(
                            "{what}: status changes through a transition (jira.issue.transition)"
                        )))
                    }
                    _ => {
                        return Err(ConnectorError::invalid_input(format!(
                            "{what}: unknown field {name:?} (priority, summary, description, assignee, labels, issue_type)"
                        )))
                    }
                };
                let key = if field == "type" {
                    "issue_type".to_string()
                } else {
                    field
                };
                sys.set("issues", i, &key, new);
                changed.push(key);
            }
            Ok(json!({ "issue": sys.record("issues", i), "changed": changed }))
        }
        "issue.comment" => {
            let i = find_issue(sys, call)?;
            let key = sys.record("issues", i)["key"].clone();
            let id = sys.next_number("comments", "id", "", 20001).to_string();
            let created = sys.now();
            let comment = json!({
                "id": id, "issue_key": key, "body": input.text_or_summary("body"), "author": "Nexwatt", "created": created,
            });
            sys.insert("comments", comment.clone());
            Ok(json!({ "comment": comment }))
        }
        "issue.transition" => {
            let i = find_issue(sys, call)?;
            let given = input.str("status").unwrap_or_default();
            let to = canonical(&what, "status", given, JIRA_STATUSES).map_err(|_| {
                ConnectorError::permanent(
                    "transition_unavailable",
                    format!(
                        "{what}: no transition to {given:?} (statuses: {})",
                        JIRA_STATUSES.join(", ")
                    ),
                )
            })?;
            let from = sys.record("issues", i)["status"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            jira_transition(&what, &from, &to)?;
            sys.set("issues", i, "status", json!(to));
            Ok(json!({ "issue": sys.record("issues", i), "from_status": from, "to_status": to }))
        }
        "issue.find" => {
            let keys = [
                exact("issue_key", &["key", "id"]),
                contains("query", &["summary"]),
                exact("project", &["project"]),
                exact("status", &["status"]),
            ];
            let (i, n) = sys.find_one(&what, "issues", &keys, input, &|_| true)?;
            Ok(found("issue", sys.record("issues", i), n))
        }
        _ => Err(call.unsupported()),
    }
}

const REPOS: &[&str] = &[
    "brightline/web-app",
    "brightline/api",
    "brightline/mobile-app",
];
const GH_TITLES: &[&str] = &[
    "Crash when uploading large files",
    "Dark mode colors are off",
    "Rate limit headers missing",
    "Improve onboarding copy",
    "Flaky test in checkout suite",
    "Add retry to webhook sender",
];
const GH_LABELS: &[&str] = &["bug", "enhancement", "documentation", "good first issue"];

fn gh_user(m: &crate::sandbox::world::Member) -> Value {
    json!({"login": format!("{}{}", m.first.to_lowercase(), m.last.to_lowercase()), "id": 5_830_000 + m.handle.len() * 17})
}

pub(super) fn github_seed(sys: &mut System, _world: &World) {
    for repo in REPOS {
        sys.insert("repos", json!({"full_name": repo}));
    }
    for (r, repo) in REPOS.iter().enumerate() {
        for n in 0..5 {
            let number = 60 + n * 4 + r;
            let title = GH_TITLES[sys.rng().gen_range(0..GH_TITLES.len())];
            let label = GH_LABELS[sys.rng().gen_range(0..GH_LABELS.len())];
            let user = gh_user(&TEAM[sys.rng().gen_range(0..TEAM.len())]);
            sys.insert(
                "issues",
                json!({"number": number, "repo": repo, "title": title, "body": format!("{title}."), "state": "open",
                       "labels": [label], "user": user, "html_url": format!("https://github.com/{repo}/issues/{number}"),
                       "created_at": format!("{}T16:00:00Z", sys.date_in(-(20 - n as i64)))}),
            );
        }
        for n in 0..4 {
            let number = 190 + n * 3 + r;
            let merged = n % 2 == 0;
            let title = GH_TITLES[sys.rng().gen_range(0..GH_TITLES.len())];
            let user = gh_user(&TEAM[sys.rng().gen_range(0..TEAM.len())]);
            sys.insert(
                "pull_requests",
                json!({"number": number, "repo": repo, "title": format!("Fix: {}", title.to_lowercase()),
                       "state": if merged { "closed" } else { "open" }, "merged": merged, "draft": false,
                       "head": format!("fix/issue-{}", 60 + n), "base": "main", "user": user,
                       "html_url": format!("https://github.com/{repo}/pull/{number}"),
                       "created_at": format!("{}T09:00:00Z", sys.date_in(-(10 - n as i64)))}),
            );
        }
        sys.insert_unique(
            "releases",
            "html_url",
            json!({"id": 184_220_000 + r, "tag_name": "v2.3.0", "name": "v2.3.0", "repo": repo, "body": "Bug fixes.",
                   "author": gh_user(&TEAM[0]), "html_url": format!("https://github.com/{repo}/releases/tag/v2.3.0"),
                   "published_at": "2026-11-12T15:00:00Z"}),
        );
    }
}

fn repo_of(sys: &mut System, call: &Call<'_>) -> Result<String, ConnectorError> {
    let given = call
        .input
        .str("repo")
        .map(str::to_string)
        .or_else(|| {
            resolve(call.input.raw(), "issue_repo")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| {
            resolve(call.input.raw(), "pull_request_repo")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let Some(given) = given else {
        return Ok(REPOS[0].to_string());
    };
    let wanted = given
        .trim()
        .trim_start_matches("https://github.com/")
        .trim_end_matches('/')
        .to_lowercase();
    let known: Vec<String> = sys
        .all("repos")
        .iter()
        .filter_map(|r| r["full_name"].as_str().map(str::to_string))
        .collect();
    if let Some(repo) = known
        .iter()
        .find(|repo| **repo == wanted || repo.rsplit('/').next() == Some(wanted.as_str()))
    {
        return Ok(repo.clone());
    }
    // The simulated account has every repository a plan names.
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 100
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let full = match wanted.split_once('/') {
        Some((owner, name)) if part_ok(owner) && part_ok(name) => wanted.clone(),
        None if part_ok(&wanted) => format!("brightline/{wanted}"),
        _ => {
            return Err(ConnectorError::invalid_input(format!(
                "{}: {given:?} is not a repository (owner/name)",
                call.what()
            )))
        }
    };
    sys.insert("repos", json!({ "full_name": full }));
    Ok(full)
}

/// The issue or pull request `number` of `repo`: (collection, index).
fn find_numbered(
    sys: &System,
    call: &Call<'_>,
    repo: &str,
) -> Result<(&'static str, usize), ConnectorError> {
    let number = call.input.int("number").unwrap_or(0);
    for collection in ["issues", "pull_requests"] {
        if let Some(i) = sys
            .all(collection)
            .iter()
            .position(|r| r["repo"] == json!(repo) && r["number"].as_i64() == Some(number))
        {
            return Ok((collection, i));
        }
    }
    Err(ConnectorError::permanent(
        "not_found",
        format!(
            "{}: {repo} has no issue or pull request #{number}",
            call.what()
        ),
    ))
}

pub(super) fn github(sys: &mut System, call: &Call<'_>) -> Result<Value, ConnectorError> {
    let input = call.input;
    let repo_filter = match input.str("repo") {
        Some(_) => Some(repo_of(sys, call)?),
        None => None,
    };
    let in_repo = |r: &Value| {
        repo_filter
            .as_ref()
            .is_none_or(|repo| r["repo"] == json!(repo))
    };
    // A repository with no such event yet: simulate one there.
    let retarget = |mut record: Value| {
        if let (Some(repo), Some(old)) = (&repo_filter, record["repo"].as_str().map(str::to_string))
        {
            if old != *repo {
                if let Some(url) = record["html_url"].as_str().map(|u| u.replace(&old, repo)) {
                    record["html_url"] = json!(url);
                }
                record["repo"] = json!(repo);
            }
        }
        record
    };
    match call.op.id.as_str() {
        "pull_request.opened" => {
            let e = Entity {
                key: "pull_request",
                collection: "pull_requests",
                id: "html_url",
            };
            let i = pick_event(sys, call, &e, &[], &|r| in_repo(r) && r["state"] == "open")?;
            Ok(json!({ "pull_request": retarget(sys.record("pull_requests", i)) }))
        }
        "pull_request.merged" => {
            let e = Entity {
                key: "pull_request",
                collection: "pull_requests",
                id: "html_url",
            };
            let i = pick_event(sys, call, &e, &[], &|r| in_repo(r) && r["merged"] == true)?;
            Ok(json!({ "pull_request": retarget(sys.record("pull_requests", i)) }))
        }
        "issue.opened" => {
            let e = Entity {
                key: "issue",
                collection: "issues",
                id: "html_url",
            };
            let label = input.str("label").map(str::to_lowercase);
            let has_label = |r: &Value| {
                label.as_ref().is_none_or(|l| {
                    r["labels"].as_array().is_some_and(|ls| {
                        ls.iter()
                            .any(|x| x.as_str().is_some_and(|x| x.to_lowercase() == *l))
                    })
                })
            };
            let i = pick_event(sys, call, &e, &[], &|r| {
                in_repo(r) && has_label(r) && r["state"] == "open"
            })?;
            let mut issue = retarget(sys.record("issues", i));
            if !has_label(&issue) {
                if let (Some(l), Some(labels)) =
                    (input.str("label"), issue["labels"].as_array_mut())
                {
                    labels.push(json!(l));
                }
            }
            Ok(json!({ "issue": issue }))
        }
        "release.published" => {
            let e = Entity {
                key: "release",
                collection: "releases",
                id: "html_url",
            };
            let i = pick_event(sys, call, &e, &[], &in_repo)?;
            Ok(json!({ "release": retarget(sys.record("releases", i)) }))
        }
        "issue.create" => {
            let repo = repo_of(sys, call)?;
            let number = sys
                .all("issues")
                .iter()
                .chain(sys.all("pull_requests"))
                .filter(|r| r["repo"] == json!(repo))
                .filter_map(|r| r["number"].as_i64())
                .max()
                .unwrap_or(0)
                + 1;
            let mut labels = input.strings("labels");
            if let Some(l) = input.str("label") {
                if !labels.iter().any(|x| x.eq_ignore_ascii_case(l)) {
                    labels.push(l.to_string());
                }
            }
            let created = sys.now();
            let issue = json!({
                "number": number, "repo": repo, "title": input.text_or_summary("title"),
                "body": input.str("body").unwrap_or_default(), "state": "open", "labels": labels,
                "user": {"login": "nexwatt-bot", "id": 9_100_001}, "html_url": format!("https://github.com/{repo}/issues/{number}"),
                "created_at": created,
            });
            sys.insert("issues", issue.clone());
            Ok(json!({ "issue": issue }))
        }
        "issue.comment" => {
            let repo = repo_of(sys, call)?;
            let (_, _) = find_numbered(sys, call, &repo)?;
            let id = sys.next_number("comments", "id", "", 2_519_871_234);
            let created = sys.now();
            let comment = json!({
                "id": id, "repo": repo, "number": input.int("number"), "body": input.text_or_summary("body"),
                "user": {"login": "nexwatt-bot", "id": 9_100_001}, "created_at": created,
            });
            sys.insert("comments", comment.clone());
            Ok(json!({ "comment": comment }))
        }
        "issue.label" => {
            let repo = repo_of(sys, call)?;
            let (collection, i) = find_numbered(sys, call, &repo)?;
            let label = input.str("label").unwrap_or_default().to_string();
            let mut labels = sys.record(collection, i)["labels"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !labels
                .iter()
                .any(|l| l.as_str().is_some_and(|l| l.eq_ignore_ascii_case(&label)))
            {
                labels.push(json!(label));
            }
            sys.set(collection, i, "labels", Value::Array(labels));
            // GitHub labels pull requests through the issues API: the
            // answer is an issue either way.
            Ok(json!({ "issue": sys.record(collection, i), "added": label }))
        }
        _ => Err(call.unsupported()),
    }
}

/// Zendesk's ticket statuses and priorities.
pub(crate) const ZD_STATUSES: &[&str] = &["new", "open", "pending", "hold", "solved", "closed"];
const ZD_PRIORITIES: &[&str] = &["low", "normal", "high", "urgent"];
const TICKET: Entity = Entity {
    key: "ticket",
    collection: "tickets",
    id: "id",
};
const ZD_SUBJECTS: &[&str] = &[
    "Cannot download my invoice",
    "Refund for duplicate charge",
    "How do I add a team member?",
    "Order arrived damaged",
    "API returns 429 too often",
    "Change of billing email",
];

pub(super) fn zendesk_seed(sys: &mut System, world: &World) {
    for (n, p) in world.people.iter().enumerate().take(18) {
        let subject = ZD_SUBJECTS[sys.rng().gen_range(0..ZD_SUBJECTS.len())];
        let status = ZD_STATUSES[sys.rng().gen_range(0..ZD_STATUSES.len())];
        let priority = ZD_PRIORITIES[sys.rng().gen_range(0..ZD_PRIORITIES.len())];
        let at = format!("{}T{:02}:00:00Z", sys.date_in(-(18 - n as i64)), 8 + n % 10);
        sys.insert(
            "tickets",
            json!({"id": 35400 + n, "subject": subject, "description": format!("{subject}. Thanks, {}", p.first),
                   "status": status, "priority": priority,
                   "requester": {"id": 366_110 + n, "name": p.name(), "email": p.email},
                   "assignee_id": 366_001, "tags": [], "created_at": at, "updated_at": at}),
        );
    }
}

fn zd_value(
    what: &str,
    field: &str,
    given: &str,
    allowed: &[&str],
) -> Result<String, ConnectorError> {
    let g = given.trim().to_lowercase();
    let g = match g.as_str() {
        "close" => "closed".to_string(),
        "solve" | "resolved" | "resolve" => "solved".to_string(),
        "on hold" | "on-hold" => "hold".to_string(),
        "medium" => "normal".to_string(),
        "critical" => "urgent".to_string(),
        _ => g,
    };
    canonical(what, field, &g, allowed)
}

fn find_ticket(sys: &System, call: &Call<'_>) -> Result<usize, ConnectorError> {
    let (i, _) = sys.find_one(
        &call.what(),
        "tickets",
        &[exact("ticket_id", &["id"])],
        call.input,
        &|_| true,
    )?;
    if sys
        .all("tickets")
        .get(i)
        .is_some_and(|t| t["status"] == "closed")
    {
        return Err(ConnectorError::permanent(
            "ticket_closed",
            format!(
                "{}: ticket {} is closed and cannot change",
                call.what(),
                sys.record("tickets", i)["id"]
            ),
        ));
    }
    Ok(i)
}

pub(super) fn zendesk(sys: &mut System, call: &Call<'_>) -> Result<Value, ConnectorError> {
    let what = call.what();
    let input = call.input;
    match call.op.id.as_str() {
        "ticket.created" => {
            let i = pick_event(sys, call, &TICKET, &[exact("ticket_id", &["id"])], &|t| {
                t["status"] == "new"
            })?;
            Ok(json!({ "ticket": sys.record("tickets", i) }))
        }
        "ticket.updated" => {
            let to = match input.str("status") {
                Some(s) => Some(zd_value(&what, "status", s, ZD_STATUSES)?),
                None => None,
            };
            let i = pick_event(sys, call, &TICKET, &[exact("ticket_id", &["id"])], &|_| {
                true
            })?;
            let mut ticket = sys.record("tickets", i);
            let previous = ticket["status"].clone();
            let new = to.unwrap_or_else(|| "solved".to_string());
            let previous = if previous == json!(new) {
                json!("open")
            } else {
                previous
            };
            ticket["status"] = json!(new);
            Ok(json!({ "ticket": ticket, "previous_status": previous, "changed": ["status"] }))
        }
        "ticket.create" => {
            let priority = zd_value(
                &what,
                "priority",
                input.str("priority").unwrap_or("normal"),
                ZD_PRIORITIES,
            )?;
            let subject = input.text_or_summary("subject");
            let body = input
                .str("body")
                .map_or_else(|| subject.clone(), str::to_string);
            let requester = match input.str("requester_email") {
                Some(email) => {
                    let known = sys
                        .all("tickets")
                        .iter()
                        .find(|t| t["requester"]["email"] == json!(email))
                        .map(|t| t["requester"].clone());
                    known.unwrap_or_else(|| json!({"id": 366_500, "name": email.split('@').next().unwrap_or(email), "email": email}))
                }
                None => json!({"id": 366_001, "name": "Nexwatt", "email": "nexwatt@brightline.io"}),
            };
            let id = sys.next_number("tickets", "id", "", 35437);
            let at = sys.now();
            let ticket = json!({
                "id": id, "subject": subject, "description": body, "status": "new", "priority": priority,
                "requester": requester, "assignee_id": Value::Null, "tags": input.strings("tags"),
                "created_at": at, "updated_at": at,
            });
            sys.insert("tickets", ticket.clone());
            Ok(json!({ "ticket": ticket }))
        }
        "ticket.update" => {
            let i = find_ticket(sys, call)?;
            let mut changed = Vec::new();
            if let Some(p) = input.str("priority") {
                sys.set(
                    "tickets",
                    i,
                    "priority",
                    json!(zd_value(&what, "priority", p, ZD_PRIORITIES)?),
                );
                changed.push("priority");
            }
            if let Some(s) = input.str("status") {
                sys.set(
                    "tickets",
                    i,
                    "status",
                    json!(zd_value(&what, "status", s, ZD_STATUSES)?),
                );
                changed.push("status");
            }
            if input.get("tags").is_some() {
                sys.set("tickets", i, "tags", json!(input.strings("tags")));
                changed.push("tags");
            }
            if changed.is_empty() {
                return Err(nothing_to_change(&what, &["status", "priority", "tags"]));
            }
            let at = sys.now();
            sys.set("tickets", i, "updated_at", json!(at));
            Ok(json!({ "ticket": sys.record("tickets", i), "changed": changed }))
        }
        "ticket.comment" => {
            let i = find_ticket(sys, call)?;
            let ticket_id = sys.record("tickets", i)["id"].clone();
            let id = sys.next_number("comments", "id", "", 9_120_001);
            let at = sys.now();
            let comment = json!({
                "id": id, "ticket_id": ticket_id, "body": input.text_or_summary("body"),
                "public": input.bool("public").unwrap_or(false), "created_at": at,
            });
            sys.insert("comments", comment.clone());
            sys.set("tickets", i, "updated_at", json!(at));
            Ok(json!({ "comment": comment }))
        }
        "ticket.find" => {
            let keys = [
                exact("ticket_id", &["id"]),
                exact("requester_email", &["requester.email"]),
                exact("status", &["status"]),
                contains("query", &["subject"]),
            ];
            let hits = sys.matching("tickets", &keys, input, &|_| true);
            let Some(hits) = hits else {
                return Err(ConnectorError::invalid_input(format!(
                    "{what}: give at least one of `ticket_id`, `requester_email`, `status`, `query`"
                )));
            };
            let open = |i: &&usize| {
                sys.all("tickets")
                    .get(**i)
                    .is_some_and(|t| !matches!(t["status"].as_str(), Some("solved" | "closed")))
            };
            let pick = hits.iter().find(open).or(hits.first()).copied();
            match pick {
                Some(i) => Ok(found("ticket", sys.record("tickets", i), hits.len())),
                None => Err(crate::sandbox::store::not_found(&what, &keys, input)),
            }
        }
        _ => Err(call.unsupported()),
    }
}
