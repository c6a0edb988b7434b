// What every console page shares: API calls (cookie session, CSRF header, one sign-in again when
// the session ends while the page is open), progress and errors beside the control that caused
// them, confirmation before anything destructive, local relative times, paged tables, copy and
// download. Data reaches the page through textContent only, never as HTML.
"use strict";
const ui = (() => {
  const $ = (id) => document.getElementById(id);
  const csrf = () => (document.cookie.split("; ").find((c) => c.startsWith("labgate_csrf=")) || "=").split("=")[1];
  // The codes that mean "this page's session is over", as opposed to a wrong password typed.
  const ENDED = ["NO_CREDENTIALS", "INVALID_TOKEN", "TOKEN_EXPIRED", "TOKEN_REVOKED"];

  class ApiError extends Error {
    constructor(status, data, retryAfter) {
      super(data.message || "The request failed (" + status + ").");
      this.status = status;
      this.code = data.code || "";
      this.details = data.details || [];
      this.retryAfter = retryAfter;
    }
  }

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
      else if (k.startsWith("on")) continue;
      else if (k in e && typeof v !== "string") e[k] = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  // ---- time ---------------------------------------------------------------------------------
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const full = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const UNITS = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];

  function relative(date) {
    const s = (date.getTime() - Date.now()) / 1000;
    for (const [unit, size] of UNITS) {
      if (Math.abs(s) >= size || unit === "second") {
        if (unit === "second" && Math.abs(s) < 45) return s >= 0 ? "in a moment" : "just now";
        return rtf.format(Math.round(s / size), unit);
      }
    }
    return "";
  }

  // A time as people read it: "3 hours ago", with the local date and time on hover and for
  // assistive technology; `never` names what a missing time means ("never", "no expiry").
  function when(ts, never) {
    if (!ts) return el("span", { class: "muted", text: never || "never" });
    const d = new Date(ts);
    return el("time", { datetime: ts, title: full.format(d), text: relative(d) });
  }

  function seconds(n) {
    n = Math.max(1, Math.round(n));
    if (n < 90) return n + (n === 1 ? " second" : " seconds");
    const m = Math.round(n / 60);
    return m + (m === 1 ? " minute" : " minutes");
  }

  // What to tell a person about a failed call, with how long to wait where the server said.
  function describe(e) {
    if (!(e instanceof ApiError)) return "labgate could not be reached. Check the connection and try again.";
    if (e.status === 423 && e.retryAfter) return "Too many failed sign-ins: this account is locked for " + seconds(e.retryAfter) + ".";
    if (e.status === 429 && e.retryAfter) return "Too many requests from this address: try again in " + seconds(e.retryAfter) + ".";
    if (e.code === "VALIDATION_ERROR" && e.details.length) return e.details.map((d) => d.field + ": " + d.message).join("; ");
    return e.message;
  }

  // ---- calls --------------------------------------------------------------------------------
  let signingIn = null;
  // The session this page was opened with. Another tab signing in (as someone else, or into
  // another tenant) replaces the cookies without any refusal: the page then reloads rather than
  // show one session's data while acting as another.
  let pageCsrf = csrf();
  const pageTenant = document.body.dataset.tenantId || "";
  function rebase() { pageCsrf = csrf(); }
  function replaced() {
    if (csrf() === pageCsrf) return false;
    location.reload();
    return true;
  }

  async function raw(method, path, body) {
    if (replaced()) throw new ApiError(409, { message: "You signed in elsewhere in this browser: reloading." });
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrf();
    const res = await fetch(path, { method, credentials: "same-origin", headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = res.status === 204 ? {} : await res.json().catch(() => ({}));
    const tenant = res.headers.get("X-Tenant-ID");
    if (pageTenant && tenant && tenant !== pageTenant) {
      location.reload();
      throw new ApiError(409, { message: "This browser's session is now in another tenant: reloading." });
    }
    if (!res.ok) throw new ApiError(res.status, data, Number(res.headers.get("Retry-After")) || 0);
    return data;
  }

  // An API call. When the session has ended (expired, ended elsewhere), the person signs in
  // again in a dialog over the page, so nothing typed is lost, and the call is made again.
  async function api(method, path, body) {
    try {
      return await raw(method, path, body);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 401 || !ENDED.includes(e.code) || !ui.signIn) throw e;
      signingIn = signingIn || ui.signIn().finally(() => { signingIn = null; });
      await signingIn;
      return raw(method, path, body);
    }
  }

  // Every item of a list, page by page (for the few places that need them all).
  async function all(path) {
    const out = [];
    for (let page = 1; ; page++) {
      const sep = path.includes("?") ? "&" : "?";
      const r = await api("GET", path + sep + "limit=100&page=" + page);
      out.push(...r.data);
      if (page >= r.meta.totalPages) return out;
    }
  }

  // ---- progress, result, error beside the control --------------------------------------------
  function statusFor(control) {
    const host = control.closest("form") || control.parentElement;
    let s = host.querySelector(":scope > .status");
    if (!s) {
      s = el("span", { class: "status", role: "status" });
      host.append(s);
    }
    return s;
  }

  function say(control, text, error) {
    const s = statusFor(control);
    s.textContent = text || "";
    s.classList.toggle("error", !!error);
  }

  // Runs `fn` with `control` busy (disabled, "Working..."), then shows its result or error next
  // to it. A second click while busy does nothing. A row's button that the result took away
  // (the row revoked, the list reloaded) reports under its table, where the focus goes too.
  async function busy(control, fn, done) {
    if (control.dataset.busy) return;
    const table = control.closest("table");
    control.dataset.busy = "1";
    const buttons = control.tagName === "FORM" ? [...control.querySelectorAll("button")] : [control];
    for (const b of buttons) b.disabled = true;
    control.setAttribute("aria-busy", "true");
    say(control, "Working…");
    try {
      const r = await fn();
      const msg = typeof done === "function" ? done(r) : done === undefined ? "Done." : done;
      if (!control.isConnected && table && table.isConnected && notes.has(table)) {
        notes.get(table).textContent = msg;
        table.focus();
      } else {
        say(control, msg);
      }
      return r;
    } catch (e) {
      say(control, describe(e), true);
      return undefined;
    } finally {
      delete control.dataset.busy;
      control.removeAttribute("aria-busy");
      for (const b of buttons) b.disabled = false;
    }
  }

  // ---- confirmation ---------------------------------------------------------------------------
  function confirm(message, yes) {
    const d = $("confirm");
    $("confirm-text").textContent = message;
    $("confirm-yes").textContent = yes || "Yes";
    d.returnValue = "";
    d.showModal();
    $("confirm-no").focus();
    return new Promise((resolve) => d.addEventListener("close", () => resolve(d.returnValue === "yes"), { once: true }));
  }

  // A form whose submission calls `fn(form)`; with `ask` (a question, or a function giving one
  // or nothing), only after the person confirms.
  function form(f, fn, opts) {
    opts = opts || {};
    statusFor(f);
    f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const q = typeof opts.ask === "function" ? opts.ask(f) : opts.ask;
      if (q && !(await confirm(q, opts.yes))) return;
      await busy(f, () => fn(f), opts.done);
    });
  }

  // A button that does `fn`; destructive ones name what they will do and ask first.
  function button(label, fn, opts) {
    opts = opts || {};
    const b = el("button", { type: "button", text: label, class: opts.danger ? "danger" : undefined, "aria-label": opts.aria });
    b.addEventListener("click", async () => {
      if (opts.ask && !(await confirm(opts.ask, opts.yes || label))) return;
      await busy(b, fn, opts.done);
    });
    return b;
  }

  // ---- secrets --------------------------------------------------------------------------------
  function copy(text, what) {
    const b = el("button", { type: "button", text: "Copy", "aria-label": "Copy " + what });
    b.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(text);
        say(b, "Copied.");
      } catch (e) {
        say(b, "The browser refused the clipboard: select the text and copy it.", true);
      }
    });
    return b;
  }

  function download(name, text, what) {
    const b = el("button", { type: "button", text: "Download", "aria-label": "Download " + what });
    b.addEventListener("click", () => {
      const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
      const a = el("a", { href: url, download: name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    });
    return b;
  }

  // A secret shown once, with its copy button, in `box`.
  function secret(box, label, value) {
    box.replaceChildren(el("p", { text: label }), el("code", { class: "secret", text: value }), copy(value, label.toLowerCase()));
    box.hidden = false;
  }

  // ---- tables -----------------------------------------------------------------------------------
  // A table with header cells; each column is [label, row => text or node]; `actions(row)`
  // gives the row's buttons. At narrow widths each row becomes a card labelled by its headers.
  function table(t, columns, rows, actions, empty) {
    const head = el("tr", {}, columns.map(([label]) => el("th", { scope: "col", text: label })), actions ? el("th", { scope: "col", text: "Actions" }) : null);
    const body = rows.map((r) => el("tr", {},
      columns.map(([label, cell]) => {
        const v = cell(r);
        return el("td", { "data-label": label }, v === null || v === undefined || v === "" ? el("span", { class: "muted", text: "—" }) : v);
      }),
      actions ? el("td", { "data-label": "Actions", class: "actions" }, actions(r)) : null));
    if (!rows.length) body.push(el("tr", {}, el("td", { colspan: String(columns.length + (actions ? 1 : 0)), class: "muted", text: empty || "Nothing here yet." })));
    t.replaceChildren(el("thead", {}, head), el("tbody", {}, body));
  }

  // A list that pages through all its items: `path` (with any filters) is fetched a page at a
  // time; the pager under the table moves between pages and says where it is.
  const notes = new Map();
  function paged(t, path, columns, actions, empty) {
    const nav = el("div", { class: "pager" });
    const note = el("p", { class: "status", role: "status" });
    t.after(nav, note);
    t.tabIndex = -1;
    notes.set(t, note);
    const state = { page: 1, path: typeof path === "function" ? path : () => path, seq: 0 };
    async function load() {
      const p = state.path();
      const sep = p.includes("?") ? "&" : "?";
      // Only the newest request draws: a quick second click never shows an older answer.
      const seq = ++state.seq;
      const r = await api("GET", p + sep + "limit=20&page=" + state.page);
      if (seq !== state.seq) return r;
      if (state.page > Math.max(1, r.meta.totalPages)) {
        state.page = Math.max(1, r.meta.totalPages);
        return load();
      }
      table(t, columns, r.data, actions, empty);
      const label = t.getAttribute("aria-label") || "items";
      const count = r.meta.total + (r.meta.total === 1 ? " item" : " items");
      if (r.meta.totalPages <= 1) {
        nav.replaceChildren(r.meta.total > 1 ? el("span", { class: "muted", text: count }) : "");
        return r;
      }
      nav.replaceChildren(
        el("button", { type: "button", text: "Previous", "aria-label": "Previous page of " + label, disabled: state.page <= 1, onclick: () => { state.page--; load().catch(show); } }),
        el("span", { text: "Page " + r.meta.page + " of " + r.meta.totalPages + " · " + count }),
        el("button", { type: "button", text: "Next", "aria-label": "Next page of " + label, disabled: state.page >= r.meta.totalPages, onclick: () => { state.page++; load().catch(show); } }));
      return r;
    }
    function show(e) { nav.replaceChildren(el("span", { class: "error", role: "alert", text: describe(e) })); }
    return {
      load: () => load().catch(show),
      first: () => { state.page = 1; return load().catch(show); },
      page: () => state.page,
      say: (text) => { note.textContent = text; },
    };
  }

  return { $, el, api, raw, all, ApiError, describe, when, seconds, busy, say, form, button, confirm, copy, download, secret, table, paged, rebase, signIn: null };
})();
