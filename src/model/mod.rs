//! The character-level LSTM as a burn module: the one definition of the network, used for
//! training on any burn device and exported to the weights file that sampling reads.
//!
//! Per layer the four gates are one matrix: `gates = x W_ih + h W_hh + b`, `[i | f | o | g]`.
//! The first layer's input is a one-hot character, so `x W_ih` is a row lookup. A model that
//! reads the measure clock ([`crate::kern::clock`]) adds a second row lookup there, the clock
//! class's row of `W_clock`: the same as a one-hot clock input beside the character. Inputs are
//! laid out time-major (`[T * B, ...]`) so that each time step is a contiguous block of rows.

pub mod lstm;
pub mod lstm_cpu;
#[cfg(feature = "wgpu")]
pub mod lstm_cube;

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

use crate::kern::clock::{CLOCK_CLASSES, UNKNOWN};
use crate::kern::Dialect;
use crate::vocab::Vocab;
use crate::weights::{Hyper, LayerWeights, Provenance, Weights};

/// Parameters are initialised uniformly in ±INIT_RANGE, as in char-rnn.
pub const INIT_RANGE: f64 = 0.08;

#[derive(Module, Debug)]
pub struct LstmLayer {
    pub w_ih: Param<Tensor<2>>,
    pub w_hh: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
}

#[derive(Module, Debug)]
pub struct CharLstm {
    pub layers: Vec<LstmLayer>,
    pub head_weight: Param<Tensor<2>>,
    pub head_bias: Param<Tensor<1>>,
    /// `[CLOCK_CLASSES, 4H]`: layer 0's rows for the measure clock's classes, in a model that
    /// reads it.
    pub clock_weight: Option<Param<Tensor<2>>>,
    pub dropout: Dropout,
}

/// How the LSTM layers run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layers {
    /// One fused operation per layer and chunk, with its own backward pass, where the backend
    /// has it (the CPU; a GPU, for layers of up to 256 units); burn's stock ops elsewhere.
    #[default]
    Fused,
    /// burn's stock ops everywhere: the reference, kept for comparison.
    Stock,
}

impl Layers {
    pub fn name(self) -> &'static str {
        match self {
            Layers::Fused => "fused",
            Layers::Stock => "stock",
        }
    }
}

/// Hidden and cell state per layer, each `[batch, hidden]`.
pub type State = Vec<(Tensor<2>, Tensor<2>)>;

fn uniform<const D: usize>(shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::random(
        shape,
        Distribution::Uniform(-INIT_RANGE, INIT_RANGE),
        device,
    ))
}

fn param<const D: usize>(values: &[f32], shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(values.to_vec(), shape), device))
}

fn values<const D: usize>(p: &Param<Tensor<D>>) -> Vec<f32> {
    p.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default()
}

