//! Sign-in rules that hold under concurrency and from refused addresses (SPEC §5, §8).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

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
    // a wrong password from the blocked address is still just a wrong password
    let res = blocked
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "analyst@lab.example", "password": "not the password!"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "INVALID_CREDENTIALS").await;
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
        let conn = app.state.pool.get().unwrap();
        conn.execute(
            "UPDATE users SET totp_secret = ?1 WHERE id = ?2",
            rusqlite::params![enc, uid],
        )
        .unwrap();
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
