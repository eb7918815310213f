// The composer engine shared by the page (app.js) and <kern-sampler> (kern-sampler.js):
// the WebAssembly library, weights files, sampling in chunks, backend reporting.
// Every URL is resolved against this module's own URL, so the files work from any base path.

const here = (path) => new URL(path, import.meta.url);

let wasmPromise = null;
let wasmGeneration = 0; // bumped when a GPU failure may have left the WebAssembly instance broken

/** Loads and starts the WebAssembly library once; rejects with a readable Error. */
export function loadWasm() {
  if (!wasmPromise) {
    const generation = wasmGeneration;
    wasmPromise = (async () => {
      let mod;
      // A new query gives a new module record, so a new instance with fresh memory.
      const js = here("./pkg/kernrnn.js");
      if (generation) js.searchParams.set("instance", String(generation));
      try {
        mod = await import(js.href);
      } catch (e) {
        throw new Error(`cannot load the composer's JavaScript (pkg/kernrnn.js): ${e.message || e}`);
      }
      try {
        await mod.default({ module_or_path: here("./pkg/kernrnn_bg.wasm") });
      } catch (e) {
        throw new Error(
          `cannot start the composer's WebAssembly (pkg/kernrnn_bg.wasm): ${e.message || e}. ` +
            "A current browser with WebAssembly SIMD (Chrome 91, Firefox 89, Safari 16.4 or later) is needed.",
        );
      }
      return mod;
    })();
    wasmPromise.catch(() => {
      wasmPromise = null; // a later attempt may succeed (e.g. back online)
    });
  }
  return wasmPromise;
}

/** Downloads a file as bytes, with an Error naming the URL and the HTTP status on failure. */
export async function fetchBytes(url, what = "file") {
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`cannot download the ${what} ${url}: ${e.message || e} (offline, or a wrong URL?)`);
  }
  if (!res.ok) {
    throw new Error(`cannot download the ${what} ${url}: HTTP ${res.status}${res.statusText ? " " + res.statusText : ""}`);
  }
  return new Uint8Array(await res.arrayBuffer());
}

/** Downloads a **kern score (text), with an Error naming it when it is not text. */
export async function fetchScore(url) {
  const bytes = await fetchBytes(url, "score");
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`the score ${url} is not text (not UTF-8): is it a .krn file?`);
  }
}

/**
 * The continuation of the **kern `text` from measure `from` (empty, null or undefined: its
 * end), read for `model` by the library (the code of `kernrnn sample --continue`): sample with
 * `cont.options(opts)`, score with `cont.score(raw, opts, {})`. Throws the reason a text cannot
 * be continued, naming it as `name`.
 */
export function continuation(model, text, from, name = "the score") {
  try {
    return model.composer.continuation(text, from);
  } catch (e) {
    throw new Error(`Cannot continue ${name}: ${e.message || e}`);
  }
}

/** The list of shipped models (models/manifest.json beside these files), with absolute URLs. */
export async function loadManifest(url = here("./models/manifest.json")) {
  const bytes = await fetchBytes(url, "model list");
  let json;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new Error(`the model list ${url} is not valid JSON: ${e.message}`);
  }
  const models = Array.isArray(json.models) ? json.models : [];
  return models
    .filter((m) => m && typeof m.name === "string" && typeof m.file === "string")
    .map((m) => ({ ...m, url: new URL(m.file, url).href }));
}

const composers = new Map(); // url -> Promise<{ composer, info }>

/**
 * A loaded model: `source` is a URL (cached: two users of one URL share the model) or the bytes
 * of a weights file (ArrayBuffer, Uint8Array, Blob/File). `label` names it in error messages.
 */
export function loadModel(source, label) {
  if (typeof source === "string" || source instanceof URL) {
    const url = new URL(source, document.baseURI).href;
    if (!composers.has(url)) {
      const p = (async () => openModel(await fetchBytes(url, "model"), label || url))();
      composers.set(url, p);
      p.catch(() => composers.delete(url));
    }
    return composers.get(url);
  }
  return (async () => {
    let bytes = source;
    if (typeof Blob !== "undefined" && source instanceof Blob) bytes = new Uint8Array(await source.arrayBuffer());
    else if (source instanceof ArrayBuffer) bytes = new Uint8Array(source);
    return openModel(bytes, label || source.name || "the weights file");
  })();
}

async function openModel(bytes, label) {
  const wasm = await loadWasm();
  let composer;
  try {
    composer = new wasm.Composer(bytes);
  } catch (e) {
    throw new Error(`${label}: ${e.message || e}`);
  }
  return { composer, info: composer.info(), label, bytes };
}

