// erp-sync console: the only script. Served from /assets/console.js (the CSP allows no
// inline script). Two small jobs, and every page works without them:
//  1. [data-copy] buttons copy the text of the element they name (the webhook secret).
//  2. A <tbody data-poll="/sync-log/rows?..." data-newest="<id>"> asks the server every
//     2 s for rows newer than the newest shown and inserts them at the top. The rows
//     are HTML the server rendered and escaped, exactly like the page's own rows.
"use strict";

document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(function () {
    var note = button.parentElement.querySelector(".copied");
    if (note) note.textContent = "Copied";
  });
});

function poll(body) {
  var busy = false;
  var timer = setInterval(function () {
    if (busy) return;
    busy = true;
    var url = body.getAttribute("data-poll");
    url += (url.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(body.getAttribute("data-newest") || "0");
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          // Signed out, or the server went away: stop quietly; a reload shows why.
          clearInterval(timer);
          return null;
        }
        var newest = response.headers.get("X-Newest-Id");
        return response.text().then(function (html) {
          if (html.trim() !== "") {
            var empty = body.querySelector("tr.empty");
            if (empty) empty.remove();
            body.insertAdjacentHTML("afterbegin", html);
          }
          if (newest) body.setAttribute("data-newest", newest);
        });
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }, 2000);
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("tbody[data-poll]").forEach(poll);
});
