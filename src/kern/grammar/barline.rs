//! Barlines: when one may come, and what it does to the measure and the spines.

use super::state::{Prev, State};
use super::{note, rhythm, Fail, Sink};

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
            if let Some(problem) = closed.problem {
                note(sink, line, || problem);
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
        self.runs.barline();
    }

    /// The end of the text: a short measure still unpaired was a short measure in the middle.
    pub(super) fn resolve_short_at_end(&mut self, sink: &mut Sink) {
        if let Some((line, message)) = self.measure.unpaired_at_end() {
            note(sink, line, || message);
        }
    }
}
