//! A corpus's **kern dialect, which a model carries in its weights file: whether the sampling
//! grammar reads the training corpus's own dialect (the 2015 sonatas) or the editions dialect
//! of real scores beyond it ([`super::GrammarOptions::editions`]), and the user signifiers
//! its files declare in `!!!RDF**kern:` records. The preparation recipe drops `!` lines, so
//! without this a model trained on Craig Sapp's current editions would write `<` and `>`
//! (placement above and below) that no score of it declares.

use serde::{Deserialize, Serialize};

use super::check::{check_prepared_in, DiagnosticKind};
use super::meter::{Meter, MeterChoice};
use super::prep::Corpus;

/// The most meters a dialect lists (the training corpus's movements start in 11 different ones).
pub const MAX_METERS: usize = 16;

/// The most signifier records a dialect keeps (corpus-extra declares 6 different ones), and
/// the longest (`!!!RDF**kern: i = editorial accidental, bracket` is 46 characters): a weights
/// file is untrusted input, and each record is written into every score.
pub const MAX_SIGNIFIERS: usize = 32;
pub const MAX_SIGNIFIER_CHARS: usize = 200;

/// See the module documentation. The default is the training corpus's dialect with no
/// signifiers: what a weights file without a dialect (the shipped models) gets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dialect {
    /// Sample and read samples in the editions dialect.
    pub editions: bool,
    /// The corpus's `!!!RDF**<spine>:` records (`!!!RDF**kern: > = above`), one per spine kind
    /// and signifier (the first definition met), in the order met.
    pub signifiers: Vec<String>,
    /// The meters its files start in (`2/4`), most files first (ties: first met first): what a
    /// sample whose meter comes from the music draws from (with [`Dialect::meter_counts`]), or
    /// prefers when the model's own measures do not settle it (weights without the counts).
    /// Empty: the training corpus's preference.
    pub meters: Vec<String>,
    /// How many of its files start in each of [`Dialect::meters`] (the same order): a sample
    /// of a model that reads the measure clock draws its meter from them (`sampler`'s
    /// `music_meter`). Empty in weights written before them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub meter_counts: Vec<u32>,
}

/// What [`Dialect::of_corpus`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DialectReport {
    pub dialect: Dialect,
    /// The files whose prepared text the grammar cannot read in full in either dialect, each
    /// with its first such line as `file: prepared line N: message` (at most
    /// [`MAX_REPORTED`]; the lines after it may follow from it), and how many there are.
    pub unreadable: Vec<String>,
    pub unreadable_count: usize,
}

/// How many unreadable lines a report names.
pub const MAX_REPORTED: usize = 8;

impl Dialect {
    /// The dialect a model trained on `corpus` samples in: the training corpus's when the
    /// grammar reads every prepared line of it so, else the editions dialect; with the
    /// signifiers its files declare. Lines neither dialect reads are reported (a model trained
    /// on them still samples, but its grammar never writes such lines).
    pub fn of_corpus(corpus: &Corpus) -> DialectReport {
        let signifiers = signifiers_of(&corpus.rdf_records);
        let (meters, meter_counts) = meters_by_count(&corpus.first_meters).into_iter().unzip();
        let readable = |editions: bool| {
            let report = check_prepared_in(&corpus.text, MeterChoice::FromMusic, editions);
            report.diagnostics.into_iter().filter(|d| d.kind != DiagnosticKind::Rhythm).collect()
        };
        let strict: Vec<_> = readable(false);
        if strict.is_empty() {
            return DialectReport {
                dialect: Dialect { editions: false, signifiers, meters, meter_counts },
                ..DialectReport::default()
            };
        }
        let mut files: Vec<String> = Vec::new();
        let mut unreadable = Vec::new();
        for d in readable(true) {
            let (file, line) = corpus.file_line(d.line);
            if files.last() != Some(&file) {
                if unreadable.len() < MAX_REPORTED {
                    unreadable
                        .push(format!("{file}: prepared line {line}: {}: {}", d.kind, d.message));
                }
                files.push(file);
            }
        }
        DialectReport {
            dialect: Dialect { editions: true, signifiers, meters, meter_counts },
            unreadable,
            unreadable_count: files.len(),
        }
    }

    /// Checks a dialect read from a weights file: at most [`MAX_SIGNIFIERS`] records, each a
    /// `!!!RDF**` line of printable text no longer than [`MAX_SIGNIFIER_CHARS`].
    pub fn validate(&self) -> Result<(), String> {
        if self.signifiers.len() > MAX_SIGNIFIERS {
            return Err(format!(
                "{} signifier records (at most {MAX_SIGNIFIERS})",
                self.signifiers.len()
            ));
        }
        if self.meters.len() > MAX_METERS {
            return Err(format!("{} meters (at most {MAX_METERS})", self.meters.len()));
        }
        if let Some(bad) = self.meters.iter().find(|m| Meter::parse(m).is_err()) {
            return Err(format!("{bad:?} is not a meter"));
        }
        if !self.meter_counts.is_empty() && self.meter_counts.len() != self.meters.len() {
            return Err(format!(
                "{} meter counts for {} meters",
                self.meter_counts.len(),
                self.meters.len()
            ));
        }
        if self.meter_counts.contains(&0) {
            return Err("a meter count of 0".into());
        }
        for s in &self.signifiers {
            if !is_signifier_record(s) {
                return Err(format!(
                    "{s:?} is not a `!!!RDF**` record of at most {MAX_SIGNIFIER_CHARS} printable characters"
                ));
            }
        }
        Ok(())
    }

