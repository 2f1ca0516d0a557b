//! Grammar tables and parsers for the parts of a description that are
//! language, not connectors: markers of order, conditions, waits and
//! schedules. All phrases are written as stems (see [`super::text::stem`]).

use super::text::{stem, Kind, Token};

/// Grammar words the typo corrector may correct towards.
pub(crate) const KEYWORDS: &[&str] = &[
    "when",
    "whenever",
    "every",
    "each",
    "then",
    "after",
    "once",
    "unless",
    "the",
    "and",
    "new",
    "wait",
    "if",
    "only",
    "daily",
    "weekly",
    "monthly",
    "hourly",
    "minutes",
    "hours",
    "days",
    "weeks",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "weekday",
    "weekend",
    "parallel",
    "separately",
    "independently",
    "finally",
    "approval",
    "approve",
    "receive",
    "follow",
    "customer",
    "separately",
    "immediately",
];

/// Marker phrases at the start of a clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    /// "then", "after that", "finally": after the previous step.
    Seq,
    /// "once both are done": after the last parallel group.
    Both,
    /// "in parallel", "at the same time", "separately".
    Par,
    /// "at the same time as …": with the same predecessors as the step named.
    ParRef,
    /// "please", "could you", "so": no meaning for the plan.
    Discourse,
}

/// (phrase, marker), longest first where prefixes overlap.
pub(crate) const MARKERS: &[(&str, Marker)] = &[
    ("once both are done", Marker::Both),
    ("when both are done", Marker::Both),
    ("once both have been done", Marker::Both),
    ("after both are done", Marker::Both),
    ("after both", Marker::Both),
    ("once all of that is done", Marker::Both),
    ("once that is done", Marker::Seq),
    ("once this is done", Marker::Seq),
    ("when that is done", Marker::Seq),
    ("when this is done", Marker::Seq),
    ("after that is done", Marker::Seq),
    ("once that's done", Marker::Seq),
    ("once done", Marker::Seq),
    ("when done", Marker::Seq),
    ("after that", Marker::Seq),
    ("after this", Marker::Seq),
    ("after which", Marker::Seq),
    ("and then", Marker::Seq),
    ("then", Marker::Seq),
    ("afterwards", Marker::Seq),
    ("afterward", Marker::Seq),
    ("next", Marker::Seq),
    ("finally", Marker::Seq),
    ("lastly", Marker::Seq),
    ("subsequently", Marker::Seq),
    ("second", Marker::Seq),
    ("secondly", Marker::Seq),
    ("third", Marker::Seq),
    ("thirdly", Marker::Seq),
    ("at the same time as", Marker::ParRef),
    ("in parallel with", Marker::ParRef),
    ("at the same time", Marker::Par),
    ("in parallel", Marker::Par),
    ("simultaneously", Marker::Par),
    ("meanwhile", Marker::Par),
    ("in the meantime", Marker::Par),
    ("independently of that", Marker::Par),
    ("independently of this", Marker::Par),
    ("independently", Marker::Par),
    ("separately", Marker::Par),
    ("while that is going on", Marker::Par),
    ("while this is going on", Marker::Par),
    ("while that happens", Marker::Par),
    ("while this happens", Marker::Par),
    ("additionally", Marker::Par),
    ("in addition", Marker::Par),
    ("also", Marker::Par),
    ("and", Marker::Discourse),
    ("or", Marker::Discourse),
    ("but", Marker::Discourse),
    ("please", Marker::Discourse),
    ("kindly", Marker::Discourse),
    ("could you", Marker::Discourse),
    ("would you", Marker::Discourse),
    ("can you", Marker::Discourse),
    ("will you", Marker::Discourse),
    ("i want you to", Marker::Discourse),
    ("we want you to", Marker::Discourse),
    ("i would like you to", Marker::Discourse),
    ("we would like you to", Marker::Discourse),
    ("i'd like you to", Marker::Discourse),
    ("we'd like you to", Marker::Discourse),
    ("i need you to", Marker::Discourse),
    ("we need you to", Marker::Discourse),
    ("here is the request", Marker::Discourse),
    ("first", Marker::Discourse),
    ("firstly", Marker::Discourse),
    ("just", Marker::Discourse),
    ("so", Marker::Discourse),
    ("right away", Marker::Discourse),
    ("immediately", Marker::Discourse),
];

