//! An incremental grammar of prepared **kern text, for constrained sampling.
//!
//! The model writes prepared text one character at a time (see [`super::prep`]): lines
//! separated by `\n`, fields by TAB, `@` lines for barlines, interpretation lines (`*` in every
//! field) and data lines, no header and no comments. [`Grammar`] follows that text and says
//! which characters may come next so that the text can still become a valid score. With rhythm
//! on (the default) it guarantees, besides the token and spine structure, that every measure of
//! every **kern spine adds up to the meter, that the lines are consistent time slices and that
//! no note crosses a barline. From every state it reaches some character is allowed (the
//! property test walks it at random to check that).
//!
//! # What is enforced
//!
//! * **Lines.** A line is `@` alone, or all interpretations, or all data. A newline ends a line
//!   only when every spine has its field; an empty field or line is never allowed.
//! * **Spines.** The first line of a piece fixes the number of fields (2 to 8). Their kinds
//!   follow the corpus's layouts (`kern::spine`; its headers are `**kern **kern **dynam` (152 files), `**kern
//!   **dynam **kern **dynam` (12), `**kern **kern` (1) and `**kern **kern **dynam` split before
//!   the first barline, seen as 4 fields (6)): 2 fields are kern, kern; 3 are kern, kern, dynam;
//!   4 are kern, *undecided*, kern, dynam; 5 or more are kern, *undecided*..., dynam. An
//!   undecided spine becomes **kern with its first note and **dynam with its first dynamic or
//!   with a `.` on a line that is not a grace-note line. `*^` splits a spine (at most 8 spines),
//!   `*v` merges a run of two or more adjacent spines of one kind (with rhythm on, kern spines
//!   must be at the same time); a line with `*^`/`*v` has `*` in every other field and does not
//!   mix the two. `*-` in every field ends the piece, only at the start of a measure (after a
//!   barline); the text then goes on with a new piece: a barline, then its first line. In the
//!   editions dialect ([`GrammarOptions::editions`]) every field but the first starts
//!   undecided (Joplin's `**kern **kern **kern`; rhythm off, a field holding neither kern nor
//!   dynam tokens is another kind, a `**text`), and one line may split some spines and merge
//!   others.
//! * **Tokens.** See `kern::lex`: notes, rests, chords (space-separated notes with one
//!   duration), grace notes, `.`; dynamics; clef, key, key signature, meter, tempo, mensuration,
//!   section label interpretations.
//! * **Rhythm** (when [`GrammarOptions::rhythm`] is on). Each kern spine keeps the time its
//!   current note ends, exactly (ticks, `TPW` to a whole note). A data line
//!   starts at the earliest end over the kern spines: the spines whose note ends there carry a
//!   new note, rest or chord, the others `.`. A *grace line* (the corpus writes grace notes on
//!   lines of their own) has grace notes in some of those spines and `.` everywhere else, and
//!   takes no time. A note must fit in what is left of the measure and leave a rest that
//!   accepted durations can fill. `@` is allowed when every kern spine has filled the meter;
//!   in the first measure of a piece, when all spines agree at any time (a pickup); at other
//!   times when all agree, only as the last measure: then only interpretation lines and `*-`
//!   may follow. A measure with no time in it is allowed after interpretation lines, never
//!   right after a barline. `*M` (meter) only at the start of a measure, and the `*M` of one
//!   line agree; the meter holds for all spines until the next `*M` or the end of the piece
//!   (then [`GrammarOptions::meter`] again).
//!
//! * **Time moves on** (grammars made with rhythm on). Grace notes take no time and a measure
//!   may hold only interpretation lines, so a sample could go on forever without filling a
//!   measure: at most `MAX_GRACE_LINES` (120) grace-note lines and `MAX_INTERP_LINES` (8)
//!   interpretation lines may come since the last line with a timed note or rest (barlines
//!   and `*-` do not reset the counts; a `*-` line stays allowed where it may come), and at
//!   most `MAX_GRACE_LINES_PER_MEASURE` (60) and `MAX_INTERP_LINES_PER_MEASURE` (10) in a
//!   measure. Then the only way on is a line of timed notes, or a barline when the measure is
//!   full. Each note has at most 6 beam signs, never `L` with `J` nor `K` with `k`, and at
//!   most 8 signs after its pitch (see `kern::lex`). The caps are the corpus's maxima or a
//!   little above (`kern::limits`).
//! * **Vocabulary** ([`GrammarOptions::vocab`]). The grammar only relies on characters the
//!   sampler can draw: durations whose digits (and dots) the vocabulary has, and the time they
//!   can fill; grace lines only with `q`; meters `*M` only with digits and `/` it has; clefs,
//!   keys, key signatures and mensurations only where it has what ends them. For a vocabulary
//!   and meter that [`Grammar::supports`], every state leaves some character of the vocabulary
//!   allowed.
//!
//! With rhythm off the same bookkeeping runs without constraining anything: the grammar then
//! accepts any structurally valid text and records each rhythm problem instead (what the
//! checker reports). [`Grammar::set_rhythm`] switches at a barline, which lets a test count the
//! measures of a real score that the rhythm rules accept.

