//! The sampling loop, shared by the command line and the browser: prime the LSTM with a text,
//! then draw one character at a time from the softmax of its logits at a temperature.

#[cfg(feature = "webgpu")]
pub mod gpu;

use std::collections::VecDeque;
use std::sync::Arc;

use crate::infer::{math, CpuModel, LstmState};
use crate::kern::clock::{is_meter_length, MeasureClock, TextClock, UNKNOWN};
use crate::kern::duration::TPW;
use crate::kern::grammar::measure_lengths;
use crate::kern::limits::FIRST_MEASURE_LENGTHS;
use crate::kern::{Grammar, GrammarOptions, LineKinds, Meter, MeterChoice};
use crate::rng::Rng;
use crate::vocab::UnknownChars;

/// The longest sample we agree to produce: about 80,000 measures, ten minutes in a browser.
pub const MAX_LENGTH: usize = 10_000_000;
/// The longest prime text (a whole movement is about 20,000 characters).
pub const MAX_PRIME: usize = 1_000_000;
/// A score being continued primes the model with at most its last this many prepared
/// characters (from a barline): about 60 measures, far more than the LSTM remembers (it
/// trained on 50-character windows), and half a second of priming on the browser's CPU path.
pub const MAX_CONTINUE_PRIME: usize = 8_000;
/// Temperatures above this give noise whatever the model; refusing them catches typos (80 for 0.8).
pub const MAX_TEMPERATURE: f32 = 10.0;
/// Constrained sampling goes on past `length` to the end of the measure, at most this far.
pub const MAX_OVERRUN: usize = 4_000;
/// With the grammar, a line is drawn from the model as it is, and drawn again from the same
/// state when the grammar refuses it (the draw that best follows the model: the text is
/// distributed as the model's lines restricted to the valid ones), at most this many times;
/// then it is drawn field by field. Measured (`make fidelity`): 1, 2, 4 or 8 whole-line draws
/// give the same likelihood and shape of text within the benchmark's noise; more cost more.
///
/// Rejection at the grain of a measure (a measure one of whose lines is refused this often
/// drawn again from its barline) was measured too, with the models trained on sequences of
/// 50: with one more draw of the measure the text's likelihood under the model rose by 0.00
/// to 0.02 nats per character for 1.8 draws per character instead of 1.4; with 4 draws, 0.04
/// to 0.05 for 2.5. The models' own measures rarely fit a meter (of their raw measures 10-12%,
/// with the shipped models 18-24%, would be valid in the meter their sample has most often),
/// so whole measures cannot be drawn until one fits within the speed budget (1.5 times the
/// cost of raw sampling).
pub const MAX_LINE_ATTEMPTS: usize = 2;
/// After [`MAX_LINE_ATTEMPTS`] refusals a line is drawn field by field: a refused field is
/// drawn again from the state at its start, at most this many times, before it is drawn a
/// character at a time from the allowed characters.
pub const MAX_FIELD_ATTEMPTS: usize = 8;
/// A number drawn whole (see [`Sampler::draw_number`]) has at most this many characters: the
/// longest duration of a vocabulary is 3 digits and 2 dots (`128..` would be), a meter's
/// numbers 2 digits.
const MAX_NUMBER_CHARS: usize = 5;
/// A number being drawn whole is not followed further once it is less likely than this share
/// of the digits' probability where it starts: a thousandth, far below a choice the model
/// would make, keeps the search to a few LSTM steps.
const NUMBER_PRUNE: f64 = 1e-3;
/// A drawn line longer than this is refused (the longest line of the corpus has 157
/// characters).
pub const MAX_LINE_CHARS: usize = 400;
/// With the meter from the music, a model without the measure clock first writes this many
/// characters freely (the probe): its measures' lengths say the meter of the piece it means to
/// write (the prepared corpus has no `*M` at a piece's start, so the meter is in how long its
/// measures are). See [`music_meter`].
pub const PROBE_LENGTH: usize = 600;
/// The probe's seed, and the meter draw's, is the sample's with these bits flipped (another
/// stream, the same for the same seed).
const PROBE_SEED: u64 = 0x05EE_D0F3_E7E8;

