//! The request pipeline, error bodies, setup and password login.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn health_is_ok_with_security_headers_and_correlation_id() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/api/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(uuid::Uuid::parse_str(h["x-correlation-id"].to_str().unwrap()).is_ok());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
    assert!(body["version"].is_string());
    assert!(body.get("global_api_key").is_none());
}

#[tokio::test]
async fn correlation_id_is_echoed_only_when_well_formed() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/health"))
        .header("X-Correlation-ID", "trace.42_a-b")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-correlation-id"], "trace.42_a-b");
    for bad in ["has space", "semi;colon", &"x".repeat(65)] {
        let res = app
            .client
            .get(app.url("/api/health"))
            .header("X-Correlation-ID", bad)
            .send()
            .await
            .unwrap();
        let got = res.headers()["x-correlation-id"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(uuid::Uuid::parse_str(&got).is_ok(), "{bad} -> {got}");
    }
    // Error bodies carry the same id.
    let res = app
        .client
        .get(app.url("/api/nowhere"))
        .header("X-Correlation-ID", "abc123")
        .send()
        .await
        .unwrap();
    let body = assert_error(res, 404, "NOT_FOUND").await;
    assert_eq!(body["request_id"], "abc123");
}

#[tokio::test]
async fn every_route_is_also_served_under_v1() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let admin = app.admin().await;
    let res = app.get_bearer("/api/v1/auth/me", &admin.jwt).await;
    assert_eq!(res.status(), 200);
    let res = app.get_bearer("/api/v1/ping", &admin.jwt).await;
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"status": "ok"}));
}

#[tokio::test]
async fn actix_errors_get_the_error_body() {
    let app = spawn_app().await;
    assert_error(
        app.client
            .get(app.url("/api/does-not-exist"))
            .send()
            .await
            .unwrap(),
        404,
        "NOT_FOUND",
    )
    .await;
    assert_error(
        app.client.get(app.url("/elsewhere")).send().await.unwrap(),
        404,
        "NOT_FOUND",
    )
    .await;
    assert_error(
        app.client
            .delete(app.url("/api/health"))
            .send()
            .await
            .unwrap(),
        405,
        "METHOD_NOT_ALLOWED",
    )
    .await;
    assert_error(
        app.client
            .get(app.url("/api/auth/login"))
            .send()
            .await
            .unwrap(),
        405,
        "METHOD_NOT_ALLOWED",
    )
    .await;
}

