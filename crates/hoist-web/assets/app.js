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
})();
