//! The exported weights file: one safetensors file holding the LSTM's tensors (f32), with the
//! vocabulary, hyper-parameters and provenance in its metadata. Safetensors because the
//! ecosystem already reads it (Python's `safetensors`, burn-store, huggingface tools), and the
//! `safetensors` crate is small and builds for wasm, so the browser uses this same loader.
//!
//! Tensors (gate order i, f, o, g along the 4H axis):
//! - `lstm.{l}.w_ih` `[input, 4H]`: input weights; layer 0's input is a one-hot character, so
//!   its rows are indexed by token.
//! - `lstm.{l}.w_hh` `[H, 4H]`, `lstm.{l}.bias` `[4H]`.
//! - `head.weight` `[H, V]`, `head.bias` `[V]`: the output layer.
//! - `lstm.0.w_clock` `[CLOCK_CLASSES, 4H]`, in models that read the measure clock
//!   (`hyper.measure_clock`, format version 2): layer 0's rows for the clock's class, added to
//!   its gates beside the character's row ([`crate::kern::clock`]).

use std::collections::HashMap;

use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::kern::clock::CLOCK_CLASSES;
use crate::kern::Dialect;
use crate::vocab::Vocab;

/// The value of the `format` metadata key.
pub const FORMAT: &str = "kernrnn-lstm";
/// Bumped when the layout changes incompatibly: version 2 adds the measure clock's tensor (a
/// model that reads it written as version 1 would load in an older kernrnn and sample without
/// it). Files without it are still written as version 1.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest version read.
const OLDEST_VERSION: u32 = 1;

/// Shape of the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hyper {
    pub vocab_size: usize,
    pub layers: usize,
    pub hidden: usize,
    /// The first layer reads the measure clock's class beside each character
    /// ([`crate::kern::clock`]); absent (false) in models from before it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub measure_clock: bool,
}

impl Hyper {
    /// Input width of a layer.
    pub fn input_size(&self, layer: usize) -> usize {
        if layer == 0 {
            self.vocab_size
        } else {
            self.hidden
        }
    }

    /// Rows of the measure clock's tensor (0 without it).
    pub fn clock_rows(&self) -> usize {
        if self.measure_clock {
            CLOCK_CLASSES
        } else {
            0
        }
    }

    pub fn num_params(&self) -> usize {
        let g = 4 * self.hidden;
        (0..self.layers).map(|l| self.input_size(l) * g + self.hidden * g + g).sum::<usize>()
            + self.clock_rows() * g
            + self.hidden * self.vocab_size
            + self.vocab_size
    }
}

/// Where a model came from and how good it is. Every field is informative only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Provenance {
    pub name: String,
    pub corpus: String,
    pub files: usize,
    pub train_chars: usize,
    pub valid_chars: usize,
    pub epochs: f64,
    pub iterations: u64,
    pub seq_len: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub dropout: f64,
    pub train_loss: Option<f64>,
    pub valid_loss: Option<f64>,
    pub train_seconds: f64,
    pub chars_per_second: f64,
    pub backend: String,
    pub kernrnn_version: String,
}

/// One LSTM layer's parameters, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerWeights {
    pub w_ih: Vec<f32>,
    pub w_hh: Vec<f32>,
    pub bias: Vec<f32>,
}

