//! Attacks found in review, each kept as a test: cross-tenant account takeover, grants beyond
//! one's own capabilities, encoded paths dodging route rules, MFA policy through tokens, and
//! refusals audited in the credential's tenant.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn an_admin_of_one_tenant_cannot_take_over_an_account_of_another() {
    let app = spawn_app().await;
    app.tenant("red");
    let victim = app.user_with_role("ops@lab.example", "admin", "default");
    app.user_with_role("mallory@lab.example", "admin", "red");
    let mallory = app.login("mallory@lab.example").await;
    // attaching the victim to red is allowed (SPEC: a membership is added)...
    let res = app
        .send_json(
            Method::POST,
            "/api/admin/users",
            &mallory.jwt,
            json!({"email": "ops@lab.example", "roles": ["viewer"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    // ...but nothing that reaches the whole account
    let res = app
        .send_json(
            Method::POST,
            &format!("/api/admin/users/{victim}/reset-password"),
            &mallory.jwt,
            json!({"deliver": "response"}),
        )
        .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/admin/users/{victim}"),
            &mallory.jwt,
            json!({"status": "disabled"}),
        )
        .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/admin/users/{victim}"),
            &mallory.jwt,
            json!({"name": "pwned"}),
        )
        .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    // the mailed reset goes to the victim's own mailbox, which is fine
    let res = app
        .send_json(
            Method::POST,
            &format!("/api/admin/users/{victim}/reset-password"),
            &mallory.jwt,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 202);
    assert_eq!(
        app.login_raw("ops@lab.example", PASSWORD).await.status(),
        200
    );
    // red may remove its own membership of the victim
    assert_eq!(
        app.client
            .delete(app.url(&format!("/api/admin/users/{victim}")))
            .bearer_auth(&mallory.jwt)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
}

#[tokio::test]
async fn nobody_grants_more_than_they_hold() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let key: Value = app
        .send_json(
            Method::POST,
            "/api/api-keys",
            &admin.jwt,
            json!({"name": "hr", "services": {"users": "write"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap();
    let res = app.send_json(Method::POST, "/api/admin/users", key, json!({"email": "new-admin@lab.example", "password": "a long passphrase!", "roles": ["admin"]})).await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    let res = app
        .send_json(
            Method::POST,
            "/api/admin/users",
            key,
            json!({"email": "new-viewer@lab.example", "roles": ["viewer"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let uid = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_error(
        app.send_json(
            Method::PATCH,
            &format!("/api/admin/users/{uid}"),
            key,
            json!({"roles": ["operator"]}),
        )
        .await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
    assert_error(
        app.send_json(
            Method::POST,
            "/api/admin/invitations",
            key,
            json!({"email": "x@lab.example", "roles": ["admin"]}),
        )
        .await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
    assert_error(
        app.send_json(
            Method::POST,
            "/api/admin/roles",
            key,
            json!({"name": "sneaky", "permissions": ["admin.settings"]}),
        )
        .await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
}

#[tokio::test]
async fn percent_encoded_paths_get_the_same_rules() {
    let (app, _clock) = spawn_in_window(900, |_| {}).await;
    for i in 0..10 {
        let res = app
            .post_json(
                "/api/auth/logi%6E",
                json!({"email": format!("e{i}@lab.example"), "password": "wrong password!"}),
            )
            .await;
        assert_eq!(res.status(), 401, "routed to login");
        assert_eq!(
            res.headers()["ratelimit-limit"],
            "10",
            "and limited as login"
        );
    }
    let res = app
        .post_json(
            "/api/auth/logi%6E",
            json!({"email": "x@lab.example", "password": "wrong password!"}),
        )
        .await;
    assert_error(res, 429, "RATE_LIMITED").await;
    let res = app
        .client
        .get(app.url("/api/auth/m%65"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    let admin = app.admin().await;
    app.send_json(
        Method::PUT,
        "/api/admin/settings",
        &admin.jwt,
        json!({"features": {"api_keys": false}}),
    )
    .await;
    assert_error(
        app.get_bearer("/api/api-key%73", &admin.jwt).await,
        403,
        "MODULE_DISABLED",
    )
    .await;
}

#[tokio::test]
async fn a_password_only_session_cannot_mint_tokens_under_an_mfa_policy() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.send_json(
        Method::PUT,
        "/api/admin/settings",
        &admin.jwt,
        json!({"require_mfa": "admins"}),
    )
    .await;
    let res = app
        .send_json(
            Method::POST,
            "/api/tokens",
            &admin.jwt,
            json!({"name": "escape", "expires_in": "30d"}),
        )
        .await;
    assert_error(res, 403, "MFA_REQUIRED").await;
}

#[tokio::test]
async fn refusals_are_audited_in_the_credentials_tenant() {
    let app = spawn_app().await;
    app.tenant("red");
    app.user_with_role("red@lab.example", "admin", "red");
    let red = app.login("red@lab.example").await;
    let tid = red.body["user"]["tenantId"].as_str().unwrap().to_string();
    let key: Value = app
        .send_json(
            Method::POST,
            "/api/api-keys",
            &red.jwt,
            json!({"name": "k", "services": {"audit": "read"}, "allowed_subnets": ["10.0.0.0/8"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .get_bearer("/api/admin/audit", key["key"].as_str().unwrap())
        .await;
    assert_error(res, 403, "SOURCE_IP_NOT_ALLOWED").await;
    app.client
        .post(app.url("/api/auth/logout"))
        .bearer_auth(&red.jwt)
        .send()
        .await
        .unwrap();
    assert_error(
        app.get_bearer("/api/ping", &red.jwt).await,
        401,
        "TOKEN_REVOKED",
    )
    .await;
    let denied = app.audit("access.denied");
    assert_eq!(denied[0]["tenant_id"], tid.as_str());
    assert_eq!(denied[0]["actor_type"], "api_key");
    let refused = app.audit("auth.credential_refused");
    assert_eq!(refused[0]["tenant_id"], tid.as_str());
    assert_eq!(refused[0]["actor_id"], red.body["user"]["id"]);
}

#[tokio::test]
async fn reset_links_die_when_the_password_changes() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let uid = app.user_with_role("r@lab.example", "viewer", "default");
    let res: Value = app
        .send_json(
            Method::POST,
            &format!("/api/admin/users/{uid}/reset-password"),
            &admin.jwt,
            json!({"deliver": "response"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let old = res["token"].as_str().unwrap().to_string();
    let u = app.login("r@lab.example").await;
    let res = app
        .send_json(
            Method::POST,
            "/api/auth/change-password",
            &u.jwt,
            json!({"current_password": PASSWORD, "new_password": "changed the passphrase"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .post_json(
            "/api/auth/reset-password",
            json!({"token": old, "new_password": "attacker passphrase!"}),
        )
        .await;
    assert_error(res, 401, "INVALID_TOKEN").await;
}
