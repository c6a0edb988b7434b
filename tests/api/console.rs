//! The console (SPEC §11.3) in Debian's Chromium, driven the way a person uses it: sign-in with
//! and without a second factor, enrollment, tokens, an administrator's day, live noise runs,
//! the MFA policy, a session that ends while the page is open, every page checked by axe-core,
//! at 1280 and 390 pixels, and the playground reached by a lab host name.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::browser::{Browser, PATIENCE, free_port, give_up_after};
use crate::helpers::*;
use crate::passkeys::totp_at;

/// A server on a fixed port whose public URL is `localhost` (the origin the browser uses).
async fn served() -> (TestApp, String) {
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let app = spawn_with(|c| {
        c.listen = format!("127.0.0.1:{port}").parse().unwrap();
        c.public_url = origin.clone();
    })
    .await;
    (app, origin)
}

async fn get(app: &TestApp, who: &Login, path: &str) -> Value {
    let res = app.get_bearer(path, &who.jwt).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

/// The console's sign-in, by password, ending on the console.
async fn sign_in(b: &Browser, origin: &str, email: &str) {
    b.goto(&format!("{origin}/login")).await;
    b.sign_in_with_password(email).await;
    b.wait_for_path("/console").await;
}

async fn view(b: &Browser, origin: &str, name: &str) {
    b.goto(&format!("{origin}/console#{name}")).await;
    b.wait_for(
        &format!("the {name} view"),
        &format!("return !document.getElementById('view-{name}').hidden"),
    )
    .await;
}

#[tokio::test]
async fn a_person_signs_in_enrolls_an_authenticator_and_manages_tokens() {
    let (app, origin) = served().await;
    let Some(b) = Browser::start(app.dir.path()).await else {
        return;
    };
    let email = "person@lab.example";
    app.user_with_role(email, "viewer", "default");

    // Without a second factor, and a wrong password first: said as such, next to the form.
    b.goto(&format!("{origin}/login")).await;
    b.type_in("#login input[name=email]", email).await;
    b.type_in("#login input[name=password]", "not-the-password")
        .await;
    b.click("#login button[type=submit]").await;
    b.wait_for_text("#error", "Wrong email or password").await;
    b.sign_in_with_password(email).await;
    b.wait_for_path("/console").await;
    b.wait_for_text("#profile", email).await;

    // Enrollment: the QR code is labelled, the secret is on the page, the code confirms it,
    // and the recovery codes are shown once with copy and download.
    b.click("#mfa-setup").await;
    b.wait_for(
        "the QR code",
        "return !!document.querySelector('#mfa-qr svg')",
    )
    .await;
    assert_eq!(
        b.script("return document.getElementById('mfa-qr').getAttribute('aria-label')")
            .await,
        "QR code of the authenticator secret"
    );
    let secret = b.text("#mfa-secret").await;
    assert_eq!(secret.len(), 32, "{secret}");
    b.type_in("#mfa-confirm input[name=code]", "000000").await;
    b.click("#mfa-confirm button").await;
    b.wait_for_text("#mfa-confirm .status", "code").await;
    b.type_in("#mfa-confirm input[name=code]", &totp_at(&secret, 0))
        .await;
    b.click("#mfa-confirm button").await;
    b.wait_for_text("#mfa-codes", "Recovery codes").await;
    let codes = b.text("#mfa-code-list").await;
    assert_eq!(codes.lines().count(), 10, "{codes}");
    let actions = b
        .script("return [...document.querySelectorAll('#mfa-code-actions button')].map((b) => b.getAttribute('aria-label'))")
        .await;
    assert_eq!(
        actions,
        json!(["Copy the recovery codes", "Download the recovery codes"])
    );
    b.wait_for_text("#mfa-status", "is set up").await;
    let audit = app.audit("mfa.enable");
    assert_eq!(audit.len(), 1, "enrollment confirmed once");

    // Replacing it asks first; cancelling leaves the secret alone.
    b.click("#mfa-setup").await;
    b.wait_for(
        "the confirmation dialog",
        "return document.getElementById('confirm').open",
    )
    .await;
    assert!(b.text("#confirm-text").await.contains("stop working"));
    b.click("#confirm-no").await;
    assert_eq!(
        b.script("return document.getElementById('mfa-enroll').hidden")
            .await,
        true
    );

    // Signing in now takes the code: a wrong one is named as such, the next step's is taken.
    b.click("#logout").await;
    b.wait_for_path("/login").await;
    b.sign_in_with_password(email).await;
    b.wait_for(
        "the code step",
        "return !document.getElementById('mfa').hidden",
    )
    .await;
    b.type_in("#mfa input[name=code]", "123456").await;
    b.click("#mfa button[type=submit]").await;
    b.wait_for_text("#error", "code was not accepted").await;
    assert!(!b.text("#error").await.contains("password"));
    b.type_in("#mfa input[name=code]", &totp_at(&secret, 1))
        .await;
    b.click("#mfa button[type=submit]").await;
    b.wait_for_path("/console").await;
    assert_eq!(
        app.audit("auth.login")
            .into_iter()
            .find(|r| r["outcome"] == "success" && r["details"]["amr"].is_array())
            .unwrap()["details"]["amr"],
        json!(["pwd", "otp"])
    );

    // A personal access token: made once (a double click makes one), shown once with a copy
    // button, listed with its expiry, revoked after confirmation.
    view(&b, &origin, "tokens").await;
    b.type_in("#pat-create input[name=name]", "ci-runner").await;
    b.script("const btn = document.querySelector('#pat-create button'); btn.click(); btn.click(); return true")
        .await;
    b.wait_for_text("#pat-secret", "ci-runner").await;
    let token = b.text("#pat-secret code").await;
    assert!(token.starts_with("lgp_"), "{token}");
    let res = app
        .client
        .get(app.url("/api/auth/me"))
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert_eq!(
        status,
        200,
        "the token shown works: {token} {}",
        res.text().await.unwrap()
    );
    b.wait_for(
        "the token listed",
        "return document.querySelectorAll('#pats tbody tr').length === 1 && document.querySelector('#pats tbody').textContent.includes('ci-runner')",
    )
    .await;
    let row = b.text("#pats tbody tr").await;
    assert!(
        row.contains("in 30 days") || row.contains("in 1 month"),
        "{row}"
    );
    assert!(row.contains("never"), "never used: {row}");
    let count: i64 = {
        let conn = app.state.pool.get().unwrap();
        conn.query_row("SELECT COUNT(*) FROM personal_tokens", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count, 1, "a double click made one token");
    b.grant_clipboard().await;
    b.click_button("#pat-secret", "Copy").await;
    b.wait_for_text("#pat-secret .status", "Copied").await;
    assert_eq!(
        b.clipboard().await,
        token,
        "the copy button copies the token"
    );
    b.click_button("#pats", "Revoke").await;
    b.confirm("ci-runner").await;
    b.wait_for_text("#pats", "No tokens yet").await;
    let res = app
        .client
        .get(app.url("/api/auth/me"))
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "TOKEN_REVOKED").await;
    b.quit().await;
}
