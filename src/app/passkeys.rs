//! Passkeys (SPEC §16.1): registration by a signed-in person, sign-in with a passkey alone
//! (`amr ["hwk"]`) or as the second factor after a password (`["pwd","hwk"]`). The relying
//! party is the host of `LABGATE_PUBLIC_URL`; webauthn-rs checks the origin, the challenge,
//! user verification and the sign counter. A ceremony's state waits in the database between
//! its start and its finish, and the finish spends it whatever the outcome.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    CredentialID, DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};
use webauthn_rs_proto::{AllowCredentials, ResidentKeyRequirement};

use super::account::Me;
use super::audit::refuse;
use super::signin::{self, Attempt, MFA_PURPOSE, Origin, SignedIn};
use super::{App, AppResult};
use crate::domain::error::{Code, DomainError};
use crate::domain::ids;
use crate::store::audit::{self, Outcome};
use crate::store::passkeys::{self, PasskeyInfo};
use crate::store::{lockout, one_time, tenants, users};

/// How long a started ceremony may take (the browser's own timeout is the same).
const CEREMONY_TTL: Duration = Duration::from_secs(300);
/// Passkeys one person may hold.
pub const PER_USER_MAX: usize = 20;

/// The relying party: the public URL's host, which must be a name (WebAuthn takes no address).
fn relying_party(app: &App) -> AppResult<Webauthn> {
    let unavailable = || {
        DomainError::conflict(
            "Passkeys need LABGATE_PUBLIC_URL to name this server by a host name (WebAuthn does not accept an IP address).",
        )
    };
    let url = Url::parse(&app.config.public_url).map_err(|_| unavailable())?;
    let Some(host) = url.domain() else {
        return Err(unavailable());
    };
    let origin = Url::parse(&url.origin().ascii_serialization()).map_err(|_| unavailable())?;
    WebauthnBuilder::new(host, &origin)
        .and_then(|b| b.rp_name("labgate").timeout(CEREMONY_TTL).build())
        .map_err(|_| unavailable())
}

/// The user handle stored in the authenticator: derived from the user id, so nothing about the
/// account (not even its id) is written to the device.
fn user_handle(user_id: &str) -> Uuid {
    let d = Sha256::digest(format!("labgate passkey user handle\0{user_id}"));
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    Uuid::from_bytes(b)
}

fn internal(what: &str) -> DomainError {
    DomainError::new(
        Code::Internal,
        format!("The passkey {what} could not be kept."),
    )
}

fn parse_passkey(s: &passkeys::Stored) -> AppResult<Passkey> {
    serde_json::from_str(&s.credential).map_err(|_| internal("record"))
}

/// POST /auth/passkeys/register/start: the creation options for the browser.
pub async fn register_start(app: &App, me: Me, name: &str) -> AppResult<Value> {
    let name = ids::display_name("name", name)?;
    let rp = relying_party(app)?;
    let uid = me.user.user_id.clone();
    let held = app
        .read({
            let uid = uid.clone();
            move |c| passkeys::credentials(c, &uid)
        })
        .await?;
    if held.len() >= PER_USER_MAX {
        return Err(DomainError::conflict(format!(
            "You already hold {PER_USER_MAX} passkeys: remove one first."
        )));
    }
    let exclude: Vec<CredentialID> = held
        .iter()
        .filter_map(|s| parse_passkey(s).ok())
        .map(|p| p.cred_id().clone())
        .collect();
    // The device shows the display name; a person created without a name (`labgate user
    // create` asks for none) is shown by the email instead (WebAuthn takes no empty name).
    let display = if me.user.name.trim().is_empty() {
        &me.user.email
    } else {
        &me.user.name
    };
    let (mut ccr, state) = rp
        .start_passkey_registration(user_handle(&uid), &me.user.email, display, Some(exclude))
        .map_err(|_| internal("challenge"))?;
    // A discoverable credential where the authenticator can keep one: the passkey then signs
    // in without the email being typed first.
    if let Some(sel) = ccr.public_key.authenticator_selection.as_mut() {
        sel.resident_key = Some(ResidentKeyRequirement::Preferred);
    }
    let data = json!({"name": name, "state": state}).to_string();
    let now = app.now();
    let expires = crate::domain::time::plus(now, CEREMONY_TTL);
    app.write(move |tx, _| passkeys::begin(tx, "register", Some(&uid), &data, now, expires))
        .await?;
    serde_json::to_value(&ccr).map_err(|_| internal("challenge"))
}

