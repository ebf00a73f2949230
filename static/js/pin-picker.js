// The host form's pin picker: a map centred on the chosen city, where a click or a dragged
// marker sets the exact meeting point. The latitude and longitude fields stay the source of
// truth (and the way to set the pin without a map); the map only reads and writes them.
(function () {
  "use strict";
  var element = document.getElementById("pin-map");
  if (!element || typeof L === "undefined") {
    return;
  }
  var data = element.dataset;
  var latField = document.getElementById("latitude");
  var lonField = document.getElementById("longitude");
  var cityField = document.getElementById("city");
  var clearButton = document.getElementById("pin-clear");
  var zoneHint = document.getElementById("starts_at-hint");
  var endZoneHint = document.getElementById("ends_at-hint");
  var status = document.getElementById("pin-status");
  // Set once the organizer places, moves or types the pin here: a later change of city keeps
  // it. Only the pin the page came with (the old city's) gives way to a new city.
  var chosenHere = false;
  var pinAtLoad = latField.value + "," + lonField.value;
  var candidates = [];

  var map = L.map(element, { scrollWheelZoom: false, maxZoom: 18 });
  L.tileLayer(data.tiles, { attribution: data.attribution, maxZoom: 18 }).addTo(map);
  var marker = null;

  function fieldPosition() {
    var lat = parseFloat(latField.value);
    var lon = parseFloat(lonField.value);
    if (isNaN(lat) || isNaN(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
      return null;
    }
    return L.latLng(lat, lon);
  }

  function writeFields(position) {
    // Five decimals: about a metre, as precise as anyone can point.
    latField.value = position.lat.toFixed(5);
    lonField.value = L.Util.wrapNum(position.lng, [-180, 180], true).toFixed(5);
    status.textContent = data.pinnedText;
  }

  function showMarker(position) {
    if (marker) {
      marker.setLatLng(position);
    } else {
      marker = L.marker(position, { draggable: true, autoPan: true, title: data.markerTitle });
      marker.on("dragend", function () {
        chosenHere = true;
        writeFields(marker.getLatLng());
      });
      marker.addTo(map);
    }
    clearButton.hidden = false;
  }

  function removeMarker() {
    if (marker) {
      map.removeLayer(marker);
      marker = null;
    }
    clearButton.hidden = true;
  }

  function showZone(timezone) {
    [zoneHint, endZoneHint].forEach(function (hint) {
      if (hint && timezone) {
        hint.textContent = data.zoneText.replace("{zone}", timezone);
      }
    });
  }

  function centreOn(candidate) {
    map.setView([candidate.lat, candidate.lon], 13);
  }

  function chosenCandidate() {
    var checked = document.querySelector("input[name=place_id]:checked");
    var id = checked ? parseInt(checked.value, 10) : null;
    for (var i = 0; i < candidates.length; i++) {
      if (candidates[i].id === id) {
        return candidates[i];
      }
    }
    return candidates[0] || null;
  }

  function lookUpCity(moveAwayFromOldPin) {
    var text = cityField.value.trim();
    if (!text) {
      return;
    }
    fetch(data.placesUrl + "?q=" + encodeURIComponent(text), { headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : [];
      })
      .then(function (found) {
        candidates = found;
        var candidate = chosenCandidate();
        if (!candidate) {
          return;
        }
        var samePin = latField.value + "," + lonField.value === pinAtLoad;
        if (moveAwayFromOldPin && !chosenHere && samePin && latField.value) {
          // A pin from the old city is wrong in the new one: back to the city centre.
          latField.value = "";
          lonField.value = "";
          removeMarker();
          status.textContent = data.centreText;
        }
        if (!fieldPosition()) {
          centreOn(candidate);
        }
        // The page names the saved rally's zone already; a new or changed city names its own.
        if (moveAwayFromOldPin || !data.zoneKnown) {
          showZone(candidate.timezone);
        }
      })
      .catch(function () {});
  }

  map.on("click", function (event) {
    chosenHere = true;
    showMarker(event.latlng);
    writeFields(event.latlng);
  });

  [latField, lonField].forEach(function (field) {
    field.addEventListener("input", function () {
      chosenHere = true;
    });
    field.addEventListener("change", function () {
      var position = fieldPosition();
      if (position) {
        chosenHere = true;
        showMarker(position);
        map.panTo(position);
      } else if (!latField.value && !lonField.value) {
        removeMarker();
      }
    });
  });

  cityField.addEventListener("change", function () {
    lookUpCity(true);
  });
  document.querySelectorAll("input[name=place_id]").forEach(function (radio) {
    radio.addEventListener("change", function () {
      var candidate = chosenCandidate();
      if (candidate) {
        showZone(candidate.timezone);
        if (!fieldPosition()) {
          centreOn(candidate);
        }
      }
    });
  });

  clearButton.addEventListener("click", function () {
    latField.value = "";
    lonField.value = "";
    chosenHere = false;
    removeMarker();
    status.textContent = data.centreText;
    var candidate = chosenCandidate();
    if (candidate) {
      centreOn(candidate);
    }
  });

  var start = fieldPosition();
  if (start) {
    showMarker(start);
    map.setView(start, 15);
  } else if (data.lat) {
    map.setView([parseFloat(data.lat), parseFloat(data.lon)], 13);
  } else {
    map.setView([30, 10], 2);
  }
  lookUpCity(false);
})();
