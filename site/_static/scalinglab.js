// scalinglab site: tables that scroll say so, and text columns of the notebooks'
// DataFrames read left to right (numbers stay right-aligned, see scalinglab.css).
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  // a table wider than its box: .sl-scrolls shows the hint; .sl-at-end once scrolled through
  function markScrolling(box) {
    var scrolls = box.scrollWidth > box.clientWidth + 1;
    box.classList.toggle("sl-scrolls", scrolls);
    box.classList.toggle("sl-at-end", scrolls && box.scrollLeft + box.clientWidth >= box.scrollWidth - 2);
  }

  var NUMBER = /^[-+\u2212]?(\d[\d,]*(\.\d*)?|\.\d+)(e[-+]?\d+)?%?$|^(nan|NaN|inf|-inf|None|—|)$/i;

  function alignDataFrame(table) {
    var rows = table.tBodies.length ? table.tBodies[0].rows : [];
    if (!rows.length) return;
    var columns = rows[0].cells.length;
    for (var c = 0; c < columns; c += 1) {
      var text = false, seen = 0;
      for (var r = 0; r < rows.length; r += 1) {
        var cell = rows[r].cells[c];
        if (!cell || cell.tagName !== "TD") continue;
        var value = cell.textContent.trim();
        seen += 1;
        if (!NUMBER.test(value)) { text = true; break; }
      }
      if (!text || !seen) continue;
      for (var k = 0; k < rows.length; k += 1) {
        if (rows[k].cells[c]) rows[k].cells[c].classList.add("sl-text");
      }
      var head = table.tHead ? table.tHead.rows : [];
      for (var h = 0; h < head.length; h += 1) {
        if (head[h].cells.length === columns && head[h].cells[c]) head[h].cells[c].classList.add("sl-text");
      }
    }
  }

  ready(function () {
    Array.prototype.forEach.call(document.querySelectorAll("table.dataframe"), alignDataFrame);
    var boxes = Array.prototype.slice.call(
      document.querySelectorAll(".sl-table-wrap, div.cell_output .output.text_html"));
    boxes.forEach(function (box) {
      markScrolling(box);
      box.addEventListener("scroll", function () { markScrolling(box); }, {passive: true});
    });
    window.addEventListener("resize", function () { boxes.forEach(markScrolling); });
  });
})();
