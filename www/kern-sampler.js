// <kern-sampler>: composes a piece with kernrnn and engraves it, inside any page.
//
//   <script type="module" src="https://example.org/kernrnn/kern-sampler.js"></script>
//   <kern-sampler model="models/mozart.safetensors" seed="7" temperature="0.8" length="1500"></kern-sampler>
//
// The one script an embedding page includes: the WebAssembly composer, verovio and Tone.js are
// loaded relative to this file's own URL. Attributes: model (URL of a weights file; default: the
// first model of models/manifest.json beside this file), temperature, seed, length, prime,
// argmax (boolean), raw (boolean: no **kern grammar), meter ("auto", the default: from the
// music; or "3/4"), backend (auto | webgpu |
// cpu), autogenerate (boolean), continue (URL of a .krn score: the element continues it, its
// music unchanged), from-measure (with continue: keep the measures before this one and compose
// from its barline on).
// Method generate({ continueFrom, fromMeasure }) -> Promise<{ kern, raw, backend, chars,
// millis, ... }> (continueFrom: the text of a .krn score to continue instead of the continue
// attribute's); stop().
// Events: progress { chars, total }, done (the result), error { message }.

import {
  checkOptions,
  chooseBackend,
  continuation,
  fetchScore,
  loadManifest,
  loadModel,
  resolveAsset,
  sampleOn,
} from "./core.js";
import { SCORE_CSS, ScoreView } from "./score-view.js";

const ELEMENT_CSS = `
:host { display: block; font: 14px/1.4 system-ui, sans-serif; color: #222; background: #fafafa; border: 1px solid #ddd; border-radius: 6px; padding: .6rem; box-sizing: border-box; min-width: 0; }
:host([hidden]) { display: none; }
.bar { display: flex; align-items: center; gap: .5rem; flex-wrap: wrap; margin-bottom: .4rem; }
button { font: inherit; padding: .3rem .8rem; min-height: 2.2rem; cursor: pointer; }
button:focus-visible { outline: 3px solid #1565c0; outline-offset: 2px; }
progress { width: 100%; height: .5rem; }
progress:not([value]) { visibility: hidden; }
.status { color: #555; font-size: .9em; }
.error { color: #b00020; background: #fdecea; border: 1px solid #f5c2c0; border-radius: 4px; padding: .4rem .6rem; margin: .4rem 0; }
.error[hidden] { display: none; }
`;

/** Shared promise of the default model URL (first entry of the manifest beside this file). */
let defaultModel = null;
function defaultModelURL() {
  defaultModel ??= loadManifest().then((models) => {
    if (!models.length) throw new Error("no model attribute, and models/manifest.json lists no model");
    return models[0].url;
  });
  defaultModel.catch(() => (defaultModel = null));
  return defaultModel;
}

export class KernSampler extends HTMLElement {
  static observedAttributes = ["model"];

  #run = 0;
  #abort = null;
  #view;
  #shadow;
  #button;
  #status;
  #progress;
  #error;
  #result = null;

  constructor() {
    super();
    this.#shadow = this.attachShadow({ mode: "open" });
    const style = document.createElement("style");
    style.textContent = ELEMENT_CSS + SCORE_CSS;
    const bar = document.createElement("div");
    bar.className = "bar";
    this.#button = document.createElement("button");
    this.#button.type = "button";
    this.#button.part = "button";
    this.#button.textContent = "Compose";
    this.#button.addEventListener("click", () => {
      if (this.#abort) this.stop();
      else this.generate().catch(() => {}); // shown in the element and as an error event
    });
    this.#status = document.createElement("span");
    this.#status.className = "status";
    this.#status.part = "status";
    this.#status.setAttribute("role", "status");
    bar.append(this.#button, this.#status);
    this.#progress = document.createElement("progress");
    this.#progress.part = "progress";
    this.#progress.max = 1;
    this.#progress.removeAttribute("value");
    this.#progress.setAttribute("aria-label", "Composing progress");
    this.#error = document.createElement("div");
    this.#error.className = "error";
    this.#error.part = "error";
    this.#error.setAttribute("role", "alert");
    this.#error.hidden = true;
    const score = document.createElement("div");
    this.#shadow.append(style, bar, this.#progress, this.#error, score);
    this.#view = new ScoreView(score, { emptyText: "Press Compose to write a piece." });
  }

  connectedCallback() {
    if (this.hasAttribute("autogenerate") && !this.#result && !this.#abort) {
      queueMicrotask(() => this.generate().catch(() => {}));
    }
  }

  disconnectedCallback() {
    this.stop();
    this.#view.stop();
  }

  attributeChangedCallback() {
    this.#result = null;
  }

  /** The last result of generate(), or null. */
  get result() {
    return this.#result;
  }