/// POST /auth/passkeys/register/finish: the browser's `RegistrationResponseJSON`, verified
/// against the ceremony this user started.
pub async fn register_finish(app: &App, me: Me, credential: Value) -> AppResult<PasskeyInfo> {
    let reg: RegisterPublicKeyCredential = serde_json::from_value(credential).map_err(|_| {
        DomainError::validation("credential", "not a WebAuthn RegistrationResponseJSON")
    })?;
    let rp = relying_party(app)?;
    let (uid, now) = (me.user.user_id.clone(), app.now());
    let ceremony = app
        .write({
            let uid = uid.clone();
            move |tx, _| passkeys::take(tx, "register", None, Some(&uid), now)
        })
        .await?;
    let target = format!("user:{uid}");
    let refused = |reason: &str| {
        me.actor
            .event(
                "passkey.register",
                target.clone(),
                json!({"reason": reason}),
            )
            .with_outcome(Outcome::Failure)
    };
    let Some(ceremony) = ceremony else {
        let e = DomainError::conflict(
            "No passkey registration is under way (or it expired): start it again.",
        );
        return Err(refuse(app, refused("no_ceremony"), e).await);
    };
    let data: Value = serde_json::from_str(&ceremony.data).map_err(|_| internal("challenge"))?;
    let state: PasskeyRegistration =
        serde_json::from_value(data["state"].clone()).map_err(|_| internal("challenge"))?;
    let name = data["name"].as_str().unwrap_or("passkey").to_string();
    let passkey = match rp.finish_passkey_registration(&reg, &state) {
        Ok(p) => p,
        Err(_) => {
            let e = DomainError::validation("credential", "the passkey could not be verified");
            return Err(refuse(app, refused("not_verified"), e).await);
        }
    };
    let cred_id = URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice());
    let stored = serde_json::to_string(&passkey).map_err(|_| internal("record"))?;
    let ev = me
        .actor
        .event("passkey.register", target.clone(), json!({"name": name}));
    let done = app
        .change(move |tx, _| {
            if passkeys::credential_id_taken(tx, &cred_id)? {
                return Err(DomainError::conflict("This passkey is already registered.").into());
            }
            let info = passkeys::insert(tx, &uid, &cred_id, &name, &stored, now)?;
            let mut ev = ev;
            ev.target = Some(format!("passkey:{}", info.id));
            audit::append(tx, &ev)?;
            Ok(info)
        })
        .await;
    match done {
        Err(e) if e.code == Code::Conflict => Err(refuse(app, refused("duplicate"), e).await),
        r => r,
    }
}

/// GET /auth/passkeys: the caller's own.
pub async fn list(app: &App, me: Me) -> AppResult<Vec<PasskeyInfo>> {
    let uid = me.user.user_id.clone();
    Ok(app.read(move |c| passkeys::list(c, &uid)).await?)
}

/// DELETE /auth/passkeys/{id}: one of the caller's own (another person's is not found).
pub async fn remove(app: &App, me: Me, id: String) -> AppResult<()> {
    let uid = me.user.user_id.clone();
    let ev = me
        .actor
        .event("passkey.delete", format!("passkey:{id}"), json!({}));
    app.change(move |tx, _| {
        let Some(name) = passkeys::delete(tx, &uid, &id)? else {
            return Err(DomainError::not_found().into());
        };
        let mut ev = ev;
        ev.details = json!({"name": name});
        audit::append(tx, &ev)?;
        Ok(())
    })
    .await
}

/// What `POST /auth/passkeys/login/start` was given.
pub struct LoginStart {
    pub email: Option<String>,
    pub mfa_token: Option<String>,
    pub tenant: Option<String>,
}

/// The request options and the ceremony's id.
pub struct Challenge {
    pub options: Value,
    pub challenge_id: String,
}

