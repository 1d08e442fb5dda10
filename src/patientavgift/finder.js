/* Avgiftsguiden: walks the decision tree that the book build wrote into the page (the JSON in
 * #ag-tree). It holds no rules: every question, answer and outcome comes from the tree. */
(function () {
  "use strict";
  var root = document.getElementById("ag-guide");
  var source = document.getElementById("ag-tree");
  if (!root || !source) return;
  var data = JSON.parse(source.textContent);
  var T = data.terms;
  var state = { region: data.regions[0].id, service: "", date: "", proposal: "", answers: {}, order: [] };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }
  function cap(text) { return text.charAt(0).toUpperCase() + text.slice(1); }
  function region() { return data.regions.filter(function (r) { return r.id === state.region; })[0]; }
  function validDate(text) {
    if (!/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(text)) return false;
    var d = new Date(text + "T00:00:00Z");
    return !isNaN(d.getTime()) && d.toISOString().slice(0, 10) === text;
  }
  function segment() {
    if (!validDate(state.date)) return null;
    var segs = region().segments;
    for (var i = 0; i < segs.length; i++) {
      if (segs[i].from <= state.date && state.date <= segs[i].to) return segs[i];
    }
    return null;
  }
  function dated(text) { return text === null ? "" : String(text).split(data.date_mark).join(state.date); }
  function cite(parts) {
    var span = el("span", { "class": "pa-guide-cite" });
    parts.forEach(function (part, i) {
      if (i % 2 === 0) { span.appendChild(document.createTextNode(part)); return; }
      span.appendChild(document.createTextNode("["));
      span.appendChild(el("a", { href: data.sources_page + "#kalla-" + part, text: part }));
      span.appendChild(document.createTextNode("]"));
    });
    return span;
  }

  /* ---------------------------------------------------------------- the form */
  var form = el("form", { "class": "pa-guide-form", novalidate: "novalidate" });
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  var regionSelect = el("select", { id: "ag-region" });
  data.regions.forEach(function (r) { regionSelect.appendChild(el("option", { value: r.id, text: r.label })); });
  var serviceSelect = el("select", { id: "ag-service" });
  var first = data.regions.map(function (r) { return r.segments[0].from; }).sort()[0];
  var last = data.regions.map(function (r) { return r.segments[r.segments.length - 1].to; }).sort().pop();
  var dateInput = el("input", { id: "ag-date", type: "text", pattern: "[0-9]{4}-[0-9]{2}-[0-9]{2}", placeholder: "ÅÅÅÅ-MM-DD", autocomplete: "off", size: "10", "aria-describedby": "ag-date-help" });
  var today = new Date();
  var iso = new Date(today.getTime() - today.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
  dateInput.value = iso < first ? first : iso > last ? last : iso;
  var proposalBox = el("div", { "class": "pa-guide-proposal" });
  form.appendChild(el("div", { "class": "pa-guide-field" }, [el("label", { "for": "ag-region", text: cap(T.region) }), regionSelect]));
  form.appendChild(el("div", { "class": "pa-guide-field" }, [el("label", { "for": "ag-service", text: cap(T.service) }), serviceSelect]));
  form.appendChild(el("div", { "class": "pa-guide-field" }, [el("label", { "for": "ag-date", text: cap(T.date) }), dateInput,
    el("small", { id: "ag-date-help", text: "ÅÅÅÅ-MM-DD, från " + first + " till " + last })]));
  form.appendChild(proposalBox);
  var restartButton = el("button", { type: "button", id: "ag-restart", text: "Börja om" });
  form.appendChild(restartButton);
  var questions = el("div", { "class": "pa-guide-questions" });
  var result = el("div", { "class": "pa-guide-outcome", "aria-live": "polite" });
  root.appendChild(form);
  root.appendChild(questions);
  root.appendChild(result);

  function fillServices() {
    var keep = state.service;
    serviceSelect.textContent = "";
    region().services.forEach(function (s) { serviceSelect.appendChild(el("option", { value: s.id, text: s.label })); });
    var ids = region().services.map(function (s) { return s.id; });
    state.service = ids.indexOf(keep) >= 0 ? keep : ids[0];
    serviceSelect.value = state.service;
  }
  function fillProposals(seg) {
    var ids = seg ? Object.keys(seg.roots[state.service]).filter(function (p) { return p; }) : [];
    proposalBox.textContent = "";
    if (ids.indexOf(state.proposal) < 0) state.proposal = "";
    if (!ids.length) return;
    var select = el("select", { id: "ag-proposal" });
    select.appendChild(el("option", { value: "", text: "gällande regler (inga förslag)" }));
    ids.forEach(function (p) {
      var info = data.proposals[p];
      select.appendChild(el("option", { value: p, text: info.status + ": " + info.label + " (" + p + ")" }));
    });
    select.value = state.proposal;
    select.addEventListener("change", function () { state.proposal = select.value; render(); });
    proposalBox.appendChild(el("div", { "class": "pa-guide-field" }, [el("label", { "for": "ag-proposal", text: "Visa utfallet enligt" }), select]));
  }

  /* ---------------------------------------------------------------- walking the tree */
  function forget(key) {
    var at = state.order.indexOf(key);
    state.order.slice(at).forEach(function (k) { delete state.answers[k]; });
    state.order = state.order.slice(0, at);
  }
  function answer(key, value) {
    if (state.order.indexOf(key) < 0) state.order.push(key);
    state.answers[key] = value;
    render(true);
  }
  function factLabel(key) { return data.facts[key].label; }
  function valueLabel(key, value) { return data.facts[key].values[value]; }

  function render(moveFocus) {
    questions.textContent = "";
    result.textContent = "";
    var seg = segment();
    fillProposals(seg);
    if (!seg) {
      var segs = region().segments;
      result.appendChild(el("p", { "class": "pa-guide-note", role: "status", text: "Skriv ett " + T.date + " (ÅÅÅÅ-MM-DD) från " + segs[0].from + " till " + segs[segs.length - 1].to + "." }));
      return;
    }
    var node = data.nodes[seg.roots[state.service][state.proposal]];
    var given = el("ol", { "class": "pa-guide-given" });
    var focus = null;
    while (node.q !== undefined) {
      var key = node.q;
      var options = node.a;
      var chosen = options.filter(function (o) { return o[0] === state.answers[key]; })[0];
      if (options.length === 1) {
        given.appendChild(el("li", {}, [factLabel(key) + ": " + valueLabel(key, options[0][0]) + " (följer av svaren)"]));
        node = data.nodes[options[0][1]];
        continue;
      }
      if (chosen) {
        var change = el("button", { type: "button", "class": "pa-guide-change", "aria-label": "Ändra " + factLabel(key), text: "Ändra" });
        change.addEventListener("click", (function (k) { return function () { forget(k); render(true); }; })(key));
        given.appendChild(el("li", {}, [el("span", { text: cap(factLabel(key)) + ": " + valueLabel(key, chosen[0]) + " " }), change]));
        node = data.nodes[chosen[1]];
        continue;
      }
      var fieldset = el("fieldset", { "class": "pa-guide-question", "data-fact": key }, [el("legend", { text: cap(factLabel(key)) + "?" })]);
      var buttons = el("div", { "class": "pa-guide-answers" });
      options.forEach(function (o) {
        var b = el("button", { type: "button", "data-value": o[0], text: valueLabel(key, o[0]) });
        b.addEventListener("click", function () { answer(key, o[0]); });
        buttons.appendChild(b);
      });
      fieldset.appendChild(buttons);
      if (given.childNodes.length) questions.appendChild(given);
      questions.appendChild(fieldset);
      if (moveFocus) buttons.firstChild.focus();
      return;
    }
    if (given.childNodes.length) questions.appendChild(given);
    showOutcome(data.outcomes[node.o], seg);
    if (moveFocus) result.querySelector("h3").focus();
  }

  function row(dl, term, value) {
    if (value === null || value === undefined || value === "") return;
    dl.appendChild(el("dt", { text: cap(term) }));
    dl.appendChild(el("dd", {}, [typeof value === "string" ? value : value]));
  }
  function yes(v) { return v === null ? null : v ? "ja" : "nej"; }

  function showOutcome(o, seg) {
    var open = o.fee === null;
    result.appendChild(el("h3", { tabindex: "-1", text: "Utfall" }));
    var dl = el("dl", { "class": "pa-guide-result" + (open ? " pa-guide-open" : "") });
    row(dl, T.fee, open ? el("em", { text: T.undetermined }) : o.fee_text);
    row(dl, T.list_fee, o.list_fee_text);
    row(dl, T.qualified, yes(o.qualified));
    row(dl, T.registration, o.registration);
    row(dl, T.contact_points, o.points);
    row(dl, T.category, o.category);
    if (o.age !== null) row(dl, T.age, "räknat med " + o.age + " år (" + valueLabel("age", state.answers.age) + ")");
    row(dl, "säkerhet", o.confidence);
    result.appendChild(dl);
    if (o.reasons.length) {
      result.appendChild(el("p", { "class": "pa-guide-why", text: (open ? "Varför avgiften är " + T.undetermined + ":" : "Att notera:") }));
      result.appendChild(el("ul", {}, o.reasons.map(function (r) { return el("li", { text: dated(r) }); })));
    }
    if (o.notes.length) {
      result.appendChild(el("p", { text: "Varför säkerheten är " + o.confidence + ":" }));
      result.appendChild(el("ul", {}, o.notes.map(function (n) { return el("li", { text: dated(n) }); })));
    }
    var c = seg.ceiling;
    var ceiling = el("p", { "class": "pa-guide-ceiling" }, [cap(T.ceiling) + " den " + state.date + ": "]);
    if (c.amount === null) ceiling.appendChild(document.createTextNode(T.undetermined + ". " + dated(c.reason) + " "));
    else {
      ceiling.appendChild(el("strong", { text: c.amount_text }));
      ceiling.appendChild(document.createTextNode(" (" + c.text + "; " + c.confidence + "). "));
      ceiling.appendChild(cite(c.cite));
      ceiling.appendChild(document.createTextNode(" "));
    }
    ceiling.appendChild(el("a", { href: data.ceiling_page, text: "Om högkostnadsskyddet" }));
    result.appendChild(ceiling);
    result.appendChild(el("h4", { text: "Regelkedja" }));
    result.appendChild(el("ol", { "class": "pa-guide-trace" }, o.trace.map(function (i) {
      var s = data.steps[i];
      var li = el("li", {}, [dated(s[0])]);
      if (s[2]) li.appendChild(document.createTextNode(" [" + s[2] + "]"));
      if (s[1].join("")) { li.appendChild(el("br")); li.appendChild(cite(s[1])); }
      if (s[3]) { li.appendChild(el("br")); li.appendChild(el("small", { text: dated(s[3]) })); }
      return li;
    })));
  }

  /* ---------------------------------------------------------------- events */
  function restart() { state.answers = {}; state.order = []; }
  restartButton.addEventListener("click", function () { restart(); render(true); });
  regionSelect.addEventListener("change", function () { state.region = regionSelect.value; restart(); fillServices(); render(); });
  serviceSelect.addEventListener("change", function () { state.service = serviceSelect.value; render(); });
  function onDate() { state.date = dateInput.value; render(); }
  dateInput.addEventListener("change", onDate);
  dateInput.addEventListener("input", onDate);
  state.date = dateInput.value;
  fillServices();
  render();
})();
