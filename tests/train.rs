//! Training: it learns, checkpoints, resumes exactly, exports, and refuses bad settings.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use kernrnn::manifest::Manifest;
use kernrnn::model::Layers;
use kernrnn::train::{self, Backend, Outcome, Silent, TrainConfig};
use kernrnn::{CpuModel, SampleOptions, Weights};

fn read_weights(path: &std::path::Path) -> Weights {
    Weights::from_bytes(&std::fs::read(path).unwrap()).unwrap()
}

/// Largest absolute difference between two models' parameters.
fn max_difference(a: &Weights, b: &Weights) -> f32 {
    let flat = |w: &Weights| -> Vec<f32> {
        let mut v: Vec<f32> =
            w.layers.iter().flat_map(|l| [&l.w_ih, &l.w_hh, &l.bias]).flatten().copied().collect();
        v.extend(&w.head_weight);
        v.extend(&w.head_bias);
        v
    };
    flat(a).iter().zip(&flat(b)).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn a_tiny_run_learns_and_exports_weights_and_manifest() {
    let dir = common::temp_dir("learn");
    let report = common::train_tiny(&dir, "tiny");
    assert_eq!(report.outcome, Outcome::Finished);
    let s = &report.state;
    assert_eq!(s.epoch, 3);
    let first = s.history.first().unwrap();
    let last = s.history.last().unwrap();
    assert!(last.valid_loss < first.valid_loss - 0.3, "{:?}", s.history);
    let uniform = (s.vocab.chars().count() as f64).ln();
    assert!(last.train_loss < uniform - 0.7, "train loss {} vs uniform {uniform}", last.train_loss);

    let w = read_weights(&report.weights_file);
    assert_eq!(report.weights_file, dir.join("models/tiny.safetensors"));
    assert_eq!(w.hyper.layers, 2);
    assert_eq!(w.provenance.name, "tiny");
    assert_eq!(w.provenance.valid_loss, s.valid_loss);
    let manifest =
        Manifest::from_json(&std::fs::read_to_string(dir.join("models/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest.models.len(), 1);
    let entry = &manifest.models[0];
    assert_eq!((entry.name.as_str(), entry.file.as_str()), ("tiny", "tiny.safetensors"));
    assert_eq!(entry.params, w.num_params());
    assert_eq!(entry.bytes as u64, std::fs::metadata(&report.weights_file).unwrap().len());
}

/// The exported weights are those of the best validation point, kept as the run goes
/// (`checkpoints/NAME/best.safetensors`); `export_last` exports the final ones instead.
#[test]
fn the_export_is_the_best_validation_point_unless_told_otherwise() {
    let dir = common::temp_dir("best");
    // Many epochs of a large learning rate on a tiny corpus: validation gets worse again.
    let config =
        TrainConfig { epochs: 12, learning_rate: 3e-2, dropout: 0.0, ..common::tiny_config() };
    let best = train::train(&common::tiny_run(&dir, "best", config.clone()), &mut Silent).unwrap();
    let h = &best.state.history;
    let min = h.iter().map(|p| p.valid_loss).fold(f64::INFINITY, f64::min);
    let last = h.last().unwrap().valid_loss;
    assert!(min < last, "this run should overfit: {h:?}");
    assert_eq!(best.state.best_valid_loss, Some(min));
    let w = read_weights(&best.weights_file);
    assert_eq!(w.provenance.valid_loss, Some(min));
    assert_eq!(best.exported, w.provenance);
    assert!(w.provenance.epochs < best.state.epochs_done());
    assert!(dir.join("checkpoints/best/best.safetensors").is_file());

    let mut run = common::tiny_run(&dir, "last", config);
    run.export_last = true;
    let last_run = train::train(&run, &mut Silent).unwrap();
    let w = read_weights(&last_run.weights_file);
    assert_eq!(w.provenance.valid_loss, Some(last));
    assert_eq!(w.provenance.epochs, 12.0);
}

/// Stopping after some iterations and resuming gives the same model as one uninterrupted run:
/// model, optimizer state, data position, carried state and dropout masks all come back.
#[test]
fn resume_continues_exactly_where_the_run_stopped() {
    let dir = common::temp_dir("resume");
    let whole = common::train_tiny(&dir, "whole");

    let mut run = common::tiny_run(&dir, "pieces", common::tiny_config());
    run.max_iterations = Some(7); // mid-epoch, between two validations
    let first = train::train(&run, &mut Silent).unwrap();
    assert_eq!(first.outcome, Outcome::OutOfTime);
    assert_eq!(first.state.global_iteration, 7);
    run.resume = true;
    run.max_iterations = Some(4);
    let second = train::train(&run, &mut Silent).unwrap();
    assert_eq!(second.state.global_iteration, 11);
    run.max_iterations = None;
    let last = train::train(&run, &mut Silent).unwrap();
    assert_eq!(last.outcome, Outcome::Finished);
    assert_eq!(last.state.global_iteration, whole.state.global_iteration);

    let (a, b) = (read_weights(&whole.weights_file), read_weights(&last.weights_file));
    assert_eq!(max_difference(&a, &b), 0.0, "resumed weights differ from the uninterrupted run");
    assert_eq!(whole.state.valid_loss, last.state.valid_loss);
}

#[test]
fn resume_refuses_a_missing_checkpoint_and_a_fresh_run_an_existing_one() {
    let dir = common::temp_dir("resume-errors");
    let mut run = common::tiny_run(&dir, "r", common::tiny_config());
    run.resume = true;
    let err = train::train(&run, &mut Silent).unwrap_err().to_string();
    assert!(err.contains("no checkpoint"), "{err}");
    run.resume = false;
    run.max_iterations = Some(2);
    train::train(&run, &mut Silent).unwrap();
    let err = train::train(&run, &mut Silent).unwrap_err().to_string();
    assert!(err.contains("--resume"), "{err}");
}

#[test]
fn a_checkpoint_cut_short_by_a_kill_falls_back_to_the_previous_one() {
    let dir = common::temp_dir("kill");
    let mut run = common::tiny_run(&dir, "k", common::tiny_config());
    run.max_iterations = Some(6);
    train::train(&run, &mut Silent).unwrap();
    // A kill -9 while writing the next checkpoint leaves a partial temporary folder and,
    // at worst, a latest/ without its state file.
    let ck = &run.checkpoint_dir;
    std::fs::create_dir_all(ck.join("latest.tmp")).unwrap();
    std::fs::write(ck.join("latest.tmp/model.bpk"), b"partial").unwrap();
    std::fs::remove_file(ck.join("latest/state.json")).unwrap();
    run.resume = true;
    run.max_iterations = None;
    let report = train::train(&run, &mut Silent).unwrap();
    assert_eq!(report.outcome, Outcome::Finished);
}

#[test]
fn the_stop_flag_writes_a_checkpoint_and_reports_an_interruption() {
    let dir = common::temp_dir("stop");
    let run = common::tiny_run(&dir, "s", common::tiny_config());
    run.stop.store(true, Ordering::SeqCst);
    let report = train::train(&run, &mut Silent).unwrap();
    assert_eq!(report.outcome, Outcome::Interrupted);
    assert!(run.checkpoint_dir.join("latest/state.json").is_file());
    assert!(report.weights_file.is_file());
}

#[test]
fn bad_settings_are_refused_with_the_flag_named() {
    let dir = common::temp_dir("bad-config");
    type Change = fn(&mut TrainConfig);
    let cases: [(Change, &str); 5] = [
        (|c| c.learning_rate = f64::NAN, "--learning-rate"),
        (|c| c.dropout = 1.0, "--dropout"),
        (|c| c.layers = 0, "--layers"),
        (|c| c.epochs = 0, "--epochs"),
        (|c| c.batch = 100_000, "--batch-size"),
    ];
    for (change, flag) in cases {
        let mut config = common::tiny_config();
        change(&mut config);
        let err = train::train(&common::tiny_run(&dir, "b", config), &mut Silent)
            .unwrap_err()
            .to_string();
        assert!(err.contains(flag), "{err}");
    }
    let mut config = common::tiny_config();
    config.batch = 500;
    let err =
        train::train(&common::tiny_run(&dir, "b", config), &mut Silent).unwrap_err().to_string();
    assert!(err.contains("too short"), "{err}");
}

/// Seeded sampling of a model trained here gives this exact text. Training is deterministic
/// (seeded init, seeded dropout, fixed data order), and so is sampling.
#[test]
fn seeded_sample_of_a_trained_in_test_model_is_golden() {
    let dir = common::temp_dir("golden");
    let report = common::train_tiny(&dir, "golden");
    let model = Arc::new(CpuModel::new(&read_weights(&report.weights_file)));
    let opts = SampleOptions { length: 120, seed: 1, ..SampleOptions::default() };
    let text = kernrnn::sample(model, &opts).unwrap();
    let golden_path = common::fixtures().join("golden-tiny-seed1.txt");
    if std::env::var_os("KERNRNN_BLESS").is_some() {
        std::fs::write(&golden_path, &text).unwrap();
    }
    let golden =
        std::fs::read_to_string(&golden_path).expect("golden file (KERNRNN_BLESS=1 writes it)");
    assert_eq!(text, golden);
}

/// `--final-lr` settles a finished run at a low learning rate for the epochs it is extended by;
/// it only continues a run.
#[test]
fn a_final_low_rate_phase_continues_a_run() {
    let dir = common::temp_dir("final-lr");
    let first = common::train_tiny(&dir, "settle");
    assert_eq!(first.state.epoch, 3);
    let mut run = common::tiny_run(
        &dir,
        "settle",
        TrainConfig { epochs: 4, final_lr: Some((0, 1e-4)), ..common::tiny_config() },
    );
    run.resume = true;
    let settled = train::train(&run, &mut Silent).unwrap();
    assert_eq!(settled.state.epoch, 4);
    assert_eq!(settled.state.config.final_lr, Some((3, 1e-4)));
    assert_eq!(settled.state.config.learning_rate_at(3), 1e-4);
    assert_eq!(settled.state.config.learning_rate_at(2), first.state.config.learning_rate_at(2));

    run.resume = false;
    run.name = "fresh".into();
    run.checkpoint_dir = dir.join("checkpoints/fresh");
    let err = train::train(&run, &mut Silent).unwrap_err().to_string();
    assert!(err.contains("--final-lr") && err.contains("--resume"), "{err}");
    run.config.final_lr = Some((0, 2.0));
    let err = train::train(&run, &mut Silent).unwrap_err().to_string();
    assert!(err.contains("--final-lr must be"), "{err}");
}

/// `--backend wgpu` (in tests on Mesa's lavapipe, a CPU Vulkan): the same loop learns on the GPU,
/// and a run started on the CPU continues there from its checkpoint.
#[cfg(feature = "wgpu")]
#[test]
fn the_wgpu_backend_learns_and_continues_a_run_begun_on_the_cpu() {
    let dir = common::temp_dir("wgpu");
    let mut run = common::tiny_run(&dir, "moved", common::tiny_config());
    run.max_iterations = Some(6);
    let on_cpu = train::train(&run, &mut Silent).unwrap();
    assert_eq!(on_cpu.state.global_iteration, 6);
    run.resume = true;
    run.max_iterations = None;
    run.backend = Backend::Wgpu;
    let on_gpu = train::train(&run, &mut Silent).unwrap();
    assert_eq!(on_gpu.outcome, Outcome::Finished);
    assert_eq!(on_gpu.state.backend, Backend::Wgpu);
    let whole = common::train_tiny(&dir, "whole");
    assert_eq!(on_gpu.state.global_iteration, whole.state.global_iteration);
    // It went on learning: the history continues from the CPU's, and the losses end near an
    // all-CPU run's (the GPU's sums and dropout masks differ, so not equal).
    let h = &on_gpu.state.history;
    assert_eq!(h[..on_cpu.state.history.len()], on_cpu.state.history[..]);
    let (first, last) = (h[0].valid_loss, h.last().unwrap().valid_loss);
    assert!(last < first - 0.3, "{h:?}");
    let all_cpu = whole.state.valid_loss.unwrap();
    assert!((last - all_cpu).abs() < 0.15, "GPU-finished {last} against all-CPU {all_cpu}");
    // The export samples on the CPU step like any other weights file.
    let w = read_weights(&on_gpu.weights_file);
    let opts = SampleOptions { length: 200, seed: 1, ..SampleOptions::default() };
    let text = kernrnn::sample(Arc::new(CpuModel::new(&w)), &opts).unwrap();
    assert!(text.chars().count() >= 200, "{text}");
}

/// The fused layers and burn's stock layers train the same network: over a few hundred
/// iterations with dropout, the same validation losses at every point (within 0.1%) and the
/// same final training loss.
#[test]
fn fused_and_stock_layers_train_to_the_same_losses() {
    // Over longer runs the two drift apart as any two float orders do (1e-2 by 550 here).
    same_losses_both_ways(Backend::Cpu, 12, 200);
}

/// The same on a GPU (lavapipe in `make test`): the fused layer's CubeCL kernels against burn's
/// stock ops on the same device, over fewer iterations (lavapipe is slow).
#[cfg(feature = "wgpu")]
#[test]
fn on_a_gpu_fused_and_stock_layers_train_to_the_same_losses() {
    same_losses_both_ways(Backend::Wgpu, 3, 50);
}

fn same_losses_both_ways(backend: Backend, epochs: usize, least_iterations: u64) {
    let dir = common::temp_dir(&format!("layers-{}", backend.name()));
    let config = TrainConfig { epochs, eval_every: 25, ..common::tiny_config() };
    let fused_run = train::TrainRun { backend, ..common::tiny_run(&dir, "fused", config.clone()) };
    let fused = train::train(&fused_run, &mut Silent).unwrap();
    let stock_run = common::tiny_run(&dir, "stock", config);
    let stock =
        train::train(&train::TrainRun { layers: Layers::Stock, backend, ..stock_run }, &mut Silent)
            .unwrap();
    let (f, s) = (&fused.state.history, &stock.state.history);
    let n = fused.state.global_iteration;
    assert!(n >= least_iterations, "{n} iterations");
    assert_eq!(f.len(), s.len());
    for (a, b) in f.iter().zip(s) {
        let d = (a.valid_loss - b.valid_loss).abs() / b.valid_loss;
        let (i, fl, sl) = (a.iteration, a.valid_loss, b.valid_loss);
        assert!(d < 1e-3, "{backend:?}: validation loss at iteration {i}: fused {fl}, stock {sl}");
    }
    let (ft, st) = (fused.state.train_loss.unwrap(), stock.state.train_loss.unwrap());
    assert!(
        (ft - st).abs() / st < 1e-3,
        "{backend:?}: final training loss: fused {ft}, stock {st}"
    );
}

/// A run told not to read the measure clock exports a model without it (as models before it),
/// which samples; one that reads it learns to use it: its loss on the training text is lower
/// with the clock than with the clock "unknown" everywhere.
#[test]
fn the_measure_clock_is_an_input_a_run_may_leave_out() {
    let dir = common::temp_dir("clock");
    let config = TrainConfig { measure_clock: false, ..common::tiny_config() };
    let report = train::train(&common::tiny_run(&dir, "noclock", config), &mut Silent).unwrap();
    let w = read_weights(&report.weights_file);
    assert!(!w.hyper.measure_clock && w.clock_weight.is_empty());
    let text = kernrnn::sample(Arc::new(CpuModel::new(&w)), &SampleOptions::default()).unwrap();
    assert!(text.len() > 100);

    let with = read_weights(&common::train_tiny(&dir, "clock").weights_file);
    assert!(with.hyper.measure_clock);
    let corpus = kernrnn::kern::prepare_dir(&common::fixture_corpus()).unwrap();
    let (tokens, _) = with.vocab.encode_lossy(&corpus.text);
    let classes = kernrnn::kern::clock::clock_classes(&corpus.text, with.dialect.editions);
    let model = CpuModel::new(&with);
    let nll = |unknown: bool| {
        let mut state = model.zero_state();
        let mut logits = vec![0.0; with.hyper.vocab_size];
        let mut total = 0.0f64;
        for (w, &k) in tokens.windows(2).zip(&classes) {
            let k = if unknown { kernrnn::kern::clock::UNKNOWN } else { k };
            model.step(&mut state, w[0], k, &mut logits);
            total -= kernrnn::infer::math::softmax_at(&logits, 1.0)[w[1]].ln();
        }
        total / (tokens.len() - 1) as f64
    };
    let (read, blind) = (nll(false), nll(true));
    assert!(read < blind, "{read:.3} nats/char with the clock, {blind:.3} without");
}
