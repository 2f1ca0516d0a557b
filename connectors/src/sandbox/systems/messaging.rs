//! Email (SMTP out, IMAP in) and Twilio SMS.

use nexwatt_engine::connector::ConnectorError;
use rand::Rng;
use serde_json::{json, Value};

use super::{pick_event, Call, Entity};
use crate::sandbox::input::summarize;
use crate::sandbox::store::System;
use crate::sandbox::world::World;

const INBOX: Entity = Entity {
    key: "message",
    collection: "inbox",
    id: "id",
};
const SMS: Entity = Entity {
    key: "message",
    collection: "messages",
    id: "sid",
};
/// The sandbox's own SMS number.
const OUR_NUMBER: &str = "+14155550100";

const SUBJECTS: &[&str] = &[
    "Refund request for order",
    "Question about my invoice",
    "Cannot log in",
    "Upgrade to the annual plan",
    "Wrong item delivered",
    "Partnership inquiry",
];

pub(super) fn email_seed(sys: &mut System, world: &World) {
    for (n, p) in world.people.iter().enumerate().take(10) {
        let subject = SUBJECTS[sys.rng().gen_range(0..SUBJECTS.len())];
        let to = if subject.contains("invoice") || subject.contains("Refund") {
            "billing@brightline.io"
        } else {
            "support@brightline.io"
        };
        let at = format!(
            "{}T{:02}:{:02}:00Z",
            sys.date_in(-(n as i64)),
            8 + n % 9,
            (n * 7) % 60
        );
        sys.insert(
            "inbox",
            json!({"id": format!("<{}.{}@{}>", 20_261_100 + n, 7000 + n, p.email.split('@').nth(1).unwrap_or("example.com")),
                   "from": p.email, "to": [to], "subject": subject,
                   "body": format!("Hello, {} here from {}. {subject}: could you help?", p.first, world.company_of(p)),
                   "received_at": at}),
        );
    }
}

pub(super) fn email(sys: &mut System, call: &Call<'_>) -> Result<Value, ConnectorError> {
    let input = call.input;
    match call.op.id.as_str() {
        "message.received" => {
            let from = input.str("from").map(str::to_lowercase);
            let subject = input.str("subject").map(str::to_lowercase);
            let matches = |m: &Value| {
                let from_ok = from.as_ref().is_none_or(|f| {
                    m["from"]
                        .as_str()
                        .is_some_and(|a| a.to_lowercase().contains(f.as_str()))
                        || m["to"].as_array().is_some_and(|to| {
                            to.iter().any(|t| {
                                t.as_str()
                                    .is_some_and(|a| a.to_lowercase().contains(f.as_str()))
                            })
                        })
                });
                let subject_ok = subject.as_ref().is_none_or(|s| {
                    m["subject"]
                        .as_str()
                        .is_some_and(|a| a.to_lowercase().contains(s.as_str()))
                });
                from_ok && subject_ok
            };
            let i = pick_event(sys, call, &INBOX, &[], &matches)?;
            let mut message = sys.record("inbox", i);
            if !matches(&message) {
                // No stored mail fits the filter: simulate one that does.
                if let Some(s) = input.str("subject") {
                    message["subject"] = json!(s);
                }
                if let Some(f) = input
                    .str("from")
                    .filter(|f| f.contains('@') && !f.ends_with('@'))
                {
                    message["from"] = json!(f);
                }
            }
            Ok(json!({ "message": message }))
        }
        "message.send" => {
            let to = input
                .str("to")
                .or_else(|| input.str("email"))
                .map(str::to_string)
                .ok_or_else(|| {
                    ConnectorError::invalid_input(format!(
                        "{}: give the recipient, `to` or `email`",
                        call.what()
                    ))
                })?;
            let summary = summarize(input.raw());
            let subject = input
                .str("subject")
                .map_or_else(|| summary.clone(), str::to_string);
            let body = input.str("body").map_or(summary, str::to_string);
            let n = sys.next_number("sent", "n", "", 1);
            let at = sys.now();
            let mut to_list = vec![json!(to)];
            if let Some(cc) = input.str("cc") {
                to_list.extend(cc.split(',').map(|c| json!(c.trim())));
            }
            let message = json!({
                "id": format!("<nexwatt.{n}@mail.brightline.io>"), "from": "notifications@brightline.io",
                "to": to_list, "subject": subject, "body": body, "sent_at": at,
            });
            let mut stored = message.clone();
            stored["n"] = json!(n);
            sys.insert("sent", stored);
            Ok(json!({ "message": message }))
        }
        _ => Err(call.unsupported()),
    }
}

const INBOUND: &[&str] = &[
    "Is my order shipped yet?",
    "STOP",
    "Please call me back about my account",
    "Thanks, received!",
    "What time do you open tomorrow?",
];

pub(super) fn twilio_seed(sys: &mut System, world: &World) {
    for (n, p) in world.people.iter().enumerate().take(6) {
        let body = INBOUND[sys.rng().gen_range(0..INBOUND.len())];
        let sid = format!("SM{}", sys.token("0123456789abcdef", 32));
        sys.insert(
            "messages",
            json!({"sid": sid, "from": p.phone, "to": OUR_NUMBER, "body": body, "direction": "inbound",
                   "status": "received", "date_created": format!("{}T09:{:02}:00Z", sys.date_in(-(n as i64)), n * 5)}),
        );
    }
}

pub(super) fn twilio(sys: &mut System, call: &Call<'_>) -> Result<Value, ConnectorError> {
    let input = call.input;
    match call.op.id.as_str() {
        "sms.received" => {
            let i = pick_event(sys, call, &SMS, &[], &|m| m["direction"] == "inbound")?;
            Ok(json!({ "message": sys.record("messages", i) }))
        }
        "sms.send" => {
            let to = input
                .str("to")
                .or_else(|| input.str("phone"))
                .map(str::to_string)
                .ok_or_else(|| {
                    ConnectorError::invalid_input(format!(
                        "{}: give the recipient, `to` or `phone`",
                        call.what()
                    ))
                })?;
            if to == OUR_NUMBER {
                return Err(ConnectorError::permanent(
                    "invalid_recipient",
                    format!(
                        "{}: 'To' and 'From' numbers cannot be the same",
                        call.what()
                    ),
                ));
            }
            let mut body = input.text_or_summary("body");
            if body.chars().count() > 1600 {
                body = body.chars().take(1600).collect();
            }
            let sid = format!("SM{}", sys.token("0123456789abcdef", 32));
            let at = sys.now();
            let message = json!({
                "sid": sid, "from": input.str("from_number").unwrap_or(OUR_NUMBER), "to": to, "body": body,
                "direction": "outbound-api", "status": "queued", "date_created": at,
            });
            sys.insert("messages", message.clone());
            Ok(json!({ "message": message }))
        }
        _ => Err(call.unsupported()),
    }
}
