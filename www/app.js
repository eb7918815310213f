// The composer page. The engine (core.js), the engraver and the score view are the same modules
// <kern-sampler> uses.

import {
  checkOptions,
  chooseBackend,
  continuation,
  download,
  loadManifest,
  loadModel,
  loadWasm,
  optionDefaults,
  randomSeed,
  sampleBatchOnGpu,
  sampleOn,
} from "./core.js";
import { getEngraver, showSvg } from "./engraver.js";
import { SCORE_CSS, ScoreView } from "./score-view.js";

const $ = (id) => document.getElementById(id);
const ui = {
  form: $("controls"),
  model: $("model"),
  modelInfo: $("model-info"),
  file: $("file"),
  continueFile: $("continue-file"),
  continueClear: $("continue-clear"),
  continueInfo: $("continue-info"),
  fromMeasure: $("from-measure"),
  regenerate: $("regenerate"),
  temperature: $("temperature"),
  seed: $("seed"),
  dice: $("dice"),
  length: $("length"),
  prime: $("prime"),
  argmax: $("argmax"),
  grammar: $("grammar"),
  meter: $("meter"),
  compose: $("compose"),
  stop: $("stop"),
  variations: $("variations"),
  backend: $("backend"),
  backendChoice: $("backend-choice"),
  progress: $("progress"),
  status: $("status"),
  error: $("error"),
  variationsPanel: $("variations-panel"),
  variationsList: $("variations-list"),
  variationsSeeds: $("variations-seeds"),
  pieceInfo: $("piece-info"),
  share: $("share"),
  textview: $("textview"),
  kern: $("kern"),
  raw: $("raw"),
  check: $("check"),
  checkSummary: $("check-summary"),
  checkProblems: $("check-problems"),
};

/** The page engraves at most this many measures (verovio needs minutes for thousands). */
const MAX_ENGRAVED_MEASURES = 300;
/** A variation's preview shows this many measures. */
const PREVIEW_MEASURES = 8;

const state = {
  defaults: null, // the library's option defaults and limits (optionDefaults)
  ready: null, // resolves once the defaults are in the form
  touched: new Set(), // the fields the user or the link set: the defaults never overwrite them
  models: [], // manifest entries
  fileModel: null, // { file, promise } for a weights file the user loaded
  backend: null,
  abort: null,
  piece: null, // { raw, kern, opts, userOpts, regens, cont, modelName, modelKey, backend, chars, millis, stopped }
  score: null, // { name, text, packed }: a score the user gave, which Compose continues
  pick: null, // the measure of the shown piece the user clicked, to regenerate from
  link: 0, // which link is being followed (a newer one supersedes it)
};

const style = document.createElement("style");
style.textContent = SCORE_CSS;
document.head.append(style);
const view = new ScoreView($("score"), {
  lane: "page",
  emptyText: "Compose a piece: its score appears here.",
  onMeasure: (n) => {
    state.pick = n;
    showRegenerate();
  },
});

function setState(s) {
  document.body.dataset.state = s;
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = false;
  setState("error");
}

function clearError() {
  ui.error.hidden = true;
  ui.error.textContent = "";
}

function say(text) {
  ui.status.textContent = text;
}

// ---------------------------------------------------------------------------------------------
// Models

function isUrlModel(v) {
  return /[/.]/.test(v);
}

function addOption(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  ui.model.append(o);
  return o;
}

function describe(entry) {
  const parts = [];
  if (entry.description) parts.push(entry.description);
  if (entry.layers && entry.hidden) parts.push(`${entry.layers}×${entry.hidden} LSTM`);
  if (entry.params) parts.push(`${(entry.params / 1e3).toFixed(0)}k parameters`);
  if (entry.valid_loss != null) parts.push(`validation loss ${Number(entry.valid_loss).toFixed(3)}`);
  if (entry.bytes) parts.push(`${(entry.bytes / 1e6).toFixed(1)} MB`);
  return parts.join(" · ");
}

function showModelInfo() {
  const v = ui.model.value;
  const entry = state.models.find((m) => m.name === v);
  if (entry) ui.modelInfo.textContent = describe(entry);
  else if (v === "file" && state.fileModel) ui.modelInfo.textContent = `your file ${state.fileModel.file.name} (links cannot include it)`;
  else if (v && isUrlModel(v)) ui.modelInfo.textContent = `weights from ${v}`;
  else ui.modelInfo.textContent = "";
}

/** { composer, info, key } of the selected model. */
async function selectedModel() {
  const v = ui.model.value;
  if (v === "file") {
    if (!state.fileModel) throw new Error("choose a weights file first");
    return withKey(await state.fileModel.promise, null);
  }
  const entry = state.models.find((m) => m.name === v);
  if (entry) return withKey(await loadModel(entry.url, `model ${entry.name} (${entry.file})`), entry.name);
  if (v && isUrlModel(v)) return withKey(await loadModel(new URL(v, location.href).href, v), v);
  throw new Error(state.models.length ? "choose a model" : "no model is available: load your own weights file");
}

