//! The measure clock: how much of the measure is left when each line of a prepared text
//! begins, as one of [`CLOCK_CLASSES`] classes, which the model reads beside each character.
//!
//! Why: a character LSTM on **kern does not learn to count a measure. The shipped models'
//! raw measures were as long as the measure before only 24-30% of the time (the corpus:
//! 97-98%), so the grammar had to steer most measures, and the lines it refused are where the
//! constrained text lost its likelihood. The grammar counts anyway; given that count as an
//! input (an embedding added to the first layer's gates), the Mozart model's validation loss
//! went from 0.5258 to 0.5124 nats per character (models/README.md).
//!
//! A measure's length is taken to be the one before it (its kern spines' ends at its barline,
//! when they agree), as a reader who has not seen a meter counts; the first measure of a
//! piece, one after a measure whose spines disagree, and text the grammar cannot read have
//! the class [`UNKNOWN`]. The class of a character is the one in force after it, i.e. for the
//! line the next character is on: the model reads it to predict that character.
//!
//! A sample the model writes without the grammar (raw) is counted the same way, but holding a
//! meter's length ([`TextClock::holding`]): where the count of its own text would be lost (a
//! measure of no meter's length, spines that disagree, a line its grammar cannot read, a new
//! piece) it goes on from the last measure of a meter's length. Why: the models trust the
//! clock, and the states the corpus has only in cadenzas and first measures ("more than two
//! whole notes left", "unknown") made them write cadenzas once their raw text lost the meter:
//! runs of 32nds measures long (beethoven's raw measures were 710 characters, the corpus's 130).
//!
//! Layer 6: reads the grammar's spine ends and the kind of its last line.

use super::duration::TPW;
use super::grammar::{Grammar, GrammarOptions, LastLine};
use super::limits::FIRST_MEASURE_LENGTHS;

/// Time left is counted in sixteenths, up to this many (two whole notes).
pub const MAX_SIXTEENTHS: u64 = 32;
/// Classes 0..=32: that many sixteenths left; 33..=65: between 0 and 32 sixteenths and a
/// fraction of one (after a tuplet or a 32nd), 33 + the whole sixteenths; 66: more than 32;
/// 67: the notes already run past the measure; 68: unknown.
///
/// Why the fractions keep their sixteenths: with one class for every remainder that is not whole
/// sixteenths, a model that wrote a 32nd or a triplet lost the count until the measure's end,
/// and there it wrote 32nds and 64ths, which kept it there (of the lines the grammar refused in
/// the Mozart model's samples, half were in that class).
pub const CLOCK_CLASSES: usize = 2 * (MAX_SIXTEENTHS as usize + 1) + 3;
const OFF_GRID: u8 = MAX_SIXTEENTHS as u8 + 1;
const LONGER: u8 = 2 * OFF_GRID;
const OVERFULL: u8 = LONGER + 1;
/// The measure's length is not known.
pub const UNKNOWN: u8 = LONGER + 2;
// "Unknown" is the last class: the benchmark's JavaScript peer (www/tools/tfjs-lstm.js) reads
// the last row of the clock's tensor as it.
const _: () = assert!(UNKNOWN as usize == CLOCK_CLASSES - 1);

const SIXTEENTH: u64 = TPW / 16;

/// The lengths a raw sample's measure must have to set the length its clock holds: those of
/// the meters the corpora's movements start in (see [`FIRST_MEASURE_LENGTHS`]) and 9/16 (one
/// Beethoven movement). A cadenza or a measure of another length does not change it; one
/// measure of another meter's length does (a half-note pickup in 4/4 makes it 2/4 until a
/// whole measure sets 4/4 again).
pub fn is_meter_length(length: u64) -> bool {
    FIRST_MEASURE_LENGTHS.contains(&length) || length == TPW * 9 / 16
}

/// The kern spines' ends at a line's start, summed up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ends {
    /// No spine has time in the measure yet.
    NoTime,
    /// Every spine with time ends here.
    Agree(u64),
    Disagree,
}

