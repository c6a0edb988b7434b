// The console: one page of views (Account, Access tokens, API keys, People, Settings,
// Exercises, Noise, Audit log, Status) chosen by the address fragment, each shown to those
// whose capabilities reach it. Every call goes to the API with the session cookie (ui.js).
"use strict";
const { $, el, api, all, when, button, form, confirm } = ui;
const body = document.body.dataset;
const caps = (body.caps || "").split(",").filter(Boolean);
const can = (c) => caps.includes(c);
const me = { id: body.user, email: body.email };
const off = (body.off || "").split(",").filter(Boolean);
const SERVICES = ["exercises", "noise", "platform-status", "audit", "users", "settings"];
const CAPS = ["manage_exercises", "manage_noise_logs", "manage_api_keys", "admin.users", "admin.settings", "audit.read"];
const METHODS = { pwd: "password", otp: "authenticator", hwk: "passkey" };
const lines = (s) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
const utc = (local) => (local ? new Date(local).toISOString().replace(/\.\d{3}Z$/, "Z") : undefined);
const localInput = (ts) => {
  if (!ts) return "";
  const d = new Date(ts);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};
const shortAgent = (ua) => {
  if (!ua) return "";
  const m = ua.match(/(Firefox|Edg|Chrome|Chromium|Safari|curl|python-requests|Wget)\/[\d.]+/);
  return m ? m[0].replace("Edg/", "Edge/") : ua.slice(0, 40);
};
// People by id, for showing emails rather than ids (filled for those who may list users).
const people = new Map([[me.id, me.email]]);
const who = (id) => people.get(id) || id;

// ---- the signed-in person's session ------------------------------------------------------------
ui.signIn = () => new Promise((resolve) => {
  const d = $("reauth");
  $("reauth-login").email.value = me.email;
  $("reauth-leave").href = "/login" + (location.hash || "");
  $("reauth-error").textContent = "";
  d.showModal();
  $("reauth-login").password.focus();
  reauthDone = () => { d.close(); resolve(); };
});
let reauthDone = () => {};
signInFlow("reauth-", (answer) => {
  // Signed in as someone else, or elsewhere: this page's data is not theirs.
  if (!answer.user || answer.user.id !== me.id || answer.user.tenantId !== body.tenantId) { location.reload(); return; }
  ui.rebase();
  reauthDone();
}, body.tenantId);
$("reauth").addEventListener("cancel", (ev) => ev.preventDefault());

// Signing out stays on the page when it did not happen (the server unreachable): the person
// must not believe a session ended that did not. One already over counts as signed out.
$("logout").addEventListener("click", async () => {
  const b = $("logout");
  const out = await ui.busy(b, () => ui.raw("POST", "/api/auth/logout").catch((e) => {
    if (e instanceof ui.ApiError && e.status === 401) return {};
    throw e;
  }), "Signed out.");
  if (out) location.href = "/login";
});

// ---- views -------------------------------------------------------------------------------------
const views = {};
function view(name, load) { views[name] = load; }

function allowed(a) {
  const need = a.dataset.need;
  if (body.gate === "all") return a.getAttribute("href") === "#account";
  if (a.dataset.module && off.includes(a.dataset.module)) return false;
  return !need || can(need);
}

for (const a of document.querySelectorAll("nav a")) a.hidden = !allowed(a);
for (const e of document.querySelectorAll("form[data-need], button[data-need]")) e.hidden = !can(e.dataset.need);

function show() {
  let name = location.hash.slice(1) || "account";
  const link = /^[a-z-]{1,32}$/.test(name) ? document.querySelector('nav a[href="#' + name + '"]') : null;
  if (!link || link.hidden) name = "account";
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + name;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === "#" + name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = document.querySelector("#view-" + name + " h1").textContent + " · labgate";
  (views[name] || (() => {}))();
}
window.addEventListener("hashchange", () => { show(); $("main").focus(); });
// The skip link moves the focus, not the view.
$("skip").addEventListener("click", (ev) => { ev.preventDefault(); $("main").focus(); });

if (body.gate === "all") {
  $("gate").textContent = "This tenant requires a second factor. Set up an authenticator app or add a passkey below, then sign out and sign in again with it: the rest of the console opens then.";
  $("gate").hidden = false;
} else if (off.length) {
  const names = { exercises: "Exercises", noise: "Noise", api_keys: "API keys" };
  $("gate").textContent = "Turned off for this tenant: " + off.map((m) => names[m] || m).join(", ") + (can("admin.settings") ? " (Settings turns them on again)." : ".");
  $("gate").hidden = false;
}
if (body.gate === "admins") {
  $("gate").textContent = "This tenant requires a second factor for administration: People and Settings open once you sign in with an authenticator code or a passkey (set one up below).";
  $("gate").hidden = false;
}

// ---- Account -----------------------------------------------------------------------------------
let mfaOn = body.mfa === "true";
function showMfa() {
  $("mfa-status").textContent = mfaOn ? "An authenticator app is set up: signing in asks for its code." : "No authenticator app is set up.";
  $("mfa-setup").hidden = mfaOn;
  $("mfa-renew").hidden = !mfaOn;
  $("mfa-move").hidden = !mfaOn;
  $("mfa-disable").hidden = !mfaOn;
}

