/* Maps of the command desk: the filtered case list and one case's page.
 * The basemap comes from settings.MAP_BASEMAP through core/basemap.js (which also shifts
 * everything for a GCJ-02 basemap); without one, or when its tiles cannot load, the points and
 * the grid boundary are drawn on a plain background, which works with no outside network. */
(function () {
  "use strict";
  var COLOURS = { red: "#d93025", yellow: "#e8a100", blue: "#1a73e8", green: "#188038", grey: "#80868b" };

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  var t = typeof window.gettext === "function" ? window.gettext : function (s) { return s; };

  function baseMap(element, config) {
    // Leaflet's own credit (a link and a flag) is left off; tiles carry their source's credit.
    return LDMap.create(element, config, { zoomControl: true, preferCanvas: true });
  }

  function dot(map, point, radius) {
    var colour = COLOURS[point.c] || COLOURS.blue;
    return L.circleMarker(LDMap.show(map, point.lat, point.lng), {
      radius: radius, color: "#fff", weight: 1.5, fillColor: colour, fillOpacity: 0.9
    });
  }

  function listMap() {
    var element = document.getElementById("ld-list-map");
    var points = readJson("ld-map-points");
    var config = readJson("ld-map-config") || {};
    if (!element || !points) return;
    if (!points.length) {
      element.parentNode.classList.add("ld-map-empty");
      element.textContent = "当前筛选没有事件。";
      return;
    }
    // The map folds away (地图 toggles it); the choice is remembered. On a short screen
    // (1366×768) it starts folded, so the list's rows are what the dispatcher sees first.
    var wrap = element.parentNode, map = null, KEY = "ld-list-map";
    function draw() {
      if (map) { map.invalidateSize(); return; }
      map = baseMap(element, config.basemap);
      map.fitBounds(LDMap.showBounds(map, points), { padding: [24, 24], maxZoom: 16 });
      (config.grids || []).forEach(function (boundary) {
        LDMap.geoJSON(map, boundary, { style: { color: "#6b8fb3", weight: 1, fillOpacity: 0.03 }, interactive: false }).addTo(map);
      });
      points.forEach(function (p) {
        var marker = dot(map, p, 6).addTo(map);
        marker.bindTooltip(p.n);
        marker.on("click", function () { window.location.href = config.caseUrl.replace(/0\/change\/$/, p.id + "/change/"); });
      });
    }
    var stored = null;
    try { stored = window.localStorage.getItem(KEY); } catch (e) { /* private mode */ }
    var shown = stored ? stored === "shown" : window.innerHeight >= 900;
    wrap.classList.toggle("ld-map-hidden", !shown);
    if (shown) draw();
    var toggle = document.querySelector("[data-toggle-map]");
    if (toggle) {
      toggle.setAttribute("aria-expanded", String(shown));
      toggle.addEventListener("click", function (event) {
        event.preventDefault();
        shown = wrap.classList.toggle("ld-map-hidden") === false;
        toggle.setAttribute("aria-expanded", String(shown));
        try { window.localStorage.setItem(KEY, shown ? "shown" : "hidden"); } catch (e) { /* private mode */ }
        if (shown) draw();
      });
    }
  }

  function caseMap() {
    var element = document.getElementById("ld-case-map");
    var data = readJson("ld-case-map-data");
    if (!element || !data) return;
    var map = baseMap(element, data.basemap);
    // Set the view before adding layers: the canvas renderer needs map bounds to draw.
    var grid = data.grid ? LDMap.geoJSON(map, data.grid, {
      style: { color: "#0b3d66", weight: 2, fillOpacity: 0.06, dashArray: "4 3" }
    }) : null;
    if (grid) {
      map.fitBounds(grid.getBounds(), { padding: [16, 16] });
      grid.addTo(map);
    } else {
      map.setView(LDMap.show(map, data.case.lat, data.case.lng), 16);
    }
    (data.nearby || []).forEach(function (p) {
      var marker = dot(map, p, 6).addTo(map);
      marker.bindTooltip(p.n);
      marker.on("click", function () { window.location.href = p.url; });
    });
    dot(map, data.case, 10).addTo(map).bindTooltip(data.case.n);
    navigation(data.case);
  }

  /* 导航: the case's point handed to the map apps, each in the coordinates it expects. */
  function navigation(point) {
    var box = document.getElementById("ld-case-nav");
    if (!box) return;
    box.appendChild(document.createTextNode(t("导航：")));
    LDMap.navigationLinks(point.lat, point.lng, point.n).forEach(function (link, index) {
      if (link.app === "geo") return; // a desktop has no geo: handler
      if (index > 1) box.appendChild(document.createTextNode(" · "));
      var a = document.createElement("a");
      a.href = link.href; a.target = "_blank"; a.rel = "noopener noreferrer";
      a.setAttribute("data-app", link.app);
      a.textContent = link.label;
      box.appendChild(a);
    });
  }

  function start() {
    if (typeof L === "undefined" || typeof LDMap === "undefined") return;
    listMap();
    caseMap();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
