// hookscope pages: theme, copy buttons, the live feed, opening requests in
// place, keyboard shortcuts and body views.
// Captured data is hostile: it only ever reaches the page through
// textContent and attribute setters, or as server HTML that askama escaped
// (a detail fetched from the server), never as HTML built here.
"use strict";

// This file loads in <head> without `defer` so that the remembered theme
// applies before the first paint; everything else waits for the document.
(function () {
  const root = document.documentElement;
  root.classList.add("js");
  try {
    const theme = localStorage.getItem("hookscope.theme");
    if (theme === "dark" || theme === "light") root.dataset.theme = theme;
  } catch (_) {
    // Storage can be off (privacy settings): the system theme applies.
  }
})();

document.addEventListener("DOMContentLoaded", function () {
  const root = document.documentElement;
  const body = document.body;

  function stored(key) {
    try { return localStorage.getItem(key); } catch (_) { return null; }
  }
  function store(key, value) {
    try { localStorage.setItem(key, value); } catch (_) { /* not remembered */ }
  }

  // ---- Theme: the system's unless the visitor chose one. ----
  const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");
  const themeButton = document.getElementById("theme-toggle");
  function isDark() {
    return root.dataset.theme ? root.dataset.theme === "dark" : darkQuery.matches;
  }
  function showTheme() {
    if (themeButton) themeButton.setAttribute("aria-pressed", String(isDark()));
  }
  if (themeButton) {
    themeButton.hidden = false;
    showTheme();
    themeButton.addEventListener("click", () => {
      const next = isDark() ? "light" : "dark";
      root.dataset.theme = next;
      store("hookscope.theme", next);
      showTheme();
    });
    darkQuery.addEventListener("change", showTheme);
  }

  // ---- Copy buttons: data-copy names the element whose text or value to
  // copy; data-copy-url, when set, is fetched for the whole text instead.
  async function textToCopy(button) {
    if (button.dataset.copyUrl) {
      const answer = await fetch(button.dataset.copyUrl, { credentials: "same-origin" });
      if (!answer.ok) throw new Error("HTTP " + answer.status);
      return answer.text();
    }
    const source = document.getElementById(button.dataset.copy);
    if (!source) return null;
    return "value" in source ? source.value : source.textContent;
  }
  function copyBySelecting(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    let text;
    try {
      text = await textToCopy(button);
    } catch (_) {
      button.textContent = "Copy failed";
      setTimeout(() => { button.textContent = label; }, 1500);
      return;
    }
    if (text === null) return;
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      // The Clipboard API needs a secure context.
      copyBySelecting(text);
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1200);
  });

  // ---- Times: local time and a relative age that keeps counting; the
  // UTC time stays in the title, and screen readers get one sentence.
  function ageText(ms, long) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return long ? s + (s === 1 ? " second ago" : " seconds ago") : s + " s ago";
    const m = Math.floor(s / 60);
    if (m < 60) return long ? m + (m === 1 ? " minute ago" : " minutes ago") : m + " min ago";
    const h = Math.floor(m / 60);
    if (h < 48) return long ? h + (h === 1 ? " hour ago" : " hours ago") : h + " h ago";
    const d = Math.floor(h / 24);
    return long ? d + " days ago" : d + " d ago";
  }
  function localText(date) {
    const sameDay = date.toDateString() === new Date().toDateString();
    const clock = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    return sameDay ? clock : date.toLocaleDateString() + " " + clock;
  }
  function refreshTime(time) {
    const when = new Date(time.dateTime);
    if (Number.isNaN(when.getTime())) return;
    const ago = Date.now() - when.getTime();
    time.querySelector(".age").textContent = ageText(ago, false);
    time.querySelector(".visually-hidden").textContent =
      "Received " + localText(when) + " local time, " + ageText(ago, true) + " (" + time.title + ")";
  }
  function enhanceTimes(scope) {
    for (const time of scope.querySelectorAll("time[datetime]")) {
      if (time.dataset.local) continue;
      const when = new Date(time.dateTime);
      if (Number.isNaN(when.getTime())) continue;
      time.dataset.local = "1";
      const clock = document.createElement("span");
      clock.className = "clock";
      clock.setAttribute("aria-hidden", "true");
      clock.textContent = localText(when);
      const age = document.createElement("span");
      age.className = "age";
      age.setAttribute("aria-hidden", "true");
      const spoken = document.createElement("span");
      spoken.className = "visually-hidden";
      time.replaceChildren(clock, " ", age, spoken);
      refreshTime(time);
    }
  }
  enhanceTimes(document);
  setInterval(() => {
    for (const time of document.querySelectorAll("time[data-local]")) refreshTime(time);
  }, 1000);

  // ---- Dialogs: the keyboard shortcuts list (Esc closes it natively). ----
  const keysDialog = document.getElementById("keys");
  function showKeys() {
    if (keysDialog && !keysDialog.open) keysDialog.showModal();
  }
  document.addEventListener("click", (event) => {
    const closer = event.target.closest("[data-close]");
    if (closer) document.getElementById(closer.dataset.close)?.close();
    if (event.target.closest("#show-keys")) showKeys();
  });

  const bin = body.dataset.bin;
  if (!bin) return;

  // ---- The dashboard. ----
  const list = document.getElementById("requests");
  const status = document.getElementById("live-status");
  const count = document.getElementById("request-count");
  const noun = document.getElementById("request-noun");
  const follow = document.getElementById("follow");
  const search = document.getElementById("search");
  const onFirstPage = body.dataset.page === "1";
  const params = new URLSearchParams(location.search);
  const pageNumber = body.dataset.page === "search" ? (params.get("page") || "1") : body.dataset.page;
  const query = params.get("q");
  const narrow = window.matchMedia("(max-width: 899px)");

  function setStatus(text, on) {
    status.textContent = text;
    status.className = "status " + (on ? "on" : "off");
  }

  function setCount(n) {
    count.textContent = String(n);
    noun.textContent = n === 1 ? "request" : "requests";
  }

  function detailUrl(id) {
    return "/view/" + encodeURIComponent(bin) + "?page=" + encodeURIComponent(pageNumber)
      + "&r=" + encodeURIComponent(id) + (query ? "&q=" + encodeURIComponent(query) : "");
  }
  function listUrl() {
    return "/view/" + encodeURIComponent(bin) + "?page=" + encodeURIComponent(pageNumber)
      + (query ? "&q=" + encodeURIComponent(query) : "");
  }

  function newestId() {
    const first = list.querySelector("li.req");
    return first ? first.dataset.id : null;
  }

  function span(className, text) {
    const el = document.createElement("span");
    el.className = className;
    el.textContent = text;
    return el;
  }

  // --- Signature verification (issue 15) ---------------------------------
  // The verdict badge of a live row, as the server's list draws it
  // (`signature_badge` in view.html): text and title only, never markup.
  function signatureBadge(sig) {
    const badge = span("badge sig " + (sig.valid ? "sig-valid" : "sig-invalid"),
      sig.valid ? "✔ valid" : "✘ invalid");
    badge.title = sig.provider + ": " + sig.reason;
    return badge;
  }
  // --- end of signature verification --------------------------------------

  // The server sends each live request's row as its own list shows it
  // (`model::ListRow`): this only places that text.
  function row(request, shown) {
    const li = document.createElement("li");
    li.className = "req fresh";
    li.dataset.id = request.uuid;
    const link = document.createElement("a");
    link.href = "/view/" + encodeURIComponent(bin) + "?page=1&r=" + encodeURIComponent(request.uuid);
    const top = span("row-top", "");
    top.append(span("method " + shown.method_class, request.method), " ", span("target mono", shown.target));
    const meta = span("meta", "");
    const time = document.createElement("time");
    time.dateTime = shown.received_iso;
    time.title = shown.received + " UTC";
    time.textContent = shown.received + " UTC";
    meta.append(time, " ", span("badge size", shown.size));
    if (shown.kind) {
      const badge = span("badge kind", shown.kind.name);
      badge.title = shown.kind.content_type;
      meta.append(" ", badge);
    }
    if (shown.signature) meta.append(" ", signatureBadge(shown.signature));
    meta.append(" ", span("ip", shown.ip));
    link.append(top, meta);
    li.append(link);
    enhanceTimes(li);
    return li;
  }

  function add(request, shown) {
    if (list.querySelector('li.req[data-id="' + CSS.escape(request.uuid) + '"]')) return;
    setCount(Number(count.textContent) + 1);
    if (!onFirstPage) return;
    const empty = document.getElementById("empty");
    if (empty) empty.remove();
    // Ids are time-ordered (UUID v7): keep the list newest first.
    let before = list.firstElementChild;
    while (before && before.dataset.id > request.uuid) before = before.nextElementSibling;
    list.insertBefore(row(request, shown), before);
    if (follow && follow.checked) openRequest(request.uuid, { push: true, focus: false });
  }

  // ---- Opening a request in place: the server renders the detail (its
  // HTML is escaped by askama); only the detail section's nodes move over.
  let opening = 0;
  function markSelected(id) {
    for (const li of list.querySelectorAll("li.req")) {
      const on = li.dataset.id === id;
      li.classList.toggle("selected", on);
      const link = li.querySelector("a");
      if (on) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    }
  }
  async function openRequest(id, how) {
    const url = detailUrl(id);
    const ticket = ++opening;
    markSelected(id);
    let html;
    try {
      const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (!answer.ok) throw new Error("HTTP " + answer.status);
      html = await answer.text();
    } catch (_) {
      location.assign(url);
      return;
    }
    if (ticket !== opening) return; // A later choice won.
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("detail");
    const detail = document.getElementById("detail");
    if (!fresh || !detail) { location.assign(url); return; }
    detail.replaceChildren(...[...fresh.childNodes].map((node) => document.importNode(node, true)));
    enhanceDetail(detail);
    body.classList.add("picked");
    if (how.push) history.pushState({ r: id }, "", url);
    if (narrow.matches) {
      // On a phone the detail replaces the list: show its top at once.
      window.scrollTo(0, Math.max(0, detail.getBoundingClientRect().top + window.scrollY - 8));
      detail.focus({ preventScroll: true });
    }
  }

  list.addEventListener("click", (event) => {
    const link = event.target.closest("li.req a");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    openRequest(link.closest("li.req").dataset.id, { push: true, focus: true });
  });

  function showList() {
    body.classList.remove("picked");
    const selected = list.querySelector("li.selected a");
    if (selected) selected.focus();
  }
  document.addEventListener("click", (event) => {
    if (!event.target.closest("#detail a.back") || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    history.pushState({ list: true }, "", listUrl());
    showList();
  });
  window.addEventListener("popstate", () => {
    const id = new URLSearchParams(location.search).get("r");
    if (id) openRequest(id, { push: false, focus: false });
    else showList();
  });

  // ---- Follow newest (remembered). ----
  if (follow) {
    follow.checked = stored("hookscope.follow") === "1";
    follow.addEventListener("change", () => store("hookscope.follow", follow.checked ? "1" : "0"));
  }

  // ---- Keyboard. ----
  function move(step) {
    const rows = [...list.querySelectorAll("li.req")];
    if (!rows.length) return;
    const at = rows.findIndex((li) => li.classList.contains("selected"));
    const next = rows[Math.min(rows.length - 1, Math.max(0, at < 0 ? 0 : at + step))];
    openRequest(next.dataset.id, { push: true, focus: false });
    if (!narrow.matches || !body.classList.contains("picked")) next.querySelector("a").focus();
  }
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (keysDialog && keysDialog.open) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape" && target === search) search.blur();
      return;
    }
    switch (event.key) {
      case "j": case "ArrowDown": move(1); break;
      case "k": case "ArrowUp": move(-1); break;
      case "/": search.focus(); search.select(); break;
      case "?": showKeys(); break;
      default: return;
    }
    event.preventDefault();
  });

  // ---- Body views: a JSON tree, and tabs between the views. ----
  function jsonLine(className, text) {
    const line = document.createElement("div");
    line.className = className;
    line.textContent = text;
    return line;
  }
  function scalar(value) {
    if (value === null) return span("jt-null", "null");
    switch (typeof value) {
      case "string": return span("jt-string", JSON.stringify(value));
      case "number": return span("jt-number", String(value));
      case "boolean": return span("jt-bool", String(value));
      default: return span("jt-null", String(value));
    }
  }
  function jsonNode(value, key, last, depth) {
    const comma = last ? "" : ",";
    const isArray = Array.isArray(value);
    const container = value !== null && typeof value === "object";
    const entries = container ? (isArray ? value.map((v, i) => [null, v, i]) : Object.entries(value).map(([k, v], i) => [k, v, i])) : [];
    if (!container || entries.length === 0) {
      const line = document.createElement("div");
      line.className = "jt-line";
      if (key !== null) line.append(span("jt-key", JSON.stringify(key)), ": ");
      line.append(container ? (isArray ? "[]" : "{}") : scalar(value), comma);
      return line;
    }
    const node = document.createElement("div");
    node.className = "jt-node";
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "jt-toggle";
    if (key !== null) toggle.append(span("jt-key", JSON.stringify(key)), ": ");
    toggle.append(isArray ? "[" : "{");
    const summary = span("jt-summary", " " + entries.length + (isArray ? (entries.length === 1 ? " item " : " items ") : (entries.length === 1 ? " key " : " keys ")) + (isArray ? "]" : "}") + comma);
    const children = document.createElement("div");
    children.className = "jt-children";
    for (const [k, v, i] of entries) children.append(jsonNode(v, k, i === entries.length - 1, depth + 1));
    node.append(toggle, summary, children, jsonLine("jt-close", (isArray ? "]" : "}") + comma));
    const collapsed = depth >= 4;
    node.classList.toggle("collapsed", collapsed);
    toggle.setAttribute("aria-expanded", String(!collapsed));
    return node;
  }
  function jsonTree(pre) {
    let value;
    try { value = JSON.parse(pre.textContent); } catch (_) { return null; }
    const tree = document.createElement("div");
    tree.className = "json-tree mono";
    const tools = document.createElement("div");
    tools.className = "jt-tools";
    for (const [text, open] of [["Expand all", true], ["Collapse all", false]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "small ghost";
      button.textContent = text;
      button.addEventListener("click", () => {
        for (const node of tree.querySelectorAll(".jt-node")) {
          node.classList.toggle("collapsed", !open);
          node.querySelector(".jt-toggle").setAttribute("aria-expanded", String(open));
        }
      });
      tools.append(button);
    }
    tree.append(tools, jsonNode(value, null, true, 0));
    tree.addEventListener("click", (event) => {
      const toggle = event.target.closest(".jt-toggle");
      if (!toggle) return;
      const node = toggle.parentElement;
      const collapsed = node.classList.toggle("collapsed");
      toggle.setAttribute("aria-expanded", String(!collapsed));
    });
    return tree;
  }
  let viewSets = 0;
  function enhanceViews(scope) {
    const views = scope.querySelector(".views");
    if (!views || views.dataset.enhanced) return;
    views.dataset.enhanced = "1";
    const pretty = views.querySelector("pre.body.json");
    if (pretty) {
      const tree = jsonTree(pretty);
      if (tree) {
        const panel = document.createElement("div");
        panel.className = "view";
        panel.dataset.view = "Tree";
        panel.append(tree);
        views.prepend(panel);
      }
    }
    const panels = [...views.querySelectorAll(":scope > .view")];
    if (panels.length < 2) return;
    const set = ++viewSets;
    const tabs = document.createElement("div");
    tabs.className = "tabs";
    tabs.setAttribute("role", "tablist");
    tabs.setAttribute("aria-label", "Body view");
    const buttons = panels.map((panel, i) => {
      const tab = document.createElement("button");
      tab.type = "button";
      tab.id = "view-tab-" + set + "-" + i;
      panel.id = "view-panel-" + set + "-" + i;
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-controls", panel.id);
      tab.textContent = panel.dataset.view;
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", tab.id);
      tabs.append(tab);
      return tab;
    });
    function choose(index) {
      buttons.forEach((tab, i) => {
        const on = i === index;
        tab.setAttribute("aria-selected", String(on));
        tab.tabIndex = on ? 0 : -1;
        panels[i].hidden = !on;
      });
    }
    tabs.addEventListener("click", (event) => {
      const at = buttons.indexOf(event.target.closest("[role=tab]"));
      if (at >= 0) choose(at);
    });
    tabs.addEventListener("keydown", (event) => {
      const at = buttons.indexOf(document.activeElement);
      if (at < 0) return;
      let next = null;
      if (event.key === "ArrowRight") next = (at + 1) % buttons.length;
      else if (event.key === "ArrowLeft") next = (at - 1 + buttons.length) % buttons.length;
      if (next === null) return;
      event.preventDefault();
      event.stopPropagation();
      choose(next);
      buttons[next].focus();
    });
    views.classList.add("tabbed");
    views.prepend(tabs);
    choose(0);
    views.chooseView = (name) => {
      const at = panels.findIndex((p) => p.dataset.view === name);
      if (at >= 0) choose(at);
    };
  }
  function enhanceShowAll(scope) {
    for (const link of scope.querySelectorAll("a.show-all")) {
      link.addEventListener("click", async (event) => {
        event.preventDefault();
        const target = document.getElementById(link.dataset.target);
        if (!target) return;
        link.textContent = "Loading…";
        try {
          const answer = await fetch(link.href, { credentials: "same-origin" });
          if (!answer.ok) throw new Error("HTTP " + answer.status);
          target.textContent = await answer.text();
          target.classList.add("all");
          const views = target.closest(".views");
          if (views && views.chooseView) views.chooseView(target.closest(".view").dataset.view);
          link.replaceWith(span("hint", "Showing the whole body"));
        } catch (_) {
          location.assign(link.href);
        }
      });
    }
  }
  function enhanceDetail(scope) {
    enhanceTimes(scope);
    enhanceViews(scope);
    enhanceShowAll(scope);
  }
  enhanceDetail(document.getElementById("detail"));

  // ---- The live feed. ----
  // Sorts before every request id (UUID v7).
  const NIL_ID = "00000000-0000-0000-0000-000000000000";
  let delay = 500;
  function connect() {
    setStatus("connecting", false);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    // On the first page, ask for everything after the newest request shown
    // (after the nil id, i.e. everything, when none is shown yet): nothing
    // that landed between page load and (re)connect is missed.
    const after = onFirstPage ? (newestId() || NIL_ID) : null;
    const url = scheme + "//" + location.host + "/live/" + encodeURIComponent(bin)
      + (after ? "?after=" + encodeURIComponent(after) : "");
    const socket = new WebSocket(url);
    socket.addEventListener("open", () => { delay = 500; setStatus("live", true); });
    socket.addEventListener("message", (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (_) { return; }
      if (message.type === "request") add(message.request, message.row);
      else if (message.type === "lagged") location.reload();
    });
    socket.addEventListener("close", () => {
      setStatus("disconnected", false);
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    });
  }
  connect();
});

