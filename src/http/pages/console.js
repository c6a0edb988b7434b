// The console: every call goes to the API with the session cookie; changes carry the CSRF
// header. Data is written with textContent only, never as HTML.
"use strict";
const $ = (id) => document.getElementById(id);
const caps = (document.body.dataset.caps || "").split(",");
const csrf = () => (document.cookie.split("; ").find((c) => c.startsWith("labgate_csrf=")) || "=").split("=")[1];

function fail(msg) { $("error").textContent = msg || ""; }

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrf();
  const res = await fetch(path, { method, credentials: "same-origin", headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) { location.href = "/login"; throw new Error("signed out"); }
  const data = res.status === 204 ? {} : await res.json().catch(() => ({}));
  if (!res.ok) { fail(data.message); throw new Error(data.code || res.status); }
  fail("");
  return data;
}

function table(id, columns, rows, action) {
  const t = $(id);
  t.replaceChildren();
  const head = t.insertRow();
  for (const c of columns) head.insertCell().textContent = c;
  for (const r of rows) {
    const tr = t.insertRow();
    for (const c of columns) {
      const v = r[c];
      tr.insertCell().textContent = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
    }
    if (action) {
      const b = document.createElement("button");
      b.textContent = action.label;
      b.addEventListener("click", () => action.run(r).then(refresh).catch(() => {}));
      tr.insertCell().append(b);
    }
  }
}

async function refresh() {
  const pks = await api("GET", "/api/auth/passkeys?limit=100");
  table("passkeys", ["name", "created_at", "last_used_at"], pks.data, {
    label: "Remove", run: (r) => api("DELETE", "/api/auth/passkeys/" + r.id),
  });
  const pats = await api("GET", "/api/tokens?limit=100");
  table("pats", ["name", "prefix", "created_at", "expires_at", "last_used_at"], pats.data, {
    label: "Revoke", run: (r) => api("DELETE", "/api/tokens/" + r.id),
  });
  if (caps.includes("manage_api_keys")) {
    const keys = await api("GET", "/api/api-keys?limit=100").catch(() => ({ data: [] }));
    table("keys", ["name", "prefix", "services", "expires_at", "last_used_at"], keys.data);
  }
  const ex = await api("GET", "/api/sessions?limit=20").catch(() => ({ data: [] }));
  table("exercises", ["name", "scenario", "status", "started_at", "ended_at"], ex.data);
  const runs = await api("GET", "/api/noise/runs?limit=20").catch(() => ({ data: [] }));
  table("runs", ["profile", "count", "sink", "status", "events_sent", "trigger", "started_at", "error"], runs.data);
  const sch = await api("GET", "/api/noise/schedules?limit=50").catch(() => ({ data: [] }));
  table("schedules", ["name", "cron", "profile", "count", "sink", "enabled", "next_run_at"], sch.data);
  if (caps.includes("audit.read")) {
    const audit = await api("GET", "/api/admin/audit?limit=20").catch(() => ({ data: [] }));
    table("audit", ["ts", "actor_type", "actor_id", "action", "outcome", "ip"], audit.data);
  }
}

function showMfa(on) {
  $("mfa-setup").hidden = on;
  $("mfa-disable").hidden = !on;
}
showMfa(document.body.dataset.mfa === "true");

for (const el of document.querySelectorAll("[data-need]")) {
  if (!caps.includes(el.dataset.need)) el.hidden = true;
}

$("logout").addEventListener("click", async () => {
  await api("POST", "/api/auth/logout").catch(() => {});
  location.href = "/login";
});

$("mfa-setup").addEventListener("click", async () => {
  const s = await api("POST", "/api/auth/mfa/setup");
  // The QR code is an SVG document produced by the server itself.
  const svg = new DOMParser().parseFromString(s.qr_svg, "image/svg+xml").documentElement;
  $("mfa-qr").replaceChildren(document.importNode(svg, true));
  $("mfa-secret").textContent = s.secret;
  $("mfa-enroll").hidden = false;
});

$("mfa-confirm").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const r = await api("POST", "/api/auth/mfa/validate", { code: ev.target.code.value.trim() });
  $("mfa-enroll").hidden = true;
  $("mfa-codes").textContent = "Recovery codes (shown once):\n" + r.recovery_codes.join("\n");
  $("mfa-codes").hidden = false;
  $("mfa-status").textContent = "MFA is enabled.";
  showMfa(true);
});

$("mfa-disable").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  await api("POST", "/api/auth/mfa/disable", { password: ev.target.password.value, code: ev.target.code.value.trim() });
  $("mfa-status").textContent = "MFA is disabled.";
  ev.target.reset();
  showMfa(false);
});

$("pk-add").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  if (!passkeys.supported()) return fail("This browser cannot use passkeys.");
  const opts = await api("POST", "/api/auth/passkeys/register/start", { name: f.name.value });
  let credential;
  try {
    credential = await passkeys.create(opts.publicKey);
  } catch (e) {
    return fail("No passkey was made (" + e.name + ").");
  }
  await api("POST", "/api/auth/passkeys/register/finish", credential);
  f.reset();
  refresh();
});

$("pat-create").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const t = await api("POST", "/api/tokens", { name: f.name.value, expires_in: f.expires_in.value });
  $("pat-secret").textContent = "Your new token (shown once): " + t.token;
  $("pat-secret").hidden = false;
  f.reset();
  refresh();
});

$("ex-start").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const body = { name: f.name.value };
  if (f.scenario.value) body.scenario = f.scenario.value;
  await api("POST", "/api/sessions/start", body);
  f.reset();
  refresh();
});

$("ex-end").addEventListener("click", async () => {
  await api("DELETE", "/api/sessions");
  refresh();
});

refresh().catch(() => {});
