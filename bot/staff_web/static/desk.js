// The desk's conversation page: canned answers fill the reply box, and the transcript
// follows the conversation live. Everything the server sends is shown with textContent:
// a citizen's words are never read as markup.
(function () {
  "use strict";

  var POLL_MS = 3000;

  // --- canned answers ------------------------------------------------------------------
  var picker = document.getElementById("canned");
  var reply = document.getElementById("reply-text");
  if (picker && reply) {
    var useButton = document.getElementById("canned-use");
    if (useButton) {
      useButton.hidden = true; // picking is enough with a script; the button is the fallback
    }
    picker.addEventListener("change", function () {
      var option = picker.options[picker.selectedIndex];
      if (!option || !option.value) {
        return;
      }
      reply.value = option.getAttribute("data-text") || "";
      reply.focus();
    });
  }

  // --- live transcript -----------------------------------------------------------------
  var root = document.getElementById("conversation");
  var list = document.getElementById("transcript");
  if (!root || !list) {
    return;
  }
  var updatesUrl = root.getAttribute("data-updates");
  var afterMessage = Number(root.getAttribute("data-after-message")) || 0;
  var afterEvent = Number(root.getAttribute("data-after-event")) || 0;
  var shownStatus = root.getAttribute("data-status") || "";
  var shownOwner = root.getAttribute("data-owner") || "";
  var seen = new Set();
  Array.prototype.forEach.call(list.querySelectorAll("li[data-key]"), function (item) {
    seen.add(item.getAttribute("data-key"));
  });
  list.scrollTop = list.scrollHeight;

  function nearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function append(line) {
    if (seen.has(line.key)) {
      return;
    }
    seen.add(line.key);
    var item = document.createElement("li");
    item.className = "line fresh " + line.who;
    item.setAttribute("data-key", line.key);
    var head = document.createElement("div");
    head.className = "line-head";
    var label = document.createElement("span");
    label.className = "label";
    label.textContent = line.label;
    var time = document.createElement("time");
    time.setAttribute("datetime", line.iso);
    time.textContent = line.at;
    head.appendChild(label);
    head.appendChild(document.createTextNode(" "));
    head.appendChild(time);
    item.appendChild(head);
    if (line.text) {
      var text = document.createElement("div");
      text.className = "text";
      text.textContent = line.text;
      item.appendChild(text);
    }
    list.appendChild(item);
  }

  function showStatus(data) {
    var status = document.getElementById("status");
    var owner = document.getElementById("owner");
    if (status) {
      status.textContent = data.status_text;
      status.className = "status status-" + data.status;
    }
    if (owner) {
      owner.textContent = data.owner ? "owner: " + data.owner : "unclaimed";
    }
    if (data.status !== shownStatus || (data.owner || "") !== shownOwner) {
      var notice = document.getElementById("changed");
      var text = document.getElementById("changed-text");
      if (notice && text) {
        text.textContent =
          "This conversation changed: " + data.status_text +
          (data.owner ? " (" + data.owner + ")" : "") +
          ". Reload the page to see the actions that fit.";
        notice.hidden = false;
      }
    }
  }

  function signedOut() {
    var notice = document.getElementById("changed");
    var text = document.getElementById("changed-text");
    if (notice && text) {
      text.textContent = "Your session ended: sign in again to keep following this conversation.";
      notice.hidden = false;
    }
  }

  function poll() {
    var url = updatesUrl + "?after_message=" + afterMessage + "&after_event=" + afterEvent;
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) {
          signedOut();
          return null;
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data === null) {
          return; // signed out: stop asking
        }
        var follow = nearBottom();
        data.lines.forEach(append);
        afterMessage = Math.max(afterMessage, data.after_message);
        afterEvent = Math.max(afterEvent, data.after_event);
        showStatus(data);
        if (follow) {
          list.scrollTop = list.scrollHeight;
        }
        window.setTimeout(poll, POLL_MS);
      })
      .catch(function () {
        window.setTimeout(poll, POLL_MS * 3); // the server restarts or the network blinks
      });
  }

  window.setTimeout(poll, POLL_MS);
})();
