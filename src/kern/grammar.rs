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
//!   follow the corpus's layouts (its headers are `**kern **kern **dynam` (152 files), `**kern
//!   **dynam **kern **dynam` (12), `**kern **kern` (1) and `**kern **kern **dynam` split before
//!   the first barline, seen as 4 fields (6)): 2 fields are kern, kern; 3 are kern, kern, dynam;
//!   4 are kern, *undecided*, kern, dynam; 5 or more are kern, *undecided*..., dynam. An
//!   undecided spine becomes **kern with its first note and **dynam with its first dynamic or
//!   with a `.` on a line that is not a grace-note line. `*^` splits a spine (at most 8 spines),
//!   `*v` merges a run of two or more adjacent spines of one kind (with rhythm on, kern spines
//!   must be at the same time); a line with `*^`/`*v` has `*` in every other field and does not
//!   mix the two. `*-` in every field ends the piece, only at the start of a measure (after a
//!   barline); the text then goes on with a new piece: a barline, then its first line.
//! * **Tokens.** See `kern::token`: notes, rests, chords (space-separated notes with one
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
//!   most 8 signs after its pitch (see `kern::token`). The caps are the corpus's maxima or a
//!   little above.
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

use std::fmt;

use super::token::{
    frac, interp_families, meter_ticks, DurRule, DurSet, DynTok, GraceRule, Interp, InterpRule,
    InterpTok, KernTok, TPW,
};

/// The most fields a line may have.
pub(crate) const MAX_SPINES: usize = 8;

/// With rhythm on, the most grace-note lines since the last line with a timed note or rest
/// (barlines and interpretation lines do not reset the count). The prepared corpus has 113
/// once (a cadenza in Beethoven's op. 2 no. 3, across an invisible barline), then 54, 43, 25;
/// 1,531 runs in all, 1,512 of them 1 to 4 lines.
pub(crate) const MAX_GRACE_LINES: usize = 120;
/// With rhythm on, the most grace-note lines in one measure. The prepared corpus has 54 once
/// (47, 43, 30 next; 24,146 of its 25,417 measures have none).
pub(crate) const MAX_GRACE_LINES_PER_MEASURE: usize = 60;
/// With rhythm on (the grammar made with it), the most interpretation lines since the last
/// line with a timed note or rest, barlines and `*-` not resetting the count, except that a
/// `*-` line is still allowed where it may come. The prepared corpus has at most 6 (5 in a
/// row without a barline between), the files read one after the other too.
pub(crate) const MAX_INTERP_LINES: usize = 8;
/// With rhythm on, the most interpretation lines in one measure (a `*-` line still allowed
/// where it may come). The prepared corpus has 8 twice, 7 five times (18,109 of its 25,417
/// measures have none).
pub(crate) const MAX_INTERP_LINES_PER_MEASURE: usize = 10;

/// Options of a [`Grammar`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrammarOptions {
    /// The meter in force until the text sets one with `*M` (numerator 1..=99, denominator a
    /// power of two up to 64; anything else means 4/4). It comes back after each `*-`.
    pub meter: (u32, u32),
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
}

impl Default for GrammarOptions {
    fn default() -> Self {
        GrammarOptions { meter: (4, 4), rhythm: true, vocab: None }
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fail {
    pub kind: FailKind,
    pub msg: &'static str,
}

const fn fail(kind: FailKind, msg: &'static str) -> Fail {
    Fail { kind, msg }
}
const fn structure(msg: &'static str) -> Fail {
    fail(FailKind::Structure, msg)
}
const fn token(msg: &'static str) -> Fail {
    fail(FailKind::Token, msg)
}
const fn rhythm(msg: &'static str) -> Fail {
    fail(FailKind::Rhythm, msg)
}

/// A rhythm problem recorded with rhythm off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RhythmIssue {
    /// Line of the text fed to the grammar (1-based).
    pub line: usize,
    pub message: String,
}

/// Measure counts kept by the grammar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Measures with time in them closed by a barline.
    pub measures: usize,
    /// Kern spines over those measures.
    pub spine_measures: usize,
    /// Of those, the ones whose rhythm is right.
    pub full: usize,
}

/// The kind of a spine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Kern,
    Dynam,
    /// Kern or dynam, decided by its first token (see the module documentation).
    Unknown,
    /// Another exclusive interpretation (only from a full file's header): any token, no time.
    Other,
}

fn compatible(a: Kind, b: Kind) -> bool {
    a == b || a == Kind::Unknown || b == Kind::Unknown
}

