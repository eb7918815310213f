//! The **kern data-token lexer: an incremental automaton for one field of a **kern spine (a
//! note, rest or chord), with the rhythm a line asks of it.
//!
//! It reads one ASCII byte at a time, says whether it accepts it, and can say at any point
//! whether the token could end there. It does not allocate, so the grammar can ask about every
//! vocabulary character at every sampling step.

use crate::kern::duration::{denom_index, is_dec_prefix, DurSet, GRACE_MASK, PREFIX_MASK, TPW};
use crate::kern::limits::{
    MAX_ACCIDENTALS, MAX_BEAMS, MAX_CHORD, MAX_EDITION_MARKS, MAX_INVISIBLE_MARKS,
    MAX_PARTIAL_BEAMS, MAX_PITCH_LETTERS, MAX_REST_LETTERS, MAX_SIGNS, MAX_SLUR_ENDS,
    MAX_SLUR_STARTS, MAX_STACCATI,
};

/// Whether a token may, must or must not be a grace note (`q`/`Q`: no logical duration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GraceRule {
    Forbid,
    Allow,
    Require,
}

/// The time left for a note: one span (the rest of a measure of a known meter), or several
/// (the ends the first measure of a piece may have while it is to set the meter). A note
/// fits when it leaves, in one of them, a rest the durations can fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Room {
    left: [u64; MAX_ROOMS],
    n: u8,
}

/// The most spans a [`Room`] holds.
pub(crate) const MAX_ROOMS: usize = 8;

impl Room {
    /// `left` ticks.
    pub const fn until(left: u64) -> Room {
        let mut r = Room { left: [0; MAX_ROOMS], n: 1 };
        r.left[0] = left;
        r
    }

    /// The spans from `t` to each of `ends` at or after it (at most [`MAX_ROOMS`]).
    pub fn to_ends(t: u64, ends: &[u64]) -> Room {
        let mut r = Room { left: [0; MAX_ROOMS], n: 0 };
        for &e in ends.iter().filter(|&&e| e >= t) {
            if let Some(slot) = r.left.get_mut(r.n as usize) {
                *slot = e - t;
                r.n += 1;
            }
        }
        r
    }

    fn spans(&self) -> &[u64] {
        self.left.get(..self.n as usize).unwrap_or(&[])
    }

    /// Whether a note of `v` ticks fits in one of the spans, leaving a fillable rest.
    pub fn fits(&self, set: &DurSet, v: u64) -> bool {
        self.spans().iter().any(|&rem| set.fits(rem, v))
    }

    /// Whether some duration of `mask` with at least `min_dots` dots fits.
    fn any_fit(&self, set: &DurSet, mask: u32, min_dots: u8) -> bool {
        self.spans().iter().any(|&rem| set.any_fit(mask, min_dots, rem))
    }
}

/// What the rhythm asks of a **kern field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DurRule {
    /// The time left in the measure: a timed note must fit and leave a rest the durations can
    /// fill (`None`: any duration). A note that does not fit can still be a grace note where
    /// grace is allowed.
    pub fit: Option<Room>,
    pub grace: GraceRule,
    /// The notes of a chord after the first must repeat its duration and grace status.
    pub chord_match: bool,
    /// Accept the corpus's two irregular grace-note spellings, a leading `.` (`.16gQ`) and a
    /// duration after the pitch (`b8q/`). Off for sampling.
    pub quirks: bool,
    /// The durations allowed.
    pub set: &'static DurSet,
    /// Read a finished score of any edition (`kernrnn check` on a file): the **kern humlib
    /// and verovio read beyond the training corpus's dialect (see `read_edition_sign`).
    pub editions: bool,
}

impl DurRule {
    /// No rhythm constraint (the checker, or the grammar with rhythm off).
    pub const FREE: DurRule = DurRule {
        fit: None,
        grace: GraceRule::Allow,
        chord_match: false,
        quirks: true,
        set: &DurSet::FULL,
        editions: false,
    };

    /// No rhythm constraint, and the **kern of any edition (a full score being checked).
    pub const EDITIONS: DurRule = DurRule { editions: true, ..DurRule::FREE };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Start,
    LeadDot,
    Prefix,
    Digits,
    Dots,
    Pitch,
    Acc,
    LateDigits,
    /// (Reading) the denominator of a rational duration, `56%3` (3/56 of a whole note).
    Ratio,
    /// (Reading) the staff position of a rest, `8rGG`.
    RestPosition,
    Post,
}

