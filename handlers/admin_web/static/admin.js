/* botrunner admin panel: fills the server-rendered pages from the JSON API under /admin/api/.
 *
 * Rules this file keeps: every request is same-origin with the session cookie; every change sends
 * the session's X-CSRF-Token (from GET /admin/api/me); data is put on the page with textContent only
 * (never innerHTML); every change asks for confirmation first; lists page with the API's keyset
 * `next` cursor. No library, no build step: plain ES5-compatible JavaScript.
 */
(function () {
  "use strict";

  var API = "/admin/api";
  var RANK = {viewer: 0, moderator: 1, admin: 2, super_admin: 3};
  var body = document.body;
  var TEXTS = JSON.parse(body.dataset.texts || "{}");
  var me = {role: body.dataset.role || "viewer", csrf: ""};

  // ---- texts, formatting, elements

  function t(key, values) {
    var text = TEXTS[key] || key;
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(String(values[name])); });
    return text;
  }

  function byId(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function link(href, text, className) {
    var a = el("a", className, text);
    a.href = href;
    return a;
  }

  function fmtNumber(value) {
    if (value === null || value === undefined || value === "") return "—";
    return typeof value === "number" ? value.toLocaleString(document.documentElement.lang) : String(value);
  }

  function fmtTime(value) {
    if (value === null || value === undefined || value === "") return "—";
    var date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    if (isNaN(date.getTime())) return String(value);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " +
      pad(date.getHours()) + ":" + pad(date.getMinutes());
  }

  function fmtValue(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "boolean") return value ? t("yes") : t("no");
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function badge(text, kind) { return el("span", "badge " + (kind || ""), text); }

  function cell(content, className) {
    var td = el("td", className);
    if (content instanceof Node) td.appendChild(content); else td.textContent = content === undefined ? "" : content;
    return td;
  }

  function row(cells) {
    var tr = el("tr");
    cells.forEach(function (c) { tr.appendChild(c instanceof HTMLTableCellElement ? c : cell(c)); });
    return tr;
  }

  function first(item, names) {
    for (var i = 0; i < names.length; i++) if (item[names[i]] !== undefined && item[names[i]] !== null) return item[names[i]];
    return undefined;
  }

  function can(role) { return (RANK[me.role] || 0) >= RANK[role]; }

  function userLink(id) { return id ? link("/admin/users/" + id, String(id)) : "—"; }

  function userName(user) {
    var name = [user.first_name, user.last_name].filter(Boolean).join(" ");
    return user.username ? (name ? name + " · @" + user.username : "@" + user.username) : (name || "—");
  }

  // ---- the API

  function ApiError(status, data) {
    this.status = status;
    this.reason = (data && data.error) || ("HTTP " + status);
    this.field = data && data.field;
  }

  function query(path, params) {
    var search = new URLSearchParams();
    Object.keys(params || {}).forEach(function (key) {
      if (params[key] !== null && params[key] !== undefined && params[key] !== "") search.set(key, params[key]);
    });
    var text = search.toString();
    return text ? path + "?" + text : path;
  }

  function api(method, path, payload, extra) {
    var headers = Object.assign({"Accept": "application/json"}, extra || {});
    var init = {method: method, credentials: "same-origin", headers: headers, cache: "no-store"};
    if (method !== "GET") {
      headers["X-CSRF-Token"] = me.csrf;
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload || {});
    }
    return fetch(API + path, init).then(function (response) {
      if (response.status === 401) { location.assign("/admin/login"); }
      return response.json().catch(function () { return null; }).then(function (data) {
        if (!response.ok || !data || data.ok !== true) throw new ApiError(response.status, data);
        return data;
      });
    });
  }

  // ---- feedback: the flash line and the confirmation dialog

  var flashTimer = null;

  function flash(text, kind) {
    var node = byId("flash");
    node.textContent = text;
    node.dataset.kind = kind || "ok";
    node.hidden = false;
    clearTimeout(flashTimer);
    if (kind !== "error") flashTimer = setTimeout(function () { node.hidden = true; }, 6000);
  }

  function clearFlash() {
    var node = byId("flash");
    node.hidden = true;
    node.textContent = "";
  }

  function failed(error) {
    var reason = error instanceof ApiError ? error.reason : String(error && error.message || error);
    flash(t("error", {reason: reason}), "error");
    throw error;
  }

  function quiet(error) { try { failed(error); } catch (ignored) { /* shown in the flash line */ } }

  /* Ask before a change: `fields` (optional) are inputs shown in the dialog; resolves with their
   * values, or null when the admin cancels. Nothing is sent before the admin confirms. */
  function ask(message, fields) {
    var dialog = byId("ask"), box = byId("ask-fields"), error = byId("ask-error");
    byId("ask-text").textContent = message;
    box.textContent = "";
    error.hidden = true;
    var inputs = (fields || []).map(function (field) {
      var label = el("label", null, field.label + " ");
      var input = el(field.type === "textarea" ? "textarea" : "input");
      input.name = field.name;
      if (field.type !== "textarea") input.type = field.type || "text";
      if (field.value !== undefined) input.value = field.value;
      input.required = !!field.required;
      label.appendChild(input);
      box.appendChild(label);
      return input;
    });
    return new Promise(function (resolve) {
      var ok = byId("ask-ok"), cancel = byId("ask-cancel");
      function done(result) {
        ok.removeEventListener("click", onOk);
        cancel.removeEventListener("click", onCancel);
        dialog.removeEventListener("cancel", onCancel);
        dialog.close();
        resolve(result);
      }
      function onOk() {
        var values = {};
        for (var i = 0; i < inputs.length; i++) {
          if (inputs[i].required && !inputs[i].value.trim()) {
            error.textContent = t("required");
            error.hidden = false;
            inputs[i].focus();
            return;
          }
          values[inputs[i].name] = inputs[i].value.trim();
        }
        done(values);
      }
      function onCancel(event) { if (event) event.preventDefault(); done(null); }
      ok.addEventListener("click", onOk);
      cancel.addEventListener("click", onCancel);
      dialog.addEventListener("cancel", onCancel);
      dialog.showModal();
      (inputs[0] || ok).focus();
    });
  }

  /* Confirm, then send; flash the outcome and run `after` on success. */
  function act(message, fields, send, after) {
    return ask(message, fields).then(function (values) {
      if (values === null) return null;
      clearFlash();
      return send(values).then(function (data) {
        flash(t("done"));
        if (after) after(data);
        return data;
      }).catch(quiet);
    });
  }

  // ---- paginated tables

  /* A table whose rows come from `load(after)` ({items, next}); the button after it loads the next page. */
  function Pager(tableId, load, render) {
    var table = byId(tableId), tbody = table.tBodies[0];
    var wrap = table.closest(".table-wrap") || table;
    var empty = wrap.nextElementSibling, more = empty && empty.nextElementSibling;
    if (more && !more.classList.contains("more")) more = null;
    var next = null, count = 0, generation = 0;
    function page(after) {
      var mine = generation;
      return load(after).then(function (data) {
        if (mine !== generation) return;
        (data.items || []).forEach(function (item) { tbody.appendChild(labelled(table, render(item))); count++; });
        next = data.next || null;
        if (more) more.hidden = !next;
        if (empty) empty.hidden = count > 0;
        if (wrap !== table) wrap.hidden = count === 0;       // no bare header row over "nothing here"
      }).catch(quiet);
    }
    if (more) more.addEventListener("click", function () { if (next) page(next); });
    return {
      reload: function () { generation++; tbody.textContent = ""; count = 0; return page(null); },
      page: page
    };
  }

  /* Each cell carries its column's name, which phones show in front of it (rows become cards there). */
  function labelled(table, tr) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(tr.cells, function (td, i) { if (heads[i]) td.dataset.label = heads[i].textContent; });
    return tr;
  }

  // the page size: the API's default, or ?limit= on the page's address (1..200)
  var LIMIT = new URLSearchParams(location.search).get("limit");

  function listFrom(path, params) {
    return function (after) {
      return api("GET", query(path, Object.assign({after: after, limit: LIMIT}, params ? params() : {})));
    };
  }

  // ---- screens

  var screens = {};

  screens.dashboard = function () {
    function refresh() {
      api("GET", "/stats").then(function (data) {
        document.querySelectorAll("[data-stat]").forEach(function (node) {
          var value = node.dataset.stat.split(".").reduce(function (obj, key) { return obj ? obj[key] : undefined; }, data);
          node.textContent = fmtNumber(value);
        });
      }).catch(quiet);
    }
    refresh();
    setInterval(refresh, 15000);
  };

  screens.users = function () {
    var search = byId("q");
    search.value = new URLSearchParams(location.search).get("q") || "";
    var pager = Pager("users", listFrom("/users", function () { return {q: search.value.trim()}; }), function (user) {
      var status = el("span", "badges");
      if (user.verified) status.appendChild(badge(t("verified"), "ok"));
      if (user.banned) status.appendChild(badge(t("banned"), "bad"));
      if (user.blocked_bot) status.appendChild(badge(t("blocked_bot"), "warn"));
      return row([cell(userLink(user.id)), cell(link("/admin/users/" + user.id, userName(user))),
                  cell(fmtNumber(user.points), "num"), cell(fmtNumber(user.referrals), "num"), cell(status),
                  cell(fmtTime(user.last_active), "wide")]);
    });
    byId("search").addEventListener("submit", function (event) {
      event.preventDefault();
      history.replaceState(null, "", query(location.pathname, {q: search.value.trim()}));
      pager.reload();
    });
    pager.reload();
  };

  screens.user = function () {
    var id = body.dataset.target, path = "/users/" + id, state = {};
    function load(params) { return api("GET", query(path, params || {})); }
    function fill(user) {
      var values = Object.assign({}, user, {name: [user.first_name, user.last_name].filter(Boolean).join(" "),
        username: user.username ? "@" + user.username : "", flags: (user.flags || []).join(", "),
        registered_at: fmtTime(user.registered_at), last_active: fmtTime(user.last_active),
        banned: user.banned ? (user.banned_until ? t("banned_until", {until: fmtTime(user.banned_until)}) : t("banned_forever")) +
          (user.ban_reason ? " · " + user.ban_reason : "") : t("no")});
      document.querySelectorAll("[data-field]").forEach(function (node) {
        var key = node.dataset.field, value = values[key];
        node.textContent = "";
        if (key === "referred_by" && value) node.appendChild(userLink(value));
        else if (key === "id") node.textContent = String(value);
        else node.textContent = typeof value === "number" ? fmtNumber(value) : fmtValue(value === "" ? null : value);
      });
      byId("user-title").textContent = userName(user);
    }
    var ledger = Pager("ledger", function (after) {
      return after ? load({ledger_after: after}).then(function (d) { return d.ledger; }) : Promise.resolve(state.ledger);
    }, function (entry) {
      return row([fmtTime(entry.at), entry.kind, cell((entry.amount > 0 ? "+" : "") + fmtNumber(entry.amount), "num"),
                  cell(fmtNumber(entry.balance), "num"), cell(fmtValue(entry.reference), "wide")]);
    });
    var referrals = Pager("referrals", function (after) {
      return after ? load({referrals_after: after}).then(function (d) { return d.referrals; }) : Promise.resolve(state.referrals);
    }, function (ref) { return row([cell(userLink(ref.id)), ref.username ? "@" + ref.username : "—", fmtTime(ref.at)]); });
    function refresh() {
      return load().then(function (data) {
        state = data;
        fill(data.user);
        ledger.reload();
        referrals.reload();
      }).catch(quiet);
    }
    function post(action, payload) {
      // one key per confirmed action: a request the browser or a proxy repeats moves the points once
      var key = {"Idempotency-Key": (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + "-" + Math.random()).replace(/[^A-Za-z0-9-]/g, "")};
      return api("POST", path + "/" + action, payload, key);
    }
    function form(formId, confirmText, payload) {
      var node = byId(formId);
      if (!node) return;
      node.addEventListener("submit", function (event) {
        event.preventDefault();
        var values = payload(node);
        if (!values) return;
        act(t(confirmText, Object.assign({id: id}, values)), null, function () { return post(node.dataset.action, values); },
            function () { node.reset(); refresh(); });
      });
    }
    form("points-form", "confirm_points", function (node) {
      var amount = parseInt(node.amount.value, 10);
      if (!amount) { flash(t("amount_nonzero"), "error"); return null; }
      return {amount: amount, reason: node.reason.value.trim()};
    });
    form("message-form", "confirm_message", function (node) { return {text: node.text.value.trim()}; });
    form("ban-form", "confirm_ban", function (node) {
      var duration = node.duration_s.value;
      return {reason: node.reason.value.trim(), duration_s: duration ? parseInt(duration, 10) : null, notify: node.notify.checked};
    });
    function button(buttonId, confirmText, action, payload) {
      var node = byId(buttonId);
      if (node) node.addEventListener("click", function () {
        act(t(confirmText, {id: id}), null, function () { return post(action, payload()); }, refresh);
      });
    }
    button("unban", "confirm_unban", "unban", function () { return {notify: byId("ban-form").notify.checked}; });
    button("clear-device", "confirm_clear_device", "clear-device", function () { return {}; });
    button("reset", "confirm_reset", "reset", function () { return {confirm: true}; });
    refresh();
  };

  screens.tasks = function () {
    var order = [];
    var pager = Pager("tasks", function (after) {
      return api("GET", query("/tasks", {after: after})).then(function (data) {
        order = after ? order.concat(data.items.map(function (task) { return task.id; })) : data.items.map(function (task) { return task.id; });
        return data;
      });
    }, function (task) {
      var actions = el("span", "row");
      if (can("admin")) {
        var up = el("button", "secondary small", "↑"), down = el("button", "secondary small", "↓");
        up.title = t("move_up"); down.title = t("move_down");
        up.addEventListener("click", function () { move(task, -1); });
        down.addEventListener("click", function () { move(task, 1); });
        var toggle = el("button", "secondary small", task.active ? t("disable") : t("enable"));
        toggle.addEventListener("click", function () {
          act(t(task.active ? "confirm_disable" : "confirm_enable", {task: task.title}), null,
              function () { return api("PATCH", "/tasks/" + encodeURIComponent(task.id), {active: !task.active}); }, pager.reload);
        });
        var reward = el("button", "secondary small", t("reward"));
        reward.addEventListener("click", function () {
          act(t("confirm_reward", {task: task.title}), [{name: "reward", label: t("col_reward"), type: "number", value: task.reward, required: true}],
              function (v) { return api("PATCH", "/tasks/" + encodeURIComponent(task.id), {reward: parseInt(v.reward, 10)}); }, pager.reload);
        });
        var remove = el("button", "danger small", t("delete"));
        remove.addEventListener("click", function () {
          act(t("confirm_delete_task", {task: task.title}), null,
              function () { return api("DELETE", "/tasks/" + encodeURIComponent(task.id)); }, pager.reload);
        });
        [up, down, toggle, reward, remove].forEach(function (b) { b.type = "button"; actions.appendChild(b); });
      }
      var title = el("span", null, task.title);
      title.appendChild(el("span", "muted block", task.id));
      var tr = row([cell(fmtNumber(task.order), "num"), cell(title), task.kind, cell(fmtNumber(task.reward), "num reward"),
                    cell(badge(task.active ? t("active") : t("inactive"), task.active ? "ok" : "")), cell(actions, "span")]);
      tr.dataset.id = task.id;
      return tr;
    });
    function move(task, step) {
      var ids = order.slice(), at = ids.indexOf(task.id), to = at + step;
      if (at < 0 || to < 0 || to >= ids.length) return;
      ids.splice(at, 1);
      ids.splice(to, 0, task.id);
      act(t("confirm_reorder", {task: task.title}), null, function () { return api("POST", "/tasks/reorder", {ids: ids}); }, pager.reload);
    }
    var create = byId("task-form");
    if (create) create.addEventListener("submit", function (event) {
      event.preventDefault();
      var f = function (name) { return create.elements.namedItem(name); };
      var task = {id: f("id").value.trim(), kind: f("kind").value, title: f("title").value.trim(),
                  reward: parseInt(f("reward").value, 10), target: f("target").value.trim(),
                  proof_pattern: f("proof_pattern").value.trim(), auto_approve: f("auto_approve").checked};
      act(t("confirm_create_task", {task: task.title}), null, function () { return api("POST", "/tasks", task); },
          function () { create.reset(); pager.reload(); });
    });
    pager.reload();
  };

  var QUEUES = {
    submissions: {
      cells: function (s) { return [s.id, cell(userLink(s.user_id)), first(s, ["task_title", "task_id"]), cell(s.proof || "", "proof"), fmtTime(s.created_at)]; },
      actions: function (s) {
        if (s.status !== "pending" || !can("moderator")) return [];
        return [["approve", "primary", [{name: "note", label: t("note")}]], ["reject", "danger", [{name: "note", label: t("note")}]]];
      }
    },
    withdrawals: {
      cells: function (w) {
        var wallet = el("span", null, w.address || "");
        if (w.tx_hash) wallet.appendChild(el("span", "muted block", t("tx_hash") + ": " + w.tx_hash));
        if (w.note) wallet.appendChild(el("span", "muted block", w.note));
        return [w.id, cell(userLink(w.user_id)), cell(fmtNumber(w.amount), "num"), cell(wallet, "mono"), fmtTime(w.created_at)];
      },
      actions: function (w) {
        if (w.status !== "pending" || !can("admin")) return [];
        return [["paid", "primary", [{name: "tx_hash", label: t("tx_hash"), required: true}]], ["fail", "danger", [{name: "note", label: t("note")}]]];
      }
    },
    tickets: {
      cells: function (k) {
        var text = el("span", null, k.text);
        if (k.reply) text.appendChild(el("span", "muted block", "↳ " + k.reply));
        return [k.id, cell(userLink(k.user_id)), k.category, cell(text), fmtTime(k.created_at)];
      },
      actions: function (k) {
        if (k.status === "closed" || !can("moderator")) return [];
        return [["reply", "primary", [{name: "text", label: t("text"), type: "textarea", required: true}]], ["close", "secondary", null]];
      }
    }
  };

  function queueScreen(name) {
    var spec = QUEUES[name], status = byId("status");
    status.value = new URLSearchParams(location.search).get("status") || status.value;
    var pager = Pager("queue", listFrom("/" + name, function () { return {status: status.value}; }), function (item) {
      var tr = row(spec.cells(item)), buttons = el("span", "row");
      spec.actions(item).forEach(function (action) {
        var b = el("button", action[1] + " small", t("do_" + action[0]));
        b.type = "button";
        b.dataset.action = action[0];
        b.addEventListener("click", function () {
          act(t("confirm_" + name + "_" + action[0], {id: item.id}), action[2],
              function (values) { return api("POST", "/" + name + "/" + encodeURIComponent(item.id) + "/" + action[0], values || {}); },
              function () { tr.remove(); });
        });
        buttons.appendChild(b);
      });
      tr.appendChild(cell(buttons, "span"));
      tr.dataset.id = item.id;
      return tr;
    });
    status.addEventListener("change", function () {
      history.replaceState(null, "", query(location.pathname, {status: status.value}));
      pager.reload();
    });
    pager.reload();
  }

  screens.submissions = function () { queueScreen("submissions"); };
  screens.withdrawals = function () { queueScreen("withdrawals"); };
  screens.tickets = function () { queueScreen("tickets"); };

  screens.broadcasts = function () {
    var card = byId("broadcast"), timer = null, shown = null, lastStatus = null;
    var CONTROLS = {draft: ["start", "cancel"], running: ["pause", "cancel"], paused: ["resume", "cancel"]};
    function done(b) {
      return b.processed !== undefined ? b.processed : (b.sent || 0) + (b.blocked || 0) + (b.failed || 0) + (b.skipped || 0);
    }
    function render(b) {
      shown = b;
      card.hidden = false;
      card.dataset.status = b.status;
      byId("bc-id").textContent = "#" + b.id;
      var status = byId("bc-status");
      status.textContent = t("bc_status_" + b.status);
      status.className = "badge status-" + b.status;
      byId("bc-text").textContent = b.text || "";
      var progress = byId("bc-progress"), total = b.total || 0, count = done(b);
      progress.max = Math.max(total, 1);
      progress.value = Math.min(count, progress.max);
      byId("bc-done").textContent = fmtNumber(count);
      byId("bc-total").textContent = fmtNumber(total);
      byId("bc-percent").textContent = (total ? "(" + Math.floor(100 * count / total) + " %)" : "") +
        (b.retrying ? " · " + t("bc_retrying", {count: fmtNumber(b.retrying)}) : "");
      document.querySelectorAll("[data-counter]").forEach(function (node) { node.textContent = fmtNumber(b[node.dataset.counter] || 0); });
      var allowed = CONTROLS[b.status] || [];
      document.querySelectorAll("[data-control]").forEach(function (node) { node.hidden = allowed.indexOf(node.dataset.control) < 0; });
      clearTimeout(timer);
      if (b.status === "running") timer = setTimeout(function () { show(b.id); }, 1000);
      var listed = document.querySelector("#history tr[data-id='" + String(b.id).replace(/[^0-9a-f]/g, "") + "'] .progress-cell");
      if (listed) listed.textContent = fmtNumber(count) + " / " + fmtNumber(total);
      if (b.status !== lastStatus) history_.reload();              // the history row follows the card
      lastStatus = b.status;
    }
    function show(id) {
      return api("GET", "/broadcasts/" + encodeURIComponent(id)).then(function (data) { render(data.broadcast); }).catch(quiet);
    }
    var history_ = Pager("history", listFrom("/broadcasts"), function (b) {
      var open = link(query(location.pathname, {id: b.id}), "#" + b.id);
      open.addEventListener("click", function (event) {
        event.preventDefault();
        history.replaceState(null, "", open.href);
        show(b.id);
        card.scrollIntoView();
      });
      var tr = row([cell(open), cell(badge(t("bc_status_" + b.status), "status-" + b.status)),
                    cell(fmtNumber(done(b)) + " / " + fmtNumber(b.total), "num progress-cell"), cell(b.text || "", "wide clip"),
                    fmtTime(b.created_at)]);
      tr.dataset.id = b.id;
      return tr;
    });
    document.querySelectorAll("[data-control]").forEach(function (node) {
      node.addEventListener("click", function () {
        var action = node.dataset.control, b = shown;
        act(t("confirm_bc_" + action, {id: b.id, total: fmtNumber(b.total)}), null,
            function () { return api("POST", "/broadcasts/" + encodeURIComponent(b.id) + "/" + action); },
            function (data) { if (data.broadcast) render(data.broadcast); else show(b.id); });
      });
    });
    var compose = byId("compose");
    if (compose) composeForm(compose, render);
    history_.reload();
    var wanted = new URLSearchParams(location.search).get("id");
    if (wanted) show(wanted);
  };

  function segmentOf(form) {
    var segment = {};
    ["verified", "premium", "with_wallet", "with_referrals"].forEach(function (key) { if (form[key].checked) segment[key] = true; });
    ["points_min", "points_max", "active_days"].forEach(function (key) {
      if (form[key].value !== "") segment[key] = parseInt(form[key].value, 10);
    });
    if (form.language.value) segment.language = form.language.value;
    var ids = form.ids.value.split(/[\s,;]+/).filter(Boolean).map(function (v) { return parseInt(v, 10); });
    if (ids.length) segment.ids = ids;
    return segment;
  }

  function composeForm(form, render) {
    var count = byId("preview-count");
    function preview() {
      return api("POST", "/broadcasts/preview", {segment: segmentOf(form)}).then(function (data) {
        count.textContent = t("bc_count", {count: fmtNumber(data.count)});
        return data.count;
      });
    }
    byId("preview").addEventListener("click", function () { preview().catch(quiet); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      preview().then(function (recipients) {
        var payload = {text: form.text.value, segment: segmentOf(form)};
        if (form.parse_mode.value) payload.parse_mode = form.parse_mode.value;
        return act(t("confirm_bc_create", {count: fmtNumber(recipients)}), null,
                   function () { return api("POST", "/broadcasts", payload); },
                   function (data) {
                     form.reset();
                     count.textContent = "";
                     history.replaceState(null, "", query(location.pathname, {id: data.broadcast.id}));
                     render(data.broadcast);
                     byId("broadcast").scrollIntoView();
                   });
      }).catch(quiet);
    });
  }

  screens.security = function () {
    // one GET answers all three parts; each part's "more" asks for its own next page
    function part(tableId, key, cursorName, render) {
      return Pager(tableId, function (after) {
        var params = {};
        if (after) params[cursorName] = after;
        return api("GET", query("/security", params)).then(function (data) {
          var list = data[key];
          return Array.isArray(list) ? {items: list, next: null} : list;
        });
      }, render);
    }
    part("security-banned", "banned", "banned_after", function (u) {
      return row([cell(userLink(u.id)), userName(u), u.ban_reason || "—",
                  u.banned_until ? fmtTime(u.banned_until) : t("banned_forever")]);
    }).reload();
    part("security-devices", "device_taken", "device_after", function (u) {
      return row([cell(userLink(u.id)), userName(u), fmtTime(u.registered_at), fmtTime(u.last_active)]);
    }).reload();
    part("security-refusals", "refusals", "", function (r) {
      return row([fmtTime(r.at), cell(el("code", null, r.kind)), cell(userLink(r.user_id)), cell(r.detail || "—", "wide")]);
    }).reload();
  };

  screens.settings = function () {
    var list = byId("settings-list"), form = byId("settings-form"), items = {};
    function input(item) {
      var node = el("input");
      node.name = item.name;
      if (item.kind === "bool") { node.type = "checkbox"; node.checked = !!item.value; return node; }
      if (item.kind === "int" || item.kind === "float") {
        node.type = "number";
        node.step = item.kind === "int" ? "1" : "any";
        if (item.min !== null && item.min !== undefined) node.min = item.min;
        if (item.max !== null && item.max !== undefined) node.max = item.max;
      }
      if (item.kind === "text" && item.max) node.maxLength = item.max;
      node.value = Array.isArray(item.value) ? item.value.join(",") : (item.value === null ? "" : item.value);
      return node;
    }
    function valueOf(item, node) {
      if (item.kind === "bool") return node.checked;
      if (item.kind === "int") return node.value === "" ? null : parseInt(node.value, 10);
      if (item.kind === "float") return node.value === "" ? null : parseFloat(node.value);
      if (Array.isArray(item.value)) return node.value.split(",").map(function (v) { return v.trim(); }).filter(Boolean);
      return node.value;
    }
    function changed() {
      var out = {};
      Object.keys(items).forEach(function (name) {
        var value = valueOf(items[name].item, items[name].input);
        if (JSON.stringify(value) !== JSON.stringify(items[name].item.value)) out[name] = value;
      });
      byId("settings-changed").textContent = Object.keys(out).length ? t("changed", {count: Object.keys(out).length}) : "";
      return out;
    }
    function render(data) {
      list.textContent = "";
      items = {};
      data.items.forEach(function (item) {
        var box = el("div", "setting"), label = el("label"), head = el("span", "setting-name", item.name);
        box.dataset.name = item.name;
        var control = input(item);
        label.appendChild(head);
        label.appendChild(control);
        box.appendChild(label);
        var numeric = item.kind === "int" || item.kind === "float";
        var hint = [item.help, item.env || "", t("default", {value: item.default === "" ? "—" : fmtValue(item.default)}),
                    numeric && item.min !== null && item.min !== undefined ? "≥ " + fmtNumber(item.min) : "",
                    numeric && item.max !== null && item.max !== undefined ? "≤ " + fmtNumber(item.max) : ""];
        box.appendChild(el("p", "muted", hint.filter(Boolean).join(" · ")));
        box.appendChild(el("p", "field-error"));
        list.appendChild(box);
        items[item.name] = {item: item, input: control, box: box};
        control.addEventListener("input", changed);
        control.addEventListener("change", changed);
      });
      changed();
    }
    function load() { return api("GET", "/settings").then(render).catch(quiet); }
    byId("settings-filter").addEventListener("input", function (event) {
      var needle = event.target.value.trim().toLowerCase();
      Object.keys(items).forEach(function (name) {
        items[name].box.hidden = needle && (name + " " + (items[name].item.help || "")).toLowerCase().indexOf(needle) < 0;
      });
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var patch = changed(), names = Object.keys(patch);
      if (!names.length) { flash(t("nothing_changed")); return; }
      document.querySelectorAll(".setting .field-error").forEach(function (node) { node.textContent = ""; });
      ask(t("confirm_settings", {names: names.join(", ")})).then(function (ok) {
        if (ok === null) return;
        api("PATCH", "/settings", patch).then(function () { flash(t("done")); load(); }).catch(function (error) {
          if (error.field && items[error.field]) items[error.field].box.querySelector(".field-error").textContent = error.reason;
          quiet(error);
        });
      });
    });
    load();
  };

  screens.roles = function () {
    var pager = Pager("roles", listFrom("/roles"), function (grant) {
      var id = grant.id, actions = el("span", "row"), granted = grant.source === "grant";
      if (granted) {
        var revoke = el("button", "danger small", t("revoke"));
        revoke.type = "button";
        revoke.addEventListener("click", function () {
          act(t("confirm_revoke", {id: id}), null, function () { return api("DELETE", "/roles/" + id); }, pager.reload);
        });
        actions.appendChild(revoke);
      }
      var source = granted ? el("span", null, t("source_grant", {id: grant.granted_by})) : el("code", null, grant.source);
      return row([cell(userLink(id)), cell(badge(t("role_" + grant.role), "role-" + grant.role)), cell(source), cell(actions, "span")]);
    });
    var grant = byId("grant");
    grant.addEventListener("submit", function (event) {
      event.preventDefault();
      var id = grant.telegram_id.value.trim(), role = grant.elements.namedItem("role").value;
      act(t("confirm_grant", {id: id, role: t("role_" + role)}), null, function () { return api("PUT", "/roles/" + id, {role: role}); },
          function () { grant.reset(); pager.reload(); });
    });
    pager.reload();
  };

  function clipped(value, className) {
    var text = fmtValue(value), node = el("span", className, text.length > 160 ? text.slice(0, 160) + "…" : text);
    if (text.length > 160) node.title = text;
    return node;
  }

  /* What an audit row changed: for two objects only the keys that differ ("status: paused → running"),
   * else the whole values, long ones shortened (in full on hover). */
  function auditChange(before, after) {
    var box = el("span", "change");
    function line(label, from, to) {
      var part = el("span", "change-line");
      if (label) part.appendChild(el("span", "muted", label + ": "));
      if (from !== undefined) { part.appendChild(clipped(from, "before")); part.appendChild(el("span", "arrow", " → ")); }
      part.appendChild(clipped(to, "after"));
      box.appendChild(part);
    }
    var objects = before && after && typeof before === "object" && typeof after === "object" && !Array.isArray(before);
    if (!objects) { line("", before === null ? undefined : before, after); return box; }
    Object.keys(Object.assign({}, before, after)).forEach(function (key) {
      if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) line(key, before[key], after[key] === undefined ? null : after[key]);
    });
    if (!box.childNodes.length) line("", undefined, after);
    return box;
  }

  screens.audit = function () {
    var filter = byId("audit-filter"), csv = byId("export-audit");
    function params() { return {admin: filter.admin.value.trim(), action: filter.elements.namedItem("action").value.trim()}; }
    var pager = Pager("audit", listFrom("/audit", params), function (entry) {
      var change = auditChange(entry.before, entry.after);
      return row([fmtTime(entry.at), cell(userLink(entry.admin_id)), cell(el("code", null, entry.action)), entry.target || "—",
                  cell(change, "wide")]);
    });
    filter.addEventListener("submit", function (event) {
      event.preventDefault();
      csv.href = query(API + "/audit.csv", params());
      pager.reload();
    });
    pager.reload();
  };

  // ---- boot: who am I (and the CSRF token), then the screen

  function logout() {
    fetch("/admin/logout", {method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": me.csrf}, redirect: "manual"})
      .then(function () { location.assign("/admin/login"); }, function () { location.assign("/admin/login"); });
  }

  function boot() {
    api("GET", "/me").then(function (data) {
      me = data;
      body.dataset.role = data.role;
      byId("logout").addEventListener("click", logout);
      body.dataset.ready = "1";
      var screen = screens[body.dataset.screen];
      if (screen) screen();
    }).catch(quiet);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot); else boot();
}());
