// The device's own share sheet (Web Share API) for #share-native, where the browser has one.
(function () {
  "use strict";
  var button = document.getElementById("share-native");
  if (!button || !navigator.share) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator
      .share({ title: button.dataset.title, text: button.dataset.text, url: button.dataset.url })
      .catch(function () {});
  });
})();
