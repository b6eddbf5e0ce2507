/* Desk counters in the admin, live: 待本级处理 (new) and 已超时 (overdue) for the user's desk.
 *
 * Builds on live.js (window.liandongNotify; loaded here if the page did not include it): follows
 * the desk's region group, writes the counts into every [data-notify-count="new|overdue"] on the
 * page, and announces each change as the window event "liandong:case-event", which the desk
 * dashboard (apps/desk/static/desk/dashboard.js) answers by refreshing its numbers.
 * Notifications for the desk (returns, escalations, extension requests) appear as a toast.
 */
(function () {
  "use strict";
  if (window.liandongDeskCounts) return;
  window.liandongDeskCounts = true;

  var COUNTS_EVERY_MS = 60000;  // "overdue" also grows with the clock, not only with events
  var me = document.currentScript;

  function sibling(name) {
    // live.js / desk.css sit next to this file (hashed names in production keep the plain
    // file beside them, so the plain name always resolves).
    return me.src.replace(/desk(\.[0-9a-f]{6,})?\.js(\?.*)?$/, name);
  }

  function ensureStyles() {
    if (document.querySelector('link[href*="notify/desk"]')) return;
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = sibling("desk.css");
    document.head.appendChild(link);
  }

  function widget() {
    var box = document.getElementById("notify-desk");
    if (box || document.querySelector(".ld-dashboard")) return box;
    // Pages without the server-rendered snippet get a small floating one.
    box = document.createElement("aside");
    box.id = "notify-desk";
    box.className = "notify-desk";
    box.innerHTML = '<span class="notify-desk-item">待本级处理 <b data-notify-count="new">–</b></span>' +
      '<span class="notify-desk-item notify-desk-overdue">已超时 <b data-notify-count="overdue">–</b></span>' +
      '<span class="notify-desk-live" data-notify-live title="实时连接">●</span>';
    document.body.appendChild(box);
    return box;
  }

  function setCount(key, value) {
    document.querySelectorAll('[data-notify-count="' + key + '"]').forEach(function (node) {
      if (node.textContent === String(value)) return;
      node.textContent = value;
      node.classList.remove("notify-flash");
      void node.offsetWidth;  // restart the flash animation
      node.classList.add("notify-flash");
    });
  }

  function live(connected) {
    document.querySelectorAll("[data-notify-live]").forEach(function (node) {
      node.classList.toggle("on", connected);
      node.title = connected ? "实时连接" : "正在重新连接…";
    });
  }

  function start() {
    var notify = window.liandongNotify;
    var box = widget();
    if (box && document.querySelector(".ld-dashboard")) box.hidden = true;  // the dashboard shows them
    notify.follow("region.");
    notify.on("hello", function () { live(true); });
    notify.on("disconnected", function () { live(false); });
    notify.on("desk.counts", function (counts) {
      setCount("new", counts.new);
      setCount("overdue", counts.overdue);
      setCount("unread", notify.unread());
      document.querySelectorAll(".notify-desk-overdue").forEach(function (node) {
        node.classList.toggle("alert", counts.overdue > 0);
      });
      window.dispatchEvent(new CustomEvent("liandong:case-event", { detail: counts }));
    });
    notify.on("unread", function (message) { setCount("unread", message.count); });
    live(notify.connected());
    setInterval(function () { notify.send({ type: "counts" }); }, COUNTS_EVERY_MS);
  }

  ensureStyles();
  if (window.liandongNotify) {
    start();
  } else {
    var script = document.createElement("script");
    script.src = sibling("live.js");
    script.onload = start;
    document.head.appendChild(script);
  }
})();
