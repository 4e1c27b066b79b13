// Live updates for hoist's dashboard. Pages are complete without this script; with it, an
// element marked data-live is re-rendered from the server when an engine reports a change, and
// a log view marked data-follow receives new lines as they are written, as text only. Markup is
// never built here from event data: the live part is the server's own rendering, fetched again.
(function () {
  "use strict";
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
          // The server rendered (and escaped) the fresh part; its nodes are moved in as they
          // are, so nothing is ever parsed from a string into this document.
          if (fresh) { live.replaceChildren.apply(live, Array.from(fresh.childNodes).map(function (n) {
            return document.adoptNode(n);
          })); }
        })
        .finally(function () {
          running = false;
          if (pending) { pending = false; refresh(); }
        });
    };
    var events = new EventSource("/events");
    events.addEventListener("engine", function () { refresh(); });
    // A pipeline run in progress writes to the history, not to an engine: poll it.
    if (live.hasAttribute("data-poll")) { setInterval(refresh, 1000); }
  }
  var log = document.querySelector("[data-follow]");
  if (log && window.EventSource) {
    var stream = new EventSource(log.getAttribute("data-follow"));
    var first = true;
    // After a reconnect the stream starts again with the tail: replace, do not repeat.
    stream.addEventListener("open", function () { first = true; });
    stream.addEventListener("line", function (ev) {
      // The stream starts with the same tail the server rendered: replace rather than repeat.
      if (first) { log.textContent = ""; first = false; }
      log.textContent += ev.data + "\n";
      log.scrollTop = log.scrollHeight;
    });
  }
})();
