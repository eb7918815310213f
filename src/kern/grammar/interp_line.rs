//! Interpretation lines: `*` in every field; spine splits and merges, piece ends, meters, and
//! the other interpretations.

use super::state::{Manipulation, Pos, Prev, State, INTERP_LINE, SPINE0};
use super::{note, structure, token, Fail, Sink};
use crate::kern::lex::{Interp, InterpRule, InterpTok};
use crate::kern::limits::MAX_SPINES;
use crate::kern::measure::Spine;
use crate::kern::spine::{first_line_kind, reshape, Kind, SpineOp};

/// Bit `i` of a field mask (none past the sixteenth field).
fn bit(i: usize) -> u16 {
    1u16.checked_shl(i as u32).unwrap_or(0)
}

impl State {
    /// `*` starts a line.
    pub(super) fn begin_interp_line(&mut self) -> Result<(), Fail> {
        let capped = self.runs.interp_capped();
        if capped && !self.term_ok() {
            return Err(structure(
                "too many interpretation lines (since the last note, or in the measure)",
            ));
        }
        self.cursor.field = 0;
        self.cursor.interp = super::state::InterpLine { capped, ..INTERP_LINE };
        self.cursor.pos = Pos::Interp(InterpTok::new());
        Ok(())
    }

    fn interp_rule(&self) -> InterpRule {
        InterpRule {
            signature_ok: !self.rules.rhythm || self.spines.at_measure_start(),
            expect_meter: self.cursor.interp.meter,
            generic: self.rules.editions,
            set: self.rules.durations,
            families: self.rules.families,
        }
    }

    fn too_many_spines(&self) -> Fail {
        if self.spine_limit() == MAX_SPINES {
            structure("more than 16 spines")
        } else {
            structure("more than 8 spines")
        }
    }

    /// Whether a `*-` line may start here.
    pub(super) fn term_ok(&self) -> bool {
        self.rules.piece_ends
            && self.spines.n > 0
            && self.measure.bar_seen
            && self.spines.at_measure_start()
    }

