// The mention page: start a reply from a saved reply, and put the
// cursor in the form the inbox's shortcuts jump to (#assign, #reply, #escalate...).
(function () {
  "use strict";

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
    savedReplies();
  });
  // After load: the browser's own scroll to the #fragment comes first and would take the focus back.
  window.addEventListener("load", function () { window.setTimeout(focusTarget, 0); });
  window.addEventListener("hashchange", focusTarget);
}());
