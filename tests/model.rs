//! One network: the burn module, the weights file and the CPU sampling step agree.

use std::sync::Arc;

use burn::tensor::{Device, Int, Tensor, TensorData};
use kernrnn::infer::CpuModel;
use kernrnn::kern::clock::CLOCK_CLASSES;
use kernrnn::model::CharLstm;
use kernrnn::{Hyper, Provenance, SampleOptions, Vocab, Weights};

fn random_weights(hyper: Hyper, seed: u64) -> Weights {
    let device = Device::flex();
    device.seed(seed);
    let vocab =
        Vocab::from_chars((0..hyper.vocab_size).map(|i| char::from(b'a' + i as u8)).collect())
            .unwrap();
    // Wider than the training init, so the test exercises saturated gates too.
    let model = CharLstm::new(hyper, 0.0, &device);
    let mut w = model.to_weights(vocab, Provenance::default(), Default::default());
    for v in w
        .layers
        .iter_mut()
        .flat_map(|l| l.w_ih.iter_mut().chain(&mut l.w_hh).chain(&mut l.bias))
        .chain(&mut w.clock_weight)
    {
        *v *= 12.0;
    }
    w
}

#[test]
fn cpu_step_matches_the_burn_model() {
    for measure_clock in [false, true] {
        let hyper = Hyper { vocab_size: 11, layers: 3, hidden: 32, measure_clock };
        cpu_step_matches(hyper);
    }
}

fn cpu_step_matches(hyper: Hyper) {
    let weights = random_weights(hyper, 7);
    let device = Device::flex();
    let model = CharLstm::from_weights(&weights, 0.0, &device);
    let tokens: Vec<i64> = (0..40).map(|i| (i * 7 + 3) % 11).collect();
    let clock: Vec<i64> = (0..40).map(|i| (i * 11 + 5) % CLOCK_CLASSES as i64).collect();
    let input = Tensor::<2, Int>::from_data(TensorData::new(tokens.clone(), [40, 1]), &device);
    let clock_input = Tensor::<2, Int>::from_data(TensorData::new(clock.clone(), [40, 1]), &device);
    let (logits, _) = model.forward(input, Some(clock_input), None);
    let reference = logits.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();

    let cpu = CpuModel::new(&weights);
    let mut state = cpu.zero_state();
    let mut out = vec![0.0; 11];
    let mut worst = 0.0f32;
    for (t, &tok) in tokens.iter().enumerate() {
        cpu.step(&mut state, tok as usize, clock[t] as u8, &mut out);
        for (a, b) in out.iter().zip(&reference[t * 11..(t + 1) * 11]) {
            worst = worst.max((a - b).abs());
        }
    }
    assert!(worst < 1e-5, "{hyper:?}: largest logit difference {worst}");
}

#[test]
fn weights_survive_the_file_and_the_burn_module() {
    let hyper = Hyper { vocab_size: 5, layers: 2, hidden: 8, measure_clock: true };
    let weights = random_weights(hyper, 3);
    let bytes = weights.to_bytes().unwrap();
    let read = Weights::from_bytes(&bytes).unwrap();
    assert_eq!(read, weights);
    let module = CharLstm::from_weights(&read, 0.0, &Device::flex());
    assert_eq!(module.hyper(), hyper);
    assert_eq!(
        module.to_weights(read.vocab.clone(), read.provenance.clone(), read.dialect.clone()),
        weights
    );
}

#[test]
fn mismatched_tensor_shapes_are_refused() {
    let hyper = Hyper { vocab_size: 5, layers: 2, hidden: 8, measure_clock: false };
    let mut weights = random_weights(hyper, 3);
    weights.layers[1].w_hh.truncate(8);
    let err = match weights.to_bytes() {
        Err(e) => e.to_string(),
        Ok(bytes) => Weights::from_bytes(&bytes).unwrap_err().to_string(),
    };
    assert!(err.contains("lstm.1.w_hh"), "{err}");
}

#[test]
fn sampling_is_reproducible_and_seed_dependent() {
    let hyper = Hyper { vocab_size: 6, layers: 2, hidden: 16, measure_clock: true };
    let model = Arc::new(CpuModel::new(&random_weights(hyper, 5)));
    // Letters are not **kern: sample without the grammar.
    let opts =
        SampleOptions { prime: "ab".into(), length: 300, raw: true, ..SampleOptions::default() };
    let a = kernrnn::sample(model.clone(), &opts).unwrap();
    let b = kernrnn::sample(model.clone(), &opts).unwrap();
    assert_eq!(a, b);
    assert!(a.starts_with("ab"));
    assert_eq!(a.chars().count(), 302);
    let c = kernrnn::sample(model.clone(), &SampleOptions { seed: 2, ..opts.clone() }).unwrap();
    assert_ne!(a, c);
    let err = kernrnn::sample(model, &SampleOptions { prime: "a@z".into(), ..opts }).unwrap_err();
    assert_eq!(err.to_string(), "the prime text has characters the model cannot read: the model does not know 2 characters: '@', 'z'");
}

/// A model whose characters cannot write **kern (a corpus of something else) is refused a
/// constrained sample with the reason, rather than sampling into a dead end.
#[test]
fn a_vocabulary_the_grammar_cannot_use_is_refused_with_the_reason() {
    let hyper = Hyper { vocab_size: 6, layers: 1, hidden: 8, measure_clock: false };
    let model = Arc::new(CpuModel::new(&random_weights(hyper, 3)));
    let opts = SampleOptions { prime: "ab".into(), length: 10, ..SampleOptions::default() };
    let err = kernrnn::sample(model, &opts).unwrap_err().to_string();
    assert!(
        err.starts_with("this model cannot write a checked score (the vocabulary lacks"),
        "{err}"
    );
    assert!(err.contains("--raw"), "{err}");
}
