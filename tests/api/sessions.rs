//! Login sessions: refresh rotation and reuse detection, logout, cookies and CSRF, idle expiry.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn refresh_rotates_and_a_spent_token_ends_the_session() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = app
        .post_json("/api/auth/refresh", json!({"refresh_token": admin.refresh}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let new_cookie = cookie_value(res.headers(), "labgate_refresh").unwrap();
    let body: Value = res.json().await.unwrap();
    let new_refresh = body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(new_refresh, admin.refresh);
    assert_eq!(new_cookie, new_refresh);
    assert_eq!(body["user"]["email"], admin.body["user"]["email"]);
    let new_jwt = body["token"].as_str().unwrap().to_string();
    assert_eq!(app.get_bearer("/api/ping", &new_jwt).await.status(), 200);

    // replaying the spent token: theft detected, the whole session ends
    let res = app
        .post_json("/api/auth/refresh", json!({"refresh_token": admin.refresh}))
        .await;
    assert_error(res, 401, "TOKEN_REVOKED").await;
    assert_error(
        app.get_bearer("/api/ping", &new_jwt).await,
        401,
        "TOKEN_REVOKED",
    )
    .await;
    assert_error(
        app.get_bearer("/api/ping", &admin.jwt).await,
        401,
        "TOKEN_REVOKED",
    )
    .await;
    let res = app
        .post_json("/api/auth/refresh", json!({"refresh_token": new_refresh}))
        .await;
    assert_error(res, 401, "TOKEN_REVOKED").await;
    let reuse = app.audit("auth.refresh_reuse");
    assert_eq!(reuse.len(), 1);
    assert_eq!(reuse[0]["outcome"], "denied");
}

#[tokio::test]
async fn refresh_accepts_the_cookie_and_refuses_garbage() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = app
        .client
        .post(app.url("/api/auth/refresh"))
        .header("cookie", format!("labgate_refresh={}", admin.refresh))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_error(
        app.post_json("/api/auth/refresh", json!({"refresh_token": "lgr_nope"}))
            .await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    let well_formed_unknown =
        labgate::domain::token::generate(labgate::domain::token::Kind::Refresh);
    let res = app
        .post_json(
            "/api/auth/refresh",
            json!({"refresh_token": well_formed_unknown.expose()}),
        )
        .await;
    assert_error(res, 401, "INVALID_TOKEN").await;
    assert_error(
        app.client
            .post(app.url("/api/auth/refresh"))
            .send()
            .await
            .unwrap(),
        401,
        "NO_CREDENTIALS",
    )
    .await;
}

#[tokio::test]
async fn logout_ends_the_session_jwt_and_cookie_at_once() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let other = app
        .login(admin.body["user"]["email"].as_str().unwrap())
        .await;
    let res = app
        .client
        .post(app.url("/api/auth/logout"))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let cleared = set_cookies(res.headers());
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("labgate_session=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert_error(
        app.get_bearer("/api/ping", &admin.jwt).await,
        401,
        "TOKEN_REVOKED",
    )
    .await;
    let res = app
        .client
        .get(app.url("/api/ping"))
        .header("cookie", admin.cookie_header())
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "TOKEN_REVOKED").await;
    assert_error(
        app.post_json("/api/auth/refresh", json!({"refresh_token": admin.refresh}))
            .await,
        401,
        "TOKEN_REVOKED",
    )
    .await;
    // the user's other session is untouched
    assert_eq!(app.get_bearer("/api/ping", &other.jwt).await.status(), 200);
    assert_eq!(app.audit("auth.logout").len(), 1);
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_header_on_unsafe_methods() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    // reads need no CSRF token
    let res = app
        .client
        .get(app.url("/api/auth/me"))
        .header("cookie", admin.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["auth_method"], "session");
    let logout = || {
        app.client
            .post(app.url("/api/auth/logout"))
            .header("cookie", admin.cookie_header())
    };
    assert_error(logout().send().await.unwrap(), 403, "CSRF_FAILED").await;
    assert_error(
        logout()
            .header("x-csrf-token", "wrong")
            .send()
            .await
            .unwrap(),
        403,
        "CSRF_FAILED",
    )
    .await;
    // a header equal to a forged cookie is not enough: the value must be this session's
    let forged = app
        .client
        .post(app.url("/api/auth/logout"))
        .header(
            "cookie",
            format!(
                "labgate_session={}; labgate_csrf=forged",
                admin.session_cookie
            ),
        )
        .header("x-csrf-token", "forged")
        .send()
        .await
        .unwrap();
    assert_error(forged, 403, "CSRF_FAILED").await;
    assert_eq!(app.audit("access.denied").len(), 3);
    let res = logout()
        .header("x-csrf-token", &admin.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // a header credential needs no CSRF token
    let other = app
        .login(admin.body["user"]["email"].as_str().unwrap())
        .await;
    let res = app
        .client
        .post(app.url("/api/auth/logout"))
        .bearer_auth(&other.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn idle_sessions_end() {
    let (app, clock) =
        spawn_with_clock(|c| c.session_idle = std::time::Duration::from_secs(3)).await;
    let admin = app.admin().await;
    assert_eq!(app.get_bearer("/api/ping", &admin.jwt).await.status(), 200);
    clock.advance(std::time::Duration::from_secs(2));
    assert_eq!(
        app.get_bearer("/api/ping", &admin.jwt).await.status(),
        200,
        "used within the idle limit"
    );
    clock.advance(std::time::Duration::from_secs(4));
    assert_error(
        app.get_bearer("/api/ping", &admin.jwt).await,
        401,
        "TOKEN_EXPIRED",
    )
    .await;
    let res = app
        .post_json("/api/auth/refresh", json!({"refresh_token": admin.refresh}))
        .await;
    assert_error(res, 401, "TOKEN_EXPIRED").await;
}

#[tokio::test]
async fn sessions_end_at_their_absolute_lifetime() {
    let (app, clock) =
        spawn_with_clock(|c| c.refresh_ttl = std::time::Duration::from_secs(60)).await;
    let admin = app.admin().await;
    clock.advance(std::time::Duration::from_secs(59));
    assert_eq!(app.get_bearer("/api/ping", &admin.jwt).await.status(), 200);
    clock.advance(std::time::Duration::from_secs(2));
    assert_error(
        app.get_bearer("/api/ping", &admin.jwt).await,
        401,
        "TOKEN_EXPIRED",
    )
    .await;
}

#[tokio::test]
async fn me_reports_the_caller() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let me: Value = app
        .get_bearer("/api/auth/me", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    for k in [
        "id",
        "email",
        "name",
        "roles",
        "capabilities",
        "tenantId",
        "tenantSlug",
        "mfa_enabled",
        "status",
        "email_verified",
        "created_at",
    ] {
        assert_eq!(
            me[k],
            admin.body["user"].get(k).cloned().unwrap_or(me[k].clone()),
            "{k}"
        );
        assert!(!me[k].is_null(), "{k}");
    }
    assert_eq!(me["status"], "active");
    assert_eq!(me["auth_method"], "jwt");
}