impl CharLstm {
    /// A freshly initialised network.
    pub fn new(hyper: Hyper, dropout: f64, device: &Device) -> Self {
        let g = 4 * hyper.hidden;
        let layers = (0..hyper.layers)
            .map(|l| LstmLayer {
                w_ih: uniform([hyper.input_size(l), g], device),
                w_hh: uniform([hyper.hidden, g], device),
                bias: uniform([g], device),
            })
            .collect();
        CharLstm {
            layers,
            head_weight: uniform([hyper.hidden, hyper.vocab_size], device),
            head_bias: uniform([hyper.vocab_size], device),
            clock_weight: hyper.measure_clock.then(|| uniform([CLOCK_CLASSES, g], device)),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// The network holding exported weights.
    pub fn from_weights(w: &Weights, dropout: f64, device: &Device) -> Self {
        let h = w.hyper;
        let g = 4 * h.hidden;
        let layers = w
            .layers
            .iter()
            .enumerate()
            .map(|(l, lw)| LstmLayer {
                w_ih: param(&lw.w_ih, [h.input_size(l), g], device),
                w_hh: param(&lw.w_hh, [h.hidden, g], device),
                bias: param(&lw.bias, [g], device),
            })
            .collect();
        CharLstm {
            layers,
            head_weight: param(&w.head_weight, [h.hidden, h.vocab_size], device),
            head_bias: param(&w.head_bias, [h.vocab_size], device),
            clock_weight: h
                .measure_clock
                .then(|| param(&w.clock_weight, [CLOCK_CLASSES, g], device)),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    pub fn hyper(&self) -> Hyper {
        let [hidden, vocab_size] = self.head_weight.shape().dims();
        Hyper {
            vocab_size,
            layers: self.layers.len(),
            hidden,
            measure_clock: self.clock_weight.is_some(),
        }
    }

    /// The weights file contents for this network.
    pub fn to_weights(&self, vocab: Vocab, provenance: Provenance, dialect: Dialect) -> Weights {
        Weights {
            vocab,
            hyper: self.hyper(),
            provenance,
            dialect,
            layers: self
                .layers
                .iter()
                .map(|l| LayerWeights {
                    w_ih: values(&l.w_ih),
                    w_hh: values(&l.w_hh),
                    bias: values(&l.bias),
                })
                .collect(),
            head_weight: values(&self.head_weight),
            head_bias: values(&self.head_bias),
            clock_weight: self.clock_weight.as_ref().map(values).unwrap_or_default(),
        }
    }

    pub fn zero_state(&self, batch: usize, device: &Device) -> State {
        let h = self.hyper().hidden;
        (0..self.layers.len())
            .map(|_| (Tensor::zeros([batch, h], device), Tensor::zeros([batch, h], device)))
            .collect()
    }

    /// Runs a batch of sequences. `input` is `[T, B]` token indices (time-major), `clock` the
    /// measure clock's class beside each (read by a model that has [`Hyper::measure_clock`];
    /// without it such a model reads "unknown" everywhere). Returns the logits `[T * B, V]` (row
    /// `t * B + b`) and the final state.
    ///
    /// On the CPU backend, and on a GPU for layers of up to 256 units, each layer runs as one
    /// fused operation over the whole chunk (`lstm`); elsewhere as burn's stock ops
    /// (`forward_stock`). Both compute the same
    /// function with the same dropout masks.
    pub fn forward(
        &self,
        input: Tensor<2, Int>,
        clock: Option<Tensor<2, Int>>,
        state: Option<State>,
    ) -> (Tensor<2>, State) {
        self.forward_as(Layers::Fused, input, clock, state)
    }

    /// `forward` with the layers run as `layers` says.
    pub fn forward_as(
        &self,
        layers: Layers,
        input: Tensor<2, Int>,
        clock: Option<Tensor<2, Int>>,
        state: Option<State>,
    ) -> (Tensor<2>, State) {
        match layers {
            Layers::Fused if lstm::runs_on(&input.device(), self.hyper().hidden) => {
                self.forward_fused(input, clock, state)
            }
            _ => self.forward_stock(input, clock, state),
        }
    }

    /// The clock classes `[T, B]` a model that reads the clock is fed: those given, else
    /// "unknown" everywhere. None for a model without the clock.
    fn clock_input(
        &self,
        clock: Option<Tensor<2, Int>>,
        input: &Tensor<2, Int>,
    ) -> Option<Tensor<2, Int>> {
        self.clock_weight.as_ref()?;
        Some(clock.unwrap_or_else(|| Tensor::full(input.dims(), UNKNOWN as i64, &input.device())))
    }

    /// The layers one after the other, each over the whole chunk: the input projection of all
    /// `T * B` rows as one product, then the fused recurrence.
    pub fn forward_fused(
        &self,
        input: Tensor<2, Int>,
        clock: Option<Tensor<2, Int>>,
        state: Option<State>,
    ) -> (Tensor<2>, State) {
        let [steps, batch] = input.dims();
        let device = input.device();
        let clock = self.clock_input(clock, &input);
        let mut state = state.unwrap_or_else(|| self.zero_state(batch, &device));
        let masks = self.dropout_masks(steps * batch, &device);
        let tokens = input.reshape([steps * batch]);
        let mut below: Option<Tensor<2>> = None;
        for (l, (layer, (h, c))) in self.layers.iter().zip(state.iter_mut()).enumerate() {
            let (w_hh, bias, hc) = (layer.w_hh.val(), layer.bias.val(), (h.clone(), c.clone()));
            let (hs, last) = match below.take() {
                None => {
                    let mut xproj = layer.w_ih.val().select(0, tokens.clone());
                    if let (Some(w), Some(k)) = (&self.clock_weight, clock.clone()) {
                        xproj = xproj + w.val().select(0, k.reshape([steps * batch]));
                    }
                    lstm::layer_projected(xproj, bias, w_hh, hc)
                }
                Some(x) => {
                    lstm::layer(dropped(x, masks.get(l - 1)), layer.w_ih.val(), bias, w_hh, hc)
                }
            };
            (*h, *c) = last;
            below = Some(hs);
        }
        let top = dropped(below.expect("at least one layer"), masks.last());
        (self.head(top), state)
    }

    /// The reference: burn's stock ops, time step by time step through all layers. Every
    /// product takes a per-step tensor: slicing one big input projection per step instead would
    /// make the backward pass build a zero-padded gradient of the whole projection for every
    /// step.
    pub fn forward_stock(
        &self,
        input: Tensor<2, Int>,
        clock: Option<Tensor<2, Int>>,
        state: Option<State>,
    ) -> (Tensor<2>, State) {
        let [steps, batch] = input.dims();
        let device = input.device();
        let clock = self.clock_input(clock, &input);
        let hd = self.hyper().hidden;
        let mut state = state.unwrap_or_else(|| self.zero_state(batch, &device));
        let masks = self.dropout_masks(steps * batch, &device);
        let weights: Vec<_> = self
            .layers
            .iter()
            .map(|l| (l.w_ih.val(), l.w_hh.val(), l.bias.val().unsqueeze::<2>()))
            .collect();
        let mut tops = Vec::with_capacity(steps);
        for t in 0..steps {
            let tokens = input.clone().narrow(0, t, 1).reshape([batch]);
            let mut below: Option<Tensor<2>> = None;
            for (l, ((w_ih, w_hh, bias), (h, c))) in
                weights.iter().zip(state.iter_mut()).enumerate()
            {
                let x_proj = match below.take() {
                    None => {
                        let rows = w_ih.clone().select(0, tokens.clone());
                        match (&self.clock_weight, &clock) {
                            (Some(w), Some(k)) => {
                                let k = k.clone().narrow(0, t, 1).reshape([batch]);
                                rows + w.val().select(0, k)
                            }
                            _ => rows,
                        }
                    }
                    Some(x) => {
                        let mask = masks.get(l - 1).map(|m| m.clone().narrow(0, t * batch, batch));
                        dropped(x, mask.as_ref()).matmul(w_ih.clone())
                    }
                };
                let gates = x_proj + h.clone().matmul(w_hh.clone()) + bias.clone();
                let ifo = sigmoid(gates.clone().narrow(1, 0, 3 * hd));
                let cand = gates.narrow(1, 3 * hd, hd).tanh();
                let i = ifo.clone().narrow(1, 0, hd);
                let f = ifo.clone().narrow(1, hd, hd);
                let o = ifo.narrow(1, 2 * hd, hd);
                *c = f * c.clone() + i * cand;
                *h = o * c.clone().tanh();
                below = Some(h.clone());
            }
            tops.extend(below);
        }
        let top = dropped(Tensor::cat(tops, 0), masks.last());
        (self.head(top), state)
    }

    fn head(&self, top: Tensor<2>) -> Tensor<2> {
        top.matmul(self.head_weight.val()) + self.head_bias.val().unsqueeze::<2>()
    }

    /// The dropout masks of one chunk, already scaled by 1 / keep: entry `l` for the output of
    /// layer `l` (the input of the next layer, or of the output layer). None outside training
    /// or without dropout. Drawn once per chunk and shared by both forward passes, so they
    /// drop the same units.
    fn dropout_masks(&self, rows: usize, device: &Device) -> Vec<Tensor<2>> {
        let p = self.dropout.prob;
        if p == 0.0 || !device.is_autodiff() || !self.dropout.training.is_enabled() {
            return Vec::new();
        }
        let hidden = self.hyper().hidden;
        (0..self.layers.len())
            .map(|_| {
                Tensor::random([rows, hidden], Distribution::Bernoulli(1.0 - p), device)
                    * (1.0 / (1.0 - p))
            })
            .collect()
    }
}

/// `x` with a dropout mask applied, if there is one.
fn dropped(x: Tensor<2>, mask: Option<&Tensor<2>>) -> Tensor<2> {
    match mask {
        Some(m) => x * m.clone(),
        None => x,
    }
}

/// Detaches a state from the autodiff graph (truncated backpropagation through time).
pub fn detach(state: State) -> State {
    state.into_iter().map(|(h, c)| (h.detach(), c.detach())).collect()
}

/// Mean cross-entropy (nats) of logits `[N, V]` against targets `[N]`.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let n = targets.dims()[0];
    let log_probs = burn::tensor::activation::log_softmax(logits, 1);
    log_probs.gather(1, targets.reshape([n, 1])).mean().neg()
}
