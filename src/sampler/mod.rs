//! The sampling loop, shared by the command line and the browser: prime the LSTM with a text,
//! then draw one character at a time from the softmax of its logits at a temperature.

#[cfg(feature = "webgpu")]
pub mod gpu;

use std::collections::VecDeque;
use std::sync::Arc;

use crate::infer::{math, CpuModel, LstmState};
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
pub const MAX_LINE_ATTEMPTS: usize = 2;
/// After [`MAX_LINE_ATTEMPTS`] refusals a line is drawn field by field: a refused field is
/// drawn again from the state at its start, at most this many times, before it is drawn a
/// character at a time from the allowed characters.
pub const MAX_FIELD_ATTEMPTS: usize = 8;
/// A drawn line longer than this is refused (the longest line of the corpus has 157
/// characters).
pub const MAX_LINE_CHARS: usize = 400;
/// With the meter from the music, the model first writes this many characters freely (the
/// probe): its measures' lengths say the meter of the piece it means to write (the prepared
/// corpus has no `*M` at a piece's start, so the meter is in how long its measures are).
pub const PROBE_LENGTH: usize = 600;
/// The probe's seed is the sample's with these bits flipped (another stream, the same for the
/// same seed).
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
    /// Characters the model drew, those of refused lines and fields included.
    pub drawn: usize,
}

/// What a free draw gave: whether it ended where it should, its first character, whether it
/// had a grace-note sign.
struct Drawn {
    accepted: bool,
    first: Option<char>,
    grace: bool,
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
}

