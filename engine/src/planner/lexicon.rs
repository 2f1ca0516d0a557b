//! The planner's lexicon, built once from the catalog's manifests and
//! their vocabulary: connector names, entity nouns, verbs, event words and
//! parameter patterns, all as stems.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::connector::{Catalog, ParamSpec, ValueType};
use crate::model::{Effect, OperationKind};

use super::text::{self, stem, COMMON_WORDS};

/// One word of a phrase, or a gap of a few words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PWord {
    Word(String),
    Gap,
}

/// A phrase as stems.
pub(crate) type Phrase = Vec<PWord>;

/// A slot or literal of a parameter pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatPart {
    Lit(String),
    Slot(SlotKind, Option<String>),
}

/// What a pattern slot captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotKind {
    Value,
    Number,
    Money,
    Email,
    Phone,
    Url,
    Path,
    Slug,
    Channel,
}

/// A parameter the planner can fill, with its patterns.
#[derive(Debug, Clone)]
pub(crate) struct ParamInfo {
    pub name: String,
    pub value_type: ValueType,
    pub patterns: Vec<Vec<PatPart>>,
    pub values: Vec<String>,
}

/// Who an operation sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recipient {
    None,
    Person,
    Channel,
}

/// One operation of the catalog, as the planner sees it.
#[derive(Debug, Clone)]
pub(crate) struct OpInfo {
    pub conn: usize,
    pub connector: String,
    pub operation: String,
    pub entity: String,
    pub action: String,
    pub kind: OperationKind,
    pub effect: Effect,
    pub verbs: Vec<Phrase>,
    pub provides: Vec<String>,
    pub recipient: Recipient,
    pub params: Vec<ParamInfo>,
    pub inputs: Vec<String>,
    pub example_output: serde_json::Value,
}

impl OpInfo {
    pub(crate) fn op(&self) -> String {
        format!("{}.{}", self.connector, self.operation)
    }
    pub(crate) fn is_lookup(&self) -> bool {
        self.kind == OperationKind::Action
            && self.effect == Effect::Read
            && matches!(self.action.as_str(), "find" | "get" | "search" | "lookup")
    }
    pub(crate) fn creates(&self) -> bool {
        matches!(self.action.as_str(), "create" | "append" | "add")
    }
}

/// One connector, as the planner sees it.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    pub id: String,
    pub name: String,
    pub category: Vec<String>,
}

/// A multi-word key that names something.
#[derive(Debug, Clone)]
pub(crate) struct NameEntry {
    pub phrase: Vec<String>,
    pub conn: usize,
    /// For entity nouns: the entity id. For aliases: `None`.
    pub entity: Option<String>,
    /// An alias that is also one of the connector's own nouns ("email"):
    /// it names the connector only when no article stands before it.
    pub weak: bool,
}

/// The lexicon.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lexicon {
    pub conns: Vec<ConnInfo>,
    pub ops: Vec<OpInfo>,
    /// Connector names and aliases, longest first.
    pub aliases: Vec<NameEntry>,
    /// Entity nouns, longest first.
    pub nouns: Vec<NameEntry>,
    /// Category words (`crm`) → connectors.
    pub categories: Vec<(Vec<String>, Vec<usize>)>,
    /// Category words as written, lower case, singular and plural
    /// ("accounting", "crm", "crms"): "their account" is no category.
    pub category_words: HashSet<String>,
    /// First stem of a verb phrase → (op, phrase index).
    pub verb_index: HashMap<String, Vec<(usize, usize)>>,
    /// Surface (lower-case) base forms of first verb words, for
    /// recognising imperatives.
    pub imperatives: HashSet<String>,
    /// Every stem the lexicon knows (for typo correction).
    pub known: HashSet<String>,
    /// Deletion variants of content stems → the stems.
    pub deletions: HashMap<String, Vec<String>>,
    /// Verb stems that name exactly one (entity, action) across the catalog.
    pub decisive: HashSet<String>,
    /// Index of the `core` operations by operation id.
    pub core: BTreeMap<String, usize>,
    /// First stem of an alias → indexes into `aliases`, longest first.
    pub alias_first: HashMap<String, Vec<usize>>,
    /// First stem of a noun → indexes into `nouns`, longest first.
    pub noun_first: HashMap<String, Vec<usize>>,
    /// Every stem of every alias.
    pub alias_words: HashSet<String>,
    /// One-word aliases.
    pub single_aliases: HashSet<String>,
    /// One-word entity nouns.
    pub single_nouns: HashSet<String>,
    /// Marker phrases by first word, in table order.
    pub markers_first: HashMap<&'static str, Vec<(&'static str, super::grammar::Marker)>>,
    /// Subordinating phrases by first word, in table order.
    pub subs_first: HashMap<&'static str, Vec<(&'static str, super::grammar::Sub)>>,
}

