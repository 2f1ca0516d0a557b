//! The default planner: rules from grammar and the catalog's vocabulary,
//! no model, no network, the same plan for the same input everywhere.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::Value;

use super::grammar::{self, Marker, Sub};
use super::lexicon::{Lexicon, OpInfo, PWord, PatPart, Recipient, SlotKind};
use super::text::{self, is_determiner, is_function_word, tokenize, Kind, Token};
use super::{Plan, PlanError, PlanRequest, Planner};
use crate::connector::{Catalog, ValueType};
use crate::model::{
    Binding, Effect, OperationKind, OperationSelector, Rule, RuleCheck, SourceSpan, Step, StepGraph,
};

/// Confidence of a step bound with every part stated.
const SURE: f64 = 0.95;
/// Confidence of a step a person should check.
const UNSURE: f64 = 0.5;

/// The default, deterministic planner. Build it once per catalog with
/// [`DeterministicPlanner::new`]; planning is then pure and fast.
///
/// ```
/// use nexwatt_engine::connector::Catalog;
/// use nexwatt_engine::planner::{DeterministicPlanner, PlanRequest};
/// let planner = DeterministicPlanner::new(&Catalog::new(vec![]));
/// let err = planner.plan_sync(&PlanRequest::new("post in #ops")).unwrap_err();
/// assert_eq!(err.kind.code(), "description_unrecognized");
/// ```
#[derive(Debug, Clone)]
pub struct DeterministicPlanner {
    lex: Lexicon,
}

impl DeterministicPlanner {
    /// Builds the planner's lexicon from `catalog`'s manifests and
    /// vocabulary.
    pub fn new(catalog: &Catalog) -> Self {
        Self {
            lex: Lexicon::build(catalog),
        }
    }

    /// Plans `request` synchronously. Never panics: returns a plan or a
    /// typed error.
    pub fn plan_sync(&self, request: &PlanRequest) -> Result<Plan, PlanError> {
        request.validate()?;
        let mut run = Run::new(&self.lex, request);
        run.plan()
    }
}

#[async_trait]
impl Planner for DeterministicPlanner {
    async fn plan(&self, request: &PlanRequest) -> Result<Plan, PlanError> {
        self.plan_sync(request)
    }
}

/// A clause: a run of tokens between separators.
#[derive(Debug, Clone)]
struct Clause {
    start: usize,
    body: usize,
    end: usize,
    sentence: usize,
    marker: Option<Marker>,
    sub: Option<Sub>,
    /// Tokens after the subordinating word.
    sub_body: usize,
    negated: bool,
    list_item: bool,
}

/// A step being planned.
#[derive(Debug, Clone)]
struct Draft {
    op: usize,
    params: BTreeMap<String, Value>,
    deps: BTreeSet<usize>,
    conf: f64,
    notes: Vec<String>,
    span: (usize, usize),
    matched: String,
    /// (input field, source step, path)
    bindings: Vec<(String, usize, String)>,
}

/// A record available to later steps.
#[derive(Debug, Clone)]
struct Rec {
    conn: usize,
    entity: String,
    step: usize,
}

/// The result of binding a clause to an operation.
#[derive(Debug, Clone)]
struct Bound {
    op: usize,
    /// Confidence in the connector choice alone.
    conn_conf: f64,
    conf: f64,
    notes: Vec<String>,
    /// The record the step acts on: (connector, entity) as read.
    target: Option<(usize, String)>,
    /// The pronoun's record, when the object was a pronoun.
    pronoun_rec: Option<Rec>,
}

