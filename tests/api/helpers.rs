//! Test harness: a real server on a random loopback port over a temp-dir database, and small
//! helpers to seed users and sign in.

use actix_web::web;
use labgate::config::Config;
use labgate::domain::password;
use labgate::http::{self, AppState};
use labgate::store::{self, tenants, users};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery staple";

#[allow(dead_code)]
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: web::Data<AppState>,
    pub setup_token: Option<String>,
    pub dir: tempfile::TempDir,
    handle: actix_web::dev::ServerHandle,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_clocked(adjust, None).await
}

/// A server whose time rules read `clock` (started at a whole second: stored times keep whole
/// seconds), for tests of lifetimes that advance it instead of sleeping.
pub async fn spawn_with_clock(
    adjust: impl FnOnce(&mut Config),
) -> (TestApp, std::sync::Arc<labgate::domain::clock::FixedClock>) {
    let start = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0).unwrap();
    let clock = std::sync::Arc::new(labgate::domain::clock::FixedClock::at(start));
    (spawn_clocked(adjust, Some(clock.clone())).await, clock)
}

async fn spawn_clocked(
    adjust: impl FnOnce(&mut Config),
    clock: Option<std::sync::Arc<labgate::domain::clock::FixedClock>>,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::for_dir(dir.path());
    if let Some(url) = postgres_database() {
        cfg.db = url.into();
    }
    adjust(&mut cfg);
    let mut built = AppState::build(cfg).expect("state builds");
    if let Some(c) = clock {
        built.app = built.app.clone().with_clock(c);
    }
    let state = web::Data::new(built);
    let setup_token = labgate::app::setup::issue_setup_token(&state.app).unwrap();
    let bound = http::bind(state.clone(), 1).expect("binds");
    let handle = bound.server.handle();
    tokio::spawn(bound.server);
    TestApp {
        base: format!("http://{}", bound.addr),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        state,
        setup_token,
        dir,
        handle,
    }
}

/// With `LABGATE_TEST_POSTGRES` set (a server's URL, `postgres://user@127.0.0.1:port`), the
/// suite's servers run on PostgreSQL: each on a new database of its own there.
pub fn postgres_base() -> Option<String> {
    std::env::var("LABGATE_TEST_POSTGRES")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| v.trim_end_matches('/').to_string())
}

/// A new, empty PostgreSQL database's URL (when the suite runs on PostgreSQL).
pub fn postgres_database() -> Option<String> {
    let base = postgres_base()?;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = format!("{base}/postgres");
    let create = format!("CREATE DATABASE {name}");
    std::thread::spawn(move || {
        let pool = labgate::store::open(std::path::Path::new(&admin)).expect("PostgreSQL answers");
        let lease = pool.get().unwrap();
        lease.db().execute_batch(&create).unwrap();
    })
    .join()
    .unwrap();
    Some(format!("{base}/{name}"))
}

/// Whether the suite runs on PostgreSQL (tests of SQLite's file skip then).
pub fn on_postgres() -> bool {
    postgres_base().is_some()
}

