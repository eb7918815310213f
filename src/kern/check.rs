//! The checker behind `kernrnn check` and the web page's report: what is wrong with a **kern
//! text, line by line.
//!
//! It reads the text with the sampling grammar ([`super::grammar`]) with rhythm off, so both
//! share one implementation of tokens, spines and rhythm bookkeeping: a line the grammar refuses
//! is a structure or token error (and the checker resyncs on the closest acceptable line and
//! goes on); rhythm problems are recorded by the grammar as it goes (a measure whose kern
//! spines do not add up to the meter, a `.` where a spine's note has ended, a note while the
//! previous one still sounds, a note crossing the barline, a short measure that is not the
//! last, a meter change or a merge at uneven times).

use std::fmt;

use super::grammar::{FailKind, Grammar, GrammarOptions, Kind, MAX_SPINES};

/// One problem, at a line of the checked text (1-based).
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub line: usize,
    pub kind: DiagnosticKind,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.kind, self.message)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiagnosticKind {
    /// Lines, fields and spines: field counts against the spines in force (through `*^` and
    /// `*v`), barlines, header, terminator.
    Structure,
    /// A token the grammar does not know.
    UnknownToken,
    /// Durations that do not add up.
    Rhythm,
}

impl fmt::Display for DiagnosticKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DiagnosticKind::Structure => "structure",
            DiagnosticKind::UnknownToken => "unknown token",
            DiagnosticKind::Rhythm => "rhythm",
        })
    }
}

/// What [`check_kern`] or [`check_prepared`] found.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    /// Sorted by line.
    pub diagnostics: Vec<Diagnostic>,
    /// Measures with time in them closed by a barline.
    pub measures: usize,
    /// Of the kern spines' measures (one per kern spine per measure), those that add up to the
    /// meter with no rhythm problem (a pickup or a short last measure counts when all spines
    /// agree).
    pub full_measures: usize,
    /// Kern spines' measures in all.
    pub spine_measures: usize,
    /// Lines of the text.
    pub lines: usize,
}

impl CheckReport {
    /// No structure, token or rhythm error.
    pub fn is_valid(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// Diagnostics of one kind.
    pub fn count(&self, kind: DiagnosticKind) -> usize {
        self.diagnostics.iter().filter(|d| d.kind == kind).count()
    }

    /// One line: counts and the share of spine measures that add up.
    pub fn summary(&self) -> String {
        let share = if self.spine_measures == 0 {
            100.0
        } else {
            100.0 * self.full_measures as f64 / self.spine_measures as f64
        };
        format!(
            "{} lines, {} measures, {}/{} spine measures add up ({share:.1}%); {} structure, {} unknown-token, {} rhythm problems",
            self.lines,
            self.measures,
            self.full_measures,
            self.spine_measures,
            self.count(DiagnosticKind::Structure),
            self.count(DiagnosticKind::UnknownToken),
            self.count(DiagnosticKind::Rhythm),
        )
    }
}

/// Feeds lines to a grammar with rhythm off, remembering which line of the text each grammar
/// line is.
struct Feeder {
    g: Grammar,
    /// Text line of each grammar line.
    map: Vec<usize>,
    diags: Vec<Diagnostic>,
}

impl Feeder {
    fn new(g: Grammar) -> Self {
        Feeder { g, map: Vec::new(), diags: Vec::new() }
    }

    fn structure(&mut self, line: usize, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            line,
            kind: DiagnosticKind::Structure,
            message: message.into(),
        });
    }

    /// Feeds `text` (one line, no newline) as line `line` of the checked text.
    fn line(&mut self, text: &str, line: usize) {
        let gl = self.g.line_no();
        self.map.resize(gl.saturating_sub(1), line);
        self.map.push(line);
        if let Err((fail, col)) = self.g.try_line(text) {
            let kind = match fail.kind {
                FailKind::Structure => DiagnosticKind::Structure,
                FailKind::Token => DiagnosticKind::UnknownToken,
                FailKind::Rhythm => DiagnosticKind::Rhythm,
            };
            self.diags.push(Diagnostic { line, kind, message: describe(text, col, fail.msg) });
            self.g.resync_line(text);
        }
        // resync may skip the line; either way the grammar moved to its next line
        debug_assert_eq!(self.g.line_no(), gl + 1);
    }

    fn finish(mut self, lines: usize) -> CheckReport {
        self.g.finish();
        for issue in self.g.issues() {
            let line = self.map.get(issue.line.saturating_sub(1)).copied().unwrap_or(issue.line);
            self.diags.push(Diagnostic {
                line,
                kind: DiagnosticKind::Rhythm,
                message: issue.message.clone(),
            });
        }
        self.diags.sort_by_key(|d| d.line);
        let stats = self.g.stats();
        CheckReport {
            diagnostics: self.diags,
            measures: stats.measures,
            full_measures: stats.full,
            spine_measures: stats.spine_measures,
            lines,
        }
    }
}

