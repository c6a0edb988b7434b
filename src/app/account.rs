//! A person's own account (SPEC §5): MFA enrollment, password change and reset, their own
//! login sessions, accepting an invitation and verifying the email address. Each use case
//! audits what it refuses itself; those refusals come back marked `audited`.

use serde_json::json;

use super::signin::{self, Origin, one_time_refused};
use super::{Actor, App, AppResult, Invalidation, WriteError};
use crate::domain::error::DomainError;
use crate::domain::{password, totp};
use crate::store::audit::{self, AuditEvent, Outcome};
use crate::store::one_time::{self, Refused};
use crate::store::users::{Member, Principal};
use crate::store::{StoreError, invitations, lockout, sessions, tenants, users};

pub use super::users::{RESET_PURPOSE, RESET_TTL};
pub const INVITE_PURPOSE: &str = "invite";
pub const VERIFY_PURPOSE: &str = "verify_email";

/// The signed-in person acting on their own account: the actor, who they are, and the login
/// session they act through.
pub struct Me {
    pub actor: Actor,
    pub user: std::sync::Arc<Principal>,
    pub session: String,
}

impl Me {
    fn event(&self, action: &str) -> AuditEvent {
        self.actor
            .event(action, format!("user:{}", self.user.user_id), json!({}))
    }
}

/// A started MFA enrollment: what the authenticator app needs.
pub struct Enrollment {
    pub secret: String,
    pub otpauth_url: String,
    pub qr_svg: String,
}

/// The record of a one-time token spent by its user for `action`.
fn spent(o: &Origin, ot: &one_time::OneTime, uid: &str, action: &str) -> AuditEvent {
    let tenant = ot.tenant_id.as_deref();
    o.event(tenant, Some(uid), action, Outcome::Success, json!({}))
}

use super::audit::refuse;

/// The password policy of a tenant (its `password_min_length`, never below 12).
pub(super) async fn check_policy(
    app: &App,
    tenant: Option<&str>,
    field: &str,
    pw: &str,
) -> AppResult<()> {
    let min = match tenant {
        Some(t) => {
            let s = super::credentials::settings(app, t.to_string()).await?;
            s.password_min_length as usize
        }
        None => password::MIN_LEN,
    };
    password::check_policy(pw, min).map_err(|m| DomainError::validation(field, m))
}

/// Starts MFA enrollment: a new secret, pending until confirmed.
pub async fn mfa_setup(app: &App, me: Me) -> AppResult<Enrollment> {
    if me.user.mfa_enabled {
        return Err(DomainError::conflict(
            "MFA is already enabled; disable it before enrolling again.",
        ));
    }
    let secret = totp::new_secret();
    let enc = app.data_key.encrypt(&secret);
    let (uid, ev) = (me.user.user_id.clone(), me.event("mfa.setup"));
    app.write(move |tx, _| {
        users::set_mfa_pending(tx, &uid, &enc)?;
        audit::append(tx, &ev).map(|_| ())
    })
    .await?;
    let url = totp::otpauth_url(&secret, &me.user.email);
    Ok(Enrollment {
        secret: totp::base32(&secret),
        qr_svg: totp::qr_svg(&url),
        otpauth_url: url,
    })
}

/// Confirms a pending enrollment with a current code; answers the recovery codes (shown once).
pub async fn mfa_confirm(app: &App, me: Me, code: String) -> AppResult<Vec<String>> {
    let MfaChange {
        uid,
        ev,
        dk,
        now,
        codes,
        hashes,
    } = me.mfa_change(app, "mfa.enable");
    app.change(move |tx, fx| {
        fx.invalidate(Invalidation::Principals);
        let st = users::mfa_state(tx, &uid)?;
        let Some(secret) = st.pending.as_deref().and_then(|e| dk.decrypt(e)) else {
            return Err(DomainError::validation(
                "code",
                "no enrollment is pending: call /api/auth/mfa/setup first",
            )
            .into());
        };
        let Some(step) = totp::verify(&secret, &code, now, None) else {
            return Err(DomainError::validation("code", "the code is wrong or expired").into());
        };
        users::confirm_mfa(tx, &uid, step, &hashes)?;
        audit::append(tx, &ev)?;
        Ok(())
    })
    .await?;
    Ok(codes)
}

