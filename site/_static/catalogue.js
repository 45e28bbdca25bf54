// Catalogue filters: status, topic, category and free text over a static table.
// The filter state is kept in the address (?status=...&topic=...), so a filtered view
// can be linked to. Runs only on pages that have the catalogue table.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(function () {
    var table = document.getElementById("catalogue-table");
    if (!table) return;
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var controls = {
      status: document.getElementById("filter-status"),
      topic: document.getElementById("filter-topic"),
      category: document.getElementById("filter-category"),
      q: document.getElementById("filter-text")
    };
    var shown = document.getElementById("catalogue-shown");
    var empty = document.getElementById("catalogue-empty");
    rows.forEach(function (row) { row.dataset.text = row.textContent.toLowerCase(); });

    function apply(updateAddress) {
      var status = controls.status.value, topic = controls.topic.value,
          category = controls.category.value, q = controls.q.value.trim().toLowerCase();
      var count = 0;
      rows.forEach(function (row) {
        var ok = (!status || row.dataset.status === status) &&
                 (!topic || row.dataset.topic === topic) &&
                 (!category || row.dataset.category === category) &&
                 (!q || row.dataset.text.indexOf(q) !== -1);
        row.hidden = !ok;
        if (ok) count += 1;
      });
      shown.textContent = String(count);
      empty.hidden = count !== 0;
      if (updateAddress && window.history && window.history.replaceState) {
        var params = new URLSearchParams();
        Object.keys(controls).forEach(function (key) {
          if (controls[key].value) params.set(key, controls[key].value);
        });
        var query = params.toString();
        window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : "") +
                                    window.location.hash);
      }
    }

    var params = new URLSearchParams(window.location.search);
    Object.keys(controls).forEach(function (key) {
      var value = params.get(key);
      if (value !== null) controls[key].value = value;
      controls[key].addEventListener(key === "q" ? "input" : "change", function () { apply(true); });
    });
    document.getElementById("filter-reset").addEventListener("click", function () {
      Object.keys(controls).forEach(function (key) { controls[key].value = ""; });
      apply(true);
    });
    apply(false);
  });
})();