impl Sampler {
    /// Validates the options and feeds the prime text through the model.
    pub fn new(model: Arc<CpuModel>, opts: SampleOptions) -> Result<Self, SampleError> {
        let (tokens, mut grammar) = Self::prepare(&model, &opts)?;
        if opts.meter == MeterChoice::FromMusic {
            if let Some(g) = &mut grammar {
                *g = prime_grammar(&opts, &model, probe_meter(&model, &opts))?;
            }
        }
        let v = model.hyper().vocab_size;
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
            model,
            opts,
        };
        for t in tokens {
            sampler.model.step(&mut sampler.state, t, &mut sampler.logits);
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
                self.model.step(&mut self.state, t, &mut self.logits);
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
    /// the grammar lets it, in three steps. The line as the model writes it, drawn again from
    /// the same state while the grammar refuses it ([`MAX_LINE_ATTEMPTS`] draws); then field by
    /// field, each drawn again while refused ([`MAX_FIELD_ATTEMPTS`] draws); then, for a field
    /// still refused, a character at a time from the characters the grammar allows. After the
    /// first refusal the line keeps the kind the model meant (its first draw's first
    /// character): a refused data line is drawn again as a data line, never turned into an
    /// interpretation or grace-note line the model did not mean.
    fn draw_line(&mut self) {
        let Some(start) = self.grammar.clone() else { return };
        let mut kinds = LineKinds::ALL;
        for attempt in 0..MAX_LINE_ATTEMPTS {
            let mut g = start.clone();
            g.set_line_kinds(kinds);
            let mut state = self.state.clone();
            let mut logits = self.logits.clone();
            let mut line = Vec::new();
            let drawn = self.draw_free(&mut g, &mut state, &mut logits, &mut line, &['\n']);
            if drawn.accepted {
                self.stats.lines += 1;
                g.set_line_kinds(LineKinds::ALL);
                self.take_line(g, state, logits, line);
                return;
            }
            self.stats.refused += 1;
            if attempt == 0 && start.at_line_begin() {
                kinds = retry_kinds(&start, drawn.first, drawn.grace);
            }
        }
        // Field by field.
        let mut g = start;
        g.set_line_kinds(kinds);
        let mut state = self.state.clone();
        let mut logits = self.logits.clone();
        let mut line = Vec::new();
        loop {
            let mut field = None;
            for _ in 0..MAX_FIELD_ATTEMPTS {
                let (mut fg, mut fs, mut fl) = (g.clone(), state.clone(), logits.clone());
                let mut chars = Vec::new();
                if self.draw_free(&mut fg, &mut fs, &mut fl, &mut chars, &['\t', '\n']).accepted {
                    field = Some((fg, fs, fl, chars));
                    break;
                }
                self.stats.refused_fields += 1;
            }
            let (fg, fs, fl, chars) = match field {
                Some(f) => f,
                None => {
                    self.stats.masked_fields += 1;
                    let mut chars = Vec::new();
                    self.draw_masked(&mut g, &mut state, &mut logits, &mut chars);
                    (g.clone(), state.clone(), logits.clone(), chars)
                }
            };
            (g, state, logits) = (fg, fs, fl);
            let end = chars.last().map(|&(_, c)| c);
            line.extend(chars);
            if end != Some('\t') || line.len() >= MAX_LINE_CHARS || self.unconstrained {
                break;
            }
        }
        self.stats.lines_by_field += 1;
        g.set_line_kinds(LineKinds::ALL);
        self.take_line(g, state, logits, line);
    }

    /// Draws characters as the model writes them, pushing them through `g`, until one of
    /// `ends` is drawn (and accepted) or the grammar refuses one.
    fn draw_free(
        &mut self,
        g: &mut Grammar,
        state: &mut LstmState,
        logits: &mut [f32],
        out: &mut Vec<(usize, char)>,
        ends: &[char],
    ) -> Drawn {
        let vocab = self.model.vocab();
        let mut drawn = Drawn { accepted: false, first: None, grace: false };
        loop {
            let t = draw(
                logits,
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
            if g.push(c).is_err() {
                return drawn;
            }
            out.push((t, c));
            self.model.step(state, t, logits);
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
    fn draw_masked(
        &mut self,
        g: &mut Grammar,
        state: &mut LstmState,
        logits: &mut [f32],
        out: &mut Vec<(usize, char)>,
    ) {
        loop {
            let chosen = self.choose_in(Some(&mut *g), logits, None);
            let Some((t, c)) = chosen else { break };
            self.stats.drawn += 1;
            self.model.step(state, t, logits);
            out.push((t, c));
            if matches!(c, '\t' | '\n') || out.len() >= MAX_LINE_CHARS || self.unconstrained {
                break;
            }
        }
    }

    /// Takes a drawn line: the state, logits and grammar after it, its characters to hand out.
    fn take_line(
        &mut self,
        g: Grammar,
        state: LstmState,
        logits: Vec<f32>,
        line: Vec<(usize, char)>,
    ) {
        self.state = state;
        self.logits = logits;
        self.grammar = (!self.unconstrained).then_some(g);
        self.pending.extend(line);
        self.after_line();
    }

    /// The length rule once a line is drawn: past `length`, the sample ends with the line that
    /// ends a measure (or [`MAX_OVERRUN`] characters further).
    fn after_line(&mut self) {
        let total = self.produced + self.pending.len();
        if total >= self.opts.length {
            let at_bar = self.grammar.as_ref().is_none_or(|g| g.at_line_start());
            self.ends_after_pending = at_bar || total >= self.opts.length + MAX_OVERRUN;
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
            if g.at_line_begin() && c.is_some_and(|c| !g.allows(c)) {
                let kinds = retry_kinds(g, c, false);
                g.set_line_kinds(kinds);
            }
        }
        let chosen = self.choose(logits, candidate)?;
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
        let vocab = self.model.vocab();
        if let Some(g) = g.as_deref_mut() {
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
        let t = match candidate {
            Some(t) if t < allowed.len() && allowed[t] => t,
            _ => draw(
                logits,
                self.opts.temperature,
                self.opts.argmax,
                &mut self.rng,
                &mut self.scratch,
                |i| allowed[i],
            ),
        };
        let c = vocab.char(t)?;
        if let Some(g) = g {
            // `draw` only picks allowed tokens (or, were none allowed, the likeliest); the
            // grammar never leaves none, so a refusal here cannot happen. Should it, the text
            // goes on unconstrained rather than stopping.
            if g.push(c).is_err() {
                self.unconstrained = true;
            }
        }
        Some((t, c))
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

/// The meter of the piece the model means to write after the prime: the length its measures
/// have most often in a free sample (the probe), among the meters the corpus's movements have;
/// ties go to the meters its own corpus starts in most often (its dialect's, else the sonatas'
/// [`METER_PREFERENCE`]); when none of its measures has one of those lengths, its corpus's most
/// common meter (else 4/4).
fn probe_meter(model: &Arc<CpuModel>, opts: &SampleOptions) -> MeterChoice {
    let probe = SampleOptions {
        raw: true,
        seed: opts.seed ^ PROBE_SEED,
        length: PROBE_LENGTH,
        ..opts.clone()
    };
    let text = sample(model.clone(), &probe).unwrap_or_default();
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
        Some(m) => MeterChoice::Fixed(m),
        None => MeterChoice::Fixed(own.first().copied().unwrap_or(Meter::COMMON)),
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
}