/// A new set of recovery codes (shown once) for an enrolled user, in place of the old ones,
/// against a current authenticator code: a recovery code cannot renew the codes, so a person
/// who has only those left must go through an administrator's `reset-mfa`.
pub async fn mfa_recovery_codes(app: &App, me: Me, code: String) -> AppResult<Vec<String>> {
    if !me.user.mfa_enabled {
        return Err(DomainError::conflict(
            "No authenticator is set up: recovery codes come with its enrollment.",
        ));
    }
    let MfaChange {
        uid,
        ev,
        dk,
        now,
        codes,
        hashes,
    } = me.mfa_change(app, "mfa.recovery_codes");
    let refused = AuditEvent {
        outcome: Outcome::Failure,
        details: json!({"reason": "wrong_code"}),
        ..ev.clone()
    };
    let done = app
        .change(move |tx, _| {
            let st = users::mfa_state(tx, &uid)?;
            let secret = st.secret.as_deref().and_then(|e| dk.decrypt(e));
            let code = code.trim();
            let step = secret
                .filter(|_| code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| totp::verify(&s, code, now, st.last_step));
            let Some(step) = step else {
                return Ok(false);
            };
            if !users::advance_totp_step(tx, &uid, step)? {
                return Ok(false);
            }
            users::replace_recovery_codes(tx, &uid, &hashes)?;
            audit::append(tx, &ev)?;
            Ok(true)
        })
        .await?;
    if !done {
        let e = DomainError::validation("code", "the authenticator code is wrong or already used");
        return Err(refuse(app, refused, e).await);
    }
    Ok(codes)
}

/// Turns MFA off: the password (checked like a sign-in, under the lockout) and a current
/// code or an unused recovery code.
pub async fn mfa_disable(
    app: &App,
    origin: &Origin,
    me: Me,
    password: String,
    code: String,
) -> AppResult<()> {
    let reason = "wrong_password_on_mfa_disable";
    let tid = me.actor.tenant.as_str().to_string();
    if !signin::recheck_password(app, origin, &me.user, &tid, password, reason).await? {
        return Err(DomainError::validation("password", "the password is wrong").audited());
    }
    let (uid, ev, dk) = (
        me.user.user_id.clone(),
        me.event("mfa.disable"),
        app.data_key.clone(),
    );
    let email = users::normalize_email(&me.user.email);
    app.change(move |tx, fx| {
        fx.invalidate(Invalidation::Principals);
        if !users::verify_second_factor(tx, &dk, &uid, &code)? {
            let e = DomainError::validation("code", "the code is wrong or already used");
            return Err(e.into());
        }
        users::clear_mfa(tx, &uid)?;
        lockout::reset(tx, &email)?;
        audit::append(tx, &ev)?;
        Ok(())
    })
    .await
}

/// Changes one's password; every other login session of the user ends, and so do reset
/// links not yet used.
pub async fn change_password(app: &App, me: Me, current: String, new: String) -> AppResult<()> {
    let tid = me.actor.tenant.as_str().to_string();
    check_policy(app, Some(&tid), "new_password", &new).await?;
    if !app
        .passwords
        .verify(current, me.user_hash(app).await?)
        .await
    {
        let ev = AuditEvent {
            outcome: Outcome::Failure,
            details: json!({"reason": "wrong_password"}),
            ..me.event("auth.change_password")
        };
        let e = DomainError::validation("current_password", "the current password is wrong");
        return Err(refuse(app, ev, e).await);
    }
    let new_hash = app.passwords.hash(new).await;
    let (uid, sid, ev) = (
        me.user.user_id.clone(),
        me.session.clone(),
        me.event("auth.change_password"),
    );
    app.write(move |tx, fx| {
        users::set_password(tx, &uid, &new_hash)?;
        let ended = sessions::end_all_for_user(tx, &uid, Some(&sid), "password_changed")?;
        fx.invalidate(Invalidation::Sessions(ended));
        one_time::revoke_user_purpose(tx, &uid, RESET_PURPOSE)?;
        audit::append(tx, &ev)?;
        Ok(())
    })
    .await
}

