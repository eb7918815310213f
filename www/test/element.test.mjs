// The <kern-sampler> element's contract: attributes, generate() and its result, the progress,
// done and error events, the backend fallback; and the embedding example page.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { CONFIGS, checkSetup, cli, launch, serveSite, shippedModels, site, tempDir, trainTinyModel } from "./helpers.mjs";

checkSetup();
const model = trainTinyModel();
const native = (seed, length, temperature = 0.8) =>
  cli("sample", "--model", model.file, "--seed", String(seed), "--temperature", String(temperature), "--length", String(length));

// A page of another site that embeds the element with one script tag.
const pages = tempDir("pages");
fs.writeFileSync(
  path.join(pages, "embed.html"),
  `<!doctype html><meta charset="utf-8"><title>embed</title>
<script type="module" src="../kern-sampler.js"></script>
<kern-sampler id="a" model="../test-models/tiny.safetensors" seed="4" temperature="0.7" length="400"></kern-sampler>
<kern-sampler id="gpu" model="../test-models/tiny.safetensors" seed="5" length="300" backend="webgpu"></kern-sampler>
<kern-sampler id="cpu" model="../test-models/tiny.safetensors" seed="5" length="300" backend="cpu"></kern-sampler>
<kern-sampler id="missing" model="../test-models/missing.safetensors"></kern-sampler>
<kern-sampler id="bad" model="../test-models/tiny.safetensors" temperature="hot"></kern-sampler>
<kern-sampler id="bad-meter" model="../test-models/tiny.safetensors" meter="0/4"></kern-sampler>
<kern-sampler id="long" model="../test-models/tiny.safetensors" seed="2" length="200000"></kern-sampler>
<kern-sampler id="default" seed="3" length="200"></kern-sampler>
<kern-sampler id="continues" model="../test-models/tiny.safetensors" seed="9" length="300" backend="cpu" continue="../test-models/given.krn"></kern-sampler>
`,
);
// The score <kern-sampler id="continues"> continues: one of the model's own.
const given = path.join(model.dir, "given.krn");
fs.writeFileSync(given, cli("sample", "--model", model.file, "--seed", "21", "--length", "500", "--kern"));

let srv;
before(async () => {
  srv = await serveSite({ "test-models/": model.dir, "test-pages/": pages });
});
after(() => srv?.close());

/** Runs generate() on element `id` in the page, recording its events. */
function generate(page, id) {
  return page.evaluate(async (id) => {
    const el = document.getElementById(id);
    const events = [];
    for (const type of ["progress", "done", "error"]) {
      el.addEventListener(type, (e) => events.push({ type, detail: JSON.parse(JSON.stringify(e.detail)) }));
    }
    try {
      const result = await el.generate();
      return { result, events };
    } catch (e) {
      return { rejected: { name: e.name, message: e.message, isError: e instanceof Error }, events };
    }
  }, id);
}