/// Subordinating words that open a clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sub {
    /// when, whenever, once, as soon as, each time, on every, for new…
    When,
    /// after
    After,
    /// if, only if, in case
    If,
    /// unless
    Unless,
    /// so that, because, since, in order to: a purpose or a reason.
    Why,
    /// while
    While,
}

pub(crate) const SUBS: &[(&str, Sub)] = &[
    ("as soon as", Sub::When),
    ("each time", Sub::When),
    ("every time", Sub::When),
    ("any time", Sub::When),
    ("anytime", Sub::When),
    ("whenever", Sub::When),
    ("on every", Sub::When),
    ("on each", Sub::When),
    ("for every", Sub::When),
    ("for each", Sub::When),
    ("for all new", Sub::When),
    ("for any new", Sub::When),
    ("for new", Sub::When),
    ("on new", Sub::When),
    ("upon", Sub::When),
    ("when", Sub::When),
    ("once", Sub::When),
    ("after", Sub::After),
    ("only if", Sub::If),
    ("only when", Sub::If),
    ("but only if", Sub::If),
    ("in case", Sub::If),
    ("if", Sub::If),
    ("unless", Sub::Unless),
    ("so that", Sub::Why),
    ("so the", Sub::Why),
    ("so we", Sub::Why),
    ("so they", Sub::Why),
    ("so everyone", Sub::Why),
    ("so it", Sub::Why),
    ("because", Sub::Why),
    ("since", Sub::Why),
    ("in order to", Sub::Why),
    ("while", Sub::While),
];

/// Words that open a rule ("never refund more than $500").
/// Phrases that state a limit on a value or a frequency: a rule, not a step.
pub(crate) const LIMITS: &[&str] = &[
    "at most",
    "no more than",
    "not more than",
    "no higher than",
    "exceed",
    "exceeds",
    "maximum",
    "max",
    "never be more than",
    "not be more than",
    "never be over",
    "not be over",
    "never go over",
    "not go over",
    "stay under",
    "stay below",
];

pub(crate) const NEGATIONS: &[&str] = &[
    "never",
    "don't",
    "dont",
    "do not",
    "must not",
    "must never",
    "should not",
    "should never",
    "shouldn't",
    "mustn't",
    "cannot",
    "can't",
    "may not",
    "never ever",
    "not",
];

/// Verbs that name no single operation (binding rule 7).
pub(crate) const VAGUE_VERBS: &[&str] = &[
    "deal with",
    "sort out",
    "take care of",
    "look after",
    "handle",
    "process",
    "manage",
    "action",
    "tackle",
    "sort",
];

/// Qualifiers that say a lookup is needed but not on what.
pub(crate) const VAGUE_QUALIFIERS: &[&str] = &[
    "matching",
    "corresponding",
    "related",
    "linked",
    "associated",
    "relevant",
    "appropriate",
    "respective",
    "right",
    "connected",
    "same",
];

/// Words that make a stated amount, time or threshold vague.
pub(crate) const VAGUE_AMOUNTS: &[&str] = &[
    "small",
    "large",
    "big",
    "little",
    "while",
    "bit",
    "some",
    "soon",
    "later",
    "huge",
    "reasonable",
    "partial",
    "generous",
    "significant",
    "few",
    "couple",
    "moderate",
    "decent",
    "high",
    "low",
    "sizable",
    "sizeable",
    "tiny",
    "modest",
];

/// Words that stand for a person.
pub(crate) const PERSON_WORDS: &[&str] = &[
    "them",
    "him",
    "her",
    "they",
    "me",
    "us",
    "customer",
    "client",
    "user",
    "person",
    "owner",
    "assignee",
    "reporter",
    "requester",
    "buyer",
    "subscriber",
    "sender",
    "contact",
    "lead",
    "manager",
    "engineer",
    "rep",
    "agent",
    "someone",
    "everyone",
    "member",
    "admin",
];

