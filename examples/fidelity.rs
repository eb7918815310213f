//! Fidelity benchmark: is a constrained sample the model's own music? For every shipped model,
//! the same seeds and temperatures sampled raw and with the grammar, beside the prepared
//! corpus the model learnt: the shape of the text (characters per measure, measures per piece,
//! piece ends, grace-note lines, spine splits and merges, interpretation lines, fields per data
//! line), the model's own negative log-likelihood of the text, the probability mass the grammar
//! took away per character, and the measures of the score the page's default options make.
//! For raw text, the share of its measures the grammar would take in the meter its measures
//! have most often: how far constrained sampling must steer the model.
//!
//! `cargo run --example fidelity -- [--models DIR] [--corpus DIR] [--seeds N] [--length L]
//! [--temperatures 0.8,1.0]` (`make fidelity`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use kernrnn::composer::Composer;
use kernrnn::infer::math;
use kernrnn::kern::clock::TextClock;
use kernrnn::kern::grammar::{measure_lengths, measures_by_spine};
use kernrnn::kern::stats::TextStats;
use kernrnn::kern::{prepare_dir, Grammar, GrammarOptions, Meter, MeterChoice};
use kernrnn::manifest::Manifest;
use kernrnn::sampler::SampleStats;
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
    /// How the grammar took the lines (constrained).
    sampling: SampleStats,
    seconds: f64,
    /// (Raw text) its measures that the grammar takes in the meter its measures have most
    /// often, and all its measures.
    fitting: (usize, usize),
    /// Characters and whole notes of its measures ([`chars_and_time`]).
    density: (usize, f64),
    /// Its measures' steadiness ([`Steadiness`]).
    steady: Steadiness,
}

/// Whether a text keeps a meter: of its measures, those whose kern spines have the same
/// length, and of those the ones as long as the measure before (whose spines agreed too). In
/// the corpus nearly every measure is as long as the one before (the meter changes rarely);
/// a model that cannot count writes measures of any length, and the grammar must steer every
/// measure that does not fit.
#[derive(Clone, Copy, Debug, Default)]
struct Steadiness {
    measures: usize,
    agreeing: usize,
    as_before: usize,
}

impl Steadiness {
    fn of(text: &str) -> Steadiness {
        let mut s = Steadiness::default();
        let mut before = None;
        for lengths in measures_by_spine(text, false) {
            s.measures += 1;
            let agreed = lengths.iter().all(|&l| l == lengths[0]).then_some(lengths[0]);
            s.agreeing += agreed.is_some() as usize;
            s.as_before += (agreed.is_some() && agreed == before) as usize;
            before = agreed;
        }
        s
    }

    fn add(&mut self, o: Steadiness) {
        self.measures += o.measures;
        self.agreeing += o.agreeing;
        self.as_before += o.as_before;
    }

    fn cell(&self) -> String {
        let pct = |n: usize| 100.0 * n as f64 / self.measures.max(1) as f64;
        format!("{:.0} / {:.0}", pct(self.agreeing), pct(self.as_before))
    }
}

/// A prepared text's measures, each to its barline line (the prime's barline first; an
/// unfinished last measure left out).
fn measures(text: &str) -> Vec<&str> {
    text.split_inclusive("@\n").filter(|m| m.ends_with("@\n")).collect()
}

/// The characters and the time (whole notes) of a text's measures, each measure as long as
/// its longest kern spine: how dense the music is whatever the meter (the model's raw
/// measures are of many lengths; a constrained sample's fill the meter the probe chose).
fn chars_and_time(text: &str) -> (usize, f64) {
    let (mut chars, mut time) = (0, 0.0);
    for m in measures(text).into_iter().skip(1) {
        let Some(&longest) = measure_lengths(&format!("@\n{m}"), false).iter().max() else {
            continue;
        };
        chars += m.chars().count();
        time += longest as f64 / Meter::COMMON.ticks() as f64;
    }
    (chars, time)
}

