// HQ's turnout map: one circle per rally that reported a turnout, its area ~ the people.
(function () {
  "use strict";
  var element = document.getElementById("turnout-map");
  var source = document.getElementById("turnout-data");
  if (!element || !source || typeof L === "undefined") {
    return;
  }
  var points = JSON.parse(source.textContent);
  var map = L.map(element, { maxZoom: 18, worldCopyJump: true }).setView([30, 10], 2);
  L.tileLayer(element.dataset.tiles, { attribution: element.dataset.attribution, maxZoom: 18 })
    .addTo(map);
  points.forEach(function (point) {
    var label = document.createElement("span");
    label.textContent = point.city + ": " + point.people;
    L.circleMarker([point.lat, point.lon], {
      radius: 4 + Math.sqrt(point.people) / 2,
      color: "#b0125b",
      weight: 1,
      fillOpacity: 0.4,
    })
      .bindTooltip(label)
      .addTo(map);
  });
})();
