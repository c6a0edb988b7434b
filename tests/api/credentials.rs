//! Machine credentials: personal access tokens, API keys, the global key, the master key.

use serde_json::{Value, json};

use crate::helpers::*;

async fn create_pat(app: &TestApp, jwt: &str, expires_in: &str) -> Value {
    let res = app
        .client
        .post(app.url("/api/tokens"))
        .bearer_auth(jwt)
        .json(&json!({"name": "ci script", "expires_in": expires_in}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

#[tokio::test]
async fn personal_access_tokens_work_through_both_headers_and_die_when_revoked() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let t = create_pat(&app, &admin.jwt, "30d").await;
    let secret = t["token"].as_str().unwrap().to_string();
    assert!(labgate::domain::token::well_formed(
        labgate::domain::token::Kind::Pat,
        &secret
    ));
    assert_eq!(t["prefix"].as_str().unwrap(), &secret[..8]);
    assert!(t["expires_at"].is_string());

    let me = |hdr: (&'static str, String)| {
        app.client
            .get(app.url("/api/auth/me"))
            .header(hdr.0, hdr.1)
            .send()
    };
    let res = me(("authorization", format!("token {secret}")))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["auth_method"], "pat");
    assert_eq!(body["id"], admin.body["user"]["id"]);
    let res = me(("x-api-key", secret.clone())).await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["auth_method"], "pat");

    // listed without the secret
    let list: Value = app
        .get_bearer("/api/tokens", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["meta"]["total"], 1);
    assert_eq!(list["data"][0]["id"], t["id"]);
    assert!(!list.to_string().contains(&secret));

    // a PAT cannot mint more tokens
    let res = app
        .client
        .post(app.url("/api/tokens"))
        .header("authorization", format!("token {secret}"))
        .json(&json!({"name": "x", "expires_in": "never"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "INTERACTIVE_SESSION_REQUIRED").await;
    // no update route
    let url = app.url(&format!("/api/tokens/{}", t["id"].as_str().unwrap()));
    assert_error(
        app.client
            .patch(&url)
            .bearer_auth(&admin.jwt)
            .json(&json!({"expires_in": "never"}))
            .send()
            .await
            .unwrap(),
        405,
        "METHOD_NOT_ALLOWED",
    )
    .await;

    // only the owner may revoke: another admin gets 404
    let other = app.admin().await;
    assert_error(
        app.client
            .delete(&url)
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
            .delete(&url)
            .bearer_auth(&admin.jwt)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_error(
        me(("authorization", format!("token {secret}")))
            .await
            .unwrap(),
        401,
        "TOKEN_REVOKED",
    )
    .await;
    assert_eq!(app.audit("token.create").len(), 1);
    assert_eq!(app.audit("token.revoke").len(), 1);
    assert!(!app.audit("token.create")[0].to_string().contains(&secret));
}

#[tokio::test]
async fn personal_access_token_errors() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = app
        .client
        .post(app.url("/api/tokens"))
        .bearer_auth(&admin.jwt)
        .json(&json!({"name": "x", "expires_in": "5y"}))
        .send()
        .await
        .unwrap();
    let b = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(b["details"][0]["field"], "expires_in");
    let t = create_pat(&app, &admin.jwt, "never").await;
    assert!(t["expires_at"].is_null());
    let secret = t["token"].as_str().unwrap().to_string();
    let ping = |v: String| {
        app.client
            .get(app.url("/api/ping"))
            .header("authorization", v)
            .send()
    };
    // checksum mismatch: refused without lookup
    let mut typo = secret.clone();
    typo.replace_range(10..11, if &secret[10..11] == "a" { "b" } else { "a" });
    assert_error(
        ping(format!("token {typo}")).await.unwrap(),
        401,
        "INVALID_TOKEN",
    )
    .await;
    // well-formed but unknown
    let unknown = labgate::domain::token::generate(labgate::domain::token::Kind::Pat);
    assert_error(
        ping(format!("token {}", unknown.expose())).await.unwrap(),
        401,
        "INVALID_TOKEN",
    )
    .await;
    // expired
    app.sql("UPDATE personal_tokens SET expires_at = '2020-01-01T00:00:00Z'");
    app.state.app.changed_outside();
    assert_error(
        ping(format!("token {secret}")).await.unwrap(),
        401,
        "TOKEN_EXPIRED",
    )
    .await;
}

#[tokio::test]
async fn an_invalid_header_credential_never_falls_back_to_the_cookie() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for (h, v) in [
        ("authorization", "token lgp_garbage".to_string()),
        ("x-api-key", "lgp_garbage".to_string()),
        ("x-api-key", "not-the-global-key".to_string()),
    ] {
        let res = app
            .client
            .get(app.url("/api/ping"))
            .header(h, v)
            .header("cookie", admin.cookie_header())
            .send()
            .await
            .unwrap();
        assert_error(res, 401, "INVALID_TOKEN").await;
    }
}

async fn create_key(app: &TestApp, jwt: &str, body: Value) -> Value {
    let res = app
        .client
        .post(app.url("/api/api-keys"))
        .bearer_auth(jwt)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    res.json().await.unwrap()
}

#[tokio::test]
async fn api_keys_are_scoped_to_their_services() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let k = create_key(
        &app,
        &admin.jwt,
        json!({"name": "siem", "services": {"audit": "read"}}),
    )
    .await;
    let key = k["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("lgk_"));
    assert_eq!(k["services"], json!({"audit": "read"}));
    let get = |p: &str| app.client.get(app.url(p)).bearer_auth(&key).send();
    assert_eq!(get("/api/ping").await.unwrap().status(), 200);
    let me: Value = get("/api/auth/me").await.unwrap().json().await.unwrap();
    assert_eq!(me["auth_method"], "api_key");
    assert_eq!(me["id"], k["id"]);
    assert!(me["email"].is_null());
    let res = get("/api/admin/audit").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["x-tenant-id"],
        admin.body["user"]["tenantId"].as_str().unwrap()
    );
    // other services, the auth routes, tokens and keys do not exist for it
    for p in [
        "/api/api-keys",
        "/api/tokens",
        "/api/admin/users",
        "/api/sessions",
        "/api/auth/sessions",
    ] {
        assert_error(get(p).await.unwrap(), 404, "NOT_FOUND").await;
    }
    // secrets are not in listings
    let list: Value = app
        .get_bearer("/api/api-keys", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["meta"]["total"], 1);
    assert!(!list.to_string().contains(&key));
    // expiry can never change
    let url = app.url(&format!("/api/api-keys/{}", k["id"].as_str().unwrap()));
    let res = app
        .client
        .patch(&url)
        .bearer_auth(&admin.jwt)
        .json(&json!({"expires_at": "2099-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "VALIDATION_ERROR").await;
    // deleting invalidates at once
    assert_eq!(
        app.client
            .delete(&url)
            .bearer_auth(&admin.jwt)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_error(get("/api/ping").await.unwrap(), 401, "TOKEN_REVOKED").await;
    assert_error(
        app.get_bearer(
            &format!("/api/api-keys/{}", k["id"].as_str().unwrap()),
            &admin.jwt,
        )
        .await,
        404,
        "NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn api_key_validation_and_grants() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let post = |body: Value| {
        app.client
            .post(app.url("/api/api-keys"))
            .bearer_auth(&admin.jwt)
            .json(&body)
            .send()
    };
    let b = assert_error(
        post(json!({"name": "x", "services": {"nope": "read"}}))
            .await
            .unwrap(),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(b["details"][0]["field"], "services.nope");
    assert_error(
        post(json!({"name": "x", "services": {"audit": "admin"}}))
            .await
            .unwrap(),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        post(
            json!({"name": "x", "services": {"audit": "read"}, "allowed_subnets": ["10.0.0.0/99"]}),
        )
        .await
        .unwrap(),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        post(json!({"name": "x", "services": {"audit": "read"}, "allowed_origins": ["*"]}))
            .await
            .unwrap(),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(post(json!({"name": "x", "services": {"audit": "read"}, "expires_at": "2001-01-01T00:00:00Z"})).await.unwrap(), 400, "VALIDATION_ERROR").await;

    // a key manager without audit.read cannot hand out audit access
    app.db(|conn| {
        let tid: String = conn
            .query_row("SELECT id FROM tenants WHERE slug = 'default'", labgate::params![], |r| {
                r.get(0)
            })
            .unwrap();
        conn.execute(
            "INSERT INTO roles (id, tenant_id, name, permissions, builtin, created_at) VALUES (?1, ?2, 'keymaster', '[\"manage_api_keys\"]', 0, '2026-01-01T00:00:00Z')",
            labgate::params![uuid::Uuid::new_v4().to_string(), tid],
        )
        .unwrap();
    });
    app.user_with_role("km@lab.example", "keymaster", "default");
    let km = app.login("km@lab.example").await;
    let res = app
        .client
        .post(app.url("/api/api-keys"))
        .bearer_auth(&km.jwt)
        .json(&json!({"name": "x", "services": {"audit": "read"}}))
        .send()
        .await
        .unwrap();
    let b = assert_error(res, 403, "MISSING_CAPABILITY").await;
    assert!(b["message"].as_str().unwrap().contains("audit.read"));
    let res = app
        .client
        .post(app.url("/api/api-keys"))
        .bearer_auth(&km.jwt)
        .json(&json!({"name": "x", "services": {"exercises": "read"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // without manage_api_keys at all
    app.user_with_role("viewer@lab.example", "viewer", "default");
    let v = app.login("viewer@lab.example").await;
    let b = assert_error(
        app.get_bearer("/api/api-keys", &v.jwt).await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
    assert!(b["message"].as_str().unwrap().contains("manage_api_keys"));
}

#[tokio::test]
async fn api_keys_of_another_tenant_are_invisible() {
    let app = spawn_app().await;
    app.tenant("red");
    let admin = app.admin().await;
    let k = create_key(
        &app,
        &admin.jwt,
        json!({"name": "k", "services": {"audit": "read"}}),
    )
    .await;
    app.user_with_role("red@lab.example", "admin", "red");
    let red = app.login("red@lab.example").await;
    let id = k["id"].as_str().unwrap();
    assert_error(
        app.get_bearer(&format!("/api/api-keys/{id}"), &red.jwt)
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_error(
        app.get_bearer(&format!("/api/api-keys/{id}/secret"), &red.jwt)
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
    let res = app
        .client
        .delete(app.url(&format!("/api/api-keys/{id}")))
        .bearer_auth(&red.jwt)
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "NOT_FOUND").await;
    let list: Value = app
        .get_bearer("/api/api-keys", &red.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["meta"]["total"], 0);
    // the key itself cannot act in the other tenant
    let res = app
        .client
        .get(app.url("/api/admin/audit"))
        .bearer_auth(k["key"].as_str().unwrap())
        .header("x-tenant-id", "red")
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "TENANT_FORBIDDEN").await;
}

#[tokio::test]
async fn api_key_reveal_share_and_unshare() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let k = create_key(
        &app,
        &admin.jwt,
        json!({"name": "shared", "services": {"platform-status": "read"}}),
    )
    .await;
    let id = k["id"].as_str().unwrap();
    let secret_path = format!("/api/api-keys/{id}/secret");
    let res = app.get_bearer(&secret_path, &admin.jwt).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.json::<Value>().await.unwrap()["key"], k["key"]);

    let viewer_id = app.user_with_role("viewer@lab.example", "viewer", "default");
    let viewer = app.login("viewer@lab.example").await;
    assert_error(
        app.get_bearer(&secret_path, &viewer.jwt).await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
    let share = |uid: &str| {
        app.client
            .post(app.url(&format!("/api/api-keys/{id}/shares")))
            .bearer_auth(&admin.jwt)
            .json(&json!({"user_id": uid}))
            .send()
    };
    assert_error(
        share("00000000-0000-0000-0000-000000000000").await.unwrap(),
        404,
        "NOT_FOUND",
    )
    .await;
    assert_eq!(share(&viewer_id).await.unwrap().status(), 201);
    let got: Value = app
        .get_bearer(&secret_path, &viewer.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["key"], k["key"]);
    let res = app
        .client
        .delete(app.url(&format!("/api/api-keys/{id}/shares/{viewer_id}")))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_error(
        app.get_bearer(&secret_path, &viewer.jwt).await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
    // unsharing does not invalidate the key
    assert_eq!(
        app.client
            .get(app.url("/api/ping"))
            .bearer_auth(k["key"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let reveals = app.audit("api_key.reveal");
    assert_eq!(reveals.len(), 2);
    assert!(
        !reveals
            .iter()
            .any(|r| r.to_string().contains(k["key"].as_str().unwrap()))
    );
    assert_eq!(app.audit("api_key.share").len(), 1);
    assert_eq!(app.audit("api_key.unshare").len(), 1);
}

#[tokio::test]
async fn api_key_subnets_follow_the_client_ip_through_trusted_proxies() {
    let app = spawn_with(|c| c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]).await;
    let admin = app.admin().await;
    let k = create_key(&app, &admin.jwt, json!({"name": "net", "services": {"audit": "read"}, "allowed_subnets": ["10.20.0.0/16", "2001:db8::/32"]})).await;
    let key = k["key"].as_str().unwrap();
    let ping = |xff: Option<&str>| {
        let mut r = app.client.get(app.url("/api/ping")).bearer_auth(key);
        if let Some(x) = xff {
            r = r.header("x-forwarded-for", x);
        }
        r.send()
    };
    assert_error(ping(None).await.unwrap(), 403, "SOURCE_IP_NOT_ALLOWED").await;
    assert_eq!(ping(Some("10.20.3.4")).await.unwrap().status(), 200);
    assert_eq!(ping(Some("2001:db8::7")).await.unwrap().status(), 200);
    assert_error(
        ping(Some("10.21.0.1")).await.unwrap(),
        403,
        "SOURCE_IP_NOT_ALLOWED",
    )
    .await;
    // the rightmost untrusted hop counts: a spoofed left-most entry changes nothing
    assert_error(
        ping(Some("10.20.3.4, 192.0.2.9")).await.unwrap(),
        403,
        "SOURCE_IP_NOT_ALLOWED",
    )
    .await;
    assert_eq!(
        ping(Some("192.0.2.9, 10.20.3.4")).await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_untrusted_peers() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let k = create_key(
        &app,
        &admin.jwt,
        json!({"name": "net", "services": {"audit": "read"}, "allowed_subnets": ["10.20.0.0/16"]}),
    )
    .await;
    let res = app
        .client
        .get(app.url("/api/ping"))
        .bearer_auth(k["key"].as_str().unwrap())
        .header("x-forwarded-for", "10.20.3.4")
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "SOURCE_IP_NOT_ALLOWED").await;
}

#[tokio::test]
async fn cors_for_api_keys() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let k = create_key(&app, &admin.jwt, json!({"name": "web", "services": {"audit": "read"}, "allowed_origins": ["https://soc.lab"]})).await;
    let key = k["key"].as_str().unwrap();
    let preflight = |origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/admin/audit"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let res = preflight("https://soc.lab").await.unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://soc.lab"
    );
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    assert!(
        res.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("X-API-Key")
    );
    assert!(
        res.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
    let res = preflight("https://evil.lab").await.unwrap();
    assert!(
        res.headers()
            .keys()
            .all(|h| !h.as_str().starts_with("access-control-allow")),
        "{:?}",
        res.headers()
    );

    let res = app
        .client
        .get(app.url("/api/admin/audit"))
        .bearer_auth(key)
        .header("origin", "https://soc.lab")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://soc.lab"
    );
    let res = app
        .client
        .get(app.url("/api/admin/audit"))
        .bearer_auth(key)
        .header("origin", "https://evil.lab")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert_error(res, 403, "ORIGIN_NOT_ALLOWED").await;
    // after the key is deleted its origin is no longer answered
    app.client
        .delete(app.url(&format!("/api/api-keys/{}", k["id"].as_str().unwrap())))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    let res = preflight("https://soc.lab").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

const GLOBAL: &str = "legacy-global-key-0123456789abcdef";

#[tokio::test]
async fn global_key_acts_as_its_role_in_default_and_is_audited() {
    let app = spawn_with(|c| {
        c.global_api_key = Some(GLOBAL.into());
        c.global_api_key_role = "analyst".into();
    })
    .await;
    let health: Value = app
        .client
        .get(app.url("/api/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["global_api_key"], "enabled");
    let res = app
        .client
        .get(app.url("/api/auth/me"))
        .header("x-api-key", GLOBAL)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["auth_method"], "global_key");
    assert_eq!(me["id"], "global-key");
    assert!(me["email"].is_null());
    assert_eq!(me["capabilities"], json!(["audit.read"]));
    assert_eq!(me["tenantSlug"], "default");
    assert_eq!(
        app.client
            .get(app.url("/api/admin/audit"))
            .header("x-api-key", GLOBAL)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let uses = app.audit("global_key.use");
    assert_eq!(uses.len(), 2);
    assert!(!uses[0].to_string().contains(GLOBAL));
    let res = app
        .client
        .get(app.url("/api/ping"))
        .header("x-api-key", format!("{GLOBAL}x"))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "INVALID_TOKEN").await;
}

#[tokio::test]
async fn global_key_is_always_viewer_in_production() {
    let app = spawn_with(|c| {
        c.global_api_key = Some(GLOBAL.into());
        c.global_api_key_role = "admin".into();
        c.environment = labgate::config::Environment::Production;
    })
    .await;
    let me: Value = app
        .client
        .get(app.url("/api/auth/me"))
        .header("x-api-key", GLOBAL)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["capabilities"], json!([]));
    let res = app
        .client
        .get(app.url("/api/admin/audit"))
        .header("x-api-key", GLOBAL)
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "MISSING_CAPABILITY").await;
}

const MASTER: &str = "master-key-for-tests-0123456789abcdef";

fn break_glass(c: &mut labgate::config::Config) {
    c.break_glass_enabled = true;
    c.master_key = Some(MASTER.into());
}

#[tokio::test]
async fn master_key_acts_in_one_named_tenant_with_exactly_its_capabilities() {
    let app = spawn_with(break_glass).await;
    let req = |tenant: Option<&str>| {
        let mut r = app
            .client
            .get(app.url("/api/auth/me"))
            .header("x-master-key", MASTER)
            .header("x-break-glass-reason", "incident 42: admin locked out");
        if let Some(t) = tenant {
            r = r.header("x-tenant-id", t);
        }
        r.send()
    };
    let b = assert_error(req(None).await.unwrap(), 400, "VALIDATION_ERROR").await;
    assert_eq!(b["details"][0]["field"], "X-Tenant-ID");
    let res = req(Some("default")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("ratelimit-limit"));
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["auth_method"], "master");
    assert_eq!(me["id"], "master");
    assert_eq!(
        me["capabilities"],
        json!(["admin.users", "admin.settings", "audit.read"])
    );
    let res = app
        .client
        .get(app.url("/api/api-keys"))
        .header("x-master-key", MASTER)
        .header("x-tenant-id", "default")
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    let res = app
        .client
        .get(app.url("/api/ping"))
        .header("x-master-key", "wrong-master-key-0123456789abcdefxx")
        .header("x-tenant-id", "default")
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "INVALID_TOKEN").await;

    let uses = app.audit("breakglass.use");
    assert_eq!(uses.len(), 4);
    let ok = uses
        .iter()
        .find(|u| u["outcome"] == "success" && u["details"]["route"] == "GET /api/auth/me")
        .unwrap();
    assert_eq!(ok["details"]["reason"], "incident 42: admin locked out");
    assert_eq!(ok["details"]["route"], "GET /api/auth/me");
    assert!(uses.iter().all(|u| !u.to_string().contains(MASTER)));
    let n: i64 = app.value("SELECT COUNT(*) FROM events WHERE type = 'breakglass.used'");
    assert_eq!(n, 4);
}

#[tokio::test]
async fn master_key_is_limited_to_ten_a_minute_counting_failures() {
    let (app, _clock) = spawn_in_window(60, break_glass).await;
    for i in 0..10 {
        let key = if i % 2 == 0 {
            MASTER
        } else {
            "bad-master-key-0123456789abcdefghijkl"
        };
        let res = app
            .client
            .get(app.url("/api/ping"))
            .header("x-master-key", key)
            .header("x-tenant-id", "default")
            .send()
            .await
            .unwrap();
        assert_ne!(res.status(), 429, "request {i}");
    }
    let res = app
        .client
        .get(app.url("/api/ping"))
        .header("x-master-key", MASTER)
        .header("x-tenant-id", "default")
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.headers()["ratelimit-remaining"], "0");
    assert_error(res, 429, "RATE_LIMITED").await;
}

#[tokio::test]
async fn master_key_needs_a_reason_in_production_and_expires() {
    let (app, clock) = spawn_with_clock(|c| {
        break_glass(c);
        c.environment = labgate::config::Environment::Production;
        c.break_glass_ttl = std::time::Duration::from_secs(60);
    })
    .await;
    let res = app
        .client
        .get(app.url("/api/ping"))
        .header("x-master-key", MASTER)
        .header("x-tenant-id", "default")
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "BREAK_GLASS_REASON_REQUIRED").await;
    let res = app
        .client
        .get(app.url("/api/ping"))
        .header("x-master-key", MASTER)
        .header("x-tenant-id", "default")
        .header("x-break-glass-reason", "short")
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "BREAK_GLASS_REASON_REQUIRED").await;
    let ok = app
        .client
        .get(app.url("/api/ping"))
        .header("x-master-key", MASTER)
        .header("x-tenant-id", "default")
        .header("x-break-glass-reason", "restoring admin access")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // The window is counted on the clock from the start.
    clock.advance(std::time::Duration::from_secs(61));
    let res = app
        .client
        .get(app.url("/api/ping"))
        .header("x-master-key", MASTER)
        .header("x-tenant-id", "default")
        .header("x-break-glass-reason", "restoring admin access")
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "TOKEN_EXPIRED").await;
}

#[tokio::test]
async fn master_key_header_is_refused_and_audited_while_break_glass_is_off() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/ping"))
        .header("x-master-key", MASTER)
        .header("x-tenant-id", "default")
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "INVALID_TOKEN").await;
    let uses = app.audit("breakglass.use");
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0]["outcome"], "denied");
}

#[tokio::test]
async fn dispatch_token_is_refused_outside_its_route() {
    let token = "dispatch-token-0123456789abcdefghijklmnop";
    let app = spawn_with(|c| c.noise_dispatch_token = Some(token.into())).await;
    assert_error(
        app.get_bearer("/api/ping", token).await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    assert_error(
        app.get_bearer("/api/auth/me", token).await,
        401,
        "INVALID_TOKEN",
    )
    .await;
}

#[tokio::test]
async fn api_key_expiry_checksum_and_tenant_rules() {
    let app = spawn_app().await;
    app.tenant("red");
    let admin = app.admin().await;
    let k = create_key(&app, &admin.jwt, json!({"name": "short", "services": {"audit": "read"}, "expires_at": "2099-01-01T00:00:00Z"})).await;
    let key = k["key"].as_str().unwrap().to_string();
    assert_eq!(k["expires_at"], "2099-01-01T00:00:00Z");
    assert_eq!(app.get_bearer("/api/ping", &key).await.status(), 200);
    let mut typo = key.clone();
    typo.replace_range(12..13, if &key[12..13] == "x" { "y" } else { "x" });
    assert_error(
        app.get_bearer("/api/ping", &typo).await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    app.sql("UPDATE api_keys SET expires_at = '2020-01-01T00:00:00Z'");
    app.state.app.changed_outside();
    assert_error(
        app.get_bearer("/api/ping", &key).await,
        401,
        "TOKEN_EXPIRED",
    )
    .await;
    // a PAT acts in its own tenant only; naming another needs admin rights there
    let t: Value = app
        .send_json(
            reqwest::Method::POST,
            "/api/tokens",
            &admin.jwt,
            json!({"name": "p", "expires_in": "30d"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .client
        .get(app.url("/api/auth/me"))
        .header(
            "authorization",
            format!("token {}", t["token"].as_str().unwrap()),
        )
        .header("x-tenant-id", "red")
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "TENANT_FORBIDDEN").await;
}

#[tokio::test]
async fn last_use_is_recorded_without_a_write_per_request() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let t: Value = app
        .send_json(
            reqwest::Method::POST,
            "/api/tokens",
            &admin.jwt,
            json!({"name": "p", "expires_in": "30d"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let pat = format!("token {}", t["token"].as_str().unwrap());
    for _ in 0..20 {
        assert_eq!(
            app.client
                .get(app.url("/api/ping"))
                .header("authorization", &pat)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let mut seen = Value::Null;
    for _ in 0..50 {
        let list: Value = app
            .get_bearer("/api/tokens", &admin.jwt)
            .await
            .json()
            .await
            .unwrap();
        seen = list["data"][0].clone();
        if seen["last_used_at"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen["last_used_at"].is_string(), "{seen}");
    assert!(seen["last_used_ip"].as_str().unwrap().starts_with("127."));
    // one write for twenty uses: the second use within the minute changed nothing
    let at: String = app.value("SELECT last_used_at FROM personal_tokens");
    assert_eq!(at, seen["last_used_at"].as_str().unwrap());
}

#[tokio::test]
async fn a_disabled_api_keys_module_refuses_the_tenants_keys() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let k = create_key(
        &app,
        &admin.jwt,
        json!({"name": "siem", "services": {"audit": "read"}}),
    )
    .await;
    let key = k["key"].as_str().unwrap().to_string();
    assert_eq!(app.get_bearer("/api/admin/audit", &key).await.status(), 200);
    app.send_json(
        reqwest::Method::PUT,
        "/api/admin/settings",
        &admin.jwt,
        json!({"features": {"api_keys": false}}),
    )
    .await;
    let b = assert_error(
        app.get_bearer("/api/admin/audit", &key).await,
        403,
        "MODULE_DISABLED",
    )
    .await;
    assert_eq!(b["moduleId"], "api_keys");
    // the admin's own session is not a key: it still reads the log
    assert_eq!(
        app.get_bearer("/api/admin/audit", &admin.jwt)
            .await
            .status(),
        200
    );
}