struct MfaChange {
    uid: String,
    ev: AuditEvent,
    dk: crate::domain::crypto::DataKey,
    now: u64,
    codes: Vec<String>,
    hashes: Vec<String>,
}

impl Me {
    /// What an MFA change works with: the user, its audit event, the data key, the time, and a
    /// fresh set of recovery codes with their hashes.
    fn mfa_change(&self, app: &App, action: &str) -> MfaChange {
        let codes = totp::recovery_codes();
        MfaChange {
            uid: self.user.user_id.clone(),
            ev: self.event(action),
            dk: app.data_key.clone(),
            now: app.now().timestamp().max(0) as u64,
            hashes: codes.iter().map(|c| totp::recovery_hash(c)).collect(),
            codes,
        }
    }

    async fn user_hash(&self, app: &App) -> AppResult<Option<String>> {
        let uid = self.user.user_id.clone();
        Ok(app
            .read(move |c| Ok(users::get(c, &uid)?.and_then(|u| u.password_hash)))
            .await?)
    }
}

/// Mails a one-time reset link valid 30 minutes to an active account with this email. The
/// answer is the same whether or not there is one (no user enumeration); the audit log says.
pub async fn forgot_password(app: &App, origin: &Origin, email: String) -> AppResult<()> {
    // The shape is judged alike for every address, so a refusal tells nothing about accounts.
    if email.is_empty() || email.chars().count() > 254 {
        return Err(DomainError::validation("email", "must be 1-254 characters"));
    }
    let o = origin.clone();
    let action = "auth.forgot_password";
    let issued = app
        .write(move |tx, _| {
            let Some(u) = users::find_by_email(tx, &email)?.filter(|u| u.status == "active") else {
                let details = json!({"email": email, "reason": "unknown_email"});
                audit::append(tx, &o.event(None, None, action, Outcome::Failure, details))?;
                return Ok(None);
            };
            let tenant = tenants::for_user(tx, &u.id)?.first().map(|t| t.id.clone());
            let t = one_time::issue(
                tx,
                RESET_PURPOSE,
                Some(&u.id),
                tenant.as_deref(),
                &json!({}),
                RESET_TTL,
            )?;
            let details = json!({"email": u.email});
            let ev = o.event(
                tenant.as_deref(),
                Some(&u.id),
                action,
                Outcome::Success,
                details,
            );
            audit::append(tx, &ev)?;
            Ok(Some((u.email, tenant, t)))
        })
        .await?;
    if let Some((to, tenant, token)) = issued {
        app.send(super::mail::reset_asked(app, tenant, to, &token));
    }
    Ok(())
}