/// How to sample. The same options and model give the same text on every run and platform.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleOptions {
    /// Divides the logits: below 1 is more conservative, above 1 more adventurous.
    pub temperature: f32,
    pub seed: u64,
    /// Text fed to the model first and copied to the output (the published runs used `@`, a
    /// barline, so the sample starts at the top of a measure).
    pub prime: String,
    /// Characters to draw after the prime.
    pub length: usize,
    /// Always take the most likely character (deterministic, ignores temperature and seed).
    pub argmax: bool,
    /// Sample without the **kern grammar, as the published experiment did: lines may have the
    /// wrong number of fields and measures need not add up.
    pub raw: bool,
    /// The meter of the piece: from the music (its first measure's; the default), or a fixed
    /// one until the text sets one (`*M3/4`).
    pub meter: MeterChoice,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            temperature: 0.8,
            seed: 1,
            prime: "@\n".into(),
            length: 2000,
            argmax: false,
            raw: false,
            meter: MeterChoice::FromMusic,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SampleError {
    #[error("length must be a whole number from 1 to {MAX_LENGTH}, got {0}")]
    Length(usize),
    #[error("temperature must be a number above 0 and at most {MAX_TEMPERATURE}, got {0}")]
    Temperature(f32),
    #[error("the prime text is empty: give at least one character (for example \"@\", a barline)")]
    EmptyPrime,
    #[error("the prime text is {0} characters long; at most {MAX_PRIME} are accepted")]
    LongPrime(usize),
    #[error("the prime text has characters the model cannot read: {0}")]
    Prime(#[from] UnknownChars),
    #[error("the prime text is not valid **kern ({0}); fix it or sample with --raw")]
    PrimeGrammar(String),
    #[error("this model cannot write a checked score ({0}); sample with --raw (on the page: untick \"Keep to the **kern grammar\")")]
    Unsupported(String),
    /// Samples that cannot run together on the GPU.
    #[error("{0}")]
    Batch(String),
    #[cfg(feature = "webgpu")]
    #[error(transparent)]
    Gpu(#[from] crate::infer::gpu::GpuError),
}

impl SampleOptions {
    /// Checks everything that does not depend on the model.
    pub fn validate(&self) -> Result<(), SampleError> {
        if self.length == 0 || self.length > MAX_LENGTH {
            return Err(SampleError::Length(self.length));
        }
        let t = self.temperature;
        if !(t.is_finite() && t > 0.0 && t <= MAX_TEMPERATURE) {
            return Err(SampleError::Temperature(t));
        }
        if self.prime.is_empty() {
            return Err(SampleError::EmptyPrime);
        }
        let n = self.prime.chars().count();
        if n > MAX_PRIME {
            return Err(SampleError::LongPrime(n));
        }
        Ok(())
    }
}

/// Draws a token from logits at a temperature, or the most likely one.
///
/// `weights` is scratch space of the logits' length. Tokens for which `allowed` is false are
/// never drawn; if it forbids every token the most likely one is taken.
pub fn draw(
    logits: &[f32],
    temperature: f32,
    argmax: bool,
    rng: &mut Rng,
    weights: &mut [f32],
    allowed: impl Fn(usize) -> bool,
) -> usize {
    let mut best = None;
    for (i, &l) in logits.iter().enumerate() {
        if allowed(i) && best.is_none_or(|b: usize| l > logits[b]) {
            best = Some(i);
        }
    }
    let Some(best) = best else {
        return logits.iter().enumerate().fold(0, |b, (i, &l)| if l > logits[b] { i } else { b });
    };
    if argmax {
        return best;
    }
    let max = logits[best];
    let mut total = 0.0f32;
    for (i, (w, &l)) in weights.iter_mut().zip(logits).enumerate() {
        *w = if allowed(i) { math::exp((l - max) / temperature) } else { 0.0 };
        total += *w;
    }
    let mut u = rng.next_f32() * total;
    for (i, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            if u < w {
                return i;
            }
            u -= w;
        }
    }
    // Rounding left u just above the last bin: take the last possible token.
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(best)
}

/// How constrained sampling went: how often the grammar took the model's line as drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleStats {
    /// Lines taken whole as the model drew them.
    pub lines: usize,
    /// Lines the model drew that the grammar refused (each was drawn again).
    pub refused: usize,
    /// Lines drawn field by field, after [`MAX_LINE_ATTEMPTS`] refusals.
    pub lines_by_field: usize,
    /// Fields refused in those lines (each drawn again).
    pub refused_fields: usize,
    /// Fields drawn a character at a time from the allowed characters, after
    /// [`MAX_FIELD_ATTEMPTS`] refusals.
    pub masked_fields: usize,
    /// Characters the model drew, those of refused lines and fields and of the numbers
    /// weighed by [`Sampler::draw_number`] included.
    pub drawn: usize,
}

impl SampleStats {
    /// Adds another sample's counts.
    pub fn add(&mut self, o: &SampleStats) {
        self.lines += o.lines;
        self.refused += o.refused;
        self.lines_by_field += o.lines_by_field;
        self.refused_fields += o.refused_fields;
        self.masked_fields += o.masked_fields;
        self.drawn += o.drawn;
    }
}

/// What a free draw gave: whether it ended where it should, its first character, whether it
/// had a grace-note sign.
struct Drawn {
    accepted: bool,
    first: Option<char>,
    grace: bool,
}

/// Where a draw stands: the grammar, the measure clock, the LSTM state and the logits after
/// the text so far.
#[derive(Clone, Debug)]
struct Cursor {
    grammar: Grammar,
    clock: MeasureClock,
    state: LstmState,
    logits: Vec<f32>,
}

impl Cursor {
    /// The clock's class after `c`, which the grammar has just taken: a line's end moves it.
    fn clock_after(&mut self, c: char) -> u8 {
        if c == '\n' {
            line_read(&mut self.clock, &self.grammar);
        }
        self.clock.class()
    }
}

/// Moves a sample's clock at a line's end: as training's, and counting from the grammar's meter
/// where the measure's length is not known yet (a prime that did not end at a line's start).
fn line_read(clock: &mut MeasureClock, grammar: &Grammar) {
    clock.line_read(grammar);
    if let Some(m) = grammar.meter() {
        clock.assume_length(m.ticks(), grammar);
    }
}

/// How a raw sample's measure clock counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RawClock {
    /// Holding a meter's length (see [`TextClock::holding`]): the meter chosen, else the one the
    /// model means to write ([`probe_meter`]).
    HoldsMeter,
    /// As training's: the probe, which finds the meter the model writes by itself.
    AsTraining,
}

/// The measure clock a sample's model reads beside each character ([`crate::kern::clock`]).
#[derive(Clone, Debug)]
enum SampleClock {
    /// The model does not read it.
    Off,
    /// With the grammar: moved by the sampler's grammar at each line's end.
    Grammar(MeasureClock),
    /// Raw: follows the text with a grammar of its own.
    Text(Box<TextClock>),
}

/// A sample in progress: call [`Sampler::next_char`] or [`Sampler::take`] until it returns
/// nothing. Sampling in chunks lets a caller show progress or stop early; the text is the same
/// whatever the chunks.
#[derive(Clone, Debug)]
pub struct Sampler {
    model: Arc<CpuModel>,
    opts: SampleOptions,
    state: LstmState,
    logits: Vec<f32>,
    scratch: Vec<f32>,
    rng: Rng,
    produced: usize,
    /// The grammar and the allowed-token mask it gives at each step (None with `raw`).
    grammar: Option<Grammar>,
    allowed: Vec<bool>,
    /// The characters of an accepted line not yet handed out (token, character); the state,
    /// logits and grammar are already past them.
    pending: VecDeque<(usize, char)>,
    /// The sample ends once `pending` is handed out.
    ends_after_pending: bool,
    /// The grammar refused a character it allowed (it cannot): the sample goes on without it.
    unconstrained: bool,
    done: bool,
    rhythm_relaxed: usize,
    stats: SampleStats,
    /// The measure clock the model reads.
    clock: SampleClock,
    /// The meter a raw sample's clock holds from its start.
    held_meter: Option<Meter>,
    /// The state before the prime's last token, and that token: where a GPU launch starts a
    /// sample, so that it can draw the first line again ([`gpu`]).
    before_last: (LstmState, usize),
}