  /** The URL of the weights file to use (attribute `model`, resolved against the page). */
  async modelURL() {
    const m = this.getAttribute("model");
    return m ? new URL(m, document.baseURI).href : defaultModelURL();
  }

  /** Stops a generate() in progress: it resolves with what was drawn so far (stopped: true). */
  stop() {
    this.#abort?.abort();
  }

  /**
   * Composes with the current attributes; with `continueFrom` (the text of a **kern score), or
   * the `continue` attribute (its URL), continues that score from `fromMeasure` (or the
   * `from-measure` attribute; none: its end). Resolves to { kern, raw, backend, chars, millis,
   * total, stopped, model, seed, temperature, backendReason }, and for a continuation
   * { fromMeasure, notices } too.
   */
  async generate({ continueFrom, fromMeasure } = {}) {
    this.#abort?.abort();
    const abort = new AbortController();
    this.#abort = abort;
    const run = ++this.#run;
    const current = () => run === this.#run;
    this.#error.hidden = true;
    this.#button.textContent = "Stop";
    this.#progress.value = 0;
    try {
      // The attributes as written: the library reads and checks them (a wrong one is named).
      const given = {
        temperature: this.getAttribute("temperature"),
        seed: this.getAttribute("seed"),
        length: this.getAttribute("length"),
        prime: this.getAttribute("prime"),
        argmax: this.hasAttribute("argmax") ? this.getAttribute("argmax") !== "false" : undefined,
        raw: this.hasAttribute("raw") ? this.getAttribute("raw") !== "false" : undefined,
        meter: this.getAttribute("meter"),
      };
      await checkOptions(given);
      this.#say("Loading…");
      const url = this.getAttribute("continue");
      const score = continueFrom != null ? { text: String(continueFrom), name: "the given score" } : url ? { text: await fetchScore(new URL(url, document.baseURI).href), name: url } : null;
      const model = await loadModel(await this.modelURL());
      const checked = await checkOptions(given, model);
      const from = fromMeasure ?? this.getAttribute("from-measure");
      const cont = score ? continuation(model, score.text, from, score.name) : null;
      const opts = cont ? cont.options(checked) : checked;
      const { composer, info } = model;
      if (!current()) throw superseded();
      const choice = await chooseBackend(this.getAttribute("backend") || "auto", model);
      if (!current()) throw superseded();
      this.#say(`Composing with ${info.name || "the model"} (${choice.backend.toUpperCase()})…`);
      const s = await sampleOn(model, choice, opts, {
        signal: abort.signal,
        onProgress: ({ chars, total, millis }) => {
          if (!current()) return;
          this.#progress.value = Math.min(1, chars / total);
          this.#say(`${chars} / ${total} characters · ${Math.round((chars * 1000) / Math.max(millis, 1))} chars/s`);
          this.dispatchEvent(new CustomEvent("progress", { detail: { chars, total } }));
        },
      });
      if (!current()) throw superseded();
      const kern = (cont || composer).score(s.raw, opts, {}).kern;
      const result = {
        kern,
        raw: s.raw,
        backend: s.backend,
        backendReason: s.reason,
        dispatches: s.dispatches,
        chars: s.chars,
        total: s.total,
        millis: Math.round(s.millis),
        stopped: s.stopped,
        model: info.name,
        seed: opts.seed,
        temperature: opts.temperature,
        // a continuation's: the measure the model writes first, and what its prime left out
        ...(cont ? { fromMeasure: cont.fromMeasure(), notices: cont.notices() } : {}),
      };
      this.#result = result;
      this.#progress.value = 1;
      this.#say(
        `${s.stopped ? "Stopped at" : "Composed"} ${s.chars} characters in ${(s.millis / 1000).toFixed(1)} s on the ${s.backend.toUpperCase()}` +
          (s.fallback ? ` (${s.reason})` : ""),
      );
      this.#button.textContent = "Compose";
      this.#abort = null;
      try {
        await this.#view.show(kern);
      } catch (e) {
        this.#view.note.textContent = `The score could not be engraved: ${e.message || e}`;
      }
      if (current()) this.dispatchEvent(new CustomEvent("done", { detail: result }));
      return result;
    } catch (e) {
      if (current()) {
        this.#abort = null;
        this.#button.textContent = "Compose";
        this.#progress.removeAttribute("value");
        this.#say("");
        if (e?.name !== "AbortError") {
          const message = String(e?.message || e);
          this.#error.textContent = message;
          this.#error.hidden = false;
          this.dispatchEvent(new CustomEvent("error", { detail: { message } }));
        }
      }
      throw e;
    }
  }

  #say(text) {
    this.#status.textContent = text;
  }
}

function superseded() {
  return new DOMException("superseded by a newer generate()", "AbortError");
}

if (!customElements.get("kern-sampler")) customElements.define("kern-sampler", KernSampler);

export { resolveAsset };
