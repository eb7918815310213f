//! Native training: batches, the loop, validation, checkpoints and export.

pub mod checkpoint;
pub mod data;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::kern::clock::clock_classes;
use crate::kern::{prepare_dir, Corpus, Dialect};
use crate::model::{cross_entropy, detach, CharLstm, Layers, State};
use crate::vocab::Vocab;
use crate::weights::{Hyper, Provenance, Weights};
use data::{split, Batches};

/// Hyper-parameters of a run. Defaults are char-rnn's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub layers: usize,
    pub hidden: usize,
    pub seq_len: usize,
    pub batch: usize,
    pub learning_rate: f64,
    /// Multiplies the learning rate at the end of each epoch from `decay_after` on.
    pub lr_decay: f64,
    pub decay_after: usize,
    /// Each gradient element is clamped to ±grad_clip (char-rnn's clipping).
    pub grad_clip: f32,
    pub dropout: f64,
    pub epochs: usize,
    pub valid_fraction: f64,
    /// Validate (and checkpoint) every this many iterations, and at every epoch end.
    pub eval_every: usize,
    pub seed: u64,
    /// A low-rate phase at the end of a run: from epoch `.0` on, the learning rate is `.1`
    /// (set when resuming, to settle a run whose validation loss still wanders).
    #[serde(default)]
    pub final_lr: Option<(usize, f64)>,
    /// The model reads the measure clock beside each character ([`crate::kern::clock`]).
    /// Runs checkpointed before it existed resume without it.
    #[serde(default)]
    pub measure_clock: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            layers: 3,
            hidden: 128,
            seq_len: 50,
            batch: 50,
            learning_rate: 2e-3,
            lr_decay: 0.97,
            decay_after: 10,
            grad_clip: 5.0,
            dropout: 0.0,
            epochs: 30,
            valid_fraction: 0.05,
            eval_every: 200,
            seed: 42,
            final_lr: None,
            measure_clock: true,
        }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |what: &str| Err(TrainError::Config(what.to_string()));
        if !(1..=16).contains(&self.layers) {
            return bad("--layers must be between 1 and 16");
        }
        if !(1..=4096).contains(&self.hidden) {
            return bad("--hidden must be between 1 and 4096");
        }
        if !(1..=10_000).contains(&self.seq_len) || !(1..=10_000).contains(&self.batch) {
            return bad("--seq-length and --batch-size must be between 1 and 10000");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate < 1.0)
        {
            return bad("--learning-rate must be above 0 and below 1");
        }
        if !(self.lr_decay.is_finite() && self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return bad("--lr-decay must be above 0 and at most 1");
        }
        if !(self.grad_clip.is_finite() && self.grad_clip > 0.0) {
            return bad("--grad-clip must be a positive number");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("--dropout must be at least 0 and below 1");
        }
        if self.epochs == 0 || self.epochs > 100_000 {
            return bad("--epochs must be between 1 and 100000");
        }
        if !(self.valid_fraction > 0.0 && self.valid_fraction < 0.5) {
            return bad("--valid-fraction must be above 0 and below 0.5");
        }
        if self.eval_every == 0 {
            return bad("--eval-every must be at least 1");
        }
        if self.final_lr.is_some_and(|(_, lr)| !(lr.is_finite() && lr > 0.0 && lr < 1.0)) {
            return bad("--final-lr must be above 0 and below 1");
        }
        Ok(())
    }

    /// The learning rate during (0-based) epoch `epoch`: decayed once at the end of each epoch
    /// from epoch `decay_after` on, as char-rnn does.
    pub fn learning_rate_at(&self, epoch: usize) -> f64 {
        if let Some((_, lr)) = self.final_lr.filter(|&(from, _)| epoch >= from) {
            return lr;
        }
        let decays = (epoch + 1).saturating_sub(self.decay_after.max(1));
        self.learning_rate * self.lr_decay.powi(decays as i32)
    }
}

