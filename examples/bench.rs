//! Speed of training and sampling on this machine, printed as a table.
//!
//! `make bench` (or `cargo run --example bench -- --corpus DIR [--iterations N] [--sampling-only]`). Timings are
//! noisy on a shared machine: compare rows of one run, not runs of different days.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use kernrnn::model::CharLstm;
use kernrnn::train::{self, Backend, Silent, TrainConfig, TrainRun};
use kernrnn::{CpuModel, Hyper, Provenance, SampleOptions, Vocab};

fn main() {
    let mut corpus = PathBuf::from("../shared/corpus/mozart");
    let mut iterations = 30u64;
    let mut sampling_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--corpus" => corpus = args.next().map(PathBuf::from).unwrap_or(corpus),
            "--iterations" => {
                iterations = args.next().and_then(|n| n.parse().ok()).unwrap_or(iterations)
            }
            "--sampling-only" => sampling_only = true,
            other => {
                eprintln!("unknown argument {other}; usage: bench [--corpus DIR] [--iterations N] [--sampling-only]");
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
    println!(
        "| training (burn flex, Adam) | layers x units | batch x seq | iterations | chars/s |"
    );
    println!("|---|---|---|---|---|");
    for (layers, hidden) in [(3, 128), (2, 128), (3, 256)] {
        let dir = std::env::temp_dir()
            .join(format!("kernrnn-bench-{}-{layers}x{hidden}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let run = TrainRun {
            corpus: corpus.clone(),
            name: "bench".into(),
            checkpoint_dir: dir.join("ck"),
            out_dir: dir.join("out"),
            config: TrainConfig { layers, hidden, eval_every: 1_000_000, ..TrainConfig::default() },
            backend: Backend::Cpu,
            resume: false,
            max_minutes: None,
            max_iterations: Some(iterations),
            export_last: false,
            stop: Arc::new(AtomicBool::new(false)),
        };
        match train::train(&run, &mut Silent) {
            Ok(r) => println!(
                "| cpu | {layers} x {hidden} | 50 x 50 | {} | {:.0} |",
                r.state.global_iteration,
                r.state.chars_per_second()
            ),
            Err(e) => println!("| cpu | {layers} x {hidden} | 50 x 50 | - | error: {e} |"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!();
    println!("| sampling (CPU step, batch 1) | layers x units | characters | seconds | chars/s |");
    println!("|---|---|---|---|---|");
    for (layers, hidden) in [(3, 128), (3, 256)] {
        let vocab = Vocab::from_text(&(32u8..99).map(char::from).collect::<String>());
        let hyper = Hyper { vocab_size: vocab.len(), layers, hidden };
        let weights = CharLstm::new(hyper, 0.0, &burn::tensor::Device::flex())
            .to_weights(vocab, Provenance::default());
        let model = Arc::new(CpuModel::new(&weights));
        let opts = SampleOptions { length: 15_000, prime: "@".into(), ..SampleOptions::default() };
        let start = Instant::now();
        let text = kernrnn::sample(model, &opts).unwrap_or_default();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "| cpu | {layers} x {hidden} | {} | {secs:.3} | {:.0} |",
            text.chars().count() - 1,
            15_000.0 / secs
        );
    }
    sampling_table();
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
