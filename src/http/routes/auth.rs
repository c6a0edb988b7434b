//! Sign-in: login, refresh, logout, the caller's profile and the published verification key.

use crate::app::Invalidation;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::error::Code;
use crate::domain::jwt::{AUDIENCE, Claims};
use crate::domain::time;
use crate::domain::token::{self, Kind};
use crate::http::AppState;
use crate::http::auth::{self, CSRF_COOKIE, Caller, REFRESH_COOKIE};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, OptionalJson};
use crate::store::audit::{self, AuditEvent, Outcome};
use crate::store::sessions::{self, NewSession, StartSession};
use crate::store::tenants::{self, Tenant};
use crate::store::users::{self, Principal};
use crate::store::{self, StoreError, events, lockout, one_time};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    pub totp_code: Option<String>,
    /// slug or id of the tenant to sign in to (default: the user's first tenant)
    pub tenant: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: Option<String>,
    pub name: String,
    pub roles: Vec<String>,
    pub capabilities: Vec<&'static str>,
    #[serde(rename = "tenantId")]
    pub tenant_id: String,
    #[serde(rename = "tenantSlug")]
    pub tenant_slug: String,
    pub mfa_enabled: bool,
}

#[derive(Serialize, ToSchema)]
pub struct LoginAnswer {
    pub token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub user: UserView,
}

fn user_view(p: &Principal, t: &Tenant) -> UserView {
    UserView {
        id: p.user_id.clone(),
        email: Some(p.email.clone()),
        name: p.name.clone(),
        roles: p.roles.clone(),
        capabilities: p.caps.names(),
        tenant_id: t.id.clone(),
        tenant_slug: t.slug.clone(),
        mfa_enabled: p.mfa_enabled,
    }
}

fn cookie<'c>(
    state: &AppState,
    name: &'c str,
    value: String,
    path: &'c str,
    http_only: bool,
    same_site: SameSite,
) -> Cookie<'c> {
    let mut c = Cookie::build(name, value)
        .path(path)
        .http_only(http_only)
        .same_site(same_site)
        .secure(state.config.secure_cookies())
        .finish();
    c.set_max_age(CookieDuration::seconds(
        state.config.refresh_ttl.as_secs() as i64
    ));
    c
}

fn expired_cookie<'c>(
    state: &AppState,
    name: &'c str,
    path: &'c str,
    http_only: bool,
    same_site: SameSite,
) -> Cookie<'c> {
    let mut c = cookie(state, name, String::new(), path, http_only, same_site);
    c.make_removal();
    c
}

/// Signs an access token for a login session.
pub fn access_token(
    state: &AppState,
    user_id: &str,
    tenant_id: &str,
    session_id: &str,
    amr: &[String],
) -> String {
    let now = time::now().timestamp();
    state.keys.sign(&Claims {
        iss: state.keys.issuer().to_string(),
        aud: AUDIENCE.to_string(),
        sub: user_id.to_string(),
        tid: tenant_id.to_string(),
        sid: session_id.to_string(),
        amr: amr.to_vec(),
        iat: now,
        nbf: now,
        exp: now + state.config.jwt_ttl.as_secs() as i64,
    })
}

/// The login answer with its three cookies (used by login, MFA completion and tenant switch).
pub fn login_answer(state: &AppState, p: &Principal, t: &Tenant, s: &NewSession) -> HttpResponse {
    let jwt = access_token(state, &p.user_id, &t.id, &s.id, &s.amr);
    let body = LoginAnswer {
        token: jwt,
        refresh_token: s.refresh.expose().to_string(),
        token_type: "Bearer",
        expires_in: state.config.jwt_ttl.as_secs(),
        user: user_view(p, t),
    };
    HttpResponse::Ok()
        .cookie(cookie(
            state,
            auth::session_cookie_name(state),
            s.cookie.expose().to_string(),
            "/",
            true,
            SameSite::Lax,
        ))
        .cookie(cookie(
            state,
            REFRESH_COOKIE,
            s.refresh.expose().to_string(),
            "/api/auth",
            true,
            SameSite::Strict,
        ))
        .cookie(cookie(
            state,
            CSRF_COOKIE,
            s.csrf.expose().to_string(),
            "/",
            false,
            SameSite::Strict,
        ))
        .json(body)
}

