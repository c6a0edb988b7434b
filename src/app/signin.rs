//! Sign-in (SPEC §4.3, §5, §8): password login with its second factor, the two-step MFA form,
//! refresh-token rotation with theft detection, logout and tenant switch. Every outcome is
//! audited here, so the errors these return are already on record.
//!
//! Attempts on one email run one at a time in this process (`EmailGate`), and each is counted
//! before its password is checked: concurrent guesses cannot slip past the lockout, and
//! concurrent correct logins never lock an account (each resets the count before the next one
//! is counted).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::{App, AppResult, Invalidation, WriteError};
use crate::domain::error::{Code, DomainError};
use crate::domain::net::IpLists;
use crate::domain::time::{self, Timestamp};
use crate::domain::token::{self, Kind, Secret};
use crate::store::audit::{self, AuditEvent, Outcome};
use crate::store::sessions::{self, NewSession, SessionState, StartSession};
use crate::store::tenants::{self, Tenant};
use crate::store::users::{self, Principal};
use crate::store::{StoreError, events, ip_rules, lockout, one_time, passkeys};

pub const MFA_PURPOSE: &str = "mfa";
pub const MFA_STEP_TTL: Duration = Duration::from_secs(300);

/// Where a request came from, for audit records and source-IP rules.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: String,
}

impl Origin {
    /// The audit record of a sign-in step by a user (or, before one is known, anonymous).
    pub fn event(
        &self,
        tenant: Option<&str>,
        actor: Option<&str>,
        action: &str,
        outcome: Outcome,
        details: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent {
            tenant_id: tenant.map(str::to_string),
            actor_type: if actor.is_some() { "user" } else { "anonymous" }.into(),
            actor_id: actor.map(str::to_string),
            action: action.into(),
            target: actor.map(|u| format!("user:{u}")),
            outcome,
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            request_id: Some(self.request_id.clone()),
            details,
        }
    }
}

/// One sign-in attempt at a time per email in this process.
#[derive(Default)]
pub struct EmailGate {
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds an email's turn; dropping it lets the next attempt in.
pub struct Turn {
    gate: Arc<EmailGate>,
    email: String,
    lock: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.lock.take();
        let mut m = self.gate.turns.lock().unwrap_or_else(|p| p.into_inner());
        // Nobody else holds or waits for this email: forget it, so memory stays bounded by the
        // attempts in flight.
        if m.get(&self.email)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            m.remove(&self.email);
        }
    }
}

