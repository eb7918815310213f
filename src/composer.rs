//! The composer as the browser uses it: load a weights file, sample in chunks, reconstruct.
//! Plain Rust, so native tests cover it; `web.rs` only wraps it for JavaScript.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::infer::CpuModel;
use crate::kern::{reconstruct_with_report, ScoreOptions};
use crate::sampler::{SampleError, SampleOptions, Sampler};
use crate::weights::{Hyper, Provenance, Weights, WeightsError};

/// Where sampling runs: the CPU step (the same code natively and in WebAssembly), or the GPU
/// kernel of [`crate::infer::gpu`] (feature `webgpu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Cpu,
    Webgpu,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Webgpu => "webgpu",
        }
    }
}

/// The title `kernrnn sample --kern` gives a score; the page uses it too, so both write the
/// same file for the same model and options.
pub fn score_title(model_name: &str, opts: &SampleOptions) -> String {
    format!("kernrnn {} sample, seed {}, temperature {}", model_name, opts.seed, opts.temperature)
}

/// A loaded model.
#[derive(Clone, Debug)]
pub struct Composer {
    model: Arc<CpuModel>,
    hyper: Hyper,
    provenance: Provenance,
}

/// What a page shows about a model.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    pub name: String,
    pub vocab: String,
    pub vocab_size: usize,
    pub layers: usize,
    pub hidden: usize,
    pub params: usize,
    pub valid_loss: Option<f64>,
    pub corpus: String,
    pub epochs: f64,
}

/// Sampling options as JavaScript passes them: every field optional, defaults as the CLI.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JsSampleOptions {
    pub temperature: Option<f32>,
    pub seed: Option<f64>,
    pub prime: Option<String>,
    pub length: Option<f64>,
    pub argmax: Option<bool>,
    /// Sample without the **kern grammar (the published behaviour).
    pub raw: Option<bool>,
    /// The meter the grammar fills measures with: `"3/4"` or `[3, 4]`.
    pub meter: Option<JsMeter>,
}

/// A meter from JavaScript: `"3/4"` or `[3, 4]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum JsMeter {
    Text(String),
    Pair(u32, u32),
}

impl JsMeter {
    fn resolve(&self) -> Result<(u32, u32), OptionsError> {
        match self {
            JsMeter::Pair(n, d) => Ok((*n, *d)),
            JsMeter::Text(m) => parse_meter(m).ok_or_else(|| OptionsError::Meter(m.clone())),
        }
    }
}

/// `"N/D"` as numbers (their range is the sampler's and reconstruction's business).
pub fn parse_meter(text: &str) -> Option<(u32, u32)> {
    let (n, d) = text.trim().split_once('/')?;
    Some((n.trim().parse().ok()?, d.trim().parse().ok()?))
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptionsError {
    #[error("seed must be a whole number from 0 to 2^53, got {0}")]
    Seed(f64),
    #[error("length must be a whole number, got {0}")]
    Length(f64),
    #[error("meter must look like \"3/4\" (numerator 1 to 99, denominator a power of two up to 64), got {0:?}")]
    Meter(String),
    #[error("tempo must be a whole number of beats per minute from 1 to 999, got {0}")]
    Tempo(f64),
}

/// Score options as JavaScript passes them: `{ title, meter: "3/4", tempoBpm }`, all optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JsScoreOptions {
    pub title: Option<String>,
    pub meter: Option<String>,
    pub tempo_bpm: Option<f64>,
}

impl JsScoreOptions {
    pub fn resolve(&self) -> Result<ScoreOptions, OptionsError> {
        let meter = match self.meter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(m) => {
                let bad = || OptionsError::Meter(m.to_string());
                let (n, d) = parse_meter(m).ok_or_else(bad)?;
                if !(1..=99).contains(&n) || !d.is_power_of_two() || d > 64 {
                    return Err(bad());
                }
                Some((n, d))
            }
        };
        let tempo_bpm = match self.tempo_bpm {
            None => None,
            Some(t) if t.fract() == 0.0 && (1.0..=999.0).contains(&t) => Some(t as u32),
            Some(t) => return Err(OptionsError::Tempo(t)),
        };
        Ok(ScoreOptions { title: self.title.clone(), meter, tempo_bpm })
    }
}

/// A reconstructed score and what reconstruction did, as the page shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Score {
    pub kern: String,
    pub measures: usize,
    pub dropped_lines: usize,
    pub spines: usize,
    pub movements: usize,
}

/// Turns raw sampled text into a complete **kern score, with a report.
pub fn score(raw: &str, opts: &ScoreOptions) -> Score {
    let (kern, r) = reconstruct_with_report(raw, opts);
    Score {
        kern,
        measures: r.measures,
        dropped_lines: r.dropped_lines,
        spines: r.spines,
        movements: r.movements,
    }
}

/// One problem the checker found, for the page (lines are the score's, 1-based).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Problem {
    pub line: usize,
    pub kind: String,
    pub message: String,
}

