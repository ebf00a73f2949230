// "Use my location": fill the search form with the browser's position and submit it.
(function () {
  "use strict";
  var button = document.getElementById("use-location");
  var form = document.getElementById("near-form");
  if (!button || !form || !("geolocation" in navigator)) {
    return;
  }
  var status = document.getElementById("near-status");
  button.hidden = false;
  button.addEventListener("click", function () {
    button.disabled = true;
    navigator.geolocation.getCurrentPosition(
      function (position) {
        // Two decimals, about 1 km: the search needs no more, and the URL (history, proxies,
        // shared links) must not hold where someone is to the metre.
        document.getElementById("near-lat").value = position.coords.latitude.toFixed(2);
        document.getElementById("near-lon").value = position.coords.longitude.toFixed(2);
        document.getElementById("near-q").value = "";
        form.submit();
      },
      function () {
        button.disabled = false;
        status.textContent = button.dataset.error;
      },
      { timeout: 15000, maximumAge: 600000 }
    );
  });
})();
