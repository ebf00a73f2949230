// The small map on a rally page: a pin, or for protected rallies only the area.
// Everything comes from data attributes; nothing a person typed is put into HTML.
(function () {
  "use strict";
  var element = document.getElementById("rally-map");
  if (!element || typeof L === "undefined") {
    return;
  }
  var data = element.dataset;
  var centre = [parseFloat(data.lat), parseFloat(data.lon)];
  var map = L.map(element, { scrollWheelZoom: false, maxZoom: 18 }).setView(
    centre,
    parseInt(data.zoom, 10)
  );
  L.tileLayer(data.tiles, { attribution: data.attribution, maxZoom: 18 }).addTo(map);
  if (data.area === "true") {
    L.circle(centre, { radius: 800, color: "#b0125b", weight: 2, fillOpacity: 0.15 }).addTo(map);
  } else {
    L.marker(centre, { title: element.getAttribute("aria-label") || "" }).addTo(map);
  }
})();