for (const config of CONFIGS) {
  describe(`<kern-sampler> ${config.name}`, () => {
    let browser;
    let page;
    before(async () => {
      browser = await launch(config);
      page = await browser.newPage();
      await page.goto(srv.url("test-pages/embed.html"));
      await page.waitForFunction(() => customElements.get("kern-sampler"), null, { polling: 100 });
    });
    after(() => browser?.close());

    test("generate() resolves with { kern, raw, backend, chars, millis }; progress and done events", async () => {
      const { result, events } = await generate(page, "a");
      assert.ok(result, "generate() resolved");
      assert.equal(result.raw, native(4, 400, 0.7));
      assert.equal(result.kern, cli("sample", "--model", model.file, "--seed", "4", "--temperature", "0.7", "--length", "400", "--kern"));
      assert.equal(result.backend, "cpu");
      assert.equal(result.chars, result.raw.length - 2); // the prime "@\n"; then at least 400 (to a barline)
      assert.ok(result.chars >= 400);
      assert.equal(result.total, 400);
      assert.equal(typeof result.millis, "number");
      assert.ok(result.millis >= 0);
      assert.equal(result.stopped, false);

      const progress = events.filter((e) => e.type === "progress").map((e) => e.detail);
      assert.ok(progress.length >= 1);
      for (const p of progress) assert.deepEqual(Object.keys(p).sort(), ["chars", "total"]);
      assert.ok(progress.every((p, i) => p.total === 400 && (i === 0 || p.chars >= progress[i - 1].chars)));
      assert.equal(progress.at(-1).chars, result.chars);
      const done = events.filter((e) => e.type === "done");
      assert.equal(done.length, 1);
      assert.deepEqual(done[0].detail, result);
      assert.equal(events.at(-1).type, "done");
      assert.ok(!events.some((e) => e.type === "error"));

      const notes = await page.evaluate(() => document.getElementById("a").shadowRoot.querySelectorAll("svg g.note").length);
      assert.ok(notes > 0, "the element engraves the piece");
    });

    test("attributes are read at each generate()", async () => {
      await page.evaluate(() => {
        const el = document.getElementById("a");
        el.setAttribute("seed", "6");
        el.setAttribute("length", "250");
        el.setAttribute("temperature", "1.2");
        el.setAttribute("prime", "@\n4C\t8c\t.\n");
      });
      const { result } = await generate(page, "a");
      assert.equal(result.raw, cli("sample", "--model", model.file, "--seed", "6", "--temperature", "1.2", "--length", "250", "--prime", "@\n4C\t8c\t.\n"));
      await page.evaluate(() => document.getElementById("a").setAttribute("argmax", ""));
      const argmax = await generate(page, "a");
      assert.equal(argmax.result.raw, cli("sample", "--model", model.file, "--length", "250", "--argmax", "--prime", "@\n4C\t8c\t.\n"));
      await page.evaluate(() => {
        const el = document.getElementById("a");
        el.removeAttribute("argmax");
        el.removeAttribute("prime");
        el.setAttribute("raw", "");
        el.setAttribute("meter", "3/4");
      });
      const raw = await generate(page, "a");
      assert.equal(raw.result.raw, cli("sample", "--model", model.file, "--seed", "6", "--temperature", "1.2", "--length", "250", "--raw", "--meter", "3/4"));
      assert.equal(raw.result.chars, 250);
    });

    test("backend: webgpu samples on the GPU where there is one, else on the CPU with the reason; cpu is the CPU", async () => {
      const gpu = await generate(page, "gpu");
      const cpu = await generate(page, "cpu");
      assert.equal(cpu.result.backend, "cpu");
      assert.equal(cpu.result.raw, native(5, 300));
      const status = await page.evaluate(() => document.getElementById("gpu").shadowRoot.querySelector(".status").textContent);
      if (config.webgpu) {
        assert.equal(gpu.result.backend, "webgpu", gpu.result.backendReason);
        assert.match(gpu.result.backendReason, /^WebGPU requested; adapter: /);
        assert.match(status, /on the WEBGPU$/);
        // Another random stream than the CPU's, so another text; the grammar holds all the same.
        assert.ok(gpu.result.chars >= 300 && gpu.result.dispatches >= 1 && gpu.result.dispatches < gpu.result.chars);
        const check = await page.evaluate(async (kern) => (await import("../pkg/kernrnn.js")).checkScore(kern), gpu.result.kern);
        assert.equal(check.valid, true, JSON.stringify(check.problems));
      } else {
        assert.equal(gpu.result.backend, "cpu");
        assert.equal(gpu.result.raw, cpu.result.raw);
        assert.match(gpu.result.backendReason, /^(this browser has no WebGPU|WebGPU is present but offers no adapter).*: sampling on the CPU/);
        assert.match(status, /on the CPU \((this browser has no WebGPU|WebGPU is present but offers no adapter)/);
      }
    });

    test("errors: a rejected promise, an error event and a visible message", async () => {
      for (const [id, pattern] of [
        ["missing", /cannot download the model .*missing\.safetensors: HTTP 404/],
        ["bad", /temperature must be a number above 0 and at most 10, got "hot"/],
        // the one meter rule, in the words of `kernrnn sample` and `kernrnn check`
        ["bad-meter", /^meter must be auto \(from the music\) or N\/D with N a whole number from 1 to 99 and D one of 1, 2, 4, 8, 16, 32, 64, got "0\/4"$/],
      ]) {
        const { rejected, events } = await generate(page, id);
        assert.ok(rejected?.isError, `${id}: generate() rejects with an Error`);
        assert.match(rejected.message, pattern);
        assert.deepEqual(events.map((e) => e.type), ["error"]);
        assert.deepEqual(Object.keys(events[0].detail), ["message"]);
        assert.equal(events[0].detail.message, rejected.message);
        const shown = await page.evaluate((id) => {
          const box = document.getElementById(id).shadowRoot.querySelector(".error");
          return !box.hidden && box.getBoundingClientRect().height > 0 ? box.textContent : null;
        }, id);
        assert.equal(shown, rejected.message);
      }
    });

    test("continue: the attribute's score or generate({ continueFrom }) continues, its music unchanged", async () => {
      const continued = (...extra) => cli("sample", "--model", model.file, "--seed", "9", "--length", "300", "--continue", given, ...extra);
      const { result, events } = await generate(page, "continues");
      assert.ok(result, JSON.stringify(events.filter((e) => e.type === "error")));
      assert.equal(result.kern, continued());
      assert.ok(result.kern.startsWith(fs.readFileSync(given, "utf8").split("\n==")[0]));
      assert.equal(typeof result.fromMeasure, "number");
      assert.deepEqual(result.notices, []);
      const from = await page.evaluate(async (text) => {
        const el = document.getElementById("continues");
        el.setAttribute("from-measure", "2");
        const r = await el.generate();
        const direct = await el.generate({ continueFrom: text, fromMeasure: 3 });
        el.removeAttribute("from-measure");
        return { attr: r.kern, direct: direct.kern, from: direct.fromMeasure };
      }, fs.readFileSync(given, "utf8"));
      assert.equal(from.attr, continued("--from-measure", "2"));
      assert.equal(from.direct, continued("--from-measure", "3"));
      assert.equal(from.from, 3);
      const bad = await page.evaluate(async () => {
        const el = document.getElementById("continues");
        const errors = [];
        for (const [text, fromMeasure] of [["not kern at all", undefined], [null, "nine"]]) {
          try {
            if (text === null) el.setAttribute("continue", "../test-models/missing.krn");
            await el.generate(text === null ? { fromMeasure } : { continueFrom: text });
          } catch (e) {
            errors.push(e.message);
          }
        }
        el.setAttribute("continue", "../test-models/given.krn");
        return errors;
      });
      assert.match(bad[0], /^Cannot continue the given score: this is not a \*\*kern score/);
      assert.match(bad[1], /cannot download the score .*missing\.krn: HTTP 404/);
    });

    test("stop() ends a generate() early with what was drawn", async () => {
      const r = await page.evaluate(async () => {
        const el = document.getElementById("long");
        el.addEventListener("progress", () => el.stop(), { once: true });
        return el.generate();
      });
      assert.equal(r.stopped, true);
      assert.ok(r.chars > 0 && r.chars < 200000);
      assert.ok(native(2, r.chars).startsWith(r.raw));
    });

    test("without a model attribute: the first model of the site's manifest", { skip: shippedModels().length ? false : "no models in the site" }, async () => {
      const { result } = await generate(page, "default");
      const first = shippedModels()[0];
      assert.equal(result.model, first.name);
      assert.equal(result.raw, cli("sample", "--model", path.join(site, "models", first.file), "--seed", "3", "--length", "200"));
    });
  });
}

describe("embed-example.html", () => {
  const shipped = shippedModels().map((m) => m.name);
  const ready = ["mozart", "beethoven"].every((n) => shipped.includes(n));
  test("two instances side by side compose and engrave", { skip: ready ? false : "needs the shipped mozart and beethoven models" }, async () => {
    const browser = await launch({ webgpu: false });
    try {
      const page = await browser.newPage();
      await page.goto(srv.url("embed-example.html"));
      const results = await page.evaluate(() => Promise.all([...document.querySelectorAll("kern-sampler")].map((el) => el.generate())));
      assert.equal(results.length, 2);
      assert.deepEqual(results.map((r) => r.model), ["mozart", "beethoven"]);
      const boxes = await page.evaluate(() => [...document.querySelectorAll("kern-sampler")].map((el) => [el.getBoundingClientRect().left, el.shadowRoot.querySelectorAll("svg g.note").length]));
      assert.ok(boxes[0][0] < boxes[1][0], "side by side");
      assert.ok(boxes.every(([, notes]) => notes > 0));
      assert.equal(results[0].raw, cli("sample", "--model", path.join(site, "models/mozart.safetensors"), "--seed", "7", "--length", "1200"));
    } finally {
      await browser.close();
    }
  });
});