/// Sets a new password with a reset token (single use); every login session of the user
/// ends. The policy is checked before the token is spent, so a weak password does not burn it.
pub async fn reset_password(
    app: &App,
    origin: &Origin,
    token: String,
    new_password: String,
) -> AppResult<()> {
    let action = "auth.reset_password";
    let t = token.clone();
    let ot = match app
        .read(move |c| one_time::check(c, RESET_PURPOSE, &t))
        .await?
    {
        Ok(ot) => ot,
        Err(r) => {
            let ev = origin.event(
                None,
                None,
                action,
                Outcome::Failure,
                json!({"reason": format!("{r:?}")}),
            );
            return Err(refuse(app, ev, one_time_refused(r)).await);
        }
    };
    check_policy(app, ot.tenant_id.as_deref(), "new_password", &new_password).await?;
    let hash = app.passwords.hash(new_password).await;
    let o = origin.clone();
    app.change(move |tx, fx| {
        let ot = one_time::consume(tx, RESET_PURPOSE, &token)?.map_err(one_time_refused)?;
        let uid = ot.user_id.clone().ok_or(StoreError::NotFound)?;
        let u = users::get(tx, &uid)?.ok_or(StoreError::NotFound)?;
        users::set_password(tx, &uid, &hash)?;
        let ended = sessions::end_all_for_user(tx, &uid, None, "password_reset")?;
        fx.invalidate(Invalidation::Sessions(ended));
        one_time::revoke_user_purpose(tx, &uid, RESET_PURPOSE)?;
        lockout::reset(tx, &users::normalize_email(&u.email))?;
        audit::append(tx, &spent(&o, &ot, &uid, action))?;
        Ok(())
    })
    .await
}

/// The person's own open login sessions in the actor's tenant.
pub async fn own_sessions(app: &App, me: &Me) -> AppResult<Vec<sessions::SessionInfo>> {
    let (tid, uid) = (
        me.actor.tenant.as_str().to_string(),
        me.user.user_id.clone(),
    );
    Ok(app
        .read(move |c| sessions::list_open(c, &tid, Some(&uid)))
        .await?)
}

/// Ends one of the person's own login sessions (`NotFound` for anyone else's).
pub async fn end_own_session(app: &App, me: Me, id: String) -> AppResult<()> {
    let uid = me.user.user_id.clone();
    let ev = me
        .actor
        .event("session.end", format!("session:{id}"), json!({}));
    app.change(move |tx, fx| {
        fx.invalidate(Invalidation::Sessions(vec![id.clone()]));
        let Some(s) = sessions::get(tx, &id)?.filter(|s| s.user_id == uid) else {
            return Err(DomainError::not_found().into());
        };
        if !sessions::end(tx, &s.id, "ended_by_user")? {
            return Err(DomainError::not_found().into());
        }
        audit::append(tx, &ev)?;
        Ok(())
    })
    .await
}

/// The tenants a user belongs to.
pub async fn own_tenants(app: &App, user: String) -> AppResult<Vec<tenants::Tenant>> {
    Ok(app.read(move |c| tenants::for_user(c, &user)).await?)
}

/// Accepts an invitation: creates the account, or adds the membership to an existing one
/// (whose password is kept). The grant is judged as it stands now (`grant_still_held`).
pub async fn accept_invitation(
    app: &App,
    origin: &Origin,
    token: String,
    name: String,
    password: String,
) -> AppResult<Member> {
    let name = super::users::parse_name(&name)?;
    let action = "invitation.accept";
    let t = token.clone();
    let checked = app
        .read(move |c| {
            let ot = match one_time::check(c, INVITE_PURPOSE, &t)? {
                Ok(ot) => ot,
                Err(r) => return Ok(Err(r)),
            };
            let Some(inv) = invitations::by_token(c, &ot.token_hash)? else {
                return Ok(Err(Refused::Invalid));
            };
            let exists = users::find_by_email(c, &inv.0.email)?.is_some();
            Ok(Ok((inv, exists)))
        })
        .await?;
    let ((inv, tid), exists) = match checked {
        Ok(v) => v,
        Err(r) => {
            let reason = if r == Refused::Expired {
                "expired"
            } else {
                "invalid_token"
            };
            let ev = origin.event(
                None,
                None,
                action,
                Outcome::Failure,
                json!({"reason": reason}),
            );
            return Err(refuse(app, ev, one_time_refused(r)).await);
        }
    };
    let hash = if exists {
        None
    } else {
        check_policy(app, Some(&tid), "password", &password).await?;
        Some(app.passwords.hash(password).await)
    };
    let (o, now) = (origin.clone(), app.now());
    app.change(move |tx, fx| {
        fx.invalidate(Invalidation::Principals);
        let ot = one_time::consume(tx, INVITE_PURPOSE, &token)?.map_err(one_time_refused)?;
        let user = match users::find_by_email(tx, &inv.email)? {
            Some(u) => u,
            None => {
                let u = users::create(tx, &inv.email, &name, hash.as_deref())?;
                users::set_email_verified(tx, &u.id)?;
                u
            }
        };
        if users::is_member(tx, &user.id, &tid)? {
            let e = DomainError::conflict("you are already a member of this tenant");
            return Err(e.into());
        }
        grant_still_held(tx, &tid, &inv, now)?;
        users::add_membership(tx, &user.id, &tid, &inv.roles)?;
        invitations::mark_accepted(tx, &ot.token_hash)?;
        let details = json!({"invitation_id": inv.id, "email": inv.email});
        audit::append(
            tx,
            &o.event(
                Some(&tid),
                Some(&user.id),
                action,
                Outcome::Success,
                details,
            ),
        )?;
        Ok(users::member(tx, &tid, &user.id)?.ok_or(StoreError::NotFound)?)
    })
    .await
}