#[tokio::test]
async fn bad_bodies_are_refused_with_clear_errors() {
    let app = spawn_app().await;
    let url = app.url("/api/auth/login");
    // malformed JSON
    let res = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "VALIDATION_ERROR").await;
    // unknown field, named in details
    let res = app
        .post_json(
            "/api/auth/login",
            json!({"email": "a@b.example", "password": "x", "admin": true}),
        )
        .await;
    let body = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["details"][0]["field"], "admin");
    // wrong type names the field but does not echo the value
    let res = app
        .post_json(
            "/api/auth/login",
            json!({"email": "a@b.example", "password": 1234567890123u64}),
        )
        .await;
    let body = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["details"][0]["field"], "password");
    assert!(!body.to_string().contains("1234567890123"));
    // no JSON content type
    let res = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(res, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    let res = app.client.post(&url).body("{}").send().await.unwrap();
    assert_error(res, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    // over 1 MiB
    let big = format!(
        "{{\"email\": \"{}\", \"password\": \"x\"}}",
        "a".repeat(1024 * 1024 + 10)
    );
    let res = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_error(res, 413, "PAYLOAD_TOO_LARGE").await;
    // invalid UTF-8 and NUL bytes
    let res = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(vec![b'{', 0xff, 0xfe, b'}'])
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "VALIDATION_ERROR").await;
    let res = app
        .post_json(
            "/api/auth/login",
            json!({"email": "a\u{0}@b.example", "password": "x\u{0}"}),
        )
        .await;
    let b = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(b["details"][0]["field"], "email", "{b}");
    // deep nesting
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let res = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "VALIDATION_ERROR").await;
    // the server is still fine
    assert_eq!(
        app.client
            .get(app.url("/api/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn credentials_in_the_url_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for q in [
        "token",
        "access_token",
        "api_key",
        "apikey",
        "key",
        "KEY",
        "%74oken",
    ] {
        let res = app
            .get_bearer(&format!("/api/ping?{q}=secret-value"), &admin.jwt)
            .await;
        let body = assert_error(res, 400, "CREDENTIAL_IN_URL").await;
        assert!(!body.to_string().contains("secret-value"));
    }
    let res = app.get_bearer("/api/ping?page=1", &admin.jwt).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn setup_token_creates_the_first_admin_once() {
    let app = spawn_app().await;
    let token = app
        .setup_token
        .clone()
        .expect("setup token while no user exists");
    assert!(token.starts_with("lgx_"));
    let body = json!({"setup_token": "lgx_wrongwrongwrongwrongwrongwrong000000", "email": "ops@lab.example", "password": PASSWORD});
    assert_error(
        app.post_json("/api/setup", body).await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    let short = json!({"setup_token": token, "email": "ops@lab.example", "password": "short"});
    let b = assert_error(
        app.post_json("/api/setup", short).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(b["details"][0]["field"], "password");
    let ok = json!({"setup_token": token, "email": "ops@lab.example", "password": PASSWORD, "name": "Ops"});
    let res = app.post_json("/api/setup", ok.clone()).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["email"], "ops@lab.example");
    assert_eq!(created["roles"], json!(["admin"]));
    assert_error(app.post_json("/api/setup", ok).await, 410, "SETUP_COMPLETE").await;
    let login = app.login("ops@lab.example").await;
    assert_eq!(login.body["user"]["roles"], json!(["admin"]));
    assert_eq!(
        login.body["user"]["capabilities"].as_array().unwrap().len(),
        6
    );
    assert_eq!(
        app.audit("setup.first_admin")
            .iter()
            .filter(|r| r["outcome"] == "success")
            .count(),
        1
    );
    assert_eq!(
        app.audit("setup.first_admin")
            .iter()
            .filter(|r| r["outcome"] == "failure")
            .count(),
        1
    );
}

#[tokio::test]
async fn login_answers_tokens_user_and_three_cookies() {
    let app = spawn_app().await;
    let id = app.user_with_role("Op@Lab.example", "operator", "default");
    let res = app.login_raw("op@lab.EXAMPLE", PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let cookies = set_cookies(res.headers());
    let find = |n: &str| {
        cookies
            .iter()
            .find(|c| c.starts_with(&format!("{n}=")))
            .cloned()
            .unwrap_or_default()
    };
    let session = find("labgate_session");
    assert!(
        session.contains("lgs_")
            && session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && session.contains("Path=/")
    );
    let refresh = find("labgate_refresh");
    assert!(
        refresh.contains("lgr_")
            && refresh.contains("HttpOnly")
            && refresh.contains("SameSite=Strict")
            && refresh.contains("Path=/api/auth")
    );
    let csrf = find("labgate_csrf");
    assert!(
        !csrf.contains("HttpOnly") && csrf.contains("SameSite=Strict") && csrf.contains("Path=/")
    );
    assert!(!session.contains("Secure"), "development over http");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["refresh_token"].as_str().unwrap().starts_with("lgr_"));
    let u = &body["user"];
    assert_eq!(u["id"], id.as_str());
    assert_eq!(u["roles"], json!(["operator"]));
    assert_eq!(
        u["capabilities"],
        json!(["manage_exercises", "manage_noise_logs"])
    );
    assert_eq!(u["tenantSlug"], "default");
    assert_eq!(u["mfa_enabled"], false);
    let rec = &app.audit("auth.login")[0];
    assert_eq!(rec["outcome"], "success");
    assert_eq!(rec["actor_id"], id.as_str());
    assert!(rec["ip"].as_str().unwrap().starts_with("127."));
}

#[tokio::test]
async fn production_cookies_are_secure_and_host_prefixed() {
    let app = spawn_with(|c| c.environment = labgate::config::Environment::Production).await;
    app.user_with_role("p@lab.example", "viewer", "default");
    let res = app.login_raw("p@lab.example", PASSWORD).await;
    let cookies = set_cookies(res.headers());
    assert!(cookies.iter().all(|c| c.contains("Secure")), "{cookies:?}");
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-labgate_session=lgs_"))
    );
    let token = cookie_value(res.headers(), "__Host-labgate_session").unwrap();
    let res = app
        .client
        .get(app.url("/api/ping"))
        .header("cookie", format!("__Host-labgate_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_answer_alike_and_are_audited() {
    let app = spawn_app().await;
    let id = app.user_with_role("v@lab.example", "viewer", "default");
    let a = assert_error(
        app.login_raw("v@lab.example", "wrong password here").await,
        401,
        "INVALID_CREDENTIALS",
    )
    .await;
    let b = assert_error(
        app.login_raw("nobody@lab.example", "wrong password here")
            .await,
        401,
        "INVALID_CREDENTIALS",
    )
    .await;
    assert_eq!(a["message"], b["message"]);
    let recs = app.audit("auth.login");
    assert_eq!(recs.len(), 2);
    // unknown email: no tenant; known email: the tenant it tried
    assert_eq!(recs[0]["tenant_id"], Value::Null);
    assert_eq!(recs[0]["outcome"], "failure");
    assert_eq!(recs[1]["actor_id"], id.as_str());
    assert!(recs[1]["tenant_id"].is_string());
    for r in &recs {
        assert!(
            !r.to_string().contains("wrong password here"),
            "no secrets in audit records"
        );
    }
}

#[tokio::test]
async fn no_credential_and_garbage_credentials() {
    // refusals are folded per client and minute: this test's stay in one minute
    let (app, _clock) = spawn_in_window(60, |_| {}).await;
    assert_error(
        app.client.get(app.url("/api/ping")).send().await.unwrap(),
        401,
        "NO_CREDENTIALS",
    )
    .await;
    for v in [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer not-a-token",
        "Token",
        "Bearer a.b.c",
    ] {
        let res = app
            .client
            .get(app.url("/api/ping"))
            .header("authorization", v)
            .send()
            .await
            .unwrap();
        assert_error(res, 401, "INVALID_TOKEN").await;
    }
    let res = app
        .client
        .get(app.url("/api/ping"))
        .header("cookie", "labgate_session=lgs_nope")
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "INVALID_TOKEN").await;
    // refused credentials are audited (a missing one is not): the client's first refusal of the
    // minute at once, the other five as one record with their count when the minute is over
    let refused = app.audit("auth.credential_refused");
    assert_eq!(refused.len(), 1);
    labgate::http::middleware::flush_folds(&app.state, true).await;
    let refused = app.audit("auth.credential_refused");
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[0]["details"]["folded"], 5, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|r| r["outcome"] == "denied" && r["tenant_id"].is_null())
    );
}

#[tokio::test]
async fn a_flood_of_bad_credentials_cannot_grow_the_audit_log_without_bound() {
    let (app, _clock) = spawn_in_window(60, |_| {}).await;
    let flood = (0..300).map(|i| {
        app.client
            .get(app.url("/api/ping"))
            .header("authorization", format!("Bearer junk-{i}"))
            .send()
    });
    for r in futures_util::future::join_all(flood).await {
        assert_eq!(r.unwrap().status(), 401);
    }
    labgate::http::middleware::flush_folds(&app.state, true).await;
    let refused = app.audit("auth.credential_refused");
    assert_eq!(refused.len(), 2, "one at once, one with the count");
    assert_eq!(refused[0]["details"]["folded"], 299);
}

#[tokio::test]
async fn an_invalid_first_credential_never_falls_back_to_a_valid_later_one() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    // A broken bearer token plus a valid session cookie: 401, not the cookie's identity.
    let res = app
        .client
        .get(app.url("/api/ping"))
        .bearer_auth(format!("{}x", admin.jwt))
        .header("cookie", admin.cookie_header())
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "INVALID_TOKEN").await;
    // An unconfigured master key header is a credential too.
    let res = app
        .client
        .get(app.url("/api/ping"))
        .header("x-master-key", "whatever")
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "INVALID_TOKEN").await;
}

