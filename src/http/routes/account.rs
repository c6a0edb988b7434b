//! A person's own account: MFA enrollment, password change and reset, their login sessions,
//! their tenants, accepting an invitation and verifying the email address.

use crate::app::Invalidation;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{audit_only, audited, event, login_answer};
use super::user_event;
use crate::app::signin;
use crate::domain::error::Code;
use crate::domain::{password, time, totp};
use crate::http::AppState;
use crate::http::auth::{Caller, tenant_settings};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, paged, paged_all, url_pairs};
use crate::store::audit::{self, Outcome};
use crate::store::one_time::{self, Refused};
use crate::store::{self, StoreError, invitations, lockout, sessions, tenants, users};

pub use crate::app::users::RESET_PURPOSE;
pub const INVITE_PURPOSE: &str = "invite";
pub const VERIFY_PURPOSE: &str = "verify_email";
pub use crate::app::users::RESET_TTL;

fn refused(r: Refused) -> ApiError {
    match r {
        Refused::Invalid => ApiError::invalid_token(),
        Refused::Expired => ApiError::token_expired(),
    }
}

/// The password policy of a tenant (its `password_min_length`, never below 12).
async fn check_password(
    state: &web::Data<AppState>,
    tenant_id: Option<&str>,
    field: &str,
    pw: &str,
) -> Result<(), ApiError> {
    let min = match tenant_id {
        Some(t) => tenant_settings(state, t).await?.password_min_length as usize,
        None => password::MIN_LEN,
    };
    password::check_policy(pw, min).map_err(|m| ApiError::validation(field, m))
}

/// Start MFA enrollment: a new secret, pending until confirmed with `/mfa/validate`.
#[utoipa::path(post, path = "/api/auth/mfa/setup", tag = "account",
    responses((status = 200, description = "`{secret, otpauth_url, qr_svg}`"), (status = 409, description = "already enrolled")))]
pub async fn mfa_setup(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let (user, _) = caller.require_interactive()?;
    if user.mfa_enabled {
        return Err(ApiError::conflict(
            "MFA is already enabled; disable it before enrolling again.",
        ));
    }
    let secret = totp::new_secret();
    let enc = state.data_key.encrypt(&secret);
    let uid = user.user_id.clone();
    let ev = user_event(
        &caller,
        &meta,
        "mfa.setup",
        format!("user:{uid}"),
        json!({}),
    );
    store::write(&state.pool, move |tx| {
        users::set_mfa_pending(tx, &uid, &enc)?;
        audit::append(tx, &ev).map(|_| ())
    })
    .await?;
    let url = totp::otpauth_url(&secret, &user.email);
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({
            "secret": totp::base32(&secret), "otpauth_url": url, "qr_svg": totp::qr_svg(&url),
        })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaValidate {
    pub code: String,
    /// present for the second step of a sign-in
    pub mfa_token: Option<String>,
}

/// Confirm enrollment (interactive, `{code}` → recovery codes) or complete a sign-in
/// (`{mfa_token, code}` → the login answer).
#[utoipa::path(post, path = "/api/auth/mfa/validate", tag = "account", request_body = MfaValidate,
    responses((status = 200, description = "`{recovery_codes}` or the login answer"), (status = 400, description = "wrong code while enrolling"),
              (status = 401, description = "wrong code or token while signing in")))]
pub async fn mfa_validate(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: Meta,
    body: Json<MfaValidate>,
) -> Result<HttpResponse, ApiError> {
    let MfaValidate { code, mfa_token } = body.0;
    if let Some(t) = mfa_token {
        let signed = signin::mfa_step(&state.app, meta.origin(), t, code)
            .await
            .map_err(audited)?;
        return Ok(login_answer(&state, &signed));
    }
    let caller = Caller::from_request(&req, &mut Payload::None).await?;
    let (user, _) = caller.require_interactive()?;
    let uid = user.user_id.clone();
    let dk = state.data_key.clone();
    let codes = totp::recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_hash(c)).collect();
    let ev = user_event(
        &caller,
        &meta,
        "mfa.enable",
        format!("user:{uid}"),
        json!({}),
    );
    let ok = state
        .app
        .write(move |tx, fx| {
            fx.invalidate(Invalidation::Principals);
            let st = users::mfa_state(tx, &uid)?;
            let Some(secret) = st.pending.as_deref().and_then(|e| dk.decrypt(e)) else {
                return Ok(Err(
                    "no enrollment is pending: call /api/auth/mfa/setup first",
                ));
            };
            let now = time::now().timestamp().max(0) as u64;
            let Some(step) = totp::verify(&secret, &code, now, None) else {
                return Ok(Err("the code is wrong or expired"));
            };
            users::confirm_mfa(tx, &uid, step, &hashes)?;
            audit::append(tx, &ev)?;
            Ok(Ok(()))
        })
        .await?;
    if let Err(why) = ok {
        return Err(ApiError::validation("code", why));
    }
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({"recovery_codes": codes})))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaDisable {
    pub password: String,
    pub code: String,
}

