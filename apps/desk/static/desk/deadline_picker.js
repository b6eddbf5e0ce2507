/* The dispatch form's deadline: hours, or a moment from the browser's own date-time picker.
 * Either one is sent to the case's preview URL, which answers on the case's work calendar
 * ("合 N 个工作小时，截止 X月X日 HH:MM", apps.cases.selectors.deadline_preview); the answer is
 * shown under the picker and a picked moment fills the hours. The server checks the posted form
 * again with the same function, so this script only informs. */
(function () {
  "use strict";

  function setup(until) {
    var form = until.form;
    var name = until.getAttribute("data-deadline-until");
    // The case page's forms carry a prefix ("dispatch-deadline_hours"); the bulk form does not.
    var hours = form && form.querySelector('input[name="' + name + '"], input[name$="-' + name + '"]');
    var url = until.getAttribute("data-preview-url");
    if (!hours || !url) return;
    var out = document.createElement("output");
    out.className = "ld-deadline-result";
    out.setAttribute("aria-live", "polite");
    out.setAttribute("data-testid", "deadline-result");
    until.insertAdjacentElement("afterend", out);
    var asked = 0;

    function show(text, bad) {
      out.textContent = text;
      out.classList.toggle("ld-red", !!bad);
    }

    function ask(query, fromPicker) {
      var mine = ++asked;
      fetch(url + "?" + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          if (mine !== asked) return; // a later question is on its way
          if (!data.ok) { show(data.error, true); return; }
          show(data.text, false);
          if (fromPicker) hours.value = String(data.hours);
        })
        .catch(function () { if (mine === asked) show("无法计算截止时间（网络问题），提交时将再次核对。", true); });
    }

    until.addEventListener("change", function () {
      if (until.value) ask("until=" + encodeURIComponent(until.value), true);
      else show("", false);
    });
    hours.addEventListener("input", function () {
      // Typed hours win over a picked moment: the picker is cleared so the two never disagree.
      until.value = "";
      if (hours.value) ask("hours=" + encodeURIComponent(hours.value), false);
      else show("", false);
    });
  }

  function start() {
    var pickers = document.querySelectorAll("input[data-deadline-until]");
    for (var i = 0; i < pickers.length; i++) setup(pickers[i]);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
