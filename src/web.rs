//! The WebAssembly API: a thin wrapper over [`crate::composer`], marked for wasm-bindgen only
//! when built for the browser (`cfg_attr(target_family = "wasm", wasm_bindgen)`), so native
//! builds type-check it and its tests run with `cargo test`.
//!
//! ```js
//! import init, { Composer, defaults, checkOptions, checkScore } from "./pkg/kernrnn.js";
//! await init();
//! const { options, maxLength } = defaults();             // the form's defaults and limits
//! const opts = checkOptions({ seed: "7", length: "2000" }); // throws with the reason
//! const composer = new Composer(new Uint8Array(await (await fetch("models/mozart.safetensors")).arrayBuffer()));
//! const sampling = composer.start(opts);
//! let raw = sampling.prime();
//! while (!sampling.done()) raw += sampling.next(500);   // yield to the page between chunks
//! sampling.free();
//! const { kern, measures } = composer.score(raw, opts, { maxMeasures: 200 });
//!
//! // On WebGPU (where there is one): the same methods, but `next` returns a Promise.
//! await initWebGpu();                       // rejects with the reason there is no GPU
//! const gpu = composer.gpu().start({ seed: 1, length: 2000 });
//! let text = gpu.prime();
//! while (!gpu.done()) text += await gpu.next(500);   // a dispatch and read-back (or more) per call
//! ```
//!
//! Every error (a truncated or foreign weights file, bad options, unknown prime characters) is
//! thrown as a JavaScript `Error` with a readable message.

use std::fmt::Display;

use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

use crate::composer::{self, Composer as Inner, JsSampleOptions, JsScoreOptions};
use crate::sampler::{SampleOptions, Sampler};

/// An error for JavaScript: thrown as an `Error` with this message. Every fallible function of
/// the API returns it, and every error of the library becomes one through `?`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebError(pub String);

impl<E: Display> From<E> for WebError {
    fn from(e: E) -> Self {
        WebError(e.to_string())
    }
}

impl From<WebError> for JsValue {
    fn from(e: WebError) -> JsValue {
        JsError::new(&e.0).into()
    }
}

/// Options from JavaScript (`undefined` and `null` are the defaults).
fn from_js<T: DeserializeOwned + Default>(value: JsValue) -> Result<T, WebError> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    serde_wasm_bindgen::from_value(value).map_err(|e| {
        let e = e.to_string();
        WebError(format!("invalid options: {}", e.trim_start_matches("Error: ")))
    })
}

fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, WebError> {
    let s = serde_wasm_bindgen::Serializer::json_compatible();
    Ok(value.serialize(&s)?)
}

#[cfg_attr(target_family = "wasm", wasm_bindgen(start))]
pub fn start() {
    #[cfg(target_family = "wasm")]
    console_error_panic_hook::set_once();
}

/// The library version (Cargo.toml's).
#[cfg_attr(target_family = "wasm", wasm_bindgen)]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// `{ options: { temperature, seed, prime, length, argmax, raw, meter }, maxLength,
/// maxTemperature, maxPrime, maxSeed }`: the defaults and limits of sampling options.
#[cfg_attr(target_family = "wasm", wasm_bindgen)]
pub fn defaults() -> Result<JsValue, WebError> {
    to_js(&composer::option_defaults())
}

/// Reads and checks sampling options (numbers may be text, as in a form or a link); returns
/// them complete and normalised, or throws with the first thing wrong.
#[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = checkOptions))]
pub fn check_options(opts: JsValue) -> Result<JsValue, WebError> {
    to_js(&composer::OptionsView::from(&resolve(from_js(opts)?)?))
}

fn resolve(opts: JsSampleOptions) -> Result<SampleOptions, WebError> {
    Ok(opts.resolve()?)
}

/// Checks a **kern score as `kernrnn check` does: `{ valid, summary, measures, fullMeasures,
/// spineMeasures, problems: [{ line, kind, message }], problemCount }`.
#[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = checkScore))]
pub fn check_score(kern: &str) -> Result<JsValue, WebError> {
    to_js(&composer::check_score(kern))
}

/// The velocity (0 to 1) of the notes of each line of a **kern score (index 0: its first
/// line), from its **dynam spines' dynamics: what playback sounds a note at line L with.
#[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = lineVelocities))]
pub fn line_velocities(kern: &str) -> Vec<f32> {
    crate::kern::playback::line_velocities(kern)
}

/// The first tempo a **kern score sets (`*MM`, quarter notes per minute), or `undefined`.
#[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = scoreTempo))]
pub fn score_tempo(kern: &str) -> Option<f32> {
    crate::kern::playback::tempo(kern)
}