/// What `kernrnn check` says of a score, for the page.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScoreCheck {
    pub valid: bool,
    /// `kernrnn check`'s one-line summary.
    pub summary: String,
    pub measures: usize,
    pub full_measures: usize,
    pub spine_measures: usize,
    /// The first problems (at most [`MAX_PROBLEMS`]); `problemCount` says how many in all.
    pub problems: Vec<Problem>,
    pub problem_count: usize,
}

/// How many problems a check report carries to the page.
pub const MAX_PROBLEMS: usize = 50;

/// Checks a complete **kern score as `kernrnn check` does.
pub fn check_score(kern: &str) -> ScoreCheck {
    let r = crate::kern::check_kern(kern);
    ScoreCheck {
        valid: r.is_valid(),
        summary: r.summary(),
        measures: r.measures,
        full_measures: r.full_measures,
        spine_measures: r.spine_measures,
        problems: r
            .diagnostics
            .iter()
            .take(MAX_PROBLEMS)
            .map(|d| Problem { line: d.line, kind: d.kind.to_string(), message: d.message.clone() })
            .collect(),
        problem_count: r.diagnostics.len(),
    }
}

impl JsSampleOptions {
    pub fn resolve(&self) -> Result<SampleOptions, OptionsError> {
        let d = SampleOptions::default();
        let whole =
            |x: f64| x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= 9_007_199_254_740_992.0;
        let seed = match self.seed {
            Some(s) if !whole(s) => return Err(OptionsError::Seed(s)),
            Some(s) => s as u64,
            None => d.seed,
        };
        let length = match self.length {
            Some(l) if !whole(l) => return Err(OptionsError::Length(l)),
            Some(l) => l as usize,
            None => d.length,
        };
        Ok(SampleOptions {
            temperature: self.temperature.unwrap_or(d.temperature),
            seed,
            prime: self.prime.clone().unwrap_or(d.prime),
            length,
            argmax: self.argmax.unwrap_or(d.argmax),
            raw: self.raw.unwrap_or(d.raw),
            meter: match &self.meter {
                Some(m) => m.resolve()?,
                None => d.meter,
            },
        })
    }
}