/// The signs that may follow a note's pitch (articulations, ornaments, stems, beams, slur and
/// tie ends, grace marks), by what they are; a note carries each at most [`Sign::most`] times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sign {
    /// `'`
    Staccato,
    /// `` ` ``
    Staccatissimo,
    /// `^`
    Accent,
    /// `:`
    Arpeggio,
    /// `;`
    Fermata,
    /// `t T w W S M m O $`: trills, mordents, turns, a generic ornament.
    Ornament,
    /// `z`
    Sforzando,
    /// `X`: an editorial mark.
    Editorial,
    /// `y`: invisible.
    Invisible,
    /// `q` (acciaccatura) or `Q` (groupetto): a grace note, with no duration of its own.
    Grace,
    /// `/` or `\`
    Stem,
    /// `L`
    BeamStart,
    /// `J`
    BeamEnd,
    /// `K`
    PartialBeamRight,
    /// `k`
    PartialBeamLeft,
    /// `)`
    SlurEnd,
    /// `]` or `_`
    TieEnd,
    /// `&`: elision of a slur or phrase.
    Elision,
}

/// How many kinds of [`Sign`] there are (the size of a note's per-kind counts).
const SIGN_KINDS: usize = 18;

impl Sign {
    #[inline]
    fn of(c: u8) -> Option<Sign> {
        Some(match c {
            b'\'' => Sign::Staccato,
            b'`' => Sign::Staccatissimo,
            b'^' => Sign::Accent,
            b':' => Sign::Arpeggio,
            b';' => Sign::Fermata,
            b't' | b'T' | b'w' | b'W' | b'S' | b'M' | b'm' | b'O' | b'$' => Sign::Ornament,
            b'z' => Sign::Sforzando,
            b'X' => Sign::Editorial,
            b'y' => Sign::Invisible,
            b'q' | b'Q' => Sign::Grace,
            b'/' | b'\\' => Sign::Stem,
            b'L' => Sign::BeamStart,
            b'J' => Sign::BeamEnd,
            b'K' => Sign::PartialBeamRight,
            b'k' => Sign::PartialBeamLeft,
            b')' => Sign::SlurEnd,
            b']' | b'_' => Sign::TieEnd,
            b'&' => Sign::Elision,
            _ => return None,
        })
    }

    /// The most of this sign one note carries (see `kern::limits`).
    fn most(self) -> u8 {
        match self {
            Sign::Staccato => MAX_STACCATI,
            Sign::Invisible => MAX_INVISIBLE_MARKS,
            Sign::BeamStart | Sign::BeamEnd => MAX_BEAMS,
            Sign::PartialBeamRight | Sign::PartialBeamLeft => MAX_PARTIAL_BEAMS,
            Sign::SlurEnd => MAX_SLUR_ENDS,
            _ => 1,
        }
    }

    /// The beam sign a note may not carry with this one: a note either starts beams (`L`) or
    /// ends them (`J`), and has partial beams one way (`K` or `k`); the corpus never mixes them.
    fn excludes(self) -> Option<Sign> {
        match self {
            Sign::BeamStart => Some(Sign::BeamEnd),
            Sign::BeamEnd => Some(Sign::BeamStart),
            Sign::PartialBeamRight => Some(Sign::PartialBeamLeft),
            Sign::PartialBeamLeft => Some(Sign::PartialBeamRight),
            _ => None,
        }
    }
}

/// What a complete **kern token amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KernInfo {
    /// A grace note (or chord of grace notes): no duration.
    pub grace: bool,
    /// Duration in ticks (0 for grace notes).
    pub ticks: u64,
    /// The notes of the chord disagree on duration or grace status.
    pub mixed: bool,
}

/// Incremental parser of one **kern data field other than the null token `.`: a note, rest or
/// chord (notes separated by single spaces).
///
/// A note is `[.](([&)* [duration[dots]] pitch [accidental] [duration] signs*`, where the pitch
/// is one letter repeated in one case (`c`, `cc`, `CCC`, up to four) or `r`/`rr` for a rest,
/// accidentals are `#`, `##`, `-`, `--` or `n`, and the signs are articulations, ornaments,
/// stems, beams, slur and tie ends, grace marks (see [`Sign`], each with a cap; at most
/// [`MAX_SIGNS`] in all and [`MAX_BEAMS`] beam signs, never `L` with `J` nor `K` with `k`).
/// A note without duration, with a leading `.` (`.16gQ`) or with its duration after the pitch
/// (`b8q`) must be a grace note (the corpus has such tokens).
#[derive(Clone, Copy, Debug)]
pub(crate) struct KernTok {
    phase: Phase,
    chord_note: u8,
    lead_dot: bool,
    open_slurs: u8,
    open_ties: u8,
    elisions: u8,
    number: u16,
    digits: u8,
    dots: u8,
    /// (Reading) the `M` of a rational duration `N%M`, 0 for none.
    ratio: u16,
    /// (Reading) the letter of a rest's staff position.
    rest_position: u8,
    /// (Sampling an editions dialect) the marks beyond the training corpus's written so far.
    marks: u8,
    has_dur: bool,
    pitch: u8,
    pitch_len: u8,
    accidental: u8,
    accidentals: u8,
    signs_of: [u8; SIGN_KINDS],
    /// Signs after the pitch so far, and beam signs among them.
    signs: u8,
    beams: u8,
    grace: bool,
    must_grace: bool,
    ticks: u64,
    first_has_dur: bool,
    first_number: u16,
    first_dots: u8,
    first_grace: bool,
    first_ticks: u64,
    mixed: bool,
}

