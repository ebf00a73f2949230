// Small rally maps (a rally page, HQ's review): a pin, or for protected rallies only the area,
// and on HQ's review the likely duplicates as rings. Everything comes from data attributes;
// nothing a person typed is put into HTML.
(function () {
  "use strict";
  if (typeof L === "undefined") {
    return;
  }
  document.querySelectorAll(".rally-map[data-lat]").forEach(function (element) {
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
    var others = data.others ? JSON.parse(data.others) : [];
    others.forEach(function (point) {
      L.circleMarker(point, { radius: 8, color: "#6b4fa0", weight: 3, fillOpacity: 0.3 }).addTo(map);
    });
    if (others.length) {
      map.fitBounds(L.latLngBounds([centre].concat(others)).pad(0.3), { maxZoom: 15 });
    }
  });
})();