impl Sampler {
    /// Validates the options and feeds the prime text through the model.
    pub fn new(model: Arc<CpuModel>, opts: SampleOptions) -> Result<Self, SampleError> {
        Self::build(model, opts, RawClock::HoldsMeter)
    }

    fn build(
        model: Arc<CpuModel>,
        opts: SampleOptions,
        raw_clock: RawClock,
    ) -> Result<Self, SampleError> {
        let (tokens, mut grammar) = Self::prepare(&model, &opts)?;
        if opts.meter == MeterChoice::FromMusic {
            if let Some(g) = &mut grammar {
                *g = prime_grammar(&opts, &model, MeterChoice::Fixed(music_meter(&model, &opts)))?;
            }
        }
        let v = model.hyper().vocab_size;
        // The prime's clock, by a grammar of its own (as the training text's) in the dialect the
        // prime was read in (a real score being continued may need the editions dialect); a
        // sample with the grammar goes on from it with the sampler's grammar.
        let editions = grammar.as_ref().map_or(model.dialect().editions, Grammar::editions);
        let clock_input = model.hyper().measure_clock;
        // Raw, the clock holds a meter's length (see `TextClock::holding`), the prime's classes
        // counted that way too.
        let held_meter = match (&grammar, clock_input, raw_clock) {
            (None, true, RawClock::HoldsMeter) => Some(match opts.meter {
                MeterChoice::Fixed(m) => m,
                MeterChoice::FromMusic => music_meter(&model, &opts),
            }),
            _ => None,
        };
        let mut prime_clock = match held_meter {
            Some(meter) => TextClock::holding(editions, Some(meter.ticks())),
            None => TextClock::new(editions),
        };
        let mut classes: Vec<u8> = opts
            .prime
            .chars()
            .map(|c| if clock_input { prime_clock.push(c) } else { UNKNOWN })
            .collect();
        let clock = match (&grammar, clock_input) {
            (_, false) => SampleClock::Off,
            (Some(g), true) => {
                let mut clock = prime_clock.clock();
                if let Some(meter) = g.meter() {
                    clock.assume_length(meter.ticks(), g);
                }
                // (The class after the prime is fed with its last character.)
                if let Some(last) = classes.last_mut() {
                    *last = clock.class();
                }
                SampleClock::Grammar(clock)
            }
            (None, true) => SampleClock::Text(Box::new(prime_clock)),
        };
        let mut sampler = Sampler {
            state: model.zero_state(),
            logits: vec![0.0; v],
            scratch: vec![0.0; v],
            rng: Rng::new(opts.seed),
            produced: 0,
            grammar,
            allowed: vec![true; v],
            pending: VecDeque::new(),
            ends_after_pending: false,
            unconstrained: false,
            done: false,
            rhythm_relaxed: 0,
            stats: SampleStats::default(),
            clock,
            held_meter,
            before_last: (model.zero_state(), 0),
            model,
            opts,
        };
        let n = tokens.len();
        for (i, (t, k)) in tokens.into_iter().zip(classes).enumerate() {
            if i + 1 == n {
                sampler.before_last = (sampler.state.clone(), t);
            }
            sampler.model.step(&mut sampler.state, t, k, &mut sampler.logits);
        }
        Ok(sampler)
    }

    /// Whether `opts` can sample from `model`, without running it: every check
    /// [`Sampler::new`] makes (the options, the prime's characters and **kern, the grammar's
    /// support for the model's vocabulary).
    pub fn check(model: &CpuModel, opts: &SampleOptions) -> Result<(), SampleError> {
        Self::prepare(model, opts).map(|_| ())
    }

    /// The prime's tokens and the grammar after it (none when raw).
    fn prepare(
        model: &CpuModel,
        opts: &SampleOptions,
    ) -> Result<(Vec<usize>, Option<Grammar>), SampleError> {
        opts.validate()?;
        let tokens = model.vocab().encode(&opts.prime)?;
        let grammar = if opts.raw { None } else { Some(prime_grammar(opts, model, opts.meter)?) };
        Ok((tokens, grammar))
    }

    pub fn options(&self) -> &SampleOptions {
        &self.opts
    }

    /// Characters handed out so far (not counting the prime).
    pub fn produced(&self) -> usize {
        self.produced
    }

    /// Measures whose rhythm the grammar had to let go because the model's vocabulary could
    /// not complete them (0 for the shipped models' vocabularies).
    pub fn rhythm_relaxed(&self) -> usize {
        self.rhythm_relaxed
    }

    /// How the grammar took the model's lines so far.
    pub fn stats(&self) -> SampleStats {
        self.stats
    }

    /// Whether the sample is complete.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next character, or `None` once the sample is complete: `length` characters raw;
    /// constrained, `length` characters and then on to the end of the measure (at most
    /// [`MAX_OVERRUN`] more), so the score does not stop mid-measure.
    pub fn next_char(&mut self) -> Option<char> {
        if self.pending.is_empty() && !self.done {
            if self.grammar.is_some() && !self.opts.argmax {
                self.draw_line();
            } else {
                let logits = std::mem::take(&mut self.logits);
                let chosen = self.decide(&logits, None);
                self.logits = logits;
                let (t, c) = chosen?;
                let k = self.clock_class();
                self.model.step(&mut self.state, t, k, &mut self.logits);
                return Some(c);
            }
        }
        let (_, c) = self.pending.pop_front()?;
        self.produced += 1;
        if self.pending.is_empty() && self.ends_after_pending {
            self.done = true;
        }
        Some(c)
    }

    /// Draws the rest of the current line into `pending`, following the model as closely as
    /// the grammar lets it: the line as the model writes it, drawn again while the grammar
    /// refuses it ([`Sampler::free_line`]), else field by field ([`Sampler::repaired_line`]).
    fn draw_line(&mut self) {
        let Some(grammar) = self.grammar.clone() else { return };
        let clock = self.measure_clock();
        let at = Cursor { grammar, clock, state: self.state.clone(), logits: self.logits.clone() };
        let (next, line) = match self.free_line(&at) {
            Ok(drawn) => drawn,
            Err(kinds) => self.repaired_line(&at, kinds),
        };
        self.take_text(next, line);
    }

