// The top-up page: creates an order through the orders API, shows its QR
// code (WeChat Pay, Alipay) or goes to the provider's page (Stripe), then
// asks for the order's state every two seconds until it is paid.
(function () {
  "use strict";
  var root = document.getElementById("topup");
  if (!root) return;
  var form = document.getElementById("topup-form");
  var status = document.getElementById("topup-status");
  var qr = document.getElementById("topup-qr");
  var qrImage = document.getElementById("topup-qr-image");
  var words = root.dataset;

  function say(text) { status.textContent = text; }

  function watch(id) {
    var tries = 0;
    function poll() {
      fetch("/api/billing/orders/" + encodeURIComponent(id), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (order) {
          if (order.state === "paid") {
            qr.hidden = true;
            say(words.paid + " ¥" + order.amount);
            status.dataset.state = "paid";
            return;
          }
          if (order.state === "failed" || order.state === "expired") {
            qr.hidden = true;
            say(order.state === "failed" ? words.failed : words.expired);
            status.dataset.state = order.state;
            return;
          }
          say(words.waiting);
          status.dataset.state = "waiting";
          if (++tries < 900) setTimeout(poll, 2000);
        })
        .catch(function () { say(words.error); });
    }
    poll();
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var provider = form.querySelector("input[name=provider]:checked");
      var body = { amount: document.getElementById("topup-amount").value, provider: provider ? provider.value : "" };
      if (words.org) body.org = words.org;
      fetch("/api/billing/orders", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": words.csrf },
        body: JSON.stringify(body)
      })
        .then(function (r) {
          return r.json().then(function (j) { return r.ok ? j : Promise.reject(j.error || j.message || r.status); });
        })
        .then(function (order) {
          form.hidden = true;
          if (order.checkout_url) {
            say(words.redirecting);
            window.location.assign(order.checkout_url);
            return;
          }
          if (order.qr_svg) {
            qrImage.innerHTML = order.qr_svg;
            qr.hidden = false;
          }
          watch(order.id);
        })
        .catch(function (e) { say(words.error + (typeof e === "string" ? " " + e : "")); });
    });
  }
  // Back from the provider's page: watch that order instead of offering a new one.
  if (words.order) {
    if (form) form.hidden = true;
    watch(words.order);
  }
})();