/// A loaded model.
#[cfg_attr(target_family = "wasm", wasm_bindgen)]
pub struct Composer {
    inner: Inner,
}

#[cfg_attr(target_family = "wasm", wasm_bindgen)]
impl Composer {
    /// Loads a weights file from its bytes; a truncated or foreign file throws an Error.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(constructor))]
    pub fn new(bytes: &[u8]) -> Result<Composer, WebError> {
        Ok(Composer { inner: Inner::from_bytes(bytes)? })
    }

    /// `{ name, vocab, vocabSize, layers, hidden, params, validLoss, corpus, epochs }`.
    pub fn info(&self) -> Result<JsValue, WebError> {
        to_js(&self.inner.info())
    }

    /// Checks options as `checkOptions` does and against this model (its characters, and the
    /// grammar's support for them), without sampling; returns them complete, or throws.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = checkOptions))]
    pub fn check_options(&self, opts: JsValue) -> Result<JsValue, WebError> {
        let opts = resolve(from_js(opts)?)?;
        self.inner.check(&opts)?;
        to_js(&composer::OptionsView::from(&opts))
    }

    /// Starts a sample on the CPU with options as `checkOptions` reads them.
    pub fn start(&self, opts: JsValue) -> Result<Sampling, WebError> {
        self.start_with(from_js(opts)?)
    }

    /// The score title `kernrnn sample --kern` writes for these sampling options.
    pub fn title(&self, opts: JsValue) -> Result<String, WebError> {
        Ok(self.inner.title(&resolve(from_js(opts)?)?))
    }

    /// The logits after each character of `text` (fed from the zero state) on the CPU: an
    /// Array of Float32Arrays, to compare with `GpuComposer.logitsFor`.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = logitsFor))]
    pub fn logits_for(&self, text: &str) -> Result<js_sys::Array, WebError> {
        let rows = self.inner.logits_for(text)?;
        Ok(rows.iter().map(|r| js_sys::Float32Array::from(&r[..])).collect())
    }

    /// This model on the GPU (after `initWebGpu()` resolved); throws if the model does not fit
    /// the GPU sampler.
    #[cfg(feature = "webgpu")]
    pub fn gpu(&self) -> Result<gpu::GpuComposer, WebError> {
        gpu::GpuComposer::new(self)
    }

    /// A real **kern score to continue with this model, from the barline of measure
    /// `fromMeasure` (a whole number, or text of one) or, when that is `undefined`, `null` or
    /// empty, at its end: what `kernrnn sample --continue FILE --from-measure N` reads. Throws
    /// with the reason a text cannot be continued (not **kern, no music, no such measure).
    pub fn continuation(
        &self,
        kern: &str,
        from_measure: JsValue,
    ) -> Result<Continuation, WebError> {
        self.continuation_with(kern, from_js::<Option<composer::JsNumber>>(from_measure)?)
    }

    /// The complete **kern score of `raw`, sampled with `opts`, exactly as
    /// `kernrnn sample --kern` writes it; `score` options `{ maxMeasures }` keep only the first
    /// measures. Resolves to `{ kern, measures, droppedLines, spines, movements,
    /// measuresLeftOut }`.
    pub fn score(&self, raw: &str, opts: JsValue, score: JsValue) -> Result<JsValue, WebError> {
        to_js(&self.score_with(raw, from_js(opts)?, from_js(score)?)?)
    }
}

/// The API with Rust types, for native tests and for the JavaScript wrappers above.
impl Composer {
    pub fn continuation_with(
        &self,
        kern: &str,
        from_measure: Option<composer::JsNumber>,
    ) -> Result<Continuation, WebError> {
        let from = composer::from_measure(&from_measure)?;
        Ok(Continuation { inner: self.inner.continuing(kern, from)?, model: self.inner.clone() })
    }

    pub fn start_with(&self, opts: JsSampleOptions) -> Result<Sampling, WebError> {
        Ok(Sampling { sampler: self.inner.start(resolve(opts)?)? })
    }

    pub fn score_with(
        &self,
        raw: &str,
        opts: JsSampleOptions,
        score: JsScoreOptions,
    ) -> Result<composer::Score, WebError> {
        let (_, max_measures) = score.resolve()?;
        Ok(self.inner.score(raw, &resolve(opts)?, max_measures))
    }
}

/// A score being continued (`Composer.continuation`): sample with `options(opts)`, on the CPU
/// or the GPU, then make the score with `score(raw, opts)`.
#[cfg_attr(target_family = "wasm", wasm_bindgen)]
pub struct Continuation {
    inner: composer::Continuing,
    model: Inner,
}

