// Copy buttons. <button data-copy="ID" data-done="Copied"> copies the text
// of element ID. Every block of code inside an element with
// data-copy-label (the snippets, a rendered card) gets a button of its
// own, made here: without scripts the blocks stay plain, selectable text.
// The clipboard API needs a secure context; elsewhere (or if it refuses)
// the text is selected and copied the old way, or left selected for the
// visitor to copy by hand.
(function () {
  'use strict';
  function copy(button, target) {
    var range = document.createRange();
    range.selectNodeContents(target);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var done = function () { button.textContent = button.dataset.done; };
    var byHand = function () {
      if (document.execCommand && document.execCommand('copy')) { done(); }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(target.textContent).then(done, byHand);
    } else {
      byHand();
    }
  }

  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    button.addEventListener('click', function () {
      var target = document.getElementById(button.dataset.copy);
      if (target) { copy(button, target); }
    });
  });

  document.querySelectorAll('[data-copy-label]').forEach(function (box) {
    box.querySelectorAll('pre').forEach(function (pre) {
      var button = document.createElement('button');
      button.type = 'button';
      button.className = 'copy-block';
      button.textContent = box.dataset.copyLabel;
      button.dataset.done = box.dataset.copyDone;
      button.addEventListener('click', function () {
        copy(button, pre.querySelector('code') || pre);
      });
      var wrap = document.createElement('div');
      wrap.className = 'copy-wrap';
      pre.parentNode.insertBefore(wrap, pre);
      wrap.appendChild(button);
      wrap.appendChild(pre);
    });
  });
}());
