/* The evaluation pages' small behaviours, kept out of the HTML so the Content-Security-Policy
   can refuse inline event handlers and javascript: links. */
(function () {
  // 统计期 "自定义" shows the two date fields; any preset hides them.
  document.querySelectorAll("select[data-toggles-custom]").forEach(function (select) {
    select.addEventListener("change", function () {
      var custom = select.form && select.form.querySelector(".custom");
      if (custom) custom.style.display = select.value === "custom" ? "flex" : "none";
    });
  });
  // "返回修改" goes back to the form the person filled in; without history it follows its href.
  document.querySelectorAll("a[data-history-back]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (window.history.length > 1) { event.preventDefault(); window.history.back(); }
    });
  });
})();
