//! kernrnn: a character-level LSTM that composes piano music in Humdrum **kern.
//!
//! One library for the native command line and the browser: the model ([`model`]), its weights
//! file ([`weights`]), fast inference ([`infer`]), the sampler ([`sampler`]) and the **kern
//! text tools ([`kern`]). Training ([`train`]) is native only.

pub mod composer;
pub mod infer;
pub mod kern;
pub mod manifest;
#[cfg(feature = "model")]
pub mod model;
pub mod rng;
pub mod sampler;
pub mod vocab;
pub mod weights;

#[cfg(feature = "cli")]
pub mod train;
pub mod web;

pub use infer::CpuModel;
pub use sampler::{sample, SampleError, SampleOptions, Sampler};
pub use vocab::Vocab;
pub use weights::{Hyper, Provenance, Weights, WeightsError};
