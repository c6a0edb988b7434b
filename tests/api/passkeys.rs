//! Passkeys (SPEC §16.1) through the API, with a software authenticator: a real P-256 key,
//! authenticator data and CBOR as a platform authenticator writes them, `none` attestation,
//! and client data as a browser writes it. Every refusal is tried, and its audit record read.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

/// The public URL the passkey tests' servers name: a host name (WebAuthn takes no address).
const ORIGIN: &str = "http://localhost:8443";

async fn passkey_app() -> TestApp {
    spawn_with(|c| c.public_url = ORIGIN.into()).await
}

/// A platform authenticator holding one credential.
pub struct Authenticator {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    pub cred_id: Vec<u8>,
    pub counter: u32,
    /// What the authenticator stored at registration (the user handle it answers with).
    pub user_handle: Vec<u8>,
    /// The origin the "browser" writes in the client data.
    pub origin: String,
    /// User verification performed (the UV flag).
    pub verified: bool,
}

impl Authenticator {
    pub fn new() -> Authenticator {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        Authenticator {
            key,
            rng,
            cred_id: uuid::Uuid::new_v4().as_bytes().to_vec(),
            counter: 0,
            user_handle: vec![],
            origin: ORIGIN.into(),
            verified: true,
        }
    }

    fn flags(&self, extra: u8) -> u8 {
        0x01 | if self.verified { 0x04 } else { 0 } | extra
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        json!({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    /// `navigator.credentials.create(...)` then `toJSON()`, for the `{publicKey}` options.
    pub fn register(&mut self, options: &Value) -> Value {
        let pk = &options["publicKey"];
        let rp_id = pk["rp"]["id"].as_str().unwrap();
        self.user_handle = B64.decode(pk["user"]["id"].as_str().unwrap()).unwrap();
        let point = self.key.public_key().as_ref();
        let cose = Cbor::Map(BTreeMap::from([
            (Cbor::Integer(1), Cbor::Integer(2)),
            (Cbor::Integer(3), Cbor::Integer(-7)),
            (Cbor::Integer(-1), Cbor::Integer(1)),
            (Cbor::Integer(-2), Cbor::Bytes(point[1..33].to_vec())),
            (Cbor::Integer(-3), Cbor::Bytes(point[33..65].to_vec())),
        ]));
        let mut auth = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth.push(self.flags(0x40));
        auth.extend(self.counter.to_be_bytes());
        auth.extend([0u8; 16]);
        auth.extend((self.cred_id.len() as u16).to_be_bytes());
        auth.extend(&self.cred_id);
        auth.extend(serde_cbor_2::to_vec(&cose).unwrap());
        let att = Cbor::Map(BTreeMap::from([
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(BTreeMap::new())),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth)),
        ]));
        let challenge = pk["challenge"].as_str().unwrap();
        json!({
            "id": B64.encode(&self.cred_id),
            "rawId": B64.encode(&self.cred_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(self.client_data("webauthn.create", challenge)),
                "attestationObject": B64.encode(serde_cbor_2::to_vec(&att).unwrap()),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }

    /// `navigator.credentials.get(...)` then `toJSON()`: the counter goes up by one first.
    pub fn assert(&mut self, options: &Value) -> Value {
        self.counter += 1;
        self.assert_with_counter(options, self.counter)
    }

    pub fn assert_with_counter(&self, options: &Value, counter: u32) -> Value {
        let pk = &options["publicKey"];
        let rp_id = pk["rpId"].as_str().unwrap();
        let mut auth = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth.push(self.flags(0));
        auth.extend(counter.to_be_bytes());
        let client = self.client_data("webauthn.get", pk["challenge"].as_str().unwrap());
        let mut signed = auth.clone();
        signed.extend(Sha256::digest(&client));
        let sig = self.key.sign(&self.rng, &signed).unwrap();
        json!({
            "id": B64.encode(&self.cred_id),
            "rawId": B64.encode(&self.cred_id),
            "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(&auth),
                "clientDataJSON": B64.encode(&client),
                "signature": B64.encode(sig.as_ref()),
                "userHandle": B64.encode(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    jwt: &str,
    body: Value,
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    app.send_json(method, path, jwt, body).await
}

/// The authenticator code of now, computed with totp-rs directly.
pub(crate) fn totp_now(secret_b32: &str) -> String {
    totp_at(secret_b32, 0)
}

/// The authenticator code `steps` 30-second steps from now (the server takes one either side).
pub(crate) fn totp_at(secret_b32: &str, steps: i64) -> String {
    let secret = totp_rs::Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .unwrap();
    let t =
        totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, secret, None, "t".into());
    t.generate((chrono::Utc::now().timestamp() + steps * 30) as u64)
}

/// Registers a passkey for the signed-in user; answers the 201 body.
async fn register(app: &TestApp, who: &Login, auth: &mut Authenticator, name: &str) -> Value {
    let start = send(
        app,
        "POST",
        "/api/auth/passkeys/register/start",
        &who.jwt,
        json!({"name": name}),
    )
    .await;
    assert_eq!(start.status(), 200);
    let options: Value = start.json().await.unwrap();
    let res = send(
        app,
        "POST",
        "/api/auth/passkeys/register/finish",
        &who.jwt,
        auth.register(&options),
    )
    .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// `POST /api/auth/passkeys/login/start` from a fresh address, answered as it came.
async fn login_start_raw(app: &TestApp, body: Value) -> reqwest::Response {
    app.client_on_fresh_ip()
        .post(app.url("/api/auth/passkeys/login/start"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn login_start(app: &TestApp, body: Value) -> Value {
    let res = login_start_raw(app, body).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn login_finish(app: &TestApp, challenge: &Value, credential: Value) -> reqwest::Response {
    app.client_on_fresh_ip()
        .post(app.url("/api/auth/passkeys/login/finish"))
        .json(&json!({"challenge_id": challenge["challenge_id"], "credential": credential}))
        .send()
        .await
        .unwrap()
}

/// The newest failed passkey sign-in's reason.
fn last_refusal(app: &TestApp) -> Value {
    app.audit("auth.login")
        .into_iter()
        .find(|r| r["outcome"] != "success" && r["details"]["method"] == "passkey")
        .expect("a refused passkey sign-in is audited")
}

#[tokio::test]
async fn register_list_sign_in_without_password_and_remove() {
    let app = passkey_app().await;
    let email = "pk-owner@lab.example";
    let uid = app.user_with_role(email, "admin", "default");
    let who = app.login(email).await;
    let mut auth = Authenticator::new();

    let start = send(
        &app,
        "POST",
        "/api/auth/passkeys/register/start",
        &who.jwt,
        json!({"name": "laptop"}),
    )
    .await;
    assert_eq!(start.status(), 200);
    assert_eq!(start.headers()["cache-control"], "no-store");
    let options: Value = start.json().await.unwrap();
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost");
    assert_eq!(pk["user"]["name"], email);
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "preferred");
    // The user handle is not the account id: nothing about the account is written to the device.
    let handle = B64.decode(pk["user"]["id"].as_str().unwrap()).unwrap();
    assert_ne!(
        handle,
        uuid::Uuid::parse_str(&uid).unwrap().as_bytes().to_vec()
    );
    assert!(B64.decode(pk["challenge"].as_str().unwrap()).unwrap().len() >= 16);

    let res = send(
        &app,
        "POST",
        "/api/auth/passkeys/register/finish",
        &who.jwt,
        auth.register(&options),
    )
    .await;
    assert_eq!(res.status(), 201);
    let made: Value = res.json().await.unwrap();
    assert_eq!(made["name"], "laptop");
    let id = made["id"].as_str().unwrap().to_string();
    assert!(made["created_at"].is_string());
    let rec = &app.audit("passkey.register")[0];
    assert_eq!(rec["outcome"], "success");
    assert_eq!(rec["target"], format!("passkey:{id}"));
    assert_eq!(rec["details"]["name"], "laptop");

    let list: Value = app
        .get_bearer("/api/auth/passkeys", &who.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["meta"]["total"], 1);
    assert_eq!(list["data"][0]["id"], id.as_str());
    assert_eq!(list["data"][0]["last_used_at"], Value::Null);
    assert!(list["data"][0].get("credential").is_none());

    // Passwordless: no email typed, the discoverable passkey names its account.
    let ch = login_start(&app, json!({})).await;
    assert_eq!(ch["publicKey"]["rpId"], "localhost");
    assert_eq!(ch["publicKey"]["userVerification"], "required");
    assert!(ch.get("mediation").is_none());
    let res = login_finish(&app, &ch, auth.assert(&ch)).await;
    assert_eq!(res.status(), 200);
    assert!(cookie_value(res.headers(), "labgate_session").is_some());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["email"], email);
    let me: Value = app
        .get_bearer("/api/auth/me", body["token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["user"]["id"].as_str().or(me["id"].as_str()),
        Some(uid.as_str())
    );
    let ok = app
        .audit("auth.login")
        .into_iter()
        .find(|r| r["outcome"] == "success")
        .unwrap();
    assert_eq!(ok["details"]["amr"], json!(["hwk"]));
    assert_eq!(ok["actor_id"], uid.as_str());

    // With the email typed: the ceremony is bound to that account, and lists no credentials
    // (an answer tells nothing of which passkeys an account holds).
    let ch = login_start(&app, json!({"email": email})).await;
    assert_eq!(ch["publicKey"]["allowCredentials"], json!([]));
    let res = login_finish(&app, &ch, auth.assert(&ch)).await;
    assert_eq!(res.status(), 200);

    // The sign counter and the last use are kept.
    let list: Value = app
        .get_bearer("/api/auth/passkeys", &who.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert!(list["data"][0]["last_used_at"].is_string());

    // Removal: the owner's own only, and the passkey signs in no more.
    let other = app.admin().await;
    let res = send(
        &app,
        "DELETE",
        &format!("/api/auth/passkeys/{id}"),
        &other.jwt,
        json!({}),
    )
    .await;
    assert_error(res, 404, "NOT_FOUND").await;
    let res = send(
        &app,
        "DELETE",
        &format!("/api/auth/passkeys/{id}"),
        &who.jwt,
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 204);
    let rec = &app.audit("passkey.delete")[0];
    assert_eq!(rec["target"], format!("passkey:{id}"));
    assert_eq!(rec["details"]["name"], "laptop");
    let list: Value = app
        .get_bearer("/api/auth/passkeys", &who.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["meta"]["total"], 0);
    let ch = login_start(&app, json!({})).await;
    let res = login_finish(&app, &ch, auth.assert(&ch)).await;
    assert_error(res, 401, "INVALID_CREDENTIALS").await;
    assert_eq!(last_refusal(&app)["details"]["reason"], "unknown_passkey");
}

#[tokio::test]
async fn passkey_as_second_factor_after_the_password() {
    let app = passkey_app().await;
    let email = "pk-second@lab.example";
    app.user_with_role(email, "admin", "default");
    let who = app.login(email).await;
    let mut auth = Authenticator::new();
    register(&app, &who, &mut auth, "key").await;

    // Holding a passkey, the password alone is only the first step.
    let res = app.login_raw(email, PASSWORD).await;
    assert_eq!(res.status(), 200);
    let step: Value = res.json().await.unwrap();
    assert_eq!(step["mfa_required"], true);
    assert!(step.get("token").is_none());
    let mfa_token = step["mfa_token"].as_str().unwrap().to_string();

    let ch = login_start(&app, json!({"mfa_token": mfa_token})).await;
    assert_eq!(
        ch["publicKey"]["allowCredentials"][0]["id"],
        B64.encode(&auth.cred_id)
    );
    let res = login_finish(&app, &ch, auth.assert(&ch)).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let rec = app
        .audit("auth.login")
        .into_iter()
        .find(|r| r["outcome"] == "success" && r["details"]["amr"].is_array())
        .unwrap();
    assert_eq!(rec["details"]["amr"], json!(["pwd", "hwk"]));

    // The MFA step was spent: it starts no second ceremony.
    let res = login_start_raw(&app, json!({"mfa_token": mfa_token})).await;
    assert_error(res, 401, "INVALID_TOKEN").await;

    // A passkey satisfies require_mfa: all (a password-only session of the same tenant does not).
    let admin = app.admin().await;
    let res = send(
        &app,
        "PUT",
        "/api/admin/settings",
        &admin.jwt,
        json!({"require_mfa": "all"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let jwt = body["token"].as_str().unwrap();
    let res = app.get_bearer("/api/sessions", jwt).await;
    assert_eq!(res.status(), 200, "a passkey session passes require_mfa");
    let res = send(
        &app,
        "POST",
        "/api/tokens",
        jwt,
        json!({"name": "ci", "expires_in": "30d"}),
    )
    .await;
    assert_eq!(
        res.status(),
        201,
        "a passkey session may create tokens under require_mfa"
    );
    let res = app.get_bearer("/api/sessions", &who.jwt).await;
    assert_error(res, 403, "MFA_REQUIRED").await;

    // A passwordless session is a second factor too.
    let ch = login_start(&app, json!({})).await;
    let res = login_finish(&app, &ch, auth.assert(&ch)).await;
    let jwt = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.get_bearer("/api/sessions", &jwt).await.status(), 200);
}

#[tokio::test]
async fn every_refused_sign_in_is_audited_and_answers_alike() {
    let (app, clock) = spawn_with_clock(|c| c.public_url = ORIGIN.into()).await;
    let email = "pk-refused@lab.example";
    let uid = app.user_with_role(email, "viewer", "default");
    let who = app.login(email).await;
    let mut auth = Authenticator::new();
    register(&app, &who, &mut auth, "key").await;

    // Five failures lock the email (tested below): the count is cleared between the tries
    // here, so each is judged on its own.

    // An unknown challenge id.
    let res = login_finish(
        &app,
        &json!({"challenge_id": uuid::Uuid::new_v4().to_string()}),
        auth.assert(&json!({"publicKey": {"rpId": "localhost", "challenge": "AAAA"}})),
    )
    .await;
    assert_error(res, 401, "INVALID_TOKEN").await;
    assert_eq!(last_refusal(&app)["details"]["reason"], "invalid_challenge");

    // A challenge answered once is spent, whatever the first answer was.
    let ch = login_start(&app, json!({})).await;
    assert_eq!(
        login_finish(&app, &ch, auth.assert(&ch)).await.status(),
        200
    );
    let res = login_finish(&app, &ch, auth.assert(&ch)).await;
    assert_error(res, 401, "INVALID_TOKEN").await;

    // Another origin (a phishing page relaying the challenge).
    let ch = login_start(&app, json!({})).await;
    auth.origin = "http://localhost.evil.example:8443".into();
    let res = login_finish(&app, &ch, auth.assert(&ch)).await;
    auth.origin = ORIGIN.into();
    assert_error(res, 401, "INVALID_CREDENTIALS").await;
    let rec = last_refusal(&app);
    assert_eq!(rec["details"]["reason"], "not_verified");
    app.sql("DELETE FROM login_failures");
    assert_eq!(rec["actor_id"], uid.as_str());
    assert_eq!(rec["details"]["email"], email);

    // No user verification.
    let ch = login_start(&app, json!({})).await;
    auth.verified = false;
    let res = login_finish(&app, &ch, auth.assert(&ch)).await;
    auth.verified = true;
    assert_error(res, 401, "INVALID_CREDENTIALS").await;
    assert_eq!(last_refusal(&app)["details"]["reason"], "not_verified");
    app.sql("DELETE FROM login_failures");

    // A sign counter that did not move forward: a cloned authenticator. (The one accepted
    // assertion so far carried 1; the refused ones were not kept.)
    let ch = login_start(&app, json!({})).await;
    let res = login_finish(&app, &ch, auth.assert_with_counter(&ch, 1)).await;
    assert_error(res, 401, "INVALID_CREDENTIALS").await;
    assert_eq!(last_refusal(&app)["details"]["reason"], "sign_counter");
    app.sql("DELETE FROM login_failures");

    // A forged signature (another key answering for the registered credential id).
    let mut forger = Authenticator::new();
    forger.cred_id = auth.cred_id.clone();
    forger.user_handle = auth.user_handle.clone();
    forger.counter = 1000;
    let ch = login_start(&app, json!({})).await;
    let res = login_finish(&app, &ch, forger.assert(&ch)).await;
    assert_error(res, 401, "INVALID_CREDENTIALS").await;
    assert_eq!(last_refusal(&app)["details"]["reason"], "not_verified");
    app.sql("DELETE FROM login_failures");

    // A credential nobody registered.
    let mut stranger = Authenticator::new();
    stranger.user_handle = auth.user_handle.clone();
    let ch = login_start(&app, json!({})).await;
    let res = login_finish(&app, &ch, stranger.assert(&ch)).await;
    assert_error(res, 401, "INVALID_CREDENTIALS").await;
    assert_eq!(last_refusal(&app)["details"]["reason"], "unknown_passkey");
    app.sql("DELETE FROM login_failures");

    // A user handle that is not the passkey owner's.
    let ch = login_start(&app, json!({})).await;
    let handle = std::mem::replace(&mut auth.user_handle, vec![7; 16]);
    let res = login_finish(&app, &ch, auth.assert(&ch)).await;
    auth.user_handle = handle;
    assert_error(res, 401, "INVALID_CREDENTIALS").await;
    assert_eq!(last_refusal(&app)["details"]["reason"], "wrong_user_handle");
    app.sql("DELETE FROM login_failures");

    // Someone else's passkey on a ceremony started for this email.
    let other_email = "pk-other@lab.example";
    app.user_with_role(other_email, "viewer", "default");
    let other = app.login(other_email).await;
    let mut theirs = Authenticator::new();
    register(&app, &other, &mut theirs, "theirs").await;
    let ch = login_start(&app, json!({"email": email})).await;
    let res = login_finish(&app, &ch, theirs.assert(&ch)).await;
    assert_error(res, 401, "INVALID_CREDENTIALS").await;
    assert_eq!(last_refusal(&app)["details"]["reason"], "unknown_passkey");
    app.sql("DELETE FROM login_failures");

    // Not an AuthenticationResponseJSON.
    let ch = login_start(&app, json!({})).await;
    let res = login_finish(&app, &ch, json!({"id": "x"})).await;
    let body = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["details"][0]["field"], "credential");
    assert_eq!(
        last_refusal(&app)["details"]["reason"],
        "malformed_credential"
    );

    // A ceremony past its five minutes.
    let ch = login_start(&app, json!({})).await;
    clock.advance(std::time::Duration::from_secs(301));
    let res = login_finish(&app, &ch, auth.assert(&ch)).await;
    assert_error(res, 401, "INVALID_TOKEN").await;
    assert_eq!(last_refusal(&app)["details"]["reason"], "invalid_challenge");

    // A disabled account's passkey signs in no more.
    app.sql(&format!(
        "UPDATE users SET status = 'disabled' WHERE id = '{uid}'"
    ));
    app.state.app.changed_outside();
    let ch = login_start(&app, json!({})).await;
    let res = login_finish(&app, &ch, auth.assert(&ch)).await;
    assert_error(res, 401, "INVALID_CREDENTIALS").await;
    assert_eq!(last_refusal(&app)["details"]["reason"], "account_disabled");
}

#[tokio::test]
async fn failed_passkey_sign_ins_count_toward_the_lockout() {
    let app = passkey_app().await;
    let email = "pk-lock@lab.example";
    app.user_with_role(email, "viewer", "default");
    let who = app.login(email).await;
    let mut auth = Authenticator::new();
    register(&app, &who, &mut auth, "key").await;
    auth.verified = false;
    for _ in 0..5 {
        let ch = login_start(&app, json!({"email": email})).await;
        let res = login_finish(&app, &ch, auth.assert(&ch)).await;
        assert_eq!(res.status(), 401);
    }
    auth.verified = true;
    let ch = login_start(&app, json!({"email": email})).await;
    let res = login_finish(&app, &ch, auth.assert(&ch)).await;
    let res_status = res.status();
    let retry = res.headers().get("retry-after").cloned();
    assert_error(res, 423, "ACCOUNT_LOCKED").await;
    assert_eq!(res_status, 423);
    assert!(retry.is_some());
    assert_eq!(last_refusal(&app)["details"]["reason"], "locked");
    assert!(!app.audit("account.locked").is_empty());
    // The password is locked out as well: one lockout for the email.
    let res = app.login_raw(email, PASSWORD).await;
    assert_error(res, 423, "ACCOUNT_LOCKED").await;
}

#[tokio::test]
async fn an_email_binds_the_ceremony_and_tells_nothing_of_the_account() {
    let app = passkey_app().await;
    let email = "pk-known@lab.example";
    app.user_with_role(email, "viewer", "default");
    let who = app.login(email).await;
    let mut auth = Authenticator::new();
    register(&app, &who, &mut auth, "key").await;

    // A known email with a passkey and an unknown one get answers of the same shape.
    let known = login_start(&app, json!({"email": email})).await;
    let unknown = login_start(&app, json!({"email": "nobody@lab.example"})).await;
    let keys = |v: &Value| {
        let mut k: Vec<String> = v["publicKey"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&known), keys(&unknown));
    assert_eq!(known["publicKey"]["allowCredentials"], json!([]));
    assert_eq!(unknown["publicKey"]["allowCredentials"], json!([]));

    // A real passkey of one account does not sign in on a ceremony started for an email no
    // account has (which would tell that the email is free).
    let res = login_finish(&app, &unknown, auth.assert(&unknown)).await;
    assert_error(res, 401, "INVALID_CREDENTIALS").await;
    let rec = last_refusal(&app);
    assert_eq!(rec["details"]["reason"], "unknown_passkey");
    assert_eq!(rec["details"]["email"], "nobody@lab.example");

    // An unknown email locks like a known one: five failures, then 423 for either.
    for _ in 0..5 {
        let res = app.login_raw("ghost@lab.example", "wrong password!!").await;
        assert_eq!(res.status(), 401);
    }
    let ch = login_start(&app, json!({"email": "ghost@lab.example"})).await;
    let res = login_finish(&app, &ch, auth.assert(&ch)).await;
    assert_error(res, 423, "ACCOUNT_LOCKED").await;

    // Overlong input is refused before anything is kept.
    let long = format!("{}@lab.example", "a".repeat(300));
    let res = login_start_raw(&app, json!({"email": long})).await;
    let body = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["details"][0]["field"], "email");
}

#[tokio::test]
async fn the_tenants_address_lists_and_the_mfa_step_bind_a_passkey_sign_in() {
    let app = passkey_app().await;
    let (a, b) = ("pk-a@lab.example", "pk-b@lab.example");
    app.user_with_role(a, "viewer", "default");
    app.user_with_role(b, "viewer", "default");
    let (la, lb) = (app.login(a).await, app.login(b).await);
    let (mut ka, mut kb) = (Authenticator::new(), Authenticator::new());
    register(&app, &la, &mut ka, "a").await;
    register(&app, &lb, &mut kb, "b").await;

    // A's password step answered with B's passkey.
    let step: Value = app.login_raw(a, PASSWORD).await.json().await.unwrap();
    let ch = login_start(&app, json!({"mfa_token": step["mfa_token"]})).await;
    let res = login_finish(&app, &ch, kb.assert(&ch)).await;
    assert_error(res, 401, "INVALID_CREDENTIALS").await;
    assert_eq!(last_refusal(&app)["details"]["reason"], "unknown_passkey");

    // A discoverable answer without a user handle is refused.
    let ch = login_start(&app, json!({})).await;
    let mut bare = ka.assert(&ch);
    bare["response"]
        .as_object_mut()
        .unwrap()
        .remove("userHandle");
    let res = login_finish(&app, &ch, bare).await;
    assert_error(res, 401, "INVALID_CREDENTIALS").await;
    assert_eq!(last_refusal(&app)["details"]["reason"], "wrong_user_handle");

    // The tenant allows only 127.0.0.1 (the admin's own address): a passkey from another
    // address is refused like a password would be.
    let admin = app.admin().await;
    let res = send(
        &app,
        "POST",
        "/api/admin/security/ip-allowlist",
        &admin.jwt,
        json!({"cidr": "127.0.0.1/32"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let ch = login_start(&app, json!({})).await;
    let res = login_finish(&app, &ch, ka.assert(&ch)).await;
    assert_error(res, 403, "SOURCE_IP_NOT_ALLOWED").await;
    let rec = last_refusal(&app);
    assert_eq!(rec["details"]["reason"], "source_ip_not_allowed");
    assert_eq!(rec["outcome"], "denied");
}

#[tokio::test]
async fn a_person_created_without_a_name_registers_under_the_email() {
    let app = passkey_app().await;
    let email = "nameless@lab.example";
    app.user_with_role(email, "viewer", "default");
    app.sql("UPDATE users SET name = '' WHERE email = 'nameless@lab.example'");
    app.state.app.changed_outside();
    let who = app.login(email).await;
    let res = send(
        &app,
        "POST",
        "/api/auth/passkeys/register/start",
        &who.jwt,
        json!({"name": "key"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let options: Value = res.json().await.unwrap();
    assert_eq!(options["publicKey"]["user"]["displayName"], email);
    let mut auth = Authenticator::new();
    let res = send(
        &app,
        "POST",
        "/api/auth/passkeys/register/finish",
        &who.jwt,
        auth.register(&options),
    )
    .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn registration_refusals() {
    let app = passkey_app().await;
    let who = app.admin().await;
    let mut auth = Authenticator::new();

    // A finish with no start.
    let res = send(&app, "POST", "/api/auth/passkeys/register/finish", &who.jwt, auth.register(&json!({"publicKey": {"rp": {"id": "localhost"}, "user": {"id": "AAAA"}, "challenge": "AAAA"}}))).await;
    assert_error(res, 409, "CONFLICT").await;
    let rec = &app.audit("passkey.register")[0];
    assert_eq!(rec["outcome"], "failure");
    assert_eq!(rec["details"]["reason"], "no_ceremony");

    // A name is required and printable.
    let res = send(
        &app,
        "POST",
        "/api/auth/passkeys/register/start",
        &who.jwt,
        json!({"name": " "}),
    )
    .await;
    assert_error(res, 400, "VALIDATION_ERROR").await;

    // An answer to another challenge (an earlier start is replaced by the newer one).
    let first: Value = send(
        &app,
        "POST",
        "/api/auth/passkeys/register/start",
        &who.jwt,
        json!({"name": "a"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let _second: Value = send(
        &app,
        "POST",
        "/api/auth/passkeys/register/start",
        &who.jwt,
        json!({"name": "b"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let res = send(
        &app,
        "POST",
        "/api/auth/passkeys/register/finish",
        &who.jwt,
        auth.register(&first),
    )
    .await;
    assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(
        app.audit("passkey.register")[0]["details"]["reason"],
        "not_verified"
    );

    // Another origin.
    let opts: Value = send(
        &app,
        "POST",
        "/api/auth/passkeys/register/start",
        &who.jwt,
        json!({"name": "a"}),
    )
    .await
    .json()
    .await
    .unwrap();
    auth.origin = "http://evil.example".into();
    let res = send(
        &app,
        "POST",
        "/api/auth/passkeys/register/finish",
        &who.jwt,
        auth.register(&opts),
    )
    .await;
    auth.origin = ORIGIN.into();
    assert_error(res, 400, "VALIDATION_ERROR").await;

    // The same authenticator credential for a second account.
    register(&app, &who, &mut auth, "mine").await;
    let other = app.admin().await;
    let opts: Value = send(
        &app,
        "POST",
        "/api/auth/passkeys/register/start",
        &other.jwt,
        json!({"name": "copy"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let res = send(
        &app,
        "POST",
        "/api/auth/passkeys/register/finish",
        &other.jwt,
        auth.register(&opts),
    )
    .await;
    assert_error(res, 409, "CONFLICT").await;
    assert_eq!(
        app.audit("passkey.register")[0]["details"]["reason"],
        "duplicate"
    );
    // ... and the exclude list told the browser so beforehand.
    let opts: Value = send(
        &app,
        "POST",
        "/api/auth/passkeys/register/start",
        &who.jwt,
        json!({"name": "again"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        opts["publicKey"]["excludeCredentials"][0]["id"],
        B64.encode(&auth.cred_id)
    );

    // Not a RegistrationResponseJSON.
    let res = send(
        &app,
        "POST",
        "/api/auth/passkeys/register/finish",
        &who.jwt,
        json!({"id": 1}),
    )
    .await;
    let body = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["details"][0]["field"], "credential");

    // Only an interactive session registers: no credential, or a personal access token, is
    // refused.
    let res = app
        .client
        .post(app.url("/api/auth/passkeys/register/start"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "NO_CREDENTIALS").await;
    let pat = app.pat(&who.jwt, "ci").await;
    let res = app
        .with_pat(
            reqwest::Method::POST,
            "/api/auth/passkeys/register/start",
            &pat,
        )
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "INTERACTIVE_SESSION_REQUIRED").await;
}

#[tokio::test]
async fn login_start_refusals() {
    let app = passkey_app().await;
    let email = "pk-start@lab.example";
    app.user_with_role(email, "viewer", "default");
    // Both forms at once.
    let res = login_start_raw(&app, json!({"email": email, "mfa_token": "lgx_x"})).await;
    assert_error(res, 400, "VALIDATION_ERROR").await;
    // An MFA step whose account has no passkey: the authenticator code is the way on.
    let admin = app.admin().await;
    let res = app
        .client_on_fresh_ip()
        .post(app.url("/api/auth/mfa/setup"))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let secret = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let code = totp_now(&secret);
    let res = send(
        &app,
        "POST",
        "/api/auth/mfa/validate",
        &admin.jwt,
        json!({"code": code}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let admin_email = admin.body["user"]["email"].as_str().unwrap().to_string();
    let step: Value = app
        .login_raw(&admin_email, PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let res = login_start_raw(&app, json!({"mfa_token": step["mfa_token"]})).await;
    assert_error(res, 409, "CONFLICT").await;
    // A forged MFA token.
    let res = login_start_raw(
        &app,
        json!({"mfa_token": "lgx_0000000000000000000000000000000000000000"}),
    )
    .await;
    assert_error(res, 401, "INVALID_TOKEN").await;
}

#[tokio::test]
async fn an_address_as_public_url_turns_passkeys_off_with_a_reason() {
    let app = spawn_with(|c| c.public_url = "http://127.0.0.1:8080".into()).await;
    let who = app.admin().await;
    let res = send(
        &app,
        "POST",
        "/api/auth/passkeys/register/start",
        &who.jwt,
        json!({"name": "x"}),
    )
    .await;
    let body = assert_error(res, 409, "CONFLICT").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("LABGATE_PUBLIC_URL")
    );
    let res = app
        .post_json("/api/auth/passkeys/login/start", json!({}))
        .await;
    assert_error(res, 409, "CONFLICT").await;
}

#[tokio::test]
async fn reset_mfa_removes_the_passkeys_and_ends_the_sessions() {
    let app = passkey_app().await;
    let email = "pk-reset@lab.example";
    app.user_with_role(email, "viewer", "default");
    let who = app.login(email).await;
    let mut auth = Authenticator::new();
    register(&app, &who, &mut auth, "lost").await;
    assert!(labgate::app::provision::reset_mfa(&app.state.app, email).unwrap());
    let rec = &app.audit("user.mfa_reset")[0];
    assert_eq!(rec["details"]["passkeys_removed"], 1);
    assert_eq!(app.get_bearer("/api/auth/me", &who.jwt).await.status(), 401);
    let ch = login_start(&app, json!({})).await;
    let res = login_finish(&app, &ch, auth.assert(&ch)).await;
    assert_error(res, 401, "INVALID_CREDENTIALS").await;
    // The password alone signs in again (no second factor left).
    let res = app.login_raw(email, PASSWORD).await;
    let body: Value = res.json().await.unwrap();
    assert!(body["token"].is_string());
}