/** The loaded model itself (not a copy: it carries the backend choice and its GPU twin). */
function withKey(model, key) {
  model.key = key;
  return model;
}

function selectModel(value) {
  if (!value) return;
  if (![...ui.model.options].some((o) => o.value === value)) {
    if (!isUrlModel(value)) {
      showError(`There is no model named "${value}" here; the models are: ${state.models.map((m) => m.name).join(", ") || "none"}.`);
      return;
    }
    addOption(value, `weights at ${value}`);
  }
  ui.model.value = value;
  showModelInfo();
}

/** Loads a weights file the user chose or dropped, and selects it. */
function loadWeightsFile(file) {
  clearError();
  const promise = loadModel(file, `your file ${file.name}`);
  state.fileModel = { file, promise };
  let opt = [...ui.model.options].find((o) => o.value === "file");
  opt ??= addOption("file", "");
  opt.textContent = `Your file: ${file.name}`;
  ui.model.value = "file";
  showModelInfo();
  promise.then(
    ({ info }) => (ui.modelInfo.textContent = `your file ${file.name}: ${info.name || "unnamed"}, ${info.layers}×${info.hidden} LSTM`),
    (e) => showError(e.message),
  );
}

// ---------------------------------------------------------------------------------------------
// Options and the URL

/** The option fields of the form, by option name. */
const FIELDS = {
  temperature: () => ui.temperature,
  seed: () => ui.seed,
  length: () => ui.length,
  prime: () => ui.prime,
  meter: () => ui.meter,
  argmax: () => ui.argmax,
  raw: () => ui.grammar,
};

/** The form's options as typed (text), checked by the library; rejects with what is wrong. */
function readForm(model = null) {
  return checkOptions(
    {
      temperature: ui.temperature.value,
      seed: ui.seed.value,
      length: ui.length.value,
      prime: ui.prime.value,
      argmax: ui.argmax.checked,
      raw: !ui.grammar.checked,
      meter: ui.meter.value,
    },
    model,
  );
}

/** Puts options (from the library, or a link's text) in the form; `only` limits which. */
function writeForm(o, only = Object.keys(FIELDS)) {
  for (const name of only) {
    if (o[name] === undefined || o[name] === null) continue;
    const v = o[name];
    if (name === "argmax") ui.argmax.checked = v === true || v === "" || v === "1" || v === "true";
    else if (name === "raw") ui.grammar.checked = !(v === true || v === "" || v === "1" || v === "true");
    else if (name === "meter") {
      if (![...ui.meter.options].some((x) => x.value === String(v))) addMeter(String(v));
      ui.meter.value = String(v);
    } else FIELDS[name]().value = String(v);
  }
}

function addMeter(m) {
  const o = document.createElement("option");
  o.value = o.textContent = m;
  ui.meter.append(o);
}

/** The library's defaults fill the fields nobody has set, and its limits bound the inputs. */
function applyDefaults(d) {
  state.defaults = d;
  // nor the field being typed in (its first keystroke may not have landed yet)
  const untouched = Object.keys(FIELDS).filter((name) => !state.touched.has(name) && FIELDS[name]() !== document.activeElement);
  writeForm(d.options, untouched);
  ui.temperature.max = d.maxTemperature;
  ui.length.max = d.maxLength;
  ui.seed.max = d.maxSeed;
}

/**
 * The address fragment for these options (only what differs from the defaults, but seed,
 * temperature and length). `backend` is where the piece was sampled: a piece from the GPU
 * says `backend=webgpu`, since its random stream differs from the CPU's, so the link recreates
 * it there (where WebGPU is missing, the CPU gives another piece).
 */
function optionsHash(opts, modelKey, backend = ui.backendChoice.value, regens = [], score = null) {
  // A piece continuing a score the link cannot hold has no link: its seed alone would give another.
  if (score && !score.packed) return "";
  const d = state.defaults.options;
  const p = new URLSearchParams();
  if (modelKey) p.set("model", modelKey);
  p.set("seed", opts.seed);
  p.set("temperature", opts.temperature);
  p.set("length", opts.length);
  if (opts.prime !== d.prime) p.set("prime", opts.prime);
  if (opts.argmax) p.set("argmax", "1");
  if (opts.raw) p.set("raw", "1");
  if (opts.meter !== d.meter) p.set("meter", opts.meter);
  if (backend && backend !== "auto") p.set("backend", backend);
  // The score it continues (when a link can hold it), and from which measure.
  if (score?.packed) {
    p.set("score", score.packed);
    p.set("scorename", score.name);
    if (score.from) p.set("scorefrom", score.from);
  }
  // Each regeneration: from which measure, with which seed (in order; see regenerateFrom).
  for (const r of regens) {
    p.append("from", r.from);
    p.append("seed2", r.seed);
  }
  return "#" + p.toString();
}

