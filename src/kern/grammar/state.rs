//! The grammar's whole state, small and `Copy` so that [`super::Grammar::allows`] can try a
//! character on a copy: the rules it enforces, the spines, the measure, and the cursor (where
//! in a line, field and token the text is).

use super::{structure, token, Fail, GrammarOptions, Sink};
use crate::kern::duration::DurSet;
use crate::kern::lex::{DurRule, DynTok, Families, InterpTok, KernTok};
use crate::kern::limits::{MAX_SAMPLE_SPINES, MAX_SPINES};
use crate::kern::measure::{Measure, RunCaps, Runs, Spine};
use crate::kern::meter::Meter;
use crate::kern::spine::{opening_field_kind, Kind};

/// What the grammar enforces, fixed when it is made (but rhythm, switched by
/// [`super::Grammar::set_rhythm`], and generic interpretations, by the checker for a header).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    pub rhythm: bool,
    /// Rhythm comes back on at the next barline.
    pub rhythm_pending: bool,
    /// The editions dialect ([`GrammarOptions::editions`], and a full score being checked):
    /// any `*` token is an interpretation (Humdrum's tandem interpretations are open-ended),
    /// its tokens as humlib reads them (`DurRule::EDITIONS`; sampling, only the marks that
    /// leave the rhythm alone), fields after the first decided by their tokens, lines with no
    /// note, any **dynam token, splits and merges on one line.
    pub editions: bool,
    /// Reading a complete score (`kernrnn check` on a file): a measure longer than its meter
    /// in every spine is an irregular measure, a notice (samples keep to their meter).
    pub score: bool,
    /// Durations allowed with rhythm on.
    pub durations: &'static DurSet,
    /// Grace notes can be written: the vocabulary has `q` (a token with no duration must be
    /// one, so without `q` a note must start with its duration).
    pub grace_ok: bool,
    /// The interpretation families the vocabulary can finish.
    pub families: Families,
    /// `*-` may end a piece ([`GrammarOptions::piece_ends`]).
    pub piece_ends: bool,
    /// The kinds of line that may start ([`super::Grammar::set_line_kinds`]).
    pub line_kinds: LineKinds,
}

/// Kinds of line, as a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineKinds(u8);

impl LineKinds {
    /// `@`
    pub const BARLINE: LineKinds = LineKinds(1);
    /// `*` in every field.
    pub const INTERPRETATION: LineKinds = LineKinds(2);
    /// Data with timed notes or rests.
    pub const TIMED: LineKinds = LineKinds(4);
    /// Data with grace notes only.
    pub const GRACE: LineKinds = LineKinds(8);
    pub const ALL: LineKinds = LineKinds(15);

    pub const fn with(self, o: LineKinds) -> LineKinds {
        LineKinds(self.0 | o.0)
    }

    pub fn has(self, o: LineKinds) -> bool {
        self.0 & o.0 == o.0
    }
}

/// The previous line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prev {
    Nothing,
    Barline,
    Interp,
    Data,
    Term,
}

/// The columns in force.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spines {
    /// Fields per line (0 until the first line of a piece fixed it).
    pub n: usize,
    pub at: [Spine; MAX_SPINES],
}

pub(crate) const SPINE0: Spine = Spine::new(Kind::Kern);

impl Spines {
    pub const NONE: Spines = Spines { n: 0, at: [SPINE0; MAX_SPINES] };

    pub fn get(&self, i: usize) -> Spine {
        self.at.get(i).copied().unwrap_or(Spine::new(Kind::Other))
    }

    pub fn in_force(&self) -> &[Spine] {
        self.at.get(..self.n).unwrap_or(&[])
    }

