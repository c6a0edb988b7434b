//! SPEC §8 "Reach": no caller, by any credential, gains a capability through another account or
//! key. Each test is the attack as it was tried, now refused with the state unchanged, beside
//! the allowed neighbour that must keep working.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// A custom role in the default tenant, made by an admin through the API.
async fn role(app: &TestApp, admin: &Login, name: &str, permissions: &[&str]) {
    let res = app
        .send_json(
            Method::POST,
            "/api/admin/roles",
            &admin.jwt,
            json!({"name": name, "permissions": permissions}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
}

/// The reset link's token from a `deliver: response` answer, or the refusal.
async fn reset_by_response(app: &TestApp, cred: &str, user: &str) -> reqwest::Response {
    app.send_json(
        Method::POST,
        &format!("/api/admin/users/{user}/reset-password"),
        cred,
        json!({"deliver": "response"}),
    )
    .await
}

fn member_status(app: &TestApp, user: &str) -> String {
    app.db(|db| {
        db.query_row(
            "SELECT status FROM users WHERE id = ?1",
            labgate::params![user],
            |r| r.get(0),
        )
        .unwrap()
    })
}

#[tokio::test]
async fn a_helpdesk_role_cannot_take_over_a_full_admin() {
    let app = spawn_app().await;
    let root = app.admin().await;
    role(&app, &root, "helpdesk", &["admin.users"]).await;
    let victim = app.user_with_role("victim-admin@lab.example", "admin", "default");
    let victim_login = app.login("victim-admin@lab.example").await;
    app.user_with_role("helpdesk@lab.example", "helpdesk", "default");
    let hd = app.login("helpdesk@lab.example").await;

    // the reset link answered in the response: the takeover as it was tried
    let b = assert_error(
        reset_by_response(&app, &hd.jwt, &victim).await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
    assert!(!b.to_string().contains("lgx_"), "{b}");
    // a mailed reset, a demotion, disabling, removal and ending their sessions: all refused
    let res = app
        .send_json(
            Method::POST,
            &format!("/api/admin/users/{victim}/reset-password"),
            &hd.jwt,
            json!({}),
        )
        .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    let path = format!("/api/admin/users/{victim}");
    for body in [json!({"roles": ["viewer"]}), json!({"status": "disabled"})] {
        let res = app.send_json(Method::PATCH, &path, &hd.jwt, body).await;
        assert_error(res, 403, "MISSING_CAPABILITY").await;
    }
    let res = app
        .send_json(Method::DELETE, &path, &hd.jwt, json!({}))
        .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    let sid = victim_login.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sid, victim);
    let sessions: Value = app
        .get_bearer("/api/admin/sessions?limit=100", &root.jwt)
        .await
        .json()
        .await
        .unwrap();
    let victim_session = sessions["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["user_id"] == victim.as_str())
        .expect("victim's session listed")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .send_json(
            Method::DELETE,
            &format!("/api/admin/sessions/{victim_session}"),
            &hd.jwt,
            json!({}),
        )
        .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;

    // nothing changed: the admin is active, still an admin, still signed in, and signs in
    // with the old password; no reset token was issued
    assert_eq!(member_status(&app, &victim), "active");
    let me: Value = app
        .get_bearer("/api/auth/me", &victim_login.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(
        app.login_raw("victim-admin@lab.example", PASSWORD)
            .await
            .status(),
        200
    );
    assert!(app.audit("user.reset_password").is_empty());
    assert!(
        app.audit("access.denied")
            .iter()
            .any(|r| r["details"]["code"] == "MISSING_CAPABILITY")
    );
}

#[tokio::test]
async fn a_helpdesk_role_still_administers_those_it_reaches() {
    let app = spawn_app().await;
    let root = app.admin().await;
    role(&app, &root, "helpdesk", &["admin.users"]).await;
    let viewer = app.user_with_role("viewer@lab.example", "viewer", "default");
    app.user_with_role("helpdesk@lab.example", "helpdesk", "default");
    let hd = app.login("helpdesk@lab.example").await;
    let res = reset_by_response(&app, &hd.jwt, &viewer).await;
    assert_eq!(res.status(), 200);
    let b: Value = res.json().await.unwrap();
    assert!(b["token"].as_str().unwrap().starts_with("lgx_"));
    let path = format!("/api/admin/users/{viewer}");
    let res = app
        .send_json(Method::PATCH, &path, &hd.jwt, json!({"status": "disabled"}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(member_status(&app, &viewer), "disabled");
    // granting what it holds is fine, granting more is not
    let res = app
        .send_json(
            Method::PATCH,
            &path,
            &hd.jwt,
            json!({"roles": ["helpdesk"]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .send_json(
            Method::PATCH,
            &path,
            &hd.jwt,
            json!({"roles": ["operator"]}),
        )
        .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
}

#[tokio::test]
async fn an_api_key_with_users_write_cannot_take_over_an_admin() {
    let app = spawn_app().await;
    let root = app.admin().await;
    let admin = app.user_with_role("other-admin@lab.example", "admin", "default");
    let viewer = app.user_with_role("viewer@lab.example", "viewer", "default");
    let res = app
        .send_json(
            Method::POST,
            "/api/api-keys",
            &root.jwt,
            json!({"name": "provisioning", "services": {"users": "write"}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let key = res.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_error(
        reset_by_response(&app, &key, &admin).await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/admin/users/{admin}"),
            &key,
            json!({"status": "disabled"}),
        )
        .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    assert_eq!(member_status(&app, &admin), "active");
    // the key reaches a viewer
    assert_eq!(reset_by_response(&app, &key, &viewer).await.status(), 200);
}

const MASTER: &str = "master-key-for-tests-0123456789abcdef";

#[tokio::test]
async fn the_master_key_cannot_exceed_its_capabilities_through_an_account() {
    let app = spawn_with(|c| {
        c.break_glass_enabled = true;
        c.master_key = Some(MASTER.into());
    })
    .await;
    let admin = app.user_with_role("admin@lab.example", "admin", "default");
    let analyst = app.user_with_role("analyst@lab.example", "analyst", "default");
    let reset = |user: String| {
        app.client
            .post(app.url(&format!("/api/admin/users/{user}/reset-password")))
            .header("x-master-key", MASTER)
            .header("x-break-glass-reason", "incident 42: admin locked out")
            .header("x-tenant-id", "default")
            .json(&json!({"deliver": "response"}))
            .send()
    };
    // the admin holds manage_exercises, which BREAK_GLASS_CAPABILITIES does not give
    let b = assert_error(reset(admin).await.unwrap(), 403, "MISSING_CAPABILITY").await;
    assert!(b["message"].as_str().unwrap().contains("manage_"), "{b}");
    // an analyst holds only audit.read, which the master key has
    assert_eq!(reset(analyst).await.unwrap().status(), 200);
}

/// A custom role holding only `manage_api_keys`, and a key made by a full admin.
async fn key_keeper_and_powerful_key(app: &TestApp) -> (Login, Login, String, String) {
    let root = app.admin().await;
    role(app, &root, "keykeeper", &["manage_api_keys"]).await;
    app.user_with_role("kk@lab.example", "keykeeper", "default");
    let kk = app.login("kk@lab.example").await;
    let res = app
        .send_json(
            Method::POST,
            "/api/api-keys",
            &root.jwt,
            json!({"name": "powerful", "services": {"users": "write"}}),
        )
        .await;
    let b: Value = res.json().await.unwrap();
    (
        root,
        kk,
        b["id"].as_str().unwrap().to_string(),
        b["key"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn a_key_keeper_cannot_reveal_share_edit_or_delete_a_key_that_can_do_more() {
    let app = spawn_app().await;
    let (_root, kk, id, secret) = key_keeper_and_powerful_key(&app).await;
    let viewer = app.user_with_role("viewer@lab.example", "viewer", "default");
    let b = assert_error(
        app.get_bearer(&format!("/api/api-keys/{id}/secret"), &kk.jwt)
            .await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
    assert!(!b.to_string().contains(&secret));
    assert!(b["message"].as_str().unwrap().contains("admin.users"));
    let res = app
        .send_json(
            Method::POST,
            &format!("/api/api-keys/{id}/shares"),
            &kk.jwt,
            json!({"user_id": viewer}),
        )
        .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/api-keys/{id}"),
            &kk.jwt,
            json!({"name": "renamed"}),
        )
        .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    let res = app
        .send_json(
            Method::DELETE,
            &format!("/api/api-keys/{id}"),
            &kk.jwt,
            json!({}),
        )
        .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    // unchanged: not revealed, not shared, same name, still working
    assert!(app.audit("api_key.reveal").is_empty());
    assert!(app.audit("api_key.share").is_empty());
    let ping = app.get_bearer("/api/admin/users", &secret).await;
    assert_eq!(ping.status(), 200);
}

#[tokio::test]
async fn a_key_keeper_manages_the_keys_it_reaches() {
    let app = spawn_app().await;
    let (root, kk, powerful, _) = key_keeper_and_powerful_key(&app).await;
    let viewer = app.user_with_role("viewer@lab.example", "viewer", "default");
    let res = app
        .send_json(
            Method::POST,
            "/api/api-keys",
            &kk.jwt,
            json!({"name": "dashboards", "services": {"exercises": "read"}}),
        )
        .await;
    let b: Value = res.json().await.unwrap();
    let (id, secret) = (b["id"].as_str().unwrap(), b["key"].as_str().unwrap());
    let revealed: Value = app
        .get_bearer(&format!("/api/api-keys/{id}/secret"), &kk.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revealed["key"], secret);
    let res = app
        .send_json(
            Method::POST,
            &format!("/api/api-keys/{id}/shares"),
            &kk.jwt,
            json!({"user_id": viewer}),
        )
        .await;
    assert_eq!(res.status(), 201);
    // a full admin reaches every key, and what it shares the receiver may reveal
    let res = app
        .send_json(
            Method::POST,
            &format!("/api/api-keys/{powerful}/shares"),
            &root.jwt,
            json!({"user_id": viewer}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let v = app.login("viewer@lab.example").await;
    let res = app
        .get_bearer(&format!("/api/api-keys/{powerful}/secret"), &v.jwt)
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_token_made_before_an_mfa_policy_is_held_back_like_its_session() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = app
        .send_json(
            Method::POST,
            "/api/tokens",
            &admin.jwt,
            json!({"name": "before the policy", "expires_in": "30d"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let pat = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let with_pat = |m: Method, p: &str, body: Value| {
        app.client
            .request(m, app.url(p))
            .header("authorization", format!("token {pat}"))
            .json(&body)
            .send()
    };
    assert_eq!(
        with_pat(Method::GET, "/api/admin/users", json!({}))
            .await
            .unwrap()
            .status(),
        200
    );
    let res = app
        .send_json(
            Method::PUT,
            "/api/admin/settings",
            &admin.jwt,
            json!({"require_mfa": "admins"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // the token keeps its session's factors (password only): admin capabilities are held back,
    // so it can neither read users nor switch the policy off again
    let res = with_pat(Method::GET, "/api/admin/users", json!({}))
        .await
        .unwrap();
    assert_error(res, 403, "MFA_REQUIRED").await;
    let res = with_pat(
        Method::PUT,
        "/api/admin/settings",
        json!({"require_mfa": "off"}),
    )
    .await
    .unwrap();
    assert_error(res, 403, "MFA_REQUIRED").await;
    let settings: Value = serde_json::from_str(&app.value::<String>(
            "SELECT s.settings FROM tenant_settings s JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = 'default'",
        ))
        .unwrap();
    assert_eq!(settings["require_mfa"], "admins");
    // what needs no admin capability still works
    assert_eq!(
        with_pat(Method::GET, "/api/sessions", json!({}))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn a_key_does_not_hold_what_it_may_only_read() {
    let app = spawn_app().await;
    let root = app.admin().await;
    role(&app, &root, "helpdesk", &["admin.users", "manage_api_keys"]).await;
    app.user_with_role("hd@lab.example", "helpdesk", "default");
    let hd = app.login("hd@lab.example").await;
    // reading exercises and noise needs nothing to grant...
    let res = app
        .send_json(
            Method::POST,
            "/api/api-keys",
            &hd.jwt,
            json!({"name": "k", "services": {"users": "write", "exercises": "read", "noise": "read"}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let key = res.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.get_bearer("/api/sessions", &key).await.status(), 200);
    // ...but it does not make the key an operator that can mint one
    let res = app
        .send_json(
            Method::POST,
            "/api/admin/users",
            &key,
            json!({"email": "x@lab.example", "password": "a long enough password", "roles": ["operator"]}),
        )
        .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    let n: i64 = app.value("SELECT count(*) FROM users WHERE email = 'x@lab.example'");
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_role_is_edited_or_renamed_only_by_who_holds_what_it_gives() {
    let app = spawn_app().await;
    let root = app.admin().await;
    role(&app, &root, "helpdesk", &["admin.users"]).await;
    role(
        &app,
        &root,
        "secops",
        &["admin.users", "admin.settings", "audit.read"],
    )
    .await;
    app.user_with_role("hd@lab.example", "helpdesk", "default");
    app.user_with_role("sec@lab.example", "secops", "default");
    let hd = app.login("hd@lab.example").await;
    let roles: Value = app
        .get_bearer("/api/admin/roles?limit=100", &root.jwt)
        .await
        .json()
        .await
        .unwrap();
    let secops = roles["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "secops")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for body in [
        json!({"permissions": ["admin.users"]}),
        json!({"name": "tmp"}),
    ] {
        let res = app
            .send_json(
                Method::PUT,
                &format!("/api/admin/roles/{secops}"),
                &hd.jwt,
                body,
            )
            .await;
        assert_error(res, 403, "MISSING_CAPABILITY").await;
    }
    let sec = app.login("sec@lab.example").await;
    assert_eq!(
        app.get_bearer("/api/admin/audit", &sec.jwt).await.status(),
        200
    );
    // the full admin may
    let res = app
        .send_json(
            Method::PUT,
            &format!("/api/admin/roles/{secops}"),
            &root.jwt,
            json!({"permissions": ["admin.users", "audit.read"]}),
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_share_ends_when_the_key_is_given_more() {
    let app = spawn_app().await;
    let root = app.admin().await;
    let viewer = app.user_with_role("viewer@lab.example", "viewer", "default");
    let res = app
        .send_json(
            Method::POST,
            "/api/api-keys",
            &root.jwt,
            json!({"name": "status", "services": {"platform-status": "read"}}),
        )
        .await;
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .send_json(
            Method::POST,
            &format!("/api/api-keys/{id}/shares"),
            &root.jwt,
            json!({"user_id": viewer}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let v = app.login("viewer@lab.example").await;
    assert_eq!(
        app.get_bearer(&format!("/api/api-keys/{id}/secret"), &v.jwt)
            .await
            .status(),
        200
    );
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/api-keys/{id}"),
            &root.jwt,
            json!({"services": {"users": "write", "settings": "write"}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_error(
        app.get_bearer(&format!("/api/api-keys/{id}/secret"), &v.jwt)
            .await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
}

#[tokio::test]
async fn an_invitation_grants_only_what_its_sender_still_holds_when_it_is_accepted() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    role(&app, &admin, "helpdesk", &["admin.users", "audit.read"]).await;
    role(&app, &admin, "desk", &["audit.read"]).await;
    app.user_with_role("h@lab.example", "helpdesk", "default");
    let helpdesk = app.login("h@lab.example").await;
    let res = app
        .send_json(
            Method::POST,
            "/api/admin/invitations",
            &helpdesk.jwt,
            json!({"email": "alt@lab.example", "roles": ["desk"]}),
        )
        .await;
    assert_eq!(res.status(), 201, "what the helpdesk holds, it may grant");
    let inv: Value = res.json().await.unwrap();
    let token = token_in_mail(&app.mails(1).await[0]);

    // the role is widened after the invitation was sent, beyond what its sender holds
    let roles: Value = app
        .get_bearer("/api/admin/roles", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    let desk = roles["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "desk")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/admin/roles/{desk}");
    let widen = |perms: Value| {
        app.send_json(
            Method::PUT,
            &path,
            &admin.jwt,
            json!({"name": "desk", "permissions": perms}),
        )
    };
    assert_eq!(
        widen(json!(["audit.read", "admin.settings"]))
            .await
            .status(),
        200
    );
    let accept = || {
        app.post_json(
            "/api/auth/invite",
            json!({"token": token, "name": "Alt", "password": "invited passphrase"}),
        )
    };
    let b = assert_error(accept().await, 403, "MISSING_CAPABILITY").await;
    assert!(
        b["message"].as_str().unwrap().contains("admin.settings"),
        "{b}"
    );
    // nothing was made: no account, and the invitation is still pending
    assert_eq!(
        app.login_raw("alt@lab.example", "invited passphrase")
            .await
            .status(),
        401
    );
    let list: Value = app
        .get_bearer("/api/admin/invitations", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    let pending = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == inv["id"])
        .unwrap();
    assert_eq!(pending["status"], "pending");

    // the role as it was when sent: the invitation works
    assert_eq!(widen(json!(["audit.read"])).await.status(), 200);
    let res = accept().await;
    assert_eq!(res.status(), 201);
    let member: Value = res.json().await.unwrap();
    assert_eq!(member["roles"], json!(["desk"]));
}

#[tokio::test]
async fn an_invitation_whose_sender_was_deleted_grants_nothing() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let b = app.user_with_role("b@lab.example", "admin", "default");
    let other = app.login("b@lab.example").await;
    let res = app
        .send_json(
            Method::POST,
            "/api/admin/invitations",
            &other.jwt,
            json!({"email": "alt@lab.example", "roles": ["admin"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let token = token_in_mail(&app.mails(1).await[0]);
    let res = app
        .client
        .delete(app.url(&format!("/api/admin/users/{b}")))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .post_json(
            "/api/auth/invite",
            json!({"token": token, "name": "Alt", "password": "invited passphrase"}),
        )
        .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    assert_eq!(
        app.login_raw("alt@lab.example", "invited passphrase")
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn another_tenants_mfa_policy_holds_back_what_reaches_into_it() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let email = admin.body["user"]["email"].as_str().unwrap().to_string();
    let blue = app.tenant("blue");
    app.user_with_role(&email, "admin", "blue");
    let victim = app.user_with_role("v@lab.example", "viewer", "default");
    app.user_with_role("v@lab.example", "viewer", "blue");
    let policy = |p: &str| {
        app.sql(&if crate::helpers::on_postgres() {
            format!(
                "UPDATE tenant_settings SET settings = jsonb_set(settings::jsonb, '{{require_mfa}}', '\"{p}\"')::text WHERE tenant_id = '{blue}'"
            )
        } else {
            format!(
                "UPDATE tenant_settings SET settings = json_set(settings, '$.require_mfa', '{p}') WHERE tenant_id = '{blue}'"
            )
        })
    };
    // blue asks admins for a second factor; this session has none
    policy("admins");
    let b = assert_error(
        reset_by_response(&app, &admin.jwt, &victim).await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
    assert!(
        b["message"].as_str().unwrap().contains("admin.users"),
        "{b}"
    );
    // without the policy the same reset is allowed
    policy("off");
    let res = reset_by_response(&app, &admin.jwt, &victim).await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
}

#[tokio::test]
async fn another_tenants_ip_lists_hold_back_what_reaches_into_it() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let email = admin.body["user"]["email"].as_str().unwrap().to_string();
    let blue = app.tenant("blue");
    app.user_with_role(&email, "admin", "blue");
    let victim = app.user_with_role("v@lab.example", "viewer", "default");
    app.user_with_role("v@lab.example", "viewer", "blue");
    // blue lets its members in from 10.0.0.0/8 only; this session comes from 127.0.0.1
    app.sql(&format!(
        "INSERT INTO ip_rules (id, tenant_id, list, cidr, note, created_at) VALUES ('r1', '{blue}', 'allow', '10.0.0.0/8', '', '2026-01-01T00:00:00Z')"
    ));
    let b = assert_error(
        reset_by_response(&app, &admin.jwt, &victim).await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
    assert!(
        b["message"].as_str().unwrap().contains("admin.users"),
        "{b}"
    );
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/admin/users/{victim}"),
            &admin.jwt,
            json!({"status": "disabled"}),
        )
        .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    assert_eq!(member_status(&app, &victim), "active");
}
