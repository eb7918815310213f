#!/usr/bin/env node
// A static file server with nothing to install (`make demo`, and the browser tests):
//   node www/serve.mjs [DIR=dist] [--port 8080] [--host 127.0.0.1] [--base /]
// Any static host works as well, e.g. `python3 -m http.server -d dist 8080`.

import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".krn": "text/plain; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
  ".safetensors": "application/octet-stream",
};

/**
 * Starts a server for `mounts` ({ "/base/": "/abs/dir", ... }, longest prefix wins); resolves to
 * { server, port, url(path) }.
 */
export function serve(mounts, { port = 0, host = "127.0.0.1", log = false } = {}) {
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const server = http.createServer((req, res) => {
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, "http://x").pathname);
    } catch {
      res.writeHead(400).end("bad request");
      return;
    }
    const prefix = prefixes.find((p) => pathname.startsWith(p));
    const done = (status, body, type = "text/plain; charset=utf-8") => {
      if (log) console.log(`${status} ${req.method} ${req.url}`);
      res.writeHead(status, { "content-type": type, "cache-control": "no-cache" });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (!prefix) return done(404, "not found");
    const dir = mounts[prefix];
    let file = path.join(dir, pathname.slice(prefix.length));
    if (!file.startsWith(path.resolve(dir))) return done(403, "forbidden");
    try {
      if (fs.statSync(file).isDirectory()) {
        if (!pathname.endsWith("/")) {
          res.writeHead(301, { location: pathname + "/" }).end();
          return;
        }
        file = path.join(file, "index.html");
      }
      const body = fs.readFileSync(file);
      done(200, body, TYPES[path.extname(file)] || "application/octet-stream");
    } catch {
      done(404, "not found");
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const p = server.address().port;
      resolve({ server, port: p, url: (rel = "") => `http://${host}:${p}${rel}` });
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  const opt = (n, d) => (args.includes(`--${n}`) ? args[args.indexOf(`--${n}`) + 1] : d);
  const dir = path.resolve(args.find((a, i) => !a.startsWith("--") && !(i > 0 && args[i - 1].startsWith("--"))) || "dist");
  if (!fs.existsSync(path.join(dir, "index.html"))) {
    console.error(`serve: no index.html in ${dir}: run \`make site\` first`);
    process.exit(1);
  }
  let base = opt("base", "/");
  if (!base.endsWith("/")) base += "/";
  const port = Number(opt("port", process.env.PORT || 8080));
  const host = opt("host", "127.0.0.1");
  serve({ [base]: dir }, { port, host, log: args.includes("--log") }).then(
    ({ url }) => console.log(`serving ${dir} at ${url(base)} (Ctrl-C stops)`),
    (e) => {
      console.error(`serve: cannot listen on ${host}:${port}: ${e.message}`);
      process.exit(1);
    },
  );
}