const passkeyList = ui.paged($("passkeys"), "/api/auth/passkeys", [
  ["Name", (r) => r.name],
  ["Added", (r) => when(r.created_at)],
  ["Last used", (r) => when(r.last_used_at)],
], (r) => button("Remove", () => api("DELETE", "/api/auth/passkeys/" + r.id).then(passkeyList.load),
  { danger: true, aria: "Remove passkey " + r.name, ask: "Remove the passkey “" + r.name + "”? It will no longer sign you in.", done: "Passkey removed." }),
"No passkeys yet.");

const sessionList = ui.paged($("my-sessions"), "/api/auth/sessions", [
  ["Signed in", (r) => when(r.created_at)],
  ["Last active", (r) => when(r.last_used_at)],
  ["From", (r) => r.ip],
  ["Browser", (r) => shortAgent(r.user_agent)],
  ["With", (r) => (r.amr || []).map((m) => METHODS[m] || m).join(" + ")],
  ["Current", (r) => (r.current ? el("strong", { text: "this session" }) : "")],
], (r) => button(r.current ? "Sign out" : "End", async () => {
  await api("DELETE", "/api/auth/sessions/" + r.id);
  if (r.current) location.href = "/login";
  else sessionList.load();
}, { danger: true, aria: (r.current ? "Sign out this session" : "End the session from " + (r.ip || "an unknown address") + " of " + new Date(r.created_at).toLocaleString()),
  ask: r.current ? "Sign out of this browser?" : "End the session from " + (r.ip || "an unknown address") + "? That browser is signed out at once.", done: "Session ended." }));

$("sessions-end-others").addEventListener("click", async () => {
  const b = $("sessions-end-others");
  if (!(await confirm("Sign out every other browser and device signed in as you?", "Sign them out"))) return;
  await ui.busy(b, async () => {
    const others = (await all("/api/auth/sessions")).filter((s) => !s.current);
    for (const s of others) await api("DELETE", "/api/auth/sessions/" + s.id);
    sessionList.load();
    return others.length;
  }, (n) => (n ? n + (n === 1 ? " session ended." : " sessions ended.") : "No other sessions."));
});

view("account", async () => {
  showMfa();
  passkeyList.load();
  sessionList.load();
  const m = await api("GET", "/api/auth/me").catch((e) => { ui.say($("profile"), ui.describe(e), true); return null; });
  if (m) {
    const facts = [["Name", m.name || "—"], ["Email", m.email + (m.email_verified ? " (verified)" : "")], ["Tenant", m.tenantSlug],
      ["Roles", m.roles.join(", ") || "none"], ["Capabilities", caps.join(", ") || "none beyond your own account"], ["Member since", when(m.created_at)]];
    $("profile").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)]));
    mfaOn = m.mfa_enabled;
    showMfa();
    const tenants = await all("/api/auth/tenants").catch((e) => { ui.say($("profile"), ui.describe(e), true); return []; });
    const sw = $("tenant-switch");
    sw.hidden = tenants.length < 2;
    sw.tenant.replaceChildren(...tenants.map((t) => el("option", { value: t.slug, text: t.name + " (" + t.slug + ")", selected: t.slug === m.tenantSlug })));
  }
});

form($("tenant-switch"), async (f) => {
  await api("POST", "/api/auth/switch-tenant", { tenant: f.tenant.value });
  location.reload();
});

form($("password"), async (f) => {
  if (f.password.value !== f.again.value) throw new ui.ApiError(400, { message: "The two new passwords differ." });
  await api("POST", "/api/auth/change-password", { current_password: f.current.value, new_password: f.password.value });
  f.reset();
}, { done: "Password changed. Your other sessions were signed out." });

$("mfa-setup").addEventListener("click", async () => {
  const b = $("mfa-setup");
  await ui.busy(b, async () => {
    const s = await api("POST", "/api/auth/mfa/setup");
    // The QR code is an SVG document made by the server itself.
    const svg = new DOMParser().parseFromString(s.qr_svg, "image/svg+xml").documentElement;
    svg.setAttribute("aria-hidden", "true");
    $("mfa-qr").replaceChildren(document.importNode(svg, true));
    $("mfa-secret").textContent = s.secret;
    $("mfa-copy").replaceChildren(ui.copy(s.secret, "the authenticator secret"));
    $("mfa-enroll").hidden = false;
    $("mfa-codes").hidden = true;
    $("mfa-confirm").code.focus();
  }, "Scan the code, then confirm below.");
});

// Recovery codes are shown once, with copy and download.
function showCodes(codes) {
  const text = codes.join("\n");
  $("mfa-code-list").textContent = text;
  $("mfa-code-actions").replaceChildren(ui.copy(text, "the recovery codes"), ui.download("labgate-recovery-codes.txt", text + "\n", "the recovery codes"));
  $("mfa-codes").hidden = false;
}

form($("mfa-confirm"), async (f) => {
  const r = await api("POST", "/api/auth/mfa/validate", { code: f.code.value.trim() });
  f.reset();
  $("mfa-enroll").hidden = true;
  showCodes(r.recovery_codes);
  mfaOn = true;
  showMfa();
  if (body.gate) {
    $("gate").textContent = "Your authenticator is set up. Sign out and sign in again with it to use the rest of the console.";
  }
}, { done: "Authenticator confirmed." });

