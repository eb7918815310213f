//! `kernrnn`: train, sample and evaluate the **kern LSTM from the command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use kernrnn::composer::Composer;
use kernrnn::kern::{self, MeterChoice};
use kernrnn::model::Layers;
use kernrnn::train::{self, Backend, Outcome, Progress, TrainConfig, TrainRun, TrainState};
use kernrnn::{SampleOptions, Sampler, Weights};

#[derive(Parser)]
#[command(
    name = "kernrnn",
    version,
    about = "A character-level LSTM that composes piano music in Humdrum **kern"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on a folder of .krn files, with checkpoints, and export its weights.
    Train(TrainArgs),
    /// Sample a piece from a weights file.
    Sample(SampleArgs),
    /// Measure a model's cross-entropy on a folder of .krn files.
    Eval(EvalArgs),
    /// Print the prepared training text of a folder of .krn files.
    Prep(PrepArgs),
    /// Check **kern files (scores, or raw samples): structure, unknown tokens, measures that do not add up.
    Check(CheckArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    /// burn's flex backend on all CPU cores
    Cpu,
    /// burn's wgpu backend on a GPU (Vulkan, Metal, DX12)
    Wgpu,
}

#[derive(Clone, Copy, ValueEnum)]
enum LayersArg {
    /// one fused operation per layer and chunk, with its own backward pass (on a GPU: layers
    /// of up to 256 units; wider ones run stock ops)
    Fused,
    /// burn's stock ops, one per gate and time step (the reference, for comparison)
    Stock,
}

impl From<LayersArg> for Layers {
    fn from(l: LayersArg) -> Self {
        match l {
            LayersArg::Fused => Layers::Fused,
            LayersArg::Stock => Layers::Stock,
        }
    }
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Cpu => Backend::Cpu,
            BackendArg::Wgpu => Backend::Wgpu,
        }
    }
}

#[derive(Args)]
struct TrainArgs {
    /// Folder of .krn files (searched recursively)
    #[arg(long)]
    corpus: PathBuf,
    /// Model name: checkpoints go to checkpoints/NAME, weights to OUT/NAME.safetensors
    #[arg(long)]
    name: String,
    /// Continue the run saved in the checkpoint folder
    #[arg(long)]
    resume: bool,
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendArg,
    /// How the LSTM layers run; both train the same network
    #[arg(long, value_enum, default_value = "fused")]
    lstm: LayersArg,
    /// Folder for the exported weights and manifest.json
    #[arg(long, default_value = "models")]
    out: PathBuf,
    /// Checkpoint folder [default: checkpoints/NAME]
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// LSTM layers
    #[arg(long, default_value_t = TrainConfig::default().layers)]
    layers: usize,
    /// Units per layer
    #[arg(long, default_value_t = TrainConfig::default().hidden)]
    hidden: usize,
    /// Characters per sequence (truncated backpropagation length)
    #[arg(long, default_value_t = TrainConfig::default().seq_len)]
    seq_length: usize,
    /// Sequences per batch
    #[arg(long, default_value_t = TrainConfig::default().batch)]
    batch_size: usize,
    /// Adam learning rate
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    learning_rate: f64,
    /// Learning-rate factor applied at each epoch end from --decay-after on
    #[arg(long, default_value_t = TrainConfig::default().lr_decay)]
    lr_decay: f64,
    /// The epoch from whose end on the learning rate decays
    #[arg(long, default_value_t = TrainConfig::default().decay_after)]
    decay_after: usize,
    /// Clamp each gradient element to ±this
    #[arg(long, default_value_t = TrainConfig::default().grad_clip)]
    grad_clip: f32,
    /// Dropout between layers and before the output layer
    #[arg(long, default_value_t = TrainConfig::default().dropout)]
    dropout: f64,
    /// Epochs in all (a resumed run may extend it)
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    /// Share of the prepared text held out for validation (its end)
    #[arg(long, default_value_t = TrainConfig::default().valid_fraction)]
    valid_fraction: f64,
    /// Validate and checkpoint every this many iterations (and at each epoch end)
    #[arg(long, default_value_t = TrainConfig::default().eval_every)]
    eval_every: usize,
    /// Random seed of the initial weights and the dropout masks
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    seed: u64,
    /// Stop with a checkpoint after this many minutes (continue later with --resume)
    #[arg(long)]
    max_minutes: Option<f64>,
    /// Stop with a checkpoint after this many iterations (continue later with --resume)
    #[arg(long)]
    max_iterations: Option<u64>,
    /// Export the weights as they are at the end, not those with the best validation loss
    #[arg(long)]
    export_last: bool,
    /// With --resume: train on at this fixed learning rate (a final low-rate phase; extend
    /// --epochs to give it epochs)
    #[arg(long, requires = "resume")]
    final_lr: Option<f64>,
    /// Train a model that does not read the measure clock (the time left in the measure at
    /// each line, which the grammar counts), as models before it
    #[arg(long)]
    no_measure_clock: bool,
}

