/* The basemap every map of ours draws on, and the coordinates it draws in.
 *
 * The server hands one config object (apps/core/maps.py map_config()):
 *   { basemap, layers: [{url, subdomains, maxZoom}], attribution, crs: "wgs84"|"gcj02", center }
 * Our data are WGS-84. On a GCJ-02 basemap (高德, 腾讯) everything drawn is shifted to GCJ-02
 * (LDMap.show / LDMap.geoJSON) and every point picked on the map is shifted back to WGS-84
 * (LDMap.pick) before it goes into a form. Tiles that cannot load (no signal) leave the grid
 * outlines on grey and a small note.
 *
 * The conversion is the published GCJ-02 formula with an iterative inverse; its Python twin is
 * apps/core/gcj02.py, and tests/core/test_gcj02.py runs this file under node against it.
 * Works without Leaflet too (node, the navigation links).
 */
(function (root) {
  'use strict';
  var t = (typeof root.gettext === 'function') ? root.gettext : function (s) { return s; };

  var A = 6378245.0, EE = 0.00669342162296594323, PI = Math.PI;

  function outOfChina(lat, lng) {
    return !(lng >= 72.004 && lng <= 137.8347 && lat >= 0.8293 && lat <= 55.8271);
  }
  function shiftLat(x, y) {
    var r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    r += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    r += (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
    r += (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    return r;
  }
  function shiftLng(x, y) {
    var r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    r += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    r += (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
    r += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    return r;
  }
  /* WGS-84 → GCJ-02, [lat, lng]. */
  function toGcj(lat, lng) {
    if (outOfChina(lat, lng)) return [lat, lng];
    var dLat = shiftLat(lng - 105.0, lat - 35.0), dLng = shiftLng(lng - 105.0, lat - 35.0);
    var radLat = lat / 180.0 * PI;
    var magic = 1 - EE * Math.pow(Math.sin(radLat), 2), sqrtMagic = Math.sqrt(magic);
    dLat = (dLat * 180.0) / ((A * (1 - EE)) / (magic * sqrtMagic) * PI);
    dLng = (dLng * 180.0) / (A / sqrtMagic * Math.cos(radLat) * PI);
    return [lat + dLat, lng + dLng];
  }
  /* GCJ-02 → WGS-84, [lat, lng]: guess, shift the guess forward, move it by the miss, until the
   * miss is below 1e-10° (same steps as gcj02_to_wgs84 in apps/core/gcj02.py). */
  function toWgs(lat, lng) {
    if (outOfChina(lat, lng)) return [lat, lng];
    var wLat = lat, wLng = lng;
    for (var i = 0; i < 30; i++) {
      var g = toGcj(wLat, wLng), missLat = lat - g[0], missLng = lng - g[1];
      wLat += missLat; wLng += missLng;
      if (Math.abs(missLat) < 1e-10 && Math.abs(missLng) < 1e-10) break;
    }
    return [wLat, wLng];
  }

  /* Navigation: the point handed to the phone's map apps, each in the coordinates it expects. */
  function navigationLinks(lat, lng, name) {
    var label = encodeURIComponent(name || t('事件位置'));
    var gcj = toGcj(lat, lng);
    var f = function (v) { return Number(v).toFixed(6); };
    return [
      { app: 'geo', label: t('系统地图'), href: 'geo:' + f(lat) + ',' + f(lng) + '?q=' + f(lat) + ',' + f(lng) + '(' + label + ')' },
      { app: 'amap', label: t('高德地图'), href: 'https://uri.amap.com/marker?position=' + f(lng) + ',' + f(lat) + '&name=' + label + '&coordinate=wgs84&callnative=1' },
      { app: 'baidu', label: t('百度地图'), href: 'https://api.map.baidu.com/marker?location=' + f(lat) + ',' + f(lng) + '&title=' + label + '&content=' + label + '&output=html&coord_type=wgs84&src=liandong' },
      { app: 'tencent', label: t('腾讯地图'), href: 'https://apis.map.qq.com/uri/v1/marker?marker=coord:' + f(gcj[0]) + ',' + f(gcj[1]) + ';title:' + label + '&referer=liandong' },
    ];
  }

  var api = { toGcj: toGcj, toWgs: toWgs, outOfChina: outOfChina, navigationLinks: navigationLinks };
  if (typeof module !== 'undefined' && module.exports) { module.exports = api; return; }

  function isGcj(map) { return !!(map && map._ldCrs === 'gcj02'); }

  /* WGS-84 [lat, lng] or {lat, lng} → where to draw it on this map (an L.LatLng). */
  function show(map, lat, lng) {
    if (lng === undefined) {
      if (Array.isArray(lat)) { lng = lat[1]; lat = lat[0]; } else { lng = lat.lng; lat = lat.lat; }
    }
    var p = isGcj(map) ? toGcj(lat, lng) : [lat, lng];
    return L.latLng(p[0], p[1]);
  }
  /* A point picked on this map (click, dragged pin) → {lat, lng} in WGS-84 for the form. */
  function pick(map, latlng) {
    var p = isGcj(map) ? toWgs(latlng.lat, latlng.lng) : [latlng.lat, latlng.lng];
    return { lat: p[0], lng: p[1] };
  }
  function showBounds(map, bounds) {
    return L.latLngBounds(bounds.map(function (p) { return show(map, p); }));
  }
  /* L.geoJSON with every coordinate (WGS-84 GeoJSON, [lng, lat]) shifted for this map. */
  function geoJSON(map, data, options) {
    var opts = {};
    for (var k in (options || {})) opts[k] = options[k];
    opts.coordsToLatLng = function (c) { return show(map, c[1], c[0]); };
    return L.geoJSON(data, opts);
  }

  function note(map, text) {
    var Note = L.Control.extend({
      options: { position: 'bottomleft' },
      onAdd: function () {
        var div = L.DomUtil.create('div', 'ld-map-note');
        div.textContent = text;
        div.setAttribute('role', 'status');
        div.style.cssText = 'background:rgba(255,255,255,.85);padding:2px 6px;border-radius:3px;font-size:11px;color:#444;margin:0 0 4px 4px';
        return div;
      },
    });
    return new Note().addTo(map);
  }

  /* A Leaflet map on `element` with the configured basemap under whatever the page draws.
   * `options` go to L.map (zoomControl, scrollWheelZoom, …). Leaflet's own credit (a link and
   * a flag) is off; the tile source's credit is shown plainly. */
  function create(element, config, options) {
    config = config || {};
    var opts = {};
    for (var k in (options || {})) opts[k] = options[k];
    opts.attributionControl = false;
    var map = L.map(element, opts);
    var container = map.getContainer();
    container.ldMap = map;  // for the page's tests and for debugging on a phone
    var layers = (config.layers || []).filter(function (l) { return l && l.url; });
    map._ldCrs = layers.length && config.crs === 'gcj02' ? 'gcj02' : 'wgs84';
    map._ldTiles = [];
    container.classList.add('ld-map');
    if (!layers.length) {
      container.classList.add('ld-map-plain');
      return map;
    }
    var loaded = 0, failed = 0, gaveUp = false, credit = null;
    function giveUp() {
      // No tile has come (offline, key refused, provider unreachable): the outlines stay on grey.
      if (gaveUp) return;
      gaveUp = true;
      map._ldTiles.forEach(function (layer) { map.removeLayer(layer); });
      if (credit) map.removeControl(credit);
      container.classList.add('ld-map-plain', 'ld-map-offline');
      note(map, t('底图无法加载，仅显示网格轮廓'));
      map.fire('ld:tilesfailed');
    }
    layers.forEach(function (l) {
      var layer = L.tileLayer(l.url, {
        subdomains: l.subdomains || 'abc', maxZoom: l.maxZoom || 18, maxNativeZoom: l.maxZoom || 18,
        crossOrigin: false,
      });
      layer.on('tileload', function () { loaded += 1; });
      layer.on('tileerror', function () {
        failed += 1;
        if (!loaded && failed >= 2) giveUp();
      });
      layer.addTo(map);
      map._ldTiles.push(layer);
    });
    map.setMaxZoom(Math.max.apply(null, layers.map(function (l) { return l.maxZoom || 18; })));
    credit = L.control.attribution({ prefix: false }).addAttribution(config.attribution || t('地图瓦片')).addTo(map);
    container.setAttribute('data-basemap', config.basemap || '');
    return map;
  }

  root.LDMap = {
    toGcj: toGcj, toWgs: toWgs, outOfChina: outOfChina, navigationLinks: navigationLinks,
    create: create, show: show, pick: pick, showBounds: showBounds, geoJSON: geoJSON, isGcj: isGcj,
  };
})(typeof window !== 'undefined' ? window : globalThis);