form($("mfa-renew"), async (f) => {
  const r = await api("POST", "/api/auth/mfa/recovery-codes", { code: f.code.value.trim() });
  f.reset();
  showCodes(r.recovery_codes);
}, { ask: "Make new recovery codes? The ones you have now stop working.", yes: "Make new codes", done: "New recovery codes below: the old ones no longer work." });

form($("mfa-disable"), async (f) => {
  await api("POST", "/api/auth/mfa/disable", { password: f.password.value, code: f.code.value.trim() });
  f.reset();
  mfaOn = false;
  $("mfa-codes").hidden = true;
  showMfa();
}, { ask: "Turn off the authenticator? Signing in will need only your password (or a passkey).", yes: "Turn it off", done: "The authenticator is off." });

form($("pk-add"), async (f) => {
  if (!passkeys.supported()) throw new ui.ApiError(400, { message: "This browser cannot use passkeys." });
  const opts = await api("POST", "/api/auth/passkeys/register/start", { name: f.name.value });
  let credential;
  try {
    credential = await passkeys.create(opts.publicKey);
  } catch (e) {
    throw new ui.ApiError(400, { message: "No passkey was made (" + e.name + ")." });
  }
  await api("POST", "/api/auth/passkeys/register/finish", credential);
  f.reset();
  passkeyList.load();
}, { done: "Passkey added." });

// ---- Access tokens -------------------------------------------------------------------------------
const patList = ui.paged($("pats"), "/api/tokens", [
  ["Name", (r) => r.name],
  ["Starts with", (r) => el("code", { text: r.prefix })],
  ["Created", (r) => when(r.created_at)],
  ["Expires", (r) => when(r.expires_at, "no expiry")],
  ["Last used", (r) => when(r.last_used_at)],
  ["From", (r) => r.last_used_ip],
], (r) => button("Revoke", () => api("DELETE", "/api/tokens/" + r.id).then(patList.load),
  { danger: true, aria: "Revoke token " + r.name, ask: "Revoke the token “" + r.name + "”? Anything using it is refused at once.", done: "Token “" + r.name + "” revoked." }),
"No tokens yet.");
view("tokens", () => patList.load());

form($("pat-create"), async (f) => {
  const t = await api("POST", "/api/tokens", { name: f.name.value, expires_in: f.expires_in.value });
  ui.secret($("pat-secret"), "Your new token “" + t.name + "”: copy it now, it is not shown again.", t.token);
  f.reset();
  patList.first();
}, { done: "Token created." });

// ---- API keys ------------------------------------------------------------------------------------
for (const s of SERVICES) {
  $("key-services").append(el("label", {}, s, el("select", { name: "svc-" + s },
    el("option", { value: "", text: "no access" }), el("option", { value: "read", text: "read" }), el("option", { value: "write", text: "read and write" }))));
}
let editingKey = null;
function keyMode(k) {
  editingKey = k;
  const f = $("key-form");
  f.reset();
  $("h-key-form").textContent = k ? "Edit the key “" + k.name + "”" : "New key";
  f.querySelector("button[type=submit]").textContent = k ? "Save key" : "Create key";
  $("key-cancel").hidden = !k;
  f.expires.disabled = !!k;
  if (k) {
    f.name.value = k.name;
    for (const s of SERVICES) f["svc-" + s].value = k.services[s] || "";
    f.subnets.value = k.allowed_subnets.join("\n");
    f.origins.value = k.allowed_origins.join("\n");
    f.expires.value = localInput(k.expires_at);
    f.name.focus();
  }
}
$("key-cancel").addEventListener("click", () => keyMode(null));

const describeServices = (s) => Object.entries(s).map(([k, v]) => k + ": " + (v === "write" ? "read and write" : v)).join(", ");
const keyList = ui.paged($("keys"), "/api/api-keys", [
  ["Name", (r) => r.name],
  ["Starts with", (r) => el("code", { text: r.prefix })],
  ["Access", (r) => describeServices(r.services)],
  ["From", (r) => r.allowed_subnets.join(", ") || "anywhere"],
  ["Expires", (r) => when(r.expires_at, "no expiry")],
  ["Last used", (r) => when(r.last_used_at)],
  ["Shared with", (r) => el("span", {}, r.shared_with.map((u) => el("span", { class: "chip" }, who(u) + " ",
    button("Unshare", () => api("DELETE", "/api/api-keys/" + r.id + "/shares/" + u).then(keyList.load),
      { aria: "Unshare key " + r.name + " with " + who(u), ask: "Stop sharing “" + r.name + "” with " + who(u) + "? The key keeps working." }))))],
], (r) => [
  button("Reveal", async () => {
    const s = await api("GET", "/api/api-keys/" + r.id + "/secret");
    ui.secret($("key-secret"), "The key “" + r.name + "” (its reveal is recorded in the audit log):", s.key);
    $("key-secret").scrollIntoView({ block: "nearest" });
  }, { aria: "Reveal key " + r.name, ask: "Show the secret of “" + r.name + "”? This is recorded in the audit log.", yes: "Show it" }),
  button("Edit", () => keyMode(r), { aria: "Edit key " + r.name, done: "" }),
  shareControl(r),
  button("Delete", () => api("DELETE", "/api/api-keys/" + r.id).then(keyList.load),
    { danger: true, aria: "Delete key " + r.name, ask: "Delete the key “" + r.name + "”? Everything using it is refused at once.", done: "Key “" + r.name + "” deleted." }),
], "No API keys yet.");

