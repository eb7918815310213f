// The page side of the verovio worker: one worker per page, shared by every user.

import { resolveAsset, spawnWorker } from "./core.js";

class Engraver {
  constructor() {
    this.next = 1;
    this.pending = new Map();
    this.failure = null;
    this.lanes = new Map();
    try {
      this.worker = spawnWorker(resolveAsset("./verovio-worker.js"));
    } catch (e) {
      this.fail(`cannot start the engraving worker: ${e.message || e}`);
      return;
    }
    this.worker.onmessage = ({ data }) => {
      if (data.ready === false) return this.fail(data.error);
      if (data.ready) return;
      const p = this.pending.get(data.id);
      if (!p) return;
      this.pending.delete(data.id);
      if ("error" in data) p.reject(new Error(data.error));
      else p.resolve(data.result);
    };
    this.worker.onerror = (e) => {
      e.preventDefault?.();
      this.fail(`the engraving worker failed: ${e.message || "it could not load verovio (vendor/verovio)"}`);
    };
  }

  fail(message) {
    this.failure = new Error(message);
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }

  /** Runs a worker command (see verovio-worker.js); resolves to its result. */
  call(cmd, ...args) {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const id = this.next++;
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, cmd, args });
    });
  }

  /**
   * Renders in a lane where only the latest request matters: while one render runs, newer
   * requests replace each other, and superseded ones resolve to null.
   */
  latest(lane, cmd, ...args) {
    let l = this.lanes.get(lane);
    if (!l) this.lanes.set(lane, (l = { busy: false, queued: null }));
    return new Promise((resolve, reject) => {
      if (l.busy) {
        l.queued?.resolve(null);
        l.queued = { cmd, args, resolve, reject };
        return;
      }
      const run = (job) => {
        l.busy = true;
        this.call(job.cmd, ...job.args)
          .then(job.resolve, job.reject)
          .finally(() => {
            l.busy = false;
            const q = l.queued;
            l.queued = null;
            if (q) run(q);
          });
      };
      run({ cmd, args, resolve, reject });
    });
  }
}

let shared = null;

/** The page's engraver (created on first use). */
export function getEngraver() {
  shared ??= new Engraver();
  return shared;
}

/** Verovio layout options for a container `px` CSS pixels wide. */
export function layoutFor(px, scale = 40) {
  const width = Math.max(280, Math.min(2400, px || 800));
  if (width < 560) scale = Math.round(scale * 0.7); // phones: smaller notes, more per system
  return { scale, pageWidth: Math.round((width * 100) / scale), pageHeight: Math.round((width * 100 * 1.3) / scale) };
}

/** Puts verovio's SVG (a string from our own worker) into `el`. */
export function showSvg(el, svg) {
  // The SVG is verovio's output for a score the library wrote, or continued from the user's
  // (a file, or a link's): verovio escapes the text it engraves (titles, comments, text marks).
  // Parsed as XML, so a broken SVG cannot become HTML; the pass below removes anything active.
  const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
  const root = doc.documentElement;
  if (root.nodeName !== "svg") throw new Error("verovio returned no SVG");
  // Belt and braces: nothing active survives (verovio writes none of these).
  for (const bad of root.querySelectorAll("script, foreignObject, iframe")) bad.remove();
  for (const node of [root, ...root.querySelectorAll("*")]) {
    for (const a of [...node.attributes]) {
      if (/^on/i.test(a.name) || /^\s*javascript:/i.test(a.value)) node.removeAttribute(a.name);
    }
  }
  el.replaceChildren(document.importNode(root, true));
}
