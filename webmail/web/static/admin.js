// Tidings admin console: progressive enhancement only (the forms work
// without it). A checkbox with data-disables="ID" disables the field ID
// while it is ticked ("Generate a password" and the password field).
(function () {
  "use strict";
  function sync(box) {
    var f = document.getElementById(box.getAttribute("data-disables"));
    if (f) {
      f.disabled = box.checked;
    }
  }
  document.addEventListener("change", function (e) {
    if (e.target.hasAttribute && e.target.hasAttribute("data-disables")) {
      sync(e.target);
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-disables]").forEach(sync);
  });
})();