#[cfg_attr(target_family = "wasm", wasm_bindgen)]
impl Continuation {
    /// What was left out of the score to prime the model (an Array of sentences).
    pub fn notices(&self) -> Result<JsValue, WebError> {
        to_js(&self.inner.notices)
    }

    /// The number of the measure the model writes first (`undefined` when the score numbers no
    /// barline).
    #[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = fromMeasure))]
    pub fn from_measure(&self) -> Option<u32> {
        self.inner.from_measure()
    }

    /// Sampling options for this continuation, as `checkOptions` returns them: `opts` primed
    /// with the score and in its meter; throws for a prime of one's own, another meter or
    /// `raw`.
    pub fn options(&self, opts: JsValue) -> Result<JsValue, WebError> {
        to_js(&composer::OptionsView::from(&self.options_with(from_js(opts)?)?))
    }

    /// The continued score of `raw` (sampled with `options(...)`): the given score unchanged,
    /// then the model's measures; `score` options `{ maxMeasures }` keep only the model's first
    /// measures. Resolves to `{ kern, measures, spines, measuresLeftOut, ... }`.
    pub fn score(&self, raw: &str, opts: JsValue, score: JsValue) -> Result<JsValue, WebError> {
        to_js(&self.score_with(raw, from_js(opts)?, from_js(score)?)?)
    }
}

impl Continuation {
    pub fn options_with(&self, opts: JsSampleOptions) -> Result<SampleOptions, WebError> {
        Ok(self.inner.options(&resolve(opts)?)?)
    }

    pub fn score_with(
        &self,
        raw: &str,
        opts: JsSampleOptions,
        score: JsScoreOptions,
    ) -> Result<composer::Score, WebError> {
        let (_, max_measures) = score.resolve()?;
        let title = self.model.title(&resolve(opts)?);
        Ok(self.inner.score(raw, &title, max_measures)?)
    }
}

/// A sample in progress on the CPU.
#[cfg_attr(target_family = "wasm", wasm_bindgen)]
pub struct Sampling {
    sampler: Sampler,
}

#[cfg_attr(target_family = "wasm", wasm_bindgen)]
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
    #[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = rhythmRelaxed))]
    pub fn rhythm_relaxed(&self) -> usize {
        self.sampler.rhythm_relaxed()
    }

    pub fn done(&self) -> bool {
        self.sampler.is_done()
    }

    /// Where this sample runs: `"cpu"` (a GpuSampling says `"webgpu"`).
    pub fn backend(&self) -> String {
        "cpu".into()
    }
}

/// The WebGPU sampler: a CubeCL kernel that runs a chunk of characters per dispatch
/// ([`crate::infer::gpu`]). JavaScript sets WebGPU up once with `initWebGpu()`, then gets a
/// model's GPU twin with `composer.gpu()`; its samplings have the CPU sampling's methods, with
/// `next` returning a Promise.
#[cfg(feature = "webgpu")]
pub mod gpu {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::sync::Arc;

    use wasm_bindgen::prelude::*;

    use super::{from_js, resolve, Composer, WebError};
    use crate::infer::gpu::{GpuDevice, GpuModel};
    use crate::kern::clock::UNKNOWN;
    use crate::sampler::gpu::GpuSampling as Inner;

    thread_local! {
        static DEVICE: RefCell<Option<GpuDevice>> = const { RefCell::new(None) };
        // The set-up's promise: a second initWebGpu() before the first resolves waits for the
        // same request instead of starting another.
        static SETUP: RefCell<Option<js_sys::Promise>> = const { RefCell::new(None) };
    }

    /// A rejection value for a Promise.
    fn rejection(e: impl std::fmt::Display) -> JsValue {
        WebError(e.to_string()).into()
    }

    /// Requests the WebGPU adapter and device (once per page); resolves to the adapter's
    /// description, rejects with the reason there is none.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = initWebGpu))]
    pub fn init_web_gpu() -> js_sys::Promise {
        SETUP.with(|setup| {
            setup
                .borrow_mut()
                .get_or_insert_with(|| {
                    wasm_bindgen_futures::future_to_promise(async {
                        let device = GpuDevice::init().await.map_err(rejection)?;
                        let adapter = device.adapter.clone();
                        DEVICE.with(|d| *d.borrow_mut() = Some(device));
                        Ok(JsValue::from(adapter))
                    })
                })
                .clone()
        })
    }

