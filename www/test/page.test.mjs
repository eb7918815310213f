// The composer page (dist/index.html) in headless Chromium, with and without WebGPU.
// Run by `make test` (or `make test-web`); see helpers.mjs for what it needs.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import {
  CONFIGS,
  checkSetup,
  cli,
  launch,
  nodeVerovio,
  readDownload,
  serveSite,
  shippedModels,
  site,
  tempDir,
  trainTinyModel,
} from "./helpers.mjs";

checkSetup();
const model = trainTinyModel();
// A truncated copy of the weights (a broken download) beside it.
fs.writeFileSync(path.join(model.dir, "truncated.safetensors"), fs.readFileSync(model.file).subarray(0, 5000));
const MODEL = "test-models/tiny.safetensors";
const native = (o) =>
  cli("sample", "--model", model.file, "--seed", String(o.seed), "--temperature", String(o.temperature ?? 0.8),
    "--length", String(o.length), ...(o.prime ? ["--prime", o.prime] : []), ...(o.kern ? ["--kern"] : []),
    ...(o.raw ? ["--raw"] : []), ...(o.meter ? ["--meter", o.meter] : []));

let srv;
before(async () => {
  srv = await serveSite({ "test-models/": model.dir });
});
after(() => srv?.close());

/** Waits until the page is done composing (or shows an error); returns the state. */
async function settled(page, timeout = 60000) {
  await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, { timeout, polling: 100 });
  return page.evaluate(() => document.body.dataset.state);
}

async function errorText(page) {
  const el = page.locator("#error");
  await el.waitFor({ state: "visible", timeout: 30000 });
  return el.textContent();
}

/** The page shows something besides the error: never a blank page. */
async function notBlank(page) {
  assert.ok(await page.locator("h1").isVisible());
  assert.ok(await page.locator("#controls").isVisible());
}

async function engravedNotes(page) {
  await page.waitForFunction(() => document.querySelectorAll("#score svg g.note").length > 0, null, { timeout: 30000, polling: 100 });
  return page.locator("#score svg g.note").count();
}

