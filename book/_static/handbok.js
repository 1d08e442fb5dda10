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
