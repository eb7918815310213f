//! The sampling loop, shared by the command line and the browser: prime the LSTM with a text,
//! then draw one character at a time from the softmax of its logits at a temperature.

#[cfg(feature = "webgpu")]
pub mod gpu;

use std::sync::Arc;

use crate::infer::{math, CpuModel, LstmState};
use crate::kern::{Grammar, GrammarOptions, Meter};
use crate::rng::Rng;
use crate::vocab::UnknownChars;

/// The longest sample we agree to produce: about 80,000 measures, ten minutes in a browser.
pub const MAX_LENGTH: usize = 10_000_000;
/// The longest prime text (a whole movement is about 20,000 characters).
pub const MAX_PRIME: usize = 1_000_000;
/// Temperatures above this give noise whatever the model; refusing them catches typos (80 for 0.8).
pub const MAX_TEMPERATURE: f32 = 10.0;
/// Constrained sampling goes on past `length` to the end of the measure, at most this far.
pub const MAX_OVERRUN: usize = 4_000;

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
    /// The meter the grammar fills measures with until the text sets one (`*M3/4`).
    pub meter: Meter,
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
            meter: Meter::COMMON,
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

/// A sample in progress: call [`Sampler::next_char`] or [`Sampler::take`] until it returns
/// nothing. Sampling in chunks lets a caller show progress or stop early.
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
    done: bool,
    rhythm_relaxed: usize,
}

impl Sampler {
    /// Validates the options and feeds the prime text through the model.
    pub fn new(model: Arc<CpuModel>, opts: SampleOptions) -> Result<Self, SampleError> {
        let (tokens, grammar) = Self::prepare(&model, &opts)?;
        let v = model.hyper().vocab_size;
        let mut sampler = Sampler {
            state: model.zero_state(),
            logits: vec![0.0; v],
            scratch: vec![0.0; v],
            rng: Rng::new(opts.seed),
            produced: 0,
            grammar,
            allowed: vec![true; v],
            done: false,
            rhythm_relaxed: 0,
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
        let grammar =
            if opts.raw { None } else { Some(prime_grammar(opts, model.vocab().chars())?) };
        Ok((tokens, grammar))
    }

    pub fn options(&self) -> &SampleOptions {
        &self.opts
    }

    /// Characters drawn so far (not counting the prime).
    pub fn produced(&self) -> usize {
        self.produced
    }

    /// Measures whose rhythm the grammar had to let go because the model's vocabulary could
    /// not complete them (0 for the shipped models' vocabularies).
    pub fn rhythm_relaxed(&self) -> usize {
        self.rhythm_relaxed
    }

    /// Whether the sample is complete.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next character, or `None` once the sample is complete: `length` characters raw;
    /// constrained, `length` characters and then on to the end of the measure (at most
    /// [`MAX_OVERRUN`] more), so the score does not stop mid-measure.
    pub fn next_char(&mut self) -> Option<char> {
        let logits = std::mem::take(&mut self.logits);
        let chosen = self.decide(&logits, None);
        self.logits = logits;
        let (t, c) = chosen?;
        self.model.step(&mut self.state, t, &mut self.logits);
        Some(c)
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
    /// from the mask directly. Returns the token and its character, or `None` once done.
    pub fn decide(&mut self, logits: &[f32], candidate: Option<usize>) -> Option<(usize, char)> {
        if self.done {
            return None;
        }
        let vocab = self.model.vocab();
        if let Some(g) = &mut self.grammar {
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
        if let Some(g) = &mut self.grammar {
            // `draw` only picks allowed tokens (or, were none allowed, the likeliest); the
            // grammar never leaves none, so a refusal here cannot happen. Should it, the text
            // goes on unconstrained rather than stopping.
            if g.push(c).is_err() {
                self.grammar = None;
                self.allowed.fill(true);
            }
        }
        self.produced += 1;
        if self.produced >= self.opts.length {
            let at_bar = self.grammar.as_ref().is_none_or(|g| g.at_line_start());
            self.done = at_bar || self.produced >= self.opts.length + MAX_OVERRUN;
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

/// The grammar after the prime. A prime whose rhythm the grammar would refuse (a fragment cut
/// mid-measure, say) is accepted with rhythm checks off; they resume at the next barline.
fn prime_grammar(opts: &SampleOptions, vocab: &[char]) -> Result<Grammar, SampleError> {
    Grammar::supports(vocab, opts.meter).map_err(SampleError::Unsupported)?;
    let make = || {
        Grammar::new(GrammarOptions {
            meter: opts.meter,
            rhythm: true,
            vocab: Some(vocab.to_vec()),
        })
    };
    let mut grammar = make();
    if grammar.push_str(&opts.prime).is_ok() {
        return Ok(grammar);
    }
    let mut grammar = make();
    grammar.set_rhythm(false);
    grammar.push_str(&opts.prime).map_err(|e| SampleError::PrimeGrammar(e.to_string()))?;
    grammar.set_rhythm(true);
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