impl Ends {
    fn of(ends: &[u64]) -> Ends {
        let mut timed = ends.iter().copied().filter(|&e| e > 0);
        match timed.next() {
            None => Ends::NoTime,
            Some(first) if timed.all(|e| e == first) => Ends::Agree(first),
            Some(_) => Ends::Disagree,
        }
    }
}

/// The clock itself: small and `Copy`, updated once per line from a grammar that has just read
/// the line (the sampler's own, or a [`TextClock`]'s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeasureClock {
    /// The measure's length (the one before it).
    length: Option<u64>,
    /// The spines' ends when the current line began (read at a barline: the measure's length).
    at_line: Ends,
    class: u8,
}

impl Default for MeasureClock {
    fn default() -> Self {
        MeasureClock { length: None, at_line: Ends::NoTime, class: UNKNOWN }
    }
}

impl MeasureClock {
    /// The class in force: for the line the next character is on.
    pub fn class(&self) -> u8 {
        self.class
    }

    /// The measure's length, where known.
    pub fn length(&self) -> Option<u64> {
        self.length
    }

    /// Takes the measure to be `length` long where its length is not known, at a line's start
    /// (`grammar` stands there): a sample whose grammar keeps a meter starts counting from it
    /// at once, rather than through a first measure of unknown length, which the model learnt
    /// from the corpus's first measures and rare irregular ones (a cadenza).
    pub fn assume_length(&mut self, length: u64, grammar: &Grammar) {
        if self.length.is_none() && grammar.at_line_begin() {
            self.length = Some(length);
            self.class = self.class_at(&grammar.timed_ends());
        }
    }

    fn class_at(&self, ends: &[u64]) -> u8 {
        match (self.length, ends.iter().min()) {
            (Some(length), Some(&onset)) => class_of(length, onset),
            _ => UNKNOWN,
        }
    }

    /// `grammar` has just read a whole line (it stands at the start of the next).
    pub fn line_read(&mut self, grammar: &Grammar) {
        match grammar.last_line() {
            LastLine::Barline => {
                self.length = match self.at_line {
                    Ends::Agree(l) => Some(l),
                    Ends::NoTime => self.length,
                    Ends::Disagree => None,
                }
            }
            LastLine::PieceEnd => self.length = None,
            LastLine::Other => {}
        }
        let ends = grammar.timed_ends();
        self.at_line = Ends::of(&ends);
        self.class = self.class_at(&ends);
    }

    /// After [`MeasureClock::line_read`] (or a fresh start), for a clock that holds a meter's
    /// length (see [`TextClock::holding`]): a measure of a meter's length sets `held`; any
    /// other length, or none, gives way to it. `ends`: the kern spines' ends at the line's
    /// start (none yet: the measure's start).
    fn hold(&mut self, held: &mut Option<u64>, ends: &[u64]) {
        match (self.length, *held) {
            (Some(l), _) if is_meter_length(l) => *held = Some(l),
            (_, Some(h)) => self.length = Some(h),
            (_, None) => return,
        }
        if let Some(length) = self.length {
            self.class = class_of(length, ends.iter().copied().min().unwrap_or(0));
        }
    }
}

fn class_of(length: u64, onset: u64) -> u8 {
    if onset > length {
        return OVERFULL;
    }
    let left = length - onset;
    let sixteenths = left / SIXTEENTH;
    if sixteenths > MAX_SIXTEENTHS {
        LONGER
    } else if left.is_multiple_of(SIXTEENTH) {
        sixteenths as u8
    } else {
        OFF_GRID + sixteenths as u8
    }
}

/// A clock that follows any text a character at a time with a grammar of its own (rhythm
/// unchecked: it counts what is written): for training text, primes and raw samples. A line
/// the grammar cannot read makes the clock unknown, and the grammar starts afresh after it.
#[derive(Clone, Debug)]
pub struct TextClock {
    options: GrammarOptions,
    grammar: Grammar,
    clock: MeasureClock,
    /// The grammar refused a character of the current line.
    lost: bool,
    /// A raw sample's clock holds a meter's length, once one is known (see [`TextClock::holding`]).
    holds: bool,
    held: Option<u64>,
}