// ---- Compare two requests (the list's checkboxes and its GET form):
// the button works at exactly two ticked rows, and rows that arrive live
// get a checkbox too, leaving the ticked ones as they are.
document.addEventListener("DOMContentLoaded", function () {
  const form = document.getElementById("compare");
  const list = document.getElementById("requests");
  if (!form || !list) return;
  const button = form.querySelector("button");
  const hint = document.getElementById("compare-hint");
  function update() {
    const ticked = list.querySelectorAll("input.pick:checked").length;
    button.disabled = ticked !== 2;
    hint.textContent = ticked === 2 ? "older as A, newer as B" : ticked + " of 2 ticked";
  }
  function addBox(li) {
    if (li.querySelector("input.pick")) return;
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "pick";
    box.name = "id";
    box.value = li.dataset.id;
    box.setAttribute("form", "compare");
    const link = li.querySelector("a .row-top");
    box.setAttribute("aria-label", "Compare " + (link ? link.textContent : li.dataset.id));
    li.prepend(box);
  }
  list.addEventListener("change", (event) => {
    if (event.target.matches("input.pick")) update();
  });
  new MutationObserver(() => {
    for (const li of list.querySelectorAll("li.req")) addBox(li);
    update();
  }).observe(list, { childList: true });
  // Back and forward restore ticks without a change event.
  window.addEventListener("pageshow", update);
  update();
});
