// The queue refreshes itself every few seconds, unless the person unticks the box (the
// choice is kept for the browser tab). Without a script the page simply does not refresh.
(function () {
  "use strict";
  var box = document.getElementById("auto-refresh");
  if (!box) {
    return;
  }
  var seconds = Number(box.getAttribute("data-seconds")) || 20;
  var KEY = "desk-queue-refresh";
  if (window.sessionStorage.getItem(KEY) === "off") {
    box.checked = false;
  }
  var timer = null;
  function plan() {
    window.clearTimeout(timer);
    if (box.checked) {
      timer = window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
    }
  }
  box.addEventListener("change", function () {
    window.sessionStorage.setItem(KEY, box.checked ? "on" : "off");
    plan();
  });
  plan();
})();
