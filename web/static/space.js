// A Space page: the build and run logs, followed live (server-sent
// events from the Space API), and a reload when a passing stage ends.
(function () {
  "use strict";
  var run = document.getElementById("space-run");
  if (!run) return;
  var api = run.getAttribute("data-api");

  var log = document.getElementById("space-log");
  var source = null;
  function follow(stream) {
    if (source) source.close();
    log.textContent = "";
    source = new EventSource(api + "/logs/" + stream);
    source.onmessage = function (e) {
      try {
        log.textContent += JSON.parse(e.data).data + "\n";
        log.scrollTop = log.scrollHeight;
      } catch (_) { /* a keep-alive */ }
    };
    // The run ended: the stream closes, and is not reopened.
    source.onerror = function () { source.close(); };
  }
  var buttons = run.querySelectorAll("[data-log]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function (e) {
      follow(e.currentTarget.getAttribute("data-log"));
    });
  }
  var details = document.getElementById("space-logs");
  details.addEventListener("toggle", function () {
    if (details.open && !source) follow(run.getAttribute("data-stage") === "BUILDING" ? "build" : "run");
  });

  if (run.getAttribute("data-passing") !== "1") return;
  var stage = run.getAttribute("data-stage");
  function poll() {
    fetch(api + "/runtime", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (rt) {
        if (rt.stage && rt.stage !== stage) location.reload();
        else setTimeout(poll, 3000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 3000);
})();
