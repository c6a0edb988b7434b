//! Credentials of a login session: the EdDSA access token and the browser cookie (with its
//! double-submit CSRF check).

use actix_web::http::Method;
use actix_web::{HttpRequest, web};

use super::{
    AuthMethod, CSRF_COOKIE, CSRF_HEADER, CachedSession, Caller, CallerInfo, Recheck, header_str,
    load_principal, load_tenant, resolve_tenant_header,
};
use crate::app::credentials::{self, Used};
use crate::domain::capability::CapSet;
use crate::domain::error::Code;
use crate::domain::jwt::JwtError;
use crate::domain::time::Timestamp;
use crate::domain::token::{self, Kind};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::store::sessions::SessionState;

pub(super) async fn jwt_caller(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    raw: &str,
) -> Result<(Caller, Recheck), ApiError> {
    let h = token::hash(raw);
    let claims = match state.auth.jwt.get(&h) {
        Some(c) => c,
        None => {
            let g = state.auth.jwt.generation();
            let keys = state.keys.get();
            let c = match keys.verify(raw) {
                Ok(c) => c,
                Err(JwtError::Expired) => {
                    // Authentic but expired: its refusal is recorded under the user's name.
                    if let Some(c) = keys.expired_claims(raw) {
                        super::note_identity(req, &c.tid, "user", &c.sub);
                    }
                    return Err(jwt_error(JwtError::Expired));
                }
                Err(e) => return Err(jwt_error(e)),
            };
            state.auth.jwt.insert_if(g, h, c.clone());
            c
        }
    };
    claims
        .time_check(state.app.now().timestamp())
        .map_err(jwt_error)?;
    let session = load_session(state, &claims.sid).await?;
    super::note_identity(req, &session.tenant_id, "user", &session.user_id);
    if session.user_id != claims.sub || session.tenant_id != claims.tid {
        return Err(ApiError::invalid_token());
    }
    let recheck = Recheck::Jwt {
        exp: claims.exp,
        nbf: claims.nbf,
        sid: claims.sid.clone(),
    };
    Ok((
        session_bound_caller(req, state, session, AuthMethod::Jwt).await?,
        recheck,
    ))
}

pub(super) fn jwt_error(e: JwtError) -> ApiError {
    match e {
        JwtError::Expired => ApiError::token_expired(),
        JwtError::Invalid => ApiError::invalid_token(),
    }
}

pub(super) async fn cookie_caller(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    raw: &str,
) -> Result<(Caller, Recheck), ApiError> {
    if !token::well_formed(Kind::Session, raw) {
        return Err(ApiError::invalid_token());
    }
    let h = token::hash(raw);
    let sid = match state.auth.cookies.get(&h) {
        Some(sid) => sid,
        None => {
            let g = state.auth.cookies.generation();
            let hh = h.clone();
            let found = credentials::session_by_cookie(&state.app, hh).await?;
            let Some(s) = found else {
                return Err(ApiError::invalid_token());
            };
            state.auth.cookies.insert_if(g, h, s.id.clone());
            s.id
        }
    };
    let session = load_session(state, &sid).await?;
    super::note_identity(req, &session.tenant_id, "user", &session.user_id);
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        check_csrf(req, &session)?;
    }
    let recheck = Recheck::Cookie {
        sid: session.id.clone(),
    };
    Ok((
        session_bound_caller(req, state, session, AuthMethod::Session).await?,
        recheck,
    ))
}

/// Double-submit CSRF: the header must equal the `labgate_csrf` cookie, and that value must be
/// the one issued with this session.
fn check_csrf(req: &HttpRequest, session: &SessionState) -> Result<(), ApiError> {
    check_csrf_hash(req, &session.csrf_hash)
}

/// The double-submit check against the session's CSRF hash (also used on the warm path).
pub(super) fn check_csrf_hash(req: &HttpRequest, csrf_hash: &str) -> Result<(), ApiError> {
    let fail = || ApiError::forbidden(Code::CsrfFailed, "Missing or wrong X-CSRF-Token header.");
    let header = header_str(req, CSRF_HEADER).ok_or_else(fail)?;
    let cookie = req.cookie(CSRF_COOKIE).ok_or_else(fail)?;
    if header.is_empty()
        || !token::ct_eq(header, cookie.value())
        || !token::ct_eq(&token::hash(header), csrf_hash)
    {
        return Err(fail());
    }
    Ok(())
}