impl Default for KernTok {
    fn default() -> Self {
        KernTok::new()
    }
}

impl KernTok {
    pub const fn new() -> Self {
        KernTok {
            phase: Phase::Start,
            chord_note: 0,
            lead_dot: false,
            open_slurs: 0,
            open_ties: 0,
            elisions: 0,
            number: 0,
            digits: 0,
            dots: 0,
            ratio: 0,
            rest_position: 0,
            marks: 0,
            has_dur: false,
            pitch: 0,
            pitch_len: 0,
            accidental: 0,
            accidentals: 0,
            signs_of: [0; SIGN_KINDS],
            signs: 0,
            beams: 0,
            grace: false,
            must_grace: false,
            ticks: 0,
            first_has_dur: false,
            first_number: 0,
            first_dots: 0,
            first_grace: false,
            first_ticks: 0,
            mixed: false,
        }
    }

    fn matching(&self, r: &DurRule) -> bool {
        self.chord_note > 0 && r.chord_match
    }

    /// The grace rule for the note being read.
    fn grace_rule(&self, r: &DurRule) -> GraceRule {
        if self.chord_note == 0 {
            r.grace
        } else if !r.chord_match {
            GraceRule::Allow
        } else if self.first_grace {
            GraceRule::Require
        } else {
            GraceRule::Forbid
        }
    }

    fn fit(&self, r: &DurRule) -> Option<Room> {
        if self.chord_note == 0 {
            r.fit
        } else {
            None
        }
    }

    /// Reads one byte; false (and no change) if it cannot come next.
    pub fn step(&mut self, c: u8, r: &DurRule) -> bool {
        let mut n = *self;
        if n.step_inner(c, r) {
            *self = n;
            true
        } else {
            false
        }
    }

    fn step_inner(&mut self, c: u8, r: &DurRule) -> bool {
        let saved = *self;
        if self.step_sampled(c, r) {
            return true;
        }
        *self = saved;
        r.editions && self.read_edition_sign(c, r)
    }

    /// The tokens the sampling grammar writes (and the training corpus has).
    fn step_sampled(&mut self, c: u8, r: &DurRule) -> bool {
        use Phase::*;
        let gr = self.grace_rule(r);
        match (self.phase, c) {
            (Start, b'.') if self.chord_note == 0 && r.quirks && gr != GraceRule::Forbid => {
                self.lead_dot = true;
                self.must_grace = true;
                self.phase = LeadDot;
                true
            }
            (Start | LeadDot | Prefix, b'(' | b'[' | b'&') => {
                let (count, most) = match c {
                    b'(' => (&mut self.open_slurs, MAX_SLUR_STARTS),
                    b'[' => (&mut self.open_ties, 1),
                    _ => (&mut self.elisions, 1),
                };
                if *count >= most {
                    return false;
                }
                *count += 1;
                self.phase = Prefix;
                true
            }
            (Start | LeadDot | Prefix | Digits, b'0'..=b'9') => self.digit(c - b'0', r, false),
            (Digits | Dots, b'.') => self.dot(r),
            (Start | Prefix | Digits | Dots, b'a'..=b'g' | b'A'..=b'G' | b'r') => {
                self.pitch_start(c, r)
            }
            (Pitch, _)
                if c == self.pitch
                    && self.pitch_len
                        < if c == b'r' { MAX_REST_LETTERS } else { MAX_PITCH_LETTERS } =>
            {
                self.pitch_len += 1;
                true
            }
            (Pitch | Acc, b'#' | b'-' | b'n') if self.pitch != b'r' => {
                // `##` and `--`, never two kinds, and `n` once
                let ok = self.accidentals == 0
                    || (c == self.accidental && c != b'n' && self.accidentals < MAX_ACCIDENTALS);
                if ok {
                    self.accidental = c;
                    self.accidentals += 1;
                    self.phase = Acc;
                }
                ok
            }
            (Pitch | Acc | LateDigits, b'0'..=b'9')
                if r.quirks && !self.has_dur && self.pitch != b'r' =>
            {
                self.digit(c - b'0', r, true)
            }
            (Pitch | Acc | LateDigits | Post, _) => self.post_sign(c, r),
            _ => false,
        }
    }

