// Signing in: password, then the second step when the account has a second factor (an
// authenticator code, a recovery code or a passkey); or a passkey alone. Used by the sign-in page
// and by the console's "sign in again" dialog (ids prefixed "reauth-"). The session cookie is set
// by the API's answer; nothing secret is kept in the page.
"use strict";

// `tenant` (an id or slug) keeps a sign-in in the tenant the page is about.
function signInFlow(prefix, done, tenant) {
  const $ = (id) => document.getElementById(prefix + id);
  const inTenant = (body) => (tenant ? { ...body, tenant } : body);
  let mfaToken = null;

  function fail(msg) { $("error").textContent = msg || ""; }

  function wait(res) {
    const s = Number(res.headers.get("Retry-After")) || 0;
    if (!s) return "a while";
    if (s < 90) return s + (s === 1 ? " second" : " seconds");
    const m = Math.round(s / 60);
    return m + (m === 1 ? " minute" : " minutes");
  }

  // What a refused step means, in words, with how long to wait where the server said.
  function refusal(res, data, step) {
    if (res.status === 423) return "Too many failed sign-ins: this account is locked for " + wait(res) + ". Try again then, or reset the password.";
    if (res.status === 429) return "Too many sign-in attempts from this address: try again in " + wait(res) + ".";
    if (step === "code" && data.code === "INVALID_CREDENTIALS") return "That code was not accepted. Check that the authenticator's clock is right, or use a recovery code.";
    if (step === "code" && (data.code === "INVALID_TOKEN" || data.code === "TOKEN_EXPIRED")) return "This sign-in took too long. Enter your password again.";
    if (step === "password" && data.code === "INVALID_CREDENTIALS") return "Wrong email or password.";
    return data.message || "Sign-in failed.";
  }

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

  // One attempt at a time: the form's buttons are busy until the answer is in.
  async function step(form, fn) {
    const buttons = [...form.querySelectorAll("button")];
    if (form.getAttribute("aria-busy") === "true") return;
    form.setAttribute("aria-busy", "true");
    for (const b of buttons) b.disabled = true;
    fail("");
    try {
      await fn();
    } catch (e) {
      fail("labgate could not be reached. Check the connection and try again.");
    } finally {
      form.removeAttribute("aria-busy");
      for (const b of buttons) b.disabled = false;
    }
  }

  function backToPassword() {
    mfaToken = null;
    $("mfa").hidden = true;
    $("login").hidden = false;
    $("mfa").reset();
  }

  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = ev.target;
    step(f, async () => {
      const { res, data } = await post("/api/auth/login", inTenant({ email: f.email.value, password: f.password.value }));
      if (!res.ok) return fail(refusal(res, data, "password"));
      f.password.value = "";
      if (data.mfa_required) {
        mfaToken = data.mfa_token;
        $("login").hidden = true;
        $("mfa").hidden = false;
        $("mfa").code.focus();
        return;
      }
      done(data);
    });
  });

  $("mfa").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = ev.target;
    step(f, async () => {
      const { res, data } = await post("/api/auth/mfa/validate", { mfa_token: mfaToken, code: f.code.value.trim() });
      if (!res.ok) {
        const msg = refusal(res, data, "code");
        if (data.code === "INVALID_TOKEN" || data.code === "TOKEN_EXPIRED") backToPassword();
        f.code.select();
        return fail(msg);
      }
      backToPassword();
      done(data);
    });
  });

  // A passkey sign-in: the passkey names its account (an email typed first binds the sign-in
  // to that account), or as the second step after the password.
  async function passkeySignIn(form, body) {
    await step(form, async () => {
      if (!passkeys.supported()) return fail("This browser cannot use passkeys.");
      const { res, data } = await post("/api/auth/passkeys/login/start", body.mfa_token ? body : inTenant(body));
      if (!res.ok) return fail(refusal(res, data, "passkey"));
      let credential;
      try {
        credential = await passkeys.get(data.publicKey);
      } catch (e) {
        return fail("No passkey was used (" + e.name + ").");
      }
      const r = await post("/api/auth/passkeys/login/finish", { challenge_id: data.challenge_id, credential });
      if (!r.res.ok) return fail(refusal(r.res, r.data, "passkey"));
      backToPassword();
      done(r.data);
    });
  }

  $("passkey").addEventListener("click", () => {
    const email = $("login").email.value.trim();
    passkeySignIn($("login"), email ? { email } : {});
  });
  $("mfa-passkey").addEventListener("click", () => passkeySignIn($("mfa"), { mfa_token: mfaToken }));
  return { fail };
}

// The sign-in page itself: where to go once signed in is a tool behind forward authentication
// the server vouched for (`/login?rd=`), else the console view the person asked for (the address
// fragment a redirect to this page kept, or `?next=` naming a console view).
if (document.getElementById("login") && document.body.classList.contains("narrow")) {
  // A view's name and nothing else: never a path, so this page sends nobody anywhere else.
  const name = (v) => (/^[a-z-]{1,32}$/.test(v || "") ? "#" + v : "");
  const view = name(location.hash.slice(1)) || name(new URLSearchParams(location.search).get("next"));
  const next = document.body.dataset.rd || "/console" + view;
  signInFlow("", () => { location.href = next; });
}
