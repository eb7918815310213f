//! The WebAssembly API (wasm-bindgen): a thin wrapper over [`crate::composer`].
//!
//! ```js
//! import init, { Composer, reconstruct } from "./pkg/kernrnn.js";
//! await init();
//! const composer = new Composer(new Uint8Array(await (await fetch("models/mozart.safetensors")).arrayBuffer()));
//! const sampling = composer.start({ seed: 1, temperature: 0.8, length: 2000 });
//! let raw = sampling.prime();
//! while (!sampling.done()) raw += sampling.next(500);   // yield to the page between chunks
//! sampling.free();
//! const score = reconstruct(raw, { title: composer.title({ seed: 1, temperature: 0.8 }) });
//! ```
//!
//! Every error (a truncated or foreign weights file, bad options, unknown prime characters) is
//! thrown as a JavaScript `Error` with a readable message.

use wasm_bindgen::prelude::*;

use crate::composer::{self, Composer as Inner, JsSampleOptions, JsScoreOptions};
use crate::sampler::Sampler;

fn options<T: serde::de::DeserializeOwned + Default>(value: JsValue) -> Result<T, JsError> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    serde_wasm_bindgen::from_value(value).map_err(|e| {
        let e = e.to_string();
        JsError::new(&format!("invalid options: {}", e.trim_start_matches("Error: ")))
    })
}

fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsError> {
    let s = serde_wasm_bindgen::Serializer::json_compatible();
    value.serialize(&s).map_err(|e| JsError::new(&e.to_string()))
}

fn sample_options(opts: JsValue) -> Result<crate::SampleOptions, JsError> {
    let js: JsSampleOptions = options(opts)?;
    js.resolve().map_err(|e| JsError::new(&e.to_string()))
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The library version (Cargo.toml's).
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
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
        to_js(&self.inner.info())
    }

    /// Where sampling runs: `"cpu"` (the only path in this build).
    pub fn backend(&self) -> String {
        self.inner.backend().as_str().to_string()
    }

    /// Starts a sample with `{ temperature, seed, prime, length, argmax, raw, meter }` (all
    /// optional, defaults as the command line: 0.8, 1, "@\n", 2000, false, false, "4/4").
    pub fn start(&self, opts: JsValue) -> Result<Sampling, JsError> {
        let opts = sample_options(opts)?;
        let sampler = self.inner.start(opts).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Sampling { sampler, backend: self.inner.backend() })
    }

    /// The score title `kernrnn sample --kern` writes for these sampling options.
    pub fn title(&self, opts: JsValue) -> Result<String, JsError> {
        Ok(self.inner.title(&sample_options(opts)?))
    }

    /// The complete **kern score of `raw`, sampled with `opts`, exactly as
    /// `kernrnn sample --kern` writes it: `{ kern, measures, droppedLines, spines, movements }`.
    pub fn score(&self, raw: &str, opts: JsValue) -> Result<JsValue, JsError> {
        to_js(&self.inner.score(raw, &sample_options(opts)?))
    }
}

/// A sample in progress.
#[wasm_bindgen]
pub struct Sampling {
    sampler: Sampler,
    backend: composer::Backend,
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

    /// Characters drawn so far (not counting the prime).
    pub fn produced(&self) -> usize {
        self.sampler.produced()
    }

    /// Characters to draw (the `length` option). With the grammar, sampling goes on to the end
    /// of the measure, so `produced()` may end above it.
    pub fn total(&self) -> usize {
        self.sampler.options().length
    }

    /// Measures whose rhythm the grammar had to let go (0 for the shipped models).
    #[wasm_bindgen(js_name = rhythmRelaxed)]
    pub fn rhythm_relaxed(&self) -> usize {
        self.sampler.rhythm_relaxed()
    }

    pub fn done(&self) -> bool {
        self.sampler.is_done()
    }

    /// Where this sample runs: `"cpu"`.
    pub fn backend(&self) -> String {
        self.backend.as_str().to_string()
    }
}

/// Turns a raw sample into a complete **kern score. Options: `{ title, meter: "3/4", tempoBpm }`.
#[wasm_bindgen]
pub fn reconstruct(raw: &str, opts: JsValue) -> Result<String, JsError> {
    let o: JsScoreOptions = options(opts)?;
    let o = o.resolve().map_err(|e| JsError::new(&e.to_string()))?;
    Ok(crate::kern::reconstruct(raw, &o))
}

/// Checks a **kern score as `kernrnn check` does: `{ valid, summary, measures, fullMeasures,
/// spineMeasures, problems: [{ line, kind, message }], problemCount }`.
#[wasm_bindgen(js_name = checkScore)]
pub fn check_score(kern: &str) -> Result<JsValue, JsError> {
    to_js(&composer::check_score(kern))
}

/// Like `reconstruct`, with what was done: `{ kern, measures, droppedLines, spines, movements }`.
#[wasm_bindgen(js_name = reconstructScore)]
pub fn reconstruct_score(raw: &str, opts: JsValue) -> Result<JsValue, JsError> {
    let o: JsScoreOptions = options(opts)?;
    let o = o.resolve().map_err(|e| JsError::new(&e.to_string()))?;
    to_js(&composer::score(raw, &o))
}
