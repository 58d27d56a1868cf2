// rdbench report: sort a table by a column (click or Enter on its header). No network, no storage.
(function () {
  "use strict";
  function key(cell) {
    var v = cell.getAttribute("data-v");
    if (v !== null) { return v === "" ? null : parseFloat(v); }
    var text = cell.textContent.trim();
    return text === "" || text === "\u2013" ? null : text;
  }
  function compare(x, y) {
    if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
    if (typeof x === "number" && typeof y === "number") { return x - y; }
    return String(x).localeCompare(String(y), undefined, {numeric: true, sensitivity: "base"});
  }
  function sortBy(table, column, header) {
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[column]), y = key(b.cells[column]);
      if (x === null || y === null) { return compare(x, y); }  // empty cells last either way
      return ascending ? compare(x, y) : compare(y, x);
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      th.tabIndex = 0;
      th.title = "sort by this column";
      th.addEventListener("click", function () { sortBy(table, column, th); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, column, th); }
      });
    });
  });
  // the metric selector: every metric (the default, and without script), or one metric's BD tables and figures
  var select = document.getElementById("metric-select");
  if (select) {
    var show = function () {
      Array.prototype.forEach.call(document.querySelectorAll("[data-metric]"), function (el) {
        el.hidden = select.value !== "" && el.getAttribute("data-metric") !== select.value;
      });
    };
    select.addEventListener("change", show);
    select.closest(".metric-select").hidden = false;
    show();
  }
  document.documentElement.classList.add("js");
})();
