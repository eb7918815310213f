//! The LSTM step on the CPU, one character at a time.

use super::math::{sigmoid, tanh};
use crate::kern::clock::CLOCK_CLASSES;
use crate::kern::Dialect;
use crate::vocab::Vocab;
use crate::weights::{Hyper, LayerWeights, Weights};

/// The model's parameters laid out for the step (as in the weights file: row-major
/// `[input, 4H]`, so a matrix-vector product is a sum of scaled rows, which vectorises across
/// the output and keeps a fixed summation order on every SIMD width).
#[derive(Clone, Debug)]
pub struct CpuModel {
    vocab: Vocab,
    dialect: Dialect,
    hyper: Hyper,
    layers: Vec<LayerWeights>,
    head_weight: Vec<f32>,
    head_bias: Vec<f32>,
    /// `[CLOCK_CLASSES, 4H]`, empty for a model without the measure clock.
    clock_weight: Vec<f32>,
}

/// Hidden and cell state of every layer, plus scratch space so a step allocates nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct LstmState {
    h: Vec<f32>,
    c: Vec<f32>,
    gates: Vec<f32>,
}

impl LstmState {
    /// Hidden and cell state, each `layers * hidden` values, layer by layer.
    pub fn h_and_c(&self) -> (&[f32], &[f32]) {
        (&self.h, &self.c)
    }
}

/// y += a * row, element by element (no fused multiply-add, for identical bits everywhere).
#[inline]
fn axpy(y: &mut [f32], a: f32, row: &[f32]) {
    for (y, w) in y.iter_mut().zip(row) {
        *y += a * w;
    }
}

impl CpuModel {
    pub fn new(weights: &Weights) -> Self {
        CpuModel {
            vocab: weights.vocab.clone(),
            dialect: weights.dialect.clone(),
            hyper: weights.hyper,
            layers: weights.layers.clone(),
            head_weight: weights.head_weight.clone(),
            head_bias: weights.head_bias.clone(),
            clock_weight: weights.clock_weight.clone(),
        }
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// The **kern dialect of the training corpus (how samples are constrained and scored).
    pub fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    pub fn hyper(&self) -> Hyper {
        self.hyper
    }

    /// The LSTM layers' weights (the GPU sampler uploads them).
    pub fn layers(&self) -> &[LayerWeights] {
        &self.layers
    }

    /// The output layer: weight `[hidden, vocab]` row-major, and bias.
    pub fn head(&self) -> (&[f32], &[f32]) {
        (&self.head_weight, &self.head_bias)
    }

    /// Layer 0's rows for the measure clock's classes, `[CLOCK_CLASSES, 4H]` (empty for a model
    /// that does not read it).
    pub fn clock_weight(&self) -> &[f32] {
        &self.clock_weight
    }

    /// The zero state a sample starts from.
    pub fn zero_state(&self) -> LstmState {
        let n = self.hyper.layers * self.hyper.hidden;
        LstmState { h: vec![0.0; n], c: vec![0.0; n], gates: vec![0.0; 4 * self.hyper.hidden] }
    }

    /// The logits after each of `tokens`, fed from the zero state with the measure clock's
    /// class `clock` beside every one: what the GPU's logits are held equal to.
    pub fn logits_for(&self, tokens: &[usize], clock: u8) -> Vec<Vec<f32>> {
        let mut state = self.zero_state();
        let mut row = vec![0.0; self.hyper.vocab_size];
        tokens
            .iter()
            .map(|&t| {
                self.step(&mut state, t, clock, &mut row);
                row.clone()
            })
            .collect()
    }

    /// Feed one token, with the measure clock's class in force after it (read by a model that
    /// has the clock, see [`crate::kern::clock`]); writes the next character's logits (length
    /// `vocab_size`).
    pub fn step(&self, state: &mut LstmState, token: usize, clock: u8, logits: &mut [f32]) {
        let hd = self.hyper.hidden;
        let g = 4 * hd;
        for (l, layer) in self.layers.iter().enumerate() {
            let gates = &mut state.gates;
            gates.copy_from_slice(&layer.bias);
            if l == 0 {
                let token = token.min(self.hyper.vocab_size - 1);
                axpy(gates, 1.0, &layer.w_ih[token * g..(token + 1) * g]);
                if self.hyper.measure_clock {
                    let k = (clock as usize).min(CLOCK_CLASSES - 1);
                    axpy(gates, 1.0, &self.clock_weight[k * g..(k + 1) * g]);
                }
            } else {
                // The layer below has already been updated for this step: its new h is our input.
                let below = &state.h[(l - 1) * hd..l * hd];
                for (i, &x) in below.iter().enumerate() {
                    axpy(gates, x, &layer.w_ih[i * g..(i + 1) * g]);
                }
            }
            let h = &mut state.h[l * hd..(l + 1) * hd];
            for (i, &x) in h.iter().enumerate() {
                axpy(gates, x, &layer.w_hh[i * g..(i + 1) * g]);
            }
            let c = &mut state.c[l * hd..(l + 1) * hd];
            for j in 0..hd {
                let i = sigmoid(gates[j]);
                let f = sigmoid(gates[hd + j]);
                let o = sigmoid(gates[2 * hd + j]);
                let cand = tanh(gates[3 * hd + j]);
                c[j] = f * c[j] + i * cand;
                h[j] = o * tanh(c[j]);
            }
        }
        let v = self.hyper.vocab_size;
        logits[..v].copy_from_slice(&self.head_bias);
        let top = &state.h[(self.hyper.layers - 1) * hd..];
        for (i, &x) in top.iter().enumerate() {
            axpy(&mut logits[..v], x, &self.head_weight[i * v..(i + 1) * v]);
        }
    }
}
