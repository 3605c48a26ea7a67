// The status page's only script (served by the function: CSP script-src 'self').
// Everything works without it: the filter form is a plain GET form. With it, filters and
// sort apply as you type, and ages keep ticking from the server's generated_at.
(function () {
  "use strict";
  var opened = Date.now();

  function words(s) {
    if (s < 0) return "just now";
    var units = [["d", 86400], ["h", 3600], ["min", 60]];
    for (var i = 0; i < units.length; i++) {
      if (s >= units[i][1]) return Math.floor(s / units[i][1]) + " " + units[i][0] + " ago";
    }
    return s + " s ago";
  }

  function tick() {
    var extra = Math.floor((Date.now() - opened) / 1000);
    var all = document.querySelectorAll("time[data-age]");
    for (var i = 0; i < all.length; i++) {
      all[i].textContent = words(parseInt(all[i].getAttribute("data-age"), 10) + extra);
    }
  }

  var STATE_ORDER = { stuck: 0, overdue: 1, pending: 2, idle: 3 };
  var SORTS = {
    folder: function (a, b) { return num(a, "order") - num(b, "order"); },
    urgency: function (a, b) {
      return (STATE_ORDER[a.dataset.state] - STATE_ORDER[b.dataset.state]) ||
        (num(b, "age") - num(a, "age"));
    },
    age: function (a, b) { return num(b, "age") - num(a, "age"); },
    fill: function (a, b) { return num(b, "fill") - num(a, "fill"); }
  };

  function num(row, name) { return parseFloat(row.dataset[name]) || 0; }

  function apply(form, table) {
    var prefix = form.elements.prefix.value.trim().replace(/^\/+|\/+$/g, "");
    var type = form.elements.type.value;
    var state = form.elements.state.value;
    var sort = SORTS[form.elements.sort.value] || SORTS.folder;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var shown = 0;
    rows.sort(sort);
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var match = row.dataset.folder.indexOf(prefix) === 0 &&
        (!type || row.dataset.type === type) && (!state || row.dataset.state === state);
      row.hidden = !match;
      if (match) shown++;
      body.appendChild(row);
    }
    var count = document.getElementById("row-count");
    if (count) count.textContent = String(shown);
  }

  function start() {
    tick();
    setInterval(tick, 10000);
    var form = document.getElementById("filters");
    var table = document.getElementById("buffer-table");
    if (!form || !table) return;
    var again = function () { apply(form, table); };
    form.addEventListener("input", again);
    form.addEventListener("change", again);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