mod barline;
mod data_line;
mod interp_line;
mod state;

use std::fmt;

use super::duration::DurSet;
use super::limits::FIRST_MEASURE_LENGTHS;
use super::measure::{Spine, Stats};
use super::meter::{Meter, MeterChoice};
use super::spine::Kind;
pub use state::LineKinds;
use state::{Pos, Prev, State};

/// Options of a [`Grammar`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrammarOptions {
    /// The meter of each piece: from its music (its first measure's length, or a `*M`), or a
    /// fixed one until the text sets one with `*M` (then the first measure may be a short
    /// pickup). It comes back after each `*-`.
    pub meter: MeterChoice,
    /// `*-` may end a piece, and a short measure may then be its last. Off, every measure but
    /// the first fills the meter and the text is one piece.
    pub piece_ends: bool,
    /// With a fixed meter, the first measure of a piece may be a short pickup.
    pub pickup: bool,
    /// Enforce the rhythm rules. Off, only tokens and structure are enforced, and rhythm
    /// problems are recorded rather than refused (this is how the checker reads a text).
    pub rhythm: bool,
    /// The characters the sampler draws from (the model's vocabulary), `None` for all. With
    /// rhythm on, the grammar then never relies on a character outside it: the durations are
    /// those whose digits the vocabulary has (a vocabulary without `0` or `7`, like the Mozart
    /// half of the corpus, cannot write 10 20 40 80 or 7 176; one with only `4` and `8` has
    /// 4 8 44 48 88), dotted only with `.`, and the measure-filling lookahead does with them
    /// alone; grace notes need `q`, meters `/` and their digits. Give it when sampling, or a
    /// model lacking some digits may meet a state where only they would do; check it first
    /// with [`Grammar::supports`].
    pub vocab: Option<Vec<char>>,
    /// The **kern dialect: off, the training corpus's (the 2015 sonatas the shipped models
    /// learnt, and the layouts above); on, the editions dialect of real scores beyond it
    /// (Craig Sapp's current editions, other composers): tokens as humlib reads them, any
    /// tandem interpretation, every field but the first decided by its tokens, any **dynam
    /// token, lines with no note (rhythm off), splits and merges on one line. With rhythm on
    /// it adds only what leaves the rhythm exact (marks before a note, signs the corpus lacks,
    /// a rest's staff position; see `kern::lex`). A model records the dialect of its corpus
    /// (`kern::Dialect`), and its sampler and reconstruction use it.
    pub editions: bool,
}

impl Default for GrammarOptions {
    fn default() -> Self {
        GrammarOptions {
            meter: MeterChoice::FromMusic,
            piece_ends: true,
            pickup: true,
            rhythm: true,
            vocab: None,
            editions: false,
        }
    }
}

/// A character the grammar refused, with where it came (1-based line and column of the text
/// fed to this grammar).
#[derive(Clone, Debug, PartialEq)]
pub struct GrammarError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for GrammarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for GrammarError {}

/// What kind of rule a refused character broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FailKind {
    Structure,
    Token,
    Rhythm,
}