/// Turn MFA off (password and a current code or recovery code).
#[utoipa::path(post, path = "/api/auth/mfa/disable", tag = "account", request_body = MfaDisable,
    responses((status = 204, description = "disabled"), (status = 400, description = "wrong password or code")))]
pub async fn mfa_disable(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    body: Json<MfaDisable>,
) -> Result<HttpResponse, ApiError> {
    let (user, _) = caller.require_interactive()?;
    let uid = user.user_id.clone();
    let (tid, reason) = (caller.tenant.id.as_str(), "wrong_password_on_mfa_disable");
    let password = body.0.password;
    let origin = meta.origin();
    if !signin::recheck_password(&state.app, &origin, user, tid, password, reason).await? {
        return Err(ApiError::validation("password", "the password is wrong").already_audited());
    }
    let dk = state.data_key.clone();
    let code = body.0.code;
    let email = user.email.clone();
    let ev = user_event(
        &caller,
        &meta,
        "mfa.disable",
        format!("user:{uid}"),
        json!({}),
    );
    let ok = state
        .app
        .write(move |tx, fx| {
            fx.invalidate(Invalidation::Principals);
            if !users::verify_second_factor(tx, &dk, &uid, &code)? {
                return Ok(false);
            }
            users::clear_mfa(tx, &uid)?;
            lockout::reset(tx, &users::normalize_email(&email))?;
            audit::append(tx, &ev)?;
            Ok(true)
        })
        .await?;
    if !ok {
        return Err(ApiError::validation(
            "code",
            "the code is wrong or already used",
        ));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// Change one's password; every other login session of the user ends.
#[utoipa::path(post, path = "/api/auth/change-password", tag = "account", request_body = ChangePassword,
    responses((status = 204, description = "changed"), (status = 400, description = "wrong current password or weak new one")))]
pub async fn change_password(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    body: Json<ChangePassword>,
) -> Result<HttpResponse, ApiError> {
    let (user, sid) = caller.require_interactive()?;
    let (uid, sid) = (user.user_id.clone(), sid.to_string());
    check_password(
        &state,
        Some(&caller.tenant.id),
        "new_password",
        &body.0.new_password,
    )
    .await?;
    let u2 = uid.clone();
    let hash = store::run(&state.pool, move |c| {
        Ok(users::get(c, &u2)?.and_then(|u| u.password_hash))
    })
    .await?;
    if !state.passwords.verify(body.0.current_password, hash).await {
        audit_only(
            &state,
            event(
                &meta,
                Some(&caller.tenant.id),
                Some(&uid),
                "auth.change_password",
                Outcome::Failure,
                json!({"reason": "wrong_password"}),
            ),
        )
        .await?;
        return Err(
            ApiError::validation("current_password", "the current password is wrong")
                .already_audited(),
        );
    }
    let new_hash = state.passwords.hash(body.0.new_password).await;
    let ev = user_event(
        &caller,
        &meta,
        "auth.change_password",
        format!("user:{uid}"),
        json!({}),
    );
    state
        .app
        .write(move |tx, fx| {
            users::set_password(tx, &uid, &new_hash)?;
            let ended = sessions::end_all_for_user(tx, &uid, Some(&sid), "password_changed")?;
            fx.invalidate(Invalidation::Sessions(ended));
            one_time::revoke_user_purpose(tx, &uid, RESET_PURPOSE)?;
            audit::append(tx, &ev)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPassword {
    pub email: String,
}

/// Mail a one-time reset link valid 30 minutes; always 202 (no user enumeration).
#[utoipa::path(post, path = "/api/auth/forgot-password", tag = "account", request_body = ForgotPassword,
    responses((status = 202, description = "accepted, whether or not the email exists")))]
pub async fn forgot_password(
    state: web::Data<AppState>,
    meta: Meta,
    body: Json<ForgotPassword>,
) -> Result<HttpResponse, ApiError> {
    let email = body.0.email;
    // The shape is judged alike for every address, so a 400 tells nothing about accounts.
    if email.is_empty() || email.chars().count() > 254 {
        return Err(ApiError::validation("email", "must be 1-254 characters"));
    }
    let lookup = email.clone();
    let m = meta.clone();
    let issued = store::write(&state.pool, move |tx| {
        let Some(u) = users::find_by_email(tx, &lookup)?.filter(|u| u.status == "active") else {
            audit::append(
                tx,
                &event(
                    &m,
                    None,
                    None,
                    "auth.forgot_password",
                    Outcome::Failure,
                    json!({"email": lookup, "reason": "unknown_email"}),
                ),
            )?;
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
        audit::append(
            tx,
            &event(
                &m,
                tenant.as_deref(),
                Some(&u.id),
                "auth.forgot_password",
                Outcome::Success,
                json!({"email": u.email}),
            ),
        )?;
        Ok(Some((u.email, tenant, t)))
    })
    .await?;
    if let Some((to, tenant, token)) = issued {
        let link = format!(
            "{}/reset-password#token={}",
            state.config.public_url,
            token.expose()
        );
        let body = format!(
            "A password reset was requested for your labgate account.\n\nOpen this link within 30 minutes to choose a new password:\n\n{link}\n\nIf you did not ask for this, ignore this message; your password stays as it is.\n"
        );
        super::send_mail(
            &state,
            tenant,
            to,
            "labgate password reset",
            body,
            "password_reset",
        );
    }
    Ok(HttpResponse::Accepted().json(json!({"status": "accepted"})))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    pub token: String,
    pub new_password: String,
}

/// Set a new password with a reset token (single use); every login session of the user ends.
#[utoipa::path(post, path = "/api/auth/reset-password", tag = "account", request_body = ResetPassword,
    responses((status = 204, description = "password set"), (status = 401, description = "INVALID_TOKEN or TOKEN_EXPIRED")))]
