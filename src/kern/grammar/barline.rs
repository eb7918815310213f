//! Barlines: when one may come, and what it does to the measure and the spines.

use super::state::{Prev, State};
use super::{note, rhythm, Fail, RhythmIssue, Sink};
use crate::kern::duration::frac;

impl State {
    /// Whether `@` may start a line here.
    pub(super) fn bar_ok(&self) -> Result<(), Fail> {
        if self.prev == Prev::Term || !self.rules.rhythm {
            return Ok(());
        }
        let after_barline = self.prev == Prev::Barline;
        if self.spines.n == 0 {
            return if after_barline {
                Err(rhythm("a measure with nothing in it"))
            } else {
                Ok(())
            };
        }
        let piece_ends = self.rules.piece_ends;
        self.measure.barline_ok(self.spines.kern_ends(), after_barline, piece_ends).map_err(rhythm)
    }

    /// A barline line ends: the measure closes and the next one starts.
    pub(super) fn apply_barline(&mut self, sink: &mut Sink) {
        if self.spines.n > 0 {
            let line = self.cursor.line;
            let closed = self.measure.close(self.spines.in_force(), line, sink.is_some());
            if let Some(short) = closed.short {
                if self.rules.rhythm {
                    self.measure.must_end = true;
                } else {
                    self.measure.pending_short = Some(short);
                }
            }
            match (closed.long, closed.problem) {
                // Reading a score: real editions write cadenzas and flourishes as a measure
                // longer than its meter, every spine agreeing (humlib and verovio take them as
                // they are), and some leave out a movement's `*M`. Not a defect: one notice
                // instead of one problem per note past the meter.
                (Some((length, meter)), Some(_)) if self.rules.score => {
                    if let Some(v) = sink.as_mut() {
                        let from = self.measure.first_issue.min(v.len());
                        let others: Vec<RhythmIssue> =
                            v.drain(from..).filter(|i| !i.overflow).collect();
                        v.extend(others);
                        v.push(RhythmIssue {
                            line,
                            message: format!(
                                "an irregular measure: {} in every spine, its meter {meter} (a cadenza, a flourish, or a missing `*M`)",
                                frac(length)
                            ),
                            overflow: false,
                            notice: true,
                        });
                    }
                }
                (_, Some(problem)) => note(sink, line, || problem),
                _ => {}
            }
            if let Some((at, message)) = closed.unpaired {
                note(sink, at, || message);
            }
        }
        for s in self.spines.at.iter_mut() {
            s.end = 0;
            s.ok = true;
            s.stalled = false;
        }
        if self.rules.rhythm_pending {
            self.rules.rhythm = true;
            self.rules.rhythm_pending = false;
            self.measure.pending_short = None;
            self.measure.unpaired_short = None;
        }
        self.prev = Prev::Barline;
        self.measure.bar_seen = true;
        self.measure.first_issue = sink.as_ref().map_or(0, |v| v.len());
        self.runs.barline();
    }

    /// The end of the text: a short measure still unpaired was a short measure in the middle.
    pub(super) fn resolve_short_at_end(&mut self, sink: &mut Sink) {
        if let Some((line, message)) = self.measure.unpaired_at_end() {
            note(sink, line, || message);
        }
    }
}