fn phrase(s: &str) -> Phrase {
    s.split_whitespace()
        .map(|w| {
            if w == "…" || w == "..." {
                PWord::Gap
            } else {
                PWord::Word(stem(&w.to_lowercase()))
            }
        })
        .collect()
}

fn words(s: &str) -> Vec<String> {
    // Split on whitespace and hyphens the way the tokenizer does.
    let mut out = Vec::new();
    for w in s.split_whitespace() {
        let lw = w.to_lowercase();
        if let Some(base) = lw.strip_suffix("'s") {
            if !base.is_empty() {
                out.push(stem(base));
            }
            out.push("'s".to_string());
            continue;
        }
        if lw.contains('-') && !lw.starts_with('#') {
            for part in lw.split('-').filter(|p| !p.is_empty()) {
                out.push(stem(part));
            }
        } else {
            out.push(stem(&lw));
        }
    }
    out
}

fn parse_pattern(s: &str) -> Vec<PatPart> {
    let mut out = Vec::new();
    for w in s.split_whitespace() {
        if let Some(inner) = w.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
            let (kind, name) = match inner {
                "" => (SlotKind::Value, None),
                "number" => (SlotKind::Number, None),
                "money" => (SlotKind::Money, None),
                "email" => (SlotKind::Email, None),
                "phone" => (SlotKind::Phone, None),
                "url" => (SlotKind::Url, None),
                "path" => (SlotKind::Path, None),
                "slug" => (SlotKind::Slug, None),
                "channel" => (SlotKind::Channel, None),
                other => (SlotKind::Value, Some(other.to_string())),
            };
            out.push(PatPart::Slot(kind, name));
        } else {
            for wd in words(w) {
                out.push(PatPart::Lit(wd));
            }
        }
    }
    out
}

fn default_patterns(spec: &ParamSpec) -> Vec<Vec<PatPart>> {
    let slot = match spec.value_type {
        ValueType::Url => SlotKind::Url,
        ValueType::Email => SlotKind::Email,
        ValueType::Phone => SlotKind::Phone,
        ValueType::Channel => SlotKind::Channel,
        _ => return Vec::new(),
    };
    vec![vec![PatPart::Slot(slot, None)]]
}

fn deletion_variants(w: &str) -> Vec<String> {
    let chars: Vec<char> = w.chars().collect();
    (0..chars.len())
        .map(|i| {
            chars
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, c)| *c)
                .collect()
        })
        .collect()
}

