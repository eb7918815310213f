//! Constrained sampling: every sample of a trained model passes the checker, at any seed and
//! temperature, while raw samples of the same model do not.

mod common;

use std::sync::Arc;

use kernrnn::kern::{check_kern, check_prepared, reconstruct, ScoreOptions};
use kernrnn::{CpuModel, SampleOptions, Weights};

fn model() -> Arc<CpuModel> {
    let dir = common::temp_dir("constrained");
    let report = common::train_tiny(&dir, "constrained");
    let w = Weights::from_bytes(&std::fs::read(report.weights_file).unwrap()).unwrap();
    Arc::new(CpuModel::new(&w))
}

#[test]
fn constrained_samples_always_pass_the_checker() {
    let model = model();
    let mut raw_invalid = 0;
    let mut runs = 0;
    for seed in 1..=12 {
        for temperature in [0.5, 1.0, 1.6] {
            let opts = SampleOptions { seed, temperature, length: 600, ..SampleOptions::default() };
            let text = kernrnn::sample(model.clone(), &opts).unwrap();
            let report = check_prepared(&text, opts.meter);
            assert!(
                report.is_valid(),
                "seed {seed} temperature {temperature}: {:?}\n{text}",
                report.diagnostics
            );
            assert!(report.measures >= 1);
            // The score made of it is valid too: structure, tokens and rhythm.
            let score = reconstruct(&text, &ScoreOptions::default());
            let checked = check_kern(&score);
            assert!(
                checked.is_valid(),
                "seed {seed} temperature {temperature}: {:?}\n{text}\n{score}",
                checked.diagnostics
            );

            let raw = kernrnn::sample(model.clone(), &SampleOptions { raw: true, ..opts }).unwrap();
            raw_invalid +=
                !check_prepared(&raw, kernrnn::kern::MeterChoice::FromMusic).is_valid() as usize;
            runs += 1;
        }
    }
    // A tiny model left to itself breaks the grammar nearly every time: the constraint is real.
    assert!(raw_invalid * 2 > runs, "only {raw_invalid} of {runs} raw samples were invalid");
}

#[test]
fn a_prime_that_is_not_kern_is_refused_unless_raw() {
    let model = model();
    let opts = SampleOptions { prime: "@\n4c\t\t\t".into(), ..SampleOptions::default() };
    match kernrnn::sample(model.clone(), &opts) {
        Err(e) => assert!(e.to_string().contains("not valid **kern"), "{e}"),
        Ok(text) => panic!("accepted: {text}"),
    }
    assert!(kernrnn::sample(model, &SampleOptions { raw: true, length: 50, ..opts }).is_ok());
}

/// The model reads the measure clock while it samples as it read it in training: after a
/// sample, constrained or raw, the sampler's LSTM state is the state of the model fed the
/// sample's whole text with the classes training gives that text (a sample whose grammar keeps
/// a meter counting from that meter after its prime, not from an unknown first measure; a raw
/// one holding its meter where its own count is lost).
#[test]
fn a_sample_is_fed_the_measure_clock_that_training_gives_its_text() {
    use kernrnn::kern::clock::{TextClock, UNKNOWN};
    use kernrnn::Sampler;
    let model = model();
    assert!(model.hyper().measure_clock, "the tiny model reads the measure clock by default");
    for raw in [false, true] {
        let opts = SampleOptions { seed: 4, length: 800, raw, ..SampleOptions::default() };
        let mut sampler = Sampler::new(model.clone(), opts.clone()).unwrap();
        let meter = sampler.meter();
        assert_eq!(meter.is_some(), !raw);
        let held = sampler.held_meter();
        assert_eq!(held.is_some(), raw);
        let mut text = opts.prime.clone();
        sampler.take(usize::MAX, &mut text);
        let editions = model.dialect().editions;
        let mut clock = match held {
            Some(m) => TextClock::holding(editions, Some(m.ticks())),
            None => TextClock::new(editions),
        };
        let prime_chars = opts.prime.chars().count();
        let mut classes = Vec::new();
        for (i, c) in text.chars().enumerate() {
            let mut class = clock.push(c);
            if let (Some(m), true) = (meter, i + 1 == prime_chars) {
                clock.assume_length(m.ticks());
                class = clock.clock().class();
            }
            classes.push(class);
        }
        let known = classes.iter().filter(|&&k| k != UNKNOWN).count();
        assert!(known * 2 > classes.len(), "raw {raw}: {known} of {} characters", classes.len());
        let mut state = model.zero_state();
        let mut logits = vec![0.0; model.hyper().vocab_size];
        for (t, k) in model.vocab().encode(&text).unwrap().into_iter().zip(classes) {
            model.step(&mut state, t, k, &mut logits);
        }
        assert!(sampler.state() == &state, "raw {raw}: the states differ after\n{text}");
        assert_eq!(sampler.logits(), &logits[..], "raw {raw}");
    }
}

/// A prime that stops mid-line (`@` without its newline) leaves the measure's length unknown
/// after it; the sample counts from the meter its grammar keeps once that line ends, as one
/// whose prime ended at a line's start does from its first line (when its spines are known).
#[test]
fn a_prime_that_ends_mid_line_counts_from_the_meter_at_its_lines_end() {
    use kernrnn::kern::clock::UNKNOWN;
    use kernrnn::Sampler;
    let opts = SampleOptions { prime: "@".into(), length: 200, ..SampleOptions::default() };
    let mut sampler = Sampler::new(model(), opts).unwrap();
    assert!(sampler.meter().is_some());
    assert_eq!(sampler.clock_class(), UNKNOWN);
    let mut out = String::new();
    while out.matches('\n').count() < 2 {
        assert_eq!(sampler.take(1, &mut out), 1);
    }
    assert_ne!(sampler.clock_class(), UNKNOWN, "after {out:?}");
}
