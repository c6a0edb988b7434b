//! The console (SPEC §11.3) in Debian's Chromium, driven the way a person uses it: sign-in with
//! and without a second factor, enrollment, tokens, an administrator's day, live noise runs,
//! the MFA policy, a session that ends while the page is open, every page checked by axe-core,
//! at 1280 and 390 pixels, and the playground reached by a lab host name.

use serde_json::{Value, json};

use crate::browser::{Browser, PATIENCE, free_port, served};
use crate::helpers::*;
use crate::passkeys::totp_at;

/// A served app, a browser on it, and one person of `role` in `default` (None without Chromium).
async fn with_person(email: &str, role: &str) -> Option<(TestApp, String, Browser)> {
    let (app, origin) = served().await;
    let b = Browser::start(app.dir.path()).await?;
    app.user_with_role(email, role, "default");
    Some((app, origin, b))
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
    let email = "person@lab.example";
    let Some((app, origin, b)) = with_person(email, "viewer").await else {
        return;
    };

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
    // (The codes of one step either side are taken: -1 here, 0 and +1 below, in order.)
    b.type_in("#mfa-confirm input[name=code]", &totp_at(&secret, -1))
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

    // Signing in now takes the code: a wrong one is named as such, the next step's is taken.
    b.sign_out().await;
    b.sign_in_with_password(email).await;
    b.wait_shown("mfa").await;
    b.type_in("#mfa input[name=code]", "123456").await;
    b.click("#mfa button[type=submit]").await;
    b.wait_for_text("#error", "code was not accepted").await;
    assert!(!b.text("#error").await.contains("password"));
    b.type_in("#mfa input[name=code]", &totp_at(&secret, 0))
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

    // New recovery codes, after confirmation, against the app's code: the old ones stop.
    b.wait_shown("mfa-renew").await;
    b.type_in("#mfa-renew input[name=code]", &totp_at(&secret, 1))
        .await;
    b.click("#mfa-renew button").await;
    b.confirm("stop working").await;
    b.wait_for_text("#mfa-renew .status", "New recovery codes")
        .await;
    let renewed = b.text("#mfa-code-list").await;
    assert_eq!(renewed.lines().count(), 10);
    assert!(renewed.lines().all(|c| !codes.contains(c)), "all new");
    assert_eq!(app.audit("mfa.recovery_codes")[0]["outcome"], "success");

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
        .with_pat(reqwest::Method::GET, "/api/auth/me", &token)
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
    let count: i64 = { app.value::<i64>("SELECT COUNT(*) FROM personal_tokens") };
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
        .with_pat(reqwest::Method::GET, "/api/auth/me", &token)
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "TOKEN_REVOKED").await;
    b.quit().await;
}

/// An HTTP collector that takes one request and answers it only when told: a noise run sending
/// to it stays `running` until then.
struct HeldCollector {
    port: u16,
    release: std::sync::Arc<tokio::sync::Notify>,
    received: std::sync::Arc<tokio::sync::Notify>,
}

impl HeldCollector {
    async fn start() -> HeldCollector {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let release = std::sync::Arc::new(tokio::sync::Notify::new());
        let received = std::sync::Arc::new(tokio::sync::Notify::new());
        let (r, got) = (release.clone(), received.clone());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = vec![0u8; 1 << 16];
                let _ = s.read(&mut buf).await;
                got.notify_one();
                r.notified().await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        HeldCollector {
            port,
            release,
            received,
        }
    }
}