/// How many of a raw text's measures the grammar would take, and of how many: in the meter of
/// the length its measures (those whose kern spines agree) have most often, each measure fed
/// from where the one before left the grammar (the rhythm let go for a measure it refuses,
/// the spines read anew after one it cannot read at all). Constrained sampling keeps to
/// measures like these; how rare they are in the model's own text says how far it must steer.
fn measures_in_meter(text: &str, vocab: &[char]) -> (usize, usize) {
    let measures = measures(text);
    let mut counts = std::collections::BTreeMap::<u64, usize>::new();
    for m in &measures {
        let lengths = measure_lengths(&format!("@\n{m}"), false);
        if lengths.first().is_some_and(|&l| lengths.iter().all(|&x| x == l)) {
            *counts.entry(lengths[0]).or_default() += 1;
        }
    }
    let Some(meter) =
        counts.iter().max_by_key(|(_, &n)| n).and_then(|(&l, _)| Meter::for_length(l))
    else {
        return (0, measures.len());
    };
    let fresh = |rhythm: bool| {
        let mut g = Grammar::new(GrammarOptions {
            meter: MeterChoice::Fixed(meter),
            piece_ends: false,
            pickup: false,
            rhythm,
            vocab: Some(vocab.to_vec()),
            ..GrammarOptions::default()
        });
        let _ = g.push_str("@\n");
        g
    };
    let mut g = fresh(true);
    let mut fitting = 0;
    // the prime's barline starts the text
    for m in measures.iter().skip(1) {
        let mut next = g.clone();
        if next.push_str(m).is_ok() {
            fitting += 1;
        } else {
            next = g.clone();
            next.set_rhythm(false);
            if next.push_str(m).is_err() {
                next = fresh(false);
            }
            next.set_rhythm(true);
        }
        g = next;
    }
    (fitting, measures.len().saturating_sub(1))
}

/// The model's negative log-likelihood of `text` after `prime` (nats, summed) and, with a
/// grammar, the mass it removed at each character.
fn score_text(
    model: &CpuModel,
    prime: &str,
    text: &str,
    temperature: f32,
    grammar: Option<Grammar>,
    meter: Option<Meter>,
    held: Option<Meter>,
) -> (f64, usize, f64) {
    let vocab = model.vocab();
    let mut state = model.zero_state();
    let mut logits = vec![0.0; vocab.len()];
    let Ok(prime_tokens) = vocab.encode(prime) else { return (0.0, 0, 0.0) };
    // The measure clock as the model read it (the grammar's count agrees with it on valid text);
    // a sampler whose grammar keeps a meter counts from it at once (see `assume_length`), from
    // the prime's last character on; a raw sample's holds a meter from its start.
    let editions = model.dialect().editions;
    let mut clock = match held {
        Some(m) => TextClock::holding(editions, Some(m.ticks())),
        None => TextClock::new(editions),
    };
    let mut classes: Vec<u8> = prime.chars().map(|c| clock.push(c)).collect();
    if let Some(m) = meter {
        clock.assume_length(m.ticks());
        if let Some(last) = classes.last_mut() {
            *last = clock.clock().class();
        }
    }
    for (t, k) in prime_tokens.into_iter().zip(classes) {
        model.step(&mut state, t, k, &mut logits);
    }
    let mut g = grammar;
    let (mut nll, mut n, mut removed) = (0.0f64, 0usize, 0.0f64);
    for c in text.chars() {
        let Some(t) = vocab.index(c) else { break };
        nll += -math::softmax_at(&logits, 1.0)[t].ln();
        if let Some(g) = &mut g {
            let p = math::softmax_at(&logits, temperature);
            let gone: f64 = vocab
                .chars()
                .iter()
                .zip(&p)
                .filter(|(&ch, _)| !g.allows(ch))
                .map(|(_, &q)| q)
                .sum();
            removed += gone;
            if g.push(c).is_err() {
                break;
            }
        }
        n += 1;
        model.step(&mut state, t, clock.push(c), &mut logits);
    }
    (nll, n, removed)
}