struct Run<'a> {
    lex: &'a Lexicon,
    req: &'a PlanRequest,
    desc: &'a str,
    toks: Vec<Token>,
    clauses: Vec<Clause>,
    steps: Vec<Draft>,
    rules: Vec<Rule>,
    records: Vec<Rec>,
    base: usize,
    group: Vec<usize>,
    pending: Option<BTreeSet<usize>>,
    pending_par: bool,
    named_in_desc: BTreeSet<usize>,
    understood: Vec<String>,
    not_understood: Vec<String>,
    trigger_clause: Option<usize>,
    carry_marker: Option<Marker>,
    alias_at: Vec<Option<(usize, usize)>>,
    noun_at: Vec<Vec<(usize, usize, String)>>,
    imper: Vec<bool>,
    marker_c: Vec<Option<(Marker, usize)>>,
    sub_c: Vec<Option<(Sub, usize)>>,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl<'a> Run<'a> {
    fn new(lex: &'a Lexicon, req: &'a PlanRequest) -> Self {
        let desc = req.description.as_str();
        let mut toks = tokenize(desc);
        let mut prev_break = true;
        for t in &mut toks {
            let initial = std::mem::replace(&mut prev_break, t.is_break());
            if t.kind == Kind::Word {
                let st = text::stem(&t.lower);
                let proper = t.cap && !initial;
                match if proper {
                    None
                } else {
                    lex.correct(&t.lower, &st)
                } {
                    Some(c) => {
                        t.stem = c;
                        t.corrected = true;
                    }
                    None => t.stem = st,
                }
            } else {
                t.stem = t.lower.clone();
            }
        }
        Run {
            lex,
            req,
            desc,
            toks,
            clauses: Vec::new(),
            steps: Vec::new(),
            rules: Vec::new(),
            records: Vec::new(),
            base: 0,
            group: vec![0],
            pending: None,
            pending_par: false,
            named_in_desc: BTreeSet::new(),
            understood: Vec::new(),
            not_understood: Vec::new(),
            trigger_clause: None,
            carry_marker: None,
            alias_at: Vec::new(),
            noun_at: Vec::new(),
            imper: Vec::new(),
            marker_c: Vec::new(),
            sub_c: Vec::new(),
        }
    }

    fn text(&self, a: usize, b: usize) -> &'a str {
        if a >= b || b > self.toks.len() {
            return "";
        }
        self.desc
            .get(self.toks[a].start..self.toks[b - 1].end)
            .unwrap_or("")
    }

    fn snippet(&self, a: usize, b: usize) -> String {
        let t = self.text(a, b).trim();
        if t.chars().count() > 70 {
            let s: String = t.chars().take(67).collect();
            format!("{s}…")
        } else {
            t.to_string()
        }
    }

    // ---------- phrase matching ----------

    /// Matches `words` (stems, `None` = gap) at token `i`, skipping
    /// determiners between words. Returns the end index.
    fn match_words(&self, i: usize, end: usize, words: &[PWord]) -> Option<usize> {
        let mut k = i;
        let mut gap = false;
        for (wi, w) in words.iter().enumerate() {
            match w {
                PWord::Gap => gap = true,
                PWord::Word(s) => {
                    let mut found = None;
                    let limit = if gap { (k + 6).min(end) } else { end };
                    let mut j = k;
                    while j < limit {
                        let t = &self.toks[j];
                        if t.is_break() {
                            break;
                        }
                        if t.is_word() && t.stem == *s {
                            found = Some(j);
                            break;
                        }
                        if wi > 0 && !gap && !(t.is_word() && is_determiner(&t.lower)) {
                            break;
                        }
                        if wi == 0 {
                            break;
                        }
                        j += 1;
                    }
                    let f = found?;
                    k = f + 1;
                    gap = false;
                }
            }
        }
        Some(k)
    }

    fn phrase_at(&self, i: usize, end: usize, words: &[String]) -> Option<usize> {
        let mut k = i;
        for w in words {
            let t = self.toks.get(k)?;
            if k >= end || !t.is_word() || t.stem != *w {
                return None;
            }
            k += 1;
        }
        Some(k)
    }

    fn lower_phrase_at(&self, i: usize, end: usize, phrase: &str) -> Option<usize> {
        let t0 = self.toks.get(i)?;
        // Cheap first-word check before splitting the phrase.
        let first_len = phrase
            .bytes()
            .position(|c| c == b' ')
            .unwrap_or(phrase.len());
        let first = &phrase[..first_len];
        if !(t0.lower == first || t0.corrected && t0.stem == first) {
            return None;
        }
        let mut k = i;
        for w in phrase.split(' ') {
            let t = self.toks.get(k)?;
            if k >= end || !t.is_word() {
                return None;
            }
            let ok = t.lower == w || t.corrected && t.stem == w;
            if !ok {
                return None;
            }
            k += 1;
        }
        Some(k)
    }

    fn named(&self, a: usize, b: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut i = a;
        while i < b.min(self.alias_at.len()) {
            match self.alias_at[i] {
                Some((end, c)) if end <= b => {
                    out.push((i, c));
                    i = end;
                }
                _ => i += 1,
            }
        }
        out
    }

    /// Connector names at each token (longest first), computed once.
    fn alias_table(&self) -> Vec<Option<(usize, usize)>> {
        let n = self.toks.len();
        let mut out = vec![None; n];
        for (i, slot) in out.iter_mut().enumerate() {
            let Some(cands) = self.lex.alias_first.get(&self.toks[i].stem) else {
                continue;
            };
            if !self.toks[i].is_word() {
                continue;
            }
            for &ai in cands {
                let e = &self.lex.aliases[ai];
                if let Some(end) = self.phrase_at(i, n, &e.phrase) {
                    if e.weak {
                        let prev = if i > 0 { self.toks.get(i - 1) } else { None };
                        let det = prev.is_some_and(|p| {
                            p.is_word() && is_determiner(&p.lower) && p.lower != "our"
                        });
                        // "an email", "the email": a noun, not the connector.
                        let followed_by_noun = self
                            .toks
                            .get(end)
                            .is_some_and(|t| t.is_word() && !is_function_word(&t.lower));
                        if det || followed_by_noun {
                            continue;
                        }
                    }
                    *slot = Some((end, e.conn));
                    break;
                }
            }
        }
        out
    }

    /// Entity nouns at each token (the longest phrase, every connector).
    fn noun_table(&self) -> Vec<Vec<(usize, usize, String)>> {
        let n = self.toks.len();
        let mut out = vec![Vec::new(); n];
        for (i, slot) in out.iter_mut().enumerate() {
            if !self.toks[i].is_word() {
                continue;
            }
            let Some(cands) = self.lex.noun_first.get(&self.toks[i].stem) else {
                continue;
            };
            let mut best_len = 0;
            for &ni in cands {
                let e = &self.lex.nouns[ni];
                if e.phrase.len() < best_len {
                    break;
                }
                if let Some(end) = self.phrase_at(i, n, &e.phrase) {
                    best_len = e.phrase.len();
                    if let Some(ent) = &e.entity {
                        slot.push((end, e.conn, ent.clone()));
                    }
                }
            }
        }
        out
    }

    fn nouns(&self, a: usize, b: usize) -> Vec<(usize, usize, usize, String)> {
        let mut out = Vec::new();
        let mut i = a;
        while i < b.min(self.noun_at.len()) {
            let mut step = 1;
            for (end, conn, ent) in &self.noun_at[i] {
                if *end <= b {
                    out.push((i, *end, *conn, ent.clone()));
                    step = step.max(end - i);
                }
            }
            i += step;
        }
        out
    }

    /// A category word as written ("accounting", "our CRM") at `i`.
    fn category_at(&self, i: usize, b: usize, p: &[String]) -> bool {
        self.phrase_at(i, b, p).is_some()
            && self
                .toks
                .get(i)
                .is_some_and(|t| self.lex.category_words.contains(&t.lower))
    }

    fn categories(&self, a: usize, b: usize) -> Vec<usize> {
        let mut out = Vec::new();
        for i in a..b {
            for (p, conns) in &self.lex.categories {
                if self.category_at(i, b, p) {
                    out.extend(conns.iter().copied());
                }
            }
        }
        out
    }

    /// A capitalised word after "in"/"into"/"via"… that names no catalog
    /// connector: a product the catalog does not have ("in Gusto").
    fn unknown_product(&self, a: usize, b: usize) -> Option<String> {
        for i in a..b.saturating_sub(1) {
            let t = &self.toks[i];
            if !(t.is_word()
                && matches!(
                    t.lower.as_str(),
                    "in" | "into" | "via" | "using" | "through"
                ))
            {
                continue;
            }
            let n = &self.toks[i + 1];
            if n.is_word()
                && n.cap
                && !n.corrected
                && !self.lex.known.contains(&n.stem)
                && self.named(i + 1, i + 2).is_empty()
                && self.nouns(i + 1, i + 2).is_empty()
            {
                let next = self.toks.get(i + 2);
                // "in Jira project WEB" is fine; a product name stands alone.
                if next.is_none_or(|x| {
                    x.is_break() || is_function_word(&x.lower) || x.is_word() && x.cap
                }) {
                    return Some(self.text(i + 1, i + 2).to_string());
                }
            }
        }
        None
    }

    // ---------- sentences and clauses ----------

    fn split(&mut self) {
        let n = self.toks.len();
        let mut sentence = 0;
        let mut start = 0;
        let mut list_item = false;
        let mut i = 0;
        while i <= n {
            let at_end = i == n;
            let tok_kind = if at_end {
                Kind::Stop
            } else {
                self.toks[i].kind
            };
            let mut cut = false;
            let mut new_sentence = false;
            let mut skip = 1;
            match tok_kind {
                Kind::Stop | Kind::ListMarker => {
                    cut = true;
                    new_sentence = true;
                }
                Kind::Comma | Kind::Arrow => cut = true,
                Kind::Word if i > start => {
                    // Split before a conjunction that opens a new thing to
                    // do, and before a subordinating word in mid-clause.
                    let t = &self.toks[i];
                    if matches!(t.lower.as_str(), "and" | "or" | "but") {
                        let nx = self.first_body(i + 1, n);
                        if nx > i + 1 && self.opens_clause(nx, n) || self.opens_clause(i + 1, n) {
                            cut = true;
                            skip = 0;
                        }
                    } else if t.lower == "then" || self.sub_at(i, n).is_some() {
                        cut = true;
                        skip = 0;
                    }
                }
                _ => {}
            }
            if cut {
                if i > start {
                    self.push_clause(start, i, sentence, list_item);
                    list_item = false;
                }
                if new_sentence {
                    sentence += 1;
                    if !at_end && tok_kind == Kind::ListMarker {
                        list_item = true;
                    }
                }
                if skip == 0 {
                    start = i;
                    i += 1;
                    continue;
                }
                start = i + 1;
            }
            i += 1;
        }
    }

    fn first_body(&self, mut i: usize, n: usize) -> usize {
        let mut guard = 0;
        while i < n && guard < 8 {
            guard += 1;
            match self.marker_at(i, n) {
                Some((_, e)) if e > i => i = e,
                _ => break,
            }
            while i < n && self.toks[i].kind == Kind::Comma {
                i += 1;
            }
        }
        i
    }

    fn marker_at(&self, i: usize, n: usize) -> Option<(Marker, usize)> {
        if let Some(c) = self.marker_c.get(i) {
            return c.filter(|(_, e)| *e <= n);
        }
        self.marker_uncached(i, n)
    }

    fn marker_uncached(&self, i: usize, n: usize) -> Option<(Marker, usize)> {
        if !self.toks.get(i).is_some_and(|t| t.is_word()) {
            return None;
        }
        for &(p, m) in self
            .lex
            .grammar_candidates(&self.toks[i], &self.lex.markers_first)
        {
            let (p, m) = (&p, &m);
            if let Some(e) = self.lower_phrase_at(i, n, p) {
                // "then" / "next" / "first" as an adjective ("the next day") is not a marker.
                if *p == "next"
                    && self.toks.get(e).is_some_and(|t| {
                        t.is_word()
                            && matches!(
                                t.lower.as_str(),
                                "day" | "week" | "month" | "time" | "quarter"
                            )
                    })
                {
                    continue;
                }
                return Some((*m, e));
            }
        }
        None
    }

    fn sub_at(&self, i: usize, n: usize) -> Option<(Sub, usize)> {
        if let Some(c) = self.sub_c.get(i) {
            return c.filter(|(_, e)| *e <= n);
        }
        self.sub_uncached(i, n)
    }

    fn sub_uncached(&self, i: usize, n: usize) -> Option<(Sub, usize)> {
        if !self.toks.get(i).is_some_and(|t| t.is_word()) {
            return None;
        }
        for &(p, s) in self
            .lex
            .grammar_candidates(&self.toks[i], &self.lex.subs_first)
        {
            let (p, s) = (&p, &s);
            if let Some(e) = self.lower_phrase_at(i, n, p) {
                if *p == "after"
                    && self.toks.get(e).is_some_and(|t| {
                        t.is_word() && matches!(t.lower.as_str(), "that" | "which" | "this")
                    })
                {
                    return None;
                }
                return Some((*s, e));
            }
        }
        None
    }

    /// Whether the clause starting at `i` opens a new thing to do.
    fn opens_clause(&self, i: usize, n: usize) -> bool {
        if i >= n {
            return false;
        }
        if self
            .marker_at(i, n)
            .is_some_and(|(m, _)| m != Marker::Discourse)
        {
            return true;
        }
        if self.sub_at(i, n).is_some() {
            return true;
        }
        if self.is_imperative(i, n) {
            return true;
        }
        // "… should be found and marked as solved"
        let t = &self.toks[i];
        t.is_word()
            && (t.lower.ends_with("ed") || t.lower.ends_with("en"))
            && self.lex.verb_index.contains_key(&t.stem)
            && !self
                .lex
                .nouns
                .iter()
                .any(|e| e.phrase.len() == 1 && e.phrase[0] == t.stem)
    }

    fn is_imperative(&self, i: usize, n: usize) -> bool {
        if i >= n {
            return false;
        }
        match self.imper.get(i) {
            Some(v) => *v,
            None => self.imperative_uncached(i, n),
        }
    }

    fn imperative_uncached(&self, i: usize, n: usize) -> bool {
        let Some(t) = self.toks.get(i) else {
            return false;
        };
        if !t.is_word() || i >= n {
            return false;
        }
        if self.vague_verb_at(i, n).is_some() {
            return true;
        }
        let surface = if t.corrected { &t.stem } else { &t.lower };
        if !(self.lex.imperatives.contains(surface) || self.lex.imperatives.contains(&t.lower)) {
            // Typo-corrected verbs: accept the stem of a known verb.
            let action_verb = self.lex.verb_index.get(&t.stem).is_some_and(|u| {
                u.iter()
                    .any(|(oi, _)| self.lex.ops[*oi].kind == OperationKind::Action)
            });
            // A typo that is already a stem ("creat a task") counts too.
            if !((t.corrected || t.lower == t.stem) && action_verb) {
                return false;
            }
        }
        // "Our bookkeeping happens…": a verb that is the subject's noun.
        true
    }

    fn vague_verb_at(&self, i: usize, n: usize) -> Option<usize> {
        grammar::VAGUE_VERBS.iter().find_map(|p| {
            self.lower_phrase_at(i, n, p).filter(|_| {
                // "process" as a noun ("the process") is not a verb here.
                i == 0
                    || !self
                        .toks
                        .get(i.wrapping_sub(1))
                        .is_some_and(|t| t.is_word() && is_determiner(&t.lower))
            })
        })
    }

    fn push_clause(&mut self, start: usize, end: usize, sentence: usize, list_item: bool) {
        let mut body = start;
        let mut marker = None;
        let mut guard = 0;
        while body < end && guard < 8 {
            guard += 1;
            match self.marker_at(body, end) {
                Some((m, e)) => {
                    if m != Marker::Discourse {
                        // The strongest marker wins: Both > ParRef > Par > Seq.
                        marker = match (marker, m) {
                            (Some(Marker::Both), _) => Some(Marker::Both),
                            (Some(Marker::ParRef), _) => Some(Marker::ParRef),
                            (Some(Marker::Seq), Marker::Par) => Some(Marker::Seq),
                            (_, m) => Some(m),
                        };
                        if m == Marker::ParRef {
                            body = e;
                            break;
                        }
                    }
                    body = e;
                }
                None => break,
            }
        }
        let mut sub = None;
        let mut sub_body = body;
        if marker != Some(Marker::ParRef) {
            if let Some((s, e)) = self.sub_at(body, end) {
                sub = Some(s);
                sub_body = e;
            }
        }
        let negated = grammar::NEGATIONS
            .iter()
            .any(|p| self.lower_phrase_at(sub_body, end, p).is_some())
            || (sub_body + 1 < end
                && self.toks[sub_body].is_word()
                && matches!(self.toks[sub_body].lower.as_str(), "we" | "you" | "i")
                && grammar::NEGATIONS
                    .iter()
                    .any(|p| self.lower_phrase_at(sub_body + 1, end, p).is_some()));
        // A limit ("at most one text per day", "refunds must not exceed
        // $500", "no more than $200") states a rule, not a step.
        let negated = negated || (sub.is_none() && self.limit_at(sub_body, end).is_some());
        if body >= end {
            // A clause of markers only ("and, at the same time,") passes its
            // marker on to the next clause.
            if let Some(m) = marker {
                self.carry_marker = Some(m);
            }
            return;
        }
        if marker.is_none() {
            marker = self.carry_marker.take();
        } else {
            self.carry_marker = None;
        }
        self.clauses.push(Clause {
            start,
            body,
            end,
            sentence,
            marker,
            sub,
            sub_body,
            negated,
            list_item,
        });
    }
}

// `carry_marker` lives outside the struct literal above for clarity.
impl Run<'_> {
    fn plan(&mut self) -> Result<Plan, PlanError> {
        self.alias_at = self.alias_table();
        self.noun_at = self.noun_table();
        let n = self.toks.len();
        self.imper = (0..n).map(|i| self.imperative_uncached(i, n)).collect();
        self.marker_c = (0..n).map(|i| self.marker_uncached(i, n)).collect();
        self.sub_c = (0..n).map(|i| self.sub_uncached(i, n)).collect();
        self.split();
        for c in self.clauses.iter() {
            // The verb itself ("email the customer") names no connector.
            let from = if self.is_imperative(c.body, c.end) {
                c.body + 1
            } else {
                c.start
            };
            let named = self.named(from, c.end);
            self.named_in_desc.extend(named.iter().map(|(_, c)| *c));
        }
        let operative = self.operative_sentences();
        self.extract_rules();
        self.reorder(&operative);
        self.find_trigger(&operative);
        if self.steps.is_empty() {
            return Err(PlanError::unrecognized(
                "nothing in the description matches the catalog (it has no trigger and no core.manual)",
            ));
        }
        let clauses = self.clauses.clone();
        let mut last_sentence = usize::MAX;
        for (ci, c) in clauses.iter().enumerate() {
            if !operative.contains(&c.sentence) || c.negated {
                continue;
            }
            if c.sentence != last_sentence {
                last_sentence = c.sentence;
                self.base = 0;
                if c.list_item && !self.steps.is_empty() {
                    // A numbered item follows the previous one.
                }
            }
            if Some(ci) == self.trigger_clause {
                continue;
            }
            self.clause(ci, c, &clauses);
        }
        self.finish()
    }
}

/// Words that refer back to a record already in the plan.
const PRONOUNS: &[&str] = &[
    "it", "them", "their", "its", "they", "that", "this", "those", "these", "him", "her", "his",
];