function setHash(hash) {
  if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname + location.search);
}

/** The option names a link may carry (besides model, backend and the regenerations). */
const LINK_OPTIONS = ["temperature", "seed", "length", "prime", "argmax", "raw", "meter"];
/** What else a link may carry: the model, the backend, the score continued, the regenerations. */
const LINK_PIECE = ["model", "backend", "score", "scorename", "scorefrom", "from", "seed2"];
/** The most regenerations a link may ask for (each composes the piece again). */
const MAX_LINK_REGENS = 8;

/**
 * Puts the URL fragment's options in the form as written (the library checks them when the
 * piece is composed: a wrong one is named then, never silently replaced); returns the options
 * as text, or null when the fragment has none, and whether it asks for a piece (has a seed).
 */
function applyHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  if (![...p.keys()].length) return { given: null, auto: false };
  const given = {};
  for (const name of LINK_OPTIONS) if (p.has(name)) given[name] = p.get(name);
  writeForm(given);
  for (const name of Object.keys(given)) state.touched.add(name);
  const unknown = [...p.keys()].filter((k) => !LINK_OPTIONS.includes(k) && !LINK_PIECE.includes(k));
  if (unknown.length) throw new Error(`unknown option${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")}`);
  const backend = p.get("backend") || "auto";
  if (![...ui.backendChoice.options].some((o) => o.value === backend)) {
    throw new Error(`backend must be auto, webgpu or cpu, got "${backend}"`);
  }
  ui.backendChoice.value = backend;
  if (p.get("model")) selectModel(p.get("model"));
  return { given, auto: p.has("seed"), regens: linkRegens(p), score: linkScore(p) };
}

/**
 * The regenerations a link asks for: `from` (a measure) and `seed2` pairs, in order. Their
 * values are the library's to check (a wrong one is named when the piece is composed).
 */
function linkRegens(p) {
  const from = p.getAll("from");
  const seeds = p.getAll("seed2");
  if (from.length !== seeds.length) throw new Error(`each "from" (a measure to regenerate from) needs its "seed2", got ${from.length} and ${seeds.length}`);
  if (from.length > MAX_LINK_REGENS) throw new Error(`at most ${MAX_LINK_REGENS} regenerations, got ${from.length}`);
  if (from.length && !p.has("seed")) throw new Error(`"from" regenerates a piece: the link needs its "seed"`);
  return from.map((f, i) => ({ from: f, seed: seeds[i] }));
}

/** The score a link continues: { packed, name, from } (packScore's text), or null. */
function linkScore(p) {
  if (!p.has("score")) {
    for (const k of ["scorename", "scorefrom"]) if (p.has(k)) throw new Error(`"${k}" belongs to a continued score: the link has no "score"`);
    return null;
  }
  if (!p.has("seed")) throw new Error(`"score" continues a score with a piece's options: the link needs its "seed"`);
  if (p.get("score").length > MAX_LINK_SCORE) throw new Error(`the score is ${p.get("score").length.toLocaleString("en")} characters long, more than a link may hold (${MAX_LINK_SCORE.toLocaleString("en")})`);
  return { packed: p.get("score"), name: p.get("scorename") || "the linked score", from: p.get("scorefrom") || "" };
}

/**
 * The longest score a link carries, as packScore writes it: browsers keep longer addresses
 * (Chromium 2 MB), but mail and chat programs cut them; every score of the corpus-extra
 * editions fits (the longest, 75 kB of **kern, packs to 29,047 characters).
 */
const MAX_LINK_SCORE = 100_000;
/** The most a link's score may inflate to: 2 MB of **kern, 25 times the longest movement. */
const MAX_LINK_SCORE_BYTES = 2_000_000;

/**
 * A score as a link carries it: { packed } (its UTF-8 text, deflated, in URL-safe base64), or
 * { packed: null, packedWhy } when it is longer than MAX_LINK_SCORE.
 */
async function packScore(text) {
  if (typeof CompressionStream === "undefined") return { packed: null, packedWhy: "this browser cannot compress it" };
  const deflated = new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("deflate-raw")));
  const bytes = new Uint8Array(await deflated.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  const packed = btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  if (packed.length > MAX_LINK_SCORE) return { packed: null, packedWhy: `${packed.length.toLocaleString("en")} characters packed, the most is ${MAX_LINK_SCORE.toLocaleString("en")}` };
  return { packed };
}

