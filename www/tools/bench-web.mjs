#!/usr/bin/env node
// Browser benchmark of the composer: kernrnn's WebAssembly (CPU) and WebGPU samplers, the
// page's load, and a TensorFlow.js implementation of the same LSTM (www/tools/tfjs-lstm.js) on
// every TF.js backend that starts, all in ONE headless Chromium run (with the WebGPU flags of
// www/test/helpers.mjs: WebGPU is SwiftShader, a CPU Vulkan, here).
//
//   node www/tools/bench-web.mjs [--json FILE] [--model mozart]
//
// Run from anywhere; it needs the built site (`make site`: dist/, or SITE=...), Chromium
// (/usr/bin/chromium, or CHROMIUM=...) and www/node_modules (`cd www && npm ci`: playwright-core
// and the @tensorflow/* devDependencies, served to the page from node_modules, never put in
// dist/). Prints a markdown table on stdout, progress on stderr; --json FILE also writes every
// figure as JSON. A step that fails (a backend that does not start) becomes "n/a (reason)".
// This is a benchmark, not a test: nothing asserts on time. Takes about 2-5 minutes.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";

import { withTimeout } from "../core.js";
import { chromiumPath, launch, root, serveSite, site, www } from "../test/helpers.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : dflt);
const jsonOut = opt("json", null);
const modelName = opt("model", "mozart");

// What is measured.
const CPU_LENGTH = 15000; // kernrnn CPU, constrained and raw
const GPU_CONSTRAINED_LENGTH = 1000; // kernrnn WebGPU (SwiftShader is slow)
const PEER_LENGTH = 2000; // raw, kernrnn CPU and WebGPU and every TF.js backend
const VARIATIONS = 8;
const VARIATION_LENGTH = 2000;
const TEMPERATURE = 0.8;
const SEED = 1;
const LOGITS_TEXT_LENGTH = 64; // the WebGPU logitsFor takes at most 64 characters
const TF_BACKENDS = ["cpu", "wasm", "webgl", "webgpu"];
const GPU_MAX_MS = 60000; // a kernrnn WebGPU sample is stopped after this (rate over what it drew)
const TF_GPU_MAX_MS = 30000; // a TF.js backend on SwiftShader is stopped after this (rate over what it drew)
const STEP_TIMEOUT_MS = 150000;

const t00 = Date.now();
const log = (...a) => console.error(`[bench-web ${((Date.now() - t00) / 1000).toFixed(1).padStart(5)} s]`, ...a);
const watchdog = setTimeout(() => {
  log("gave up after 9 minutes");
  process.exit(1);
}, 9 * 60 * 1000);
watchdog.unref();

function die(message) {
  console.error(`bench-web: ${message}`);
  process.exit(2);
}

if (!fs.existsSync(path.join(site, "index.html"))) die(`no site at ${site}: run \`make site\``);
if (!fs.existsSync(chromiumPath)) die(`no Chromium at ${chromiumPath}`);
const tfjsDir = path.join(www, "node_modules/@tensorflow");
const manifest = JSON.parse(fs.readFileSync(path.join(site, "models/manifest.json"), "utf8"));
const modelEntry = manifest.models.find((m) => m.name === modelName);
if (!modelEntry) die(`no model "${modelName}" in ${path.relative(root, site)}/models/manifest.json`);
const modelRel = `models/${modelEntry.file}`;
const wasmFile = path.join(site, "pkg/kernrnn_bg.wasm");
const buildStamp = () => {
  try {
    const st = fs.statSync(wasmFile);
    return `${st.size} bytes, modified ${st.mtime.toISOString()}`;
  } catch {
    return "missing";
  }
};
const buildAtStart = buildStamp();

const msg = (e) => String(e?.message || e).split("\n")[0].replace(/^page\.evaluate: (Error: )?/, "");
const fmtInt = (n) => Math.round(n).toLocaleString("en");
const fmtRate = (chars, ms) => `${fmtInt((chars * 1000) / ms)} chars/s`;
const fmtMs = (ms) => `${fmtInt(ms)} ms`;
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const fmtDiff = (d) => (d == null || Number.isNaN(d) ? "n/a" : d.toExponential(2));

// ----------------------------------------------------------------------------------------------

const results = { date: new Date().toISOString(), model: modelName, machine: {}, steps: {} };
const rows = []; // [section, what, result, notes]
const row = (section, what, result, notes = "") => rows.push([section, what, result, notes]);
const na = (e) => `n/a (${msg(e)})`;

