//! Speed of training and sampling on this machine, printed as a table.
//!
//! `make bench` (or `cargo run --example bench -- --corpus DIR [--iterations N] [--sampling-only]
//! [--gpu]`; `--gpu`: the training table on a GPU through wgpu instead, fused kernels against
//! burn's stock ops). Timings are noisy on a shared machine: compare rows of one run, not runs
//! of different days.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use kernrnn::model::{CharLstm, Layers};
use kernrnn::train::{self, Backend, Silent, TrainConfig, TrainRun};
use kernrnn::{CpuModel, Hyper, Provenance, SampleOptions, Vocab};

fn main() {
    let mut corpus = PathBuf::from("../shared/corpus/mozart");
    let mut iterations = 30u64;
    let mut sampling_only = false;
    let mut gpu = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--corpus" => corpus = args.next().map(PathBuf::from).unwrap_or(corpus),
            "--iterations" => {
                iterations = args.next().and_then(|n| n.parse().ok()).unwrap_or(iterations)
            }
            "--sampling-only" => sampling_only = true,
            "--gpu" => gpu = true,
            other => {
                eprintln!("unknown argument {other}; usage: bench [--corpus DIR] [--iterations N] [--sampling-only] [--gpu]");
                std::process::exit(2);
            }
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if sampling_only {
        println!("kernrnn benchmark: {} ({threads} threads)", std::env::consts::ARCH);
        return sampling_table();
    }
    println!(
        "kernrnn benchmark: {} ({threads} threads), corpus {}",
        std::env::consts::ARCH,
        corpus.display()
    );
    println!();
    if gpu {
        return training_table(&corpus, iterations, Backend::Wgpu);
    }
    training_table(&corpus, iterations, Backend::Cpu);
    println!();
    println!("| sampling (CPU step, batch 1) | layers x units | characters | seconds | chars/s |");
    println!("|---|---|---|---|---|");
    for (layers, hidden) in [(3, 128), (3, 256)] {
        let vocab = Vocab::from_text(&(32u8..99).map(char::from).collect::<String>());
        let hyper = Hyper { vocab_size: vocab.len(), layers, hidden, measure_clock: true };
        let weights = CharLstm::new(hyper, 0.0, &burn::tensor::Device::flex()).to_weights(
            vocab,
            Provenance::default(),
            Default::default(),
        );
        let model = Arc::new(CpuModel::new(&weights));
        // Raw: the random weights' vocabulary has no tab or line end, so the grammar has nothing
        // to serve; this row times the LSTM step alone.
        let opts = SampleOptions {
            length: 15_000,
            prime: "@".into(),
            raw: true,
            ..SampleOptions::default()
        };
        let start = Instant::now();
        match kernrnn::sample(model, &opts) {
            Ok(text) => {
                let secs = start.elapsed().as_secs_f64();
                let chars = text.chars().count().saturating_sub(1);
                let rate = chars as f64 / secs;
                println!("| cpu | {layers} x {hidden} | {chars} | {secs:.3} | {rate:.0} |");
            }
            Err(e) => println!("| cpu | {layers} x {hidden} | - | - | error: {e} |"),
        }
    }
    sampling_table();
}

/// Training speed: the fused layers against burn's stock ops, for two model sizes and two
/// batch sizes, and the PyTorch peer when `PEER_PYTHON` names a Python that has torch (the
/// project never needs it; see examples/peer_pytorch.py).
fn training_table(corpus: &std::path::Path, iterations: u64, backend: Backend) {
    let peer = std::env::var_os("PEER_PYTHON").map(PathBuf::from);
    let text = peer.as_ref().and_then(|_| prepared_text(corpus));
    let on = match backend {
        Backend::Cpu => "the CPU",
        Backend::Wgpu => "a GPU (wgpu)",
    };
    println!("| training on {on} (Adam) | layers x units | batch x seq | iterations | chars/s | GFLOP/s |");
    println!("|---|---|---|---|---|---|");
    for (layers, hidden) in [(3, 128), (3, 256)] {
        for batch in [50, 256] {
            for kind in [Layers::Fused, Layers::Stock] {
                // The stock layers are ~5-10x slower: fewer iterations keep the table quick.
                let n = if kind == Layers::Stock { iterations.div_ceil(3) } else { iterations };
                let config = TrainConfig {
                    layers,
                    hidden,
                    batch,
                    eval_every: 1_000_000,
                    ..TrainConfig::default()
                };
                let row = format!(
                    "| kernrnn, {} layers | {layers} x {hidden} | {batch} x 50",
                    kind.name()
                );
                match train_speed(corpus, config, backend, kind, n) {
                    Ok((done, chars_per_second, flops_per_char)) => println!(
                        "{row} | {done} | {chars_per_second:.0} | {:.1} |",
                        chars_per_second * flops_per_char / 1e9
                    ),
                    Err(e) => println!("{row} | - | error: {e} | - |"),
                }
            }
            if let (Some(python), Some(text), Backend::Cpu) = (&peer, &text, backend) {
                let row =
                    format!("| PyTorch (nn.LSTM, 2 threads) | {layers} x {hidden} | {batch} x 50");
                match peer_speed(python, text, layers, hidden, batch, iterations) {
                    Ok((name, chars_per_second)) => {
                        println!("{row} ({name}) | {iterations} | {chars_per_second:.0} | - |")
                    }
                    Err(e) => println!("{row} | - | error: {e} | - |"),
                }
            }
        }
    }
    println!();
    println!("GFLOP/s counts the useful matrix work: 6 flops per character and weight of every product (forward, and the backward pass's two), the first layer's row lookup excluded.");
    println!();
}

