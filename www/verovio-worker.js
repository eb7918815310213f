// Verovio (with its Humdrum reader) in a Web Worker, so engraving never blocks the page.
// Messages: { id, cmd, args } -> { id, result } or { id, error }. See engraver.js.

import createVerovioModule from "./vendor/verovio/verovio-module-hum.js";
import { VerovioToolkit } from "./vendor/verovio/verovio.js";

const BASE_OPTIONS = {
  inputFrom: "humdrum",
  svgViewBox: true,
  adjustPageHeight: true,
  footer: "none",
  breaks: "auto",
  // Titles come from the score's !!!OTL record.
  header: "auto",
};

const ready = createVerovioModule().then((module) => {
  const tk = new VerovioToolkit(module);
  return tk;
});

let loaded = null; // key of the data and options in the toolkit

function load(tk, kern, options) {
  const opts = { ...BASE_OPTIONS, ...options };
  const key = JSON.stringify(opts) + "\u0000" + kern;
  if (key === loaded) return;
  loaded = null;
  tk.setOptions(opts);
  if (!tk.loadData(kern) || tk.getPageCount() < 1) {
    const log = (tk.getLog() || "").trim();
    throw new Error(`verovio could not read the score${log ? ": " + log.split("\n").slice(0, 3).join(" ") : ""}`);
  }
  loaded = key;
}

const commands = {
  version: (tk) => tk.getVersion(),

  /**
   * Lays out the score; returns { pageCount, pages: [[n, svg], ...] } for the pages listed in
   * `pages` (1-based numbers, or "last"). Other pages come from later calls with the same
   * score, which only render (the layout is kept).
   */
  render(tk, kern, options = {}, pages = [1]) {
    load(tk, kern, options);
    const count = tk.getPageCount();
    const wanted = pages === "last" ? [count] : pages.filter((p) => p >= 1 && p <= count);
    return { pageCount: count, pages: wanted.map((p) => [p, tk.renderToSVG(p)]) };
  },

  /** The whole score as one tall SVG (for the .svg download). */
  svg(tk, kern, options = {}) {
    load(tk, kern, { ...options, pageHeight: 60000, adjustPageHeight: true });
    return tk.renderToSVG(1);
  },

  /** Standard MIDI file bytes. */
  midi(tk, kern, options = {}) {
    load(tk, kern, options);
    const b64 = tk.renderToMIDI();
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes;
  },

  /** The MEI attributes of an element of the engraving (`{ n: "5" }` for a measure). */
  attributes(tk, kern, options = {}, id = "") {
    load(tk, kern, options);
    return tk.getElementAttr(String(id)) || {};
  },

  mei(tk, kern, options = {}) {
    load(tk, kern, options);
    return tk.getMEI();
  },

  /**
   * What playback needs: the notes ({ time, duration, pitch } in ms and MIDI numbers) and the
   * timemap events ({ t, on: [id], off: [id] }), with the page (1-based) of every note.
   */
  playback(tk, kern, options = {}) {
    load(tk, kern, options);
    const timemap = tk.renderToTimemap({ includeMeasures: false, includeRests: false });
    const notes = [];
    const events = [];
    const pageOf = {};
    for (const e of timemap) {
      for (const id of e.on || []) {
        const m = tk.getMIDIValuesForElement(id);
        if (m && m.pitch > 0) notes.push({ id, time: m.time, duration: Math.max(m.duration, 30), pitch: m.pitch });
        pageOf[id] = tk.getPageWithElement(id);
      }
      events.push({ t: e.tstamp, on: e.on || [], off: e.off || [] });
    }
    return { notes, events, pageOf };
  },
};

self.onmessage = async ({ data: { id, cmd, args } }) => {
  try {
    const tk = await ready;
    const fn = commands[cmd];
    if (!fn) throw new Error(`unknown engraver command ${cmd}`);
    const result = fn(tk, ...(args || []));
    self.postMessage({ id, result }, result instanceof Uint8Array ? [result.buffer] : []);
  } catch (e) {
    loaded = null;
    self.postMessage({ id, error: String(e?.message || e) });
  }
};

ready.then(
  () => self.postMessage({ ready: true }),
  (e) => self.postMessage({ ready: false, error: `cannot start verovio: ${e?.message || e}` }),
);