/// The labgate binary as a command whose environment holds none of the caller's labgate
/// settings: a test configures the process it starts, nothing else does.
pub fn labgate_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_labgate"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if [
            "LABGATE_",
            "JWT_",
            "BREAK_GLASS_",
            "MASTER_KEY",
            "RUST_LOG",
            "CREDENTIALS_DIRECTORY",
        ]
        .iter()
        .any(|p| k.starts_with(p))
        {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// A client whose requests come from `ip` (a loopback address).
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// A signed-in user: the login answer's tokens and the cookies that came with it.
#[derive(Clone, Debug)]
pub struct Login {
    pub jwt: String,
    pub refresh: String,
    pub session_cookie: String,
    pub csrf: String,
    pub body: Value,
}

impl Login {
    /// The `Cookie` header a browser would send.
    pub fn cookie_header(&self) -> String {
        format!(
            "labgate_session={}; labgate_csrf={}",
            self.session_cookie, self.csrf
        )
    }
}

pub fn set_cookies(h: &HeaderMap) -> Vec<String> {
    h.get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

pub fn cookie_value(h: &HeaderMap, name: &str) -> Option<String> {
    set_cookies(h).iter().find_map(|c| {
        let first = c.split(';').next()?;
        let (n, v) = first.split_once('=')?;
        (n == name).then(|| v.to_string())
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    #[allow(dead_code)]
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    /// Creates a user with `role` in `tenant` (slug) straight in the store, as the CLI does.
    pub fn user_with_role(&self, email: &str, role: &str, tenant: &str) -> String {
        let hash = password::hash(PASSWORD);
        let (email, role, tenant) = (email.to_string(), role.to_string(), tenant.to_string());
        let id = store::write_blocking(&self.state.pool, move |tx| {
            let t = tenants::find(tx, &tenant)?.expect("tenant exists");
            let u = match users::find_by_email(tx, &email)? {
                Some(u) => u,
                None => users::create(tx, &email, "Test User", Some(&hash))?,
            };
            users::add_membership(tx, &u.id, &t.id, &[role])?;
            Ok(u.id)
        })
        .unwrap();
        self.state.app.changed_outside();
        id
    }

    pub fn tenant(&self, slug: &str) -> String {
        let slug = slug.to_string();
        store::write_blocking(&self.state.pool, move |tx| {
            Ok(tenants::create(tx, &slug, "Test tenant")?.id)
        })
        .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Signs in from a fresh loopback address each time, so the per-IP login limit (10 per
    /// 15 minutes) does not get in the way of tests about other things.
    pub async fn login_raw(&self, email: &str, password: &str) -> reqwest::Response {
        self.client_on_fresh_ip()
            .post(self.url("/api/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// A client whose requests come from a loopback address not used before in this process.
    pub fn client_on_fresh_ip(&self) -> reqwest::Client {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(2);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let ip = std::net::Ipv4Addr::new(
            127,
            ((n >> 16) & 0xff) as u8,
            ((n >> 8) & 0xff) as u8,
            (n & 0xff).max(1) as u8,
        );
        client_from(&ip.to_string())
    }

    pub async fn login(&self, email: &str) -> Login {
        let res = self.login_raw(email, PASSWORD).await;
        assert_eq!(res.status(), 200, "login of {email} failed");
        let h = res.headers().clone();
        let body: Value = res.json().await.unwrap();
        Login {
            jwt: body["token"].as_str().unwrap().to_string(),
            refresh: body["refresh_token"].as_str().unwrap().to_string(),
            session_cookie: cookie_value(&h, "labgate_session").expect("session cookie"),
            csrf: cookie_value(&h, "labgate_csrf").expect("csrf cookie"),
            body,
        }
    }

    /// A fresh admin of the default tenant, signed in.
    pub async fn admin(&self) -> Login {
        let email = format!("admin-{}@lab.example", uuid::Uuid::new_v4().simple());
        self.user_with_role(&email, "admin", "default");
        self.login(&email).await
    }

    /// A personal access token made by a signed-in user (30 days): its secret and its id.
    pub async fn pat_with_id(&self, jwt: &str, name: &str) -> (String, String) {
        let body = json!({"name": name, "expires_in": "30d"});
        let res = self
            .send_json(reqwest::Method::POST, "/api/tokens", jwt, body)
            .await;
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        (
            v["token"].as_str().unwrap().to_string(),
            v["id"].as_str().unwrap().to_string(),
        )
    }

    /// A personal access token's secret (see `pat_with_id`).
    pub async fn pat(&self, jwt: &str, name: &str) -> String {
        self.pat_with_id(jwt, name).await.0
    }

    /// A request carrying a personal access token as `Authorization: token ...`.
    pub fn with_pat(
        &self,
        method: reqwest::Method,
        path: &str,
        pat: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("Authorization", format!("token {pat}"))
    }

    pub async fn get_bearer(&self, path: &str, jwt: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(jwt)
            .send()
            .await
            .unwrap()
    }

    /// Runs `f` on the app's database, on a thread of its own: the PostgreSQL client blocks,
    /// which a test's async thread must not do.
    pub fn db<T: Send>(&self, f: impl FnOnce(&labgate::store::Db) -> T + Send) -> T {
        on_db(&self.state.pool, f)
    }

    /// Audit records (newest first) straight from the database.
    pub fn audit(&self, action: &str) -> Vec<Value> {
        self.db(|conn| {
        conn.query_map("SELECT tenant_id, actor_type, actor_id, outcome, details, target, request_id, ip FROM audit_log WHERE action = ?1 ORDER BY seq DESC", labgate::params![action], |r| {
            Ok(json!({
                "tenant_id": r.get::<_, Option<String>>(0)?,
                "actor_type": r.get::<_, String>(1)?,
                "actor_id": r.get::<_, Option<String>>(2)?,
                "outcome": r.get::<_, String>(3)?,
                "details": serde_json::from_str::<Value>(&r.get::<_, String>(4)?).unwrap(),
                "target": r.get::<_, Option<String>>(5)?,
                "request_id": r.get::<_, Option<String>>(6)?,
                "ip": r.get::<_, Option<String>>(7)?,
            }))
        })
        .unwrap()
        })
    }
}

/// Asserts an error answer: status, `code`, and the SPEC's body shape.
pub async fn assert_error(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let rid = res
        .headers()
        .get("x-correlation-id")
        .expect("correlation id")
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = res.json().await.expect("JSON error body");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["request_id"], rid.as_str());
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{body}"
    );
    body
}

impl TestApp {
    /// The spooled messages, waiting (up to 5 s) until there are at least `n`.
    pub async fn mails(&self, n: usize) -> Vec<String> {
        let dir = self.state.config.mail_dir.clone();
        for _ in 0..100 {
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .map(|d| {
                    d.filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            if files.len() >= n {
                return files
                    .iter()
                    .map(|f| std::fs::read_to_string(f).unwrap())
                    .collect();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("fewer than {n} mails spooled");
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        jwt: &str,
        body: Value,
    ) -> reqwest::Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(jwt)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub fn sql(&self, sql: &str) {
        self.db(|db| db.execute_batch(sql).unwrap());
    }

    /// One value from the database.
    pub fn value<T: labgate::store::db::FromCol + Send>(&self, sql: &str) -> T {
        self.db(|db| db.query_row(sql, labgate::params![], |r| r.get(0)).unwrap())
    }
}

/// `TestApp::db` for a pool of a test's own.
pub fn on_db<T: Send>(
    pool: &labgate::store::Pool,
    f: impl FnOnce(&labgate::store::Db) -> T + Send,
) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let lease = pool.get().unwrap();
            f(&lease.db())
        })
        .join()
        .unwrap()
    })
}

/// The `lgx_` token in a mailed link (`...#token=lgx_...` or `?t=lgx_...`), decoding the
/// quoted-printable soft line breaks mail bodies may carry.
pub fn token_in_mail(mail: &str) -> String {
    let flat = mail
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let i = flat.find("lgx_").expect("a token in the mail");
    flat[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Rate-limit windows are aligned to the clock: a test counting requests against one waits
/// out the last seconds of a window so its requests all fall in the same one.
/// A server whose clock stands at the start of the current `window_s` window (rate-limit and
/// folding windows are aligned to the clock), so every request of the test falls in one
/// window however long it runs.
pub async fn spawn_in_window(
    window_s: i64,
    adjust: impl FnOnce(&mut Config),
) -> (TestApp, std::sync::Arc<labgate::domain::clock::FixedClock>) {
    let now = chrono::Utc::now().timestamp();
    let start = chrono::DateTime::from_timestamp(now - now % window_s, 0).unwrap();
    let clock = std::sync::Arc::new(labgate::domain::clock::FixedClock::at(start));
    (spawn_clocked(adjust, Some(clock.clone())).await, clock)
}
