//! Sign-in rules that hold under concurrency and from refused addresses (SPEC §5, §8).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn concurrent_correct_logins_never_lock_an_account() {
    let app = spawn_app().await;
    app.user_with_role("busy@lab.example", "viewer", "default");
    let logins = (0..8).map(|_| app.login_raw("busy@lab.example", PASSWORD));
    let answers = futures_util::future::join_all(logins).await;
    for res in answers {
        assert_eq!(res.status(), 200);
    }
    assert!(app.audit("account.locked").is_empty());
    assert_eq!(
        app.login_raw("busy@lab.example", PASSWORD).await.status(),
        200
    );
}

#[tokio::test]
async fn concurrent_wrong_guesses_cannot_slip_past_the_lockout() {
    let app = spawn_app().await;
    app.user_with_role("target@lab.example", "viewer", "default");
    let guesses = (0..12).map(|_| app.login_raw("target@lab.example", "wrong password 1234"));
    let answers = futures_util::future::join_all(guesses).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    // five are checked, every later one meets the lock
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 423).count(),
        7,
        "{statuses:?}"
    );
    assert_error(
        app.login_raw("target@lab.example", PASSWORD).await,
        423,
        "ACCOUNT_LOCKED",
    )
    .await;
}

#[tokio::test]
async fn a_blocked_address_cannot_sign_in_or_refresh() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.user_with_role("analyst@lab.example", "analyst", "default");
    let before = app.login("analyst@lab.example").await;
    let res = app
        .send_json(
            Method::POST,
            "/api/admin/security/ip-blocklist",
            &admin.jwt,
            json!({"cidr": "127.66.0.0/16", "note": "quarantined lab segment"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let blocked = client_from("127.66.1.1");
    let res = blocked
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "analyst@lab.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "SOURCE_IP_NOT_ALLOWED").await;
    // the refresh token presented from there is refused and not spent
    let res = blocked
        .post(app.url("/api/auth/refresh"))
        .json(&json!({"refresh_token": before.refresh}))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "SOURCE_IP_NOT_ALLOWED").await;
    let res = app
        .post_json(
            "/api/auth/refresh",
            json!({"refresh_token": before.refresh}),
        )
        .await;
    assert_eq!(res.status(), 200, "the token was not spent by the refusal");
    // a wrong password from there gets the same answer: the address learns nothing of it
    let res = blocked
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "analyst@lab.example", "password": "not the password!"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "SOURCE_IP_NOT_ALLOWED").await;
    let denied = app.audit("auth.login");
    assert!(
        denied
            .iter()
            .any(|r| r["details"]["reason"] == "source_ip_not_allowed" && r["ip"] == "127.66.1.1"),
        "{denied:?}"
    );
    // from elsewhere, signing in works
    assert_eq!(
        app.login_raw("analyst@lab.example", PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn an_allow_list_keeps_sign_ins_to_its_networks_including_the_mfa_step() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let uid = app.user_with_role("mfa@lab.example", "viewer", "default");
    // enrol MFA for the user straight in the store, as a finished enrolment leaves it
    let secret = b"12345678901234567890";
    {
        let enc = app.state.data_key.encrypt(secret);
        app.db(|conn| {
            conn.execute(
                "UPDATE users SET totp_secret = ?1 WHERE id = ?2",
                labgate::params![enc, uid],
            )
            .unwrap()
        });
    }
    let first = app.login_raw("mfa@lab.example", PASSWORD).await;
    let step: Value = first.json().await.unwrap();
    let mfa_token = step["mfa_token"].as_str().unwrap().to_string();
    // the admin allows only 127.55.0.0/16 (and its own address, so it is not shut out)
    for cidr in ["127.0.0.1/32", "127.55.0.0/16"] {
        let res = app
            .send_json(
                Method::POST,
                "/api/admin/security/ip-allowlist",
                &admin.jwt,
                json!({"cidr": cidr}),
            )
            .await;
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
    }
    let now = chrono::Utc::now().timestamp() as u64;
    let code = labgate::domain::totp::code_at(secret, now);
    let outside = client_from("127.44.0.9");
    let res = outside
        .post(app.url("/api/auth/mfa/validate"))
        .json(&json!({"mfa_token": mfa_token, "code": code}))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "SOURCE_IP_NOT_ALLOWED").await;
    let inside = client_from("127.55.0.9");
    let res = inside
        .post(app.url("/api/auth/mfa/validate"))
        .json(&json!({"mfa_token": mfa_token, "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "the step token was not spent by the refusal"
    );
}

#[tokio::test]
async fn refresh_takes_the_cookie_with_an_empty_object_body() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = app
        .client
        .post(app.url("/api/auth/refresh"))
        .header("cookie", format!("labgate_refresh={}", admin.refresh))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let b: Value = res.json().await.unwrap();
    assert!(b["refresh_token"].as_str().unwrap().starts_with("lgr_"));
    assert_ne!(b["refresh_token"], admin.refresh.as_str());
}

#[tokio::test]
async fn correct_passwords_of_an_mfa_user_never_lock_the_second_step() {
    let app = spawn_app().await;
    let uid = app.user_with_role("two@lab.example", "viewer", "default");
    let secret = b"12345678901234567890";
    {
        let enc = app.state.data_key.encrypt(secret);
        app.db(|conn| {
            conn.execute(
                "UPDATE users SET totp_secret = ?1 WHERE id = ?2",
                labgate::params![enc, uid],
            )
            .unwrap()
        });
    }
    // four wrong guesses by someone else, then the user's own correct passwords, at once
    for _ in 0..4 {
        assert_eq!(
            app.login_raw("two@lab.example", "wrong password 1234")
                .await
                .status(),
            401
        );
    }
    let firsts =
        futures_util::future::join_all((0..3).map(|_| app.login_raw("two@lab.example", PASSWORD)))
            .await;
    let mut tokens = vec![];
    for r in firsts {
        assert_eq!(r.status(), 200);
        tokens.push(
            r.json::<Value>().await.unwrap()["mfa_token"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let now = chrono::Utc::now().timestamp() as u64;
    let code = labgate::domain::totp::code_at(secret, now);
    let res = app
        .post_json(
            "/api/auth/mfa/validate",
            json!({"mfa_token": tokens[0], "code": code}),
        )
        .await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    assert!(app.audit("account.locked").is_empty());
}

#[tokio::test]
async fn switching_into_a_tenant_checks_that_tenants_address_lists() {
    let app = spawn_app().await;
    app.tenant("walled");
    app.user_with_role("both@lab.example", "viewer", "default");
    app.user_with_role("both@lab.example", "admin", "walled");
    app.user_with_role("wall-admin@lab.example", "admin", "walled");
    let wall_admin = {
        let res = app
            .client
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": "wall-admin@lab.example", "password": PASSWORD, "tenant": "walled"}))
            .send()
            .await
            .unwrap();
        res.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let res = app
        .send_json(
            Method::POST,
            "/api/admin/security/ip-allowlist",
            &wall_admin,
            json!({"cidr": "127.0.0.1/32"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let outside = client_from("127.77.0.1");
    let login: Value = outside
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "both@lab.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = login["token"].as_str().unwrap();
    let res = outside
        .post(app.url("/api/auth/switch-tenant"))
        .bearer_auth(jwt)
        .json(&json!({"tenant": "walled"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "SOURCE_IP_NOT_ALLOWED").await;
    // the session it came from is still alive
    let res = outside
        .get(app.url("/api/auth/me"))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_warm_credential_is_the_same_credential_only_where_it_was_presented() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let pat: Value = app
        .send_json(
            Method::POST,
            "/api/tokens",
            &admin.jwt,
            json!({"name": "t", "expires_in": "30d"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let pat = pat["token"].as_str().unwrap().to_string();
    let ping =
        |h: (&'static str, String)| app.client.get(app.url("/api/ping")).header(h.0, h.1).send();
    // warm the token where it belongs
    assert_eq!(
        ping(("authorization", format!("token {pat}")))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        ping(("authorization", format!("token {pat}")))
            .await
            .unwrap()
            .status(),
        200
    );
    // the same value elsewhere is what it would be cold
    assert_error(
        ping(("authorization", format!("Bearer {pat}")))
            .await
            .unwrap(),
        401,
        "INVALID_TOKEN",
    )
    .await;
    // a JWT is no session cookie, warm or not
    assert_eq!(app.get_bearer("/api/ping", &admin.jwt).await.status(), 200);
    let res = ping(("cookie", format!("labgate_session={}", admin.jwt)))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
