//! Fidelity benchmark: is a constrained sample the model's own music? For every shipped model,
//! the same seeds and temperatures sampled raw and with the grammar, beside the prepared
//! corpus the model learnt: the shape of the text (characters per measure, measures per piece,
//! piece ends, grace-note lines, spine splits and merges, interpretation lines, fields per data
//! line), the model's own negative log-likelihood of the text, the probability mass the grammar
//! took away per character, and the measures of the score the page's default options make.
//!
//! `cargo run --example fidelity -- [--models DIR] [--corpus DIR] [--seeds N] [--length L]
//! [--temperatures 0.8,1.0]` (`make fidelity`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use kernrnn::composer::Composer;
use kernrnn::infer::math;
use kernrnn::kern::stats::TextStats;
use kernrnn::kern::{prepare_dir, Grammar, GrammarOptions};
use kernrnn::manifest::Manifest;
use kernrnn::{CpuModel, SampleOptions, Sampler, Weights};

struct Args {
    models: PathBuf,
    corpus: PathBuf,
    seeds: u64,
    length: usize,
    temperatures: Vec<f32>,
}

fn args() -> Args {
    let mut a = Args {
        models: "models".into(),
        corpus: "../shared/corpus".into(),
        seeds: 24,
        length: 15_000,
        temperatures: vec![0.8, 1.0],
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_default();
        match arg.as_str() {
            "--models" => a.models = value().into(),
            "--corpus" => a.corpus = value().into(),
            "--seeds" => a.seeds = value().parse().unwrap_or(a.seeds),
            "--length" => a.length = value().parse().unwrap_or(a.length),
            "--temperatures" => {
                a.temperatures = value().split(',').filter_map(|t| t.trim().parse().ok()).collect()
            }
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    a
}

/// What one mode of one model gave over all seeds and temperatures.
#[derive(Default)]
struct Mode {
    stats: TextStats,
    /// Sum of -ln p(character) under the model at temperature 1, and characters scored.
    nll: f64,
    scored: usize,
    /// Sum over characters of the probability mass (at the sampling temperature) of the
    /// characters the grammar refused there.
    removed: f64,
    removed_scored: usize,
    lines: usize,
    refused: usize,
    by_field: usize,
    masked: usize,
    drawn: usize,
    seconds: f64,
}

/// The model's negative log-likelihood of `text` after `prime` (nats, summed) and, with a
/// grammar, the mass it removed at each character.
fn score_text(
    model: &CpuModel,
    prime: &str,
    text: &str,
    temperature: f32,
    grammar: Option<Grammar>,
) -> (f64, usize, f64) {
    let vocab = model.vocab();
    let mut state = model.zero_state();
    let mut logits = vec![0.0; vocab.len()];
    let Ok(prime_tokens) = vocab.encode(prime) else { return (0.0, 0, 0.0) };
    for t in prime_tokens {
        model.step(&mut state, t, &mut logits);
    }
    let mut g = grammar;
    let (mut nll, mut n, mut removed) = (0.0f64, 0usize, 0.0f64);
    for c in text.chars() {
        let Some(t) = vocab.index(c) else { break };
        let max = logits.iter().fold(f32::MIN, |a, &b| a.max(b));
        let z: f64 = logits.iter().map(|&l| math::exp(l - max) as f64).sum();
        nll += -((math::exp(logits[t] - max) as f64) / z).ln();
        if let Some(g) = &mut g {
            let zt: f64 = logits.iter().map(|&l| math::exp((l - max) / temperature) as f64).sum();
            let gone: f64 = vocab
                .chars()
                .iter()
                .zip(&logits)
                .filter(|(&ch, _)| !g.allows(ch))
                .map(|(_, &l)| math::exp((l - max) / temperature) as f64)
                .sum();
            removed += gone / zt;
            if g.push(c).is_err() {
                break;
            }
        }
        n += 1;
        model.step(&mut state, t, &mut logits);
    }
    (nll, n, removed)
}

fn row(name: &str, s: &TextStats, extra: &str) {
    let f = |n: usize| 100.0 * s.fields_share(n);
    println!(
        "| {name} | {:.0} | {:.1} | {:.2} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0}/{:.0}/{:.0}/{:.0}/{:.0} | {extra} |",
        s.chars_per_measure(),
        s.measures_per_piece(),
        s.piece_ends_per_100_measures(),
        s.grace_lines_per_measure(),
        s.splits_per_measure(),
        s.merges_per_measure(),
        s.interp_lines_per_measure(),
        f(2),
        f(3),
        f(4),
        f(5),
        f(6) + f(7) + f(8),
    );
}

fn main() {
    let a = args();
    let manifest = match Manifest::read(&a.models.join("manifest.json")) {
        Ok(m) if !m.models.is_empty() => m,
        Ok(_) => {
            return eprintln!("no models listed in {}", a.models.join("manifest.json").display())
        }
        Err(e) => return eprintln!("cannot read the manifest: {e}"),
    };
    println!(
        "fidelity: seeds 1..={}, temperatures {:?}, {} characters a sample; default composition: 2000 characters at 0.8",
        a.seeds, a.temperatures, a.length
    );
    println!();
    println!("| text | chars/measure | measures/piece | piece ends/100 measures | grace lines/measure | splits/measure | merges/measure | interp lines/measure | data lines with 2/3/4/5/6+ fields (%) | model NLL (nats/char), mass removed, lines taken whole/refused/by field/masked fields, draws per char, chars/s |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for entry in &manifest.models {
        let Ok(bytes) = std::fs::read(a.models.join(&entry.file)) else { continue };
        let Ok(weights) = Weights::from_bytes(&bytes) else { continue };
        let composer = Composer::from_weights(&weights);
        let model: Arc<CpuModel> = composer.model().clone();
        let corpus = a.corpus.join(&entry.name);
        match prepare_dir(&corpus) {
            Ok(c) => {
                // the model's likelihood of the music it was validated on (the last 5%)
                let n = c.text.chars().count();
                let valid: String = c.text.chars().skip(n - n / 20).collect();
                let (nll, scored, _) = score_text(&model, "", &valid, 1.0, None);
                let extra = format!("{:.4} (validation text)", nll / scored.max(1) as f64);
                row(&format!("{} corpus", entry.name), &TextStats::of(&c.text), &extra)
            }
            Err(e) => println!("| {} corpus | {e} |", entry.name),
        }
        for raw in [true, false] {
            let mut m = Mode::default();
            for &temperature in &a.temperatures {
                for seed in 1..=a.seeds {
                    let opts = SampleOptions {
                        seed,
                        temperature,
                        length: a.length,
                        raw,
                        ..SampleOptions::default()
                    };
                    let start = Instant::now();
                    let Ok(mut sampler) = Sampler::new(model.clone(), opts.clone()) else {
                        continue;
                    };
                    let mut text = String::new();
                    sampler.take(usize::MAX, &mut text);
                    m.seconds += start.elapsed().as_secs_f64();
                    let st = sampler.stats();
                    m.lines += st.lines;
                    m.refused += st.refused;
                    m.by_field += st.lines_by_field;
                    m.masked += st.masked_fields;
                    m.drawn += st.drawn;
                    m.stats.add(&TextStats::of(&format!("{}{text}", opts.prime)));
                    let grammar = (!raw).then(|| {
                        let mut g = Grammar::new(GrammarOptions {
                            piece_ends: false,
                            vocab: Some(model.vocab().chars().to_vec()),
                            ..GrammarOptions::default()
                        });
                        let _ = g.push_str(&opts.prime);
                        g
                    });
                    let (nll, n, removed) =
                        score_text(&model, &opts.prime, &text, temperature, grammar);
                    m.nll += nll;
                    m.scored += n;
                    m.removed += removed;
                    m.removed_scored += if raw { 0 } else { n };
                }
            }
            let mode = if raw { "raw" } else { "constrained" };
            let removed = if raw {
                "-".to_string()
            } else {
                format!("{:.4}", m.removed / m.removed_scored.max(1) as f64)
            };
            let lines = if raw {
                "-".to_string()
            } else {
                format!(
                    "{}/{}/{}/{}, {:.2}",
                    m.lines,
                    m.refused,
                    m.by_field,
                    m.masked,
                    m.drawn as f64 / m.stats.chars.max(1) as f64
                )
            };
            let extra = format!(
                "{:.4}, {removed}, {lines}, {:.0}",
                m.nll / m.scored.max(1) as f64,
                m.stats.chars as f64 / m.seconds.max(1e-9)
            );
            row(&format!("{} {mode}", entry.name), &m.stats, &extra);
        }
        // The page's default composition: how many measures its score has.
        let mut measures: Vec<usize> = (1..=a.seeds)
            .filter_map(|seed| {
                let opts = SampleOptions { seed, ..SampleOptions::default() };
                let raw = kernrnn::sample(model.clone(), &opts).ok()?;
                Some(composer.score(&raw, &opts, None).measures)
            })
            .collect();
        measures.sort_unstable();
        let median = measures.get(measures.len() / 2).copied().unwrap_or(0);
        println!(
            "| {} default composition (2000 chars, 0.8, seeds 1..={}) | score measures: median {median}, least {}, most {} | | | | | | | | |",
            entry.name,
            a.seeds,
            measures.first().copied().unwrap_or(0),
            measures.last().copied().unwrap_or(0)
        );
    }
}
