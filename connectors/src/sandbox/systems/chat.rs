//! Slack: users, channels and messages.

use nexwatt_engine::connector::ConnectorError;
use rand::Rng;
use serde_json::{json, Value};

use super::{pick_event, Call, Entity};
use crate::sandbox::store::{exact, System};
use crate::sandbox::world::{World, TEAM};

const CHANNELS: &[&str] = &[
    "general",
    "finance",
    "sales",
    "support",
    "ops",
    "engineering",
];
const MESSAGE: Entity = Entity {
    key: "message",
    collection: "messages",
    id: "ts",
};
const CHATTER: &[&str] = &[
    "Can someone look at the failed payment alerts?",
    "Quarter close is next Friday, please update your deals.",
    "Deploy of v2.4.0 is done.",
    "New enterprise lead from the webinar.",
    "Customer asking about an invoice copy.",
    "On-call handover: all quiet.",
];

fn channel_id(name: &str) -> String {
    format!("C05{}", name.to_uppercase())
}

pub(super) fn slack_seed(sys: &mut System, _world: &World) {
    for m in TEAM {
        sys.insert_unique(
            "users",
            "id",
            json!({"id": format!("U04{}", m.handle), "name": format!("{}.{}", m.first.to_lowercase(), m.last.to_lowercase()),
                   "real_name": m.name(), "email": m.email(), "is_bot": false, "tz": "America/New_York"}),
        );
    }
    sys.insert(
        "users",
        json!({"id": "U04NEXWATT", "name": "nexwatt", "real_name": "Nexwatt", "email": null, "is_bot": true, "tz": "UTC"}),
    );
    for c in CHANNELS {
        sys.insert("channels", json!({"id": channel_id(c), "name": c}));
    }
    for (n, c) in CHANNELS.iter().enumerate() {
        let m = TEAM[sys.rng().gen_range(0..TEAM.len())];
        let text = CHATTER[sys.rng().gen_range(0..CHATTER.len())];
        sys.insert(
            "messages",
            json!({"ts": format!("17648{:05}.000{:03}", 1000 + n * 37, n), "channel": format!("#{c}"),
                   "channel_id": channel_id(c), "text": text,
                   "user": {"id": format!("U04{}", m.handle), "name": format!("{}.{}", m.first.to_lowercase(), m.last.to_lowercase()),
                            "real_name": m.name(), "email": m.email()}}),
        );
    }
}

/// Finds a channel by `#name`, `name` or id. The simulated workspace has
/// every channel a plan names: a well-formed name not seen before is
/// created (a test run cannot know the real workspace's channels); an
/// unknown channel id is `channel_not_found`.
fn find_channel(sys: &mut System, what: &str, given: &str) -> Result<Value, ConnectorError> {
    let name = given.trim().trim_start_matches('#').to_lowercase();
    if let Some(c) = sys.all("channels").iter().find(|c| {
        c["name"] == json!(name)
            || c["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(&name))
    }) {
        return Ok(c.clone());
    }
    let looks_like_id = !given.trim().starts_with('#')
        && given.trim().len() >= 9
        && given.trim().starts_with(['C', 'G', 'D'])
        && given
            .trim()
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let valid_name = !name.is_empty()
        && name.chars().count() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if looks_like_id || !valid_name {
        return Err(ConnectorError::permanent(
            "channel_not_found",
            format!("{what}: no channel {given}"),
        ));
    }
    let channel = json!({"id": channel_id(&name), "name": name});
    sys.insert("channels", channel.clone());
    Ok(channel)
}

fn ts(sys: &mut System) -> String {
    let n = sys.next_number("sent", "n", "", 1);
    sys.insert("sent", json!({ "n": n }));
    format!("{}.{:06}", 1_764_849_600 + n * 60, n * 100)
}

pub(super) fn slack(sys: &mut System, call: &Call<'_>) -> Result<Value, ConnectorError> {
    let what = call.what();
    let input = call.input;
    match call.op.id.as_str() {
        "message.posted" => {
            let channel = match input.str("channel") {
                Some(c) => Some(find_channel(sys, &what, c)?),
                None => None,
            };
            let wanted = channel.as_ref().map(|c| c["id"].clone());
            let i = pick_event(sys, call, &MESSAGE, &[], &|m| {
                wanted.as_ref().is_none_or(|id| &m["channel_id"] == id)
            })?;
            let mut message = sys.record("messages", i);
            if let Some(c) = channel {
                if message["channel_id"] != c["id"] {
                    message["channel_id"] = c["id"].clone();
                    message["channel"] =
                        json!(format!("#{}", c["name"].as_str().unwrap_or_default()));
                }
            }
            Ok(json!({ "message": message }))
        }
        "message.send" => {
            let channel = find_channel(sys, &what, input.str("channel").unwrap_or_default())?;
            let text = input.text_or_summary("text");
            let ts = ts(sys);
            let message = json!({
                "ts": ts, "channel": format!("#{}", channel["name"].as_str().unwrap_or_default()),
                "channel_id": channel["id"], "text": text,
            });
            let mut stored = message.clone();
            stored["user"] = json!({"id": "U04NEXWATT", "name": "nexwatt"});
            sys.insert("messages", stored);
            Ok(json!({ "message": message, "ok": true }))
        }
        "dm.send" => {
            let keys = [exact("user_id", &["id"]), exact("email", &["email"])];
            let (u, _) = sys.find_one(&what, "users", &keys, input, &|_| true)?;
            let user = sys.record("users", u);
            if user["is_bot"] == json!(true) {
                return Err(ConnectorError::permanent(
                    "cannot_dm_bot",
                    format!("{what}: cannot DM a bot user"),
                ));
            }
            let user_id = user["id"].as_str().unwrap_or_default().to_string();
            let text = input.text_or_summary("text");
            let ts = ts(sys);
            let message = json!({
                "ts": ts, "channel_id": format!("D{}", user_id.trim_start_matches('U')),
                "user_id": user_id, "text": text,
            });
            sys.insert("direct_messages", message.clone());
            Ok(json!({ "message": message, "ok": true }))
        }
        "user.find" => {
            let keys = [
                exact("email", &["email"]),
                exact("user_id", &["id"]),
                exact("name", &["name", "real_name"]),
            ];
            let (i, _) = sys.find_one(&what, "users", &keys, input, &|_| true)?;
            Ok(json!({ "user": sys.record("users", i) }))
        }
        _ => Err(call.unsupported()),
    }
}
