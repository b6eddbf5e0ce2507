/* 大联动公开: villages with many reports as circles on the basemap (core/basemap.js), over the
   grid outlines, which are all that shows when no basemap is set or its tiles cannot load. */
(function () {
  "use strict";
  var el = document.getElementById("board-map");
  if (!el || !window.L) return;
  var spots = JSON.parse(el.dataset.hotspots || "[]");
  var config = JSON.parse(document.getElementById("map-config").textContent);
  var map = LDMap.create(el, config, { zoomControl: true, scrollWheelZoom: false, maxZoom: 16 });
  map.setView(LDMap.show(map, config.center), 11);
  if (map.getMaxZoom() > 16) map.setMaxZoom(16);
  fetch(el.dataset.grids).then(function (r) { return r.json(); }).then(function (data) {
    var outlines = LDMap.geoJSON(map, data, { style: { color: "#94a3b8", weight: 0.6, fillOpacity: 0.04 } });
    outlines.addTo(map).bringToBack();
    // The whole county in view: where the circles are reads against where nothing is.
    if (outlines.getBounds().isValid()) map.fitBounds(outlines.getBounds(), { padding: [12, 12] });
  }).catch(function () { /* outlines are decoration: the circles still show */ });
  var most = spots.reduce(function (m, s) { return Math.max(m, s.reports); }, 1);
  var bounds = [];
  spots.forEach(function (s) {
    var circle = L.circleMarker(LDMap.show(map, s.lat, s.lng), {
      radius: 6 + 18 * Math.sqrt(s.reports / most),
      color: "#b91c1c", weight: 1, fillColor: "#ef4444", fillOpacity: 0.45,
    }).addTo(map);
    circle.bindTooltip(s.name + "：" + s.reports + " 件");
    bounds.push(LDMap.show(map, s.lat, s.lng));
  });
  if (bounds.length > 1) map.fitBounds(bounds, { padding: [24, 24], maxZoom: 13 });
  else if (bounds.length === 1) map.setView(bounds[0], 13);
  el.setAttribute("data-ready", "1");
})();
