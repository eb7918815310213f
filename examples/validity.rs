//! Validity benchmark: how many sampled scores are valid **kern, constrained and raw.
//!
//! `cargo run --example validity -- [--models DIR] [--seeds N] [--length L] [--out DIR]`
//! samples seeds 1..=N at temperatures 0.8 and 1.2 from every model in DIR/manifest.json, in
//! constrained and raw mode, runs the checker on each raw text and on its reconstructed score,
//! and prints a table. With `--out DIR` it also writes every reconstructed score there
//! (`MODEL-MODE-T-SEED.krn`) for an external check such as verovio (`make validity`).

use std::path::PathBuf;
use std::time::Instant;

use kernrnn::composer::Composer;
use kernrnn::kern::{check_kern, check_prepared};
use kernrnn::manifest::Manifest;
use kernrnn::{SampleOptions, Weights};

fn main() {
    let mut models = PathBuf::from("models");
    let mut seeds = 100u64;
    let mut length = 2000usize;
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match a.as_str() {
            "--models" => models = value().into(),
            "--seeds" => seeds = value().parse().unwrap_or(seeds),
            "--length" => length = value().parse().unwrap_or(length),
            "--out" => out = Some(value().into()),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let manifest = match Manifest::read(&models.join("manifest.json")) {
        Ok(m) if !m.models.is_empty() => m,
        Ok(_) => {
            return eprintln!("no models listed in {}", models.join("manifest.json").display())
        }
        Err(e) => return eprintln!("cannot read the manifest: {e}"),
    };
    if let Some(dir) = &out {
        let _ = std::fs::create_dir_all(dir);
    }
    println!("| model | mode | scores | valid (checker, raw text) | valid score (checker) | full spine measures | chars/s |");
    println!("|---|---|---|---|---|---|---|");
    for entry in &manifest.models {
        let bytes = match std::fs::read(models.join(&entry.file)) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{}: {e}", entry.file);
                continue;
            }
        };
        let Ok(weights) = Weights::from_bytes(&bytes) else { continue };
        let composer = Composer::from_weights(&weights);
        let model = composer.model().clone();
        for raw in [false, true] {
            let (mut n, mut valid_text, mut valid_score, mut full, mut spine_measures, mut chars) =
                (0, 0, 0, 0, 0, 0);
            let start = Instant::now();
            for temperature in [0.8f32, 1.2] {
                for seed in 1..=seeds {
                    let opts = SampleOptions {
                        seed,
                        temperature,
                        length,
                        raw,
                        ..SampleOptions::default()
                    };
                    let Ok(text) = kernrnn::sample(model.clone(), &opts) else { continue };
                    chars += text.chars().count();
                    let report = check_prepared(&text, opts.meter);
                    let score = composer.score(&text, &opts, None).kern;
                    let scored = check_kern(&score);
                    n += 1;
                    valid_text += report.is_valid() as usize;
                    valid_score += scored.is_valid() as usize;
                    full += report.full_measures;
                    spine_measures += report.spine_measures;
                    if let Some(dir) = &out {
                        let mode = if raw { "raw" } else { "constrained" };
                        let _ = std::fs::write(
                            dir.join(format!("{}-{mode}-{temperature}-{seed}.krn", entry.name)),
                            &score,
                        );
                    }
                }
            }
            let secs = start.elapsed().as_secs_f64();
            let pct = |a: usize, b: usize| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
            println!(
                "| {} | {} | {n} | {:.1}% | {:.1}% | {:.1}% | {:.0} |",
                entry.name,
                if raw { "raw" } else { "constrained" },
                pct(valid_text, n),
                pct(valid_score, n),
                pct(full, spine_measures),
                chars as f64 / secs
            );
        }
    }
}
