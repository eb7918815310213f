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