    /// When the current notes of the kern spines end.
    pub fn kern_ends(&self) -> impl Iterator<Item = u64> + '_ {
        self.in_force().iter().filter(|s| s.kind == Kind::Kern).map(|s| s.end)
    }

    /// When the current notes of the kern spines that hold time end: all but those stalled on
    /// `.` (rhythm off), unless every one is.
    pub fn timed_ends(&self) -> Vec<u64> {
        let live = |s: &&Spine| s.kind == Kind::Kern && !s.stalled;
        if self.in_force().iter().any(|s| live(&s)) {
            self.in_force().iter().filter(live).map(|s| s.end).collect()
        } else {
            self.kern_ends().collect()
        }
    }

    /// No kern spine has time in the current measure.
    pub fn at_measure_start(&self) -> bool {
        self.kern_ends().all(|e| e == 0)
    }
}

/// Where in a line the text is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pos {
    LineStart,
    /// Read `@`; a newline must follow.
    Bar,
    /// After a TAB on an interpretation line: `*` must follow.
    InterpFieldStart,
    Interp(InterpTok),
    Data(DataField),
}

/// A spine-manipulation line's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Manipulation {
    None,
    Split,
    Merge,
}

/// What an interpretation line has shown so far.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InterpLine {
    /// A cap on interpretation lines is reached: only `*-` may come.
    pub capped: bool,
    pub term: bool,
    pub manipulation: Manipulation,
    /// A token other than `*`, `*^`, `*v`, `*-`.
    pub other_seen: bool,
    /// Bit i: field i is `*^` (or `*v`).
    pub split_mask: u16,
    pub merge_mask: u16,
    pub splits: u8,
    /// The `*v` fields in a row just read, their merged kind and (kern) time.
    pub merge_run: u8,
    pub merge_kind: Kind,
    pub merge_end: u64,
    pub meter: Option<Meter>,
}

pub(crate) const INTERP_LINE: InterpLine = InterpLine {
    capped: false,
    term: false,
    manipulation: Manipulation::None,
    other_seen: false,
    split_mask: 0,
    merge_mask: 0,
    splits: 0,
    merge_run: 0,
    merge_kind: Kind::Undecided,
    merge_end: 0,
    meter: None,
};

/// Whether a data line holds timed notes or grace notes (a grace line), as far as known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Undecided,
    Normal,
    Grace,
}

/// What a data line has shown so far.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DataLine {
    /// The time the line starts at: the earliest end over the kern spines.
    pub t: u64,
    pub mode: Mode,
    pub grace_seen: bool,
    /// A timed note or rest.
    pub real_seen: bool,
    /// A due spine holds `.`: the line must be a grace line.
    pub grace_pending: bool,
    /// The last field that could carry a grace note.
    pub last_grace: usize,
    /// Bit i: due kern field i holds `.`; undecided field i holds `.`; (editions dialect)
    /// undecided field i holds a token neither **kern nor **dynam (a `**text` syllable).
    pub due_null: u16,
    pub undecided_null: u16,
    pub undecided_other: u16,
}

pub(crate) const DATA_LINE: DataLine = DataLine {
    t: 0,
    mode: Mode::Undecided,
    grace_seen: false,
    real_seen: false,
    grace_pending: false,
    last_grace: 0,
    due_null: 0,
    undecided_null: 0,
    undecided_other: 0,
};

/// A data field being read: by the kern and the dynam lexers at once while its kind is open.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DataField {
    pub empty: bool,
    pub just_dot: bool,
    pub null_ok: bool,
    pub kern_alive: bool,
    pub dyn_alive: bool,
    pub other: bool,
    pub rule: DurRule,
    pub kern: KernTok,
    pub dynam: DynTok,
}

/// Where the text is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor {
    /// 1-based line and column of the next character.
    pub line: usize,
    pub column: usize,
    pub pos: Pos,
    pub field: usize,
    pub interp: InterpLine,
    pub data: DataLine,
}

/// The whole state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct State {
    pub rules: Rules,
    pub runs: Runs,
    pub spines: Spines,
    pub measure: Measure,
    pub prev: Prev,
    pub cursor: Cursor,
}

