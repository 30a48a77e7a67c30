// syncd console: keep "… ago" current, and refresh the main section when the server
// says jobs moved (server-sent events fed by the queues' NOTIFY and a 1 s poll).
(function () {
  "use strict";
  // The server's one duration format (syncd/status.py duration), so that a time
  // reads the same before and after the first tick.
  function duration(s) {
    if (s < 120) return s.toFixed(1) + " s";
    if (s < 7200) return (s / 60).toFixed(0) + " min";
    if (s < 172800) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " d";
  }
  function ago(seconds) {
    var t = duration(Math.abs(seconds));
    return seconds < 0 ? "in " + t : t + " ago";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time.rel").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(at)) el.textContent = ago((now - at) / 1000);
    });
  }
  var pending = false, last = 0;
  function refresh() {
    // At most one refresh a second, and none while the user types in a form.
    if (pending) return;
    var active = document.activeElement;
    if (active && (active.tagName === "INPUT" || active.tagName === "SELECT")) return;
    pending = true;
    var wait = Math.max(0, 1000 - (Date.now() - last));
    setTimeout(function () {
      fetch(location.href, { headers: { "X-Fragment": "1" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null) document.getElementById("main").innerHTML = html;
          last = Date.now(); pending = false; tick();
        })
        .catch(function () { pending = false; });
    }, wait);
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 10000);
    if (!window.EventSource) return;
    var dot = document.getElementById("live");
    var source = new EventSource("/events");
    source.addEventListener("hello", function () { if (dot) dot.className = "on"; });
    source.addEventListener("change", refresh);
    source.onerror = function () { if (dot) dot.className = ""; };
  });
})();