fn combine(a: Kind, b: Kind) -> Kind {
    if a == Kind::Unknown {
        b
    } else {
        a
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Spine {
    kind: Kind,
    /// When its current note ends, in ticks from the start of the measure (kern spines).
    end: u64,
    /// No rhythm problem in this spine in the current measure.
    ok: bool,
    /// (Rhythm off) its note ended and it went on with `.`: it does not hold time back.
    stalled: bool,
}

const SPINE0: Spine = Spine { kind: Kind::Kern, end: 0, ok: true, stalled: false };

/// The spine kinds of a piece whose first line has `c` fields.
pub(crate) fn layout(c: usize, i: usize) -> Kind {
    match (c, i) {
        (_, 0) => Kind::Kern,
        (2, _) => Kind::Kern,
        (3, 1) => Kind::Kern,
        (4, 2) => Kind::Kern,
        _ if i + 1 == c => Kind::Dynam,
        _ => Kind::Unknown,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prev {
    Nothing,
    Barline,
    Interp,
    Data,
    Term,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Undecided,
    Normal,
    Grace,
}

#[derive(Clone, Copy, Debug)]
struct DataField {
    empty: bool,
    just_dot: bool,
    null_ok: bool,
    kern_alive: bool,
    dyn_alive: bool,
    other: bool,
    rule: DurRule,
    kern: KernTok,
    dynt: DynTok,
}

#[derive(Clone, Copy, Debug)]
enum Pos {
    LineStart,
    /// Read `@`; a newline must follow.
    Bar,
    /// After a TAB on an interpretation line: `*` must follow.
    InterpFieldStart,
    Interp(InterpTok),
    Data(DataField),
}

#[derive(Clone, Copy, Debug)]
struct InterpLine {
    /// A cap on interpretation lines is reached: only `*-` may come.
    capped: bool,
    term: bool,
    /// 0 none, 1 split, 2 merge
    manip: u8,
    other_seen: bool,
    split_mask: u8,
    merge_mask: u8,
    splits: u8,
    merge_run: u8,
    merge_kind: Kind,
    merge_end: u64,
    meter: Option<(u16, u16)>,
}

const INTERP_LINE: InterpLine = InterpLine {
    capped: false,
    term: false,
    manip: 0,
    other_seen: false,
    split_mask: 0,
    merge_mask: 0,
    splits: 0,
    merge_run: 0,
    merge_kind: Kind::Unknown,
    merge_end: 0,
    meter: None,
};

#[derive(Clone, Copy, Debug)]
struct DataLine {
    t: u64,
    mode: Mode,
    grace_seen: bool,
    real_seen: bool,
    grace_pending: bool,
    /// The last field that could carry a grace note.
    last_grace: usize,
    due_null: u8,
    u_null: u8,
}

const DATA_LINE: DataLine = DataLine {
    t: 0,
    mode: Mode::Undecided,
    grace_seen: false,
    real_seen: false,
    grace_pending: false,
    last_grace: 0,
    due_null: 0,
    u_null: 0,
};

/// The whole state, small and `Copy` so that [`Grammar::allows`] can try a character on a copy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Core {
    rhythm: bool,
    rhythm_pending: bool,
    pub(crate) generic_interp: bool,
    /// Durations allowed with rhythm on.
    set: &'static DurSet,
    /// Grace notes can be written: the vocabulary has `q` (a token with no duration must be
    /// one, so without `q` a note must start with its duration).
    grace_ok: bool,
    /// The interpretation families the vocabulary can finish (`token::interp_families`).
    fams: u8,
    /// [`MAX_GRACE_LINES`], [`MAX_GRACE_LINES_PER_MEASURE`], [`MAX_INTERP_LINES`] and
    /// [`MAX_INTERP_LINES_PER_MEASURE`] for grammars made with rhythm on, no cap (`u32::MAX`)
    /// for the others.
    grace_cap: u32,
    interp_cap: u32,
    /// Grace-note lines and interpretation lines since the last line with a timed note.
    grace_run: u32,
    interp_run: u32,
    /// Grace-note and interpretation lines in the current measure, and their caps.
    grace_bar: u32,
    grace_bar_cap: u32,
    interp_bar: u32,
    interp_bar_cap: u32,
    default_meter: (u16, u16),
    n: usize,
    spines: [Spine; MAX_SPINES],
    meter: (u16, u16),
    measure: u64,
    first_measure: bool,
    must_end: bool,
    bar_seen: bool,
    prev: Prev,
    /// (Rhythm off) a short measure not in first place: line of its barline, spines counted
    /// as good, length. Fine if `*-` follows, wrong if data or the end of the text does.
    pending_short: Option<(usize, usize, u64)>,
    pub(crate) stats: Stats,
    line_no: usize,
    col: usize,
    pos: Pos,
    field: usize,
    il: InterpLine,
    dl: DataLine,
}

type Sink<'a> = Option<&'a mut Vec<RhythmIssue>>;

fn note(sink: &mut Sink, line: usize, msg: impl FnOnce() -> String) {
    if let Some(v) = sink.as_mut() {
        v.push(RhythmIssue { line, message: msg() });
    }
}

fn normal_meter(m: (u32, u32)) -> (u16, u16) {
    if meter_ticks(m.0, m.1).is_some() {
        (m.0 as u16, m.1 as u16)
    } else {
        (4, 4)
    }
}

impl Core {
    fn new(opts: &GrammarOptions) -> Self {
        let meter = normal_meter(opts.meter);
        Core {
            rhythm: opts.rhythm,
            rhythm_pending: false,
            generic_interp: false,
            set: DurSet::for_vocab(opts.vocab.as_deref()),
            grace_ok: opts.vocab.as_deref().is_none_or(|v| v.contains(&'q')),
            fams: interp_families(opts.vocab.as_deref()),
            grace_cap: if opts.rhythm { MAX_GRACE_LINES as u32 } else { u32::MAX },
            interp_cap: if opts.rhythm { MAX_INTERP_LINES as u32 } else { u32::MAX },
            grace_run: 0,
            interp_run: 0,
            grace_bar: 0,
            grace_bar_cap: if opts.rhythm { MAX_GRACE_LINES_PER_MEASURE as u32 } else { u32::MAX },
            interp_bar: 0,
            interp_bar_cap: if opts.rhythm {
                MAX_INTERP_LINES_PER_MEASURE as u32
            } else {
                u32::MAX
            },
            default_meter: meter,
            n: 0,
            spines: [SPINE0; MAX_SPINES],
            meter,
            measure: meter_ticks(meter.0 as u32, meter.1 as u32).unwrap_or(TPW),
            first_measure: true,
            must_end: false,
            bar_seen: false,
            prev: Prev::Nothing,
            pending_short: None,
            stats: Stats::default(),
            line_no: 1,
            col: 1,
            pos: Pos::LineStart,
            field: 0,
            il: INTERP_LINE,
            dl: DATA_LINE,
        }
    }

    fn spine(&self, i: usize) -> Spine {
        self.spines.get(i).copied().unwrap_or(Spine { kind: Kind::Other, ..SPINE0 })
    }

    fn kern_ends(&self) -> impl Iterator<Item = u64> + '_ {
        self.spines.iter().take(self.n).filter(|s| s.kind == Kind::Kern).map(|s| s.end)
    }

    /// No kern spine has time in the current measure.
    fn at_measure_start(&self) -> bool {
        self.kern_ends().all(|e| e == 0)
    }

    /// The kind a data field is read as.
    fn field_kind(&self, i: usize) -> Kind {
        if self.n == 0 {
            if i == 0 {
                Kind::Kern
            } else if i + 1 >= MAX_SPINES {
                Kind::Dynam
            } else {
                Kind::Unknown
            }
        } else {
            self.spine(i).kind
        }
    }

    fn max_fields(&self) -> usize {
        if self.n == 0 {
            MAX_SPINES
        } else {
            self.n
        }
    }

    fn is_due(&self, i: usize, kind: Kind) -> bool {
        match kind {
            Kind::Unknown => true,
            Kind::Kern => self.n == 0 || self.spine(i).end <= self.dl.t,
            _ => false,
        }
    }

    fn reset_piece(&mut self) {
        self.n = 0;
        self.spines = [SPINE0; MAX_SPINES];
        self.set_meter(self.default_meter);
        self.first_measure = true;
        self.must_end = false;
        self.bar_seen = false;
        self.pending_short = None;
    }

    fn set_meter(&mut self, m: (u16, u16)) {
        if let Some(t) = meter_ticks(m.0 as u32, m.1 as u32) {
            self.meter = m;
            self.measure = t;
        }
    }

    // -----------------------------------------------------------------------------------------
    // One character
    // -----------------------------------------------------------------------------------------

    pub(crate) fn step(&mut self, ch: char, sink: &mut Sink) -> Result<(), Fail> {
        if !ch.is_ascii() {
            return Err(token("not a character of **kern text"));
        }
        let c = ch as u8;
        match self.pos {
            Pos::LineStart => self.line_start(c, sink)?,
            Pos::Bar => {
                if c != b'\n' {
                    return Err(structure("a barline `@` is alone on its line"));
                }
                self.apply_barline(sink);
                self.new_line();
                return Ok(());
            }
            Pos::InterpFieldStart => {
                if c != b'*' {
                    return Err(structure("every field of an interpretation line starts with `*`"));
                }
                self.pos = Pos::Interp(InterpTok::new());
            }
            Pos::Interp(tok) => self.interp_char(tok, c, sink)?,
            Pos::Data(f) => self.data_char(f, c, sink)?,
        }
        if c == b'\n' {
            self.new_line();
        } else {
            self.col += 1;
        }
        Ok(())
    }

    fn new_line(&mut self) {
        self.line_no += 1;
        self.col = 1;
        self.pos = Pos::LineStart;
        self.field = 0;
    }

    fn line_start(&mut self, c: u8, sink: &mut Sink) -> Result<(), Fail> {
        match c {
            b'@' => {
                self.bar_ok()?;
                self.pos = Pos::Bar;
                Ok(())
            }
            b'\n' => Err(structure("empty line")),
            b'\t' => Err(structure("empty field")),
            _ if self.prev == Prev::Term => {
                Err(structure("after `*-` a new piece starts with a barline `@`"))
            }
            b'*' => {
                let capped =
                    self.interp_run >= self.interp_cap || self.interp_bar >= self.interp_bar_cap;
                if capped && !self.term_ok() {
                    return Err(structure(
                        "too many interpretation lines (since the last note, or in the measure)",
                    ));
                }
                self.field = 0;
                self.il = InterpLine { capped, ..INTERP_LINE };
                self.pos = Pos::Interp(InterpTok::new());
                Ok(())
            }
            _ => {
                if self.rhythm && self.must_end {
                    return Err(rhythm(
                        "after a short last measure only interpretations and `*-` may follow",
                    ));
                }
                self.begin_data_line(sink);
                if self.rhythm && self.dl.mode == Mode::Normal && self.dl.t >= self.measure {
                    // no timed note fits and no grace line may come (no `q`, or too many)
                    return Err(rhythm("the measure is full: a barline comes"));
                }
                self.data_char(self.begin_field(0), c, sink)
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Barlines
    // -----------------------------------------------------------------------------------------

    fn bar_ok(&self) -> Result<(), Fail> {
        if self.prev == Prev::Term || !self.rhythm {
            return Ok(());
        }
        if self.n == 0 {
            return if self.prev == Prev::Barline {
                Err(rhythm("a measure with nothing in it"))
            } else {
                Ok(())
            };
        }
        if self.must_end {
            return Err(rhythm(
                "after a short last measure only interpretations and `*-` may follow",
            ));
        }
        let mut ends = self.kern_ends();
        let Some(e) = ends.next() else { return Ok(()) };
        if !ends.all(|x| x == e) {
            return Err(rhythm("the kern spines are not at the same time"));
        }
        if e == 0 && self.prev == Prev::Barline {
            return Err(rhythm("a measure with nothing in it"));
        }
        if e > self.measure {
            return Err(rhythm("the measure is longer than the meter"));
        }
        Ok(())
    }

    fn apply_barline(&mut self, sink: &mut Sink) {
        if self.n > 0 {
            let m = self.measure;
            let mut count = 0;
            let mut ok = 0;
            let mut first_end = None;
            let mut all_eq = true;
            let mut any_time = false;
            let mut good_full = 0;
            for s in self.spines.iter().take(self.n).filter(|s| s.kind == Kind::Kern) {
                count += 1;
                if s.ok {
                    ok += 1;
                    if s.end == m {
                        good_full += 1;
                    }
                }
                any_time |= s.end > 0;
                match first_end {
                    None => first_end = Some(s.end),
                    Some(e) => all_eq &= e == s.end,
                }
            }
            let e = first_end.unwrap_or(0);
            if any_time {
                self.stats.measures += 1;
                self.stats.spine_measures += count;
                let good;
                if all_eq && e == m {
                    good = ok;
                } else if all_eq && e < m {
                    good = ok;
                    if !self.first_measure {
                        if self.rhythm {
                            self.must_end = true;
                        } else {
                            self.pending_short = Some((self.line_no, good, e));
                        }
                    }
                } else {
                    good = good_full;
                    if sink.is_some() {
                        let parts: Vec<String> = self
                            .spines
                            .iter()
                            .take(self.n)
                            .enumerate()
                            .filter(|(_, s)| s.kind == Kind::Kern)
                            .map(|(i, s)| format!("spine {} has {}", i + 1, frac(s.end)))
                            .collect();
                        let meter = self.meter;
                        note(sink, self.line_no, || {
                            format!(
                                "the measure does not add up to the meter {}/{}: {}",
                                meter.0,
                                meter.1,
                                parts.join(", ")
                            )
                        });
                    }
                }
                self.stats.full += good;
                self.first_measure = false;
            }
        }
        for s in self.spines.iter_mut() {
            s.end = 0;
            s.ok = true;
            s.stalled = false;
        }
        if self.rhythm_pending {
            self.rhythm = true;
            self.rhythm_pending = false;
            self.pending_short = None;
        }
        self.prev = Prev::Barline;
        self.bar_seen = true;
        self.grace_bar = 0;
        self.interp_bar = 0;
    }

    /// A data line after a short measure: that measure was not the last one.
    fn resolve_short(&mut self, sink: &mut Sink) {
        if let Some((line, good, e)) = self.pending_short.take() {
            self.stats.full = self.stats.full.saturating_sub(good);
            let m = self.meter;
            note(sink, line, || {
                format!(
                    "a short measure ({} of {}/{}) that is not the last of its piece (`*-` does not follow)",
                    frac(e),
                    m.0,
                    m.1
                )
            });
        }
    }

    // -----------------------------------------------------------------------------------------
    // Interpretation lines
    // -----------------------------------------------------------------------------------------

    fn interp_rule(&self) -> InterpRule {
        InterpRule {
            signature_ok: !self.rhythm || self.at_measure_start(),
            expect_meter: self.il.meter,
            generic: self.generic_interp,
            set: self.set,
            fams: self.fams,
        }
    }

    /// Whether a `*-` line may start here.
    fn term_ok(&self) -> bool {
        self.n > 0 && self.bar_seen && self.at_measure_start()
    }

    fn interp_char(&mut self, mut tok: InterpTok, c: u8, sink: &mut Sink) -> Result<(), Fail> {
        if self.il.capped && self.field == 0 && tok.is_fresh() && c != b'-' {
            return Err(structure("too many interpretation lines: only `*-` may come here"));
        }
        match c {
            b'\t' => {
                let i = self.field;
                if i + 1 >= self.max_fields() {
                    return Err(structure("more fields than spines"));
                }
                self.end_interp_field(tok)?;
                if self.n == 0 && i + 2 + self.il.splits as usize > MAX_SPINES {
                    return Err(structure("more than 8 spines"));
                }
                self.field += 1;
                self.pos = Pos::InterpFieldStart;
                Ok(())
            }
            b'\n' => {
                let c = self.field + 1;
                if self.n > 0 && c != self.n {
                    return Err(structure("fewer fields than spines"));
                }
                if self.n == 0 && c < 2 {
                    return Err(structure("a piece has at least 2 spines"));
                }
                self.end_interp_field(tok)?;
                self.end_interp_line(sink);
                Ok(())
            }
            _ => {
                if tok.is_fresh() {
                    self.interp_first(c)?;
                }
                if !tok.step(c, &self.interp_rule()) {
                    return Err(token("unknown interpretation"));
                }
                self.pos = Pos::Interp(tok);
                Ok(())
            }
        }
    }

    /// Line rules for the byte after `*`.
    fn interp_first(&self, c: u8) -> Result<(), Fail> {
        let i = self.field;
        let il = &self.il;
        if il.term {
            return if c == b'-' { Ok(()) } else { Err(structure("`*-` ends every spine")) };
        }
        if il.merge_run == 1 {
            return if c == b'v' {
                Ok(())
            } else {
                Err(structure("`*v` merges two or more adjacent spines"))
            };
        }
        match c {
            b'-' => {
                if i != 0 {
                    Err(structure("`*-` ends every spine"))
                } else if !self.term_ok() {
                    Err(structure("`*-` comes right after a barline"))
                } else {
                    Ok(())
                }
            }
            b'^' => {
                let now = if self.n == 0 { i + 1 } else { self.n };
                if il.manip == 2 || il.other_seen {
                    Err(structure("a spine-manipulation line has `*` in its other fields"))
                } else if now + il.splits as usize + 1 > MAX_SPINES {
                    Err(structure("more than 8 spines"))
                } else {
                    Ok(())
                }
            }
            b'v' => {
                if self.n == 0 || il.manip == 1 || il.other_seen {
                    return Err(structure("a spine-manipulation line has `*` in its other fields"));
                }
                let me = self.spine(i);
                let same_time = |a: Kind, ea: u64, b: Spine| {
                    !self.rhythm || a != Kind::Kern || b.kind != Kind::Kern || ea == b.end
                };
                let ok = if il.merge_run >= 1 {
                    compatible(il.merge_kind, me.kind) && same_time(il.merge_kind, il.merge_end, me)
                } else {
                    i + 1 < self.n && {
                        let next = self.spine(i + 1);
                        compatible(me.kind, next.kind) && same_time(me.kind, me.end, next)
                    }
                };
                if ok {
                    Ok(())
                } else {
                    Err(structure("`*v` merges adjacent spines of one kind (at one time)"))
                }
            }
            _ => {
                if il.manip != 0 {
                    Err(structure("a spine-manipulation line has `*` in its other fields"))
                } else {
                    Ok(())
                }
            }
        }
    }

    fn end_interp_field(&mut self, tok: InterpTok) -> Result<(), Fail> {
        let rule = self.interp_rule();
        let Some(res) = tok.result(&rule) else {
            return Err(token("unfinished interpretation"));
        };
        let i = self.field;
        if self.il.term && res != Interp::Term {
            return Err(structure("`*-` ends every spine"));
        }
        if self.il.merge_run == 1 && res != Interp::Merge {
            return Err(structure("`*v` merges two or more adjacent spines"));
        }
        let bit = 1u8.checked_shl(i as u32).unwrap_or(0);
        let il = &mut self.il;
        if res != Interp::Merge {
            il.merge_run = 0;
        }
        match res {
            Interp::Null => {}
            Interp::Term => il.term = true,
            Interp::Split => {
                il.manip = 1;
                il.split_mask |= bit;
                il.splits += 1;
            }
            Interp::Merge => {
                let me = self.spines.get(i).copied().unwrap_or(SPINE0);
                il.manip = 2;
                il.merge_mask |= bit;
                if il.merge_run == 0 {
                    il.merge_kind = me.kind;
                } else {
                    il.merge_kind = combine(il.merge_kind, me.kind);
                }
                if me.kind == Kind::Kern {
                    il.merge_end = me.end;
                }
                il.merge_run += 1;
            }
            Interp::Meter(a, b) => {
                il.meter = Some((a, b));
                il.other_seen = true;
            }
            Interp::Other => il.other_seen = true,
        }
        Ok(())
    }

    fn end_interp_line(&mut self, sink: &mut Sink) {
        let c = self.field + 1;
        self.interp_run = self.interp_run.saturating_add(1);
        self.interp_bar = self.interp_bar.saturating_add(1);
        if self.il.term {
            self.resolve_short_ok();
            self.reset_piece();
            self.prev = Prev::Term;
            return;
        }
        if self.n == 0 {
            for i in 0..MAX_SPINES {
                if let Some(s) = self.spines.get_mut(i) {
                    *s = Spine { kind: layout(c, i), ..SPINE0 };
                }
            }
            self.n = c.min(MAX_SPINES);
        }
        if self.il.manip != 0 {
            let mut out = [SPINE0; MAX_SPINES];
            let mut k = 0;
            let mut i = 0;
            let line = self.line_no;
            while i < self.n {
                let s = self.spine(i);
                let bit = |j: usize| 1u8.checked_shl(j as u32).unwrap_or(0);
                if self.il.split_mask & bit(i) != 0 {
                    for _ in 0..2 {
                        if let Some(o) = out.get_mut(k) {
                            *o = s;
                        }
                        k += 1;
                    }
                    i += 1;
                } else if self.il.merge_mask & bit(i) != 0 {
                    let mut m = s;
                    let mut j = i + 1;
                    let mut uneven = false;
                    while j < self.n && self.il.merge_mask & bit(j) != 0 {
                        let o = self.spine(j);
                        if m.kind == Kind::Kern && o.kind == Kind::Kern && o.end != m.end {
                            uneven = true;
                        }
                        m.kind = combine(m.kind, o.kind);
                        m.end = m.end.max(o.end);
                        m.ok &= o.ok;
                        m.stalled |= o.stalled;
                        j += 1;
                    }
                    if uneven {
                        m.ok = false;
                        note(sink, line, || {
                            format!(
                                "spines {}-{} are merged while their notes end at different times",
                                i + 1,
                                j
                            )
                        });
                    }
                    if let Some(o) = out.get_mut(k) {
                        *o = m;
                    }
                    k += 1;
                    i = j;
                } else {
                    if let Some(o) = out.get_mut(k) {
                        *o = s;
                    }
                    k += 1;
                    i += 1;
                }
            }
            self.spines = out;
            self.n = k.min(MAX_SPINES);
        }
        if let Some(m) = self.il.meter {
            if !self.at_measure_start() {
                note(sink, self.line_no, || "a meter change inside a measure".to_string());
            }
            self.set_meter(m);
        }
        self.prev = Prev::Interp;
    }

    fn resolve_short_ok(&mut self) {
        self.pending_short = None;
    }

    // -----------------------------------------------------------------------------------------
    // Data lines
    // -----------------------------------------------------------------------------------------

    fn begin_data_line(&mut self, sink: &mut Sink) {
        self.field = 0;
        self.resolve_short(sink);
        let mut dl = DATA_LINE;
        let capped = self.grace_run >= self.grace_cap || self.grace_bar >= self.grace_bar_cap;
        if (!self.grace_ok || capped) && self.rhythm {
            dl.mode = Mode::Normal;
        }
        if self.n == 0 {
            for i in 0..MAX_SPINES {
                let kind = self.field_kind(i);
                if let Some(s) = self.spines.get_mut(i) {
                    *s = Spine { kind, ..SPINE0 };
                }
            }
            dl.t = 0;
            dl.last_grace = MAX_SPINES - 2;
        } else {
            // spines stalled on `.` (rhythm off) do not hold time back
            let live = self
                .spines
                .iter()
                .take(self.n)
                .filter(|s| s.kind == Kind::Kern && !s.stalled)
                .map(|s| s.end)
                .min();
            dl.t = live.or_else(|| self.kern_ends().min()).unwrap_or(0);
            dl.last_grace = 0;
            for i in 0..self.n {
                let s = self.spine(i);
                if s.kind == Kind::Unknown || (s.kind == Kind::Kern && s.end <= dl.t) {
                    dl.last_grace = i;
                }
            }
        }
        self.dl = dl;
    }

    fn begin_field(&self, i: usize) -> DataField {
        let kind = self.field_kind(i);
        let due = self.is_due(i, kind);
        let rule = if self.rhythm {
            DurRule {
                fit: Some(self.measure.saturating_sub(self.dl.t)),
                grace: match self.dl.mode {
                    Mode::Normal => GraceRule::Forbid,
                    Mode::Grace => GraceRule::Require,
                    Mode::Undecided => GraceRule::Allow,
                },
                chord_match: true,
                quirks: false,
                set: self.set,
            }
        } else {
            DurRule::FREE
        };
        let dl = &self.dl;
        let null_ok = !self.rhythm
            || match kind {
                Kind::Kern if due => {
                    dl.mode != Mode::Normal && (dl.grace_seen || i < dl.last_grace)
                }
                Kind::Unknown => dl.grace_seen || !dl.grace_pending || i < dl.last_grace,
                _ => true,
            };
        // the last field that could hold the grace note a line of `.` needs must hold it
        let grace_due = self.rhythm && dl.grace_pending && !dl.grace_seen && i >= dl.last_grace;
        DataField {
            empty: true,
            just_dot: false,
            null_ok,
            kern_alive: matches!(kind, Kind::Kern | Kind::Unknown) && (!self.rhythm || due),
            dyn_alive: kind == Kind::Dynam || (kind == Kind::Unknown && !grace_due),
            other: kind == Kind::Other,
            rule,
            kern: KernTok::new(),
            dynt: DynTok::default(),
        }
    }

    fn data_char(&mut self, mut f: DataField, c: u8, sink: &mut Sink) -> Result<(), Fail> {
        match c {
            b'\t' => {
                if self.field + 1 >= self.max_fields() {
                    return Err(structure("more fields than spines"));
                }
                self.end_data_field(&f, sink)?;
                self.field += 1;
                self.pos = Pos::Data(self.begin_field(self.field));
                Ok(())
            }
            b'\n' => {
                if self.n > 0 && self.field + 1 != self.n {
                    return Err(structure("fewer fields than spines"));
                }
                if self.n == 0 && self.field < 1 {
                    return Err(structure("a piece has at least 2 spines"));
                }
                self.end_data_field(&f, sink)?;
                self.end_data_line(sink)
            }
            _ => {
                let before = f;
                let first = f.empty;
                let mut ok = false;
                if first && c == b'.' && f.null_ok {
                    ok = true;
                }
                f.just_dot = first && c == b'.';
                if f.kern_alive {
                    let acc =
                        if c == b' ' { f.kern.space(&f.rule) } else { f.kern.step(c, &f.rule) };
                    f.kern_alive = acc;
                    ok |= acc;
                }
                if f.dyn_alive {
                    let acc = f.dynt.step(c);
                    f.dyn_alive = acc;
                    ok |= acc;
                }
                if f.other && (c.is_ascii_graphic() || c == b' ') {
                    ok = true;
                }
                if !ok {
                    return Err(self.why_not(&before, first, c));
                }
                f.empty = false;
                self.pos = Pos::Data(f);
                Ok(())
            }
        }
    }

    fn why_not(&self, f: &DataField, first: bool, c: u8) -> Fail {
        let kind = self.field_kind(self.field);
        if first && c == b'.' {
            return rhythm("this spine's note has ended: a note or rest (or a grace note) is due");
        }
        if first && kind == Kind::Kern && self.rhythm && !self.is_due(self.field, kind) {
            return rhythm("this spine's note still sounds: only `.` may come here");
        }
        if self.rhythm && f.kern_alive && kind != Kind::Dynam {
            // the automaton refused it; try without rhythm to tell the two apart
            let mut free = f.kern;
            let ok =
                if c == b' ' { free.space(&DurRule::FREE) } else { free.step(c, &DurRule::FREE) };
            if ok {
                return rhythm("the duration does not fit the measure (or the line) here");
            }
        }
        match kind {
            Kind::Dynam => token("unknown **dynam token"),
            _ => token("unknown **kern token"),
        }
    }

    fn end_data_field(&mut self, f: &DataField, sink: &mut Sink) -> Result<(), Fail> {
        let i = self.field;
        let kind = self.field_kind(i);
        let bit = 1u8.checked_shl(i as u32).unwrap_or(0);
        let line = self.line_no;
        if f.just_dot {
            if !f.null_ok {
                return Err(rhythm(
                    "this spine's note has ended: a note or rest (or a grace note) is due",
                ));
            }
            match kind {
                Kind::Kern if self.is_due(i, kind) => {
                    if self.dl.mode == Mode::Undecided {
                        self.dl.mode = Mode::Grace;
                    }
                    if !self.dl.grace_seen {
                        self.dl.grace_pending = true;
                    }
                    self.dl.due_null |= bit;
                }
                Kind::Unknown => self.dl.u_null |= bit,
                _ => {}
            }
            return Ok(());
        }
        if f.kern_alive && f.kern.can_end(&f.rule) {
            let info = f.kern.info();
            let due = self.is_due(i, kind);
            if info.grace {
                self.dl.grace_seen = true;
                self.dl.grace_pending = false;
                if self.dl.mode == Mode::Undecided {
                    self.dl.mode = Mode::Grace;
                }
            } else {
                self.dl.real_seen = true;
                if self.dl.mode == Mode::Undecided {
                    self.dl.mode = Mode::Normal;
                }
            }
            let t = self.dl.t;
            let measure = self.measure;
            let Some(s) = self.spines.get_mut(i) else { return Ok(()) };
            s.kind = Kind::Kern;
            if info.grace {
                if !due {
                    s.ok = false;
                    note(sink, line, || {
                        format!(
                            "spine {}: a grace note while the previous note still sounds",
                            i + 1
                        )
                    });
                }
            } else {
                if !due {
                    s.ok = false;
                    let until = s.end;
                    note(sink, line, || {
                        format!(
                            "spine {}: a new note at {} while the previous one lasts until {}",
                            i + 1,
                            frac(t),
                            frac(until)
                        )
                    });
                }
                s.end = t + info.ticks;
                s.stalled = false;
                if s.end > measure {
                    s.ok = false;
                    let end = s.end;
                    note(sink, line, || {
                        format!(
                            "spine {}: the note ends at {}, after the end of the measure ({})",
                            i + 1,
                            frac(end),
                            frac(measure)
                        )
                    });
                }
            }
            if info.mixed {
                s.ok = false;
                note(sink, line, || {
                    format!("spine {}: the notes of a chord differ in duration", i + 1)
                });
            }
            return Ok(());
        }
        if f.dyn_alive && f.dynt.can_end() {
            if let Some(s) = self.spines.get_mut(i) {
                if s.kind == Kind::Unknown {
                    s.kind = Kind::Dynam;
                }
            }
            return Ok(());
        }
        if f.other && !f.empty {
            return Ok(());
        }
        if f.empty {
            return Err(structure("empty field"));
        }
        Err(match kind {
            Kind::Dynam => token("unfinished **dynam token"),
            _ if f.kern_alive && f.rule.grace == GraceRule::Require => {
                rhythm("a grace note is due here (this is a grace-note line)")
            }
            _ => token("unfinished **kern token"),
        })
    }

    fn end_data_line(&mut self, sink: &mut Sink) -> Result<(), Fail> {
        let c = self.field + 1;
        let dl = self.dl;
        if self.rhythm && dl.grace_pending && !dl.grace_seen {
            return Err(rhythm("a line whose due spines hold `.` needs a grace note"));
        }
        let grace_line = dl.grace_seen && !dl.real_seen;
        let line = self.line_no;
        if self.n == 0 {
            // check the first line against the layout its field count gives
            for i in 0..c {
                let want = layout(c, i);
                let have = self.spine(i).kind;
                match (want, have) {
                    (Kind::Kern, Kind::Dynam) => {
                        return Err(token("a **dynam token in a **kern spine"))
                    }
                    (Kind::Dynam, Kind::Kern) => {
                        return Err(token("a **kern token in the **dynam spine"))
                    }
                    (Kind::Kern, Kind::Unknown) if self.rhythm && !grace_line => {
                        return Err(rhythm("a **kern spine without its first note"))
                    }
                    _ => {}
                }
            }
            for i in 0..c {
                let want = layout(c, i);
                let Some(s) = self.spines.get_mut(i) else { continue };
                s.kind = match (want, s.kind) {
                    (Kind::Kern, _) => Kind::Kern,
                    (Kind::Dynam, _) => Kind::Dynam,
                    (_, Kind::Unknown) if !grace_line => Kind::Dynam,
                    (_, k) => k,
                };
                if i > 0 && want == Kind::Kern && s.end == 0 && !grace_line {
                    // a kern spine with `.` at the start of the piece (only without rhythm)
                    s.ok = false;
                    note(sink, line, || {
                        format!("spine {}: the piece starts without a note", i + 1)
                    });
                }
            }
            for s in self.spines.iter_mut().skip(c) {
                *s = SPINE0;
            }
            self.n = c.min(MAX_SPINES);
        } else if !grace_line {
            for i in 0..self.n {
                let bit = 1u8.checked_shl(i as u32).unwrap_or(0);
                if dl.u_null & bit != 0 {
                    if let Some(s) = self.spines.get_mut(i) {
                        if s.kind == Kind::Unknown {
                            s.kind = Kind::Dynam;
                        }
                    }
                }
            }
        }
        if !self.rhythm {
            if dl.grace_seen && dl.real_seen {
                note(sink, line, || "grace notes and timed notes on one line".to_string());
                for s in self.spines.iter_mut().take(self.n).filter(|s| s.kind == Kind::Kern) {
                    s.ok = false;
                }
            }
            if !dl.grace_seen {
                for i in 0..self.n {
                    let bit = 1u8.checked_shl(i as u32).unwrap_or(0);
                    if dl.due_null & bit != 0 {
                        let Some(s) = self.spines.get_mut(i) else { continue };
                        s.ok = false;
                        if s.stalled {
                            continue; // reported when it stalled
                        }
                        s.stalled = true;
                        let t = dl.t;
                        note(sink, line, || {
                            format!(
                                "spine {}: `.` at {} where the previous note has ended (a note or rest is missing)",
                                i + 1,
                                frac(t)
                            )
                        });
                    }
                }
            }
        }
        if dl.real_seen {
            self.grace_run = 0;
            self.interp_run = 0;
        } else if grace_line {
            self.grace_run = self.grace_run.saturating_add(1);
            self.grace_bar = self.grace_bar.saturating_add(1);
        }
        self.prev = Prev::Data;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // For the checker
    // -----------------------------------------------------------------------------------------

    /// Starts a new line with another number of fields, keeping what is known of the others
    /// (recovery after a structure error).
    fn force_spines(&mut self, c: usize) {
        let c = c.min(MAX_SPINES);
        if self.n == 0 || c == self.n {
            return;
        }
        let t = self.kern_ends().min().unwrap_or(0);
        for i in self.n..c {
            if let Some(s) = self.spines.get_mut(i) {
                *s = Spine { kind: Kind::Unknown, end: t, ok: false, stalled: false };
            }
        }
        self.n = c;
    }
}

/// The incremental grammar (see the module documentation).
#[derive(Clone, Debug)]
pub struct Grammar {
    core: Core,
    issues: Vec<RhythmIssue>,
}

impl Grammar {
    /// State at the start of a sample: at the start of a line and of a measure, spine count not
    /// yet known (the first line fixes it, within 2..=8 fields).
    pub fn new(opts: GrammarOptions) -> Self {
        Grammar { core: Core::new(&opts), issues: Vec::new() }
    }

    /// Whether a grammar with rhythm on can constrain sampling from `vocab` (a model's
    /// characters) with `meter` as its meter (see [`GrammarOptions::meter`]): then from every
    /// state it reaches, some character of `vocab` is allowed. The minimum is
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
    pub fn supports(vocab: &[char], meter: (u32, u32)) -> Result<(), String> {
        let missing: Vec<char> = "\t\n@.*-".chars().filter(|c| !vocab.contains(c)).collect();
        if !missing.is_empty() {
            return Err(format!(
                "the vocabulary lacks {missing:?}, which the **kern grammar needs"
            ));
        }
        if !vocab.iter().any(|c| matches!(c, 'a'..='g' | 'A'..='G')) {
            return Err("the vocabulary has no pitch letter (a-g, A-G)".into());
        }
        let m = normal_meter(meter);
        let ticks = meter_ticks(m.0 as u32, m.1 as u32).unwrap_or(TPW);
        if !DurSet::for_vocab(Some(vocab)).fillable(ticks) {
            return Err(format!(
                "the durations the vocabulary's digits can write cannot fill a measure of {}/{}",
                m.0, m.1
            ));
        }
        Ok(())
    }

    /// A grammar for the body of a full **kern file whose header gave the spine kinds
    /// (`**kern` is [`Kind::Kern`], `**dynam` [`Kind::Dynam`], others [`Kind::Other`]).
    pub(crate) fn with_spines(opts: GrammarOptions, kinds: &[Kind]) -> Self {
        let mut g = Grammar::new(opts);
        let n = kinds.len().min(MAX_SPINES);
        for (s, &k) in g.core.spines.iter_mut().zip(kinds) {
            *s = Spine { kind: k, ..SPINE0 };
        }
        g.core.n = n;
        g
    }

    /// Whether `c` may come next and still lead to a valid score. Does not allocate.
    #[inline]
    pub fn allows(&self, c: char) -> bool {
        let mut k = self.core;
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

    pub(crate) fn push_detailed(&mut self, c: char) -> Result<(), (Fail, usize, usize)> {
        let mut k = self.core;
        let before = self.issues.len();
        match k.step(c, &mut Some(&mut self.issues)) {
            Ok(()) => {
                self.core = k;
                Ok(())
            }
            Err(f) => {
                self.issues.truncate(before);
                Err((f, self.core.line_no, self.core.col))
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
        matches!(self.core.pos, Pos::LineStart)
            && self.core.at_measure_start()
            && !(self.core.rhythm && self.core.must_end)
    }

    /// Fields per line in force (0 until the first line of a piece fixed it).
    pub fn spines(&self) -> usize {
        self.core.n
    }

    /// The meter in force.
    pub fn meter(&self) -> (u32, u32) {
        (self.core.meter.0 as u32, self.core.meter.1 as u32)
    }

    /// Whether the rhythm rules are enforced now.
    pub fn rhythm(&self) -> bool {
        self.core.rhythm
    }

    /// Turns the rhythm rules off (at once) or on: at once at the start of a line at the start
    /// of a measure, otherwise from the next barline on. With them off the grammar accepts any
    /// rhythm and keeps counting. A test can thus feed a real score measure by measure with
    /// rhythm on, and on a refusal go back to the measure's start (a clone), feed that measure
    /// with rhythm off and turn it on again.
    pub fn set_rhythm(&mut self, on: bool) {
        if !on {
            self.core.rhythm = false;
            self.core.rhythm_pending = false;
            self.core.must_end = false;
        } else if !self.core.rhythm {
            if matches!(self.core.pos, Pos::LineStart) && self.core.at_measure_start() {
                self.core.rhythm = true;
                self.core.pending_short = None;
            } else {
                self.core.rhythm_pending = true;
            }
        }
    }

    /// The end of the text: a short measure still waiting for `*-` was not the last of its
    /// piece after all (rhythm off).
    pub(crate) fn finish(&mut self) {
        let mut sink = Some(&mut self.issues);
        self.core.resolve_short(&mut sink);
    }

    pub(crate) fn stats(&self) -> Stats {
        self.core.stats
    }

    pub(crate) fn issues(&self) -> &[RhythmIssue] {
        &self.issues
    }

    pub(crate) fn line_no(&self) -> usize {
        self.core.line_no
    }

    /// Other caps on grace-note lines and interpretation lines, since the last timed line and
    /// in a measure (tests).
    #[cfg(test)]
    pub(crate) fn set_caps(&mut self, grace: (u32, u32), interp: (u32, u32)) {
        (self.core.grace_cap, self.core.grace_bar_cap) = grace;
        (self.core.interp_cap, self.core.interp_bar_cap) = interp;
    }

    pub(crate) fn set_generic_interp(&mut self, on: bool) {
        self.core.generic_interp = on;
    }

    /// Feeds one line (without its newline); on a refusal, returns what broke which rule at
    /// which column and leaves the state as before the line.
    pub(crate) fn try_line(&mut self, line: &str) -> Result<(), (Fail, usize)> {
        let saved = self.core;
        let before = self.issues.len();
        for c in line.chars().chain(std::iter::once('\n')) {
            if let Err((f, _, col)) = self.push_detailed(c) {
                self.core = saved;
                self.issues.truncate(before);
                return Err((f, col));
            }
        }
        Ok(())
    }

    /// After [`Grammar::try_line`] refused `line`, feeds the closest acceptable line instead
    /// (tokens the grammar refuses become `.` or `*`, a different field count becomes the new
    /// spine count), or skips it, so that a checker can go on. Rhythm problems of the
    /// replacement line are not recorded (the line already has an error); meant for rhythm off.
    pub(crate) fn resync_line(&mut self, line: &str) {
        let before = self.issues.len();
        self.resync_inner(line);
        self.issues.truncate(before);
    }

    fn resync_inner(&mut self, line: &str) {
        if line == "@" || line.starts_with('@') {
            if self.try_line("@").is_err() {
                self.skip_line();
            }
            return;
        }
        let interp = line.starts_with('*');
        let null = if interp { "*" } else { "." };
        let mut fields: Vec<String> = line
            .split('\t')
            .map(|f| {
                let bad = f.is_empty() || (interp != f.starts_with('*'));
                if bad {
                    null.to_string()
                } else {
                    f.to_string()
                }
            })
            .collect();
        if fields.len() > MAX_SPINES || line.is_empty() {
            self.skip_line();
            return;
        }
        if self.core.prev == Prev::Term {
            self.core.prev = Prev::Barline;
            self.core.bar_seen = true;
        }
        if self.core.n > 0 && fields.len() != self.core.n {
            if fields.len() < 2 {
                self.skip_line();
                return;
            }
            self.core.force_spines(fields.len());
        }
        if self.core.n == 0 && fields.len() < 2 {
            self.skip_line();
            return;
        }
        for attempt in 0..=fields.len() + 1 {
            let text = fields.join("\t");
            match self.try_line(&text) {
                Ok(()) => return,
                Err((_, col)) => {
                    if attempt == fields.len() + 1 {
                        break;
                    }
                    // the field holding the column
                    let mut at = 0;
                    let mut seen = 0;
                    for (k, f) in fields.iter().enumerate() {
                        let len = f.chars().count() + 1;
                        if col <= seen + len {
                            at = k;
                            break;
                        }
                        seen += len;
                        at = k;
                    }
                    match fields.get_mut(at) {
                        Some(f) if f != null => *f = null.to_string(),
                        _ => fields.iter_mut().for_each(|f| *f = null.to_string()),
                    }
                }
            }
        }
        self.skip_line();
    }

    fn skip_line(&mut self) {
        self.core.new_line();
    }
}

/// Helpers for the tests of this module and of the checker.
#[cfg(test)]
pub(crate) mod tests_support {
    use std::path::Path;

    /// The prepared text of a corpus file (the recipe of `prep`).
    pub(crate) fn prepared(path: &Path) -> Option<String> {
        crate::kern::prepare_text(&std::fs::read_to_string(path).ok()?)
    }

    /// The corpus's .krn files, sorted (none when it is not there).
    pub(crate) fn corpus_files() -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for dir in ["mozart", "beethoven"] {
            let d = Path::new("/work/shared/corpus").join(dir);
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.flatten() {
                    if e.path().extension().is_some_and(|x| x == "krn") {
                        files.push(e.path());
                    }
                }
            }
        }
        files.sort();
        files
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::{corpus_files, prepared};
    use super::*;
    use std::path::Path;

    fn strict() -> Grammar {
        Grammar::new(GrammarOptions::default())
    }

    fn accepts(g: &mut Grammar, s: &str) -> Result<(), GrammarError> {
        g.push_str(s)
    }

    #[test]
    fn a_simple_piece() {
        let mut g = strict();
        let text = "@\n4c\t4e\tp\n4d\t4f\t.\n2e\t2g\t.\n@\n*-\t*-\t*-\n@\n";
        accepts(&mut g, text).unwrap();
        assert_eq!(g.spines(), 0);
        assert!(g.at_line_start());
    }

    #[test]
    fn rejects_with_positions() {
        let mut g = strict();
        g.push_str("@\n4c\t4e\tp\n").unwrap();
        // the first spine's quarter note has ended: `.` is not allowed
        // both notes end together: `.` in the first field would make a grace line, but not
        // in the last due field too
        let e = g.push_str("4d\t4f\tp\n.\t.").unwrap_err();
        assert_eq!((e.line, e.column), (4, 3), "{e}");
        let mut g = strict();
        g.push_str("@\n4c\t4e\tp\n").unwrap();
        // a whole note does not fit in the 3/4 left; it could only be a grace note, but those
        // are written 8 or shorter
        let e = g.push_str("1c").unwrap_err();
        assert_eq!((e.line, e.column), (3, 2), "{e}");
        assert!(
            g.allows('2') && g.allows('4') && g.allows('6') && !g.allows('.') && !g.allows('c')
        );
        g.push_str("6").unwrap();
        assert!(g.allows('c'), "16c");
    }

    #[test]
    fn rhythm_rules() {
        let mut g = strict();
        g.push_str("@\n1c\t1e\tp\n@\n2c\t4e\tp\n").unwrap();
        // spine 1 sounds: `.`; spine 2 is due: a note
        assert!(!g.allows('4'));
        assert!(g.allows('.'));
        g.push_str(".\t").unwrap();
        // spine 2 is the only due spine: `.` would need a grace note in a later field
        assert!(!g.allows('.'));
        // barline only when both spines are at the same time
        assert!(g.clone().push_str("4f\t.\n").is_ok());
        assert!(g.clone().push_str("8f\t.\n@").is_err());
        g.push_str("4f\t.\n").unwrap();
        g.push_str("2c\t2e\t.\n").unwrap();
        assert!(g.allows('@'));
        g.push_str("@\n").unwrap();
        assert!(!g.allows('@'), "no empty measure right after a barline");
        assert!(g.at_line_start());
    }

    #[test]
    fn pickup_and_short_last_measure() {
        let mut g = strict();
        g.push_str("@\n4c\t4e\t.\n@\n").unwrap(); // pickup
        g.push_str("1c\t1e\t.\n@\n4c\t4e\t.\n").unwrap();
        assert!(g.allows('@'));
        g.push_str("@\n").unwrap();
        // a short measure must be the last: no data now
        assert!(!g.allows('4') && !g.allows('.') && !g.allows('@'));
        g.push_str("*\t*\t*\n*-\t*-\t*-\n@\n").unwrap();
    }

    #[test]
    fn grace_lines() {
        let mut g = strict();
        g.push_str("@\n4c\t4e\t.\n").unwrap();
        g.push_str(".\t16ffq\t.\n").unwrap();
        g.push_str("4c\t4e\t.\n").unwrap();
        // a line with only `.` in due spines is refused
        let mut h = g.clone();
        assert!(h.push_str(".\t.\t.\n").is_err());
        // grace note in a spine that still sounds: refused
        let mut g = strict();
        g.push_str("@\n2c\t4e\t.\n").unwrap();
        assert!(g.clone().push_str("8cq\t").is_err());
    }

    #[test]
    fn chords_and_tuplets() {
        let mut g = strict();
        g.push_str("@\n4c 4e 4g\t12cc\t.\n.\t12dd\t.\n.\t12ee\t.\n2.c\t2.g\t.\n@\n").unwrap();
        let mut g = strict();
        g.push_str("@\n4c\t").unwrap();
        // chord notes share the duration
        g.push_str("4e").unwrap();
        assert!(g.allows(' '));
        g.push(' ').unwrap();
        assert!(!g.allows('8') && g.allows('4'));
    }

    #[test]
    fn spine_manipulation() {
        let mut g = strict();
        g.push_str("@\n*\t*^\t*\n").unwrap();
        assert_eq!(g.spines(), 4);
        g.push_str("1c\t2e\t1g\tp\n.\t2f\t.\t.\n@\n").unwrap();
        assert!(g.clone().push_str("*v\t*\t").is_err(), "a lone *v");
        assert!(g.clone().push_str("*\t*\t*v\t*v").is_err(), "kern and dynam do not merge");
        assert!(g.clone().push_str("*v\t*v\t*v\t*\n").is_ok(), "three kern spines merge");
        g.push_str("*\t*v\t*v\t*\n").unwrap();
        assert_eq!(g.spines(), 3);
        assert!(g.clone().push_str("*^\t*clefG2").is_err());
        assert!(g.clone().push_str("*\t*\t*v").is_err());
    }

    #[test]
    fn meters() {
        let mut g = strict();
        g.push_str("@\n*M3/4\t*M3/4\t*M3/4\n2.c\t2.e\t.\n@\n").unwrap();
        assert_eq!(g.meter(), (3, 4));
        assert!(g.clone().push_str("*M3/4\t*M2").is_err(), "one meter per line");
        g.push_str("4c\t4e\t.\n").unwrap();
        assert!(g.clone().push_str("*M2/4").is_err(), "no meter change inside a measure");
        // end of piece: back to the default meter
        let mut g = strict();
        g.push_str("@\n*M3/4\t*\t*\n2.c\t2.e\t.\n@\n*-\t*-\t*-\n@\n").unwrap();
        assert_eq!(g.meter(), (4, 4));
    }

    #[test]
    fn first_line_layouts() {
        // 4 fields: kern, undecided, kern, dynam
        let mut g = strict();
        g.push_str("@\n4c\t.\t4e\tp\n").unwrap();
        assert_eq!(g.core.spine(1).kind, Kind::Dynam);
        let mut g = strict();
        g.push_str("@\n4c\t4g\t4e\tp\n").unwrap();
        assert_eq!(g.core.spine(1).kind, Kind::Kern);
        // 3 fields: the last is dynam
        let mut g = strict();
        assert!(g.push_str("@\n4c\t4e\t4g\n").is_err());
        assert!(Grammar::new(GrammarOptions::default()).push_str("@\n4c\n").is_err());
    }

    #[test]
    fn terminator_only_at_a_barline() {
        let mut g = strict();
        g.push_str("@\n1c\t1e\t.\n").unwrap();
        assert!(g.clone().push_str("*-").is_err());
        g.push_str("@\n").unwrap();
        g.push_str("*-\t*-\t*-\n").unwrap();
        assert!(!g.allows('4') && !g.allows('*') && g.allows('@'));
        g.push_str("@\n4c\t4e\n").unwrap();
        assert_eq!(g.spines(), 2);
    }

    #[test]
    fn allowed_mask_and_odd_input() {
        let g = strict();
        let chars = ['@', '4', '*', '\t', '\n', 'é', '.'];
        let mut out = [true; 7];
        g.allowed_mask(&chars, &mut out);
        assert_eq!(out, [true, true, true, false, false, false, true]);
        let mut short = [false; 2];
        g.allowed_mask(&chars, &mut short);
        assert_eq!(short, [true, true]);
        // anything may be pushed: refusals, never a panic
        let mut seed = 99u64;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let c = char::from_u32((seed >> 40) as u32 % 300).unwrap_or('x');
            let _ = g.clone().push(c);
        }
        let mut h = Grammar::new(GrammarOptions { rhythm: false, ..GrammarOptions::default() });
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let c = char::from_u32((seed >> 40) as u32 % 130).unwrap_or('x');
            let _ = h.push(c);
        }
    }

    #[test]
    fn at_most_eight_spines() {
        let mut g = strict();
        g.push_str("@\n*\t*\t*\t*\t*\t*\t*\n").unwrap();
        assert_eq!(g.spines(), 7);
        assert!(g.clone().push_str("*^\t*^").is_err());
        g.push_str("*^\t*\t*\t*\t*\t*\t*\n").unwrap();
        assert_eq!(g.spines(), 8);
        assert!(g.clone().push_str("*^").is_err());
        assert!(g.clone().push_str("*\t*\t*\t*\t*\t*\t*\t*\n").is_ok());
        // 5 fields: kern, undecided x3, dynam
        let mut g = strict();
        g.push_str("@\n4c\t4e\t.\tp\t.\n").unwrap();
        let kinds: Vec<Kind> = (0..5).map(|i| g.core.spine(i).kind).collect();
        assert_eq!(kinds, [Kind::Kern, Kind::Kern, Kind::Dynam, Kind::Dynam, Kind::Dynam]);
    }

    #[test]
    fn grace_line_at_the_end_of_a_measure() {
        let mut g = strict();
        g.push_str("@\n1c\t1e\t.\n@\n1c\t1e\t.\n.\t16ddq\t.\n@\n").unwrap();
        // a grace line needs a grace note; chords of grace notes
        g.push_str("8cq 8eq\t.\t.\n1c\t1e\t.\n").unwrap();
    }

    #[test]
    fn vocabularies_without_0_and_7() {
        let mozart: Vec<char> = MOZART_CHARS.chars().collect();
        let mut g =
            Grammar::new(GrammarOptions { vocab: Some(mozart), ..GrammarOptions::default() });
        g.push_str("@\n4c\t").unwrap();
        // 20 cannot be written: `2` leads to 2, 22, 24, 28 only
        g.push('2').unwrap();
        assert!(!g.allows('0') && g.allows('4'));
        let mut full = strict();
        full.push_str("@\n4c\t2").unwrap();
        assert!(full.allows('0'));
    }

    // ---- runaways -------------------------------------------------------------------------

    #[test]
    fn grace_lines_cannot_run_on() {
        let mut g = strict();
        g.push_str("@\n4c\t4e\t.\n").unwrap();
        for _ in 0..MAX_GRACE_LINES_PER_MEASURE / 2 {
            g.push_str(".\t16ffq\t.\n").unwrap();
        }
        g.push_str("4d\t4f\t.\n").unwrap();
        for _ in 0..MAX_GRACE_LINES_PER_MEASURE / 2 {
            g.push_str(".\t16ffq\t.\n").unwrap();
        }
        // the cap of the measure is reached: the next lines must take time
        assert!(g.clone().push_str(".\t16ffq").is_err());
        assert!(g.clone().push_str("8cq").is_err());
        assert!(!g.allows('.'));
        g.push_str("4d\t4f\t.\n").unwrap();
        assert!(!g.allows('.'));
        g.push_str("4d\t4f\t.\n@\n").unwrap();
        // a new measure
        g.push_str(".\t16ffq\t.\n").unwrap();
        // at a full measure only the barline is left
        let mut g = strict();
        g.push_str("@\n2c\t2e\t.\n").unwrap();
        for _ in 0..MAX_GRACE_LINES_PER_MEASURE {
            g.push_str(".\t16ffq\t.\n").unwrap();
        }
        g.push_str("2c\t2e\t.\n").unwrap();
        let all: Vec<char> = CORPUS_CHARS.chars().collect();
        let mut mask = vec![false; all.len()];
        g.allowed_mask(&all, &mut mask);
        let allowed: String = all.iter().zip(&mask).filter(|p| *p.1).map(|p| *p.0).collect();
        assert_eq!(allowed, "*@");
        // empty measures of grace notes (`@`, grace line, `@`, ...) do not go on either
        let mut g = strict();
        g.push_str("@\n1c\t1e\t.\n@\n").unwrap();
        let mut n = 0;
        while g.push_str(".\t16ffq\t.\n@\n").is_ok() {
            n += 1;
            assert!(n < 10_000, "grace lines and barlines go on forever");
        }
        assert_eq!(n, MAX_GRACE_LINES);
    }

    #[test]
    fn interpretation_lines_cannot_run_on() {
        let mut g = strict();
        g.push_str("@\n4c\t4e\t.\n").unwrap();
        for _ in 0..MAX_INTERP_LINES {
            g.push_str("*clefG2\t*\t*\n").unwrap();
        }
        // inside a measure: no more interpretation lines, a note line
        assert!(!g.allows('*'));
        g.push_str("4c\t4e\t.\n").unwrap();
        g.push_str("*clefG2\t*\t*\n").unwrap();
        // at a barline the cap leaves `*-` (and the new piece's first line must take time)
        let mut g = strict();
        g.push_str("@\n1c\t1e\t.\n@\n").unwrap();
        for _ in 0..MAX_INTERP_LINES {
            g.push_str("*\t*\t*\n").unwrap();
        }
        assert!(g.allows('*') && g.allows('1'));
        assert!(g.clone().push_str("*\t").is_err());
        assert!(g.clone().push_str("*clefG2").is_err());
        g.push_str("*-\t*-\t*-\n@\n").unwrap();
        assert!(!g.allows('*'));
        g.push_str("4c\t4e\n").unwrap();
        // `@`, `*` lines, `@`, `*-`, `@`, ... (measures without time) end too
        let mut g = strict();
        g.push_str("@\n1c\t1e\t.\n@\n").unwrap();
        let mut n = 0;
        while g.push_str("*\t*\t*\n@\n").is_ok() {
            n += 1;
            assert!(n < 10_000, "interpretation lines and barlines go on forever");
        }
        assert!(n <= MAX_INTERP_LINES, "{n}");
        // interpretation lines between notes, at most so many in a measure
        let mut g = strict();
        g.push_str("@\n").unwrap();
        let mut n = 0;
        while g.push_str("*clefG2\t*\t*\n16c\t16e\t.\n").is_ok() {
            n += 1;
        }
        assert_eq!(n, MAX_INTERP_LINES_PER_MEASURE);
        assert!(!g.allows('*'));
        g.push_str("4.c\t4.e\t.\n@\n").unwrap();
        assert!(g.allows('*'));
    }

    #[test]
    fn beams_and_signs_are_capped_per_note() {
        let mut g = strict();
        g.push_str("@\n").unwrap();
        assert!(g.clone().push_str("128bLJJLLLLLJJJJq").is_err());
        assert!(g.clone().push_str("16cLJ").is_err());
        assert!(g.clone().push_str("16cLLLLLLL").is_err());
        g.push_str("(128AQ\\LLLLLL\t.\t.\n").unwrap();
    }

    // ---- vocabularies ---------------------------------------------------------------------

    /// The structural characters every vocabulary must have (see [`Grammar::supports`]).
    const BASICS: &str = "\t\n@.*-";

    #[test]
    fn only_the_durations_the_vocabulary_writes() {
        let v: Vec<char> = format!("{BASICS}48cr").chars().collect();
        let set = DurSet::for_vocab(Some(&v));
        assert_eq!(set.ticks(16, 0), None);
        assert_eq!(set.ticks(48, 0), Some(TPW / 48));
        assert_eq!(set.ticks(8, 1), Some(TPW * 3 / 16));
        // after a 48th, 47/48 are left: the grammar only offers what 4 and 8 can fill
        let mut g =
            Grammar::new(GrammarOptions { vocab: Some(v.clone()), ..GrammarOptions::default() });
        g.push_str("@\n48c\t4c\t.\n").unwrap();
        assert!(v.iter().any(|&c| g.allows(c)));
        assert!(Grammar::supports(&v, (4, 4)).is_ok());
        assert!(Grammar::supports(&v, (5, 32)).is_ok(), "48. and 8");
        assert!(Grammar::supports(&v, (1, 64)).is_err(), "a 64th needs 64ths or 128ths");
        let no_tab: Vec<char> = "\n@.*-4c".chars().collect();
        assert!(Grammar::supports(&no_tab, (4, 4)).is_err());
        let no_pitch: Vec<char> = format!("{BASICS}4r").chars().collect();
        assert!(Grammar::supports(&no_pitch, (4, 4)).is_err());
    }

    /// Random vocabularies with the basics: random walks never meet a state where no character
    /// of the vocabulary is allowed, and their text passes the checker.
    #[test]
    fn random_vocabularies_never_dead_end() {
        let all: Vec<char> = CORPUS_CHARS.chars().collect();
        let seeds: u64 =
            std::env::var("VOCAB_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(240);
        let (mut walked, mut bars) = (0, 0);
        for seed in 0..seeds {
            let mut rng = Lcg(seed.wrapping_mul(7919) + 17);
            let keep = [10, 5, 3, 2][(seed % 4) as usize];
            let mut chars: Vec<char> = all
                .iter()
                .copied()
                .filter(|&c| BASICS.contains(c) || rng.next().is_multiple_of(keep))
                .collect();
            if !chars.iter().any(|c| "abcdefgABCDEFG".contains(*c)) {
                chars.push(['c', 'G', 'e', 'B'][(rng.next() % 4) as usize]);
            }
            if !chars.iter().any(|c| ('1'..='9').contains(c)) {
                chars.push(['1', '2', '4', '8', '3', '6'][(rng.next() % 6) as usize]);
            }
            let meter =
                [(4, 4), (3, 4), (6, 8), (2, 2), (3, 8), (5, 16), (2, 4)][(seed / 4 % 7) as usize];
            if Grammar::supports(&chars, meter).is_err() {
                continue;
            }
            walked += 1;
            let steps = if seed % 5 == 0 { 4000 } else { 1500 };
            // a third of the walks with tiny caps, to reach them often (0: none at all)
            let caps = (seed % 3 == 2).then(|| {
                let (grace, interp) = ((seed / 3 % 5) as u32, (seed / 15 % 3) as u32);
                let bar = (seed / 45 % 3) as u32;
                ((grace, grace.min(bar + 1)), (interp, interp.min(bar)))
            });
            let text = random_walk_capped(seed, steps, &chars, meter, caps);
            bars += agrees_with_checker(&text, meter, &chars, seed);
        }
        eprintln!("random vocabularies: {walked} of {seeds} supported, {bars} measures");
        assert!(walked * 2 > seeds as usize, "{walked}");
    }

    #[test]
    fn lenient_records_rhythm() {
        let mut g = Grammar::new(GrammarOptions { meter: (4, 4), rhythm: false, vocab: None });
        g.push_str("@\n4c\t4e\t.\n.\t4e\t.\n@\n").unwrap();
        assert_eq!(g.issues().len(), 2, "{:?}", g.issues());
        assert_eq!(g.stats(), Stats { measures: 1, spine_measures: 2, full: 0 });
    }

    /// The characters of the prepared corpus (both composers).
    const CORPUS_CHARS: &str =
        "\t\n #&'()*-./0123456789:;<>@ABCDEFGHIJKLMPQSTVWX[\\]^_`abcdefghklmnpqrtvwxyz|";
    /// Those of the Beethoven half only.
    const BEETHOVEN_CHARS: &str =
        "\t\n #&'()*-./0123456789:;<>@ABCDEFGHIJKLMPQSTVWX[\\]^_`abcdefghklmnpqrtvxyz";
    /// Those of the Mozart half only (no `0`, no `7`).
    const MOZART_CHARS: &str =
        "\t\n #&'()*-./12345689:;<>@ABCDEFGHIJKLMQSTWX[\\]^_abcdefgklmnpqrtvwy|";

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    fn random_walk(seed: u64, steps: usize, chars: &[char], meter: (u32, u32)) -> String {
        random_walk_capped(seed, steps, chars, meter, None)
    }

    /// A random walk, with other caps on grace-note and interpretation lines if given.
    fn random_walk_capped(
        seed: u64,
        steps: usize,
        chars: &[char],
        meter: (u32, u32),
        caps: Option<((u32, u32), (u32, u32))>,
    ) -> String {
        let mut g =
            Grammar::new(GrammarOptions { meter, rhythm: true, vocab: Some(chars.to_vec()) });
        if let Some((grace, interp)) = caps {
            g.set_caps(grace, interp);
        }
        let mut rng = Lcg(seed);
        let mut text = String::from("@\n");
        g.push_str(&text).unwrap();
        let mut allowed = Vec::with_capacity(chars.len());
        for step in 0..steps {
            allowed.clear();
            allowed.extend(chars.iter().copied().filter(|&c| g.allows(c)));
            assert!(
                !allowed.is_empty(),
                "seed {seed} step {step}: dead end after {text:?}\nvocabulary {:?}\n{:?}",
                chars.iter().collect::<String>(),
                g.core
            );
            // every other seed leans towards the characters that move through measures
            // A third of the seeds walk uniformly, a third lean on everything that shapes
            // measures, a third weigh towards barlines, line ends and plain notes (reaching
            // many barlines).
            let c = match seed / 3 % 3 {
                0 => allowed[(rng.next() % allowed.len() as u64) as usize],
                1 => {
                    let lean: Vec<char> = allowed
                        .iter()
                        .copied()
                        .filter(|c| "\t\n@.r12345689cegq*-^v".contains(*c))
                        .collect();
                    let pool = if !lean.is_empty() && !rng.next().is_multiple_of(16) {
                        &lean
                    } else {
                        &allowed
                    };
                    pool[(rng.next() % pool.len() as u64) as usize]
                }
                _ => {
                    let after_digit = text.ends_with(|c: char| c.is_ascii_digit());
                    let after_dur =
                        after_digit || text.ends_with(|c: char| c.is_ascii_digit() || c == '.');
                    let weight = |c: char| -> u64 {
                        match c {
                            '@' => 400,
                            '\n' | '\t' => 100,
                            '2' | '4' | '8' if !after_digit => 30,
                            '0'..='9' => 8,
                            'c' | 'e' | 'r' if after_dur => 30,
                            '.' => 10,
                            'q' | '*' | '-' => 5,
                            _ => 1,
                        }
                    };
                    let total: u64 = allowed.iter().map(|&c| weight(c)).sum();
                    let mut u = rng.next() % total.max(1);
                    let mut pick = allowed[0];
                    for &c in &allowed {
                        if u < weight(c) {
                            pick = c;
                            break;
                        }
                        u -= weight(c);
                    }
                    pick
                }
            };
            g.push(c).unwrap_or_else(|e| panic!("allowed but refused: {e} after {text:?}"));
            text.push(c);
        }
        text
    }

    #[test]
    fn random_walks_never_dead_end_and_pass_the_checker() {
        let beethoven: Vec<char> = BEETHOVEN_CHARS.chars().collect();
        let full: Vec<char> = CORPUS_CHARS.chars().collect();
        let mozart: Vec<char> = MOZART_CHARS.chars().collect();
        let mut bars = 0;
        let seeds: u64 =
            std::env::var("WALK_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
        for seed in 0..seeds {
            let chars = [&full, &mozart, &beethoven][(seed % 3) as usize];
            let meter = [(4, 4), (3, 4), (6, 8), (2, 2), (5, 16)][(seed % 5) as usize];
            let steps = if seed / 3 % 3 == 0 { 3000 } else { 12_000 };
            let text = random_walk(seed, steps, chars, meter);
            bars += agrees_with_checker(&text, meter, chars, seed);
        }
        eprintln!("random walks: {bars} measures");
    }

    /// The meter and spine kinds of a file's header.
    fn header_meter(path: &Path) -> (u32, u32) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for line in text.lines() {
            if line.starts_with('=') {
                break;
            }
            if let Some(m) = line.split('\t').find_map(|f| f.strip_prefix("*M")) {
                if let Some((a, b)) = m.split_once('/') {
                    if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                        return (a, b);
                    }
                }
            }
        }
        (4, 4)
    }

    /// Cuts a walk at its last complete line, ends the piece after a short last measure, and
    /// checks that the checker finds nothing wrong. Returns the measures.
    fn agrees_with_checker(text: &str, meter: (u32, u32), chars: &[char], seed: u64) -> usize {
        let cut = text.rfind('\n').map_or(0, |i| i + 1);
        let mut text = text[..cut].to_string();
        let mut g =
            Grammar::new(GrammarOptions { meter, rhythm: true, vocab: Some(chars.to_vec()) });
        g.push_str(&text).unwrap();
        if g.core.must_end {
            assert!(!g.at_line_start());
            let end = vec!["*-"; g.spines()].join("\t") + "\n";
            g.push_str(&end).unwrap();
            text.push_str(&end);
        }
        let report = super::super::check::check_prepared(&text, meter);
        let bad: Vec<_> = report.diagnostics.iter().take(5).collect();
        assert!(report.diagnostics.is_empty(), "seed {seed}: {bad:?}\n{text}");
        report.measures
    }

    /// Many short walks over a small alphabet: the corners of the first lines of a piece.
    #[test]
    fn short_walks_never_dead_end() {
        // each with the characters every vocabulary of the corpus has for the forced spots:
        // line and field ends, `.`, `@`, `*`, `:` (keys), `q` (grace notes), digits but `0`/`7`
        let base = ".\t\n@*:q12345689c";
        let alphabets =
            [format!("{base}pf<r^v-e "), format!("{base}^v-p Q7"), format!("{base}M/r[]()v^-0")];
        let seeds: u64 =
            std::env::var("SHORT_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3000);
        for seed in 0..seeds {
            let chars: Vec<char> = alphabets[(seed % 3) as usize].chars().collect();
            let meter = [(2, 4), (3, 8), (1, 16), (4, 4)][(seed / 3 % 4) as usize];
            let mut g =
                Grammar::new(GrammarOptions { meter, rhythm: true, vocab: Some(chars.clone()) });
            let mut rng = Lcg(seed);
            let mut text = String::new();
            for step in 0..120 {
                let allowed: Vec<char> = chars.iter().copied().filter(|&c| g.allows(c)).collect();
                assert!(!allowed.is_empty(), "seed {seed} step {step}: dead end after {text:?}");
                let c = allowed[(rng.next() % allowed.len() as u64) as usize];
                g.push(c).unwrap();
                text.push(c);
            }
            agrees_with_checker(&text, meter, &chars, seed);
        }
    }

    #[test]
    fn the_real_corpus_is_accepted() {
        let files = corpus_files();
        if files.is_empty() {
            eprintln!("corpus not found: skipped");
            return;
        }
        let (mut lines, mut measures, mut strict_ok) = (0usize, 0usize, 0usize);
        let mut spine_measures = (0usize, 0usize);
        let mut whole = String::new();
        for path in &files {
            let Some(text) = prepared(path) else { continue };
            whole.push_str(&text);
            let meter = header_meter(path);
            // structure and tokens: every line, rhythm off
            let mut g = Grammar::new(GrammarOptions { meter, rhythm: false, vocab: None });
            if let Err(e) = g.push_str(&text) {
                panic!("{}: {e}", path.display());
            }
            lines += text.lines().count();
            spine_measures.0 += g.stats().full;
            spine_measures.1 += g.stats().spine_measures;
            // rhythm: measure by measure, falling back to rhythm off for refused measures
            let mut g = Grammar::new(GrammarOptions { meter, rhythm: true, vocab: None });
            let mut chunk = String::new();
            for line in text.split_inclusive('\n') {
                chunk.push_str(line);
                if line != "@\n" {
                    continue;
                }
                let mut trial = g.clone();
                trial.set_rhythm(true);
                let has_time = chunk.lines().any(|l| !l.starts_with('*') && l != "@");
                if trial.push_str(&chunk).is_ok() {
                    g = trial;
                    if has_time {
                        strict_ok += 1;
                    }
                } else {
                    g.set_rhythm(false);
                    g.push_str(&chunk).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    g.set_rhythm(true);
                }
                if has_time {
                    measures += 1;
                }
                chunk.clear();
            }
        }
        // the concatenated corpus (pieces after `*-`) as one text
        let mut g = Grammar::new(GrammarOptions { meter: (4, 4), rhythm: false, vocab: None });
        g.push_str(&whole).unwrap();
        // ... within the cap on interpretation lines of a sampling grammar (rhythm off)
        let mut g = Grammar::new(GrammarOptions { meter: (4, 4), rhythm: true, vocab: None });
        g.set_rhythm(false);
        g.push_str(&whole).unwrap();
        let share = strict_ok as f64 / measures as f64;
        eprintln!(
            "corpus: {lines} lines accepted; rhythm on: {strict_ok}/{measures} measures accepted ({:.2}%); \
             spine-measures adding up (rhythm off bookkeeping): {}/{}",
            share * 100.0,
            spine_measures.0,
            spine_measures.1
        );
        assert!(share >= 0.95, "{share}");
    }

    #[test]
    fn allows_is_fast() {
        // the full vocabulary (closed-form fill test) and the Mozart one (fill table)
        for (name, chars) in [("full", CORPUS_CHARS), ("mozart", MOZART_CHARS)] {
            let chars: Vec<char> = chars.chars().collect();
            let text = random_walk(7, 3000, &chars, (4, 4));
            let mut g = Grammar::new(GrammarOptions {
                vocab: Some(chars.clone()),
                ..GrammarOptions::default()
            });
            let mut states = Vec::new();
            for c in text.chars() {
                states.push(g.clone());
                g.push(c).unwrap();
            }
            let start = std::time::Instant::now();
            let mut n = 0usize;
            let mut yes = 0usize;
            for s in &states {
                for &c in &chars {
                    yes += s.allows(c) as usize;
                    n += 1;
                }
            }
            let ns = start.elapsed().as_nanos() as f64 / n as f64;
            eprintln!("allows ({name}): {ns:.1} ns per call over {n} calls ({yes} allowed)");
        }
    }
}