/// A refused character: the kind of rule it broke and the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fail {
    pub kind: FailKind,
    pub msg: &'static str,
}

const fn structure(msg: &'static str) -> Fail {
    Fail { kind: FailKind::Structure, msg }
}
const fn token(msg: &'static str) -> Fail {
    Fail { kind: FailKind::Token, msg }
}
const fn rhythm(msg: &'static str) -> Fail {
    Fail { kind: FailKind::Rhythm, msg }
}

/// A rhythm problem recorded with rhythm off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RhythmIssue {
    /// Line of the text fed to the grammar (1-based).
    pub line: usize,
    pub message: String,
    /// A note that ends after the end of its measure (an irregular measure makes them one
    /// notice).
    pub overflow: bool,
    /// Worth saying but no defect: an irregular measure of a real score.
    pub notice: bool,
}

/// Where rhythm problems go (nowhere while [`Grammar::allows`] tries a character).
type Sink<'a> = Option<&'a mut Vec<RhythmIssue>>;

fn note(sink: &mut Sink, line: usize, msg: impl FnOnce() -> String) {
    if let Some(v) = sink.as_mut() {
        v.push(RhythmIssue { line, message: msg(), overflow: false, notice: false });
    }
}

/// [`note`] for a note that ends after the end of its measure.
fn note_overflow(sink: &mut Sink, line: usize, msg: impl FnOnce() -> String) {
    if let Some(v) = sink.as_mut() {
        v.push(RhythmIssue { line, message: msg(), overflow: true, notice: false });
    }
}

/// The kind of the last line read, as far as counting a measure cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LastLine {
    Barline,
    /// `*-`: the piece ended.
    PieceEnd,
    Other,
}

/// The incremental grammar (see the module documentation).
#[derive(Clone, Debug)]
pub struct Grammar {
    state: State,
    issues: Vec<RhythmIssue>,
}

impl Grammar {
    /// State at the start of a sample: at the start of a line and of a measure, spine count not
    /// yet known (the first line fixes it, within 2..=8 fields).
    pub fn new(opts: GrammarOptions) -> Self {
        Grammar { state: State::new(&opts), issues: Vec::new() }
    }

    /// Whether a grammar with rhythm on can constrain sampling from `vocab` (a model's
    /// characters) with `meter` as its meter (see [`GrammarOptions::meter`]; from the music,
    /// the vocabulary must be able to fill the longest first measure): then from every state
    /// it reaches, some character of `vocab` is allowed. The minimum is
    ///
    /// * TAB, newline, `@`, `.` (null tokens) and `*` and `-` (`*-` ends a piece after a short
    ///   last measure);
    /// * a pitch letter (`a`-`g` or `A`-`G`);
    /// * digits whose durations fill a measure of the meter: for 4/4 any one of `1`-`9` does
    ///   (`1` 1, `3` 3 triplet halves...), for 3/4 e.g. `4`, or `2` with `.`, for 6/8 `8`, or `4`
    ///   with `.`. A vocabulary with `1`, `2`, `4` and `8` fills every meter of up to 8ths.
    ///
    /// Everything else is optional: rests (`r`), grace notes (`q`), chords (space), dots in
    /// durations, `/` (meters), the letters of clefs, keys, key signatures and mensurations:
    /// the grammar only uses what the vocabulary has. Otherwise returns why not; a sampler
    /// should then sample without the grammar (raw) and say so.
    pub fn supports(vocab: &[char], meter: MeterChoice) -> Result<(), String> {
        let missing: Vec<char> = "\t\n@.*-".chars().filter(|c| !vocab.contains(c)).collect();
        if !missing.is_empty() {
            return Err(format!(
                "the vocabulary lacks {missing:?}, which the **kern grammar needs"
            ));
        }
        if !vocab.iter().any(|c| matches!(c, 'a'..='g' | 'A'..='G')) {
            return Err("the vocabulary has no pitch letter (a-g, A-G)".into());
        }
        let set = DurSet::for_vocab(Some(vocab));
        let (fills, what) = match meter {
            MeterChoice::Fixed(m) => (set.fillable(m.ticks()), format!("a measure of {m}")),
            MeterChoice::FromMusic => (
                FIRST_MEASURE_LENGTHS.iter().any(|&l| set.fillable(l)),
                "a measure of any of the corpus's meters".to_string(),
            ),
        };
        if !fills {
            return Err(format!(
                "the durations the vocabulary's digits can write cannot fill {what}"
            ));
        }
        Ok(())
    }