/// Kinds of message a person is sent ("send them a reminder"), as stems.
pub(crate) const MESSAGE_WORDS: &[&str] = &[
    "messag",
    "email",
    "text",
    "sms",
    "dm",
    "not",
    "remind",
    "reminder",
    "confirmation",
    "receipt",
    "survey",
    "invitation",
    "invit",
    "welcom",
    "thank",
    "thank-you",
    "updat",
    "alert",
    "notic",
    "notification",
    "summary",
    "report",
    "link",
    "quot",
    "invoic",
    "greeting",
    "followup",
    "follow",
    "apology",
    "letter",
    "newsletter",
    "guid",
    "copy",
    "list",
    "detail",
    "warning",
    "offer",
    "coupon",
    "code",
    "password",
    "ping",
    "heads",
];

/// Words that stand for a group channel.
pub(crate) const CHANNEL_WORDS: &[&str] = &["channel", "team", "group", "room", "everyone"];

const NUMBER_WORDS: &[(&str, f64)] = &[
    ("a", 1.0),
    ("an", 1.0),
    ("one", 1.0),
    ("two", 2.0),
    ("three", 3.0),
    ("four", 4.0),
    ("five", 5.0),
    ("six", 6.0),
    ("seven", 7.0),
    ("eight", 8.0),
    ("nine", 9.0),
    ("ten", 10.0),
    ("eleven", 11.0),
    ("twelve", 12.0),
    ("fifteen", 15.0),
    ("twenty", 20.0),
    ("thirty", 30.0),
    ("forty", 40.0),
    ("forty-five", 45.0),
    ("sixty", 60.0),
    ("ninety", 90.0),
    ("half", 0.5),
];

/// A number written as digits or as a word.
pub(crate) fn number_at(t: &Token) -> Option<f64> {
    match t.kind {
        Kind::Number | Kind::Money => t.num,
        Kind::Word => NUMBER_WORDS
            .iter()
            .find(|(w, _)| *w == t.lower)
            .map(|(_, n)| *n),
        _ => None,
    }
}

/// (unit stem, canonical letter, minutes per unit)
const UNITS: &[(&str, char, f64)] = &[
    ("minut", 'm', 1.0),
    ("min", 'm', 1.0),
    ("mins", 'm', 1.0),
    ("hour", 'h', 60.0),
    ("hr", 'h', 60.0),
    ("hrs", 'h', 60.0),
    ("day", 'd', 1440.0),
    ("week", 'w', 10080.0),
    ("business day", 'd', 1440.0),
];

fn unit_of(t: &Token) -> Option<(char, f64)> {
    if !t.is_word() {
        return None;
    }
    let s = t.stem.as_str();
    UNITS
        .iter()
        .find(|(u, _, _)| *u == s || stem(u) == s)
        .map(|(_, c, m)| (*c, *m))
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A duration in the canonical `2d` / `3h` / `30m` form, read from
/// `toks`: "2 days", "a day", "90 minutes", "half an hour", "a week".
pub(crate) fn duration(toks: &[Token]) -> Option<(String, usize, usize)> {
    for i in 0..toks.len() {
        let Some(n) = number_at(&toks[i]) else {
            continue;
        };
        // "half an hour"
        let mut j = i + 1;
        if toks[i].lower == "half" && j < toks.len() && matches!(toks[j].lower.as_str(), "an" | "a")
        {
            j += 1;
        }
        if j < toks.len() {
            if let Some((u, minutes)) = unit_of(&toks[j]) {
                let total = n;
                let s = match u {
                    'w' => format!("{}d", fmt_num(total * 7.0)),
                    _ if total.fract() != 0.0 => {
                        let m = total * minutes;
                        if m >= 60.0 && (m / 60.0).fract() == 0.0 {
                            format!("{}h", fmt_num(m / 60.0))
                        } else {
                            format!("{}m", fmt_num(m))
                        }
                    }
                    _ => format!("{}{}", fmt_num(total), u),
                };
                return Some((s, i, j + 1));
            }
        }
    }
    // "overnight", "tomorrow"
    for (i, t) in toks.iter().enumerate() {
        if t.lower == "overnight" || t.lower == "tomorrow" {
            return Some(("1d".into(), i, i + 1));
        }
    }
    None
}

/// A schedule: `every` and `at` values, and the token range they came from.
pub(crate) struct Schedule {
    pub every: Option<String>,
    pub at: Option<String>,
    pub start: usize,
    pub end: usize,
}

const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn weekday(t: &Token) -> Option<&'static str> {
    let l = t.lower.trim_end_matches('s');
    WEEKDAYS.iter().copied().find(|d| *d == l)
}