impl State {
    pub fn new(opts: &GrammarOptions) -> Self {
        let vocab = opts.vocab.as_deref();
        State {
            rules: Rules {
                rhythm: opts.rhythm,
                rhythm_pending: false,
                editions: opts.editions,
                score: false,
                durations: DurSet::for_vocab(vocab),
                grace_ok: vocab.is_none_or(|v| v.contains(&'q')),
                families: Families::for_vocab(vocab),
                piece_ends: opts.piece_ends,
                line_kinds: LineKinds::ALL,
            },
            runs: Runs::new(if opts.rhythm { RunCaps::SAMPLING } else { RunCaps::NONE }),
            spines: Spines::NONE,
            measure: Measure { pickup: opts.pickup, ..Measure::new(opts.meter.fixed()) },
            prev: Prev::Nothing,
            cursor: Cursor {
                line: 1,
                column: 1,
                pos: Pos::LineStart,
                field: 0,
                interp: INTERP_LINE,
                data: DATA_LINE,
            },
        }
    }

    pub fn spine(&self, i: usize) -> Spine {
        self.spines.get(i)
    }

    /// The kind a data field is read as.
    pub fn field_kind(&self, i: usize) -> Kind {
        if self.spines.n == 0 {
            opening_field_kind(i, self.rules.editions)
        } else {
            self.spine(i).kind
        }
    }

    pub fn max_fields(&self) -> usize {
        if self.spines.n == 0 {
            self.spine_limit()
        } else {
            self.spines.n
        }
    }

    /// The most spines in force: [`MAX_SPINES`] reading a score or, rhythm off, any text in
    /// the editions dialect (a prepared corpus of real editions); else, and always sampling,
    /// [`MAX_SAMPLE_SPINES`].
    pub fn spine_limit(&self) -> usize {
        if self.rules.score || (self.rules.editions && !self.rules.rhythm) {
            MAX_SPINES
        } else {
            MAX_SAMPLE_SPINES
        }
    }

    /// Whether field `i` of the data line must hold a new note or rest (its note has ended).
    pub fn is_due(&self, i: usize, kind: Kind) -> bool {
        match kind {
            Kind::Undecided => true,
            Kind::Kern => self.spines.n == 0 || self.spine(i).end <= self.cursor.data.t,
            _ => false,
        }
    }

    pub fn reset_piece(&mut self) {
        self.spines = Spines::NONE;
        self.measure.new_piece();
    }

    // -----------------------------------------------------------------------------------------
    // One character
    // -----------------------------------------------------------------------------------------

    pub fn step(&mut self, ch: char, sink: &mut Sink) -> Result<(), Fail> {
        if !ch.is_ascii() {
            return Err(token("not a character of **kern text"));
        }
        let c = ch as u8;
        match self.cursor.pos {
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
                self.cursor.pos = Pos::Interp(InterpTok::new());
            }
            Pos::Interp(tok) => self.interp_char(tok, c, sink)?,
            Pos::Data(f) => self.data_char(f, c, sink)?,
        }
        if c == b'\n' {
            self.new_line();
        } else {
            self.cursor.column += 1;
        }
        Ok(())
    }

    pub fn new_line(&mut self) {
        self.cursor.line += 1;
        self.cursor.column = 1;
        self.cursor.pos = Pos::LineStart;
        self.cursor.field = 0;
    }

    fn line_start(&mut self, c: u8, sink: &mut Sink) -> Result<(), Fail> {
        let kinds = self.rules.line_kinds;
        let refused = || Err(structure("this kind of line may not come here now"));
        match c {
            // a new piece starts with a barline, and a piece that must end ends with `*-`,
            // whatever kinds of line are asked for
            b'@' if !kinds.has(LineKinds::BARLINE) && self.prev != Prev::Term => refused(),
            b'*' if !kinds.has(LineKinds::INTERPRETATION) && !self.measure.must_end => refused(),
            b'@' => {
                self.bar_ok()?;
                self.cursor.pos = Pos::Bar;
                Ok(())
            }
            b'\n' => Err(structure("empty line")),
            b'\t' => Err(structure("empty field")),
            _ if self.prev == Prev::Term => {
                Err(structure("after `*-` a new piece starts with a barline `@`"))
            }
            b'*' => self.begin_interp_line(),
            _ => self.begin_data_line(c, sink),
        }
    }
}