impl TextClock {
    /// `editions`: read in the editions dialect (the model's, see [`super::Dialect`]).
    pub fn new(editions: bool) -> Self {
        let options = GrammarOptions { rhythm: false, editions, ..GrammarOptions::default() };
        TextClock {
            grammar: Grammar::new(options.clone()),
            options,
            clock: MeasureClock::default(),
            lost: false,
            holds: false,
            held: None,
        }
    }

    /// The clock a raw sample is fed: this text's count, holding a meter's length where the
    /// count would be lost (see the module's notes): `length` (a meter chosen), else the first
    /// measure's of a meter's length. It counts from `length` at once.
    pub fn holding(editions: bool, length: Option<u64>) -> Self {
        let mut clock = TextClock { holds: true, held: length, ..TextClock::new(editions) };
        clock.hold_at_line_start();
        clock
    }

    /// A clock that has lost the text where `clock` stood (a sample that went on without its
    /// grammar), holding `held` (the grammar's meter's length): it keeps `clock`'s class to the
    /// end of the line, then starts afresh, as a [`TextClock`] does after a line its grammar
    /// cannot read.
    pub fn lost_from(clock: MeasureClock, editions: bool, held: Option<u64>) -> Self {
        TextClock { lost: true, clock, holds: true, held, ..TextClock::new(editions) }
    }

    fn hold_at_line_start(&mut self) {
        if self.holds {
            self.clock.hold(&mut self.held, &self.grammar.timed_ends());
        }
    }

    /// Reads one character; returns the class in force after it.
    pub fn push(&mut self, c: char) -> u8 {
        if !self.lost && self.grammar.push(c).is_err() {
            self.lost = true;
        }
        if c == '\n' {
            if self.lost {
                self.grammar = Grammar::new(self.options.clone());
                self.clock = MeasureClock::default();
                self.lost = false;
            } else {
                self.clock.line_read(&self.grammar);
            }
            self.hold_at_line_start();
        }
        self.clock.class()
    }

    /// [`MeasureClock::assume_length`] at this point of the text (scoring a sample whose
    /// grammar kept a meter as its sampler read it).
    pub fn assume_length(&mut self, length: u64) {
        if !self.lost {
            self.clock.assume_length(length, &self.grammar);
        }
    }

    /// The clock as it stands (a sampler with a grammar of its own goes on from it).
    pub fn clock(&self) -> MeasureClock {
        self.clock
    }
}

