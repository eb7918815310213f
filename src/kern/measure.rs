//! Measures, the fourth layer: where each spine is in the measure, when a barline may come,
//! what a closed measure counts for, and the caps on lines that take no time.

use super::duration::frac;
use super::limits::{FIRST_MEASURE_LENGTHS, MAX_FIRST_MEASURE};
use super::meter::Meter;
use super::spine::Kind;

/// A spine's place in the measure in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Spine {
    pub kind: Kind,
    /// When its current note ends, in ticks from the start of the measure (kern spines).
    pub end: u64,
    /// No rhythm problem in this spine in the current measure.
    pub ok: bool,
    /// (Rhythm off) its note ended and it went on with `.`: it does not hold time back.
    pub stalled: bool,
}

impl Spine {
    pub const fn new(kind: Kind) -> Spine {
        Spine { kind, end: 0, ok: true, stalled: false }
    }

    /// The spine a merge of `self` and `other` becomes (its note ends at the later end).
    pub fn merged(self, other: Spine) -> Spine {
        Spine {
            kind: self.kind.merged(other.kind),
            end: self.end.max(other.end),
            ok: self.ok && other.ok,
            stalled: self.stalled || other.stalled,
        }
    }
}

/// Measure counts, for the checker's summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Measures with time in them closed by a barline.
    pub measures: usize,
    /// Kern spines over those measures.
    pub spine_measures: usize,
    /// Of those, the ones whose rhythm is right.
    pub full: usize,
}

/// The most lines that take no time (grace-note lines, interpretation lines) a grammar lets
/// come before a line of timed notes, and in one measure (see `kern::limits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RunCaps {
    pub grace: u32,
    pub grace_per_measure: u32,
    pub interp: u32,
    pub interp_per_measure: u32,
}

impl RunCaps {
    /// No cap (reading a text rather than constraining one).
    pub const NONE: RunCaps = RunCaps {
        grace: u32::MAX,
        grace_per_measure: u32::MAX,
        interp: u32::MAX,
        interp_per_measure: u32::MAX,
    };

    /// The caps of a sampling grammar: the corpus's maxima or a little above.
    pub const SAMPLING: RunCaps = RunCaps {
        grace: super::limits::MAX_GRACE_LINES as u32,
        grace_per_measure: super::limits::MAX_GRACE_LINES_PER_MEASURE as u32,
        interp: super::limits::MAX_INTERP_LINES as u32,
        interp_per_measure: super::limits::MAX_INTERP_LINES_PER_MEASURE as u32,
    };
}

/// Lines that take no time, counted since the last line with a timed note or rest (barlines do
/// not reset these counts) and in the current measure: grace notes take no time and a measure
/// may hold only interpretation lines, so without caps a sample could go on forever without
/// filling a measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Runs {
    pub caps: RunCaps,
    grace: u32,
    interp: u32,
    grace_in_measure: u32,
    interp_in_measure: u32,
}

impl Runs {
    pub const fn new(caps: RunCaps) -> Runs {
        Runs { caps, grace: 0, interp: 0, grace_in_measure: 0, interp_in_measure: 0 }
    }

    /// No more grace-note lines may come before a timed line.
    pub fn grace_capped(&self) -> bool {
        self.grace >= self.caps.grace || self.grace_in_measure >= self.caps.grace_per_measure
    }

    /// No more interpretation lines may come before a timed line (but `*-` where it may).
    pub fn interp_capped(&self) -> bool {
        self.interp >= self.caps.interp || self.interp_in_measure >= self.caps.interp_per_measure
    }

    pub fn timed_line(&mut self) {
        self.grace = 0;
        self.interp = 0;
    }

    pub fn grace_line(&mut self) {
        self.grace = self.grace.saturating_add(1);
        self.grace_in_measure = self.grace_in_measure.saturating_add(1);
    }

    pub fn interp_line(&mut self) {
        self.interp = self.interp.saturating_add(1);
        self.interp_in_measure = self.interp_in_measure.saturating_add(1);
    }

    pub fn barline(&mut self) {
        self.grace_in_measure = 0;
        self.interp_in_measure = 0;
    }
}

