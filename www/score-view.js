// An engraved score, one page at a time, with page navigation and playback that highlights the
// sounding notes and turns the pages. Used by the page and by <kern-sampler>.

import { loadWasm } from "./core.js";
import { getEngraver, layoutFor, showSvg } from "./engraver.js";
import { Player } from "./player.js";

/** The tempo control's range, in quarter notes per minute, and verovio's tempo for a score with no `*MM`. */
const MIN_TEMPO = 20;
const MAX_TEMPO = 400;
const DEFAULT_TEMPO = 120;

/** Styles of the view (the page and the element's shadow root both adopt them). */
export const SCORE_CSS = `
.kr-score { display: flex; flex-direction: column; gap: .4rem; min-width: 0; }
.kr-nav { display: flex; align-items: center; gap: .5rem; flex-wrap: wrap; }
.kr-nav button { min-width: 2.6rem; min-height: 2.2rem; }
.kr-page { background: #fff; color: #000; border: 1px solid #ccc; border-radius: 4px; min-height: 6rem; overflow: hidden; }
.kr-page svg { display: block; width: 100%; height: auto; }
.kr-page:empty::before { content: attr(data-empty); display: block; padding: 1.5rem; color: #666; font-style: italic; }
.kr-page svg g.kr-playing, .kr-page svg g.kr-playing * { fill: #1565c0; stroke: #1565c0; }
/* verovio paints ties that never close (a sample's loose ends) red: grey is enough. */
svg g.tie.hanging, svg g.tie.hanging * { fill: #9e9e9e; stroke: #9e9e9e; }
.kr-note { font-size: .9em; color: #8a5a00; }
.kr-tempo { display: inline-flex; align-items: center; gap: .3rem; font-size: .9em; }
.kr-tempo input { width: 4.5em; min-height: 2rem; }
.kr-pick svg g.measure { cursor: pointer; }
.kr-page svg g.measure.kr-picked > g.staff > *:not(path) { fill: #8a5a00; stroke: #8a5a00; }
`;

export class ScoreView {
  /**
   * Builds the view inside `root` (an element). `lane` keeps its renders apart from others.
   * With `onMeasure(n)`, a click on a measure picks it (marked) and calls it with its number.
   */
  constructor(root, { lane = Symbol("score"), scale = 40, emptyText = "No score yet.", onMeasure = null } = {}) {
    this.lane = lane;
    this.scale = scale;
    this.kern = null;
    this.options = null; // verovio layout of this.kern
    this.pageCount = 0;
    this.cache = new Map(); // page index -> SVG text
    this.index = 0;
    this.turned = false;
    this.lit = new Set(); // ids of the notes sounding now
    this.playToken = null; // set while playing (or loading what to play)
    this.player = new Player();
    this.width = 0;

    const nav = el("div", "kr-nav");
    this.prevButton = button("‹", "Previous page");
    this.label = el("span", "kr-pages");
    this.label.setAttribute("aria-live", "polite");
    this.nextButton = button("›", "Next page");
    this.playButton = button("▶ Play");
    this.playButton.classList.add("kr-play");
    const tempo = el("label", "kr-tempo", "♩ =");
    this.tempoInput = el("input");
    Object.assign(this.tempoInput, { type: "number", min: MIN_TEMPO, max: MAX_TEMPO, step: 1, inputMode: "numeric" });
    this.tempoInput.setAttribute("aria-label", "Tempo of playback (quarter notes per minute)");
    this.tempoInput.addEventListener("input", () => (this.tempoTouched = true));
    this.tempoTouched = false;
    tempo.append(this.tempoInput);
    this.note = el("span", "kr-note");
    nav.append(this.prevButton, this.label, this.nextButton, this.playButton, tempo, this.note);
    this.pageEl = el("div", "kr-page");
    this.pageEl.dataset.empty = emptyText;
    this.pageEl.setAttribute("role", "img");
    this.pageEl.setAttribute("aria-label", "Engraved score");
    this.root = el("div", "kr-score");
    this.root.append(nav, this.pageEl);
    root.append(this.root);

    this.prevButton.addEventListener("click", () => this.go(this.index - 1, true));
    this.nextButton.addEventListener("click", () => this.go(this.index + 1, true));
    this.playButton.addEventListener("click", () => (this.playToken ? this.stop() : this.play()));
    if (onMeasure) {
      this.pageEl.classList.add("kr-pick");
      this.pageEl.addEventListener("click", (e) => this.pick(e.target.closest?.("g.measure"), onMeasure));
    }
    this.updateNav();
    if (typeof ResizeObserver !== "undefined") {
      let timer = 0;
      new ResizeObserver(() => {
        clearTimeout(timer);
        timer = setTimeout(() => this.relayout(), 250);
      }).observe(this.pageEl);
    }
  }

