/* 大联动公开: villages with many reports as circles on a coarse map (grid outlines when no tile
   server is set, so the page works without one). */
(function () {
  "use strict";
  var el = document.getElementById("board-map");
  if (!el || !window.L) return;
  var spots = JSON.parse(el.dataset.hotspots || "[]");
  var center = JSON.parse(el.dataset.center || "[29.87,121.55]");
  var map = L.map(el, { zoomControl: true, attributionControl: false, scrollWheelZoom: false })
    .setView(center, 11);
  if (el.dataset.tiles) {
    L.tileLayer(el.dataset.tiles, { maxZoom: 16 }).addTo(map);
  } else {
    fetch(el.dataset.grids).then(function (r) { return r.json(); }).then(function (data) {
      var outlines = L.geoJSON(data, { style: { color: "#94a3b8", weight: 0.6, fillOpacity: 0.04 } });
      outlines.addTo(map).bringToBack();
      // The whole county in view: where the circles are reads against where nothing is.
      if (outlines.getBounds().isValid()) map.fitBounds(outlines.getBounds(), { padding: [12, 12] });
    }).catch(function () { /* outlines are decoration: the circles still show */ });
  }
  var most = spots.reduce(function (m, s) { return Math.max(m, s.reports); }, 1);
  var bounds = [];
  spots.forEach(function (s) {
    var circle = L.circleMarker([s.lat, s.lng], {
      radius: 6 + 18 * Math.sqrt(s.reports / most),
      color: "#b91c1c", weight: 1, fillColor: "#ef4444", fillOpacity: 0.45,
    }).addTo(map);
    circle.bindTooltip(s.name + "：" + s.reports + " 件");
    bounds.push([s.lat, s.lng]);
  });
  if (bounds.length > 1) map.fitBounds(bounds, { padding: [24, 24], maxZoom: 13 });
  else if (bounds.length === 1) map.setView(bounds[0], 13);
  el.setAttribute("data-ready", "1");
})();
