/* Live notifications for the field app (and the core the desk script builds on).
 *
 * One WebSocket to /ws/notifications/ (the session cookie logs it in). It reconnects with
 * backoff and replays on every (re)connect, so a phone that had no signal — or a server whose
 * Redis restarted — loses nothing. What it keeps in localStorage is the server's replay cursor
 * and the ids it has shown above it (protocol: apps/notify/consumers.py). Not "the highest id
 * seen": a notification with a lower id can commit later, or its push can fail while later ones
 * arrive, and asking only for what follows the highest would skip it for good. On an open
 * socket it also catches up now and then, and at once when the unread count rises without a
 * notification (a push that was lost). On a new notification it shows a toast in #toast,
 * vibrates, and asks the field app's task list to refresh (window.liandongTasks.refresh(),
 * which also sets the #tasks-badge count); on pages without a task list #tasks-badge shows the
 * unread count.
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
  var CATCH_UP_MS = 300000;  // a push lost on an open socket shows up within 5 minutes
  var MAX_SEEN = 200;        // the server accepts 500; above the cursor there are rarely 20

  var socket = null;
  var greeted = false;  // the current socket has had its hello
  var attempt = 0;
  var timer = null;
  var pinger = null;
  var catchUpTimer = null;
  var user = null;
  var unread = 0;
  var liveSinceBadge = 0;  // notifications pushed live since the last unread count
  var replayed = [];
  var quietReplay = false;
  var listeners = {};
  var follows = ["unit."];   // task lists of the user's unit; desk.js adds "region."
  var refused = {};
  var lastAsked = null;
  var mayJoin = [];
  var joined = {};

  // The stored state: { user, cursor, seen: [ids above the cursor already shown] }. In memory
  // too, for browsers without storage (private mode); every tab of the device shares it.
  var memory = null;
  function load() {
    var state = null;
    try { state = JSON.parse(window.localStorage.getItem(STORE)); } catch (e) { state = null; }
    state = state || memory;
    if (!state) return null;
    // Stored by an older version of this script: its highest id seen becomes the cursor.
    if (state.cursor === undefined) state = { user: state.user, cursor: state.last || 0, seen: [] };
    state.seen = state.seen || [];
    return state;
  }
  function save(state) {
    memory = state;
    try { window.localStorage.setItem(STORE, JSON.stringify(state)); } catch (e) { /* private mode */ }
  }
  function shown(id) {
    var state = load();
    return !!state && (id <= state.cursor || state.seen.indexOf(id) >= 0);
  }
  function remember(id) {
    var state = load() || { user: user, cursor: 0, seen: [] };
    if (id <= state.cursor || state.seen.indexOf(id) >= 0) return;
    state.seen.push(id);
    // Too many: forget the oldest; at worst the server sends one again and shown() drops it.
    state.seen.sort(function (a, b) { return a - b; });
    if (state.seen.length > MAX_SEEN) state.seen = state.seen.slice(-MAX_SEEN);
    save(state);
  }
  function advance(cursor) {
    var state = load();
    if (!state || !(cursor > state.cursor)) return false;
    state.cursor = cursor;
    state.seen = state.seen.filter(function (id) { return id > cursor; });
    save(state);
    return true;
  }
  function catchUp() {
    var state = load();
    if (state) send({ type: "replay", since: state.cursor, seen: state.seen });
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
        greeted = true;  // the server joined this socket to the user's group before saying hello
        attempt = 0;
        var stored = load();
        // Another person logged in on this device: start from their newest, don't replay.
        quietReplay = !!(stored && stored.user !== message.user);
        user = message.user;
        // A first visit starts from now: what came before is in the list, not a toast.
        if (!stored || quietReplay) save({ user: user, cursor: message.last_id || 0, seen: [] });
        mayJoin = message.may_subscribe || [];
        joined = {};
        liveSinceBadge = 0;
        badge(message.unread);
        subscribeWanted();
        break;
      case "notification":
        if (shown(message.id)) return;
        remember(message.id);
        if (message.replayed) { replayed.push(message); break; }
        liveSinceBadge += 1;
        toast(message.title + (message.body ? "｜" + message.body : ""));
        buzz();
        refreshTasks();
        break;
      case "replay.done":
        if (replayed.length && !quietReplay) {
          var newest = replayed[replayed.length - 1];
          toast(replayed.length === 1 ? newest.title : "有 " + replayed.length + " 条新通知：" + newest.title);
          buzz();
          refreshTasks();
        }
        replayed = [];
        quietReplay = false;
        // More than one page waiting: fetch the next, as long as the cursor moves (the rest
        // may be too recent to pass yet; the next catch-up gets them).
        if (advance(message.cursor) && message.more) catchUp();
        break;
      case "unread":
        // The badge went up by more than the notifications that came: a push was lost. Ask now.
        if (message.count - unread > liveSinceBadge) catchUp();
        liveSinceBadge = 0;
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
    // Cursor 0 too: a person without notifications yet may have got their first while away.
    if (stored) {
      url += "?since=" + encodeURIComponent(stored.cursor);
      if (stored.seen.length) url += "&seen=" + encodeURIComponent(stored.seen.join(","));
    }
    socket = new WebSocket(url);
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      onMessage(message);
    };
    socket.onopen = function () {
      clearInterval(pinger);
      clearInterval(catchUpTimer);
      pinger = setInterval(function () { send({ type: "ping" }); }, PING_MS);
      catchUpTimer = setInterval(catchUp, CATCH_UP_MS);
    };
    socket.onclose = function (event) {
      greeted = false;
      clearInterval(pinger);
      clearInterval(catchUpTimer);
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
    // Open *and* greeted: from here on a push to the user reaches this socket (an open socket
    // is not yet in the user's group).
    ready: function () { return !!(socket && socket.readyState === WebSocket.OPEN && greeted); },
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", connect);
  else connect();
})();