impl Composer {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        let w = Weights::from_bytes(bytes)?;
        Ok(Composer {
            model: Arc::new(CpuModel::new(&w)),
            hyper: w.hyper,
            provenance: w.provenance,
        })
    }

    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            name: self.provenance.name.clone(),
            vocab: self.model.vocab().as_string(),
            vocab_size: self.hyper.vocab_size,
            layers: self.hyper.layers,
            hidden: self.hyper.hidden,
            params: self.hyper.num_params(),
            valid_loss: self.provenance.valid_loss,
            corpus: self.provenance.corpus.clone(),
            epochs: self.provenance.epochs,
        }
    }

    /// Where [`Composer::start`] samples: the CPU (the GPU sampler is started from
    /// [`Composer::model`] with [`crate::infer::gpu::GpuModel`]).
    pub fn backend(&self) -> Backend {
        Backend::Cpu
    }

    /// The model on the CPU.
    pub fn model(&self) -> &Arc<CpuModel> {
        &self.model
    }

    /// The logits after each character of `text` fed from the zero state, on the CPU (what the
    /// page's test compares the GPU's with).
    pub fn logits_for(&self, text: &str) -> Result<Vec<Vec<f32>>, SampleError> {
        Ok(self.model.logits_for(&self.model.vocab().encode(text)?))
    }

    /// Starts a sample: validates the options and feeds the prime.
    pub fn start(&self, opts: SampleOptions) -> Result<Sampler, SampleError> {
        Sampler::new(self.model.clone(), opts)
    }

    /// The title of a score sampled with `opts` (as `kernrnn sample --kern` writes it).
    pub fn title(&self, opts: &SampleOptions) -> String {
        score_title(&self.provenance.name, opts)
    }

    /// The complete **kern score of a sample drawn with `opts`, as `kernrnn sample --kern`
    /// writes it (title, and the sampling meter as the score's default).
    pub fn score(&self, raw: &str, opts: &SampleOptions) -> Score {
        score(
            raw,
            &ScoreOptions {
                title: Some(self.title(opts)),
                meter: Some(opts.meter),
                ..ScoreOptions::default()
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::sample;
    use crate::vocab::Vocab;
    use crate::weights::LayerWeights;

    /// A small model with deterministic, non-trivial weights.
    fn weights() -> Weights {
        let vocab = Vocab::from_text("@\n\t.48abcdefgABCDEFG=*#-rLJ");
        let hyper = Hyper { vocab_size: vocab.len(), layers: 2, hidden: 12 };
        let mut x = 0x2545_f491u32;
        let mut next = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x as f32 / u32::MAX as f32 - 0.5) * 1.5
                })
                .collect()
        };
        let g = 4 * hyper.hidden;
        let layers = (0..hyper.layers)
            .map(|l| LayerWeights {
                w_ih: next(hyper.input_size(l) * g),
                w_hh: next(hyper.hidden * g),
                bias: next(g),
            })
            .collect();
        Weights {
            vocab,
            hyper,
            provenance: Provenance { name: "unit".into(), ..Provenance::default() },
            layers,
            head_weight: next(hyper.hidden * hyper.vocab_size),
            head_bias: next(hyper.vocab_size),
        }
    }

    fn composer() -> (Composer, Vec<u8>) {
        let bytes = weights().to_bytes().unwrap();
        (Composer::from_bytes(&bytes).unwrap(), bytes)
    }

    #[test]
    fn chunked_sampling_equals_one_shot() {
        let (c, _) = composer();
        let opts = SampleOptions { seed: 9, length: 777, ..SampleOptions::default() };
        let whole = sample(c.model.clone(), &opts).unwrap();
        for chunk in [1, 7, 256, 1000] {
            let mut s = c.start(opts.clone()).unwrap();
            let mut out = s.options().prime.clone();
            while !s.is_done() {
                assert!(s.take(chunk, &mut out) > 0);
            }
            assert_eq!(out, whole, "chunk {chunk}");
            assert!(s.produced() >= 777);
        }
    }

    #[test]
    fn the_score_of_a_sample_checks_valid_and_a_broken_one_names_its_lines() {
        let (c, _) = composer();
        let opts = SampleOptions { seed: 3, length: 400, ..SampleOptions::default() };
        let raw = sample(c.model.clone(), &opts).unwrap();
        let checked = check_score(&c.score(&raw, &opts).kern);
        assert!(checked.valid, "{checked:?}");
        assert!(checked.problems.is_empty() && checked.measures >= 1);
        let broken = "**kern\t**kern\n*M4/4\t*M4/4\n=1\t=1\n4c\t4e\n4d\n==\t==\n*-\t*-\n";
        let checked = check_score(broken);
        assert!(!checked.valid);
        assert_eq!(checked.problem_count, checked.problems.len());
        assert!(
            checked.problems.iter().any(|p| p.line == 5 && p.kind == "structure"),
            "{checked:?}"
        );
        assert!(checked.summary.contains("structure"), "{}", checked.summary);
    }

    #[test]
    fn bad_files_are_named_errors() {
        let (_, bytes) = composer();
        let err = |b: &[u8]| Composer::from_bytes(b).unwrap_err().to_string();
        assert!(err(&[]).contains("empty"));
        for cut in [7, 100, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                err(&bytes[..cut]).contains("not a kernrnn weights file"),
                "cut at {cut}: {}",
                err(&bytes[..cut])
            );
        }
        assert!(err(b"<!doctype html><title>404</title>").contains("not a kernrnn weights file"));
    }

    #[test]
    fn info_backend_and_title() {
        let (c, _) = composer();
        let info = c.info();
        assert_eq!((info.name.as_str(), info.layers, info.hidden), ("unit", 2, 12));
        assert_eq!(info.vocab.chars().count(), info.vocab_size);
        assert_eq!(c.backend().as_str(), "cpu");
        let opts = SampleOptions { seed: 7, temperature: 0.8, ..SampleOptions::default() };
        assert_eq!(c.title(&opts), "kernrnn unit sample, seed 7, temperature 0.8");
    }

    #[test]
    fn js_options_resolve_with_cli_defaults() {
        assert_eq!(JsSampleOptions::default().resolve().unwrap(), SampleOptions::default());
        let o = JsSampleOptions {
            seed: Some(42.0),
            length: Some(10.0),
            temperature: Some(1.5),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!((o.seed, o.length, o.temperature), (42, 10, 1.5));
        assert!(JsSampleOptions { seed: Some(-1.0), ..Default::default() }.resolve().is_err());
        assert!(JsSampleOptions { seed: Some(1.5), ..Default::default() }.resolve().is_err());
        assert!(JsSampleOptions { length: Some(f64::NAN), ..Default::default() }
            .resolve()
            .is_err());
        let meter = |m: JsMeter| {
            JsSampleOptions { meter: Some(m), ..Default::default() }.resolve().map(|o| o.meter)
        };
        assert_eq!(meter(JsMeter::Text(" 3/4".into())), Ok((3, 4)));
        assert_eq!(meter(JsMeter::Pair(6, 8)), Ok((6, 8)));
        assert!(meter(JsMeter::Text("waltz".into())).unwrap_err().to_string().contains("meter"));
    }

    #[test]
    fn score_options_are_checked() {
        let ok = JsScoreOptions {
            meter: Some("3/4".into()),
            tempo_bpm: Some(90.0),
            title: Some("t".into()),
        };
        let r = ok.resolve().unwrap();
        assert_eq!((r.meter, r.tempo_bpm, r.title.as_deref()), (Some((3, 4)), Some(90), Some("t")));
        for m in ["3", "3/5", "0/4", "x/4", "3/128"] {
            let e = JsScoreOptions { meter: Some(m.into()), ..Default::default() }
                .resolve()
                .unwrap_err();
            assert!(e.to_string().contains("meter"), "{m}");
        }
        assert!(JsScoreOptions { tempo_bpm: Some(0.0), ..Default::default() }.resolve().is_err());
        let s = score("@\n4c\t4e\t.\n@\n", &ScoreOptions::default());
        assert!(s.kern.starts_with("!!!") || s.kern.starts_with("**"), "{}", s.kern);
        assert!(s.kern.contains("**kern"));
    }
}
