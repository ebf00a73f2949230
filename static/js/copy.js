// "Copy" buttons: <button data-copy="ELEMENT_ID" data-done="Copied"> copy the element's text,
// or an input's value.
(function () {
  "use strict";
  if (!navigator.clipboard) {
    return;
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    if (!source) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var field = source instanceof HTMLInputElement || source instanceof HTMLTextAreaElement;
      var text = field ? source.value : source.innerText;
      navigator.clipboard.writeText(text).then(function () {
        button.textContent = button.dataset.done;
      });
    });
  });
})();