#[derive(Args)]
struct SampleArgs {
    /// Weights file written by `kernrnn train`
    #[arg(long, default_value = "models/mozart.safetensors")]
    model: PathBuf,
    /// Sampling temperature: lower is safer, higher is wilder
    #[arg(long, default_value_t = SampleOptions::default().temperature, allow_negative_numbers = true)]
    temperature: f32,
    /// Random seed: the same seed and options give the same piece
    #[arg(long, default_value_t = SampleOptions::default().seed)]
    seed: u64,
    /// Text to start from (default: a barline, "@" and a line end)
    #[arg(long, conflicts_with_all = ["prime_file", "continue_from"])]
    prime: Option<String>,
    /// Read the prime text from a file
    #[arg(long, conflicts_with = "continue_from")]
    prime_file: Option<PathBuf>,
    /// Continue this **kern score: prints it unchanged, then the model's measures in its spines
    /// and meter (a complete score; notices about the prime go to stderr)
    #[arg(long = "continue", value_name = "FILE.krn")]
    continue_from: Option<PathBuf>,
    /// With --continue: keep the measures before this one and compose from its barline on
    #[arg(long, requires = "continue_from", value_name = "N")]
    from_measure: Option<u32>,
    /// Characters to sample after the prime
    #[arg(long, default_value_t = SampleOptions::default().length, allow_negative_numbers = true)]
    length: usize,
    /// Always take the most likely character
    #[arg(long)]
    argmax: bool,
    /// Print a complete **kern score instead of the raw sample (always so with --continue)
    #[arg(long)]
    kern: bool,
    /// Sample without the **kern grammar (the published behaviour: fields and measures may not add up)
    #[arg(long)]
    raw: bool,
    /// The piece's meter: auto (the one its first measure sets), or N/D until the music sets
    /// another (also the score's)
    #[arg(long, default_value_t = SampleOptions::default().meter, value_parser = MeterChoice::parse)]
    meter: MeterChoice,
    /// Where the LSTM runs: the CPU (the same text on every machine), or a GPU through wgpu
    /// (Vulkan, Metal, DX12; the kernel the browser runs on WebGPU; another random stream, so
    /// another text)
    #[arg(long, value_enum, default_value = "cpu")]
    device: SampleDevice,
    /// Print the speed (and the GPU's dispatches) to stderr
    #[arg(long)]
    stats: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum SampleDevice {
    Cpu,
    Gpu,
}

#[derive(Args)]
struct CheckArgs {
    /// Files to check: complete scores (with a `**kern` header) or raw samples (`@` barlines)
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Meter of raw samples: auto (each piece's first measure sets it), or N/D until the music
    /// sets another
    #[arg(long, default_value_t = SampleOptions::default().meter, value_parser = MeterChoice::parse)]
    meter: MeterChoice,
    /// Read raw samples in the editions dialect: samples of a model trained on real editions
    /// beyond the 2015 sonatas (its training log names its dialect). Scores are always read so.
    #[arg(long)]
    editions: bool,
}

#[derive(Args)]
struct EvalArgs {
    #[arg(long)]
    model: PathBuf,
    /// Folder of .krn files, prepared as for training
    #[arg(long)]
    corpus: PathBuf,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendArg,
}

#[derive(Args)]
struct PrepArgs {
    #[arg(long)]
    corpus: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => cmd_train(a),
        Command::Sample(a) => cmd_sample(a),
        Command::Eval(a) => cmd_eval(a),
        Command::Prep(a) => cmd_prep(a),
        Command::Check(a) => cmd_check(a),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) ends quietly.
fn print_out(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write output: {e}"))
        }
        _ => Ok(()),
    }
}