#[tokio::test]
async fn an_administrator_adds_people_keys_sinks_schedules_and_watches_a_run() {
    let email = "chief@lab.example";
    let Some((app, origin, b)) = with_person(email, "admin").await else {
        return;
    };
    let api = app.login(email).await;
    sign_in(&b, &origin, email).await;

    // A user with a role.
    view(&b, &origin, "people").await;
    b.wait_for_text("#user-form .roles-pick", "operator").await;
    b.type_in("#user-form input[name=email]", "new-op@lab.example")
        .await;
    b.type_in("#user-form input[name=name]", "New Operator")
        .await;
    b.type_in("#user-form input[name=password]", PASSWORD).await;
    b.script("for (const i of document.querySelectorAll('#user-form input[name=role]')) i.checked = i.value === 'operator'; return true")
        .await;
    b.click("#user-form button[type=submit]").await;
    b.wait_for_text("#users tbody", "new-op@lab.example").await;
    let users = get(&app, &api, "/api/admin/users?q=new-op").await;
    assert_eq!(users["data"][0]["roles"], json!(["operator"]));
    assert_eq!(users["data"][0]["name"], "New Operator");
    app.login("new-op@lab.example").await;

    // An invitation, accepted from the mailed link.
    b.type_in("#invite-form input[name=email]", "invited@lab.example")
        .await;
    b.script("for (const i of document.querySelectorAll('#invite-form input[name=role]')) i.checked = i.value === 'analyst'; return true")
        .await;
    b.click("#invite-form button[type=submit]").await;
    b.wait_for_text("#invitations tbody", "invited@lab.example")
        .await;
    let mail = app.mails(1).await.pop().unwrap();
    let link = format!("{origin}/invite#token={}", token_in_mail(&mail));
    assert!(mail.contains("/invite#token="), "the mail links the page");
    b.goto(&link).await;
    b.type_in("#invite input[name=name]", "Invited Analyst")
        .await;
    b.type_in("#invite input[name=password]", PASSWORD).await;
    b.type_in("#invite input[name=again]", PASSWORD).await;
    b.click("#invite button").await;
    b.wait_shown("done").await;
    assert!(
        b.url().await.ends_with("/invite"),
        "the token left the address"
    );
    let invited = app.login("invited@lab.example").await;
    assert_eq!(invited.body["user"]["roles"], json!(["analyst"]));

    // An API key with the noise service: its secret is shown once and works.
    view(&b, &origin, "api-keys").await;
    b.type_in("#key-form input[name=name]", "siem-feed").await;
    b.script(
        "document.querySelector('#key-form select[name=svc-noise]').value = 'write'; return true",
    )
    .await;
    b.type_in("#key-form textarea[name=subnets]", "127.0.0.0/8")
        .await;
    b.click("#key-form button[type=submit]").await;
    b.wait_for_text("#key-secret", "siem-feed").await;
    let key = b.text("#key-secret code").await;
    assert!(key.starts_with("lgk_"), "{key}");
    let res = app
        .client
        .get(app.url("/api/noise/sinks"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the key reaches its service");
    let res = app
        .client
        .get(app.url("/api/admin/users"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "NOT_FOUND").await;
    b.wait_for_text("#keys tbody", "noise: read and write")
        .await;

    // A sink, a schedule, and a run whose status changes on the page without a reload.
    let collector = HeldCollector::start().await;
    view(&b, &origin, "noise").await;
    b.type_in("#sink-form input[name=name]", "held").await;
    b.script("const k = document.querySelector('#sink-form select[name=kind]'); k.value = 'http'; k.dispatchEvent(new Event('change')); return true")
        .await;
    b.type_in(
        "#sink-form input[name=url]",
        &format!("http://127.0.0.1:{}/ingest", collector.port),
    )
    .await;
    b.click("#sink-form button[type=submit]").await;
    b.wait_for_text("#sinks tbody", "held").await;
    b.wait_for(
        "the new sink offered",
        "return [...document.querySelectorAll('#run-form select[name=sink] option')].some((o) => o.value === 'held')",
    )
    .await;

    b.type_in("#schedule-form input[name=name]", "nightly-dns")
        .await;
    b.type_in("#schedule-form input[name=cron]", "0 3 * * *")
        .await;
    b.script(
        "document.querySelector('#schedule-form select[name=profile]').value = 'dns'; return true",
    )
    .await;
    b.click("#schedule-form button[type=submit]").await;
    b.wait_for_text("#schedules tbody", "nightly-dns").await;
    let schedules = get(&app, &api, "/api/noise/schedules").await;
    let s = &schedules["data"][0];
    assert_eq!(
        (
            s["name"].as_str(),
            s["cron"].as_str(),
            s["profile"].as_str(),
            s["enabled"].as_bool()
        ),
        (
            Some("nightly-dns"),
            Some("0 3 * * *"),
            Some("dns"),
            Some(true)
        )
    );

    b.script("window.sameDocument = 'yes'; return true").await;
    b.script("document.querySelector('#run-form select[name=sink]').value = 'held'; document.querySelector('#run-form select[name=profile]').value = 'auth'; return true")
        .await;
    b.type_in("#run-form input[name=count]", "5").await;
    b.click("#run-form button[type=submit]").await;
    tokio::time::timeout(PATIENCE, collector.received.notified())
        .await
        .expect("the run reached the collector");
    b.wait_for_text("#runs tbody tr", "running").await;
    collector.release.notify_one();
    b.wait_for_text("#runs tbody tr", "succeeded").await;
    b.wait_for_text("#runs tbody tr", "5 of 5").await;
    assert_eq!(
        b.script("return window.sameDocument").await,
        "yes",
        "the status changed without a reload"
    );

    // Platform status: an exercise started elsewhere shows up live.
    view(&b, &origin, "status").await;
    b.wait_for_text("#live", "Live").await;
    let res = app
        .send_json(
            reqwest::Method::POST,
            "/api/sessions/start",
            &api.jwt,
            json!({"name": "red-team-3"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    b.wait_for_text("#events", "exercise.started").await;
    b.wait_for_text("#events", "red-team-3").await;

    // The audit log, filtered, names people by email.
    view(&b, &origin, "audit").await;
    b.type_in("#audit-filter input[name=action]", "api_key.create")
        .await;
    b.click("#audit-filter button[type=submit]").await;
    b.wait_for_text("#audit tbody", "api_key.create").await;
    // The unfiltered page drawn first is replaced by the filtered one.
    b.wait_for(
        "the filtered records",
        "return document.querySelector('#audit-filter').getAttribute('aria-busy') === null && [...document.querySelectorAll('#audit tbody tr')].every((r) => r.textContent.includes('api_key.create'))",
    )
    .await;
    let rows = b
        .script("return document.querySelectorAll('#audit tbody tr').length")
        .await;
    assert_eq!(rows, 1);
    assert!(b.text("#audit tbody tr").await.contains(email));
    let href = b
        .script("return document.getElementById('export-csv').getAttribute('href')")
        .await;
    assert_eq!(
        href,
        "/api/admin/audit/export?action=api_key.create&format=csv"
    );
    b.quit().await;
}

#[tokio::test]
async fn require_mfa_all_leads_a_person_to_enrollment_not_to_a_dead_end() {
    let (app, origin) = served().await;
    let Some(b) = Browser::start(app.dir.path()).await else {
        return;
    };
    let admin = app.admin().await;
    let res = app
        .send_json(
            reqwest::Method::PUT,
            "/api/admin/settings",
            &admin.jwt,
            json!({"require_mfa": "all"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let email = "op@lab.example";
    app.user_with_role(email, "operator", "default");

    sign_in(&b, &origin, email).await;
    b.wait_for_text("#gate", "requires a second factor").await;
    let visible = b
        .script("return [...document.querySelectorAll('nav a')].filter((a) => !a.hidden).map((a) => a.textContent)")
        .await;
    assert_eq!(visible, json!(["Account"]), "only the account is open");
    // A view of the rest, asked for by address, shows the account instead.
    b.goto(&format!("{origin}/console#noise")).await;
    b.wait_shown("view-account").await;

    b.click("#mfa-setup").await;
    b.wait_for(
        "the secret",
        "return document.getElementById('mfa-secret').textContent.length === 32",
    )
    .await;
    let secret = b.text("#mfa-secret").await;
    b.type_in("#mfa-confirm input[name=code]", &totp_at(&secret, 0))
        .await;
    b.click("#mfa-confirm button").await;
    b.wait_for_text("#gate", "sign in again").await;

    b.sign_out().await;
    b.sign_in_with_password(email).await;
    b.wait_shown("mfa").await;
    b.type_in("#mfa input[name=code]", &totp_at(&secret, 1))
        .await;
    b.click("#mfa button[type=submit]").await;
    b.wait_for_path("/console").await;
    b.wait_for(
        "the whole console",
        "return document.getElementById('gate').hidden",
    )
    .await;
    let visible = b
        .script("return [...document.querySelectorAll('nav a')].filter((a) => !a.hidden).map((a) => a.textContent)")
        .await;
    assert_eq!(
        visible,
        json!(["Account", "Access tokens", "Exercises", "Noise", "Status"])
    );
    view(&b, &origin, "noise").await;
    b.wait_for_text("#sinks tbody", "default").await;
    b.quit().await;
}

#[tokio::test]
async fn a_session_that_ends_while_the_page_is_open_signs_in_again_in_place() {
    let email = "analyst@lab.example";
    let Some((app, origin, b)) = with_person(email, "analyst").await else {
        return;
    };
    sign_in(&b, &origin, email).await;
    view(&b, &origin, "tokens").await;
    b.wait_for_text("#pats tbody", "No tokens yet").await;
    b.type_in("#pat-create input[name=name]", "typed-before-expiry")
        .await;

    // The browser's session is ended from another one of the same person.
    let other = app.login(email).await;
    let sessions = get(&app, &other, "/api/auth/sessions").await;
    let browser_session = sessions["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .send_json(
            reqwest::Method::DELETE,
            &format!("/api/auth/sessions/{browser_session}"),
            &other.jwt,
            Value::Null,
        )
        .await;
    assert_eq!(res.status(), 204);

    // The next action says so, signs in again over the page, and carries on with what was typed.
    b.click("#pat-create button").await;
    b.wait_open("reauth").await;
    assert_eq!(b.text("#reauth-title").await, "Your session has ended");
    b.type_in("#reauth-login input[name=password]", PASSWORD)
        .await;
    b.click("#reauth-login button[type=submit]").await;
    b.wait_for_text("#pat-secret", "typed-before-expiry").await;
    assert_eq!(
        b.script("return document.getElementById('reauth').open")
            .await,
        false
    );
    let tokens = get(&app, &other, "/api/tokens").await;
    assert_eq!(tokens["data"][0]["name"], "typed-before-expiry");

    // Reopened later without a session, a console view leads through the sign-in back to it.
    b.sign_out().await;
    b.goto(&format!("{origin}/console#audit")).await;
    b.wait_for_path("/login#audit").await;
    b.sign_in_with_password(email).await;
    b.wait_for_path("/console#audit").await;
    b.wait_shown("view-audit").await;
    b.quit().await;
}

#[tokio::test]
async fn a_forgotten_password_is_reset_from_the_mailed_link() {
    let email = "forgetful@lab.example";
    let Some((app, origin, b)) = with_person(email, "viewer").await else {
        return;
    };
    b.goto(&format!("{origin}/login")).await;
    b.click("a[href='/forgot-password']").await;
    b.wait_for_path("/forgot-password").await;
    b.type_in("#forgot input[name=email]", email).await;
    b.click("#forgot button").await;
    b.wait_shown("done").await;
    let mail = app.mails(1).await.pop().unwrap();
    assert!(mail.contains("/reset-password#token="), "{mail}");
    b.goto(&format!(
        "{origin}/reset-password#token={}",
        token_in_mail(&mail)
    ))
    .await;
    let new_password = "A-brand-new-passphrase-7";
    b.type_in("#reset input[name=password]", new_password).await;
    b.type_in("#reset input[name=again]", new_password).await;
    b.click("#reset button").await;
    b.wait_shown("done").await;
    assert!(b.url().await.ends_with("/reset-password"));
    b.goto(&format!("{origin}/login")).await;
    b.type_in("#login input[name=email]", email).await;
    b.type_in("#login input[name=password]", new_password).await;
    b.click("#login button[type=submit]").await;
    b.wait_for_path("/console").await;
    b.quit().await;
}

/// A request that goes over the network to somewhere other than `origin` (the browser's own
/// `chrome://` pages and `data:` URLs go nowhere).
fn leaves(url: &str, origin: &str) -> bool {
    let networked = ["http:", "https:", "ws:", "wss:", "ftp:"]
        .iter()
        .any(|s| url.starts_with(s));
    networked && !url.starts_with(&format!("{origin}/"))
}

/// axe-core's script: `LABGATE_AXE_JS`, or where `.ci/run` unpacks it (fetched from npm at a
/// pinned version). Without it the accessibility check is skipped, except under `.ci/run`.
fn axe_source() -> Option<String> {
    let path = std::env::var_os("LABGATE_AXE_JS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/axe-core/package/axe.min.js")
        });
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(_) => {
            assert!(
                std::env::var_os("LABGATE_CI").is_none(),
                "axe-core is missing at {}",
                path.display()
            );
            eprintln!(
                "axe-core is not at {}: the accessibility check is skipped",
                path.display()
            );
            None
        }
    }
}

/// axe-core's violations on the page as it is now, one line each.
async fn violations(b: &Browser, axe: &str) -> Vec<String> {
    let script = format!(
        "{axe}\n;const done = arguments[arguments.length - 1];\
         axe.run(document).then((r) => done(r.violations.map((v) => v.id + ': ' + v.help + ' at ' + v.nodes.map((n) => n.target.join(' ')).join(', '))), (e) => done(['axe failed: ' + e]));"
    );
    let v = b
        .post("/execute/async", json!({"script": script, "args": []}))
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_page_is_accessible_fits_390_pixels_and_stays_on_its_origin() {
    let (app, origin) = served().await;
    let Some(b) = Browser::start(app.dir.path()).await else {
        return;
    };
    let axe = axe_source();
    let shots = std::env::var_os("LABGATE_SCREENSHOTS").map(std::path::PathBuf::from);
    let email = "shown@lab.example";
    app.user_with_role(email, "admin", "default");
    let a = app.login(email).await;
    // Something in every list.
    for (path, body) in [
        (
            "/api/tokens",
            json!({"name": "backup-script", "expires_in": "90d"}),
        ),
        (
            "/api/api-keys",
            json!({"name": "siem", "services": {"audit": "read", "noise": "write"}, "allowed_subnets": ["10.20.0.0/16"]}),
        ),
        (
            "/api/noise/schedules",
            json!({"name": "office-hours", "cron": "*/15 8-18 * * 1-5", "profile": "web-access", "count": 500}),
        ),
        (
            "/api/noise/run",
            json!({"profile": "firewall", "count": 20}),
        ),
        (
            "/api/sessions/start",
            json!({"name": "purple-team-12", "scenario": "ransomware"}),
        ),
        (
            "/api/admin/invitations",
            json!({"email": "newcomer@lab.example", "roles": ["analyst"]}),
        ),
        (
            "/api/admin/security/ip-blocklist",
            json!({"cidr": "203.0.113.0/24", "note": "scanner"}),
        ),
        (
            "/api/admin/roles",
            json!({"name": "noise-only", "permissions": ["manage_noise_logs"]}),
        ),
    ] {
        let res = app
            .send_json(reqwest::Method::POST, path, &a.jwt, body)
            .await;
        assert!(res.status().is_success(), "{path}: {}", res.status());
    }
    let second = app.user_with_role("second@lab.example", "operator", "default");
    let res = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/admin/users/{second}"),
            &a.jwt,
            json!({"name": "<img src=x onerror=\"window.pwned=1\">"}),
        )
        .await;
    assert_eq!(res.status(), 200);

    let mut pages: Vec<(String, String)> = [
        ("login", "/login"),
        ("forgot-password", "/forgot-password"),
        ("reset-password", "/reset-password#token=lgx_example"),
        ("invite", "/invite#token=lgx_example"),
    ]
    .into_iter()
    .map(|(n, p)| (n.to_string(), p.to_string()))
    .collect();
    for v in [
        "account",
        "tokens",
        "api-keys",
        "people",
        "settings",
        "exercises",
        "noise",
        "audit",
        "status",
    ] {
        pages.push((format!("console-{v}"), format!("/console#{v}")));
    }

    let mut problems = Vec::new();
    for width in [1280, 390] {
        b.width(width).await;
        for (name, path) in &pages {
            // Signed out for the public pages, signed in for the console.
            if name.starts_with("console") {
                if b.url().await.contains("/login") || !b.url().await.contains("/console") {
                    b.goto(&format!("{origin}/login")).await;
                    b.sign_in_with_password(email).await;
                    b.wait_for_path("/console").await;
                }
            } else if b.url().await.contains("/console") {
                b.sign_out().await;
            }
            b.goto(&format!("{origin}{path}")).await;
            if let Some(view) = path.strip_prefix("/console#") {
                b.wait_for(
                    &format!("the {view} view filled"),
                    &format!("const v = document.getElementById('view-{view}'); return !v.hidden && [...v.querySelectorAll('table')].every((t) => t.tBodies.length > 0) && (v.id !== 'view-account' || document.querySelector('#profile dd') !== null)"),
                )
                .await;
            } else {
                b.wait_for("the page", "return document.readyState === 'complete'")
                    .await;
            }
            let (scroll, inner) = (
                b.script("return document.documentElement.scrollWidth")
                    .await,
                b.script("return window.innerWidth").await,
            );
            if scroll.as_i64() > inner.as_i64() {
                problems.push(format!(
                    "{name} at {width}px scrolls sideways: {scroll} > {inner}"
                ));
            }
            if let Some(axe) = &axe {
                for v in violations(&b, axe).await {
                    problems.push(format!("{name} at {width}px: {v}"));
                }
            }
            if let Some(dir) = &shots {
                std::fs::create_dir_all(dir).unwrap();
                b.screenshot(&dir.join(format!("{name}-{width}.png"))).await;
            }
        }
    }
    // The states between rest: enrollment shown, a confirmation open, an error beside a form.
    b.width(1280).await;
    view(&b, &origin, "account").await;
    b.click("#mfa-setup").await;
    b.wait_for(
        "the enrollment",
        "return !!document.querySelector('#mfa-qr svg')",
    )
    .await;
    if let Some(axe) = &axe {
        for v in violations(&b, axe).await {
            problems.push(format!("enrollment: {v}"));
        }
    }
    view(&b, &origin, "tokens").await;
    b.click_in_row("#pats", "backup-script", "Revoke").await;
    b.wait_open("confirm").await;
    if let Some(axe) = &axe {
        for v in violations(&b, axe).await {
            problems.push(format!("confirmation dialog: {v}"));
        }
    }
    b.click("#confirm-no").await;
    // (The console so far said nothing amiss; the refusal below is an answer the test asks for.)
    for (level, message) in b.console_messages().await {
        if level == "SEVERE" || message.contains("Content Security Policy") {
            problems.push(format!("console {level}: {message}"));
        }
    }
    view(&b, &origin, "settings").await;
    b.type_in("#allow-form input[name=cidr]", "not-a-network")
        .await;
    b.click("#allow-form button[type=submit]").await;
    b.wait_for_text("#allow-form .status.error", "cidr").await;
    if let Some(axe) = &axe {
        for v in violations(&b, axe).await {
            problems.push(format!("an error beside a form: {v}"));
        }
    }

    // Markup in a name is shown as text, never run.
    view(&b, &origin, "people").await;
    b.wait_for_text("#users tbody", "<img src=x onerror=").await;
    assert_eq!(
        b.script(
            "return [document.querySelectorAll('#users img').length, window.pwned === undefined]"
        )
        .await,
        json!([0, true])
    );
    for (level, message) in b.console_messages().await {
        let asked_for = message.contains("ip-allowlist") && message.contains("status of 400");
        if (level == "SEVERE" && !asked_for) || message.contains("Content Security Policy") {
            problems.push(format!("console {level}: {message}"));
        }
    }
    for url in b.requested().await {
        if leaves(&url, &origin) {
            problems.push(format!("a request left the appliance: {url}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    b.quit().await;
}

#[tokio::test]
async fn the_playground_reached_by_a_lab_host_name_asks_nothing_of_another_origin() {
    let port = free_port();
    let app = spawn_with(|c| {
        c.listen = format!("127.0.0.1:{port}").parse().unwrap();
    })
    .await;
    // The appliance by a lab name, as operators reach it (the name resolves to loopback).
    let rule = "--host-resolver-rules=MAP labgate.lab 127.0.0.1".to_string();
    let Some(b) = Browser::start_with(app.dir.path(), &[rule]).await else {
        return;
    };
    let origin = format!("http://labgate.lab:{port}");
    b.goto(&format!("{origin}/api-playground/")).await;
    b.wait_for(
        "Swagger UI with the document",
        "return !!document.querySelector('.swagger-ui .information-container .title') && document.querySelectorAll('.opblock').length > 50",
    )
    .await;
    let requested = b.requested().await;
    assert!(
        requested
            .iter()
            .any(|u| u.ends_with("/api-docs/openapi.json")),
        "{requested:?}"
    );
    let elsewhere: Vec<_> = requested.iter().filter(|u| leaves(u, &origin)).collect();
    assert!(
        elsewhere.is_empty(),
        "requests to other origins: {elsewhere:?}"
    );
    // No validator badge either (it would be an image from validator.swagger.io).
    assert_eq!(
        b.script("return document.querySelectorAll('.validator, img[src*=validator]').length")
            .await,
        0
    );
    for (level, message) in b.console_messages().await {
        assert!(
            level != "SEVERE" && !message.contains("Content Security Policy"),
            "{level}: {message}"
        );
    }
    b.quit().await;
}

/// Fills a form field found by `css` through the page (for selects and checkboxes).
async fn set(b: &Browser, css: &str, value: Value) {
    let js = format!(
        "const e = document.querySelector({}); if (e.type === 'checkbox') e.checked = {}; else e.value = {}; e.dispatchEvent(new Event('change')); return true",
        json!(css),
        value,
        value
    );
    b.script(&js).await;
}

#[tokio::test]
async fn every_control_of_the_console_does_what_it_says() {
    let email = "boss@lab.example";
    let Some((app, origin, b)) = with_person(email, "admin").await else {
        return;
    };
    app.tenant("red");
    app.user_with_role(email, "operator", "red");
    let mate = app.user_with_role("mate@lab.example", "operator", "default");
    let api = app.login(email).await;
    for i in 0..25 {
        let body = json!({"name": format!("bulk-{i:02}"), "expires_in": "never"});
        let res = app
            .send_json(reqwest::Method::POST, "/api/tokens", &api.jwt, body)
            .await;
        assert_eq!(res.status(), 201);
    }

    // Signing in with the keyboard alone: Tab to the email, Tab to the password, Enter.
    b.goto(&format!("{origin}/login")).await;
    b.keys(&format!("\u{E004}{email}\u{E004}{PASSWORD}\u{E007}"))
        .await;
    b.wait_for_path("/console").await;

    // Every list pages through all its items.
    view(&b, &origin, "tokens").await;
    b.wait_for_text("#pats + .pager", "Page 1 of 2 · 25 items")
        .await;
    b.click_button("#view-tokens .pager", "Next").await;
    b.wait_for_text("#pats + .pager", "Page 2 of 2").await;
    assert_eq!(
        b.script("return document.querySelectorAll('#pats tbody tr').length")
            .await,
        5
    );
    // The confirmation dialog by keyboard: the focus starts on Cancel; Tab, Enter confirms.
    b.click_in_row("#pats", "bulk-", "Revoke").await;
    b.wait_open("confirm").await;
    assert_eq!(
        b.script("return document.activeElement.id").await,
        "confirm-no"
    );
    b.keys("\u{E004}\u{E007}").await;
    b.wait_for_text("#pats + .pager", "24 items").await;
    b.wait_for_text("#pats ~ .status", "revoked").await;

    // API keys: create, edit, reveal, share, unshare, delete.
    view(&b, &origin, "api-keys").await;
    b.type_in("#key-form input[name=name]", "k-edit").await;
    set(&b, "#key-form select[name=svc-audit]", json!("read")).await;
    b.click("#key-form button[type=submit]").await;
    b.wait_for_text("#keys tbody", "k-edit").await;
    b.click_in_row("#keys", "k-edit", "Edit").await;
    b.wait_for_text("#h-key-form", "Edit the key").await;
    b.type_in("#key-form input[name=name]", "k-renamed").await;
    set(&b, "#key-form select[name=svc-exercises]", json!("write")).await;
    b.click("#key-form button[type=submit]").await;
    b.wait_for_text("#keys tbody", "k-renamed").await;
    b.wait_for_text("#keys tbody", "exercises: read and write")
        .await;
    let keys = get(&app, &api, "/api/api-keys").await;
    let key_id = keys["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        keys["data"][0]["services"],
        json!({"audit": "read", "exercises": "write"})
    );
    b.click_in_row("#keys", "k-renamed", "Reveal").await;
    b.confirm("audit log").await;
    b.wait_for_text("#key-secret", "k-renamed").await;
    let secret = b.text("#key-secret code").await;
    let res = app
        .client
        .get(app.url("/api/sessions"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the revealed key works");
    assert_eq!(app.audit("api_key.reveal").len(), 1);
    set(&b, "#keys select[name=user]", json!(mate)).await;
    b.click_in_row("#keys", "k-renamed", "Share").await;
    b.wait_for_text("#keys tbody", "mate@lab.example").await;
    let k = get(&app, &api, &format!("/api/api-keys/{key_id}")).await;
    assert_eq!(k["shared_with"], json!([mate]));
    b.click_in_row("#keys", "k-renamed", "Unshare").await;
    b.confirm("mate@lab.example").await;
    b.wait_gone("#keys", "mate@lab.example ").await;
    let k = get(&app, &api, &format!("/api/api-keys/{key_id}")).await;
    assert_eq!(k["shared_with"], json!([]));
    b.click_in_row("#keys", "k-renamed", "Delete").await;
    b.confirm("k-renamed").await;
    b.wait_for_text("#keys tbody", "No API keys yet").await;

    // People: edit a member, remove them; an invitation revoked; a custom role's life.
    view(&b, &origin, "people").await;
    b.click_in_row("#users", "mate@lab.example", "Edit").await;
    b.wait_for_text("#h-user-form", "Edit mate@lab.example")
        .await;
    b.script("for (const i of document.querySelectorAll('#user-form input[name=role]')) i.checked = i.value === 'analyst'; return true")
        .await;
    set(&b, "#user-form select[name=status]", json!("disabled")).await;
    b.click("#user-form button[type=submit]").await;
    b.confirm("Disable mate@lab.example").await;
    b.wait_for_text("#users tbody", "disabled").await;
    let u = get(&app, &api, &format!("/api/admin/users/{mate}")).await;
    assert_eq!(
        (u["status"].as_str(), u["roles"].clone()),
        (Some("disabled"), json!(["analyst"]))
    );
    b.click_in_row("#users", "mate@lab.example", "Remove").await;
    b.confirm("mate@lab.example").await;
    b.wait_gone("#users", "mate@lab.example").await;
    let res = app
        .get_bearer(&format!("/api/admin/users/{mate}"), &api.jwt)
        .await;
    assert_error(res, 404, "NOT_FOUND").await;

    b.type_in("#invite-form input[name=email]", "maybe@lab.example")
        .await;
    b.click("#invite-form button[type=submit]").await;
    b.wait_for_text("#invitations tbody", "maybe@lab.example")
        .await;
    b.click_in_row("#invitations", "maybe@lab.example", "Revoke")
        .await;
    b.confirm("maybe@lab.example").await;
    b.wait_for_text("#invitations tbody", "revoked").await;
    // A second invitation right after keeps the default role.
    b.type_in("#invite-form input[name=email]", "again@lab.example")
        .await;
    b.click("#invite-form button[type=submit]").await;
    b.wait_for_text("#invitations tbody", "again@lab.example")
        .await;
    let inv = get(&app, &api, "/api/admin/invitations").await;
    let roles: Vec<Value> = inv["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["roles"].clone())
        .collect();
    assert_eq!(roles, vec![json!(["viewer"]), json!(["viewer"])], "{inv}");

    b.type_in("#role-form input[name=name]", "auditor-plus")
        .await;
    set(&b, "#role-caps input[value='audit.read']", json!(true)).await;
    set(
        &b,
        "#role-caps input[value='manage_exercises']",
        json!(true),
    )
    .await;
    b.click("#role-form button[type=submit]").await;
    b.wait_for_text("#roles tbody", "auditor-plus").await;
    b.click_in_row("#roles", "auditor-plus", "Edit").await;
    set(
        &b,
        "#role-caps input[value='manage_exercises']",
        json!(false),
    )
    .await;
    b.click("#role-form button[type=submit]").await;
    b.confirm("Take manage_exercises").await;
    b.wait_for(
        "the role changed",
        "return [...document.querySelectorAll('#roles tbody tr')].some((r) => r.textContent.includes('auditor-plus') && !r.textContent.includes('manage_exercises'))",
    )
    .await;
    b.wait_for_text("#user-form .roles-pick", "auditor-plus")
        .await;
    b.click_in_row("#roles", "auditor-plus", "Delete").await;
    b.confirm("auditor-plus").await;
    b.wait_gone("#roles", "auditor-plus").await;

    // Settings and address lists; a refusal is shown beside the form that caused it.
    view(&b, &origin, "settings").await;
    b.wait_for(
        "the settings loaded",
        "return document.querySelector('#settings-form input[name=password_min_length]').value === '12'",
    )
    .await;
    b.type_in("#settings-form input[name=password_min_length]", "14")
        .await;
    set(&b, "#settings-form input[name=exercises]", json!(false)).await;
    b.click("#settings-form button[type=submit]").await;
    b.confirm("turn off exercises").await;
    b.wait_for_text("#settings-form .status", "Settings saved")
        .await;
    let st = get(&app, &api, "/api/admin/settings").await;
    assert_eq!(st["password_min_length"], 14);
    assert_eq!(st["features"]["exercises"], false);
    set(&b, "#settings-form input[name=exercises]", json!(true)).await;
    b.click("#settings-form button[type=submit]").await;
    b.wait_for_text("#settings-form .status", "Settings saved")
        .await;
    assert_eq!(
        get(&app, &api, "/api/admin/settings").await["features"]["exercises"],
        true
    );
    b.type_in("#allow-form input[name=cidr]", "10.0.0.0/8")
        .await;
    b.click("#allow-form button[type=submit]").await;
    b.wait_for_text("#allow-form .status.error", "shut out")
        .await;
    b.type_in("#block-form input[name=cidr]", "198.51.100.0/24")
        .await;
    b.type_in("#block-form input[name=note]", "lab scanner")
        .await;
    b.click("#block-form button[type=submit]").await;
    b.wait_for_text("#block tbody", "lab scanner").await;
    b.click_in_row("#block", "198.51.100.0/24", "Remove").await;
    b.confirm("198.51.100.0/24").await;
    b.wait_for_text("#block tbody", "No entries").await;

    // Exercises: one started, a duplicate refused beside the form, one ended, all ended.
    view(&b, &origin, "exercises").await;
    for (name, answer) in [
        ("ex-a", None),
        ("ex-a", Some("#ex-start .status.error")),
        ("ex-b", None),
        ("ex-c", None),
    ] {
        b.type_in("#ex-start input[name=name]", name).await;
        b.click("#ex-start button[type=submit]").await;
        match answer {
            Some(error) => b.wait_for_text(error, "running").await,
            None => b.wait_for_text("#exercises tbody", name).await,
        }
    }
    b.click_in_row("#exercises", "ex-a", "End").await;
    b.confirm("ex-a").await;
    b.wait_for(
        "ex-a ended",
        "return [...document.querySelectorAll('#exercises tbody tr')].some((r) => r.textContent.includes('ex-a') && r.textContent.includes('ended'))",
    )
    .await;
    b.click("#ex-end").await;
    b.confirm("every running exercise").await;
    b.wait_for_text("#ex-start .status", "2 exercises ended")
        .await;

    // Schedules and sinks: disable, edit, delete.
    let res = app
        .send_json(
            reqwest::Method::POST,
            "/api/noise/schedules",
            &api.jwt,
            json!({"name": "s-edit", "cron": "*/5 * * * *", "profile": "dns", "count": 10}),
        )
        .await;
    assert_eq!(res.status(), 201);
    view(&b, &origin, "noise").await;
    b.click_in_row("#schedules", "s-edit", "Disable").await;
    b.wait_for(
        "disabled",
        "return [...document.querySelectorAll('#schedules tbody tr')].some((r) => r.textContent.includes('s-edit') && r.textContent.includes('disabled'))",
    )
    .await;
    b.click_in_row("#schedules", "s-edit", "Edit").await;
    b.type_in("#schedule-form input[name=count]", "42").await;
    b.click("#schedule-form button[type=submit]").await;
    b.wait_for_text("#schedules tbody", "42").await;
    let s = &get(&app, &api, "/api/noise/schedules").await["data"][0];
    assert_eq!(
        (s["count"].as_u64(), s["enabled"].as_bool()),
        (Some(42), Some(false))
    );
    b.click_in_row("#schedules", "s-edit", "Delete").await;
    b.confirm("s-edit").await;
    b.wait_for_text("#schedules tbody", "No schedules yet")
        .await;
    b.type_in("#sink-form input[name=name]", "f2").await;
    b.type_in("#sink-form input[name=path]", "f2.jsonl").await;
    b.click("#sink-form button[type=submit]").await;
    b.wait_for_text("#sinks tbody", "f2.jsonl").await;
    b.click_in_row("#sinks", "f2.jsonl", "Edit").await;
    b.type_in("#sink-form input[name=path]", "f3.jsonl").await;
    b.click("#sink-form button[type=submit]").await;
    b.wait_for_text("#sinks tbody", "f3.jsonl").await;
    b.click_in_row("#sinks", "f3.jsonl", "Delete").await;
    b.confirm("f2").await;
    b.wait_gone("#sinks", "f3.jsonl").await;

    // The account: another tenant, the other sessions ended, a new password.
    view(&b, &origin, "account").await;
    b.wait_shown("tenant-switch").await;
    let other = app.login(email).await;
    b.wait_for_text("#my-sessions tbody", "this session").await;
    b.click("#sessions-end-others").await;
    b.confirm("every other").await;
    b.wait_for_text("#sessions-end-others + .status", "ended")
        .await;
    let res = app.get_bearer("/api/auth/me", &other.jwt).await;
    assert_eq!(res.status(), 401, "the other session ended");
    set(&b, "#tenant-switch select[name=tenant]", json!("red")).await;
    b.click("#tenant-switch button").await;
    b.wait_for_text("header .who", "red").await;
    b.wait_for_text("#profile", "operator").await;
    b.type_in("#password input[name=current]", PASSWORD).await;
    b.type_in(
        "#password input[name=password]",
        "Another-long-passphrase-3",
    )
    .await;
    b.type_in("#password input[name=again]", "Another-long-passphrase-3")
        .await;
    b.click("#password button").await;
    b.wait_for_text("#password .status", "Password changed")
        .await;
    let res = app.login_raw(email, "Another-long-passphrase-3").await;
    assert_eq!(res.status(), 200, "the new password signs in");
    b.quit().await;
}

#[tokio::test]
async fn signing_in_again_keeps_the_tenant_and_another_tab_signing_in_reloads_the_page() {
    let email = "two-homes@lab.example";
    let Some((app, origin, b)) = with_person(email, "viewer").await else {
        return;
    };
    let red = app.tenant("red");
    app.user_with_role(email, "operator", "red");
    app.user_with_role("someone-else@lab.example", "viewer", "default");

    sign_in(&b, &origin, email).await;
    b.wait_shown("tenant-switch").await;
    set(&b, "#tenant-switch select[name=tenant]", json!("red")).await;
    b.click("#tenant-switch button").await;
    b.wait_for_text("header .who", "red").await;

    // The session ends; the sign-in again stays in red, and so does the interrupted action.
    view(&b, &origin, "tokens").await;
    b.wait_for_text("#pats tbody", "No tokens yet").await;
    b.type_in("#pat-create input[name=name]", "made-in-red")
        .await;
    // Ended from another session of the same person, in red.
    let res = app
        .client_on_fresh_ip()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD, "tenant": "red"}))
        .send()
        .await
        .unwrap();
    let jwt = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let sessions: Value = app
        .get_bearer("/api/auth/sessions", &jwt)
        .await
        .json()
        .await
        .unwrap();
    let browser_session = sessions["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .expect("the browser's session in red")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .send_json(
            reqwest::Method::DELETE,
            &format!("/api/auth/sessions/{browser_session}"),
            &jwt,
            Value::Null,
        )
        .await;
    assert_eq!(res.status(), 204);
    b.click("#pat-create button").await;
    b.wait_open("reauth").await;
    b.type_in("#reauth-login input[name=password]", PASSWORD)
        .await;
    b.click("#reauth-login button[type=submit]").await;
    b.wait_for_text("#pat-secret", "made-in-red").await;
    let tenant: String =
        { app.value::<String>("SELECT tenant_id FROM personal_tokens WHERE name = 'made-in-red'") };
    assert_eq!(tenant, red, "made in the tenant the page is about");
    assert!(b.text("header .who").await.contains("red"));

    // Another tab of this browser signs in as someone else: this page reloads as them rather
    // than act for one while showing the other.
    b.script("window.stillHere = true; return true").await;
    let login = json!({"email": "someone-else@lab.example", "password": PASSWORD});
    b.post(
        "/execute/async",
        json!({"script": "const done = arguments[arguments.length - 1]; fetch('/api/auth/login', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(arguments[0])}).then((r) => done(r.status))", "args": [login]}),
    )
    .await;
    b.type_in("#pat-create input[name=name]", "never-made")
        .await;
    b.click("#pat-create button").await;
    b.wait_for(
        "the page reloaded as the other person",
        "return window.stillHere !== true && document.readyState === 'complete' && document.body.dataset.email === 'someone-else@lab.example'",
    )
    .await;
    assert_eq!(
        b.script("return document.body.dataset.email").await,
        "someone-else@lab.example"
    );
    let tokens: i64 = { app.value::<i64>("SELECT COUNT(*) FROM personal_tokens") };
    assert_eq!(tokens, 1, "nothing was made as the other person");
    b.quit().await;
}

#[tokio::test]
async fn sign_in_says_why_it_refuses_and_goes_nowhere_it_was_not_told() {
    let email = "steady@lab.example";
    let Some((_app, origin, b)) = with_person(email, "viewer").await else {
        return;
    };

    // Hostile return addresses: a path smuggled into `next`, a foreign host in `rd`.
    for query in [
        "?next=a%0A/../../api/health",
        "?next=//evil.example",
        "?rd=https://evil.example/",
    ] {
        b.goto(&format!("{origin}/login{query}")).await;
        b.sign_in_with_password(email).await;
        b.wait_for_path("/console").await;
        assert_eq!(b.url().await, format!("{origin}/console"), "{query}");
        b.sign_out().await;
    }

    // Failures for one unknown address lock it, with how long; then the address's rate limit.
    b.goto(&format!("{origin}/login")).await;
    let mut said = Vec::new();
    for _ in 0..8 {
        b.type_in("#login input[name=email]", "nobody@lab.example")
            .await;
        b.type_in("#login input[name=password]", "wrong-password-here")
            .await;
        b.script("document.getElementById('error').textContent = ''; return true")
            .await;
        b.click("#login button[type=submit]").await;
        b.wait_for(
            "an answer",
            "return document.getElementById('error').textContent.length > 0",
        )
        .await;
        said.push(b.text("#error").await);
    }
    assert!(said[0].contains("Wrong email or password"), "{said:?}");
    let locked = said
        .iter()
        .find(|m| m.contains("locked"))
        .expect("a lockout message");
    assert!(
        locked.contains("locked for") && (locked.contains("second") || locked.contains("minute")),
        "{locked}"
    );
    let limited = said.iter().any(|m| m.contains("Too many sign-in attempts"));
    assert!(
        !limited || said.last().unwrap().contains("try again in"),
        "{said:?}"
    );
    b.quit().await;
}
