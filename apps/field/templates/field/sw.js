/* 联动外勤 service worker (version {{ version }}).
 *
 * - The app shell (page, script, styles, map library, icons) is cached at install, so the app
 *   starts with no signal.
 * - API reads (/api/…) are network-first with a short timeout, falling back to the last copy:
 *   lists, case details, categories and the grid map stay readable offline.
 * - Photo copies (immutable URLs) are cache-first.
 * - Basemap tiles (the hosts of the configured basemap, apps/core/maps.py) are cache-first in
 *   their own cache of at most MAX_TILES_CACHED, the least recently used going first. The page
 *   asks for the tiles of the worker's own grids to be fetched ahead ('prefetch-tiles',
 *   field/offline_tiles.js), so the street map is there with no signal.
 * - Writes (POST) are never touched here: the page keeps unsent reports in IndexedDB and
 *   sends them itself (retry-safe thanks to the phone's UUIDs).
 */
'use strict';

const VERSION = '{{ version }}';
const SHELL_CACHE = 'ld-shell-' + VERSION;
const API_CACHE = 'ld-api';
const PHOTO_CACHE = 'ld-photos';
const SHELL_URLS = {{ shell_urls|safe }};
const NETWORK_TIMEOUT_MS = 5000;
const MAX_PHOTOS_CACHED = 300;
const TILE_CACHE = 'ld-tiles';
const TILE_HOSTS = {{ tile_hosts|safe }};
const MAX_TILES_CACHED = 4000;  // ~15–30 KB each: at most ~100 MB
const PREFETCH_CAP = 1500;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    // One by one, so that one missing file does not abort the whole install.
    await Promise.all(SHELL_URLS.map(async (url) => {
      try {
        const response = await fetch(url, { credentials: 'same-origin', cache: 'no-cache' });
        if (response.ok && !response.redirected) await cache.put(url, response);
      } catch (e) { /* offline during install: the next visit retries */ }
    }));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith('ld-shell-') && n !== SHELL_CACHE).map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  // The page asks to forget cached personal data when someone logs out. (Tiles are not personal.)
  if (event.data === 'logout') {
    event.waitUntil(Promise.all([caches.delete(API_CACHE), caches.delete(PHOTO_CACHE)]));
  }
  if (event.data && event.data.type === 'prefetch-tiles' && Array.isArray(event.data.urls)) {
    event.waitUntil(prefetchTiles(event.data.urls.slice(0, PREFETCH_CAP)));
  }
});

// --- basemap tiles ----------------------------------------------------------------------

function isTile(url) {
  return TILE_HOSTS.some((host) => url.hostname === host || url.hostname.endsWith('.' + host));
}

/* A tile from the network as a CORS response (readable, so the cache can count it at its real
 * size); a provider that does not allow CORS gives an opaque one, which is shown but not kept. */
async function fetchTile(url) {
  try {
    return await fetch(url, { mode: 'cors', credentials: 'omit' });
  } catch (e) {
    return fetch(url, { mode: 'no-cors', credentials: 'omit' });
  }
}

let trimming = null;
async function trimTiles(cache) {
  // cache.keys() lists in insertion order; a hit is put again (below), so the first are the
  // least recently used.
  if (trimming) return trimming;
  trimming = (async () => {
    const keys = await cache.keys();
    for (const old of keys.slice(0, Math.max(0, keys.length - MAX_TILES_CACHED))) await cache.delete(old);
  })().finally(() => { trimming = null; });
  return trimming;
}

async function tileCacheFirst(event) {
  const cache = await caches.open(TILE_CACHE);
  const key = event.request.url;
  const cached = await cache.match(key);
  if (cached) {
    event.waitUntil(cache.put(key, cached.clone()).catch(() => {}));  // now most recently used
    return cached;
  }
  const response = await fetchTile(key);
  if (response.ok && response.type === 'cors') {
    event.waitUntil(cache.put(key, response.clone()).then(() => trimTiles(cache)).catch(() => {}));
  }
  return response;
}

async function prefetchTiles(urls) {
  const cache = await caches.open(TILE_CACHE);
  let index = 0, failures = 0;
  async function worker() {
    while (index < urls.length && failures < 20) {
      const url = urls[index++];
      if (await cache.match(url)) continue;
      try {
        const response = await fetch(url, { mode: 'cors', credentials: 'omit' });
        if (response.ok) await cache.put(url, response);
        else failures += 1;
      } catch (e) {
        failures += 1;  // offline again, or no CORS: stop after a few
      }
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()]);
  await trimTiles(cache);
}

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms);
    promise.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
  });
}

async function networkFirst(request, cacheName, cacheKey) {
  const cache = await caches.open(cacheName);
  try {
    const response = await withTimeout(fetch(request), NETWORK_TIMEOUT_MS);
    if (response.ok && response.type === 'basic' && !response.redirected) {
      await cache.put(cacheKey || request, response.clone());
    }
    return response;
  } catch (error) {
    const cached = await cache.match(cacheKey || request);
    if (cached) return cached;
    throw error;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(PHOTO_CACHE);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) {
    await cache.put(request, response.clone());
    const keys = await cache.keys();
    for (const old of keys.slice(0, Math.max(0, keys.length - MAX_PHOTOS_CACHED))) await cache.delete(old);
  }
  return response;
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) {
    if (isTile(url)) event.respondWith(tileCacheFirst(event));
    return;
  }

  if (request.mode === 'navigate' && url.pathname === '/field/') {
    // The shell: fresh when online (so a new version or an expired login shows), cached otherwise.
    event.respondWith((async () => {
      try {
        const response = await withTimeout(fetch(request), NETWORK_TIMEOUT_MS);
        if (response.ok && response.type === 'basic' && !response.redirected) {
          const cache = await caches.open(SHELL_CACHE);
          await cache.put('/field/', response.clone());
        }
        return response;
      } catch (error) {
        const cached = await caches.match('/field/');
        if (cached) return cached;
        throw error;
      }
    })());
    return;
  }
  if (url.pathname.startsWith('/api/photos/')) {
    event.respondWith(cacheFirst(request));
    return;
  }
  if (url.pathname.startsWith('/api/') && !url.pathname.startsWith('/api/auth/')) {
    event.respondWith(networkFirst(request, API_CACHE));
    return;
  }
  if (url.pathname.startsWith('/static/') || url.pathname === '/field/manifest.webmanifest') {
    event.respondWith((async () => (await caches.match(request)) || fetch(request))());
  }
});