/// Everything needed to run the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights {
    pub vocab: Vocab,
    pub hyper: Hyper,
    pub provenance: Provenance,
    /// The **kern dialect of the training corpus (metadata `kern_dialect`; the training
    /// corpus's, with no signifiers, when absent): how the model's samples are constrained
    /// and turned into scores.
    pub dialect: Dialect,
    pub layers: Vec<LayerWeights>,
    pub head_weight: Vec<f32>,
    pub head_bias: Vec<f32>,
    /// `[CLOCK_CLASSES, 4H]` with `hyper.measure_clock`, else empty.
    pub clock_weight: Vec<f32>,
}

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("not a weights file: it is empty")]
    Empty,
    #[error("not a kernrnn weights file (not safetensors: {0}); was it truncated or is it another format?")]
    NotSafetensors(String),
    #[error("not a kernrnn weights file: its metadata has no `format: {FORMAT}` entry")]
    Foreign,
    #[error("weights format version {found} is not supported by this kernrnn (it reads versions {OLDEST_VERSION} to {FORMAT_VERSION})")]
    Version { found: String },
    #[error("weights file metadata `{key}` is missing or invalid: {why}")]
    Metadata { key: &'static str, why: String },
    #[error("weights file lacks tensor `{0}`")]
    MissingTensor(String),
    #[error("tensor `{name}` has shape {found:?} and type {dtype}, expected {expected:?} F32")]
    Shape { name: String, expected: Vec<usize>, found: Vec<usize>, dtype: String },
    #[error("tensor `{0}` holds a value that is not a finite number")]
    NotFinite(String),
    #[error("cannot write weights: {0}")]
    Write(String),
}

