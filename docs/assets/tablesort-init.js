// Make the model tables sortable (mkdocs-material re-renders pages without reloading: document$).
function tresnetZooSortTables() {
  document.querySelectorAll("article table:not([class])").forEach(function (table) {
    if (!table.dataset.sortable) {
      new Tablesort(table);
      table.dataset.sortable = "yes";
    }
  });
}
if (typeof document$ !== "undefined") {
  document$.subscribe(tresnetZooSortTables);
} else {
  document.addEventListener("DOMContentLoaded", tresnetZooSortTables);
}
