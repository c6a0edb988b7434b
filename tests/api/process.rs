//! The real binary as an operator runs it: durability across kill -9, graceful SIGTERM, no
//! secrets in its logs; and failing closed when the disk fills.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

pub struct Proc {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
}

/// Starts `labgate serve` on a random port and waits until it listens.
pub fn start(dir: &std::path::Path, envs: &[(&str, &str)]) -> Proc {
    launch(dir, envs, false)
}

/// `start`, with standard error a pipe that `JOURNAL_STREAM` names (`device:inode`) when
/// `journal`, as systemd does for a unit whose output goes to the journal.
fn launch(dir: &std::path::Path, envs: &[(&str, &str)], journal: bool) -> Proc {
    let mut cmd = crate::helpers::labgate_command();
    cmd.env("LABGATE_DB", dir.join("labgate.db"))
        .env("LABGATE_LISTEN", "127.0.0.1:0")
        .env("LABGATE_MAIL_DIR", dir.join("mail"))
        .env("LABGATE_NOISE_DIR", dir.join("noise"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let journal_reader = if journal {
        use std::os::unix::fs::MetadataExt;
        let (reader, writer) = std::io::pipe().unwrap();
        let writer = std::fs::File::from(std::os::fd::OwnedFd::from(writer));
        let m = writer.metadata().unwrap();
        cmd.env("JOURNAL_STREAM", format!("{}:{}", m.dev(), m.ino()))
            .stderr(writer);
        Some(reader)
    } else {
        None
    };
    let mut child = cmd.spawn().unwrap();
    // The parent's copy of the write end is closed with `cmd`, so the reader sees the end.
    drop(cmd);
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr: Box<dyn std::io::Read + Send> = match journal_reader {
        Some(r) => Box::new(r),
        None => Box::new(child.stderr.take().unwrap()),
    };
    let l = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // A JSON line (LABGATE_LOG_FORMAT=json) says it in its `msg`.
            let msg = serde_json::from_str::<Value>(&line)
                .ok()
                .and_then(|v| v["msg"].as_str().map(str::to_string))
                .unwrap_or_else(|| line.clone());
            if let Some(i) = msg.find("listening on http") {
                let _ = tx.send(msg[i + "listening on ".len()..].trim().to_string());
            }
            l.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("server starts");
    Proc { child, base, log }
}

/// A server a test started is stopped when the test ends, passed or failed (by its PID).
impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Proc {
    /// `kill -9`: the process ends at once, without a word.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn setup_token(&self) -> Option<String> {
        let log = self.log.lock().unwrap();
        log.lines()
            .find_map(|l| l.strip_prefix("setup token: ").map(str::to_string))
    }
    pub fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }
    /// Whether the server's log holds `text` (its stderr is read by another thread, so a line
    /// may arrive a moment after the answer that follows it: waited for, up to 5 s).
    pub async fn logged(&self, text: &str) -> bool {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < until {
            if self.log.lock().unwrap().contains(text) {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        false
    }
    fn signal(&self, sig: &str) {
        assert!(
            Command::new("kill")
                .args([sig, &self.child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
    }
}

/// `POST /api/setup` on `p` with the setup token and `email`: the answer.
pub async fn set_up(
    p: &Proc,
    client: &reqwest::Client,
    token: &str,
    email: &str,
) -> reqwest::Response {
    client
        .post(p.url("/api/setup"))
        .json(&json!({"setup_token": token, "email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

pub async fn first_admin(p: &Proc, client: &reqwest::Client) -> Value {
    let token = p.setup_token().expect("setup token printed");
    assert_eq!(
        set_up(p, client, &token, "ops@lab.example").await.status(),
        201
    );
    sign_in(p, client).await
}

/// The first admin of `first_admin` signs in (again): the login answer.
pub async fn sign_in(p: &Proc, client: &reqwest::Client) -> Value {
    let res = client
        .post(p.url("/api/auth/login"))
        .json(&json!({"email": "ops@lab.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn what_was_answered_as_created_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut p = start(dir.path(), &[]);
    let login = first_admin(&p, &client).await;
    let jwt = login["token"].as_str().unwrap();
    let pat: Value = client
        .post(p.url("/api/tokens"))
        .bearer_auth(jwt)
        .json(&json!({"name": "survivor", "expires_in": "30d"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let role = client
        .post(p.url("/api/admin/roles"))
        .bearer_auth(jwt)
        .json(&json!({"name": "durable", "permissions": ["audit.read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(role.status(), 201);
    p.signal("-KILL");
    p.child.wait().unwrap();

    let mut p = start(dir.path(), &[]);
    assert!(
        p.setup_token().is_none(),
        "no setup token once a user exists"
    );
    let res = client
        .get(p.url("/api/ping"))
        .header(
            "authorization",
            format!("token {}", pat["token"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = client
        .get(p.url("/api/ping"))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "the login session and the signing key survived too"
    );
    let roles: Value = client
        .get(p.url("/api/admin/roles"))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        roles["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "durable")
    );
    p.signal("-KILL");
    p.child.wait().unwrap();
    let out = crate::helpers::labgate_command()
        .env("LABGATE_DB", dir.path().join("labgate.db"))
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero_within_ten_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut p = start(dir.path(), &[]);
    let login = first_admin(&p, &client).await;
    let jwt = login["token"].as_str().unwrap().to_string();
    // a long run to a receiver that never reads keeps running past the grace period
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let res = client.post(p.url("/api/noise/sinks")).bearer_auth(&jwt).json(&json!({"name": "slow", "kind": "syslog", "host": "127.0.0.1", "port": port, "protocol": "tcp"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let run: Value = client
        .post(p.url("/api/noise/run"))
        .bearer_auth(&jwt)
        .json(&json!({"profile": "windows-security", "count": 1000000, "sink": "slow"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    p.signal("-TERM");
    let status = loop {
        if let Some(s) = p.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    drop(l);
    // a clean exit leaves no write-ahead log behind
    assert_eq!(
        labgate::store::wal_size(&dir.path().join("labgate.db")),
        0,
        "the log was emptied at shutdown"
    );
    // the last records of the run were anchored at shutdown: the chain verifies to its end
    let out = crate::helpers::labgate_command()
        .env("LABGATE_DB", dir.path().join("labgate.db"))
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = start(dir.path(), &[]);
    let r: Value = client
        .get(p.url(&format!("/api/noise/runs/{}", run["id"].as_str().unwrap())))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "failed", "{r}");
    assert!(r["error"].as_str().unwrap().contains("shut down"), "{r}");
    p.signal("-TERM");
}

#[tokio::test]
async fn no_secret_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let global = "legacy-global-key-for-log-test-0123456789";
    let master = "master-key-for-the-log-test-0123456789abcdef";
    let dispatch = "dispatch-token-for-the-log-test-0123456789";
    let p = start(
        dir.path(),
        &[
            ("RUST_LOG", "debug"),
            ("LABGATE_GLOBAL_API_KEY", global),
            ("BREAK_GLASS_ENABLED", "true"),
            ("MASTER_KEY", master),
            ("LABGATE_NOISE_DISPATCH_TOKEN", dispatch),
        ],
    );
    let setup = p.setup_token().unwrap();
    let login = first_admin(&p, &client).await;
    let jwt = login["token"].as_str().unwrap().to_string();
    let refresh = login["refresh_token"].as_str().unwrap().to_string();
    let login2 = client
        .post(p.url("/api/auth/login"))
        .json(&json!({"email": "ops@lab.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = cookie_value(login2.headers(), "labgate_session").unwrap();
    let csrf = cookie_value(login2.headers(), "labgate_csrf").unwrap();
    let rotated: Value = client
        .post(p.url("/api/auth/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pat: Value = client
        .post(p.url("/api/tokens"))
        .bearer_auth(&jwt)
        .json(&json!({"name": "p", "expires_in": "30d"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pat = pat["token"].as_str().unwrap().to_string();
    let key: Value = client
        .post(p.url("/api/api-keys"))
        .bearer_auth(&jwt)
        .json(&json!({"name": "k", "services": {"audit": "read"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_string();
    let reset: Value = client
        .post(p.url(&format!(
            "/api/admin/users/{}/reset-password",
            login["user"]["id"].as_str().unwrap()
        )))
        .bearer_auth(&jwt)
        .json(&json!({"deliver": "response"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reset_token = reset["token"].as_str().unwrap().to_string();
    let uses: Vec<reqwest::RequestBuilder> = vec![
        client.get(p.url("/api/ping")).bearer_auth(&jwt),
        client.get(p.url("/api/ping")).header(
            "cookie",
            format!("labgate_session={cookie}; labgate_csrf={csrf}"),
        ),
        client
            .post(p.url("/api/auth/logout"))
            .header(
                "cookie",
                format!("labgate_session={cookie}; labgate_csrf={csrf}"),
            )
            .header("x-csrf-token", &csrf),
        client
            .get(p.url("/api/ping"))
            .header("authorization", format!("token {pat}")),
        client.get(p.url("/api/ping")).header("x-api-key", &pat),
        client.get(p.url("/api/admin/audit")).bearer_auth(&key),
        client.get(p.url("/api/ping")).header("x-api-key", global),
        client
            .get(p.url("/api/ping"))
            .header("x-master-key", master)
            .header("x-tenant-id", "default"),
        client
            .post(p.url("/api/noise/run"))
            .bearer_auth(dispatch)
            .json(&json!({"profile": "dns", "count": 1})),
        client.get(p.url(&format!("/api/ping?token={pat}"))),
        client.get(p.url(&format!("/api/ping?api_key={key}"))),
        client
            .get(p.url("/api/ping"))
            .bearer_auth(format!("{jwt}tampered")),
    ];
    for u in uses {
        let _ = u.send().await.unwrap();
    }
    let ok = client
        .post(p.url("/api/auth/reset-password"))
        .json(&json!({"token": reset_token, "new_password": "a whole new passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 204);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = p.log.lock().unwrap().clone();
    assert!(log.contains("GET /api/ping"), "the access log is there");
    let secrets = [
        PASSWORD.to_string(),
        "a whole new passphrase".to_string(),
        jwt.clone(),
        jwt.split('.').nth(2).unwrap().to_string(),
        refresh,
        rotated["refresh_token"].as_str().unwrap().to_string(),
        cookie,
        csrf,
        pat,
        key,
        reset_token,
        global.to_string(),
        master.to_string(),
        dispatch.to_string(),
    ];
    for s in &secrets {
        assert!(
            !log.contains(s.as_str()),
            "a secret reached the log: {}...",
            &s[..8.min(s.len())]
        );
    }
    assert_eq!(
        log.matches(&setup).count(),
        1,
        "the setup token is printed once, on its own line"
    );
    drop(p);
}

/// Mounts a small tmpfs (needs root, as CI runs), so the database's disk really fills.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap().keep();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[tokio::test]
async fn a_full_disk_fails_closed_and_recovers_by_itself() {
    let Some(fs) = Tmpfs::mount("6m") else {
        assert!(!is_root(), "running as root, a tmpfs must mount");
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let db_dir = fs.0.clone();
    let app = spawn_with(move |c| c.db = db_dir.join("labgate.db")).await;
    let admin = app.admin().await;
    // fill the disk
    let filler = fs.0.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    let mut refused = 0;
    for i in 0..20 {
        let res = app
            .client
            .post(app.url("/api/tokens"))
            .bearer_auth(&admin.jwt)
            .json(&json!({"name": format!("t{i}"), "expires_in": "30d"}))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        if status == 201 {
            continue; // a page or two may still fit
        }
        assert_eq!(status, 503, "writes fail closed");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "DB_UNAVAILABLE");
        assert!(
            !body.to_string().contains("labgate.db")
                && !body.to_string().to_lowercase().contains("sqlite")
        );
        refused += 1;
    }
    assert!(refused > 0, "the full disk was noticed");
    assert_eq!(
        app.get_bearer("/api/ping", &admin.jwt).await.status(),
        200,
        "reads still answer"
    );
    // free the space: the same server recovers without a restart
    std::fs::remove_file(&filler).unwrap();
    let res = app
        .client
        .post(app.url("/api/tokens"))
        .bearer_auth(&admin.jwt)
        .json(&json!({"name": "after", "expires_in": "30d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(
        app.client
            .get(app.url("/api/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(
        app.db(|db| labgate::store::audit::verify(db).unwrap().is_ok()),
        "nothing half-written in the audit chain"
    );
    let made: i64 = app.value("SELECT COUNT(*) FROM personal_tokens");
    let audited: i64 = app.value("SELECT COUNT(*) FROM audit_log WHERE action = 'token.create'");
    assert_eq!(made, audited, "every token that exists was audited with it");
    app.stop().await;
}

fn kid_of(jwt: &str) -> String {
    use base64::Engine;
    let head = jwt.split('.').next().unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .unwrap();
    serde_json::from_slice::<Value>(&raw).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_rotated_signing_key_signs_new_tokens_while_the_old_ones_stay_valid() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let p = start(dir.path(), &[]);
    let login = first_admin(&p, &client).await;
    let old = login["token"].as_str().unwrap().to_string();
    let old_kid = kid_of(&old);

    let out = crate::helpers::labgate_command()
        .env("LABGATE_DB", dir.path().join("labgate.db"))
        .args(["keys", "rotate-signing"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.contains("is current"), "{said}");

    // the running server takes the new key up when it sees the change (within seconds)
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let jwks = loop {
        let jwks: Value = client
            .get(p.url("/api/auth/public-key"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if jwks["keys"].as_array().unwrap().len() == 2 {
            break jwks;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server never published the new key: {jwks}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()),
        "the previous key is still published"
    );
    let new_kid = kids.iter().find(|k| **k != old_kid).unwrap().to_string();

    // new tokens carry the new key; the old token still works
    let res = client
        .post(p.url("/api/auth/login"))
        .json(&json!({"email": "ops@lab.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let new: Value = res.json().await.unwrap();
    assert_eq!(kid_of(new["token"].as_str().unwrap()), new_kid);
    for jwt in [&old, new["token"].as_str().unwrap()] {
        let res = client
            .get(p.url("/api/auth/me"))
            .bearer_auth(jwt)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // and the rotation is in the audit trail
    let conn = rusqlite::Connection::open(dir.path().join("labgate.db")).unwrap();
    let target: String = conn
        .query_row(
            "SELECT target FROM audit_log WHERE action = 'keys.rotate_signing'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(target, new_kid);
}

#[tokio::test]
async fn the_write_ahead_log_stays_bounded_under_writes_with_readers_always_present() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let p = start(dir.path(), &[("LABGATE_RATE_LIMIT_PER_MINUTE", "0")]);
    let login = first_admin(&p, &client).await;
    let jwt = login["token"].as_str().unwrap().to_string();
    let db = dir.path().join("labgate.db");
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // readers that never stop while the writes run
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (c, url, jwt, done) = (
                client.clone(),
                p.url("/api/tokens"),
                jwt.clone(),
                done.clone(),
            );
            tokio::spawn(async move {
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let r = c.get(&url).bearer_auth(&jwt).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                }
            })
        })
        .collect();
    // 8 writers, 3000 writes in all, each a token and its audit record
    let mut peak = 0;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (c, url, jwt) = (client.clone(), p.url("/api/tokens"), jwt.clone());
            tokio::spawn(async move {
                for i in 0..375 {
                    let r = c
                        .post(&url)
                        .bearer_auth(&jwt)
                        .json(&json!({"name": format!("w{w}-{i}-{}", "x".repeat(80)), "expires_in": "15d"}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201, "{:?}", r.text().await);
                }
            })
        })
        .collect();
    let all = futures_util::future::join_all(writers);
    tokio::pin!(all);
    let results = loop {
        tokio::select! {
            r = &mut all => break r,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {
                peak = peak.max(labgate::store::wal_size(&db));
            }
        }
    };
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for r in results {
        r.unwrap();
    }
    for r in readers {
        r.await.unwrap();
    }
    let tokens: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM personal_tokens", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tokens, 3000);
    eprintln!("write-ahead log peak: {peak} bytes");
    assert!(
        peak <= labgate::store::WAL_BOUND,
        "the log grew to {peak} bytes (bound {})",
        labgate::store::WAL_BOUND
    );
}

/// Polls `GET /api/health` until it answers `status` (at most 3 s); returns the body.
async fn health_becomes(p: &Proc, client: &reqwest::Client, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let r = client.get(p.url("/api/health")).send().await.unwrap();
        if r.status() == status {
            return r.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "health never answered {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_database_file_removed_replaced_or_made_read_only_is_noticed_and_nothing_is_lost() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let p = start(dir.path(), &[]);
    let login = first_admin(&p, &client).await;
    let jwt = login["token"].as_str().unwrap().to_string();
    let db = dir.path().join("labgate.db");
    let kept = dir.path().join("kept.db");
    let make = |name: &'static str| {
        client
            .post(p.url("/api/tokens"))
            .bearer_auth(&jwt)
            .json(&json!({"name": name, "expires_in": "15d"}))
            .send()
    };
    assert_eq!(make("before").await.unwrap().status(), 201);

    // removed (a link elsewhere keeps the data, as an operator's mistake could be undone)
    std::fs::hard_link(&db, &kept).unwrap();
    std::fs::remove_file(&db).unwrap();
    let h = health_becomes(&p, &client, 503).await;
    assert_eq!(h["status"], "degraded", "{h} {}", p.log.lock().unwrap());
    let r = make("while-removed").await.unwrap();
    assert_eq!(
        r.status(),
        503,
        "never written into a file no one will open again"
    );
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "DB_UNAVAILABLE");
    // put back: it recovers by itself
    std::fs::hard_link(&kept, &db).unwrap();
    std::fs::remove_file(&kept).unwrap();
    health_becomes(&p, &client, 200).await;
    assert_eq!(make("after-return").await.unwrap().status(), 201);

    // made read-only, then writable again
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o400)).unwrap();
    health_becomes(&p, &client, 503).await;
    assert_eq!(make("while-read-only").await.unwrap().status(), 503);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    health_becomes(&p, &client, 200).await;
    assert_eq!(make("after-chmod").await.unwrap().status(), 201);

    // replaced by another file: degraded until someone looks
    std::fs::rename(&db, &kept).unwrap();
    std::fs::copy(&kept, &db).unwrap();
    health_becomes(&p, &client, 503).await;
    assert_eq!(make("while-replaced").await.unwrap().status(), 503);
    std::fs::rename(&kept, &db).unwrap();
    health_becomes(&p, &client, 200).await;

    // every write answered 201 is there; none answered 503 is
    let names: Vec<String> = rusqlite::Connection::open(&db)
        .unwrap()
        .prepare("SELECT name FROM personal_tokens ORDER BY created_at")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(names, ["before", "after-return", "after-chmod"]);
}

#[tokio::test]
async fn a_backup_is_taken_while_the_server_runs_and_a_restore_waits_for_it_to_stop() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut p = start(dir.path(), &[]);
    first_admin(&p, &client).await;
    let db = dir.path().join("labgate.db");
    let copy = dir.path().join("copy.db");
    let cli = || {
        let mut c = crate::helpers::labgate_command();
        c.env("LABGATE_DB", &db);
        c
    };
    let out = cli().args(["backup", "--to"]).arg(&copy).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // a second server on the same file is refused
    let out = crate::helpers::labgate_command()
        .env("LABGATE_DB", &db)
        .env("LABGATE_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a labgate server is using"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // restore while it runs: refused, nothing changed
    let out = cli()
        .args(["restore", "--from"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stop it before restoring"), "{err}");
    assert!(!dir.path().join("labgate.db.before-restore").exists());
    // stopped: the restore goes through, and the server starts on the copy
    p.signal("-TERM");
    let _ = p.child.wait();
    let out = cli()
        .args(["restore", "--from"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = start(dir.path(), &[]);
    let res = client
        .post(p.url("/api/auth/login"))
        .json(&json!({"email": "ops@lab.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the admin of the copy signs in");
}

#[tokio::test]
async fn scheduled_backups_are_verified_audited_and_rotated() {
    if crate::helpers::on_postgres() {
        return; // PostgreSQL is backed up with pg_dump
    }
    let app = spawn_app().await;
    app.admin().await;
    let dir = app.dir.path().join("backups");
    let clock = std::sync::Arc::new(labgate::domain::clock::FixedClock::at(
        chrono::DateTime::parse_from_rfc3339("2026-12-01T03:00:00Z")
            .unwrap()
            .to_utc(),
    ));
    let a = app.state.app.clone().with_clock(clock.clone());
    for _ in 0..3 {
        let (a, dir) = (a.clone(), dir.clone());
        let s = tokio::task::spawn_blocking(move || labgate::app::backup::scheduled(&a, &dir, 2))
            .await
            .unwrap()
            .unwrap();
        assert!(s.audit_records > 0);
        clock.advance(Duration::from_secs(86400));
    }
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "labgate-20261202T030000Z.db",
            "labgate-20261202T030000Z.db.audit-head",
            "labgate-20261203T030000Z.db",
            "labgate-20261203T030000Z.db.audit-head",
        ],
        "the newest two are kept"
    );
    let recorded = app.audit("backup.create");
    assert_eq!(recorded.len(), 3);
    assert!(recorded.iter().all(|r| r["outcome"] == "success"));
}

#[tokio::test]
async fn a_trigger_planted_while_the_server_runs_stops_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let p = start(dir.path(), &[]);
    let login = first_admin(&p, &client).await;
    let jwt = login["token"].as_str().unwrap().to_string();
    rusqlite::Connection::open(dir.path().join("labgate.db"))
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER quiet BEFORE INSERT ON audit_log BEGIN SELECT RAISE(IGNORE); END;",
        )
        .unwrap();
    let r = client
        .post(p.url("/api/tokens"))
        .bearer_auth(&jwt)
        .json(&json!({"name": "x", "expires_in": "15d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "DB_UNAVAILABLE");
    assert!(p.logged("schema was altered").await);
}

#[tokio::test]
async fn an_audit_record_the_database_cannot_take_now_is_kept_and_written_later() {
    if crate::helpers::on_postgres() {
        return; // SQLite's file made unwritable
    }
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    app.admin().await;
    let db = app.dir.path().join("labgate.db");
    let ev = labgate::store::audit::AuditEvent {
        actor_type: "system".into(),
        actor_id: Some("mailer".into()),
        action: "mail.send".into(),
        outcome: labgate::store::audit::Outcome::Success,
        details: json!({"kind": "reset"}),
        ..Default::default()
    };
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o400)).unwrap();
    let a = app.state.app.clone();
    // the write fails (the file is read-only), the record is kept
    let deadline = Instant::now() + Duration::from_secs(3);
    while app.state.pool.file_problem().is_none() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::task::spawn_blocking(move || a.record(ev))
        .await
        .unwrap();
    assert!(app.audit("mail.send").is_empty());
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    // once the database answers again, the next flush writes it, with when it happened
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let a = app.state.app.clone();
        tokio::task::spawn_blocking(move || a.flush_pending())
            .await
            .unwrap();
        let found = app.audit("mail.send");
        if let Some(r) = found.first() {
            assert!(r["details"]["happened_at"].is_string(), "{r}");
            assert_eq!(found.len(), 1);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the kept record was never written"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_trigger_removed_behind_the_schema_version_is_not_kept_by_the_writer() {
    if crate::helpers::on_postgres() {
        return; // a trigger written into SQLite's file
    }
    let app = spawn_app().await;
    app.admin().await;
    let db = app.dir.path().join("labgate.db");
    let ev = |action: &str| labgate::store::audit::AuditEvent {
        actor_type: "system".into(),
        action: action.into(),
        outcome: labgate::store::audit::Outcome::Success,
        ..Default::default()
    };
    let write = |action: &'static str| {
        let e = ev(action);
        labgate::store::write_blocking(&app.state.pool, move |tx| {
            labgate::store::audit::append(tx, &e).map(|_| ())
        })
    };
    let count = |action: &str| -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM audit_log WHERE action = ?1",
                [action],
                |r| r.get(0),
            )
            .unwrap()
    };
    write("test.before").unwrap();
    // a trigger that drops some records: the next write is refused (and loads it, were the
    // writer to keep its connection)
    let attacker = rusqlite::Connection::open(&db).unwrap();
    attacker
        .execute_batch(
            "CREATE TRIGGER t BEFORE INSERT ON audit_log WHEN NEW.action LIKE 'test.secret%'
               BEGIN SELECT RAISE(IGNORE); END;",
        )
        .unwrap();
    let v: i64 = attacker
        .query_row("PRAGMA schema_version", [], |r| r.get(0))
        .unwrap();
    assert!(write("test.secret-1").is_err());
    // the trigger's row removed with the version left as it was
    attacker
        .execute_batch(&format!(
            "PRAGMA writable_schema = ON; DELETE FROM sqlite_master WHERE name = 't';
             PRAGMA writable_schema = OFF; PRAGMA schema_version = {v};"
        ))
        .unwrap();
    drop(attacker);
    // whatever happens to the write, its record is never silently dropped
    match write("test.secret-2") {
        Ok(()) => assert_eq!(count("test.secret-2"), 1, "the record was dropped"),
        Err(e) => assert!(e.to_string().contains("schema"), "{e}"),
    }
    write("test.after").unwrap();
    assert_eq!(count("test.after"), 1);
}

/// The JSON lines of a server's log (the setup token's line is not a log line).
fn json_lines(p: &Proc) -> Vec<Value> {
    let log = p.log.lock().unwrap();
    log.lines()
        .filter(|l| !l.starts_with("setup token: "))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect()
}

#[tokio::test]
async fn json_logs_carry_the_request_fields_and_metrics_listen_on_their_own_port() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(
        dir.path(),
        &[
            ("LABGATE_LOG_FORMAT", "json"),
            ("LABGATE_METRICS_LISTEN", "127.0.0.1:0"),
            ("LABGATE_TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
    );
    let client = reqwest::Client::new();
    let login = first_admin(&p, &client).await;
    let jwt = login["token"].as_str().unwrap();
    let res = client
        .get(p.url("/api/auth/me"))
        .bearer_auth(jwt)
        .header("x-forwarded-for", "10.1.2.3")
        .header("x-correlation-id", "json-log-check-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(p.logged("json-log-check-1").await);
    let lines = json_lines(&p);
    for l in &lines {
        let ts = l["ts"].as_str().expect("ts");
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
        assert!(l["level"].is_string() && l["msg"].is_string(), "{l}");
    }
    let access = lines
        .iter()
        .find(|l| l["request_id"] == "json-log-check-1")
        .expect("the request's line");
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["method"], "GET");
    assert_eq!(access["route"], "/api/auth/me");
    assert_eq!(access["status"], 200);
    assert_eq!(
        access["ip"], "10.1.2.3",
        "the client as the trusted proxy named it"
    );
    assert!(
        access["duration_ms"].as_f64().is_some_and(|d| d >= 0.0),
        "{access}"
    );
    let text = p.log.lock().unwrap().clone();
    assert!(!text.contains(jwt), "no token in the log");
    // The metrics listener said where it is; it answers there, and the API port does not
    // serve /metrics.
    let at = lines
        .iter()
        .filter_map(|l| l["msg"].as_str())
        .find_map(|m| m.strip_prefix("metrics on "))
        .expect("metrics address logged")
        .to_string();
    let m = client.get(&at).send().await.unwrap();
    assert_eq!(m.status(), 200);
    let body = m.text().await.unwrap();
    assert!(
        body.contains("labgate_logins_total{outcome=\"success\"} 1"),
        "{body}"
    );
    let api = client.get(p.url("/metrics")).send().await.unwrap();
    assert_eq!(api.status(), 404);
}

#[tokio::test]
async fn text_logs_under_journald_carry_no_timestamp_of_their_own() {
    /// The access line of one health check, as the server logged it.
    async fn health_line(p: &Proc) -> String {
        let res = reqwest::get(p.url("/api/health")).await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(p.logged("GET /api/health 200").await);
        let log = p.log.lock().unwrap().clone();
        log.lines()
            .find(|l| l.contains("GET /api/health 200"))
            .unwrap()
            .to_string()
    }
    let dir = tempfile::tempdir().unwrap();
    let line = health_line(&launch(dir.path(), &[], true)).await;
    assert!(line.starts_with("[INFO "), "{line}");
    // Without journald, or with a JOURNAL_STREAM that names another stream than standard
    // error, the same line starts with its time.
    let dir2 = tempfile::tempdir().unwrap();
    let line = health_line(&start(dir2.path(), &[("JOURNAL_STREAM", "8:12345")])).await;
    assert!(line.starts_with("[20"), "{line}");
}

#[test]
fn bad_observability_settings_refuse_the_start_naming_the_variable() {
    for (var, value) in [
        ("LABGATE_LOG_FORMAT", "xml"),
        ("LABGATE_METRICS_LISTEN", "everywhere"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = crate::helpers::labgate_command()
            .env("LABGATE_DB", dir.path().join("labgate.db"))
            .env("LABGATE_LISTEN", "127.0.0.1:0")
            .env(var, value)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(var), "{err}");
        assert!(!dir.path().join("labgate.db").exists(), "nothing created");
    }
}

/// Under a `Type=notify` unit: READY once listening, WATCHDOG while the server answers its
/// own listener, RELOADING then READY on SIGHUP, STOPPING on SIGTERM; a socket stands in for
/// systemd's.
#[tokio::test]
async fn systemd_hears_ready_watchdog_reload_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let next = |sock: &UnixDatagram| {
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).expect("a notification arrives");
        // Each state is one `NAME=value` line.
        String::from_utf8_lossy(&buf[..n]).trim_end().to_string()
    };
    let mut p = start(
        dir.path(),
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "2000000"),
        ],
    );
    assert_eq!(next(&sock), "READY=1");
    assert_eq!(next(&sock), "WATCHDOG=1");
    // The watchdog's probe is not logged at info.
    assert!(!p.log.lock().unwrap().contains("systemd-watchdog"));
    p.signal("-HUP");
    let mut seen = next(&sock);
    while seen == "WATCHDOG=1" {
        seen = next(&sock);
    }
    assert!(seen.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{seen}");
    let mut seen = next(&sock);
    while seen == "WATCHDOG=1" {
        seen = next(&sock);
    }
    assert_eq!(seen, "READY=1");
    assert!(p.logged("reload: caches dropped").await);
    // Still serving after the reload.
    let res = reqwest::get(p.url("/api/health")).await.unwrap();
    assert_eq!(res.status(), 200);
    p.signal("-TERM");
    let mut seen = next(&sock);
    while seen == "WATCHDOG=1" {
        seen = next(&sock);
    }
    assert_eq!(seen, "STOPPING=1");
    let status = p.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// `curl` (a real TLS client with its own verifier) against the server; the exit code, the
/// headers and the body.
fn curl(args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

fn cert_generate(dir: &std::path::Path) -> String {
    let out = crate::helpers::labgate_command()
        .args([
            "cert",
            "generate",
            "--host",
            "localhost",
            "--host",
            "127.0.0.1",
            "--out",
        ])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    said.lines()
        .find_map(|l| l.strip_prefix("SHA-256").map(|f| f.trim().to_string()))
        .expect("the fingerprint is printed")
}

#[tokio::test]
async fn https_serves_tls_12_and_13_with_h2_hsts_and_secure_cookies_and_reloads_on_sighup() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let fp1 = cert_generate(&first);
    let (crt, key) = (first.join("labgate.crt"), first.join("labgate.key"));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&crt), 0o644);
    // Never over an existing pair.
    let again = crate::helpers::labgate_command()
        .args(["cert", "generate", "--host", "localhost", "--out"])
        .arg(&first)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwritten"));
    // The served files are copies, so the test can change them under the server.
    let (served_crt, served_key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::copy(&crt, &served_crt).unwrap();
    std::fs::copy(&key, &served_key).unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let p = start(
        dir.path(),
        &[
            ("LABGATE_TLS_CERT", served_crt.to_str().unwrap()),
            ("LABGATE_TLS_KEY", served_key.to_str().unwrap()),
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "2000000"),
        ],
    );
    assert!(p.base.starts_with("https://127.0.0.1:"), "{}", p.base);
    assert!(p.logged(&format!("TLS certificate {fp1} in service")).await);
    // The watchdog's probe is answered on the HTTPS port too.
    let mut buf = [0u8; 64];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1\n");
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"WATCHDOG=1\n");

    let health = p.url("/api/health");
    let ca = crt.to_str().unwrap();
    let (code, out) = curl(&["--cacert", ca, "-w", "%{http_version}", &health]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("HTTP/2 200"), "HTTP/2 by ALPN: {out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "{out}"
    );
    let (code, out) = curl(&[
        "--http1.1",
        "--tlsv1.2",
        "--tls-max",
        "1.2",
        "--cacert",
        ca,
        &health,
    ]);
    assert_eq!(code, 0);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let (code, _) = curl(&["--tlsv1.1", "--tls-max", "1.1", "--cacert", ca, &health]);
    assert_ne!(code, 0, "TLS 1.1 is refused");
    let (code, _) = curl(&[&health]);
    assert_eq!(
        code, 60,
        "a client that does not trust the certificate is refused by its verifier"
    );
    let plain = p.url("/api/health").replace("https://", "http://");
    let (code, out) = curl(&[&plain]);
    assert!(
        code != 0 && !out.contains("200"),
        "the port speaks HTTPS only: {out}"
    );

    // The first admin over HTTPS: its cookies are Secure and the session's is __Host-.
    let token = p.setup_token().unwrap();
    let (code, out) = curl(&[
        "--cacert",
        ca,
        "-H",
        "content-type: application/json",
        "-d",
        &format!(
            r#"{{"setup_token":"{token}","email":"ops@lab.example","password":"{PASSWORD}"}}"#
        ),
        &p.url("/api/setup"),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains(" 201"), "{out}");
    let (_, out) = curl(&[
        "--cacert",
        ca,
        "-H",
        "content-type: application/json",
        "-d",
        &format!(r#"{{"email":"ops@lab.example","password":"{PASSWORD}"}}"#),
        &p.url("/api/auth/login"),
    ]);
    let session = out
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: __host-labgate_session=")
        })
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        session.contains("Secure") && session.contains("HttpOnly"),
        "{session}"
    );

    // SIGHUP: a new pair is taken for new connections...
    let second = dir.path().join("second");
    let fp2 = cert_generate(&second);
    std::fs::copy(second.join("labgate.crt"), &served_crt).unwrap();
    std::fs::copy(second.join("labgate.key"), &served_key).unwrap();
    p.signal("-HUP");
    assert!(
        p.logged(&format!("reload: TLS certificate {fp2} in service"))
            .await
    );
    let ca2 = second.join("labgate.crt");
    let (code, _) = curl(&["--cacert", ca2.to_str().unwrap(), &health]);
    assert_eq!(code, 0);
    let (code, _) = curl(&["--cacert", ca, &health]);
    assert_eq!(code, 60, "the old certificate is no longer served");
    // ...and a pair that does not match keeps the one in service.
    let third = dir.path().join("third");
    cert_generate(&third);
    std::fs::copy(third.join("labgate.key"), &served_key).unwrap();
    p.signal("-HUP");
    assert!(
        p.logged("the TLS certificate in service is kept: LABGATE_TLS_KEY")
            .await
    );
    let (code, _) = curl(&["--cacert", ca2.to_str().unwrap(), &health]);
    assert_eq!(code, 0, "still serving the second certificate");
}

#[test]
fn a_tls_setting_that_cannot_serve_stops_the_start_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    cert_generate(&a);
    cert_generate(&b);
    let (crt, key) = (a.join("labgate.crt"), a.join("labgate.key"));
    let other_key = b.join("labgate.key");
    let missing = dir.path().join("nowhere.crt");
    type Case<'a> = (Vec<(&'a str, &'a std::path::Path)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("LABGATE_TLS_CERT", &crt)],
            "LABGATE_TLS_KEY",
            "must be set with",
        ),
        (
            vec![("LABGATE_TLS_KEY", &key)],
            "LABGATE_TLS_CERT",
            "must be set with",
        ),
        (
            vec![("LABGATE_TLS_CERT", &crt), ("LABGATE_TLS_KEY", &other_key)],
            "LABGATE_TLS_KEY",
            "does not match",
        ),
        (
            vec![("LABGATE_TLS_CERT", &missing), ("LABGATE_TLS_KEY", &key)],
            "LABGATE_TLS_CERT",
            "cannot read",
        ),
        (
            vec![("LABGATE_TLS_CERT", &key), ("LABGATE_TLS_KEY", &key)],
            "LABGATE_TLS_CERT",
            "holds no certificate",
        ),
    ];
    for (envs, var, why) in cases {
        let mut cmd = crate::helpers::labgate_command();
        cmd.env("LABGATE_DB", dir.path().join("labgate.db"))
            .env("LABGATE_LISTEN", "127.0.0.1:0");
        for (k, v) in &envs {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{envs:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(var) && err.contains(why), "{envs:?}: {err}");
        assert!(!dir.path().join("labgate.db").exists());
    }
}

#[tokio::test]
async fn the_server_forwards_its_audit_records_to_a_tcp_receiver_and_goes_on_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let peer = crate::peers::SyslogPeer::start(None);
    let target = format!("tcp://127.0.0.1:{}", peer.port);
    let p = start(dir.path(), &[("LABGATE_AUDIT_FORWARD", &target)]);
    let client = reqwest::Client::new();
    first_admin(&p, &client).await;
    let frames = tokio::task::spawn_blocking({
        let frames = peer.frames.clone();
        move || {
            for _ in 0..200 {
                if frames
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|f| f.contains(" auth.login "))
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            frames.lock().unwrap().clone()
        }
    })
    .await
    .unwrap();
    assert!(
        frames
            .iter()
            .any(|f| f.contains(" labgate ") && f.contains(" auth.login ")),
        "{frames:?}"
    );
    drop(p);
    let sent = frames.len();
    // Started again: only records written since are sent (the position is in the database).
    let p = start(dir.path(), &[("LABGATE_AUDIT_FORWARD", &target)]);
    let res = client
        .post(p.url("/api/auth/login"))
        .json(&json!({"email": "ops@lab.example", "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let frames = tokio::task::spawn_blocking(move || peer.wait(sent + 1))
        .await
        .unwrap();
    let seqs: Vec<i64> = frames
        .iter()
        .map(|f| {
            let json = &f[f.find(" - {").unwrap() + 3..];
            serde_json::from_str::<Value>(json).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert!(seqs.len() > sent, "a record of the second run arrived");
    // At least once and in order: the second run starts again from the last confirmed
    // position (the first run's last batch may come twice), and nothing is missing.
    assert!(
        seqs[..sent].windows(2).all(|w| w[1] == w[0] + 1),
        "{seqs:?}"
    );
    assert!(seqs[sent] <= seqs[sent - 1] + 1, "{seqs:?}");
    assert!(
        seqs[sent..].windows(2).all(|w| w[1] == w[0] + 1),
        "{seqs:?}"
    );
    drop(p);
}