  layout() {
    this.width = this.pageEl.clientWidth || this.root.clientWidth || 800;
    return layoutFor(this.width, this.scale);
  }

  /**
   * Engraves `kern` and shows a page: the current one, or with `follow` the last one (for a
   * score that is still growing) unless the reader has turned pages. Resolves to true when
   * shown, false when a newer score superseded it; rejects when verovio cannot read it.
   */
  async show(kern, { follow = false } = {}) {
    if (kern !== this.kern) this.stop();
    const options = this.layout();
    const want = follow && !this.turned ? "last" : [this.index + 1];
    const result = await getEngraver().latest(this.lane, "render", kern, options, want);
    if (!result) return false;
    this.kern = kern;
    this.options = options;
    if (!this.tempoTouched) this.scoreTempo(kern).then((t) => !this.tempoTouched && this.kern === kern && (this.tempoInput.value = t));
    this.pageCount = result.pageCount;
    this.cache = new Map(result.pages.map(([n, svg]) => [n - 1, svg]));
    const [[shown]] = result.pages.length ? result.pages : [[1]];
    this.index = Math.max(0, Math.min(shown - 1, this.pageCount - 1));
    this.draw();
    return true;
  }

  /** The tempo the score sets (`*MM`), else verovio's. */
  async scoreTempo(kern) {
    const t = (await loadWasm()).scoreTempo(kern);
    return Math.round(t ?? DEFAULT_TEMPO);
  }

  /** The tempo control's value; one out of range is replaced by the score's, visibly. */
  async tempo(kern) {
    const chosen = Number(this.tempoInput.value);
    if (this.tempoInput.value.trim() !== "" && chosen >= MIN_TEMPO && chosen <= MAX_TEMPO) return chosen;
    const own = await this.scoreTempo(kern);
    if (this.tempoInput.value.trim() !== "") this.tempoNote = `The tempo must be ${MIN_TEMPO} to ${MAX_TEMPO} quarter notes per minute, not "${this.tempoInput.value}": playing at the score's ${own}.`;
    this.tempoInput.value = own;
    this.tempoTouched = false;
    return own;
  }

  /** Forgets the score (a new piece starts). */
  clear(emptyText) {
    this.stop();
    this.tempoTouched = false;
    this.kern = null;
    this.pageCount = 0;
    this.cache.clear();
    this.index = 0;
    this.turned = false;
    if (emptyText) this.pageEl.dataset.empty = emptyText;
    this.pageEl.replaceChildren();
    this.note.textContent = "";
    this.updateNav();
  }

  async relayout() {
    if (!this.kern || Math.abs((this.pageEl.clientWidth || 0) - this.width) < 40) return;
    await this.show(this.kern).catch(() => {});
  }

  /** Shows page `i` (0-based), rendering it when needed. */
  async go(i, byReader = false) {
    if (i < 0 || i >= this.pageCount) return;
    if (byReader) this.turned = true;
    this.index = i;
    if (!this.cache.has(i)) {
      const kern = this.kern;
      this.updateNav();
      const r = await getEngraver().call("render", kern, this.options, [i + 1]);
      if (this.kern !== kern) return;
      for (const [n, svg] of r.pages) this.cache.set(n - 1, svg);
      if (this.index !== i) return;
    }
    this.draw();
  }