/// The session's current state, from the cache or the database.
pub(super) async fn load_session(
    state: &web::Data<AppState>,
    sid: &str,
) -> Result<SessionState, ApiError> {
    if let Some(c) = state.auth.sessions.get(&sid.to_string()) {
        return Ok(c.state);
    }
    let g = state.auth.sessions.generation();
    let id = sid.to_string();
    let s = credentials::session(&state.app, id)
        .await?
        .ok_or_else(ApiError::invalid_token)?;
    state.auth.sessions.insert_if(
        g,
        s.id.clone(),
        CachedSession {
            state: s.clone(),
            flushed_at: s.last_used_at,
        },
    );
    Ok(s)
}

/// Liveness, last use, the user's current state and the tenant for JWT and cookie callers.
pub(super) async fn session_bound_caller(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: SessionState,
    method: AuthMethod,
) -> Result<Caller, ApiError> {
    let now = state.app.now();
    if session.ended {
        return Err(ApiError::token_revoked());
    }
    if !session.alive(now, state.config.session_idle) {
        return Err(ApiError::token_expired());
    }
    note_session_use(state, &session.id, now);
    let principal = load_principal(state, &session.user_id, &session.tenant_id)
        .await?
        .ok_or_else(ApiError::token_revoked)?;
    if !principal.active() {
        return Err(ApiError::unauthorized(
            Code::TokenRevoked,
            "The account is disabled.",
        ));
    }
    let tenant = load_tenant(state, &session.tenant_id).await?;
    let caller = Caller::new(CallerInfo {
        method,
        actor_type: "user",
        actor_id: principal.user_id.clone(),
        caps: principal.caps,
        user: Some(principal),
        tenant,
        session_id: Some(session.id.clone()),
        amr: session.amr.clone(),
        cors_origin: None,
        mfa_blocked: CapSet::empty(),
        read_only: CapSet::empty(),
    });
    resolve_tenant_header(req, state, caller).await
}

/// Records a session's use in memory; writes it to the database at most once a minute so the
/// hot path costs no disk write while idle expiry still works.
fn note_session_use(state: &web::Data<AppState>, sid: &str, now: Timestamp) {
    let flush = state
        .auth
        .sessions
        .update(&sid.to_string(), |c| {
            c.state.last_used_at = now;
            if (now - c.flushed_at).num_seconds() >= 60 {
                c.flushed_at = now;
                true
            } else {
                false
            }
        })
        .unwrap_or(false);
    if flush {
        credentials::note_used(&state.app, Used::Session, sid.to_string(), now, None);
    }
}

/// The warm path's session check, on the cached session in place: liveness, the CSRF value
/// for unsafe cookie requests, and the use noted. `None` when the session is not cached.
pub(super) fn warm_session(
    state: &web::Data<AppState>,
    sid: &str,
    now: Timestamp,
    csrf_of: Option<&HttpRequest>,
) -> Option<Result<(), ApiError>> {
    let idle = state.config.session_idle;
    let (result, flush) = state.auth.sessions.update(sid, |c| {
        if c.state.ended {
            return (Err(ApiError::token_revoked()), false);
        }
        if !c.state.alive(now, idle) {
            return (Err(ApiError::token_expired()), false);
        }
        if let Some(req) = csrf_of
            && let Err(e) = check_csrf_hash(req, &c.state.csrf_hash)
        {
            return (Err(e), false);
        }
        c.state.last_used_at = now;
        let flush = (now - c.flushed_at).num_seconds() >= 60;
        if flush {
            c.flushed_at = now;
        }
        (Ok(()), flush)
    })?;
    if flush {
        credentials::note_used(&state.app, Used::Session, sid.to_string(), now, None);
    }
    Some(result)
}
