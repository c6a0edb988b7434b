//! Leaked credentials (SPEC §16.3): the report endpoint and `labgate scan` over a tree of
//! active, revoked, mistyped and look-alike secrets.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn pat(app: &TestApp, jwt: &str, name: &str) -> String {
    app.pat(jwt, name).await
}

async fn pat_with_id(app: &TestApp, jwt: &str, name: &str) -> (String, String) {
    app.pat_with_id(jwt, name).await
}

async fn key(app: &TestApp, jwt: &str) -> String {
    let res = app
        .send_json(
            Method::POST,
            "/api/api-keys",
            jwt,
            json!({"name": "ci", "services": {"audit": "read"}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    v["key"].as_str().unwrap().to_string()
}

fn typo(s: &str) -> String {
    let mut t = s.to_string();
    let c = if &s[12..13] == "a" { "b" } else { "a" };
    t.replace_range(12..13, c);
    t
}

async fn report(app: &TestApp, jwt: &str, body: Value) -> reqwest::Response {
    app.send_json(
        Method::POST,
        "/api/admin/security/leaked-credentials",
        jwt,
        body,
    )
    .await
}

#[tokio::test]
async fn reported_secrets_are_revoked_audited_announced_and_their_owner_told() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.user_with_role("dev@lab.example", "operator", "default");
    let dev = app.login("dev@lab.example").await;
    let leaked = pat(&app, &dev.jwt, "ci").await;
    let (old, old_id) = pat_with_id(&app, &dev.jwt, "old").await;
    let res = app
        .client
        .delete(app.url(&format!("/api/tokens/{old_id}")))
        .bearer_auth(&dev.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let api_key = key(&app, &admin.jwt).await;
    let stranger = labgate::domain::token::generate(labgate::domain::token::Kind::Pat);
    let sent = vec![
        leaked.clone(),
        old.clone(),
        typo(&leaked),
        "hunter2".to_string(),
        stranger.expose().to_string(),
        api_key.clone(),
        dev.refresh.clone(),
    ];
    let res = report(
        &app,
        &admin.jwt,
        json!({"credentials": sent, "source": "git.lab.example/ops/deploy.yml"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    for s in &sent {
        assert!(
            !text.contains(s.as_str()) || s.len() < 20,
            "a secret in the answer: {text}"
        );
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    let got: Vec<(Value, Value, Value, Value)> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].clone(),
                r["prefix"].clone(),
                r["state"].clone(),
                r["revoked_now"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                json!("pat"),
                json!(&leaked[..8]),
                json!("active"),
                json!(true)
            ),
            (
                json!("pat"),
                json!(&old[..8]),
                json!("revoked"),
                json!(false)
            ),
            (
                json!("pat"),
                json!(&leaked[..8]),
                json!("invalid"),
                json!(false)
            ),
            (Value::Null, json!(""), json!("invalid"), json!(false)),
            (
                json!("pat"),
                json!(&stranger.expose()[..8]),
                json!("unknown"),
                json!(false)
            ),
            (
                json!("api_key"),
                json!(&api_key[..8]),
                json!("active"),
                json!(true)
            ),
            (
                json!("refresh"),
                json!(&dev.refresh[..8]),
                json!("active"),
                json!(true)
            ),
        ]
    );

    // Revoked at once: the token, the key, and the session the refresh token belongs to.
    let res = app
        .client
        .get(app.url("/api/ping"))
        .header("authorization", format!("token {leaked}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .get(app.url("/api/ping"))
        .bearer_auth(&api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(app.get_bearer("/api/ping", &dev.jwt).await.status(), 401);

    let recs = app.audit("credential.leaked");
    assert_eq!(recs.len(), 3);
    for r in &recs {
        let s = r.to_string();
        assert!(
            !s.contains(&leaked) && !s.contains(&api_key) && !s.contains(&dev.refresh),
            "{s}"
        );
        assert_eq!(r["details"]["source"], "git.lab.example/ops/deploy.yml");
    }
    let events: i64 = app.value("SELECT COUNT(*) FROM events WHERE type = 'credential.leaked'");
    assert_eq!(events, 3);
    let mail = app.mails(1).await.pop().unwrap();
    assert!(mail.contains("To: dev@lab.example"), "{mail}");
    assert!(
        mail.contains(&leaked[..8]) && !mail.contains(&leaked),
        "{mail}"
    );

    // Reported again: found revoked, nothing more done.
    let res = report(
        &app,
        &admin.jwt,
        json!({"credentials": [leaked], "source": "again"}),
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["results"][0]["state"], "revoked");
    assert_eq!(body["results"][0]["revoked_now"], false);
    assert_eq!(app.audit("credential.leaked").len(), 3);
}

#[tokio::test]
async fn a_report_needs_admin_settings_and_a_well_formed_body() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.user_with_role("v@lab.example", "viewer", "default");
    let viewer = app.login("v@lab.example").await;
    let res = report(
        &app,
        &viewer.jwt,
        json!({"credentials": ["x"], "source": "s"}),
    )
    .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    for (body, field) in [
        (json!({"credentials": [], "source": "s"}), "credentials"),
        (
            json!({"credentials": ["x".repeat(300)], "source": "s"}),
            "credentials",
        ),
        (json!({"credentials": ["x"], "source": " "}), "source"),
        (json!({"credentials": ["x"]}), "source"),
    ] {
        let res = report(&app, &admin.jwt, body).await;
        let b = assert_error(res, 400, "VALIDATION_ERROR").await;
        assert_eq!(b["details"][0]["field"], field, "{b}");
    }
    let res = report(
        &app,
        &admin.jwt,
        json!({"credentials": ["x"], "source": "s", "extra": 1}),
    )
    .await;
    assert_error(res, 400, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn labgate_scan_finds_reports_and_revokes_leaked_secrets_in_a_tree() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let active = pat(&app, &admin.jwt, "deploy").await;
    let key = key(&app, &admin.jwt).await;
    let tree = tempfile::tempdir().unwrap();
    let repo = tree.path().join("repo");
    std::fs::create_dir_all(repo.join("ci")).unwrap();
    std::fs::write(
        repo.join("README.md"),
        format!("token is {active}\nnothing here\n"),
    )
    .unwrap();
    std::fs::write(
        repo.join("ci/deploy.yml"),
        format!(
            "env:\n  KEY: \"{key}\"\n  TYPO: {}\n  LOOKALIKE: lgp_{}\n  GLUED: x{active}\n",
            typo(&active),
            "A".repeat(38)
        ),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc", repo.join("etc-link")).unwrap();
    let scan = |args: &[&str]| {
        let mut cmd = labgate_command();
        cmd.env("LABGATE_DB", &app.state.config.db)
            .env("LABGATE_KEY_FILE", &app.state.config.key_file)
            .arg("scan")
            .args(args);
        cmd.output().unwrap()
    };
    let out = scan(&[repo.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "active secrets found: {text}");
    let r = repo.display();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            format!("{r}/README.md:1 pat {} active", &active[..8]),
            format!("{r}/ci/deploy.yml:2 api_key {} active", &key[..8]),
        ]
    );
    assert!(!text.contains(&active) && !text.contains(&key));
    assert!(
        app.audit("credential.leaked").is_empty(),
        "a scan alone changes nothing"
    );

    let out = scan(&["--revoke", repo.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains(&format!("README.md:1 pat {} revoked", &active[..8])),
        "{text}"
    );
    assert!(
        text.contains(&format!("deploy.yml:2 api_key {} revoked", &key[..8])),
        "{text}"
    );
    assert_eq!(app.audit("credential.leaked").len(), 2);
    // The running server saw it at once.
    let res = app
        .client
        .get(app.url("/api/ping"))
        .header("authorization", format!("token {active}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // Nothing active left: exit 0; standard input works too.
    let out = scan(&[repo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("pat"));
    let mut child = labgate_command()
        .env("LABGATE_DB", &app.state.config.db)
        .env("LABGATE_KEY_FILE", &app.state.config.key_file)
        .arg("scan")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "pasted: {active}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("<stdin>:1 pat {} revoked", &active[..8])
    );
}

#[tokio::test]
async fn owners_are_mailed_once_a_week_before_a_token_or_key_expires() {
    let (app, clock) = spawn_with_clock(|_| {}).await;
    let admin = app.admin().await;
    let res = app
        .send_json(
            Method::POST,
            "/api/tokens",
            &admin.jwt,
            json!({"name": "nightly", "expires_in": "15d"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let token: Value = res.json().await.unwrap();
    let in_9_days = labgate::domain::time::fmt(
        labgate::domain::clock::Clock::now(&*clock) + chrono::Duration::days(9),
    );
    let res = app
        .send_json(
            Method::POST,
            "/api/api-keys",
            &admin.jwt,
            json!({"name": "siem", "services": {"audit": "read"}, "expires_at": in_9_days}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let notify = || {
        let a = app.state.app.clone();
        async move {
            tokio::task::spawn_blocking(move || labgate::app::leaks::notify_expiring(&a).unwrap())
                .await
                .unwrap()
        }
    };
    assert_eq!(notify().await, 0, "fifteen and nine days out: not yet");
    clock.advance(std::time::Duration::from_secs(2 * 86400 + 60));
    assert_eq!(notify().await, 1, "the key is within 7 days now");
    clock.advance(std::time::Duration::from_secs(6 * 86400));
    assert_eq!(notify().await, 1, "and then the token");
    assert_eq!(notify().await, 0, "each is told once");
    let mails = app.mails(2).await;
    let email = admin.body["user"]["email"].as_str().unwrap();
    assert!(mails.iter().all(|m| m.contains(&format!("To: {email}"))));
    assert!(mails[0].contains("API key \"siem\""), "{}", mails[0]);
    assert!(
        mails[1].contains("personal access token \"nightly\"")
            && mails[1].contains(token["prefix"].as_str().unwrap()),
        "{}",
        mails[1]
    );
    // Past its end, nothing more is sent.
    clock.advance(std::time::Duration::from_secs(30 * 86400));
    assert_eq!(notify().await, 0);
}
