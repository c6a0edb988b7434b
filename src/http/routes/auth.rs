//! Sign-in: login, refresh, logout, the caller's profile and the published verification key.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::app::signin::{self, LoginInput, LoginOutcome, MFA_STEP_TTL, SessionOwner, SignedIn};
use crate::domain::capability::Capability;
use crate::domain::error::{Code, DomainError};
use crate::domain::jwt::{AUDIENCE, Claims};
use crate::domain::token::{self};
use crate::http::AppState;
use crate::http::auth::{self, CSRF_COOKIE, Caller, REFRESH_COOKIE};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, OptionalJson};
use crate::store::tenants::Tenant;
use crate::store::users::Principal;

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

/// The session cookie covers `LABGATE_COOKIE_DOMAIN` when set, so forward-authenticated tools
/// on its hosts receive it.
fn on_domain<'c>(state: &AppState, mut c: Cookie<'c>) -> Cookie<'c> {
    if let Some(d) = &state.config.cookie_domain {
        c.set_domain(d.clone());
    }
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
    let now = state.app.now().timestamp();
    let keys = state.keys.get();
    keys.sign(&Claims {
        iss: keys.issuer().to_string(),
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
pub fn login_answer(state: &AppState, signed: &SignedIn) -> HttpResponse {
    let (p, t, s) = (&signed.principal, &signed.tenant, &signed.session);
    let jwt = access_token(state, &p.user_id, &t.id, &s.id, &s.amr);
    let body = LoginAnswer {
        token: jwt,
        refresh_token: s.refresh.expose().to_string(),
        token_type: "Bearer",
        expires_in: state.config.jwt_ttl.as_secs(),
        user: user_view(p, t),
    };
    HttpResponse::Ok()
        .cookie(on_domain(
            state,
            cookie(
                state,
                auth::session_cookie_name(state),
                s.cookie.expose().to_string(),
                "/",
                true,
                SameSite::Lax,
            ),
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

/// A sign-in use case's refusal: already audited there.
pub fn audited(e: DomainError) -> ApiError {
    ApiError::from(e).already_audited()
}

/// The caller's own login session, for the routes that act on it.
pub fn session_owner(caller: &Caller) -> Result<SessionOwner, ApiError> {
    let (user, sid) = caller.require_interactive()?;
    Ok(SessionOwner {
        user_id: user.user_id.clone(),
        tenant_id: caller.tenant.id.clone(),
        session_id: sid.to_string(),
        amr: caller.amr.clone(),
    })
}

/// The answer of a login that needs the second factor.
pub fn mfa_required(token: &token::Secret) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "mfa_required": true, "mfa_token": token.expose(), "expires_in": MFA_STEP_TTL.as_secs(),
    }))
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
    let b = body.0;
    let input = LoginInput {
        email: b.email,
        password: b.password,
        totp_code: b.totp_code,
        tenant: b.tenant,
    };
    match signin::login(&state.app, meta.origin(), input)
        .await
        .map_err(audited)?
    {
        LoginOutcome::SignedIn(s) => Ok(login_answer(&state, &s)),
        LoginOutcome::MfaRequired(t) => Ok(mfa_required(&t)),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// optional when the `labgate_refresh` cookie is sent
    pub refresh_token: Option<String>,
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
    let presented = match body.0.and_then(|b| b.refresh_token) {
        Some(t) => t,
        None => req
            .cookie(REFRESH_COOKIE)
            .map(|c| c.value().to_string())
            .ok_or_else(ApiError::no_credentials)?,
    };
    let r = signin::refresh(&state.app, meta.origin(), presented)
        .await
        .map_err(audited)?;
    let s = &r.session;
    let jwt = access_token(&state, &s.user_id, &s.tenant_id, &s.id, &s.amr);
    let refresh = r.refresh.expose().to_string();
    let c = cookie(
        &state,
        REFRESH_COOKIE,
        refresh.clone(),
        "/api/auth",
        true,
        SameSite::Strict,
    );
    Ok(HttpResponse::Ok().cookie(c).json(LoginAnswer {
        token: jwt,
        refresh_token: refresh,
        token_type: "Bearer",
        expires_in: state.config.jwt_ttl.as_secs(),
        user: user_view(&r.principal, &r.tenant),
    }))
}

/// End the current login session and clear the cookies.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", responses((status = 204, description = "signed out")))]
pub async fn logout(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    signin::logout(&state.app, meta.origin(), session_owner(&caller)?).await?;
    Ok(HttpResponse::NoContent()
        .cookie(on_domain(
            &state,
            expired_cookie(
                &state,
                auth::session_cookie_name(&state),
                "/",
                true,
                SameSite::Lax,
            ),
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
    HttpResponse::Ok().json(state.keys.get().jwks())
}

/// Forward authentication (SPEC §16.2): for a reverse proxy's `auth_request` in front of the
/// lab's other web tools. A signed-in caller (session cookie or access token) gets 204 and who
/// they are in `X-Labgate-*` headers; `?require=<capability>` refuses one without it (403);
/// anyone else gets 401, which the proxy turns into the sign-in page with `?rd=`.
#[utoipa::path(get, path = "/api/auth/verify", tag = "auth",
    params(("require" = Option<String>, Query, description = "a capability the caller must hold")),
    responses(
        (status = 204, description = "signed in", headers(
            ("X-Labgate-User" = String, description = "the user id"),
            ("X-Labgate-Email" = String, description = "the user's email"),
            ("X-Labgate-Tenant" = String, description = "the tenant's slug"),
            ("X-Labgate-Capabilities" = String, description = "comma-separated, empty when none"))),
        (status = 400, description = "an unknown capability in `require`"),
        (status = 401, description = "not signed in"),
        (status = 403, description = "the capability of `require` is missing")))]
pub async fn verify(req: HttpRequest, caller: Caller) -> Result<HttpResponse, ApiError> {
    let user = match (&caller.user, caller.method) {
        (Some(u), auth::AuthMethod::Session | auth::AuthMethod::Jwt) => u.clone(),
        _ => {
            return Err(ApiError::unauthorized(
                Code::InvalidToken,
                "Forward authentication needs a signed-in session or its access token.",
            ));
        }
    };
    let query: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|_| ApiError::validation("require", "is not a valid query"))?;
    for (k, v) in &query {
        if k != "require" {
            return Err(ApiError::validation(k, "is not a parameter of this route"));
        }
        let cap = Capability::parse(v)
            .ok_or_else(|| ApiError::validation("require", "is not a capability"))?;
        caller.require(cap)?;
    }
    let usable = caller.caps.without(caller.mfa_blocked).names().join(",");
    Ok(HttpResponse::NoContent()
        .insert_header(("X-Labgate-User", user.user_id.as_str()))
        .insert_header(("X-Labgate-Email", user.email.as_str()))
        .insert_header(("X-Labgate-Tenant", caller.tenant.slug.as_str()))
        .insert_header(("X-Labgate-Capabilities", usable))
        .finish())
}
