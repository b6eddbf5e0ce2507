/* 随手拍: photo preview, browser geolocation or a pin on the map, double-submit guard. */
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
      if (marker) {
        marker.setLatLng([la, ln]);
      } else {
        marker = L.marker([la, ln], { draggable: true, autoPan: true }).addTo(map);
        marker.on("dragend", function () {
          var p = marker.getLatLng();
          setPoint(p.lat, p.lng, "pin");
        });
      }
      map.setView([la, ln], Math.max(map.getZoom(), 15));
    }
    status.textContent = how === "gps"
      ? "已定位" + (acc ? "（精度约 " + Math.round(acc) + " 米）" : "") + "，位置不准可拖动图钉调整"
      : "已在地图上选点，可拖动图钉调整";
  }

  if (window.L && mapEl) {
    var center = JSON.parse(mapEl.dataset.center || "[29.87,121.55]");
    map = L.map(mapEl, { zoomControl: true, attributionControl: false }).setView(center, 12);
    if (mapEl.dataset.tiles) {
      L.tileLayer(mapEl.dataset.tiles, { maxZoom: 19 }).addTo(map);
    } else {
      fetch(mapEl.dataset.grids, { credentials: "same-origin" }).then(function (r) { return r.json(); })
        .then(function (data) {
          var layer = L.geoJSON(data, {
            style: { color: "#1d4ed8", weight: 1, fillColor: "#93c5fd", fillOpacity: 0.15 },
            onEachFeature: function (f, l) { l.bindTooltip(f.properties.village, { sticky: true }); }
          }).addTo(map);
          if (!lat.value && layer.getBounds().isValid()) map.fitBounds(layer.getBounds());
          layer.on("click", function (e) { setPoint(e.latlng.lat, e.latlng.lng, "pin"); });
        }).catch(function () {});
    }
    map.on("click", function (e) { setPoint(e.latlng.lat, e.latlng.lng, "pin"); });
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

  var photo = document.getElementById("photo"), preview = document.getElementById("photo-preview");
  photo.addEventListener("change", function () {
    preview.innerHTML = "";
    var max = parseInt(photo.dataset.max || "3", 10);
    Array.prototype.slice.call(photo.files, 0, max).forEach(function (file) {
      var li = document.createElement("li"), img = document.createElement("img");
      img.alt = "待上传照片"; img.src = URL.createObjectURL(file);
      li.appendChild(img); preview.appendChild(li);
    });
    if (photo.files.length > max) status.textContent = "最多 " + max + " 张照片，多余的不会上传";
  });

  form.addEventListener("submit", function (e) {
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
