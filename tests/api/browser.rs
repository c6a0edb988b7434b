//! The pages in a real browser: Debian's Chromium, headless, driven over WebDriver by
//! chromedriver, with the WebDriver virtual authenticator (a CTAP2 platform authenticator with
//! user verification) standing in for a person's device. `.ci/run` installs both.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver we started (in a process group of its own, so the browsers it started end
/// with it) and one browser session on it.
pub(crate) struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group we made: chromedriver and the Chromium it launched. (`--` first: to
        // procps' kill, `-KILL -1234` reads as signal 1 and then process group -1... .)
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}

/// A server on a fixed port whose public URL is `localhost` (the origin the browser uses).
pub(crate) async fn served() -> (TestApp, String) {
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let app = spawn_with(|c| {
        c.listen = format!("127.0.0.1:{port}").parse().unwrap();
        c.public_url = origin.clone();
    })
    .await;
    (app, origin)
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How long the page may take to get somewhere (its own work, not a timer).
pub(crate) const PATIENCE: Duration = Duration::from_secs(15);

pub(crate) fn give_up_after(deadline: Instant, what: &str) {
    assert!(
        Instant::now() < deadline,
        "the browser never got to: {what}"
    );
}

impl Browser {
    pub(crate) async fn start(dir: &std::path::Path) -> Option<Browser> {
        Browser::start_with(dir, &[]).await
    }

    /// A browser with extra Chromium switches (`--host-resolver-rules=...`), keeping its
    /// console messages and its network log for the tests to read.
    pub(crate) async fn start_with(dir: &std::path::Path, extra: &[String]) -> Option<Browser> {
        use std::os::unix::process::CommandExt;
        let (driver_bin, chromium) = ("/usr/bin/chromedriver", "/usr/bin/chromium");
        if !std::path::Path::new(driver_bin).exists() || !std::path::Path::new(chromium).exists() {
            // .ci/run installs them and sets LABGATE_CI, where their absence is a failure.
            assert!(
                std::env::var_os("LABGATE_CI").is_none(),
                "Chromium is not installed (apt-get install chromium chromium-driver)"
            );
            eprintln!("chromium or chromedriver is not installed: the browser test is skipped");
            return None;
        }
        let port = free_port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut b = Browser {
            http,
            session: String::new(),
            driver,
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(r) = b.http.get(format!("{base}/status")).send().await
                && r.json::<Value>().await.unwrap_or_default()["value"]["ready"] == true
            {
                break;
            }
            give_up_after(deadline, "chromedriver ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = dir.join("chromium-profile");
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            // Chromium's own calls home would show in the network log (and fail here).
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-features=Translate,OptimizationHints,MediaRouter".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        args.extend(extra.iter().cloned());
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let res: Value = b
            .http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {res}"));
        b.session = format!("{base}/session/{id}");
        Some(b)
    }

    pub(crate) async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if !body.is_null() {
            req = req.json(&body);
        }
        let res: Value = req.send().await.unwrap().json().await.unwrap();
        let v = res["value"].clone();
        assert!(v.get("error").is_none(), "WebDriver {path}: {v}");
        v
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, body).await
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    pub(crate) async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", Value::Null)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    pub(crate) async fn element(&self, css: &str) -> String {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        v[ELEMENT].as_str().unwrap().to_string()
    }

    pub(crate) async fn click(&self, css: &str) {
        let e = self.element(css).await;
        self.post(&format!("/element/{e}/click"), json!({})).await;
    }

    pub(crate) async fn type_in(&self, css: &str, text: &str) {
        let e = self.element(css).await;
        self.post(&format!("/element/{e}/clear"), json!({})).await;
        self.post(&format!("/element/{e}/value"), json!({"text": text}))
            .await;
    }

    pub(crate) async fn script(&self, js: &str) -> Value {
        self.post("/execute/sync", json!({"script": js, "args": []}))
            .await
    }

    pub(crate) async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.url().await.ends_with(path) {
            give_up_after(deadline, path);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn wait_for(&self, what: &str, js: &str) {
        let deadline = Instant::now() + PATIENCE;
        while self.script(js).await != true {
            give_up_after(deadline, what);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The sign-in page's email and password form, filled and sent.
    pub(crate) async fn sign_in_with_password(&self, email: &str) {
        self.type_in("#login input[name=email]", email).await;
        self.type_in("#login input[name=password]", PASSWORD).await;
        self.click("#login button[type=submit]").await;
    }

    /// The text of the first element matching `css`.
    pub(crate) async fn text(&self, css: &str) -> String {
        let e = self.element(css).await;
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{e}/text"),
            Value::Null,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Waits until the first element matching `css` shows `needle` in its text.
    pub(crate) async fn wait_for_text(&self, css: &str, needle: &str) {
        let js = format!(
            "const e = document.querySelector({}); return !!e && e.offsetParent !== null && e.textContent.includes({});",
            json!(css),
            json!(needle)
        );
        let deadline = Instant::now() + PATIENCE;
        while self.script(&js).await != true {
            if Instant::now() >= deadline {
                let now = self
                    .script(&format!(
                        "const e = document.querySelector({}); return e ? e.textContent : '(no such element)'",
                        json!(css)
                    ))
                    .await;
                panic!("the browser never got to: {css} saying {needle:?}; it says {now}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the button whose visible text is `label` inside the element matching `scope`.
    pub(crate) async fn click_button(&self, scope: &str, label: &str) {
        let js = format!(
            "const b = [...document.querySelectorAll({} + ' button')].find((b) => b.textContent.trim() === {} && b.offsetParent !== null); if (!b) return false; b.click(); return true;",
            json!(scope),
            json!(label)
        );
        self.wait_for(&format!("a {label:?} button in {scope}"), &js)
            .await;
    }

    /// Clicks the button labelled `label` in the row of the table `table` that shows `row`.
    pub(crate) async fn click_in_row(&self, table: &str, row: &str, label: &str) {
        let js = format!(
            "const tr = [...document.querySelectorAll({} + ' tbody tr')].find((r) => r.textContent.includes({})); if (!tr) return false; const b = [...tr.querySelectorAll('button')].find((b) => b.textContent.trim() === {}); if (!b || b.disabled) return false; b.click(); return true;",
            json!(table),
            json!(row),
            json!(label)
        );
        self.wait_for(&format!("{label:?} in the row {row:?} of {table}"), &js)
            .await;
    }

    /// Presses keys as a keyboard does, one after another, wherever the focus is (`\u{E004}`
    /// is Tab, `\u{E007}` Enter).
    pub(crate) async fn keys(&self, text: &str) {
        let actions: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                let c = c.to_string();
                [
                    json!({"type": "keyDown", "value": c}),
                    json!({"type": "keyUp", "value": c}),
                ]
            })
            .collect();
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .await;
    }

    /// Waits until no row of the table `table` shows `text`.
    pub(crate) async fn wait_gone(&self, table: &str, text: &str) {
        let js = format!(
            "return !document.querySelector({} + ' tbody').textContent.includes({})",
            json!(table),
            json!(text)
        );
        self.wait_for(&format!("{text:?} gone from {table}"), &js)
            .await;
    }

    /// Waits until the element with id `id` is shown.
    pub(crate) async fn wait_shown(&self, id: &str) {
        let js = format!("return !document.getElementById({}).hidden", json!(id));
        self.wait_for(&format!("#{id} shown"), &js).await;
    }

    /// Waits until the dialog with id `id` is open.
    pub(crate) async fn wait_open(&self, id: &str) {
        let js = format!("return document.getElementById({}).open", json!(id));
        self.wait_for(&format!("the dialog #{id} open"), &js).await;
    }

    /// Signs out from the console, ending on the sign-in page.
    pub(crate) async fn sign_out(&self) {
        self.click("#logout").await;
        self.wait_for_path("/login").await;
    }

    /// Answers the page's confirmation dialog with its "yes" button, after checking what it asks.
    pub(crate) async fn confirm(&self, asked: &str) {
        self.wait_open("confirm").await;
        let text = self.text("#confirm-text").await;
        assert!(text.contains(asked), "the dialog asked: {text}");
        self.click("#confirm-yes").await;
    }

    /// A DevTools command, through chromedriver.
    pub(crate) async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.post("/goog/cdp/execute", json!({"cmd": cmd, "params": params}))
            .await
    }

    /// The viewport made `width` CSS pixels wide (and `height` high), as a phone's or a
    /// desktop's: device emulation, since a headless window is never narrower than 500 pixels.
    pub(crate) async fn viewport(&self, width: i64, height: i64) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 700}),
        )
        .await;
    }

    pub(crate) async fn width(&self, width: i64) {
        self.viewport(width, 900).await;
        assert_eq!(
            self.script("return window.innerWidth").await,
            json!(width),
            "the viewport is {width} pixels wide"
        );
    }

    /// The whole page as a PNG (the viewport grown to the page's height for the shot).
    pub(crate) async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let w = self
            .script("return window.innerWidth")
            .await
            .as_i64()
            .unwrap();
        let h = self
            .script("return Math.min(8000, document.documentElement.scrollHeight)")
            .await
            .as_i64()
            .unwrap();
        self.viewport(w, h.max(600)).await;
        let png = self
            .cmd(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(path, bytes).unwrap();
        self.viewport(w, 900).await;
    }

    /// The console messages since the last call (level, text).
    pub(crate) async fn console_messages(&self) -> Vec<(String, String)> {
        let v = self.post("/se/log", json!({"type": "browser"})).await;
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["level"].as_str().unwrap_or_default().to_string(),
                    e["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Every URL the browser asked for since the last call, from its network log.
    pub(crate) async fn requested(&self) -> Vec<String> {
        let v = self.post("/se/log", json!({"type": "performance"})).await;
        v.as_array()
            .unwrap()
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e["message"].as_str()?).ok())
            .filter(|m| m["message"]["method"] == "Network.requestWillBeSent")
            .filter_map(|m| {
                Some(
                    m["message"]["params"]["request"]["url"]
                        .as_str()?
                        .to_string(),
                )
            })
            .collect()
    }

    /// Lets the page read and write the clipboard, as a person allowing it would.
    pub(crate) async fn grant_clipboard(&self) {
        for name in ["clipboard-read", "clipboard-write"] {
            self.post(
                "/permissions",
                json!({"descriptor": {"name": name}, "state": "granted"}),
            )
            .await;
        }
    }

    /// What the clipboard holds.
    pub(crate) async fn clipboard(&self) -> String {
        let v = self
            .post(
                "/execute/async",
                json!({"script": "const done = arguments[arguments.length - 1]; navigator.clipboard.readText().then(done, (e) => done('refused: ' + e))", "args": []}),
            )
            .await;
        v.as_str().unwrap_or_default().to_string()
    }

    pub(crate) async fn quit(&self) {
        let _ = self.http.delete(&self.session).send().await.map(|_| ());
    }
}

/// The newest successful sign-in's methods.
fn last_amr(app: &TestApp) -> Value {
    app.audit("auth.login")
        .into_iter()
        .find(|r| r["outcome"] == "success" && r["details"]["amr"].is_array())
        .unwrap()["details"]["amr"]
        .clone()
}

fn stored_counter(app: &TestApp) -> u64 {
    let cred: String = app.value("SELECT credential FROM passkeys");
    let v: Value = serde_json::from_str(&cred).unwrap();
    v["cred"]["counter"].as_u64().unwrap()
}

fn passkey_rows(app: &TestApp) -> i64 {
    app.value("SELECT COUNT(*) FROM passkeys")
}

#[tokio::test]
async fn passkeys_in_chromium_with_a_virtual_authenticator() {
    let (app, origin) = served().await;
    let Some(b) = Browser::start(app.dir.path()).await else {
        return;
    };
    let email = "browser@lab.example";
    app.user_with_role(email, "admin", "default");
    let auth = b
        .post(
            "/webauthn/authenticator",
            json!({"protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
                   "hasUserVerification": true, "isUserConsenting": true, "isUserVerified": true}),
        )
        .await;
    let auth = format!("/webauthn/authenticator/{}", auth.as_str().unwrap());

    // Password sign-in, then a passkey registered from the console.
    b.goto(&format!("{origin}/login")).await;
    b.sign_in_with_password(email).await;
    b.wait_for_path("/console").await;
    b.type_in("#pk-add input[name=name]", "chromium").await;
    b.click("#pk-add button").await;
    b.wait_for_text("#passkeys tbody", "chromium").await;
    assert_eq!(passkey_rows(&app), 1);
    let reg = &app.audit("passkey.register")[0];
    assert_eq!(reg["outcome"], "success");
    assert_eq!(reg["details"]["name"], "chromium");
    let creds = b
        .cmd(
            reqwest::Method::GET,
            &format!("{auth}/credentials"),
            Value::Null,
        )
        .await;
    assert_eq!(creds.as_array().unwrap().len(), 1);
    assert_eq!(creds[0]["rpId"], "localhost");
    assert_eq!(
        creds[0]["isResidentCredential"], true,
        "a discoverable passkey"
    );

    // Passwordless: no email typed.
    b.sign_out().await;
    b.click("#passkey").await;
    b.wait_for_path("/console").await;
    assert_eq!(last_amr(&app), json!(["hwk"]));

    // As the second step after the password.
    b.sign_out().await;
    b.sign_in_with_password(email).await;
    b.wait_shown("mfa").await;
    b.click("#mfa-passkey").await;
    b.wait_for_path("/console").await;
    assert_eq!(last_amr(&app), json!(["pwd", "hwk"]));

    // The sign counter the device reports is the one kept.
    let creds = b
        .cmd(
            reqwest::Method::GET,
            &format!("{auth}/credentials"),
            Value::Null,
        )
        .await;
    let device = creds[0]["signCount"].as_u64().unwrap();
    assert!(device >= 2, "{creds}");
    assert_eq!(stored_counter(&app), device);

    // A copy of the key whose counter starts again (a cloned authenticator) is refused.
    let mut clone = creds[0].clone();
    b.cmd(
        reqwest::Method::DELETE,
        &format!("{auth}/credentials"),
        Value::Null,
    )
    .await;
    clone["signCount"] = json!(0);
    b.post(&format!("{auth}/credential"), clone.clone()).await;
    b.sign_out().await;
    b.click("#passkey").await;
    b.wait_for(
        "the refusal shown",
        "return document.getElementById('error').textContent.length > 0",
    )
    .await;
    assert!(b.url().await.ends_with("/login"));
    let refused = app
        .audit("auth.login")
        .into_iter()
        .find(|r| r["outcome"] != "success")
        .unwrap();
    assert_eq!(refused["details"]["reason"], "sign_counter");
    assert_eq!(
        stored_counter(&app),
        device,
        "a refused counter is not kept"
    );

    // The real device again (its counter ahead), then the passkey removed from the console.
    b.cmd(
        reqwest::Method::DELETE,
        &format!("{auth}/credentials"),
        Value::Null,
    )
    .await;
    clone["signCount"] = json!(device + 10);
    b.post(&format!("{auth}/credential"), clone).await;
    b.script("document.getElementById('error').textContent = ''; return true")
        .await;
    b.click("#passkey").await;
    b.wait_for_path("/console").await;
    b.wait_for_text("#passkeys tbody", "chromium").await;
    b.click_button("#passkeys", "Remove").await;
    b.confirm("chromium").await;
    b.wait_for_text("#passkeys tbody", "No passkeys yet").await;
    assert_eq!(passkey_rows(&app), 0);
    assert_eq!(app.audit("passkey.delete").len(), 1);

    // Without a passkey the password alone signs in again.
    b.sign_out().await;
    b.sign_in_with_password(email).await;
    b.wait_for_path("/console").await;
    assert_eq!(last_amr(&app), json!(["pwd"]));
    b.quit().await;
}
