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
//!
//! // On WebGPU (where there is one): the same methods, but `next` returns a Promise.
//! await initWebGpu();                       // rejects with the reason there is no GPU
//! const gpu = composer.gpu().start({ seed: 1, length: 2000 });
//! let text = gpu.prime();
//! while (!gpu.done()) text += await gpu.next(500);   // one dispatch and one read-back per call
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
        Inner::from_bytes(bytes)
            .map(|inner| Composer { inner })
            .map_err(|e| JsError::new(&e.to_string()))
    }

    /// `{ name, vocab, vocabSize, layers, hidden, params, validLoss, corpus, epochs }`.
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.info())
    }

    /// Where `start` samples: `"cpu"` (the GPU sampler is `gpu().start`).
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

    /// The logits after each character of `text` (fed from the zero state) on the CPU: an
    /// Array of Float32Arrays, to compare with `GpuComposer.logitsFor`.
    #[wasm_bindgen(js_name = logitsFor)]
    pub fn logits_for(&self, text: &str) -> Result<js_sys::Array, JsError> {
        let rows = self.inner.logits_for(text).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(rows.iter().map(|r| js_sys::Float32Array::from(&r[..])).collect())
    }

    /// This model on the GPU (after `initWebGpu()` resolved); throws if the model does not fit
    /// the GPU sampler.
    #[cfg(feature = "webgpu")]
    pub fn gpu(&self) -> Result<gpu::GpuComposer, JsError> {
        gpu::GpuComposer::new(self)
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

    /// Where this sample runs: `"cpu"` (a GpuSampling says `"webgpu"`).
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

/// The WebGPU sampler: a CubeCL kernel that runs a chunk of characters per dispatch
/// ([`crate::infer::gpu`]). JavaScript sets WebGPU up once with `initWebGpu()`, then gets a
/// model's GPU twin with `composer.gpu()`; its samplings have the CPU sampling's methods, with
/// `next` returning a Promise.
#[cfg(feature = "webgpu")]
mod gpu {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::sync::Arc;

    use wasm_bindgen::prelude::*;

    use super::{sample_options, Composer};
    use crate::infer::gpu::{GpuDevice, GpuModel, GpuSampling as Inner};

    thread_local! {
        static DEVICE: RefCell<Option<GpuDevice>> = const { RefCell::new(None) };
        // The set-up's promise: a second initWebGpu() before the first resolves waits for the
        // same request instead of starting another.
        static SETUP: RefCell<Option<js_sys::Promise>> = const { RefCell::new(None) };
    }

    fn js_err(e: impl std::fmt::Display) -> JsError {
        JsError::new(&e.to_string())
    }

    /// Requests the WebGPU adapter and device (once per page); resolves to the adapter's
    /// description, rejects with the reason there is none.
    #[wasm_bindgen(js_name = initWebGpu)]
    pub fn init_web_gpu() -> js_sys::Promise {
        SETUP.with(|setup| {
            setup
                .borrow_mut()
                .get_or_insert_with(|| {
                    wasm_bindgen_futures::future_to_promise(async {
                        let device =
                            GpuDevice::init().await.map_err(|e| JsValue::from(js_err(e)))?;
                        let adapter = device.adapter.clone();
                        DEVICE.with(|d| *d.borrow_mut() = Some(device));
                        Ok(JsValue::from(adapter))
                    })
                })
                .clone()
        })
    }

    /// A model's weights on the GPU.
    #[wasm_bindgen]
    pub struct GpuComposer {
        model: Arc<GpuModel>,
    }

    impl GpuComposer {
        pub(super) fn new(composer: &Composer) -> Result<GpuComposer, JsError> {
            let device = DEVICE
                .with(|d| d.borrow().clone())
                .ok_or_else(|| JsError::new("WebGPU is not set up: await initWebGpu() first"))?;
            let model = GpuModel::new(&device, composer.inner.model().clone()).map_err(js_err)?;
            Ok(GpuComposer { model: Arc::new(model) })
        }
    }

    #[wasm_bindgen]
    impl GpuComposer {
        /// The adapter this model runs on.
        pub fn adapter(&self) -> String {
            self.model.adapter().to_string()
        }

        /// Starts a sample with the options of `Composer.start` (the prime is fed on the CPU).
        pub fn start(&self, opts: JsValue) -> Result<GpuSampling, JsError> {
            let opts = sample_options(opts)?;
            let inner = Inner::new(self.model.clone(), opts).map_err(js_err)?;
            Ok(GpuSampling { inner: Rc::new(RefCell::new(Some(inner))) })
        }

        /// Starts several samples that every dispatch advances together (variations): an
        /// Array of option objects sharing temperature and argmax; `nextBatch` gives their text.
        #[wasm_bindgen(js_name = startBatch)]
        pub fn start_batch(&self, opts: js_sys::Array) -> Result<GpuSampling, JsError> {
            let opts = opts.iter().map(sample_options).collect::<Result<Vec<_>, _>>()?;
            let inner = Inner::batch(self.model.clone(), opts).map_err(js_err)?;
            Ok(GpuSampling { inner: Rc::new(RefCell::new(Some(inner))) })
        }

        /// Resolves to the logits after each character of `text` (at most 64), fed from the
        /// zero state: an Array of Float32Arrays, to compare with `Composer.logitsFor`.
        #[wasm_bindgen(js_name = logitsFor)]
        pub fn logits_for(&self, text: String) -> js_sys::Promise {
            let model = self.model.clone();
            wasm_bindgen_futures::future_to_promise(async move {
                let tokens =
                    model.cpu().vocab().encode(&text).map_err(|e| JsValue::from(js_err(e)))?;
                let rows = model.logits_for(&tokens).await.map_err(|e| JsValue::from(js_err(e)))?;
                Ok(rows
                    .iter()
                    .map(|r| js_sys::Float32Array::from(&r[..]))
                    .collect::<js_sys::Array>()
                    .into())
            })
        }
    }

    /// A sample in progress on the GPU.
    #[wasm_bindgen]
    pub struct GpuSampling {
        // Taken out while a chunk is on the GPU, so a second `next` before the first resolves
        // is an error rather than a double borrow.
        inner: Rc<RefCell<Option<Inner>>>,
    }

    const BUSY: &str = "this sampling is busy: await next() first";

    /// Takes the sampling out of its cell for a chunk on the GPU (put it back after).
    fn take_idle(cell: &RefCell<Option<Inner>>) -> Result<Inner, JsValue> {
        cell.borrow_mut().take().ok_or_else(|| JsError::new(BUSY).into())
    }

    impl GpuSampling {
        fn with<T>(&self, f: impl FnOnce(&Inner) -> T) -> Result<T, JsError> {
            self.inner.borrow().as_ref().map(f).ok_or_else(|| JsError::new(BUSY))
        }
    }

    #[wasm_bindgen]
    impl GpuSampling {
        pub fn prime(&self) -> Result<String, JsError> {
            self.with(|s| s.options().prime.clone())
        }

        /// Resolves to up to `max` more characters (at least one unless done): one dispatch and
        /// one read-back.
        pub fn next(&self, max: usize) -> js_sys::Promise {
            let cell = self.inner.clone();
            wasm_bindgen_futures::future_to_promise(async move {
                let mut s = take_idle(&cell)?;
                let mut out = String::new();
                let result = s.next_chunk(max.max(1), &mut out).await;
                *cell.borrow_mut() = Some(s);
                result.map_err(|e| JsValue::from(js_err(e)))?;
                Ok(JsValue::from(out))
            })
        }

        /// Resolves to an Array of the text each sample of a batch drew in one dispatch (at
        /// most `max` characters each).
        #[wasm_bindgen(js_name = nextBatch)]
        pub fn next_batch(&self, max: usize) -> js_sys::Promise {
            let cell = self.inner.clone();
            wasm_bindgen_futures::future_to_promise(async move {
                let mut s = take_idle(&cell)?;
                let mut outs = vec![String::new(); s.len()];
                let result = s.next_batch(max.max(1), &mut outs).await;
                *cell.borrow_mut() = Some(s);
                result.map_err(|e| JsValue::from(js_err(e)))?;
                Ok(outs.into_iter().map(JsValue::from).collect::<js_sys::Array>().into())
            })
        }

        /// Characters drawn so far by the first sample (not counting the prime).
        pub fn produced(&self) -> Result<usize, JsError> {
            self.with(|s| s.produced())
        }

        /// Characters drawn so far by each sample of a batch.
        #[wasm_bindgen(js_name = producedEach)]
        pub fn produced_each(&self) -> Result<Vec<usize>, JsError> {
            self.with(|s| s.produced_each())
        }

        pub fn total(&self) -> Result<usize, JsError> {
            self.with(|s| s.options().length)
        }

        pub fn done(&self) -> Result<bool, JsError> {
            self.with(|s| s.is_done())
        }

        /// Runs every dispatch for `steps` characters (8, 16, 32 or 64) instead of adapting
        /// to the grammar (benchmarks).
        #[wasm_bindgen(js_name = fixSteps)]
        pub fn fix_steps(&self, steps: usize) -> Result<(), JsError> {
            let mut cell = self.inner.borrow_mut();
            let s = cell.as_mut().ok_or_else(|| JsError::new(BUSY))?;
            s.fix_steps(steps);
            Ok(())
        }

        /// Kernel launches so far (one per chunk).
        pub fn dispatches(&self) -> Result<usize, JsError> {
            self.with(|s| s.dispatches())
        }

        #[wasm_bindgen(js_name = rhythmRelaxed)]
        pub fn rhythm_relaxed(&self) -> Result<usize, JsError> {
            self.with(|s| s.rhythm_relaxed())
        }

        pub fn backend(&self) -> String {
            "webgpu".into()
        }
    }
}