    /// A grammar for the body of a full **kern file whose header gave the spine kinds
    /// (`**kern` is [`Kind::Kern`], `**dynam` [`Kind::Dynam`], others [`Kind::Other`]).
    pub(crate) fn with_spines(opts: GrammarOptions, kinds: &[Kind]) -> Self {
        let mut g = Grammar::new(opts);
        let spines = &mut g.state.spines;
        for (s, &k) in spines.at.iter_mut().zip(kinds) {
            *s = Spine::new(k);
        }
        spines.n = kinds.len().min(spines.at.len());
        g
    }

    /// Whether `c` may come next and still lead to a valid score. Does not allocate.
    #[inline]
    pub fn allows(&self, c: char) -> bool {
        let mut k = self.state;
        k.step(c, &mut None).is_ok()
    }

    /// For each character of `chars`, whether it may come next (`out` as long as `chars`;
    /// extra entries of either are ignored).
    pub fn allowed_mask(&self, chars: &[char], out: &mut [bool]) {
        for (o, &c) in out.iter_mut().zip(chars) {
            *o = self.allows(c);
        }
    }

    /// Advances by one character; `Err` (and the state unchanged) if it is not allowed.
    pub fn push(&mut self, c: char) -> Result<(), GrammarError> {
        self.push_detailed(c).map_err(|(f, line, column)| GrammarError {
            line,
            column,
            message: format!("{c:?} is not allowed here: {}", f.msg),
        })
    }

    /// Like [`Grammar::push`], saying which kind of rule a refusal broke.
    pub(crate) fn push_detailed(&mut self, c: char) -> Result<(), (Fail, usize, usize)> {
        let mut k = self.state;
        let before = self.issues.len();
        match k.step(c, &mut Some(&mut self.issues)) {
            Ok(()) => {
                self.state = k;
                Ok(())
            }
            Err(f) => {
                self.issues.truncate(before);
                Err((f, self.state.cursor.line, self.state.cursor.column))
            }
        }
    }

    /// Feeds a whole text (e.g. the prime). On the first refused character, returns its error
    /// (with line and column) and stays just before it.
    pub fn push_str(&mut self, s: &str) -> Result<(), GrammarError> {
        for c in s.chars() {
            self.push(c)?;
        }
        Ok(())
    }

    /// Whether the text so far could end here as a complete score: at the start of a line, at
    /// a measure boundary (after a barline or `*-`, or before anything was written, with only
    /// interpretation lines since), and not after a short measure that still needs its `*-`.
    pub fn at_line_start(&self) -> bool {
        matches!(self.state.cursor.pos, Pos::LineStart)
            && self.state.spines.at_measure_start()
            && !(self.state.rules.rhythm && self.state.measure.must_end)
    }

    /// Fields per line in force (0 until the first line of a piece fixed it).
    pub fn spines(&self) -> usize {
        self.state.spines.n
    }

    /// Whether it reads the editions dialect ([`GrammarOptions::editions`]).
    pub fn editions(&self) -> bool {
        self.state.rules.editions
    }

    /// The meter in force (`None` while the first measure of a piece is to set it).
    pub fn meter(&self) -> Option<Meter> {
        self.state.measure.meter
    }

    /// The kinds of line that may start from here on ([`LineKinds::ALL`] when made): a sampler
    /// whose model keeps writing lines the grammar refuses corrects it within the kind of line
    /// the model meant, rather than through lines it did not mean (a `.` where its note has
    /// ended would make a grace-note line, a `*` an interpretation line). A line already begun
    /// is not affected; a new piece still starts with `@`, a piece that must end with `*-`.
    pub fn set_line_kinds(&mut self, kinds: LineKinds) {
        self.state.rules.line_kinds = kinds;
    }

