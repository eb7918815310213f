//! Data lines: one token per spine, read as a time slice. A line starts at the earliest end
//! over the kern spines; the spines whose note ends there carry a new note, rest or chord, the
//! others `.`; a grace-note line has grace notes in some due spines and `.` everywhere else.

use super::state::{DataField, LineKinds, Mode, Pos, Prev, State, DATA_LINE, SPINE0};
use super::{note, note_overflow, rhythm, structure, token, Fail, Sink};
use crate::kern::duration::frac;
use crate::kern::lex::{DurRule, DynTok, GraceRule, KernTok, Room};
use crate::kern::limits::{FIRST_MEASURE_LENGTHS, MAX_SPINES};
use crate::kern::measure::Spine;
use crate::kern::spine::{first_line_kind, Kind};

fn bit(i: usize) -> u16 {
    1u16.checked_shl(i as u32).unwrap_or(0)
}

impl State {
    /// A character that is not `@`, `*`, TAB or newline starts a line: a data line.
    pub(super) fn begin_data_line(&mut self, c: u8, sink: &mut Sink) -> Result<(), Fail> {
        if self.rules.rhythm && self.measure.must_end {
            return Err(rhythm(
                "after a short last measure only interpretations and `*-` may follow",
            ));
        }
        self.cursor.field = 0;
        // a short measure before this line was not the last: the next must make it up
        self.measure.short_followed();
        let mut line = DATA_LINE;
        let kinds = self.rules.line_kinds;
        if !kinds.has(LineKinds::TIMED) && !kinds.has(LineKinds::GRACE) {
            return Err(structure("this kind of line may not come here now"));
        }
        let no_grace =
            !self.rules.grace_ok || self.runs.grace_capped() || !kinds.has(LineKinds::GRACE);
        if no_grace && self.rules.rhythm {
            line.mode = Mode::Normal;
        }
        if self.spines.n == 0 {
            for i in 0..MAX_SPINES {
                let kind = self.field_kind(i);
                if let Some(s) = self.spines.at.get_mut(i) {
                    *s = Spine::new(kind);
                }
            }
            line.t = 0;
            line.last_grace = self.spine_limit() - 2;
        } else {
            // spines stalled on `.` (rhythm off) do not hold time back
            line.t = self.spines.timed_ends().into_iter().min().unwrap_or(0);
            let in_force = self.spines.in_force();
            line.last_grace = 0;
            for (i, s) in in_force.iter().enumerate() {
                if s.kind == Kind::Undecided || (s.kind == Kind::Kern && s.end <= line.t) {
                    line.last_grace = i;
                }
            }
        }
        self.cursor.data = line;
        if self.rules.rhythm
            && self.cursor.data.mode == Mode::Normal
            && self.cursor.data.t >= self.measure.length()
        {
            // no timed note fits and no grace line may come (no `q`, or too many)
            return Err(rhythm("the measure is full: a barline comes"));
        }
        self.data_char(self.begin_field(0), c, sink)
    }

    fn begin_field(&self, i: usize) -> DataField {
        let kind = self.field_kind(i);
        let due = self.is_due(i, kind);
        let rhythm_on = self.rules.rhythm;
        let line = &self.cursor.data;
        let rule = if rhythm_on {
            let room = match self.measure.meter {
                Some(m) => Room::until(m.ticks().saturating_sub(line.t)),
                // the first measure sets the meter: it may end at any of these lengths
                None => Room::to_ends(line.t, &FIRST_MEASURE_LENGTHS),
            };
            DurRule {
                fit: Some(room),
                grace: match line.mode {
                    Mode::Normal => GraceRule::Forbid,
                    Mode::Grace => GraceRule::Require,
                    Mode::Undecided => GraceRule::Allow,
                },
                chord_match: true,
                quirks: false,
                set: self.rules.durations,
                editions: self.rules.editions,
            }
        } else if self.rules.editions {
            DurRule::EDITIONS
        } else {
            DurRule::FREE
        };
        let null_ok = !rhythm_on
            || match kind {
                Kind::Kern if due => {
                    line.mode != Mode::Normal && (line.grace_seen || i < line.last_grace)
                }
                Kind::Undecided => line.grace_seen || !line.grace_pending || i < line.last_grace,
                _ => true,
            };
        // the last field that could hold the grace note a line of `.` needs must hold it
        let grace_due = rhythm_on && line.grace_pending && !line.grace_seen && i >= line.last_grace;
        DataField {
            empty: true,
            just_dot: false,
            null_ok,
            kern_alive: matches!(kind, Kind::Kern | Kind::Undecided) && (!rhythm_on || due),
            dyn_alive: kind == Kind::Dynam || (kind == Kind::Undecided && !grace_due),
            // read in the editions dialect, a **dynam spine holds what its edition writes there
            // (`.yy`, `;`, `.<`): humlib reads no rhythm in it, and neither does the checker; an
            // undecided spine may be another kind (`**text`). Sampling keeps to dynamics (a
            // model would write notes and `*` there, which no score can keep).
            other: kind == Kind::Other
                || (self.rules.editions
                    && !rhythm_on
                    && matches!(kind, Kind::Dynam | Kind::Undecided)),
            rule,
            kern: KernTok::new(),
            dynam: DynTok::default(),
        }
    }