/// POST /auth/passkeys/login/start: with the `mfa_token` of a password step (that user's
/// passkeys are the allow list), with an email, or with neither (a discoverable passkey
/// names its user). An email only binds the ceremony to that account: the answer lists no
/// credentials, so it tells nothing of whether the account exists or holds passkeys.
pub async fn login_start(app: &App, input: LoginStart) -> AppResult<Challenge> {
    if input.email.is_some() && input.mfa_token.is_some() {
        return Err(DomainError::validation(
            "mfa_token",
            "give either an email or an mfa_token",
        ));
    }
    let rp = relying_party(app)?;
    let now = app.now();
    let mut user_id = None;
    if input
        .tenant
        .as_ref()
        .is_some_and(|t| t.is_empty() || t.len() > 100)
    {
        return Err(DomainError::validation("tenant", "1 to 100 characters"));
    }
    let mut data = json!({"tenant": input.tenant});
    let mut allow: Option<Vec<CredentialID>> = None;
    if let Some(t) = input.mfa_token {
        let checked = app
            .read(move |c| {
                let ot = match one_time::check(c, MFA_PURPOSE, &t)? {
                    Ok(ot) => ot,
                    Err(r) => return Ok(Err(r)),
                };
                let held = match &ot.user_id {
                    Some(u) => passkeys::credentials(c, u)?,
                    None => vec![],
                };
                Ok(Ok((ot, held)))
            })
            .await?;
        let (ot, held) = checked.map_err(signin::one_time_refused)?;
        if held.is_empty() {
            return Err(DomainError::conflict(
                "No passkey is registered for this account: use the authenticator code.",
            ));
        }
        data["mfa"] = json!(ot.token_hash);
        data["tenant"] = json!(ot.tenant_id);
        user_id = ot.user_id;
        allow = Some(
            held.iter()
                .filter_map(|s| parse_passkey(s).ok())
                .map(|p| p.cred_id().clone())
                .collect(),
        );
    } else if let Some(email) = input.email {
        if email.is_empty() || email.len() > 254 {
            return Err(DomainError::validation("email", "1 to 254 characters"));
        }
        data["email"] = json!(users::normalize_email(&email));
        user_id = app
            .read(move |c| Ok(users::find_by_email(c, &email)?.map(|u| u.id)))
            .await?;
    }
    let (mut rcr, state) = rp
        .start_discoverable_authentication()
        .map_err(|_| internal("challenge"))?;
    // A modal request, not the autofill (conditional) form: the page asks when the person
    // clicks.
    rcr.mediation = None;
    if let Some(ids) = allow {
        rcr.public_key.allow_credentials = ids
            .into_iter()
            .map(|id| AllowCredentials {
                type_: "public-key".into(),
                id,
                transports: None,
            })
            .collect();
    }
    data["state"] = serde_json::to_value(&state).map_err(|_| internal("challenge"))?;
    let (data, expires) = (
        data.to_string(),
        crate::domain::time::plus(now, CEREMONY_TTL),
    );
    let uid = user_id.clone();
    let challenge_id = app
        .write(move |tx, _| passkeys::begin(tx, "login", uid.as_deref(), &data, now, expires))
        .await?;
    Ok(Challenge {
        options: json!({"publicKey": rcr.public_key}),
        challenge_id,
    })
}

/// POST /auth/passkeys/login/finish: verifies the assertion and starts the login session.
/// Every refusal is audited as a failed `auth.login` and counts toward the email's lockout
/// once the account is known.
pub async fn login_finish(
    app: &App,
    origin: Origin,
    challenge_id: String,
    credential: Value,
) -> AppResult<SignedIn> {
    let r = finish(app, origin, challenge_id, credential).await;
    signin::count_login(app, &r);
    r
}

