//! `models/manifest.json`: the list of shipped models that the page and the docs read.

use serde::{Deserialize, Serialize};

use crate::weights::Weights;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub models: Vec<ModelEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub name: String,
    /// Path of the weights file, relative to the manifest.
    pub file: String,
    pub bytes: usize,
    #[serde(default)]
    pub description: String,
    pub vocab_size: usize,
    pub layers: usize,
    pub hidden: usize,
    pub params: usize,
    pub valid_loss: Option<f64>,
    pub train_loss: Option<f64>,
    pub epochs: f64,
    pub dropout: f64,
    pub corpus: String,
    pub files: usize,
    pub train_chars: usize,
    pub valid_chars: usize,
    pub train_seconds: f64,
    pub chars_per_second: f64,
}

impl ModelEntry {
    pub fn new(w: &Weights, file: &str, bytes: usize) -> Self {
        let p = &w.provenance;
        ModelEntry {
            name: p.name.clone(),
            file: file.into(),
            bytes,
            description: String::new(),
            vocab_size: w.hyper.vocab_size,
            layers: w.hyper.layers,
            hidden: w.hyper.hidden,
            params: w.num_params(),
            valid_loss: p.valid_loss,
            train_loss: p.train_loss,
            epochs: p.epochs,
            dropout: p.dropout,
            corpus: p.corpus.clone(),
            files: p.files,
            train_chars: p.train_chars,
            valid_chars: p.valid_chars,
            train_seconds: p.train_seconds,
            chars_per_second: p.chars_per_second,
        }
    }
}

impl Manifest {
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("invalid manifest: {e}"))
    }

    /// Reads a manifest file; a missing file is an empty manifest.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read(path: &std::path::Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_json(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Adds an entry or replaces the one of the same name (keeping its description).
    pub fn upsert(&mut self, mut entry: ModelEntry) {
        match self.models.iter_mut().find(|m| m.name == entry.name) {
            Some(old) => {
                if entry.description.is_empty() {
                    entry.description = std::mem::take(&mut old.description);
                }
                *old = entry;
            }
            None => self.models.push(entry),
        }
        self.models.sort_by(|a, b| a.name.cmp(&b.name));
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}