#[tokio::test]
async fn tenant_header_is_honoured_only_for_admins_of_the_target() {
    let app = spawn_app().await;
    let red = app.tenant("red");
    let viewer_email = "viewer@lab.example";
    app.user_with_role(viewer_email, "viewer", "default");
    app.user_with_role(viewer_email, "viewer", "red");
    let viewer = app.login(viewer_email).await;
    let res = app
        .client
        .get(app.url("/api/auth/me"))
        .bearer_auth(&viewer.jwt)
        .header("x-tenant-id", "red")
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "TENANT_FORBIDDEN").await;
    let denied = app.audit("access.denied");
    assert_eq!(denied[0]["details"]["code"], "TENANT_FORBIDDEN");
    // naming one's own tenant is harmless
    let res = app
        .client
        .get(app.url("/api/auth/me"))
        .bearer_auth(&viewer.jwt)
        .header("x-tenant-id", "default")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let boss = "boss@lab.example";
    app.user_with_role(boss, "admin", "default");
    app.user_with_role(boss, "admin", "red");
    let admin = app.login(boss).await;
    let res = app
        .client
        .get(app.url("/api/auth/me"))
        .bearer_auth(&admin.jwt)
        .header("x-tenant-id", &red)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-tenant-id"], red.as_str());
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["tenantSlug"], "red");
    // an admin of the source tenant only is refused, and an unknown tenant looks the same
    let solo = app.admin().await;
    let res = app
        .client
        .get(app.url("/api/ping"))
        .bearer_auth(&solo.jwt)
        .header("x-tenant-id", "red")
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "TENANT_FORBIDDEN").await;
    let res = app
        .client
        .get(app.url("/api/ping"))
        .bearer_auth(&solo.jwt)
        .header("x-tenant-id", "nope")
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "TENANT_FORBIDDEN").await;
}

#[tokio::test]
async fn openapi_document_is_served() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/api/auth/login"]["post"].is_object());
}

#[tokio::test]
async fn head_answers_every_get_and_a_405_says_what_is_allowed() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = app
        .client
        .head(app.url("/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-correlation-id"));
    let res = app
        .client
        .head(app.url("/api/v1/admin/users"))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().len(), 0, "HEAD has no body");
    // a HEAD needs the same credential as its GET
    let res = app
        .client
        .head(app.url("/api/admin/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let res = app
        .client
        .delete(app.url("/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "GET, HEAD");
    assert_error(res, 405, "METHOD_NOT_ALLOWED").await;
    let res = app
        .client
        .put(app.url("/api/v1/admin/users/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "GET, HEAD, PATCH, DELETE");
    assert_error(res, 405, "METHOD_NOT_ALLOWED").await;
}