/// (Rhythm off) a short measure not in first place: fine if `*-` follows, wrong if data or the
/// end of the text does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ShortMeasure {
    /// Line of its barline.
    pub line: usize,
    /// Spine measures counted as good.
    pub good: usize,
    /// Its length, in ticks.
    pub length: u64,
}

/// What closing a measure at a barline found.
pub(crate) struct Closed {
    /// It was shorter than the meter, all spines agreeing, and not the first of its piece.
    pub short: Option<ShortMeasure>,
    /// An earlier short measure that this one does not make up to the meter: its barline's
    /// line and the message.
    pub unpaired: Option<(usize, String)>,
    /// The spines do not add up to the meter (rhythm off): the message for the checker.
    pub problem: Option<String>,
    /// All spines agree on a length longer than the meter: an irregular measure (a cadenza,
    /// a written-out flourish, a missing `*M`); its length and the meter.
    pub long: Option<(u64, Meter)>,
}

/// The measure in progress and the meter in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Measure {
    /// The meter in force: `None` in the first measure of a piece whose meter comes from the
    /// music, until its barline sets it.
    pub meter: Option<Meter>,
    /// The meter a new piece starts with (`None`: from its music).
    pub default_meter: Option<Meter>,
    /// The first measure with time in it of the piece (it may be a pickup).
    pub first: bool,
    /// After a short measure with rhythm on: only interpretation lines and `*-` may follow.
    pub must_end: bool,
    /// A barline came in this piece (`*-` comes only after one).
    pub bar_seen: bool,
    /// The first measure of a piece may be shorter than the meter (a pickup).
    pub pickup: bool,
    /// (Reading a score) the measure in progress starts a section (after a repeat or double
    /// barline, or with a section label): it may be short, as a pickup may.
    pub section_start: bool,
    pub pending_short: Option<ShortMeasure>,
    /// (Rhythm off) a short measure that music followed: fine if the next measure makes up
    /// the rest of the meter (a measure split around a repeat or an ending), wrong otherwise.
    pub unpaired_short: Option<ShortMeasure>,
    /// How many rhythm issues had been recorded when the measure started (those after it are
    /// the measure's own).
    pub first_issue: usize,
    pub stats: Stats,
}

impl Measure {
    pub fn new(meter: Option<Meter>) -> Measure {
        Measure {
            meter,
            default_meter: meter,
            first: true,
            must_end: false,
            bar_seen: false,
            pickup: true,
            section_start: false,
            pending_short: None,
            unpaired_short: None,
            first_issue: 0,
            stats: Stats::default(),
        }
    }

    /// The length of a measure, in ticks: the meter's, or at most [`MAX_FIRST_MEASURE`] while
    /// the first measure is to set the meter.
    pub fn length(&self) -> u64 {
        self.meter.map_or(MAX_FIRST_MEASURE, Meter::ticks)
    }

    /// A new piece: the default meter, a first measure, nothing pending.
    pub fn new_piece(&mut self) {
        self.meter = self.default_meter;
        self.first = true;
        self.must_end = false;
        self.bar_seen = false;
        self.pending_short = None;
        self.unpaired_short = None;
    }