    /// Reading a finished score (`editions`), the **kern of real editions beyond what sampling
    /// writes, as humlib and verovio read it: marks before the duration (`<`, `>`, `N`, `y`,
    /// stems, a slur end before a slur start), `q` between the duration and the pitch
    /// (`8qb-`), rational durations (`56%3`), a rest's staff position (`8rGG`), accidentals
    /// after other signs (`4bb]-`), and the signs the kern reference defines or leaves to
    /// `!!!RDF**kern:` records (see [`is_reading_sign`]). Returns whether it took `c`.
    fn read_edition_sign(&mut self, c: u8, r: &DurRule) -> bool {
        use Phase::*;
        if r.fit.is_some() {
            return self.sample_edition_mark(c, r);
        }
        match (self.phase, c) {
            (Start | LeadDot | Prefix, _) if is_reading_prefix(c) => {
                self.phase = Prefix;
                true
            }
            (Start | Prefix, b'[' | b'(') => {
                // a second tie start (`[[16GG`), a third slur start (`(((4eee`)
                self.phase = Prefix;
                true
            }
            (Digits | Dots, _) if is_reading_sign(c) => true, // `16^^<FLL`
            (Post, b'q') if self.grace => true,               // `ccqq8`
            (Pitch | Acc | RestPosition | Post, b'.') => self.late_dot(r),
            (Pitch | Acc | Post, b'0'..=b'9') if self.pitch != b'r' => {
                // a grace note's written value after its other signs (`eeq8`, `f#X32q`)
                self.must_grace = true;
                self.phase = Post;
                true
            }
            (Digits | Dots, b'q') if self.chord_note == 0 || !r.chord_match => {
                self.must_grace = true;
                self.grace = true;
                true
            }
            (Digits, b'%') if self.ratio == 0 && self.dots == 0 => {
                self.phase = Ratio;
                true
            }
            (Ratio, b'0'..=b'9') => {
                let m = self.ratio as u32 * 10 + (c - b'0') as u32;
                if m == 0 || m > 9999 {
                    return false;
                }
                self.ratio = m as u16;
                true
            }
            (Ratio, b'a'..=b'g' | b'A'..=b'G' | b'r') if self.ratio > 0 => {
                let (n, m) = (self.number as u64, self.ratio as u64);
                if n == 0 || !(TPW * m).is_multiple_of(n) {
                    return false;
                }
                self.has_dur = true;
                self.ticks = TPW * m / n;
                self.pitch = c;
                self.pitch_len = 1;
                self.phase = Pitch;
                true
            }
            (Pitch | RestPosition | Post, b'a'..=b'g' | b'A'..=b'G')
                if self.pitch == b'r' && (self.rest_position == 0 || c == self.rest_position) =>
            {
                self.rest_position = c;
                self.phase = RestPosition;
                true
            }
            (RestPosition | Post, b'#' | b'-' | b'n') => true,
            (Pitch | Acc | LateDigits | RestPosition | Post, _) if is_reading_sign(c) => {
                if self.phase == LateDigits && r.set.ticks(self.number, 0).is_none() {
                    return false;
                }
                self.phase = Post;
                true
            }
            (RestPosition, _) => {
                // the rest's ordinary signs (`8rGG;`) follow its position
                self.phase = Post;
                self.post_sign(c, r)
            }
            _ => false,
        }
    }

    /// (Reading) a dot after the pitch (`16r.`, `(4A.`): humlib counts every dot of a token,
    /// so it dots the duration written before the pitch.
    fn late_dot(&mut self, r: &DurRule) -> bool {
        if self.has_dur && self.ratio == 0 && self.dots < 2 {
            let Some(ticks) = r.set.ticks(self.number, self.dots + 1) else { return false };
            self.dots += 1;
            self.ticks = ticks;
        } else if self.has_dur {
            return false;
        }
        self.phase = Phase::Post;
        true
    }

    /// Sampling in the editions dialect (a model trained on such a corpus, rhythm on): only the
    /// marks that change neither a note's time nor whether it is a grace note, at most
    /// [`MAX_EDITION_MARKS`] to a note: marks before the duration, a rest's staff position,
    /// `qq`, and the signs past the sampling grammar's own (which keep their caps). Rational
    /// durations, `q` before the pitch and grace values written last stay out: the sampled
    /// rhythm is exact and its grace notes are written one way. A note that must still become
    /// a grace note takes its `q` first (see [`KernTok::post_sign`]).
    fn sample_edition_mark(&mut self, c: u8, r: &DurRule) -> bool {
        use Phase::*;
        if self.marks >= MAX_EDITION_MARKS {
            return false;
        }
        let need_q = !self.grace && (self.must_grace || self.grace_rule(r) == GraceRule::Require);
        let extra_sign = is_reading_sign(c) && Sign::of(c).is_none();
        let taken = match (self.phase, c) {
            (Start | Prefix, _) if is_reading_prefix(c) => {
                self.phase = Prefix;
                true
            }
            (Post, b'q') if self.grace => true,
            (Pitch | RestPosition | Post, b'a'..=b'g' | b'A'..=b'G')
                if self.pitch == b'r' && (self.rest_position == 0 || c == self.rest_position) =>
            {
                self.rest_position = c;
                self.phase = RestPosition;
                true
            }
            (Pitch | Acc | Post, _) if extra_sign && !need_q => {
                self.phase = Post;
                true
            }
            (RestPosition, _) if extra_sign => {
                self.phase = Post;
                true
            }
            (RestPosition, _) => {
                self.phase = Post;
                return self.post_sign(c, r);
            }
            _ => false,
        };
        if taken {
            self.marks += 1;
        }
        taken
    }