    /// The next line as the model writes it from `at`, drawn again while the grammar refuses
    /// it, at most [`MAX_LINE_ATTEMPTS`] times; `Err` with the kinds of line a repair should
    /// keep to (the kind the model meant, see [`retry_kinds`]) when every draw was refused.
    fn free_line(&mut self, at: &Cursor) -> Result<(Cursor, Vec<(usize, char)>), LineKinds> {
        let mut kinds = LineKinds::ALL;
        for attempt in 0..MAX_LINE_ATTEMPTS {
            let mut next = at.clone();
            next.grammar.set_line_kinds(kinds);
            let mut line = Vec::new();
            let drawn = self.draw_free(&mut next, &mut line, &['\n']);
            if drawn.accepted {
                self.stats.lines += 1;
                next.grammar.set_line_kinds(LineKinds::ALL);
                return Ok((next, line));
            }
            self.stats.refused += 1;
            if attempt == 0 && at.grammar.at_line_begin() {
                kinds = retry_kinds(&at.grammar, drawn.first, drawn.grace);
            }
        }
        Err(kinds)
    }

    /// A line drawn field by field from `at`, within `kinds`: a refused field is drawn again
    /// from the state at its start ([`MAX_FIELD_ATTEMPTS`] draws), then a character at a time
    /// from the characters the grammar allows (numbers whole, see [`Sampler::draw_number`]).
    /// The kinds keep the line to the kind the model meant: a refused data line is drawn
    /// again as a data line, never turned into an interpretation or grace-note line the model
    /// did not mean.
    fn repaired_line(&mut self, at: &Cursor, kinds: LineKinds) -> (Cursor, Vec<(usize, char)>) {
        let mut at = at.clone();
        at.grammar.set_line_kinds(kinds);
        let mut line = Vec::new();
        loop {
            let mut field = None;
            for _ in 0..MAX_FIELD_ATTEMPTS {
                let mut next = at.clone();
                let mut chars = Vec::new();
                if self.draw_free(&mut next, &mut chars, &['\t', '\n']).accepted {
                    field = Some((next, chars));
                    break;
                }
                self.stats.refused_fields += 1;
            }
            let (next, chars) = field.unwrap_or_else(|| {
                self.stats.masked_fields += 1;
                let mut next = at.clone();
                let mut chars = Vec::new();
                self.draw_masked(&mut next, &mut chars);
                (next, chars)
            });
            at = next;
            let end = chars.last().map(|&(_, c)| c);
            line.extend(chars);
            if end != Some('\t') || line.len() >= MAX_LINE_CHARS || self.unconstrained {
                break;
            }
        }
        self.stats.lines_by_field += 1;
        at.grammar.set_line_kinds(LineKinds::ALL);
        (at, line)
    }

    /// Draws characters as the model writes them from `at`, pushing them through its grammar
    /// and model, until one of `ends` is drawn (and accepted) or the grammar refuses one.
    fn draw_free(&mut self, at: &mut Cursor, out: &mut Vec<(usize, char)>, ends: &[char]) -> Drawn {
        let vocab = self.model.vocab();
        let mut drawn = Drawn { accepted: false, first: None, grace: false };
        loop {
            let t = draw(
                &at.logits,
                self.opts.temperature,
                false,
                &mut self.rng,
                &mut self.scratch,
                |_| true,
            );
            self.stats.drawn += 1;
            let Some(c) = vocab.char(t) else { return drawn };
            drawn.first.get_or_insert(c);
            drawn.grace |= matches!(c, 'q' | 'Q');
            if at.grammar.push(c).is_err() {
                return drawn;
            }
            out.push((t, c));
            let k = at.clock_after(c);
            self.model.step(&mut at.state, t, k, &mut at.logits);
            if ends.contains(&c) {
                drawn.accepted = true;
                return drawn;
            }
            if out.len() >= MAX_LINE_CHARS {
                return drawn;
            }
        }
    }

    /// Draws one field (to its TAB or newline) a character at a time from the characters `g`
    /// allows, the model's probabilities renormalised over them.
    ///
    /// A number (a duration, a meter's digits) is drawn whole, as [`Sampler::draw_number`]
    /// says: renormalising one digit at a time would turn a half note that does not fit (`2`)
    /// into a triplet eighth (`24`) the model never meant.
    fn draw_masked(&mut self, at: &mut Cursor, out: &mut Vec<(usize, char)>) {
        loop {
            let t = self.masked_token(Some(&mut at.grammar), &at.logits, None);
            let Some(c) = self.model.vocab().char(t) else { break };
            if c.is_ascii_digit() && self.draw_number(at, out) {
                if out.len() >= MAX_LINE_CHARS {
                    break;
                }
                continue;
            }
            self.stats.drawn += 1;
            self.push_drawn(&mut at.grammar, c);
            let k = at.clock_after(c);
            self.model.step(&mut at.state, t, k, &mut at.logits);
            out.push((t, c));
            if matches!(c, '\t' | '\n') || out.len() >= MAX_LINE_CHARS || self.unconstrained {
                break;
            }
        }
    }

    /// A token drawn from `logits` among those `g` allows (any, without a grammar), or the
    /// candidate where it is allowed; not yet pushed.
    fn masked_token(
        &mut self,
        g: Option<&mut Grammar>,
        logits: &[f32],
        candidate: Option<usize>,
    ) -> usize {
        let vocab = self.model.vocab();
        if let Some(g) = g {
            g.allowed_mask(vocab.chars(), &mut self.allowed);
            if !self.allowed.contains(&true) {
                // The vocabulary cannot finish this measure (a model whose corpus lacks some
                // duration digits): keep the structure rules, let this measure's rhythm go, and
                // check rhythm again from the next barline.
                g.set_rhythm(false);
                g.set_rhythm(true);
                self.rhythm_relaxed += 1;
                g.allowed_mask(vocab.chars(), &mut self.allowed);
            }
        } else {
            self.allowed.fill(true);
        }
        let allowed = &self.allowed;
        match candidate {
            Some(t) if t < allowed.len() && allowed[t] => t,
            _ => draw(
                logits,
                self.opts.temperature,
                self.opts.argmax,
                &mut self.rng,
                &mut self.scratch,
                |i| allowed[i],
            ),
        }
    }