impl Run<'_> {
    // ---------- sentence filter, rules, reordering ----------

    /// Where a limit phrase ("at most", "no more than", "must not exceed",
    /// "maximum") followed by a number starts in `a..b`, with the end of
    /// the phrase.
    fn limit_at(&self, a: usize, b: usize) -> Option<(usize, usize)> {
        (a..b).find_map(|i| {
            let e = grammar::LIMITS
                .iter()
                .filter_map(|p| self.lower_phrase_at(i, b, p))
                .max()?;
            self.toks[e..b]
                .iter()
                .take(4)
                .any(|t| {
                    matches!(t.kind, Kind::Money | Kind::Number) || grammar::number_at(t).is_some()
                })
                .then_some((i, e))
        })
    }

    fn passive(&self, c: &Clause) -> Option<usize> {
        let (a, b) = (c.sub_body, c.end);
        let mut j = a;
        while j + 2 < b + 1 && j + 1 < b {
            let t = &self.toks[j];
            let be = &self.toks[j + 1];
            let modal = t.is_word()
                && matches!(
                    t.lower.as_str(),
                    "should" | "must" | "will" | "shall" | "can" | "to" | "would" | "could"
                );
            if modal && be.is_word() && be.lower == "be" {
                let mut v = j + 2;
                while v < b
                    && self.toks[v].is_word()
                    && (self.toks[v].lower.ends_with("ly")
                        || matches!(self.toks[v].lower.as_str(), "also" | "then" | "immediately"))
                {
                    v += 1;
                }
                if v < b
                    && self.toks[v].is_word()
                    && self.lex.verb_index.contains_key(&self.toks[v].stem)
                {
                    return Some(v);
                }
            }
            j += 1;
        }
        None
    }

    fn action_clause(&self, c: &Clause) -> bool {
        !c.negated
            && (c.sub.is_none()
                && c.marker != Some(Marker::ParRef)
                && self.is_imperative(c.body, c.end)
                || self.passive(c).is_some() && c.sub.is_none())
    }

    fn operative_sentences(&self) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        let mut passive_sentence: BTreeSet<usize> = BTreeSet::new();
        for c in &self.clauses {
            let first = &self.toks[self
                .clauses
                .iter()
                .find(|x| x.sentence == c.sentence)
                .map_or(c.start, |x| x.start)];
            // Questions that ask about something ("Why did…?", "Which CRM…?").
            let sentence_end = self
                .clauses
                .iter()
                .rev()
                .find(|x| x.sentence == c.sentence)
                .map_or(c.end, |x| x.end);
            let question = self.toks.get(sentence_end).is_some_and(|t| t.question);
            if question
                && first.is_word()
                && matches!(
                    first.lower.as_str(),
                    "why"
                        | "what"
                        | "which"
                        | "how"
                        | "who"
                        | "where"
                        | "is"
                        | "are"
                        | "does"
                        | "do"
                        | "should"
                        | "did"
                        | "was"
                )
            {
                continue;
            }
            if self.action_clause(c) {
                out.insert(c.sentence);
            }
            if c.sub.is_none() && self.passive(c).is_some() {
                passive_sentence.insert(c.sentence);
            }
        }
        out
    }

    fn extract_rules(&mut self) {
        let clauses = self.clauses.clone();
        for c in clauses.iter().filter(|c| c.negated) {
            let mut v = c.sub_body;
            if self
                .toks
                .get(v)
                .is_some_and(|t| t.is_word() && matches!(t.lower.as_str(), "we" | "you" | "i"))
            {
                v += 1;
            }
            let neg_end = grammar::NEGATIONS
                .iter()
                .filter_map(|p| self.lower_phrase_at(v, c.end, p))
                .max();
            let limit = self.limit_at(v, c.end);
            let mut v = match (neg_end, limit) {
                (Some(e), _) => e,
                // "Send at most one text": the action is the clause's verb.
                (None, Some(_)) => v,
                (None, None) => continue,
            };
            // "Refunds must not exceed $500": the action is the subject noun.
            let subject_rule =
                neg_end.is_none() && !self.is_imperative(v, c.end) && limit.is_some();
            if subject_rule {
                v = c.sub_body;
            }
            while v < c.end
                && self.toks[v].is_word()
                && matches!(
                    self.toks[v].lower.as_str(),
                    "ever" | "automatically" | "be" | "to"
                )
            {
                v += 1;
            }
            let Some(bound) = self.bind_action(v, c.end, None) else {
                continue;
            };
            let op = self.lex.ops[bound.op].clone();
            let text = self.text(c.body, c.end).to_string();
            let span = Some(SourceSpan {
                start: self.toks[c.body].start,
                end: self.toks[c.end - 1].end,
            });
            // What the rule checks.
            let mut check = RuleCheck::Forbidden;
            let mut frequency = false;
            for i in v..c.end {
                let t = &self.toks[i];
                if t.is_word()
                    && matches!(
                        t.lower.as_str(),
                        "more"
                            | "over"
                            | "above"
                            | "exceed"
                            | "exceeds"
                            | "exceeding"
                            | "greater"
                            | "beyond"
                            | "most"
                            | "maximum"
                            | "max"
                            | "under"
                            | "below"
                    )
                {
                    // A frequency ("at most one text per day") is no
                    // value limit.
                    if self.toks[i..c.end].iter().any(|x| {
                        x.is_word() && matches!(x.lower.as_str(), "per" | "each" | "a" | "times")
                    }) && !self.toks[i..c.end].iter().any(|x| x.kind == Kind::Money)
                    {
                        frequency = true;
                        break;
                    }
                    if let Some(num) = self.toks[i..c.end]
                        .iter()
                        .find(|x| matches!(x.kind, Kind::Money | Kind::Number))
                        .and_then(|x| x.num)
                    {
                        let field = op
                            .params
                            .iter()
                            .find(|p| {
                                matches!(p.value_type, ValueType::Number | ValueType::Integer)
                            })
                            .map_or_else(|| "amount".to_string(), |p| p.name.clone());
                        check = RuleCheck::MaxValue { field, max: num };
                        break;
                    }
                }
                if t.is_word() {
                    let l = t.lower.trim_end_matches('s');
                    let days: Vec<String> = if l == "weekend" {
                        vec!["saturday".into(), "sunday".into()]
                    } else if [
                        "monday",
                        "tuesday",
                        "wednesday",
                        "thursday",
                        "friday",
                        "saturday",
                        "sunday",
                    ]
                    .contains(&l)
                    {
                        vec![l.to_string()]
                    } else {
                        vec![]
                    };
                    if !days.is_empty() {
                        let mut all = days;
                        // "on saturdays or sundays"
                        for x in &self.toks[i + 1..c.end] {
                            let xl = x.lower.trim_end_matches('s');
                            if [
                                "saturday",
                                "sunday",
                                "monday",
                                "tuesday",
                                "wednesday",
                                "thursday",
                                "friday",
                            ]
                            .contains(&xl)
                                && !all.iter().any(|d| d == xl)
                            {
                                all.push(xl.to_string());
                            }
                        }
                        check = RuleCheck::ForbiddenWeekdays { days: all };
                        break;
                    }
                }
            }
            if frequency || neg_end.is_none() && check == RuleCheck::Forbidden {
                // No check of the rule model expresses it: say so rather
                // than forbid the operation.
                self.not_understood
                    .push(format!("the limit '{}' (no rule can check it)", text));
                continue;
            }
            let targets: Vec<&OpInfo> = if op.recipient == Recipient::Person {
                self.lex
                    .ops
                    .iter()
                    .filter(|o| o.recipient == Recipient::Person)
                    .collect()
            } else {
                vec![&op]
            };
            for t in targets {
                self.rules.push(Rule {
                    applies_to: OperationSelector {
                        connector: Some(t.connector.clone()),
                        operation: Some(t.operation.clone()),
                        effect: None,
                    },
                    check: check.clone(),
                    text: text.clone(),
                    span,
                });
            }
        }
    }

    fn is_condition(&self, c: &Clause) -> bool {
        match c.sub {
            Some(Sub::If) | Some(Sub::Unless) => true,
            Some(Sub::When) => self.cond_of(c.sub_body, c.end, false).is_some(),
            _ => false,
        }
    }

    /// A money amount qualifying a record noun ("an invoice over $5,000",
    /// "a charge of at least $2,500"): `amount OP VALUE` with the span of
    /// the qualifier.
    fn amount_qualifier(&self, a: usize, b: usize) -> Option<(grammar::Condition, usize, usize)> {
        const QUALIFIERS: &[(&str, grammar::Op)] = &[
            ("of more than", grammar::Op::Gt),
            ("of over", grammar::Op::Gt),
            ("of at least", grammar::Op::Ge),
            ("of at most", grammar::Op::Le),
            ("of less than", grammar::Op::Lt),
            ("of under", grammar::Op::Lt),
            ("worth more than", grammar::Op::Gt),
            ("worth over", grammar::Op::Gt),
            ("worth at least", grammar::Op::Ge),
            ("worth less than", grammar::Op::Lt),
            ("worth under", grammar::Op::Lt),
            ("more than", grammar::Op::Gt),
            ("over", grammar::Op::Gt),
            ("above", grammar::Op::Gt),
            ("at least", grammar::Op::Ge),
            ("under", grammar::Op::Lt),
            ("below", grammar::Op::Lt),
        ];
        (a + 1..b).find_map(|i| {
            // The qualifier follows a record noun of the catalog.
            let prev = &self.toks[i - 1];
            if !(prev.is_word() && self.lex.single_nouns.contains(prev.stem.as_str())) {
                return None;
            }
            let (e, op) = QUALIFIERS
                .iter()
                .find_map(|(p, op)| self.lower_phrase_at(i, b, p).map(|e| (e, *op)))?;
            let money = self
                .toks
                .get(e)
                .filter(|t| t.kind == Kind::Money && e < b)?;
            let value = money.num?;
            let value = if value.fract() == 0.0 && value.abs() < 1e15 {
                format!("{}", value as i64)
            } else {
                format!("{value}")
            };
            Some((
                grammar::Condition {
                    text: Some(format!("amount {} {value}", op.symbol())),
                    vague: false,
                },
                i,
                e + 1,
            ))
        })
    }

    fn cond_of(&self, a: usize, b: usize, negate: bool) -> Option<grammar::Condition> {
        let lex = self.lex;
        let is_entity = |s: &str| lex.single_nouns.contains(s);
        grammar::condition(self.desc, &self.toks[a.min(b)..b], negate, &is_entity)
    }

    fn embedded(&self, c: &Clause) -> bool {
        matches!(c.sub, Some(Sub::When) | Some(Sub::After))
            && self
                .toks
                .get(c.sub_body)
                .is_some_and(|t| t.is_word() && t.lower == "you")
            && self.is_imperative(c.sub_body + 1, c.end)
    }

    /// Moves trailing conditions ("tag them as VIP unless …") and embedded
    /// actions ("… the figures you get when you fetch X") before the action
    /// they belong to.
    fn reorder(&mut self, operative: &BTreeSet<usize>) {
        let mut i = 1;
        while i < self.clauses.len() {
            let (prev, cur) = (&self.clauses[i - 1], &self.clauses[i]);
            let same = prev.sentence == cur.sentence && operative.contains(&cur.sentence);
            let next_is_action = self
                .clauses
                .get(i + 1)
                .is_some_and(|n| n.sentence == cur.sentence && self.action_clause(n));
            if same && self.action_clause(prev) && prev.marker.is_none_or(|m| m != Marker::Par) {
                if self.is_condition(cur) && !next_is_action {
                    self.clauses.swap(i - 1, i);
                    // The condition takes the action's place in the flow.
                    let m = self.clauses[i].marker.take();
                    self.clauses[i - 1].marker = m;
                } else if self.embedded(cur) {
                    self.clauses.swap(i - 1, i);
                    let m = self.clauses[i].marker.take();
                    self.clauses[i - 1].marker = m;
                    self.clauses[i].marker = Some(Marker::Seq);
                }
            }
            i += 1;
        }
    }

    // ---------- trigger ----------

    fn match_trigger(&self, a: usize, b: usize) -> Option<(usize, f64, f64)> {
        let nouns = self.nouns(a, b);
        let named = self.named(a, b);
        let mut best: Option<(usize, f64, f64)> = None;
        for (oi, o) in self.lex.ops.iter().enumerate() {
            if o.kind != OperationKind::Trigger || o.connector == "core" {
                continue;
            }
            let ent = nouns
                .iter()
                .any(|(_, _, c, e)| *c == o.conn && *e == o.entity);
            let mut event = 0.0f64;
            for j in a..b {
                let Some(uses) = self.lex.verb_index.get(&self.toks[j].stem) else {
                    continue;
                };
                for &(ui, pi) in uses {
                    if ui != oi {
                        continue;
                    }
                    let p = &o.verbs[pi];
                    if self.match_words(j, b, p).is_some() {
                        let len = p.iter().filter(|w| matches!(w, PWord::Word(_))).count() as f64;
                        event = event.max(2.0 + (len - 1.0));
                    }
                }
            }
            let is_named = named.iter().any(|(_, c)| *c == o.conn);
            let other_named = named.iter().any(|(_, c)| *c != o.conn);
            let mut cue = 0.0;
            for p in &o.params {
                if matches!(
                    p.value_type,
                    ValueType::Channel | ValueType::Email | ValueType::Url
                ) || p.patterns.iter().any(|pat| {
                    pat.iter().any(|x| {
                        matches!(
                            x,
                            PatPart::Slot(
                                SlotKind::Path
                                    | SlotKind::Slug
                                    | SlotKind::Channel
                                    | SlotKind::Email,
                                _
                            )
                        )
                    })
                }) && self.param_value(p, a, b).is_some()
                {
                    cue += 1.5;
                }
            }
            if !(ent || event > 0.0 && (is_named || cue > 0.0)) {
                continue;
            }
            let mut score = if ent { 3.0 } else { 0.0 } + event + cue;
            if is_named {
                score += 3.0;
            } else if other_named {
                score -= 2.0;
            }
            if self.named_in_desc.contains(&o.conn) {
                score += 1.0;
            }
            score -= oi as f64 * 1e-4;
            let conf = if is_named || self.named_in_desc.contains(&o.conn) {
                if event > 0.0 {
                    0.97
                } else {
                    0.8
                }
            } else if event > 0.0 {
                0.88
            } else {
                0.7
            };
            if best.is_none_or(|(_, s, _)| score > s) {
                best = Some((oi, score, conf));
            }
        }
        best
    }

    fn find_trigger(&mut self, operative: &BTreeSet<usize>) {
        let clauses = self.clauses.clone();
        let first_action = clauses
            .iter()
            .position(|c| operative.contains(&c.sentence) && self.action_clause(c));
        let first_sentence = first_action.map(|i| clauses[i].sentence);
        let mut found = None;
        for (ci, c) in clauses.iter().enumerate() {
            if !operative.contains(&c.sentence) || c.negated {
                continue;
            }
            let before = first_action.is_none_or(|fa| ci < fa);
            let head = matches!(c.sub, Some(Sub::When) | Some(Sub::After) | Some(Sub::If));
            let arrow = self.toks.get(c.end).is_some_and(|t| t.kind == Kind::Arrow);
            let bare_new =
                c.sub.is_none() && self.toks.get(c.body).is_some_and(|t| t.lower == "new");
            if !(head || arrow || bare_new) {
                continue;
            }
            if !(before || head && Some(c.sentence) == first_sentence) {
                continue;
            }
            if self.embedded(c) {
                continue;
            }
            if let Some((op, score, conf)) = self.match_trigger(c.sub_body, c.end) {
                if c.sub == Some(Sub::If) && score < 6.0 {
                    continue;
                }
                found = Some((ci, op, conf));
                break;
            }
        }
        if let Some((ci, op, conf)) = found {
            let c = clauses[ci].clone();
            self.trigger_clause = Some(ci);
            let (params, _) = self.params_for(op, c.sub_body, c.end);
            let o = &self.lex.ops[op];
            let conn_note = if self.named_in_desc.contains(&o.conn) {
                "connector named"
            } else {
                "connector inferred"
            };
            self.steps.push(Draft {
                op,
                params,
                deps: BTreeSet::new(),
                conf,
                notes: vec![conn_note.to_string()],
                span: (self.toks[c.start].start, self.toks[c.end - 1].end),
                matched: self.snippet(c.sub_body, c.end),
                bindings: Vec::new(),
            });
            self.understood.push(format!("trigger {}", o.op()));
            for e in o.provides.iter().skip(1).chain(o.provides.first()).cloned() {
                self.records.push(Rec {
                    conn: o.conn,
                    entity: e,
                    step: 0,
                });
            }
            // A condition inside the trigger clause ("… and the subject contains X").
            let boundary = (c.sub_body..c.end).find(|&i| {
                let t = &self.toks[i];
                t.is_word()
                    && matches!(
                        t.lower.as_str(),
                        "and" | "with" | "where" | "whose" | "if" | "that" | "which"
                    )
                    && self.cond_of(i + 1, c.end, false).is_some()
            });
            if let Some(bi) = boundary {
                let negate = false;
                if let Some(cond) = self.cond_of(bi + 1, c.end, negate) {
                    let span = (self.toks[bi].start, self.toks[c.end - 1].end);
                    let snippet = self.snippet(bi + 1, c.end);
                    self.push_condition(cond, span, snippet, BTreeSet::from([0]));
                }
            } else if let Some((cond, a, e)) = self.amount_qualifier(c.sub_body, c.end) {
                // "an invoice over $5,000 is paid": the amount qualifies
                // the event's record.
                let span = (self.toks[a].start, self.toks[e - 1].end);
                let snippet = self.snippet(a, e);
                self.push_condition(cond, span, snippet, BTreeSet::from([0]));
            }
            return;
        }
        // "Log every new Shopify order …": the event inside an action.
        for c in clauses.iter() {
            if !operative.contains(&c.sentence) || c.negated {
                continue;
            }
            let at = (c.body..c.end.saturating_sub(1)).find(|&i| {
                matches!(
                    self.toks[i].lower.as_str(),
                    "every" | "each" | "all" | "any"
                ) && self.toks[i + 1].lower == "new"
            });
            if let Some(i) = at {
                let end = (i + 2..c.end)
                    .find(|&k| {
                        self.toks[k].is_word()
                            && matches!(self.toks[k].lower.as_str(), "to" | "into" | "on" | "as")
                    })
                    .unwrap_or(c.end);
                if let Some((op, _, conf)) = self.match_trigger(i + 1, end) {
                    let o = &self.lex.ops[op];
                    let (params, _) = self.params_for(op, i + 1, end);
                    self.steps.push(Draft {
                        op,
                        params,
                        deps: BTreeSet::new(),
                        conf,
                        notes: vec!["event read from 'every new …'".to_string()],
                        span: (self.toks[i].start, self.toks[end - 1].end),
                        matched: self.snippet(i, end),
                        bindings: Vec::new(),
                    });
                    self.understood.push(format!("trigger {}", o.op()));
                    for e in o.provides.iter().skip(1).chain(o.provides.first()).cloned() {
                        self.records.push(Rec {
                            conn: o.conn,
                            entity: e,
                            step: 0,
                        });
                    }
                    return;
                }
            }
        }
        // A schedule.
        for c in clauses.iter() {
            if !operative.contains(&c.sentence) || c.negated {
                continue;
            }
            if let Some(s) = grammar::schedule(&self.toks[c.start..c.end]) {
                let op = self.lex.core.get("schedule").copied();
                if let Some(op) = op {
                    let mut params = BTreeMap::new();
                    if let Some(e) = s.every {
                        params.insert("every".to_string(), Value::String(e));
                    }
                    if let Some(at) = s.at {
                        params.insert("at".to_string(), Value::String(at));
                    }
                    let (a, b) = (c.start + s.start, (c.start + s.end).min(c.end));
                    self.steps.push(Draft {
                        op,
                        params,
                        deps: BTreeSet::new(),
                        conf: 0.95,
                        notes: vec!["schedule read from the description".into()],
                        span: (self.toks[a].start, self.toks[b.max(a + 1) - 1].end),
                        matched: self.snippet(a, b.max(a + 1)),
                        bindings: Vec::new(),
                    });
                    self.understood.push("a schedule".into());
                    return;
                }
            }
        }
        if let Some(op) = self.lex.core.get("manual").copied() {
            // An event was stated but matches no trigger of the catalog.
            let stated = clauses.iter().find(|c| {
                operative.contains(&c.sentence)
                    && matches!(c.sub, Some(Sub::When))
                    && c.start
                        == clauses
                            .iter()
                            .find(|x| x.sentence == c.sentence)
                            .map_or(usize::MAX, |x| x.start)
                    && !self.is_condition(c)
                    && !self.embedded(c)
            });
            let (conf, note, span) = match stated {
                Some(c) => (0.4, format!("the stated event '{}' matches no trigger in the catalog; runs only when started", self.snippet(c.sub_body, c.end)), (self.toks[c.start].start, self.toks[c.end - 1].end)),
                None => (0.9, "no event or schedule stated: runs when started through the API".to_string(), (0, 0)),
            };
            self.steps.push(Draft {
                op,
                params: BTreeMap::new(),
                deps: BTreeSet::new(),
                conf,
                notes: vec![note],
                span,
                matched: String::new(),
                bindings: Vec::new(),
            });
        }
    }

    fn push_condition(
        &mut self,
        cond: grammar::Condition,
        span: (usize, usize),
        snippet: String,
        deps: BTreeSet<usize>,
    ) {
        let Some(op) = self.lex.core.get("if").copied() else {
            return;
        };
        let mut params = BTreeMap::new();
        let (conf, note) = match cond.text {
            Some(t) => {
                params.insert("condition".to_string(), Value::String(t));
                (0.9, "condition read as FIELD OP VALUE".to_string())
            }
            None => (
                UNSURE,
                "the condition's value is vague: say what to compare".to_string(),
            ),
        };
        let _ = cond.vague;
        let idx = self.steps.len();
        self.steps.push(Draft {
            op,
            params,
            deps,
            conf,
            notes: vec![note],
            span,
            matched: snippet,
            bindings: Vec::new(),
        });
        self.base = idx;
        self.group = vec![idx];
    }
}

