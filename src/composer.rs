//! The composer as the command line and the browser use it: load a weights file, read and
//! check sampling options, sample in chunks, turn a sample into a score. Plain Rust, so
//! native tests cover it; `web.rs` only wraps it for JavaScript.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::infer::CpuModel;
use crate::kern::clock::UNKNOWN;
use crate::kern::{
    reconstruct_with_report, Continuation, ContinueError, Meter, MeterChoice, MeterError,
    ScoreOptions,
};
use crate::sampler::{
    chosen_meter, SampleError, SampleOptions, Sampler, MAX_CONTINUE_PRIME, MAX_LENGTH, MAX_PRIME,
    MAX_TEMPERATURE,
};
use crate::weights::{Hyper, Provenance, Weights, WeightsError};

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

/// A number as JavaScript may give it: a number, or the text of a form field, an attribute or
/// a link (`"0.8"`).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum JsNumber {
    Number(f64),
    Text(String),
}

impl JsNumber {
    /// The number, or `None` for text that is not one. Empty text is no number either.
    fn value(&self) -> Option<f64> {
        match self {
            JsNumber::Number(x) => Some(*x),
            JsNumber::Text(t) => {
                let t = t.trim();
                (!t.is_empty()).then(|| t.parse().ok()).flatten()
            }
        }
    }

    /// As the user wrote it, for error messages.
    fn shown(&self) -> String {
        match self {
            JsNumber::Number(x) => format!("{x}"),
            JsNumber::Text(t) => format!("{t:?}"),
        }
    }

    /// Absent: `undefined`, `null` or empty text (an empty form field means the default).
    fn given(opt: &Option<JsNumber>) -> Option<&JsNumber> {
        opt.as_ref().filter(|n| !matches!(n, JsNumber::Text(t) if t.trim().is_empty()))
    }
}

/// A switch as JavaScript may give it: a boolean, or the text of an attribute or a link (`""`,
/// `"1"` and `"true"` are on, `"0"` and `"false"` off).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum JsFlag {
    Bool(bool),
    Text(String),
}

impl JsFlag {
    fn value(&self, name: &'static str) -> Result<bool, OptionsError> {
        match self {
            JsFlag::Bool(b) => Ok(*b),
            JsFlag::Text(t) => match t.trim() {
                "" | "1" | "true" => Ok(true),
                "0" | "false" => Ok(false),
                other => Err(OptionsError::Flag(name, other.to_string())),
            },
        }
    }
}

/// The measure a continuation starts at, as JavaScript gives it (a number, or the text of a
/// form field or link): `None` (the score's end) when absent or empty.
pub fn from_measure(given: &Option<JsNumber>) -> Result<Option<u32>, OptionsError> {
    let Some(n) = JsNumber::given(given) else {
        return Ok(None);
    };
    match n.value() {
        Some(x) if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= f64::from(u32::MAX) => {
            Ok(Some(x as u32))
        }
        _ => Err(OptionsError::FromMeasure(n.shown())),
    }
}

/// A meter from JavaScript: `"auto"` (from the music), `"3/4"` or `[3, 4]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum JsMeter {
    Text(String),
    Pair(u32, u32),
}

impl JsMeter {
    /// The meter choice, `None` for empty text (the default).
    fn resolve(&self) -> Result<Option<MeterChoice>, MeterError> {
        match self {
            JsMeter::Pair(n, d) => Meter::new(*n, *d).map(|m| Some(MeterChoice::Fixed(m))),
            JsMeter::Text(m) if m.trim().is_empty() => Ok(None),
            JsMeter::Text(m) => MeterChoice::parse(m).map(Some),
        }
    }
}

/// Sampling options as JavaScript passes them: every field optional (`undefined`, `null` or
/// empty text mean the default, [`SampleOptions::default`]); numbers may be text.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct JsSampleOptions {
    pub temperature: Option<JsNumber>,
    pub seed: Option<JsNumber>,
    pub prime: Option<String>,
    pub length: Option<JsNumber>,
    pub argmax: Option<JsFlag>,
    /// Sample without the **kern grammar (the published behaviour).
    pub raw: Option<JsFlag>,
    /// The meter of the piece: `"auto"` (from the music), `"3/4"` or `[3, 4]`.
    pub meter: Option<JsMeter>,
}