/// A time of day as `HH:MM`.
pub(crate) fn time_of_day(toks: &[Token], i: usize) -> Option<(String, usize)> {
    let t = toks.get(i)?;
    let (text, next) = match t.kind {
        Kind::Time => (t.lower.clone(), i + 1),
        Kind::Number => {
            // "9 am"
            let nx = toks.get(i + 1);
            match nx {
                Some(n)
                    if n.is_word() && matches!(n.lower.as_str(), "am" | "pm" | "a.m" | "p.m") =>
                {
                    (format!("{}{}", t.lower, n.lower.replace('.', "")), i + 2)
                }
                _ => (t.lower.clone(), i + 1),
            }
        }
        Kind::Word if t.lower == "noon" || t.lower == "midday" => {
            return Some(("12:00".into(), i + 1))
        }
        Kind::Word if t.lower == "midnight" => return Some(("00:00".into(), i + 1)),
        _ => return None,
    };
    let pm = text.ends_with("pm");
    let am = text.ends_with("am");
    let core = text.trim_end_matches("am").trim_end_matches("pm");
    let mut parts = core.split(':');
    let h: u32 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next().map(|m| m.parse().ok()).unwrap_or(Some(0))?;
    if h > 24 || m > 59 {
        return None;
    }
    let h = if pm && h < 12 {
        h + 12
    } else if am && h == 12 {
        0
    } else {
        h
    };
    if !am && !pm && t.kind == Kind::Number && h > 24 {
        return None;
    }
    Some((format!("{h:02}:{m:02}"), next))
}

/// Finds a schedule in `toks` ("every weekday at 8:30am", "daily at 6pm",
/// "on the first day of each month at 9am", "every 15 minutes").
pub(crate) fn schedule(toks: &[Token]) -> Option<Schedule> {
    let mut every: Option<String> = None;
    let mut start = usize::MAX;
    let mut end = 0;
    let n = toks.len();
    let mut i = 0;
    while i < n && every.is_none() {
        let t = &toks[i];
        if !t.is_word() {
            i += 1;
            continue;
        }
        match t.lower.as_str() {
            "daily" => every = Some("day".into()),
            "hourly" => every = Some("hour".into()),
            "weekly" => every = Some("week".into()),
            "monthly" => every = Some("month".into()),
            "nightly" => every = Some("day".into()),
            "every" | "each" => {
                let mut j = i + 1;
                if j < n && toks[j].lower == "other" {
                    j += 1;
                }
                if let Some(nt) = toks.get(j) {
                    if let Some(num) = number_at(nt).filter(|_| nt.kind == Kind::Number) {
                        if let Some(u) = toks.get(j + 1).and_then(unit_of) {
                            let unit = match u.0 {
                                'm' => "minutes",
                                'h' => "hours",
                                'd' => "days",
                                _ => "weeks",
                            };
                            every = Some(if u.0 == 'w' {
                                format!("{} days", fmt_num(num * 7.0))
                            } else {
                                format!("{} {}", fmt_num(num), unit)
                            });
                            end = j + 2;
                        }
                    } else if let Some(d) = weekday(nt) {
                        every = Some(d.into());
                        end = j + 1;
                    } else {
                        let l = nt.lower.as_str();
                        let v = match l {
                            "minute" => Some("minute"),
                            "hour" => Some("hour"),
                            "day" | "morning" | "evening" | "night" | "afternoon" => Some("day"),
                            "weekday" | "workday" | "business" => Some("weekday"),
                            "week" => Some("week"),
                            "month" => Some("month"),
                            _ => None,
                        };
                        if let Some(v) = v {
                            every = Some(v.into());
                            end = j + 1;
                        }
                    }
                }
            }
            "on" => {
                // "on the first day of each month", "on the 1st of every month", "on mondays"
                let mut j = i + 1;
                if j < n && toks[j].lower == "the" {
                    j += 1;
                }
                if let Some(d) = toks.get(j).and_then(weekday) {
                    if toks[j].lower.ends_with('s') {
                        every = Some(d.into());
                        end = j + 1;
                    }
                } else {
                    let window: Vec<&str> = toks[j.min(n)..(j + 6).min(n)]
                        .iter()
                        .map(|t| t.lower.as_str())
                        .collect();
                    if window.contains(&"month")
                        && window.iter().any(|w| matches!(*w, "each" | "every"))
                    {
                        every = Some("month".into());
                        end = (j + 6).min(n);
                    }
                }
            }
            _ => {}
        }
        if every.is_some() {
            start = i;
            if end <= i {
                end = i + 1;
            }
        }
        i += 1;
    }
    let every = every?;
    let mut at = None;
    let from = start.saturating_sub(3);
    for k in from..n.min(end + 6) {
        let t = &toks[k];
        if t.is_word() && (t.lower == "at" || t.lower == "@") {
            if let Some((hhmm, next)) = time_of_day(toks, k + 1) {
                at = Some(hhmm);
                end = end.max(next);
                break;
            }
        }
        if t.kind == Kind::Time {
            if let Some((hhmm, next)) = time_of_day(toks, k) {
                at = Some(hhmm);
                end = end.max(next);
                break;
            }
        }
    }
    if at.is_none() && every.as_str() == "day" {
        // "every morning" with no time stays a daily schedule.
    }
    Some(Schedule {
        every: Some(every),
        at,
        start: start.min(end),
        end,
    })
}