/** The text of a link's packed score; rejects, saying so, when the link damaged it. */
async function unpackScore(packed) {
  let bytes;
  try {
    const binary = atob(packed.replace(/-/g, "+").replace(/_/g, "/"));
    bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    throw new Error("its score is damaged (not URL-safe base64): was the link cut short?");
  }
  try {
    const reader = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw")).getReader();
    const chunks = [];
    let size = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      size += r.value.length;
      if (size > MAX_LINK_SCORE_BYTES) {
        reader.cancel();
        throw new RangeError(`its score is larger than ${MAX_LINK_SCORE_BYTES.toLocaleString("en")} bytes`);
      }
      chunks.push(r.value);
    }
    return new TextDecoder("utf-8", { fatal: true }).decode(await new Blob(chunks).arrayBuffer());
  } catch (e) {
    if (e instanceof RangeError) throw e;
    throw new Error("its score is damaged (it does not inflate to UTF-8 text): was the link cut short?");
  }
}

// ---------------------------------------------------------------------------------------------
// Composing

function busy(on) {
  ui.compose.disabled = on;
  ui.variations.disabled = on;
  ui.stop.disabled = !on;
  ui.model.disabled = on;
  ui.file.disabled = on;
  ui.continueFile.disabled = on;
  ui.regenerate.disabled = on || !state.piece;
  for (const b of document.querySelectorAll("[data-download], #share")) b.disabled = on || !state.piece;
  setState(on ? "composing" : state.piece ? "done" : "idle");
}

function rate(chars, millis) {
  return `${Math.round((chars * 1000) / Math.max(millis, 1)).toLocaleString("en")} chars/s`;
}

/** Shows where sampling runs and why (the page's "Backend:" line). */
function showBackend(b) {
  const where = b.backend === "webgpu" ? "WebGPU" : "CPU (WebAssembly)";
  ui.backend.textContent = b.backend === "auto" ? `Backend: auto. ${b.reason}; measured when you compose.` : `Backend: ${where}. ${b.reason}.`;
  ui.backend.dataset.backend = b.backend;
  if (b.webgpu) ui.backend.dataset.webgpu = b.webgpu.available ? "available" : "unavailable";
}

/**
 * The score of `raw` (sampled with `opts`) as the command line writes it, of at most `max`
 * measures (of the model's, when `cont` continues a score).
 */
function scoreOf(model, raw, opts, max, cont = null) {
  return (cont || model.composer).score(raw, opts, max ? { maxMeasures: max } : {});
}

/**
 * Samples one piece with live progress; `live` engraves the measures as they arrive. `backend`
 * forces a path ("cpu" for the variations one by one); by default the page's choice.
 */
async function composeOne(model, opts, { signal, live, progress, backend, extra = {} }) {
  let measures = 0;
  let lastDraw = 0;
  const choice = await chooseBackend(backend || ui.backendChoice.value, model);
  if (!backend) showBackend(choice);
  const s = await sampleOn(model, choice, opts, {
    signal,
    onProgress: ({ chars, total, raw, millis }) => {
      progress(chars, total, millis);
      const now = performance.now();
      if (live && now - lastDraw > 300 && measures < MAX_ENGRAVED_MEASURES) {
        lastDraw = now;
        ui.raw.textContent = raw;
        const score = scoreOf(model, raw, opts, MAX_ENGRAVED_MEASURES, extra.cont);
        if (score.measures > measures) {
          measures = score.measures;
          ui.kern.textContent = score.kern;
          view.show(score.kern, { follow: true }).catch(() => {});
        }
      }
    },
  });
  if (s.backend !== choice.backend) showBackend(s);
  return makePiece(model, opts, s, extra);
}

/**
 * A piece from a finished sample `s` ({ raw, chars, millis, backend, ... }): its score (the
 * downloads), what the page engraves (its first measures when it is long) and, for the
 * variations, a preview made when asked for. `extra`: { cont, userOpts, regens, score }
 * when it continues a score (`userOpts`: the options its link starts from; `score`: the
 * user's, as in state.score, or null for a piece regenerated from a measure).
 */
function makePiece(model, opts, s, { cont = null, userOpts = opts, regens = [], score = null } = {}) {
  const engraved = scoreOf(model, s.raw, opts, MAX_ENGRAVED_MEASURES, cont);
  const cut = engraved.measuresLeftOut > 0;
  const kern = cut ? scoreOf(model, s.raw, opts, 0, cont).kern : engraved.kern;
  const preview = () => scoreOf(model, s.raw, opts, PREVIEW_MEASURES, cont).kern;
  const from = cont ? cont.fromMeasure() : undefined;
  return { ...s, kern, engraved: engraved.kern, measures: engraved.measures + engraved.measuresLeftOut, preview, cut, opts, userOpts, regens, cont, from, score, modelName: model.info.name, modelKey: model.key };
}

/** A variation's `extra` (see makePiece): the continuation's, with the variation's seed. */
function variationExtra(extra, opts) {
  return extra.cont ? { ...extra, userOpts: { ...extra.userOpts, seed: opts.seed } } : {};
}

