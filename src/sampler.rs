//! The sampling loop, shared by the command line and the browser: prime the LSTM with a text,
//! then draw one character at a time from the softmax of its logits at a temperature.

use std::sync::Arc;

use crate::infer::{math, CpuModel, LstmState};
use crate::rng::Rng;
use crate::vocab::UnknownChars;

/// The longest sample we agree to produce.
pub const MAX_LENGTH: usize = 10_000_000;
/// The longest prime text.
pub const MAX_PRIME: usize = 1_000_000;
/// Temperatures above this give noise whatever the model; refusing them catches typos (80 for 0.8).
pub const MAX_TEMPERATURE: f32 = 10.0;

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
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions { temperature: 0.8, seed: 1, prime: "@\n".into(), length: 2000, argmax: false }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SampleError {
    #[error("length must be between 1 and {MAX_LENGTH} characters, got {0}")]
    Length(usize),
    #[error("temperature must be a number above 0 and at most {MAX_TEMPERATURE}, got {0}")]
    Temperature(f32),
    #[error("the prime text is empty: give at least one character (for example \"@\", a barline)")]
    EmptyPrime,
    #[error("the prime text is {0} characters long; at most {MAX_PRIME} are accepted")]
    LongPrime(usize),
    #[error("the prime text has characters the model cannot read: {0}")]
    Prime(#[from] UnknownChars),
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
}

impl Sampler {
    /// Validates the options and feeds the prime text through the model.
    pub fn new(model: Arc<CpuModel>, opts: SampleOptions) -> Result<Self, SampleError> {
        opts.validate()?;
        let tokens = model.vocab().encode(&opts.prime)?;
        let v = model.hyper().vocab_size;
        let mut sampler = Sampler {
            state: model.zero_state(),
            logits: vec![0.0; v],
            scratch: vec![0.0; v],
            rng: Rng::new(opts.seed),
            produced: 0,
            model,
            opts,
        };
        for t in tokens {
            sampler.model.step(&mut sampler.state, t, &mut sampler.logits);
        }
        Ok(sampler)
    }

    pub fn options(&self) -> &SampleOptions {
        &self.opts
    }

    /// Characters drawn so far (not counting the prime).
    pub fn produced(&self) -> usize {
        self.produced
    }

    pub fn remaining(&self) -> usize {
        self.opts.length - self.produced
    }

    /// The next character, or `None` once `length` characters were drawn.
    pub fn next_char(&mut self) -> Option<char> {
        if self.produced >= self.opts.length {
            return None;
        }
        let t = draw(
            &self.logits,
            self.opts.temperature,
            self.opts.argmax,
            &mut self.rng,
            &mut self.scratch,
            |_| true,
        );
        self.model.step(&mut self.state, t, &mut self.logits);
        self.produced += 1;
        self.model.vocab().char(t)
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

/// The whole sample: the prime followed by `length` drawn characters.
pub fn sample(model: Arc<CpuModel>, opts: &SampleOptions) -> Result<String, SampleError> {
    let mut sampler = Sampler::new(model, opts.clone())?;
    let mut out = opts.prime.clone();
    sampler.take(opts.length, &mut out);
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
