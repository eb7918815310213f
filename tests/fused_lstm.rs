//! The fused LSTM layer against the reference, burn's stock ops under burn's autodiff: the same
//! logits, the same final state and the same gradient for every parameter and for the initial
//! state, dropout masks included, for several shapes, on the CPU (flex) and on a GPU (wgpu: the
//! CubeCL kernels; Mesa's lavapipe where there is no GPU).

use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use kernrnn::kern::clock::CLOCK_CLASSES;
use kernrnn::model::{cross_entropy, CharLstm, State};
use kernrnn::Hyper;

/// Relative difference of two tensors: the largest elementwise difference over the largest
/// magnitude of the reference.
fn relative_difference(fused: Tensor<2>, stock: Tensor<2>) -> f32 {
    let a = fused.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    let b = stock.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(f32::MIN_POSITIVE);
    a.iter().zip(&b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

struct Run {
    logits: Tensor<2>,
    state: State,
    /// Every parameter's gradient (flattened to 2-D), then those of each layer's h0 and c0.
    grads: Vec<(String, Tensor<2>)>,
}

/// One forward and backward pass of `model` through `forward`, with a loss that reads the
/// logits and the final state (so that the gradients of `h_T` and `c_T` flow too).
fn run(
    model: &CharLstm,
    fused: bool,
    input: &Tensor<2, Int>,
    clock: &Tensor<2, Int>,
    targets: &Tensor<1, Int>,
    state: &State,
    seed: u64,
) -> Run {
    let device = input.device();
    // The same seed before each pass: the same dropout masks.
    device.seed(seed);
    let state: State =
        state.iter().map(|(h, c)| (h.clone().require_grad(), c.clone().require_grad())).collect();
    let (logits, last) = if fused {
        model.forward_fused(input.clone(), Some(clock.clone()), Some(state.clone()))
    } else {
        model.forward_stock(input.clone(), Some(clock.clone()), Some(state.clone()))
    };
    let state_term = last
        .iter()
        .enumerate()
        .map(|(l, (h, c))| (h.clone() * (l as f32 + 1.0) + c.clone().powf_scalar(2.0)).sum())
        .reduce(|a, b| a + b)
        .unwrap();
    let loss = cross_entropy(logits.clone(), targets.clone()) + state_term * 0.01;
    let g = loss.backward();
    let mut grads = Vec::new();
    for (l, layer) in model.layers.iter().enumerate() {
        grads.push((format!("layer {l} w_ih"), layer.w_ih.val().grad(&g).unwrap()));
        grads.push((format!("layer {l} w_hh"), layer.w_hh.val().grad(&g).unwrap()));
        let bias = layer.bias.val().grad(&g).unwrap();
        grads.push((format!("layer {l} bias"), bias.unsqueeze::<2>()));
    }
    grads.push(("head weight".into(), model.head_weight.val().grad(&g).unwrap()));
    grads.push(("head bias".into(), model.head_bias.val().grad(&g).unwrap().unsqueeze::<2>()));
    if let Some(w) = &model.clock_weight {
        grads.push(("measure clock rows".into(), w.val().grad(&g).unwrap()));
    }
    for (l, (h, c)) in state.iter().enumerate() {
        grads.push((format!("layer {l} h0"), h.grad(&g).unwrap()));
        grads.push((format!("layer {l} c0"), c.grad(&g).unwrap()));
    }
    Run { logits, state: last, grads }
}

/// The test harness runs these tests on parallel threads, and the device's random generator
/// is shared: a test seeds it, then draws the weights, the data and the dropout masks while no
/// other test draws from it (otherwise the two passes of `check` may see different masks).
static RANDOM: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn check(layers: usize, hidden: usize, batch: usize, steps: usize, dropout: f64) {
    check_on(Device::flex(), layers, hidden, batch, steps, dropout);
}

/// On the GPU (the tests that need one fail where there is none; `make test` installs Mesa's
/// lavapipe, a Vulkan GPU on the CPU).
fn check_gpu(layers: usize, hidden: usize, batch: usize, steps: usize, dropout: f64) {
    let device =
        kernrnn::train::Backend::Wgpu.device().expect("a GPU (make vulkan installs lavapipe)");
    assert!(kernrnn::model::lstm::runs_on(&device, hidden), "the fused layer runs on the GPU");
    check_on(device, layers, hidden, batch, steps, dropout);
}

fn check_on(
    device: Device,
    layers: usize,
    hidden: usize,
    batch: usize,
    steps: usize,
    dropout: f64,
) {
    let _only_user = RANDOM.lock().unwrap_or_else(|e| e.into_inner());
    let device = device.autodiff();
    device.seed(11 + hidden as u64);
    let vocab_size = 13;
    let hyper = Hyper { vocab_size, layers, hidden, measure_clock: true };
    let model = CharLstm::new(hyper, dropout, &device);
    let tokens = Tensor::<2>::random(
        [steps + 1, batch],
        Distribution::Uniform(0.0, vocab_size as f64 - 0.01),
        &device,
    )
    .int();
    let clock = Tensor::<2>::random(
        [steps, batch],
        Distribution::Uniform(0.0, CLOCK_CLASSES as f64 - 0.01),
        &device,
    )
    .int();
    let input = tokens.clone().narrow(0, 0, steps);
    let targets = tokens.narrow(0, 1, steps).reshape([steps * batch]);
    // A state like one carried from a previous chunk (not zero).
    let state: State = (0..layers)
        .map(|_| {
            let d = Distribution::Uniform(-0.5, 0.5);
            (
                Tensor::random([batch, hidden], d, &device),
                Tensor::random([batch, hidden], d, &device),
            )
        })
        .collect();
    let fused = run(&model, true, &input, &clock, &targets, &state, 99);
    let stock = run(&model, false, &input, &clock, &targets, &state, 99);
    let shape =
        format!("{device:?}: {layers} x {hidden}, batch {batch}, {steps} steps, dropout {dropout}");
    let bound = 1e-4;
    let d = relative_difference(fused.logits, stock.logits);
    assert!(d < bound, "{shape}: logits differ by {d:e}");
    for (l, ((hf, cf), (hs, cs))) in fused.state.into_iter().zip(stock.state).enumerate() {
        let (dh, dc) = (relative_difference(hf, hs), relative_difference(cf, cs));
        assert!(dh < bound && dc < bound, "{shape}: final state of layer {l}: {dh:e}, {dc:e}");
    }
    for ((name, f), (_, s)) in fused.grads.into_iter().zip(stock.grads) {
        let d = relative_difference(f, s);
        assert!(d < bound, "{shape}: gradient of {name} differs by {d:e}");
    }
}

#[test]
fn one_layer_of_one_unit_matches_the_stock_layer() {
    check(1, 1, 1, 3, 0.0);
}

#[test]
fn a_three_layer_model_matches_the_stock_layers_on_a_batch_split_across_threads() {
    check(3, 16, 40, 12, 0.0);
}

#[test]
fn dropout_masks_are_the_same_in_both_layers() {
    check(2, 24, 17, 9, 0.3);
}

#[test]
fn on_a_gpu_one_layer_of_one_unit_matches_the_stock_layer() {
    check_gpu(1, 1, 1, 3, 0.0);
}

#[test]
fn on_a_gpu_a_three_layer_model_matches_the_stock_layers() {
    check_gpu(3, 16, 40, 12, 0.0);
}

#[test]
fn on_a_gpu_dropout_masks_are_the_same_in_both_layers() {
    check_gpu(2, 24, 17, 9, 0.3);
}

#[test]
fn on_a_gpu_a_layer_of_the_shipped_models_width_matches_the_stock_layer() {
    check_gpu(2, 128, 5, 30, 0.25);
}

#[test]
fn a_wide_layer_with_an_odd_batch_matches_the_stock_layer() {
    check(2, 72, 9, 5, 0.0);
}

#[test]
fn evaluation_without_autodiff_gives_the_same_logits() {
    let _only_user = RANDOM.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    device.seed(5);
    let hyper = Hyper { vocab_size: 7, layers: 2, hidden: 20, measure_clock: false };
    let model = CharLstm::new(hyper, 0.5, &device);
    let tokens: Vec<i64> = (0..60).map(|i| (i * 5 + 1) % 7).collect();
    let input = Tensor::<2, Int>::from_data(TensorData::new(tokens, [20, 3]), &device);
    let (fused, fused_state) = model.forward_fused(input.clone(), None, None);
    let (stock, stock_state) = model.forward_stock(input, None, None);
    assert!(relative_difference(fused, stock) < 1e-5);
    for ((hf, cf), (hs, cs)) in fused_state.into_iter().zip(stock_state) {
        assert!(relative_difference(hf, hs) < 1e-5 && relative_difference(cf, cs) < 1e-5);
    }
}