    fn digit(&mut self, d: u8, r: &DurRule, late: bool) -> bool {
        if self.digits == 0 && d == 0 {
            return false;
        }
        let new = self.number as u32 * 10 + d as u32;
        let Some(&mask) = PREFIX_MASK.get(new as usize) else { return false };
        let mask = mask & r.set.mask();
        if mask == 0 {
            return false;
        }
        if late {
            // only grace notes write their (visual) duration after the pitch
            if self.grace_rule(r) == GraceRule::Forbid {
                return false;
            }
        } else if self.matching(r) {
            if !self.first_has_dur || !is_dec_prefix(new, self.first_number as u32) {
                return false;
            }
        } else if !self.completion_ok(mask, 0, r) {
            return false;
        }
        self.number = new as u16;
        self.digits += 1;
        self.phase = if late { Phase::LateDigits } else { Phase::Digits };
        true
    }

    /// Whether some duration in `mask` with at least `min_dots` dots can end the number being
    /// read: a timed note that fits, or a grace note where one may come.
    fn completion_ok(&self, mask: u32, min_dots: u8, r: &DurRule) -> bool {
        let gr = self.grace_rule(r);
        let timed = match self.fit(r) {
            _ if gr == GraceRule::Require => false,
            Some(room) => room.any_fit(r.set, mask, min_dots),
            None => r.set.any_valid(mask, min_dots),
        };
        let grace = gr != GraceRule::Forbid
            && if r.quirks {
                r.set.any_valid(mask, min_dots)
            } else {
                min_dots == 0 && mask & r.set.mask() & GRACE_MASK != 0
            };
        timed || grace
    }

    fn dot(&mut self, r: &DurRule) -> bool {
        let Some(i) = denom_index(self.number) else { return false };
        let k = self.dots + 1;
        if k > 2 {
            return false;
        }
        let mask = 1u32 << i;
        if self.matching(r) {
            if k > self.first_dots || self.number != self.first_number {
                return false;
            }
        } else if !self.completion_ok(mask, k, r) {
            return false;
        }
        self.dots = k;
        self.phase = Phase::Dots;
        true
    }

    fn pitch_start(&mut self, c: u8, r: &DurRule) -> bool {
        let rest = c == b'r';
        let gr = self.grace_rule(r);
        if rest && (self.chord_note > 0 || self.lead_dot || gr == GraceRule::Require) {
            return false;
        }
        let mut must_grace = self.must_grace;
        let mut ticks = 0;
        if self.digits > 0 {
            let Some(v) = r.set.ticks(self.number, self.dots) else { return false };
            if self.matching(r)
                && (self.number != self.first_number || self.dots != self.first_dots)
            {
                return false;
            }
            if let Some(room) = self.fit(r) {
                if !room.fits(r.set, v) {
                    must_grace = true;
                }
            }
            if (must_grace || gr == GraceRule::Require)
                && !r.quirks
                && (GRACE_MASK & (1 << denom_index(self.number).unwrap_or(0)) == 0 || self.dots > 0)
            {
                // a grace note's written duration is short and plain
                return false;
            }
            ticks = v;
        } else if r.editions && self.chord_note > 0 && self.first_has_dur && !rest {
            // (reading) a chord's later notes may leave out the duration: they have the
            // first note's (`4D^ DD`, as verovio reads it)
            self.has_dur = true;
            self.ticks = self.first_ticks;
            self.grace = self.first_grace;
            self.pitch = c;
            self.pitch_len = 1;
            self.phase = Phase::Pitch;
            return true;
        } else {
            if rest || (self.matching(r) && self.first_has_dur) {
                return false;
            }
            must_grace = true;
        }
        if must_grace && (rest || gr == GraceRule::Forbid) {
            return false;
        }
        self.has_dur = self.digits > 0;
        self.ticks = ticks;
        self.must_grace = must_grace;
        self.pitch = c;
        self.pitch_len = 1;
        self.phase = Phase::Pitch;
        true
    }