pub async fn reset_password(
    state: web::Data<AppState>,
    meta: Meta,
    body: Json<ResetPassword>,
) -> Result<HttpResponse, ApiError> {
    let ResetPassword {
        token,
        new_password,
    } = body.0;
    let t = token.clone();
    let ot = match store::run(&state.pool, move |c| one_time::check(c, RESET_PURPOSE, &t)).await? {
        Ok(ot) => ot,
        Err(r) => {
            audit_only(
                &state,
                event(
                    &meta,
                    None,
                    None,
                    "auth.reset_password",
                    Outcome::Failure,
                    json!({"reason": format!("{r:?}")}),
                ),
            )
            .await?;
            return Err(refused(r).already_audited());
        }
    };
    // The policy is checked before the token is spent, so a weak password does not burn it.
    check_password(
        &state,
        ot.tenant_id.as_deref(),
        "new_password",
        &new_password,
    )
    .await?;
    let hash = state.passwords.hash(new_password).await;
    let m = meta.clone();
    let out = state
        .app
        .write(move |tx, fx| {
            let ot = match one_time::consume(tx, RESET_PURPOSE, &token)? {
                Ok(ot) => ot,
                Err(r) => return Ok(Err(r)),
            };
            let uid = ot.user_id.clone().ok_or(StoreError::NotFound)?;
            let u = users::get(tx, &uid)?.ok_or(StoreError::NotFound)?;
            users::set_password(tx, &uid, &hash)?;
            let ended = sessions::end_all_for_user(tx, &uid, None, "password_reset")?;
            fx.invalidate(Invalidation::Sessions(ended));
            one_time::revoke_user_purpose(tx, &uid, RESET_PURPOSE)?;
            lockout::reset(tx, &users::normalize_email(&u.email))?;
            audit::append(
                tx,
                &event(
                    &m,
                    ot.tenant_id.as_deref(),
                    Some(&uid),
                    "auth.reset_password",
                    Outcome::Success,
                    json!({}),
                ),
            )?;
            Ok(Ok(()))
        })
        .await?;
    out.map_err(refused)?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's own open login sessions in this tenant.
#[utoipa::path(get, path = "/api/auth/sessions", tag = "account", responses((status = 200, description = "sessions, `current` marks this one")))]
pub async fn my_sessions(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let (user, sid) = caller.require_interactive()?;
    let (tid, uid, sid) = (
        caller.tenant.id.clone(),
        user.user_id.clone(),
        sid.to_string(),
    );
    let all = store::run(&state.pool, move |c| {
        sessions::list_open(c, &tid, Some(&uid))
    })
    .await?;
    let total = all.len() as u64;
    let items: Vec<serde_json::Value> = all
        .into_iter()
        .skip(page.offset() as usize)
        .take(page.limit as usize)
        .map(|s| {
            json!({"id": s.id, "created_at": s.created_at, "last_used_at": s.last_used_at, "ip": s.ip,
                   "user_agent": s.user_agent, "amr": s.amr, "current": s.id == sid})
        })
        .collect();
    Ok(paged(&req, page, total, items))
}

/// End one of the caller's own login sessions.
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "account", params(("id" = String, Path)),
    responses((status = 204, description = "ended"), (status = 404, description = "not the caller's session")))]
