// Fill each folium map with clusters and markers.
//
// A map with data-points-url asks it, on load and after every move, for the 256-px web-mercator
// tiles in view (&z=&x=&y=, the same addresses for everyone, so caches share them); each answer
// is a list of rows, either a marker [lat, lon, id, title, city, start (epoch seconds), zone]
// or a cluster [lat, lon, count, [south, west, north, east]]. A search's map has its markers
// inline (script.map-points) and clusters them here by 64-px cell. Clicking a cluster zooms
// in; rallies at one position share one marker whose popup lists them.
// Popups are built with textContent: nothing a person typed is ever parsed as HTML.
(function () {
  "use strict";
  if (typeof L === "undefined") {
    return;
  }
  var TILE = 256;
  var CELL = 64;
  var FRESH_MS = 60 * 1000; // as long as the answers' Cache-Control lets a browser keep them
  var language = document.documentElement.lang || undefined;

  function formatted(number, options) {
    try {
      return new Intl.NumberFormat(language, options).format(number);
    } catch (error) {
      return String(number);
    }
  }

  function when(seconds, zone) {
    try {
      return new Intl.DateTimeFormat(language, {
        dateStyle: "medium", timeStyle: "short", timeZone: zone,
      }).format(new Date(seconds * 1000));
    } catch (error) {
      return new Date(seconds * 1000).toISOString();
    }
  }

  function describe(box, row) {
    var heading = document.createElement("strong");
    var link = document.createElement("a");
    link.href = "/rallies/" + encodeURIComponent(row[2]);
    link.textContent = row[3];
    heading.appendChild(link);
    box.appendChild(heading);
    [row[4], when(row[5], row[6])].forEach(function (text) {
      var line = document.createElement("div");
      line.textContent = text;
      box.appendChild(line);
    });
  }

  function popup(rows) {
    var box = document.createElement("div");
    if (rows.length === 1) {
      describe(box, rows[0]);
      return box;
    }
    var list = document.createElement("ul");
    rows.forEach(function (row) {
      var item = document.createElement("li");
      describe(item, row);
      list.appendChild(item);
    });
    box.appendChild(list);
    return box;
  }

  function clusterIcon(count) {
    var size = count < 10 ? "small" : count < 100 ? "medium" : "large";
    var circle = document.createElement("div");
    var label = document.createElement("span");
    label.textContent = formatted(count, { notation: "compact" });
    circle.appendChild(label);
    return L.divIcon({
      html: circle,
      className: "marker-cluster marker-cluster-" + size,
      iconSize: L.point(40, 40),
    });
  }

  function Painter(map, element) {
    this.map = map;
    this.clusterTitle = element.dataset.clusterTitle || "{count}";
    this.listText = element.dataset.listText || "";
    this.nearUrl = element.dataset.nearUrl || "/near";
  }

  // Add the rows to ``layer``, their longitudes moved by ``shift`` (a copy of the world).
  Painter.prototype.draw = function (layer, rows, shift) {
    var self = this;
    var places = {};
    var order = [];
    rows.forEach(function (row) {
      if (row.length === 4) {
        layer.addLayer(self.cluster(row, shift));
        return;
      }
      var key = row[0] + "," + row[1];
      if (!places[key]) {
        places[key] = [];
        order.push(key);
      }
      places[key].push(row);
    });
    order.forEach(function (key) {
      var group = places[key];
      var title = group.length === 1 ? group[0][3] : self.title(group.length);
      var marker = L.marker(L.latLng(group[0][0], group[0][1] + shift), { title: title, alt: title });
      marker.bindPopup(function () { return popup(group); }, { maxHeight: 320 });
      layer.addLayer(marker);
    });
  };

  Painter.prototype.title = function (count) {
    return this.clusterTitle.replace("{count}", formatted(count));
  };

  Painter.prototype.cluster = function (row, shift) {
    var map = this.map;
    var box = row[3];
    var bounds = L.latLngBounds([box[0], box[1] + shift], [box[2], box[3] + shift]);
    var centre = L.latLng(row[0], row[1] + shift);
    var marker = L.marker(centre, { icon: clusterIcon(row[2]), title: this.title(row[2]) });
    var self = this;
    marker.on("click", function () {
      var deepest = map.getMaxZoom();
      if (map.getZoom() >= deepest) {
        // Nowhere deeper to go: the search lists them (a kilometre around).
        var link = document.createElement("a");
        link.href = self.nearUrl + "?" + new URLSearchParams({
          lat: row[0].toFixed(5), lon: row[1].toFixed(5), radius_km: "1",
        });
        link.textContent = self.listText;
        L.popup().setLatLng(centre).setContent(link).openOn(map);
        return;
      }
      var zoom = Math.min(deepest, Math.max(map.getZoom() + 1, map.getBoundsZoom(bounds)));
      map.setView(bounds.getCenter(), zoom);
    });
    return marker;
  };

  // Markers in the same 64-px cell at the map's zoom become a cluster, unless they all share
  // one position (no zoom would part them: one marker lists them).
  function clusterLocally(map, rows) {
    var zoom = Math.round(map.getZoom());
    var cells = {};
    var order = [];
    rows.forEach(function (row) {
      var point = map.project(L.latLng(row[0], row[1]), zoom);
      var key = Math.floor(point.x / CELL) + "/" + Math.floor(point.y / CELL);
      if (!cells[key]) {
        cells[key] = [];
        order.push(key);
      }
      cells[key].push(row);
    });
    var result = [];
    order.forEach(function (key) {
      var group = cells[key];
      var together = group.every(function (row) {
        return row[0] === group[0][0] && row[1] === group[0][1];
      });
      if (together) {
        result.push.apply(result, group);
        return;
      }
      var lat = 0, lon = 0, box = [90, 180, -90, -180];
      group.forEach(function (row) {
        lat += row[0];
        lon += row[1];
        box = [Math.min(box[0], row[0]), Math.min(box[1], row[1]),
          Math.max(box[2], row[0]), Math.max(box[3], row[1])];
      });
      result.push([lat / group.length, lon / group.length, group.length, box]);
    });
    return result;
  }

  function showInline(map, painter, rows) {
    var layer = L.layerGroup().addTo(map);
    function redraw() {
      layer.clearLayers();
      painter.draw(layer, clusterLocally(map, rows), 0);
    }
    map.on("zoomend", redraw);
    redraw();
  }

  function showTiles(map, painter, address) {
    var shown = {}; // "z/x/y" (x not wrapped) → the layer drawn for it
    var answers = {}; // address → { at, rows: Promise }

    function rowsOf(url) {
      var now = Date.now();
      var known = answers[url];
      if (known && now - known.at < FRESH_MS) {
        return known.rows;
      }
      // Without cookies: the answer is the same for everyone (its language is in the
      // address), so even a signed-in visitor's revalidation is a 304 and caches share it.
      var rows = fetch(url, { credentials: "omit" })
        .then(function (response) { return response.ok ? response.json() : []; })
        .catch(function () { return []; });
      answers[url] = { at: now, rows: rows };
      return rows;
    }

    function refresh() {
      var zoom = Math.max(0, Math.min(Math.round(map.getZoom()), map.getMaxZoom()));
      var count = Math.pow(2, zoom);
      var view = map.getBounds();
      var corner = map.project(view.getNorthWest(), zoom);
      var far = map.project(view.getSouthEast(), zoom);
      var x0 = Math.floor(corner.x / TILE), x1 = Math.floor((far.x - 1) / TILE);
      var y0 = Math.max(0, Math.floor(corner.y / TILE));
      var y1 = Math.min(count - 1, Math.floor((far.y - 1) / TILE));
      var wanted = {};
      for (var x = x0; x <= x1; x += 1) {
        for (var y = y0; y <= y1; y += 1) {
          var key = zoom + "/" + x + "/" + y;
          wanted[key] = true;
          if (!shown[key]) {
            show(key, zoom, x, y, count);
          }
        }
      }
      Object.keys(shown).forEach(function (key) {
        if (!wanted[key]) {
          map.removeLayer(shown[key]);
          delete shown[key];
        }
      });
    }

    function show(key, zoom, x, y, count) {
      var layer = L.layerGroup().addTo(map);
      var column = ((x % count) + count) % count;
      var shift = ((x - column) / count) * 360;
      var separator = address.indexOf("?") < 0 ? "?" : "&";
      shown[key] = layer;
      rowsOf(address + separator + "z=" + zoom + "&x=" + column + "&y=" + y).then(function (rows) {
        if (shown[key] === layer) {
          painter.draw(layer, rows, shift);
        }
      });
    }

    map.on("moveend", refresh);
    refresh();
  }

  document.querySelectorAll(".world-map[data-map]").forEach(function (element) {
    var map = window[element.dataset.map];
    if (!map) {
      return;
    }
    if (element.dataset.view) {
      // A search: its place and radius on the shared world skeleton.
      var view = element.dataset.view.split(",").map(Number);
      map.setView([view[0], view[1]], view[2]);
      if (view[3] > 0) {
        L.circle([view[0], view[1]], {
          radius: view[3], color: "#b0125b", weight: 2, fill: false, interactive: false
        }).addTo(map);
      }
    }
    var painter = new Painter(map, element);
    var inline = element.parentNode.querySelector("script.map-points");
    if (inline) {
      showInline(map, painter, JSON.parse(inline.textContent));
    } else if (element.dataset.pointsUrl) {
      showTiles(map, painter, element.dataset.pointsUrl);
    }
  });
})();
