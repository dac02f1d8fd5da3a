// Tidings webmail: progressive enhancement only. Every page works without
// this file; with it, htmx requests carry the CSRF token and a few controls
// get keyboard shortcuts and confirmations. No inline scripts anywhere (the
// Content-Security-Policy forbids them).
(function () {
  "use strict";
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }
  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = csrf();
  });
  // Buttons and forms with data-confirm ask first.
  document.addEventListener("submit", function (e) {
    var f = e.target;
    var msg = f.getAttribute("data-confirm") || (e.submitter && e.submitter.getAttribute("data-confirm"));
    if (msg && !window.confirm(msg)) {
      e.preventDefault();
    }
  }, true);
  // Checkboxes with data-check-all="name" toggle every checkbox of that name.
  document.addEventListener("change", function (e) {
    var t = e.target;
    var name = t.getAttribute && t.getAttribute("data-check-all");
    if (name) {
      document.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (b) { b.checked = t.checked; });
    }
  });
})();
