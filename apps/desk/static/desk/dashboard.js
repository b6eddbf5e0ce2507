/* Desk dashboard: refresh the numbers from desk/stats.json every N seconds, and at once when
 * the notifications script announces a case event (window event "liandong:case-event"). */
(function () {
  "use strict";
  var root = document.querySelector(".ld-dashboard");
  if (!root) return;
  var url = root.getAttribute("data-stats-url");
  var seconds = parseInt(root.getAttribute("data-poll-seconds"), 10) || 15;
  var caseList = root.querySelector(".ld-kpi[href]") ? root.querySelector(".ld-kpi[href]").getAttribute("href").split("?")[0] : "";

  function setText(selector, value) {
    root.querySelectorAll(selector).forEach(function (node) {
      if (node.textContent !== String(value)) {
        node.textContent = value;
        node.classList.remove("ld-flash");
        void node.offsetWidth;
        node.classList.add("ld-flash");
      }
    });
  }

  function render(stats) {
    ["intake_today", "open_total", "overdue_total", "waiting_total", "extensions_pending"].forEach(function (key) {
      setText('[data-stat="' + key + '"]', stats[key]);
    });
    setText('[data-stat="generated_at"]', (stats.generated_at || "").slice(11, 19));
    stats.open_by_colour.forEach(function (row) { setText('[data-colour-count="' + row.colour + '"]', row.count); });
    stats.waiting.forEach(function (row) { setText('[data-waiting-count="' + row.status + '"]', row.count); });
    var body = root.querySelector("#ld-overdue-by-unit tbody");
    if (body) {
      body.textContent = "";
      if (!stats.overdue_by_unit.length) {
        var empty = document.createElement("tr");
        empty.className = "ld-empty";
        empty.innerHTML = '<td colspan="2">没有超时事件</td>';
        body.appendChild(empty);
      }
      stats.overdue_by_unit.forEach(function (row) {
        var tr = document.createElement("tr");
        var name = document.createElement("td");
        var link = document.createElement("a");
        link.href = caseList + "?overdue=yes&unit=" + (row.unit_id === null ? "none" : row.unit_id);
        link.textContent = row.unit;
        name.appendChild(link);
        var count = document.createElement("td");
        count.className = "ld-num ld-red";
        count.textContent = row.count;
        tr.appendChild(name);
        tr.appendChild(count);
        body.appendChild(tr);
      });
    }
  }

  var busy = false;
  function refresh() {
    if (busy || !url) return;
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (stats) { if (stats) render(stats); })
      .catch(function () { /* offline for a moment: the next tick tries again */ })
      .then(function () { busy = false; });
  }

  window.setInterval(refresh, seconds * 1000);
  window.addEventListener("liandong:case-event", refresh);
  window.liandongDesk = { refresh: refresh };
})();
