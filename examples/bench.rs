//! Speed of training and sampling on this machine, printed as a table.
//!
//! `make bench` (or `cargo run --example bench -- --corpus DIR [--iterations N]`). Timings are
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
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--corpus" => corpus = args.next().map(PathBuf::from).unwrap_or(corpus),
            "--iterations" => iterations = args.next().and_then(|n| n.parse().ok()).unwrap_or(iterations),
            other => {
                eprintln!("unknown argument {other}; usage: bench [--corpus DIR] [--iterations N]");
                std::process::exit(2);
            }
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("kernrnn benchmark: {} ({threads} threads), corpus {}", std::env::consts::ARCH, corpus.display());
    println!();
    println!("| training (burn flex, Adam) | layers x units | batch x seq | iterations | chars/s |");
    println!("|---|---|---|---|---|");
    for (layers, hidden) in [(3, 128), (2, 128), (3, 256)] {
        let dir = std::env::temp_dir().join(format!("kernrnn-bench-{}-{layers}x{hidden}", std::process::id()));
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
        let weights = CharLstm::new(hyper, 0.0, &burn::tensor::Device::flex()).to_weights(vocab, Provenance::default());
        let model = Arc::new(CpuModel::new(&weights));
        let opts = SampleOptions { length: 15_000, prime: "@".into(), ..SampleOptions::default() };
        let start = Instant::now();
        let text = kernrnn::sample(model, &opts).unwrap_or_default();
        let secs = start.elapsed().as_secs_f64();
        println!("| cpu | {layers} x {hidden} | {} | {secs:.3} | {:.0} |", text.chars().count() - 1, 15_000.0 / secs);
    }
}
