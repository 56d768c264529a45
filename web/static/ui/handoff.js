// Handoff boards: keep the scan box focused, live alerts by server-sent events, the map.
(function () {
  "use strict";

  function scanBox() { return document.querySelector("[data-scan]"); }

  function focusScan(select) {
    var box = scanBox();
    if (!box) return;
    box.focus();
    if (select) box.select();
  }

  // Keyboard-only scanning: the scan box keeps the focus unless another field takes it.
  document.addEventListener("focusout", function (event) {
    var box = scanBox();
    if (!box || event.target !== box) return;
    setTimeout(function () {
      var active = document.activeElement;
      if (!active || active === document.body || active === document.documentElement) focusScan(false);
    }, 0);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var box = scanBox();
    if (box && event.target && event.target.id === box.getAttribute("data-scan")) {
      box.value = "";
      focusScan(false);
    }
  });
  document.addEventListener("DOMContentLoaded", function () { focusScan(true); });

  // Print buttons (no inline handlers: the pages' policy allows no inline script).
  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest && event.target.closest("[data-print]");
    if (button) { event.preventDefault(); window.print(); }
  });
  // Boards that refresh themselves every few seconds, except while someone is filling in one
  // of their forms (a filter in hx-trigger would need eval, which the pages' policy forbids).
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh-every]").forEach(function (board) {
      var seconds = parseFloat(board.getAttribute("data-refresh-every")) || 10;
      setInterval(function () {
        var active = document.activeElement;
        if (active && active.closest && active.closest("form") && board.contains(active)) return;
        if (window.htmx) window.htmx.trigger(board, "handoff:refresh");
      }, seconds * 1000);
    });
  });

  // The day picker moves to the chosen day as soon as it changes.
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field && field.hasAttribute && field.hasAttribute("data-submit-on-change") && field.form) {
      field.form.submit();
    }
  });

  // Live alerts: one EventSource per page, toasts and a board refresh trigger.
  function toast(text, kind) {
    var holder = document.getElementById("alerts-live");
    if (!holder) return;
    var div = document.createElement("div");
    div.className = "msg " + (kind || "warn");
    div.setAttribute("role", "status");
    div.textContent = text;
    holder.prepend(div);
    setTimeout(function () { div.remove(); }, 12000);
  }

  function startAlerts() {
    var body = document.body;
    var url = body.getAttribute("data-alerts");
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    var lang = document.documentElement.getAttribute("lang") === "en" ? "en" : "zh";
    source.addEventListener("alert", function (event) {
      var alert = JSON.parse(event.data);
      var text = (alert.item ? alert.item + " · " : "") + (lang === "en" ? alert.message_en : alert.message_zh);
      toast(text, "warn");
      var counter = document.getElementById("alert-count");
      if (counter) counter.textContent = String(Number(counter.textContent || "0") + 1);
      if (window.htmx) window.htmx.trigger(document.body, "handoff:alert", alert);
    });
  }
  document.addEventListener("DOMContentLoaded", startAlerts);

  // The dispatcher's map: sites and routes, with tiles only if a tile server is configured.
  var COLORS = ["#0b5cad", "#b42318", "#1a7f37", "#9a6700", "#6f42c1", "#0e7490", "#c2410c", "#4d7c0f"];
  function drawMap(element) {
    if (!window.L) return null;
    var map = L.map(element, { attributionControl: true, zoomSnap: 0.25 });
    var tiles = element.getAttribute("data-tiles");
    if (tiles) L.tileLayer(tiles, { attribution: element.getAttribute("data-attribution") || "" }).addTo(map);
    var layer = L.layerGroup().addTo(map);
    function load() {
      return fetch(element.getAttribute("data-src"), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          layer.clearLayers();
          var bounds = [];
          data.routes.forEach(function (route, index) {
            var color = route.color || COLORS[index % COLORS.length];
            if (route.points.length > 1) {
              L.polyline(route.points, { color: color, weight: 4, opacity: 0.8, className: "route-line" })
                .bindTooltip(route.label).addTo(layer);
            }
            route.done.forEach(function (point) {
              L.circleMarker(point, { radius: 9, color: color, weight: 3, fill: false }).addTo(layer);
            });
          });
          data.sites.forEach(function (site) {
            var point = [site.lat, site.lon];
            bounds.push(point);
            L.circleMarker(point, {
              radius: site.kind === "township_clinic" ? 5 : 7, color: "#243b53", weight: 1,
              fillColor: site.kind === "township_clinic" ? "#ffffff" : "#12324f", fillOpacity: 1,
              className: "site-dot"
            }).bindTooltip(site.code, { permanent: true, direction: "right", className: "site-label" })
              .bindPopup(site.code + " " + site.name).addTo(layer);
          });
          if (bounds.length && !element.dataset.fitted) {
            map.fitBounds(bounds, { padding: [20, 20] });
            element.dataset.fitted = "1";
          }
          element.setAttribute("data-routes", String(data.routes.length));
          element.setAttribute("data-sites", String(data.sites.length));
        });
    }
    load();
    element.addEventListener("handoff:reload", load);
    return map;
  }
  document.addEventListener("DOMContentLoaded", function () {
    var element = document.getElementById("map");
    if (element) drawMap(element);
  });
  window.Handoff = { focusScan: focusScan, toast: toast };
})();
// The map follows the trips table: redraw its routes after each refresh of the table.
document.addEventListener("htmx:afterSwap", function (event) {
  var map = document.getElementById("map");
  if (map && event.target && event.target.id === "trips") map.dispatchEvent(new Event("handoff:reload"));
});