/// The class after each character of `text` (what the model reads beside it in training).
pub fn clock_classes(text: &str, editions: bool) -> Vec<u8> {
    let mut clock = TextClock::new(editions);
    text.chars().map(|c| clock.push(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(text: &str) -> Vec<u8> {
        clock_classes(text, false)
    }

    #[test]
    fn the_first_measure_of_a_piece_has_an_unknown_length() {
        let text = "4c\t4e\n4d\t4f\n@\n";
        assert!(classes(text)[..12].iter().all(|&c| c == UNKNOWN));
    }

    #[test]
    fn time_left_is_counted_from_the_measure_before() {
        let text = "2c\t4e\n.\t4f\n@\n4c\t4e\n4d\t4f\n@\n";
        let c = classes(text);
        assert_eq!(c.len(), text.chars().count());
        // After the barline a measure of a half note (8 sixteenths) begins: its first line's
        // characters, and the newline before them, read 8.
        let second = text.find("@\n4c").unwrap() + 1;
        assert_eq!(c[second], 8);
        assert!(c[second + 1..second + 6].iter().all(|&x| x == 8));
        // The second line begins a quarter into the measure: 4 sixteenths left.
        let line2 = text.rfind("4d").unwrap();
        assert_eq!(c[line2 - 1], 4);
        // The barline begins with nothing left.
        let bar = text.rfind('@').unwrap();
        assert_eq!(c[bar - 1], 0);
    }

    #[test]
    fn a_line_running_past_the_measure_is_overfull_and_a_tuplet_leaves_a_fraction() {
        let text = "2c\t2e\n@\n1c\t1e\n2c\t2e\n@\n6c\t6e\n";
        let c = classes(text);
        let after_whole = text.find("1e\n").unwrap() + 2;
        assert_eq!(c[after_whole], OVERFULL);
        // a triplet half (a sixth of a whole) into a measure of 24 sixteenths: 21 1/3 left
        assert_eq!(*c.last().unwrap(), OFF_GRID + 21);
    }

    #[test]
    fn spines_that_disagree_at_a_barline_make_the_next_measure_unknown() {
        let text = "2c\t4e\n@\n4c\t4e\n@\n";
        let c = classes(text);
        let second = text.find("@\n4c").unwrap() + 1;
        assert_eq!(c[second], UNKNOWN);
    }

    #[test]
    fn a_piece_end_forgets_the_measure() {
        let text = "4c\t4e\n@\n4c\t4e\n*-\t*-\n@\n4c\t4e\n@\n4c\t4e\n";
        let c = classes(text);
        let new_piece = text.find("*-\n@\n").unwrap() + 4;
        assert_eq!(c[new_piece], UNKNOWN);
        let last_bar = text.rfind("@\n").unwrap() + 1;
        assert_eq!(c[last_bar], 4);
        assert_eq!(*c.last().unwrap(), 0);
    }

    #[test]
    fn a_line_the_grammar_cannot_read_resets_the_clock() {
        let text = "4c\t4e\n@\n4c\t4e\n@\n%%\n4c\t4e\n";
        let c = classes(text);
        let before = text.find("%%").unwrap() - 1;
        assert_eq!(c[before], 4);
        assert_eq!(*c.last().unwrap(), UNKNOWN);
    }

    fn held_classes(text: &str, held: Option<u64>) -> Vec<u8> {
        let mut clock = TextClock::holding(false, held);
        text.chars().map(|c| clock.push(c)).collect()
    }

    #[test]
    fn a_raw_samples_clock_counts_from_the_meter_it_holds_at_once() {
        let clock = TextClock::holding(false, Some(TPW));
        assert_eq!(clock.clock().class(), 16);
        let c = held_classes("4c\t4e\n", Some(TPW));
        assert_eq!(*c.last().unwrap(), 12);
    }

    #[test]
    fn a_raw_samples_clock_keeps_its_meter_over_a_measure_of_no_meters_length() {
        // a measure of five quarters, then one whose spines disagree, then a new piece
        let text = "1c\t1e\n4c\t4e\n@\n4c\t4e\n@\n2c\t4e\n@\n4c\t4e\n*-\t*-\n@\n4c\t4e\n";
        let c = held_classes(text, Some(TPW));
        let after = |pat: &str| text.find(pat).unwrap() + pat.len() - 1;
        assert_eq!(c[after("@\n4c\t4e\n")], 12);
        assert_eq!(c[after("@\n2c\t4e\n@\n4c\t4e\n")], 12);
        assert_eq!(*c.last().unwrap(), 12);
        assert!(!c.contains(&UNKNOWN) && !c.contains(&LONGER), "{c:?}");
        // training's clock loses the count there
        assert_eq!(*classes(text).last().unwrap(), UNKNOWN);
    }

    #[test]
    fn a_measure_of_a_meters_length_sets_the_length_a_raw_samples_clock_holds() {
        let text = "4c\t4e\n4c\t4e\n4c\t4e\n@\n4c\t4e\n%%\n4c\t4e\n";
        let c = held_classes(text, Some(TPW));
        // three quarters: 3/4 from then on, also after a line its grammar cannot read
        assert_eq!(c[text.find("@\n4c").unwrap() + 1], 12);
        assert_eq!(*c.last().unwrap(), 8);
        // with no meter held, the count is unknown until the first such measure
        let c = held_classes(text, None);
        assert_eq!(c[0], UNKNOWN);
        assert_eq!(c[text.find("@\n4c").unwrap() + 1], 12);
    }

    #[test]
    fn a_spine_that_goes_on_with_a_null_after_its_note_ended_does_not_stop_the_count() {
        let text = "4c\t4e\n.\t4f\n.\t4g\n";
        let c = held_classes(text, Some(TPW));
        assert_eq!(c[text.find(".\t4f").unwrap() - 1], 12);
        assert_eq!(c[text.find(".\t4g").unwrap() - 1], 8);
        assert_eq!(*c.last().unwrap(), 4);
    }
}