/** Lets the event loop run (input, rendering, a Stop click) between sampling chunks. */
export function yieldToEventLoop() {
  if (globalThis.scheduler?.yield) return globalThis.scheduler.yield();
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => resolve();
    ch.port2.postMessage(0);
  });
}

/**
 * The sampling loops' driver: runs `step` (one chunk) until `sampling.done()` or `signal`
 * aborts, letting the page breathe between chunks: a quick yield keeps input working, and a
 * painted frame every ~100 ms shows the progress. Resolves to true when stopped by `signal`.
 */
async function eachChunk(sampling, signal, step) {
  let painted = performance.now();
  while (!sampling.done()) {
    if (signal?.aborted) return true;
    await step();
    if (performance.now() - painted > 100) {
      await nextFrame();
      painted = performance.now();
    } else {
      await yieldToEventLoop();
    }
  }
  return false;
}

/** Waits for the next frame to be painted (at most `maxWait` ms: hidden tabs paint none). */
function nextFrame(maxWait = 50) {
  if (typeof requestAnimationFrame !== "function") return yieldToEventLoop();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, maxWait);
    requestAnimationFrame(() => {
      clearTimeout(timer);
      setTimeout(resolve, 0); // after the paint that follows this frame's callbacks
    });
  });
}

/**
 * Samples `opts` ({ temperature, seed, length, prime, argmax, raw, meter }) in chunks, yielding
 * to the page between them. `onProgress({ chars, total, raw, millis })` runs after each chunk
 * (with the grammar, sampling finishes the last measure, so `chars` may end above `total`);
 * `signal` (an AbortSignal) stops early, keeping what was drawn.
 * Resolves to { raw, chars, total, millis, stopped }.
 */
export async function sample(composer, opts, options = {}) {
  try {
    return await sampleChunks(composer, opts, options);
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) {
      throw new Error(`the composer crashed (${e.message}): this is a bug, please report it; reload the page to go on`);
    }
    throw e;
  }
}

async function sampleChunks(composer, opts, { onProgress, signal, chunkMillis = 30 }) {
  const sampling = composer.start(opts); // throws an Error for bad options (named)
  const t0 = performance.now();
  let raw = sampling.prime();
  let chunk = 32;
  try {
    const stopped = await eachChunk(sampling, signal, async () => {
      const t = performance.now();
      raw += await chunkText(sampling.next(chunk), "sampling a chunk");
      const dt = performance.now() - t;
      // Aim at ~chunkMillis of work per chunk: responsive Stop, few yields.
      chunk = Math.max(16, Math.min(2000, Math.round((chunk * chunkMillis) / Math.max(dt, 0.5))));
      onProgress?.({ chars: sampling.produced(), total: sampling.total(), raw, millis: performance.now() - t0 });
    });
    const dispatches = typeof sampling.dispatches === "function" ? sampling.dispatches() : 0;
    return { raw, chars: sampling.produced(), total: sampling.total(), millis: performance.now() - t0, stopped, dispatches };
  } finally {
    sampling.free();
  }
}

let gpuProbe = null;

/** What this browser offers for WebGPU: { available, adapter } or { available: false, reason }. */
export function probeWebGPU() {
  gpuProbe ??= (async () => {
    if (!globalThis.navigator?.gpu) return { available: false, reason: "this browser has no WebGPU (navigator.gpu is missing)" };
    try {
      const adapter = await navigator.gpu.requestAdapter();
      if (!adapter) return { available: false, reason: "WebGPU is present but offers no adapter" };
      const i = adapter.info || {};
      const name = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(" ") || "unnamed adapter";
      return { available: true, adapter: name };
    } catch (e) {
      return { available: false, reason: `WebGPU adapter request failed: ${e.message || e}` };
    }
  })();
  return gpuProbe;
}

/**
 * A chunk's text: the CPU sampling returns it at once, the GPU's as a Promise, which may never
 * settle after a wasm panic; that one gets a time-out.
 */
function chunkText(result, what) {
  return typeof result === "string" ? result : withTimeout(result, 30000, what);
}

/** Rejects with "`what` timed out" if `promise` has not settled after `ms` (a wasm panic leaves it pending). */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${Math.round(ms / 1000)} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

let gpuSetup = null;

/**
 * Sets up the WebGPU sampler once per page: { available: true, adapter } or
 * { available: false, reason }. Never rejects.
 */
