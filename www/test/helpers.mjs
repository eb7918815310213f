// Shared by the browser tests: the site, a static server, headless Chromium, the native CLI.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

import { serve } from "../serve.mjs";

export const www = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const root = path.dirname(www);
export const site = path.resolve(root, process.env.SITE || "dist");
export const kernrnn = path.resolve(root, process.env.KERNRNN || "target/debug/kernrnn");
export const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

/** The two browser configurations every page test runs in. */
export const CONFIGS = [
  { name: "with WebGPU (SwiftShader)", webgpu: true },
  { name: "without WebGPU (CPU fallback)", webgpu: false },
];

const BASE_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--autoplay-policy=no-user-gesture-required",
];
const WEBGPU_FLAGS = ["--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-vulkan=swiftshader", "--use-webgpu-adapter=swiftshader"];

export function tempDir(tag) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `kernrnn-web-${tag}-`));
}

/** Checks the prerequisites with messages that say what to run. */
export function checkSetup() {
  if (!fs.existsSync(path.join(site, "index.html"))) throw new Error(`no site at ${site}: run \`make site\``);
  if (!fs.existsSync(kernrnn)) throw new Error(`no native binary at ${kernrnn}: run \`cargo build --bin kernrnn\``);
  if (!fs.existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: run \`apt-get install chromium\``);
}

let pinned = null;

/** A private copy of the CLI, so a rebuild while the tests run cannot change it under them. */
function kernrnnCopy() {
  if (!pinned) {
    pinned = path.join(tempDir("bin"), "kernrnn");
    fs.copyFileSync(kernrnn, pinned);
    fs.chmodSync(pinned, 0o755);
  }
  return pinned;
}

/** Runs the native CLI; returns stdout as a string. */
export function cli(...args) {
  return execFileSync(kernrnnCopy(), args, { encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "pipe"] });
}

/**
 * A small model trained from the fixture corpus (a second or two), in its own folder with a
 * manifest: { dir, file, name }.
 */
export function trainTinyModel(name = "tiny", { epochs = 12, hidden = 48 } = {}) {
  const dir = tempDir("model");
  execFileSync(
    kernrnnCopy(),
    [
      "train",
      "--corpus", path.join(root, "tests/fixtures/corpus"),
      "--name", name,
      "--out", dir,
      "--checkpoint-dir", path.join(dir, "checkpoints"),
      "--layers", "2",
      "--hidden", String(hidden),
      "--seq-length", "32",
      "--batch-size", "8",
      "--learning-rate", "0.01",
      "--epochs", String(epochs),
      "--eval-every", "1000",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const file = path.join(dir, `${name}.safetensors`);
  if (!fs.existsSync(file)) throw new Error(`training wrote no ${file}`);
  return { dir, file, name };
}

/** Shipped models (models/manifest.json with its weights present), if any. */
export function shippedModels() {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(site, "models/manifest.json"), "utf8"));
    return m.models.filter((e) => fs.existsSync(path.join(site, "models", e.file)));
  } catch {
    return [];
  }
}

/**
 * Serves the site under a non-root base path (proving relative URLs), plus `extra` mounts
 * ({ "name/": dir } under the same base). Returns { base, url(rel), close() }.
 */
export async function serveSite(extra = {}) {
  const base = "/some/base/";
  const mounts = { [base]: site };
  for (const [k, v] of Object.entries(extra)) mounts[base + k] = v;
  const { server, url } = await serve(mounts);
  return { base, url: (rel = "") => url(base + rel), close: () => new Promise((r) => server.close(r)) };
}

/**
 * Launches Chromium with a new empty profile; returns { newPage(options), close() }. Each
 * newPage() gets its own context (no shared cache, storage or service worker), and collects the
 * page's uncaught errors in page.errors.
 */
export async function launch({ webgpu }) {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [...BASE_FLAGS, ...(webgpu ? WEBGPU_FLAGS : [])],
  });
  return {
    browser,
    async newPage({ serviceWorkers = "block", viewport = { width: 1280, height: 900 } } = {}) {
      const context = await browser.newContext({ acceptDownloads: true, serviceWorkers, viewport });
      const page = await context.newPage();
      page.errors = [];
      page.on("pageerror", (e) => page.errors.push(String(e)));
      return page;
    },
    close: () => browser.close(),
  };
}

/** Reads a playwright Download into a Buffer. */
export async function readDownload(download) {
  const p = await download.path();
  return fs.readFileSync(p);
}

let verovio = null;

/** Verovio (Humdrum build) in node, for re-reading downloads. */
export async function nodeVerovio() {
  if (!verovio) {
    const { default: create } = await import(path.join(site, "vendor/verovio/verovio-module-hum.js"));
    const { VerovioToolkit } = await import(path.join(site, "vendor/verovio/verovio.js"));
    verovio = new VerovioToolkit(await create());
  }
  return verovio;
}
