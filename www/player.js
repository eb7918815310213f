// Playback of an engraved score with Tone.js: notes from verovio (MIDI values per note) and its
// timemap, so the sounding notes can be highlighted. Tone.js and the piano are loaded on the
// first Play, from this site only (the service worker then keeps them for offline use).

import { fetchBytes, resolveAsset } from "./core.js";
import { PIANO_NOTES, pianoFile } from "./piano.js";

let tonePromise = null;

function loadTone() {
  tonePromise ??= import(resolveAsset("./vendor/tone/Tone.js").href).then(
    () => {
      if (!globalThis.Tone) throw new Error("Tone.js did not load");
      return globalThis.Tone;
    },
    (e) => {
      tonePromise = null;
      throw new Error(`cannot load the audio library (vendor/tone/Tone.js): ${e.message || e}`);
    },
  );
  return tonePromise;
}

let pianoPromise = null;
let pianoProgress = new Set();

/**
 * The piano's samples, decoded (once per page): resolves to { [note]: AudioBuffer };
 * `onProgress(loaded, total)` follows the download.
 */
function loadPiano(Tone, onProgress) {
  if (onProgress) pianoProgress.add(onProgress);
  pianoPromise ??= (async () => {
    const ctx = Tone.getContext().rawContext;
    let loaded = 0;
    const entries = await Promise.all(
      PIANO_NOTES.map(async (note) => {
        const file = resolveAsset(`./vendor/piano/${pianoFile(note)}`).href;
        const bytes = await fetchBytes(file, "piano sample");
        const buffer = await ctx.decodeAudioData(bytes.buffer);
        loaded += 1;
        for (const f of pianoProgress) f(loaded, PIANO_NOTES.length);
        return [note, buffer];
      }),
    );
    return Object.fromEntries(entries);
  })();
  const done = () => (pianoProgress = new Set());
  pianoPromise.then(done, () => {
    done();
    pianoPromise = null;
  });
  return pianoPromise;
}

/** The line of the score a verovio note id names (`note-L12F2S1` -> 12), or 0. */
function lineOf(id) {
  const m = /-L(\d+)/.exec(id);
  return m ? Number(m[1]) : 0;
}

export class Player {
  constructor() {
    this.session = null;
  }

  get playing() {
    return this.session !== null;
  }

  /**
   * Plays `{ notes, events }` (from the engraver's `playback` command) on the piano (on a
   * synthesizer when its samples cannot be loaded: `onInstrument(name, reason)` says which).
   * `velocities[L - 1]` is the loudness of the notes of line L (lineVelocities); `speed`
   * scales the score's tempo. `onEvent(event)` gets each timemap event ({ t, on, off }) as it
   * sounds; `onEnd()` runs when playback ends or stops; `onLoading(loaded, total)` follows
   * the piano's download.
   */
  async play({ notes, events }, { onEvent, onEnd, onLoading, onInstrument, velocities = [], speed = 1, current = () => true } = {}) {
    this.stop();
    const Tone = await loadTone();
    await Tone.start();
    if (!current()) return;
    let synth;
    try {
      const urls = await loadPiano(Tone, onLoading);
      synth = new Tone.Sampler({ urls, release: 1.2, volume: -4 }).toDestination();
      onInstrument?.("piano");
    } catch (e) {
      synth = new Tone.PolySynth(Tone.Synth, {
        maxPolyphony: 48,
        volume: -12,
        oscillator: { type: "triangle" },
        envelope: { attack: 0.004, decay: 0.4, sustain: 0.15, release: 0.6 },
      }).toDestination();
      onInstrument?.("synthesizer", e.message || String(e));
    }
    if (!current()) {
      synth.dispose();
      return;
    }
    this.stop();
    const ctx = Tone.getContext();
    const stretch = 1 / speed;
    const sorted = notes.map((n) => ({ ...n, time: n.time * stretch, duration: n.duration * stretch, velocity: velocities[lineOf(n.id) - 1] ?? 0.62 })).sort((a, b) => a.time - b.time);
    events = events.map((e) => ({ ...e, t: e.t * stretch }));
    const end = sorted.reduce((m, n) => Math.max(m, n.time + n.duration), 0);
    const s = { synth, onEnd, start: ctx.currentTime + 0.2, next: 0, nextEvent: 0, timer: 0, ticker: 0 };
    this.session = s;
    const schedule = () => {
      const horizon = (ctx.currentTime - s.start + 0.4) * 1000;
      while (s.next < sorted.length && sorted[s.next].time <= horizon) {
        const n = sorted[s.next++];
        const at = s.start + n.time / 1000;
        if (at >= ctx.currentTime) {
          synth.triggerAttackRelease(Tone.Frequency(n.pitch, "midi").toFrequency(), n.duration / 1000, at, n.velocity);
        }
      }
    };
    // Highlights follow the audio clock on a timer rather than animation frames, which
    // browsers pause in hidden tabs (and headless ones may not paint).
    const tick = () => {
      if (this.session !== s) return;
      const t = (ctx.currentTime - s.start) * 1000;
      while (s.nextEvent < events.length && events[s.nextEvent].t <= t) onEvent?.(events[s.nextEvent++]);
      if (t > end + 300) this.stop();
    };
    schedule();
    s.timer = setInterval(schedule, 100);
    s.ticker = setInterval(tick, 25);
  }

  stop() {
    const s = this.session;
    if (!s) return;
    this.session = null;
    clearInterval(s.timer);
    clearInterval(s.ticker);
    try {
      s.synth.releaseAll();
      setTimeout(() => s.synth.dispose(), 1500);
    } catch {
      /* already disposed */
    }
    s.onEnd?.();
  }
}