impl EmailGate {
    pub async fn turn(self: &Arc<Self>, email_norm: &str) -> Turn {
        let lock = {
            let mut m = self.turns.lock().unwrap_or_else(|p| p.into_inner());
            m.entry(email_norm.to_string()).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        Turn {
            gate: self.clone(),
            email: email_norm.to_string(),
            lock: Some(guard),
        }
    }
}

/// A started login session, with what the login answer shows.
pub struct SignedIn {
    pub principal: Principal,
    pub tenant: Tenant,
    pub session: NewSession,
}

pub enum LoginOutcome {
    SignedIn(Box<SignedIn>),
    /// The user has a second factor and sent none: the `mfa_token` of the two-step form.
    MfaRequired(Secret),
}

pub struct LoginInput {
    pub email: String,
    pub password: String,
    pub totp_code: Option<String>,
    /// Slug or id of the tenant (default: the user's first).
    pub tenant: Option<String>,
}

/// Who tried to sign in, for lockout counting and audit records.
pub(super) struct Attempt {
    pub user_id: Option<String>,
    pub tenant_id: Option<String>,
    pub email: String,
    pub email_norm: String,
}

impl Attempt {
    pub(super) fn event(
        &self,
        origin: &Origin,
        action: &str,
        outcome: Outcome,
        mut details: serde_json::Value,
    ) -> AuditEvent {
        details["email"] = json!(self.email);
        origin.event(
            self.tenant_id.as_deref(),
            self.user_id.as_deref(),
            action,
            outcome,
            details,
        )
    }
}

use super::audit::refuse;

pub(super) fn locked(until: Timestamp, now: Timestamp) -> DomainError {
    let mut e = DomainError::new(
        Code::AccountLocked,
        "Too many failed sign-ins: this account is temporarily locked.",
    );
    e.retry_after = Some((until - now).num_seconds().max(1) as u64);
    e
}

pub(super) fn invalid_credentials() -> DomainError {
    DomainError::new(Code::InvalidCredentials, "Invalid email or password.")
}

pub(super) fn not_a_member() -> DomainError {
    DomainError::new(
        Code::TenantForbidden,
        "You are not a member of that tenant.",
    )
}

pub(super) fn source_refused() -> DomainError {
    DomainError::new(
        Code::SourceIpNotAllowed,
        "This tenant's credentials may not be used from this address.",
    )
}

/// Whether the tenant's IP lists let `origin` sign in.
fn source_permitted(
    tx: &crate::store::Db,
    tenant_id: &str,
    origin: &Origin,
) -> Result<bool, StoreError> {
    address_permitted(tx, tenant_id, origin.ip.as_deref())
}

/// Whether a tenant's IP lists let a client address in (no lists: any address).
pub(crate) fn address_permitted(
    tx: &crate::store::Db,
    tenant_id: &str,
    ip: Option<&str>,
) -> Result<bool, StoreError> {
    let cidrs = |kind| -> Result<Vec<String>, StoreError> {
        Ok(ip_rules::list(tx, tenant_id, kind)?
            .into_iter()
            .map(|r| r.cidr)
            .collect())
    };
    let lists = IpLists::parse(&cidrs("allow")?, &cidrs("block")?);
    if lists.is_empty() {
        return Ok(true);
    }
    let ip = ip.and_then(|i| i.parse().ok());
    Ok(ip.is_some_and(|ip| lists.permits(ip)))
}

/// Counts a failed sign-in and audits it in one commit; when the count reached the threshold,
/// the lockout and its platform event too; answers 401 (or 423 when another path locked the
/// email meanwhile). Attempts are counted only once their verdict is known: sign-ins for one
/// email take turns (`EmailGate`), so no concurrent attempt can slip past the count, and an
/// attempt that never got an answer told its caller nothing.
async fn failed(app: &App, origin: &Origin, who: &Attempt, reason: &str) -> DomainError {
    failed_with(app, origin, who, reason, json!({})).await
}

/// `failed` with details of its own beside the reason (a passkey's `method`, say).
pub(super) async fn failed_with(
    app: &App,
    origin: &Origin,
    who: &Attempt,
    reason: &str,
    mut details: serde_json::Value,
) -> DomainError {
    let action = "auth.login";
    details["reason"] = json!(reason);
    let ev = who.event(origin, action, Outcome::Failure, details);
    let lock_ev = who.event(origin, "account.locked", Outcome::Denied, json!({}));
    let (en, tenant, now) = (who.email_norm.clone(), who.tenant_id.clone(), app.now());
    let emitted = app
        .write(move |tx, _| {
            let attempt = match lockout::begin_attempt(tx, &en, now)? {
                Ok(n) => n,
                Err(until) => {
                    let mut ev = ev;
                    ev.details["reason"] = json!("locked");
                    audit::append(tx, &ev)?;
                    return Ok(Err(until));
                }
            };
            audit::append(tx, &ev)?;
            if attempt < lockout::THRESHOLD {
                return Ok(Ok(None));
            }
            let until = lockout::locked_until(tx, &en, now)?.map(time::fmt);
            let mut lock_ev = lock_ev;
            lock_ev.details["failures"] = json!(attempt);
            lock_ev.details["locked_until"] = json!(until);
            audit::append(tx, &lock_ev)?;
            let Some(t) = tenant else { return Ok(Ok(None)) };
            let data = json!({"email": lock_ev.details["email"], "locked_until": until});
            Ok(Ok(Some(events::emit(
                tx,
                Some(&t),
                "account.locked",
                &data,
            )?)))
        })
        .await;
    match emitted {
        Ok(Ok(Some(e))) => {
            app.metrics.lockout();
            app.events.publish(e)
        }
        Ok(Ok(None)) => {}
        Ok(Err(until)) => return locked(until, now).audited(),
        Err(db) => return db,
    }
    invalid_credentials()
}

/// Counts a finished sign-in for `labgate_logins_total`: a refusal by the tenant's address
/// lists is `denied`; an answer the database kept from being given is no outcome.
pub(super) fn count_login<T>(app: &App, r: &AppResult<T>) {
    use crate::metrics::Outcome as M;
    let outcome = match r {
        Ok(_) => M::Success,
        Err(e) => match e.code {
            Code::DbUnavailable | Code::Internal => return,
            Code::SourceIpNotAllowed => M::Denied,
            _ => M::Failure,
        },
    };
    app.metrics.login(outcome);
}

/// POST /auth/login.
pub async fn login(app: &App, origin: Origin, input: LoginInput) -> AppResult<LoginOutcome> {
    let r = password_step(app, origin, input).await;
    // A right password that still needs its second factor is not a sign-in yet.
    if !matches!(r, Ok(LoginOutcome::MfaRequired(_))) {
        count_login(app, &r);
    }
    r
}

async fn password_step(app: &App, origin: Origin, input: LoginInput) -> AppResult<LoginOutcome> {
    let email_norm = users::normalize_email(&input.email);
    let _turn = app.signin_gate.turn(&email_norm).await;
    let now = app.now();
    let (lookup, wanted, en) = (
        input.email.clone(),
        input.tenant.clone(),
        email_norm.clone(),
    );
    let (found, locked_until) = app
        .read(move |c| {
            let until = lockout::locked_until(c, &en, now)?;
            let Some(u) = users::find_by_email(c, &lookup)? else {
                return Ok((None, until));
            };
            let ts = tenants::for_user(c, &u.id)?;
            let t = match &wanted {
                Some(w) => ts.iter().find(|t| t.id == *w || t.slug == *w).cloned(),
                None => ts.first().cloned(),
            };
            let passkey = passkeys::has_any(c, &u.id)?;
            Ok((Some((u, t, passkey)), until))
        })
        .await?;
    let has_passkey = found.as_ref().is_some_and(|(_, _, p)| *p);
    let found = found.map(|(u, t, _)| (u, t));
    let who = Attempt {
        user_id: found.as_ref().map(|(u, _)| u.id.clone()),
        tenant_id: found
            .as_ref()
            .and_then(|(_, t)| t.as_ref().map(|t| t.id.clone())),
        email: input.email.clone(),
        email_norm,
    };
    if let Some(until) = locked_until {
        let ev = who.event(
            &origin,
            "auth.login",
            Outcome::Failure,
            json!({"reason": "locked"}),
        );
        return Err(refuse(app, ev, locked(until, now)).await);
    }
    let hash = found.as_ref().and_then(|(u, _)| u.password_hash.clone());
    let ok = app.passwords.verify(input.password, hash).await;
    // The tenant's source lists are judged before the password's verdict is used, and answer
    // alike whether it was right: a refused address learns nothing about the password.
    if let Some((_, Some(t))) = &found {
        let (tid, o) = (t.id.clone(), origin.clone());
        if !app.read(move |c| source_permitted(c, &tid, &o)).await? {
            let ev = who.event(
                &origin,
                "auth.login",
                Outcome::Denied,
                json!({"reason": "source_ip_not_allowed"}),
            );
            if !ok {
                // A wrong password counts whatever the address (its answer is the same).
                let en = who.email_norm.clone();
                app.write(move |tx, _| lockout::begin_attempt(tx, &en, now).map(drop))
                    .await?;
            }
            return Err(refuse(app, ev, source_refused()).await);
        }
    }
    let (user, tenant) = match (found, ok) {
        (Some((u, t)), true) if u.status == "active" => (u, t),
        (Some(_), true) => {
            return Err(failed(app, &origin, &who, "account_disabled").await);
        }
        (Some(_), false) => return Err(failed(app, &origin, &who, "wrong_password").await),
        (None, _) => return Err(failed(app, &origin, &who, "unknown_email").await),
    };
    let Some(tenant) = tenant else {
        let ev = who.event(
            &origin,
            "auth.login",
            Outcome::Failure,
            json!({"reason": "not_a_member"}),
        );
        return Err(refuse(app, ev, not_a_member()).await);
    };
    // A passkey is a second factor too: its holder gets the MFA step (and may answer it with
    // the passkey, or with an authenticator code when TOTP is enrolled as well).
    if user.mfa_enabled || has_passkey {
        let Some(code) = input.totp_code else {
            let (uid, tid) = (user.id.clone(), tenant.id.clone());
            let ev = who.event(
                &origin,
                "auth.login",
                Outcome::Success,
                json!({"step": "mfa_required"}),
            );
            let token = app
                .write(move |tx, _| {
                    // The password was right: this attempt does not count; the step counts
                    // its own.
                    let t = one_time::issue(
                        tx,
                        MFA_PURPOSE,
                        Some(&uid),
                        Some(&tid),
                        &json!({}),
                        MFA_STEP_TTL,
                    )?;
                    audit::append(tx, &ev)?;
                    Ok(t)
                })
                .await?;
            return Ok(LoginOutcome::MfaRequired(token));
        };
        let s = second_factor(app, &origin, &who, &user.id, &tenant, &code, None).await?;
        return Ok(LoginOutcome::SignedIn(Box::new(s)));
    }
    let amr = vec!["pwd".to_string()];
    let signed = start_session(app, &origin, &user.id, &tenant, amr, Some(who.email_norm)).await?;
    Ok(LoginOutcome::SignedIn(Box::new(signed)))
}

/// Verifies the second factor and starts the session; a wrong code is a failed login.
/// `mfa_token` is spent on success when the two-step form was used.
#[allow(clippy::too_many_arguments)]
async fn second_factor(
    app: &App,
    origin: &Origin,
    who: &Attempt,
    user_id: &str,
    tenant: &Tenant,
    code: &str,
    mfa_token: Option<&str>,
) -> AppResult<SignedIn> {
    let (uid, code, dk) = (user_id.to_string(), code.to_string(), app.data_key.clone());
    let token = mfa_token.map(str::to_string);
    let ok = app
        .write(move |tx, _| {
            if !users::verify_second_factor(tx, &dk, &uid, &code)? {
                return Ok(false);
            }
            if let Some(t) = token
                && one_time::consume(tx, MFA_PURPOSE, &t)?.is_err()
            {
                return Ok(false);
            }
            Ok(true)
        })
        .await?;
    if !ok {
        return Err(failed(app, origin, who, "wrong_second_factor").await);
    }
    let amr = vec!["pwd".to_string(), "otp".to_string()];
    start_session(
        app,
        origin,
        user_id,
        tenant,
        amr,
        Some(who.email_norm.clone()),
    )
    .await
}

/// POST /auth/mfa/validate with an `mfa_token`: the second step of a login.
pub async fn mfa_step(
    app: &App,
    origin: Origin,
    mfa_token: String,
    code: String,
) -> AppResult<SignedIn> {
    let r = second_step(app, origin, mfa_token, code).await;
    count_login(app, &r);
    r
}

async fn second_step(
    app: &App,
    origin: Origin,
    mfa_token: String,
    code: String,
) -> AppResult<SignedIn> {
    let t = mfa_token.clone();
    let checked = app
        .read(move |c| {
            let ot = match one_time::check(c, MFA_PURPOSE, &t)? {
                Ok(ot) => ot,
                Err(r) => return Ok(Err(r)),
            };
            let user = match &ot.user_id {
                Some(u) => users::get(c, u)?,
                None => None,
            };
            let tenant = match &ot.tenant_id {
                Some(t) => tenants::find(c, t)?,
                None => None,
            };
            Ok(Ok((user, tenant)))
        })
        .await?;
    let (user, tenant) = match checked {
        Ok((Some(u), Some(t))) if u.status == "active" => (u, t),
        Ok(_) => {
            return Err(DomainError::new(
                Code::InvalidToken,
                "The credential is not valid.",
            ));
        }
        Err(r) => {
            let ev = origin.event(
                None,
                None,
                "auth.mfa",
                Outcome::Failure,
                json!({"reason": "invalid_mfa_token"}),
            );
            return Err(refuse(app, ev, one_time_refused(r)).await);
        }
    };
    let who = Attempt {
        user_id: Some(user.id.clone()),
        tenant_id: Some(tenant.id.clone()),
        email: user.email.clone(),
        email_norm: users::normalize_email(&user.email),
    };
    let _turn = app.signin_gate.turn(&who.email_norm).await;
    let (en, now, tid, o) = (
        who.email_norm.clone(),
        app.now(),
        tenant.id.clone(),
        origin.clone(),
    );
    let (until, permitted) = app
        .read(move |c| {
            Ok((
                lockout::locked_until(c, &en, now)?,
                source_permitted(c, &tid, &o)?,
            ))
        })
        .await?;
    if let Some(until) = until {
        let ev = who.event(
            &origin,
            "auth.mfa",
            Outcome::Failure,
            json!({"reason": "locked"}),
        );
        return Err(refuse(app, ev, locked(until, now)).await);
    }
    if !permitted {
        let ev = who.event(
            &origin,
            "auth.mfa",
            Outcome::Denied,
            json!({"reason": "source_ip_not_allowed"}),
        );
        return Err(refuse(app, ev, source_refused()).await);
    }
    second_factor(
        app,
        &origin,
        &who,
        &user.id,
        &tenant,
        &code,
        Some(&mfa_token),
    )
    .await
}

/// A one-time token's refusal as an error.
pub fn one_time_refused(r: one_time::Refused) -> DomainError {
    match r {
        one_time::Refused::Invalid => {
            DomainError::new(Code::InvalidToken, "The credential is not valid.")
        }
        one_time::Refused::Expired => {
            DomainError::new(Code::TokenExpired, "The credential has expired.")
        }
    }
}

/// Starts a login session for a verified user in a tenant, audited as `auth.login`, and resets
/// the email's failed-login count (`reset`) in the same commit.
pub async fn start_session(
    app: &App,
    origin: &Origin,
    user_id: &str,
    tenant: &Tenant,
    amr: Vec<String>,
    reset: Option<String>,
) -> AppResult<SignedIn> {
    let ev = origin.event(
        Some(&tenant.id),
        Some(user_id),
        "auth.login",
        Outcome::Success,
        json!({"amr": amr}),
    );
    let (uid, t) = (user_id.to_string(), tenant.clone());
    let (ip, ua) = (origin.ip.clone(), origin.user_agent.clone());
    let lifetime = app.config.refresh_ttl;
    app.change(move |tx, _| {
        let principal = users::principal(tx, &uid, &t.id)?.ok_or_else(not_a_member)?;
        if let Some(en) = &reset {
            lockout::reset(tx, en)?;
        }
        let start = StartSession {
            user_id: &uid,
            tenant_id: &t.id,
            amr,
            ip,
            user_agent: ua,
            lifetime,
        };
        let session = sessions::start(tx, start)?;
        let mut ev = ev;
        ev.target = Some(format!("session:{}", session.id));
        audit::append(tx, &ev)?;
        Ok(SignedIn {
            principal,
            tenant: t,
            session,
        })
    })
    .await
}

/// A rotated refresh token and what the answer shows.
pub struct Refreshed {
    pub principal: Principal,
    pub tenant: Tenant,
    pub session: SessionState,
    pub refresh: Secret,
}

/// POST /auth/refresh: spends the presented refresh token and issues the next one. A spent
/// token presented again ends the whole session (theft detection).
pub async fn refresh(app: &App, origin: Origin, presented: String) -> AppResult<Refreshed> {
    let invalid = || DomainError::new(Code::InvalidToken, "The credential is not valid.");
    if !token::well_formed(Kind::Refresh, &presented) {
        let ev = origin.event(
            None,
            None,
            "auth.refresh",
            Outcome::Failure,
            json!({"reason": "invalid_token"}),
        );
        return Err(refuse(app, ev, invalid()).await);
    }
    let h = token::hash(&presented);
    let (idle, now, o) = (app.config.session_idle, app.now(), origin.clone());
    // Refusals commit their audit record (and a reuse ends the session), so they travel as
    // values out of the transaction rather than as errors that would roll it back.
    app.change(
        move |tx, fx| -> Result<Result<Refreshed, DomainError>, WriteError> {
            let Some((sid, spent)) = sessions::find_refresh(tx, &h)? else {
                let ev = o.event(
                    None,
                    None,
                    "auth.refresh",
                    Outcome::Failure,
                    json!({"reason": "unknown_token"}),
                );
                audit::append(tx, &ev)?;
                return Ok(Err(invalid()));
            };
            let session = sessions::get(tx, &sid)?.ok_or(StoreError::NotFound)?;
            let ev = |action: &str, outcome, reason: &str| {
                let mut e = o.event(
                    Some(&session.tenant_id),
                    Some(&session.user_id),
                    action,
                    outcome,
                    json!({"reason": reason}),
                );
                e.target = Some(format!("session:{}", session.id));
                e
            };
            if !source_permitted(tx, &session.tenant_id, &o)? {
                audit::append(
                    tx,
                    &ev("auth.refresh", Outcome::Denied, "source_ip_not_allowed"),
                )?;
                return Ok(Err(source_refused()));
            }
            if spent || !sessions::spend_refresh(tx, &h)? {
                sessions::end(tx, &sid, "refresh_token_reuse")?;
                fx.invalidate(Invalidation::Sessions(vec![sid.clone()]));
                audit::append(
                    tx,
                    &ev("auth.refresh_reuse", Outcome::Denied, "spent_refresh_token"),
                )?;
                return Ok(Err(DomainError::new(
                    Code::TokenRevoked,
                    "This refresh token was already used; the session has been ended.",
                )));
            }
            if session.ended {
                audit::append(tx, &ev("auth.refresh", Outcome::Failure, "session_ended"))?;
                return Ok(Err(DomainError::new(
                    Code::TokenRevoked,
                    "The credential has been revoked.",
                )));
            }
            if !session.alive(now, idle) {
                audit::append(tx, &ev("auth.refresh", Outcome::Failure, "session_expired"))?;
                return Ok(Err(DomainError::new(
                    Code::TokenExpired,
                    "The credential has expired.",
                )));
            }
            let principal =
                users::principal(tx, &session.user_id, &session.tenant_id)?.filter(|p| p.active());
            let tenant = tenants::find(tx, &session.tenant_id)?;
            let (Some(principal), Some(tenant)) = (principal, tenant) else {
                audit::append(
                    tx,
                    &ev("auth.refresh", Outcome::Failure, "account_disabled"),
                )?;
                return Ok(Err(DomainError::new(
                    Code::TokenRevoked,
                    "The credential has been revoked.",
                )));
            };
            let refresh = sessions::add_refresh(tx, &sid)?;
            sessions::touch(tx, &sid, now)?;
            fx.invalidate(Invalidation::Sessions(vec![sid.clone()]));
            audit::append(tx, &ev("auth.refresh", Outcome::Success, "rotated"))?;
            Ok(Ok(Refreshed {
                principal,
                tenant,
                session,
                refresh,
            }))
        },
    )
    .await?
}

/// A signed-in user acting on their own login session.
pub struct SessionOwner {
    pub user_id: String,
    pub tenant_id: String,
    pub session_id: String,
    pub amr: Vec<String>,
}

/// POST /auth/logout: ends the current login session at once.
pub async fn logout(app: &App, origin: Origin, who: SessionOwner) -> AppResult<()> {
    let mut ev = origin.event(
        Some(&who.tenant_id),
        Some(&who.user_id),
        "auth.logout",
        Outcome::Success,
        json!({}),
    );
    ev.target = Some(format!("session:{}", who.session_id));
    app.write(move |tx, fx| {
        sessions::end(tx, &who.session_id, "logout")?;
        fx.invalidate(Invalidation::Sessions(vec![who.session_id.clone()]));
        audit::append(tx, &ev).map(|_| ())
    })
    .await
}

/// POST /auth/switch-tenant: the current session ends and one starts in `target` (slug or id),
/// a tenant of the same user, with the same factors.
pub async fn switch_tenant(
    app: &App,
    origin: Origin,
    who: SessionOwner,
    target: &str,
) -> AppResult<SignedIn> {
    let (uid, wanted) = (who.user_id.clone(), target.trim().to_string());
    let tenant = app
        .read(move |c| {
            let t = tenants::find(c, &wanted)?;
            Ok(match t {
                Some(t) if users::is_member(c, &uid, &t.id)? => Some(t),
                _ => None,
            })
        })
        .await?
        .ok_or_else(not_a_member)?;
    // Signing in to the target tenant: its address lists apply as at a login.
    let (tid, o) = (tenant.id.clone(), origin.clone());
    if !app.read(move |c| source_permitted(c, &tid, &o)).await? {
        let reason = json!({"reason": "source_ip_not_allowed", "to": tenant.id});
        let action = "auth.switch_tenant";
        let ev = origin.event(
            Some(&tenant.id),
            Some(&who.user_id),
            action,
            Outcome::Denied,
            reason,
        );
        return Err(refuse(app, ev, source_refused()).await);
    }
    let mut ev = origin.event(
        Some(&who.tenant_id),
        Some(&who.user_id),
        "auth.switch_tenant",
        Outcome::Success,
        json!({"to": tenant.id}),
    );
    ev.target = Some(format!("session:{}", who.session_id));
    let sid = who.session_id.clone();
    app.write(move |tx, fx| {
        sessions::end(tx, &sid, "switched_tenant")?;
        fx.invalidate(Invalidation::Sessions(vec![sid.clone()]));
        audit::append(tx, &ev).map(|_| ())
    })
    .await?;
    start_session(app, &origin, &who.user_id, &tenant, who.amr, None).await
}

/// A password asked again inside a session (e.g. to turn MFA off): counted against the
/// lockout and audited like a sign-in, so a stolen session cannot try passwords. `Ok(false)`
/// for a wrong password (already on record).
pub async fn recheck_password(
    app: &App,
    origin: &Origin,
    user: &Principal,
    tenant_id: &str,
    password: String,
    reason: &str,
) -> AppResult<bool> {
    let who = Attempt {
        user_id: Some(user.user_id.clone()),
        tenant_id: Some(tenant_id.to_string()),
        email: user.email.clone(),
        email_norm: users::normalize_email(&user.email),
    };
    let _turn = app.signin_gate.turn(&who.email_norm).await;
    let (en, now, uid) = (who.email_norm.clone(), app.now(), user.user_id.clone());
    let (until, hash) = app
        .read(move |c| {
            let until = lockout::locked_until(c, &en, now)?;
            Ok((until, users::get(c, &uid)?.and_then(|u| u.password_hash)))
        })
        .await?;
    if let Some(until) = until {
        return Err(locked(until, now));
    }
    if !app.passwords.verify(password, hash).await {
        let e = failed(app, origin, &who, reason).await;
        if e.code != Code::InvalidCredentials {
            return Err(e);
        }
        return Ok(false);
    }
    Ok(true)
}