/// A comparison operator of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
    Contains,
}

impl Op {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Contains => "contains",
        }
    }
    pub(crate) fn negate(self) -> Option<Op> {
        Some(match self {
            Op::Gt => Op::Le,
            Op::Ge => Op::Lt,
            Op::Lt => Op::Ge,
            Op::Le => Op::Gt,
            Op::Eq => Op::Ne,
            Op::Ne => Op::Eq,
            Op::Contains => return None,
        })
    }
}

/// Comparator phrases (lower-case words), longest first.
const COMPARATORS: &[(&[&str], Op)] = &[
    (&["is", "greater", "than", "or", "equal", "to"], Op::Ge),
    (&["is", "less", "than", "or", "equal", "to"], Op::Le),
    (&["is", "not", "equal", "to"], Op::Ne),
    (&["does", "not", "equal"], Op::Ne),
    (&["doesn't", "equal"], Op::Ne),
    (&["is", "anything", "but"], Op::Ne),
    (&["is", "greater", "than"], Op::Gt),
    (&["is", "more", "than"], Op::Gt),
    (&["is", "higher", "than"], Op::Gt),
    (&["is", "larger", "than"], Op::Gt),
    (&["is", "bigger", "than"], Op::Gt),
    (&["is", "less", "than"], Op::Lt),
    (&["is", "lower", "than"], Op::Lt),
    (&["is", "smaller", "than"], Op::Lt),
    (&["is", "at", "least"], Op::Ge),
    (&["is", "at", "most"], Op::Le),
    (&["is", "no", "more", "than"], Op::Le),
    (&["is", "equal", "to"], Op::Eq),
    (&["is", "over"], Op::Gt),
    (&["is", "above"], Op::Gt),
    (&["is", "under"], Op::Lt),
    (&["is", "below"], Op::Lt),
    (&["is", "not"], Op::Ne),
    (&["isn't"], Op::Ne),
    (&["is"], Op::Eq),
    (&["are"], Op::Eq),
    (&["equals"], Op::Eq),
    (&["greater", "than"], Op::Gt),
    (&["more", "than"], Op::Gt),
    (&["higher", "than"], Op::Gt),
    (&["larger", "than"], Op::Gt),
    (&["bigger", "than"], Op::Gt),
    (&["less", "than"], Op::Lt),
    (&["lower", "than"], Op::Lt),
    (&["smaller", "than"], Op::Lt),
    (&["at", "least"], Op::Ge),
    (&["at", "most"], Op::Le),
    (&["no", "more", "than"], Op::Le),
    (&["exceeds"], Op::Gt),
    (&["exceed"], Op::Gt),
    (&["tops"], Op::Gt),
    (&["over"], Op::Gt),
    (&["above"], Op::Gt),
    (&["under"], Op::Lt),
    (&["below"], Op::Lt),
    (&["does", "not", "contain"], Op::Ne),
    (&["doesn't", "contain"], Op::Ne),
    (&["contains"], Op::Contains),
    (&["contain"], Op::Contains),
    (&["includes"], Op::Contains),
    (&["include"], Op::Contains),
    (&["mentions"], Op::Contains),
    (&["mention"], Op::Contains),
];

