//! Access tokens: independent verification against the JWKS, and every forgery refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{Value, json};

use crate::helpers::*;

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn parts(jwt: &str) -> (Value, Value, Vec<u8>) {
    let p: Vec<&str> = jwt.split('.').collect();
    let h = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p[0]).unwrap()).unwrap();
    let c = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p[1]).unwrap()).unwrap();
    (h, c, URL_SAFE_NO_PAD.decode(p[2]).unwrap())
}

#[tokio::test]
async fn access_token_verifies_with_the_published_key_alone() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = app
        .client
        .get(app.url("/api/auth/public-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let jwks: Value = res.json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(key["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let vk = VerifyingKey::from_bytes(&x).unwrap();

    let (header, claims, sig) = parts(&admin.jwt);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], key["kid"]);
    let signed = admin.jwt.rsplit_once('.').unwrap().0;
    vk.verify(signed.as_bytes(), &Signature::from_slice(&sig).unwrap())
        .expect("signature verifies independently");

    assert_eq!(claims["aud"], "labgate");
    assert_eq!(claims["iss"], "http://127.0.0.1");
    assert_eq!(claims["sub"], admin.body["user"]["id"]);
    assert_eq!(claims["tid"], admin.body["user"]["tenantId"]);
    assert!(claims["sid"].is_string());
    assert_eq!(claims["amr"], json!(["pwd"]));
    let (iat, nbf, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["nbf"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(nbf <= iat + 1 && exp - iat == 900);
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (header, claims, _) = parts(&admin.jwt);
    let (h64, c64) = {
        let p: Vec<&str> = admin.jwt.split('.').collect();
        (p[0].to_string(), p[1].to_string())
    };

    // alg none, with and without a signature part
    let none = json!({"alg": "none", "typ": "JWT"});
    for t in [
        format!("{}.{}.", b64(&none), c64),
        format!("{}.{}.{}", b64(&none), c64, "AAAA"),
    ] {
        let res = app.get_bearer("/api/ping", &t).await;
        assert_error(res, 401, "INVALID_TOKEN").await;
    }

    // tampered claims with the original signature
    let mut evil = claims.clone();
    evil["sub"] = json!("00000000-0000-0000-0000-000000000000");
    let sig = admin.jwt.rsplit('.').next().unwrap();
    let res = app
        .get_bearer("/api/ping", &format!("{h64}.{}.{sig}", b64(&evil)))
        .await;
    assert_error(res, 401, "INVALID_TOKEN").await;

    // tampered signature
    let mut bad = admin.jwt.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'A' { 'B' } else { 'A' });
    assert_error(
        app.get_bearer("/api/ping", &bad).await,
        401,
        "INVALID_TOKEN",
    )
    .await;

    // HS256 signed with the public key as the HMAC secret (the classic confusion attack)
    let jwks: Value = app
        .client
        .get(app.url("/api/auth/public-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let x = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = header["kid"].as_str().map(str::to_string);
    for secret in [
        x.clone(),
        jwks["keys"][0]["x"].as_str().unwrap().as_bytes().to_vec(),
    ] {
        let forged = jsonwebtoken::encode(
            &hs,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert_error(
            app.get_bearer("/api/ping", &forged).await,
            401,
            "INVALID_TOKEN",
        )
        .await;
    }

    // the genuine token still works
    assert_eq!(app.get_bearer("/api/ping", &admin.jwt).await.status(), 200);
}

/// Signs claims with the server's own key (to make tokens the login route would never issue).
fn sign(app: &TestApp, claims: &Value) -> String {
    let c: labgate::domain::jwt::Claims = serde_json::from_value(claims.clone()).unwrap();
    app.state.keys.get().sign(&c)
}

#[tokio::test]
async fn expired_not_yet_valid_and_foreign_tokens_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (_, claims, _) = parts(&admin.jwt);
    let now = chrono::Utc::now().timestamp();

    let mut expired = claims.clone();
    expired["exp"] = json!(now - 31);
    assert_error(
        app.get_bearer("/api/ping", &sign(&app, &expired)).await,
        401,
        "TOKEN_EXPIRED",
    )
    .await;
    // within the 30 s leeway it still works
    let mut recent = claims.clone();
    recent["exp"] = json!(now - 5);
    assert_eq!(
        app.get_bearer("/api/ping", &sign(&app, &recent))
            .await
            .status(),
        200
    );

    let mut future = claims.clone();
    future["nbf"] = json!(now + 120);
    assert_error(
        app.get_bearer("/api/ping", &sign(&app, &future)).await,
        401,
        "INVALID_TOKEN",
    )
    .await;

    let mut iss = claims.clone();
    iss["iss"] = json!("http://evil.example");
    assert_error(
        app.get_bearer("/api/ping", &sign(&app, &iss)).await,
        401,
        "INVALID_TOKEN",
    )
    .await;

    let mut aud = claims.clone();
    aud["aud"] = json!("other-service");
    assert_error(
        app.get_bearer("/api/ping", &sign(&app, &aud)).await,
        401,
        "INVALID_TOKEN",
    )
    .await;

    // a validly signed token for a session that does not exist
    let mut sid = claims.clone();
    sid["sid"] = json!(uuid::Uuid::new_v4().to_string());
    assert_error(
        app.get_bearer("/api/ping", &sign(&app, &sid)).await,
        401,
        "INVALID_TOKEN",
    )
    .await;

    // a validly signed token naming another user than its session's
    let mut sub = claims.clone();
    sub["sub"] = json!(uuid::Uuid::new_v4().to_string());
    assert_error(
        app.get_bearer("/api/ping", &sign(&app, &sub)).await,
        401,
        "INVALID_TOKEN",
    )
    .await;
}

#[tokio::test]
async fn short_lived_access_tokens_expire() {
    let app = spawn_with(|c| c.jwt_ttl = std::time::Duration::from_secs(1)).await;
    let admin = app.admin().await;
    assert_eq!(admin.body["expires_in"], 1);
    assert_eq!(app.get_bearer("/api/ping", &admin.jwt).await.status(), 200);
    let (_, claims, _) = parts(&admin.jwt);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        1
    );
}

#[tokio::test]
async fn an_expired_token_is_refused_under_its_users_name_each_time() {
    let (app, _clock) = spawn_in_window(60, |_| {}).await;
    let admin = app.admin().await;
    let (_, claims, _) = parts(&admin.jwt);
    let mut expired = claims.clone();
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    let token = sign(&app, &expired);
    for _ in 0..4 {
        assert_error(
            app.get_bearer("/api/ping", &token).await,
            401,
            "TOKEN_EXPIRED",
        )
        .await;
    }
    // named, so not folded: each refusal is a whole record with its route and request id
    let refused = app.audit("auth.credential_refused");
    assert_eq!(refused.len(), 4);
    for r in &refused {
        assert_eq!(r["actor_type"], "user");
        assert_eq!(r["actor_id"], claims["sub"]);
        assert_eq!(r["tenant_id"], claims["tid"]);
        assert_eq!(r["target"], "GET /api/ping");
        assert_eq!(r["details"]["code"], "TOKEN_EXPIRED");
    }
    labgate::http::middleware::flush_folds(&app.state, true).await;
    assert_eq!(
        app.audit("auth.credential_refused").len(),
        4,
        "nothing was counted"
    );
}