    fn post_sign(&mut self, c: u8, r: &DurRule) -> bool {
        if self.phase == Phase::LateDigits && r.set.ticks(self.number, 0).is_none() {
            return false;
        }
        let Some(sign) = Sign::of(c) else { return false };
        if sign == Sign::Grace {
            if self.pitch == b'r' || self.grace_rule(r) == GraceRule::Forbid {
                return false;
            }
            let short = !self.has_dur
                || (self.dots == 0
                    && denom_index(self.number).is_some_and(|i| GRACE_MASK & (1 << i) != 0));
            if !r.quirks && !short {
                return false;
            }
        }
        // a note that must still become a grace note keeps a place for its `q`
        let need_q = sign != Sign::Grace
            && !self.grace
            && (self.must_grace || self.grace_rule(r) == GraceRule::Require);
        // When sampling, its `q` comes right after the pitch: otherwise a note the line forces
        // to be a grace note (a `.` elsewhere made it a grace line) drifts through every sign
        // the model finds less unlikely than `q` (`8dd\)])yyLQ`), ending invisible.
        if need_q && !r.quirks {
            return false;
        }
        if self.signs + need_q as u8 >= MAX_SIGNS {
            return false;
        }
        let beam = sign.excludes();
        if let Some(other) = beam {
            if self.beams >= MAX_BEAMS || self.signs_of[other as usize] > 0 {
                return false;
            }
        }
        let count = &mut self.signs_of[sign as usize];
        if *count >= sign.most() {
            return false;
        }
        *count += 1;
        self.signs += 1;
        if beam.is_some() {
            self.beams += 1;
        }
        if sign == Sign::Grace {
            self.grace = true;
        }
        self.phase = Phase::Post;
        true
    }

    /// Whether the note being read is complete.
    fn note_complete(&self, r: &DurRule) -> bool {
        let shape = match self.phase {
            Phase::Pitch | Phase::Acc | Phase::Post | Phase::RestPosition => true,
            Phase::LateDigits => r.set.ticks(self.number, 0).is_some(),
            _ => false,
        };
        shape
            && (!self.must_grace || self.grace)
            && (self.grace_rule(r) != GraceRule::Require || self.grace)
    }

    /// Whether the token could end here (before a TAB or a newline).
    pub fn can_end(&self, r: &DurRule) -> bool {
        self.note_complete(r)
    }

    /// Whether a space (another note of the chord) may come next.
    pub fn can_space(&self, r: &DurRule) -> bool {
        self.note_complete(r) && self.pitch != b'r' && self.chord_note + 1 < MAX_CHORD
    }

    /// Reads a space: starts the next note of the chord.
    pub fn space(&mut self, r: &DurRule) -> bool {
        if !self.can_space(r) {
            return false;
        }
        self.close_note();
        let keep = *self;
        *self = KernTok::new();
        self.chord_note = keep.chord_note + 1;
        self.first_has_dur = keep.first_has_dur;
        self.first_number = keep.first_number;
        self.first_dots = keep.first_dots;
        self.first_grace = keep.first_grace;
        self.first_ticks = keep.first_ticks;
        self.mixed = keep.mixed;
        true
    }

    /// Records the note just read as the chord's first, or compares it with the first.
    fn close_note(&mut self) {
        let grace = self.grace;
        let ticks = if grace { 0 } else { self.ticks };
        if self.chord_note == 0 {
            self.first_has_dur = self.has_dur;
            self.first_number = self.number;
            self.first_dots = self.dots;
            self.first_grace = grace;
            self.first_ticks = ticks;
        } else if grace != self.first_grace || ticks != self.first_ticks {
            self.mixed = true;
        }
    }

    /// The complete token (call when [`KernTok::can_end`]).
    pub fn info(&self) -> KernInfo {
        let mut t = *self;
        t.close_note();
        KernInfo { grace: t.first_grace, ticks: t.first_ticks, mixed: t.mixed }
    }
}

/// (Reading) marks that may come before a note's duration in real editions: placement
/// signifiers `<` `>` (declared by `!!!RDF**kern:` records), links `N`, invisibility `y`,
/// stems, a slur or phrase end before a new start (`()16ccc`), phrase starts `{`.
fn is_reading_prefix(c: u8) -> bool {
    matches!(c, b'<' | b'>' | b'N' | b'y' | b'/' | b'\\' | b')' | b'{' | b'}' | b'j' | b'i')
}

/// (Reading) the signs after a pitch beyond the sampling grammar's: the rest of the kern
/// reference's articulations and ornaments (`~` tenuto, `"` pizzicato, `,` breath, `o`
/// harmonic, `u`/`v` bowings, `I` generic articulation, `s` spiccato, `R` ornament ending, `x`
/// and `?` editorial marks, `P`/`p` appoggiaturas, `{`/`}` phrases, `H`/`h` glissandi) and the
/// characters it leaves to user signifiers declared by `!!!RDF**kern:` records (`<` `>` `N` `i`
/// `j` `l` `U` `V` `Z` `@` `+` `|`), as well as the sampling grammar's own signs past its caps.
fn is_reading_sign(c: u8) -> bool {
    Sign::of(c).is_some_and(|s| s != Sign::Grace)
        || matches!(
            c,
            b'~' | b'"'
                | b','
                | b'o'
                | b'u'
                | b'v'
                | b'I'
                | b's'
                | b'R'
                | b'x'
                | b'?'
                | b'P'
                | b'p'
                | b'{'
                | b'}'
                | b'H'
                | b'h'
                | b'<'
                | b'>'
                | b'N'
                | b'i'
                | b'j'
                | b'l'
                | b'U'
                | b'V'
                | b'Z'
                | b'@'
                | b'+'
                | b'|'
        )
}

