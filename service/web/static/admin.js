// Admin pages, small enhancements only: every form also works without this file.
(function () {
  "use strict";

  // Source form: show only the fieldset of the chosen kind.
  var kind = document.querySelector(".source-form select[name=kind]");
  function showKind() {
    document.querySelectorAll(".source-form [data-kind]").forEach(function (set) {
      set.hidden = set.getAttribute("data-kind") !== kind.value;
    });
  }
  if (kind) {
    kind.addEventListener("change", showKind);
    showKind();
  }

  // Rule form: a live preview of what saving would link and unlink, from the same
  // endpoint as the Preview button (the server answers with the preview section's HTML).
  var form = document.querySelector("form[data-preview-url]");
  if (!form) { return; }
  var target = document.getElementById("preview");
  var timer = null;
  var sent = 0;
  function refresh() {
    var mine = ++sent;
    target.setAttribute("aria-busy", "true");
    fetch(form.getAttribute("data-preview-url"), {
      method: "POST",
      body: new FormData(form),
      headers: { "Accept": "text/html" },
      credentials: "same-origin"
    }).then(function (response) {
      return response.text();
    }).then(function (html) {
      if (mine !== sent) { return; }  // a newer preview is on its way
      target.outerHTML = html;
      target = document.getElementById("preview");
    }).catch(function () {
      target.removeAttribute("aria-busy");
    });
  }
  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 350);
  }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
})();
