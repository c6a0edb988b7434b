//! Protection: rate limits, client IPs behind proxies, IP allow and block lists, hostile
//! input, and the audit routes.

use std::io::{Read, Write};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn trusted(c: &mut labgate::config::Config) {
    c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
}

#[tokio::test]
async fn the_eleventh_login_from_one_address_is_refused() {
    let (app, clock) = spawn_in_window(900, |_| {}).await;
    let now = labgate::domain::clock::Clock::now(&*clock).timestamp();
    for i in 0..10 {
        // a new email each time, so the per-email lockout does not answer first
        let res = app
            .post_json(
                "/api/auth/login",
                json!({"email": format!("x{i}@lab.example"), "password": "wrong password!"}),
            )
            .await;
        assert_eq!(res.status(), 401, "attempt {i}");
        let h = res.headers();
        assert_eq!(h["ratelimit-limit"], "10");
        assert_eq!(
            h["ratelimit-remaining"].to_str().unwrap(),
            (9 - i).to_string()
        );
        let reset: i64 = h["ratelimit-reset"].to_str().unwrap().parse().unwrap();
        assert_eq!(reset, now + 15 * 60, "the window's end");
    }
    let res = app
        .post_json(
            "/api/auth/login",
            json!({"email": "x@lab.example", "password": "wrong password!"}),
        )
        .await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry, 900, "the whole window is left on the clock");
    assert_error(res, 429, "RATE_LIMITED").await;
    // another address is not affected
    let res = app
        .client_on_fresh_ip()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "x@lab.example", "password": "wrong password!"}))
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 429);
}