/// The audit record of a sign-in step by a user (or, before one is known, anonymous).
pub fn event(
    meta: &Meta,
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
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        request_id: Some(meta.request_id.clone()),
        details,
    }
}

/// Writes one audit record on its own (for refusals, which change nothing else).
pub async fn audit_only(state: &AppState, ev: AuditEvent) -> Result<(), ApiError> {
    store::write(&state.pool, move |tx| audit::append(tx, &ev).map(|_| ())).await?;
    Ok(())
}

/// Sign in with email and password (and the second factor when enrolled).
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "signed in, or `{mfa_required, mfa_token, expires_in}`", body = LoginAnswer),
              (status = 401, description = "INVALID_CREDENTIALS"), (status = 423, description = "ACCOUNT_LOCKED")))]
pub async fn login(
    state: web::Data<AppState>,
    meta: Meta,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest {
        email,
        password,
        totp_code,
        tenant,
    } = body.0;
    let email_norm = users::normalize_email(&email);
    let (lookup, wanted, en) = (email.clone(), tenant.clone(), email_norm.clone());
    let (found, attempt) = store::write(&state.pool, move |c| {
        let attempt = lockout::begin_attempt(c, &en, time::now())?;
        let Some(u) = users::find_by_email(c, &lookup)? else {
            return Ok((None, attempt));
        };
        let ts = tenants::for_user(c, &u.id)?;
        let t = match &wanted {
            Some(w) => ts.iter().find(|t| t.id == *w || t.slug == *w).cloned(),
            None => ts.first().cloned(),
        };
        Ok((Some((u, t)), attempt))
    })
    .await?;
    let who = Attempt {
        user_id: found.as_ref().map(|(u, _)| u.id.clone()),
        tenant_id: found
            .as_ref()
            .and_then(|(_, t)| t.as_ref().map(|t| t.id.clone())),
        email: email.clone(),
        email_norm,
    };
    let attempt = match attempt {
        Ok(n) => n,
        Err(until) => return Err(locked_error(&state, &meta, &who, until).await?),
    };
    let hash = found.as_ref().and_then(|(u, _)| u.password_hash.clone());
    let ok = state.passwords.verify(password, hash).await;
    let (user, tenant) = match (&found, ok) {
        (Some((u, t)), true) if u.status == "active" => (u.clone(), t.clone()),
        (Some(_), true) => {
            return Err(login_failed(&state, &meta, &who, attempt, "account_disabled").await?);
        }
        (Some(_), false) => {
            return Err(login_failed(&state, &meta, &who, attempt, "wrong_password").await?);
        }
        (None, _) => return Err(login_failed(&state, &meta, &who, attempt, "unknown_email").await?),
    };
    let Some(tenant) = tenant else {
        audit_only(
            &state,
            who.event(
                &meta,
                "auth.login",
                Outcome::Failure,
                json!({"reason": "not_a_member"}),
            ),
        )
        .await?;
        return Err(ApiError::forbidden(
            Code::TenantForbidden,
            "You are not a member of that tenant.",
        )
        .already_audited());
    };
    if user.mfa_enabled {
        let Some(code) = totp_code else {
            let (uid, tid) = (user.id.clone(), tenant.id.clone());
            let ev = who.event(
                &meta,
                "auth.login",
                Outcome::Success,
                json!({"step": "mfa_required"}),
            );
            let t = store::write(&state.pool, move |tx| {
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
            return Ok(HttpResponse::Ok().json(json!({
                "mfa_required": true, "mfa_token": t.expose(), "expires_in": MFA_STEP_TTL.as_secs(),
            })));
        };
        return finish_second_factor(&state, &meta, &who, attempt, &user.id, &tenant, &code, None)
            .await;
    }
    let en = who.email_norm.clone();
    store::write(&state.pool, move |tx| lockout::reset(tx, &en)).await?;
    start_session(
        &state,
        &meta,
        &user.id,
        &tenant,
        vec!["pwd".into()],
        "auth.login",
    )
    .await
}

pub const MFA_PURPOSE: &str = "mfa";
pub const MFA_STEP_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// Who tried to sign in, for lockout counting and audit records.
pub struct Attempt {
    pub user_id: Option<String>,
    pub tenant_id: Option<String>,
    pub email: String,
    pub email_norm: String,
}

impl Attempt {
    pub fn event(
        &self,
        meta: &Meta,
        action: &str,
        outcome: Outcome,
        mut details: serde_json::Value,
    ) -> AuditEvent {
        details["email"] = json!(self.email);
        event(
            meta,
            self.tenant_id.as_deref(),
            self.user_id.as_deref(),
            action,
            outcome,
            details,
        )
    }
}

async fn locked_error(
    state: &web::Data<AppState>,
    meta: &Meta,
    who: &Attempt,
    until: time::Timestamp,
) -> Result<ApiError, ApiError> {
    audit_only(
        state,
        who.event(
            meta,
            "auth.login",
            Outcome::Failure,
            json!({"reason": "locked"}),
        ),
    )
    .await?;
    Ok(ApiError::locked(until).already_audited())
}

/// Audits a failed sign-in (the attempt was already counted) and, when it reached the
/// threshold, the lockout; answers 401.
pub async fn login_failed(
    state: &web::Data<AppState>,
    meta: &Meta,
    who: &Attempt,
    attempt: i64,
    reason: &str,
) -> Result<ApiError, ApiError> {
    let ev = who.event(
        meta,
        "auth.login",
        Outcome::Failure,
        json!({"reason": reason}),
    );
    let lock_ev = who.event(
        meta,
        "account.locked",
        Outcome::Denied,
        json!({"failures": attempt}),
    );
    let en = who.email_norm.clone();
    let tenant = who.tenant_id.clone();
    let emitted = store::write(&state.pool, move |tx| {
        audit::append(tx, &ev)?;
        if attempt < lockout::THRESHOLD {
            return Ok(None);
        }
        let until = lockout::locked_until(tx, &en, time::now())?.map(time::fmt);
        let mut lock_ev = lock_ev;
        lock_ev.details["locked_until"] = json!(until);
        audit::append(tx, &lock_ev)?;
        match tenant {
            Some(t) => Ok(Some(events::emit(
                tx,
                Some(&t),
                "account.locked",
                &json!({"email": lock_ev.details["email"], "locked_until": until}),
            )?)),
            None => Ok(None),
        }
    })
    .await?;
    if let Some(e) = emitted {
        state.events.publish(e);
    }
    Ok(ApiError::invalid_credentials().already_audited())
}

/// Verifies the second factor of a sign-in and starts the session; a wrong code is a failed
/// login. `mfa_token` is spent on success when the two-step form was used.
#[allow(clippy::too_many_arguments)]
pub async fn finish_second_factor(
    state: &web::Data<AppState>,
    meta: &Meta,
    who: &Attempt,
    attempt: i64,
    user_id: &str,
    tenant: &Tenant,
    code: &str,
    mfa_token: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let (uid, code, en, dk) = (
        user_id.to_string(),
        code.to_string(),
        who.email_norm.clone(),
        state.data_key.clone(),
    );
    let token = mfa_token.map(str::to_string);
    let ok = store::write(&state.pool, move |tx| {
        if !users::verify_second_factor(tx, &dk, &uid, &code)? {
            return Ok(false);
        }
        if let Some(t) = token
            && one_time::consume(tx, MFA_PURPOSE, &t)?.is_err()
        {
            return Ok(false);
        }
        lockout::reset(tx, &en)?;
        Ok(true)
    })
    .await?;
    if !ok {
        return Err(login_failed(state, meta, who, attempt, "wrong_second_factor").await?);
    }
    start_session(
        state,
        meta,
        user_id,
        tenant,
        vec!["pwd".into(), "otp".into()],
        "auth.login",
    )
    .await
}

/// Starts a login session for a verified user in a tenant, audited as `action`, and answers it.
pub async fn start_session(
    state: &web::Data<AppState>,
    meta: &Meta,
    user_id: &str,
    tenant: &Tenant,
    amr: Vec<String>,
    action: &'static str,
) -> Result<HttpResponse, ApiError> {
    let principal = auth::load_principal(state, user_id, &tenant.id)
        .await?
        .ok_or_else(|| {
            ApiError::forbidden(
                Code::TenantForbidden,
                "You are not a member of that tenant.",
            )
        })?;
    let ev = event(
        meta,
        Some(&tenant.id),
        Some(user_id),
        action,
        Outcome::Success,
        json!({"amr": amr}),
    );
    let (uid, tid, ip, ua) = (
        user_id.to_string(),
        tenant.id.clone(),
        meta.ip.clone(),
        meta.user_agent.clone(),
    );
    let lifetime = state.config.refresh_ttl;
    let new = store::write(&state.pool, move |tx| {
        let s = sessions::start(
            tx,
            StartSession {
                user_id: &uid,
                tenant_id: &tid,
                amr,
                ip,
                user_agent: ua,
                lifetime,
            },
        )?;
        let mut ev = ev;
        ev.target = Some(format!("session:{}", s.id));
        audit::append(tx, &ev)?;
        Ok(s)
    })
    .await?;
    Ok(login_answer(state, &principal, tenant, &new))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

enum RefreshOutcome {
    Rotated {
        session: sessions::SessionState,
        refresh: token::Secret,
    },
    Reused,
    Refused(ApiError),
}

/// Exchange a refresh token (body or `labgate_refresh` cookie) for a new access token and a new
/// refresh token; a spent refresh token presented again ends the whole session.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body(content = RefreshRequest, description = "optional when the refresh cookie is sent"),
    responses((status = 200, description = "rotated", body = LoginAnswer), (status = 401, description = "INVALID_TOKEN, TOKEN_EXPIRED or TOKEN_REVOKED")))]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: Meta,
    body: OptionalJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let presented = match body.0 {
        Some(b) => b.refresh_token,
        None => req
            .cookie(REFRESH_COOKIE)
            .map(|c| c.value().to_string())
            .ok_or_else(ApiError::no_credentials)?,
    };
    if !token::well_formed(Kind::Refresh, &presented) {
        audit_only(
            &state,
            event(
                &meta,
                None,
                None,
                "auth.refresh",
                Outcome::Failure,
                json!({"reason": "invalid_token"}),
            ),
        )
        .await?;
        return Err(ApiError::invalid_token().already_audited());
    }
    let h = token::hash(&presented);
    let idle = state.config.session_idle;
    let m = meta.clone();
    let outcome = state
        .app
        .write(move |tx, fx| {
            let Some((sid, spent)) = sessions::find_refresh(tx, &h)? else {
                audit::append(
                    tx,
                    &event(
                        &m,
                        None,
                        None,
                        "auth.refresh",
                        Outcome::Failure,
                        json!({"reason": "unknown_token"}),
                    ),
                )?;
                return Ok(RefreshOutcome::Refused(ApiError::invalid_token()));
            };
            let session = sessions::get(tx, &sid)?.ok_or(StoreError::NotFound)?;
            let ev = |action: &str, outcome, reason: &str| {
                let mut e = event(
                    &m,
                    Some(&session.tenant_id),
                    Some(&session.user_id),
                    action,
                    outcome,
                    json!({"reason": reason}),
                );
                e.target = Some(format!("session:{}", session.id));
                e
            };
            if spent || !sessions::spend_refresh(tx, &h)? {
                sessions::end(tx, &sid, "refresh_token_reuse")?;
                fx.invalidate(Invalidation::Sessions(vec![sid.clone()]));
                audit::append(
                    tx,
                    &ev("auth.refresh_reuse", Outcome::Denied, "spent_refresh_token"),
                )?;
                return Ok(RefreshOutcome::Reused);
            }
            let now = time::now();
            if session.ended {
                audit::append(tx, &ev("auth.refresh", Outcome::Failure, "session_ended"))?;
                return Ok(RefreshOutcome::Refused(ApiError::token_revoked()));
            }
            if !session.alive(now, idle) {
                audit::append(tx, &ev("auth.refresh", Outcome::Failure, "session_expired"))?;
                return Ok(RefreshOutcome::Refused(ApiError::token_expired()));
            }
            let active = users::get(tx, &session.user_id)?.is_some_and(|u| u.status == "active")
                && users::is_member(tx, &session.user_id, &session.tenant_id)?;
            if !active {
                audit::append(
                    tx,
                    &ev("auth.refresh", Outcome::Failure, "account_disabled"),
                )?;
                return Ok(RefreshOutcome::Refused(ApiError::token_revoked()));
            }
            let refresh = sessions::add_refresh(tx, &sid)?;
            sessions::touch(tx, &sid, now)?;
            fx.invalidate(Invalidation::Sessions(vec![sid.clone()]));
            audit::append(tx, &ev("auth.refresh", Outcome::Success, "rotated"))?;
            Ok(RefreshOutcome::Rotated { session, refresh })
        })
        .await?;
    match outcome {
        RefreshOutcome::Refused(e) => Err(e.already_audited()),
        RefreshOutcome::Reused => Err(ApiError::unauthorized(
            Code::TokenRevoked,
            "This refresh token was already used; the session has been ended.",
        )
        .already_audited()),
        RefreshOutcome::Rotated { session, refresh } => {
            let principal = auth::load_principal(&state, &session.user_id, &session.tenant_id)
                .await?
                .ok_or_else(ApiError::token_revoked)?;
            let tenant = auth::load_tenant(&state, &session.tenant_id).await?;
            let jwt = access_token(
                &state,
                &session.user_id,
                &session.tenant_id,
                &session.id,
                &session.amr,
            );
            Ok(HttpResponse::Ok()
                .cookie(cookie(
                    &state,
                    REFRESH_COOKIE,
                    refresh.expose().to_string(),
                    "/api/auth",
                    true,
                    SameSite::Strict,
                ))
                .json(LoginAnswer {
                    token: jwt,
                    refresh_token: refresh.expose().to_string(),
                    token_type: "Bearer",
                    expires_in: state.config.jwt_ttl.as_secs(),
                    user: user_view(&principal, &tenant),
                }))
        }
    }
}