/// Where training runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's `flex` backend on all CPU cores.
    Cpu,
    /// burn's wgpu backend (Vulkan, Metal, DX12): needs the `wgpu` cargo feature.
    Wgpu,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Wgpu => "wgpu",
        }
    }

    /// The device, without autodiff.
    pub fn device(self) -> Result<Device, TrainError> {
        match self {
            Backend::Cpu => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => {
                // burn sets the GPU up on first use and panics when there is none: set it up
                // here, so a machine without one gets an error that says so.
                use burn::tensor::wgpu::WgpuInitError;
                match Device::wgpu_options().init() {
                    Ok(device) => Ok(device),
                    // Only when an earlier run in this process set it up.
                    Err(WgpuInitError::Registration { .. }) => Ok(Device::wgpu(Default::default())),
                    Err(e) => Err(TrainError::Config(format!("--backend wgpu: no usable GPU here ({e})"))),
                }
            }
            #[cfg(not(feature = "wgpu"))]
            Backend::Wgpu => Err(TrainError::Config(
                "this kernrnn was built without GPU support: rebuild with `cargo build --features wgpu`"
                    .into(),
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Corpus(#[from] crate::kern::CorpusError),
    #[error("{0}")]
    Checkpoint(String),
    #[error("training diverged: the loss became {loss} at iteration {iteration}; try a lower --learning-rate")]
    Diverged { loss: f32, iteration: u64 },
    #[error("{0}")]
    Io(String),
}

/// One point of the loss history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossPoint {
    pub iteration: u64,
    pub epoch: f64,
    pub train_loss: f64,
    pub valid_loss: f64,
}

/// Everything about a run except tensors: saved with every checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub name: String,
    pub config: TrainConfig,
    pub backend: Backend,
    pub vocab: String,
    pub corpus: String,
    pub corpus_files: usize,
    /// FNV-1a of the prepared text: a resumed run must see the same corpus.
    pub corpus_hash: u64,
    pub train_chars: usize,
    pub valid_chars: usize,
    /// Completed epochs, and iterations done in the current one.
    pub epoch: usize,
    pub iteration: usize,
    pub iterations_per_epoch: usize,
    pub global_iteration: u64,
    /// Seconds spent in training steps (not validation), summed over all sessions.
    pub train_seconds: f64,
    pub wall_seconds: f64,
    pub train_loss: Option<f64>,
    pub valid_loss: Option<f64>,
    pub best_valid_loss: Option<f64>,
    pub history: Vec<LossPoint>,
}

impl TrainState {
    pub fn finished(&self) -> bool {
        self.epoch >= self.config.epochs
    }

    pub fn chars_per_second(&self) -> f64 {
        let chars = self.global_iteration as f64 * (self.config.batch * self.config.seq_len) as f64;
        if self.train_seconds > 0.0 {
            chars / self.train_seconds
        } else {
            0.0
        }
    }

    pub fn epochs_done(&self) -> f64 {
        self.epoch as f64 + self.iteration as f64 / self.iterations_per_epoch.max(1) as f64
    }

    pub fn provenance(&self) -> Provenance {
        Provenance {
            name: self.name.clone(),
            corpus: self.corpus.clone(),
            files: self.corpus_files,
            train_chars: self.train_chars,
            valid_chars: self.valid_chars,
            epochs: self.epochs_done(),
            iterations: self.global_iteration,
            seq_len: self.config.seq_len,
            batch_size: self.config.batch,
            learning_rate: self.config.learning_rate,
            dropout: self.config.dropout,
            train_loss: self.train_loss,
            valid_loss: self.valid_loss,
            train_seconds: self.train_seconds,
            chars_per_second: self.chars_per_second(),
            backend: self.backend.name().into(),
            kernrnn_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// FNV-1a, 64 bits: a fingerprint of the prepared text, not a security measure.
pub fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// What the caller sees of a run's progress.
pub trait Progress {
    /// A run starts (or resumes) with this many iterations in all, this many done.
    fn start(&mut self, total: u64, done: u64);
    /// After each iteration.
    fn step(&mut self, state: &TrainState, chars_per_second: f64);
    /// A line worth keeping in a log (validation, checkpoints, warnings).
    fn line(&mut self, text: &str);
    fn finish(&mut self);
}

/// Progress that goes nowhere (tests).
pub struct Silent;

impl Progress for Silent {
    fn start(&mut self, _: u64, _: u64) {}
    fn step(&mut self, _: &TrainState, _: f64) {}
    fn line(&mut self, _: &str) {}
    fn finish(&mut self) {}
}

/// A training run as the command line describes it.
#[derive(Clone, Debug)]
pub struct TrainRun {
    pub corpus: PathBuf,
    pub name: String,
    pub checkpoint_dir: PathBuf,
    /// Where `NAME.safetensors` and `manifest.json` go.
    pub out_dir: PathBuf,
    pub config: TrainConfig,
    pub backend: Backend,
    /// How the LSTM layers run (fused by default; stock burn ops for comparison). Not part of
    /// the configuration: both compute the same network, so a run may resume with either.
    pub layers: Layers,
    pub resume: bool,
    /// Stop (with a checkpoint) after this many minutes of this session.
    pub max_minutes: Option<f64>,
    /// Stop (with a checkpoint) after this many iterations of this session.
    pub max_iterations: Option<u64>,
    /// Export the weights as they are at the end instead of those with the best validation loss.
    pub export_last: bool,
    /// Set by a Ctrl-C handler: checkpoint and stop.
    pub stop: Arc<AtomicBool>,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Finished,
    Interrupted,
    OutOfTime,
}

/// The result of a run: how it ended, its state and the exported weights file.
#[derive(Clone, Debug)]
pub struct TrainReport {
    pub outcome: Outcome,
    pub state: TrainState,
    pub weights_file: PathBuf,
    /// What was exported: the provenance of the weights file (the best validation point unless
    /// `export_last`).
    pub exported: Provenance,
}

fn adam(config: &TrainConfig) -> ModuleOptimizer {
    AdamConfig::new()
        .with_epsilon(1e-8)
        .with_grad_clipping(Some(GradientClippingConfig::Value(config.grad_clip)))
        .init()
}

/// Validation loss (nats per character) over batches, carrying the state along each stream.
pub fn evaluate(model: &CharLstm, batches: &Batches) -> f64 {
    let model = model.valid();
    let device = model.head_bias.val().device();
    let mut state: Option<State> = None;
    let mut total = 0.0f64;
    for k in 0..batches.iterations {
        let (x, y) = batches.get(k, &device);
        let clock = batches.clock(k, &device);
        let (logits, next) = model.forward(x, clock, state.take());
        total += cross_entropy(logits, y).into_scalar::<f32>() as f64;
        state = Some(next);
    }
    total / batches.iterations.max(1) as f64
}

/// Loss of a model on a text it was not necessarily trained on.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub corpus: String,
    pub files: usize,
    pub chars: usize,
    /// Characters the model's vocabulary lacks (left out of the text, not silently mapped).
    pub unknown_chars: usize,
    pub unknown: String,
    /// Characters actually scored (the text cut to whole batches).
    pub scored_chars: usize,
    pub loss_nats: f64,
    pub loss_bits: f64,
}

/// Cross-entropy of a weights file on a prepared corpus.
pub fn evaluate_corpus(
    weights: &Weights,
    corpus: &Corpus,
    dir: &Path,
    device: &Device,
) -> Result<EvalReport, TrainError> {
    let (tokens, unknown_chars) = weights.vocab.encode_lossy(&corpus.text);
    // The clock of the characters the model knows (the others are left out of `tokens`).
    let clock: Option<Vec<u8>> = weights.hyper.measure_clock.then(|| {
        let classes = clock_classes(&corpus.text, weights.dialect.editions);
        corpus
            .text
            .chars()
            .zip(classes)
            .filter(|&(c, _)| weights.vocab.index(c).is_some())
            .map(|(_, k)| k)
            .collect()
    });
    let mut unknown: Vec<char> =
        corpus.text.chars().filter(|&c| weights.vocab.index(c).is_none()).collect();
    unknown.sort_unstable();
    unknown.dedup();
    // Many streams keep the batch wide; short texts get fewer streams.
    let seq_len = 50;
    let batch = (tokens.len() / (seq_len * 4)).clamp(1, 64);
    let batches = Batches::new(&tokens, clock.as_deref(), batch, seq_len).ok_or_else(|| {
        TrainError::Config(format!(
            "the corpus is too short to evaluate ({} characters)",
            tokens.len()
        ))
    })?;
    let model = CharLstm::from_weights(weights, 0.0, device);
    let loss = evaluate(&model, &batches);
    Ok(EvalReport {
        corpus: dir.display().to_string(),
        files: corpus.files.len(),
        chars: corpus.chars(),
        unknown_chars,
        unknown: unknown.into_iter().collect(),
        scored_chars: batches.chars(),
        loss_nats: loss,
        loss_bits: loss / std::f64::consts::LN_2,
    })
}

/// The useful matrix work of training, in flops per character: each weight of a matrix product
/// costs 2 flops forward and 4 backward (the gradients of its input and of itself). The first
/// layer's input product is a row lookup of its one-hot input and costs none.
pub fn flops_per_char(hyper: Hyper) -> f64 {
    let g = 4 * hyper.hidden;
    let recurrent = hyper.layers * hyper.hidden * g;
    let inputs = hyper.layers.saturating_sub(1) * hyper.hidden * g;
    let head = hyper.hidden * hyper.vocab_size;
    6.0 * (recurrent + inputs + head) as f64
}

/// burn seeds one random stream per process, so runs in one process take turns: each run's
/// initialisation and dropout masks then depend only on its own seed.
static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Trains (or resumes) a model, checkpointing as it goes, and exports its weights: opens the
/// run, trains its epochs until it finishes or is stopped, then checkpoints and exports.
pub fn train(run: &TrainRun, progress: &mut dyn Progress) -> Result<TrainReport, TrainError> {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (mut session, model) = Session::open(run, progress)?;
    let (model, outcome) = session.train_epochs(model, run, progress)?;
    session.finish(model, run, outcome, progress)
}

/// A run in progress in this process: the model's optimiser, the run's state, the hidden state
/// carried between batches, and the batches. The model itself goes through the steps by value
/// (the optimiser updates its tensors in place when nothing else holds them).
struct Session {
    optim: ModuleOptimizer,
    state: TrainState,
    carried: Option<State>,
    vocab: Vocab,
    train_batches: Batches,
    valid_batches: Batches,
    device: Device,
    layers: Layers,
    /// The corpus's **kern dialect, which the exported weights carry.
    dialect: Dialect,
}

impl Session {
    /// Checks the run's options, prepares the corpus and sets the device up, then starts a new
    /// run or loads the checkpoint to resume.
    fn open(
        run: &TrainRun,
        progress: &mut dyn Progress,
    ) -> Result<(Session, CharLstm), TrainError> {
        run.config.validate()?;
        if run.name.is_empty()
            || !run.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            || run.name.starts_with('.')
        {
            return Err(TrainError::Config(format!(
                "--name {:?} must be letters, digits, '-', '_' or '.' (it names files)",
                run.name
            )));
        }
        let corpus = prepare_dir(&run.corpus)?;
        for w in &corpus.warnings {
            progress.line(&format!("warning: {w}"));
        }
        progress.line(&corpus.summary(&run.corpus));
        let dialect = corpus_dialect(&corpus, progress);
        let device = run.backend.device()?.autodiff();

        let existing = checkpoint::exists(&run.checkpoint_dir);
        if existing && !run.resume {
            return Err(TrainError::Checkpoint(format!(
                "{} already holds a training run: pass --resume to continue it, or delete that folder to start over",
                run.checkpoint_dir.display()
            )));
        }
        if run.config.final_lr.is_some() && !run.resume {
            return Err(TrainError::Config(
                "--final-lr continues a run: use it with --resume".into(),
            ));
        }
        if !existing && run.resume {
            return Err(TrainError::Checkpoint(format!(
                "--resume: no checkpoint in {} (nothing to resume; leave out --resume to start)",
                run.checkpoint_dir.display()
            )));
        }
        let (model, optim, state, carried) = if run.resume {
            resume(run, &corpus, &device, progress)?
        } else {
            start(run, &corpus, &device)
        };
        let config = &state.config;
        let vocab = Vocab::from_chars(state.vocab.chars().collect())
            .ok_or_else(|| TrainError::Checkpoint("checkpoint vocabulary is invalid".into()))?;
        let tokens =
            vocab.encode(&corpus.text).map_err(|e| TrainError::Checkpoint(e.to_string()))?;
        let (train_tokens, valid_tokens) = split(&tokens, config.valid_fraction);
        let clock = config.measure_clock.then(|| clock_classes(&corpus.text, dialect.editions));
        let (train_clock, valid_clock) = match &clock {
            Some(c) => {
                let (t, v) = c.split_at(train_tokens.len());
                (Some(t), Some(v))
            }
            None => (None, None),
        };
        let too_short = |what: &str, n: usize| {
            TrainError::Config(format!(
                "the {what} text ({n} characters) is too short for one batch of {} x {} characters; use a smaller --batch-size or --seq-length",
                config.batch, config.seq_len
            ))
        };
        let train_batches = Batches::new(train_tokens, train_clock, config.batch, config.seq_len)
            .ok_or_else(|| too_short("training", train_tokens.len()))?;
        // Validation uses as many streams as the held-out text allows.
        let valid_batch =
            (valid_tokens.len().saturating_sub(1) / config.seq_len).clamp(1, config.batch);
        let valid_batches = Batches::new(valid_tokens, valid_clock, valid_batch, config.seq_len)
            .ok_or_else(|| too_short("validation", valid_tokens.len()))?;
        let mut state = state;
        state.iterations_per_epoch = train_batches.iterations;
        let layers = run.layers;
        let session = Session {
            optim,
            state,
            carried,
            vocab,
            train_batches,
            valid_batches,
            device,
            layers,
            dialect,
        };
        Ok((session, model))
    }

    /// Trains until the last epoch ends, or until the run is stopped (Ctrl-C) or its time or
    /// iteration budget is spent; validates and checkpoints every `eval_every` iterations and
    /// at each epoch end.
    fn train_epochs(
        &mut self,
        mut model: CharLstm,
        run: &TrainRun,
        progress: &mut dyn Progress,
    ) -> Result<(CharLstm, Outcome), TrainError> {
        let config = self.state.config.clone();
        let total = (config.epochs * self.train_batches.iterations) as u64;
        progress.start(total, self.state.global_iteration);
        let session_start = Instant::now();
        let wall_before = self.state.wall_seconds;
        let mut session_iterations = 0u64;
        let outcome = loop {
            if self.state.finished() {
                break Outcome::Finished;
            }
            if run.stop.load(Ordering::SeqCst) {
                break Outcome::Interrupted;
            }
            let minutes = session_start.elapsed().as_secs_f64() / 60.0;
            if run.max_minutes.is_some_and(|m| minutes >= m)
                || run.max_iterations.is_some_and(|n| session_iterations >= n)
            {
                break Outcome::OutOfTime;
            }
            let lr = config.learning_rate_at(self.state.epoch);
            let epoch_end;
            (model, epoch_end) = self.step(model, lr)?;
            session_iterations += 1;
            progress.step(&self.state, self.state.chars_per_second());
            let s = &self.state;
            if epoch_end || s.global_iteration.is_multiple_of(config.eval_every as u64) {
                self.state.wall_seconds = wall_before + session_start.elapsed().as_secs_f64();
                self.validate(&model, run, lr, progress)?;
            }
        };
        self.state.wall_seconds = wall_before + session_start.elapsed().as_secs_f64();
        Ok((model, outcome))
    }

    /// One training iteration at learning rate `lr`: the updated model, and whether it ended an
    /// epoch.
    fn step(&mut self, model: CharLstm, lr: f64) -> Result<(CharLstm, bool), TrainError> {
        let config = &self.state.config;
        let step_start = Instant::now();
        // Dropout masks depend only on the seed and the iteration, so a resumed run draws the
        // same ones as an uninterrupted one.
        self.device
            .seed(config.seed ^ self.state.global_iteration.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (x, y) = self.train_batches.get(self.state.iteration, &self.device);
        let clock = self.train_batches.clock(self.state.iteration, &self.device);
        let (logits, next) = model.forward_as(self.layers, x, clock, self.carried.take());
        let loss = cross_entropy(logits, y);
        let loss_value = loss.clone().into_scalar::<f32>();
        if !loss_value.is_finite() {
            return Err(TrainError::Diverged {
                loss: loss_value,
                iteration: self.state.global_iteration,
            });
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let model = self.optim.step(lr, model, grads);
        self.carried = Some(detach(next));
        let s = &mut self.state;
        s.train_seconds += step_start.elapsed().as_secs_f64();
        s.iteration += 1;
        s.global_iteration += 1;
        let l = loss_value as f64;
        s.train_loss = Some(s.train_loss.map_or(l, |t| 0.95 * t + 0.05 * l));
        let epoch_end = s.iteration >= self.train_batches.iterations;
        if epoch_end {
            s.epoch += 1;
            s.iteration = 0;
            // Each epoch starts the streams again from their beginnings.
            self.carried = None;
        }
        Ok((model, epoch_end))
    }

    /// Validation loss, the best weights so far, the history and a checkpoint.
    fn validate(
        &mut self,
        model: &CharLstm,
        run: &TrainRun,
        lr: f64,
        progress: &mut dyn Progress,
    ) -> Result<(), TrainError> {
        let v = evaluate(model, &self.valid_batches);
        let s = &mut self.state;
        s.valid_loss = Some(v);
        if s.best_valid_loss.is_none_or(|b| v < b) {
            s.best_valid_loss = Some(v);
            // The best weights so far, kept beside the checkpoints: what the run exports.
            let best = model.to_weights(self.vocab.clone(), s.provenance(), self.dialect.clone());
            checkpoint::save_best(&run.checkpoint_dir, &best)?;
        }
        s.history.push(LossPoint {
            iteration: s.global_iteration,
            epoch: s.epochs_done(),
            train_loss: s.train_loss.unwrap_or(f64::NAN),
            valid_loss: v,
        });
        let s = &self.state;
        checkpoint::save(&run.checkpoint_dir, model, &self.optim, s, self.carried.as_ref())?;
        progress.line(&format!(
            "epoch {:.2} iteration {}: train loss {:.4}, validation loss {:.4}, lr {:.2e}, {:.0} chars/s",
            s.epochs_done(),
            s.global_iteration,
            s.train_loss.unwrap_or(f64::NAN),
            v,
            lr,
            s.chars_per_second()
        ));
        Ok(())
    }

    /// Checkpoints where the run stopped and exports the weights (those with the best
    /// validation loss unless `export_last`).
    fn finish(
        self,
        model: CharLstm,
        run: &TrainRun,
        outcome: Outcome,
        progress: &mut dyn Progress,
    ) -> Result<TrainReport, TrainError> {
        let Session { optim, state, carried, vocab, dialect, .. } = self;
        checkpoint::save(&run.checkpoint_dir, &model, &optim, &state, carried.as_ref())?;
        progress.finish();
        let best = if run.export_last { None } else { checkpoint::load_best(&run.checkpoint_dir)? };
        let weights = best.unwrap_or_else(|| model.to_weights(vocab, state.provenance(), dialect));
        let weights_file = export(&weights, &run.out_dir, &run.name)?;
        Ok(TrainReport { outcome, state, weights_file, exported: weights.provenance.clone() })
    }
}

type Opened = (CharLstm, ModuleOptimizer, TrainState, Option<State>);

/// The dialect the model will sample in, said on the progress log: the training corpus's or
/// the editions dialect, the signifiers its files declare, and any prepared lines the grammar
/// reads in neither (the model learns them, but constrained sampling never writes them).
fn corpus_dialect(corpus: &Corpus, progress: &mut dyn Progress) -> Dialect {
    let report = Dialect::of_corpus(corpus);
    let d = &report.dialect;
    progress.line(&format!(
        "**kern dialect: {}{}",
        if d.editions {
            "editions (tokens, interpretations and layouts of real scores beyond the 2015 sonatas)"
        } else {
            "the 2015 sonatas'"
        },
        match d.signifiers.len() {
            0 => String::new(),
            n => format!("; {n} signifier records, written into every score"),
        }
    ));
    if !d.meters.is_empty() {
        progress.line(&format!(
            "meters its files start in, most files first: {} (samples whose meter comes from the music prefer them)",
            d.meters.join(", ")
        ));
    }
    if report.unreadable_count > 0 {
        progress.line(&format!(
            "warning: the **kern grammar cannot read all of the prepared text of {} files (constrained sampling will not write such lines; `kernrnn sample --raw` samples without it); the first line each:",
            report.unreadable_count
        ));
        for u in &report.unreadable {
            progress.line(&format!("  {u}"));
        }
    }
    report.dialect
}

/// A new run: the model initialised from the seed, the state at its start.
fn start(run: &TrainRun, corpus: &Corpus, device: &Device) -> Opened {
    device.seed(run.config.seed);
    let vocab = Vocab::from_text(&corpus.text);
    let hyper = Hyper {
        vocab_size: vocab.len(),
        layers: run.config.layers,
        hidden: run.config.hidden,
        measure_clock: run.config.measure_clock,
    };
    let model = CharLstm::new(hyper, run.config.dropout, device);
    let tokens = vocab.encode(&corpus.text).unwrap_or_default();
    let (tr, va) = split(&tokens, run.config.valid_fraction);
    let state = TrainState {
        name: run.name.clone(),
        config: run.config.clone(),
        backend: run.backend,
        vocab: vocab.as_string(),
        corpus: run.corpus.display().to_string(),
        corpus_files: corpus.files.len(),
        corpus_hash: fingerprint(&corpus.text),
        train_chars: tr.len(),
        valid_chars: va.len(),
        epoch: 0,
        iteration: 0,
        iterations_per_epoch: 0,
        global_iteration: 0,
        train_seconds: 0.0,
        wall_seconds: 0.0,
        train_loss: None,
        valid_loss: None,
        best_valid_loss: None,
        history: Vec::new(),
    };
    (model, adam(&run.config), state, None)
}

/// The checkpoint of an earlier run, on the same corpus; only the length of a run, a final
/// low-rate phase and the device may change (checkpoints are device-independent).
fn resume(
    run: &TrainRun,
    corpus: &Corpus,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<Opened, TrainError> {
    let loaded = checkpoint::load(&run.checkpoint_dir, device, adam)?;
    let mut state = loaded.state;
    if state.corpus_hash != fingerprint(&corpus.text) {
        return Err(TrainError::Checkpoint(format!(
            "the checkpoint in {} was trained on a different corpus ({}: {} files) than {} ({} files); resume with the same --corpus",
            run.checkpoint_dir.display(),
            state.corpus,
            state.corpus_files,
            run.corpus.display(),
            corpus.files.len()
        )));
    }
    if run.config.measure_clock != state.config.measure_clock {
        progress.line(&format!(
            "note: this run began {} the measure clock and goes on so (--no-measure-clock only chooses for a new run)",
            if state.config.measure_clock { "with" } else { "without" }
        ));
    }
    state.config.epochs = run.config.epochs;
    state.backend = run.backend;
    if let Some((_, lr)) = run.config.final_lr {
        state.config.final_lr = Some((state.epoch, lr));
        progress.line(&format!("from epoch {} on, learning rate {lr:.2e}", state.epoch));
    }
    progress.line(&format!(
        "resuming {} at epoch {:.2} (iteration {}), last validation loss {}",
        state.name,
        state.epochs_done(),
        state.global_iteration,
        state.valid_loss.map_or("-".into(), |v| format!("{v:.4}"))
    ));
    Ok((loaded.model, loaded.optim, state, loaded.carried))
}

/// Writes `NAME.safetensors` into `out_dir` (atomically) and records it in `manifest.json`.
pub fn export(weights: &Weights, out_dir: &Path, name: &str) -> Result<PathBuf, TrainError> {
    let io = |what: &str, p: &Path, e: &dyn std::fmt::Display| {
        TrainError::Io(format!("cannot {what} {}: {e}", p.display()))
    };
    std::fs::create_dir_all(out_dir).map_err(|e| io("create", out_dir, &e))?;
    let file = out_dir.join(format!("{name}.safetensors"));
    let bytes = weights.to_bytes().map_err(|e| io("encode", &file, &e))?;
    checkpoint::write_atomic(&file, &bytes).map_err(|e| io("write", &file, &e))?;
    let manifest_path = out_dir.join("manifest.json");
    let mut manifest = crate::manifest::Manifest::read(&manifest_path)
        .map_err(|e| io("read", &manifest_path, &e))?;
    manifest.upsert(crate::manifest::ModelEntry::new(
        weights,
        &format!("{name}.safetensors"),
        bytes.len(),
    ));
    checkpoint::write_atomic(&manifest_path, manifest.to_json().as_bytes())
        .map_err(|e| io("write", &manifest_path, &e))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_checkpointed_before_the_measure_clock_resumes_without_it() {
        let mut saved = serde_json::to_value(TrainConfig::default()).unwrap();
        saved.as_object_mut().unwrap().remove("measure_clock");
        let config: TrainConfig = serde_json::from_value(saved).unwrap();
        assert!(!config.measure_clock);
        assert!(TrainConfig::default().measure_clock, "new runs read the clock");
    }
}