#[tokio::test]
async fn the_general_limit_is_per_client_ip_and_health_is_exempt() {
    let (app, _clock) = spawn_in_window(60, |c| {
        trusted(c);
        c.rate_limit_per_minute = 5;
    })
    .await;
    let admin = app.admin().await;
    let ping = |xff: &str| {
        app.client
            .get(app.url("/api/ping"))
            .bearer_auth(&admin.jwt)
            .header("x-forwarded-for", xff)
            .send()
    };
    for _ in 0..5 {
        assert_eq!(ping("203.0.113.7").await.unwrap().status(), 200);
    }
    assert_error(ping("203.0.113.7").await.unwrap(), 429, "RATE_LIMITED").await;
    assert_eq!(
        ping("203.0.113.8").await.unwrap().status(),
        200,
        "another client through the same proxy"
    );
    assert_eq!(ping("2001:db8::1").await.unwrap().status(), 200);
    for _ in 0..20 {
        let res = app
            .client
            .get(app.url("/api/health"))
            .header("x-forwarded-for", "203.0.113.7")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_does_not_dodge_the_limit() {
    let (app, _clock) = spawn_in_window(60, |c| c.rate_limit_per_minute = 3).await;
    let mut statuses = vec![];
    for i in 0..4 {
        let res = app
            .client
            .get(app.url("/api/ping"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
}

#[tokio::test]
async fn a_zero_general_limit_keeps_the_auth_limits() {
    let app = spawn_app().await; // the harness runs with LABGATE_RATE_LIMIT_PER_MINUTE=0
    for _ in 0..150 {
        assert_eq!(
            app.client
                .get(app.url("/api/ping"))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
    }
    for _ in 0..5 {
        app.post_json(
            "/api/auth/forgot-password",
            json!({"email": "a@lab.example"}),
        )
        .await;
    }
    let res = app
        .post_json(
            "/api/auth/reset-password",
            json!({"token": "lgx_x", "new_password": "whatever whatever"}),
        )
        .await;
    assert_eq!(res.headers()["ratelimit-limit"], "5");
}

#[tokio::test]
async fn ip_allow_and_block_lists() {
    let app = spawn_with(trusted).await;
    app.tenant("red");
    let admin = app.admin().await;
    app.user_with_role("red@lab.example", "admin", "red");
    let red = app.login("red@lab.example").await;
    let add = |list: &'static str, cidr: &str| {
        let body = json!({"cidr": cidr, "note": "lab"});
        let path = format!("/api/admin/security/ip-{list}");
        let jwt = admin.jwt.clone();
        let app = &app;
        async move { app.send_json(Method::POST, &path, &jwt, body).await }
    };
    assert_error(
        add("allowlist", "10.0.0.0/33").await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(add("allowlist", "10.0.0.0/8").await, 409, "CONFLICT").await;
    assert_error(add("blocklist", "127.0.0.0/8").await, 409, "CONFLICT").await;
    let res = add("allowlist", "127.0.0.0/8").await;
    assert_eq!(res.status(), 201);
    let allow: Value = res.json().await.unwrap();
    assert_eq!(allow["cidr"], "127.0.0.0/8");
    let from = |jwt: &str, xff: &str| {
        app.client
            .get(app.url("/api/ping"))
            .bearer_auth(jwt)
            .header("x-forwarded-for", xff)
            .send()
    };
    assert_eq!(from(&admin.jwt, "127.0.0.9").await.unwrap().status(), 200);
    assert_error(
        from(&admin.jwt, "192.0.2.1").await.unwrap(),
        403,
        "SOURCE_IP_NOT_ALLOWED",
    )
    .await;
    assert_eq!(
        from(&red.jwt, "192.0.2.1").await.unwrap().status(),
        200,
        "other tenants are unaffected"
    );
    let res = add("blocklist", "127.0.0.128/25").await;
    assert_eq!(res.status(), 201);
    let block: Value = res.json().await.unwrap();
    assert_error(
        from(&admin.jwt, "127.0.0.200").await.unwrap(),
        403,
        "SOURCE_IP_NOT_ALLOWED",
    )
    .await;
    let list: Value = app
        .get_bearer("/api/admin/security/ip-blocklist", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["meta"]["total"], 1);
    let res = app
        .client
        .delete(app.url(&format!(
            "/api/admin/security/ip-blocklist/{}",
            block["id"].as_str().unwrap()
        )))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(from(&admin.jwt, "127.0.0.200").await.unwrap().status(), 200);
    let res = app
        .client
        .delete(app.url(&format!(
            "/api/admin/security/ip-allowlist/{}",
            allow["id"].as_str().unwrap()
        )))
        .bearer_auth(&red.jwt)
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "NOT_FOUND").await;
    assert_eq!(app.audit("ip_allowlist.add").len(), 1);
}

#[tokio::test]
async fn hostile_input_never_crashes_or_500s() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    // a seeded stream of odd bodies against every kind of JSON route
    let routes = [
        "/api/auth/login",
        "/api/setup",
        "/api/tokens",
        "/api/api-keys",
        "/api/admin/users",
        "/api/admin/roles",
        "/api/admin/settings",
        "/api/auth/refresh",
        "/api/admin/security/ip-allowlist",
    ];
    let samples: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"{\"email\": 1e999999}".to_vec(),
        b"{\"name\": 123456789012345678901234567890}".to_vec(),
        b"{\"a\":".repeat(5000),
        vec![0xff; 64],
        b"{\"name\": \"\\u0000\", \"services\": {\"audit\": \"read\"}}".to_vec(),
        b"{\"cidr\": \"\\u0000\"}".to_vec(),
        b"{\"require_mfa\": [[[[[]]]]]}".to_vec(),
        b"\"just a string\"".to_vec(),
        b"{\"email\":\"a@b.c\",\"email\":\"d@e.f\",\"password\":\"x\"}".to_vec(),
    ];
    let mut seed: u64 = 0x5eed;
    let mut randoms = vec![];
    for _ in 0..40 {
        let len = (seed % 300) as usize;
        let mut v = Vec::with_capacity(len);
        for _ in 0..len {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let alphabet = b"{}[]\":,0123456789.eE-+ntrufalse\\u\x00\xff abc";
            v.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
        }
        randoms.push(v);
    }
    for route in routes {
        for body in samples.iter().chain(randoms.iter()) {
            for method in [Method::POST, Method::PUT] {
                let res = app
                    .client
                    .request(method, app.url(route))
                    .bearer_auth(&admin.jwt)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                assert!(
                    (200..500).contains(&status),
                    "{route} {status} for {:?}",
                    String::from_utf8_lossy(body)
                );
                if status >= 400 {
                    let v: Value = res.json().await.expect("error body");
                    assert!(v["code"].is_string());
                }
            }
        }
    }
    for q in [
        "page=-1",
        "page=99999999999999999999",
        "limit=0",
        "limit=abc",
        "page=1&limit=1000000",
    ] {
        let res = app
            .get_bearer(&format!("/api/admin/users?{q}"), &admin.jwt)
            .await;
        assert_error(res, 400, "VALIDATION_ERROR").await;
    }
    // huge headers and garbage on the socket
    let res = app
        .client
        .get(app.url("/api/ping"))
        .header("x-junk", "x".repeat(64 * 1024))
        .send()
        .await;
    if let Ok(r) = res {
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(b"\x16\x03\x01\x02\x00GARBAGE\r\n\r\n").unwrap();
    let mut buf = [0u8; 64];
    let _ = s.read(&mut buf);
    assert_eq!(
        app.client
            .get(app.url("/api/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "still up"
    );
}

#[tokio::test]
async fn audit_list_filters_pages_and_exports() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let _ = app.login_raw("nobody@lab.example", "wrong password!").await;
    app.user_with_role("v@lab.example", "viewer", "default");
    let v = app.login("v@lab.example").await;
    assert_error(
        app.get_bearer("/api/admin/audit", &v.jwt).await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
    let all: Value = app
        .get_bearer("/api/admin/audit?limit=100", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    let recs = all["data"].as_array().unwrap();
    assert!(recs.len() >= 4);
    for k in [
        "id",
        "ts",
        "tenant_id",
        "actor_type",
        "actor_id",
        "action",
        "target",
        "outcome",
        "ip",
        "user_agent",
        "request_id",
        "details",
    ] {
        assert!(recs[0].get(k).is_some(), "{k}");
    }
    assert!(
        recs.windows(2)
            .all(|w| w[0]["ts"].as_str() >= w[1]["ts"].as_str()),
        "newest first"
    );
    assert!(
        recs.iter().any(|r| r["tenant_id"].is_null()),
        "records of no tenant are shown to the default tenant"
    );
    let denied: Value = app
        .get_bearer("/api/admin/audit?outcome=denied", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        denied["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] == "denied")
    );
    assert!(denied["meta"]["total"].as_u64().unwrap() >= 1);
    let logins: Value = app
        .get_bearer(
            "/api/admin/audit?action=auth.login&outcome=failure",
            &admin.jwt,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(logins["meta"]["total"], 1);
    let mine = admin.body["user"]["id"].as_str().unwrap();
    let by_actor: Value = app
        .get_bearer(&format!("/api/admin/audit?actor={mine}"), &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        by_actor["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["actor_id"] == mine)
    );
    assert_error(
        app.get_bearer("/api/admin/audit?since=yesterday", &admin.jwt)
            .await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    let future: Value = app
        .get_bearer("/api/admin/audit?since=2999-01-01T00:00:00Z", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(future["meta"]["total"], 0);
    // Empty filters (a form left blank, a script's unset variable) mean no filter.
    let unfiltered: Value = app
        .get_bearer("/api/admin/audit?limit=100", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    let blank: Value = app
        .get_bearer(
            "/api/admin/audit?action=&outcome=&actor=&since=&until=&page=&limit=100",
            &admin.jwt,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        blank["meta"]["total"], unfiltered["meta"]["total"],
        "{blank}"
    );
    assert_eq!(blank["meta"]["page"], 1);

    let res = app
        .get_bearer("/api/admin/audit/export?format=jsonl", &admin.jwt)
        .await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len() as u64,
        all["meta"]["total"].as_u64().unwrap(),
        "the export holds what the list holds"
    );
    let res = app
        .get_bearer(
            "/api/admin/audit/export?format=csv&action=auth.login",
            &admin.jwt,
        )
        .await;
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    assert!(csv.starts_with("id,ts,tenant_id,actor_type"));
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert_error(
        app.get_bearer("/api/admin/audit/export?format=xml", &admin.jwt)
            .await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(
        !text.contains(PASSWORD) && !text.contains(&admin.jwt) && !text.contains(&admin.refresh)
    );
}

#[tokio::test]
async fn another_tenants_audit_records_are_not_shown() {
    let app = spawn_app().await;
    app.tenant("red");
    app.user_with_role("red@lab.example", "admin", "red");
    let red = app.login("red@lab.example").await;
    let _ = app.login_raw("nobody@lab.example", "wrong password!").await;
    let admin = app.admin().await;
    let recs: Value = app
        .get_bearer("/api/admin/audit?limit=100", &red.jwt)
        .await
        .json()
        .await
        .unwrap();
    let tid = red.body["user"]["tenantId"].as_str().unwrap();
    assert!(
        recs["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["tenant_id"] == tid),
        "{recs}"
    );
    let theirs: Value = app
        .get_bearer("/api/admin/audit?limit=100", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        theirs["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["tenant_id"] != tid)
    );
}