impl Lexicon {
    pub(crate) fn build(catalog: &Catalog) -> Self {
        let mut lex = Lexicon::default();
        let mut content: HashSet<String> = HashSet::new();
        for (ci, c) in catalog.connectors().iter().enumerate() {
            let mut entities: Vec<String> = Vec::new();
            for op in &c.operations {
                let e = op.entity().to_string();
                if !entities.contains(&e) {
                    entities.push(e);
                }
            }
            // Entity nouns: the vocabulary's, or the entity id itself.
            let mut own_nouns: HashSet<Vec<String>> = HashSet::new();
            for e in &entities {
                let mut nouns: Vec<String> =
                    c.vocabulary.entities.get(e).cloned().unwrap_or_default();
                if nouns.is_empty() {
                    nouns.push(e.replace('_', " "));
                }
                for n in nouns {
                    let p = words(&n);
                    if p.is_empty() {
                        continue;
                    }
                    content.extend(p.iter().cloned());
                    own_nouns.insert(p.clone());
                    lex.nouns.push(NameEntry {
                        phrase: p,
                        conn: ci,
                        entity: Some(e.clone()),
                        weak: false,
                    });
                }
            }
            let mut names: Vec<String> = vec![c.name.clone(), c.id.replace('_', " ")];
            names.extend(c.vocabulary.aliases.iter().cloned());
            let mut seen = HashSet::new();
            for n in names {
                let p = words(&n);
                if p.is_empty() || !seen.insert(p.clone()) {
                    continue;
                }
                content.extend(p.iter().cloned());
                let weak = own_nouns.contains(&p);
                lex.aliases.push(NameEntry {
                    phrase: p,
                    conn: ci,
                    entity: None,
                    weak,
                });
            }
            let category = words(&c.category);
            if category.len() == 1 {
                let surface = c.category.trim().to_lowercase();
                lex.category_words.insert(format!("{surface}s"));
                if let Some(single) = surface.strip_suffix('s') {
                    lex.category_words.insert(single.to_string());
                }
                lex.category_words.insert(surface);
                if let Some(entry) = lex.categories.iter_mut().find(|(p, _)| *p == category) {
                    entry.1.push(ci);
                } else {
                    lex.categories.push((category.clone(), vec![ci]));
                }
            }
            lex.conns.push(super::lexicon::ConnInfo {
                id: c.id.clone(),
                name: c.name.clone(),
                category,
            });
            for op in &c.operations {
                let oi = lex.ops.len();
                let voc = &op.vocabulary;
                let verbs: Vec<Phrase> = voc
                    .verbs
                    .iter()
                    .map(|v| phrase(v))
                    .filter(|p| !p.is_empty())
                    .collect();
                for (pi, p) in verbs.iter().enumerate() {
                    if let Some(PWord::Word(first)) = p.first() {
                        lex.verb_index
                            .entry(first.clone())
                            .or_default()
                            .push((oi, pi));
                        if op.kind == OperationKind::Action {
                            if let Some(surface) = voc.verbs[pi].split_whitespace().next() {
                                lex.imperatives.insert(surface.to_lowercase());
                            }
                        }
                    }
                    for w in p {
                        if let PWord::Word(s) = w {
                            content.insert(s.clone());
                        }
                    }
                }
                let params = op
                    .params
                    .iter()
                    .map(|spec| {
                        let pv = voc.params.get(&spec.name);
                        let mut patterns: Vec<Vec<PatPart>> = pv
                            .map(|pv| pv.patterns.iter().map(|p| parse_pattern(p)).collect())
                            .unwrap_or_default();
                        if patterns.is_empty() {
                            patterns = default_patterns(spec);
                        }
                        ParamInfo {
                            name: spec.name.clone(),
                            value_type: spec.value_type,
                            patterns,
                            values: pv
                                .map(|pv| pv.values.iter().map(|v| v.to_lowercase()).collect())
                                .unwrap_or_default(),
                        }
                    })
                    .collect();
                let recipient = match voc.recipient.as_str() {
                    "person" => Recipient::Person,
                    "channel" => Recipient::Channel,
                    _ => Recipient::None,
                };
                let mut provides = vec![op.entity().to_string()];
                provides.extend(voc.provides.iter().cloned());
                if c.id == "core" {
                    lex.core.insert(op.id.clone(), oi);
                }
                lex.ops.push(OpInfo {
                    conn: ci,
                    connector: c.id.clone(),
                    operation: op.id.clone(),
                    entity: op.entity().to_string(),
                    action: op.action().to_string(),
                    kind: op.kind,
                    effect: op.effect,
                    verbs,
                    provides,
                    recipient,
                    params,
                    inputs: op.inputs.iter().map(|f| f.name.clone()).collect(),
                    example_output: op.example_output.clone(),
                });
            }
        }
        lex.aliases
            .sort_by_key(|e| std::cmp::Reverse(e.phrase.len()));
        lex.nouns.sort_by_key(|e| std::cmp::Reverse(e.phrase.len()));
        for (i, e) in lex.aliases.iter().enumerate() {
            if let Some(f) = e.phrase.first() {
                lex.alias_first.entry(f.clone()).or_default().push(i);
            }
            lex.alias_words.extend(e.phrase.iter().cloned());
            if e.phrase.len() == 1 {
                lex.single_aliases.insert(e.phrase[0].clone());
            }
        }
        for (i, e) in lex.nouns.iter().enumerate() {
            if let Some(f) = e.phrase.first() {
                lex.noun_first.entry(f.clone()).or_default().push(i);
            }
            if e.phrase.len() == 1 {
                lex.single_nouns.insert(e.phrase[0].clone());
            }
        }
        // Decisive verbs: every action op they ask for shares one (entity, action).
        let mut groups: HashMap<String, HashSet<(String, String)>> = HashMap::new();
        for (stem_word, uses) in &lex.verb_index {
            for &(oi, _) in uses {
                let op = &lex.ops[oi];
                if op.kind == OperationKind::Action {
                    groups
                        .entry(stem_word.clone())
                        .or_default()
                        .insert((op.entity.clone(), op.action.clone()));
                }
            }
        }
        for (w, g) in groups {
            if g.len() == 1 {
                lex.decisive.insert(w);
            }
        }
        for w in super::grammar::KEYWORDS {
            content.insert(stem(w));
        }
        for w in &content {
            if w.chars().count() >= 3 {
                for d in deletion_variants(w) {
                    lex.deletions.entry(d).or_default().push(w.clone());
                }
                lex.deletions.entry(w.clone()).or_default().push(w.clone());
            }
        }
        for &(p, m) in super::grammar::MARKERS {
            let first = p.split(' ').next().unwrap_or(p);
            lex.markers_first.entry(first).or_default().push((p, m));
        }
        for &(p, m) in super::grammar::SUBS {
            let first = p.split(' ').next().unwrap_or(p);
            lex.subs_first.entry(first).or_default().push((p, m));
        }
        lex.known = content;
        for w in COMMON_WORDS {
            lex.known.insert(stem(w));
            lex.known.insert((*w).to_string());
        }
        for w in text::FUNCTION_WORDS {
            lex.known.insert((*w).to_string());
        }
        lex
    }