/// A parsed condition.
pub(crate) struct Condition {
    /// `FIELD OP VALUE`, or `None` when the value is vague ("large").
    pub text: Option<String>,
    /// The comparison was found but its value is vague.
    pub vague: bool,
}

fn snake(words: &[&Token]) -> String {
    words
        .iter()
        .map(|t| t.lower.replace('\'', ""))
        .collect::<Vec<_>>()
        .join("_")
}

/// "the customer is in the EU", "the contact is based in Germany": a
/// record placed somewhere is a condition on its `country`.
fn location(
    desc: &str,
    toks: &[Token],
    negate: bool,
    is_entity: &dyn Fn(&str) -> bool,
) -> Option<Condition> {
    const PLACED: &[&[&str]] = &[
        &["is", "in"],
        &["are", "in"],
        &["is", "based", "in"],
        &["are", "based", "in"],
        &["is", "located", "in"],
        &["lives", "in"],
        &["is", "from"],
        &["are", "from"],
        &["comes", "from"],
    ];
    let n = toks.len();
    (1..n).find_map(|i| {
        let words = PLACED.iter().find(|w| {
            i + w.len() < n
                && w.iter()
                    .enumerate()
                    .all(|(k, x)| toks[i + k].is_word() && toks[i + k].lower == *x)
        })?;
        // The subject is a record ("the customer", "they"), nothing else.
        let subject: Vec<&Token> = toks[..i]
            .iter()
            .filter(|t| {
                t.is_word()
                    && !super::text::is_determiner(&t.lower)
                    && !matches!(
                        t.lower.as_str(),
                        "if" | "when" | "unless" | "only" | "and" | "but" | "where"
                    )
            })
            .collect();
        let record = !subject.is_empty()
            && subject.len() <= 2
            && subject
                .iter()
                .all(|t| is_entity(&t.stem) || matches!(t.lower.as_str(), "they" | "he" | "she"));
        if !record {
            return None;
        }
        let mut j = i + words.len();
        while j < n && toks[j].is_word() && super::text::is_determiner(&toks[j].lower) {
            j += 1;
        }
        let place: Vec<&Token> = toks[j..]
            .iter()
            .take_while(|t| t.is_word() && (t.cap || t.lower.len() <= 3))
            .take(3)
            .collect();
        let (first, last) = (place.first()?, place.last()?);
        let value = desc.get(first.start..last.end)?;
        let op = if negate { "!=" } else { "==" };
        Some(Condition {
            text: Some(format!("country {op} {value}")),
            vague: false,
        })
    })
}