fn load_weights(path: &Path) -> Result<Weights, String> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("model file {} does not exist", path.display()),
        _ => format!("cannot read model file {}: {e}", path.display()),
    })?;
    Weights::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// A text file's content, or an error that names it (`what`: "score", ...).
fn read_text(path: &Path, what: &str) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{what} file {} does not exist", path.display()),
        _ => format!("cannot read {what} file {}: {e}", path.display()),
    })?;
    String::from_utf8(bytes)
        .map_err(|_| format!("{what} file {} is not text (not UTF-8)", path.display()))
}

fn cmd_sample(a: SampleArgs) -> Result<ExitCode, String> {
    let prime = match (&a.prime, &a.prime_file) {
        (_, Some(f)) => std::fs::read_to_string(f)
            .map_err(|e| format!("cannot read prime file {}: {e}", f.display()))?,
        (Some(p), None) => p.clone(),
        (None, None) => SampleOptions::default().prime,
    };
    let mut opts = SampleOptions {
        temperature: a.temperature,
        seed: a.seed,
        prime,
        length: a.length,
        argmax: a.argmax,
        raw: a.raw,
        meter: a.meter,
    };
    // Cheap checks before reading the model, so a typo is reported at once.
    opts.validate().map_err(|e| e.to_string())?;
    let score = match &a.continue_from {
        Some(f) => Some(read_text(f, "score")?),
        None => None,
    };
    let composer = Composer::from_weights(&load_weights(&a.model)?);
    let continuing = match (&score, &a.continue_from) {
        (Some(text), Some(f)) => {
            let c = composer
                .continuing(text, a.from_measure)
                .map_err(|e| format!("cannot continue {}: {e}", f.display()))?;
            for n in &c.notices {
                eprintln!("notice: {}: {n}", f.display());
            }
            opts = c.options(&opts).map_err(|e| e.to_string())?;
            Some(c)
        }
        _ => None,
    };
    let model = composer.model().clone();
    let mut raw = opts.prime.clone();
    let t0 = Instant::now();
    let (where_, dispatches) = match a.device {
        SampleDevice::Cpu => {
            let mut sampler = Sampler::new(model, opts.clone()).map_err(|e| e.to_string())?;
            sampler.take(usize::MAX, &mut raw);
            let s = sampler.stats();
            let lines = if opts.raw || opts.argmax {
                String::new()
            } else {
                format!(
                    "; {} lines as the model drew them ({} refused lines drawn again), {} field by field ({} fields drawn again, {} masked)",
                    s.lines, s.refused, s.lines_by_field, s.refused_fields, s.masked_fields
                )
            };
            (format!("the CPU{lines}"), None)
        }
        SampleDevice::Gpu => sample_on_gpu(model, &opts, &mut raw)?,
    };
    if a.stats {
        let secs = t0.elapsed().as_secs_f64();
        let n = raw.chars().count() - opts.prime.chars().count();
        let per = dispatches.map_or(String::new(), |d: usize| {
            format!(", {d} dispatches ({:.1} characters each)", n as f64 / d.max(1) as f64)
        });
        eprintln!(
            "{n} characters in {secs:.2} s ({:.0} chars/s) on {where_}{per}",
            n as f64 / secs.max(1e-9)
        );
    }
    let text = match &continuing {
        Some(c) => c.score(&raw, &composer.title(&opts), None).map_err(|e| e.to_string())?.kern,
        None if a.kern => composer.score(&raw, &opts, None).kern,
        None => raw,
    };
    print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "webgpu")]