    /// Whether a barline may close the measure, rhythm on, with the kern spines' notes ending
    /// at `ends` (`after_barline`: nothing came since the last barline; `piece_ends`: a short
    /// measure may be the last of its piece).
    pub fn barline_ok(
        &self,
        mut ends: impl Iterator<Item = u64>,
        after_barline: bool,
        piece_ends: bool,
    ) -> Result<(), &'static str> {
        if self.must_end {
            return Err("after a short last measure only interpretations and `*-` may follow");
        }
        let Some(e) = ends.next() else { return Ok(()) };
        if !ends.all(|x| x == e) {
            return Err("the kern spines are not at the same time");
        }
        if e == 0 && after_barline {
            return Err("a measure with nothing in it");
        }
        match self.meter {
            None if e > 0 && !FIRST_MEASURE_LENGTHS.contains(&e) => {
                Err("the first measure sets the meter: it is 3/8, 2/4, 3/4, 4/4, 9/8 or 6/4 long")
            }
            None => Ok(()),
            Some(m) if e > m.ticks() => Err("the measure is longer than the meter"),
            Some(m) if self.first && !self.pickup && e > 0 && e < m.ticks() => {
                Err("the first measure is shorter than the meter, and no pickup may come here")
            }
            Some(m) if !piece_ends && !self.first && e > 0 && e < m.ticks() => {
                Err("the measure is shorter than the meter, and this text ends no piece")
            }
            Some(_) => Ok(()),
        }
    }

    /// Closes the measure of `spines` at a barline on `line`: counts it, says whether it was
    /// short, and sets the meter from it when it was the first of a piece whose meter comes
    /// from the music (`describe`: say what does not add up, for the checker).
    pub fn close(&mut self, spines: &[Spine], line: usize, describe: bool) -> Closed {
        let kern = || spines.iter().filter(|s| s.kind == Kind::Kern);
        let count = kern().count();
        let mut closed = Closed { short: None, problem: None, unpaired: None, long: None };
        let Some(e) = kern().next().map(|s| s.end) else { return closed };
        if !kern().any(|s| s.end > 0) {
            return closed;
        }
        let ok = kern().filter(|s| s.ok).count();
        let all_eq = kern().all(|s| s.end == e);
        let mut made_up = false;
        if let Some(u) = self.unpaired_short.take() {
            if all_eq && self.meter.is_some_and(|m| u.length + e == m.ticks()) {
                made_up = true;
            } else {
                self.pending_short = Some(u);
                closed.unpaired = self.short_was_not_last();
            }
        }
        self.stats.measures += 1;
        self.stats.spine_measures += count;
        let parts = || {
            spines
                .iter()
                .enumerate()
                .filter(|(_, s)| s.kind == Kind::Kern)
                .map(|(i, s)| format!("spine {} has {}", i + 1, frac(s.end)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let good = match self.meter {
            None => match Meter::for_length(e) {
                Some(m) if all_eq => {
                    self.meter = Some(m);
                    ok
                }
                _ => {
                    if describe {
                        closed.problem = Some(if all_eq {
                            format!("the first measure ({}) is no meter's length", frac(e))
                        } else {
                            format!(
                                "the spines of the first measure end at different times: {}",
                                parts()
                            )
                        });
                    }
                    0
                }
            },
            Some(meter) => {
                let m = meter.ticks();
                if all_eq && e == m {
                    ok
                } else if all_eq && e < m {
                    if !self.first && !self.section_start && !made_up {
                        closed.short = Some(ShortMeasure { line, good: ok, length: e });
                    }
                    ok
                } else {
                    if all_eq {
                        closed.long = Some((e, meter));
                    }
                    if describe {
                        closed.problem = Some(format!(
                            "the measure does not add up to the meter {meter}: {}",
                            parts()
                        ));
                    }
                    kern().filter(|s| s.ok && s.end == m).count()
                }
            }
        };
        self.stats.full += good;
        self.first = false;
        self.section_start = false;
        closed
    }

    /// Data after a short measure: it waits for the next measure to make it up.
    pub fn short_followed(&mut self) {
        if let Some(short) = self.pending_short.take() {
            self.unpaired_short = Some(short);
        }
    }

    /// The end of the text with a short measure unpaired: returns the message.
    pub fn unpaired_at_end(&mut self) -> Option<(usize, String)> {
        self.pending_short = self.unpaired_short.take().or(self.pending_short);
        self.short_was_not_last()
    }

    /// A short measure that was not the last of its piece. Returns the message.
    pub fn short_was_not_last(&mut self) -> Option<(usize, String)> {
        let short = self.pending_short.take()?;
        self.stats.full = self.stats.full.saturating_sub(short.good);
        let meter = self.meter.map_or("the meter".to_string(), |m| m.to_string());
        Some((
            short.line,
            format!(
                "a short measure ({} of {meter}) that is not the last of its piece (`*-` does not follow)",
                frac(short.length),
            ),
        ))
    }
}