/** The 8 variations on the GPU in one batch (each dispatch advances all 8); null if it fails. */
async function variationsOnGpu(model, choice, optsList, signal, extra) {
  try {
    const total = optsList.reduce((a, o) => a + o.length, 0);
    const b = await sampleBatchOnGpu(model, optsList, {
      signal,
      onProgress: ({ produced, millis }) => {
        const chars = produced.reduce((a, n, i) => a + Math.min(n, optsList[i].length), 0);
        ui.progress.value = Math.min(1, chars / total);
        say(`8 variations at once on the GPU: ${chars.toLocaleString("en")} / ${total.toLocaleString("en")} characters · ${rate(chars, millis)}`);
      },
    });
    const perPiece = { backend: "webgpu", reason: choice.reason, fallback: false, dispatches: b.dispatches };
    return { pieces: b.pieces.map((s, i) => makePiece(model, optsList[i], { ...s, ...perPiece }, variationExtra(extra, optsList[i]))), dispatches: b.dispatches, millis: b.millis };
  } catch (e) {
    showBackend({ ...choice, backend: "cpu", fallback: true, reason: `WebGPU failed (${e.message || e}): the variations are sampled on the CPU (WebAssembly)` });
    return null;
  }
}

/**
 * Runs one composing task (a piece, or the variations): the form's options checked against
 * the selected model, the controls busy meanwhile, Stop and Escape abort it, any failure shown.
 * `task(model, opts, signal, extra)` does the work; when the user gave a score (and
 * `continuing`), `opts` continue it and `extra` is { cont, userOpts, score }.
 */
async function run(task, { continuing = true } = {}) {
  clearError();
  state.abort?.abort();
  const abort = new AbortController();
  state.abort = abort;
  busy(true);
  try {
    say("Loading the model…");
    await state.ready;
    const model = await selectedModel();
    const userOpts = await readForm(model);
    const given = continuing ? state.score : null;
    if (given && ui.fromMeasure.validity.badInput) throw new Error(`From measure must be the number of a measure of ${given.name}`);
    const score = given && { ...given, from: ui.fromMeasure.value.trim() };
    const cont = score ? continuation(model, score.text, score.from, score.name) : null;
    const opts = cont ? cont.options(userOpts) : userOpts;
    if (cont) showContinuing(score, cont);
    await task(model, opts, abort.signal, cont ? { cont, userOpts, score } : {});
  } catch (e) {
    showError(e.message || String(e));
    say("");
  } finally {
    // A newer run (Compose pressed again while this one engraved) owns the controls now.
    if (state.abort === abort) {
      state.abort = null;
      busy(false);
      if (!ui.error.hidden) setState("error");
    }
  }
}

function compose() {
  return run(composeTask);
}

/** Composes one piece (from scratch, or continuing `extra.cont`) and shows it. */
async function composeTask(model, opts, signal, extra = {}) {
  view.clear("Composing…");
  ui.kern.textContent = ui.raw.textContent = "";
  ui.check.hidden = true;
  state.piece = null;
  ui.progress.value = 0;
  setHash(optionsHash(extra.userOpts || opts, model.key, undefined, extra.regens, extra.score));
  say("Composing…");
  const piece = await composeOne(model, opts, {
    signal,
    extra,
    live: true,
    progress: (chars, total, millis) => {
      ui.progress.value = Math.min(1, chars / total);
      say(`${chars.toLocaleString("en")} / ${total.toLocaleString("en")} characters · ${rate(chars, millis)}`);
    },
  });
  say(
    `${piece.stopped ? "Stopped after" : "Composed"} ${piece.chars.toLocaleString("en")} characters in ` +
      `${(piece.millis / 1000).toFixed(1)} s (${rate(piece.chars, piece.millis)}) on the ${piece.backend === "webgpu" ? "GPU (WebGPU)" : "CPU"}` +
      (piece.dispatches ? `, ${piece.dispatches.toLocaleString("en")} GPU dispatches (${(piece.dispatches / Math.max(piece.chars, 1)).toFixed(2)} per character).` : "."),
  );
  if (piece.backend === "webgpu") setHash(optionsHash(piece.userOpts, model.key, "webgpu", piece.regens, piece.score));
  await setPiece(piece);
}

/** The checker's report on the score (`kernrnn check`): the same Rust code, in the wasm. */
async function showCheck(kern) {
  ui.check.hidden = true;
  ui.checkProblems.replaceChildren();
  if (!kern) return;
  const wasm = await loadWasm();
  const c = wasm.checkScore(kern);
  ui.check.dataset.valid = c.valid ? "1" : "0";
  ui.checkSummary.textContent =
    `Checker: ${c.valid ? "valid **kern" : `${c.problemCount} problem${c.problemCount === 1 ? "" : "s"}`} · ` + c.summary;
  for (const p of c.problems) {
    const li = document.createElement("li");
    li.textContent = `line ${p.line}: ${p.kind}: ${p.message}`;
    ui.checkProblems.append(li);
  }
  ui.check.hidden = false;
}