    /// Draws a whole number where a field is drawn a character at a time and the model has
    /// just chosen to write a digit: every run of digits and dots the grammar accepts, followed
    /// by a character it allows, weighed by the model's probability of the whole run and of
    /// ending it there (the model's own choice among the numbers that fit, at the sampling
    /// temperature). Runs less likely than [`NUMBER_PRUNE`] of the digits' mass are not
    /// explored. Pushes the run through `g`, the model and `out`; false (nothing drawn) when
    /// no run qualifies, and the caller draws the digit alone.
    fn draw_number(&mut self, at: &mut Cursor, out: &mut Vec<(usize, char)>) -> bool {
        // (Digits and dots leave the clock as it is: a line does not end within a number.)
        let k = at.clock.class();
        let (g, state, logits) = (&mut at.grammar, &mut at.state, &mut at.logits);
        let model = self.model.clone();
        let vocab = model.vocab();
        let chars = vocab.chars();
        let temperature = self.opts.temperature;
        let probabilities = |logits: &[f32]| math::softmax_at(logits, temperature);
        let in_number = |c: char, first: bool| c.is_ascii_digit() || (c == '.' && !first);
        struct Run {
            tokens: Vec<(usize, char)>,
            grammar: Grammar,
            state: LstmState,
            logits: Vec<f32>,
            p: f64,
        }
        let root_p = probabilities(logits);
        let digit_mass: f64 = chars
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c.is_ascii_digit() && g.allows(c))
            .map(|(t, _)| root_p[t])
            .sum();
        let floor = digit_mass * NUMBER_PRUNE;
        let mut open = vec![Run {
            tokens: Vec::new(),
            grammar: g.clone(),
            state: state.clone(),
            logits: logits.to_vec(),
            p: 1.0,
        }];
        let mut ended: Vec<(Run, f64)> = Vec::new();
        let mut steps = 0;
        while let Some(run) = open.pop() {
            let p = if run.tokens.is_empty() { root_p.clone() } else { probabilities(&run.logits) };
            for (t, &c) in chars.iter().enumerate() {
                let q = run.p * p[t];
                if !in_number(c, run.tokens.is_empty())
                    || run.tokens.len() >= MAX_NUMBER_CHARS
                    || q < floor
                    || !run.grammar.allows(c)
                {
                    continue;
                }
                let mut next = Run {
                    tokens: run.tokens.clone(),
                    grammar: run.grammar.clone(),
                    state: run.state.clone(),
                    logits: run.logits.clone(),
                    p: q,
                };
                if next.grammar.push(c).is_err() {
                    continue;
                }
                next.tokens.push((t, c));
                model.step(&mut next.state, t, k, &mut next.logits);
                steps += 1;
                open.push(next);
            }
            if !run.tokens.is_empty() {
                let end: f64 = chars
                    .iter()
                    .enumerate()
                    .filter(|&(_, &c)| !in_number(c, false) && run.grammar.allows(c))
                    .map(|(t, _)| p[t])
                    .sum();
                if end > 0.0 {
                    let weight = run.p * end;
                    ended.push((run, weight));
                }
            }
        }
        self.stats.drawn += steps;
        let total: f64 = ended.iter().map(|(_, w)| w).sum();
        if ended.is_empty() || total <= 0.0 {
            return false;
        }
        let mut pick = ended.len() - 1;
        if self.opts.argmax {
            // greedy: the likeliest run (the first of equals)
            pick = 0;
            for (i, (_, w)) in ended.iter().enumerate() {
                if *w > ended[pick].1 {
                    pick = i;
                }
            }
        } else {
            let mut u = self.rng.next_f32() as f64 * total;
            for (i, (_, w)) in ended.iter().enumerate() {
                if u < *w {
                    pick = i;
                    break;
                }
                u -= w;
            }
        }
        let run = ended.swap_remove(pick).0;
        *g = run.grammar;
        *state = run.state;
        logits.copy_from_slice(&run.logits);
        out.extend(run.tokens);
        true
    }

    /// Takes drawn text: the state, logits and grammar after it, its characters to hand out;
    /// the sample ends with it once it reaches `length` at the end of a measure (or
    /// [`MAX_OVERRUN`] characters further).
    fn take_text(&mut self, at: Cursor, text: Vec<(usize, char)>) {
        if let SampleClock::Grammar(clock) = &mut self.clock {
            *clock = at.clock;
        }
        self.state = at.state;
        self.logits = at.logits;
        self.grammar = (!self.unconstrained).then_some(at.grammar);
        self.pending.extend(text);
        let total = self.produced + self.pending.len();
        if total >= self.opts.length {
            let at_bar = self.grammar.as_ref().is_none_or(|g| g.at_line_start());
            self.ends_after_pending = at_bar || total >= self.opts.length + MAX_OVERRUN;
        }
    }

    /// Takes a line drawn elsewhere (on a GPU): the grammar after it and how many characters it
    /// has, handed out by the caller; the length rule as in [`Sampler::take_text`].
    #[cfg(feature = "webgpu")]
    fn commit_line(&mut self, grammar: Grammar, chars: usize) {
        // The overrun ends a sample only at a line's end, as on the CPU (a field may be taken
        // alone).
        let (at_bar, at_line) = (grammar.at_line_start(), grammar.at_line_begin());
        if let (SampleClock::Grammar(clock), true) = (&mut self.clock, at_line) {
            line_read(clock, &grammar);
        }
        self.grammar = Some(grammar);
        self.produced += chars;
        if self.produced >= self.opts.length {
            self.done = at_bar || (at_line && self.produced >= self.opts.length + MAX_OVERRUN);
        }
    }

    /// The logits the next character is drawn from (after the prime, or the last [`next_char`]).
    ///
    /// [`next_char`]: Sampler::next_char
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// The LSTM state the next character is fed into (after the prime, or the last step).
    pub fn state(&self) -> &LstmState {
        &self.state
    }

    /// The measure clock's class in force: what the model reads beside the last character
    /// handed out or drawn (a GPU launch feeds it with the character it starts from).
    pub fn clock_class(&self) -> u8 {
        match &self.clock {
            SampleClock::Off => UNKNOWN,
            SampleClock::Grammar(clock) => clock.class(),
            SampleClock::Text(clock) => clock.clock().class(),
        }
    }

    /// The meter the grammar keeps now (none raw, or before a first measure sets it).
    pub fn meter(&self) -> Option<Meter> {
        self.grammar.as_ref().and_then(Grammar::meter)
    }

    /// Raw, the meter the measure clock holds from the prime's start (see
    /// [`TextClock::holding`]): the one chosen, else the one the model writes by itself; none
    /// with the grammar (its clock counts from [`Sampler::meter`] after the prime) or when the
    /// model does not read the clock.
    pub fn held_meter(&self) -> Option<Meter> {
        self.held_meter
    }

    /// Whether the model reads the measure clock.
    pub fn reads_clock(&self) -> bool {
        !matches!(self.clock, SampleClock::Off)
    }

    /// The clock a draw with the grammar starts from.
    fn measure_clock(&self) -> MeasureClock {
        match &self.clock {
            SampleClock::Off => MeasureClock::default(),
            SampleClock::Grammar(clock) => *clock,
            SampleClock::Text(clock) => clock.clock(),
        }
    }

    /// Moves the clock past `c`, which [`Sampler::decide`] just chose (and the grammar took).
    fn move_clock(&mut self, c: char) {
        if let (SampleClock::Grammar(clock), None) = (&self.clock, &self.grammar) {
            // The sample went on without its grammar: the clock follows the text as training's
            // would, from the next line.
            // The measure's length with the grammar: the meter's, whatever it is.
            let held = clock.length();
            let lost = TextClock::lost_from(*clock, self.model.dialect().editions, held);
            self.clock = SampleClock::Text(Box::new(lost));
        }
        match &mut self.clock {
            SampleClock::Off => {}
            SampleClock::Grammar(clock) => {
                if let (Some(g), '\n') = (&self.grammar, c) {
                    line_read(clock, g);
                }
            }
            SampleClock::Text(clock) => {
                clock.push(c);
            }
        }
    }

    /// Chooses the next character from `logits` without running the model: the grammar's mask,
    /// the draw, the grammar's bookkeeping and the length rule. With a `candidate` (a token
    /// already drawn from the same logits at the same temperature, say on a GPU) that the
    /// grammar allows, the candidate is taken and no random number is used; otherwise the
    /// token is drawn from the allowed ones. Taking an allowed candidate and redrawing a
    /// refused one is rejection sampling, so the text follows the same distribution as drawing
    /// from the mask directly. A line whose first candidate is refused keeps the kind that
    /// candidate meant (see [`Sampler::draw_line`]). Returns the token and its character, or
    /// `None` once done.
    pub fn decide(&mut self, logits: &[f32], candidate: Option<usize>) -> Option<(usize, char)> {
        if self.done {
            return None;
        }
        let vocab = self.model.vocab();
        if let (Some(g), Some(t)) = (&mut self.grammar, candidate) {
            let c = vocab.char(t);
            // (Kinds a caller already narrowed, the GPU's line drawing, are kept.)
            if g.at_line_begin()
                && g.line_kinds() == LineKinds::ALL
                && c.is_some_and(|c| !g.allows(c))
            {
                let kinds = retry_kinds(g, c, false);
                g.set_line_kinds(kinds);
            }
        }
        let chosen = self.choose(logits, candidate)?;
        self.move_clock(chosen.1);
        if chosen.1 == '\n' {
            if let Some(g) = &mut self.grammar {
                g.set_line_kinds(LineKinds::ALL);
            }
        }
        self.produced += 1;
        if self.produced >= self.opts.length {
            let at_bar = self.grammar.as_ref().is_none_or(|g| g.at_line_start());
            self.done = at_bar || self.produced >= self.opts.length + MAX_OVERRUN;
        }
        Some(chosen)
    }

    /// The grammar's mask, the draw (or the candidate) and the grammar's bookkeeping.
    fn choose(&mut self, logits: &[f32], candidate: Option<usize>) -> Option<(usize, char)> {
        let mut g = self.grammar.take();
        let chosen = self.choose_in(g.as_mut(), logits, candidate);
        self.grammar = if self.unconstrained { None } else { g };
        chosen
    }

    /// [`Sampler::choose`] under grammar `g` (none: any character).
    fn choose_in(
        &mut self,
        mut g: Option<&mut Grammar>,
        logits: &[f32],
        candidate: Option<usize>,
    ) -> Option<(usize, char)> {
        let t = self.masked_token(g.as_deref_mut(), logits, candidate);
        let c = self.model.vocab().char(t)?;
        if let Some(g) = g {
            self.push_drawn(g, c);
        }
        Some((t, c))
    }

    /// Pushes a character [`Sampler::masked_token`] drew through `g`. It only draws allowed
    /// characters (or, were none allowed, the likeliest) and the grammar never leaves none, so
    /// a refusal cannot happen; should it, the text goes on unconstrained rather than stopping.
    fn push_drawn(&mut self, g: &mut Grammar, c: char) {
        if g.push(c).is_err() {
            self.unconstrained = true;
        }
    }

    /// Appends up to `n` characters to `out`; returns how many.
    pub fn take(&mut self, n: usize, out: &mut String) -> usize {
        let mut count = 0;
        while count < n {
            match self.next_char() {
                Some(c) => out.push(c),
                None => break,
            }
            count += 1;
        }
        count
    }
}

