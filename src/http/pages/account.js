// The pages reached from mail and from the sign-in page: asking for a reset link, choosing a
// new password with one, and accepting an invitation. The token is read from the address's
// fragment (#token=...), which browsers never send to a server, and is posted once.
"use strict";
const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";

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

// One submission at a time: the button is busy until the answer is in.
function form(id, submit) {
  const f = $(id);
  if (!f) return;
  if (id !== "forgot" && !token) {
    f.hidden = true;
    fail("This page opens from the link in your mail; that link is missing its token.");
    return;
  }
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    fail("");
    const button = f.querySelector("button");
    button.disabled = true;
    try {
      const { res, data } = await submit(f);
      if (res.ok) {
        f.hidden = true;
        $("done").hidden = false;
        // The token is spent: it leaves the address bar and the history entry.
        history.replaceState(null, "", location.pathname);
      } else {
        fail(data.message || "That did not work.");
      }
    } catch (e) {
      fail("labgate could not be reached. Try again.");
    } finally {
      button.disabled = false;
    }
  });
}

function same(f) {
  if (f.password.value !== f.again.value) {
    fail("The two passwords differ.");
    return false;
  }
  return true;
}

form("forgot", (f) => post("/api/auth/forgot-password", { email: f.email.value }));
form("reset", (f) => same(f)
  ? post("/api/auth/reset-password", { token, new_password: f.password.value })
  : Promise.resolve({ res: { ok: false }, data: { message: "The two passwords differ." } }));
form("invite", (f) => same(f)
  ? post("/api/auth/invite", { token, name: f.name.value, password: f.password.value })
  : Promise.resolve({ res: { ok: false }, data: { message: "The two passwords differ." } }));
