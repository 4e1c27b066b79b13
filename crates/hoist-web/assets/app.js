// Live updates for hoist's dashboard. Pages are complete without this script; with it, an
// element marked data-live is re-rendered from the server when an engine reports a change, and
// a log view marked data-follow receives new lines as they are written, as text only. Markup is
// never built here from event data: the live part is the server's own rendering, fetched again.
(function () {
  "use strict";
  // Marks the page as kept live by this script (a styling hook; the browser tests wait for it).
  document.documentElement.classList.add("live");
  var live = document.querySelector("[data-live]");
  if (live && window.EventSource) {
    var pending = false, running = false;
    var refresh = function () {
      if (running) { pending = true; return; }
      running = true;
      fetch(location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (text) {
          if (text === null) return;
          var doc = new DOMParser().parseFromString(text, "text/html");
          var fresh = doc.querySelector("[data-live]");
          // The server rendered (and escaped) the fresh part. It is parsed in a separate
          // document, where nothing runs, and its nodes are moved in: no string is ever
          // assigned as markup to this page.
          if (fresh) { live.replaceChildren.apply(live, Array.from(fresh.childNodes).map(function (n) {
            return document.adoptNode(n);
          })); }
        })
        // A failed fetch (the server restarting, a network change) is tried again shortly.
        .catch(function () { setTimeout(refresh, 1000); })
        .finally(function () {
          running = false;
          if (pending) { pending = false; refresh(); }
        });
    };
    var opened = false;
    var listen = function () {
      var events = new EventSource("/events");
      events.addEventListener("engine", function () { refresh(); });
      // After a reconnect, events sent while the stream was down are lost: re-render once.
      events.addEventListener("open", function () { if (opened) { refresh(); } opened = true; });
      // The browser gives up on a stream answered with an error (a restart, an overloaded
      // engine); try again later rather than stay silent.
      events.addEventListener("error", function () {
        if (events.readyState === EventSource.CLOSED) { setTimeout(listen, 3000); }
      });
    };
    listen();
    // A pipeline run in progress writes to the history, not to an engine: poll it.
    if (live.hasAttribute("data-poll")) { setInterval(refresh, 1000); }
  }
  var log = document.querySelector("[data-follow]");
  if (log && window.EventSource) {
    var first = true;
    var follow = function () {
      var stream = new EventSource(log.getAttribute("data-follow"));
      // After a reconnect the stream starts again with the tail: replace, do not repeat.
      stream.addEventListener("open", function () { first = true; });
      stream.addEventListener("line", function (ev) {
        // The stream starts with the same tail the server rendered: replace rather than repeat.
        if (first) { log.textContent = ""; first = false; }
        log.textContent += ev.data + "\n";
        log.scrollTop = log.scrollHeight;
      });
      stream.addEventListener("error", function () {
        if (stream.readyState === EventSource.CLOSED) { setTimeout(follow, 3000); }
      });
    };
    follow();
  }
  // A running container's usage: each sample's values (formatted by the server) set as text.
  var usage = document.querySelector("[data-stats]");
  if (usage && window.EventSource) {
    var watch = function () {
      var samples = new EventSource(usage.getAttribute("data-stats"));
      samples.addEventListener("usage", function (ev) {
        var u = JSON.parse(ev.data);
        usage.querySelectorAll("[data-usage]").forEach(function (dd) {
          var v = u[dd.getAttribute("data-usage")];
          if (typeof v === "string") { dd.textContent = v; }
        });
      });
      // The container is gone or stopped: nothing more will come.
      samples.addEventListener("gone", function () { samples.close(); });
      samples.addEventListener("error", function () {
        if (samples.readyState === EventSource.CLOSED) { setTimeout(watch, 3000); }
      });
    };
    watch();
  }
  // The console: a shell in the container over a WebSocket. Its output is shown as plain text
  // (terminal escape sequences dropped); a line typed in the input goes to the shell on Enter,
  // Ctrl+C and Ctrl+D go as the keys they are.
  var box = document.getElementById("console");
  if (box && window.WebSocket) {
    var out = document.getElementById("console-out");
    var input = document.getElementById("console-in");
    var openButton = document.getElementById("console-open");
    var closeButton = document.getElementById("console-close");
    var status = document.getElementById("console-state");
    var socket = null;
    var show = function (text) {
      text = text
        .replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, "")
        .replace(/\x1b\[[0-?]*[ -\/]*[@-~]/g, "")
        .replace(/\x1b[@-_]/g, "")
        .replace(/\r\n/g, "\n");
      var shown = out.textContent;
      for (var i = 0; i < text.length; i++) {
        var ch = text[i];
        if (ch === "\b") { shown = shown.slice(0, -1); }
        else if (ch === "\r") { shown = shown.slice(0, shown.lastIndexOf("\n") + 1); }
        else if (ch !== "\x07") { shown += ch; }
      }
      out.textContent = shown.length > 200000 ? shown.slice(-200000) : shown;
      out.scrollTop = out.scrollHeight;
    };
    var send = function (message) {
      if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(message)); }
    };
    var connected = function (yes) {
      input.disabled = !yes;
      closeButton.disabled = !yes;
      openButton.disabled = yes;
    };
    openButton.addEventListener("click", function () {
      if (socket) { return; }
      out.textContent = "";
      var url = new URL(box.getAttribute("data-console"), location.href);
      url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
      url.searchParams.set("csrf", box.getAttribute("data-csrf"));
      url.searchParams.set("rows", "24");
      url.searchParams.set("cols", String(Math.max(40, Math.floor(out.clientWidth / 8))));
      socket = new WebSocket(url.toString());
      status.textContent = "connecting";
      socket.addEventListener("open", function () {
        status.textContent = "connected";
        connected(true);
        input.focus();
      });
      socket.addEventListener("message", function (ev) {
        if (typeof ev.data === "string") { show(ev.data); }
      });
      socket.addEventListener("close", function (ev) {
        status.textContent = ev.reason || (ev.code === 1000 ? "closed" : "refused or lost (" + ev.code + ")");
        socket = null;
        connected(false);
      });
    });
    closeButton.addEventListener("click", function () { if (socket) { socket.close(1000); } });
    input.addEventListener("keydown", function (ev) {
      var key = null;
      if (ev.key === "Enter") { key = "\r"; }
      else if (ev.key === "Tab") { key = "\t"; }
      else if (ev.ctrlKey && ev.key === "c") { key = "\u0003"; }
      else if (ev.ctrlKey && ev.key === "d") { key = "\u0004"; }
      if (key === null) { return; }
      ev.preventDefault();
      send({ input: input.value + key });
      input.value = "";
    });
  }
})();