/// The meter of a sample whose meter comes from the music. A model that reads the measure clock
/// writes the meter its clock counts, so the meter is drawn as the corpus's pieces have theirs:
/// one of the meters its files start in, as often as they do (its dialect's counts; the draw is
/// on a stream of its own, from the seed). Other models (and weights without the counts): the
/// meter of the probe ([`probe_meter`]).
///
/// Why not the probe for all: with the clock, a free sample's first measure has an unknown
/// length, which the models learnt from the corpus's first measures and cadenzas, and the
/// measures after it keep its length: the beethoven model's probe had no measure of a meter's
/// length in 600 characters for most seeds, so every sample fell back to its commonest meter
/// (2/4 for 16 seeds of 16); mozart's probes gave lengths such as 5/16 and 7/8.
///
/// A prime that has a measure of a meter's length sets the meter (the last such measure's: a
/// continued score without `*M`), as it did through the probe, which continued the prime.
fn music_meter(model: &Arc<CpuModel>, opts: &SampleOptions) -> Meter {
    chosen_meter(model, opts).unwrap_or_else(|| probe_meter(model, opts))
}

/// The meter of a sample with the meter from the music where no probe is needed (see
/// [`music_meter`]): its prime's, else, for a model that reads the measure clock and whose
/// weights keep its corpus's meter counts, the one drawn from them. The score of a sample with
/// the grammar says the same meter (`Composer::score`): a drawn 6/8 is not the 3/4 its
/// measures' length would suggest.
pub fn chosen_meter(model: &CpuModel, opts: &SampleOptions) -> Option<Meter> {
    // In the editions dialect, which reads a continued real score too.
    let prime = measure_lengths(&opts.prime, true);
    match prime.into_iter().rev().find(|&l| is_meter_length(l)) {
        Some(length) => Meter::for_length(length),
        None => drawn_meter(model, opts.seed),
    }
}

