/* 随手拍: photo preview, browser geolocation or a pin on the map, double-submit guard.
 *
 * Photos are made smaller in the browser before upload (long side 1600 px, JPEG quality
 * stepping down until ≤ ~400 KB): a 5 MB camera photo would take ~100 s on a slow 3G line.
 * The smaller copies replace the input's files, so the ordinary form post sends them; without
 * JavaScript (or where the browser cannot decode or replace the files) the originals go and
 * the server's pipeline copes with them. */
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form) return;
  var lat = document.getElementById("lat"), lng = document.getElementById("lng");
  var accuracy = document.getElementById("accuracy"), source = document.getElementById("position_source");
  var status = document.getElementById("location-status");
  var mapEl = document.getElementById("map");
  var map = null, marker = null;

  function setPoint(la, ln, how, acc) {
    lat.value = la.toFixed(7); lng.value = ln.toFixed(7);
    source.value = how; accuracy.value = acc ? Math.round(acc) : "";
    if (map) {
      // The form holds WGS-84; the pin is drawn where the basemap shows that point.
      var shown = LDMap.show(map, la, ln);
      if (marker) {
        marker.setLatLng(shown);
      } else {
        marker = L.marker(shown, { draggable: true, autoPan: true }).addTo(map);
        marker.on("dragend", function () {
          var p = LDMap.pick(map, marker.getLatLng());
          setPoint(p.lat, p.lng, "pin");
        });
      }
      map.setView(shown, Math.max(map.getZoom(), 15));
    }
    status.textContent = how === "gps"
      ? "已定位" + (acc ? "（精度约 " + Math.round(acc) + " 米）" : "") + "，位置不准可拖动图钉调整"
      : "已在地图上选点，可拖动图钉调整";
  }

  if (window.L && window.LDMap && mapEl) {
    // The basemap (core/basemap.js) under the grid outlines; the outlines alone when there is
    // no basemap or its tiles cannot load.
    var config = JSON.parse(document.getElementById("map-config").textContent);
    map = LDMap.create(mapEl, config, { zoomControl: true });
    map.setView(LDMap.show(map, config.center), 12);
    var tiled = !!(config.layers && config.layers.length);
    fetch(mapEl.dataset.grids, { credentials: "same-origin" }).then(function (r) { return r.json(); })
      .then(function (data) {
        var layer = LDMap.geoJSON(map, data, {
          style: tiled ? { color: "#1d4ed8", weight: 1, fillOpacity: 0.04 }
            : { color: "#1d4ed8", weight: 1, fillColor: "#93c5fd", fillOpacity: 0.15 },
          onEachFeature: function (f, l) { l.bindTooltip(f.properties.village, { sticky: true }); }
        }).addTo(map);
        if (!lat.value && layer.getBounds().isValid()) map.fitBounds(layer.getBounds());
        layer.on("click", function (e) { var p = LDMap.pick(map, e.latlng); setPoint(p.lat, p.lng, "pin"); });
      }).catch(function () {});
    map.on("click", function (e) { var p = LDMap.pick(map, e.latlng); setPoint(p.lat, p.lng, "pin"); });
    if (lat.value && lng.value) setPoint(parseFloat(lat.value), parseFloat(lng.value), source.value || "pin");
  }

  document.getElementById("locate").addEventListener("click", function () {
    if (!navigator.geolocation) { status.textContent = "此浏览器不能定位，请在地图上点选位置"; return; }
    status.textContent = "正在定位…";
    navigator.geolocation.getCurrentPosition(function (pos) {
      setPoint(pos.coords.latitude, pos.coords.longitude, "gps", pos.coords.accuracy);
    }, function () {
      status.textContent = "未能定位（可能未允许定位权限），请在地图上点选位置";
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });

  var MAX_SIDE = 1600, TARGET_BYTES = 400000, QUALITIES = [0.82, 0.74, 0.66, 0.58, 0.5];

  function toBlob(canvas, quality) {
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", quality); });
  }

  /* A smaller JPEG of the photo, or the photo itself when it is small already or cannot be
   * decoded here (e.g. HEIC). */
  function downscale(file) {
    if (!window.createImageBitmap || !window.Promise) return Promise.resolve(file);
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var long = Math.max(bitmap.width, bitmap.height);
      if (long <= MAX_SIDE && file.type === "image/jpeg" && file.size <= TARGET_BYTES) return file;
      var side = Math.min(MAX_SIDE, long), best = null, round = 0;
      function attempt() {
        var scale = side / long, canvas = document.createElement("canvas");
        canvas.width = Math.round(bitmap.width * scale); canvas.height = Math.round(bitmap.height * scale);
        canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
        var step = 0;
        function next() {
          return toBlob(canvas, QUALITIES[step]).then(function (blob) {
            if (blob) best = blob;
            step += 1;
            if (blob && blob.size > TARGET_BYTES && step < QUALITIES.length) return next();
            canvas.width = 0;
            if (best && best.size > TARGET_BYTES && ++round < 3) { side = Math.round(side * 0.8); return attempt(); }
            return best;
          });
        }
        return next();
      }
      return attempt().then(function (blob) {
        if (bitmap.close) bitmap.close();
        if (!blob) return file;
        var name = (file.name || "photo").replace(/\.[^.]+$/, "") + ".jpg";
        return new File([blob], name, { type: "image/jpeg", lastModified: file.lastModified || Date.now() });
      });
    }).catch(function () { return file; });
  }

  var photo = document.getElementById("photo"), preview = document.getElementById("photo-preview");
  var shrinking = null; // the promise of the photos being made smaller
  photo.addEventListener("change", function () {
    preview.innerHTML = "";
    var max = parseInt(photo.dataset.max || "3", 10);
    var files = Array.prototype.slice.call(photo.files, 0, max);
    files.forEach(function (file) {
      var li = document.createElement("li"), img = document.createElement("img");
      img.alt = "待上传照片"; img.src = URL.createObjectURL(file);
      li.appendChild(img); preview.appendChild(li);
    });
    if (photo.files.length > max) status.textContent = "最多 " + max + " 张照片，多余的不会上传";
    if (!files.length || !window.DataTransfer || !window.Promise) return;
    var button = document.getElementById("submit");
    button.disabled = true; button.textContent = "正在压缩照片…";
    var mine = shrinking = Promise.all(files.map(downscale)).then(function (small) {
      if (mine !== shrinking) return; // another choice of photos came meanwhile
      try {
        var dt = new DataTransfer();
        small.forEach(function (f) { dt.items.add(f); });
        photo.files = dt.files;
        photo.dataset.shrunk = small.map(function (f) { return f.size; }).join(",");
      } catch (e) { /* the originals are sent */ }
    }).then(function () {
      if (mine !== shrinking) return;
      shrinking = null;
      button.disabled = false; button.textContent = "提交";
    });
  });

  form.addEventListener("submit", function (e) {
    if (shrinking) { e.preventDefault(); return; } // the button is disabled meanwhile
    var missing = !photo.files.length ? "请拍一张现场照片"
      : !lat.value ? "请定位或在地图上点选问题所在位置"
      : !document.getElementById("category").value ? "请选择问题分类"
      : !document.getElementById("description").value.trim() ? "请描述一下问题" : "";
    var box = document.getElementById("client-error");
    if (missing) {
      e.preventDefault(); box.textContent = missing; box.hidden = false;
      box.scrollIntoView({ behavior: "smooth", block: "center" }); return;
    }
    box.hidden = true;
    var button = document.getElementById("submit");
    button.disabled = true; button.textContent = "正在提交…";
  });
})();