fn layer_names(l: usize) -> [String; 3] {
    [format!("lstm.{l}.w_ih"), format!("lstm.{l}.w_hh"), format!("lstm.{l}.bias")]
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

impl Weights {
    /// Shapes of every tensor, in file order.
    fn expected_shapes(hyper: &Hyper) -> Vec<(String, Vec<usize>)> {
        let g = 4 * hyper.hidden;
        let mut shapes = Vec::new();
        for l in 0..hyper.layers {
            let [ih, hh, b] = layer_names(l);
            shapes.push((ih, vec![hyper.input_size(l), g]));
            shapes.push((hh, vec![hyper.hidden, g]));
            shapes.push((b, vec![g]));
        }
        shapes.push(("head.weight".into(), vec![hyper.hidden, hyper.vocab_size]));
        shapes.push(("head.bias".into(), vec![hyper.vocab_size]));
        if hyper.measure_clock {
            shapes.push(("lstm.0.w_clock".into(), vec![CLOCK_CLASSES, g]));
        }
        shapes
    }

    fn tensors(&self) -> Vec<&[f32]> {
        let mut out: Vec<&[f32]> = Vec::new();
        for layer in &self.layers {
            out.extend([layer.w_ih.as_slice(), &layer.w_hh, &layer.bias]);
        }
        out.extend([self.head_weight.as_slice(), &self.head_bias]);
        if self.hyper.measure_clock {
            out.push(&self.clock_weight);
        }
        out
    }

    /// Serialise to the safetensors bytes of a weights file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WeightsError> {
        let shapes = Self::expected_shapes(&self.hyper);
        let tensors = self.tensors();
        let buffers: Vec<Vec<u8>> = tensors.iter().map(|t| f32_bytes(t)).collect();
        let mut views = Vec::new();
        for ((name, shape), bytes) in shapes.into_iter().zip(&buffers) {
            let view = TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map_err(|e| WeightsError::Write(format!("{name} {shape:?}: {e}")))?;
            views.push((name, view));
        }
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT.to_string());
        let version = if self.hyper.measure_clock { FORMAT_VERSION } else { OLDEST_VERSION };
        meta.insert("format_version".to_string(), version.to_string());
        meta.insert("vocab".to_string(), json(&self.vocab.as_string()));
        meta.insert("hyper".to_string(), json(&self.hyper));
        meta.insert("provenance".to_string(), json(&self.provenance));
        meta.insert("kern_dialect".to_string(), json(&self.dialect));
        safetensors::serialize(views, Some(meta)).map_err(|e| WeightsError::Write(e.to_string()))
    }

    /// Parse a weights file, checking that it is ours, complete and consistent.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        if bytes.is_empty() {
            return Err(WeightsError::Empty);
        }
        let (_, metadata) = SafeTensors::read_metadata(bytes)
            .map_err(|e| WeightsError::NotSafetensors(e.to_string()))?;
        let meta = metadata.metadata().clone().unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(WeightsError::Foreign);
        }
        let version = meta.get("format_version").cloned().unwrap_or_default();
        if !(OLDEST_VERSION..=FORMAT_VERSION).any(|v| v.to_string() == version) {
            return Err(WeightsError::Version { found: version });
        }
        let field = |key: &'static str| {
            meta.get(key).ok_or(WeightsError::Metadata { key, why: "missing".into() })
        };
        let vocab_text: String = serde_json::from_str(field("vocab")?)
            .map_err(|e| WeightsError::Metadata { key: "vocab", why: e.to_string() })?;
        let vocab =
            Vocab::from_chars(vocab_text.chars().collect()).ok_or(WeightsError::Metadata {
                key: "vocab",
                why: "empty or repeats a character".into(),
            })?;
        let hyper: Hyper = serde_json::from_str(field("hyper")?)
            .map_err(|e| WeightsError::Metadata { key: "hyper", why: e.to_string() })?;
        if hyper.vocab_size != vocab.len() || hyper.layers == 0 || hyper.hidden == 0 {
            return Err(WeightsError::Metadata {
                key: "hyper",
                why: format!("{hyper:?} does not fit a vocabulary of {} characters", vocab.len()),
            });
        }
        if hyper.measure_clock && version == OLDEST_VERSION.to_string() {
            return Err(WeightsError::Metadata {
                key: "hyper",
                why: format!("it reads the measure clock, which format version {version} has not"),
            });
        }
        // Bounds that keep a hostile header from making us allocate absurd amounts.
        if hyper.layers > 64 || hyper.hidden > 16_384 || hyper.vocab_size > 65_536 {
            return Err(WeightsError::Metadata {
                key: "hyper",
                why: format!("{hyper:?} is too large"),
            });
        }
        let provenance: Provenance = match meta.get("provenance") {
            Some(p) => serde_json::from_str(p)
                .map_err(|e| WeightsError::Metadata { key: "provenance", why: e.to_string() })?,
            None => Provenance::default(),
        };
        let dialect: Dialect = match meta.get("kern_dialect") {
            Some(d) => serde_json::from_str(d)
                .map_err(|e| WeightsError::Metadata { key: "kern_dialect", why: e.to_string() })?,
            None => Dialect::default(),
        };
        dialect.validate().map_err(|why| WeightsError::Metadata { key: "kern_dialect", why })?;
        // Full parse only now: it also checks that the data section is complete.
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| WeightsError::NotSafetensors(e.to_string()))?;
        let mut read = Vec::new();
        for (name, shape) in Self::expected_shapes(&hyper) {
            let view = file.tensor(&name).map_err(|_| WeightsError::MissingTensor(name.clone()))?;
            if view.dtype() != Dtype::F32 || view.shape() != shape.as_slice() {
                return Err(WeightsError::Shape {
                    name,
                    expected: shape,
                    found: view.shape().to_vec(),
                    dtype: format!("{:?}", view.dtype()),
                });
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if values.iter().any(|v| !v.is_finite()) {
                return Err(WeightsError::NotFinite(name));
            }
            read.push(values);
        }
        let mut read = read.into_iter();
        let mut layers = Vec::with_capacity(hyper.layers);
        for _ in 0..hyper.layers {
            // expected_shapes lists exactly three tensors per layer, then two for the head.
            let (w_ih, w_hh, bias) = (next(&mut read), next(&mut read), next(&mut read));
            layers.push(LayerWeights { w_ih, w_hh, bias });
        }
        let head_weight = next(&mut read);
        let head_bias = next(&mut read);
        let clock_weight = next(&mut read);
        Ok(Weights {
            vocab,
            hyper,
            provenance,
            dialect,
            layers,
            head_weight,
            head_bias,
            clock_weight,
        })
    }

    pub fn num_params(&self) -> usize {
        self.hyper.num_params()
    }
}

fn next(it: &mut impl Iterator<Item = Vec<f32>>) -> Vec<f32> {
    it.next().unwrap_or_default()
}

