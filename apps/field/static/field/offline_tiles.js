/* 联动外勤: the basemap of the worker's own grids, kept on the phone for use with no signal.
 *
 * After sign-in (app.js start → LDOfflineTiles.prefetch), when the phone seems to be on Wi-Fi or
 * a good connection (not Save-Data, not known to be cellular, online), the tiles covering the
 * bounding boxes of the worker's grids at zooms 13–17 are listed — at most MAX_TILES, the
 * coarse zooms first — and handed to the service worker, which fetches the ones it has not got
 * into its tile cache (sw.js: cache-first, a size limit, least recently used go first). The
 * same list is not asked for again within a day. The URLs are built exactly as Leaflet builds
 * them (same subdomain choice), so the map's own tile requests find them in the cache.
 */
(function () {
  'use strict';
  const MIN_ZOOM = 13, MAX_ZOOM = 17, MAX_TILES = 1500, AGAIN_AFTER_MS = 24 * 3600 * 1000;
  const KEY = 'ld:tiles-prefetched';

  function tileX(lng, z) { return Math.floor((lng + 180) / 360 * 2 ** z); }
  function tileY(lat, z) {
    const rad = lat * Math.PI / 180;
    return Math.floor((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2 * 2 ** z);
  }

  /* [south, west, north, east] of GeoJSON (WGS-84), or null. */
  function bbox(geometry) {
    let box = null;
    (function walk(c) {
      if (typeof c[0] === 'number') {
        box = box ? [Math.min(box[0], c[1]), Math.min(box[1], c[0]), Math.max(box[2], c[1]), Math.max(box[3], c[0])]
          : [c[1], c[0], c[1], c[0]];
      } else c.forEach(walk);
    })((geometry && geometry.coordinates) || []);
    return box;
  }

  /* A tile's URL as Leaflet's L.TileLayer would request it. */
  function tileUrl(layer, x, y, z) {
    const subdomains = layer.subdomains || 'abc';
    const s = subdomains[Math.abs(x + y) % subdomains.length];
    return layer.url.replace(/\{(-?y|x|z|s|r)\}/g, (m, name) => (
      name === 's' ? s : name === 'x' ? x : name === 'y' ? y : name === '-y' ? 2 ** z - 1 - y : name === 'z' ? z : ''));
  }

  /* The tile URLs of the grids' bounding boxes (shifted for a GCJ-02 basemap), coarse zooms
   * first, at most `max`. */
  function tileUrls(grids, config, max) {
    const layers = (config && config.layers) || [];
    if (!layers.length) return [];
    const boxes = (grids || []).map((g) => bbox(g.boundary)).filter(Boolean).map((b) => {
      if (config.crs !== 'gcj02' || !window.LDMap) return b;
      const sw = LDMap.toGcj(b[0], b[1]), ne = LDMap.toGcj(b[2], b[3]);
      return [sw[0], sw[1], ne[0], ne[1]];
    });
    const urls = [], seen = new Set();
    for (let z = MIN_ZOOM; z <= MAX_ZOOM; z++) {
      for (const [south, west, north, east] of boxes) {
        for (let x = tileX(west, z); x <= tileX(east, z); x++) {
          for (let y = tileY(north, z); y <= tileY(south, z); y++) {
            for (const layer of layers) {
              if (z > (layer.maxZoom || 18)) continue;
              const url = tileUrl(layer, x, y, z);
              if (seen.has(url)) continue;
              if (urls.length >= max) return urls;
              seen.add(url);
              urls.push(url);
            }
          }
        }
      }
    }
    return urls;
  }

  function goodConnection() {
    if (!navigator.onLine) return false;
    const c = navigator.connection;
    if (!c) return true;
    if (c.saveData) return false;
    if (c.type && c.type !== 'wifi' && c.type !== 'ethernet' && c.type !== 'unknown') return false;
    return !c.effectiveType || c.effectiveType === '4g';
  }

  async function prefetch(grids, config) {
    const urls = tileUrls(grids, config, MAX_TILES);
    if (!urls.length || !goodConnection() || !('serviceWorker' in navigator)) return 0;
    const stamp = `${config.basemap}|${urls.length}|${urls[0]}|${urls[urls.length - 1]}`;
    try {
      const last = JSON.parse(localStorage.getItem(KEY) || 'null');
      if (last && last.stamp === stamp && Date.now() - last.at < AGAIN_AFTER_MS) return 0;
    } catch (e) { /* start afresh */ }
    const registration = await navigator.serviceWorker.ready;
    if (!registration.active) return 0;
    registration.active.postMessage({ type: 'prefetch-tiles', urls });
    try { localStorage.setItem(KEY, JSON.stringify({ stamp, at: Date.now() })); } catch (e) { /* full */ }
    return urls.length;
  }

  window.LDOfflineTiles = { prefetch, tileUrls, MAX_TILES };
})();
