/* 联动外勤 — the grid worker's field app. Vanilla JS, no build step.
 *
 * Reports are written to an outbox in IndexedDB first (with their photos), then sent: the
 * report itself, then each photo. Every report and photo carries an id made on the phone, so
 * any step can be retried after a lost connection without creating a second report or a
 * second copy of a photo. The outbox is sent on submit, when the network returns ("online"),
 * when the app is opened or brought to the front, on 立即同步, and every minute while something
 * waits. A reconnect is often flaky for a few seconds (one bar of signal), so after "online" a
 * failed attempt is retried within seconds rather than at the next minute tick.
 *
 * The half-filled report form (fields, photos, pin) is kept as a draft in IndexedDB, so a
 * reload or a killed tab loses nothing; the draft is cleared once the report is filed.
 *
 * Hooks for live notifications (another module may call them):
 *   window.liandongTasks.refresh()  — reload "My tasks" and the #tasks-badge count
 *   #tasks-badge, #toast            — the badge element and the toast container
 */
(function () {
  'use strict';

  const CONFIG = JSON.parse(document.getElementById('field-config').textContent);
  // A photo of at most ~400 KB keeps a case readable (1600 px long side shows a number plate or
  // a crack) and takes ~8 s per photo at 400 kbit/s; quality steps down until it fits.
  const MAX_SIDE = 1600;
  const TARGET_BYTES = 400000;
  const JPEG_QUALITIES = [0.82, 0.74, 0.66, 0.58, 0.5];
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // ---------------------------------------------------------------- small helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) {
      try { return crypto.randomUUID(); } catch (e) { /* insecure context: fall through */ }
    }
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function toast(message, kind, ms) {
    const box = $('#toast');
    const node = el('div', { class: 'toast' + (kind ? ' ' + kind : '') }, message);
    box.append(node);
    setTimeout(() => node.remove(), ms || 3500);
  }

  const pad = (n) => String(n).padStart(2, '0');
  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    const now = new Date();
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    if (d.toDateString() === now.toDateString()) return `今天 ${hm}`;
    return `${d.getMonth() + 1}月${d.getDate()}日 ${hm}`;
  }
  // The countdown is the server's (apps.cases.selectors.case_clock): the current step's deadline
  // counted on the work calendar, which the phone does not have; colour and words come from the
  // same clock at the same moment, so they cannot disagree. Shown as of the last fetch.
  function clockWords(row, done) {
    const clock = row && row.clock;
    if (!clock || !clock.deadline || done) return '';
    return clock.text;
  }
  function clockLabel(row) {
    return (row && row.clock && row.clock.deadline_label) || '本环节时限';
  }
  const FINAL = new Set(['closed', 'rejected', 'merged']);

  function getCookie(name) {
    const match = document.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
    return match ? decodeURIComponent(match[1]) : '';
  }

  // ---------------------------------------------------------------- API

  class Offline extends Error {}
  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.detail) || `服务器错误（${status}）`);
      this.status = status;
      this.body = body || {};
    }
  }

  let needsLogin = false;
  function markLoggedOut() {
    needsLogin = true;
    $('#login-banner').hidden = false;
  }

  async function api(path, options) {
    options = options || {};
    const headers = { Accept: 'application/json' };
    let body = options.body;
    if (body && !(body instanceof FormData)) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(body);
    }
    if (options.method && options.method !== 'GET') headers['X-CSRFToken'] = getCookie('csrftoken');
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), options.timeout || 30000);
    let response;
    try {
      response = await fetch(path, { method: options.method || 'GET', headers, body, credentials: 'same-origin', signal: controller.signal });
    } catch (e) {
      throw new Offline(e.name === 'AbortError' ? '网络超时' : '网络不可用');
    } finally {
      clearTimeout(timer);
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (response.ok) return { status: response.status, data, replay: response.headers.get('Idempotent-Replay') === 'true' };
    const detail = (data && data.detail) || '';
    if (response.status === 401 || (response.status === 403 && /认证|credentials|authenticat|CSRF/i.test(detail))) {
      markLoggedOut();
    }
    throw new ApiError(response.status, data);
  }

  /* POST a photo with XMLHttpRequest (fetch reports no upload progress): onProgress gets the
   * fraction sent. Errors map to Offline / ApiError exactly as api() does. */
  function uploadPhoto(path, form, onProgress, timeout) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', path);
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.setRequestHeader('X-CSRFToken', getCookie('csrftoken'));
      xhr.withCredentials = true;
      xhr.timeout = timeout || 120000;
      xhr.upload.onprogress = (event) => { if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total); };
      xhr.onerror = () => reject(new Offline('网络不可用'));
      xhr.ontimeout = () => reject(new Offline('网络超时'));
      xhr.onabort = () => reject(new Offline('网络不可用'));
      xhr.onload = () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
        if (xhr.status >= 200 && xhr.status < 300) { resolve({ status: xhr.status, data }); return; }
        const detail = (data && data.detail) || '';
        if (xhr.status === 401 || (xhr.status === 403 && /认证|credentials|authenticat|CSRF/i.test(detail))) markLoggedOut();
        reject(new ApiError(xhr.status, data));
      };
      xhr.send(form);
    });
  }

  // Reference data is kept in localStorage too, so the form works even before the service
  // worker is installed (or where the browser offers none).
  async function cachedGet(path, key) {
    try {
      const { data } = await api(path, { timeout: 8000 });
      localStorage.setItem(key, JSON.stringify(data));
      return data;
    } catch (e) {
      const saved = localStorage.getItem(key);
      if (saved) return JSON.parse(saved);
      throw e;
    }
  }

  // ---------------------------------------------------------------- outbox (IndexedDB)

  const Outbox = (() => {
    let opening = null;
    function open() {
      if (!opening) {
        opening = new Promise((resolve, reject) => {
          const request = indexedDB.open('liandong-field', 2);
          request.onupgradeneeded = () => {
            const names = request.result.objectStoreNames;
            if (!names.contains('outbox')) request.result.createObjectStore('outbox', { keyPath: 'id' });
            if (!names.contains('drafts')) request.result.createObjectStore('drafts', { keyPath: 'id' });
          };
          request.onsuccess = () => {
            // Let a newer version of the app (another tab) upgrade the database.
            request.result.onversionchange = () => { request.result.close(); opening = null; };
            resolve(request.result);
          };
          request.onerror = () => reject(request.error);
        });
      }
      return opening;
    }
    async function run(mode, fn, store) {
      const db = await open();
      return new Promise((resolve, reject) => {
        const tx = db.transaction(store || 'outbox', mode);
        const request = fn(tx.objectStore(store || 'outbox'));
        tx.oncomplete = () => resolve(request ? request.result : undefined);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    }
    return {
      all: async () => ((await run('readonly', (s) => s.getAll())) || [])
        .filter((item) => item.user === (me && me.username))
        .sort((a, b) => a.createdAt - b.createdAt),
      get: (id) => run('readonly', (s) => s.get(id)),
      put: (item) => run('readwrite', (s) => s.put(item)),
      remove: (id) => run('readwrite', (s) => s.delete(id)),
      // The report form's draft, one per worker on this phone: the fields, and the photo blobs
      // in a record of their own, written only when the photos change (not on each keystroke).
      draft: async () => {
        const fields = await run('readonly', (s) => s.get(`report:${me.username}`), 'drafts');
        const photos = await run('readonly', (s) => s.get(`report-photos:${me.username}`), 'drafts');
        return fields ? { ...fields, main: (photos && photos.main) || [], after: (photos && photos.after) || [] } : null;
      },
      saveDraft: (fields) => run('readwrite', (s) => s.put({ ...fields, id: `report:${me.username}` }), 'drafts'),
      saveDraftPhotos: (photos) => run('readwrite', (s) => s.put({ ...photos, id: `report-photos:${me.username}` }), 'drafts'),
      clearDraft: () => run('readwrite', (s) => {
        s.delete(`report-photos:${me.username}`);
        return s.delete(`report:${me.username}`);
      }, 'drafts'),
    };
  })();

  // ---------------------------------------------------------------- sync

  let chain = Promise.resolve();
  function exclusive(fn) {
    const next = chain.then(fn, fn);
    chain = next.catch(() => {});
    return next;
  }

  /* Send one outbox item: the report (if the server has not acknowledged it yet), then each
   * photo not yet acknowledged. Returns 'done', 'offline', 'rejected' (a 4xx on the report)
   * or 'partial' (the report arrived, a photo was refused). */
  async function sendItem(item) {
    if (!item.case) {
      showProgress(item.id, '上报发送中…');
      try {
        const { data } = await api('/api/reports/', { method: 'POST', body: item.payload, timeout: 30000 });
        item.case = { id: data.id, tracking_number: data.tracking_number, status_display: data.status_display, deadline: data.deadline, colour: data.colour, clock: data.clock };
        item.error = null;
        await Outbox.put(item);
      } catch (e) {
        if (e instanceof Offline || (e instanceof ApiError && (e.status >= 500 || e.status === 429 || needsLogin))) {
          item.attempts = (item.attempts || 0) + 1;
          showProgress(item.id, '等待网络');
          await Outbox.put(item);
          return 'offline';
        }
        item.error = e.message;
        item.errors = (e.body && e.body.errors) || null;
        item.failed = true;
        await Outbox.put(item);
        return 'rejected';
      }
    }
    let refused = false;
    const total = item.photos.length;
    for (const [index, photo] of item.photos.entries()) {
      if (photo.done || photo.refused) continue;
      const form = new FormData();
      form.append('id', photo.id);
      form.append('kind', photo.kind);
      form.append('photo', photo.blob, photo.name || `${photo.id}.jpg`);
      showProgress(item.id, `照片 ${index + 1}/${total} 上传中 0%`);
      try {
        await uploadPhoto(`/api/reports/${item.id}/photos/`, form,
          (fraction) => showProgress(item.id, `照片 ${index + 1}/${total} 上传中 ${Math.floor(fraction * 100)}%`), 120000);
        photo.done = true;
        photo.blob = null; // the server has it; free the phone's storage
      } catch (e) {
        if (e instanceof Offline || (e instanceof ApiError && (e.status >= 500 || e.status === 429 || needsLogin))) {
          showProgress(item.id, `照片 ${item.photos.filter((p) => p.done).length}/${total} 等待网络`);
          await Outbox.put(item);
          return 'offline';
        }
        photo.refused = e.message;
        refused = true;
      }
      await Outbox.put(item);
    }
    if (refused || item.photos.some((p) => p.refused)) {
      item.error = '部分照片未被接收：' + item.photos.filter((p) => p.refused).map((p) => p.refused).join('；');
      await Outbox.put(item);
      return 'partial';
    }
    await Outbox.remove(item.id);
    showProgress(item.id, '已同步');
    return 'done';
  }

  /* The live state of a report being sent, on its card in 我的上报 and on the done screen. */
  const progressText = new Map();
  function showProgress(id, text) {
    progressText.set(id, text);
    for (const node of $$(`[data-progress-for="${id}"]`)) node.textContent = text;
  }

  /* After the network returns (or the app comes to the front, or 立即同步), send now, and if
   * the first attempt meets a connection that is not really up yet, try again after 2, 4, 8,
   * 16 s instead of waiting for the minute tick. */
  let retryTimer = null;
  function syncNow(attempt) {
    clearTimeout(retryTimer);
    attempt = attempt || 0;
    return sync().then((waiting) => {
      if (waiting && attempt < 4) retryTimer = setTimeout(() => syncNow(attempt + 1), 2000 * 2 ** attempt);
    });
  }

  /* Resolves to true when something could not be sent for want of a network. */
  function sync(options) {
    return exclusive(async () => {
      if (!me) return false;
      const items = await Outbox.all();
      let sent = 0;
      let stalled = false;
      for (const item of items) {
        // A refused report, or one whose only unsent photos were refused, waits for the
        // worker to look at it (the list shows why, with a delete button).
        if (item.failed || (item.case && item.photos.every((p) => p.done || p.refused))) continue;
        if (!navigator.onLine) { stalled = true; break; }
        const outcome = await sendItem(item);
        if (outcome === 'offline') { stalled = true; break; }
        if (outcome === 'done') {
          sent += 1;
          if (!(options && options.quietFor === item.id)) {
            toast(`已同步：流水号 ${item.case.tracking_number}`, 'ok');
          }
        }
      }
      await refreshQueueBadge();
      if (sent && current === 'mine') renderMine();
      return stalled;
    }).catch((e) => { console.warn('sync failed', e); return true; });
  }

  async function refreshQueueBadge() {
    const items = me ? await Outbox.all() : [];
    const waiting = items.length;
    const badge = $('#queue-badge');
    badge.hidden = waiting === 0;
    badge.textContent = String(waiting);
    const chip = $('#sync-status');
    chip.hidden = waiting === 0;
    chip.textContent = `待同步 ${waiting}`;
    $('#sync-now').hidden = waiting === 0;
    return items;
  }

  function updateNetwork() {
    const chip = $('#net-status');
    chip.hidden = navigator.onLine;
    chip.className = 'chip off';
  }

  // ---------------------------------------------------------------- photos

  /* Downscale to a long side of 1600 px as JPEG before storing/uploading, stepping the quality
   * down (and, for very busy scenes, the size) until the photo is at most ~400 KB: a phone's
   * 4–12 MB photo becomes 200–400 KB. Anything the browser cannot decode (e.g. HEIC on
   * Android) is sent as it is: the server accepts HEIC. */
  async function downscale(file) {
    try {
      let source;
      let width;
      let height;
      if (window.createImageBitmap) {
        source = await createImageBitmap(file, { imageOrientation: 'from-image' });
        width = source.width; height = source.height;
      } else {
        source = await new Promise((resolve, reject) => {
          const img = new Image();
          img.onload = () => resolve(img);
          img.onerror = reject;
          img.src = URL.createObjectURL(file);
        });
        width = source.naturalWidth; height = source.naturalHeight;
      }
      let side = Math.min(MAX_SIDE, Math.max(width, height));
      if (side === Math.max(width, height) && file.type === 'image/jpeg' && file.size <= TARGET_BYTES) return file;
      let best = null;
      for (let round = 0; round < 3; round += 1, side = Math.round(side * 0.8)) {
        const scale = side / Math.max(width, height);
        const canvas = document.createElement('canvas');
        canvas.width = Math.round(width * scale);
        canvas.height = Math.round(height * scale);
        canvas.getContext('2d').drawImage(source, 0, 0, canvas.width, canvas.height);
        for (const quality of JPEG_QUALITIES) {
          const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality));
          if (!blob) break;
          best = blob;
          if (blob.size <= TARGET_BYTES) break;
        }
        canvas.width = 0; // free the bitmap memory at once on a cheap phone
        if (!best || best.size <= TARGET_BYTES) break;
      }
      if (source.close) source.close();
      return best || file;
    } catch (e) {
      return file;
    }
  }

  /* A set of photos being picked (for the report, for "after", or for an action form). */
  class PhotoPicker {
    constructor(strip, inputs, max) {
      this.strip = strip;
      this.items = [];
      this.max = max || CONFIG.maxPhotos;
      this.peers = [];
      this.onchange = null; // called after each change (the report form keeps its draft)
      for (const input of inputs) {
        input.addEventListener('change', async () => {
          const files = Array.from(input.files || []);
          input.value = '';
          await this.add(files);
        });
      }
    }
    total() { return this.items.length + this.peers.reduce((n, p) => n + p.items.length, 0); }
    async add(files) {
      for (const file of files) {
        if (this.total() >= this.max) { toast(`最多 ${this.max} 张照片`, 'error'); break; }
        const blob = await downscale(file);
        if (blob.size > CONFIG.maxPhotoBytes) { toast(`照片“${file.name}”太大`, 'error'); continue; }
        const name = (file.name || 'photo').replace(/\.[^.]+$/, '') + (blob.type === 'image/jpeg' ? '.jpg' : '');
        this.items.push({ id: uuid(), blob, name, url: URL.createObjectURL(blob) });
      }
      this.render();
    }
    /* Put back photos kept in a draft ({id, blob, name}), already downscaled. */
    restore(saved) {
      for (const item of this.items) URL.revokeObjectURL(item.url);
      this.items = (saved || []).filter((p) => p.blob).map((p) => ({ id: p.id, blob: p.blob, name: p.name, url: URL.createObjectURL(p.blob) }));
      this.render(true);
    }
    clear() {
      for (const item of this.items) URL.revokeObjectURL(item.url);
      this.items = [];
      this.render(true);
    }
    render(quiet) {
      if (!quiet && this.onchange) this.onchange();
      this.strip.replaceChildren(...this.items.map((item, index) => el('div', { class: 'thumb' },
        el('img', { src: item.url, alt: `照片 ${index + 1}` }),
        el('button', { type: 'button', class: 'remove', 'aria-label': '删除照片', onclick: () => {
          URL.revokeObjectURL(item.url);
          this.items.splice(index, 1);
          this.render();
        } }, '×'))));
    }
  }

  // ---------------------------------------------------------------- state

  let me = null;
  let categories = [];
  let current = 'report';

  // ---------------------------------------------------------------- map and position

  const position = { lat: null, lng: null, accuracy: null, source: null, time: null };
  let map = null;
  let pin = null;
  let circle = null;
  let watchId = null;

  function pointInRing(lng, lat, ring) {
    let inside = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i];
      const [xj, yj] = ring[j];
      if ((yi > lat) !== (yj > lat) && lng < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }
  function inGeometry(lng, lat, geometry) {
    const polygons = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.type === 'MultiPolygon' ? geometry.coordinates : [];
    return polygons.some((rings) => pointInRing(lng, lat, rings[0]) && !rings.slice(1).some((hole) => pointInRing(lng, lat, hole)));
  }

  function initMap() {
    if (map || !window.L) return;
    // The basemap and its coordinates (GCJ-02 providers shifted): apps/core/static/core/basemap.js.
    map = LDMap.create('map', CONFIG.map, { zoomControl: true, tap: true });
    // Grid names sit below the pin (marker pane is 600).
    map.createPane('gridLabels').style.zIndex = 450;
    const layers = [];
    for (const grid of (me && me.grids) || []) {
      const layer = LDMap.geoJSON(map, grid.boundary, { style: { color: '#1d4f91', weight: 2, fillColor: '#2f6fd0', fillOpacity: 0.08 } });
      layer.bindTooltip(grid.name, { permanent: true, direction: 'center', className: 'grid-label', pane: 'gridLabels' });
      layer.addTo(map);
      layers.push(layer);
    }
    if (layers.length) map.fitBounds(L.featureGroup(layers).getBounds(), { padding: [12, 12] });
    else map.setView(LDMap.show(map, CONFIG.center), 14);
    const icon = L.divIcon({ className: 'pin-wrap', html: '<div class="pin"></div>', iconSize: [0, 0] });
    const start = layers.length ? [me.grids[0].centroid[0], me.grids[0].centroid[1]] : CONFIG.center;
    pin = L.marker(LDMap.show(map, start), { draggable: true, icon, keyboard: false, opacity: 0.5 }).addTo(map);
    pin.on('dragend', () => {
      const p = LDMap.pick(map, pin.getLatLng());
      setPosition({ lat: p.lat, lng: p.lng, accuracy: null, source: 'pin', time: new Date().toISOString() });
      saveDraftSoon();
    });
    map.on('click', (event) => {
      const p = LDMap.pick(map, event.latlng);
      setPosition({ lat: p.lat, lng: p.lng, accuracy: null, source: 'pin', time: new Date().toISOString() });
      saveDraftSoon();
    });
    if (position.lat !== null) setPosition(position);
  }

  /* 附近场所: the registered places the worker may see near the point, nearest first; looked up
   * a moment after the point settles, and simply left empty without a connection. */
  let nearTimer = null;
  let nearKey = '';
  function refreshNearbyPlaces() {
    clearTimeout(nearTimer);
    nearTimer = setTimeout(async () => {
      if (position.lat === null) return;
      const key = `${position.lat.toFixed(4)},${position.lng.toFixed(4)}`;
      if (key === nearKey) return;
      nearKey = key;
      const picker = $('#place-picker');
      if (!picker) return;
      try {
        const { data } = await api(`/api/places/near/?lat=${position.lat.toFixed(6)}&lng=${position.lng.toFixed(6)}&radius=300`);
        const chosen = picker.value;
        picker.replaceChildren(el('option', { value: '' }, '不关联场所'),
          ...(data || []).map((p) => el('option', { value: String(p.id) }, `${p.name}（${p.kind_name}，${Math.round(p.distance_m)} 米）`)));
        if ((data || []).some((p) => String(p.id) === chosen)) picker.value = chosen;
      } catch (e) {
        nearKey = '';
      }
    }, 800);
  }

  function setPosition(p) {
    Object.assign(position, p);
    refreshNearbyPlaces();
    const line = $('#gps-line');
    if (position.source === 'pin') {
      line.className = 'gps good';
      line.textContent = `已手动选点（${position.lat.toFixed(5)}, ${position.lng.toFixed(5)}）`;
    } else if (position.source === 'gps') {
      const poor = position.accuracy > CONFIG.accuracyFlagM;
      line.className = 'gps ' + (poor ? 'poor' : 'good');
      line.textContent = `GPS 定位 ±${Math.round(position.accuracy)} 米` + (poor ? '（精度较差，可拖动图钉修正）' : '');
    }
    if (map && pin) {
      const ll = LDMap.show(map, position.lat, position.lng);
      pin.setLatLng(ll);
      pin.setOpacity(1);
      if (circle) { circle.remove(); circle = null; }
      if (position.source === 'gps' && position.accuracy) {
        circle = L.circle(ll, { radius: position.accuracy, color: '#2f6fd0', weight: 1, fillOpacity: 0.1 }).addTo(map);
      }
      if (!map.getBounds().contains(ll)) map.panTo(ll);
    }
    const warning = $('#grid-warning');
    const grids = (me && me.grids) || [];
    const inside = grids.some((g) => inGeometry(position.lng, position.lat, g.boundary));
    warning.hidden = inside || !grids.length;
    warning.textContent = '这个位置不在您负责的网格内（网格边线外 150 米以内仍可上报）。';
  }

  function startGps() {
    const line = $('#gps-line');
    if (!navigator.geolocation) {
      line.className = 'gps none';
      line.textContent = '本机不支持定位：请在地图上点选位置';
      return;
    }
    if (watchId !== null) navigator.geolocation.clearWatch(watchId);
    if (position.source !== 'pin') { // a pin put back from the draft stays on the line
      line.className = 'gps';
      line.textContent = '正在定位…';
    }
    watchId = navigator.geolocation.watchPosition((fix) => {
      if (position.source === 'pin') return; // the worker's own choice wins
      setPosition({ lat: fix.coords.latitude, lng: fix.coords.longitude, accuracy: fix.coords.accuracy, source: 'gps',
        time: new Date(fix.timestamp || Date.now()).toISOString() });
    }, (error) => {
      if (position.source) return;
      line.className = 'gps none';
      line.textContent = error.code === 1 ? '未获得定位权限：请在地图上点选位置' : '暂时无法定位：请在地图上点选位置';
    }, { enableHighAccuracy: true, maximumAge: 15000, timeout: 30000 });
  }

  // ---------------------------------------------------------------- report form

  const form = $('#report-form');
  const mainPicker = new PhotoPicker($('.photo-strip[data-group="main"]'), $$('input[type=file][data-group="main"]'));
  const afterPicker = new PhotoPicker($('.photo-strip[data-group="after"]'), $$('input[type=file][data-group="after"]'));
  mainPicker.peers = [afterPicker];
  afterPicker.peers = [mainPicker];

  function fillCategories() {
    const parent = $('#cat-parent');
    const chosen = parent.value;
    parent.replaceChildren(el('option', { value: '' }, '选择大类'),
      ...categories.map((c) => el('option', { value: String(c.id) }, c.name)));
    parent.value = chosen;
    fillLeaves();
  }
  function fillLeaves() {
    const leaf = $('#cat-leaf');
    const node = categories.find((c) => String(c.id) === $('#cat-parent').value);
    const chosen = leaf.value;
    leaf.replaceChildren(el('option', { value: '' }, '选择小类'),
      ...(node ? node.children : []).map((c) => el('option', { value: String(c.id) }, c.name)));
    leaf.disabled = !node;
    if (node && node.children.some((c) => String(c.id) === chosen)) leaf.value = chosen;
    else if (node && node.children.length === 1) leaf.value = String(node.children[0].id);
  }
  $('#cat-parent').addEventListener('change', fillLeaves);

  form.elements.self_resolved.addEventListener('change', () => {
    const on = form.elements.self_resolved.checked;
    $('#self-resolved-fields').hidden = !on;
    $('#photos-main-label').textContent = on ? '处置前照片' : '现场照片';
  });
  $('#relocate').addEventListener('click', () => {
    position.source = null;
    startGps();
  });

  function formError(message) {
    const box = $('#form-error');
    box.hidden = !message;
    box.textContent = message || '';
    if (message) box.scrollIntoView({ behavior: 'smooth', block: 'center' });
  }

  function collectReport() {
    const f = form.elements;
    const selfResolved = f.self_resolved.checked;
    if (!f.category.value) return { error: '请选择事件分类（大类和小类）。' };
    if (!f.description.value.trim()) return { error: '请填写问题描述。' };
    if (mainPicker.items.length < 1) return { error: selfResolved ? '请拍摄处置前照片。' : '请至少拍摄或选择一张现场照片。' };
    if (selfResolved && afterPicker.items.length < 1) return { error: '当场处置请拍摄处置后照片。' };
    if (selfResolved && !f.result_text.value.trim()) return { error: '当场处置请填写处置结果。' };
    if (position.lat === null) return { error: '还没有位置：请等待定位，或在地图上点选位置。' };
    const payload = {
      id: uuid(),
      category: Number(f.category.value),
      description: f.description.value.trim(),
      severity: Number(form.querySelector('input[name=severity]:checked').value),
      lat: Number(position.lat.toFixed(7)),
      lng: Number(position.lng.toFixed(7)),
      accuracy_m: position.accuracy === null ? null : Math.round(position.accuracy * 10) / 10,
      position_source: position.source,
      position_time: position.time,
      address: f.address.value.trim(),
      reporter_phone: f.reporter_phone.value.trim(),
      self_resolved: selfResolved,
      result_text: selfResolved ? f.result_text.value.trim() : '',
    };
    if (f.place && f.place.value) payload.place = Number(f.place.value);
    const mainKind = selfResolved ? 'before' : 'report';
    const photos = [
      ...mainPicker.items.map((p) => ({ id: p.id, kind: mainKind, blob: p.blob, name: p.name, done: false })),
      ...(selfResolved ? afterPicker.items.map((p) => ({ id: p.id, kind: 'after', blob: p.blob, name: p.name, done: false })) : []),
    ];
    return { payload, photos };
  }

  // ---------------------------------------------------------------- draft

  /* The form as it stands, for IndexedDB (photos as blobs, like the outbox). Only a pin the
   * worker placed is kept: a GPS fix is taken afresh after a reload. */
  function draftOf() {
    const f = form.elements;
    return {
      parent: $('#cat-parent').value,
      category: f.category.value,
      description: f.description.value,
      severity: form.querySelector('input[name=severity]:checked').value,
      address: f.address.value,
      reporter_phone: f.reporter_phone.value,
      self_resolved: f.self_resolved.checked,
      result_text: f.result_text.value,
      pin: position.source === 'pin' ? { lat: position.lat, lng: position.lng, time: position.time } : null,
      main: mainPicker.items.map((p) => ({ id: p.id, blob: p.blob, name: p.name })),
      after: afterPicker.items.map((p) => ({ id: p.id, blob: p.blob, name: p.name })),
      savedAt: Date.now(),
    };
  }
  const isEmptyDraft = (d) => !d.category && !d.description.trim() && !d.address.trim() && !d.reporter_phone.trim()
    && !d.result_text.trim() && !d.main.length && !d.after.length && !d.pin && !d.self_resolved && d.severity === '3';

  let draftTimer = null;
  let draftReady = false; // nothing is saved before the saved draft has been put back
  let draftPhotosChanged = false;
  function saveDraftPhotosSoon() {
    draftPhotosChanged = true;
    saveDraftSoon();
  }
  function saveDraftSoon() {
    if (!draftReady || !me) return;
    clearTimeout(draftTimer);
    draftTimer = setTimeout(async () => {
      const draft = draftOf();
      try {
        if (isEmptyDraft(draft)) {
          await Outbox.clearDraft();
          $('#draft-hint').hidden = true;
        } else {
          const { main, after, ...fields } = draft;
          if (draftPhotosChanged) {
            draftPhotosChanged = false;
            await Outbox.saveDraftPhotos({ main, after });
          }
          await Outbox.saveDraft(fields);
          const hint = $('#draft-hint');
          hint.textContent = `草稿已保存 ${pad(new Date().getHours())}:${pad(new Date().getMinutes())}`;
          hint.hidden = false;
        }
      } catch (e) { console.warn('draft', e); }
    }, 400);
  }

  async function restoreDraft() {
    let draft = null;
    try { draft = await Outbox.draft(); } catch (e) { draft = null; }
    if (draft) {
      const f = form.elements;
      $('#cat-parent').value = draft.parent || '';
      fillLeaves();
      if (draft.category) f.category.value = draft.category;
      f.description.value = draft.description || '';
      const severity = form.querySelector(`input[name=severity][value="${draft.severity}"]`);
      if (severity) severity.checked = true;
      f.address.value = draft.address || '';
      f.reporter_phone.value = draft.reporter_phone || '';
      f.self_resolved.checked = !!draft.self_resolved;
      f.self_resolved.dispatchEvent(new Event('change'));
      f.result_text.value = draft.result_text || '';
      mainPicker.restore(draft.main);
      afterPicker.restore(draft.after);
      if (draft.pin) setPosition({ lat: draft.pin.lat, lng: draft.pin.lng, accuracy: null, source: 'pin', time: draft.pin.time });
      const hint = $('#draft-hint');
      hint.textContent = '已恢复上次未提交的草稿';
      hint.hidden = false;
    }
    draftReady = true;
  }

  function resetForm() {
    const keepParent = $('#cat-parent').value;
    form.reset();
    $('#cat-parent').value = keepParent;
    fillLeaves();
    mainPicker.clear();
    afterPicker.clear();
    $('#self-resolved-fields').hidden = true;
    $('#photos-main-label').textContent = '现场照片';
    if (position.source === 'pin') { position.source = null; startGps(); }
    clearTimeout(draftTimer);
    draftPhotosChanged = false;
    Outbox.clearDraft().catch(() => {});
    $('#draft-hint').hidden = true;
  }
  form.addEventListener('input', saveDraftSoon);
  form.addEventListener('change', saveDraftSoon);
  mainPicker.onchange = saveDraftPhotosSoon;
  afterPicker.onchange = saveDraftPhotosSoon;

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    formError('');
    const collected = collectReport();
    if (collected.error) { formError(collected.error); return; }
    const button = $('#submit-report');
    button.disabled = true;
    button.textContent = '正在提交…';
    const item = { id: collected.payload.id, user: me.username, createdAt: Date.now(), payload: collected.payload,
      photos: collected.photos, case: null, error: null, failed: false, attempts: 0 };
    button.dataset.progressFor = item.id; // the button shows "照片 1/2 上传中 45%" meanwhile
    try {
      await Outbox.put(item); // safe on the phone before anything goes over the air
      const outcome = navigator.onLine ? await exclusive(() => sendItem(item)) : 'offline';
      if (outcome === 'rejected') {
        // The server refused the report itself (e.g. outside the worker's grids): keep the
        // form as it is so it can be corrected, and forget the outbox copy.
        await Outbox.remove(item.id);
        const fields = item.errors ? Object.values(item.errors).flat().join(' ') : '';
        formError(item.error + (fields && !item.error.includes(fields) ? ` ${fields}` : ''));
        return;
      }
      resetForm();
      showDone(item, outcome);
      refreshQueueBadge();
    } catch (e) {
      formError('保存失败：' + e.message);
    } finally {
      delete button.dataset.progressFor;
      button.disabled = false;
      button.textContent = '提交上报';
    }
  });

  function showDone(item, outcome) {
    const card = $('#screen-done .done');
    const body = $('#done-body');
    if (item.case) {
      card.classList.remove('queued');
      $('#done-title').textContent = '上报成功';
      const photoNote = outcome === 'done' ? '照片已上传' : outcome === 'partial' ? item.error : '照片待同步（有网络时自动上传）';
      if (outcome !== 'done' && outcome !== 'partial') progressText.set(item.id, photoNote);
      body.replaceChildren(
        el('div', { class: 'muted' }, '流水号'),
        el('div', { class: 'tracking', id: 'done-tracking' }, item.case.tracking_number),
        el('div', {}, el('span', { class: `pill ${item.case.colour}` }, item.case.status_display),
          item.case.deadline ? `　${clockLabel(item.case)} ${fmtTime(item.case.deadline)}` : ''),
        el('p', { class: 'muted', 'data-progress-for': item.id }, photoNote),
        citizenCard(item.case.id, true));
    } else {
      card.classList.add('queued');
      $('#done-title').textContent = '已保存，待同步';
      body.replaceChildren(el('p', {}, el('span', { class: 'pill warn' }, '待同步')),
        el('p', { class: 'muted' }, '当前没有网络。上报和照片已保存在本机，网络恢复或再次打开应用时会自动发送，不会重复上报。'));
    }
    go('done');
  }

  /* The citizen's tracking link for a report this worker filed: a QR code to scan on the spot,
   * the SMS text to send, and the link itself. Shown at once after filing (the worker is still
   * with the citizen) and on the worker's own cases. */
  function citizenCard(caseId, open) {
    const area = el('div', { class: 'citizen-link', id: 'citizen-link' });
    const show = async () => {
      area.replaceChildren(el('p', { class: 'muted' }, '正在取查询码…'));
      let data;
      try {
        ({ data } = await api(`/api/citizen-link/${caseId}/`, { timeout: 10000 }));
      } catch (e) {
        area.replaceChildren(el('p', { class: 'muted' }, e instanceof Offline
          ? '没有网络，暂时取不到查询码。联网后在“我的上报”里打开这个事件即可出示。'
          : (e.message || '取查询码失败')),
        el('button', { type: 'button', class: 'button', onclick: show }, '重试'));
        return;
      }
      const copy = el('button', { type: 'button', class: 'button', onclick: async () => {
        try {
          await navigator.clipboard.writeText(data.sms);
          toast('短信内容已复制', 'ok');
        } catch (e) {
          toast('无法复制，请长按下方链接复制', 'warn');
        }
      } }, '复制短信');
      area.replaceChildren(
        el('p', { class: 'muted' }, '请群众用手机扫码，可随时查看办理进度，办结后评价。'),
        el('img', { class: 'qr', src: data.qr, alt: `查询码：${data.tracking_number}`, width: 220, height: 220 }),
        el('p', { class: 'link' }, el('a', { href: data.link, target: '_blank', rel: 'noopener' }, data.link)),
        el('div', { class: 'actions' }, copy,
          el('a', { class: 'button', href: `sms:?body=${encodeURIComponent(data.sms)}` }, '发短信')));
    };
    if (open) show();
    else area.append(el('button', { type: 'button', class: 'button', onclick: show }, '给群众出示查询码'));
    return el('div', { class: 'card citizen' }, el('h3', {}, '群众查询'), area);
  }

  // ---------------------------------------------------------------- lists

  function caseCard(row, extra) {
    const done = FINAL.has(row.status) || row.status === 'verified';
    const due = clockWords(row, done);
    return el('li', {}, el('a', { class: 'case-card', href: `#case/${row.id}`, 'data-colour': row.colour },
      el('span', { class: `bar ${row.colour}` }),
      el('span', { class: 'main' },
        el('div', { class: 'title' }, row.category_name),
        el('div', { class: 'sub' }, row.description),
        el('div', { class: 'tn' }, row.tracking_number)),
      el('span', { class: 'side' },
        el('div', {}, el('span', { class: `pill ${row.colour}` }, extra || row.status_display)),
        due ? el('div', { class: row.clock.overdue ? 'overdue due' : 'muted due', title: `${clockLabel(row)} ${fmtTime(row.clock.deadline)}` }, `本环节${due}`) : null,
        el('div', { class: 'muted' }, fmtTime(row.created_at)))));
  }

  function queuedCard(item) {
    const cat = categories.flatMap((c) => c.children.map((leaf) => ({ ...leaf, parent: c.name })))
      .find((leaf) => leaf.id === item.payload.category);
    const sent = item.photos.filter((p) => p.done).length;
    let state = progressText.get(item.id) || (item.case ? `照片 ${sent}/${item.photos.length} 待上传` : '等待网络');
    if (item.failed) state = '未被接收';
    const li = el('li', {}, el('div', { class: 'case-card queued' + (item.failed ? ' failed' : '') },
      el('span', { class: 'bar' }),
      el('span', { class: 'main' },
        el('div', { class: 'title' }, cat ? `${cat.parent}/${cat.name}` : '上报'),
        el('div', { class: 'sub' }, item.payload.description),
        item.error ? el('div', { class: 'sub', style: 'color:#c62828;white-space:normal' }, item.error) : null,
        item.case ? el('div', { class: 'tn' }, item.case.tracking_number) : null),
      el('span', { class: 'side' },
        el('div', {}, el('span', { class: 'pill warn queued-badge' }, '待同步')),
        el('div', { class: 'muted progress', 'data-progress-for': item.failed ? null : item.id }, state),
        (item.failed || item.error) ? el('button', { type: 'button', class: 'button small danger', onclick: async () => {
          if (!confirm('从本机删除这条未同步的上报？')) return;
          await Outbox.remove(item.id);
          renderMine();
          refreshQueueBadge();
        } }, '删除') : el('div', { class: 'muted' }, fmtTime(new Date(item.createdAt).toISOString())))));
    return li;
  }

  async function renderMine() {
    const queue = await refreshQueueBadge();
    $('#queue-list').replaceChildren(...queue.map(queuedCard));
    try {
      const { data } = await api('/api/cases/mine/?limit=100', { timeout: 10000 });
      const mine = new Set(queue.filter((q) => q.case).map((q) => q.case.id));
      const rows = data.results.filter((row) => !mine.has(row.id));
      $('#mine-list').replaceChildren(...rows.map((row) => caseCard(row)));
      $('#mine-empty').hidden = rows.length + queue.length > 0;
    } catch (e) {
      if (!$('#mine-list').children.length) $('#mine-empty').hidden = queue.length > 0;
      if (!(e instanceof Offline)) toast(e.message, 'error');
    }
  }

  async function renderTasks() {
    try {
      const { data } = await api('/api/tasks/?limit=100', { timeout: 10000 });
      $('#tasks-list').replaceChildren(...data.results.map((row) => caseCard(row, `待${row.waiting_for || '办理'}`)));
      $('#tasks-empty').hidden = data.results.length > 0;
      setTasksBadge(data.count);
    } catch (e) {
      if (!(e instanceof Offline)) toast(e.message, 'error');
    }
  }

  function setTasksBadge(count) {
    const badge = $('#tasks-badge');
    badge.hidden = !count;
    badge.textContent = count > 99 ? '99+' : String(count || '');
  }

  // ---------------------------------------------------------------- case detail and steps

  // The steps' button labels, from the step registry (apps/cases/steps.py) through the config.
  const ACTION_LABELS = CONFIG.stepLabels || {};

  function gallery(photos) {
    return el('div', { class: 'gallery' }, photos.map((p) => el('a', { href: p.web_url, target: '_blank', rel: 'noopener' },
      p.processed ? el('img', { src: p.thumb_url, alt: p.kind_display, loading: 'lazy' }) : el('span', { class: 'pending' }, '照片处理中'))));
  }

  async function renderCase(id) {
    const body = $('#case-body');
    body.replaceChildren(el('p', { class: 'empty' }, '加载中…'));
    let data;
    try {
      ({ data } = await api(`/api/cases/${id}/`, { timeout: 10000 }));
    } catch (e) {
      body.replaceChildren(el('p', { class: 'empty' }, e instanceof Offline ? '没有网络，且本机没有这个事件的缓存。' : e.message));
      return;
    }
    const done = FINAL.has(data.status);
    const due = clockWords(data, done);
    const facts = [
      ['分类', data.category_name], ['等级', data.severity_display], ['状态', data.status_display],
      [clockLabel(data), [data.deadline ? `${fmtTime(data.deadline)}${due ? `（${due}）` : ''}` : (data.clock && data.clock.text) || '—',
        ' ', el('a', { href: '/track/clock/', target: '_blank', rel: 'noopener', class: 'muted' }, '时限说明')]],
      ['网格', data.grid_name], ['地址', data.address || '—'],
      ['定位', `${data.position_source_display}${data.accuracy_m ? ` ±${Math.round(data.accuracy_m)} 米` : ''}${data.position_flagged ? '（精度存疑）' : ''}`],
      ['责任层级', `${data.tier_display} · ${data.holder_name}`],
      ['处置单位', data.lead_unit_name || '—'], ['上报时间', fmtTime(data.created_at)],
    ];
    if (data.result_text) facts.push(['处置结果', data.result_text]);
    body.replaceChildren(...[
      el('div', { class: 'card' },
        el('div', { class: 'case-head' },
          el('div', {}, el('div', { class: 'tracking', style: 'font-size:1.15rem;margin:0' }, data.tracking_number)),
          el('span', { class: `pill ${data.colour}` }, data.colour_display)),
        el('p', { style: 'margin:8px 0 0' }, data.description),
        el('dl', { class: 'facts' }, facts.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]))),
      window.LDCaseMap ? LDCaseMap.card(data, CONFIG.map) : null, // the point, its grid and 导航 (field/case_map.js)
      data.photos.length ? el('div', { class: 'card' }, el('h3', {}, `照片（${data.photos.length}）`), gallery(data.photos)) : null,
      data.allowed_actions.length ? actionsCard(data) : null,
      data.reported_by_me ? citizenCard(data.id, false) : null,
      el('div', { class: 'card' }, el('h3', {}, '办理过程'),
        el('ul', { class: 'timeline' }, data.timeline.map((e) => el('li', {},
          el('div', { class: 'when' }, `${fmtTime(e.created_at)} · ${e.actor_label || '系统'}`),
          el('div', { class: 'what' }, e.action_display + (e.to_status && e.to_status !== e.from_status ? ` → ${e.to_status_display}` : '')),
          e.note || e.public_note ? el('div', { class: 'note' }, e.note || e.public_note) : null,
          e.photos.length ? gallery(e.photos) : null)))),
    ].filter(Boolean));
  }

  function actionsCard(data) {
    const area = el('div', { class: 'action-area' });
    const buttons = el('div', { class: 'actions' }, data.allowed_actions.map((action, index) => el('button', {
      type: 'button', class: 'button' + (index === 0 ? ' primary' : '') + (data.allowed_actions.length % 2 && index === 0 ? ' wide' : ''),
      'data-action': action, onclick: () => area.replaceChildren(actionForm(data, action)),
    }, ACTION_LABELS[action] || action)));
    return el('div', { class: 'card' }, el('h3', {}, '办理'), buttons, area);
  }

  function actionForm(data, action) {
    const f = el('form', { class: 'action-form', novalidate: true });
    const parts = [];
    let picker = null;
    const text = (name, label, placeholder, required) => el('label', { class: 'field' }, el('span', { class: 'label' }, label + (required ? '' : '（可选）')),
      el('textarea', { name, rows: 3, maxlength: 2000, placeholder: placeholder || '' }));
    if (action === 'handle') parts.push(text('result_text', '处置结果', '做了什么处理？结果如何？', true));
    if (action === 'verify') {
      parts.push(el('div', { class: 'field' }, el('span', { class: 'label' }, '核查结果'),
        el('div', { class: 'segmented', style: 'grid-template-columns:1fr 1fr' },
          el('label', {}, el('input', { type: 'radio', name: 'passed', value: 'true' }), el('span', {}, '通过')),
          el('label', {}, el('input', { type: 'radio', name: 'passed', value: 'false' }), el('span', {}, '不通过（返工）')))));
      parts.push(text('note', '核查说明', '不通过时请写明原因', false));
    }
    if (action === 'escalate') parts.push(text('reason', '上报理由', '为什么超出本级处置能力？', true));
    if (action === 'return') parts.push(text('reason', '退单理由', '为什么不属于本单位？', true));
    if (action === 'extension_request') {
      parts.push(el('label', { class: 'field' }, el('span', { class: 'label' }, '延长小时数'), el('input', { name: 'hours', type: 'number', min: 1, max: 2160, step: 1, value: 24 })));
      parts.push(text('reason', '延期理由', '', true));
    }
    if (action === 'reject') {
      parts.push(el('label', { class: 'field' }, el('span', { class: 'label' }, '不予立案原因'),
        el('select', { name: 'reject_reason' }, el('option', { value: 'invalid' }, '无效信息'), el('option', { value: 'duplicate' }, '重复上报'), el('option', { value: 'not_public' }, '非公共事务'))));
      parts.push(text('note', '说明', '', true));
    }
    if (action === 'accept' || action === 'close') parts.push(text('note', '备注', '', false));
    if (action === 'handle' || action === 'verify') {
      const strip = el('div', { class: 'photo-strip' });
      const camera = el('input', { type: 'file', accept: 'image/*', capture: 'environment', hidden: true });
      const album = el('input', { type: 'file', accept: 'image/*', multiple: true, hidden: true });
      picker = new PhotoPicker(strip, [camera, album]);
      parts.push(el('div', { class: 'field' }, el('span', { class: 'label' }, action === 'handle' ? '处置后照片' : '现场核查照片'), strip,
        el('div', { class: 'photo-buttons' }, el('label', { class: 'button' }, camera, '拍照'), el('label', { class: 'button' }, album, '从相册选'))));
    }
    const error = el('div', { class: 'error', hidden: true });
    const submit = el('button', { type: 'submit', class: 'primary big' }, `确认${ACTION_LABELS[action] || action}`);
    f.append(...parts, error, submit);
    f.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!navigator.onLine) { error.hidden = false; error.textContent = '没有网络：办理操作需要联网后提交。'; return; }
      const body = new FormData(f);
      if (picker) {
        body.delete('photos');
        for (const p of picker.items) { body.append('photos', p.blob, p.name); body.append('photo_ids', p.id); }
      }
      submit.disabled = true;
      try {
        await api(`/api/cases/${data.id}/actions/${action}/`, { method: 'POST', body, timeout: 120000 });
        toast(`${ACTION_LABELS[action]}：已提交`, 'ok');
        renderCase(data.id);
        window.liandongTasks.refresh();
      } catch (e) {
        error.hidden = false;
        const fields = e.body && e.body.errors ? Object.values(e.body.errors).flat().join(' ') : '';
        error.textContent = e.message + (fields && !e.message.includes(fields) ? ` ${fields}` : '');
      } finally {
        submit.disabled = false;
      }
    });
    return f;
  }

  // ---------------------------------------------------------------- places (场所)

  /* The places of the worker's grids and the 采集 form, built from the kind's declared
   * attributes (/api/places/kinds/). A new place uses the report form's point (GPS or pin)
   * and waits for the village workstation to confirm it. Online only. */
  let placeKinds = null;
  let placeKindsLoading = null;
  function placeAttrFields(kind) {
    return (kind ? kind.attribute_schema : []).map((spec) => {
      const name = `attr:${spec.key}`;
      const label = el('span', { class: 'label' }, spec.label, spec.required ? ' *' : '');
      if (spec.type === 'bool') return el('label', { class: 'check' }, el('input', { type: 'checkbox', name }), ' ', spec.label);
      if (spec.type === 'choice') {
        return el('label', { class: 'field' }, label, el('select', { name },
          el('option', { value: '' }, '请选择'), ...(spec.choices || []).map((c) => el('option', { value: c }, c))));
      }
      const type = spec.type === 'int' ? 'number' : (spec.type === 'date' ? 'date' : 'text');
      return el('label', { class: 'field' }, label, el('input', { name, type, inputmode: spec.type === 'int' ? 'numeric' : null }));
    });
  }
  function selectedKind() {
    return (placeKinds || []).find((k) => String(k.id) === $('#place-kind').value);
  }
  async function renderPlaces() {
    try {
      if (!placeKindsLoading) {
        // Once: a second visit (or refresh) must not rebuild a form the worker is filling in.
        placeKindsLoading = api('/api/places/kinds/').then(({ data }) => {
          placeKinds = (data || []).filter((k) => k.geometry_type === 'point');
          $('#place-kind').replaceChildren(...placeKinds.map((k) => el('option', { value: String(k.id) }, k.name)));
          $('#place-attrs').replaceChildren(...placeAttrFields(selectedKind()));
        }).catch((e) => { placeKindsLoading = null; throw e; });
      }
      await placeKindsLoading;
      const { data } = await api('/api/places/?limit=200');
      const rows = (data && data.results) || [];
      $('#places-empty').hidden = rows.length > 0;
      $('#places-list').replaceChildren(...rows.map((p) => el('li', { class: 'card' },
        el('strong', {}, p.name), el('div', { class: 'muted' }, `${p.kind_name} · ${p.status_display} · 风险 ${p.risk}`),
        el('div', { class: 'muted' }, p.code))));
    } catch (e) {
      toast('无法加载场所：' + e.message, 'error');
    }
  }
  $('#place-kind').addEventListener('change', () => $('#place-attrs').replaceChildren(...placeAttrFields(selectedKind())));
  $('#places-refresh').addEventListener('click', renderPlaces);
  $('#place-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const f = event.target.elements;
    const box = $('#place-error');
    box.hidden = true;
    const kind = selectedKind();
    if (!kind) { box.hidden = false; box.textContent = '请选择场所类型。'; return; }
    if (position.lat === null) { box.hidden = false; box.textContent = '还没有位置：请先在“上报”页等待定位或点选位置。'; return; }
    const attributes = {};
    for (const spec of kind.attribute_schema) {
      const input = f[`attr:${spec.key}`];
      if (!input) continue;
      if (spec.type === 'bool') attributes[spec.key] = input.checked;
      else if (input.value.trim()) attributes[spec.key] = input.value.trim();
    }
    const payload = {
      id: uuid(), kind: kind.id, name: f.name.value.trim(), address: f.address.value.trim(), risk: f.risk.value,
      lat: Number(position.lat.toFixed(7)), lng: Number(position.lng.toFixed(7)), attributes,
      contact_name: f.contact_name.value.trim(), contact_phone: f.contact_phone.value.trim(),
    };
    $('#place-submit').disabled = true;
    try {
      const { data } = await api('/api/places/', { method: 'POST', body: payload });
      toast(`已采集：${data.name}（${data.code}），待村/社区确认`);
      event.target.reset();
      $('#place-attrs').replaceChildren(...placeAttrFields(selectedKind()));
      renderPlaces();
    } catch (e) {
      box.hidden = false;
      box.textContent = e instanceof Offline ? '当前没有网络，场所采集需要联网后再提交。' : e.message;
    } finally {
      $('#place-submit').disabled = false;
    }
  });

  // ---------------------------------------------------------------- router

  function go(name) {
    current = name;
    for (const screen of $$('.screen')) screen.hidden = screen.id !== `screen-${name}`;
    for (const tab of $$('.tabs a')) tab.classList.toggle('active', tab.dataset.tab === name || (name === 'case' && tab.dataset.tab === lastList) || (name === 'done' && tab.dataset.tab === 'report'));
    window.scrollTo(0, 0);
  }
  let lastList = 'mine';

  function route() {
    const hash = location.hash.replace(/^#/, '') || (me && !me.can_report ? 'tasks' : 'report');
    const [name, arg] = hash.split('/');
    if (name === 'case' && arg) {
      $('#case-back').setAttribute('href', `#${lastList}`);
      go('case');
      renderCase(arg);
    } else if (name === 'mine' || name === 'tasks') {
      lastList = name;
      go(name);
      if (name === 'mine') renderMine(); else renderTasks();
    } else if (name === 'me') {
      go('me');
    } else if (name === 'places') {
      go('places');
      renderPlaces();
    } else if (name === 'done') {
      go('done');
    } else {
      go('report');
      initMap();
      if (map) setTimeout(() => map.invalidateSize(), 50);
    }
  }
  window.addEventListener('hashchange', route);
  // The done screen is shown without changing the hash (still #report), so 继续上报 and the
  // 上报 tab would not fire hashchange: open the (already reset) form directly.
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a[href="#report"]');
    if (link && location.hash === '#report' && current !== 'report') {
      event.preventDefault();
      route();
    }
  });
  $$('[data-refresh]').forEach((b) => b.addEventListener('click', () => (b.dataset.refresh === 'mine' ? renderMine() : renderTasks())));
  $('#sync-status').addEventListener('click', () => { syncNow(); location.hash = '#mine'; });
  $('#sync-now').addEventListener('click', () => {
    if (!navigator.onLine) { toast('当前没有网络，恢复后会自动同步', 'error'); return; }
    syncNow();
  });

  $('#logout-form').addEventListener('submit', async (event) => {
    const waiting = (await Outbox.all()).length;
    if (waiting && !confirm(`还有 ${waiting} 条上报未同步，退出后将在您下次登录时发送。确定退出？`)) { event.preventDefault(); return; }
    event.target.elements.csrfmiddlewaretoken.value = getCookie('csrftoken');
    localStorage.removeItem('ld:me');
    localStorage.removeItem('ld:categories');
    if (navigator.serviceWorker && navigator.serviceWorker.controller) navigator.serviceWorker.controller.postMessage('logout');
  });

  // ---------------------------------------------------------------- start

  function showMe() {
    $('#me-name').textContent = me.display_name;
    $('#me-role').textContent = [me.role_display, me.unit_name || me.region_name].filter(Boolean).join(' · ');
    $('#me-grids').textContent = me.grids.length ? '负责网格：' + me.grids.map((g) => g.name).join('、') : '';
    if (!me.can_report) $('.tabs a[data-tab="report"]').hidden = true;
    $('#me-places').hidden = !me.can_report;
  }

  window.liandongTasks = {
    refresh() {
      if (current === 'tasks') return renderTasks();
      return api('/api/tasks/?limit=1', { timeout: 10000 }).then(({ data }) => setTasksBadge(data.count)).catch(() => {});
    },
    setBadge: setTasksBadge,
  };
  window.liandongField = { sync, syncNow, toast, outbox: Outbox };

  async function start() {
    updateNetwork();
    window.addEventListener('online', () => { updateNetwork(); syncNow(); });
    window.addEventListener('offline', updateNetwork);
    document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') syncNow(); });
    window.addEventListener('pageshow', (event) => { if (event.persisted) syncNow(); });
    try {
      me = await cachedGet('/api/me/', 'ld:me');
    } catch (e) {
      if (needsLogin) { location.href = CONFIG.loginUrl + '?next=/field/'; return; }
      toast('无法加载用户信息：' + e.message, 'error', 6000);
      return;
    }
    showMe();
    // The basemap of my grids, kept for no signal (field/offline_tiles.js; on Wi-Fi-ish only).
    if (window.LDOfflineTiles) LDOfflineTiles.prefetch(me.grids, CONFIG.map).catch(() => {});
    try {
      categories = await cachedGet('/api/categories/', 'ld:categories');
    } catch (e) {
      categories = [];
    }
    fillCategories();
    await restoreDraft();
    route();
    startGps();
    await refreshQueueBadge();
    syncNow();
    window.liandongTasks.refresh();
    setInterval(async () => { if ((await Outbox.all()).length) sync(); }, 60000);
    document.body.dataset.ready = '1';
  }

  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register(CONFIG.swUrl, { scope: '/field/' }).catch((e) => console.warn('service worker', e));
  }
  start();
})();