    /// A model's weights on the GPU.
    #[cfg_attr(target_family = "wasm", wasm_bindgen)]
    pub struct GpuComposer {
        model: Arc<GpuModel>,
    }

    impl GpuComposer {
        pub(super) fn new(composer: &Composer) -> Result<GpuComposer, WebError> {
            let device = DEVICE
                .with(|d| d.borrow().clone())
                .ok_or_else(|| WebError("WebGPU is not set up: await initWebGpu() first".into()))?;
            let model = GpuModel::new(&device, composer.inner.model().clone())?;
            Ok(GpuComposer { model: Arc::new(model) })
        }
    }

    #[cfg_attr(target_family = "wasm", wasm_bindgen)]
    impl GpuComposer {
        /// The adapter this model runs on.
        pub fn adapter(&self) -> String {
            self.model.adapter().to_string()
        }

        /// Starts a sample with the options of `Composer.start` (the prime is fed on the CPU).
        pub fn start(&self, opts: JsValue) -> Result<GpuSampling, WebError> {
            let inner = Inner::new(self.model.clone(), resolve(from_js(opts)?)?)?;
            Ok(GpuSampling { inner: Rc::new(RefCell::new(Some(inner))) })
        }

        /// Starts several samples that every dispatch advances together (variations): an
        /// Array of option objects sharing temperature and argmax; `nextBatch` gives their text.
        #[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = startBatch))]
        pub fn start_batch(&self, opts: js_sys::Array) -> Result<GpuSampling, WebError> {
            let opts =
                opts.iter().map(|o| resolve(from_js(o)?)).collect::<Result<Vec<_>, WebError>>()?;
            let inner = Inner::batch(self.model.clone(), opts)?;
            Ok(GpuSampling { inner: Rc::new(RefCell::new(Some(inner))) })
        }

        /// Resolves to the logits after each character of `text` (at most 64), fed from the
        /// zero state, the measure clock "unknown" throughout: an Array of Float32Arrays, to compare with `Composer.logitsFor`.
        #[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = logitsFor))]
        pub fn logits_for(&self, text: String) -> js_sys::Promise {
            let model = self.model.clone();
            wasm_bindgen_futures::future_to_promise(async move {
                let tokens = model.cpu().vocab().encode(&text).map_err(rejection)?;
                let rows = model.logits_for(&tokens, UNKNOWN).await.map_err(rejection)?;
                let rows: js_sys::Array =
                    rows.iter().map(|r| js_sys::Float32Array::from(&r[..])).collect();
                Ok(rows.into())
            })
        }
    }

    /// A sample in progress on the GPU.
    #[cfg_attr(target_family = "wasm", wasm_bindgen)]
    pub struct GpuSampling {
        // Taken out while a chunk is on the GPU, so a second `next` before the first resolves
        // is an error rather than a double borrow.
        inner: Rc<RefCell<Option<Inner>>>,
    }

    const BUSY: &str = "this sampling is busy: await next() first";

    /// Takes the sampling out of its cell for a chunk on the GPU (put it back after).
    fn take_idle(cell: &RefCell<Option<Inner>>) -> Result<Inner, JsValue> {
        cell.borrow_mut().take().ok_or_else(|| rejection(BUSY))
    }

    impl GpuSampling {
        fn with<T>(&self, f: impl FnOnce(&Inner) -> T) -> Result<T, WebError> {
            self.inner.borrow().as_ref().map(f).ok_or_else(|| WebError(BUSY.into()))
        }
    }

    #[cfg_attr(target_family = "wasm", wasm_bindgen)]
    impl GpuSampling {
        pub fn prime(&self) -> Result<String, WebError> {
            self.with(|s| s.options().prime.clone())
        }

        /// Resolves to up to `max` more characters (at least one unless done): one dispatch and
        /// read-back, or more while refused lines give no character.
        pub fn next(&self, max: usize) -> js_sys::Promise {
            let cell = self.inner.clone();
            wasm_bindgen_futures::future_to_promise(async move {
                let mut s = take_idle(&cell)?;
                let mut out = String::new();
                let result = s.next_chunk(max.max(1), &mut out).await;
                *cell.borrow_mut() = Some(s);
                result.map_err(rejection)?;
                Ok(JsValue::from(out))
            })
        }

