// Small enhancements only: every page works without this file.
(function () {
  "use strict";

  // Buttons with data-confirm ask before their form is sent.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var message = button && button.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  // Select boxes in a filter form with data-auto-submit apply on change.
  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (form && form.hasAttribute("data-auto-submit") && event.target.tagName === "SELECT") {
      form.requestSubmit();
    }
  });

  // An element with data-refresh-seconds reloads the page while it is on it (e.g. a running
  // sync); it stops as soon as a reloaded page no longer carries the attribute.
  var refresh = document.querySelector("[data-refresh-seconds]");
  if (refresh) {
    var seconds = Math.max(1, parseInt(refresh.getAttribute("data-refresh-seconds"), 10) || 3);
    window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
  }
})();
