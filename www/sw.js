// Service worker: after the first visit the composer works offline. `make site` fills in the
// file list and a version (a hash of every file), so a new build replaces the old cache.

const VERSION = "__VERSION__";
const PRECACHE = __PRECACHE__;
const CACHE = `kernrnn-${VERSION}`;
const scope = self.registration.scope;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(PRECACHE.map((path) => new URL(path, scope).href)))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("kernrnn-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || !request.url.startsWith(scope)) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      const hit = await cache.match(request, { ignoreSearch: true });
      if (hit) return hit;
      try {
        const response = await fetch(request);
        // Weights files the user opens by URL are kept too, for the next offline visit.
        if (response.ok && response.type === "basic") cache.put(request, response.clone());
        return response;
      } catch (e) {
        if (request.mode === "navigate") {
          const page = await cache.match(new URL("index.html", scope).href);
          if (page) return page;
        }
        throw e;
      }
    })(),
  );
});
