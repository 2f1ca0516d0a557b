//! Tokens, stems and small grammar tables for the deterministic planner.
//!
//! Everything here is language grammar (articles, pronouns, number words,
//! units, weekday names); nothing names a connector. Connector words come
//! from the catalog's vocabulary files (see [`super::lexicon`]).

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A word (letters, maybe digits and inner apostrophes).
    Word,
    /// A plain number (`30`, `12,000`, `1.5`).
    Number,
    /// A currency amount (`$12,000`).
    Money,
    /// `https://…`
    Url,
    /// `name@host`
    Email,
    /// `+14155550123`
    Phone,
    /// `#finance`
    Channel,
    /// `/hooks/signup`
    Path,
    /// `acme/web`
    Slug,
    /// A double-quoted string.
    Quoted,
    /// A time of day (`9am`, `8:30am`, `17:30`).
    Time,
    /// `,` `;` `:` `(` `)`
    Comma,
    /// `.` `?` `!` or a line break: ends a sentence.
    Stop,
    /// `→` or `->`
    Arrow,
    /// `1.` or `2)` at the start of a list item.
    ListMarker,
}

/// One token of a description, with its byte span.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    /// Lower-case text (for quoted strings: the inner text).
    pub lower: String,
    /// Stem used for matching (typo-corrected for words).
    pub stem: String,
    /// Starts with an upper-case letter.
    pub cap: bool,
    /// Joined to the next token by a hyphen (`high-priority`).
    pub glued: bool,
    /// Numeric value of numbers and money.
    pub num: Option<f64>,
    /// The stem was changed by typo correction.
    pub corrected: bool,
    /// Sentence-ending punctuation was `?`.
    pub question: bool,
}