/// A message naming the field (and its text) at a 1-based column of a line.
fn describe(line: &str, col: usize, why: &str) -> String {
    let before: String = line.chars().take(col.saturating_sub(1)).collect();
    let field = before.matches('\t').count();
    let text = line.split('\t').nth(field).unwrap_or("");
    if col > line.chars().count() {
        format!("at the end of the line: {why}")
    } else if text.is_empty() {
        format!("field {}: {why}", field + 1)
    } else {
        format!("field {} `{}`: {why}", field + 1, text)
    }
}

/// Checks raw prepared text (the model's output: `@` barlines, no header, no comments), as a
/// sample is: from a line start at a measure start, the first line fixing the spines. `meter`
/// is the meter until a `*M` sets one. A last line without newline is checked as a line.
pub fn check_prepared(text: &str, meter: (u32, u32)) -> CheckReport {
    let mut f = Feeder::new(Grammar::new(GrammarOptions { meter, rhythm: false, vocab: None }));
    let mut lines = 0;
    for (i, line) in text.lines().enumerate() {
        lines += 1;
        f.line(line, i + 1);
    }
    f.finish(lines)
}

/// Checks a complete **kern file: a header (`**kern`/`**dynam` exclusive interpretations, then
/// any tandem interpretations), data with `=` barlines and `!` comments, `*-` at the end.
/// Reports structure errors (field counts against the spines in force through `*^`/`*v`,
/// barlines, missing header or terminator, text after it), unknown tokens and measures that
/// do not add up (per kern spine against the meter), with line numbers. The meter is 4/4 until
/// a `*M` sets one; data before the first barline is a pickup.
pub fn check_kern(text: &str) -> CheckReport {
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let mut pre = Vec::new();
    while let Some(l) = lines.get(i) {
        if l.starts_with('!') {
            i += 1;
        } else if l.is_empty() {
            pre.push(Diagnostic {
                line: i + 1,
                kind: DiagnosticKind::Structure,
                message: "empty line".into(),
            });
            i += 1;
        } else {
            break;
        }
    }
    let opts = GrammarOptions { meter: (4, 4), rhythm: false, vocab: None };
    let mut header_ok = true;
    let g = match lines.get(i) {
        Some(l) if l.starts_with("**") => {
            let fields: Vec<&str> = l.split('\t').collect();
            if fields.len() > MAX_SPINES {
                pre.push(Diagnostic {
                    line: i + 1,
                    kind: DiagnosticKind::Structure,
                    message: format!("{} spines: at most {MAX_SPINES} are supported", fields.len()),
                });
                return CheckReport {
                    diagnostics: pre,
                    lines: lines.len(),
                    ..CheckReport::default()
                };
            }
            let kinds: Vec<Kind> = fields
                .iter()
                .map(|f| match *f {
                    "**kern" => Kind::Kern,
                    "**dynam" => Kind::Dynam,
                    _ => Kind::Other,
                })
                .collect();
            for (k, f) in fields.iter().enumerate() {
                if !f.starts_with("**") || f.len() < 3 {
                    pre.push(Diagnostic {
                        line: i + 1,
                        kind: DiagnosticKind::Structure,
                        message: format!(
                            "field {}: `{f}` is not an exclusive interpretation",
                            k + 1
                        ),
                    });
                }
            }
            i += 1;
            Grammar::with_spines(opts, &kinds)
        }
        _ => {
            header_ok = false;
            Grammar::new(opts)
        }
    };
    let mut f = Feeder::new(g);
    f.diags = pre;
    if !header_ok {
        f.structure(
            i + 1,
            "no header: a **kern file starts with its exclusive interpretations (`**kern`)",
        );
    }
    f.g.set_generic_interp(true);
    let mut ended = false;
    let mut after_end_reported = false;
    let mut last_line = 0;
    for (k, line) in lines.iter().enumerate().skip(i) {
        let no = k + 1;
        last_line = no;
        if line.starts_with('!') {
            continue;
        }
        if ended {
            if !after_end_reported {
                f.structure(no, "text after the `*-` terminator");
                after_end_reported = true;
            }
            continue;
        }
        if line.is_empty() {
            f.structure(no, "empty line");
            continue;
        }
        if line.starts_with("**") {
            f.structure(no, "a second exclusive interpretation line");
            continue;
        }
        if line.starts_with('=') {
            let fields: Vec<&str> = line.split('\t').collect();
            let n = f.g.spines();
            if let Some(bad) = fields.iter().position(|x| !x.starts_with('=')) {
                f.structure(
                    no,
                    format!("field {}: a barline line has `=` in every field", bad + 1),
                );
            }
            if n > 0 && fields.len() != n {
                f.structure(no, format!("{} fields for {n} spines", fields.len()));
            }
            f.g.set_generic_interp(false);
            f.line("@", no);
            continue;
        }
        if line.starts_with('*') {
            f.line(line, no);
            if line.split('\t').all(|x| x == "*-") {
                ended = true;
            }
            continue;
        }
        f.g.set_generic_interp(false);
        f.line(line, no);
    }
    if !ended {
        f.structure(last_line.max(1), "no `*-` terminator at the end");
    }
    f.finish(lines.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn kinds(r: &CheckReport) -> Vec<(usize, DiagnosticKind)> {
        r.diagnostics.iter().map(|d| (d.line, d.kind)).collect()
    }

    #[test]
    fn a_valid_file() {
        let text = "!!!COM: x\n**kern\t**kern\t**dynam\n*clefF4\t*clefG2\t*\n*M3/4\t*M3/4\t*M3/4\n4c\t4e\tp\n=1\t=1\t=1\n2.C\t4g\t.\n.\t2a\t.\n!! a comment\n=2\t=2\t=2\n*\t*^\t*\n2.C\t2g\t4b\t.\n.\t.\t2cc\t.\n.\t4f\t.\t.\n*\t*v\t*v\t*\n==\t==\t==\n*-\t*-\t*-\n";
        let r = check_kern(text);
        assert!(r.is_valid(), "{:?}", r.diagnostics);
        assert_eq!((r.measures, r.full_measures, r.spine_measures), (3, 6, 6));
        assert_eq!(r.lines, 17);
    }

    #[test]
    fn invalid_files_give_the_right_lines() {
        // 1 header, 2 meter, 3 data, 4 bad token (the spine then misses its half note),
        // 5 too few fields, 6 barline (spine 1 has 1/2), 7 spines of 3/4 and 1/2, 8 barline,
        // no terminator
        let text = "**kern\t**kern\n*M4/4\t*M4/4\n2c\t2e\n4x\t2e\n4c\n=1\t=1\n2.c\t2e\n=2\t=2\n";
        let r = check_kern(text);
        let k = kinds(&r);
        assert_eq!(
            k,
            vec![
                (4, DiagnosticKind::UnknownToken),
                (5, DiagnosticKind::Structure),
                (6, DiagnosticKind::Rhythm),
                (8, DiagnosticKind::Structure),
                (8, DiagnosticKind::Rhythm)
            ],
            "{:?}",
            r.diagnostics
        );
        assert!(
            k.contains(&(8, DiagnosticKind::Structure)),
            "missing terminator: {:?}",
            r.diagnostics
        );
        // no header
        let r = check_kern("4c\t4e\n=1\t=1\n*-\t*-\n");
        assert_eq!(kinds(&r).first(), Some(&(1, DiagnosticKind::Structure)), "{:?}", r.diagnostics);
        // split then too few fields; barline with the wrong field count; text after the end
        let r = check_kern("**kern\t**kern\n*^\t*\n4c\t4e\n1c\t1e\t1g\n=1\t=1\n*v\t*v\t*\n==\t==\n*-\t*-\n4c\t4c\n");
        let k = kinds(&r);
        assert!(k.contains(&(3, DiagnosticKind::Structure)), "{:?}", r.diagnostics);
        assert!(k.contains(&(5, DiagnosticKind::Structure)), "{:?}", r.diagnostics);
        assert!(k.contains(&(9, DiagnosticKind::Structure)), "{:?}", r.diagnostics);
    }

    #[test]
    fn other_spines_and_limits() {
        // a **text spine takes any token and no time
        let r = check_kern("**kern\t**text\n*M2/4\t*\n2c\thello world\n==\t==\n*-\t*-\n");
        assert!(r.is_valid(), "{:?}", r.diagnostics);
        let r = check_kern(&format!("{}\n", ["**kern"; 9].join("\t")));
        assert_eq!(kinds(&r), vec![(1, DiagnosticKind::Structure)]);
        // a comment line and CRLF line ends are fine; a tab-less empty line is not
        let r = check_kern("**kern\t**kern\r\n!! hi\r\n1c\t1e\r\n\r\n==\t==\r\n*-\t*-\r\n");
        assert_eq!(kinds(&r), vec![(4, DiagnosticKind::Structure)], "{:?}", r.diagnostics);
    }

    #[test]
    fn rhythm_diagnostics() {
        let text = "@\n4c\t4e\t.\n.\t4f\t.\n2c\t.\t.\n@\n1c\t2e\t.\n.\t4f\t.\n.\t2g\t.\n@\n";
        let r = check_prepared(text, (4, 4));
        let k = kinds(&r);
        // line 3: spine 1's quarter has ended but it holds `.` (it stalls: time goes on with
        // spine 2); line 4: at 1/2 spine 2 holds `.`; line 5: the spines have 1 and 1/2;
        // line 8: spine 2's half note overflows; line 9: measure 2
        assert_eq!(
            k,
            vec![
                (3, DiagnosticKind::Rhythm),
                (4, DiagnosticKind::Rhythm),
                (5, DiagnosticKind::Rhythm),
                (8, DiagnosticKind::Rhythm),
                (9, DiagnosticKind::Rhythm)
            ],
            "{:#?}",
            r.diagnostics
        );
        assert_eq!((r.measures, r.spine_measures, r.full_measures), (2, 4, 1));
    }

    #[test]
    fn the_published_sample() {
        let Ok(text) = std::fs::read_to_string("/work/shared/corpus/published-sample.txt") else {
            eprintln!("published sample not found: skipped");
            return;
        };
        let r = check_prepared(&text, (4, 4));
        for d in &r.diagnostics {
            eprintln!("{d}");
        }
        eprintln!("{}", r.summary());
        // Tokens and structure are fine: the model learnt those.
        assert_eq!(r.count(DiagnosticKind::Structure), 0);
        assert_eq!(r.count(DiagnosticKind::UnknownToken), 0);
        // The rhythm is not (meter 4/4, as the write-up does not say). Measure 1 (lines 2-13):
        // the left hand's rests 8r 8r 4r end at 1/2 and line 10 holds `.` there; the right
        // hand plays on to twelve 16ths: at the barline (line 15) the spines have 1/2 and 3/4.
        // Measure 2 (lines 16-25): the left hand's 8.GG# lasts to 3/16 but line 18 starts 8F#
        // at 1/8; both spines then end at 5/8, a short measure, which would have to be the last
        // of the piece (line 26) but the text goes on (the sample was cut there).
        let k = kinds(&r);
        assert_eq!(
            k,
            vec![
                (10, DiagnosticKind::Rhythm),
                (15, DiagnosticKind::Rhythm),
                (18, DiagnosticKind::Rhythm),
                (26, DiagnosticKind::Rhythm)
            ],
            "{:#?}",
            r.diagnostics
        );
        assert!(r.diagnostics[1].message.contains("spine 1 has 1/2, spine 2 has 3/4"));
        assert!(r.diagnostics[2].message.contains("until 3/16"));
        assert!(r.diagnostics[3].message.contains("5/8 of 4/4"));
        assert_eq!((r.lines, r.measures, r.spine_measures), (26, 2, 4));
        assert_eq!(r.full_measures, 0, "no spine of either measure adds up to 4/4");
        // In 3/4 the right hand of measure 1 adds up.
        let r = check_prepared(&text, (3, 4));
        assert_eq!(r.full_measures, 1, "{:#?}", r.diagnostics);
    }

    #[test]
    fn the_real_corpus_files_pass() {
        let files = super::super::grammar::tests_support::corpus_files();
        if files.is_empty() {
            eprintln!("corpus not found: skipped");
            return;
        }
        let (mut full, mut all, mut rhythm, mut measures) = (0, 0, 0, 0);
        for path in &files {
            let text = std::fs::read_to_string(path).unwrap();
            let r = check_kern(&text);
            let bad: Vec<&Diagnostic> =
                r.diagnostics.iter().filter(|d| d.kind != DiagnosticKind::Rhythm).collect();
            assert!(bad.is_empty(), "{}: {:?}", path.display(), bad);
            full += r.full_measures;
            all += r.spine_measures;
            rhythm += r.count(DiagnosticKind::Rhythm);
            measures += r.measures;
        }
        let share = full as f64 / all as f64;
        eprintln!(
            "check_kern on {} files: {measures} measures, {full}/{all} spine measures add up ({:.2}%), {rhythm} rhythm diagnostics",
            files.len(),
            share * 100.0
        );
        assert!(share >= 0.95);
        let _ = Path::new("");
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 12345u64;
        let alphabet: Vec<char> =
            "\t\n @*.=!4816cdefgabCDr#-LJ/\\()[]^v-MpqQ3:é\r".chars().collect();
        for _ in 0..300 {
            let mut s = String::new();
            for _ in 0..200 {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            let _ = check_prepared(&s, (3, 4));
            let _ = check_kern(&s);
            let _ = check_kern(&format!("**kern\t**kern\n{s}"));
        }
    }
}