async function setPiece(piece) {
  state.piece = piece;
  ui.kern.textContent = piece.kern;
  ui.raw.textContent = piece.raw;
  showCheck(piece.kern).catch((e) => {
    ui.checkSummary.textContent = `Checker unavailable: ${e.message || e}`;
    ui.check.hidden = false;
  });
  ui.progress.value = 1;
  const how = [piece.score && `continues ${piece.score.name}`, piece.regens.length && "regenerated"].filter(Boolean).join(", ");
  const continued = piece.cont ? `${how}${piece.from != null ? ` from measure ${piece.from}` : ""}: ` : "";
  ui.pieceInfo.textContent = `${piece.modelName}, seed ${piece.opts.seed}, temperature ${piece.opts.temperature}` +
    (piece.opts.argmax ? ", argmax" : "") + (piece.opts.raw ? ", no grammar" : "") + ` · ${continued}${piece.measures} measures${piece.cont ? " by the model" : ""}` +
    (piece.cut ? ` · the score shows the ${piece.cont ? "model's " : ""}first ${MAX_ENGRAVED_MEASURES} measures; the downloads hold all` : "");
  busy(false);
  state.pick = null;
  showRegenerate();
  document.body.dataset.engraving = "1";
  try {
    await view.show(piece.engraved);
  } catch (e) {
    view.note.textContent = `The score could not be engraved: ${e.message || e}. The **kern text is beside it.`;
  } finally {
    if (state.piece === piece) delete document.body.dataset.engraving;
  }
}

function composeVariations() {
  return run(async (model, base, signal, extra) => {
    ui.variationsList.replaceChildren();
    ui.variationsPanel.hidden = false;
    ui.variationsSeeds.textContent = `${base.seed} to ${base.seed + 7}`;
    ui.progress.value = 0;
    const optsList = Array.from({ length: 8 }, (_, k) => ({ ...base, seed: base.seed + k }));
    const choice = await chooseBackend(ui.backendChoice.value, model);
    showBackend(choice);
    const gpu = choice.backend === "webgpu" ? await variationsOnGpu(model, choice, optsList, signal, extra) : null;
    if (gpu) {
      for (const piece of gpu.pieces) addVariation(piece);
      const chars = gpu.pieces.reduce((a, p) => a + p.chars, 0);
      say(
        `${signal.aborted ? "Stopped: " : ""}8 variations, ${chars.toLocaleString("en")} characters in ${(gpu.millis / 1000).toFixed(1)} s ` +
          `(${rate(chars, gpu.millis)}) on the GPU (WebGPU), ${gpu.dispatches.toLocaleString("en")} GPU dispatches for all 8 at once: pick one.`,
      );
      return;
    }
    const total = base.length * 8;
    for (let k = 0; k < 8 && !signal.aborted; k++) {
      const opts = optsList[k];
      const piece = await composeOne(model, opts, {
        signal,
        extra: variationExtra(extra, opts),
        live: false,
        backend: "cpu",
        progress: (chars, _total, millis) => {
          ui.progress.value = Math.min(1, (k * base.length + Math.min(chars, base.length)) / total);
          say(`Variation ${k + 1} of 8 (seed ${opts.seed}): ${chars.toLocaleString("en")} / ${base.length.toLocaleString("en")} characters · ${rate(chars, millis)}`);
        },
      });
      addVariation(piece);
    }
    say(signal.aborted ? "Stopped." : "8 variations composed: pick one.");
  });
}

function addVariation(piece) {
  const li = document.createElement("li");
  const h = document.createElement("h3");
  h.textContent = `Seed ${piece.opts.seed}`;
  const info = document.createElement("p");
  info.className = "hint";
  info.textContent = `${piece.measures} measures · ${piece.chars} characters${piece.stopped ? " (stopped)" : ""}`;
  const thumb = document.createElement("div");
  thumb.className = "thumb";
  thumb.setAttribute("role", "img");
  // a continuation's preview is the given score and the model's first measures: its last page
  // shows where the variations differ
  thumb.setAttribute("aria-label", piece.cont ? `The model's first measures with seed ${piece.opts.seed}` : `Start of the score with seed ${piece.opts.seed}`);
  const pick = document.createElement("button");
  pick.type = "button";
  pick.textContent = `Pick seed ${piece.opts.seed}`;
  pick.addEventListener("click", async () => {
    for (const other of ui.variationsList.children) other.classList.remove("picked");
    li.classList.add("picked");
    writeForm(piece.userOpts);
    setHash(optionsHash(piece.userOpts, piece.modelKey, piece.backend === "webgpu" ? "webgpu" : ui.backendChoice.value, [], piece.score));
    clearError();
    say(`Seed ${piece.opts.seed} picked.`);
    await setPiece(piece);
    $("piece").scrollIntoView({ behavior: "smooth", block: "start" });
  });
  li.append(h, info, thumb, pick);
  ui.variationsList.append(li);
  getEngraver()
    .call("render", piece.preview(), { scale: 25, pageWidth: 2400, pageHeight: 1200, adjustPageHeight: true }, piece.cont ? "last" : [1])
    .then((r) => r.pages[0] && showSvg(thumb, r.pages[0][1]))
    .catch((e) => (thumb.textContent = `(no preview: ${e.message || e})`));
}

