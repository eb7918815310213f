//! Fast inference for sampling: the LSTM step without a tensor framework.
//!
//! The burn model in [`crate::model`] defines the network; [`cpu::CpuModel`] runs the same
//! arithmetic one character at a time with no allocation per step, and a test holds its logits
//! equal to the burn model's. Its arithmetic is fixed-order f32 with our own `exp`, so native
//! and wasm builds give bit-identical logits and therefore identical samples.

pub mod cpu;
#[cfg(any(feature = "webgpu", feature = "wgpu"))]
pub(crate) mod cube_math;
#[cfg(feature = "webgpu")]
pub mod gpu;
pub mod math;

pub use cpu::{CpuModel, LstmState};