/// JSON of plain data (strings, numbers, structs of them), which cannot fail to serialise.
fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn tiny() -> Weights {
        let vocab = Vocab::from_text("ab\n");
        let hyper = Hyper { vocab_size: 3, layers: 2, hidden: 2, measure_clock: false };
        let mut k = 0.0f32;
        let mut fill = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    k += 0.37;
                    k.sin() * 0.5
                })
                .collect()
        };
        let layers = (0..2)
            .map(|l| LayerWeights {
                w_ih: fill(hyper.input_size(l) * 8),
                w_hh: fill(2 * 8),
                bias: fill(8),
            })
            .collect();
        Weights {
            vocab,
            hyper,
            provenance: Provenance { name: "tiny".into(), ..Default::default() },
            dialect: Dialect {
                editions: true,
                signifiers: vec!["!!!RDF**kern: > = above".into()],
                meters: vec!["2/4".into(), "3/4".into()],
                meter_counts: vec![5, 2],
            },
            layers,
            head_weight: fill(6),
            head_bias: fill(3),
            clock_weight: Vec::new(),
        }
    }

    #[test]
    fn a_model_that_reads_the_measure_clock_round_trips_as_version_2() {
        let mut w = tiny();
        w.hyper.measure_clock = true;
        w.clock_weight = (0..CLOCK_CLASSES * 8).map(|i| i as f32 / 100.0).collect();
        let bytes = w.to_bytes().unwrap();
        assert_eq!(Weights::from_bytes(&bytes).unwrap(), w);
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(meta.metadata().as_ref().unwrap()["format_version"], "2");
        assert_eq!(w.num_params(), tiny().num_params() + CLOCK_CLASSES * 8);
        // a file that says version 1 and reads the clock is refused by name
        let needle = br#""format_version":"2""#;
        let at = bytes.windows(needle.len()).position(|w| w == needle).unwrap();
        let mut v1 = bytes.clone();
        v1[at + needle.len() - 2] = b'1';
        let err = Weights::from_bytes(&v1).unwrap_err();
        assert!(matches!(err, WeightsError::Metadata { key: "hyper", .. }), "{err}");
        // without it, a file is as before (version 1)
        let (_, meta) = SafeTensors::read_metadata(&tiny().to_bytes().unwrap()).unwrap();
        assert_eq!(meta.metadata().as_ref().unwrap()["format_version"], "1");
    }

    #[test]
    fn round_trip() {
        let w = tiny();
        let bytes = w.to_bytes().unwrap();
        assert_eq!(Weights::from_bytes(&bytes).unwrap(), w);
        assert_eq!(w.num_params(), 3 * 8 + 16 + 8 + 2 * 8 + 16 + 8 + 6 + 3);
    }

    #[test]
    fn truncated_file_is_refused() {
        let bytes = tiny().to_bytes().unwrap();
        for cut in [1, 7, 8, 50, bytes.len() - 1] {
            let err = Weights::from_bytes(&bytes[..cut]).unwrap_err();
            assert!(matches!(err, WeightsError::NotSafetensors(_)), "cut {cut}: {err}");
        }
        assert!(matches!(Weights::from_bytes(&[]), Err(WeightsError::Empty)));
    }

    #[test]
    fn foreign_files_are_refused() {
        let err = Weights::from_bytes(b"<html>not a model</html>").unwrap_err();
        assert!(err.to_string().contains("not a kernrnn weights file"), "{err}");
        // A valid safetensors file that is not ours.
        let data = f32_bytes(&[1.0, 2.0]);
        let view = TensorView::new(Dtype::F32, vec![2], &data).unwrap();
        let other = safetensors::serialize([("x", view)], None).unwrap();
        assert!(matches!(Weights::from_bytes(&other), Err(WeightsError::Foreign)));
    }

    #[test]
    fn a_dialect_whose_records_are_not_signifiers_is_refused_by_name() {
        let mut w = tiny();
        w.dialect.signifiers = vec!["*-\n**kern".into()];
        let err = Weights::from_bytes(&w.to_bytes().unwrap()).unwrap_err();
        assert!(matches!(err, WeightsError::Metadata { key: "kern_dialect", .. }), "{err}");
    }
}