results.machine = {
  cpus: `${os.cpus().length} × ${os.cpus()[0]?.model || "?"}`,
  loadavg: os.loadavg().map((x) => x.toFixed(2)).join(" "),
  node: process.version,
};


// ----------------------------------------------------------------------------------------------

/** 3 and 4: page open to first notation, and what the page requested on the way. */
async function pageLoad() {
  log("page load: index.html with backend=cpu, waiting for the first note");
  const page = await browser.newPage();
  const requests = [];
  page.context().on("requestfinished", (r) => requests.push({ url: r.url(), type: r.resourceType(), at: Date.now() }));
  page.context().on("requestfailed", (r) => requests.push({ url: r.url(), type: r.resourceType(), failed: r.failure()?.errorText, at: Date.now() }));
  await page.addInitScript(() => {
    const obs = new MutationObserver(() => {
      if (document.querySelector("#score svg g.note")) {
        window.__firstNote = performance.now();
        obs.disconnect();
      }
    });
    obs.observe(document, { childList: true, subtree: true });
  });
  const hash = `#model=${modelName}&seed=${SEED}&length=${VARIATION_LENGTH}&backend=cpu`;
  try {
    await page.goto(srv.url(`index.html${hash}`));
    await page.waitForFunction(() => window.__firstNote != null || document.body.dataset.state === "error", null, { timeout: 120000, polling: 50 });
    const t = await page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      return {
        firstNote: window.__firstNote,
        state: document.body.dataset.state,
        error: document.querySelector("#error")?.hidden === false ? document.querySelector("#error").textContent : null,
        domContentLoaded: nav?.domContentLoadedEventEnd,
        load: nav?.loadEventEnd,
        notes: document.querySelectorAll("#score svg g.note").length,
        backend: document.querySelector("#backend")?.textContent || "",
      };
    });
    const seenAt = Date.now();
    if (t.firstNote == null) throw new Error(`the page showed an error: ${t.error}`);
    await page.waitForTimeout(1500); // late requests (e.g. after the notation)
    results.steps.pageLoad = { ...t, requests: requests.length };
    row("3", `page open (navigation start) to first notation (\`index.html${hash}\`)`, fmtMs(t.firstNote),
      `DOMContentLoaded ${fmtMs(t.domContentLoaded)}, load ${fmtMs(t.load)}; ${t.notes} notes engraved at the first sight`);

    // 4. what it requested, gzip -9 of the served files
    const groups = new Map();
    const files = [];
    for (const r of requests) {
      const u = new URL(r.url);
      if (!u.pathname.startsWith(srv.base)) continue;
      const rel = u.pathname.slice(srv.base.length) || "index.html";
      const file = path.join(site, rel.endsWith("/") ? rel + "index.html" : rel);
      if (!fs.existsSync(file) || files.some((f) => f.rel === rel)) continue;
      const bytes = fs.readFileSync(file);
      const f = { rel, raw: bytes.length, gz: zlib.gzipSync(bytes, { level: 9 }).length, beforeNote: r.at <= seenAt };
      files.push(f);
      const group =
        rel === "pkg/kernrnn_bg.wasm" ? "composer wasm (pkg/kernrnn_bg.wasm)"
        : rel.startsWith("pkg/") ? "composer JS (pkg/kernrnn.js)"
        : rel.startsWith("models/") && rel.endsWith(".safetensors") ? `model (${rel})`
        : rel.startsWith("vendor/verovio/") ? "verovio (vendor/verovio/, its wasm is inside the JS)"
        : rel.startsWith("vendor/") ? "other vendor"
        : rel.endsWith(".js") ? "page JS (app, core, engraver, workers)"
        : "page HTML, CSS, manifests, icons";
      const g = groups.get(group) ?? { raw: 0, gz: 0, files: [] };
      g.raw += f.raw;
      g.gz += f.gz;
      g.files.push(rel);
      groups.set(group, g);
    }
    results.steps.transfer = { files, groups: Object.fromEntries(groups) };
    const order = ["composer wasm", "composer JS", "model", "verovio", "page JS", "page HTML", "other vendor"];
    const sorted = [...groups].sort((a, b) => order.findIndex((o) => a[0].startsWith(o)) - order.findIndex((o) => b[0].startsWith(o)));
    for (const [name, g] of sorted) row("4", `load, gzip -9: ${name}`, `${kib(g.gz)}`, `${kib(g.raw)} uncompressed; ${g.files.join(", ")}`);
    const tot = files.reduce((a, f) => ({ raw: a.raw + f.raw, gz: a.gz + f.gz }), { raw: 0, gz: 0 });
    const late = files.filter((f) => !f.beforeNote).map((f) => f.rel);
    row("4", "load, gzip -9: total the page requested", `${kib(tot.gz)}`,
      `${kib(tot.raw)} uncompressed, ${files.length} files (the requests Playwright saw, page and workers)${late.length ? `; after the first notation: ${late.join(", ")}` : ""}`);
  } catch (e) {
    log(`page load failed: ${msg(e)}`);
    row("3", "page open to first notation", na(e));
    row("4", "load, gzip -9", na(e));
  } finally {
    await page.context().close().catch(() => {});
  }
}