// ---------------------------------------------------------------------------------------------
// Continuing a score, and regenerating a piece from a measure

/** Says what Compose continues, and what the library left out of the score to prime the model. */
function showContinuing(score, cont) {
  const from = cont ? cont.fromMeasure() : null;
  const notices = cont ? cont.notices() : [];
  ui.continueInfo.textContent =
    `Compose continues ${score.name}${from != null ? ` from measure ${from}` : ""}` +
    (score.packed ? "." : ` (${score.packedWhy}: links cannot hold it).`) +
    (notices.length ? ` Note: ${notices.join("; ")}.` : "");
}

/** Takes a .krn file (chosen or dropped) as the score Compose continues. */
async function setScoreFile(file) {
  clearError();
  let text;
  try {
    text = await file.text();
  } catch (e) {
    return showError(`Cannot read ${file.name}: ${e.message || e}`);
  }
  useScore({ name: file.name, text, ...(await packScore(text)) });
}

/** `score` ({ name, text, packed }) is what Compose continues. */
function useScore(score) {
  state.score = score;
  ui.continueClear.hidden = false;
  ui.compose.textContent = "Continue the score";
  showContinuing(state.score, null);
}

function clearScore() {
  state.score = null;
  ui.fromMeasure.value = "";
  ui.continueFile.value = "";
  ui.continueInfo.textContent = "";
  ui.continueClear.hidden = true;
  ui.compose.textContent = "Compose";
}

/** The Regenerate button names the measure it regenerates from (the one clicked). */
function showRegenerate() {
  const n = state.pick;
  ui.regenerate.textContent = n != null ? `Regenerate from measure ${n}` : "Regenerate from measure…";
  // a piece without the grammar is no score to continue
  ui.regenerate.disabled = !state.piece || !!state.abort || !!state.piece.opts.raw;
}

/** Regenerates the shown piece from the clicked measure with a new seed (the dice's). */
function regenerate() {
  const base = state.piece;
  if (!base) return;
  if (state.pick == null) {
    showError("Click a measure of the score to regenerate the piece from it.");
    return;
  }
  if (base.regens.length >= MAX_LINK_REGENS) {
    showError(`A piece is regenerated at most ${MAX_LINK_REGENS} times (its link holds ${MAX_LINK_REGENS}): download its .krn and continue that score.`);
    return;
  }
  return regenerateFrom(base, String(state.pick), randomSeed());
}

/**
 * Keeps the measures of `base` before measure `from` byte for byte and samples the rest again
 * with `seed`, the other options as `base`'s; the link records it (from, seed2).
 */
function regenerateFrom(base, from, seed) {
  if (base.modelKey && ui.model.value !== base.modelKey) selectModel(base.modelKey);
  return run(
    async (model, _form, signal) => {
      const cont = continuation(model, base.kern, from, "this piece");
      const opts = cont.options({ ...base.opts, prime: undefined, meter: "auto", seed });
      const regens = [...base.regens, { from: cont.fromMeasure() ?? from, seed }];
      await composeTask(model, opts, signal, { cont, userOpts: base.userOpts, regens, score: base.score });
    },
    { continuing: false },
  );
}

// ---------------------------------------------------------------------------------------------
// Downloads and sharing

function baseName(piece) {
  const model = String(piece.modelName || "model").replace(/[^A-Za-z0-9_-]+/g, "_");
  return piece.opts.argmax ? `kernrnn-${model}-argmax` : `kernrnn-${model}-seed${piece.opts.seed}`;
}

async function saveAs(kind) {
  const piece = state.piece;
  if (!piece) return;
  clearError();
  try {
    const name = `${baseName(piece)}.${kind}`;
    if (kind === "krn") return download(name, piece.kern, "text/plain;charset=utf-8");
    const engraver = getEngraver();
    if (kind === "mid") return download(name, await engraver.call("midi", piece.kern, {}), "audio/midi");
    if (kind === "svg") return download(name, await engraver.call("svg", piece.kern, view.layout()), "image/svg+xml");
    if (kind === "mei") return download(name, await engraver.call("mei", piece.kern, {}), "application/mei+xml");
  } catch (e) {
    showError(`Cannot make the .${kind} file: ${e.message || e}`);
  }
}

