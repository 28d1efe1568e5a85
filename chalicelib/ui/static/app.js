// The fnq dashboard: apps, routes, calls and logs, read from Fn's v1 API of the server that
// serves this page. No framework and no build step: the page is a few views drawn with
// createElement. Every string that comes from the API (app and route names, headers, config,
// errors, logs) is put in the page as text (Node.append / textContent), never parsed as HTML:
// what a function writes is its own, and must stay inert.
"use strict";

(() => {
  const TOKEN_KEY = "fnq.token";
  const STATUSES = ["queued", "running", "success", "error", "timeout", "cancelled"];
  // Fn's `delayed` is open too, though fnq never sets it.
  const OPEN = new Set(["queued", "running", "delayed"]);
  const CALLS_PER_PAGE = 20;
  // Poll quickly while something is moving, slowly otherwise (new calls still show up).
  const OPEN_REFRESH_MS = 1000;
  const IDLE_REFRESH_MS = 5000;

  const view = document.getElementById("view");
  const crumbs = document.getElementById("crumbs");
  const activity = document.getElementById("activity");
  const tokenForm = document.getElementById("token-form");
  const tokenInput = document.getElementById("token");

  // ------------------------------------------------------------------ the API
  class Unauthorized extends Error {}

  // `path` is relative ("v1/apps"): resolved against the page (/ui, or /<stage>/ui), it keeps
  // API Gateway's stage prefix.
  async function api(method, path, query = {}) {
    const url = new URL(path, document.baseURI);
    for (const [name, value] of Object.entries(query)) {
      if (value) url.searchParams.set(name, value);
    }
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(url, { method, headers, cache: "no-store" });
    if (response.status === 401) throw new Unauthorized();
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error((body.error && body.error.message) || `HTTP ${response.status}`);
    }
    return body;
  }

  const appPath = (app) => `v1/apps/${encodeURIComponent(app)}`;
  const callPath = (app, id) => `${appPath(app)}/calls/${encodeURIComponent(id)}`;

  // Apps and routes are few: read every page.
  async function listAll(path, key) {
    const items = [];
    const seen = new Set();
    let cursor = "";
    do {
      seen.add(cursor);
      const page = await api("GET", path, { per_page: "100", cursor });
      items.push(...page[key]);
      cursor = page.next_cursor;
    } while (cursor && !seen.has(cursor)); // a cursor seen before would loop forever
    return items;
  }

  // -------------------------------------------------------------- drawing
  // el("a", {href: "#/"}, "text", child…): strings become Text nodes, never markup.
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child !== undefined && child !== null && child !== false) node.append(child);
    }
    return node;
  }

  const hashOf = (...parts) => "#/" + parts.map(encodeURIComponent).join("/");
  const appHash = (app, query = {}) => {
    const search = new URLSearchParams(Object.entries(query).filter(([, v]) => v)).toString();
    return hashOf("apps", app) + (search ? `?${search}` : "");
  };
  const time = (value) => (value ? value.replace("T", " ").replace("Z", " UTC") : "");
  const badge = (status) =>
    el("span", { class: `status ${STATUSES.includes(status) ? status : "other"}` }, status);

  function elapsed(from, to) {
    if (!from || !to) return "";
    const ms = Date.parse(to) - Date.parse(from);
    return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  }

  function pairs(object) {
    const entries = Object.entries(object || {});
    if (!entries.length) return "";
    return el("ul", { class: "pairs" }, entries.map(([k, v]) =>
      el("li", {}, el("code", {}, k), " = ", el("code", {}, Array.isArray(v) ? v.join(", ") : String(v)))));
  }

  function table(headings, rows, empty) {
    if (!rows.length) return el("p", { class: "empty" }, empty);
    return el("table", {},
      el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows));
  }

  function show(...children) {
    view.replaceChildren(...children);
  }

  function setCrumbs(...links) {
    crumbs.replaceChildren(...links.flatMap(([text, href]) => [" / ", href ? el("a", { href }, text) : text]));
  }

  function say(text, kind = "") {
    activity.textContent = text;
    activity.className = kind;
  }

  // ------------------------------------------------------------ navigation
  // Each navigation starts a new generation: answers and timers of the previous view are ignored.
  let generation = 0;
  let timer = 0;

  function current(gen) {
    return gen === generation;
  }

  function later(gen, ms, task) {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!current(gen)) return;
      if (document.hidden) later(gen, ms, task); // a hidden tab does not poll the API
      else guarded(gen, task);
    }, ms);
  }

  // A view that cannot be drawn is replaced by its error; a failed refresh keeps what is shown.
  async function guarded(gen, task, drawing = false) {
    try {
      await task();
    } catch (error) {
      if (!current(gen)) return;
      if (error instanceof Unauthorized) return askToken();
      say(error.message, "error");
      if (drawing) show(el("p", { class: "error" }, error.message));
    }
  }

  function decode(part) {
    try {
      return decodeURIComponent(part);
    } catch {
      return part; // a hand-typed `%` that escapes nothing
    }
  }

  function navigate() {
    generation += 1;
    clearTimeout(timer);
    const gen = generation;
    const [path, search] = location.hash.replace(/^#\/?/, "").split("?");
    const parts = path.split("/").filter(Boolean).map(decode);
    const query = new URLSearchParams(search || "");
    say("Loading…");
    if (parts[0] === "apps" && parts.length === 2) {
      return guarded(gen, () => appView(gen, parts[1], query), true);
    }
    if (parts[0] === "apps" && parts[2] === "calls" && parts.length === 4) {
      return guarded(gen, () => callView(gen, parts[1], parts[3]), true);
    }
    return guarded(gen, () => appsView(gen), true);
  }

  // ----------------------------------------------------------------- token
  function askToken() {
    generation += 1; // nothing of the refused view may draw over the form
    clearTimeout(timer);
    document.getElementById("token-refused").hidden = !sessionStorage.getItem(TOKEN_KEY);
    sessionStorage.removeItem(TOKEN_KEY);
    view.hidden = true;
    crumbs.replaceChildren();
    tokenForm.hidden = false;
    say("");
    tokenInput.focus();
  }

  tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, tokenInput.value.trim());
    tokenInput.value = "";
    tokenForm.hidden = true;
    view.hidden = false;
    navigate();
  });

  // ------------------------------------------------------------------ apps
  async function appsView(gen) {
    const apps = await listAll("v1/apps", "apps");
    if (!current(gen)) return;
    setCrumbs(["apps"]);
    const rows = apps.map((app) => el("tr", {},
      el("td", {}, el("a", { href: appHash(app.name) }, app.name)),
      el("td", {}, pairs(app.config)),
      el("td", {}, time(app.created_at)),
      el("td", {}, time(app.updated_at))));
    show(el("h1", {}, "Apps"),
      table(["app", "config", "created", "updated"], rows, "No apps yet: fn deploy --app APP creates one."));
    say("");
  }

  // ------------------------------------------------------------------- app
  async function appView(gen, app, query) {
    const status = query.get("status") || "";
    const path = query.get("path") || "";
    const routes = await listAll(`${appPath(app)}/routes`, "routes");
    if (!current(gen)) return;
    setCrumbs(["apps", "#/"], [app]);

    const pick = (name, value, options) => el("select", {
      name,
      onchange: (event) => { location.hash = appHash(app, { status, path, [name]: event.target.value }); },
    }, options.map(([v, text]) => el("option", { value: v, selected: v === value }, text)));

    const callsBody = el("tbody");
    const pager = el("div", { class: "pager" });
    const notice = el("p", { class: "notice", role: "status" });
    // Cursors of the pages before this one, to walk back; "" is the first page.
    const cursors = [];
    let cursor = "";
    // Only the latest request draws: a refresh answered after a page turn must not draw over it.
    let loads = 0;

    async function loadCalls() {
      const mine = ++loads;
      const page = await api("GET", `${appPath(app)}/calls`,
        { status, path, cursor, per_page: String(CALLS_PER_PAGE) });
      if (!current(gen) || mine !== loads) return;
      callsBody.replaceChildren(...page.calls.map((call) => el("tr", { "data-call": call.id },
        el("td", {}, el("a", { href: hashOf("apps", app, "calls", call.id) }, el("code", {}, call.id))),
        el("td", {}, call.path),
        el("td", { class: "call-status" }, badge(call.status)),
        el("td", {}, time(call.created_at)),
        el("td", {}, elapsed(call.created_at, call.started_at)),
        el("td", {}, elapsed(call.started_at, call.completed_at)))));
      if (!page.calls.length) {
        callsBody.append(el("tr", {}, el("td", { colspan: 6, class: "empty" }, "No calls.")));
      }
      pager.replaceChildren(
        el("button", { type: "button", disabled: !cursors.length, onclick: () => turn(cursors.pop()) }, "← Newer"),
        el("span", {}, `page ${cursors.length + 1}`),
        el("button", {
          type: "button",
          disabled: !page.next_cursor,
          onclick: () => { cursors.push(cursor); turn(page.next_cursor); },
        }, "Older →"));
      const open = page.calls.some((call) => OPEN.has(call.status));
      if (open || !cursor) {
        const ms = open ? OPEN_REFRESH_MS : IDLE_REFRESH_MS;
        say(`Updated ${new Date().toLocaleTimeString()}, again in ${ms / 1000} s`);
        later(gen, ms, loadCalls);
      } else {
        say(`Updated ${new Date().toLocaleTimeString()}`);
      }
    }

    function turn(to) {
      cursor = to;
      guarded(gen, loadCalls);
    }

    async function redriveAll() {
      const reply = await api("POST", `${appPath(app)}/calls/redrive`);
      if (!current(gen)) return;
      notice.textContent = reply.message;
      await loadCalls();
    }

    const routeRows = routes.map((route) => el("tr", {},
      el("td", {}, el("a", { href: appHash(app, { path: route.path }) }, route.path)),
      el("td", {}, route.type), el("td", {}, route.format), el("td", {}, route.image),
      el("td", { class: "num" }, `${route.memory} MB`),
      el("td", { class: "num" }, `${route.timeout} s`),
      el("td", { class: "num" }, `${route.idle_timeout} s`),
      el("td", { class: "num" }, String(route.max_retries ?? 0)),
      el("td", {}, pairs(route.config)),
      el("td", {}, pairs(route.headers))));

    show(
      el("h1", {}, app),
      el("section", {}, el("h2", {}, "Routes"),
        table(["path", "type", "format", "image", "memory", "timeout", "idle timeout", "retries",
          "config", "headers"], routeRows, "No routes.")),
      el("section", {}, el("h2", {}, "Calls"),
        el("form", { class: "filters", onsubmit: (event) => event.preventDefault() },
          el("label", {}, "status ", pick("status", status,
            [["", "any"], ...STATUSES.map((s) => [s, s])])),
          el("label", {}, "route ", pick("path", path,
            [["", "any"], ...routes.map((r) => [r.path, r.path])])),
          el("button", { type: "button", onclick: () => guarded(gen, redriveAll) }, "Redrive dead calls")),
        notice,
        el("table", {},
          el("thead", {}, el("tr", {},
            ["call", "route", "status", "created", "waited", "ran"].map((h) => el("th", {}, h)))),
          callsBody),
        pager));
    await loadCalls();
  }

  // ------------------------------------------------------------------ call
  async function callView(gen, app, id) {
    setCrumbs(["apps", "#/"], [app, appHash(app)], [id]);
    const notice = el("p", { class: "notice", role: "status" });
    const logBox = el("pre", { class: "log" });
    const details = el("div");
    let logShown = false;
    // Only the latest read draws: a refresh answered after a cancel or redrive would undo it.
    let loads = 0;

    function draw(call) {
      const usage = call.usage || {};
      const actions = [];
      if (OPEN.has(call.status)) {
        actions.push(el("button", { type: "button", onclick: () => act("cancel") }, "Cancel"));
      }
      if (call.dead) {
        actions.push(el("button", { type: "button", onclick: () => act("redrive") }, "Redrive"));
      }
      const rows = [
        ["status", [badge(call.status), call.dead ? " dead: the platform gave up on it" : ""]],
        ["route", el("a", { href: appHash(app, { path: call.path }) }, call.path)],
        ["type", call.type],
        ["created", time(call.created_at)],
        ["started", [time(call.started_at), call.started_at ? ` (waited ${elapsed(call.created_at, call.started_at)})` : ""]],
        ["completed", [time(call.completed_at), call.completed_at ? ` (ran ${elapsed(call.started_at, call.completed_at)})` : ""]],
        ["attempt", String(call.attempt ?? "")],
        ["duration", usage.duration_ms !== undefined ? `${usage.duration_ms} ms` : ""],
        ["exit code", usage.exit_code !== undefined ? String(usage.exit_code) : ""],
        ["peak memory", usage.max_rss_kb !== undefined ? `${usage.max_rss_kb} KiB` : ""],
        ["error", call.error ? el("span", { class: "error" }, call.error) : ""],
      ];
      const attempts = (call.attempts || []).map((attempt) => el("tr", {},
        el("td", { class: "num" }, String(attempt.number)), el("td", {}, badge(attempt.status)),
        el("td", {}, time(attempt.started_at)), el("td", {}, time(attempt.completed_at)),
        el("td", {}, attempt.error || "")));
      details.replaceChildren(
        el("dl", { class: "call" }, rows.map(([name, value]) => [el("dt", {}, name), el("dd", {}, value)])),
        actions.length ? el("div", { class: "actions" }, actions) : "",
        el("h2", {}, "Attempts"),
        table(["#", "status", "started", "completed", "error"], attempts, "None yet."));
    }

    async function act(action) {
      try {
        const reply = await api("POST", `${callPath(app, id)}/${action}`);
        if (!current(gen)) return;
        notice.textContent = reply.message;
        notice.className = "notice";
        logShown = false;
        await load(reply.call);
      } catch (error) {
        if (error instanceof Unauthorized) return askToken();
        notice.textContent = error.message;
        notice.className = "notice error";
      }
    }

    async function loadLog() {
      try {
        const reply = await api("GET", `${callPath(app, id)}/log`);
        if (current(gen)) logBox.textContent = reply.log.log;
      } catch (error) {
        if (error instanceof Unauthorized) throw error;
        if (current(gen)) logBox.textContent = `(${error.message})`;
      }
    }

    async function load(known) {
      const mine = ++loads;
      const call = known || (await api("GET", callPath(app, id))).call;
      if (!current(gen) || mine !== loads) return;
      draw(call);
      if (OPEN.has(call.status)) {
        logBox.textContent = "(the log is written when the call ends)";
        say(`Updated ${new Date().toLocaleTimeString()}, again in ${OPEN_REFRESH_MS / 1000} s`);
        later(gen, OPEN_REFRESH_MS, () => load());
      } else {
        if (!logShown) await loadLog();
        logShown = true;
        say(`Updated ${new Date().toLocaleTimeString()}`);
      }
    }

    show(el("h1", {}, el("code", {}, id)), notice, details, el("h2", {}, "Log"), logBox);
    await load();
  }

  window.addEventListener("hashchange", navigate);
  navigate();
})();