// ----------------------------------------------------------------------------------------------

const BENCH_HTML = `<!doctype html><meta charset="utf-8"><title>kernrnn bench</title><body><p>kernrnn benchmark</p></body>`;
let bench = null; // { page, info, consoleLines }

/** A blank page on the site's origin with the wasm, the model and TF.js loaded (lazily; again after a hang). */
async function benchPage() {
  if (bench) return bench;
  const page = await browser.newPage();
  const consoleLines = [];
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  await page.route(srv.url("bench.html"), (route) => route.fulfill({ status: 200, contentType: "text/html; charset=utf-8", body: BENCH_HTML }));
  await page.goto(srv.url("bench.html"));
  const tfScripts = [];
  for (const f of ["tfjs-core/dist/tf-core.min.js", "tfjs-backend-cpu/dist/tf-backend-cpu.min.js", "tfjs-backend-wasm/dist/tf-backend-wasm.min.js",
    "tfjs-backend-webgl/dist/tf-backend-webgl.min.js", "tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js"]) {
    try {
      await page.addScriptTag({ url: srv.url(`tfjs/${f}`) });
      tfScripts.push({ f, ok: true });
    } catch (e) {
      tfScripts.push({ f, ok: false, error: msg(e) });
    }
  }
  const info = await page.evaluate(async ({ base, modelRel, LOGITS_TEXT_LENGTH }) => {
    const mod = await import(base + "pkg/kernrnn.js");
    await mod.default({ module_or_path: base + "pkg/kernrnn_bg.wasm" });
    const res = await fetch(base + modelRel);
    if (!res.ok) throw new Error(`${modelRel}: HTTP ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const composer = new mod.Composer(bytes);
    const lstm = await import(base + "bench-tools/tfjs-lstm.js");
    let core = null;
    try {
      core = await import(base + "core.js");
    } catch {}
    const model = lstm.readModel(bytes);
    // The text the logits are compared on: the start of a raw CPU sample (every character is in the vocabulary).
    const s = composer.start({ seed: 1, temperature: 0.8, length: LOGITS_TEXT_LENGTH, raw: true });
    let text = s.prime();
    while (!s.done()) text += s.next(LOGITS_TEXT_LENGTH);
    s.free();
    text = text.slice(0, LOGITS_TEXT_LENGTH);
    const jsRef = lstm.referenceLogits(model, text);
    const hasLogits = typeof composer.logitsFor === "function";
    const cpuLogits = hasLogits ? Array.from(composer.logitsFor(text), (a) => Float32Array.from(a)) : null;
    window.B = { mod, composer, bytes, lstm, core, model, text, jsRef, cpuLogits, refLogits: cpuLogits || jsRef };
    return {
      version: typeof mod.version === "function" ? mod.version() : "?",
      info: composer.info(),
      hasGpu: typeof mod.initWebGpu === "function",
      hasLogits,
      hasCore: !!core?.sample,
      text,
      cpuVsJs: cpuLogits ? lstm.maxAbsDiff(cpuLogits, jsRef) : null,
      tf: typeof tf === "object" ? { version: tf.version_core, backends: Object.keys(tf.engine().registryFactory) } : null,
      crossOriginIsolated: self.crossOriginIsolated,
    };
  }, { base, modelRel, LOGITS_TEXT_LENGTH });
  info.tfScripts = tfScripts;
  bench = { page, info, consoleLines };
  return bench;
}

/** Runs `fn(arg)` in the bench page; on a hang the page is dropped (the next step makes a new one). */
async function inPage(what, fn, arg, timeout = STEP_TIMEOUT_MS) {
  const b = await benchPage();
  try {
    return await withTimeout(b.page.evaluate(fn, arg), timeout, what);
  } catch (e) {
    if (/timed out/.test(msg(e))) {
      log(`${what}: ${msg(e)}; a new page for the next steps`);
      bench = null;
      b.page.context().close().catch(() => {});
    }
    throw e;
  }
}

async function benchmarks() {
  log("bench page: the wasm, the model, TF.js");
  let b;
  try {
    b = await withTimeout(benchPage(), 120000, "setting up the bench page");
  } catch (e) {
    log(`bench page failed: ${msg(e)}`);
    for (const s of ["1", "2", "5"]) row(s, "benchmarks in a blank page", na(e));
    return;
  }
  const info = b.info;
  results.steps.setup = info;
  log(`kernrnn ${info.version}, ${info.info.name}: ${info.info.layers}×${info.info.hidden}, vocab ${info.info.vocabSize}; WebGPU sampler in this build: ${info.hasGpu}; logitsFor: ${info.hasLogits}`);

  // 1. CPU (wasm)
  const cpu = {};
  for (const [key, raw, length] of [["constrained", false, CPU_LENGTH], ["raw", true, CPU_LENGTH], ["raw2000", true, PEER_LENGTH]]) {
    log(`kernrnn CPU: ${length} characters${raw ? " raw" : " with the grammar"}`);
    try {
      cpu[key] = await inPage(`kernrnn CPU ${key}`, ({ raw, length, seed, temperature }) => {
        const { composer } = window.B;
        const run = (o, chunk) => {
          const t0 = performance.now();
          const s = composer.start(o);
          let text = s.prime();
          while (!s.done()) text += s.next(chunk);
          const r = { millis: performance.now() - t0, chars: s.produced(), total: s.total(), text };
          s.free();
          return r;
        };
        run({ seed: 99, temperature, length: 500, raw }, 500); // warm-up
        const runs = [];
        for (let k = 0; k < (length <= 2000 ? 3 : 1); k++) runs.push(run({ seed, temperature, length, raw }, 2000));
        runs.sort((a, b) => a.millis - b.millis);
        const r = runs[Math.floor(runs.length / 2)];
        return { millis: r.millis, chars: r.chars, total: r.total, runs: runs.map((x) => x.millis), text: r.text };
      }, { raw, length, seed: SEED, temperature: TEMPERATURE });
    } catch (e) {
      cpu[key] = { error: msg(e) };
    }
  }
  const cpuTexts = { constrained: cpu.constrained?.text, raw2000: cpu.raw2000?.text };
  for (const k of Object.keys(cpu)) if (cpu[k].text) cpu[k].text = cpu[k].text.slice(0, 200);
  results.steps.cpu = cpu;
  const cpuRow = (r, what, notes) => row("1", what, r.error ? na(r.error) : fmtRate(r.chars, r.millis),
    r.error ? "" : `${fmtInt(r.chars)} chars in ${fmtMs(r.millis)}${r.runs.length > 1 ? ` (median of ${r.runs.length})` : ""}; ${notes}`);
  cpuRow(cpu.constrained, `kernrnn CPU (wasm), ${fmtInt(CPU_LENGTH)} chars, grammar on`, `seed ${SEED}, temperature ${TEMPERATURE}, next(2000) chunks without yielding, after a 500-char warm-up`);
  cpuRow(cpu.raw, `kernrnn CPU (wasm), ${fmtInt(CPU_LENGTH)} chars, raw`, "raw: true (no grammar)");

  // 1. WebGPU
  const gpu = {};
  if (!info.hasGpu) {
    const why = "n/a (this build has no WebGPU sampler)";
    row("1", `kernrnn WebGPU, ${fmtInt(GPU_CONSTRAINED_LENGTH)} chars, grammar on`, why);
    row("1", `kernrnn WebGPU, ${fmtInt(PEER_LENGTH)} chars, raw`, why);
    gpu.error = "this build has no WebGPU sampler";
  } else {
    const steps = [
      ["setup", "initWebGpu, composer.gpu()", null],
      ["warm", "a 64-char warm-up (compiles the shaders)", { seed: 99, temperature: TEMPERATURE, length: 64 }],
      ["constrained", `${GPU_CONSTRAINED_LENGTH} chars with the grammar`, { seed: SEED, temperature: TEMPERATURE, length: GPU_CONSTRAINED_LENGTH }],
      ["raw", `${PEER_LENGTH} chars raw`, { seed: SEED, temperature: TEMPERATURE, length: PEER_LENGTH, raw: true }],
      ["logits", "GpuComposer.logitsFor", null],
    ];
    for (const [key, what, opts] of steps) {
      if (gpu.error) break;
      log(`kernrnn WebGPU: ${what}`);
      const before = bench?.consoleLines.length ?? 0;
      try {
        gpu[key] = await inPage(`kernrnn WebGPU ${key}`, async ({ key, opts, deadline }) => {
          const B = window.B;
          const timeout = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what} timed out after ${ms / 1000} s`)), ms))]);
          if (key === "setup") {
            const t0 = performance.now();
            const adapter = await timeout(B.mod.initWebGpu(), 30000, "initWebGpu()");
            B.gpu = B.composer.gpu();
            const millis = performance.now() - t0;
            let info = "";
            try {
              const i = (await navigator.gpu.requestAdapter())?.info || {};
              info = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(" ");
            } catch {}
            return { adapter: info ? `${adapter}: ${info}` : String(adapter), millis };
          }
          if (key === "logits") {
            if (typeof B.gpu.logitsFor !== "function") return { diff: null };
            const g = await timeout(B.gpu.logitsFor(B.text), 30000, "GpuComposer.logitsFor");
            return { diff: B.lstm.maxAbsDiff(Array.from(g, (a) => Float32Array.from(a)), B.refLogits) };
          }
          const t0 = performance.now();
          const s = B.gpu.start(opts);
          try {
            let text = s.prime();
            let stalls = 0;
            while (!s.done()) {
              const got = await timeout(Promise.resolve(s.next(64)), 30000, "GpuSampling.next(64)");
              text += got;
              stalls = got ? 0 : stalls + 1;
              if (stalls >= 5) throw new Error(`no progress: next(64) gave "" 5 times after ${s.produced()} chars`);
              if (performance.now() - t0 > deadline) break; // too slow: the rate over what it drew
            }
            return { millis: performance.now() - t0, chars: s.produced(), dispatches: s.dispatches(), text, stopped: !s.done() };
          } finally {
            s.free();
          }
        }, { key, opts, deadline: GPU_MAX_MS }, GPU_MAX_MS + 60000);
      } catch (e) {
        const lines = (bench?.consoleLines ?? []).slice(before);
        const wgpu = lines.find((l) => /wgpu error|panicked/.test(l));
        gpu.error = `${what}: ${msg(e)}`;
        gpu.console = wgpu ? wgpu.replace(/\s+/g, " ").replace(/^.*?(wgpu error: )/, "$1").replace(/ - While .*/, "").slice(0, 200) : "";
        gpu.consoleErrors = lines.filter((l) => /^error/.test(l)).slice(0, 5);
        log(`kernrnn WebGPU failed: ${gpu.error}`);
        // A panic can leave the wasm instance broken: the next steps get a fresh page.
        if (bench) {
          bench.page.context().close().catch(() => {});
          bench = null;
        }
      }
    }
    let told = false;
    const gpuRow = (r, what, notes) => {
      if (!r || r.error) {
        row("1", what, na(gpu.error || r?.error || "not run"), !told && gpu.console ? `the browser console: ${gpu.console}` : "");
        told = true;
        return;
      }
      row("1", what, fmtRate(r.chars, r.millis),
        `${r.stopped ? `stopped after ${fmtInt(r.chars)} chars (${GPU_MAX_MS / 1000} s limit); ` : ""}` +
          `${(r.dispatches / r.chars).toFixed(3)} dispatches/char (${r.dispatches} for ${fmtInt(r.chars)} chars, next(64)); ${notes}`);
    };
    const adapter = gpu.setup ? `adapter: ${gpu.setup.adapter}; ` : "";
    const warm = gpu.warm ? `after a 64-char warm-up (${fmtMs(gpu.warm.millis)}: compiles the shaders)` : "";
    const sameStart = (g, c) => {
      if (!g?.text || !c) return "";
      const n = firstDiff(g.text, c);
      return n >= Math.min(g.text.length, c.length)
        ? `the same text as the CPU's (first ${fmtInt(n)} chars)`
        : `the text differs from the CPU's sample (seed ${SEED}) from char ${fmtInt(n)} (the prime included)`;
    };
    gpuRow(gpu.constrained, `kernrnn WebGPU, ${fmtInt(GPU_CONSTRAINED_LENGTH)} chars (not 15,000: SwiftShader is slow), grammar on`,
      `${adapter}seed ${SEED}, temperature ${TEMPERATURE}, ${warm}; ${sameStart(gpu.constrained, cpuTexts.constrained)}`);
    gpuRow(gpu.raw, `kernrnn WebGPU, ${fmtInt(PEER_LENGTH)} chars, raw`, `raw: true (every candidate is taken); ${sameStart(gpu.raw, cpuTexts.raw2000)}`);
    for (const k of ["warm", "constrained", "raw"]) if (gpu[k]?.text) gpu[k].text = gpu[k].text.slice(0, 200);
  }
  results.steps.gpu = gpu;

  // 2. eight variations, sequential, through core.js sample() as the page does
  log(`kernrnn CPU: ${VARIATIONS} variations of ${VARIATION_LENGTH} chars`);
  try {
    const v = await inPage("variations", async ({ n, length, temperature }) => {
      const { composer, core } = window.B;
      const each = [];
      const t0 = performance.now();
      let chars = 0;
      for (let k = 0; k < n; k++) {
        const opts = { seed: 1 + k, temperature, length, raw: false };
        const t = performance.now();
        if (core?.sample) {
          const r = await core.sample(composer, opts);
          chars += r.chars;
        } else {
          const s = composer.start(opts);
          s.prime();
          while (!s.done()) s.next(2000);
          chars += s.produced();
          s.free();
        }
        each.push(performance.now() - t);
      }
      return { millis: performance.now() - t0, each, chars, viaCore: !!core?.sample };
    }, { n: VARIATIONS, length: VARIATION_LENGTH, temperature: TEMPERATURE });
    results.steps.variations = v;
    row("2", `${VARIATIONS} variations × ${fmtInt(VARIATION_LENGTH)} chars, seeds 1..${VARIATIONS}, kernrnn CPU (wasm), sequential`, fmtMs(v.millis),
      `${fmtInt(v.chars)} chars, ${fmtRate(v.chars, v.millis)}; per variation ${v.each.map((x) => Math.round(x)).join(", ")} ms; ` +
        (v.viaCore ? "core.js sample() (chunks of ~30 ms with yields, as the page); sampling only, no engraving" : "tight loop (core.js not loadable)"));
  } catch (e) {
    row("2", `${VARIATIONS} variations × ${fmtInt(VARIATION_LENGTH)} chars`, na(e));
  }

  // 5. TF.js peer
  const peer = { kernrnnCpu: cpu.raw2000, kernrnnGpu: gpu.raw, backends: {} };
  results.steps.tfjs = peer;
  const refName = info.hasLogits ? "kernrnn CPU logitsFor" : "a float64 JS reference (this build has no logitsFor)";
  if (info.cpuVsJs != null) row("5", `check: kernrnn CPU logitsFor vs float64 JS reference, ${info.text.length} chars`, `max abs diff ${fmtDiff(info.cpuVsJs)}`, "");
  if (info.hasGpu) {
    row("5", `check: kernrnn WebGPU logitsFor vs ${refName}, ${info.text.length} chars`,
      gpu.logits ? (gpu.logits.diff == null ? "n/a (no GpuComposer.logitsFor)" : `max abs diff ${fmtDiff(gpu.logits.diff)}`) : na(gpu.error || "not run"), "");
  }
  row("5", `kernrnn CPU (wasm), ${fmtInt(PEER_LENGTH)} chars raw`, cpu.raw2000?.error ? na(cpu.raw2000.error) : fmtRate(cpu.raw2000.chars, cpu.raw2000.millis), "the same task as the TF.js rows (sampling inside the wasm)");
  row("5", `kernrnn WebGPU, ${fmtInt(PEER_LENGTH)} chars raw`,
    !info.hasGpu ? "n/a (this build has no WebGPU sampler)" : gpu.raw?.chars ? fmtRate(gpu.raw.chars, gpu.raw.millis) : na(gpu.error || "not run"), "SwiftShader; the rate of the row in section 1");
  if (!info.tf) {
    row("5", "TF.js", `n/a (TF.js did not load: ${info.tfScripts.filter((s) => !s.ok).map((s) => `${s.f}: ${s.error}`).join("; ")})`);
    return;
  }
  for (const name of TF_BACKENDS) {
    log(`TF.js ${name}: set up, logits check, ${PEER_LENGTH} chars`);
    let r = await tfBackend(name, "auto");
    if (r.syncBroken) {
      // dataSync gave wrong logits (or threw), which can leave the backend unusable: sample
      // again in a fresh page, reading with await data().
      log(`TF.js ${name}: dataSync is broken here (${r.syncBroken}); again in a fresh page with await data()`);
      if (bench) {
        bench.page.context().close().catch(() => {});
        bench = null;
      }
      const again = await tfBackend(name, "async");
      r = { ...again, syncBroken: r.syncBroken, syncDiff: r.syncDiff };
    }
    peer.backends[name] = r;
    const what = `TF.js ${info.tf.version} \`${name}\` backend, ${fmtInt(PEER_LENGTH)} chars raw`;
    if (r.error) {
      row("5", what, na(r.error));
      continue;
    }
    const limit = name === "cpu" || name === "wasm" ? 1e-3 : null;
    const verdict = limit == null ? "" : r.diff < limit ? " (< 1e-3: ok)" : " (NOT < 1e-3)";
    const env = Object.entries(r.env).map(([k, v]) => `${k}=${v}`).join(", ");
    const reads = r.read === "sync" ? "one dataSync per char"
      : `one await data() per char: dataSync is broken here (${r.syncBroken}${r.syncDiff != null ? `, its logits off by ${fmtDiff(r.syncDiff)}` : ""})`;
    row("5", what, fmtRate(r.chars, r.millis),
      `${r.stopped ? `stopped after ${fmtInt(r.chars)} chars (${TF_GPU_MAX_MS / 1000} s limit); ` : ""}` +
        `logits vs ${refName}: max abs diff ${fmtDiff(r.diff)}${verdict}; ${reads}; first 16 chars ${fmtMs(r.warmMillis)}${env ? `; ${env}` : ""}`);
  }
}