pub async fn end_my_session(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (user, _) = caller.require_interactive()?;
    let (uid, id) = (user.user_id.clone(), id.into_inner());
    let ev = user_event(
        &caller,
        &meta,
        "session.end",
        format!("session:{id}"),
        json!({}),
    );
    let sid = id.clone();
    let sid_inv = sid.clone();
    let ended = state
        .app
        .write(move |tx, fx| {
            fx.invalidate(Invalidation::Sessions(vec![sid_inv]));
            let Some(s) = sessions::get(tx, &id)?.filter(|s| s.user_id == uid) else {
                return Ok(false);
            };
            if !sessions::end(tx, &s.id, "ended_by_user")? {
                return Ok(false);
            }
            audit::append(tx, &ev)?;
            Ok(true)
        })
        .await?;
    if !ended {
        return Err(ApiError::not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The tenants the signed-in user belongs to.
#[utoipa::path(get, path = "/api/auth/tenants", tag = "account", responses((status = 200, description = "tenants")))]
pub async fn my_tenants(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user.clone().ok_or_else(|| {
        ApiError::forbidden(
            Code::InteractiveSessionRequired,
            "Tenants belong to a signed-in user.",
        )
    })?;
    let all = store::run(&state.pool, move |c| tenants::for_user(c, &user.user_id)).await?;
    Ok(paged_all(&req, page, all))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchTenant {
    pub tenant: String,
}

/// End the current login session and start one in another tenant of the same user.
#[utoipa::path(post, path = "/api/auth/switch-tenant", tag = "account", request_body = SwitchTenant,
    responses((status = 200, description = "the login answer for that tenant"), (status = 403, description = "TENANT_FORBIDDEN")))]
pub async fn switch_tenant(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    body: Json<SwitchTenant>,
) -> Result<HttpResponse, ApiError> {
    let owner = super::auth::session_owner(&caller)?;
    let target = body.0.tenant;
    let signed = signin::switch_tenant(&state.app, meta.origin(), owner, &target)
        .await
        .map_err(audited)?;
    Ok(login_answer(&state, &signed))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: String,
    pub name: String,
    pub password: String,
}

/// Accept an invitation: creates the account, or adds the membership to an existing one
/// (whose password is kept).
#[utoipa::path(post, path = "/api/auth/invite", tag = "account", request_body = AcceptInvitation,
    responses((status = 201, description = "member created"), (status = 401, description = "INVALID_TOKEN or TOKEN_EXPIRED")))]
pub async fn accept_invitation(
    state: web::Data<AppState>,
    meta: Meta,
    body: Json<AcceptInvitation>,
) -> Result<HttpResponse, ApiError> {
    let AcceptInvitation {
        token,
        name,
        password: pw,
    } = body.0;
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "name",
            "must be at most 200 printable characters",
        ));
    }
    let t = token.clone();
    let checked = store::run(&state.pool, move |c| {
        let ot = match one_time::check(c, INVITE_PURPOSE, &t)? {
            Ok(ot) => ot,
            Err(r) => return Ok(Err(r)),
        };
        let inv = invitations::by_token(c, &ot.token_hash)?;
        let existing = match &inv {
            Some((i, _)) => users::find_by_email(c, &i.email)?,
            None => None,
        };
        Ok(Ok((inv, existing.is_some())))
    })
    .await?;
    let (inv, tenant_id, exists) = match checked {
        Ok((Some((inv, tid)), exists)) => (inv, tid, exists),
        Ok((None, _)) | Err(Refused::Invalid) => {
            audit_only(
                &state,
                event(
                    &meta,
                    None,
                    None,
                    "invitation.accept",
                    Outcome::Failure,
                    json!({"reason": "invalid_token"}),
                ),
            )
            .await?;
            return Err(ApiError::invalid_token().already_audited());
        }
        Err(Refused::Expired) => {
            audit_only(
                &state,
                event(
                    &meta,
                    None,
                    None,
                    "invitation.accept",
                    Outcome::Failure,
                    json!({"reason": "expired"}),
                ),
            )
            .await?;
            return Err(ApiError::token_expired().already_audited());
        }
    };
    let hash = if exists {
        None
    } else {
        check_password(&state, Some(&tenant_id), "password", &pw).await?;
        Some(state.passwords.hash(pw).await)
    };
    let m = meta.clone();
    let tid = tenant_id.clone();
    let out = state
        .app
        .change(move |tx, fx| {
            fx.invalidate(Invalidation::Principals);
            let ot = match one_time::consume(tx, INVITE_PURPOSE, &token)? {
                Ok(ot) => ot,
                Err(r) => return Ok(Err(r)),
            };
            let user = match users::find_by_email(tx, &inv.email)? {
                Some(u) => u,
                None => {
                    let u = users::create(tx, &inv.email, name.trim(), hash.as_deref())?;
                    users::set_email_verified(tx, &u.id)?;
                    u
                }
            };
            if users::is_member(tx, &user.id, &tid)? {
                return Err(
                    StoreError::Conflict("you are already a member of this tenant".into()).into(),
                );
            }
            grant_still_held(tx, &tid, &inv)?;
            users::add_membership(tx, &user.id, &tid, &inv.roles)?;
            invitations::mark_accepted(tx, &ot.token_hash)?;
            audit::append(
                tx,
                &event(
                    &m,
                    Some(&tid),
                    Some(&user.id),
                    "invitation.accept",
                    Outcome::Success,
                    json!({"invitation_id": inv.id, "email": inv.email}),
                ),
            )?;
            Ok(Ok(users::member(tx, &tid, &user.id)?))
        })
        .await?;
    let member = out.map_err(refused)?;
    Ok(HttpResponse::Created().json(member))
}

