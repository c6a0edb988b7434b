//! Accounts: MFA, password lifecycle through the mail spool, invitations, lockout, user and
//! role administration, tenants, and the MFA policy.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// A TOTP code computed independently of the server's code, with totp-rs directly.
fn code(secret_b32: &str, offset_s: i64) -> String {
    let secret = totp_rs::Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .unwrap();
    let t =
        totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, secret, None, "t".into());
    let now = chrono::Utc::now().timestamp() + offset_s;
    t.generate(now as u64)
}

async fn enroll(app: &TestApp, login: &Login) -> (String, Vec<String>) {
    let res = app
        .send_json(Method::POST, "/api/auth/mfa/setup", &login.jwt, json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let setup: Value = res.json().await.unwrap();
    let secret = setup["secret"].as_str().unwrap().to_string();
    assert!(
        setup["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    assert!(setup["qr_svg"].as_str().unwrap().contains("<svg"));
    let bad = app
        .send_json(
            Method::POST,
            "/api/auth/mfa/validate",
            &login.jwt,
            json!({"code": "000000"}),
        )
        .await;
    let b = assert_error(bad, 400, "VALIDATION_ERROR").await;
    assert_eq!(b["details"][0]["field"], "code");
    let res = app
        .send_json(
            Method::POST,
            "/api/auth/mfa/validate",
            &login.jwt,
            json!({"code": code(&secret, 0)}),
        )
        .await;
    let status = res.status();
    let res = {
        let t = res.text().await.unwrap();
        assert_eq!(status, 200, "{t}");
        serde_json::from_str::<Value>(&t).unwrap()
    };
    let codes: Vec<String> = serde_json::from_value(res["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

#[tokio::test]
async fn the_whole_mfa_story() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let email = admin.body["user"]["email"].as_str().unwrap().to_string();
    let (secret, recovery) = enroll(&app, &admin).await;
    let me: Value = app
        .get_bearer("/api/auth/me", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["mfa_enabled"], true);

    // two-step login: the password alone opens no session
    let res = app.login_raw(&email, PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert!(set_cookies(res.headers()).is_empty());
    let step: Value = res.json().await.unwrap();
    assert_eq!(step["mfa_required"], true);
    assert_eq!(step["expires_in"], 300);
    let mfa_token = step["mfa_token"].as_str().unwrap().to_string();
    assert!(mfa_token.starts_with("lgx_"));
    // the enrollment's own code is spent; the next step's code works
    let res = app
        .post_json(
            "/api/auth/mfa/validate",
            json!({"mfa_token": mfa_token, "code": code(&secret, 0)}),
        )
        .await;
    assert_error(res, 401, "INVALID_CREDENTIALS").await;
    let next = code(&secret, 30);
    let res = app
        .post_json(
            "/api/auth/mfa/validate",
            json!({"mfa_token": mfa_token, "code": next}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let login: Value = res.json().await.unwrap();
    let jwt = login["token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jwt.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));
    // the mfa token is single use
    let res = app
        .post_json(
            "/api/auth/mfa/validate",
            json!({"mfa_token": mfa_token, "code": code(&secret, 30)}),
        )
        .await;
    assert_error(res, 401, "INVALID_TOKEN").await;

    // inline: replayed code and earlier step refused
    let inline = |c: String| {
        app.post_json(
            "/api/auth/login",
            json!({"email": email, "password": PASSWORD, "totp_code": c}),
        )
    };
    assert_error(inline(next.clone()).await, 401, "INVALID_CREDENTIALS").await;
    assert_error(inline(code(&secret, 0)).await, 401, "INVALID_CREDENTIALS").await;
    // a recovery code works once
    assert_eq!(inline(recovery[0].clone()).await.status(), 200);
    assert_error(
        inline(recovery[0].clone()).await,
        401,
        "INVALID_CREDENTIALS",
    )
    .await;

    // disable needs the password and a code
    let res = app
        .send_json(
            Method::POST,
            "/api/auth/mfa/disable",
            jwt,
            json!({"password": "wrong wrong wrong", "code": recovery[1]}),
        )
        .await;
    assert_error(res, 400, "VALIDATION_ERROR").await;
    let res = app
        .send_json(
            Method::POST,
            "/api/auth/mfa/disable",
            jwt,
            json!({"password": PASSWORD, "code": recovery[1]}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app.login_raw(&email, PASSWORD).await;
    assert!(res.json::<Value>().await.unwrap()["token"].is_string());
    assert_eq!(app.audit("mfa.enable").len(), 1);
    assert_eq!(app.audit("mfa.disable").len(), 1);
}

#[tokio::test]
async fn password_reset_through_the_mail_spool() {
    let app = spawn_app().await;
    app.user_with_role("reset@lab.example", "viewer", "default");
    let before = app.login("reset@lab.example").await;
    let res = app
        .post_json(
            "/api/auth/forgot-password",
            json!({"email": "reset@lab.example"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let res = app
        .post_json(
            "/api/auth/forgot-password",
            json!({"email": "nobody@lab.example"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let mails = app.mails(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        app.mails(1).await.len(),
        1,
        "no mail for an unknown address"
    );
    assert!(mails[0].contains("To: reset@lab.example"));
    assert!(mails[0].contains("http://127.0.0.1/reset-password#token=lgx_"));
    let token = token_in_mail(&mails[0]);

    let weak = app
        .post_json(
            "/api/auth/reset-password",
            json!({"token": token, "new_password": "short"}),
        )
        .await;
    assert_error(weak, 400, "VALIDATION_ERROR").await;
    let res = app
        .post_json(
            "/api/auth/reset-password",
            json!({"token": token, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_error(
        app.get_bearer("/api/ping", &before.jwt).await,
        401,
        "TOKEN_REVOKED",
    )
    .await;
    let again = app
        .post_json(
            "/api/auth/reset-password",
            json!({"token": token, "new_password": "another new passphrase"}),
        )
        .await;
    assert_error(again, 401, "INVALID_TOKEN").await;
    assert_eq!(
        app.login_raw("reset@lab.example", "a brand new passphrase")
            .await
            .status(),
        200
    );
    assert_error(
        app.login_raw("reset@lab.example", PASSWORD).await,
        401,
        "INVALID_CREDENTIALS",
    )
    .await;

    // an expired reset token
    app.post_json(
        "/api/auth/forgot-password",
        json!({"email": "reset@lab.example"}),
    )
    .await;
    let token = token_in_mail(&app.mails(2).await[1]);
    app.sql("UPDATE one_time_tokens SET expires_at = '2020-01-01T00:00:00Z' WHERE purpose = 'reset' AND used_at IS NULL");
    let res = app
        .post_json(
            "/api/auth/reset-password",
            json!({"token": token, "new_password": "yet another passphrase"}),
        )
        .await;
    assert_error(res, 401, "TOKEN_EXPIRED").await;
    assert!(
        app.audit("mail.send")
            .iter()
            .all(|r| r["outcome"] == "success" && !r.to_string().contains("lgx_"))
    );
}

#[tokio::test]
async fn change_password_ends_the_other_sessions() {
    let app = spawn_app().await;
    app.user_with_role("cp@lab.example", "viewer", "default");
    let a = app.login("cp@lab.example").await;
    let b = app.login("cp@lab.example").await;
    let res = app
        .send_json(
            Method::POST,
            "/api/auth/change-password",
            &a.jwt,
            json!({"current_password": "not my password", "new_password": "a fresh passphrase!"}),
        )
        .await;
    let body = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["details"][0]["field"], "current_password");
    let res = app
        .send_json(
            Method::POST,
            "/api/auth/change-password",
            &a.jwt,
            json!({"current_password": PASSWORD, "new_password": "a fresh passphrase!"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(app.get_bearer("/api/ping", &a.jwt).await.status(), 200);
    assert_error(
        app.get_bearer("/api/ping", &b.jwt).await,
        401,
        "TOKEN_REVOKED",
    )
    .await;
}

#[tokio::test]
async fn invitations_create_accounts_and_memberships() {
    let app = spawn_app().await;
    app.tenant("red");
    let admin = app.admin().await;
    let res = app
        .send_json(
            Method::POST,
            "/api/admin/invitations",
            &admin.jwt,
            json!({"email": "new@lab.example", "roles": ["operator"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let inv: Value = res.json().await.unwrap();
    assert_eq!(inv["status"], "pending");
    let bad = app
        .send_json(
            Method::POST,
            "/api/admin/invitations",
            &admin.jwt,
            json!({"email": "x@lab.example", "roles": ["nope"]}),
        )
        .await;
    assert_error(bad, 400, "VALIDATION_ERROR").await;
    let mail = &app.mails(1).await[0];
    assert!(mail.contains("http://127.0.0.1/invite#token=lgx_"));
    let token = token_in_mail(mail);
    let res = app
        .post_json(
            "/api/auth/invite",
            json!({"token": token, "name": "New Person", "password": "invited passphrase"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let member: Value = res.json().await.unwrap();
    assert_eq!(member["roles"], json!(["operator"]));
    assert_eq!(member["email_verified"], true);
    assert_eq!(
        app.login_raw("new@lab.example", "invited passphrase")
            .await
            .status(),
        200
    );
    let again = app
        .post_json(
            "/api/auth/invite",
            json!({"token": token, "name": "x", "password": "invited passphrase"}),
        )
        .await;
    assert_error(again, 401, "INVALID_TOKEN").await;

    // revoked invitations stop working
    let res = app
        .send_json(
            Method::POST,
            "/api/admin/invitations",
            &admin.jwt,
            json!({"email": "later@lab.example", "roles": ["viewer"]}),
        )
        .await;
    let inv2: Value = res.json().await.unwrap();
    let token2 = token_in_mail(&app.mails(2).await[1]);
    let res = app
        .client
        .delete(app.url(&format!(
            "/api/admin/invitations/{}",
            inv2["id"].as_str().unwrap()
        )))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .post_json(
            "/api/auth/invite",
            json!({"token": token2, "name": "x", "password": "invited passphrase"}),
        )
        .await;
    assert_error(res, 401, "INVALID_TOKEN").await;

    // an existing user of another tenant gets a membership and keeps the password
    app.user_with_role("redteam@lab.example", "viewer", "red");
    app.send_json(
        Method::POST,
        "/api/admin/invitations",
        &admin.jwt,
        json!({"email": "redteam@lab.example", "roles": ["analyst"]}),
    )
    .await;
    let token3 = token_in_mail(&app.mails(3).await[2]);
    let res = app
        .post_json(
            "/api/auth/invite",
            json!({"token": token3, "name": "ignored", "password": "ignored ignored"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .post_json(
            "/api/auth/login",
            json!({"email": "redteam@lab.example", "password": PASSWORD, "tenant": "default"}),
        )
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["user"]["roles"],
        json!(["analyst"])
    );
    // inviting a member is a conflict
    let res = app
        .send_json(
            Method::POST,
            "/api/admin/invitations",
            &admin.jwt,
            json!({"email": "new@lab.example", "roles": ["viewer"]}),
        )
        .await;
    assert_error(res, 409, "CONFLICT").await;
}

#[tokio::test]
async fn lockout_after_five_failures_for_existing_and_unknown_emails() {
    let app = spawn_app().await;
    app.user_with_role("lock@lab.example", "viewer", "default");
    for email in ["lock@lab.example", "ghost@lab.example"] {
        for _ in 0..5 {
            assert_error(
                app.login_raw(email, "wrong password!!").await,
                401,
                "INVALID_CREDENTIALS",
            )
            .await;
        }
        let res = app.login_raw(email, PASSWORD).await;
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_error(res, 423, "ACCOUNT_LOCKED").await;
    }
    let locks = app.audit("account.locked");
    assert_eq!(locks.len(), 2);
    assert!(
        locks.iter().any(|l| l["tenant_id"].is_null()),
        "unknown email: no tenant"
    );
    // the next failure doubles the lock
    app.sql("UPDATE login_failures SET locked_until = NULL");
    let _ = app.login_raw("lock@lab.example", "wrong again!!!!").await;
    let res = app.login_raw("lock@lab.example", PASSWORD).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((61..=120).contains(&retry), "{retry}");
}

#[tokio::test]
async fn a_success_resets_the_failure_count() {
    let app = spawn_app().await;
    app.user_with_role("ok@lab.example", "viewer", "default");
    for _ in 0..4 {
        app.login_raw("ok@lab.example", "wrong password!!").await;
    }
    assert_eq!(
        app.login_raw("ok@lab.example", PASSWORD).await.status(),
        200
    );
    for _ in 0..4 {
        app.login_raw("ok@lab.example", "wrong password!!").await;
    }
    assert_eq!(
        app.login_raw("ok@lab.example", PASSWORD).await.status(),
        200
    );
}

#[tokio::test]
async fn role_changes_reach_already_issued_credentials_at_once() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let uid = app.user_with_role("v@lab.example", "viewer", "default");
    let viewer = app.login("v@lab.example").await;
    let pat: Value = app
        .send_json(
            Method::POST,
            "/api/tokens",
            &viewer.jwt,
            json!({"name": "t", "expires_in": "30d"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let pat = format!("token {}", pat["token"].as_str().unwrap());
    let users_as_pat = || {
        app.client
            .get(app.url("/api/admin/users"))
            .header("authorization", pat.clone())
            .send()
    };
    assert_error(
        app.get_bearer("/api/admin/users", &viewer.jwt).await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
    assert_error(users_as_pat().await.unwrap(), 403, "MISSING_CAPABILITY").await;
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/admin/users/{uid}"),
            &admin.jwt,
            json!({"roles": ["viewer", "admin"]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["roles"],
        json!(["admin", "viewer"])
    );
    assert_eq!(
        app.get_bearer("/api/admin/users", &viewer.jwt)
            .await
            .status(),
        200
    );
    assert_eq!(users_as_pat().await.unwrap().status(), 200);
    app.send_json(
        Method::PATCH,
        &format!("/api/admin/users/{uid}"),
        &admin.jwt,
        json!({"roles": ["viewer"]}),
    )
    .await;
    assert_error(
        app.get_bearer("/api/admin/users", &viewer.jwt).await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;

    // a custom role edited: its holders see the change on the next request
    let role: Value = app
        .send_json(
            Method::POST,
            "/api/admin/roles",
            &admin.jwt,
            json!({"name": "auditor", "permissions": ["audit.read"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    app.send_json(
        Method::PATCH,
        &format!("/api/admin/users/{uid}"),
        &admin.jwt,
        json!({"roles": ["viewer", "auditor"]}),
    )
    .await;
    assert_eq!(
        app.get_bearer("/api/admin/audit", &viewer.jwt)
            .await
            .status(),
        200
    );
    let res = app
        .send_json(
            Method::PUT,
            &format!("/api/admin/roles/{}", role["id"].as_str().unwrap()),
            &admin.jwt,
            json!({"permissions": []}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_error(
        app.get_bearer("/api/admin/audit", &viewer.jwt).await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
}

#[tokio::test]
async fn disabling_a_user_stops_every_credential_at_once() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let uid = app.user_with_role("d@lab.example", "operator", "default");
    let user = app.login("d@lab.example").await;
    let pat: Value = app
        .send_json(
            Method::POST,
            "/api/tokens",
            &user.jwt,
            json!({"name": "t", "expires_in": "30d"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/admin/users/{uid}"),
            &admin.jwt,
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_error(
        app.get_bearer("/api/ping", &user.jwt).await,
        401,
        "TOKEN_REVOKED",
    )
    .await;
    let res = app
        .client
        .get(app.url("/api/ping"))
        .header(
            "authorization",
            format!("token {}", pat["token"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "TOKEN_REVOKED").await;
    assert_error(
        app.login_raw("d@lab.example", PASSWORD).await,
        401,
        "INVALID_CREDENTIALS",
    )
    .await;
    let list: Value = app
        .get_bearer("/api/admin/users?status=disabled", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["meta"]["total"], 1);
    // re-enabled: can sign in again (old sessions stay ended)
    app.send_json(
        Method::PATCH,
        &format!("/api/admin/users/{uid}"),
        &admin.jwt,
        json!({"status": "active"}),
    )
    .await;
    assert_error(
        app.get_bearer("/api/ping", &user.jwt).await,
        401,
        "TOKEN_REVOKED",
    )
    .await;
    assert_eq!(app.login_raw("d@lab.example", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn another_tenants_users_and_roles_answer_404() {
    let app = spawn_app().await;
    app.tenant("red");
    let admin = app.admin().await;
    let uid = app.user_with_role("blue@lab.example", "viewer", "default");
    app.user_with_role("redadmin@lab.example", "admin", "red");
    let red = app.login("redadmin@lab.example").await;
    let path = format!("/api/admin/users/{uid}");
    assert_error(app.get_bearer(&path, &red.jwt).await, 404, "NOT_FOUND").await;
    assert_error(
        app.send_json(
            Method::PATCH,
            &path,
            &red.jwt,
            json!({"status": "disabled"}),
        )
        .await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_error(
        app.client
            .delete(app.url(&path))
            .bearer_auth(&red.jwt)
            .send()
            .await
            .unwrap(),
        404,
        "NOT_FOUND",
    )
    .await;
    assert_error(
        app.send_json(
            Method::POST,
            &format!("{path}/reset-password"),
            &red.jwt,
            json!({"deliver": "response"}),
        )
        .await,
        404,
        "NOT_FOUND",
    )
    .await;
    let roles: Value = app
        .get_bearer("/api/admin/roles", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    let admin_role = roles["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_error(
        app.get_bearer(&format!("/api/admin/roles/{admin_role}"), &red.jwt)
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
    let list: Value = app
        .get_bearer("/api/admin/users", &red.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert!(!list.to_string().contains("blue@lab.example"));
    let sessions: Value = app
        .get_bearer("/api/admin/sessions", &red.jwt)
        .await
        .json()
        .await
        .unwrap();
    let sid = sessions["data"][0]["id"].as_str().unwrap();
    assert_error(
        app.client
            .delete(app.url(&format!("/api/admin/sessions/{sid}")))
            .bearer_auth(&admin.jwt)
            .send()
            .await
            .unwrap(),
        404,
        "NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn a_tenant_never_loses_its_last_user_admin() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let me = admin.body["user"]["id"].as_str().unwrap().to_string();
    let path = format!("/api/admin/users/{me}");
    assert_error(
        app.send_json(
            Method::PATCH,
            &path,
            &admin.jwt,
            json!({"roles": ["viewer"]}),
        )
        .await,
        409,
        "CONFLICT",
    )
    .await;
    assert_error(
        app.send_json(
            Method::PATCH,
            &path,
            &admin.jwt,
            json!({"status": "disabled"}),
        )
        .await,
        409,
        "CONFLICT",
    )
    .await;
    assert_error(
        app.client
            .delete(app.url(&path))
            .bearer_auth(&admin.jwt)
            .send()
            .await
            .unwrap(),
        409,
        "CONFLICT",
    )
    .await;
    assert_eq!(
        app.get_bearer("/api/admin/users", &admin.jwt)
            .await
            .status(),
        200,
        "nothing changed"
    );
    // with a second admin the first may step down
    let other = app.user_with_role("second@lab.example", "admin", "default");
    assert_eq!(
        app.send_json(
            Method::PATCH,
            &path,
            &admin.jwt,
            json!({"roles": ["viewer"]})
        )
        .await
        .status(),
        200
    );
    let second = app.login("second@lab.example").await;
    assert_error(
        app.client
            .delete(app.url(&format!("/api/admin/users/{other}")))
            .bearer_auth(&second.jwt)
            .send()
            .await
            .unwrap(),
        409,
        "CONFLICT",
    )
    .await;
}

#[tokio::test]
async fn user_administration_create_list_and_delete() {
    let app = spawn_app().await;
    app.tenant("red");
    let admin = app.admin().await;
    let res = app.send_json(Method::POST, "/api/admin/users", &admin.jwt, json!({"email": "made@lab.example", "name": "Made", "password": "made-by-admin pw", "roles": ["analyst"]})).await;
    assert_eq!(res.status(), 201);
    let made: Value = res.json().await.unwrap();
    assert_eq!(made["roles"], json!(["analyst"]));
    assert_eq!(made["email_verified"], false);
    assert_error(
        app.send_json(
            Method::POST,
            "/api/admin/users",
            &admin.jwt,
            json!({"email": "MADE@lab.example", "roles": ["viewer"]}),
        )
        .await,
        409,
        "CONFLICT",
    )
    .await;
    assert_error(
        app.send_json(
            Method::POST,
            "/api/admin/users",
            &admin.jwt,
            json!({"email": "not-an-email", "roles": ["viewer"]}),
        )
        .await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    // verification mail
    let token = token_in_mail(&app.mails(1).await[0]);
    let res = app
        .client
        .get(app.url(&format!("/api/auth/verify-email?t={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let m: Value = app
        .get_bearer(
            &format!("/api/admin/users/{}", made["id"].as_str().unwrap()),
            &admin.jwt,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(m["email_verified"], true);
    assert_error(
        app.client
            .get(app.url(&format!("/api/auth/verify-email?t={token}")))
            .send()
            .await
            .unwrap(),
        401,
        "INVALID_TOKEN",
    )
    .await;

    for i in 0..3 {
        app.user_with_role(&format!("bulk{i}@lab.example"), "viewer", "default");
    }
    let res = app
        .get_bearer("/api/admin/users?q=bulk&limit=2", &admin.jwt)
        .await;
    let link = res.headers()["link"].to_str().unwrap().to_string();
    assert!(
        link.contains("rel=\"next\"") && link.contains("page=2") && link.contains("q=bulk"),
        "{link}"
    );
    let page: Value = res.json().await.unwrap();
    assert_eq!(
        page["meta"],
        json!({"total": 3, "page": 1, "limit": 2, "totalPages": 2})
    );
    let res = app
        .get_bearer("/api/admin/users?q=bulk&limit=2&page=2", &admin.jwt)
        .await;
    assert!(
        res.headers()["link"]
            .to_str()
            .unwrap()
            .contains("rel=\"prev\"")
    );
    assert_error(
        app.get_bearer("/api/admin/users?limit=101", &admin.jwt)
            .await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        app.get_bearer("/api/admin/users?page=0", &admin.jwt).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;

    // delete: membership only while the user has another tenant, the user otherwise
    let both = app.user_with_role("both@lab.example", "viewer", "default");
    app.user_with_role("both@lab.example", "viewer", "red");
    assert_eq!(
        app.client
            .delete(app.url(&format!("/api/admin/users/{both}")))
            .bearer_auth(&admin.jwt)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let res = app
        .post_json(
            "/api/auth/login",
            json!({"email": "both@lab.example", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["user"]["tenantSlug"],
        "red"
    );
    let id = made["id"].as_str().unwrap();
    assert_eq!(
        app.client
            .delete(app.url(&format!("/api/admin/users/{id}")))
            .bearer_auth(&admin.jwt)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_error(
        app.login_raw("made@lab.example", "made-by-admin pw").await,
        401,
        "INVALID_CREDENTIALS",
    )
    .await;
}

#[tokio::test]
async fn admin_reset_link_in_the_response() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let uid = app.user_with_role("r@lab.example", "viewer", "default");
    let res = app
        .send_json(
            Method::POST,
            &format!("/api/admin/users/{uid}/reset-password"),
            &admin.jwt,
            json!({"deliver": "response"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let token = token_in_mail(body["reset_url"].as_str().unwrap());
    let res = app
        .post_json(
            "/api/auth/reset-password",
            json!({"token": token, "new_password": "reset by admin pw"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .send_json(
            Method::POST,
            &format!("/api/admin/users/{uid}/reset-password"),
            &admin.jwt,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 202);
    assert!(app.mails(1).await[0].contains("To: r@lab.example"));
}

#[tokio::test]
async fn custom_roles() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let bad = app
        .send_json(
            Method::POST,
            "/api/admin/roles",
            &admin.jwt,
            json!({"name": "x", "permissions": ["*"]}),
        )
        .await;
    assert_error(bad, 400, "VALIDATION_ERROR").await;
    let res = app
        .send_json(
            Method::POST,
            "/api/admin/roles",
            &admin.jwt,
            json!({"name": "noise-only", "permissions": ["manage_noise_logs"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let role: Value = res.json().await.unwrap();
    assert_eq!(role["builtin"], false);
    assert_error(
        app.send_json(
            Method::POST,
            "/api/admin/roles",
            &admin.jwt,
            json!({"name": "noise-only", "permissions": []}),
        )
        .await,
        409,
        "CONFLICT",
    )
    .await;
    let roles: Value = app
        .get_bearer("/api/admin/roles", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    let builtin = roles["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "viewer")
        .unwrap()
        .clone();
    assert_eq!(builtin["builtin"], true);
    let bid = builtin["id"].as_str().unwrap();
    assert_error(
        app.send_json(
            Method::PUT,
            &format!("/api/admin/roles/{bid}"),
            &admin.jwt,
            json!({"permissions": ["admin.users"]}),
        )
        .await,
        403,
        "BUILTIN_ROLE_READ_ONLY",
    )
    .await;
    assert_error(
        app.client
            .delete(app.url(&format!("/api/admin/roles/{bid}")))
            .bearer_auth(&admin.jwt)
            .send()
            .await
            .unwrap(),
        403,
        "BUILTIN_ROLE_READ_ONLY",
    )
    .await;
    // capabilities are the union of the roles held
    app.user_with_role("multi@lab.example", "analyst", "default");
    let uid = app.user_with_role("multi2@lab.example", "viewer", "default");
    app.send_json(
        Method::PATCH,
        &format!("/api/admin/users/{uid}"),
        &admin.jwt,
        json!({"roles": ["analyst", "noise-only"]}),
    )
    .await;
    let u = app.login("multi2@lab.example").await;
    assert_eq!(
        u.body["user"]["capabilities"],
        json!(["manage_noise_logs", "audit.read"])
    );
    let rid = role["id"].as_str().unwrap();
    assert_error(
        app.client
            .delete(app.url(&format!("/api/admin/roles/{rid}")))
            .bearer_auth(&admin.jwt)
            .send()
            .await
            .unwrap(),
        409,
        "CONFLICT",
    )
    .await;
    app.send_json(
        Method::PATCH,
        &format!("/api/admin/users/{uid}"),
        &admin.jwt,
        json!({"roles": ["analyst"]}),
    )
    .await;
    assert_eq!(
        app.client
            .delete(app.url(&format!("/api/admin/roles/{rid}")))
            .bearer_auth(&admin.jwt)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
}

#[tokio::test]
async fn require_mfa_admins_and_all() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let put = |body: Value| app.send_json(Method::PUT, "/api/admin/settings", &admin.jwt, body);
    assert_error(
        put(json!({"require_mfa": "sometimes"})).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        put(json!({"password_min_length": 8})).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    let res = put(json!({"require_mfa": "admins"})).await;
    assert_eq!(res.status(), 200);
    let s: Value = res.json().await.unwrap();
    assert_eq!(
        s,
        json!({"require_mfa": "admins", "features": {"exercises": true, "noise": true, "api_keys": true}, "password_min_length": 12})
    );
    assert_error(
        app.get_bearer("/api/admin/users", &admin.jwt).await,
        403,
        "MFA_REQUIRED",
    )
    .await;
    assert_eq!(
        app.get_bearer("/api/admin/audit", &admin.jwt)
            .await
            .status(),
        200,
        "other capabilities still work"
    );
    // enroll and sign in with the second factor: admin routes open again
    let (secret, _) = enroll(&app, &admin).await;
    let email = admin.body["user"]["email"].as_str().unwrap();
    let res = app
        .post_json(
            "/api/auth/login",
            json!({"email": email, "password": PASSWORD, "totp_code": code(&secret, 30)}),
        )
        .await;
    let mfa_jwt = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.get_bearer("/api/admin/users", &mfa_jwt).await.status(),
        200
    );

    app.send_json(
        Method::PUT,
        "/api/admin/settings",
        &mfa_jwt,
        json!({"require_mfa": "all"}),
    )
    .await;
    app.user_with_role("plain@lab.example", "operator", "default");
    let plain = app.login("plain@lab.example").await;
    assert_error(
        app.get_bearer("/api/tokens", &plain.jwt).await,
        403,
        "MFA_REQUIRED",
    )
    .await;
    assert_eq!(
        app.get_bearer("/api/auth/me", &plain.jwt).await.status(),
        200
    );
    assert_eq!(app.get_bearer("/api/ping", &plain.jwt).await.status(), 200);
    assert_eq!(
        app.send_json(Method::POST, "/api/auth/mfa/setup", &plain.jwt, json!({}))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn feature_flags_disable_modules() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = app
        .send_json(
            Method::PUT,
            "/api/admin/settings",
            &admin.jwt,
            json!({"features": {"api_keys": false}}),
        )
        .await;
    let s: Value = res.json().await.unwrap();
    assert_eq!(
        s["features"],
        json!({"exercises": true, "noise": true, "api_keys": false}),
        "merged key by key"
    );
    let body = assert_error(
        app.get_bearer("/api/api-keys", &admin.jwt).await,
        403,
        "MODULE_DISABLED",
    )
    .await;
    assert_eq!(body["moduleId"], "api_keys");
    assert_error(
        app.send_json(
            Method::PUT,
            "/api/admin/settings",
            &admin.jwt,
            json!({"features": {"chess": true}}),
        )
        .await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        app.send_json(
            Method::PUT,
            "/api/admin/settings",
            &admin.jwt,
            json!({"colour": "red"}),
        )
        .await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    // password_min_length applies to new passwords in the tenant
    app.send_json(
        Method::PUT,
        "/api/admin/settings",
        &admin.jwt,
        json!({"password_min_length": 20}),
    )
    .await;
    let res = app
        .send_json(
            Method::POST,
            "/api/auth/change-password",
            &admin.jwt,
            json!({"current_password": PASSWORD, "new_password": "only sixteen chr"}),
        )
        .await;
    assert_error(res, 400, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn tenants_and_switching() {
    let app = spawn_app().await;
    let red = app.tenant("red");
    app.user_with_role("two@lab.example", "viewer", "default");
    app.user_with_role("two@lab.example", "operator", "red");
    let two = app.login("two@lab.example").await;
    let list: Value = app
        .get_bearer("/api/auth/tenants", &two.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["slug"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["default", "red"]
    );
    let res = app
        .send_json(
            Method::POST,
            "/api/auth/switch-tenant",
            &two.jwt,
            json!({"tenant": "red"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(cookie_value(res.headers(), "labgate_session").is_some());
    let switched: Value = res.json().await.unwrap();
    assert_eq!(switched["user"]["tenantId"], red.as_str());
    assert_eq!(switched["user"]["roles"], json!(["operator"]));
    assert_error(
        app.get_bearer("/api/ping", &two.jwt).await,
        401,
        "TOKEN_REVOKED",
    )
    .await;
    let jwt = switched["token"].as_str().unwrap();
    let res = app.get_bearer("/api/auth/me", jwt).await;
    assert_eq!(res.headers()["x-tenant-id"], red.as_str());
    app.tenant("blue");
    assert_error(
        app.send_json(
            Method::POST,
            "/api/auth/switch-tenant",
            jwt,
            json!({"tenant": "blue"}),
        )
        .await,
        403,
        "TENANT_FORBIDDEN",
    )
    .await;
    // own sessions
    let mine: Value = app
        .get_bearer("/api/auth/sessions", jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["meta"]["total"], 1);
    assert_eq!(mine["data"][0]["current"], true);
    let other = app.admin().await;
    let sid = mine["data"][0]["id"].as_str().unwrap();
    assert_error(
        app.client
            .delete(app.url(&format!("/api/auth/sessions/{sid}")))
            .bearer_auth(&other.jwt)
            .send()
            .await
            .unwrap(),
        404,
        "NOT_FOUND",
    )
    .await;
    assert_eq!(
        app.client
            .delete(app.url(&format!("/api/auth/sessions/{sid}")))
            .bearer_auth(jwt)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_error(app.get_bearer("/api/ping", jwt).await, 401, "TOKEN_REVOKED").await;
}

#[tokio::test]
async fn admins_end_sessions_of_their_tenant() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.user_with_role("s@lab.example", "viewer", "default");
    let s = app.login("s@lab.example").await;
    let list: Value = app
        .get_bearer("/api/admin/sessions", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    let sess = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["email"] == "s@lab.example")
        .unwrap();
    let res = app
        .client
        .delete(app.url(&format!(
            "/api/admin/sessions/{}",
            sess["id"].as_str().unwrap()
        )))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_error(
        app.get_bearer("/api/ping", &s.jwt).await,
        401,
        "TOKEN_REVOKED",
    )
    .await;
    assert_eq!(app.audit("session.revoke").len(), 1);
}

/// A minimal SMTP receiver: answers the dialogue and hands back each message's DATA.
fn smtp_receiver() -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut w = s.try_clone().unwrap();
            let mut r = BufReader::new(s);
            let _ = w.write_all(b"220 relay.lab ESMTP\r\n");
            let mut data = String::new();
            let mut in_data = false;
            let mut line = String::new();
            while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if in_data {
                    if line == ".\r\n" {
                        in_data = false;
                        let _ = tx.send(std::mem::take(&mut data));
                        let _ = w.write_all(b"250 queued\r\n");
                    } else {
                        data.push_str(&line);
                    }
                } else {
                    let cmd = line.to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                        b"250 relay.lab\r\n"
                    } else if cmd.starts_with("DATA") {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n");
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = w.write_all(reply);
                }
                line.clear();
            }
        }
    });
    (port, rx)
}

#[tokio::test]
async fn mail_goes_through_smtp_when_configured() {
    let (port, rx) = smtp_receiver();
    let app = spawn_with(move |c| {
        c.smtp = Some(labgate::mail::Relay::parse(&format!("smtp://127.0.0.1:{port}")).unwrap())
    })
    .await;
    app.user_with_role("smtp@lab.example", "viewer", "default");
    let res = app
        .post_json(
            "/api/auth/forgot-password",
            json!({"email": "smtp@lab.example"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let msg =
        tokio::task::spawn_blocking(move || rx.recv_timeout(std::time::Duration::from_secs(10)))
            .await
            .unwrap()
            .expect("a message over SMTP");
    assert!(msg.contains("To: smtp@lab.example"));
    assert!(msg.contains("/reset-password#token=lgx_"));
    assert!(
        std::fs::read_dir(&app.state.config.mail_dir)
            .unwrap()
            .filter_map(Result::ok)
            .all(|e| e.path().extension().is_none_or(|x| x != "eml")),
        "nothing spooled"
    );
    // Kept in the queue only until the relay took it.
    for _ in 0..100 {
        if app.state.app.mailer.queued() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(app.state.app.mailer.queued(), 0);
}

#[tokio::test]
async fn settings_changed_at_once_by_two_admins_keep_both_changes() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    // Many pairs at once: each change is applied to the settings as stored, never to a copy
    // read before the other committed.
    for n in 0..10u64 {
        let min = 13 + n;
        let noise = n % 2 == 0;
        let (a, b) = tokio::join!(
            app.send_json(
                Method::PUT,
                "/api/admin/settings",
                &admin.jwt,
                json!({"password_min_length": min})
            ),
            app.send_json(
                Method::PUT,
                "/api/admin/settings",
                &admin.jwt,
                json!({"features": {"noise": noise}})
            ),
        );
        assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
        let now: Value = app
            .get_bearer("/api/admin/settings", &admin.jwt)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(now["password_min_length"], min, "{now}");
        assert_eq!(now["features"]["noise"], noise, "{now}");
    }
}

#[tokio::test]
async fn recovery_codes_are_renewed_against_a_current_authenticator_code() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let email = admin.body["user"]["email"].as_str().unwrap().to_string();
    let renew = |code: String| {
        let (app, jwt) = (&app, admin.jwt.clone());
        async move {
            app.send_json(
                Method::POST,
                "/api/auth/mfa/recovery-codes",
                &jwt,
                json!({ "code": code }),
            )
            .await
        }
    };

    // Nothing to renew before enrollment.
    assert_error(renew(code("JBSWY3DPEHPK3PXP", 0)).await, 409, "CONFLICT").await;

    let (secret, old) = enroll(&app, &admin).await;
    // The code that confirmed the enrollment is spent; a recovery code does not renew the codes.
    let b = assert_error(renew(code(&secret, 0)).await, 400, "VALIDATION_ERROR").await;
    assert_eq!(b["details"][0]["field"], "code");
    assert_error(renew(old[0].clone()).await, 400, "VALIDATION_ERROR").await;
    let refused = app.audit("mfa.recovery_codes");
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|r| r["outcome"] == "failure"));

    let res = renew(code(&secret, 30)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let new: Vec<String> =
        serde_json::from_value(res.json::<Value>().await.unwrap()["recovery_codes"].clone())
            .unwrap();
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)));
    let ok = &app.audit("mfa.recovery_codes")[0];
    assert_eq!(ok["outcome"], "success");
    assert!(
        !ok.to_string().contains(&new[0]),
        "no code in the audit record"
    );

    // The old codes are gone, the new ones sign in.
    for (code, status) in [(old[1].clone(), 401), (new[0].clone(), 200)] {
        let v: Value = app.login_raw(&email, PASSWORD).await.json().await.unwrap();
        let res = app
            .post_json(
                "/api/auth/mfa/validate",
                json!({"mfa_token": v["mfa_token"], "code": code}),
            )
            .await;
        assert_eq!(res.status(), status);
    }

    // A personal access token cannot renew them.
    let pat = app.pat(&admin.jwt, "t").await;
    let res = app
        .with_pat(Method::POST, "/api/auth/mfa/recovery-codes", &pat)
        .json(&json!({"code": code(&secret, 30)}))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "INTERACTIVE_SESSION_REQUIRED").await;
}