/**
 * One TF.js backend in the bench page: the logits check (await data()), then with `read`
 * "auto" a check with dataSync and, if that is right, the timed sample with dataSync; with
 * "async" the timed sample with await data(). Never rejects: { error } on failure.
 */
async function tfBackend(name, read) {
  const before = bench?.consoleLines.length ?? 0;
  try {
    return await inPage(`TF.js ${name}`, async ({ name, read, wasmPath, length, seed, temperature, maxMillis }) => {
      const { lstm, model, refLogits, text } = window.B;
      if (!tf.findBackendFactory(name)) throw new Error(`the ${name} backend is not registered (its script did not load)`);
      if (name === "wasm") tf.wasm.setWasmPaths(wasmPath);
      const timeout = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what} timed out`)), ms))]);
      const ok = await timeout(tf.setBackend(name), 30000, `tf.setBackend("${name}")`);
      if (!ok || tf.getBackend() !== name) throw new Error(`tf.setBackend("${name}") failed`);
      const env = {};
      for (const flag of ["WASM_HAS_SIMD_SUPPORT", "WASM_HAS_MULTITHREAD_SUPPORT", "WEBGL_VERSION", "WEBGL_RENDER_FLOAT32_ENABLED", "WEBGL_PACK"]) {
        if (!flag.startsWith(name.toUpperCase() + "_")) continue;
        try {
          env[flag] = await tf.env().getAsync(flag);
        } catch {} // not this backend's flag
      }
      const net = new lstm.TfLstm(tf, model);
      try {
        const diff = lstm.maxAbsDiff(await net.logitsForAsync(text), refLogits);
        let syncDiff = null;
        if (read === "auto") {
          try {
            syncDiff = lstm.maxAbsDiff(net.logitsFor(text), refLogits);
          } catch (e) {
            return { syncBroken: `dataSync threw: ${e.message || e}`, diff };
          }
          if (!(syncDiff <= Math.max(1e-2, 10 * diff))) return { syncBroken: "dataSync gives other values than await data()", syncDiff, diff };
          read = "sync";
        }
        const warm = await net.sample({ length: 16, seed: 99, temperature, read });
        const r = await net.sample({ length, seed, temperature, maxMillis, read });
        return { backend: tf.getBackend(), env, diff, syncDiff, warmMillis: warm.millis, chars: r.chars, millis: r.millis, stopped: r.stopped, read, text: r.text.slice(0, 200), numTensors: tf.memory().numTensors };
      } finally {
        net.dispose();
      }
    }, { name, read, wasmPath: base + "tfjs/tfjs-backend-wasm/dist/", length: PEER_LENGTH, seed: SEED, temperature: TEMPERATURE, maxMillis: ["webgl", "webgpu"].includes(name) ? TF_GPU_MAX_MS : 120000 });
  } catch (e) {
    const warn = (bench?.consoleLines ?? []).slice(before).filter((l) => /^(warning|error)/.test(l)).map((l) => l.replace(/\s+/g, " ").slice(0, 200));
    return { error: msg(e) + (warn.length ? `; console: ${warn.slice(-2).join(" | ")}` : "") };
  }
}


function firstDiff(a, b) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

// ----------------------------------------------------------------------------------------------

function print() {
  const esc = (s) => String(s).replace(/\|/g, "\\|").replace(/\n/g, " ");
  const lines = [];
  const s = results.steps.setup;
  lines.push(`kernrnn browser benchmark, ${results.date} (${new Date(results.date).toString()})`);
  lines.push(`Chromium ${results.machine.chromium} headless, WebGPU flags on (SwiftShader); ${results.machine.cpus}; load average at start ${results.machine.loadavg}; node ${results.machine.node}`);
  if (s) lines.push(`kernrnn ${s.version}, model ${s.info?.name} (${s.info?.layers}×${s.info?.hidden} LSTM, vocab ${s.info?.vocabSize}); WebGPU sampler in this build: ${s.hasGpu ? "yes" : "no"}; logitsFor: ${s.hasLogits ? "yes" : "no"}; TF.js ${s.tf?.version || "not loaded"}`);
  const buildAtEnd = buildStamp();
  results.build = { wasm: path.relative(root, wasmFile), atStart: buildAtStart, atEnd: buildAtEnd };
  lines.push(`site ${path.relative(root, site) || "."}/, pkg/kernrnn_bg.wasm ${buildAtStart}` +
    (buildAtEnd !== buildAtStart ? `; WARNING: the site was rebuilt during the run (now ${buildAtEnd}): figures may mix two builds, run again` : ""));
  lines.push("");
  lines.push("| # | measurement | result | notes |");
  lines.push("|---|---|---|---|");
  rows.sort((a, b) => Number(a[0]) - Number(b[0])); // stable: in each section the order measured
  for (const r of rows) lines.push(`| ${r.map(esc).join(" | ")} |`);
  if (typeof results.makeSize === "string" && results.makeSize.includes("first piece")) {
    lines.push("");
    lines.push(`\`node www/build.mjs size --out ${path.relative(root, site) || "."}\` (make size's figures; its "first piece" counts the manifest's first model), summary:`);
    lines.push("```");
    for (const l of results.makeSize.trim().split("\n").slice(-3)) lines.push(l);
    lines.push("```");
  }
  const text = lines.join("\n");
  console.log(text);
  results.rows = rows.map(([section, what, result, notes]) => ({ section, what, result, notes }));
  results.table = text;
  results.seconds = (Date.now() - t00) / 1000;
  if (jsonOut) {
    fs.writeFileSync(path.resolve(jsonOut), JSON.stringify(results, null, 2) + "\n");
    log(`wrote ${jsonOut}`);
  }
  log(`done in ${results.seconds.toFixed(0)} s`);
}

// ----------------------------------------------------------------------------------------------

let srv, base, browser;

async function main() {
  log(`serving ${path.relative(root, site) || "."}/ and www/node_modules/@tensorflow`);
  srv = await serveSite({ "tfjs/": tfjsDir, "bench-tools/": path.join(www, "tools") });
  base = srv.url("");
  log("launching Chromium with the WebGPU flags");
  browser = await launch({ webgpu: true });
  results.machine.chromium = browser.browser.version();

  try {
    await pageLoad();
    await benchmarks();
  } finally {
    await browser.close().catch(() => {});
    await srv.close();
  }

  // 4. sizes from build.mjs (make size)
  let sizeText = "";
  try {
    sizeText = execFileSync(process.execPath, [path.join(www, "build.mjs"), "size", "--out", site], { encoding: "utf8" });
    results.makeSize = sizeText;
  } catch (e) {
    results.makeSize = na(e);
  }

  print();
  clearTimeout(watchdog);
}

await main();