/// Trains `iterations` iterations: how many ran, chars/s, and matrix flops per character.
fn train_speed(
    corpus: &std::path::Path,
    config: TrainConfig,
    backend: Backend,
    layers: Layers,
    iterations: u64,
) -> Result<(u64, f64, f64), String> {
    let dir = std::env::temp_dir().join(format!(
        "kernrnn-bench-{}-{}x{}-{}-{}",
        std::process::id(),
        config.layers,
        config.hidden,
        config.batch,
        layers.name()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let run = TrainRun {
        corpus: corpus.to_path_buf(),
        name: "bench".into(),
        checkpoint_dir: dir.join("ck"),
        out_dir: dir.join("out"),
        config,
        backend,
        layers,
        resume: false,
        max_minutes: None,
        max_iterations: Some(iterations),
        export_last: true,
        stop: Arc::new(AtomicBool::new(false)),
    };
    let report = train::train(&run, &mut Silent).map_err(|e| e.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    let report = report?;
    let hyper = Hyper {
        vocab_size: report.state.vocab.chars().count(),
        layers: run.config.layers,
        hidden: run.config.hidden,
        measure_clock: run.config.measure_clock,
    };
    Ok((
        report.state.global_iteration,
        report.state.chars_per_second(),
        train::flops_per_char(hyper),
    ))
}

fn prepared_text(corpus: &std::path::Path) -> Option<PathBuf> {
    let prepared = kernrnn::kern::prepare_dir(corpus).ok()?;
    let path = std::env::temp_dir().join(format!("kernrnn-bench-{}.txt", std::process::id()));
    std::fs::write(&path, &prepared.text).ok()?;
    Some(path)
}

/// The PyTorch peer's rate on the same text and shapes (its own process, 2 threads).
fn peer_speed(
    python: &std::path::Path,
    text: &std::path::Path,
    layers: usize,
    hidden: usize,
    batch: usize,
    iterations: u64,
) -> Result<(String, f64), String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/peer_pytorch.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(text)
        .args(["--layers", &layers.to_string(), "--hidden", &hidden.to_string()])
        .args(["--batch", &batch.to_string(), "--iterations", &iterations.to_string()])
        .args(["--threads", "2"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(line).map_err(|_| {
        format!("the peer printed no result: {}", String::from_utf8_lossy(&out.stderr).trim())
    })?;
    let name = json["peer"].as_str().unwrap_or("PyTorch").to_string();
    json["chars_per_second"].as_f64().map(|r| (name, r)).ok_or_else(|| "no chars_per_second".into())
}

/// Sampling with the shipped Mozart model: the CPU step against the GPU kernel (one sample, and
/// 8 variations as one batch), with dispatches per character.
fn sampling_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/mozart.safetensors");
    let Ok(bytes) = std::fs::read(path) else {
        return println!("\n(no {path}: no sampling table)");
    };
    let weights = kernrnn::Weights::from_bytes(&bytes).expect("the shipped model");
    let cpu = Arc::new(CpuModel::new(&weights));
    println!();
    println!("| sampling mozart (3 x 128) | mode | samples x characters | seconds | chars/s | dispatches per char |");
    println!("|---|---|---|---|---|---|");
    let row = |device: &str,
               mode: &str,
               n: usize,
               len: usize,
               chars: usize,
               secs: f64,
               dispatches: Option<usize>| {
        let per =
            dispatches.map_or("-".into(), |d| format!("{:.3}", d as f64 / chars.max(1) as f64));
        println!(
            "| {device} | {mode} | {n} x {len} | {secs:.2} | {:.0} | {per} |",
            chars as f64 / secs
        );
    };
    let opts = |seed: u64, length: usize, raw: bool| SampleOptions {
        seed,
        length,
        raw,
        ..SampleOptions::default()
    };
    let mut constrained = String::new();
    for raw in [true, false] {
        let mode = if raw { "raw" } else { "grammar" };
        let start = Instant::now();
        let text = kernrnn::sample(cpu.clone(), &opts(1, 15_000, raw)).unwrap_or_default();
        row("cpu", mode, 1, 15_000, text.chars().count() - 2, start.elapsed().as_secs_f64(), None);
        if !raw {
            constrained = text;
        }
    }
    let start = Instant::now();
    let chars: usize = (1..=8)
        .map(|seed| {
            kernrnn::sample(cpu.clone(), &opts(seed, 2000, false))
                .unwrap_or_default()
                .chars()
                .count()
                - 2
        })
        .sum();
    row("cpu, one after another", "grammar", 8, 2000, chars, start.elapsed().as_secs_f64(), None);
    gpu_rows(&cpu, &row, &opts);
    grammar_cost(cpu.vocab().chars(), &constrained);
}

/// What the grammar costs per question: `Grammar::allows` for every character of the
/// vocabulary at every state of a constrained sample.
fn grammar_cost(vocab: &[char], text: &str) {
    use kernrnn::kern::{Grammar, GrammarOptions};
    let mut g = Grammar::new(GrammarOptions { vocab: Some(vocab.to_vec()), ..Default::default() });
    let mut states = Vec::new();
    for c in text.chars() {
        states.push(g.clone());
        if g.push(c).is_err() {
            break;
        }
    }
    let start = Instant::now();
    let mut yes = 0usize;
    for s in &states {
        yes += vocab.iter().filter(|&&c| s.allows(c)).count();
    }
    let calls = states.len() * vocab.len();
    let ns = start.elapsed().as_nanos() as f64 / calls.max(1) as f64;
    println!();
    println!("| grammar (Grammar::allows) | states | calls | allowed | ns per call |");
    println!("|---|---|---|---|---|");
    println!("| mozart vocabulary | {} | {calls} | {yes} | {ns:.1} |", states.len());
}

/// Prints a table row: device, mode, samples, characters each, characters in all, seconds,
/// dispatches.
type Row<'a> = &'a dyn Fn(&str, &str, usize, usize, usize, f64, Option<usize>);

#[cfg(feature = "webgpu")]
fn gpu_rows(cpu: &Arc<CpuModel>, row: Row, opts: &dyn Fn(u64, usize, bool) -> SampleOptions) {
    use kernrnn::infer::gpu::{GpuDevice, GpuModel};
    use kernrnn::sampler::gpu::GpuSampling;
    let device = match GpuDevice::init_blocking() {
        Ok(d) => d,
        Err(e) => return println!("| gpu | - | - | - | {e} | - |"),
    };
    let gpu = Arc::new(GpuModel::new(&device, cpu.clone()).expect("the model fits the kernel"));
    let name = format!("gpu: {}", device.adapter);
    // A CPU Vulkan (lavapipe) runs the kernel ~100x slower than a GPU: shorter samples there.
    let slow = device.adapter.contains("llvmpipe");
    let long = if slow { 2000 } else { 15_000 };
    let run = |batch: Vec<SampleOptions>| {
        let n = batch.len();
        // The first launch compiles the kernel: warm it up outside the timing.
        let mut warm = GpuSampling::new(gpu.clone(), opts(99, 64, batch[0].raw)).unwrap();
        let mut s = String::new();
        cubecl::future::block_on(warm.next_chunk(usize::MAX, &mut s)).unwrap();
        let start = Instant::now();
        let mut sampling = GpuSampling::batch(gpu.clone(), batch).unwrap();
        let mut outs = vec![String::new(); n];
        while !sampling.is_done() {
            cubecl::future::block_on(sampling.next_batch(usize::MAX, &mut outs)).unwrap();
        }
        let chars = outs.iter().map(|o| o.chars().count()).sum::<usize>();
        (chars, start.elapsed().as_secs_f64(), sampling.dispatches())
    };
    for raw in [true, false] {
        let mode = if raw { "raw" } else { "grammar" };
        let (chars, secs, d) = run(vec![opts(1, long, raw)]);
        row(&name, mode, 1, long, chars, secs, Some(d));
    }
    let (chars, secs, d) = run((1..=8).map(|seed| opts(seed, 2000, false)).collect());
    row(&format!("{name}, one batch"), "grammar", 8, 2000, chars, secs, Some(d));
}

#[cfg(not(feature = "webgpu"))]
fn gpu_rows(_: &Arc<CpuModel>, _: Row, _: &dyn Fn(u64, usize, bool) -> SampleOptions) {}
