// Copy buttons: <button data-copy="ID" data-done="Copied"> copies the text
// of element ID. Clipboard access needs a secure context; elsewhere the
// text is selected so the visitor can copy it by hand.
(function () {
  'use strict';
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    button.addEventListener('click', function () {
      var target = document.getElementById(button.dataset.copy);
      if (!target) { return; }
      var range = document.createRange();
      range.selectNodeContents(target);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      var done = function () { button.textContent = button.dataset.done; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(target.textContent).then(done, function () {});
      } else if (document.execCommand && document.execCommand('copy')) {
        done();
      }
    });
  });
}());
