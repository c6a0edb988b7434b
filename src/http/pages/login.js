// Sign-in page: password, then the second step when the account has a second factor (an
// authenticator code or a passkey); or a passkey alone. The session cookie is
// set by the API's answer; nothing secret is kept in the page.
"use strict";
const $ = (id) => document.getElementById(id);
let mfaToken = null;
// Where to go once signed in: a tool behind forward authentication the server vouched for
// (`/login?rd=`), or the console.
const next = document.body.dataset.rd || "/console";

function fail(msg) { $("error").textContent = msg; }

async function post(path, body) {
  const res = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  return { res, data };
}

$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  fail("");
  const f = ev.target;
  const { res, data } = await post("/api/auth/login", { email: f.email.value, password: f.password.value });
  if (!res.ok) return fail(data.message || "Sign-in failed.");
  if (data.mfa_required) {
    mfaToken = data.mfa_token;
    $("login").hidden = true;
    $("mfa").hidden = false;
    $("mfa").code.focus();
    return;
  }
  location.href = next;
});

$("mfa").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  fail("");
  const { res, data } = await post("/api/auth/mfa/validate", { mfa_token: mfaToken, code: ev.target.code.value.trim() });
  if (!res.ok) return fail(data.message || "The code was not accepted.");
  location.href = next;
});

// A passkey sign-in: the passkey names its account (an email typed first binds the sign-in to
// that account), or as the second step after the password.
async function passkeySignIn(body) {
  fail("");
  if (!passkeys.supported()) return fail("This browser cannot use passkeys.");
  const { res, data } = await post("/api/auth/passkeys/login/start", body);
  if (!res.ok) return fail(data.message || "A passkey sign-in could not start.");
  let credential;
  try {
    credential = await passkeys.get(data.publicKey);
  } catch (e) {
    return fail("No passkey was used (" + e.name + ").");
  }
  const done = await post("/api/auth/passkeys/login/finish", { challenge_id: data.challenge_id, credential });
  if (!done.res.ok) return fail(done.data.message || "Sign-in failed.");
  location.href = next;
}

$("passkey").addEventListener("click", () => {
  const email = $("login").email.value.trim();
  passkeySignIn(email ? { email } : {});
});
$("mfa-passkey").addEventListener("click", () => passkeySignIn({ mfa_token: mfaToken }));