fn row(name: &str, s: &TextStats, (chars, time): (usize, f64), steady: Steadiness, extra: &str) {
    let f = |n: usize| 100.0 * s.fields_share(n);
    println!(
        "| {name} | {:.0} | {:.0} | {} | {:.1} | {:.1} | {:.2} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} | {:.1} | {:.0}/{:.0}/{:.0}/{:.0}/{:.0} | {extra} |",
        s.chars_per_measure(),
        chars as f64 / time.max(1e-9),
        steady.cell(),
        s.data_lines_per_measure(),
        s.measures_per_piece(),
        s.piece_ends_per_100_measures(),
        s.grace_lines_per_measure(),
        s.splits_per_measure(),
        s.merges_per_measure(),
        s.interp_lines_per_measure(),
        100.0 * s.tuplet_share(),
        100.0 * s.short_share(),
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
    println!("| text | chars/measure | chars/whole note | measures whose spines agree / as long as the one before (%) | data lines/measure | measures/piece | piece ends/100 measures | grace lines/measure | splits/measure | merges/measure | interp lines/measure | tuplet notes (%) | 32nds and shorter (%) | data lines with 2/3/4/5/6+ fields (%) | model NLL (nats/char), mass removed (raw: measures that fit the meter), lines taken whole/refused/by field/masked fields, draws per char, chars/s |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
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
                let (nll, scored, _) = score_text(&model, "", &valid, 1.0, None, None, None);
                let extra = format!("{:.4} (validation text)", nll / scored.max(1) as f64);
                let density = chars_and_time(&c.text);
                let steady = Steadiness::of(&c.text);
                row(
                    &format!("{} corpus", entry.name),
                    &TextStats::of(&c.text),
                    density,
                    steady,
                    &extra,
                )
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
                    let (meter, held) = (sampler.meter(), sampler.held_meter());
                    sampler.take(usize::MAX, &mut text);
                    m.seconds += start.elapsed().as_secs_f64();
                    m.sampling.add(&sampler.stats());
                    m.stats.add(&TextStats::of(&format!("{}{text}", opts.prime)));
                    let (chars, time) = chars_and_time(&format!("{}{text}", opts.prime));
                    m.density.0 += chars;
                    m.density.1 += time;
                    m.steady.add(Steadiness::of(&format!("{}{text}", opts.prime)));
                    if raw {
                        let (fit, all) = measures_in_meter(
                            &format!("{}{text}", opts.prime),
                            model.vocab().chars(),
                        );
                        m.fitting.0 += fit;
                        m.fitting.1 += all;
                    }
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
                        score_text(&model, &opts.prime, &text, temperature, grammar, meter, held);
                    m.nll += nll;
                    m.scored += n;
                    m.removed += removed;
                    m.removed_scored += if raw { 0 } else { n };
                }
            }
            let mode = if raw { "raw" } else { "constrained" };
            let removed = if raw {
                format!(
                    "- ({:.1}% of measures fit the meter)",
                    100.0 * m.fitting.0 as f64 / m.fitting.1.max(1) as f64
                )
            } else {
                format!("{:.4}", m.removed / m.removed_scored.max(1) as f64)
            };
            let lines = if raw {
                "-".to_string()
            } else {
                format!(
                    "{}/{}/{}/{}, {:.2}",
                    m.sampling.lines,
                    m.sampling.refused,
                    m.sampling.lines_by_field,
                    m.sampling.masked_fields,
                    m.sampling.drawn as f64 / m.stats.chars.max(1) as f64
                )
            };
            let extra = format!(
                "{:.4}, {removed}, {lines}, {:.0}",
                m.nll / m.scored.max(1) as f64,
                m.stats.chars as f64 / m.seconds.max(1e-9)
            );
            row(&format!("{} {mode}", entry.name), &m.stats, m.density, m.steady, &extra);
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
            "| {} default composition (2000 chars, 0.8, seeds 1..={}) | score measures: median {median}, least {}, most {} | | | | | | | | | | | | | |",
            entry.name,
            a.seeds,
            measures.first().copied().unwrap_or(0),
            measures.last().copied().unwrap_or(0)
        );
    }
}