async fn finish(
    app: &App,
    origin: Origin,
    challenge_id: String,
    credential: Value,
) -> AppResult<SignedIn> {
    let rp = relying_party(app)?;
    let now = app.now();
    // The ceremony is spent first, whatever follows: one challenge, one try.
    let ceremony = app
        .write(move |tx, _| passkeys::take(tx, "login", Some(&challenge_id), None, now))
        .await?;
    let bare = |reason: &str| {
        origin.event(
            None,
            None,
            "auth.login",
            Outcome::Failure,
            json!({"method": "passkey", "reason": reason}),
        )
    };
    let Some(ceremony) = ceremony else {
        let e = DomainError::new(
            Code::InvalidToken,
            "The sign-in challenge is not valid or has expired: start again.",
        );
        return Err(refuse(app, bare("invalid_challenge"), e).await);
    };
    let cred: PublicKeyCredential = match serde_json::from_value(credential) {
        Ok(c) => c,
        Err(_) => {
            let e =
                DomainError::validation("credential", "not a WebAuthn AuthenticationResponseJSON");
            return Err(refuse(app, bare("malformed_credential"), e).await);
        }
    };
    let cred_id = URL_SAFE_NO_PAD.encode(&cred.raw_id);
    let stored = app
        .read(move |c| passkeys::by_credential_id(c, &cred_id))
        .await?;
    let data: Value = serde_json::from_str(&ceremony.data).map_err(|_| internal("challenge"))?;
    let state: DiscoverableAuthentication =
        serde_json::from_value(data["state"].clone()).map_err(|_| internal("challenge"))?;
    // The account: the one the ceremony was started for (by email or by the password step),
    // even when no account has that email; else the passkey's owner.
    let bound = data["email"].is_string() || data["mfa"].is_string();
    let owner = stored.as_ref().map(|s| s.user_id.clone());
    let uid = if bound {
        ceremony.user_id.clone()
    } else {
        owner
    };
    let wanted = data["tenant"].as_str().map(str::to_string);
    let found = app
        .read(move |c| {
            let Some(u) = uid else { return Ok(None) };
            let Some(user) = users::get(c, &u)? else {
                return Ok(None);
            };
            let ts = tenants::for_user(c, &u)?;
            let t = match &wanted {
                Some(w) => ts.iter().find(|t| t.id == *w || t.slug == *w).cloned(),
                None => ts.first().cloned(),
            };
            Ok(Some((user, t)))
        })
        .await?;
    let typed = data["email"].as_str().map(str::to_string);
    let email = found
        .as_ref()
        .map(|(u, _)| u.email.clone())
        .or(typed)
        .unwrap_or_default();
    let who = Attempt {
        user_id: found.as_ref().map(|(u, _)| u.id.clone()),
        tenant_id: found
            .as_ref()
            .and_then(|(_, t)| t.as_ref().map(|t| t.id.clone())),
        email_norm: users::normalize_email(&email),
        email,
    };
    let fail = |reason: &'static str| {
        let who = &who;
        let origin = &origin;
        async move {
            if who.user_id.is_none() && who.email_norm.is_empty() {
                // No account and no email to count against: audited, answered like any wrong
                // credential. (A typed email is counted, and locked, whether it exists or not.)
                let ev = who.event(
                    origin,
                    "auth.login",
                    Outcome::Failure,
                    json!({"method": "passkey", "reason": reason}),
                );
                return refuse(app, ev, signin::invalid_credentials()).await;
            }
            signin::failed_with(app, origin, who, reason, json!({"method": "passkey"})).await
        }
    };
    let Some((user, tenant)) = found else {
        return Err(fail("unknown_passkey").await);
    };
    let Some(stored) = stored.filter(|s| s.user_id == user.id) else {
        return Err(fail("unknown_passkey").await);
    };
    let _turn = app.signin_gate.turn(&who.email_norm).await;
    let (en, o) = (who.email_norm.clone(), origin.clone());
    let tid = tenant.as_ref().map(|t| t.id.clone());
    let (until, permitted) = app
        .read(move |c| {
            let permitted = match &tid {
                Some(t) => signin::address_permitted(c, t, o.ip.as_deref())?,
                None => true,
            };
            Ok((lockout::locked_until(c, &en, now)?, permitted))
        })
        .await?;
    if let Some(until) = until {
        let ev = who.event(
            &origin,
            "auth.login",
            Outcome::Failure,
            json!({"method": "passkey", "reason": "locked"}),
        );
        return Err(refuse(app, ev, signin::locked(until, now)).await);
    }
    if !permitted {
        let ev = who.event(
            &origin,
            "auth.login",
            Outcome::Denied,
            json!({"method": "passkey", "reason": "source_ip_not_allowed"}),
        );
        return Err(refuse(app, ev, signin::source_refused()).await);
    }
    // A passkey that named its own account must say which (WebAuthn §7.2), and say this one.
    let handle = cred.response.user_handle.as_ref();
    if (!bound && handle.is_none())
        || handle.is_some_and(|h| h.as_slice() != user_handle(&user.id).as_bytes())
    {
        return Err(fail("wrong_user_handle").await);
    }
    let mut passkey = parse_passkey(&stored)?;
    let result = match rp.finish_discoverable_authentication_v2(&cred, state, &passkey) {
        Ok(r) => r,
        Err(WebauthnError::CredentialPossibleCompromise) => {
            return Err(fail("sign_counter").await);
        }
        Err(_) => return Err(fail("not_verified").await),
    };
    if user.status != "active" {
        return Err(fail("account_disabled").await);
    }
    let Some(tenant) = tenant else {
        let ev = who.event(
            &origin,
            "auth.login",
            Outcome::Failure,
            json!({"method": "passkey", "reason": "not_a_member"}),
        );
        return Err(refuse(app, ev, signin::not_a_member()).await);
    };
    passkey.update_credential(&result);
    let updated = serde_json::to_string(&passkey).map_err(|_| internal("record"))?;
    let mfa = data["mfa"].as_str().map(str::to_string);
    let pid = stored.id.clone();
    let second_step = mfa.is_some();
    let old = stored.credential.clone();
    let refused = app
        .write(move |tx, _| {
            // Only over the record this assertion was checked against: a sign-in that raced
            // this one (the same counter) or a removal meanwhile wins.
            if !passkeys::used(tx, &pid, &old, &updated, now)? {
                return Ok(Some("sign_counter"));
            }
            match mfa {
                Some(h) if !one_time::consume_hash(tx, MFA_PURPOSE, &h, now)? => {
                    Ok(Some("invalid_mfa_token"))
                }
                _ => Ok(None),
            }
        })
        .await?;
    if let Some(reason) = refused {
        return Err(fail(reason).await);
    }
    let amr: Vec<String> = if second_step {
        vec!["pwd".into(), "hwk".into()]
    } else {
        vec!["hwk".into()]
    };
    signin::start_session(
        app,
        &origin,
        &user.id,
        &tenant,
        amr,
        Some(who.email_norm.clone()),
    )
    .await
}
