// Reads every .krn file of a folder with verovio (the same npm package and Humdrum build as
// the page) and prints, per group of files, how many verovio loads, engraves with notes, and
// reads without a humlib complaint (humlib, inside verovio, reports rhythm it cannot make sense
// of as "Inconsistent rhythm analysis").
//
//   node www/tools/verovio-check.mjs DIR
//
// Files are grouped by their name without the last two `-` parts (the validity benchmark
// writes MODEL-MODE-TEMPERATURE-SEED.krn, so groups are MODEL-MODE). Exit status 1 when a file
// of a group whose name ends in `constrained` is not clean.
import fs from "node:fs";
import path from "node:path";
import createVerovioModule from "verovio/wasm-hum";
import { VerovioToolkit } from "verovio/esm";

const dir = process.argv[2];
if (!dir || !fs.existsSync(dir)) {
  console.error("usage: node www/tools/verovio-check.mjs DIR (a folder of .krn files)");
  process.exit(2);
}
const files = fs.readdirSync(dir).filter((f) => f.endsWith(".krn")).sort();
if (files.length === 0) {
  console.error(`no .krn files in ${dir}`);
  process.exit(2);
}

// humlib prints its complaints to the console (not to the toolkit's log), through console
// functions bound when the module starts: collect them per file.
let printed = [];
for (const name of ["log", "error", "warn", "debug", "info"]) {
  console[name] = (...args) => printed.push(args.join(" "));
}
const report = (...args) => process.stdout.write(args.join(" ") + "\n");
const tk = new VerovioToolkit(await createVerovioModule());
tk.setOptions({ inputFrom: "humdrum", breaks: "auto", pageHeight: 60000 });

const groups = new Map();
const failures = [];
for (const f of files) {
  const group = f.replace(/\.krn$/, "").split("-").slice(0, -2).join("-") || "all";
  const g = groups.get(group) ?? { files: 0, loaded: 0, notes: 0, clean: 0 };
  groups.set(group, g);
  g.files += 1;
  const kern = fs.readFileSync(path.join(dir, f), "utf8");
  let loaded = false;
  let notes = 0;
  let log = "";
  printed = [];
  try {
    loaded = tk.loadData(kern) && tk.getPageCount() > 0;
    if (loaded) {
      for (let p = 1; p <= tk.getPageCount(); p += 1) {
        notes += (tk.renderToSVG(p).match(/class="note[ "]/g) || []).length;
      }
    }
    log = [...printed, tk.getLog()].join("\n");
  } catch (e) {
    log = String(e?.message || e);
  }
  const complaint = /inconsistent|error/i.test(log.replace(/\[Warning\][^\n]*/g, ""));
  g.loaded += loaded ? 1 : 0;
  g.notes += loaded && notes > 0 ? 1 : 0;
  const clean = loaded && notes > 0 && !complaint;
  g.clean += clean ? 1 : 0;
  if (!clean && group.endsWith("constrained")) {
    failures.push(`${f}: ${loaded ? "" : "not loaded; "}${notes} notes; ${log.split("\n").filter(Boolean).slice(0, 2).join(" | ")}`);
  }
}

const pct = (a, b) => `${((100 * a) / b).toFixed(1)}%`;
report("| files | scores | verovio loads | engraved with notes | no humlib complaint |");
report("|---|---|---|---|---|");
for (const [name, g] of groups) {
  report(`| ${name} | ${g.files} | ${pct(g.loaded, g.files)} | ${pct(g.notes, g.files)} | ${pct(g.clean, g.files)} |`);
}
for (const line of failures.slice(0, 20)) process.stderr.write(line + "\n");
process.exit(failures.length ? 1 : 0);
