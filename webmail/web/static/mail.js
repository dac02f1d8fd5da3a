// Tidings webmail, mail section: live updates and address completion.
// Progressive enhancement only: without it the pages work the same, just
// without live refresh and suggestions.
(function () {
  "use strict";
  var timer = null, pending = {};
  function refresh(id, url) {
    var el = document.getElementById(id);
    if (el && url && window.htmx) {
      window.htmx.ajax("GET", url, { target: "#" + id, swap: "outerHTML" });
    }
  }
  function apply() {
    timer = null;
    var nav = document.getElementById("folders");
    if (nav) {
      refresh("folders", "/mail/folders?box=" + encodeURIComponent(nav.getAttribute("data-current") || ""));
    }
    var list = document.getElementById("message-list");
    // A list with checked messages is left alone: refreshing would drop the selection.
    if (list && (pending["*"] || pending[list.getAttribute("data-mailbox")]) && !list.querySelector('input[name="uid"]:checked')) {
      refresh("message-list", list.getAttribute("data-refresh"));
    }
    pending = {};
  }
  function changed(box, added) {
    pending[box] = true;
    var live = document.getElementById("mail-live");
    if (live && added) {
      live.textContent = "New mail in " + (box === "INBOX" ? "Inbox" : box) + ".";
    }
    if (!timer) {
      timer = setTimeout(apply, 250);
    }
  }
  function listen() {
    if (!window.EventSource || !document.getElementById("folders")) {
      return;
    }
    var es = new EventSource("/mail/events");
    es.addEventListener("mail", function (e) {
      var d = {};
      try { d = JSON.parse(e.data); } catch (err) { return; }
      changed(d.mailbox || "*", d.kind === "added");
    });
    // Changes were dropped: reload what the page shows.
    es.addEventListener("reload", function () { changed("*", false); });
    window.addEventListener("pagehide", function () { es.close(); });
  }
  // Address completion: the last address of a To/Cc/Bcc field is looked
  // up in the contacts; picking a suggestion keeps the addresses before it.
  function complete(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var value = input.value, cut = value.lastIndexOf(",");
    var head = cut >= 0 ? value.slice(0, cut + 1) + " " : "";
    var term = value.slice(cut + 1).trim();
    if (!list || term.length < 1) {
      return;
    }
    fetch(input.getAttribute("data-complete") + "?q=" + encodeURIComponent(term), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        var doc = new DOMParser().parseFromString("<datalist>" + html + "</datalist>", "text/html");
        list.textContent = "";
        doc.querySelectorAll("option").forEach(function (o) {
          var opt = document.createElement("option");
          opt.value = head + o.value;
          opt.textContent = o.textContent;
          list.appendChild(opt);
        });
      })
      .catch(function () {});
  }
  function init() {
    if (window.htmx) {
      // Settling copies style attributes, which the CSP (no inline styles) refuses.
      window.htmx.config.attributesToSettle = ["class", "width", "height"];
    }
    listen();
    var wait = null;
    document.querySelectorAll("input[data-complete]").forEach(function (input) {
      input.addEventListener("input", function (e) {
        if (e.inputType === "insertReplacementText" || !e.inputType) {
          return; // a suggestion was picked
        }
        clearTimeout(wait);
        wait = setTimeout(function () { complete(input); }, 200);
      });
    });
    // Enter in an address or subject field does not send the message.
    var form = document.querySelector("form.compose-form");
    if (form) {
      form.addEventListener("keydown", function (e) {
        if (e.key === "Enter" && e.target.tagName === "INPUT" && e.target.type === "text") {
          e.preventDefault();
        }
      });
    }
    // Rows added by a refresh are highlighted once.
    document.body.addEventListener("htmx:beforeSwap", function (e) {
      if (e.detail.target && e.detail.target.id === "message-list") {
        var seen = {};
        e.detail.target.querySelectorAll("tr.message").forEach(function (tr) { seen[tr.id] = true; });
        document.body.addEventListener("htmx:afterSwap", function mark() {
          document.body.removeEventListener("htmx:afterSwap", mark);
          document.querySelectorAll("#message-list tr.message").forEach(function (tr) {
            if (!seen[tr.id]) { tr.classList.add("fresh"); }
          });
        });
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