// Sharing hands a key to another member: chosen from the tenant's people where the caller may
// list them, else by user id.
function shareControl(k) {
  const f = el("form", { class: "inline", "aria-label": "Share key " + k.name });
  const others = [...people.entries()].filter(([id]) => id !== me.id && !k.shared_with.includes(id));
  const pick = can("admin.users")
    ? el("select", { name: "user", "aria-label": "Share key " + k.name + " with", disabled: !others.length },
      others.length ? others.map(([id, email]) => el("option", { value: id, text: email })) : el("option", { value: "", text: "no other members" }))
    : el("input", { name: "user", placeholder: "user id", required: true, "aria-label": "User id to share key " + k.name + " with" });
  f.append(pick, el("button", { type: "submit", text: "Share", "aria-label": "Share key " + k.name, disabled: can("admin.users") && !others.length }));
  form(f, () => api("POST", "/api/api-keys/" + k.id + "/shares", { user_id: f.user.value }).then(keyList.load));
  return f;
}

// Emails for ids, for those who may list the tenant's people (once, when first needed).
let peopleLoaded = null;
function loadPeople() {
  if (!can("admin.users")) return Promise.resolve();
  peopleLoaded = peopleLoaded || all("/api/admin/users").then((us) => { for (const u of us) people.set(u.id, u.email); }).catch(() => { peopleLoaded = null; });
  return peopleLoaded;
}

view("api-keys", async () => {
  await loadPeople();
  keyList.load();
});

form($("key-form"), async (f) => {
  const services = {};
  for (const s of SERVICES) if (f["svc-" + s].value) services[s] = f["svc-" + s].value;
  const b = { name: f.name.value, services, allowed_subnets: lines(f.subnets.value), allowed_origins: lines(f.origins.value) };
  if (editingKey) {
    await api("PATCH", "/api/api-keys/" + editingKey.id, b);
    keyMode(null);
  } else {
    if (f.expires.value) b.expires_at = utc(f.expires.value);
    const k = await api("POST", "/api/api-keys", b);
    ui.secret($("key-secret"), "The new key “" + k.name + "”: copy it now (holders of its access may reveal it later).", k.key);
    f.reset();
  }
  keyList.load();
}, { done: "Saved." });

// ---- People --------------------------------------------------------------------------------------
let roleNames = [];
function rolePickers(selected) {
  for (const box of document.querySelectorAll(".roles-pick")) {
    const fresh = !box.querySelector("input");
    const chosen = selected && box.closest("#user-form") ? selected
      : fresh ? ["viewer"] : [...box.querySelectorAll("input:checked")].map((i) => i.value);
    box.replaceChildren(...roleNames.map((n) => el("label", { class: "check" },
      el("input", { type: "checkbox", name: "role", value: n, checked: chosen.includes(n), defaultChecked: chosen.includes(n) }), " " + n)));
  }
}
const picked = (f) => [...f.querySelectorAll("input[name=role]:checked")].map((i) => i.value);

const userQuery = () => {
  const f = $("user-filter"), q = new URLSearchParams();
  if (f.q.value) q.set("q", f.q.value);
  if (f.status.value) q.set("status", f.status.value);
  return "/api/admin/users" + (q.toString() ? "?" + q : "");
};
const userList = ui.paged($("users"), userQuery, [
  ["Email", (r) => r.email],
  ["Name", (r) => r.name],
  ["Status", (r) => r.status],
  ["Roles", (r) => r.roles.join(", ")],
  ["Authenticator", (r) => (r.mfa_enabled ? "yes" : "no")],
  ["Added", (r) => when(r.created_at)],
], (r) => [
  button("Edit", () => userMode(r), { aria: "Edit user " + r.email, done: "" }),
  button("Send reset link", () => api("POST", "/api/admin/users/" + r.id + "/reset-password", {}),
    { aria: "Send reset link to " + r.email, ask: "Mail a password reset link to " + r.email + "?", yes: "Send it", done: "Reset link sent." }),
  button("Remove", () => api("DELETE", "/api/admin/users/" + r.id).then(userList.load),
    { danger: true, aria: "Remove user " + r.email, ask: "Remove " + r.email + " from this tenant? Their sessions and tokens here stop at once.", done: r.email + " removed." }),
], "No users match.");
form($("user-filter"), () => userList.first(), { done: "" });

let editingUser = null;
function userMode(u) {
  editingUser = u;
  const f = $("user-form");
  f.reset();
  $("h-user-form").textContent = u ? "Edit " + u.email : "Add a user";
  f.querySelector("button[type=submit]").textContent = u ? "Save user" : "Add user";
  $("user-cancel").hidden = !u;
  f.email.disabled = !!u;
  f.password.closest("label").hidden = !!u;
  f.status.closest("label").hidden = !u;
  rolePickers(u ? u.roles : ["viewer"]);
  if (u) {
    f.email.value = u.email;
    f.name.value = u.name;
    f.status.value = u.status;
    f.name.focus();
  }
}
$("user-cancel").addEventListener("click", () => userMode(null));