    /// The stem a word should be read as: itself when known, or the one
    /// lexicon stem within a single edit (see [`text::within_one_edit`]).
    pub(crate) fn correct(&self, lower: &str, st: &str) -> Option<String> {
        if self.known.contains(st) || self.known.contains(lower) {
            return None;
        }
        let len = st.chars().count();
        if len < 3 || !st.chars().all(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        let mut candidates: Vec<&String> = Vec::new();
        let mut probe = deletion_variants(st);
        probe.push(st.to_string());
        for d in &probe {
            if let Some(ws) = self.deletions.get(d) {
                for w in ws {
                    if !candidates.contains(&w) {
                        candidates.push(w);
                    }
                }
            }
        }
        let mut best: Option<&String> = None;
        for c in candidates {
            let ok = if len <= 4 || c.chars().count() <= 4 {
                text::short_word_edit(st, c)
            } else {
                text::within_one_edit(st, c)
            };
            if ok {
                match best {
                    None => best = Some(c),
                    Some(b) if c < b => best = Some(c),
                    _ => {}
                }
            }
        }
        best.cloned()
    }

    /// The grammar phrases of `table` that may start at token `t`.
    pub(crate) fn grammar_candidates<'t, T>(
        &self,
        t: &super::text::Token,
        table: &'t HashMap<&'static str, Vec<T>>,
    ) -> &'t [T] {
        if let Some(v) = table.get(t.lower.as_str()) {
            return v;
        }
        if t.corrected {
            if let Some(v) = table.get(t.stem.as_str()) {
                return v;
            }
        }
        &[]
    }

    /// Operations of connector `conn` on `entity` with action `action`.
    pub(crate) fn find_op(&self, conn: usize, entity: &str, action: &str) -> Option<usize> {
        self.ops.iter().position(|o| {
            o.conn == conn
                && o.entity == entity
                && o.action == action
                && o.kind == OperationKind::Action
        })
    }
}
