// Settings pages: load a chosen playbook file into the editor (the form still posts plain text), and ask
// before buttons that remove, revoke or replace something. Without JavaScript the forms work as they are.
"use strict";
(function () {
  var LARGE = 400 * 1024;
  var upload = document.querySelector("[data-upload]");
  var input = document.querySelector("[data-playbook-file]");
  if (upload && input) {
    upload.hidden = false;
    var editor = document.getElementById(input.getAttribute("data-playbook-file"));
    var name = document.querySelector("[data-playbook-name]");
    var status = upload.querySelector("[data-upload-status]");
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file) {
        return;
      }
      if (file.size > LARGE) {
        status.textContent = file.name + " is larger than 400 KiB, more than this form can send.";
        return;
      }
      file.text().then(function (text) {
        editor.value = text;
        if (name) {
          name.value = file.name;
        }
        status.textContent = "Loaded " + file.name + " (" + text.split("\n").length + " lines). " +
          "Check and apply to put it in force.";
      }, function (error) {
        status.textContent = "Could not read " + file.name + ": " + error;
      });
    });
  }
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
})();