const losing = (before, after) => before.filter((x) => !after.includes(x));
form($("user-form"), async (f) => {
  if (editingUser) {
    await api("PATCH", "/api/admin/users/" + editingUser.id, { name: f.name.value, status: f.status.value, roles: picked(f) });
    userMode(null);
  } else {
    const b = { email: f.email.value, name: f.name.value, roles: picked(f) };
    if (f.password.value) b.password = f.password.value;
    await api("POST", "/api/admin/users", b);
    userMode(null);
  }
  people.clear();
  people.set(me.id, me.email);
  peopleLoaded = null;
  userList.load();
}, { done: "Saved.", yes: "Save", ask: (f) => {
  if (!editingUser) return null;
  if (editingUser.status !== "disabled" && f.status.value === "disabled") return "Disable " + editingUser.email + "? Their sessions, tokens and keys stop working at once.";
  const lost = losing(editingUser.roles, picked(f));
  return lost.length ? "Take the role" + (lost.length > 1 ? "s " : " ") + lost.join(", ") + " from " + editingUser.email + "?" : null;
} });

const inviteList = ui.paged($("invitations"), "/api/admin/invitations", [
  ["Email", (r) => r.email],
  ["Roles", (r) => r.roles.join(", ")],
  ["Status", (r) => r.status],
  ["Sent", (r) => when(r.created_at)],
  ["Expires", (r) => when(r.expires_at)],
], (r) => (r.status === "pending" ? button("Revoke", () => api("DELETE", "/api/admin/invitations/" + r.id).then(inviteList.load),
  { danger: true, aria: "Revoke the invitation of " + r.email, ask: "Revoke the invitation of " + r.email + "? Its link stops working." }) : null),
"No invitations.");

form($("invite-form"), async (f) => {
  await api("POST", "/api/admin/invitations", { email: f.email.value, roles: picked(f) });
  f.reset();
  inviteList.first();
}, { done: "Invitation sent." });

for (const c of CAPS) $("role-caps").append(el("label", { class: "check" }, el("input", { type: "checkbox", name: "cap", value: c }), " " + c));
let editingRole = null;
function roleMode(r) {
  editingRole = r;
  const f = $("role-form");
  f.reset();
  f.querySelector("button[type=submit]").textContent = r ? "Save role" : "Create role";
  $("role-cancel").hidden = !r;
  if (r) {
    f.name.value = r.name;
    for (const i of f.querySelectorAll("input[name=cap]")) i.checked = r.permissions.includes(i.value);
    f.name.focus();
  }
}
$("role-cancel").addEventListener("click", () => roleMode(null));
const roleList = ui.paged($("roles"), "/api/admin/roles", [
  ["Name", (r) => r.name],
  ["Capabilities", (r) => r.permissions.join(", ") || "none"],
  ["Kind", (r) => (r.builtin ? "built in" : "custom")],
], (r) => (r.builtin ? null : [
  button("Edit", () => roleMode(r), { aria: "Edit role " + r.name, done: "" }),
  button("Delete", () => api("DELETE", "/api/admin/roles/" + r.id).then(() => { roleList.load(); loadRoles(); }),
    { danger: true, aria: "Delete role " + r.name, ask: "Delete the role “" + r.name + "”?" }),
]));
form($("role-form"), async (f) => {
  const b = { name: f.name.value, permissions: [...f.querySelectorAll("input[name=cap]:checked")].map((i) => i.value) };
  if (editingRole) await api("PUT", "/api/admin/roles/" + editingRole.id, b);
  else await api("POST", "/api/admin/roles", b);
  roleMode(null);
  roleList.load();
  loadRoles();
}, { done: "Saved.", yes: "Save", ask: (f) => {
  if (!editingRole) return null;
  const lost = losing(editingRole.permissions, [...f.querySelectorAll("input[name=cap]:checked")].map((i) => i.value));
  return lost.length ? "Take " + lost.join(", ") + " from everyone holding the role “" + editingRole.name + "”? It applies at once." : null;
} });

async function loadRoles() {
  roleNames = (await all("/api/admin/roles").catch(() => [])).map((r) => r.name);
  rolePickers(editingUser ? editingUser.roles : ["viewer"]);
}

const tenantSessions = ui.paged($("tenant-sessions"), "/api/admin/sessions", [
  ["Who", (r) => r.email],
  ["Signed in", (r) => when(r.created_at)],
  ["Last active", (r) => when(r.last_used_at)],
  ["From", (r) => r.ip],
  ["Browser", (r) => shortAgent(r.user_agent)],
  ["With", (r) => (r.amr || []).map((m) => METHODS[m] || m).join(" + ")],
], (r) => button("End", () => api("DELETE", "/api/admin/sessions/" + r.id).then(tenantSessions.load),
  { danger: true, aria: "End the session of " + r.email + " from " + r.ip, ask: "End this session of " + r.email + "? They are signed out at once." }));

view("people", async () => {
  userList.load();
  inviteList.load();
  roleList.load();
  tenantSessions.load();
  await loadRoles();
});