for (const config of CONFIGS) {
  describe(`composer page ${config.name}`, () => {
    let browser;
    before(async () => {
      browser = await launch(config);
    });
    after(() => browser?.close());

    test("composes from the form: notation, backend, raw text byte-identical to the CLI", async () => {
      const page = await browser.newPage();
      await page.goto(srv.url(`#model=${MODEL}`));
      await page.waitForFunction(() => document.body.dataset.state === "idle", null, { polling: 100 });
      await page.fill("#seed", "5");
      await page.fill("#temperature", "0.9");
      await page.fill("#length", "700");
      await page.click("#compose");
      assert.equal(await settled(page), "done", await page.textContent("#error"));

      const raw = await page.textContent("#raw");
      assert.equal(raw, native({ seed: 5, temperature: 0.9, length: 700 }));
      assert.equal(await page.textContent("#kern"), native({ seed: 5, temperature: 0.9, length: 700, kern: true }));
      assert.ok((await engravedNotes(page)) > 0, "notes in the engraved SVG");
      // The checker's report on the score, as `kernrnn check` gives it.
      await page.waitForSelector("#check:not([hidden])");
      assert.equal(await page.getAttribute("#check", "data-valid"), "1");
      assert.match(await page.textContent("#check-summary"), /^Checker: valid \*\*kern · \d+ lines, \d+ measures, (\d+)\/\1 spine measures add up \(100\.0%\); 0 structure, 0 unknown-token, 0 rhythm problems$/);

      const backend = page.locator("#backend");
      assert.equal(await backend.getAttribute("data-backend"), "cpu");
      assert.match(await backend.textContent(), /Backend: CPU/);
      assert.equal(await backend.getAttribute("data-webgpu"), config.webgpu ? "available" : "unavailable");
      // With the grammar the sample ends at a barline, at or after the length asked for.
      const chars = Number((await page.textContent("#status")).match(/^Composed ([\d,]+) characters .* chars\/s\) on the CPU\.$/)[1].replace(/,/g, ""));
      assert.equal(chars, [...raw].length - 2);
      assert.ok(chars >= 700);

      const hash = new URLSearchParams(new URL(page.url()).hash.slice(1));
      assert.deepEqual(Object.fromEntries(hash), { model: MODEL, seed: "5", temperature: "0.9", length: "700" });
      assert.deepEqual(page.errors, []);
    });

    test("backend: auto measures both paths; webgpu samples on the GPU (logits within 1e-3 of the CPU's)", async () => {
      const page = await browser.newPage();
      await page.goto(srv.url(`#model=${MODEL}&seed=3&length=300&backend=webgpu`));
      assert.equal(await settled(page), "done", await page.textContent("#error"));
      const backend = page.locator("#backend");
      const status = await page.textContent("#status");
      assert.equal(await page.inputValue("#backend-choice"), "webgpu");
      if (!config.webgpu) {
        assert.equal(await backend.getAttribute("data-backend"), "cpu");
        assert.match(await backend.textContent(), /Backend: CPU \(WebAssembly\)\. (this browser has no WebGPU|WebGPU is present but offers no adapter)/);
        assert.equal(await page.textContent("#raw"), native({ seed: 3, length: 300 }));
        return;
      }
      assert.equal(await backend.getAttribute("data-backend"), "webgpu", await backend.textContent());
      assert.match(await backend.textContent(), /^Backend: WebGPU\. WebGPU requested; adapter: /);
      const [, chars, dispatches] = status.match(/^Composed ([\d,]+) characters .* on the GPU \(WebGPU\), ([\d,]+) GPU dispatches \([\d.]+ per character\)\.$/);
      assert.ok(Number(dispatches.replace(/,/g, "")) < Number(chars.replace(/,/g, "")), status);
      assert.ok((await engravedNotes(page)) > 0, "notes in the engraved SVG");
      await page.waitForSelector("#check:not([hidden])");
      assert.equal(await page.getAttribute("#check", "data-valid"), "1", await page.textContent("#check-summary"));

      // The kernel's logits for a fixed input agree with the CPU step's, and its argmax sample
      // (which needs no random numbers) is the CPU's over many chunks: the state it carries
      // from chunk to chunk stays right (a cell state that grows large once made tanh NaN).
      const text = native({ seed: 9, length: 80, raw: true }).slice(0, 64);
      const { worst, gpuText, cpuText } = await page.evaluate(async ({ url, text }) => {
        const mod = await import("./pkg/kernrnn.js");
        await mod.default({ module_or_path: new URL("./pkg/kernrnn_bg.wasm", location.href) });
        await mod.initWebGpu();
        const composer = new mod.Composer(new Uint8Array(await (await fetch(url)).arrayBuffer()));
        const cpu = composer.logitsFor(text);
        const gpu = await composer.gpu().logitsFor(text);
        let worst = cpu.length === gpu.length && cpu.length === [...text].length ? 0 : Infinity;
        cpu.forEach((row, i) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - gpu[i][j])))));
        const opts = { raw: true, argmax: true, length: 400 };
        const s = composer.gpu().start(opts);
        s.fixSteps(16);
        let gpuText = s.prime();
        while (!s.done()) gpuText += await s.next(1000);
        return { worst, gpuText, cpuText: composer.start(opts).next(1000) };
      }, { url: MODEL, text });
      assert.ok(worst < 1e-3, `GPU logits differ from the CPU's by ${worst}`);
      assert.equal(gpuText, "@\n" + cpuText);

      // 8 variations on WebGPU: one batch, each dispatch advances all 8.
      await page.goto("about:blank");
      await page.goto(srv.url(`#model=${MODEL}&backend=webgpu`));
      await page.waitForFunction(() => document.body.dataset.state === "idle", null, { polling: 100 });
      await page.fill("#seed", "20");
      await page.fill("#length", "150");
      await page.click("#variations");
      await page.waitForFunction(() => document.querySelectorAll("#variations-list li").length === 8 && !document.querySelector("#compose").disabled, null, { timeout: 120000, polling: 100 });
      const batchStatus = await page.textContent("#status");
      const [, batchChars, batchDispatches] = batchStatus.match(/^8 variations, ([\d,]+) characters in .* on the GPU \(WebGPU\), ([\d,]+) GPU dispatches for all 8 at once: pick one\.$/) || [];
      assert.ok(batchChars, batchStatus);
      // Each dispatch advances all 8, but a sample whose line is refused gets no character from
      // it (its line is drawn again from where it began); one sample alone of this tiny model
      // takes about 1.6 characters a dispatch.
      assert.ok(Number(batchDispatches.replace(/,/g, "")) * 4 < Number(batchChars.replace(/,/g, "")), batchStatus);
      assert.deepEqual(await page.locator("#variations-list h3").allTextContents(), [20, 21, 22, 23, 24, 25, 26, 27].map((s) => `Seed ${s}`));
      await page.click("text=Pick seed 23");
      await page.waitForFunction(() => document.querySelector("#seed").value === "23", null, { polling: 100 });
      assert.match(page.url(), /seed=23.*backend=webgpu/);
      await page.waitForSelector("#check:not([hidden])");
      assert.equal(await page.getAttribute("#check", "data-valid"), "1", await page.textContent("#check-summary"));

      // A GPU that fails while sampling (here every read-back is refused, as after a lost
      // device): the piece is sampled again on the CPU, on a new WebAssembly instance, and the
      // page says why. The text is then the command line's.
      const broken = await browser.newPage();
      await broken.addInitScript(() => {
        GPUBuffer.prototype.mapAsync = () => Promise.reject(new DOMException("simulated device loss", "OperationError"));
      });
      await broken.goto(srv.url(`#model=${MODEL}&seed=3&length=200&backend=webgpu`));
      assert.equal(await settled(broken, 120000), "done", await broken.textContent("#error"));
      assert.equal(await broken.getAttribute("#backend", "data-backend"), "cpu");
      assert.match(await broken.textContent("#backend"), /^Backend: CPU \(WebAssembly\)\. WebGPU failed \(.+\): sampled again on the CPU/);
      assert.equal(await broken.textContent("#raw"), native({ seed: 3, length: 200 }));
      assert.ok((await engravedNotes(broken)) > 0);
      await broken.close();

      // auto: both paths are timed and the faster one is named.
      await page.goto("about:blank");
      await page.goto(srv.url(`#model=${MODEL}&seed=3&length=300`));
      assert.equal(await settled(page), "done", await page.textContent("#error"));
      const auto = await backend.textContent();
      assert.match(auto, /auto: measured WebGPU \(.*\) [\d,]+ chars\/s against the CPU \(WebAssembly\) [\d,]+ chars\/s; the (GPU|CPU) is faster here/);
      assert.equal(await backend.getAttribute("data-backend"), /the GPU is faster/.test(auto) ? "webgpu" : "cpu");
      assert.deepEqual(page.errors, []);
    });

    test("a shared link recreates the same piece, prime, meter, raw and argmax included", async () => {
      const prime = "@\n4C\t8c\t.\n";
      const page = await browser.newPage();
      const hash = new URLSearchParams({ model: MODEL, seed: "11", temperature: "1.1", length: "500", prime });
      await page.goto(srv.url(`#${hash}`));
      assert.equal(await settled(page), "done", await page.textContent("#error"));
      assert.equal(await page.textContent("#raw"), native({ seed: 11, temperature: 1.1, length: 500, prime }));
      assert.equal(await page.inputValue("#prime"), prime);

      await page.goto("about:blank");
      await page.goto(srv.url(`#model=${MODEL}&seed=12&length=400&meter=3/4`));
      assert.equal(await settled(page), "done");
      assert.equal(await page.textContent("#kern"), native({ seed: 12, length: 400, meter: "3/4", kern: true }));
      assert.equal(await page.inputValue("#meter"), "3/4");

      await page.goto("about:blank");
      await page.goto(srv.url(`#model=${MODEL}&seed=12&length=400&raw=1`));
      assert.equal(await settled(page), "done");
      assert.equal(await page.textContent("#raw"), native({ seed: 12, length: 400, raw: true }));
      assert.equal(await page.isChecked("#grammar"), false);
      // Without the grammar the checker's report lists problems by line (as text, not HTML).
      await page.waitForSelector("#check:not([hidden])");
      const summary = await page.textContent("#check-summary");
      const problems = await page.locator("#check-problems li").allTextContents();
      if ((await page.getAttribute("#check", "data-valid")) === "1") assert.match(summary, /^Checker: valid/);
      else {
        assert.match(summary, /^Checker: \d+ problems? · /);
        assert.ok(problems.length > 0 && problems.every((p) => /^line \d+: (structure|unknown token|rhythm): /.test(p)), problems.join("\n"));
      }

      await page.goto("about:blank");
      await page.goto(srv.url(`#model=${MODEL}&seed=3&length=300&argmax=1`));
      assert.equal(await settled(page), "done");
      assert.equal(await page.textContent("#raw"), cli("sample", "--model", model.file, "--length", "300", "--argmax"));
      assert.ok(await page.isChecked("#argmax"));
    });

    test("downloads: .krn, .mid, .svg and .mei are re-read by verovio and the library", async () => {
      const page = await browser.newPage();
      await page.goto(srv.url(`#model=${MODEL}&seed=8&length=900`));
      assert.equal(await settled(page), "done");
      const kern = await page.textContent("#kern");
      const get = async (kind) => {
        const [dl] = await Promise.all([page.waitForEvent("download"), page.click(`[data-download="${kind}"]`)]);
        return { name: dl.suggestedFilename(), bytes: await readDownload(dl) };
      };

      const krn = await get("krn");
      assert.equal(krn.name, "kernrnn-tiny-seed8.krn");
      assert.equal(krn.bytes.toString("utf8"), kern);
      const tk = await nodeVerovio();
      tk.setOptions({ inputFrom: "humdrum" });
      assert.ok(tk.loadData(kern), "verovio reads the .krn");
      assert.ok((tk.renderToSVG(1).match(/class="note"/g) || []).length > 0);
      // The library reads it back as training text: its measures and data lines are the sample's.
      const dir = tempDir("krn");
      fs.writeFileSync(path.join(dir, krn.name), krn.bytes);
      const prepared = cli("prep", "--corpus", dir);
      const raw = await page.textContent("#raw");
      const rawLines = new Set(raw.split("\n"));
      const data = prepared.split("\n").filter((l) => l && l !== "@" && !l.startsWith("*"));
      assert.ok(data.length > 10, "prepared text has the music");
      assert.ok(data.filter((l) => rawLines.has(l)).length >= data.length * 0.8, "prepared lines come from the sample");

      const mid = await get("mid");
      assert.equal(mid.name, "kernrnn-tiny-seed8.mid");
      assert.equal(mid.bytes.subarray(0, 4).toString("latin1"), "MThd");
      assert.ok(mid.bytes.includes(Buffer.from("MTrk")));
      tk.setOptions({ inputFrom: "humdrum" });
      assert.ok(tk.loadData(kern));
      assert.deepEqual(mid.bytes, Buffer.from(tk.renderToMIDI(), "base64"), "the MIDI verovio makes of the .krn");

      const svg = await get("svg");
      const text = svg.bytes.toString("utf8");
      assert.match(text, /^<svg[\s>]/);
      assert.ok((text.match(/class="note"/g) || []).length > 0);

      const mei = await get("mei");
      const meiText = mei.bytes.toString("utf8");
      assert.match(meiText, /<mei[\s>]/);
      tk.setOptions({ inputFrom: "mei" });
      assert.ok(tk.loadData(meiText), "verovio reads the .mei");
      assert.ok((tk.renderToSVG(1).match(/class="note"/g) || []).length > 0);
    });

    test("your own weights file (file input) composes like the CLI", async () => {
      const page = await browser.newPage();
      await page.goto(srv.url(""));
      await page.waitForFunction(() => document.body.dataset.state === "idle", null, { polling: 100 });
      await page.setInputFiles("#file", model.file);
      assert.equal(await page.inputValue("#model"), "file");
      await page.waitForFunction(() => /your file tiny\.safetensors: tiny, 2×48 LSTM/.test(document.querySelector("#model-info").textContent), null, { polling: 100 });
      await page.fill("#seed", "13");
      await page.fill("#length", "300");
      await page.click("#compose");
      assert.equal(await settled(page), "done", await page.textContent("#error"));
      assert.equal(await page.textContent("#raw"), native({ seed: 13, length: 300 }));
      assert.ok(!new URL(page.url()).hash.includes("model="), "a link cannot name the user's file");
    });

    test("continues a dropped .krn like kernrnn sample --continue: its music unchanged, then the model's", async () => {
      const score = path.join(model.dir, "given.krn");
      fs.writeFileSync(score, native({ seed: 21, length: 500, kern: true }));
      const continued = (...extra) => cli("sample", "--model", model.file, "--seed", "13", "--length", "300", "--continue", score, ...extra);
      const page = await browser.newPage();
      await page.goto(srv.url(`#model=${MODEL}&backend=cpu`));
      await page.waitForFunction(() => document.body.dataset.state === "idle", null, { polling: 100 });
      // Dropped on the page, as a user drags it from their files.
      const drop = await page.evaluateHandle((text) => {
        const dt = new DataTransfer();
        dt.items.add(new File([text], "given.krn", { type: "" }));
        return dt;
      }, fs.readFileSync(score, "utf8"));
      await page.dispatchEvent("main", "drop", { dataTransfer: drop });
      await page.waitForFunction(() => /Compose continues given\.krn/.test(document.querySelector("#continue-info").textContent), null, { polling: 100 });
      assert.equal(await page.textContent("#compose"), "Continue the score");
      await page.fill("#seed", "13");
      await page.fill("#length", "300");
      await page.click("#compose");
      assert.equal(await settled(page), "done", await page.textContent("#error"));
      const kern = await page.textContent("#kern");
      assert.equal(kern, continued());
      const given = fs.readFileSync(score, "utf8");
      assert.ok(kern.startsWith(given.slice(0, given.lastIndexOf("\n==")+1)), "the given music comes back unchanged");
      assert.match(await page.textContent("#piece-info"), /continues given\.krn from measure \d+: \d+ measures by the model/);
      await page.waitForSelector("#check:not([hidden])");
      assert.equal(await page.getAttribute("#check", "data-valid"), "1", await page.textContent("#check-summary"));
      // Its link carries the score (packed), so it composes the same continuation elsewhere.
      const hash = new URLSearchParams(new URL(page.url()).hash.slice(1));
      assert.ok(hash.get("score")?.length > 100, "the link holds the score");
      assert.equal(hash.get("scorename"), "given.krn");
      const linked = await browser.newPage();
      await linked.goto(page.url());
      assert.equal(await settled(linked), "done", await linked.textContent("#error"));
      assert.equal(await linked.textContent("#kern"), kern);
      assert.match(await linked.textContent("#continue-info"), /^Compose continues given\.krn/);
      // A link whose score was cut short says so.
      await linked.goto("about:blank");
      await linked.goto(srv.url(`#model=${MODEL}&seed=13&score=${hash.get("score").slice(0, 60)}&scorename=given.krn`));
      assert.match(await errorText(linked), /^This link's options are invalid: its score is damaged \(it does not inflate to UTF-8 text\): was the link cut short\?$/);
      await linked.goto("about:blank");
      await linked.goto(srv.url(`#model=${MODEL}&seed=13&scorefrom=2`));
      assert.match(await errorText(linked), /"scorefrom" belongs to a continued score: the link has no "score"/);
      // From a measure, through the file picker.
      await page.fill("#from-measure", "2");
      await page.setInputFiles("#continue-file", score);
      await page.click("#compose");
      assert.equal(await settled(page), "done", await page.textContent("#error"));
      assert.equal(await page.textContent("#kern"), continued("--from-measure", "2"));
      assert.equal(new URLSearchParams(new URL(page.url()).hash.slice(1)).get("scorefrom"), "2");
      // What cannot be continued is said, and Compose from scratch composes as before.
      await page.fill("#from-measure", "999");
      await page.click("#compose");
      assert.equal(await settled(page), "error");
      assert.match(await errorText(page), /^Cannot continue given\.krn: this score has no measure 999: its numbered barlines are 1 to \d+$/);
      await page.click("#continue-clear");
      await page.fill("#from-measure", "");
      await page.click("#compose");
      assert.equal(await settled(page), "done", await page.textContent("#error"));
      assert.equal(await page.textContent("#raw"), native({ seed: 13, length: 300 }));
      const text = await page.evaluateHandle(() => {
        const dt = new DataTransfer();
        dt.items.add(new File(["@\n4c\t4e\t.\n@\n"], "sample.krn"));
        return dt;
      });
      await page.dispatchEvent("main", "drop", { dataTransfer: text });
      await page.click("#compose");
      assert.equal(await settled(page), "error");
      assert.match(await errorText(page), /^Cannot continue sample\.krn: this is not a \*\*kern score/);
      await notBlank(page);
      assert.deepEqual(page.errors, []);
    });

    test("regenerate from a clicked measure: the measures before it byte for byte, and the link reproduces it", async () => {
      const page = await browser.newPage();
      await page.goto(srv.url(`#model=${MODEL}&backend=cpu`));
      await page.waitForFunction(() => document.body.dataset.state === "idle", null, { polling: 100 });
      await page.fill("#seed", "8");
      await page.fill("#length", "900");
      await page.click("#compose");
      assert.equal(await settled(page), "done", await page.textContent("#error"));
      const first = await page.textContent("#kern");
      await page.waitForFunction(() => !document.body.dataset.engraving, null, { polling: 100 });
      const measures = page.locator("#score svg g.measure");
      assert.ok((await measures.count()) >= 3, "a piece of several measures");
      await measures.nth(2).dispatchEvent("click");
      await page.waitForFunction(() => /\d$/.test(document.querySelector("#regenerate").textContent), null, { polling: 100 });
      const n = /Regenerate from measure (\d+)$/.exec(await page.textContent("#regenerate"))[1];
      assert.equal(await page.inputValue("#from-measure"), "", "the picked measure is not the From measure of a score to continue");
      assert.equal(await page.locator("#score svg g.measure.kr-picked").count(), 1);
      await page.click("#regenerate");
      assert.equal(await settled(page), "done", await page.textContent("#error"));
      const second = await page.textContent("#kern");
      const cut = first.indexOf(`\n=${n}\t`) + 1;
      assert.ok(cut > 0, `the score has a barline =${n}`);
      assert.equal(second.slice(0, cut), first.slice(0, cut), "the measures before it are unchanged");
      assert.ok(second.slice(cut).startsWith(`=${n}\t`) && second.includes("!! kernrnn continues here"));
      const hash = new URLSearchParams(new URL(page.url()).hash.slice(1));
      assert.equal(hash.get("seed"), "8");
      assert.equal(hash.get("from"), n);
      assert.match(hash.get("seed2"), /^\d+$/);
      // The CLI makes the same score from the first one.
      const firstFile = path.join(model.dir, "first.krn");
      fs.writeFileSync(firstFile, first);
      const seed2 = hash.get("seed2");
      assert.equal(second, cli("sample", "--model", model.file, "--seed", seed2, "--length", "900", "--continue", firstFile, "--from-measure", n));
      // The link recreates it in a fresh page.
      const again = await browser.newPage();
      await again.goto(page.url());
      await again.waitForFunction(() => document.querySelector("#piece-info").textContent.includes("regenerated"), null, { timeout: 60000, polling: 100 });
      assert.equal(await settled(again), "done", await again.textContent("#error"));
      assert.equal(await again.textContent("#kern"), second);
      // A link whose regeneration is out of range says so.
      await again.goto("about:blank");
      await again.goto(srv.url(`#model=${MODEL}&seed=8&length=900&from=9999&seed2=1`));
      assert.match(await errorText(again), /Cannot continue this piece: this score has no measure 9999/);
      await again.goto("about:blank");
      await again.goto(srv.url(`#model=${MODEL}&seed=8&from=3`));
      assert.match(await errorText(again), /each "from" \(a measure to regenerate from\) needs its "seed2", got 1 and 0/);
      assert.deepEqual(page.errors, []);
    });

    test("the form's defaults and limits are the library's (the command line's)", async () => {
      const page = await browser.newPage();
      await page.goto(srv.url(`#model=${MODEL}`));
      await page.waitForFunction(() => document.body.dataset.state === "idle" && document.querySelector("#length").value, null, { polling: 100 });
      assert.deepEqual(
        await page.evaluate(() => ["temperature", "seed", "length", "prime", "meter"].map((id) => document.getElementById(id).value)),
        ["0.8", "1", "2000", "@\n", "auto"],
      );
      assert.equal(await page.getAttribute("#length", "max"), "10000000");
      assert.equal(await page.getAttribute("#temperature", "max"), "10");
      await page.click("#compose");
      assert.equal(await settled(page), "done", await page.textContent("#error"));
      assert.equal(await page.textContent("#raw"), cli("sample", "--model", model.file));
    });

    test("what is typed while the page loads is kept: a link's options never overwrite it", async () => {
      const page = await browser.newPage();
      // Hold the WebAssembly back, so the form is typed into before the library is ready.
      let release;
      const held = new Promise((r) => (release = r));
      await page.route("**/kernrnn_bg.wasm", async (route) => {
        await held;
        await route.continue();
      });
      await page.goto(srv.url(`#model=${MODEL}&length=300`));
      await page.waitForFunction(() => document.body.dataset.state === "idle", null, { polling: 100 });
      assert.equal(await page.inputValue("#length"), "300", "the link's options are in the form when it comes alive");
      await page.fill("#seed", "9");
      await page.fill("#length", "400");
      await page.click("#compose");
      release();
      assert.equal(await settled(page), "done", await page.textContent("#error"));
      assert.equal(await page.textContent("#raw"), native({ seed: 9, length: 400 }));
      // Composing needed the library, so the page's start-up has run to its end by now.
      assert.equal(await page.inputValue("#seed"), "9");
      assert.equal(await page.inputValue("#length"), "400");
    });

    test("Stop keeps what was drawn, which is the start of the CLI's sample", async () => {
      const page = await browser.newPage();
      await page.goto(srv.url(`#model=${MODEL}`));
      await page.waitForFunction(() => document.body.dataset.state === "idle", null, { polling: 100 });
      await page.fill("#seed", "2");
      await page.fill("#length", "200000");
      await page.click("#compose");
      await page.waitForFunction(() => document.querySelector("#progress").value > 0.01, null, { polling: 100 });
      assert.ok(await page.isEnabled("#stop"));
      await page.click("#stop");
      assert.equal(await settled(page), "done");
      assert.match(await page.textContent("#status"), /^Stopped after/);
      const raw = await page.textContent("#raw");
      const drawn = raw.length - 2; // the prime "@\n" (the tiny model's characters are one UTF-16 unit each)
      assert.ok(drawn > 0 && drawn < 200000, `drew ${drawn}`);
      // The CLI asked for as many characters draws the same ones (then finishes the measure).
      const cli = native({ seed: 2, length: drawn });
      const differsAt = [...raw].findIndex((c, i) => c !== cli[i]);
      assert.ok(cli.startsWith(raw), `the page's ${raw.length} characters differ from the CLI's at ${differsAt}: ${JSON.stringify(raw.slice(Math.max(0, differsAt - 40), differsAt + 40))} against ${JSON.stringify(cli.slice(Math.max(0, differsAt - 40), differsAt + 40))}; ${await page.textContent("#backend")}`);
      assert.ok((await engravedNotes(page)) > 0);
    });

    test("8 variations: seeds s..s+7, pick one to engrave and download", async () => {
      const page = await browser.newPage();
      await page.goto(srv.url(`#model=${MODEL}`));
      await page.waitForFunction(() => document.body.dataset.state === "idle", null, { polling: 100 });
      await page.fill("#seed", "20");
      await page.fill("#length", "300");
      await page.click("#variations");
      await page.waitForFunction(() => document.querySelectorAll("#variations-list li").length === 8 && !document.querySelector("#compose").disabled, null, { timeout: 60000, polling: 100 });
      const titles = await page.locator("#variations-list h3").allTextContents();
      assert.deepEqual(titles, [20, 21, 22, 23, 24, 25, 26, 27].map((s) => `Seed ${s}`));
      await page.waitForFunction(() => document.querySelectorAll("#variations-list .thumb > svg").length === 8, null, { timeout: 60000, polling: 100 }).catch(async (e) => {
        const thumbs = await page.evaluate(() => [...document.querySelectorAll("#variations-list .thumb")].map((t) => (t.querySelector("svg") ? "svg" : t.textContent)));
        throw new Error(`${e.message}; previews: ${JSON.stringify(thumbs)}`);
      });
      await page.click("text=Pick seed 23");
      await page.waitForFunction(() => document.querySelector("#seed").value === "23", null, { polling: 100 });
      assert.equal(await page.textContent("#raw"), native({ seed: 23, length: 300 }));
      assert.ok((await engravedNotes(page)) > 0);
      assert.match(page.url(), /seed=23/);
      const [dl] = await Promise.all([page.waitForEvent("download"), page.click('[data-download="krn"]')]);
      assert.equal(dl.suggestedFilename(), "kernrnn-tiny-seed23.krn");
      assert.equal((await readDownload(dl)).toString("utf8"), native({ seed: 23, length: 300, kern: true }));
    });

    test("playback on the piano, loaded from the site only, highlights the sounding notes", async () => {
      const page = await browser.newPage();
      const requests = [];
      page.on("request", (r) => requests.push(r.url()));
      await page.goto(srv.url(`#model=${MODEL}&seed=4&length=400`));
      assert.equal(await settled(page), "done");
      await page.waitForFunction(() => !document.body.dataset.engraving, null, { polling: 100 });
      await engravedNotes(page);
      assert.equal(await page.inputValue("#score .kr-tempo input"), "120", "the score's *MM");
      await page.fill("#score .kr-tempo input", "1000");
      await page.click("#score .kr-play");
      await page.waitForFunction(() => document.querySelectorAll("#score g.kr-playing").length > 0, null, { timeout: 60000, polling: 100 });
      assert.equal(await page.textContent("#score .kr-play"), "■ Stop");
      assert.equal(await page.getAttribute("#score .kr-score", "data-instrument"), "piano", await page.textContent("#score .kr-note"));
      assert.match(await page.textContent("#score .kr-note"), /^The tempo must be 20 to 400 quarter notes per minute, not "1000": playing at the score's 120\.$/);
      assert.equal(await page.inputValue("#score .kr-tempo input"), "120");
      await page.click("#score .kr-play");
      await page.waitForFunction(() => document.querySelectorAll("#score g.kr-playing").length === 0, null, { polling: 100 });
      const site = new URL(srv.url("")).origin;
      assert.deepEqual(requests.filter((u) => !u.startsWith(site) && !u.startsWith("data:") && !u.startsWith("blob:")), [], "no request leaves the site");
      const piano = requests.filter((u) => /\/vendor\/piano\/[A-G]s?\d\.mp3$/.test(u));
      assert.equal(new Set(piano).size, 30, "the piano's 30 samples");
      assert.deepEqual(page.errors, []);
    });

    test("errors are messages, never a blank page", async () => {
      const page = await browser.newPage();
      // A weights URL that does not exist.
      await page.goto(srv.url(`#model=test-models/missing.safetensors&seed=1`));
      assert.match(await errorText(page), /cannot download the model .*missing\.safetensors: HTTP 404/);
      await notBlank(page);

      // A truncated weights file, by URL and as the user's own file.
      await page.goto("about:blank");
      await page.goto(srv.url(`#model=test-models/truncated.safetensors&seed=1`));
      assert.match(await errorText(page), /truncated\.safetensors.*not a kernrnn weights file/);
      await notBlank(page);
      await page.goto("about:blank");
      await page.goto(srv.url(""));
      await page.waitForFunction(() => document.body.dataset.state === "idle", null, { polling: 100 });
      await page.setInputFiles("#file", { name: "mine.safetensors", mimeType: "application/octet-stream", buffer: Buffer.from("<!doctype html>not weights") });
      assert.match(await errorText(page), /mine\.safetensors: not a kernrnn weights file/);
      await page.click("#compose");
      await settled(page);
      assert.match(await page.textContent("#error"), /not a kernrnn weights file/);
      await notBlank(page);

      // Invalid options are named, in the library's words (those of the command line).
      for (const [hash, message] of [
        ["temperature=80", /temperature must be a number above 0 and at most 10, got "80"/],
        ["temperature=NaN", /temperature must be a number above 0 and at most 10, got "NaN"/],
        ["length=99999999999", /length must be a whole number from 1 to 10000000, got "99999999999"/],
        ["meter=0/4", /meter must be auto \(from the music\) or N\/D with N a whole number from 1 to 99 and D one of 1, 2, 4, 8, 16, 32, 64, got "0\/4"/],
        ["meter=100/4", /got "100\/4"/],
        ["backend=quantum", /backend must be auto, webgpu or cpu, got "quantum"/],
        ["colour=red", /unknown option "colour"/],
      ]) {
        await page.goto("about:blank");
        await page.goto(srv.url(`#model=${MODEL}&seed=1&${hash}`));
        assert.match(await errorText(page), message, hash);
        assert.equal(await page.textContent("#raw"), "", `${hash}: nothing was composed`);
      }

      // The WebAssembly does not start.
      const broken = await browser.newPage();
      await broken.route("**/kernrnn_bg.wasm", (r) => r.fulfill({ status: 200, contentType: "application/wasm", body: "not wasm" }));
      await broken.goto(srv.url(`#model=${MODEL}&seed=1`));
      assert.match(await errorText(broken), /cannot start the composer's WebAssembly/);
      await notBlank(broken);

      // A missing script of the page.
      const missing = await browser.newPage();
      await missing.route("**/score-view.js", (r) => r.fulfill({ status: 404, body: "" }));
      await missing.goto(srv.url(""));
      assert.match(await errorText(missing), /cannot start|Cannot load|did not start/i);
      await notBlank(missing);
    });

    test("labelled controls, keyboard use and a phone-sized screen", async () => {
      const page = await browser.newPage({ viewport: { width: 360, height: 740 } });
      await page.goto(srv.url(`#model=${MODEL}`));
      await page.waitForFunction(() => document.body.dataset.state === "idle", null, { polling: 100 });
      const unlabelled = await page.evaluate(() =>
        [...document.querySelectorAll("input, select, textarea, button")]
          .filter((e) => !e.labels?.length && !e.getAttribute("aria-label") && !e.textContent.trim())
          .map((e) => e.id || e.outerHTML.slice(0, 60)),
      );
      assert.deepEqual(unlabelled, []);
      // Keyboard only: the seed field, then Enter submits the form.
      await page.focus("#seed");
      await page.keyboard.press("Control+A");
      await page.keyboard.type("9");
      await page.focus("#length");
      await page.keyboard.press("Control+A");
      await page.keyboard.type("400");
      await page.keyboard.press("Enter");
      assert.equal(await settled(page), "done");
      assert.equal(await page.textContent("#raw"), native({ seed: 9, length: 400 }));
      // The dice gives a new seed from the keyboard.
      await page.focus("#dice");
      await page.keyboard.press("Enter");
      assert.match(await page.inputValue("#seed"), /^\d+$/);
      // Nothing wider than the screen.
      await engravedNotes(page);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 360, `page is ${width}px wide on a 360px screen`);
    });

    test("works offline after the first visit (service worker)", async () => {
      const page = await browser.newPage({ serviceWorkers: "allow" });
      await page.goto(srv.url(""));
      await page.evaluate(async () => {
        await navigator.serviceWorker.ready;
        while (!navigator.serviceWorker.controller) await new Promise((r) => setTimeout(r, 50));
      });
      await page.goto("about:blank");
      await page.goto(srv.url(`#model=${MODEL}&seed=6&length=300`));
      assert.equal(await settled(page), "done");
      // The first Play fetches the piano; the service worker keeps it.
      const playsOnThePiano = async () => {
        await page.waitForFunction(() => !document.body.dataset.engraving, null, { polling: 100 });
        await page.click("#score .kr-play");
        await page.waitForFunction(() => document.querySelectorAll("#score g.kr-playing").length > 0, null, { timeout: 60000, polling: 100 });
        assert.equal(await page.getAttribute("#score .kr-score", "data-instrument"), "piano", await page.textContent("#score .kr-note"));
        await page.click("#score .kr-play");
      };
      await playsOnThePiano();
      await page.context().setOffline(true);
      await page.goto("about:blank");
      await page.goto(srv.url(`#model=${MODEL}&seed=7&length=300`));
      assert.equal(await settled(page), "done", await page.textContent("#error"));
      assert.equal(await page.textContent("#raw"), native({ seed: 7, length: 300 }));
      assert.ok((await engravedNotes(page)) > 0);
      await playsOnThePiano();
    });

    const shipped = shippedModels();
    test("the shipped models compose exactly as the CLI (golden)", { skip: shipped.length ? false : "no shipped models in the site" }, async () => {
      const page = await browser.newPage();
      for (const m of shipped) {
        await page.goto("about:blank");
        await page.goto(srv.url(`#model=${encodeURIComponent(m.name)}&seed=7&length=1500`));
        assert.equal(await settled(page), "done", await page.textContent("#error"));
        const expected = cli("sample", "--model", path.join(site, "models", m.file), "--seed", "7", "--length", "1500", "--kern");
        assert.equal(await page.textContent("#kern"), expected, m.name);
        assert.ok((await engravedNotes(page)) > 0);
      }
    });
  });
}
