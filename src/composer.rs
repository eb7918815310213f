//! The composer as the browser uses it: load a weights file, sample in chunks, reconstruct.
//! Plain Rust, so native tests cover it; `web.rs` only wraps it for JavaScript.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::infer::CpuModel;
use crate::sampler::{SampleError, SampleOptions, Sampler};
use crate::weights::{Hyper, Provenance, Weights, WeightsError};

/// A loaded model.
#[derive(Clone, Debug)]
pub struct Composer {
    model: Arc<CpuModel>,
    hyper: Hyper,
    provenance: Provenance,
}

/// What a page shows about a model.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    pub name: String,
    pub vocab: String,
    pub vocab_size: usize,
    pub layers: usize,
    pub hidden: usize,
    pub params: usize,
    pub valid_loss: Option<f64>,
    pub corpus: String,
    pub epochs: f64,
}

/// Sampling options as JavaScript passes them: every field optional, defaults as the CLI.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JsSampleOptions {
    pub temperature: Option<f32>,
    pub seed: Option<f64>,
    pub prime: Option<String>,
    pub length: Option<f64>,
    pub argmax: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptionsError {
    #[error("seed must be a whole number from 0 to 2^53, got {0}")]
    Seed(f64),
    #[error("length must be a whole number, got {0}")]
    Length(f64),
}

impl JsSampleOptions {
    pub fn resolve(&self) -> Result<SampleOptions, OptionsError> {
        let d = SampleOptions::default();
        let whole = |x: f64| x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= 9_007_199_254_740_992.0;
        let seed = match self.seed {
            Some(s) if !whole(s) => return Err(OptionsError::Seed(s)),
            Some(s) => s as u64,
            None => d.seed,
        };
        let length = match self.length {
            Some(l) if !whole(l) => return Err(OptionsError::Length(l)),
            Some(l) => l as usize,
            None => d.length,
        };
        Ok(SampleOptions {
            temperature: self.temperature.unwrap_or(d.temperature),
            seed,
            prime: self.prime.clone().unwrap_or(d.prime),
            length,
            argmax: self.argmax.unwrap_or(d.argmax),
        })
    }
}

impl Composer {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        let w = Weights::from_bytes(bytes)?;
        Ok(Composer { model: Arc::new(CpuModel::new(&w)), hyper: w.hyper, provenance: w.provenance })
    }

    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            name: self.provenance.name.clone(),
            vocab: self.model.vocab().as_string(),
            vocab_size: self.hyper.vocab_size,
            layers: self.hyper.layers,
            hidden: self.hyper.hidden,
            params: self.hyper.num_params(),
            valid_loss: self.provenance.valid_loss,
            corpus: self.provenance.corpus.clone(),
            epochs: self.provenance.epochs,
        }
    }

    /// Starts a sample: validates the options and feeds the prime.
    pub fn start(&self, opts: SampleOptions) -> Result<Sampler, SampleError> {
        Sampler::new(self.model.clone(), opts)
    }
}
