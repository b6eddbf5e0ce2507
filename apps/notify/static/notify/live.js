/* Live notifications for the field app (and the core the desk script builds on).
 *
 * One WebSocket to /ws/notifications/ (the session cookie logs it in). It reconnects with
 * backoff, remembers the last notification id in localStorage and asks for everything since
 * on every (re)connect, so a phone that had no signal — or a server whose Redis restarted —
 * loses nothing. On a new notification it shows a toast in #toast, vibrates, and asks the
 * field app's task list to refresh (window.liandongTasks.refresh(), which also sets the
 * #tasks-badge count); on pages without a task list #tasks-badge shows the unread count.
 *
 * Other scripts use window.liandongNotify: on(type, fn), follow(prefix), markRead(id),
 * markAllRead(), unread(). Each message is also fired as a window event "liandong:<type>".
 */
(function () {
  "use strict";
  if (window.liandongNotify) return;

  var STORE = "liandong.notify";
  var PING_MS = 25000;
  var MAX_BACKOFF_MS = 30000;

  var socket = null;
  var attempt = 0;
  var timer = null;
  var pinger = null;
  var user = null;
  var unread = 0;
  var seen = {};
  var replayed = [];
  var quietReplay = false;
  var listeners = {};
  var follows = ["unit."];   // task lists of the user's unit; desk.js adds "region."
  var refused = {};
  var lastAsked = null;
  var mayJoin = [];
  var joined = {};

  function load() {
    try { return JSON.parse(window.localStorage.getItem(STORE)) || null; } catch (e) { return null; }
  }
  function save(state) {
    try { window.localStorage.setItem(STORE, JSON.stringify(state)); } catch (e) { /* private mode */ }
  }
  function remember(id) {
    var state = load() || { user: user, last: 0 };
    if (id > (state.last || 0)) { state.last = id; state.user = user; save(state); }
  }

  function emit(type, message) {
    (listeners[type] || []).forEach(function (fn) { try { fn(message); } catch (e) { console.error(e); } });
    try { window.dispatchEvent(new CustomEvent("liandong:" + type, { detail: message })); } catch (e) { /* old browser */ }
  }

  // --- what the person sees ------------------------------------------------------------------
  function toast(text) {
    // The field app has its own toasts (window.liandongField.toast); elsewhere the same
    // convention: a .toast child of the #toast container.
    if (window.liandongField && window.liandongField.toast) { window.liandongField.toast(text, "", 6000); return; }
    var box = document.getElementById("toast");
    if (!box) {
      box = document.createElement("div");
      box.id = "toast";
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    var node = document.createElement("div");
    node.className = "toast";
    node.textContent = text;
    box.appendChild(node);
    setTimeout(function () { node.remove(); }, 6000);
  }
  function badge(count) {
    unread = Math.max(0, count | 0);
    // In the field app #tasks-badge counts open tasks: its refresh() sets it (see refreshTasks).
    // Pages without a task list show the unread notifications there instead.
    var el = document.getElementById("tasks-badge");
    if (el && !window.liandongTasks) {
      el.textContent = unread > 99 ? "99+" : String(unread);
      el.hidden = unread === 0;
    }
    emit("unread", { type: "unread", count: unread });
  }
  function buzz() {
    try { if (navigator.vibrate) navigator.vibrate([200, 100, 200]); } catch (e) { /* not allowed yet */ }
  }
  var refreshTimer = null;
  function refreshTasks() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      if (window.liandongTasks && window.liandongTasks.refresh) window.liandongTasks.refresh();
    }, 200);
  }

  // --- the socket ----------------------------------------------------------------------------
  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(message)); return true; }
    return false;
  }

  function subscribeWanted() {
    mayJoin.forEach(function (group) {
      if (joined[group] || refused[group]) return;
      for (var i = 0; i < follows.length; i++) {
        if (group.indexOf(follows[i]) === 0) {
          joined[group] = true;
          lastAsked = group;
          send({ type: "subscribe", group: group });
          return;
        }
      }
    });
  }

  function onMessage(message) {
    switch (message.type) {
      case "hello":
        attempt = 0;
        var stored = load();
        // Another person logged in on this device: start from their newest, don't replay.
        quietReplay = !!(stored && stored.user !== message.user);
        user = message.user;
        if (!stored || quietReplay) save({ user: user, last: message.last_id || 0 });
        mayJoin = message.may_subscribe || [];
        joined = {};
        badge(message.unread);
        subscribeWanted();
        break;
      case "notification":
        if (seen[message.id]) return;
        seen[message.id] = true;
        remember(message.id);
        if (message.replayed) { replayed.push(message); break; }
        toast(message.title + (message.body ? "｜" + message.body : ""));
        buzz();
        refreshTasks();
        break;
      case "replay.done":
        if (replayed.length && !quietReplay) {
          var newest = replayed[replayed.length - 1];
          toast(replayed.length === 1 ? newest.title : "离线期间有 " + replayed.length + " 条新通知：" + newest.title);
          buzz();
          refreshTasks();
        }
        replayed = [];
        quietReplay = false;
        break;
      case "unread":
        badge(message.count);
        break;
      case "tasks.changed":
        refreshTasks();
        break;
    }
    emit(message.type, message);
  }

  function connect() {
    clearTimeout(timer);
    if (socket && socket.readyState <= WebSocket.OPEN) return;
    var stored = load();
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/notifications/";
    if (stored && stored.last) url += "?since=" + encodeURIComponent(stored.last);
    socket = new WebSocket(url);
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      onMessage(message);
    };
    socket.onopen = function () {
      clearInterval(pinger);
      pinger = setInterval(function () { send({ type: "ping" }); }, PING_MS);
    };
    socket.onclose = function (event) {
      clearInterval(pinger);
      socket = null;
      emit("disconnected", { type: "disconnected", code: event.code });
      // A group we asked for is not ours: never ask for it again on this page.
      if (event.code === 4403 && lastAsked) refused[lastAsked] = true;
      // Logged out (4401): try again slowly — the field app sends the person to log in.
      var delay = event.code === 4401 ? 60000
        : Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
      attempt += 1;
      timer = setTimeout(connect, delay);
    };
  }

  // Back online, or back in the foreground: reconnect now instead of waiting for the backoff.
  window.addEventListener("online", function () { attempt = 0; connect(); });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) connect(); });

  function csrf() {
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }
  function post(path) {
    return fetch(path, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data && typeof data.unread === "number") badge(data.unread); });
  }

  window.liandongNotify = {
    on: function (type, fn) { (listeners[type] = listeners[type] || []).push(fn); },
    follow: function (prefix) { if (follows.indexOf(prefix) < 0) follows.push(prefix); subscribeWanted(); },
    send: send,
    markRead: function (id) { return send({ type: "mark_read", id: id }) || post("/api/notifications/" + id + "/read/"); },
    markAllRead: function () { return send({ type: "mark_read", all: true }) || post("/api/notifications/read-all/"); },
    unread: function () { return unread; },
    connected: function () { return !!(socket && socket.readyState === WebSocket.OPEN); },
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", connect);
  else connect();
})();
