// The inbox: keyboard shortcuts over the rows and a banner when new work
// arrives (from the server-sent events of /w/{slug}/inbox/events). Without this file the page still works.
(function () {
  "use strict";

  var rows = [];
  var current = -1;

  // ------------------------------------------------------------------------------------------ keys

  function select(index) {
    if (!rows.length) { return; }
    index = Math.max(0, Math.min(rows.length - 1, index));
    if (current >= 0 && rows[current]) {
      rows[current].classList.remove("current");
      rows[current].removeAttribute("aria-current");
    }
    current = index;
    rows[current].classList.add("current");
    rows[current].setAttribute("aria-current", "true");
    rows[current].scrollIntoView({ block: "nearest" });
  }

  function selected() {
    return current >= 0 ? rows[current] : null;
  }

  function mentionUrl(row, anchor) {
    var link = row.querySelector("td.text a");
    return link ? link.getAttribute("href") + (anchor || "") : null;
  }

  function typing(target) {
    if (!target || !target.tagName) { return false; }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "select" || tag === "textarea" || target.isContentEditable;
  }

  function toggleHelp() {
    var help = document.getElementById("keys-help");
    if (!help) { return; }
    if (help.open) { help.close(); } else { help.showModal(); }
  }

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var help = document.getElementById("keys-help");
    if (help && help.open && event.key !== "?") { return; }
    var row = selected();
    var url;
    switch (event.key) {
      case "j": select(current + 1); break;
      case "k": select(current < 0 ? 0 : current - 1); break;
      case "Enter":
      case "o":
        if (!row || (event.key === "Enter" && event.target !== document.body)) { return; }
        url = mentionUrl(row);
        if (url) { window.location.assign(url); }
        break;
      case "x":
        if (!row) { return; }
        var box = row.querySelector("td.pick input[type=checkbox]");
        if (box) { box.checked = !box.checked; }
        break;
      case "a":
        if (!row) { return; }
        // Click the row's Take button (form.submit() would leave out the button's action=assign_me).
        var take = row.querySelector("td.take button");
        if (take) { take.click(); } else if ((url = mentionUrl(row, "#assign"))) { window.location.assign(url); }
        break;
      case "e":
        if (row && (url = mentionUrl(row, "#escalate"))) { window.location.assign(url); }
        break;
      case "r":
        if (row && (url = mentionUrl(row, "#reply"))) { window.location.assign(url); }
        break;
      case "?": toggleHelp(); break;
      default: return;
    }
    event.preventDefault();
  }

  // ------------------------------------------------------------------------------------------ live

  function listen() {
    var banner = document.getElementById("live");
    if (!banner || !window.EventSource) { return; }
    var onPage = {};
    for (var i = 0; i < rows.length; i++) { onPage[rows[i].getAttribute("data-mention")] = rows[i]; }
    var fresh = {};
    var count = 0;
    var source = new EventSource(banner.getAttribute("data-events"));
    source.addEventListener("work", function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (problem) { return; }
      var changes = data.changes || [];
      for (var j = 0; j < changes.length; j++) {
        var change = changes[j];
        var key = String(change.mention_id);
        var row = onPage[key];
        if (row) {
          // A repeat of a change the page already shows (the feed may repeat after a reconnect) is no news.
          if (change.revision > Number(row.getAttribute("data-revision"))) {
            row.classList.add("changed");
          }
        } else if (change.created && change.matches && !fresh[key]) {
          fresh[key] = true;
          count += 1;
        }
      }
      if (count > 0) {
        banner.querySelector(".live-count").textContent = count + " new —";
        banner.hidden = false;
      }
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    rows = Array.prototype.slice.call(document.querySelectorAll("#inbox-rows tbody tr[data-mention]"));
    document.addEventListener("keydown", onKey);
    listen();
  });
}());