    pub(super) fn interp_char(
        &mut self,
        mut tok: InterpTok,
        c: u8,
        sink: &mut Sink,
    ) -> Result<(), Fail> {
        if self.cursor.interp.capped && self.cursor.field == 0 && tok.is_fresh() && c != b'-' {
            return Err(structure("too many interpretation lines: only `*-` may come here"));
        }
        match c {
            b'\t' => {
                let i = self.cursor.field;
                if i + 1 >= self.max_fields() {
                    return Err(structure("more fields than spines"));
                }
                self.end_interp_field(tok)?;
                if self.spines.n == 0
                    && i + 2 + self.cursor.interp.splits as usize > self.spine_limit()
                {
                    return Err(self.too_many_spines());
                }
                self.cursor.field += 1;
                self.cursor.pos = Pos::InterpFieldStart;
                Ok(())
            }
            b'\n' => {
                let fields = self.cursor.field + 1;
                if self.spines.n > 0 && fields != self.spines.n {
                    return Err(structure("fewer fields than spines"));
                }
                if self.spines.n == 0 && fields < 2 {
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
                self.cursor.pos = Pos::Interp(tok);
                Ok(())
            }
        }
    }

    /// Line rules for the byte after `*`.
    fn interp_first(&self, c: u8) -> Result<(), Fail> {
        let i = self.cursor.field;
        let line = &self.cursor.interp;
        let n = self.spines.n;
        if line.term {
            return if c == b'-' { Ok(()) } else { Err(structure("`*-` ends every spine")) };
        }
        if line.merge_run == 1 {
            return if c == b'v' {
                Ok(())
            } else {
                Err(structure("`*v` merges two or more adjacent spines"))
            };
        }
        let others_not_null = || structure("a spine-manipulation line has `*` in its other fields");
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
                let now = if n == 0 { i + 1 } else { n };
                // reading a score, one line may split some spines and merge others, as
                // Humdrum allows (`*^ *v *v *`); samples keep to one kind per line
                let mixed = !self.rules.editions && line.manipulation == Manipulation::Merge;
                if mixed || line.other_seen {
                    Err(others_not_null())
                } else if now + line.splits as usize + 1 > self.spine_limit() {
                    Err(self.too_many_spines())
                } else {
                    Ok(())
                }
            }
            b'v' => {
                let mixed = !self.rules.editions && line.manipulation == Manipulation::Split;
                if n == 0 || mixed || line.other_seen {
                    return Err(others_not_null());
                }
                let me = self.spine(i);
                // kern spines merge only at one time (with rhythm on)
                let same_time = |a: Kind, a_end: u64, b: Spine| {
                    !self.rules.rhythm || a != Kind::Kern || b.kind != Kind::Kern || a_end == b.end
                };
                let ok = if line.merge_run >= 1 {
                    line.merge_kind.merges_with(me.kind)
                        && same_time(line.merge_kind, line.merge_end, me)
                } else {
                    i + 1 < n && {
                        let next = self.spine(i + 1);
                        me.kind.merges_with(next.kind) && same_time(me.kind, me.end, next)
                    }
                };
                if ok {
                    Ok(())
                } else {
                    Err(structure("`*v` merges adjacent spines of one kind (at one time)"))
                }
            }
            _ => {
                if line.manipulation != Manipulation::None {
                    Err(others_not_null())
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
        let i = self.cursor.field;
        if self.cursor.interp.term && res != Interp::Term {
            return Err(structure("`*-` ends every spine"));
        }
        if self.cursor.interp.merge_run == 1 && res != Interp::Merge {
            return Err(structure("`*v` merges two or more adjacent spines"));
        }
        let me = self.spines.at.get(i).copied().unwrap_or(SPINE0);
        let line = &mut self.cursor.interp;
        if res != Interp::Merge {
            line.merge_run = 0;
        }
        match res {
            Interp::Null => {}
            Interp::Term => line.term = true,
            Interp::Split => {
                line.manipulation = Manipulation::Split;
                line.split_mask |= bit(i);
                line.splits += 1;
            }
            Interp::Merge => {
                line.manipulation = Manipulation::Merge;
                line.merge_mask |= bit(i);
                line.merge_kind =
                    if line.merge_run == 0 { me.kind } else { line.merge_kind.merged(me.kind) };
                if me.kind == Kind::Kern {
                    line.merge_end = me.end;
                }
                line.merge_run += 1;
            }
            Interp::Meter(m) => {
                line.meter = Some(m);
                line.other_seen = true;
            }
            Interp::Clef
            | Interp::KeySignature
            | Interp::Key
            | Interp::Tempo
            | Interp::Mensuration
            | Interp::SectionLabel
            | Interp::Generic => line.other_seen = true,
        }
        Ok(())
    }

    fn end_interp_line(&mut self, sink: &mut Sink) {
        let fields = self.cursor.field + 1;
        self.runs.interp_line();
        if self.cursor.interp.term {
            self.measure.pending_short = None;
            self.reset_piece();
            self.prev = Prev::Term;
            return;
        }
        if self.spines.n == 0 {
            for (i, s) in self.spines.at.iter_mut().enumerate() {
                *s = Spine::new(first_line_kind(fields, i, self.rules.editions));
            }
            self.spines.n = fields.min(MAX_SPINES);
        }
        let line = self.cursor.interp;
        if line.manipulation != Manipulation::None {
            self.reshape_spines(line.split_mask, line.merge_mask, sink);
        }
        if let Some(m) = line.meter {
            if !self.spines.at_measure_start() {
                note(sink, self.cursor.line, || "a meter change inside a measure".to_string());
            }
            self.measure.meter = Some(m);
        }
        self.prev = Prev::Interp;
    }

    /// Applies a manipulation line's splits and merges to the spines.
    fn reshape_spines(&mut self, split_mask: u16, merge_mask: u16, sink: &mut Sink) {
        let before = self.spines;
        let mut out = [SPINE0; MAX_SPINES];
        let mut k = 0;
        let line = self.cursor.line;
        let op = |i: usize| {
            if split_mask & bit(i) != 0 {
                SpineOp::Split
            } else if merge_mask & bit(i) != 0 {
                SpineOp::Merge
            } else {
                SpineOp::Keep
            }
        };
        reshape(before.n, op, |old, copies| {
            let mut merged = before.get(old.start);
            let mut uneven = false;
            for j in old.start + 1..old.end {
                let o = before.get(j);
                if merged.kind == Kind::Kern && o.kind == Kind::Kern && o.end != merged.end {
                    uneven = true;
                }
                merged = merged.merged(o);
            }
            if uneven {
                merged.ok = false;
                note(sink, line, || {
                    format!(
                        "spines {}-{} are merged while their notes end at different times",
                        old.start + 1,
                        old.end
                    )
                });
            }
            for _ in 0..copies {
                if let Some(o) = out.get_mut(k) {
                    *o = merged;
                }
                k += 1;
            }
        });
        self.spines.at = out;
        self.spines.n = k.min(MAX_SPINES);
    }
}