export function setupWebGPU() {
  gpuSetup ??= (async () => {
    const probe = await probeWebGPU();
    if (!probe.available) return probe;
    let wasm;
    try {
      wasm = await loadWasm();
    } catch (e) {
      return { available: false, reason: e.message || String(e) };
    }
    if (typeof wasm.initWebGpu !== "function") return { available: false, reason: "this build has no WebGPU sampler" };
    try {
      const adapter = await withTimeout(wasm.initWebGpu(), 20000, "the WebGPU device request");
      return { available: true, adapter: probe.adapter !== "unnamed adapter" ? probe.adapter : adapter };
    } catch (e) {
      return { available: false, reason: `WebGPU could not be set up: ${e.message || e}` };
    }
  })();
  return gpuSetup;
}

/** The model's weights on the GPU (uploaded once per model); throws with the reason. */
function gpuTwin(model) {
  if (!model.gpu) model.gpu = model.composer.gpu();
  return model.gpu;
}

/** How long `backend=auto` samples on each path to compare them (after a warm-up). */
const AUTO_MILLIS = 300;

/** chars/s of a short sample with the default options on `target` (a Composer or a GpuComposer). */
async function measureRate(target, millis) {
  const sampling = target.start({ seed: 7, length: 100000 });
  try {
    await chunkText(sampling.next(32), "the warm-up chunk"); // compiles GPU kernels
    const before = sampling.produced();
    const t0 = performance.now();
    while (performance.now() - t0 < millis && !sampling.done()) {
      await chunkText(sampling.next(64), "a timing chunk");
    }
    const dt = performance.now() - t0;
    return ((sampling.produced() - before) * 1000) / Math.max(dt, 1);
  } finally {
    sampling.free();
  }
}

const fmtRate = (r) => `${Math.round(r).toLocaleString("en")} chars/s`;

/**
 * Picks where `model` (from loadModel) samples for a request of "auto", "webgpu" or "cpu".
 * "webgpu" uses the GPU whenever it can be set up; "auto" times a short sample on each path
 * (once per model) and keeps the faster. Anything that fails falls back to the CPU, with the
 * reason. Without a model only the availability is reported. Never rejects.
 * Resolves to { backend, requested, fallback, reason, webgpu, rates? }.
 */
export async function chooseBackend(requested = "auto", model = null) {
  let req = String(requested || "auto").trim().toLowerCase();
  const unknown = ["auto", "webgpu", "cpu"].includes(req) ? "" : `unknown backend "${requested}" (use auto, webgpu or cpu); `;
  if (unknown) req = "auto";
  const cpu = (reason, extra = {}) => ({ backend: "cpu", requested: req, fallback: req === "webgpu" || !!unknown, reason: unknown + reason, ...extra });
  if (req === "cpu") return cpu("CPU requested", { webgpu: await probeWebGPU() });
  const gpu = await setupWebGPU();
  const withGpu = (r) => ({ ...r, webgpu: gpu });
  if (!gpu.available) return withGpu(cpu(`${gpu.reason}: sampling on the CPU (WebAssembly)`));
  if (!model) {
    return withGpu({ backend: req === "webgpu" ? "webgpu" : "auto", requested: req, fallback: false, reason: unknown + `WebGPU adapter: ${gpu.adapter}` });
  }
  model.backendChoice ??= new Map();
  if (!model.backendChoice.has(req)) {
    model.backendChoice.set(req, (async () => {
      let twin;
      try {
        twin = gpuTwin(model);
      } catch (e) {
        return cpu(`${e.message || e}: sampling on the CPU (WebAssembly)`);
      }
      if (req === "webgpu") return { backend: "webgpu", requested: req, fallback: false, reason: `WebGPU requested; adapter: ${gpu.adapter}` };
      try {
        const gpuRate = await measureRate(twin, AUTO_MILLIS);
        const cpuRate = await measureRate(model.composer, AUTO_MILLIS);
        const rates = { webgpu: gpuRate, cpu: cpuRate };
        const faster = gpuRate > cpuRate ? "webgpu" : "cpu";
        const reason = `auto: measured WebGPU (${gpu.adapter}) ${fmtRate(gpuRate)} against the CPU (WebAssembly) ${fmtRate(cpuRate)}; the ${faster === "webgpu" ? "GPU" : "CPU"} is faster here`;
        return { backend: faster, requested: req, fallback: false, reason: unknown + reason, rates };
      } catch (e) {
        return cpu(`WebGPU failed while timing it (${e.message || e}): sampling on the CPU (WebAssembly)`);
      }
    })());
  }
  return withGpu(await model.backendChoice.get(req));
}