/// Options that JavaScript gave wrongly (the sampler's own checks say the rest).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptionsError {
    #[error("seed must be a whole number from 0 to 2^53, got {0}")]
    Seed(String),
    #[error("length must be a whole number from 1 to {MAX_LENGTH}, got {0}")]
    Length(String),
    #[error("temperature must be a number above 0 and at most {MAX_TEMPERATURE}, got {0}")]
    Temperature(String),
    #[error("{0} must be true or false, got {1:?}")]
    Flag(&'static str, String),
    #[error(transparent)]
    Meter(#[from] MeterError),
    #[error(
        "the measure to continue from must be a whole number of a barline of the score, got {0}"
    )]
    FromMeasure(String),
    #[error("tempo must be a whole number of beats per minute from 1 to 999, got {0}")]
    Tempo(f64),
    #[error("the score's measure limit must be a whole number from 1 up, got {0}")]
    MeasureLimit(f64),
    #[error(transparent)]
    Sample(#[from] SampleError),
}

/// The largest seed JavaScript can pass exactly (2^53).
const MAX_JS_SEED: f64 = 9_007_199_254_740_992.0;

impl JsSampleOptions {
    /// The options, with every check that does not need a model ([`SampleOptions::validate`]):
    /// what the page calls before it starts a sample, and what `start` calls.
    pub fn resolve(&self) -> Result<SampleOptions, OptionsError> {
        let d = SampleOptions::default();
        let whole = |x: f64, max: f64| x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= max;
        let seed = match JsNumber::given(&self.seed) {
            None => d.seed,
            Some(s) => match s.value() {
                Some(x) if whole(x, MAX_JS_SEED) => x as u64,
                _ => return Err(OptionsError::Seed(s.shown())),
            },
        };
        let length = match JsNumber::given(&self.length) {
            None => d.length,
            Some(l) => match l.value() {
                Some(x) if whole(x, MAX_LENGTH as f64) && x >= 1.0 => x as usize,
                _ => return Err(OptionsError::Length(l.shown())),
            },
        };
        let temperature = match JsNumber::given(&self.temperature) {
            None => d.temperature,
            Some(t) => match t.value() {
                Some(x) if x > 0.0 && x <= MAX_TEMPERATURE as f64 => x as f32,
                _ => return Err(OptionsError::Temperature(t.shown())),
            },
        };
        let prime = match self.prime.as_deref() {
            None | Some("") => d.prime,
            Some(p) => p.to_string(),
        };
        let meter = match &self.meter {
            None => None,
            Some(m) => m.resolve()?,
        };
        let opts = SampleOptions {
            temperature,
            seed,
            prime,
            length,
            argmax: self.argmax.as_ref().map_or(Ok(d.argmax), |f| f.value("argmax"))?,
            raw: self.raw.as_ref().map_or(Ok(d.raw), |f| f.value("raw"))?,
            meter: meter.unwrap_or(d.meter),
        };
        opts.validate()?;
        Ok(opts)
    }
}

/// Sampling options as the page shows them (and puts them in a link).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionsView {
    /// The temperature as the shortest decimal that reads back as the same `f32` (`0.9`, not
    /// `0.8999999761581421`): what a link and the form show.
    pub temperature: f64,
    pub seed: u64,
    pub prime: String,
    pub length: usize,
    pub argmax: bool,
    pub raw: bool,
    pub meter: String,
}

impl From<&SampleOptions> for OptionsView {
    fn from(o: &SampleOptions) -> Self {
        OptionsView {
            temperature: o.temperature.to_string().parse().unwrap_or(f64::from(o.temperature)),
            seed: o.seed,
            prime: o.prime.clone(),
            length: o.length,
            argmax: o.argmax,
            raw: o.raw,
            meter: o.meter.to_string(),
        }
    }
}

/// The defaults and limits of sampling options, for a page's form: the one source is
/// [`SampleOptions::default`] and the sampler's limits.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionDefaults {
    pub options: OptionsView,
    pub max_length: usize,
    pub max_temperature: f32,
    pub max_prime: usize,
    pub max_seed: f64,
}

