// Tidings webmail, Filters section: progressive enhancement only. The rule
// form shows every input without this file; with it, each condition and
// action row shows only the inputs its choice uses, and the raw editor puts
// the cursor at a compile error's line and column.
(function () {
  "use strict";
  function show(el, on) {
    if (on) { el.removeAttribute("data-hidden"); } else { el.setAttribute("data-hidden", ""); }
  }
  function condRow(li) {
    var f = li.querySelector("[data-field]").value;
    li.querySelectorAll("[data-show]").forEach(function (p) {
      var k = p.getAttribute("data-show");
      show(p, k === "header" ? f === "header" : (f !== "" && f !== "contacts" && f !== "notcontacts") || hasValue(p));
    });
  }
  function actRow(li) {
    var k = li.querySelector("[data-kind]").value;
    li.querySelectorAll("[data-show]").forEach(function (p) {
      show(p, p.getAttribute("data-show") === k);
    });
  }
  // A value typed into a row whose field is "(no condition)" stays visible,
  // so the server's "choose a field" message points at something.
  function hasValue(p) {
    var i = p.querySelector("input[type=text]");
    return i && i.value !== "";
  }
  function init() {
    document.querySelectorAll("[data-cond]").forEach(condRow);
    document.querySelectorAll("[data-act]").forEach(actRow);
    var ta = document.querySelector("textarea[data-error-pos]");
    if (ta) {
      var pos = ta.getAttribute("data-error-pos").split(":");
      var line = parseInt(pos[0], 10), col = parseInt(pos[1], 10);
      var lines = ta.value.split("\n"), off = 0;
      for (var i = 0; i < line - 1 && i < lines.length; i++) { off += lines[i].length + 1; }
      off += Math.max(0, col - 1);
      ta.focus();
      ta.setSelectionRange(off, off);
    }
  }
  document.addEventListener("change", function (e) {
    var li = e.target.closest && e.target.closest("[data-cond],[data-act]");
    if (!li) { return; }
    if (li.hasAttribute("data-cond")) { condRow(li); } else { actRow(li); }
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
