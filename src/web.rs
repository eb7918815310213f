//! The WebAssembly API (wasm-bindgen): a thin wrapper over [`crate::composer`].
//!
//! ```js
//! import init, { Composer, reconstruct } from "./pkg/kernrnn.js";
//! await init();
//! const composer = new Composer(new Uint8Array(await (await fetch("models/mozart.safetensors")).arrayBuffer()));
//! const sampling = composer.start({ seed: 1, temperature: 0.8, length: 2000 });
//! let raw = sampling.prime();
//! while (!sampling.done()) raw += sampling.next(500);   // yield to the page between chunks
//! const score = reconstruct(raw, {});
//! ```

use wasm_bindgen::prelude::*;

use crate::composer::{Composer as Inner, JsSampleOptions};
use crate::kern::ScoreOptions;
use crate::sampler::Sampler;

fn options<T: serde::de::DeserializeOwned + Default>(value: JsValue) -> Result<T, JsError> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    serde_wasm_bindgen::from_value(value).map_err(|e| JsError::new(&format!("invalid options: {e}")))
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// A loaded model.
#[wasm_bindgen]
pub struct Composer {
    inner: Inner,
}

#[wasm_bindgen]
impl Composer {
    /// Loads a weights file from its bytes; a truncated or foreign file throws an Error.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8]) -> Result<Composer, JsError> {
        Inner::from_bytes(bytes).map(|inner| Composer { inner }).map_err(|e| JsError::new(&e.to_string()))
    }

    /// `{ name, vocab, vocabSize, layers, hidden, params, validLoss, corpus, epochs }`.
    pub fn info(&self) -> Result<JsValue, JsError> {
        let s = serde_wasm_bindgen::Serializer::json_compatible();
        serde::Serialize::serialize(&self.inner.info(), &s).map_err(|e| JsError::new(&e.to_string()))
    }

    /// Starts a sample with `{ temperature, seed, prime, length, argmax }` (all optional).
    pub fn start(&self, opts: JsValue) -> Result<Sampling, JsError> {
        let js: JsSampleOptions = options(opts)?;
        let opts = js.resolve().map_err(|e| JsError::new(&e.to_string()))?;
        let sampler = self.inner.start(opts).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Sampling { sampler })
    }
}

/// A sample in progress.
#[wasm_bindgen]
pub struct Sampling {
    sampler: Sampler,
}

#[wasm_bindgen]
impl Sampling {
    /// The prime text (the start of the output).
    pub fn prime(&self) -> String {
        self.sampler.options().prime.clone()
    }

    /// Up to `max` more characters ("" once done).
    pub fn next(&mut self, max: usize) -> String {
        let mut out = String::new();
        self.sampler.take(max, &mut out);
        out
    }

    pub fn produced(&self) -> usize {
        self.sampler.produced()
    }

    pub fn total(&self) -> usize {
        self.sampler.options().length
    }

    pub fn done(&self) -> bool {
        self.sampler.remaining() == 0
    }
}

/// Turns a raw sample into a complete **kern score. Options: `{ title }`.
#[wasm_bindgen]
pub fn reconstruct(raw: &str, opts: JsValue) -> Result<String, JsError> {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Opts {
        title: Option<String>,
    }
    let o: Opts = options(opts)?;
    Ok(crate::kern::reconstruct(raw, &ScoreOptions { title: o.title, ..ScoreOptions::default() }))
}
