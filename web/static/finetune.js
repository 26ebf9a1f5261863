// A fine-tuning job's page, kept live: GET {data-live} is a stream of
// server-sent `update` events ({status, trained_tokens, fine_tuned_model,
// svg}); the loss curve is replaced by the hub's redrawn SVG (numbers only,
// drawn by the hub), the status and tokens are updated, and the page is
// reloaded once the job ends (to show its result and chat box). No inline
// script: the CSP allows 'self' only.
(function () {
  "use strict";
  var page = document.getElementById("fine-tune-job");
  if (!page || page.getAttribute("data-finished") === "true" || !window.EventSource) return;
  var source = new EventSource(page.getAttribute("data-live"));
  source.addEventListener("update", function (message) {
    var update = JSON.parse(message.data);
    var curve = document.getElementById("loss-curve");
    if (curve && update.svg) curve.innerHTML = update.svg;
    var tokens = document.getElementById("trained-tokens");
    if (tokens && update.trained_tokens !== null) tokens.textContent = String(update.trained_tokens);
    var status = document.getElementById("job-status");
    if (status && status.getAttribute("data-status") !== update.status) {
      if (["succeeded", "failed", "cancelled"].indexOf(update.status) >= 0) {
        source.close();
        window.location.reload();
        return;
      }
      status.setAttribute("data-status", update.status);
      status.textContent = update.status;
    }
  });
})();