impl Token {
    pub(crate) fn is_word(&self) -> bool {
        self.kind == Kind::Word
    }
    pub(crate) fn is_break(&self) -> bool {
        matches!(
            self.kind,
            Kind::Comma | Kind::Stop | Kind::Arrow | Kind::ListMarker
        )
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits `text` into tokens. Never panics; unknown characters are skipped.
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    let n = bytes.len();
    let end_of = |i: usize| -> usize {
        if i < n {
            bytes[i].0
        } else {
            text.len()
        }
    };
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < n {
        let (pos, c) = bytes[i];
        if c == '\n' || c == '\r' {
            push(&mut out, Kind::Stop, pos, end_of(i + 1), "\n");
            i += 1;
            continue;
        }
        if c.is_whitespace() || c.is_control() {
            i += 1;
            continue;
        }
        // Quoted strings.
        if c == '"' || c == '\u{201c}' || c == '\u{201d}' {
            let mut j = i + 1;
            while j < n && !matches!(bytes[j].1, '"' | '\u{201c}' | '\u{201d}' | '\n') {
                j += 1;
            }
            if j < n && bytes[j].1 != '\n' && j > i + 1 {
                let inner = &text[end_of(i + 1)..bytes[j].0];
                let trimmed = inner.trim();
                if !trimmed.is_empty() {
                    let mut t = mk(Kind::Quoted, pos, end_of(j + 1), trimmed);
                    t.cap = true;
                    out.push(t);
                }
                i = j + 1;
                continue;
            }
            i += 1;
            continue;
        }
        if c == '\u{2192}' || c == '\u{21d2}' {
            push(&mut out, Kind::Arrow, pos, end_of(i + 1), "->");
            i += 1;
            continue;
        }
        if (c == '-' || c == '=') && i + 1 < n && bytes[i + 1].1 == '>' {
            push(&mut out, Kind::Arrow, pos, end_of(i + 2), "->");
            i += 2;
            continue;
        }
        if matches!(c, '.' | '?' | '!' | '\u{2026}') {
            let mut t = mk(Kind::Stop, pos, end_of(i + 1), ".");
            t.question = c == '?';
            out.push(t);
            i += 1;
            continue;
        }
        if matches!(
            c,
            ',' | ';' | ':' | '(' | ')' | '[' | ']' | '\u{2014}' | '\u{2013}'
        ) {
            let s = if c == ';' { ";" } else { "," };
            push(&mut out, Kind::Comma, pos, end_of(i + 1), s);
            i += 1;
            continue;
        }
        if c == '#' && i + 1 < n && is_word_char(bytes[i + 1].1) {
            let mut j = i + 1;
            while j < n
                && (is_word_char(bytes[j].1)
                    || ((bytes[j].1 == '-' || bytes[j].1 == '.')
                        && j + 1 < n
                        && is_word_char(bytes[j + 1].1)))
            {
                j += 1;
            }
            let s = &text[pos..end_of(j)];
            // "#1042" is a number (an order's), not a channel.
            let kind = if s[1..].chars().all(|c| c.is_ascii_digit()) {
                Kind::Slug
            } else {
                Kind::Channel
            };
            push(&mut out, kind, pos, end_of(j), &s.to_lowercase());
            i = j;
            continue;
        }
        if matches!(c, '$' | '\u{20ac}' | '\u{a3}') && i + 1 < n && bytes[i + 1].1.is_ascii_digit()
        {
            let (j, value) = scan_number(&bytes, i + 1);
            let mut j = j;
            let mut value = value;
            // "$12k"
            if j < n
                && matches!(bytes[j].1, 'k' | 'K')
                && (j + 1 >= n || !is_word_char(bytes[j + 1].1))
            {
                value *= 1000.0;
                j += 1;
            }
            let mut t = mk(Kind::Money, pos, end_of(j), &text[pos..end_of(j)]);
            t.num = Some(value);
            out.push(t);
            i = j;
            continue;
        }
        if c == '+' && i + 1 < n && bytes[i + 1].1.is_ascii_digit() {
            let mut j = i + 1;
            while j < n
                && (bytes[j].1.is_ascii_digit()
                    || matches!(bytes[j].1, '-' | ' ')
                        && j + 1 < n
                        && bytes[j + 1].1.is_ascii_digit())
            {
                j += 1;
            }
            let raw: String = text[pos..end_of(j)]
                .chars()
                .filter(|c| *c == '+' || c.is_ascii_digit())
                .collect();
            push(&mut out, Kind::Phone, pos, end_of(j), &raw);
            i = j;
            continue;
        }
        if c == '/' && i + 1 < n && is_word_char(bytes[i + 1].1) {
            let mut j = i + 1;
            while j < n
                && !bytes[j].1.is_whitespace()
                && !matches!(bytes[j].1, ',' | ';' | '"' | ')')
            {
                j += 1;
            }
            while j > i + 1 && matches!(bytes[j - 1].1, '.' | ':' | '?' | '!') {
                j -= 1;
            }
            push(&mut out, Kind::Path, pos, end_of(j), &text[pos..end_of(j)]);
            i = j;
            continue;
        }
        if is_word_char(c) {
            let start_i = i;
            // URL?
            let rest = &text.as_bytes()[pos..];
            let starts =
                |p: &[u8]| rest.len() >= p.len() && rest[..p.len()].eq_ignore_ascii_case(p);
            if starts(b"http://") || starts(b"https://") {
                let mut j = i;
                while j < n && !bytes[j].1.is_whitespace() && !matches!(bytes[j].1, '"' | '<' | '>')
                {
                    j += 1;
                }
                while j > i
                    && matches!(
                        bytes[j - 1].1,
                        '.' | ',' | ';' | ':' | ')' | '?' | '!' | '\''
                    )
                {
                    j -= 1;
                }
                push(&mut out, Kind::Url, pos, end_of(j), &text[pos..end_of(j)]);
                i = j;
                continue;
            }
            let mut j = i;
            let mut has_at = false;
            let mut has_slash = false;
            let mut has_dot = false;
            while j < n {
                let ch = bytes[j].1;
                if is_word_char(ch) {
                    j += 1;
                    continue;
                }
                let next_word = j + 1 < n && is_word_char(bytes[j + 1].1);
                if ch == '@' {
                    has_at = true;
                    j += 1;
                    continue;
                }
                if matches!(ch, '\'' | '\u{2019}') && next_word {
                    j += 1;
                    continue;
                }
                if (ch == '.' || ch == ',') && next_word {
                    // 12,000 / 1.5 / host.com
                    let prev_digit = bytes[j - 1].1.is_ascii_digit();
                    if ch == ',' && !(prev_digit && bytes[j + 1].1.is_ascii_digit()) {
                        break;
                    }
                    if ch == '.' {
                        has_dot = true;
                    }
                    j += 1;
                    continue;
                }
                if ch == '/' && next_word {
                    has_slash = true;
                    j += 1;
                    continue;
                }
                let email_ahead = || {
                    bytes[j..]
                        .iter()
                        .take_while(|(_, c)| !c.is_whitespace())
                        .any(|(_, c)| *c == '@')
                };
                if ch == '-' && next_word && (has_at || has_slash || has_dot || email_ahead()) {
                    j += 1;
                    continue;
                }
                if ch == ':'
                    && j + 1 < n
                    && bytes[j + 1].1.is_ascii_digit()
                    && bytes[j - 1].1.is_ascii_digit()
                {
                    j += 1;
                    continue;
                }
                break;
            }
            let raw = &text[pos..end_of(j)];
            let lower = raw.to_lowercase().replace('\u{2019}', "'");
            let kind = if has_at {
                Kind::Email
            } else if has_slash {
                Kind::Slug
            } else if is_time(&lower) {
                Kind::Time
            } else if lower
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
            {
                Kind::Number
            } else {
                Kind::Word
            };
            if kind == Kind::Number {
                // List marker: a small number followed by `.` or `)` at the start of an item.
                let at_item_start = out.last().is_none_or(|t| t.is_break());
                if at_item_start
                    && j < n
                    && matches!(bytes[j].1, '.' | ')')
                    && (j + 1 >= n || bytes[j + 1].1.is_whitespace())
                    && lower.len() <= 2
                {
                    push(&mut out, Kind::ListMarker, pos, end_of(j + 1), &lower);
                    i = j + 1;
                    continue;
                }
                let mut t = mk(Kind::Number, pos, end_of(j), &lower);
                t.num = lower.replace(',', "").parse::<f64>().ok();
                out.push(t);
                i = j;
                continue;
            }
            if kind == Kind::Word {
                // Split possessive 's.
                if let Some(base) = lower.strip_suffix("'s") {
                    if !base.is_empty()
                        && base != "it"
                        && base != "that"
                        && base != "let"
                        && base != "what"
                        && base != "here"
                        && base != "there"
                        && base != "who"
                    {
                        let split = pos + raw.len() - 2;
                        let mut t = mk(Kind::Word, pos, split, base);
                        t.cap = raw.chars().next().is_some_and(|c| c.is_uppercase());
                        out.push(t);
                        push(&mut out, Kind::Word, split, end_of(j), "'s");
                        i = j;
                        continue;
                    }
                }
                let mut t = mk(Kind::Word, pos, end_of(j), &lower);
                t.cap = raw.chars().next().is_some_and(|c| c.is_uppercase());
                // Hyphen glue: "high-priority", "needs-review".
                if j + 1 < n && bytes[j].1 == '-' && is_word_char(bytes[j + 1].1) {
                    t.glued = true;
                    out.push(t);
                    i = j + 1;
                    continue;
                }
                out.push(t);
                i = j;
                continue;
            }
            let mut t = mk(kind, pos, end_of(j), &lower);
            t.cap = raw.chars().next().is_some_and(|c| c.is_uppercase());
            out.push(t);
            i = j.max(start_i + 1);
            continue;
        }
        i += 1;
    }
    out
}

fn scan_number(bytes: &[(usize, char)], mut j: usize) -> (usize, f64) {
    let n = bytes.len();
    let mut s = String::new();
    while j < n {
        let ch = bytes[j].1;
        if ch.is_ascii_digit() {
            s.push(ch);
        } else if (ch == ',' || ch == '.') && j + 1 < n && bytes[j + 1].1.is_ascii_digit() {
            if ch == '.' {
                s.push('.');
            }
        } else {
            break;
        }
        j += 1;
    }
    (j, s.parse::<f64>().unwrap_or(0.0))
}

fn is_time(s: &str) -> bool {
    let t = s.trim_end_matches("am").trim_end_matches("pm");
    if t.len() == s.len() {
        // 17:30
        return s.contains(':')
            && s.split(':')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    }
    !t.is_empty()
        && t.split(':')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn mk(kind: Kind, start: usize, end: usize, lower: &str) -> Token {
    Token {
        kind,
        start,
        end,
        lower: lower.to_string(),
        stem: String::new(),
        cap: false,
        glued: false,
        num: None,
        corrected: false,
        question: false,
    }
}

fn push(out: &mut Vec<Token>, kind: Kind, start: usize, end: usize, lower: &str) {
    out.push(mk(kind, start, end, lower));
}

/// Irregular verb forms and the like, mapped to their base form before
/// stemming.
const IRREGULAR: &[(&str, &str)] = &[
    ("found", "find"),
    ("sent", "send"),
    ("paid", "pay"),
    ("made", "make"),
    ("got", "get"),
    ("gotten", "get"),
    ("gave", "give"),
    ("given", "give"),
    ("went", "go"),
    ("gone", "go"),
    ("goes", "go"),
    ("came", "come"),
    ("brought", "bring"),
    ("told", "tell"),
    ("wrote", "write"),
    ("written", "write"),
    ("began", "begin"),
    ("begun", "begin"),
    ("ran", "run"),
    ("left", "leave"),
    ("kept", "keep"),
    ("held", "hold"),
    ("taken", "take"),
    ("took", "take"),
    ("shut", "shut"),
    ("fell", "fall"),
    ("fallen", "fall"),
    ("dropped", "drop"),
    ("filed", "file"),
    ("has", "have"),
    ("had", "have"),
    ("is", "be"),
    ("are", "be"),
    ("was", "be"),
    ("were", "be"),
    ("been", "be"),
    ("being", "be"),
    ("does", "do"),
    ("did", "do"),
    ("done", "do"),
    ("e-mail", "email"),
    ("emails", "email"),
    ("texts", "text"),
    ("prs", "pr"),
    ("dms", "dm"),
    ("dmed", "dm"),
    ("dm'd", "dm"),
    ("dming", "dm"),
    ("smses", "sms"),
    ("sms", "sms"),
    ("status", "status"),
    ("statuses", "status"),
    ("opportunities", "opportunity"),
];

/// A crude, consistent stemmer: the same stem for `create`, `created`,
/// `creates` and `creating`. Only for matching; never shown.
pub(crate) fn stem(word: &str) -> String {
    if let Some((_, base)) = IRREGULAR.iter().find(|(w, _)| *w == word) {
        return stem_once(base);
    }
    let once = stem_once(word);
    if once != word && once.len() > 3 {
        let twice = stem_once(&once);
        if twice.len() >= 4 {
            return twice;
        }
    }
    once
}

fn stem_once(word: &str) -> String {
    let w = word;
    if w.len() <= 3 || !w.is_ascii() {
        return w.to_string();
    }
    let undouble = |s: &str| -> String {
        let b = s.as_bytes();
        if b.len() >= 4 {
            let last = b[b.len() - 1];
            if last == b[b.len() - 2] && !matches!(last, b's' | b'l' | b'z' | b'e' | b'o') {
                return s[..s.len() - 1].to_string();
            }
            if last == b'l' && b[b.len() - 2] == b'l' && b.len() >= 6 {
                return s[..s.len() - 1].to_string();
            }
        }
        s.to_string()
    };
    if let Some(b) = w.strip_suffix("ies") {
        return format!("{b}y");
    }
    if let Some(b) = w.strip_suffix("ied") {
        return format!("{b}y");
    }
    if let Some(b) = w.strip_suffix("ing") {
        if b.len() >= 3 {
            return undouble(b).trim_end_matches('e').to_string();
        }
    }
    if let Some(b) = w.strip_suffix("ed") {
        if b.len() >= 3 {
            return undouble(b).trim_end_matches('e').to_string();
        }
    }
    if w.ends_with("sses") || w.ends_with("xes") || w.ends_with("ches") || w.ends_with("shes") {
        return w[..w.len() - 2].to_string();
    }
    if w.ends_with("ss") || w.ends_with("us") || w.ends_with("is") {
        return w.to_string();
    }
    if let Some(b) = w.strip_suffix('s') {
        return b.trim_end_matches('e').to_string();
    }
    if let Some(b) = w.strip_suffix('e') {
        return b.to_string();
    }
    if w.len() >= 6 && w.ends_with("ll") {
        return w[..w.len() - 1].to_string();
    }
    w.to_string()
}

/// Optimal-string-alignment distance, stopping early above 1.
pub(crate) fn within_one_edit(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    if la == lb {
        let diffs: Vec<usize> = (0..la).filter(|&i| a[i] != b[i]).collect();
        return match diffs.len() {
            0 | 1 => true,
            2 => {
                diffs[1] == diffs[0] + 1 && a[diffs[0]] == b[diffs[1]] && a[diffs[1]] == b[diffs[0]]
            }
            _ => false,
        };
    }
    let (short, long) = if la < lb { (&a, &b) } else { (&b, &a) };
    let mut i = 0;
    while i < short.len() && short[i] == long[i] {
        i += 1;
    }
    short[i..] == long[i + 1..]
}

/// Whether `a` → `b` is a transposition of two neighbours or one insertion
/// or deletion (the edits allowed on short words, where a substitution
/// would too often turn one real word into another).
pub(crate) fn short_word_edit(a: &str, b: &str) -> bool {
    let (la, lb) = (a.chars().count(), b.chars().count());
    if la != lb {
        return within_one_edit(a, b);
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let diffs: Vec<usize> = (0..la).filter(|&i| a[i] != b[i]).collect();
    diffs.len() == 2
        && diffs[1] == diffs[0] + 1
        && a[diffs[0]] == b[diffs[1]]
        && a[diffs[1]] == b[diffs[0]]
}

/// Determiners and possessive pronouns, skipped when matching patterns.
pub(crate) const DETERMINERS: &[&str] = &[
    "the", "a", "an", "its", "their", "his", "her", "this", "that", "these", "those", "our", "my",
    "your", "any", "each", "some", "every", "both", "all", "new", "same",
];

pub(crate) fn is_determiner(stem: &str) -> bool {
    DETERMINERS.contains(&stem)
}

/// Words that stop a value capture or a field name.
pub(crate) const FUNCTION_WORDS: &[&str] = &[
    "the",
    "a",
    "an",
    "to",
    "in",
    "on",
    "at",
    "of",
    "for",
    "from",
    "with",
    "by",
    "and",
    "or",
    "then",
    "but",
    "if",
    "unless",
    "when",
    "once",
    "after",
    "before",
    "as",
    "into",
    "onto",
    "that",
    "this",
    "it",
    "them",
    "they",
    "their",
    "its",
    "his",
    "her",
    "him",
    "we",
    "us",
    "our",
    "you",
    "your",
    "so",
    "be",
    "is",
    "are",
    "was",
    "were",
    "also",
    "too",
    "via",
    "using",
    "through",
    "about",
    "where",
    "whose",
    "which",
    "who",
    "what",
    "while",
    "until",
    "than",
    "not",
    "no",
    "right",
    "away",
    "now",
    "again",
    "only",
    "just",
    "please",
    "saying",
    "asking",
    "telling",
    "containing",
    "including",
    "within",
    "each",
    "every",
    "both",
    "all",
    "any",
    "there",
    "here",
    "up",
    "out",
    "off",
    "over",
    "under",
    "below",
    "above",
    "same",
    "time",
    "soon",
    "immediately",
    "'s",
    "me",
    "my",
    "these",
    "those",
    "should",
    "must",
    "will",
    "would",
    "can",
    "could",
    "do",
    "does",
    "did",
    "has",
    "have",
    "had",
    "so",
];

pub(crate) fn is_function_word(w: &str) -> bool {
    FUNCTION_WORDS.contains(&w)
}

/// Common English words that are never "corrected" into a lexicon word.
pub(crate) const COMMON_WORDS: &[&str] = &[
    "the",
    "a",
    "an",
    "and",
    "or",
    "but",
    "if",
    "then",
    "than",
    "that",
    "this",
    "these",
    "those",
    "it",
    "its",
    "they",
    "them",
    "their",
    "there",
    "here",
    "we",
    "us",
    "our",
    "you",
    "your",
    "he",
    "she",
    "him",
    "her",
    "his",
    "hers",
    "i",
    "me",
    "my",
    "mine",
    "who",
    "whom",
    "whose",
    "which",
    "what",
    "when",
    "where",
    "why",
    "how",
    "while",
    "with",
    "without",
    "within",
    "for",
    "from",
    "to",
    "too",
    "two",
    "of",
    "off",
    "on",
    "in",
    "into",
    "onto",
    "at",
    "by",
    "as",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "am",
    "do",
    "does",
    "did",
    "done",
    "have",
    "has",
    "had",
    "not",
    "no",
    "yes",
    "so",
    "such",
    "some",
    "any",
    "all",
    "each",
    "every",
    "both",
    "either",
    "neither",
    "one",
    "few",
    "many",
    "much",
    "more",
    "most",
    "less",
    "least",
    "other",
    "another",
    "same",
    "own",
    "just",
    "only",
    "also",
    "very",
    "can",
    "could",
    "will",
    "would",
    "shall",
    "should",
    "may",
    "might",
    "must",
    "need",
    "needs",
    "want",
    "wants",
    "like",
    "would",
    "let",
    "lets",
    "please",
    "thanks",
    "thank",
    "about",
    "above",
    "below",
    "over",
    "under",
    "after",
    "before",
    "until",
    "since",
    "because",
    "again",
    "once",
    "twice",
    "ever",
    "never",
    "always",
    "often",
    "sometimes",
    "now",
    "later",
    "soon",
    "today",
    "tomorrow",
    "yesterday",
    "week",
    "weeks",
    "day",
    "days",
    "hour",
    "hours",
    "minute",
    "minutes",
    "month",
    "months",
    "year",
    "years",
    "time",
    "times",
    "way",
    "thing",
    "things",
    "people",
    "person",
    "team",
    "teams",
    "work",
    "works",
    "worked",
    "working",
    "know",
    "knows",
    "knew",
    "see",
    "sees",
    "saw",
    "seen",
    "look",
    "looks",
    "looked",
    "say",
    "says",
    "said",
    "tell",
    "tells",
    "ask",
    "asks",
    "asked",
    "go",
    "goes",
    "went",
    "gone",
    "come",
    "comes",
    "came",
    "take",
    "takes",
    "took",
    "give",
    "gives",
    "gave",
    "make",
    "makes",
    "made",
    "put",
    "puts",
    "keep",
    "keeps",
    "kept",
    "set",
    "sets",
    "sent",
    "send",
    "ship",
    "ships",
    "shop",
    "shops",
    "tag",
    "tags",
    "bag",
    "sign",
    "signs",
    "signed",
    "side",
    "sure",
    "well",
    "good",
    "bad",
    "big",
    "small",
    "large",
    "little",
    "long",
    "short",
    "high",
    "low",
    "new",
    "old",
    "first",
    "last",
    "next",
    "second",
    "third",
    "final",
    "finally",
    "fine",
    "find",
    "line",
    "lines",
    "mine",
    "nine",
    "ten",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "form",
    "forms",
    "from",
    "farm",
    "firm",
    "file",
    "files",
    "fill",
    "filled",
    "still",
    "will",
    "wall",
    "call",
    "calls",
    "called",
    "cell",
    "sell",
    "sells",
    "sold",
    "tell",
    "hello",
    "help",
    "helps",
    "hold",
    "holds",
    "told",
    "gold",
    "code",
    "node",
    "note",
    "notes",
    "vote",
    "rate",
    "late",
    "date",
    "data",
    "list",
    "lists",
    "last",
    "lost",
    "post",
    "most",
    "cost",
    "host",
    "test",
    "text",
    "next",
    "nest",
    "best",
    "rest",
    "west",
    "east",
    "past",
    "fast",
    "cast",
    "case",
    "base",
    "cause",
    "came",
    "name",
    "same",
    "game",
    "user",
    "users",
    "use",
    "used",
    "uses",
    "usual",
    "ask",
    "task",
    "tasks",
    "mask",
    "risk",
    "fix",
    "fixes",
    "fixed",
    "mix",
    "box",
    "six",
    "sit",
    "site",
    "sites",
    "bit",
    "bits",
    "hit",
    "fit",
    "kit",
    "lit",
    "wit",
    "won",
    "win",
    "wins",
    "ones",
    "tone",
    "done",
    "gone",
    "none",
    "lone",
    "bone",
    "cone",
    "one",
    "on",
    "own",
    "town",
    "down",
    "dawn",
    "lawn",
    "plan",
    "plans",
    "plane",
    "planned",
    "lead",
    "leads",
    "read",
    "reads",
    "head",
    "heads",
    "dead",
    "deal",
    "deals",
    "real",
    "meal",
    "seal",
    "heal",
    "goal",
    "coal",
    "role",
    "rule",
    "rules",
    "ruled",
    "mule",
    "mail",
    "nail",
    "tail",
    "rail",
    "sail",
    "pail",
    "fail",
    "fails",
    "failed",
    "bill",
    "bills",
    "billed",
    "pill",
    "will",
    "kill",
    "mill",
    "skill",
    "while",
    "white",
    "write",
    "wrote",
    "right",
    "light",
    "night",
    "might",
    "fight",
    "sight",
    "eight",
    "weight",
    "wait",
    "waits",
    "bait",
    "gait",
    "trait",
    "train",
    "rain",
    "main",
    "pain",
    "gain",
    "again",
    "against",
    "agent",
    "agents",
    "event",
    "events",
    "even",
    "ever",
    "every",
    "very",
    "vary",
    "many",
    "any",
    "away",
    "way",
    "ways",
    "say",
    "day",
    "may",
    "pay",
    "pays",
    "ray",
    "stay",
    "stays",
    "play",
    "clay",
    "pray",
    "gray",
    "grey",
    "key",
    "keys",
    "hey",
    "they",
    "obey",
    "open",
    "opens",
    "opened",
    "oven",
    "seven",
    "even",
    "given",
    "driven",
    "ran",
    "run",
    "runs",
    "sun",
    "fun",
    "gun",
    "bun",
    "nun",
    "rub",
    "hub",
    "pub",
    "sub",
    "cub",
    "tub",
    "club",
    "cube",
    "tube",
    "lube",
    "sent",
    "rent",
    "bent",
    "dent",
    "tent",
    "went",
    "vent",
    "cent",
    "scent",
    "spent",
    "meant",
    "lent",
    "kent",
    "content",
    "intent",
    "extent",
    "event",
    "prevent",
    "invent",
    "issue",
    "tissue",
    "stage",
    "stages",
    "state",
    "states",
    "status",
    "store",
    "stores",
    "story",
    "stories",
    "stock",
    "stop",
    "stops",
    "step",
    "steps",
    "stem",
    "item",
    "items",
    "them",
    "then",
    "than",
    "thin",
    "this",
    "thus",
    "these",
    "there",
    "their",
    "where",
    "were",
    "wear",
    "near",
    "year",
    "hear",
    "dear",
    "fear",
    "gear",
    "tear",
    "clear",
    "cleared",
    "team",
    "tea",
    "sea",
    "see",
    "seem",
    "seen",
    "seed",
    "need",
    "feed",
    "weed",
    "deed",
    "reed",
    "speed",
    "sped",
    "spend",
    "bend",
    "end",
    "ends",
    "and",
    "hand",
    "hands",
    "band",
    "land",
    "sand",
    "brand",
    "grand",
    "stand",
    "wand",
    "wind",
    "kind",
    "mind",
    "bind",
    "rind",
    "find",
    "fund",
    "funds",
    "found",
    "sound",
    "round",
    "bound",
    "around",
    "ground",
    "pound",
    "hound",
    "wound",
    "mound",
    "send",
    "lend",
    "tend",
    "trend",
    "friend",
    "blend",
    "extend",
    "attend",
    "weekend",
    "weekends",
    "saturday",
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "weekday",
    "weekdays",
    "morning",
    "evening",
    "afternoon",
    "noon",
    "midnight",
    "daily",
    "weekly",
    "monthly",
    "hourly",
    "yearly",
    "annually",
    "quarterly",
    "quarter",
    "half",
    "ago",
    "via",
    "per",
    "amount",
    "total",
    "sum",
    "price",
    "prices",
    "cost",
    "value",
    "number",
    "numbers",
    "count",
    "size",
    "country",
    "region",
    "city",
    "address",
    "phone",
    "field",
    "fields",
    "property",
    "properties",
    "record",
    "records",
    "owner",
    "owners",
    "account",
    "accounts",
    "company",
    "companies",
    "business",
    "client",
    "clients",
    "customer",
    "customers",
    "vendor",
    "vendors",
    "supplier",
    "suppliers",
    "partner",
    "partners",
    "staff",
    "employee",
    "employees",
    "manager",
    "managers",
    "lead",
    "boss",
    "head",
    "admin",
    "engineer",
    "engineers",
    "engineering",
    "support",
    "sales",
    "finance",
    "marketing",
    "ops",
    "operations",
    "legal",
    "product",
    "products",
    "design",
    "hr",
    "it",
    "yet",
    "get",
    "got",
    "bet",
    "net",
    "pet",
    "set",
    "wet",
    "jet",
    "let",
    "met",
    "vet",
    "yes",
    "does",
    "dose",
    "rose",
    "nose",
    "pose",
    "hose",
    "lose",
    "close",
    "closed",
    "closes",
    "those",
    "whose",
    "chose",
    "choose",
    "shoes",
    "goes",
    "toes",
    "foes",
    "hoes",
    "woes",
    "does",
    "paid",
    "said",
    "laid",
    "maid",
    "raid",
    "aid",
    "aids",
    "add",
    "adds",
    "added",
    "odd",
    "god",
    "nod",
    "rod",
    "pod",
    "cod",
    "mod",
    "sad",
    "mad",
    "bad",
    "dad",
    "had",
    "lad",
    "pad",
    "fad",
    "gad",
    "wad",
    "ad",
    "ads",
    "contract",
    "contracts",
    "contractor",
    "contractors",
];
