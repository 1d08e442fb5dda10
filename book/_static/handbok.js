// Swedish for the few theme labels that are written into its templates in English, and worked
// cases printed expanded.
(function () {
  "use strict";
  var LABELS = {
    "Toggle primary sidebar": "Visa eller dölj innehållsförteckningen",
    "Toggle secondary sidebar": "Visa eller dölj sidans rubriker",
    "Main": "Kapitel",
    "Page": "Sidans rubriker",
    "Site navigation": "Navigering på webbplatsen",
    "Search": "Sök",
    "Search this book...": "Sök i handboken …",
    "Color mode": "Färgläge",
    "Light": "Ljust",
    "Dark": "Mörkt",
    "System Settings": "Systemets inställning",
    "previous page": "föregående sida",
    "next page": "nästa sida",
    "Index": "Register",
    "Version warning": "Versionsvarning",
    "Copy": "Kopiera",
    "Copied!": "Kopierat!",
    "Copy to clipboard": "Kopiera",
    "Clear search": "Töm sökningen"
  };
  var ATTRS = ["title", "aria-label", "placeholder", "data-bs-title", "data-bs-original-title", "data-tooltip"];

  function translate(root) {
    ATTRS.forEach(function (attr) {
      root.querySelectorAll("[" + attr + "]").forEach(function (el) {
        var value = el.getAttribute(attr);
        if (Object.prototype.hasOwnProperty.call(LABELS, value)) el.setAttribute(attr, LABELS[value]);
      });
    });
  }

  // A button's accessible name must contain the text it shows (the search field shows "Sök Ctrl+K").
  function nameFromText(root) {
    // The colour-mode button's icons carry their own titles; the button's label names it.
    root.querySelectorAll(".theme-switch-button i[title]").forEach(function (icon) {
      icon.setAttribute("aria-hidden", "true");
      icon.removeAttribute("title");
    });
    // Wide tables scroll inside their box; the box takes keyboard focus so it can be scrolled without a mouse.
    root.querySelectorAll(".pa-table-wrap:not([tabindex])").forEach(function (el) {
      el.setAttribute("tabindex", "0");
      el.setAttribute("role", "region");
      el.setAttribute("aria-label", "Tabell");
    });
    root.querySelectorAll(".search-button-field, details > summary[aria-label]").forEach(function (el) {
      var shown = (el.innerText || "").replace(/\s+/g, " ").trim();
      var name = el.getAttribute("aria-label") || "";
      if (shown && name.indexOf(shown) === -1) el.setAttribute("aria-label", shown);
    });
  }

  var opened = [];
  function expandForPrint() {
    document.querySelectorAll("details:not([open])").forEach(function (d) {
      d.setAttribute("open", "");
      opened.push(d);
    });
  }
  function restoreAfterPrint() {
    opened.forEach(function (d) { d.removeAttribute("open"); });
    opened = [];
  }

  document.addEventListener("DOMContentLoaded", function () {
    translate(document);
    nameFromText(document);
    // Tooltips and the copy button are added after loading; translate what they add as well.
    new MutationObserver(function (records) {
      records.forEach(function (r) {
        if (r.type === "attributes") translate(r.target.parentNode || document);
        r.addedNodes.forEach(function (n) { if (n.nodeType === 1) translate(n.parentNode || n); });
      });
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ATTRS });
  });
  window.addEventListener("beforeprint", expandForPrint);
  window.addEventListener("afterprint", restoreAfterPrint);
})();