/// An invitation grants its roles as they are when it is accepted: its sender (a user, who
/// must still be an active member; or an API key, which must still exist and not have
/// expired) must still hold every capability those roles now grant (SPEC §8: no grant beyond
/// what the granter holds), or the invitation is refused and stays pending. One whose sender
/// was deleted since grants nothing.
fn grant_still_held(
    tx: &rusqlite::Connection,
    tenant_id: &str,
    inv: &invitations::Invitation,
) -> Result<(), crate::app::WriteError> {
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
            .is_some_and(|t| t <= crate::domain::time::now());
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
        crate::domain::error::DomainError::new(
            e.code,
            format!(
                "This invitation can no longer be accepted: the person who sent it does not hold what its roles grant now. {} Ask for a new invitation.",
                e.message
            ),
        )
    })?;
    Ok(())
}

/// Mark the email verified with the token from the verification mail (`?t=lgx_...`).
#[utoipa::path(get, path = "/api/auth/verify-email", tag = "account", params(("t" = String, Query)),
    responses((status = 200, description = "verified"), (status = 401, description = "INVALID_TOKEN or TOKEN_EXPIRED")))]
pub async fn verify_email(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let t = url_pairs(req.query_string())
        .into_iter()
        .find(|(k, _)| k == "t")
        .map(|(_, v)| v)
        .ok_or_else(|| ApiError::validation("t", "the verification token is missing"))?;
    let m = meta.clone();
    let out = state
        .app
        .write(move |tx, fx| {
            fx.invalidate(Invalidation::Principals);
            let ot = match one_time::consume(tx, VERIFY_PURPOSE, &t)? {
                Ok(ot) => ot,
                Err(r) => {
                    audit::append(
                        tx,
                        &event(
                            &m,
                            None,
                            None,
                            "auth.verify_email",
                            Outcome::Failure,
                            json!({"reason": format!("{r:?}")}),
                        ),
                    )?;
                    return Ok(Err(r));
                }
            };
            let uid = ot.user_id.clone().ok_or(StoreError::NotFound)?;
            users::set_email_verified(tx, &uid)?;
            audit::append(
                tx,
                &event(
                    &m,
                    ot.tenant_id.as_deref(),
                    Some(&uid),
                    "auth.verify_email",
                    Outcome::Success,
                    json!({}),
                ),
            )?;
            Ok(Ok(()))
        })
        .await?;
    out.map_err(|r| refused(r).already_audited())?;
    Ok(HttpResponse::Ok().json(json!({"email_verified": true})))
}

/// Mails the email-verification link for a token issued in the caller's (committed) change.
pub fn mail_verification(state: &web::Data<AppState>, tenant_id: &str, email: &str, token: &str) {
    let link = format!(
        "{}/api/auth/verify-email?t={token}",
        state.config.public_url
    );
    let body = format!("Confirm the email address of your labgate account by opening:\n\n{link}\n");
    super::send_mail(
        state,
        Some(tenant_id.to_string()),
        email.to_string(),
        "labgate: confirm your email address",
        body,
        "verify_email",
    );
}