/**
 * After a GPU failure (a lost device, a driver error: wgpu treats them as fatal, which can leave
 * the WebAssembly instance that ran them broken), the page samples on the CPU of a new instance:
 * `model` is reopened there, other models reopen on their next use, and WebGPU is off for the
 * page with `reason`.
 */
async function abandonGpu(model, reason) {
  wasmGeneration += 1;
  wasmPromise = null;
  composers.clear();
  gpuSetup = Promise.resolve({ available: false, reason: `WebGPU failed earlier on this page (${reason})` });
  const fresh = await openModel(model.bytes, model.label);
  model.composer = fresh.composer;
  model.gpu = null;
  model.backendChoice = new Map();
}

/**
 * Samples on the backend `choice` picked (chooseBackend) and falls back to the CPU, restarting
 * the sample there, if the GPU fails on the way. Resolves to sample()'s result plus
 * { backend, reason, fallback, dispatches }.
 */
export async function sampleOn(model, choice, opts, options = {}) {
  if (choice.backend === "webgpu") {
    model.composer.checkOptions(opts); // bad options throw here, named, before the GPU is involved
    try {
      return { ...(await sample(gpuTwin(model), opts, options)), backend: "webgpu", reason: choice.reason, fallback: false };
    } catch (e) {
      const reason = `WebGPU failed (${e.message || e}): sampled again on the CPU (WebAssembly)`;
      await abandonGpu(model, reason);
      return { ...(await sample(model.composer, opts, options)), backend: "cpu", reason, fallback: true };
    }
  }
  return { ...(await sample(model.composer, opts, options)), backend: "cpu", reason: choice.reason, fallback: !!choice.fallback };
}

/**
 * Samples several option sets (variations, sharing temperature and argmax) together on the GPU:
 * each dispatch advances all of them, one workgroup each. `onProgress({ produced, millis })`
 * runs after each dispatch (`produced`: characters per sample). Resolves to
 * { pieces: [{ raw, chars, total, millis, stopped }], dispatches, millis }.
 */
export async function sampleBatchOnGpu(model, optsList, options = {}) {
  try {
    return await batchOnGpu(model, optsList, options);
  } catch (e) {
    await abandonGpu(model, `WebGPU failed (${e.message || e})`);
    throw e;
  }
}

async function batchOnGpu(model, optsList, { onProgress, signal }) {
  const batch = gpuTwin(model).startBatch(optsList);
  const t0 = performance.now();
  const raws = optsList.map((o) => o.prime);
  try {
    const stopped = await eachChunk(batch, signal, async () => {
      const parts = await withTimeout(batch.nextBatch(100000), 30000, "sampling a chunk of the variations");
      parts.forEach((p, i) => (raws[i] += p));
      onProgress?.({ produced: [...batch.producedEach()], millis: performance.now() - t0 });
    });
    const produced = [...batch.producedEach()];
    const millis = performance.now() - t0;
    const pieces = raws.map((raw, i) => ({ raw, chars: produced[i], total: optsList[i].length, millis, stopped }));
    return { pieces, dispatches: batch.dispatches(), millis };
  } finally {
    batch.free();
  }
}

/**
 * The sampling options' defaults and limits, from the library (their one source is Rust's
 * `SampleOptions`): { options: { temperature, seed, prime, length, argmax, raw, meter },
 * maxLength, maxTemperature, maxPrime, maxSeed }.
 */
export async function optionDefaults() {
  return (await loadWasm()).defaults();
}

/**
 * Reads and checks sampling options given as values or text (form fields, attributes, a
 * link): the library's own check. Resolves to the complete options
 * { temperature, seed, prime, length, argmax, raw, meter }, or rejects with the first thing
 * wrong. With a model, also checks them against it (its characters, the grammar's support).
 */
export async function checkOptions(given, model = null) {
  const wasm = await loadWasm();
  const opts = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined && v !== null));
  return model ? model.composer.checkOptions(opts) : wasm.checkOptions(opts);
}

/** A random seed for the dice button. */
export function randomSeed() {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0] % 1000000;
}

/** Saves bytes or text as a download named `name`. */
export function download(name, data, type) {
  const blob = data instanceof Blob ? data : new Blob([data], { type });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.style.display = "none";
  document.body.append(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 1000);
}

/** Creates a module worker from `url`, also when `url` is on another origin than the page. */
export function spawnWorker(url) {
  try {
    return new Worker(url, { type: "module" });
  } catch (e) {
    if (e?.name !== "SecurityError") throw e;
    const shim = `import ${JSON.stringify(String(url))};`;
    return new Worker(URL.createObjectURL(new Blob([shim], { type: "text/javascript" })), { type: "module" });
  }
}

export { here as resolveAsset };