// ---- Settings ------------------------------------------------------------------------------------
let settingsNow = null;
view("settings", async () => {
  const f = $("settings-form");
  const s = await api("GET", "/api/admin/settings").catch((e) => { ui.say(f, ui.describe(e), true); return null; });
  settingsNow = s;
  if (s) {
    f.require_mfa.value = s.require_mfa;
    f.password_min_length.value = s.password_min_length;
    for (const k of ["exercises", "noise", "api_keys"]) f[k].checked = s.features[k] !== false;
  }
  allowList.load();
  blockList.load();
});
const STRICT = { off: 0, admins: 1, all: 2 };
form($("settings-form"), async (f) => {
  settingsNow = await api("PUT", "/api/admin/settings", {
    require_mfa: f.require_mfa.value,
    password_min_length: Number(f.password_min_length.value),
    features: { exercises: f.exercises.checked, noise: f.noise.checked, api_keys: f.api_keys.checked },
  });
}, { done: "Settings saved.", yes: "Save", ask: (f) => {
  if (!settingsNow) return null;
  const said = [];
  const turnedOff = ["exercises", "noise", "api_keys"].filter((k) => settingsNow.features[k] !== false && !f[k].checked);
  if (turnedOff.length) said.push("turn off " + turnedOff.join(", ").replace("api_keys", "API keys (every key of the tenant stops working)"));
  if (STRICT[f.require_mfa.value] > STRICT[settingsNow.require_mfa]) said.push("require a second factor for " + (f.require_mfa.value === "all" ? "everyone" : "administration") + " (people without one are held back at once)");
  return said.length ? "Save and " + said.join(", and ") + "?" : null;
} });

function ipList(kind, t) {
  const path = "/api/admin/security/ip-" + kind;
  const list = ui.paged(t, path, [
    ["Network", (r) => el("code", { text: r.cidr })],
    ["Note", (r) => r.note],
    ["Added", (r) => when(r.created_at)],
    ["By", (r) => who(r.created_by)],
  ], (r) => button("Remove", () => api("DELETE", path + "/" + r.id).then(list.load),
    { danger: true, aria: "Remove " + r.cidr + " from the " + kind.replace("list", " list"), ask: "Remove " + r.cidr + " from the " + kind.replace("list", " list") + "?" }),
  "No entries.");
  return list;
}
const allowList = ipList("allowlist", $("allow"));
const blockList = ipList("blocklist", $("block"));
for (const [id, kind, list] of [["allow-form", "allowlist", allowList], ["block-form", "blocklist", blockList]]) {
  form($(id), async (f) => {
    const b = { cidr: f.cidr.value.trim() };
    if (f.note.value) b.note = f.note.value;
    await api("POST", "/api/admin/security/ip-" + kind, b);
    f.reset();
    list.first();
  }, { done: "Added." });
}

// ---- Exercises -----------------------------------------------------------------------------------
const exQuery = () => "/api/sessions" + ($("ex-filter").status.value ? "?status=" + $("ex-filter").status.value : "");
const exList = ui.paged($("exercises"), exQuery, [
  ["Name", (r) => r.name],
  ["Scenario", (r) => r.scenario],
  ["Status", (r) => r.status],
  ["Started", (r) => when(r.started_at)],
  ["By", (r) => who(r.started_by)],
  ["Ended", (r) => (r.status === "running" ? "running" : when(r.ended_at))],
], (r) => (r.status === "running" && can("manage_exercises") ? button("End", () => api("DELETE", "/api/sessions?id=" + r.id).then(exList.load),
  { danger: true, aria: "End exercise " + r.name, ask: "End the exercise “" + r.name + "”?" }) : null), "No exercise sessions.");
view("exercises", async () => { await loadPeople(); exList.load(); });
form($("ex-filter"), () => exList.first(), { done: "" });
form($("ex-start"), async (f) => {
  const b = { name: f.name.value };
  if (f.scenario.value) b.scenario = f.scenario.value;
  await api("POST", "/api/sessions/start", b);
  f.reset();
  exList.first();
}, { done: "Exercise started." });
$("ex-end").addEventListener("click", async () => {
  if (!(await confirm("End every running exercise of this tenant?", "End them all"))) return;
  await ui.busy($("ex-end"), async () => {
    const r = await api("DELETE", "/api/sessions");
    exList.load();
    return r.ended;
  }, (n) => n + (n === 1 ? " exercise ended." : " exercises ended."));
});

// ---- Noise ---------------------------------------------------------------------------------------
async function noiseChoices() {
  const failed = (e) => { ui.say($("run-form"), ui.describe(e), true); return []; };
  const [profiles, sinks] = await Promise.all([all("/api/noise/profiles").catch(failed), all("/api/noise/sinks").catch(failed)]);
  for (const s of document.querySelectorAll("select.profiles")) {
    const v = s.value;
    s.replaceChildren(...profiles.map((p) => el("option", { value: p.name, text: p.name, title: p.description })));
    if (v) s.value = v;
  }
  for (const s of document.querySelectorAll("select.sinks")) {
    const v = s.value;
    s.replaceChildren(...sinks.map((k) => el("option", { value: k.name, text: k.name })));
    if (v) s.value = v;
  }
}