/// Reads `s` as one whole **kern field (a note, rest or chord; not `.`) under rule `r`.
pub(crate) fn read_kern_field(s: &str, r: &DurRule) -> Option<KernInfo> {
    let mut t = KernTok::new();
    let read =
        !s.is_empty() && s.bytes().all(|b| if b == b' ' { t.space(r) } else { t.step(b, r) });
    (read && t.can_end(r)).then(|| t.info())
}

/// Whether `s` is a whole **kern field the grammar accepts, rhythm aside: a note, rest or chord
/// (not `.`). Reconstruction keeps exactly the tokens the grammar (and so the checker) accepts.
pub(crate) fn kern_field_ok(s: &str) -> bool {
    read_kern_field(s, &DurRule::FREE).is_some()
}

/// [`kern_field_ok`] in the editions dialect.
pub(crate) fn edition_field_ok(s: &str) -> bool {
    read_kern_field(s, &DurRule::EDITIONS).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(s: &str) -> Option<KernInfo> {
        read_kern_field(s, &DurRule::FREE)
    }

    fn edition(s: &str) -> Option<KernInfo> {
        read_kern_field(s, &DurRule::EDITIONS)
    }

    /// What a sampling grammar asks of a field with `left` ticks left in the measure.
    fn sampling(left: u64, grace: GraceRule) -> DurRule {
        let fit = Some(Room::until(left));
        DurRule {
            fit,
            grace,
            chord_match: true,
            quirks: false,
            set: &DurSet::FULL,
            editions: false,
        }
    }

    #[test]
    fn notes_rests_and_chords_of_the_corpus_are_tokens() {
        for ok in [
            "4cc#/",
            "8.GG#\\L",
            "(16dd\\LL",
            "4e/ 4g/ 4cc/",
            "8r",
            "&(4A/&)",
            "4..c",
            "20.g/",
            "176ddd-\\",
            "1DD_",
            "4ryy",
            "4.rr",
            "8cccc\\J",
            "16e-\\LK]",
            "(8.bbnt\\L",
            "4G##^\\",
            "2d-zy/",
            "4r;",
            "&(16A\\JJ&))",
        ] {
            assert!(free(ok).is_some(), "{ok}");
        }
    }

    #[test]
    fn grace_notes_have_no_duration_of_their_own() {
        for ok in ["16ccq", "ccq/", "32ddQ/JJJ", ".16gQ/LL", "b8q/", ".(32ddQ/LLL"] {
            let info = free(ok).unwrap_or_else(|| panic!("{ok}"));
            assert!(info.grace && info.ticks == 0, "{ok}");
        }
    }

    #[test]
    fn a_token_needs_a_pitch_or_rest_and_one_case_per_pitch() {
        for bad in ["", "4", "4x", "4cd", "4cC", "4ccccc", "r", "c", "b8/", "4.rrr"] {
            assert!(free(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn accidentals_are_one_or_two_of_one_kind() {
        assert!(free("4c##").is_some() && free("4cn").is_some());
        assert!(free("4c###").is_none() && free("4c#-").is_none());
    }

    #[test]
    fn a_chord_is_notes_separated_by_single_spaces_without_rests() {
        for bad in ["4r 4c", "4c 4r", "4c  4e", "4c "] {
            assert!(free(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_chord_holds_at_most_six_notes() {
        assert!(free("4c 4e 4g 4b 4d 4f").is_some());
        assert!(free("4c 4e 4g 4b 4d 4f 4a").is_none());
    }

    #[test]
    fn breves_unknown_values_and_three_dots_are_not_durations() {
        for bad in ["0c", "13c", "128.c", "4c...", ".4c"] {
            assert!(free(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_note_carries_at_most_six_beam_signs_never_l_with_j_nor_k_with_k() {
        assert!(free("(128AQ\\LLLLLL").is_some() && free("128e-/JJJJJ").is_some());
        assert!(free("32A-\\LKK").is_some() && free("16cJJkk").is_some());
        for bad in ["128bLJJLLLLLJJJJq", "16cLJ", "16cJL", "16cLLLLLLL", "16cKk", "16cLLLLLKK"] {
            assert!(free(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_note_carries_each_sign_at_most_as_often_as_the_corpus_and_eight_in_all() {
        assert!(free("4c''`^:;tz").is_some());
        assert!(free("4e^^").is_none());
        assert!(free("4c''`^:;tzX").is_none());
    }

    #[test]
    fn a_chord_whose_notes_differ_in_duration_is_read_but_marked_mixed() {
        let i = free("4c 8e").unwrap();
        assert!(i.mixed);
        assert_eq!(i.ticks, TPW / 4);
    }

    #[test]
    fn a_timed_note_must_fit_what_is_left_of_the_measure() {
        let quarter_left = sampling(TPW / 4, GraceRule::Forbid);
        for ok in ["4c", "8.c", "4c 4e", "12c"] {
            assert!(read_kern_field(ok, &quarter_left).is_some(), "{ok}");
        }
        for bad in ["2c", "4.c", "4c 8e", "4cq"] {
            assert!(read_kern_field(bad, &quarter_left).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_note_fits_when_it_leaves_a_fillable_rest_before_one_of_the_ends() {
        let r = DurRule {
            fit: Some(Room::to_ends(TPW / 4, &[TPW / 2, TPW])),
            ..sampling(0, GraceRule::Forbid)
        };
        assert!(read_kern_field("4c", &r).is_some(), "ends at 1/2");
        assert!(read_kern_field("2.c", &r).is_some(), "ends at 1");
        assert!(read_kern_field("1c", &r).is_none(), "ends past both");
    }

    #[test]
    fn a_digit_that_cannot_lead_to_a_fitting_note_is_refused_at_once() {
        // a 128th left: 2, 20, 22, 24 and 28 are all too long, 128 fits
        let little_left = sampling(TPW / 128, GraceRule::Forbid);
        assert!(!KernTok::new().step(b'2', &little_left));
        assert!(KernTok::new().step(b'1', &little_left));
    }

    #[test]
    fn a_note_too_long_for_the_measure_may_still_be_a_short_undotted_grace_note() {
        let sixteenth_left = sampling(TPW / 16, GraceRule::Allow);
        assert!(read_kern_field("8c", &sixteenth_left).is_none(), "too long and not grace");
        assert!(read_kern_field("8cq", &sixteenth_left).is_some_and(|i| i.grace));
        assert!(read_kern_field("16cq", &sixteenth_left).is_some_and(|i| i.grace));
        assert!(read_kern_field("16c", &sixteenth_left).is_some_and(|i| !i.grace));
        assert!(read_kern_field("4cq", &sixteenth_left).is_none(), "written 8 or shorter");
        assert!(read_kern_field("16.cq", &sixteenth_left).is_none(), "undotted");
    }

    #[test]
    fn reading_takes_the_kern_of_real_editions_as_humlib_does() {
        for ok in [
            "4D^ DD", // later chord notes with the first's duration
            "8B G D",
            "8rGG", // a rest's staff position
            "16r>g",
            "56%3ff#", // a rational duration
            "(8qb-",   // `q` before the pitch
            "(>(<4G#", // placement signifiers declared by RDF records
            "8aLL<",
            "[[16GG",
            "(((4eee gg ee",
            "16^^<FLL FF", // signs between the duration and the pitch
            "(<eeq8",      // a grace note's written value last
            "(<ccqq8",
            "2a~~)", // tenuto, and a sign past the sampling caps
            "4bb]-", // an accidental after other signs
            "(4A.",
        ] {
            assert!(edition(ok).is_some(), "{ok}");
        }
        assert_eq!(edition("4D^ DD").map(|i| (i.ticks, i.mixed)), Some((TPW / 4, false)));
        assert_eq!(edition("56%3ff").map(|i| i.ticks), Some(TPW * 3 / 56));
        // a dot after the pitch dots the duration, as humlib counts it
        assert_eq!(edition("(4A.").map(|i| i.ticks), Some(TPW * 3 / 8));
        assert_eq!(edition("16r.").map(|i| i.ticks), Some(TPW * 3 / 32));
        assert!(edition("4.c..").is_none());
        assert!(
            edition("(<eeq8").is_some_and(|i| i.grace) && edition("(8qb-").is_some_and(|i| i.grace)
        );
        // still not kern: no pitch, a foreign character, a rest in a chord, a ratio of nothing
        for bad in ["<", "4x#", "(4c]\u{2026}", "4r 4c", "4%c", "3%0c"] {
            assert!(edition(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn sampling_and_reading_samples_keep_to_the_corpus_tokens() {
        let any = sampling(TPW, GraceRule::Allow);
        for bad in ["4D DD", "8rGG", "56%3ff", "8aL<", "[[16GG", "(8qb-"] {
            assert!(read_kern_field(bad, &any).is_none(), "{bad}");
            assert!(free(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn on_a_grace_line_every_note_of_a_chord_is_a_grace_note_and_rests_are_out() {
        let grace = sampling(TPW / 4, GraceRule::Require);
        assert!(read_kern_field("4c", &grace).is_none());
        assert!(read_kern_field("8cq 8eq", &grace).is_some());
        assert!(read_kern_field("8cq 8e", &grace).is_none());
        assert!(read_kern_field("4r", &grace).is_none());
    }
}