fn sample_on_gpu(
    model: Arc<kernrnn::CpuModel>,
    opts: &SampleOptions,
    raw: &mut String,
) -> Result<(String, Option<usize>), String> {
    use kernrnn::infer::gpu::{GpuDevice, GpuModel};
    use kernrnn::sampler::gpu::GpuSampling;
    let device = GpuDevice::init_blocking().map_err(|e| e.to_string())?;
    let gpu = Arc::new(GpuModel::new(&device, model).map_err(|e| e.to_string())?);
    let mut sampling = GpuSampling::new(gpu, opts.clone()).map_err(|e| e.to_string())?;
    while !sampling.is_done() {
        cubecl::future::block_on(sampling.next_chunk(usize::MAX, raw))
            .map_err(|e| e.to_string())?;
    }
    Ok((format!("the GPU ({})", device.adapter), Some(sampling.dispatches())))
}

#[cfg(not(feature = "webgpu"))]
fn sample_on_gpu(
    _: Arc<kernrnn::CpuModel>,
    _: &SampleOptions,
    _: &mut String,
) -> Result<(String, Option<usize>), String> {
    Err("this kernrnn was built without the GPU sampler (cargo feature `webgpu`)".into())
}

fn cmd_eval(a: EvalArgs) -> Result<ExitCode, String> {
    let weights = load_weights(&a.model)?;
    let corpus = kern::prepare_dir(&a.corpus).map_err(|e| e.to_string())?;
    for w in &corpus.warnings {
        eprintln!("warning: {w}");
    }
    let device = Backend::from(a.backend).device().map_err(|e| e.to_string())?;
    let report =
        train::evaluate_corpus(&weights, &corpus, &a.corpus, &device).map_err(|e| e.to_string())?;
    let text = if a.json {
        serde_json::to_string_pretty(&report).map_err(|e| e.to_string())? + "\n"
    } else {
        let mut s = format!(
            "{}: {} files, {} characters, {} scored\nloss: {:.4} nats/char ({:.4} bits/char)\n",
            report.corpus,
            report.files,
            report.chars,
            report.scored_chars,
            report.loss_nats,
            report.loss_bits
        );
        if report.unknown_chars > 0 {
            s += &format!(
                "{} characters unknown to the model were left out: {:?}\n",
                report.unknown_chars, report.unknown
            );
        }
        s
    };
    print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_check(a: CheckArgs) -> Result<ExitCode, String> {
    let mut out = String::new();
    let mut all_valid = true;
    for file in &a.files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let is_score = text.lines().any(|l| l.starts_with("**"));
        let report = if is_score {
            kern::check_kern(&text)
        } else {
            kern::check_prepared_in(&text, a.meter, a.editions)
        };
        for d in &report.diagnostics {
            out += &format!("{}:{}: {}: {}\n", file.display(), d.line, d.kind, d.message);
        }
        for d in &report.notices {
            out += &format!("{}:{}: notice: {}\n", file.display(), d.line, d.message);
        }
        let verdict = if report.is_valid() { "valid" } else { "INVALID" };
        out += &format!(
            "{}: {verdict} ({}): {}\n",
            file.display(),
            if is_score { "score" } else { "raw sample" },
            report.summary()
        );
        all_valid &= report.is_valid();
    }
    print_out(&out)?;
    Ok(if all_valid { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn cmd_prep(a: PrepArgs) -> Result<ExitCode, String> {
    let corpus = kern::prepare_dir(&a.corpus).map_err(|e| e.to_string())?;
    for w in &corpus.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!("{}", corpus.summary(&a.corpus));
    print_out(&corpus.text)?;
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on a terminal; plain log lines elsewhere.
struct Bar {
    bar: Option<ProgressBar>,
}

impl Progress for Bar {
    fn start(&mut self, total: u64, done: u64) {
        let bar = ProgressBar::new(total);
        if bar.is_hidden() {
            return;
        }
        bar.set_style(
            ProgressStyle::with_template(
                "[{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} it  {msg}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_position(done);
        bar.reset_eta();
        self.bar = Some(bar);
    }

    fn step(&mut self, s: &TrainState, chars_per_second: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(s.global_iteration);
            bar.set_message(format!(
                "epoch {:.2}/{} loss {:.3} val {} {:.0} chars/s",
                s.epochs_done(),
                s.config.epochs,
                s.train_loss.unwrap_or(f64::NAN),
                s.valid_loss.map_or("-".into(), |v| format!("{v:.3}")),
                chars_per_second
            ));
        }
    }

    fn line(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Interrupts this close to the first are the same request (see `cmd_train`).
const SAME_INTERRUPT: Duration = Duration::from_secs(1);

fn cmd_train(a: TrainArgs) -> Result<ExitCode, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let mut first: Option<Instant> = None;
    // First Ctrl-C: checkpoint and stop at the end of the iteration. Another, a second or more
    // later: stop now. Closer ones are the same request: `timeout -s INT` and some process
    // managers signal the command and then its whole process group.
    ctrlc::set_handler(move || match first {
        None => {
            first = Some(Instant::now());
            flag.store(true, Ordering::SeqCst);
            eprintln!("\ninterrupted: writing a checkpoint (Ctrl-C again to quit at once)");
        }
        Some(at) if at.elapsed() < SAME_INTERRUPT => {}
        Some(_) => {
            eprintln!("\ninterrupted again: exiting without a new checkpoint");
            std::process::exit(130);
        }
    })
    .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))?;
    let run = TrainRun {
        checkpoint_dir: a
            .checkpoint_dir
            .clone()
            .unwrap_or_else(|| Path::new("checkpoints").join(&a.name)),
        corpus: a.corpus,
        name: a.name,
        out_dir: a.out,
        config: TrainConfig {
            layers: a.layers,
            hidden: a.hidden,
            seq_len: a.seq_length,
            batch: a.batch_size,
            learning_rate: a.learning_rate,
            lr_decay: a.lr_decay,
            decay_after: a.decay_after,
            grad_clip: a.grad_clip,
            dropout: a.dropout,
            epochs: a.epochs,
            valid_fraction: a.valid_fraction,
            eval_every: a.eval_every,
            seed: a.seed,
            final_lr: a.final_lr.map(|lr| (0, lr)),
            measure_clock: !a.no_measure_clock,
        },
        backend: a.backend.into(),
        layers: a.lstm.into(),
        resume: a.resume,
        max_minutes: a.max_minutes,
        max_iterations: a.max_iterations,
        export_last: a.export_last,
        stop,
    };
    let report = train::train(&run, &mut Bar { bar: None }).map_err(|e| e.to_string())?;
    let s = &report.state;
    eprintln!(
        "{}: epoch {:.2}/{}, {} iterations, train loss {:.4}, validation loss {}, {:.0} chars/s, {:.0} s training",
        match report.outcome {
            Outcome::Finished => "finished",
            Outcome::Interrupted => "interrupted",
            Outcome::OutOfTime => "paused (time or iteration budget)",
        },
        s.epochs_done(),
        s.config.epochs,
        s.global_iteration,
        s.train_loss.unwrap_or(f64::NAN),
        s.valid_loss.map_or("-".into(), |v| format!("{v:.4}")),
        s.chars_per_second(),
        s.train_seconds
    );
    let e = &report.exported;
    eprintln!(
        "weights: {} (as at epoch {:.2}: validation loss {})",
        report.weights_file.display(),
        e.epochs,
        e.valid_loss.map_or("-".into(), |v| format!("{v:.4}"))
    );
    if report.outcome != Outcome::Finished {
        eprintln!("continue with the same command and --resume");
    }
    Ok(match report.outcome {
        Outcome::Interrupted => ExitCode::from(130),
        _ => ExitCode::SUCCESS,
    })
}