async function share() {
  const score = state.piece?.score;
  if (score && !score.packed) {
    say(`This piece continues your file ${score.name}, too long for a link (${score.packedWhy}): download its .krn to keep it.`);
    return;
  }
  const url = location.href;
  try {
    await navigator.clipboard.writeText(url);
    say("Link copied: it recreates this piece.");
  } catch {
    say(`Link to this piece: ${url}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Start

async function start() {
  for (const [name, field] of Object.entries(FIELDS)) field().addEventListener("input", () => state.touched.add(name));
  ui.form.addEventListener("submit", (e) => {
    e.preventDefault();
    compose();
  });
  ui.stop.addEventListener("click", () => state.abort?.abort());
  ui.variations.addEventListener("click", composeVariations);
  ui.dice.addEventListener("click", () => {
    ui.seed.value = randomSeed();
    state.touched.add("seed");
    ui.seed.focus();
  });
  ui.model.addEventListener("change", showModelInfo);
  ui.continueFile.addEventListener("change", () => ui.continueFile.files?.[0] && setScoreFile(ui.continueFile.files[0]));
  ui.continueClear.addEventListener("click", clearScore);
  ui.regenerate.addEventListener("click", regenerate);
  // A .krn dropped anywhere on the page is a score to continue; a .safetensors a model.
  document.addEventListener("dragover", (e) => {
    if ([...(e.dataTransfer?.types || [])].includes("Files")) e.preventDefault();
  });
  document.addEventListener("drop", (e) => {
    const file = e.dataTransfer?.files?.[0];
    if (!file) return;
    e.preventDefault();
    if (/\.safetensors$/i.test(file.name)) return loadWeightsFile(file);
    if (/\.(krn|kern|txt)$/i.test(file.name) || file.type.startsWith("text/")) return setScoreFile(file);
    showError(`Drop a .krn score (to continue it) or a .safetensors weights file, not ${file.name}.`);
  });
  ui.file.addEventListener("change", () => ui.file.files?.[0] && loadWeightsFile(ui.file.files[0]));
  for (const b of document.querySelectorAll("[data-download]")) b.addEventListener("click", () => saveAs(b.dataset.download));
  ui.share.addEventListener("click", share);
  ui.textview.addEventListener("change", () => {
    ui.kern.hidden = ui.textview.value !== "kern";
    ui.raw.hidden = ui.textview.value !== "raw";
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.abort) state.abort.abort();
  });
  window.addEventListener("hashchange", () => followLink(applyLink()));
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register("./sw.js").catch((e) => console.warn("no offline support:", e));
  }

  // Start the WebAssembly library, the engraver and the backend probe while the models load.
  state.ready = optionDefaults().then(applyDefaults);
  getEngraver();
  chooseBackend(ui.backendChoice.value).then(showBackend);
  ui.backendChoice.addEventListener("change", () => chooseBackend(ui.backendChoice.value).then(showBackend));

  ui.model.replaceChildren();
  try {
    state.models = await loadManifest(new URL("models/manifest.json", location.href));
  } catch (e) {
    showError(`${e.message}. You can still load your own weights file.`);
  }
  for (const m of state.models) addOption(m.name, m.name);
  if (!state.models.length) addOption("", "No shipped model: load your own file");
  showModelInfo();

  // The controls come alive with the link's options already in the form, in the same task:
  // what someone types from then on is never overwritten by the link, nor by the defaults
  // that come with the library.
  busy(false);
  const link = applyLink();
  if (!ui.error.hidden) setState("error");

  await state.ready; // a failure to load the library is shown by the catch below
  await followLink(link);
}

/** The URL fragment in the form: { given, auto } (see applyHash), or null with the error shown. */
function applyLink() {
  try {
    return applyHash();
  } catch (e) {
    showError(`This link's options are invalid: ${e.message}`);
    return null;
  }
}

/** Composes what a link asks for, once its options pass the library's check. */
async function followLink(link) {
  if (!link?.auto || !ui.error.hidden) return;
  const ticket = ++state.link;
  try {
    await checkOptions(link.given);
  } catch (e) {
    return showError(`This link's options are invalid: ${e.message}`);
  }
  // The link's piece: from scratch or continuing its score, then regenerated.
  if (link.score) {
    let text;
    try {
      text = await unpackScore(link.score.packed);
    } catch (e) {
      return showError(`This link's options are invalid: ${e.message}`);
    }
    useScore({ name: link.score.name, text, packed: link.score.packed });
    ui.fromMeasure.value = link.score.from;
  } else clearScore();
  await compose();
  for (const r of link.regens) {
    // stopped, failed, or superseded by another link: the rest would regenerate another piece
    if (ticket !== state.link || !state.piece || state.piece.stopped || !ui.error.hidden) return;
    await regenerateFrom(state.piece, r.from, r.seed);
  }
}

start().catch((e) => showError(e.message || String(e)));