const runList = ui.paged($("runs"), "/api/noise/runs", [
  ["Profile", (r) => r.profile],
  ["Events", (r) => r.events_sent + " of " + r.count],
  ["Sink", (r) => r.sink],
  ["Status", (r) => el("span", { class: "state " + r.status, text: r.status })],
  ["Started by", (r) => r.trigger],
  ["Queued", (r) => when(r.created_at)],
  ["Finished", (r) => (r.finished_at ? when(r.finished_at) : "not yet")],
  ["Error", (r) => r.error],
], null, "No runs yet.");
form($("run-form"), async (f) => {
  const b = { profile: f.profile.value, count: Number(f.count.value) };
  if (f.sink.value) b.sink = f.sink.value;
  if (f.seed.value) b.seed = Number(f.seed.value);
  const r = await api("POST", "/api/noise/run", b);
  runList.first();
  return r;
}, { done: "Run queued: its status follows below." });

let editingSchedule = null;
function scheduleMode(s) {
  editingSchedule = s;
  const f = $("schedule-form");
  f.reset();
  f.querySelector("button[type=submit]").textContent = s ? "Save schedule" : "Create schedule";
  $("schedule-cancel").hidden = !s;
  if (s) {
    for (const k of ["name", "cron", "profile", "count", "sink", "misfire"]) f[k].value = s[k];
    f.enabled.checked = s.enabled;
    f.name.focus();
  }
}
$("schedule-cancel").addEventListener("click", () => scheduleMode(null));
const scheduleList = ui.paged($("schedules"), "/api/noise/schedules", [
  ["Name", (r) => r.name],
  ["When (UTC cron)", (r) => el("code", { text: r.cron })],
  ["Profile", (r) => r.profile],
  ["Events", (r) => String(r.count)],
  ["Sink", (r) => r.sink],
  ["Enabled", (r) => (r.enabled ? "yes" : "no")],
  ["Next run", (r) => (r.enabled ? when(r.next_run_at, "not scheduled") : "disabled")],
  ["Last run", (r) => when(r.last_run_at)],
], can("manage_noise_logs") ? (r) => [
  button(r.enabled ? "Disable" : "Enable", () => api("PATCH", "/api/noise/schedules/" + r.id, { enabled: !r.enabled }).then(scheduleList.load),
    { aria: (r.enabled ? "Disable" : "Enable") + " schedule " + r.name }),
  button("Edit", () => scheduleMode(r), { aria: "Edit schedule " + r.name, done: "" }),
  button("Delete", () => api("DELETE", "/api/noise/schedules/" + r.id).then(scheduleList.load),
    { danger: true, aria: "Delete schedule " + r.name, ask: "Delete the schedule “" + r.name + "”? It stops firing." }),
] : null, "No schedules yet.");
form($("schedule-form"), async (f) => {
  const b = { name: f.name.value, cron: f.cron.value.trim(), profile: f.profile.value, count: Number(f.count.value), sink: f.sink.value, enabled: f.enabled.checked, misfire: f.misfire.value };
  if (editingSchedule) await api("PATCH", "/api/noise/schedules/" + editingSchedule.id, b);
  else await api("POST", "/api/noise/schedules", b);
  scheduleMode(null);
  scheduleList.load();
}, { done: "Saved." });

const sinkTarget = (s) => (s.kind === "file" ? s.path : s.kind === "http" ? s.url : s.protocol + "://" + s.host + ":" + s.port + " (" + s.format + ")");
let editingSink = null;
function sinkKind() {
  const f = $("sink-form");
  for (const l of f.querySelectorAll("[data-kind]")) l.hidden = l.dataset.kind !== f.kind.value;
}
function sinkMode(s) {
  editingSink = s;
  const f = $("sink-form");
  f.reset();
  f.querySelector("button[type=submit]").textContent = s ? "Save sink" : "Add sink";
  $("sink-cancel").hidden = !s;
  if (s) {
    for (const k of ["name", "kind", "path", "host", "port", "protocol", "format", "url", "batch_size"]) if (s[k] !== undefined && s[k] !== null) f[k].value = s[k];
    f.name.focus();
  }
  sinkKind();
}
$("sink-form").kind.addEventListener("change", sinkKind);
$("sink-cancel").addEventListener("click", () => sinkMode(null));
sinkKind();
const sinkList = ui.paged($("sinks"), "/api/noise/sinks", [
  ["Name", (r) => r.name],
  ["Kind", (r) => r.kind],
  ["Sends to", (r) => sinkTarget(r)],
  ["Added", (r) => when(r.created_at)],
], can("manage_noise_logs") ? (r) => [
  button("Edit", () => sinkMode(r), { aria: "Edit sink " + r.name, done: "" }),
  button("Delete", () => api("DELETE", "/api/noise/sinks/" + r.id).then(() => { sinkList.load(); noiseChoices(); }),
    { danger: true, aria: "Delete sink " + r.name, ask: "Delete the sink “" + r.name + "”?" }),
] : null);
form($("sink-form"), async (f) => {
  const b = { name: f.name.value, kind: f.kind.value };
  if (b.kind === "file") b.path = f.path.value;
  if (b.kind === "syslog") Object.assign(b, { host: f.host.value, port: Number(f.port.value), protocol: f.protocol.value, format: f.format.value });
  if (b.kind === "http") Object.assign(b, { url: f.url.value, batch_size: Number(f.batch_size.value) });
  if (editingSink) await api("PATCH", "/api/noise/sinks/" + editingSink.id, b);
  else await api("POST", "/api/noise/sinks", b);
  sinkMode(null);
  sinkList.load();
  noiseChoices();
}, { done: "Saved." });