/// Reads `FIELD OP VALUE` from the tokens of a condition clause
/// (after "if"/"unless"/"when"), dropping the record's own name from the
/// field (`is_entity` says which words name records).
pub(crate) fn condition(
    desc: &str,
    toks: &[Token],
    negate: bool,
    is_entity: &dyn Fn(&str) -> bool,
) -> Option<Condition> {
    let n = toks.len();
    if let Some(c) = location(desc, toks, negate, is_entity) {
        return Some(c);
    }
    for i in 0..n {
        for (words, op) in COMPARATORS {
            if i + words.len() > n {
                continue;
            }
            if !words
                .iter()
                .enumerate()
                .all(|(k, w)| toks[i + k].is_word() && toks[i + k].lower == *w)
            {
                continue;
            }
            // Field: the words before the comparator.
            let field_toks: Vec<&Token> = toks[..i]
                .iter()
                .filter(|t| {
                    t.is_word()
                        && !super::text::is_determiner(&t.lower)
                        && t.lower != "'s"
                        && !matches!(
                            t.lower.as_str(),
                            "with"
                                | "and"
                                | "whose"
                                | "where"
                                | "if"
                                | "when"
                                | "unless"
                                | "only"
                                | "it"
                                | "value"
                                | "of"
                        )
                })
                .collect();
            // Drop the record's name ("the order total" → total).
            let mut field_toks: Vec<&Token> = field_toks;
            while field_toks.len() > 1 && is_entity(&field_toks[0].stem) {
                field_toks.remove(0);
            }
            // "the ticket's priority": keep what follows 's.
            if let Some(p) = toks[..i].iter().rposition(|t| t.lower == "'s") {
                let after: Vec<&Token> = toks[p + 1..i].iter().filter(|t| t.is_word()).collect();
                if !after.is_empty() {
                    field_toks = after;
                }
            }
            if field_toks.is_empty() || field_toks.len() > 4 {
                continue;
            }
            let mut op = *op;
            let mut j = i + words.len();
            // "contains the word "outage""
            while j < n
                && toks[j].is_word()
                && matches!(
                    toks[j].lower.as_str(),
                    "the"
                        | "a"
                        | "an"
                        | "word"
                        | "words"
                        | "text"
                        | "phrase"
                        | "term"
                        | "string"
                        | "keyword"
                        | "value"
                )
            {
                j += 1;
            }
            // "is in the EU"
            if op == Op::Eq && j < n && toks[j].lower == "in" {
                j += 1;
                while j < n && matches!(toks[j].lower.as_str(), "the" | "a") {
                    j += 1;
                }
            }
            let Some(v) = toks.get(j) else { continue };
            let value = match v.kind {
                Kind::Number | Kind::Money => fmt_num(v.num.unwrap_or(0.0)),
                Kind::Quoted => v.lower.clone(),
                Kind::Word
                    if op == Op::Eq
                        && !v.cap
                        && (v.lower.ends_with("ed")
                            || matches!(v.lower.as_str(), "done" | "sent" | "paid")) =>
                {
                    // "once the ticket is closed": an event, not a comparison.
                    continue;
                }
                Kind::Word => {
                    if super::grammar::VAGUE_AMOUNTS.contains(&v.lower.as_str())
                        || matches!(
                            v.lower.as_str(),
                            "important" | "urgent-ish" | "enough" | "significant"
                        )
                    {
                        return Some(Condition {
                            text: None,
                            vague: true,
                        });
                    }
                    if let Some(num) = number_at(v).filter(|_| v.lower != "a" && v.lower != "an") {
                        fmt_num(num)
                    } else {
                        // A value: the word run as written.
                        let mut k = j;
                        let mut end = v.end;
                        while k + 1 < n && toks[k].glued {
                            k += 1;
                            end = toks[k].end;
                        }
                        if v.cap {
                            while k + 1 < n && toks[k + 1].is_word() && toks[k + 1].cap {
                                k += 1;
                                end = toks[k].end;
                            }
                        }
                        desc.get(v.start..end).unwrap_or(&v.lower).to_string()
                    }
                }
                Kind::Channel
                | Kind::Email
                | Kind::Phone
                | Kind::Slug
                | Kind::Url
                | Kind::Path
                | Kind::Time => desc.get(v.start..v.end).unwrap_or(&v.lower).to_string(),
                _ => continue,
            };
            let words_field: Vec<&Token> = field_toks.to_vec();
            let field = snake(&words_field);
            if negate {
                match op.negate() {
                    Some(o) => op = o,
                    None => {
                        return Some(Condition {
                            text: None,
                            vague: true,
                        })
                    }
                }
            }
            return Some(Condition {
                text: Some(format!("{field} {} {value}", op.symbol())),
                vague: false,
            });
        }
    }
    None
}