  draw() {
    const svg = this.cache.get(this.index);
    if (svg) {
      showSvg(this.pageEl, svg);
      for (const id of this.lit) this.find(id)?.classList.add("kr-playing");
    }
    this.pageEl.setAttribute("aria-label", `Engraved score, page ${this.index + 1} of ${this.pageCount}`);
    this.updateNav();
  }

  updateNav() {
    const n = this.pageCount;
    this.label.textContent = n ? `Page ${this.index + 1} of ${n}` : "";
    this.prevButton.disabled = this.index <= 0;
    this.nextButton.disabled = this.index >= n - 1;
    this.prevButton.hidden = this.nextButton.hidden = n <= 1;
    this.playButton.disabled = !n;
  }

  async play() {
    if (!this.kern) return;
    const kern = this.kern;
    const token = (this.playToken = {});
    this.playButton.textContent = "■ Stop";
    this.note.textContent = "";
    try {
      const data = await getEngraver().call("playback", kern, this.options);
      if (this.playToken !== token) return; // stopped, or a new score, meanwhile
      if (!data.notes.length) throw new Error("this score has no notes to play");
      this.tempoNote = "";
      const speed = (await this.tempo(kern)) / (await this.scoreTempo(kern));
      this.note.textContent = this.tempoNote;
      const velocities = (await loadWasm()).lineVelocities(kern);
      this.lit.clear();
      await this.player.play(data, {
        velocities,
        speed,
        onLoading: (loaded, total) => this.playToken === token && (this.note.textContent = `Loading the piano: ${loaded} of ${total} samples…`),
        onInstrument: (name, reason) => {
          if (this.playToken !== token) return;
          this.root.dataset.instrument = name;
          const synth = reason ? `Playing on a synthesizer: the piano did not load (${reason}).` : "";
          this.note.textContent = [this.tempoNote, synth].filter(Boolean).join(" ");
        },
        current: () => this.playToken === token,
        onEvent: (e) => {
          for (const id of e.off) {
            this.lit.delete(id);
            this.find(id)?.classList.remove("kr-playing");
          }
          for (const id of e.on) {
            this.lit.add(id);
            const page = (data.pageOf[id] || 1) - 1;
            if (page !== this.index) this.go(page);
            else this.find(id)?.classList.add("kr-playing");
          }
        },
        onEnd: () => {
          if (this.playToken === token) this.stop();
        },
      });
    } catch (e) {
      if (this.playToken === token) this.stop();
      this.note.textContent = `Cannot play: ${e.message || e}`;
    }
  }

  /** Stops playback (or its start) and clears the highlights. */
  stop() {
    this.playToken = null;
    this.player.stop();
    this.lit.clear();
    this.playButton.textContent = "▶ Play";
    for (const g of this.pageEl.querySelectorAll(".kr-playing")) g.classList.remove("kr-playing");
  }

  /** Picks the measure `g` (an SVG group of the engraving): marks it, and calls `then(n)`. */
  async pick(g, then) {
    if (!g || !this.kern) return;
    const kern = this.kern;
    const attrs = await getEngraver().call("attributes", kern, this.options, g.id);
    const n = Number.parseInt(attrs.n, 10);
    if (this.kern !== kern || !Number.isFinite(n)) return;
    for (const other of this.pageEl.querySelectorAll(".kr-picked")) other.classList.remove("kr-picked");
    g.classList.add("kr-picked");
    then(n);
  }

  find(id) {
    return this.pageEl.querySelector(`[id="${CSS.escape(id)}"]`);
  }
}

function button(text, label) {
  const b = el("button", "", text);
  b.type = "button";
  if (label) b.setAttribute("aria-label", label);
  return b;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}
