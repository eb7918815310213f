//! Reconstruction's first step: the raw sample's lines, classified, and its tokens normalised
//! to what the grammar accepts.

use crate::kern::lex::{classify_interp, dynam_field_ok, edition_field_ok, kern_field_ok, Interp};

#[derive(Clone, Debug, PartialEq)]
pub(super) enum RawLine<'a> {
    Blank,
    Bar,
    Comment,
    Terminator,
    Interp(Vec<&'a str>),
    Data(Vec<&'a str>),
    Garbage,
}

#[derive(Clone, Debug)]
pub(super) struct Line<'a> {
    pub raw: RawLine<'a>,
    /// Last line of a text without a final newline: possibly cut short.
    pub truncated: bool,
}

pub(super) fn split_lines(raw: &str) -> Vec<Line<'_>> {
    let complete = raw.ends_with('\n');
    let mut parts: Vec<&str> = raw.split('\n').collect();
    if complete {
        parts.pop();
    }
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let p = p.strip_suffix('\r').unwrap_or(p);
            Line { raw: classify_line(p), truncated: !complete && i + 1 == n }
        })
        .collect()
}

pub(super) fn classify_line(l: &str) -> RawLine<'_> {
    if l.trim().is_empty() {
        return RawLine::Blank;
    }
    if l.starts_with('!') {
        return RawLine::Comment;
    }
    let fields: Vec<&str> = l.split('\t').collect();
    if fields.iter().all(|f| {
        let f = f.trim();
        f == "@" || f.starts_with('=')
    }) {
        return RawLine::Bar;
    }
    let stars = fields.iter().filter(|f| f.starts_with('*')).count();
    if stars == fields.len() {
        if fields.iter().any(|f| f.starts_with("**")) {
            return RawLine::Garbage;
        }
        if fields.iter().any(|f| f.trim() == "*-") {
            return RawLine::Terminator;
        }
        return RawLine::Interp(fields);
    }
    if stars == 0 {
        return RawLine::Data(fields);
    }
    RawLine::Garbage
}

pub(super) fn segment_has_music(seg: &[Line<'_>], editions: bool) -> bool {
    seg.iter().any(|l| match &l.raw {
        RawLine::Data(f) => f.iter().any(|t| is_music(kern_token(t, editions).as_deref())),
        _ => false,
    })
}

pub(super) fn is_music(t: Option<&str>) -> bool {
    matches!(t, Some(s) if s != ".")
}

pub(super) fn is_pitch(c: u8) -> bool {
    matches!(c, b'a'..=b'g' | b'A'..=b'G')
}

/// A normalised kern token: `.`, a token the grammar accepts (spaces normalised), or for
/// raw samples the chord members that are notes on their own; `editions`: in the editions
/// dialect (a model trained on real editions).
pub(super) fn kern_token(t: &str, editions: bool) -> Option<String> {
    normalised(t, if editions { edition_field_ok } else { kern_field_ok })
}

/// A normalised dynam token, like [`kern_token`].
pub(super) fn dynam_token(t: &str) -> Option<String> {
    normalised(t, dynam_field_ok)
}

/// The corpus writes grace notes with `Q` (groupetto) as well as `q`, and the grammar takes both
/// as timeless, but humlib (inside verovio) gives `Q` notes their duration: the score writes `q`.
pub(crate) fn grace_as_q(token: &str) -> String {
    token.replace('Q', "q")
}

fn normalised(t: &str, ok: fn(&str) -> bool) -> Option<String> {
    let t = t.trim();
    if t == "." {
        return Some(".".to_string());
    }
    let subs: Vec<&str> = t.split_whitespace().collect();
    let whole = subs.join(" ");
    if ok(&whole) {
        return Some(whole);
    }
    let kept: Vec<&str> = subs.into_iter().filter(|s| ok(s)).collect();
    let joined = kept.join(" ");
    (!kept.is_empty() && ok(&joined)).then_some(joined)
}

/// What an interpretation token of a raw sample is (trimmed), as the grammar reads it; `None`
/// for one it does not know (reconstruction writes `*` instead).
pub(super) fn interp_class(t: &str) -> Option<Interp> {
    classify_interp(t.trim())
}