    /// The meters of [`Dialect::meters`], most files first.
    pub fn preferred_meters(&self) -> Vec<Meter> {
        self.meters.iter().filter_map(|m| Meter::parse(m).ok()).collect()
    }

    /// The meters with how many of the corpus's files start in each (none when the weights
    /// file predates the counts).
    pub fn counted_meters(&self) -> Vec<(Meter, u32)> {
        self.preferred_meters().into_iter().zip(self.meter_counts.iter().copied()).collect()
    }
}

/// The distinct meters of `first` that parse and how often each comes, most first (ties: first
/// met first), at most [`MAX_METERS`].
fn meters_by_count(first: &[String]) -> Vec<(String, u32)> {
    let mut counts: Vec<(String, u32)> = Vec::new();
    for m in first.iter().filter_map(|m| Meter::parse(m).ok()) {
        let m = m.to_string();
        match counts.iter_mut().find(|(x, _)| *x == m) {
            Some((_, n)) => *n += 1,
            None => counts.push((m, 1)),
        }
    }
    // a stable sort keeps the order met among equal counts
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts.truncate(MAX_METERS);
    counts
}

/// The signifier records of `records` a dialect keeps: one per spine kind and signifier (the
/// first definition met), those [`is_signifier_record`] accepts, at most [`MAX_SIGNIFIERS`].
fn signifiers_of(records: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for line in records.iter().filter(|l| is_signifier_record(l)) {
        let key = signifier_key(line);
        if kept.len() < MAX_SIGNIFIERS
            && key.is_some()
            && !kept.iter().any(|s| signifier_key(s) == key)
        {
            kept.push(line.clone());
        }
    }
    kept
}

/// Whether `line` is a signifier record a dialect may hold.
fn is_signifier_record(line: &str) -> bool {
    line.starts_with("!!!RDF**")
        && line.contains(':')
        && line.chars().count() <= MAX_SIGNIFIER_CHARS
        && line.chars().all(|c| !c.is_control())
}

/// The spine kind and signifier a record declares (`("**kern", ">")` for
/// `!!!RDF**kern: > = above`), which two records must not share.
fn signifier_key(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("!!!RDF")?;
    let (kind, def) = rest.split_once(':')?;
    let sign = def.split('=').next()?.trim();
    Some((kind.trim(), sign))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signifier_record_is_keyed_by_its_spine_kind_and_sign() {
        assert_eq!(signifier_key("!!!RDF**kern: > = above"), Some(("**kern", ">")));
        assert_eq!(signifier_key("!!!RDF**dynam: > = dim."), Some(("**dynam", ">")));
        assert_eq!(signifier_key("!!!COM: x"), None);
    }

    #[test]
    fn a_dialect_keeps_each_signifier_once_with_its_first_definition() {
        let records: Vec<String> = [
            "!!!RDF**kern: > = above",
            "!!!RDF**kern: < = below",
            "!!!RDF**kern: > = placed above",
            "!!!RDF**dynam: > = dim.",
            "!!!RDF**kern: \u{7} = bell",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            signifiers_of(&records),
            ["!!!RDF**kern: > = above", "!!!RDF**kern: < = below", "!!!RDF**dynam: > = dim."]
        );
    }

    #[test]
    fn a_dialect_from_a_weights_file_refuses_records_that_are_not_signifiers() {
        let ok = Dialect {
            editions: true,
            signifiers: vec!["!!!RDF**kern: > = above".into()],
            meters: vec!["2/4".into()],
            meter_counts: vec![3],
        };
        assert!(ok.validate().is_ok());
        for bad in ["**kern", "!!!RDF**kern: x\n*-", &format!("!!!RDF**kern: {}", "x".repeat(300))]
        {
            let d = Dialect { signifiers: vec![bad.to_string()], ..Dialect::default() };
            assert!(d.validate().is_err(), "{bad:?}");
        }
        let many = Dialect { signifiers: vec![ok.signifiers[0].clone(); 33], ..ok.clone() };
        assert!(many.validate().is_err());
        let meter = Dialect { meters: vec!["7/3".into()], ..ok.clone() };
        assert!(meter.validate().is_err());
        let counts = Dialect { meter_counts: vec![3, 1], ..ok.clone() };
        assert!(counts.validate().is_err());
        let zero = Dialect { meter_counts: vec![0], ..ok };
        assert!(zero.validate().is_err());
    }

    #[test]
    fn the_meters_of_a_corpus_come_most_files_first() {
        let first: Vec<String> =
            ["3/4", "2/4", "2/4", "6/8", "3/4", "2/4", "x"].iter().map(|m| m.to_string()).collect();
        let counted = meters_by_count(&first);
        assert_eq!(counted, [("2/4".into(), 3), ("3/4".into(), 2), ("6/8".into(), 1)]);
    }
}
