// mediawatch dashboard: live queue, shortcuts and small comforts. Every
// action also works without this script (plain forms and links); nothing
// here builds HTML from data: rows arrive rendered and escaped by the
// server's templates.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  // The language and zone switch submits itself.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });

  var queue = document.getElementById("queue");
  if (queue) {
    setupQueue(queue);
  }
  setupKeys();

  function setupQueue(table) {
    var tbody = table.tBodies[0];
    var all = document.getElementById("select-all");
    if (all) {
      all.addEventListener("change", function () {
        tbody.querySelectorAll("input[name=id]:not([disabled])").forEach(function (cb) { cb.checked = all.checked; });
      });
    }
    // A click anywhere on a row opens the alert, except on its controls.
    tbody.addEventListener("click", function (ev) {
      if (ev.target.closest("a, input, button, label")) { return; }
      var tr = ev.target.closest("tr[data-href]");
      if (tr) { window.location.href = tr.dataset.href; }
    });

    var status = document.getElementById("live-status");
    var from = table.dataset.liveFrom;
    if (!window.EventSource || !from) { return; }
    var url = "/events?" + (table.dataset.liveQuery ? table.dataset.liveQuery + "&" : "") + "from=" + encodeURIComponent(from);
    var es = new EventSource(url);
    es.addEventListener("open", function () { setStatus(status, "live"); });
    es.addEventListener("error", function () { setStatus(status, "offline"); });
    es.addEventListener("alert", function (ev) {
      var msg = JSON.parse(ev.data);
      var tpl = document.createElement("template");
      tpl.innerHTML = msg.html.trim(); // server-rendered, escaped by html/template
      var row = tpl.content.firstElementChild;
      if (!row || row.tagName !== "TR") { return; }
      row.classList.add("fresh");
      var old = tbody.querySelector("tr[data-id=\"" + CSS.escape(msg.id) + "\"]");
      if (old) { old.remove(); }
      tbody.insertBefore(row, tbody.firstElementChild);
      var empty = document.getElementById("empty");
      if (empty) { empty.remove(); }
      announce(status, row);
    });
    es.addEventListener("status", function (ev) {
      var msg = JSON.parse(ev.data);
      var tr = tbody.querySelector("tr[data-id=\"" + CSS.escape(msg.id) + "\"]");
      if (!tr) { return; }
      if (msg.leaves) { tr.remove(); return; }
      tr.className = tr.className.replace(/\bst-[a-z_]+/, "st-" + msg.status);
      var cell = tr.querySelector("[data-status]");
      if (cell) { cell.textContent = msg.label; }
      var cb = tr.querySelector("input[name=id]");
      if (cb && msg.status !== "new") { cb.checked = false; cb.disabled = true; }
    });
  }

  function setStatus(el, state) {
    if (!el) { return; }
    el.dataset.state = state;
    el.textContent = el.dataset[state] || "";
  }

  function announce(el, row) {
    if (!el) { return; }
    var what = row.querySelector(".open");
    el.textContent = (el.dataset.fresh || "") + " " + (what ? what.textContent : "");
  }

  // Keyboard: j/k move through the queue, Enter or o opens, x ticks,
  // / goes to search, a acknowledges on an alert's page.
  function setupKeys() {
    var current = -1;
    document.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
      var t = ev.target;
      if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) { return; }
      var rows = queue ? Array.prototype.slice.call(queue.tBodies[0].rows) : [];
      switch (ev.key) {
        case "j": case "k":
          if (!rows.length) { return; }
          current = Math.max(0, Math.min(rows.length - 1, current + (ev.key === "j" ? 1 : -1)));
          rows.forEach(function (r, i) { r.classList.toggle("focused", i === current); });
          var link = rows[current].querySelector("a.open");
          if (link) { link.focus(); }
          ev.preventDefault();
          break;
        case "x":
          if (rows[current]) {
            var cb = rows[current].querySelector("input[name=id]:not([disabled])");
            if (cb) { cb.checked = !cb.checked; }
          }
          break;
        case "o":
          if (rows[current]) { window.location.href = rows[current].dataset.href; }
          break;
        case "/":
          var q = document.querySelector("[data-key='/']");
          if (q) { q.focus(); } else { window.location.href = "/search"; }
          ev.preventDefault();
          break;
        case "a":
          var ack = document.querySelector("button[data-key=a]");
          if (ack) { ack.click(); }
          break;
      }
    });
  }
})();
