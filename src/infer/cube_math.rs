//! The activations the CubeCL kernels share: the sampler's (`infer::gpu`) and the fused
//! training layer's (`model::lstm_cube`).

use cubecl::prelude::*;

#[cube]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + f32::exp(-x))
}

/// tanh of an argument clamped to ±15, where tanh is 1 to f32 precision: some WebGPU
/// implementations (SwiftShader's) compute tanh from exponentials that overflow to NaN for large
/// arguments, and an LSTM's cell state grows large.
#[cube]
pub(crate) fn tanh(x: f32) -> f32 {
    f32::tanh(x.clamp(-15.0, 15.0))
}
