// The report's only script: the "failed only" / "regressions only" filters hide case rows.
(function () {
  var failed = document.getElementById("only-failed");
  var regressed = document.getElementById("only-regressions");
  function apply() {
    var rows = document.querySelectorAll("section.case");
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var hide = (failed.checked && row.dataset.failed !== "true") ||
        (regressed && regressed.checked && row.dataset.regression !== "true");
      row.hidden = hide;
      if (!hide) { shown++; }
    }
    document.getElementById("shown-count").textContent = String(shown);
  }
  failed.addEventListener("change", apply);
  if (regressed) { regressed.addEventListener("change", apply); }
  apply();
})();
