// Fill each folium map's marker cluster from compact rows:
// [lat, lon, id, title, city, start (epoch seconds), IANA zone].
// Popups are built with textContent: nothing a person typed is ever parsed as HTML.
(function () {
  "use strict";
  var language = document.documentElement.lang || undefined;

  function when(seconds, zone) {
    try {
      return new Intl.DateTimeFormat(language, {
        dateStyle: "medium", timeStyle: "short", timeZone: zone,
      }).format(new Date(seconds * 1000));
    } catch (error) {
      return new Date(seconds * 1000).toISOString();
    }
  }

  function popup(row) {
    var box = document.createElement("div");
    var heading = document.createElement("strong");
    var link = document.createElement("a");
    link.href = "/rallies/" + row[2];
    link.textContent = row[3];
    heading.appendChild(link);
    box.appendChild(heading);
    [row[4], when(row[5], row[6])].forEach(function (text) {
      var line = document.createElement("div");
      line.textContent = text;
      box.appendChild(line);
    });
    return box;
  }

  function fill(cluster, rows) {
    var markers = rows.map(function (row) {
      var marker = L.marker(L.latLng(row[0], row[1]), { title: row[3] });
      marker.bindPopup(function () { return popup(row); });
      return marker;
    });
    cluster.addLayers(markers); // chunked by the cluster's chunkedLoading option
  }

  document.querySelectorAll(".world-map[data-cluster]").forEach(function (element) {
    var cluster = window[element.dataset.cluster];
    if (!cluster) {
      return;
    }
    var inline = element.parentNode.querySelector("script.map-points");
    if (inline) {
      fill(cluster, JSON.parse(inline.textContent));
    } else if (element.dataset.pointsUrl) {
      fetch(element.dataset.pointsUrl, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : []; })
        .then(function (rows) { fill(cluster, rows); });
    }
  });
})();