/// An invitation grants its roles as they are when it is accepted: its sender (a user, who
/// must still be an active member; or an API key, which must still exist and not have
/// expired) must still hold every capability those roles now grant (SPEC §8: no grant beyond
/// what the granter holds), or the invitation is refused and stays pending. One whose sender
/// was deleted since grants nothing.
fn grant_still_held(
    tx: &crate::store::Db,
    tenant_id: &str,
    inv: &invitations::Invitation,
    now: crate::domain::time::Timestamp,
) -> Result<(), WriteError> {
    let granted = users::roles_caps(tx, tenant_id, &inv.roles)?;
    let by = inv.created_by.as_deref().unwrap_or("");
    let held = if users::get(tx, by)?.is_some() {
        users::principal(tx, by, tenant_id)?
            .filter(|p| p.active())
            .map(|p| p.caps)
            .unwrap_or_default()
    } else if let Some(k) = crate::store::api_keys::get(tx, tenant_id, by)? {
        // Sent with an API key: what the key grants now (nothing once it has expired).
        let expired = k
            .expires_at
            .as_deref()
            .and_then(crate::domain::time::parse)
            .is_some_and(|t| t <= now);
        if expired {
            crate::domain::capability::CapSet::empty()
        } else {
            crate::domain::api_key::held(&k.services)
        }
    } else if by == "master" {
        // Break-glass: its grant was checked against BREAK_GLASS_CAPABILITIES when made.
        return Ok(());
    } else {
        // Its sender (a user deleted since, or a key deleted since) holds nothing now.
        crate::domain::capability::CapSet::empty()
    };
    crate::domain::reach::grant(held, granted).map_err(|e| {
        DomainError::new(
            e.code,
            format!(
                "This invitation can no longer be accepted: the person who sent it does not hold what its roles grant now. {} Ask for a new invitation.",
                e.message
            ),
        )
    })?;
    Ok(())
}

/// Marks the email verified with the token from the verification mail.
pub async fn verify_email(app: &App, origin: &Origin, token: String) -> AppResult<()> {
    let (o, action) = (origin.clone(), "auth.verify_email");
    let refused = app
        .change(move |tx, fx| {
            fx.invalidate(Invalidation::Principals);
            let ot = match one_time::consume(tx, VERIFY_PURPOSE, &token)? {
                Ok(ot) => ot,
                Err(r) => {
                    let details = json!({"reason": format!("{r:?}")});
                    audit::append(tx, &o.event(None, None, action, Outcome::Failure, details))?;
                    return Ok(Some(r));
                }
            };
            let uid = ot.user_id.clone().ok_or(StoreError::NotFound)?;
            users::set_email_verified(tx, &uid)?;
            audit::append(tx, &spent(&o, &ot, &uid, action))?;
            Ok(None)
        })
        .await?;
    match refused {
        Some(r) => Err(one_time_refused(r).audited()),
        None => Ok(()),
    }
}