/// End the current login session and clear the cookies.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", responses((status = 204, description = "signed out")))]
pub async fn logout(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let (user, sid) = caller.require_interactive()?;
    let sid = sid.to_string();
    let mut ev = event(
        &meta,
        Some(caller.tenant_id()),
        Some(&user.user_id),
        "auth.logout",
        Outcome::Success,
        json!({}),
    );
    ev.target = Some(format!("session:{sid}"));
    let id = sid.clone();
    let sid_inv = sid.clone();
    state
        .app
        .write(move |tx, fx| {
            fx.invalidate(Invalidation::Sessions(vec![sid_inv]));
            sessions::end(tx, &id, "logout")?;
            audit::append(tx, &ev)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent()
        .cookie(expired_cookie(
            &state,
            auth::session_cookie_name(&state),
            "/",
            true,
            SameSite::Lax,
        ))
        .cookie(expired_cookie(
            &state,
            REFRESH_COOKIE,
            "/api/auth",
            true,
            SameSite::Strict,
        ))
        .cookie(expired_cookie(
            &state,
            CSRF_COOKIE,
            "/",
            false,
            SameSite::Strict,
        ))
        .finish())
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub user: UserView,
    pub status: String,
    pub email_verified: bool,
    pub created_at: Option<String>,
    pub auth_method: &'static str,
}

/// The caller, flat: the login answer's user fields plus status and how it authenticated.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", responses((status = 200, description = "the caller", body = Me)))]
pub async fn me(caller: Caller) -> Result<HttpResponse, ApiError> {
    let body = match &caller.user {
        Some(p) => Me {
            user: user_view(p, &caller.tenant),
            status: p.status.clone(),
            email_verified: p.email_verified,
            created_at: Some(p.created_at.clone()),
            auth_method: caller.method.as_str(),
        },
        None => Me {
            user: UserView {
                id: caller.actor_id.clone(),
                email: None,
                name: caller.actor_id.clone(),
                roles: vec![],
                capabilities: caller.caps.names(),
                tenant_id: caller.tenant.id.clone(),
                tenant_slug: caller.tenant.slug.clone(),
                mfa_enabled: false,
            },
            status: "active".into(),
            email_verified: false,
            created_at: None,
            auth_method: caller.method.as_str(),
        },
    };
    Ok(HttpResponse::Ok().json(body))
}

/// The JWKS other lab services use to verify access tokens offline.
#[utoipa::path(get, path = "/api/auth/public-key", tag = "auth", responses((status = 200, description = "JWKS")))]
pub async fn public_key(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.keys.jwks())
}
