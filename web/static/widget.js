// The model page's inference widget. Looks for
// <div id="inference-widget" data-repo="ns/name" data-repo-type="model">,
// asks GET /api/inference/{repo} whether and as what the model can be served
// (with labels in the visitor's language), then shows a streaming chat box
// (text generation, POST /v1/chat/completions) or a similarity box
// (embeddings, POST /v1/embeddings). No inline script: the CSP allows 'self' only.
(function () {
  "use strict";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Signed-in pages carry the session's CSRF token in their forms.
  function headers() {
    var h = { "Content-Type": "application/json", "X-Queue-Events": "1" };
    var csrf = document.querySelector("input[name=csrf]");
    if (csrf && csrf.value) h["X-CSRF-Token"] = csrf.value;
    return h;
  }

  function errorText(body) {
    if (body && body.error) return body.error.message || body.error;
    return String(body);
  }

  // Reads an SSE body, calling onEvent(name, data) per event.
  async function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) return;
      buffer += decoder.decode(chunk.value, { stream: true });
      var cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        var block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        var name = "message", data = [];
        block.split("\n").forEach(function (line) {
          if (line.indexOf("event:") === 0) name = line.slice(6).trim();
          else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
        });
        if (data.length) onEvent(name, data.join("\n"));
      }
    }
  }

  function chat(root, repo, labels) {
    var log = el("div", { class: "widget-log", "aria-live": "polite" });
    var status = el("p", { class: "widget-status muted", role: "status" });
    var form = el("form", { class: "widget-form" });
    var input = el("textarea", { rows: "3", placeholder: labels.placeholder, required: "" });
    var send = el("button", { type: "submit" }, labels.send);
    var stop = el("button", { type: "button", class: "danger", hidden: "" }, labels.stop);
    form.append(input, send, stop);
    examplesOf(root, labels, function (x) { return x.text; }, function (x) {
      input.value = x.text;
      input.focus();
    });
    root.append(log, status, form);
    var messages = [];
    var controller = null;

    stop.addEventListener("click", function () { if (controller) controller.abort(); });
    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      var text = input.value.trim();
      if (!text) return;
      input.value = "";
      messages.push({ role: "user", content: text });
      log.append(el("p", { class: "widget-user" }, text));
      var answer = el("p", { class: "widget-assistant" }, "");
      log.append(answer);
      send.disabled = true;
      stop.hidden = false;
      controller = new AbortController();
      try {
        var response = await fetch("/v1/chat/completions", {
          method: "POST", headers: headers(), signal: controller.signal, credentials: "same-origin",
          body: JSON.stringify({ model: repo, messages: messages, stream: true, max_tokens: 256 })
        });
        if (!response.ok) throw new Error(errorText(await response.json()));
        await readEvents(response, function (name, data) {
          if (name === "queue") {
            status.textContent = labels.queued.replace("{n}", JSON.parse(data).position);
          } else if (name === "loading") {
            status.textContent = labels.loading;
          } else if (data !== "[DONE]") {
            status.textContent = "";
            var chunk = JSON.parse(data);
            if (chunk.error) throw new Error(errorText(chunk));
            var delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
            if (delta && delta.content) answer.textContent += delta.content;
          }
        });
        messages.push({ role: "assistant", content: answer.textContent });
      } catch (err) {
        if (err.name !== "AbortError") status.textContent = labels.error + err.message;
        messages.pop();
      } finally {
        send.disabled = false;
        stop.hidden = true;
        controller = null;
      }
    });
  }

  function cosine(a, b) {
    var dot = 0, na = 0, nb = 0;
    for (var i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
    return dot / (Math.sqrt(na) * Math.sqrt(nb) || 1);
  }

  function similarity(root, repo, labels) {
    var form = el("form", { class: "widget-form" });
    var source = el("input", { required: "" });
    var others = el("textarea", { rows: "4", required: "" });
    var sourceLabel = el("label", {}, labels.source);
    var othersLabel = el("label", {}, labels.compare);
    sourceLabel.append(source);
    othersLabel.append(others);
    var go = el("button", { type: "submit" }, labels.compute);
    var status = el("p", { class: "widget-status muted", role: "status" });
    var results = el("table", { class: "widget-results" });
    form.append(sourceLabel, othersLabel, go);
    examplesOf(root, labels, function (x) { return x.source_sentence; }, function (x) {
      source.value = x.source_sentence;
      others.value = (x.sentences || []).join("\n");
    });
    root.append(form, status, results);
    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      var sentences = others.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
      if (!source.value.trim() || !sentences.length) return;
      go.disabled = true;
      status.textContent = labels.loading;
      results.textContent = "";
      try {
        var h = headers();
        delete h["X-Queue-Events"];
        var response = await fetch("/v1/embeddings", {
          method: "POST", headers: h, credentials: "same-origin",
          body: JSON.stringify({ model: repo, input: [source.value.trim()].concat(sentences), encoding_format: "float" })
        });
        var body = await response.json();
        if (!response.ok) throw new Error(errorText(body));
        var vectors = body.data.map(function (d) { return d.embedding; });
        status.textContent = "";
        results.append(el("tr", {}, ""));
        results.firstChild.append(el("th", {}, labels.compare), el("th", {}, labels.similarity));
        sentences.forEach(function (s, i) {
          var row = el("tr");
          row.append(el("td", {}, s), el("td", {}, cosine(vectors[0], vectors[i + 1]).toFixed(3)));
          results.append(row);
        });
      } catch (err) {
        status.textContent = labels.error + err.message;
      } finally {
        go.disabled = false;
      }
    });
  }

  // The card's `widget:` examples: one button each, filling the form.
  function examplesOf(root, labels, has, fill) {
    var examples = (root.widgetExamples || []).filter(has);
    if (!examples.length) return;
    var box = el("p", { class: "widget-examples" });
    box.append(el("span", { class: "muted" }, labels.examples + " "));
    examples.forEach(function (x, i) {
      var b = el("button", { type: "button", class: "link" }, x.title || has(x).slice(0, 40) || String(i + 1));
      b.addEventListener("click", function () { fill(x); });
      box.append(b, " ");
    });
    root.append(box);
  }

  async function start() {
    var root = document.getElementById("inference-widget");
    if (!root || root.getAttribute("data-repo-type") !== "model") return;
    var repo = root.getAttribute("data-repo");
    var response = await fetch("/api/inference/" + repo, { credentials: "same-origin" });
    if (!response.ok) return;
    var info = await response.json();
    var labels = info.labels;
    root.widgetExamples = info.examples;
    root.classList.add("inference-widget");
    root.append(el("h2", {}, labels.title));
    if (!info.available) {
      root.append(el("p", { class: "muted" }, labels.unavailable));
      if (info.reason) root.append(el("p", { class: "muted widget-reason" }, info.reason));
      return;
    }
    if (info.task === "text-generation") chat(root, repo, labels);
    else if (info.task === "feature-extraction") similarity(root, repo, labels);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