impl Run<'_> {
    // ---------- binding a clause to an operation ----------

    /// Binds the action whose verb is at `v` (object up to `b`) to the
    /// best operation of the catalog. `subject` is the passive subject
    /// ("the ticket should be found").
    fn bind_action(&self, v: usize, b: usize, subject: Option<(usize, usize)>) -> Option<Bound> {
        let t = self.toks.get(v)?;
        if !t.is_word() || v >= b {
            return None;
        }
        let vague_end = self.vague_verb_at(v, b);
        let (oa, ob) = (v + 1, b);
        let mut nouns = self.nouns(oa, ob);
        if let Some((sa, sb)) = subject {
            nouns.extend(self.nouns(sa, sb));
        }
        let mut named = self.named(oa, ob);
        if let Some((sa, sb)) = subject {
            named.extend(self.named(sa, sb));
        }
        let mut cats = self.categories(oa, ob);
        for (p, cs) in &self.lex.categories {
            if cs.len() == 1 && (oa..ob).any(|i| self.category_at(i, ob, p)) {
                named.push((oa, cs[0]));
                cats.retain(|c| *c != cs[0]);
            }
        }
        let pronoun = (oa..ob)
            .find(|&i| self.toks[i].is_word() && PRONOUNS.contains(&self.toks[i].lower.as_str()));
        let last_rec = self.records.last().cloned();
        let has_channel = (v..b).any(|i| self.toks[i].kind == Kind::Channel)
            || (oa..ob).any(|i| {
                self.toks[i].is_word()
                    && grammar::CHANNEL_WORDS.contains(&self.toks[i].lower.as_str())
            });
        let has_person = (oa..ob).any(|i| {
            let t = &self.toks[i];
            t.is_word()
                && (grammar::PERSON_WORDS.contains(&t.lower.as_str())
                    || t.cap
                        && !self.lex.known.contains(&t.stem)
                        && self.named(i, i + 1).is_empty())
        }) || self.nouns(oa, ob).iter().any(|(_, _, _, e)| e == "owner");
        if self.unknown_product(v, b).is_some() && named.is_empty() {
            return None;
        }
        // Candidate operations and their verb scores.
        let modifier = |n: &(usize, usize, usize, String)| {
            self.toks.get(n.1).is_some_and(|t| {
                t.lower == "'s"
                    || t.is_word()
                        && !is_function_word(&t.lower)
                        && !is_determiner(&t.lower)
                        && !t.lower.ends_with("ed")
                        && !t.lower.ends_with("ing")
                        && !self.is_imperative(n.1, b)
            })
        };
        let head_pos = nouns
            .iter()
            .filter(|n| !modifier(n))
            .map(|n| n.0)
            .min()
            .or_else(|| {
                nouns
                    .iter()
                    .filter(|n| self.toks.get(n.1).is_some_and(|t| t.lower == "'s"))
                    .map(|n| n.0)
                    .min()
            });
        let mut cands: BTreeMap<usize, f64> = BTreeMap::new();
        if let Some(uses) = self.lex.verb_index.get(&t.stem) {
            for &(oi, pi) in uses {
                let o = &self.lex.ops[oi];
                if o.kind != OperationKind::Action {
                    continue;
                }
                if let Some(_end) = self.match_words(v, b, &o.verbs[pi]) {
                    let len = o.verbs[pi]
                        .iter()
                        .filter(|w| matches!(w, PWord::Word(_)))
                        .count() as f64;
                    let s = 4.0 + (len - 1.0);
                    let e = cands.entry(oi).or_insert(0.0);
                    if s > *e {
                        *e = s;
                    }
                }
            }
        }
        let mut vague = false;
        if let Some(ve) = vague_end {
            if cands.is_empty()
                || self.toks[v].lower == "process"
                || self.toks[v].lower == "handle"
                || self.toks[v].lower == "deal"
            {
                vague = true;
                cands.clear();
                let vnouns = self.nouns(ve, b);
                for (_, _, c, e) in &vnouns {
                    let writes: Vec<usize> = self
                        .lex
                        .ops
                        .iter()
                        .enumerate()
                        .filter(|(_, o)| {
                            o.conn == *c
                                && o.entity == *e
                                && o.kind == OperationKind::Action
                                && o.effect == Effect::Write
                        })
                        .map(|(i, _)| i)
                        .collect();
                    let pick = if writes.len() == 1 {
                        writes.first().copied()
                    } else {
                        writes
                            .iter()
                            .copied()
                            .find(|&i| self.lex.ops[i].action == "update")
                            .or(writes.first().copied())
                    };
                    if let Some(p) = pick {
                        cands.insert(p, 4.0);
                    }
                }
            }
        }
        if cands.is_empty() {
            return None;
        }
        let decisive = self.lex.decisive.contains(&t.stem);
        let mut scored: Vec<(usize, f64, bool, Option<usize>)> = Vec::new();
        for (&oi, &vs) in &cands {
            let o = &self.lex.ops[oi];
            let mut s = vs;
            let ent = nouns
                .iter()
                .any(|(_, _, c, e)| *c == o.conn && *e == o.entity);
            let first_pos = head_pos;
            let ent_head = nouns.iter().any(|(p, _, c, e)| {
                *c == o.conn
                    && *e == o.entity
                    && (Some(*p) == first_pos
                        || subject.is_some_and(|(sa, sb)| *p >= sa && *p < sb))
            });
            let pron_match = pronoun.is_some()
                && self
                    .records
                    .iter()
                    .any(|r| r.entity == o.entity && r.conn == o.conn);
            let typed_cue = o.params.iter().any(|p| {
                matches!(p.value_type, ValueType::Url | ValueType::Channel | ValueType::Email | ValueType::Phone)
                    || p.patterns.iter().any(|pat| pat.len() == 1 && matches!(pat[0], PatPart::Slot(SlotKind::Url | SlotKind::Phone | SlotKind::Email | SlotKind::Channel, _)))
            } && self.param_value(p, v, b).is_some());
            let verb_is_noun = self.noun_at.get(v).is_some_and(|ns| {
                ns.iter()
                    .any(|(end, c, e)| *end == v + 1 && *c == o.conn && *e == o.entity)
            });
            let mut has_entity = ent || typed_cue;
            let primary = nouns.iter().any(|(p, _, c, e)| {
                *c == o.conn
                    && *e == o.entity
                    && Some(*p) == head_pos
                    && self.toks[*p].stem == text::stem(&o.entity)
            });
            if primary {
                // "ticket" is Zendesk's own word; Jira's tickets are issues.
                s += 0.5;
            }
            let named_here = named.iter().any(|(_, c)| *c == o.conn);
            let evidence = ent
                || pron_match
                || verb_is_noun
                || typed_cue
                || decisive
                || named_here
                || o.effect == Effect::Control
                || match o.recipient {
                    Recipient::Person => {
                        has_person
                            && (t.stem != "send"
                                || (oa..ob).any(|i| {
                                    grammar::MESSAGE_WORDS.contains(&self.toks[i].stem.as_str())
                                        || matches!(self.toks[i].kind, Kind::Email | Kind::Phone)
                                }))
                    }
                    Recipient::Channel => has_channel,
                    Recipient::None => false,
                };
            if !evidence && !vague {
                continue;
            }
            if ent_head {
                s += 3.0;
            } else if ent {
                s += 1.5;
            } else if pron_match {
                s += if last_rec.as_ref().is_some_and(|r| r.conn == o.conn) {
                    2.5
                } else {
                    1.0
                };
                has_entity = true;
            } else if verb_is_noun {
                s += 3.0;
                has_entity = true;
            } else if o.recipient != Recipient::None
                || o.effect == Effect::Control
                || typed_cue
                || decisive
            {
                // The verb says it all ("text +1…", "fetch https://…").
            } else {
                s -= 3.0;
            }
            if typed_cue {
                s += 2.0;
            }
            if named.iter().any(|(_, c)| *c == o.conn) {
                s += 3.0;
            } else if !named.is_empty() && o.connector != "core" {
                s -= 1.5;
            }
            if cats.contains(&o.conn) {
                s += 2.0;
            }
            if self.named_in_desc.contains(&o.conn) {
                s += 1.0;
            }
            if (ent_head || pron_match)
                && o.effect == Effect::Write
                && !o.creates()
                && self.record_source(o.conn, &o.entity).is_some()
            {
                // Acting on a record the plan already has.
                s += 1.5;
            }
            match o.recipient {
                Recipient::Channel => {
                    if (v..b).any(|i| self.toks[i].kind == Kind::Channel) {
                        s += 3.0;
                    } else if has_channel {
                        s += 2.0;
                    } else {
                        s -= 1.5;
                    }
                }
                Recipient::Person => {
                    if has_channel
                        && !(oa..ob).any(|i| {
                            self.toks[i].kind == Kind::Email || self.toks[i].kind == Kind::Phone
                        })
                    {
                        s -= 2.0;
                    } else if has_person {
                        s += 1.5;
                    }
                }
                Recipient::None => {}
            }
            if self
                .steps
                .first()
                .is_some_and(|t0| self.lex.ops[t0.op].conn == o.conn)
            {
                s += 0.5;
            }
            s -= oi as f64 * 1e-4;
            let noun_at = nouns
                .iter()
                .find(|(_, _, c, e)| *c == o.conn && *e == o.entity)
                .map(|n| n.0);
            scored.push((oi, s, has_entity, noun_at));
        }
        scored.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
        let (best, score, has_entity, best_noun) = *scored.first()?;
        let o = &self.lex.ops[best];
        if score < 3.9 && !(vague && score >= 2.9) {
            return None;
        }
        let mut notes = Vec::new();
        let mut conf: f64;
        let clause_named = named.iter().any(|(_, c)| *c == o.conn);
        // Other connectors that would serve as well.
        let rivals: Vec<&str> = scored
            .iter()
            .skip(1)
            .filter(|(oi, s, _, noun)| {
                let r = &self.lex.ops[*oi];
                score - s < 1.0
                    && r.conn != o.conn
                    && r.action == o.action
                    && noun.is_some()
                    && *noun == best_noun
            })
            .map(|(oi, _, _, _)| self.lex.ops[*oi].connector.as_str())
            .collect();
        if o.connector == "core" {
            conf = 0.93;
        } else if clause_named {
            conf = SURE;
            notes.push(format!("{} named", self.lex.conns[o.conn].name));
        } else if cats.contains(&o.conn) {
            conf = 0.55;
            notes.push(format!(
                "connector not named: '{}' could be any of {}; chose {} (first in the catalog)",
                self.lex.conns[o.conn].category.join(" "),
                self.lex
                    .categories
                    .iter()
                    .find(|(_, cs)| cs.contains(&o.conn))
                    .map(|(_, cs)| cs
                        .iter()
                        .map(|c| self.lex.conns[*c].id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default(),
                o.connector
            ));
        } else if !rivals.is_empty() {
            conf = 0.55;
            notes.push(format!(
                "connector not named: {} or {}; chose {} (first in the catalog)",
                o.connector,
                rivals.join(", "),
                o.connector
            ));
        } else if self.named_in_desc.contains(&o.conn) {
            conf = 0.92;
            notes.push(format!(
                "{} named in the description",
                self.lex.conns[o.conn].name
            ));
        } else {
            conf = 0.88;
            notes.push(format!("only {} offers this", self.lex.conns[o.conn].name));
        }
        if !has_entity
            && !clause_named
            && o.recipient == Recipient::None
            && o.connector != "core"
            && !decisive
        {
            conf = conf.min(0.7);
        }
        if o.recipient == Recipient::Person && !has_entity && !clause_named {
            // "send the customer a confirmation": by Slack, email or text?
            let media: BTreeSet<&str> = scored
                .iter()
                .filter(|(oi, s, _, _)| {
                    let r = &self.lex.ops[*oi];
                    r.recipient == Recipient::Person && score - s < 1.0
                })
                .map(|(oi, _, _, _)| self.lex.ops[*oi].connector.as_str())
                .collect();
            if media.len() > 1 && !self.named_in_desc.contains(&o.conn) {
                // "Remind me to water the plants": a note to the author
                // through no named medium is no step of the catalog.
                let to_author = self.toks.get(oa).is_some_and(|t| {
                    t.is_word() && matches!(t.lower.as_str(), "me" | "myself" | "us")
                });
                if to_author {
                    return None;
                }
                conf = conf.min(0.55);
                notes.retain(|n| !n.starts_with("only "));
                notes.push(format!(
                    "how to reach them is not stated ({}); chose {} (first in the catalog)",
                    media.iter().copied().collect::<Vec<_>>().join(", "),
                    o.connector
                ));
            }
        }
        if vague {
            conf = conf.min(UNSURE);
            notes.push(format!(
                "vague verb '{}': bound to {}; check it",
                self.text(v, vague_end.unwrap_or(v + 1)),
                o.op()
            ));
        }
        let target = nouns
            .iter()
            .find(|(_, _, c, e)| *c == o.conn && *e == o.entity)
            .map(|(_, _, c, e)| (*c, e.clone()))
            .or_else(|| Some((o.conn, o.entity.clone())));
        let pronoun_rec = if pronoun.is_some() {
            self.records
                .iter()
                .rev()
                .find(|r| r.conn == o.conn && r.entity == o.entity)
                .cloned()
                .or(last_rec)
        } else {
            None
        };
        let conn_conf = if conf < 0.6 && !vague { conf } else { 1.0 };
        Some(Bound {
            conn_conf,
            op: best,
            conf,
            notes,
            target,
            pronoun_rec,
        })
    }

    // ---------- parameters ----------

    fn alias_word(&self, t: &Token) -> bool {
        self.lex.alias_words.contains(&t.stem) && !t.cap
            || self.lex.single_aliases.contains(&t.stem)
    }

    fn slot_ok(&self, kind: SlotKind, t: &Token) -> bool {
        match kind {
            SlotKind::Number => {
                matches!(t.kind, Kind::Number | Kind::Money)
                    || grammar::number_at(t).is_some() && t.lower != "a" && t.lower != "an"
            }
            SlotKind::Money => t.kind == Kind::Money,
            SlotKind::Email => t.kind == Kind::Email,
            SlotKind::Phone => t.kind == Kind::Phone,
            SlotKind::Url => t.kind == Kind::Url,
            SlotKind::Path => t.kind == Kind::Path,
            SlotKind::Slug => t.kind == Kind::Slug,
            SlotKind::Channel => t.kind == Kind::Channel,
            SlotKind::Value => false,
        }
    }

    fn value_token(&self, t: &Token) -> bool {
        match t.kind {
            Kind::Word => !is_function_word(&t.lower) && !is_determiner(&t.lower),
            Kind::Quoted | Kind::Number | Kind::Slug | Kind::Time => true,
            _ => false,
        }
    }

    /// Forward capture of a value at `i`: a quoted string, a capitalised
    /// run, or up to three plain words.
    fn capture_forward(&self, mut i: usize, b: usize) -> Option<(usize, usize)> {
        while i < b && self.toks[i].is_word() && is_determiner(&self.toks[i].lower) {
            i += 1;
        }
        let t = self.toks.get(i).filter(|_| i < b)?;
        if t.kind == Kind::Quoted {
            return Some((i, i + 1));
        }
        if !(self.value_token(t) || t.cap && t.is_word() && i > 0) {
            return None;
        }
        let mut j = i + 1;
        let capital = t.cap || matches!(t.kind, Kind::Number | Kind::Slug);
        let mut words = 1;
        while j < b {
            let prev = &self.toks[j - 1];
            let x = &self.toks[j];
            if prev.glued {
                j += 1;
                continue;
            }
            if capital {
                if (x.is_word() && x.cap && !self.alias_word(x)) || x.kind == Kind::Number {
                    j += 1;
                    continue;
                }
                break;
            }
            if words < 3
                && x.is_word()
                && self.value_token(x)
                && !self.is_imperative(j, b)
                && !self.alias_word(x)
                && self.nouns(j, j + 1).is_empty()
            {
                words += 1;
                j += 1;
                continue;
            }
            break;
        }
        Some((i, j))
    }

    fn capture_backward(&self, end: usize, a: usize, single: bool) -> Option<(usize, usize)> {
        let mut i = end;
        let mut count = 0;
        while i > a {
            let t = &self.toks[i - 1];
            let glued_to_next = t.glued && i < end + 1;
            if !(self.value_token(t) || glued_to_next)
                || (t.is_word() && self.alias_word(t) && !t.cap)
            {
                break;
            }
            if t.is_word() && !t.cap && self.is_imperative(i - 1, end) && count > 0 {
                break;
            }
            i -= 1;
            count += 1;
            if t.kind == Kind::Quoted || count >= 4 {
                break;
            }
            if single && !(i > a && self.toks[i - 1].glued) {
                break;
            }
        }
        (i < end).then_some((i, end))
    }

    fn lit_at(&self, i: usize, b: usize, w: &str) -> Option<usize> {
        let mut k = i;
        if !is_determiner(w) {
            while k < b
                && self.toks[k].is_word()
                && is_determiner(&self.toks[k].lower)
                && self.toks[k].stem != w
            {
                k += 1;
            }
        }
        let t = self.toks.get(k).filter(|_| k < b)?;
        (t.is_word() && (t.stem == w || t.lower == w)).then_some(k + 1)
    }

    fn match_from(
        &self,
        parts: &[PatPart],
        pi: usize,
        pos: usize,
        b: usize,
        caps: &mut Vec<(Option<String>, usize, usize)>,
    ) -> bool {
        if pi == parts.len() {
            return true;
        }
        match &parts[pi] {
            PatPart::Lit(w) => match self.lit_at(pos, b, w) {
                Some(next) => self.match_from(parts, pi + 1, next, b, caps),
                None => false,
            },
            PatPart::Slot(kind, name) if *kind != SlotKind::Value => {
                let mut k = pos;
                while k < b && self.toks[k].is_word() && is_determiner(&self.toks[k].lower) {
                    k += 1;
                }
                if k < b && self.slot_ok(*kind, &self.toks[k]) {
                    caps.push((name.clone(), k, k + 1));
                    if self.match_from(parts, pi + 1, k + 1, b, caps) {
                        return true;
                    }
                    caps.pop();
                }
                false
            }
            PatPart::Slot(_, name) => {
                let mut k = pos;
                while k < b && self.toks[k].is_word() && is_determiner(&self.toks[k].lower) {
                    k += 1;
                }
                if pi + 1 < parts.len() {
                    // Lazy: up to the next literal.
                    for e in k + 1..(k + 6).min(b) + 1 {
                        if (k..e).any(|x| self.toks[x].is_break()) {
                            break;
                        }
                        let mut sub = Vec::new();
                        if self.match_from(parts, pi + 1, e, b, &mut sub) {
                            let mut s = k;
                            let mut en = e;
                            while en > s
                                && self.toks[en - 1].is_word()
                                && is_determiner(&self.toks[en - 1].lower)
                            {
                                en -= 1;
                            }
                            while s < en
                                && !self.value_token(&self.toks[s])
                                && self.toks[s].kind != Kind::Quoted
                            {
                                s += 1;
                            }
                            if s < en {
                                caps.push((name.clone(), s, en));
                                caps.extend(sub);
                                return true;
                            }
                        }
                    }
                    false
                } else {
                    match self.capture_forward(k, b) {
                        Some((s, e)) => {
                            caps.push((name.clone(), s, e));
                            true
                        }
                        None => false,
                    }
                }
            }
        }
    }

    fn value_text(&self, s: usize, e: usize) -> String {
        if e == s + 1 && self.toks[s].kind == Kind::Quoted {
            return self.toks[s].lower.clone();
        }
        self.text(s, e)
            .trim_matches(|c: char| c == '"' || c == '\'' || c == '.' || c == ',')
            .to_string()
    }

    fn accept_value(&self, values: &[String], s: usize, e: usize) -> bool {
        values.is_empty() || values.contains(&self.value_text(s, e).to_lowercase())
    }

    /// Finds `pattern` in `[a, b)`; returns the captures.
    fn find_pattern(
        &self,
        parts: &[PatPart],
        a: usize,
        b: usize,
        values: &[String],
    ) -> Option<Vec<(Option<String>, usize, usize)>> {
        if parts.is_empty() {
            return None;
        }
        if parts.len() == 1 {
            if let PatPart::Slot(kind, name) = &parts[0] {
                if *kind != SlotKind::Value {
                    return (a..b)
                        .find(|&i| self.slot_ok(*kind, &self.toks[i]))
                        .map(|i| vec![(name.clone(), i, i + 1)]);
                }
                if values.is_empty() {
                    return None;
                }
                return (a..b)
                    .find(|&i| {
                        self.toks[i].is_word()
                            && values.contains(&self.toks[i].lower)
                            && !(i > 0 && self.toks[i - 1].glued)
                    })
                    .map(|i| vec![(name.clone(), i, i + 1)]);
            }
        }
        if let PatPart::Slot(SlotKind::Value, name) = &parts[0] {
            // Slot first: capture backwards from where the rest matches.
            for l in a + 1..b {
                let mut caps = Vec::new();
                if self.match_from(parts, 1, l, b, &mut caps) {
                    // The literal must sit right at l (no skipped determiners before the value).
                    if let Some((s, e)) = self.capture_backward(l, a, !values.is_empty()) {
                        if self.accept_value(values, s, e) {
                            let mut out = vec![(name.clone(), s, e)];
                            out.extend(caps);
                            return Some(out);
                        }
                    }
                }
            }
            return None;
        }
        for p in a..b {
            let mut caps = Vec::new();
            if self.match_from(parts, 0, p, b, &mut caps)
                && caps
                    .iter()
                    .all(|(_, s, e)| self.accept_value(values, *s, *e))
            {
                return Some(caps);
            }
        }
        None
    }

    fn param_value(
        &self,
        p: &super::lexicon::ParamInfo,
        a: usize,
        b: usize,
    ) -> Option<Vec<(Option<String>, usize, usize)>> {
        p.patterns
            .iter()
            .find_map(|pat| self.find_pattern(pat, a, b, &p.values))
    }

    fn json_value(&self, vt: ValueType, has_values: bool, s: usize, e: usize) -> Option<Value> {
        match vt {
            ValueType::Number | ValueType::Integer => {
                let n = self.toks[s..e].iter().find_map(grammar::number_at)?;
                if n.fract() == 0.0 && n.abs() < 1e15 {
                    Some(Value::from(n as i64))
                } else {
                    serde_json::Number::from_f64(n).map(Value::Number)
                }
            }
            _ => {
                let mut v = self.value_text(s, e);
                if has_values {
                    v = v.to_lowercase();
                }
                (!v.is_empty()).then_some(Value::String(v))
            }
        }
    }

    /// The parameters of operation `op` stated in `[a, b)`, and whether a
    /// needed value is vague.
    fn params_for(&self, op: usize, a: usize, b: usize) -> (BTreeMap<String, Value>, bool) {
        let o = &self.lex.ops[op];
        let mut out = BTreeMap::new();
        let mut vague = false;
        if o.connector == "core" && o.operation == "delay" {
            match grammar::duration(&self.toks[a..b]) {
                Some((d, _, _)) => {
                    out.insert("duration".to_string(), Value::String(d));
                }
                None => vague = true,
            }
            return (out, vague);
        }
        for p in &o.params {
            if out.contains_key(&p.name) {
                continue;
            }
            if let Some(caps) = self.param_value(p, a, b) {
                for (name, s, e) in caps {
                    let pname = name.unwrap_or_else(|| p.name.clone());
                    let spec = o.params.iter().find(|x| x.name == pname).unwrap_or(p);
                    if let Some(v) = self.json_value(spec.value_type, !spec.values.is_empty(), s, e)
                    {
                        out.entry(pname).or_insert(v);
                    }
                }
            } else if matches!(p.value_type, ValueType::Number)
                && (a..b).any(|i| {
                    self.toks[i].is_word()
                        && grammar::VAGUE_AMOUNTS.contains(&self.toks[i].lower.as_str())
                })
            {
                vague = true;
            }
        }
        (out, vague)
    }
}

impl Run<'_> {
    // ---------- the flow ----------

    fn prev_is_read_or_control(&self) -> bool {
        self.steps.last().is_some_and(|d| {
            let o = &self.lex.ops[d.op];
            o.kind == OperationKind::Action && matches!(o.effect, Effect::Read | Effect::Control)
        })
    }

    /// Predecessors from the clause's markers (or the defaults of rule 6).
    fn flow_deps(
        &mut self,
        c: &Clause,
        is_delay: bool,
        first_of_sentence: bool,
    ) -> (BTreeSet<usize>, bool) {
        if let Some(p) = self.pending.take() {
            let par = std::mem::take(&mut self.pending_par);
            return (p, par);
        }
        match c.marker {
            Some(Marker::Seq) | Some(Marker::Both) => (self.group.iter().copied().collect(), false),
            Some(Marker::Par) | Some(Marker::ParRef) => (BTreeSet::from([self.base]), true),
            _ => {
                if c.list_item || is_delay || self.prev_is_read_or_control() || first_of_sentence {
                    (self.group.iter().copied().collect(), false)
                } else {
                    (BTreeSet::from([self.base]), true)
                }
            }
        }
    }

    fn push_step(&mut self, d: Draft, parallel: bool) -> usize {
        let idx = self.steps.len();
        let sibling = parallel
            && d.deps.len() == 1
            && d.deps.contains(&self.base)
            && self.group != vec![self.base];
        let sibling = sibling
            || parallel
                && self.group != vec![self.base]
                && !d.deps.iter().any(|x| self.group.contains(x));
        self.steps.push(d);
        if sibling {
            self.group.push(idx);
        } else {
            self.group = vec![idx];
        }
        idx
    }

    fn record_source(&self, conn: usize, entity: &str) -> Option<Rec> {
        self.records
            .iter()
            .rev()
            .find(|r| r.conn == conn && r.entity == entity)
            .cloned()
    }

    fn derive_bindings(
        &self,
        target: usize,
        source: usize,
        entity: &str,
    ) -> Vec<(String, usize, String)> {
        let t = &self.lex.ops[target];
        let Some(src_step) = self.steps.get(source) else {
            return Vec::new();
        };
        let src = &self.lex.ops[src_step.op];
        let mut out = Vec::new();
        // (entity name, path, object): the entity itself at the top level,
        // the source's own record, and the entity nested in it ("the order's
        // customer" is `order.customer`).
        let mut objects: Vec<(&str, String, &serde_json::Map<String, Value>)> = Vec::new();
        for k in [entity, src.entity.as_str()] {
            if let Some(o) = src.example_output.get(k).and_then(Value::as_object) {
                if !objects.iter().any(|(_, p, _)| p == k) {
                    objects.push((k, k.to_string(), o));
                }
            }
        }
        if entity != src.entity {
            if let Some(o) = src
                .example_output
                .get(src.entity.as_str())
                .and_then(|r| r.get(entity))
                .and_then(Value::as_object)
            {
                objects.push((entity, format!("{}.{entity}", src.entity), o));
            }
        }
        // The entity's own record first: its id is the one wanted.
        objects.sort_by_key(|(k, _, _)| *k != entity);
        for field in &t.inputs {
            for (key, path, obj) in &objects {
                for k in obj.keys() {
                    let joined = format!("{key}_{k}");
                    let person_field = t.recipient == Recipient::Person
                        && (k == field)
                        && matches!(field.as_str(), "email" | "phone" | "user_id");
                    // A record's id binds `<entity>_id` only when the record
                    // is that entity: an order's id is no customer id.
                    let wanted = &joined == field
                        || person_field
                        || (k == "id" && *key == entity && field == &format!("{entity}_id"));
                    if wanted
                        && !out
                            .iter()
                            .any(|(f, _, _): &(String, usize, String)| f == field)
                    {
                        out.push((field.clone(), source, format!("{path}.{k}")));
                    }
                }
            }
        }
        out
    }

    /// The record whose owner a message goes to: the one named before
    /// "owner" ("the lead owner"), else the latest record of `conn` that
    /// can be looked up (not a task or a note).
    fn owner_record(&self, a: usize, b: usize, conn: usize) -> Option<Rec> {
        let nouns = self.nouns(a, b);
        if let Some(pos) = nouns.iter().find(|n| n.3 == "owner").map(|n| n.0) {
            for n in nouns
                .iter()
                .filter(|n| n.1 <= pos && n.2 == conn && n.3 != "owner")
            {
                if let Some(r) = self.record_source(conn, &n.3) {
                    return Some(r);
                }
            }
        }
        self.records
            .iter()
            .rev()
            .find(|r| {
                r.conn == conn
                    && (r.step == 0 || self.lex.find_op(conn, &r.entity, "find").is_some())
            })
            .cloned()
    }

    fn key_stated(&self, v: usize, b: usize) -> bool {
        // "the overdue rows", "their open ticket": a criterion before the noun.
        let nouns = self.nouns(v + 1, b);
        if let Some(head) = nouns.first() {
            let modifier = (v + 1..head.0).any(|i| {
                let t = &self.toks[i];
                t.is_word()
                    && !is_determiner(&t.lower)
                    && !is_function_word(&t.lower)
                    && !grammar::VAGUE_QUALIFIERS.contains(&t.lower.as_str())
                    && self.named(i, i + 1).is_empty()
                    && self.nouns(i, i + 1).is_empty()
                    && !t.cap
            });
            if modifier {
                return true;
            }
        }
        (v + 1..b).any(|i| {
            let t = &self.toks[i];
            if matches!(t.kind, Kind::Email | Kind::Phone) {
                return true;
            }
            if !t.is_word() {
                return false;
            }
            match t.lower.as_str() {
                "by" | "whose" | "where" | "using" | "via" | "matching"
                    if t.lower != "matching" =>
                {
                    true
                }
                "with" | "for" | "matching" => {
                    let mut k = i + 1;
                    while k < b && self.toks[k].is_word() && is_determiner(&self.toks[k].lower) {
                        k += 1;
                    }
                    self.toks.get(k).filter(|_| k < b).is_some_and(|x| {
                        matches!(
                            x.kind,
                            Kind::Email | Kind::Phone | Kind::Quoted | Kind::Number | Kind::Slug
                        ) || x.is_word()
                            && (matches!(
                                x.lower.as_str(),
                                "email"
                                    | "phone"
                                    | "id"
                                    | "name"
                                    | "number"
                                    | "key"
                                    | "sku"
                                    | "title"
                                    | "subject"
                                    | "address"
                                    | "domain"
                                    | "reference"
                                    | "code"
                            ) || x.cap && t.lower != "matching")
                    })
                }
                _ => false,
            }
        })
    }

    fn clause(&mut self, _ci: usize, c: &Clause, all: &[Clause]) {
        let first_of_sentence = all
            .iter()
            .find(|x| x.sentence == c.sentence)
            .is_some_and(|x| x.start == c.start)
            && c.sentence > 0
            && !self.steps.is_empty();
        let next_is_action = all
            .iter()
            .skip_while(|x| x.start != c.start)
            .nth(1)
            .is_some_and(|n| n.sentence == c.sentence && self.action_clause(n));
        match c.sub {
            Some(Sub::Why) | Some(Sub::While) => return,
            Some(Sub::If) | Some(Sub::Unless) => {
                let negate = c.sub == Some(Sub::Unless);
                let cond = self
                    .cond_of(c.sub_body, c.end, negate)
                    .unwrap_or(grammar::Condition {
                        text: None,
                        vague: true,
                    });
                let (deps, _) = self.flow_deps(c, false, first_of_sentence);
                let span = (self.toks[c.start].start, self.toks[c.end - 1].end);
                let snippet = self.snippet(c.start, c.end);
                self.push_condition(cond, span, snippet, deps);
                return;
            }
            Some(Sub::When) | Some(Sub::After) => {
                if c.sub == Some(Sub::After) {
                    if let Some((d, _, _)) = grammar::duration(&self.toks[c.sub_body..c.end]) {
                        if self
                            .toks
                            .get(c.sub_body)
                            .is_some_and(|t| grammar::number_at(t).is_some())
                        {
                            self.delay_step(c, Some(d), first_of_sentence);
                            return;
                        }
                    }
                }
                if let Some(cond) = self.cond_of(c.sub_body, c.end, false) {
                    if cond.text.is_some() || cond.vague {
                        let (deps, _) = self.flow_deps(c, false, first_of_sentence);
                        let span = (self.toks[c.start].start, self.toks[c.end - 1].end);
                        let snippet = self.snippet(c.start, c.end);
                        self.push_condition(cond, span, snippet, deps);
                        return;
                    }
                }
                if self.embedded(c) {
                    self.action(c, c.sub_body + 1, None, first_of_sentence);
                    return;
                }
                if next_is_action {
                    if let Some(r) = self.referenced(c.sub_body, c.end) {
                        self.pending = Some(r);
                    }
                }
                return;
            }
            None => {}
        }
        if c.marker == Some(Marker::ParRef) && !self.is_imperative(c.body, c.end) {
            if let Some(r) = self.referenced(c.body, c.end) {
                let deps: BTreeSet<usize> = r
                    .iter()
                    .flat_map(|&s| self.steps[s].deps.iter().copied())
                    .collect();
                self.pending = Some(if deps.is_empty() {
                    BTreeSet::from([0])
                } else {
                    deps
                });
                self.pending_par = true;
            }
            return;
        }
        if self.is_imperative(c.body, c.end) {
            self.action(c, c.body, None, first_of_sentence);
        } else if let Some(v) = self.passive(c) {
            self.action(c, v, Some((c.body, v)), first_of_sentence);
        } else if self.toks.get(c.body).is_some_and(|t| {
            t.is_word()
                && (t.lower.ends_with("ed") || t.lower.ends_with("en"))
                && self.lex.verb_index.contains_key(&t.stem)
        }) {
            // "… should be found and marked as solved": the subject carries over.
            let subj = all
                .iter()
                .take_while(|x| x.start != c.start)
                .filter(|x| x.sentence == c.sentence)
                .filter_map(|x| self.passive(x).map(|v| (x.body, v)))
                .last();
            if let Some(s) = subj {
                self.action(c, c.body, Some(s), first_of_sentence);
            }
        } else if grammar::schedule(&self.toks[c.start..c.end]).is_none() {
            let snippet = self.snippet(c.body, c.end);
            if !snippet.is_empty() && self.steps.len() <= 1 {
                self.not_understood.push(snippet);
            }
        }
    }

    /// The steps a reference clause names ("once Ken approves", "after the
    /// row has been added", "as soon as the alert fires").
    fn referenced(&self, a: usize, b: usize) -> Option<BTreeSet<usize>> {
        let words: Vec<&str> = self.toks[a..b]
            .iter()
            .filter(|t| t.is_word())
            .map(|t| t.stem.as_str())
            .collect();
        if words
            .iter()
            .any(|w| w.starts_with("approv") || *w == "sign")
        {
            if let Some(i) = self.steps.iter().rposition(|d| {
                self.lex.ops[d.op].connector == "core" && self.lex.ops[d.op].operation == "approval"
            }) {
                return Some(BTreeSet::from([i]));
            }
        }
        let nouns = self.nouns(a, b);
        for (_, _, conn, ent) in &nouns {
            if let Some(i) = self.steps.iter().rposition(|d| {
                let o = &self.lex.ops[d.op];
                o.conn == *conn && o.entity == *ent
            }) {
                return Some(BTreeSet::from([i]));
            }
        }
        if words
            .iter()
            .any(|w| matches!(*w, "both" | "all" | "everyth"))
        {
            return Some(self.group.iter().copied().collect());
        }
        if words.iter().any(|w| {
            matches!(
                *w,
                "that" | "this" | "it" | "done" | "do" | "finish" | "complet"
            )
        }) {
            return Some(self.group.iter().copied().collect());
        }
        None
    }

    fn delay_step(&mut self, c: &Clause, duration: Option<String>, first_of_sentence: bool) {
        let Some(op) = self.lex.core.get("delay").copied() else {
            return;
        };
        let (deps, _) = self.flow_deps(c, true, first_of_sentence);
        let mut params = BTreeMap::new();
        let (conf, note) = match duration {
            Some(d) => {
                params.insert("duration".to_string(), Value::String(d));
                (0.93, "wait read from the description".to_string())
            }
            None => (
                UNSURE,
                "how long to wait is vague: state a duration".to_string(),
            ),
        };
        let d = Draft {
            op,
            params,
            deps,
            conf,
            notes: vec![note],
            span: (self.toks[c.start].start, self.toks[c.end - 1].end),
            matched: self.snippet(c.body, c.end),
            bindings: Vec::new(),
        };
        let idx = self.push_step(d, false);
        self.base = idx;
    }

    fn owner_for(&self, a: usize, b: usize) -> Option<(usize, bool, usize)> {
        // (position of the owner noun, confident, connector)
        let nouns = self.nouns(a, b);
        let owners: Vec<&(usize, usize, usize, String)> = nouns
            .iter()
            .filter(|(_, _, c, e)| e == "owner" && self.lex.find_op(*c, "owner", "get").is_some())
            .collect();
        let first = owners.first()?;
        let pos = first.0;
        let capable: Vec<usize> = owners.iter().filter(|o| o.0 == pos).map(|o| o.2).collect();
        let named = self.named(a, b);
        if let Some((_, c)) = named.iter().find(|(_, c)| capable.contains(c)) {
            return Some((pos, true, *c));
        }
        // "the deal owner": the record named before "owner".
        let before = self.nouns(pos.saturating_sub(2), pos);
        for (_, _, c, _) in &before {
            if capable.contains(c) {
                if let Some(r) = self
                    .records
                    .iter()
                    .rev()
                    .find(|r| capable.contains(&r.conn))
                {
                    return Some((pos, true, r.conn));
                }
                return Some((pos, self.named_in_desc.contains(c), *c));
            }
        }
        if let Some(r) = self
            .records
            .iter()
            .rev()
            .find(|r| capable.contains(&r.conn))
        {
            return Some((pos, true, r.conn));
        }
        if let Some(c) = capable.iter().find(|c| self.named_in_desc.contains(c)) {
            return Some((pos, true, *c));
        }
        capable.first().map(|c| (pos, false, *c))
    }

    fn action(
        &mut self,
        c: &Clause,
        v: usize,
        subject: Option<(usize, usize)>,
        first_of_sentence: bool,
    ) {
        let Some(bound) = self.bind_action(v, c.end, subject) else {
            let s = self.snippet(v, c.end);
            if let Some(p) = self.unknown_product(v, c.end) {
                self.not_understood
                    .push(format!("'{p}' is not a connector in the catalog ('{s}')"));
            } else {
                self.not_understood.push(format!("'{s}'"));
            }
            return;
        };
        let op = bound.op;
        let o = self.lex.ops[op].clone();
        let span = (self.toks[c.start].start, self.toks[c.end - 1].end);
        let matched = self.snippet(c.body.min(v), c.end);
        self.understood.push(o.op());
        if o.connector == "core" && o.operation == "delay" {
            let d = grammar::duration(&self.toks[v..c.end]).map(|x| x.0);
            self.delay_step(c, d, first_of_sentence);
            return;
        }
        let (mut params, vague_param) = self.params_for(op, c.body.min(v), c.end);
        let mut conf = bound.conf;
        let mut notes = bound.notes.clone();
        if vague_param {
            conf = conf.min(0.55);
            notes.push("a value it needs is vague: state it".into());
        }
        let (flow, parallel) = self.flow_deps(c, false, first_of_sentence);
        let mut first_flow = Some(flow);
        let mut data: BTreeSet<usize> = BTreeSet::new();
        let mut bindings = Vec::new();
        // The record the step acts on.
        let (tconn, tent) = bound.target.clone().unwrap_or((o.conn, o.entity.clone()));
        let acts_on_record = o.kind == OperationKind::Action
            && o.effect == Effect::Write
            && !o.creates()
            && o.recipient == Recipient::None
            && o.connector != "core";
        if o.is_lookup() && o.action == "find" {
            if !self.key_stated(v, c.end) {
                conf = conf.min(UNSURE);
                notes.push("match key not stated: check what to match on".into());
            } else {
                notes.push("match key stated".into());
            }
        }
        if acts_on_record {
            let source = self.record_source(tconn, &tent).or_else(|| {
                bound
                    .pronoun_rec
                    .clone()
                    .filter(|r| r.conn == o.conn && r.entity == o.entity)
            });
            match source {
                Some(r) => {
                    if r.step > 0 {
                        data.insert(r.step);
                        // The record's sheet, project… carry over from its lookup.
                        let from = self.steps[r.step].params.clone();
                        for p in &o.params {
                            if let Some(v) = from.get(&p.name) {
                                params.entry(p.name.clone()).or_insert_with(|| v.clone());
                            }
                        }
                    }
                    bindings.extend(self.derive_bindings(op, r.step, &tent));
                }
                None => {
                    if let Some(find) = self.lex.find_op(o.conn, &o.entity, "find") {
                        let key = self.key_stated(v, c.end);
                        let fo = &self.lex.ops[find];
                        let mut lparams = BTreeMap::new();
                        for p in &fo.params {
                            if let Some(val) = params.get(&p.name) {
                                lparams.insert(p.name.clone(), val.clone());
                            }
                        }
                        let qualifier = (v..c.end).find(|&i| {
                            grammar::VAGUE_QUALIFIERS.contains(&self.toks[i].lower.as_str())
                        });
                        let what = self.snippet(
                            qualifier.map_or(v + 1, |q| q.saturating_sub(1).max(v + 1)),
                            c.end.min(qualifier.map_or(v + 4, |q| q + 3)),
                        );
                        let lconf = if key { 0.85 } else { UNSURE };
                        let mut lnotes = vec![format!(
                            "lookup added: the {} is not handed over by the trigger",
                            tent.replace('_', " ")
                        )];
                        if !key {
                            lnotes.push("match key not stated: check what to match on".into());
                        }
                        let deps = first_flow.take().unwrap_or_default();
                        let d = Draft {
                            op: find,
                            params: lparams,
                            deps,
                            conf: lconf.min(bound.conn_conf),
                            notes: lnotes,
                            span,
                            matched: what,
                            bindings: Vec::new(),
                        };
                        let li = self.push_step(d, parallel);
                        self.records.push(Rec {
                            conn: o.conn,
                            entity: o.entity.clone(),
                            step: li,
                        });
                        data.insert(li);
                        bindings.extend(self.derive_bindings(op, li, &o.entity));
                    }
                }
            }
        } else if let Some(r) = bound.pronoun_rec.clone() {
            // "cancel their subscription", "DM them": uses what was found.
            if r.step > 0 && self.lex.ops[self.steps[r.step].op].is_lookup() {
                data.insert(r.step);
                bindings.extend(self.derive_bindings(op, r.step, &r.entity));
            }
        }
        // "add a note to the contact": a record of the plan named in the object.
        for (_, _, nc, ne) in self.nouns(v + 1, c.end) {
            if nc == o.conn && ne != o.entity {
                if let Some(r) = self.record_source(nc, &ne) {
                    if r.step > 0 {
                        data.insert(r.step);
                        bindings.extend(self.derive_bindings(op, r.step, &ne));
                    }
                }
            }
        }
        // The recipient of a message.
        if o.recipient == Recipient::Person {
            if let Some((_pos, sure, oconn)) = self.owner_for(v + 1, c.end) {
                if let Some(get) = self.lex.find_op(oconn, "owner", "get") {
                    let existing = self.steps.iter().rposition(|d| d.op == get);
                    let oi = match existing {
                        Some(i) => i,
                        None => {
                            let src = self.owner_record(v + 1, c.end, oconn);
                            let mut deps = first_flow.take().unwrap_or_default();
                            if let Some(s) = &src {
                                deps.insert(s.step);
                            }
                            let mut onotes = vec![format!(
                                "the owner is read from {}",
                                self.lex.conns[oconn].name
                            )];
                            if !sure {
                                onotes.push("which CRM holds the record is not stated".into());
                            }
                            let obind = src
                                .as_ref()
                                .map(|s| self.derive_bindings(get, s.step, &s.entity))
                                .unwrap_or_default();
                            let d = Draft {
                                op: get,
                                params: BTreeMap::new(),
                                deps,
                                conf: if sure { 0.88 } else { 0.55 },
                                notes: onotes,
                                span,
                                matched: self.snippet(v, c.end),
                                bindings: obind,
                            };
                            self.push_step(d, parallel)
                        }
                    };
                    data.insert(oi);
                    notes.push(format!(
                        "recipient resolved from {}",
                        self.lex.ops[get].op()
                    ));
                    bindings.extend(self.derive_bindings(op, oi, "owner"));
                }
            } else if let Some(r) = self
                .records
                .iter()
                .rev()
                .find(|r| r.conn == o.conn && r.step > 0)
                .cloned()
            {
                // "find their Slack user …, then DM them"
                data.insert(r.step);
                bindings.extend(self.derive_bindings(op, r.step, &r.entity));
            }
        }
        let mut deps = first_flow.take().unwrap_or_default();
        let sibling = parallel && data.is_empty();
        deps.extend(data.iter().copied());
        if deps.is_empty() {
            deps.insert(self.base);
        }
        let d = Draft {
            op,
            params,
            deps,
            conf,
            notes,
            span,
            matched,
            bindings,
        };
        let idx = self.push_step(d, sibling || parallel && c.marker == Some(Marker::Par));
        if o.connector == "core" {
            self.base = idx;
        }
        if o.is_lookup() || o.creates() {
            self.records.push(Rec {
                conn: o.conn,
                entity: o.entity.clone(),
                step: idx,
            });
        } else if acts_on_record {
            if let Some(r) = self.record_source(tconn, &tent) {
                self.records.push(r);
            }
        }
    }

    // ---------- result ----------

    fn finish(&mut self) -> Result<Plan, PlanError> {
        let actions = self.steps.len().saturating_sub(1);
        if actions == 0 {
            let mut msg =
                String::from("nothing in the description matches an operation of the catalog");
            if !self.understood.is_empty() {
                msg.push_str(&format!("; understood: {}", self.understood.join(", ")));
            }
            let named: Vec<String> = self
                .named_in_desc
                .iter()
                .map(|c| self.lex.conns[*c].name.clone())
                .collect();
            if !named.is_empty() && self.understood.is_empty() {
                msg.push_str(&format!(
                    "; recognised connector names ({}) but no action on them",
                    named.join(", ")
                ));
            }
            let mut unknown: Vec<String> = self.not_understood.clone();
            if unknown.is_empty() {
                if let Some(p) = self.unknown_product(0, self.toks.len()) {
                    unknown.push(format!("'{p}' is not a connector in the catalog"));
                }
            }
            if !unknown.is_empty() {
                msg.push_str(&format!("; not understood: {}", unknown.join("; ")));
            } else {
                msg.push_str(
                    "; it reads as a question, a wish or background, not a process to automate",
                );
            }
            if !self.rules.is_empty() {
                msg.push_str(&format!(
                    "; {} rule(s) were stated but there are no steps for them to govern",
                    self.rules.len()
                ));
            }
            return Err(PlanError::unrecognized(msg));
        }
        let n = self.steps.len();
        // Transitive reduction: keep direct dependencies only.
        let mut anc: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
        for i in 0..n {
            let deps: Vec<usize> = self.steps[i]
                .deps
                .iter()
                .copied()
                .filter(|&d| d < i)
                .collect();
            let mut a = BTreeSet::new();
            for &d in &deps {
                a.insert(d);
                a.extend(anc[d].iter().copied());
            }
            anc[i] = a;
        }
        let threshold = self.req.confidence_threshold;
        let allowed = &self.req.allowed_connectors;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let d = &self.steps[i];
            let o = &self.lex.ops[d.op];
            let deps: Vec<usize> = d.deps.iter().copied().filter(|&x| x < i).collect();
            let mut direct: Vec<u32> = deps
                .iter()
                .filter(|&&x| !deps.iter().any(|&y| y != x && anc[y].contains(&x)))
                .map(|&x| x as u32 + 1)
                .collect();
            if i > 0 && direct.is_empty() {
                direct.push(1);
            }
            direct.sort_unstable();
            direct.dedup();
            let mut conf = d.conf.clamp(0.0, 1.0);
            let mut notes = d.notes.clone();
            let disallowed = !allowed.is_empty()
                && o.connector != "core"
                && !allowed.iter().any(|a| a == &o.connector);
            if disallowed {
                conf = conf.min(threshold / 2.0);
                notes.push(format!(
                    "connector '{}' is not in the agent's allowed connectors ({})",
                    o.connector,
                    allowed.join(", ")
                ));
            }
            let conf = round2(conf);
            let flagged = conf < threshold || disallowed;
            let mut bindings = BTreeMap::new();
            for (field, src, path) in &d.bindings {
                if *src < i && (i == 0 || anc[i].contains(src) || *src == 0) {
                    bindings.insert(
                        field.clone(),
                        Binding {
                            step: *src as u32 + 1,
                            path: path.clone(),
                        },
                    );
                }
            }
            let rationale = if d.matched.is_empty() {
                format!("{} → {}", notes.join("; "), o.op())
            } else {
                format!(
                    "matched '{}' → {}{}{}",
                    d.matched,
                    o.op(),
                    if notes.is_empty() { "" } else { "; " },
                    notes.join("; ")
                )
            };
            out.push(Step {
                step: i as u32 + 1,
                connector: o.connector.clone(),
                operation: o.operation.clone(),
                kind: if i == 0 {
                    OperationKind::Trigger
                } else {
                    o.kind
                },
                effect: o.effect,
                params: d.params.clone(),
                after: if i == 0 { Vec::new() } else { direct },
                bindings,
                confidence: conf,
                flagged,
                rationale,
                span: (d.span.1 > d.span.0).then_some(SourceSpan {
                    start: d.span.0,
                    end: d.span.1,
                }),
            });
        }
        let graph = StepGraph::new(out).map_err(|e| PlanError {
            kind: super::PlanErrorKind::Internal,
            message: format!("the planner built an invalid graph: {e}"),
        })?;
        tracing::debug!(
            steps = graph.len(),
            flagged = graph.flagged_count(),
            "planned"
        );
        Ok(Plan {
            graph,
            rules: std::mem::take(&mut self.rules),
        })
    }
}
