// "Copy the text" buttons: <button data-copy="ELEMENT_ID" data-done="Copied">.
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
      navigator.clipboard.writeText(source.innerText).then(function () {
        button.textContent = button.dataset.done;
      });
    });
  });
})();