    /// The kinds of line that may start from here on (see [`Grammar::set_line_kinds`]).
    pub fn line_kinds(&self) -> LineKinds {
        self.state.rules.line_kinds
    }

    /// Whether a new line would start with the next character.
    pub fn at_line_begin(&self) -> bool {
        matches!(self.state.cursor.pos, Pos::LineStart)
    }

    /// Allows `*-` (and with it a short last measure) from here on, or not.
    pub fn set_piece_ends(&mut self, on: bool) {
        self.state.rules.piece_ends = on;
    }

    /// Whether the rhythm rules are enforced now.
    pub fn rhythm(&self) -> bool {
        self.state.rules.rhythm
    }

    /// Turns the rhythm rules off (at once) or on: at once at the start of a line at the start
    /// of a measure, otherwise from the next barline on. With them off the grammar accepts any
    /// rhythm and keeps counting. A test can thus feed a real score measure by measure with
    /// rhythm on, and on a refusal go back to the measure's start (a clone), feed that measure
    /// with rhythm off and turn it on again.
    pub fn set_rhythm(&mut self, on: bool) {
        let s = &mut self.state;
        if !on {
            s.rules.rhythm = false;
            s.rules.rhythm_pending = false;
            s.measure.must_end = false;
        } else if !s.rules.rhythm {
            if matches!(s.cursor.pos, Pos::LineStart) && s.spines.at_measure_start() {
                s.rules.rhythm = true;
                s.measure.pending_short = None;
                s.measure.unpaired_short = None;
            } else {
                s.rules.rhythm_pending = true;
            }
        }
    }

    /// After a short measure with rhythm on, only `*-` may end the piece.
    pub(crate) fn must_end(&self) -> bool {
        self.state.measure.must_end
    }

    /// The end of the text: a short measure still waiting for `*-` was not the last of its
    /// piece after all (rhythm off).
    pub(crate) fn finish(&mut self) {
        let mut sink = Some(&mut self.issues);
        self.state.resolve_short_at_end(&mut sink);
    }

    /// (Reading a score) the measure has begun and its kern spines have not all filled the
    /// meter.
    pub(crate) fn measure_is_open(&self) -> bool {
        let length = self.state.measure.meter.map(Meter::ticks);
        let spines = &self.state.spines;
        !spines.at_measure_start() && !spines.kern_ends().all(|e| Some(e) == length)
    }

    /// What kind of line the grammar read last (for the measure clock, which reads it at each
    /// line's end).
    pub(crate) fn last_line(&self) -> LastLine {
        match self.state.prev {
            Prev::Barline => LastLine::Barline,
            Prev::Term => LastLine::PieceEnd,
            Prev::Nothing | Prev::Interp | Prev::Data => LastLine::Other,
        }
    }

    /// When the kern spines' current notes end, in ticks from the start of the measure.
    pub(crate) fn kern_ends(&self) -> Vec<u64> {
        self.state.spines.kern_ends().collect()
    }

    /// The ends of [`Grammar::kern_ends`] that hold time back (rhythm off, a spine that went on
    /// with `.` after its note ended does not; the next line starts at the earliest of these).
    pub(crate) fn timed_ends(&self) -> Vec<u64> {
        self.state.spines.timed_ends()
    }

    pub(crate) fn stats(&self) -> Stats {
        self.state.measure.stats
    }

    pub(crate) fn issues(&self) -> &[RhythmIssue] {
        &self.issues
    }

    /// The line the next character is on (1-based).
    pub(crate) fn line_no(&self) -> usize {
        self.state.cursor.line
    }

    /// Other caps on grace-note lines and interpretation lines, since the last timed line and
    /// in a measure (tests).
    #[cfg(test)]
    pub(crate) fn set_caps(&mut self, grace: (u32, u32), interp: (u32, u32)) {
        self.state.runs.caps = super::measure::RunCaps {
            grace: grace.0,
            grace_per_measure: grace.1,
            interp: interp.0,
            interp_per_measure: interp.1,
        };
    }

