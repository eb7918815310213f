// Playback of an engraved score with Tone.js: notes from verovio (MIDI values per note) and its
// timemap, so the sounding notes can be highlighted. Tone.js is loaded on first use.

import { resolveAsset } from "./core.js";

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

export class Player {
  constructor() {
    this.session = null;
  }

  get playing() {
    return this.session !== null;
  }

  /**
   * Plays `{ notes, events }` (from the engraver's `playback` command). `onEvent(event)` gets
   * each timemap event ({ t, on, off }) as it sounds; `onEnd()` runs when playback ends or stops.
   */
  async play({ notes, events }, { onEvent, onEnd, current = () => true } = {}) {
    this.stop();
    const Tone = await loadTone();
    await Tone.start();
    if (!current()) return;
    this.stop();
    const synth = new Tone.PolySynth(Tone.Synth, {
      maxPolyphony: 48,
      volume: -12,
      oscillator: { type: "triangle" },
      envelope: { attack: 0.004, decay: 0.4, sustain: 0.15, release: 0.6 },
    }).toDestination();
    const ctx = Tone.getContext();
    const sorted = [...notes].sort((a, b) => a.time - b.time);
    const end = sorted.reduce((m, n) => Math.max(m, n.time + n.duration), 0);
    const s = { synth, onEnd, start: ctx.currentTime + 0.2, next: 0, nextEvent: 0, timer: 0, ticker: 0 };
    this.session = s;
    const schedule = () => {
      const horizon = (ctx.currentTime - s.start + 0.4) * 1000;
      while (s.next < sorted.length && sorted[s.next].time <= horizon) {
        const n = sorted[s.next++];
        const at = s.start + n.time / 1000;
        if (at >= ctx.currentTime) {
          synth.triggerAttackRelease(Tone.Frequency(n.pitch, "midi").toFrequency(), n.duration / 1000, at, 0.6);
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
