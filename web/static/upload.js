// The upload page: pick or drop files, then one streaming POST to the
// page's own URL: a JSON line naming the files, then their bytes back to
// back. The body is a Blob of the File objects, so the browser streams it
// from disk; the server hashes while it stores (no crypto.subtle needed,
// which plain-http pages do not have). Texts come from data-msg-*
// attributes in the page's language.
(function () {
  'use strict';
  var form = document.getElementById('upload-form');
  if (!form) { return; }
  var input = document.getElementById('files');
  var zone = document.getElementById('dropzone');
  var list = document.getElementById('file-list');
  var progress = document.getElementById('progress');
  var status = document.getElementById('status');
  var button = document.getElementById('upload-submit');
  var chosen = [];

  function sizeText(n) {
    var units = ['B', 'KB', 'MB', 'GB', 'TB'];
    var i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
  }

  function show() {
    list.textContent = '';
    chosen.forEach(function (c, i) {
      var li = document.createElement('li');
      li.textContent = c.path + ' ';
      var size = document.createElement('span');
      size.className = 'muted';
      size.textContent = sizeText(c.file.size) + ' ';
      li.appendChild(size);
      var remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'link';
      remove.textContent = form.dataset.msgRemove;
      remove.setAttribute('aria-label', form.dataset.msgRemove + ' ' + c.path);
      remove.addEventListener('click', function () { chosen.splice(i, 1); show(); });
      li.appendChild(remove);
      list.appendChild(li);
    });
  }

  function add(files) {
    Array.prototype.forEach.call(files, function (f) {
      var path = f.webkitRelativePath || f.name;
      chosen = chosen.filter(function (c) { return c.path !== path; });
      chosen.push({ file: f, path: path });
    });
    show();
  }

  input.addEventListener('change', function () { add(input.files); input.value = ''; });
  ['dragenter', 'dragover'].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add('over'); });
  });
  zone.addEventListener('dragleave', function () { zone.classList.remove('over'); });
  zone.addEventListener('drop', function (e) {
    e.preventDefault();
    zone.classList.remove('over');
    if (e.dataTransfer && e.dataTransfer.files) { add(e.dataTransfer.files); }
  });

  // The bar stays where the upload stopped, in the error colour.
  function fail(message) {
    status.textContent = form.dataset.msgFailed + ' ' + message;
    status.className = 'error';
    progress.classList.add('failed');
    progress.setAttribute('aria-invalid', 'true');
    button.disabled = false;
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    if (chosen.length === 0) { status.textContent = form.dataset.msgNone; return; }
    var folder = document.getElementById('folder').value.trim().replace(/^\/+|\/+$/g, '');
    // A hidden create_pr (the visitor cannot write) or the writer's checkbox.
    var pr = document.getElementById('create_pr');
    var manifest = {
      summary: document.getElementById('summary').value,
      description: document.getElementById('description').value,
      create_pr: pr ? (pr.type === 'checkbox' ? pr.checked : true) : false,
      files: chosen.map(function (c) {
        return { path: (folder ? folder + '/' : '') + c.path, size: c.file.size };
      })
    };
    var parts = [JSON.stringify(manifest) + '\n'].concat(chosen.map(function (c) { return c.file; }));
    var body = new Blob(parts, { type: 'application/octet-stream' });
    var xhr = new XMLHttpRequest();
    xhr.open('POST', form.getAttribute('action'));
    xhr.setRequestHeader('X-CSRF-Token', form.dataset.csrf);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', function (ev) {
      if (ev.lengthComputable) {
        progress.value = Math.floor(ev.loaded * 100 / ev.total);
        status.textContent = form.dataset.msgUploading + ' ' + progress.value + '%';
      }
    });
    xhr.upload.addEventListener('load', function () {
      progress.value = 100;
      status.textContent = form.dataset.msgCommitting;
    });
    xhr.addEventListener('load', function () {
      var answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (err) { answer = null; }
      if (xhr.status >= 200 && xhr.status < 300 && answer && answer.url) {
        status.textContent = form.dataset.msgDone;
        window.location.assign(answer.url);
      } else {
        fail(answer && answer.error ? answer.error : String(xhr.status));
      }
    });
    xhr.addEventListener('error', function () { fail(''); });
    button.disabled = true;
    status.className = '';
    progress.classList.remove('failed');
    progress.removeAttribute('aria-invalid');
    progress.hidden = false;
    progress.value = 0;
    xhr.send(body);
  });
}());