    /// (Reading a score) a section boundary here: a repeat or double barline was just read, or
    /// a section label (`*>A`, a first or second ending). Real scores split a measure around
    /// one (the end of a first ending, the pickup of a repeated section), so the measure just
    /// closed and the one starting may be short.
    pub(crate) fn section_boundary(&mut self) {
        self.state.measure.pending_short = None;
        self.state.measure.unpaired_short = None;
        self.state.measure.section_start = true;
    }

    /// Read a full score of any edition (see `State::rules.editions` and `score`), rhythm off.
    pub(crate) fn read_editions(&mut self) {
        self.state.rules.editions = true;
        self.state.rules.score = true;
    }

    /// The kind of spine `i` in force (tests).
    #[cfg(test)]
    pub(crate) fn spine_kind(&self, i: usize) -> Kind {
        self.state.spine(i).kind
    }

    // ---- for the checker's recovery (`kern::check`) -------------------------------------------

    /// Feeds one line (without its newline); on a refusal, returns what broke which rule at
    /// which column and leaves the state as before the line.
    pub(crate) fn try_line(&mut self, line: &str) -> Result<(), (Fail, usize)> {
        let saved = self.state;
        let before = self.issues.len();
        for c in line.chars().chain(std::iter::once('\n')) {
            if let Err((f, _, col)) = self.push_detailed(c) {
                self.state = saved;
                self.issues.truncate(before);
                return Err((f, col));
            }
        }
        Ok(())
    }

    /// Drops what lines fed since `len` recorded (a replacement line's own rhythm problems).
    pub(crate) fn forget_issues_after(&mut self, len: usize) {
        self.issues.truncate(len);
    }

    pub(crate) fn issue_count(&self) -> usize {
        self.issues.len()
    }

    /// (Reading a score) `*x` in fields `i` and `j`: the two spines trade places.
    pub(crate) fn exchange(&mut self, i: usize, j: usize) {
        let spines = &mut self.state.spines;
        if i < spines.n && j < spines.n {
            spines.at.swap(i, j);
        }
    }

    /// Goes on to the next line as if this one was not there.
    pub(crate) fn skip_line(&mut self) {
        self.state.new_line();
    }

    /// After `*-` a piece must start with a barline; recovery goes on as if one came.
    pub(crate) fn assume_barline_after_terminator(&mut self) {
        if self.state.prev == Prev::Term {
            self.state.prev = Prev::Barline;
            self.state.measure.bar_seen = true;
        }
    }

    /// Starts a new line with `fields` fields, keeping what is known of the others (recovery
    /// after a line with another field count): new spines are undecided, at the earliest time
    /// of the kern spines, and their measure is not counted as good.
    pub(crate) fn force_spines(&mut self, fields: usize) {
        let fields = fields.min(self.state.spine_limit());
        let spines = &mut self.state.spines;
        if spines.n == 0 || fields == spines.n {
            return;
        }
        let t = spines.kern_ends().min().unwrap_or(0);
        for i in spines.n..fields {
            if let Some(s) = spines.at.get_mut(i) {
                *s = Spine { kind: Kind::Undecided, end: t, ok: false, stalled: false };
            }
        }
        spines.n = fields;
    }
}

/// The length of every kern spine's every measure in a prepared text, as its durations add up
/// (the rhythm unchecked; up to the first line the grammar cannot read): what a text's
/// measures say its meter is. `editions`: read in the editions dialect.
pub fn measure_lengths(text: &str, editions: bool) -> Vec<u64> {
    measures_by_spine(text, editions).into_iter().flatten().collect()
}

/// [`measure_lengths`] measure by measure: for each measure with time in it, the length of
/// each kern spine that has time in it (spines that agree give equal lengths).
pub fn measures_by_spine(text: &str, editions: bool) -> Vec<Vec<u64>> {
    let opts = GrammarOptions { rhythm: false, editions, ..GrammarOptions::default() };
    let mut g = Grammar::new(opts);
    let mut measures = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "@" {
            let lengths: Vec<u64> = g.kern_ends().into_iter().filter(|&e| e > 0).collect();
            if !lengths.is_empty() {
                measures.push(lengths);
            }
        }
        if g.push_str(line).is_err() {
            break;
        }
    }
    measures
}

#[cfg(test)]
mod tests;
