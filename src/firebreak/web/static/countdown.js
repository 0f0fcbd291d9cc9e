// SLA countdowns on every page: any element with data-due (an ISO time) shows "4m left" or "OVERDUE 12m",
// updated each second from the browser's clock, in the same words the server rendered.
(function () {
  "use strict";

  var SOON_SECONDS = 15 * 60;

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
      cells[i].classList.toggle("soon", left > 0 && left < SOON_SECONDS);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!document.querySelector("[data-due]")) { return; }
    tick();
    window.setInterval(tick, 1000);
  });
}());
