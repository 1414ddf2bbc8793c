// hookscope dashboard: copy buttons and the live feed.
// Captured data is hostile: it only ever reaches the page through
// textContent and attribute setters, never as HTML.
"use strict";

(function () {
  const body = document.body;

  // Copy buttons: data-copy names the element whose text or value to copy.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      const text = "value" in source ? source.value : source.textContent;
      try {
        await navigator.clipboard.writeText(text);
      } catch (_) {
        // Clipboard API needs a secure context; fall back to selecting.
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        if (source.select) source.select();
        document.execCommand("copy");
      }
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = label; }, 1200);
    });
  }

  const bin = body.dataset.bin;
  if (!bin) return;
  const list = document.getElementById("requests");
  const status = document.getElementById("live-status");
  const count = document.getElementById("request-count");
  const onFirstPage = body.dataset.page === "1";

  function setStatus(text, on) {
    status.textContent = text;
    status.className = "status " + (on ? "on" : "off");
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

  function sizeText(bytes) {
    if (bytes < 1024) return bytes + " B";
    const units = ["KiB", "MiB", "GiB"];
    let size = bytes / 1024;
    let unit = 0;
    while (size >= 1024 && unit < units.length - 1) { size /= 1024; unit += 1; }
    return size.toFixed(1) + " " + units[unit];
  }

  function row(request) {
    const li = document.createElement("li");
    li.className = "req fresh";
    li.dataset.id = request.uuid;
    const link = document.createElement("a");
    link.href = "/view/" + encodeURIComponent(bin) + "?page=1&r=" + encodeURIComponent(request.uuid);
    const method = span("method", request.method);
    method.classList.add("m-" + String(request.method).toLowerCase().replace(/[^a-z]/g, ""));
    // Below the bin: "/{bin}/a/b" shows as "/a/b", like the server's list.
    const path = String(request.path).replace(/^\/[^/]*/, "") || "/";
    const target = request.query_string === null || request.query_string === undefined
      ? path : path + "?" + request.query_string;
    const meta = document.createElement("span");
    meta.className = "meta";
    const time = document.createElement("time");
    time.dateTime = request.created_at.replace(" ", "T") + "Z";
    time.textContent = request.created_at;
    meta.append(time, " · " + sizeText(request.size) + " · " + request.ip);
    link.append(method, " ", span("target mono", target), " ", meta);
    li.append(link);
    return li;
  }

  function add(request) {
    if (list.querySelector('li.req[data-id="' + CSS.escape(request.uuid) + '"]')) return;
    count.textContent = String(Number(count.textContent) + 1);
    if (!onFirstPage) return;
    const empty = document.getElementById("empty");
    if (empty) empty.remove();
    // Ids are time-ordered (UUID v7): keep the list newest first.
    let before = list.firstElementChild;
    while (before && before.dataset.id > request.uuid) before = before.nextElementSibling;
    list.insertBefore(row(request), before);
  }

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
      if (message.type === "request") add(message.request);
      else if (message.type === "lagged") location.reload();
    });
    socket.addEventListener("close", () => {
      setStatus("disconnected", false);
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    });
  }
  connect();
})();