pub fn option_defaults() -> OptionDefaults {
    OptionDefaults {
        options: OptionsView::from(&SampleOptions::default()),
        max_length: MAX_LENGTH,
        max_temperature: MAX_TEMPERATURE,
        max_prime: MAX_PRIME,
        max_seed: MAX_JS_SEED,
    }
}

/// Score options as JavaScript passes them: `{ title, meter: "3/4", tempoBpm, maxMeasures }`,
/// all optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct JsScoreOptions {
    pub title: Option<String>,
    pub meter: Option<String>,
    pub tempo_bpm: Option<f64>,
    /// Keep only the first measures (engraving thousands takes verovio minutes).
    pub max_measures: Option<f64>,
}

impl JsScoreOptions {
    pub fn resolve(&self) -> Result<(ScoreOptions, Option<usize>), OptionsError> {
        let meter = match self.meter.as_deref().map(str::trim) {
            None | Some("") => MeterChoice::FromMusic,
            Some(m) => MeterChoice::parse(m)?,
        };
        let tempo_bpm = match self.tempo_bpm {
            None => None,
            Some(t) if t.fract() == 0.0 && (1.0..=999.0).contains(&t) => Some(t as u32),
            Some(t) => return Err(OptionsError::Tempo(t)),
        };
        let max_measures = match self.max_measures {
            None => None,
            Some(m) if m.fract() == 0.0 && m >= 1.0 && m.is_finite() => Some(m as usize),
            Some(m) => return Err(OptionsError::MeasureLimit(m)),
        };
        let opts =
            ScoreOptions { title: self.title.clone(), meter, tempo_bpm, ..Default::default() };
        Ok((opts, max_measures))
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
    /// Barlines the sample has beyond the measure limit (0: the score is all of it).
    pub measures_left_out: usize,
}

/// The `@` barline lines of a raw sample (its measures, where it is well formed).
pub fn barlines(raw: &str) -> usize {
    raw.split('\n').filter(|l| *l == "@").count()
}

/// The start of `raw` that holds its first `keep` measures (cut right after the barline that
/// closes the last of them), and how many measures after that the rest closes with a barline.
fn first_measures(raw: &str, keep: usize) -> (&str, usize) {
    let mut closed = 0;
    let mut music = false;
    let mut cut = None;
    let mut at = 0;
    for line in raw.split_inclusive('\n') {
        at += line.len();
        let text = line.trim_end_matches(['\n', '\r']);
        if text == "@" {
            if music {
                closed += 1;
                if closed == keep {
                    cut = Some(at);
                }
            }
            music = false;
        } else if !text.starts_with('*') && !text.is_empty() {
            music = true;
        }
    }
    match cut {
        Some(at) if closed > keep => (&raw[..at], closed - keep),
        _ => (raw, 0),
    }
}

/// Turns raw sampled text into a complete **kern score, with a report; with `max_measures`,
/// of its first measures only.
pub fn score(raw: &str, opts: &ScoreOptions, max_measures: Option<usize>) -> Score {
    let (raw, left_out) = match max_measures {
        Some(m) => first_measures(raw, m),
        None => (raw, 0),
    };
    let (kern, r) = reconstruct_with_report(raw, opts);
    Score {
        kern,
        measures: r.measures,
        dropped_lines: r.dropped_lines,
        spines: r.spines,
        movements: r.movements,
        measures_left_out: left_out,
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

impl Composer {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        Ok(Composer::from_weights(&Weights::from_bytes(bytes)?))
    }

    pub fn from_weights(w: &Weights) -> Self {
        Composer {
            model: Arc::new(CpuModel::new(w)),
            hyper: w.hyper,
            provenance: w.provenance.clone(),
        }
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

    /// The model on the CPU.
    pub fn model(&self) -> &Arc<CpuModel> {
        &self.model
    }

    /// The logits after each character of `text` fed from the zero state, the measure clock
    /// "unknown" throughout, on the CPU (what the page's test compares the GPU's with).
    pub fn logits_for(&self, text: &str) -> Result<Vec<Vec<f32>>, SampleError> {
        Ok(self.model.logits_for(&self.model.vocab().encode(text)?, UNKNOWN))
    }

    /// Whether `opts` can sample from this model (all of [`Composer::start`]'s checks, without
    /// sampling).
    pub fn check(&self, opts: &SampleOptions) -> Result<(), SampleError> {
        Sampler::check(&self.model, opts)
    }

    /// Starts a sample on the CPU: validates the options and feeds the prime.
    pub fn start(&self, opts: SampleOptions) -> Result<Sampler, SampleError> {
        Sampler::new(self.model.clone(), opts)
    }

    /// The title of a score sampled with `opts` (as `kernrnn sample --kern` writes it).
    pub fn title(&self, opts: &SampleOptions) -> String {
        score_title(&self.provenance.name, opts)
    }

    /// Reads a **kern score to continue with this model, from the barline of measure
    /// `from_measure` or at its end. Characters the model does not know (another edition's
    /// marks) are left out of its prime, each named in a notice; the grammar must read the rest.
    pub fn continuing(
        &self,
        score: &str,
        from_measure: Option<u32>,
    ) -> Result<Continuing, ContinueError> {
        let cut = Continuation::read(score, from_measure)?;
        let part = prime_part(&cut.prepared);
        let vocab = self.model.vocab();
        let mut unknown: Vec<(char, usize)> = Vec::new();
        let prime: String = part
            .chars()
            .filter(|&c| {
                let known = vocab.index(c).is_some();
                if !known {
                    match unknown.iter_mut().find(|(u, _)| *u == c) {
                        Some((_, n)) => *n += 1,
                        None => unknown.push((c, 1)),
                    }
                }
                known
            })
            .collect();
        let mut notices = Vec::new();
        if part.len() < cut.prepared.len() {
            notices.push(format!(
                "the model is primed with the score's last {} characters of music (of {})",
                part.chars().count(),
                cut.prepared.chars().count()
            ));
        }
        if !unknown.is_empty() {
            let listed: Vec<String> =
                unknown.iter().map(|(c, n)| format!("{c:?} ({n}\u{d7})")).collect();
            notices.push(format!(
                "characters the model does not know were left out of its prime: {}",
                listed.join(", ")
            ));
        }
        let continuing = Continuing { cut, prime, notices };
        let opts = continuing.options(&SampleOptions::default())?;
        Sampler::check(&self.model, &opts).map_err(|e| match e {
            SampleError::PrimeGrammar(why) => ContinueError::Unreadable(why),
            other => ContinueError::Unreadable(other.to_string()),
        })?;
        Ok(continuing)
    }

    /// The complete **kern score of a sample drawn with `opts`: the only recipe from a sample
    /// to a score (`kernrnn sample --kern`, the page and the element), with the title and the
    /// sampling meter as the score's default; with `max_measures`, of its first measures only.
    pub fn score(&self, raw: &str, opts: &SampleOptions, max_measures: Option<usize>) -> Score {
        // The meter a sample with the grammar kept is the score's (a drawn 6/8 rather than the
        // 3/4 its measures' length would give); a raw sample's is read from its measures.
        let meter = match opts.meter {
            MeterChoice::FromMusic if !opts.raw => {
                chosen_meter(&self.model, opts).map_or(opts.meter, MeterChoice::Fixed)
            }
            meter => meter,
        };
        let score_opts = ScoreOptions {
            title: Some(self.title(opts)),
            meter,
            dialect: self.model.dialect().clone(),
            ..ScoreOptions::default()
        };
        score(raw, &score_opts, max_measures)
    }
}

/// A real score to continue, read for one model: where the model takes over, what it is
/// primed with, and what was changed to prime it (`notices`, for the user).
#[derive(Clone, Debug)]
pub struct Continuing {
    cut: Continuation,
    /// The cut's prepared text, its last [`MAX_CONTINUE_PRIME`] characters at most (from a
    /// barline where the score has its opening spines), without characters the model does
    /// not know.
    prime: String,
    /// What was left out of the prime, one sentence each.
    pub notices: Vec<String>,
}

/// The end of `prepared` (a text of `@`-separated measures) that the model is primed with:
/// all of it when it is short, else its last [`MAX_CONTINUE_PRIME`] characters at most, from
/// a barline after which the line has as many fields as the text's first (the grammar reads
/// a text's opening spines from its first line, so it must not start inside a split); all of
/// it when there is no such barline.
fn prime_part(prepared: &str) -> &str {
    let fields = |at: usize| prepared[at..].lines().nth(1).map(|l| l.split('\t').count());
    let opening = fields(0);
    let total = prepared.chars().count();
    if total <= MAX_CONTINUE_PRIME {
        return prepared;
    }
    let mut chars_before = 0;
    let mut at = 0;
    for line in prepared.split_inclusive('\n') {
        let rest = total - chars_before;
        if line == "@\n" && rest <= MAX_CONTINUE_PRIME && fields(at) == opening {
            return &prepared[at..];
        }
        chars_before += line.chars().count();
        at += line.len();
    }
    // no such barline (a score that opens split and later merges): all of it (at most MAX_PRIME)
    prepared
}

impl Continuing {
    /// The measure the model writes first, when the score numbers its barlines.
    pub fn from_measure(&self) -> Option<u32> {
        self.cut.measure
    }

    /// The prime the model reads (the end of the given music, prepared).
    pub fn prime(&self) -> &str {
        &self.prime
    }

    /// `opts` for this continuation: primed with the score, in its meter. A prime of one's own,
    /// a meter other than the score's and sampling without the grammar are refused: the
    /// continuation goes on from the score, in its meter, and must stay a valid score.
    pub fn options(&self, opts: &SampleOptions) -> Result<SampleOptions, ContinueError> {
        if opts.raw {
            return Err(ContinueError::Refused(
                "keeps to the **kern grammar (the score stays valid): sample it with the grammar (not raw)",
            ));
        }
        if opts.prime != SampleOptions::default().prime && opts.prime != self.prime {
            return Err(ContinueError::Refused(
                "is primed with the score itself: give no prime of your own",
            ));
        }
        let meter = match (opts.meter, self.cut.meter) {
            (MeterChoice::Fixed(m), Some(score)) if m != score => {
                return Err(ContinueError::Refused(
                    "keeps the score's meter: leave the meter to the music (auto)",
                ))
            }
            (_, Some(score)) => MeterChoice::Fixed(score),
            (chosen, None) => chosen,
        };
        Ok(SampleOptions { prime: self.prime.clone(), meter, ..opts.clone() })
    }

    /// The continued score of a sample drawn with [`Continuing::options`] (`raw` starts with
    /// the prime), marked with `title` where the model takes over; with `max_measures`, of the
    /// model's first measures only.
    pub fn score(
        &self,
        raw: &str,
        title: &str,
        max_measures: Option<usize>,
    ) -> Result<Score, ContinueError> {
        let text = raw.strip_prefix(self.prime.as_str()).ok_or(ContinueError::Refused(
            "scores a sample that starts with the score's prime: this one does not",
        ))?;
        let c = self.cut.score(text, title, max_measures);
        Ok(Score {
            kern: c.kern,
            measures: c.measures,
            dropped_lines: 0,
            spines: self.cut.spines.len(),
            movements: 1,
            measures_left_out: c.measures_left_out,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kern::Dialect;
    use crate::sampler::sample;
    use crate::vocab::Vocab;
    use crate::weights::LayerWeights;

    /// A small model with deterministic, non-trivial weights.
    pub(crate) fn weights() -> Weights {
        weights_of(Vocab::from_text("@\n\t.48abcdefgABCDEFG=*#-rLJ"))
    }

    /// Such a model over `vocab`.
    fn weights_of(vocab: Vocab) -> Weights {
        let hyper = Hyper { vocab_size: vocab.len(), layers: 2, hidden: 12, measure_clock: false };
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
            dialect: Default::default(),
            layers,
            head_weight: next(hyper.hidden * hyper.vocab_size),
            head_bias: next(hyper.vocab_size),
            clock_weight: Vec::new(),
        }
    }

    pub(crate) fn composer() -> (Composer, Vec<u8>) {
        let bytes = weights().to_bytes().unwrap();
        (Composer::from_bytes(&bytes).unwrap(), bytes)
    }

    fn js(f: impl FnOnce(&mut JsSampleOptions)) -> Result<SampleOptions, String> {
        let mut o = JsSampleOptions::default();
        f(&mut o);
        o.resolve().map_err(|e| e.to_string())
    }

    fn text(s: &str) -> Option<JsNumber> {
        Some(JsNumber::Text(s.into()))
    }

    #[test]
    fn a_sample_in_chunks_is_the_sample_in_one_go() {
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
    fn the_score_of_a_constrained_sample_checks_valid() {
        let (c, _) = composer();
        let opts = SampleOptions { seed: 3, length: 400, ..SampleOptions::default() };
        let raw = sample(c.model.clone(), &opts).unwrap();
        let checked = check_score(&c.score(&raw, &opts, None).kern);
        assert!(checked.valid, "{checked:?}");
        assert!(checked.problems.is_empty() && checked.measures >= 1);
    }

    #[test]
    fn a_model_of_real_editions_writes_their_marks_and_its_scores_declare_its_signifiers() {
        let mut w = weights_of(Vocab::from_text("@\n\t .48abcdefgABCDEFG*#-rLJ<>~"));
        let record = "!!!RDF**kern: > = above".to_string();
        w.dialect =
            Dialect { editions: true, signifiers: vec![record.clone()], ..Dialect::default() };
        let c = Composer::from_weights(&w);
        let mut marks = 0;
        for seed in 1..=6 {
            let opts = SampleOptions { seed, length: 1500, ..SampleOptions::default() };
            let raw = sample(c.model.clone(), &opts).unwrap();
            let read = crate::kern::check_prepared_in(&raw, opts.meter, true);
            assert!(read.is_valid(), "seed {seed}: {:?}\n{raw}", read.diagnostics);
            // the sonatas' dialect refuses what only real editions write (`4c>`, `8e~`)
            marks += crate::kern::check_prepared(&raw, opts.meter).diagnostics.len();
            let score = c.score(&raw, &opts, None).kern;
            let checked = check_score(&score);
            assert!(checked.valid, "seed {seed}: {checked:?}\n{score}");
            assert!(score.ends_with(&format!("*-\n{record}\n")), "{score}");
        }
        assert!(marks > 0, "no sample wrote a mark of the editions dialect");
    }

    #[test]
    fn a_broken_score_names_the_line_and_kind_of_its_problem() {
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
    fn a_score_with_a_measure_limit_keeps_the_first_measures_and_counts_the_rest() {
        let raw = "@\n1c\t1e\t.\n@\n1d\t1f\t.\n@\n1e\t1g\t.\n@\n1f\t1a\t.\n@\n";
        let s = score(raw, &ScoreOptions::default(), Some(2));
        assert_eq!(s.measures, 2, "{}", s.kern);
        assert_eq!(s.measures_left_out, 2);
        assert_eq!(score(raw, &ScoreOptions::default(), None).measures, 4);
    }

    #[test]
    fn truncated_and_foreign_weights_are_named_errors() {
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
    fn the_title_names_model_seed_and_temperature() {
        let (c, _) = composer();
        let info = c.info();
        assert_eq!((info.name.as_str(), info.layers, info.hidden), ("unit", 2, 12));
        assert_eq!(info.vocab.chars().count(), info.vocab_size);
        let opts = SampleOptions { seed: 7, temperature: 0.8, ..SampleOptions::default() };
        assert_eq!(c.title(&opts), "kernrnn unit sample, seed 7, temperature 0.8");
    }

    #[test]
    fn javascript_options_left_out_or_empty_are_the_command_lines_defaults() {
        assert_eq!(js(|_| {}).unwrap(), SampleOptions::default());
        let empty = js(|o| {
            o.seed = text("");
            o.length = text(" ");
            o.temperature = text("");
            o.prime = Some(String::new());
            o.meter = Some(JsMeter::Text(String::new()));
        });
        assert_eq!(empty.unwrap(), SampleOptions::default());
    }

    #[test]
    fn javascript_numbers_may_be_numbers_or_text() {
        let o = js(|o| {
            o.seed = Some(JsNumber::Number(42.0));
            o.length = text("10");
            o.temperature = text("1.5");
        })
        .unwrap();
        assert_eq!((o.seed, o.length, o.temperature), (42, 10, 1.5));
    }

    #[test]
    fn a_seed_that_is_not_a_whole_number_up_to_2_53_is_refused() {
        for bad in [JsNumber::Number(-1.0), JsNumber::Number(1.5), JsNumber::Text("x".into())] {
            let e = js(|o| o.seed = Some(bad.clone())).unwrap_err();
            assert!(e.starts_with("seed must be a whole number from 0 to 2^53"), "{e}");
        }
    }

    #[test]
    fn a_length_out_of_range_is_refused_with_the_range() {
        for bad in ["0", "99999999999", "NaN", "ten"] {
            let e = js(|o| o.length = text(bad)).unwrap_err();
            assert_eq!(e, format!("length must be a whole number from 1 to 10000000, got {bad:?}"));
        }
    }

    #[test]
    fn a_temperature_out_of_range_is_refused_with_the_range() {
        for bad in ["0", "-1", "NaN", "inf", "11", "warm"] {
            let e = js(|o| o.temperature = text(bad)).unwrap_err();
            assert_eq!(
                e,
                format!("temperature must be a number above 0 and at most 10, got {bad:?}")
            );
        }
    }

    #[test]
    fn a_meter_is_read_from_text_or_a_pair_with_the_one_meter_rule() {
        let meter = |m: JsMeter| js(|o| o.meter = Some(m)).map(|o| o.meter);
        let fixed = |n, d| MeterChoice::Fixed(Meter::new(n, d).unwrap());
        assert_eq!(meter(JsMeter::Text(" 3/4".into())), Ok(fixed(3, 4)));
        assert_eq!(meter(JsMeter::Pair(6, 8)), Ok(fixed(6, 8)));
        assert_eq!(meter(JsMeter::Text("auto".into())), Ok(MeterChoice::FromMusic));
        for bad in
            [JsMeter::Text("waltz".into()), JsMeter::Text("0/4".into()), JsMeter::Pair(100, 4)]
        {
            let e = meter(bad).unwrap_err();
            assert!(
                e.starts_with(
                    "meter must be auto (from the music) or N/D with N a whole number from 1 to 99"
                ),
                "{e}"
            );
        }
    }

    #[test]
    fn a_switch_is_a_boolean_or_the_text_of_one() {
        assert!(js(|o| o.raw = Some(JsFlag::Text("".into()))).unwrap().raw);
        assert!(!js(|o| o.raw = Some(JsFlag::Text("false".into()))).unwrap().raw);
        let e = js(|o| o.argmax = Some(JsFlag::Text("maybe".into()))).unwrap_err();
        assert_eq!(e, "argmax must be true or false, got \"maybe\"");
    }

    #[test]
    fn options_show_the_temperature_as_typed_not_as_its_nearest_binary_value() {
        let o = SampleOptions { temperature: 0.9, ..SampleOptions::default() };
        assert_eq!(OptionsView::from(&o).temperature, 0.9f64);
    }

    #[test]
    fn the_defaults_a_page_reads_are_the_sampler_defaults() {
        let d = option_defaults();
        assert_eq!(d.options, OptionsView::from(&SampleOptions::default()));
        assert_eq!(d.options.meter, "auto");
        assert_eq!((d.max_length, d.max_temperature), (MAX_LENGTH, MAX_TEMPERATURE));
    }

    #[test]
    fn score_options_check_meter_tempo_and_measure_limit() {
        let ok = JsScoreOptions {
            meter: Some("3/4".into()),
            tempo_bpm: Some(90.0),
            title: Some("t".into()),
            max_measures: Some(8.0),
        };
        let (r, max) = ok.resolve().unwrap();
        assert_eq!(
            (r.meter, r.tempo_bpm, r.title.as_deref(), max),
            (MeterChoice::Fixed(Meter::new(3, 4).unwrap()), Some(90), Some("t"), Some(8))
        );
        for m in ["3", "3/5", "0/4", "x/4", "3/128"] {
            let e = JsScoreOptions { meter: Some(m.into()), ..Default::default() }
                .resolve()
                .unwrap_err();
            assert!(e.to_string().contains("meter"), "{m}");
        }
        assert!(JsScoreOptions { tempo_bpm: Some(0.0), ..Default::default() }.resolve().is_err());
        assert!(JsScoreOptions { max_measures: Some(0.5), ..Default::default() }
            .resolve()
            .is_err());
    }
}