/// The meter drawn for this seed from the model's corpus's meters, as often as its files start
/// in them; none for a model that does not read the measure clock or whose weights keep no
/// meter counts (it runs the probe).
fn drawn_meter(model: &CpuModel, seed: u64) -> Option<Meter> {
    let counts: Vec<(Meter, u32)> = model.dialect().counted_meters();
    let total: u64 = counts.iter().map(|&(_, n)| u64::from(n)).sum();
    if !model.hyper().measure_clock || total == 0 {
        return None;
    }
    let mut pick = Rng::new(seed ^ PROBE_SEED).next_u64() % total;
    for &(meter, n) in &counts {
        if pick < u64::from(n) {
            return Some(meter);
        }
        pick -= u64::from(n);
    }
    counts.first().map(|&(m, _)| m) // not reached: pick < total
}

/// The meter of the piece the model means to write after the prime: the length its measures
/// have most often in a free sample (the probe), among the meters the corpus's movements have;
/// ties go to the meters its own corpus starts in most often (its dialect's, else the sonatas'
/// [`METER_PREFERENCE`]); when none of its measures has one of those lengths, its corpus's most
/// common meter (else 4/4).
fn probe_meter(model: &Arc<CpuModel>, opts: &SampleOptions) -> Meter {
    let probe = SampleOptions {
        raw: true,
        seed: opts.seed ^ PROBE_SEED,
        length: PROBE_LENGTH,
        ..opts.clone()
    };
    // The probe's clock counts as training's, not holding a meter: the model writes the
    // meter it means, not one it is told.
    let mut text = probe.prime.clone();
    if let Ok(mut sampler) = Sampler::build(model.clone(), probe, RawClock::AsTraining) {
        sampler.take(usize::MAX, &mut text);
    }
    let lengths = measure_lengths(&text, model.dialect().editions);
    let votes = |l: u64| lengths.iter().filter(|&&x| x == l).count();
    let own: Vec<Meter> = model
        .dialect()
        .preferred_meters()
        .into_iter()
        .filter(|m| FIRST_MEASURE_LENGTHS.contains(&m.ticks()))
        .collect();
    let preference: Vec<u64> = own.iter().map(|m| m.ticks()).chain(METER_PREFERENCE).collect();
    let best = FIRST_MEASURE_LENGTHS.iter().copied().max_by_key(|&l| {
        let rank = preference.iter().position(|&p| p == l).unwrap_or(usize::MAX);
        (votes(l), std::cmp::Reverse(rank))
    });
    match best.filter(|&l| votes(l) > 0).and_then(Meter::for_length) {
        Some(m) => m,
        None => own.first().copied().unwrap_or(Meter::COMMON),
    }
}

/// The first-measure lengths by how many movements of the corpus have them: 3/4 (273), 1
/// (221), 1/2 (142), 3/8 (39), 3/2 (15), 9/8 (15).
const METER_PREFERENCE: [u64; 6] =
    [TPW * 3 / 4, TPW, TPW / 2, TPW * 3 / 8, TPW * 3 / 2, TPW * 9 / 8];

/// The kinds of line a refused line may be drawn again as, from the first character the model
/// drew for it (and whether it drew a grace note): the kind it meant. A barline where the
/// measure is not full means the model lost count: timed notes go on; an interpretation line
/// stays one where one may come.
fn retry_kinds(g: &Grammar, first: Option<char>, grace: bool) -> LineKinds {
    let timed = LineKinds::TIMED.with(LineKinds::BARLINE);
    match first {
        None => LineKinds::ALL,
        Some('*') => {
            let mut interp = g.clone();
            interp.set_line_kinds(LineKinds::INTERPRETATION);
            if interp.allows('*') {
                LineKinds::INTERPRETATION
            } else {
                timed
            }
        }
        Some(_) if grace => timed.with(LineKinds::GRACE),
        Some(_) => timed,
    }
}

/// The grammar after the prime, in the model's dialect. A prime whose rhythm the grammar would
/// refuse (a fragment cut mid-measure, say) is accepted with rhythm checks off; they resume at
/// the next barline. A prime the sonatas' dialect refuses (a real score of another edition,
/// being continued) is read, and the sample goes on, in the editions dialect.
fn prime_grammar(
    opts: &SampleOptions,
    model: &CpuModel,
    meter: MeterChoice,
) -> Result<Grammar, SampleError> {
    let vocab = model.vocab().chars();
    Grammar::supports(vocab, meter).map_err(SampleError::Unsupported)?;
    let read = |editions: bool| {
        let make = || {
            Grammar::new(GrammarOptions {
                meter,
                piece_ends: true,
                // a meter read from the music is the first measure's: no pickup
                pickup: opts.meter != MeterChoice::FromMusic,
                rhythm: true,
                vocab: Some(vocab.to_vec()),
                editions,
            })
        };
        let mut grammar = make();
        if grammar.push_str(&opts.prime).is_err() {
            grammar = make();
            grammar.set_rhythm(false);
            grammar.push_str(&opts.prime)?;
            grammar.set_rhythm(true);
        }
        Ok::<_, crate::kern::GrammarError>(grammar)
    };
    let own = model.dialect().editions;
    let mut grammar = match read(own) {
        Ok(g) => g,
        // the more lenient reading's objection is the one that says what is wrong
        Err(_) if !own => read(true).map_err(|e| SampleError::PrimeGrammar(e.to_string()))?,
        Err(e) => return Err(SampleError::PrimeGrammar(e.to_string())),
    };
    // A sample is one piece: what the model writes goes on to the length asked for, and its
    // measures fill the meter (a prime may have ended pieces of its own). A prime that ends
    // with a short measure (a score's last, the rest of its pickup: a continued score ends
    // so) is taken as the end of a section, which the sample goes on after.
    if grammar.must_end() {
        grammar.set_rhythm(false);
        grammar.set_rhythm(true);
    }
    grammar.set_piece_ends(false);
    Ok(grammar)
}

