//! Reconstruction: turning raw sampled text (the "prepared" training format) back into a complete,
//! valid Humdrum **kern score.
//!
//! The prepared text has no header: barlines are `@` lines, comments are gone, and a line has one
//! field per spine *in force* (more than the piece's spines while a `*^` split is open). This
//! module rebuilds a score around such text:
//!
//! * **Measures.** A text the grammar accepts that stops inside a measure is cut after its last
//!   complete measure.
//! * **Movement.** The text is cut at terminator lines (any interpretation line holding `*-`). The
//!   first piece that contains music (a data line with a note or rest) becomes the score; pieces
//!   before it are dropped, later ones are only counted (`movements`).
//! * **Layout.** The first well-formed line (2..=16 fields, every token plausible) gives the field
//!   count F at the start. The spine layout is the cheapest reading of F columns as one of the
//!   corpus layouts with optional open splits: `**kern **kern **dynam` (158 of 171 corpus files;
//!   left hand, right hand, dynamics of the right hand), `**kern **dynam **kern **dynam` (12 files;
//!   left hand + its dynamics, right hand + its dynamics) or `**kern **kern` (1 file); `**kern` alone
//!   for F = 1. The evidence is read from the data lines that follow (columns are followed
//!   through `*^`/`*v`): notes vs dynamics tokens per column, the register of the notes (bass
//!   letters `C`..`B` vs treble `c`..`b`), and which columns a `*v` joins (same spine). Costs:
//!   a column holding tokens of the wrong kind for its spine (notes in a dynam spine, dynamics in
//!   a kern spine), a merge across spines, then open splits (a second split of one spine costs
//!   more; a right-hand split slightly less than a left-hand one, as in the corpus), then the
//!   layouts in corpus order, then the register as a tie-break between the hands. So F=2 ->
//!   2 kern spines, F=3 -> `kern kern dynam`, F=4 -> `kern dynam kern dynam` unless column 2
//!   holds notes (then 3 spines with one hand split), and so on. Started at every third barline
//!   of every corpus file (8,529 openings), this gets the spines right every time and the open
//!   splits too in 99.5%. The header names the unsplit spines; `*^` lines right after it open
//!   the splits in force at the start of the text.
//! * **Header.** `!!!COM: kernrnn (char-level LSTM)`, `!!!OTL:` when a title is given, the
//!   exclusive interpretations, `*staff2`/`*staff1` (a dynam spine takes the staff of the kern
//!   spine to its left), clefs (`*clefF4` left hand, `*clefG2` right hand, `*` for dynam spines),
//!   key (`*k[]`), meter (`*M4/4`) and tempo (`*MM120`) in every spine. Clef, key, meter and tempo
//!   tokens the sample itself gives before its first data line are moved into the header instead
//!   (the header never contradicts them). Meter: the sample's own, else `opts.meter`, else 4/4.
//!   Tempo: `opts.tempo_bpm` when given, else the sample's own, else 120.
//! * **Barlines.** Each `@` (or `=...`) line becomes `=N` in every spine in force. If the sample
//!   starts with `@` before any music, an invisible `=1-` opens measure 1; music before the first
//!   `@` is a pickup (measure 0) and the first barline after it is `=1`. Then `=2`, `=3`, ...
//!   consecutively. Barlines with no music since the previous one collapse; a barline with no music
//!   after it is dropped, and the score closes with `==` and a `*-` for every spine in force
//!   (open splits are terminated, not merged: valid and simpler).
//! * **Lines.** Data and interpretation lines are kept when they have exactly one field per spine
//!   in force; one field too few is padded (`.` / `*`), one too many is cut; other counts are
//!   dropped (`dropped_lines`). A truncated last line (no final newline) is kept only when it
//!   needs no repair. Comment lines, exclusive interpretations and lines mixing `*` and data
//!   tokens are dropped. Implausible tokens become `.` (`*`); chord notes that are implausible
//!   are removed from the chord; a data line left with only `.` is dropped.
//! * **Tokens.** Kern and dynam tokens are kept exactly when the grammar accepts them
//!   (`kern::lex`, rhythm aside), so a constrained sample loses none; in raw samples,
//!   chord members the grammar refuses are removed and other refused tokens become `.`.
//!   Grace notes are written with `q`: the corpus also uses `Q`, which humlib (inside verovio)
//!   reads as a timed note.
//!   Interpretation tokens are kept exactly when the grammar knows them (`kern::lex`'s one
//!   classifier): clefs, `*k[...]`, `*M`, `*MM`, `*met(...)`, key designations (`*C:`),
//!   section labels (`*>A`), `*^`, `*v`; others (`*staff`, instruments, expansion lists, `*x`,
//!   `*+`, garbage) become `*`.
//! * **Spine paths.** `*^` is kept while at most 16 spines result. A run of `*v` is kept only for
//!   adjacent sub-spines of the same original spine (runs that cross spines are cut at the spine
//!   boundary; pieces of one spine are turned into `*`); merges that would touch each other are
//!   written on successive lines. Manipulators share no line with other interpretations.
//! * **Signifiers / RDF.** The training corpus has no `!!!RDF` records and its kern spines use
//!   only standard signifiers (`<` and `>` occur only in **dynam, where they are standard
//!   hairpins). A model of another corpus reads and writes in its dialect
//!   ([`ScoreOptions::dialect`]): tokens as the editions dialect reads them (`<` above, `>`
//!   below, `N` linked...), and the corpus's own `!!!RDF` records after the `*-` line, so the
//!   score declares what its tokens use. Layouts then leave every column but the first to its
//!   tokens.
//! * **Empty input** (or no music at all) gives a minimal score: the header and one measure of
//!   rests filling the meter in `**kern **kern **dynam`.
//! * **Rhythm** is not repaired: where the sample's spines do not add up within a measure,
//!   humlib (inside verovio) reports "Inconsistent rhythm analysis", as it does for some corpus
//!   files themselves (grace notes); verovio still loads and renders such scores.

