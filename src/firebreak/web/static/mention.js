// The mention page: count the SLA clocks down each second, start a reply from a saved reply, and put the
// cursor in the form the inbox's shortcuts jump to (#assign, #reply, #escalate...).
(function () {
  "use strict";

  function span(seconds) {
    var minutes = Math.floor(Math.abs(seconds) / 60);
    if (minutes < 60) { return minutes + "m"; }
    if (minutes < 48 * 60) { return Math.floor(minutes / 60) + "h " + (minutes % 60) + "m"; }
    return Math.floor(minutes / 1440) + "d " + Math.floor((minutes % 1440) / 60) + "h";
  }

  function tick() {
    var cells = document.querySelectorAll("[data-due]");
    var now = Date.now();
    for (var i = 0; i < cells.length; i++) {
      var due = Date.parse(cells[i].getAttribute("data-due"));
      if (isNaN(due)) { continue; }
      var left = (due - now) / 1000;
      cells[i].textContent = left <= 0 ? "OVERDUE " + span(left) : span(left) + " left";
      cells[i].classList.toggle("overdue", left <= 0);
    }
  }

  function focusTarget() {
    var id = window.location.hash.slice(1);
    if (!id) { return; }
    var form = document.getElementById(id);
    if (!form || form.tagName !== "FORM") { return; }
    var field = form.querySelector("textarea, select, input:not([type=hidden])");
    if (field) { field.focus(); }
  }

  function savedReplies() {
    var form = document.getElementById("reply");
    if (!form) { return; }
    var choice = form.querySelector("select[name=template]");
    var text = form.querySelector("textarea[name=text]");
    if (!choice || !text) { return; }
    var filled = text.value;
    choice.addEventListener("change", function () {
      var option = choice.options[choice.selectedIndex];
      var saved = option ? option.getAttribute("data-text") : null;
      // Replace only what a saved reply put there, never words the person typed.
      if (saved !== null && (text.value === "" || text.value === filled)) {
        text.value = saved;
        filled = saved;
        text.focus();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
    savedReplies();
  });
  // After load: the browser's own scroll to the #fragment comes first and would take the focus back.
  window.addEventListener("load", function () { window.setTimeout(focusTarget, 0); });
  window.addEventListener("hashchange", focusTarget);
}());