/// The whole sample: the prime followed by the drawn characters.
pub fn sample(model: Arc<CpuModel>, opts: &SampleOptions) -> Result<String, SampleError> {
    let mut sampler = Sampler::new(model, opts.clone())?;
    let mut out = opts.prime.clone();
    sampler.take(usize::MAX, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let ok = SampleOptions::default();
        assert!(ok.validate().is_ok());
        let bad = |f: fn(&mut SampleOptions)| {
            let mut o = SampleOptions::default();
            f(&mut o);
            o.validate().unwrap_err().to_string()
        };
        assert!(bad(|o| o.length = 0).contains("length"));
        assert!(bad(|o| o.length = MAX_LENGTH + 1).contains("length"));
        assert!(bad(|o| o.temperature = 0.0).contains("temperature"));
        assert!(bad(|o| o.temperature = f32::NAN).contains("temperature"));
        assert!(bad(|o| o.temperature = -1.0).contains("temperature"));
        assert!(bad(|o| o.temperature = 80.0).contains("temperature"));
        assert!(bad(|o| o.prime.clear()).contains("empty"));
    }

    #[test]
    fn draw_respects_the_mask_and_temperature() {
        let logits = [1.0, 3.0, 2.0, -5.0];
        let mut rng = Rng::new(3);
        let mut w = [0.0; 4];
        assert_eq!(draw(&logits, 1.0, true, &mut rng, &mut w, |_| true), 1);
        assert_eq!(draw(&logits, 1.0, true, &mut rng, &mut w, |i| i != 1), 2);
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            counts[draw(&logits, 1.0, false, &mut rng, &mut w, |i| i != 2)] += 1;
        }
        assert_eq!(counts[2], 0);
        // p(1)/p(0) = e^2 ~ 7.4
        let ratio = counts[1] as f32 / counts[0] as f32;
        assert!((5.5..10.0).contains(&ratio), "{counts:?}");
        // A low temperature is nearly argmax.
        let low = (0..200).filter(|_| draw(&logits, 0.05, false, &mut rng, &mut w, |_| true) == 1);
        assert_eq!(low.count(), 200);
        // Nothing allowed: the most likely token rather than a panic.
        assert_eq!(draw(&logits, 1.0, false, &mut rng, &mut w, |_| false), 1);
    }

    /// A number drawn whole follows the model's numbers restricted to those that fit: the
    /// same distribution as drawing numbers freely and throwing away those the grammar
    /// refuses (rejection), here where a quarter is left in the measure. Masking a digit at
    /// a time would not: it makes `24` of every `2` the model means.
    #[test]
    fn a_number_drawn_whole_follows_the_models_numbers_restricted_to_those_that_fit() {
        use std::collections::BTreeMap;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/mozart.safetensors");
        let weights = crate::Weights::from_bytes(&std::fs::read(path).unwrap()).unwrap();
        let opts = SampleOptions {
            prime: "@\n2.c\t2.e\t.\n".into(),
            meter: MeterChoice::Fixed(Meter::COMMON),
            temperature: 1.0,
            ..SampleOptions::default()
        };
        let mut s = Sampler::new(Arc::new(CpuModel::new(&weights)), opts).unwrap();
        let at = Cursor {
            grammar: s.grammar.clone().unwrap(),
            clock: s.measure_clock(),
            state: s.state.clone(),
            logits: s.logits.clone(),
        };
        let n = 1500;
        let mut whole = BTreeMap::<String, f64>::new();
        for _ in 0..n {
            let (mut c, mut out) = (at.clone(), Vec::new());
            assert!(s.draw_number(&mut c, &mut out));
            let number: String = out.iter().map(|&(_, ch)| ch).collect();
            assert!(at.grammar.clone().push_str(&number).is_ok(), "{number}");
            *whole.entry(number).or_default() += 1.0 / n as f64;
        }
        let model = s.model.clone();
        let mut rejected = BTreeMap::<String, f64>::new();
        let mut kept = 0;
        while kept < n {
            let (mut c, mut number) = (at.clone(), String::new());
            let valid = loop {
                let t = draw(&c.logits, 1.0, false, &mut s.rng, &mut s.scratch, |_| true);
                let ch = model.vocab().char(t).unwrap();
                let in_number = ch.is_ascii_digit() || (ch == '.' && !number.is_empty());
                if !in_number {
                    // a number, ended by a character the grammar takes after it
                    break !number.is_empty() && c.grammar.push(ch).is_ok();
                }
                if c.grammar.push(ch).is_err() {
                    break false;
                }
                number.push(ch);
                model.step(&mut c.state, t, c.clock.class(), &mut c.logits);
            };
            if valid {
                kept += 1;
                *rejected.entry(number).or_default() += 1.0 / n as f64;
            }
        }
        let keys: std::collections::BTreeSet<&String> =
            whole.keys().chain(rejected.keys()).collect();
        let distance: f64 = keys
            .iter()
            .map(|k| (whole.get(*k).unwrap_or(&0.0) - rejected.get(*k).unwrap_or(&0.0)).abs())
            .sum::<f64>()
            / 2.0;
        assert!(distance < 0.06, "{distance}: whole {whole:?}, by rejection {rejected:?}");
    }
}