view("noise", async () => {
  await noiseChoices();
  runList.load();
  scheduleList.load();
  sinkList.load();
});

// ---- Audit log -------------------------------------------------------------------------------------
function auditFilters() {
  const f = $("audit-filter"), q = new URLSearchParams();
  for (const k of ["actor", "action", "outcome"]) if (f[k].value.trim()) q.set(k, f[k].value.trim());
  for (const k of ["since", "until"]) if (f[k].value) q.set(k, utc(f[k].value));
  return q;
}
const auditList = ui.paged($("audit"), () => "/api/admin/audit?" + auditFilters(), [
  ["When", (r) => when(r.ts)],
  ["Who", (r) => (r.actor_type === "user" ? who(r.actor_id) : r.actor_type + (r.actor_id ? " " + r.actor_id : ""))],
  ["Action", (r) => r.action],
  ["Target", (r) => r.target],
  ["Outcome", (r) => el("span", { class: "state " + r.outcome, text: r.outcome })],
  ["From", (r) => r.ip],
  ["Details", (r) => (r.details && Object.keys(r.details).length ? el("details", {}, el("summary", { text: "details" }), el("pre", { text: JSON.stringify(r.details, null, 1) })) : "")],
], null, "No records match.");
function exportLinks() {
  const q = auditFilters();
  for (const fmt of ["jsonl", "csv"]) {
    q.set("format", fmt);
    $("export-" + fmt).href = "/api/admin/audit/export?" + q;
  }
}
form($("audit-filter"), async () => { exportLinks(); await auditList.first(); }, { done: "" });
view("audit", async () => {
  await loadPeople();
  exportLinks();
  auditList.load();
});

// ---- Status and live events ------------------------------------------------------------------------
const duration = (s) => (s < 3600 ? Math.round(s / 60) + " minutes" : s < 172800 ? Math.round(s / 3600) + " hours" : Math.round(s / 86400) + " days");
async function loadStatus() {
  const s = await api("GET", "/api/platform-status").catch((e) => { ui.say($("status"), ui.describe(e), true); return null; });
  if (!s) return;
  const facts = [["Version", s.version], ["Running for", duration(s.uptime_s)], ["Exercises running", String(s.exercises_running)],
    ["Noise runs, last 24 hours", String(s.noise_runs_24h)], ["Schedules enabled", String(s.schedules.enabled)], ["Next scheduled run", when(s.schedules.next_run_at, "none")]];
  $("status").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)]));
}
const eventList = ui.paged($("events"), "/api/platform-status/events", [
  ["When", (r) => when(r.created_at)],
  ["Event", (r) => el("strong", { text: r.type })],
  ["Details", (r) => Object.entries(r.data || {}).filter(([, v]) => v !== null && typeof v !== "object").map(([k, v]) => k + " " + v).join(", ")],
], null, "No events yet.");
view("status", () => { loadStatus(); eventList.load(); });

// One event stream for the page: the views it concerns refresh themselves (a run's status
// changes without a reload). A stream the server closed (the session ended) is opened again
// once a call has signed the page in again.
const TYPES = ["exercise.started", "exercise.ended", "noise.run.queued", "noise.run.started", "noise.run.finished",
  "schedule.fired", "schedule.skipped", "breakglass.used", "account.locked", "credential.leaked"];
const timers = {};
function soon(key, fn) {
  clearTimeout(timers[key]);
  timers[key] = setTimeout(fn, 150);
}
function onEvent(t) {
  const open = location.hash.slice(1) || "account";
  if (open === "noise" && (t.startsWith("noise.") || t.startsWith("schedule."))) soon("noise", () => { runList.load(); scheduleList.load(); });
  if (open === "exercises" && t.startsWith("exercise.")) soon("ex", exList.load);
  if (open === "status") soon("status", () => { loadStatus(); if (eventList.page() === 1) eventList.load(); });
}
function listen() {
  const stream = new EventSource("/api/platform-status/events");
  stream.addEventListener("open", () => { $("live").textContent = "Live: new events appear here as they happen."; });
  stream.addEventListener("error", () => {
    if (stream.readyState !== EventSource.CLOSED) {
      $("live").textContent = "The live event stream is reconnecting…";
      return;
    }
    $("live").textContent = "The live event stream stopped; it starts again when labgate answers.";
    // A refused stream is closed for good: ask the API (which signs the page in again if the
    // session ended), then open a new stream.
    setTimeout(() => api("GET", "/api/platform-status").then(listen, () => setTimeout(listen, 5000)), 1000);
  });
  for (const t of TYPES) stream.addEventListener(t, () => onEvent(t));
}
if (body.gate !== "all" && window.EventSource) listen();

keyMode(null);
userMode(null);
show();