    pub(super) fn data_char(
        &mut self,
        mut f: DataField,
        c: u8,
        sink: &mut Sink,
    ) -> Result<(), Fail> {
        match c {
            b'\t' => {
                if self.cursor.field + 1 >= self.max_fields() {
                    return Err(structure("more fields than spines"));
                }
                self.end_data_field(&f, sink)?;
                self.cursor.field += 1;
                self.cursor.pos = Pos::Data(self.begin_field(self.cursor.field));
                Ok(())
            }
            b'\n' => {
                if self.spines.n > 0 && self.cursor.field + 1 != self.spines.n {
                    return Err(structure("fewer fields than spines"));
                }
                if self.spines.n == 0 && self.cursor.field < 1 {
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
                    let acc = f.dynam.step(c);
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
                self.cursor.pos = Pos::Data(f);
                Ok(())
            }
        }
    }

    /// Which rule a refused character of a data field broke.
    fn why_not(&self, f: &DataField, first: bool, c: u8) -> Fail {
        let kind = self.field_kind(self.cursor.field);
        if first && c == b'.' {
            return rhythm("this spine's note has ended: a note or rest (or a grace note) is due");
        }
        if first && kind == Kind::Kern && self.rules.rhythm && !self.is_due(self.cursor.field, kind)
        {
            return rhythm("this spine's note still sounds: only `.` may come here");
        }
        if self.rules.rhythm && f.kern_alive && kind != Kind::Dynam {
            // the lexer refused it; try without rhythm to tell the two apart
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
        let i = self.cursor.field;
        let kind = self.field_kind(i);
        let line_no = self.cursor.line;
        if f.just_dot {
            if !f.null_ok {
                return Err(rhythm(
                    "this spine's note has ended: a note or rest (or a grace note) is due",
                ));
            }
            let due = self.is_due(i, kind);
            let line = &mut self.cursor.data;
            match kind {
                Kind::Kern if due => {
                    if line.mode == Mode::Undecided {
                        line.mode = Mode::Grace;
                    }
                    if !line.grace_seen {
                        line.grace_pending = true;
                    }
                    line.due_null |= bit(i);
                }
                Kind::Undecided => line.undecided_null |= bit(i),
                _ => {}
            }
            return Ok(());
        }
        if f.kern_alive && f.kern.can_end(&f.rule) {
            let info = f.kern.info();
            let due = self.is_due(i, kind);
            let line = &mut self.cursor.data;
            if info.grace {
                line.grace_seen = true;
                line.grace_pending = false;
                if line.mode == Mode::Undecided {
                    line.mode = Mode::Grace;
                }
            } else {
                line.real_seen = true;
                if line.mode == Mode::Undecided {
                    line.mode = Mode::Normal;
                }
            }
            let t = line.t;
            let measure = self.measure.length();
            let Some(s) = self.spines.at.get_mut(i) else { return Ok(()) };
            s.kind = Kind::Kern;
            if info.grace {
                if !due {
                    s.ok = false;
                    note(sink, line_no, || {
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
                    note(sink, line_no, || {
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
                    note_overflow(sink, line_no, || {
                        format!(
                            "spine {}: the note ends at {}, after the end of the measure ({})",
                            i + 1,
                            frac(end),
                            frac(measure)
                        )
                    });
                }
            }
            // humlib times a chord by its first note (`2C 4c` lasts a half), and real editions
            // write chords whose notes are held for different times so; the sampled dialect's
            // chords share one duration
            if info.mixed && !self.rules.editions {
                s.ok = false;
                note(sink, line_no, || {
                    format!("spine {}: the notes of a chord differ in duration", i + 1)
                });
            }
            return Ok(());
        }
        if f.dyn_alive && f.dynam.can_end() {
            if let Some(s) = self.spines.at.get_mut(i) {
                if s.kind == Kind::Undecided {
                    s.kind = Kind::Dynam;
                }
            }
            return Ok(());
        }
        if f.other && !f.empty {
            if kind == Kind::Undecided {
                self.cursor.data.undecided_other |= bit(i);
            }
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
        let fields = self.cursor.field + 1;
        let line = self.cursor.data;
        if self.rules.rhythm && line.grace_pending && !line.grace_seen {
            return Err(rhythm("a line whose due spines hold `.` needs a grace note"));
        }
        let grace_line = line.grace_seen && !line.real_seen;
        let line_no = self.cursor.line;
        if self.spines.n == 0 {
            self.fix_first_line(fields, grace_line, sink)?;
        } else {
            for i in 0..self.spines.n {
                let Some(s) = self.spines.at.get_mut(i) else { continue };
                if s.kind != Kind::Undecided {
                    continue;
                }
                if line.undecided_other & bit(i) != 0 {
                    s.kind = Kind::Other;
                } else if line.undecided_null & bit(i) != 0 && !grace_line {
                    s.kind = Kind::Dynam;
                }
            }
        }
        if !self.rules.rhythm {
            if line.grace_seen && line.real_seen {
                note(sink, line_no, || "grace notes and timed notes on one line".to_string());
                for s in self.spines.at.iter_mut().take(self.spines.n) {
                    if s.kind == Kind::Kern {
                        s.ok = false;
                    }
                }
            }
            // a line with no note at all (`.` in every kern spine: a dynamic, a text or a
            // fingering between two notes) takes no time, as humlib reads it
            if !line.grace_seen && (line.real_seen || !self.rules.editions) {
                for i in 0..self.spines.n {
                    if line.due_null & bit(i) != 0 {
                        let Some(s) = self.spines.at.get_mut(i) else { continue };
                        s.ok = false;
                        if s.stalled {
                            continue; // reported when it stalled
                        }
                        s.stalled = true;
                        let t = line.t;
                        note(sink, line_no, || {
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
        if line.real_seen {
            self.runs.timed_line();
        } else if grace_line {
            self.runs.grace_line();
        }
        self.prev = Prev::Data;
        Ok(())
    }

    /// The first line of a piece fixes its spines: checked against the layout its field count
    /// gives (`spine::first_line_kind`).
    fn fix_first_line(
        &mut self,
        fields: usize,
        grace_line: bool,
        sink: &mut Sink,
    ) -> Result<(), Fail> {
        let line_no = self.cursor.line;
        let line_other = self.cursor.data.undecided_other;
        for i in 0..fields {
            let want = first_line_kind(fields, i, self.rules.editions);
            let have = self.spine(i).kind;
            match (want, have) {
                (Kind::Kern, Kind::Dynam) => {
                    return Err(token("a **dynam token in a **kern spine"))
                }
                (Kind::Dynam, Kind::Kern) => {
                    return Err(token("a **kern token in the **dynam spine"))
                }
                (Kind::Kern, Kind::Undecided) if self.rules.rhythm && !grace_line => {
                    return Err(rhythm("a **kern spine without its first note"))
                }
                _ => {}
            }
        }
        for i in 0..fields {
            let want = first_line_kind(fields, i, self.rules.editions);
            let other = line_other & bit(i) != 0;
            let Some(s) = self.spines.at.get_mut(i) else { continue };
            s.kind = match (want, s.kind) {
                (Kind::Kern, _) => Kind::Kern,
                (Kind::Dynam, _) => Kind::Dynam,
                (_, Kind::Undecided) if other => Kind::Other,
                (_, Kind::Undecided) if !grace_line => Kind::Dynam,
                (_, k) => k,
            };
            if i > 0 && want == Kind::Kern && s.end == 0 && !grace_line {
                // a kern spine with `.` at the start of the piece (only without rhythm)
                s.ok = false;
                note(sink, line_no, || format!("spine {}: the piece starts without a note", i + 1));
            }
        }
        for s in self.spines.at.iter_mut().skip(fields) {
            *s = SPINE0;
        }
        self.spines.n = fields.min(MAX_SPINES);
        Ok(())
    }
}