        /// Resolves to an Array of the text each sample of a batch drew in one dispatch, or in
        /// as many as it took for one to give a character (at most `max` characters each).
        #[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = nextBatch))]
        pub fn next_batch(&self, max: usize) -> js_sys::Promise {
            let cell = self.inner.clone();
            wasm_bindgen_futures::future_to_promise(async move {
                let mut s = take_idle(&cell)?;
                let mut outs = vec![String::new(); s.len()];
                let result = s.next_batch(max.max(1), &mut outs).await;
                *cell.borrow_mut() = Some(s);
                result.map_err(rejection)?;
                Ok(outs.into_iter().map(JsValue::from).collect::<js_sys::Array>().into())
            })
        }

        /// Characters drawn so far by the first sample (not counting the prime).
        pub fn produced(&self) -> Result<usize, WebError> {
            self.with(|s| s.produced())
        }

        /// Characters drawn so far by each sample of a batch.
        #[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = producedEach))]
        pub fn produced_each(&self) -> Result<Vec<usize>, WebError> {
            self.with(|s| s.produced_each())
        }

        pub fn total(&self) -> Result<usize, WebError> {
            self.with(|s| s.options().length)
        }

        pub fn done(&self) -> Result<bool, WebError> {
            self.with(|s| s.is_done())
        }

        /// Runs every dispatch for `steps` characters (8, 16, 32 or 64; at most 32 with the
        /// grammar) instead of adapting to the grammar (benchmarks).
        #[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = fixSteps))]
        pub fn fix_steps(&self, steps: usize) -> Result<(), WebError> {
            let mut cell = self.inner.borrow_mut();
            let s = cell.as_mut().ok_or_else(|| WebError(BUSY.into()))?;
            s.fix_steps(steps);
            Ok(())
        }

        /// Kernel launches so far (one per chunk).
        pub fn dispatches(&self) -> Result<usize, WebError> {
            self.with(|s| s.dispatches())
        }

        #[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = rhythmRelaxed))]
        pub fn rhythm_relaxed(&self) -> Result<usize, WebError> {
            self.with(|s| s.rhythm_relaxed())
        }

        pub fn backend(&self) -> String {
            "webgpu".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::composer::tests::composer;
    use crate::composer::{JsNumber, JsSampleOptions, JsScoreOptions};

    fn web_composer() -> Composer {
        Composer::new(&composer().1).unwrap()
    }

    #[test]
    fn a_sampling_started_through_the_api_is_the_library_sample() {
        let c = web_composer();
        let opts = JsSampleOptions {
            seed: Some(JsNumber::Number(4.0)),
            length: Some(JsNumber::Text("300".into())),
            ..Default::default()
        };
        let mut s = c.start_with(opts.clone()).unwrap();
        let mut text = s.prime();
        while !s.done() {
            text += &s.next(64);
        }
        let lib =
            crate::sampler::sample(c.inner.model().clone(), &opts.resolve().unwrap()).unwrap();
        assert_eq!(text, lib);
        assert_eq!(s.backend(), "cpu");
    }

    #[test]
    fn a_prime_the_model_cannot_read_is_refused_before_sampling() {
        let c = web_composer();
        let opts = crate::SampleOptions { prime: "@\nZ".into(), ..Default::default() };
        let e = c.inner.check(&opts).unwrap_err().to_string();
        assert!(e.contains("'Z'"), "{e}");
    }

    #[test]
    fn a_truncated_weights_file_is_an_error_message_not_a_panic() {
        let bytes = composer().1;
        let e = Composer::new(&bytes[..bytes.len() / 2]).err().unwrap();
        assert!(e.0.contains("not a kernrnn weights file"), "{e:?}");
    }

    #[test]
    fn bad_options_are_one_error_message_through_the_api() {
        let c = web_composer();
        let opts = JsSampleOptions {
            temperature: Some(JsNumber::Text("hot".into())),
            ..Default::default()
        };
        let e = c.start_with(opts).err().unwrap();
        assert_eq!(e.0, "temperature must be a number above 0 and at most 10, got \"hot\"");
    }

    #[test]
    fn the_page_score_is_the_command_line_score_cut_to_the_measure_limit() {
        let c = web_composer();
        let opts = JsSampleOptions { length: Some(JsNumber::Number(600.0)), ..Default::default() };
        let resolved = opts.resolve().unwrap();
        let raw = crate::sampler::sample(c.inner.model().clone(), &resolved).unwrap();
        let whole = c.score_with(&raw, opts.clone(), JsScoreOptions::default()).unwrap();
        assert_eq!(whole.kern, c.inner.score(&raw, &resolved, None).kern);
        let cut = JsScoreOptions { max_measures: Some(1.0), ..Default::default() };
        let first = c.score_with(&raw, opts, cut).unwrap();
        assert!(first.measures <= 1, "{}", first.kern);
    }
}