mod key;
mod layout;
mod lines;
mod score;

use super::{Dialect, Grammar, GrammarOptions, Meter, MeterChoice};
pub(crate) use lines::grace_as_q;
use lines::{segment_has_music, split_lines, RawLine};
use score::{build_score, minimal_score, Defaults};

/// Options for turning a raw sample into a score.
#[derive(Clone, Debug, Default)]
pub struct ScoreOptions {
    /// Title: written as a `!!!OTL:` record when `Some` (tabs and line breaks become spaces).
    pub title: Option<String>,
    /// Meter for the header when the sample names none before its first data line: a fixed
    /// one, or (the default) the one its first measure's length gives, else 4/4.
    pub meter: MeterChoice,
    /// Tempo of the header's `*MM` line; when `None` (or 0 / over 999) the sample's own tempo
    /// before its first data line, else 120.
    pub tempo_bpm: Option<u32>,
    /// The model's **kern dialect: how tokens are read, and the signifier records (`!!!RDF`)
    /// every score declares at its end.
    pub dialect: Dialect,
}

/// What reconstruction did, for messages/tests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReconstructReport {
    /// Measures of the score that hold music (a pickup counts as one).
    pub measures: usize,
    /// Non-empty lines of the reconstructed movement that were not used (malformed, comments).
    pub dropped_lines: usize,
    /// Spines in the header (before any split).
    pub spines: usize,
    /// Movements with music found in the sample (pieces separated by `*-` lines); only the
    /// first is reconstructed.
    pub movements: usize,
}

/// Turn raw sampled text into a complete, valid **kern score.
pub fn reconstruct(raw: &str, opts: &ScoreOptions) -> String {
    reconstruct_with_report(raw, opts).0
}

/// Like [`reconstruct`], also saying what was done.
pub fn reconstruct_with_report(raw: &str, opts: &ScoreOptions) -> (String, ReconstructReport) {
    let editions = opts.dialect.editions;
    let raw = complete_measures(raw, opts.meter, editions);
    let meter = opts.meter.fixed().or_else(|| music_meter(raw, editions)).unwrap_or(Meter::COMMON);
    let lines = split_lines(raw);
    // Cut into pieces at terminator lines.
    let mut segments: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for (i, l) in lines.iter().enumerate() {
        if l.raw == RawLine::Terminator {
            segments.push((start, i));
            start = i + 1;
        }
    }
    segments.push((start, lines.len()));
    let musical: Vec<(usize, usize)> = segments
        .into_iter()
        .filter(|&(a, b)| lines.get(a..b).is_some_and(|seg| segment_has_music(seg, editions)))
        .collect();
    let mut report = ReconstructReport { movements: musical.len(), ..Default::default() };
    let chosen = musical.first().and_then(|&(a, b)| lines.get(a..b));
    let text = match chosen {
        Some(seg) => build_score(seg, opts, meter, &mut report),
        None => minimal_score(opts, &Defaults { meter, key: None }, &mut report),
    };
    (text, report)
}

/// A text the grammar accepts but that stops inside a measure (a constrained sample whose
/// overrun ran out, or a cut-off stream) is cut after its last complete measure, so the score
/// does not end with spines out of step. Texts the grammar refuses (raw samples) are left whole.
/// Texts with no complete measure of music are left whole too.
fn complete_measures(raw: &str, meter: MeterChoice, editions: bool) -> &str {
    let mut g = Grammar::new(GrammarOptions {
        meter,
        rhythm: true,
        vocab: None,
        editions,
        ..GrammarOptions::default()
    });
    // End of the last complete measure that has music, if any.
    let mut last = None;
    let mut music = false;
    let mut line_start = true;
    for (i, c) in raw.char_indices() {
        if g.push(c).is_err() {
            return raw;
        }
        if line_start && !matches!(c, '*' | '@' | '=' | '!') {
            music = true;
        }
        line_start = c == '\n';
        if music && g.at_line_start() {
            last = Some(i + c.len_utf8());
        }
    }
    match last {
        Some(end) if !g.at_line_start() => raw.get(..end).unwrap_or(raw),
        _ => raw,
    }
}

/// The meter of the text's first piece as its music sets it: its `*M`, else the length of its
/// first measure (see [`Meter::for_length`]); `None` if it has neither (its first measure's
/// spines disagree) or the text is not structurally **kern.
fn music_meter(raw: &str, editions: bool) -> Option<Meter> {
    let mut g =
        Grammar::new(GrammarOptions { rhythm: false, editions, ..GrammarOptions::default() });
    let mut music = false;
    for line in raw.split_inclusive('\n') {
        g.push_str(line).ok()?;
        if let Some(m) = g.meter() {
            return Some(m);
        }
        let text = line.trim_end();
        if text == "@" && music {
            return None;
        }
        music |= !text.is_empty() && !text.starts_with(['*', '@', '!']);
    }
    None
}

#[cfg(test)]
mod tests;
