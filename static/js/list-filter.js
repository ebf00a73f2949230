// Filter a list as the person types: <input data-filter="LIST_ID"> over <li data-search="…">.
(function () {
  "use strict";
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var list = document.getElementById(input.dataset.filter);
    if (!list) {
      return;
    }
    input.addEventListener("input", function () {
      var needle = input.value.trim().toLowerCase();
      list.querySelectorAll("li[data-search]").forEach(function (item) {
        item.hidden = needle !== "" && item.dataset.search.indexOf(needle) === -1;
      });
    });
  });
})();
