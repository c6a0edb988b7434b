//! The authenticator: finds the one credential a request presents (SPEC §4.2 order), verifies
//! it, resolves the tenant and the caller's current capabilities, and produces a `Caller`.
//!
//! The first credential source present decides; if it is invalid the request is refused, never
//! retried with a later, weaker source. Credentials carry identity only: permissions are looked
//! up from current state (through the caches in `AuthCache`) on every request.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::AppState;
use super::cache::Cache;
use super::error::ApiError;
use crate::domain::capability::{CapSet, Capability};
use crate::domain::jwt::{self, Claims, JwtError};
use crate::domain::time::{self, Timestamp};
use crate::domain::token::{self, Kind};
use crate::store::sessions::SessionState;
use crate::store::tenants::Tenant;
use crate::store::users::Principal;
use crate::store::{self, sessions, tenants, users};

pub const CSRF_COOKIE: &str = "labgate_csrf";
pub const REFRESH_COOKIE: &str = "labgate_refresh";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session cookie's name: `__Host-` prefixed whenever cookies are `Secure`.
pub fn session_cookie_name(state: &AppState) -> &'static str {
    if state.config.secure_cookies() {
        "__Host-labgate_session"
    } else {
        "labgate_session"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Session,
    Jwt,
    Pat,
    ApiKey,
    GlobalKey,
    Master,
    Dispatch,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Session => "session",
            AuthMethod::Jwt => "jwt",
            AuthMethod::Pat => "pat",
            AuthMethod::ApiKey => "api_key",
            AuthMethod::GlobalKey => "global_key",
            AuthMethod::Master => "master",
            AuthMethod::Dispatch => "dispatch",
        }
    }
}

/// Who is calling, in which tenant, with what capabilities right now.
#[derive(Debug, Clone)]
pub struct Caller {
    pub method: AuthMethod,
    /// `user`, `api_key` or `system`
    pub actor_type: &'static str,
    pub actor_id: String,
    pub user: Option<Arc<Principal>>,
    pub tenant: Arc<Tenant>,
    pub caps: CapSet,
    /// The login session behind a JWT or cookie.
    pub session_id: Option<String>,
    pub amr: Vec<String>,
}

impl Caller {
    pub fn require(&self, cap: Capability) -> Result<(), ApiError> {
        if self.caps.contains(cap) {
            Ok(())
        } else {
            Err(ApiError::missing_capability(cap))
        }
    }

    /// Routes that manage a person's own sign-in need a login session (JWT or cookie).
    pub fn require_interactive(&self) -> Result<(&Arc<Principal>, &str), ApiError> {
        match (&self.user, &self.session_id) {
            (Some(u), Some(s)) if matches!(self.method, AuthMethod::Session | AuthMethod::Jwt) => {
                Ok((u, s))
            }
            _ => Err(ApiError::forbidden(
                "INTERACTIVE_SESSION_REQUIRED",
                "This action needs an interactive login session (JWT or browser session).",
            )),
        }
    }

    pub fn tenant_id(&self) -> &str {
        &self.tenant.id
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if let Some(c) = req.extensions().get::<Caller>() {
                return Ok(c.clone());
            }
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(ApiError::internal)?;
            let caller = authenticate(&req, &state).await?;
            req.extensions_mut().insert(caller.clone());
            Ok(caller)
        })
    }
}

/// A capability marker for `Require<C>`.
pub trait Cap {
    const CAP: Capability;
}

macro_rules! cap_marker {
    ($($name:ident => $cap:ident),* $(,)?) => {$(
        pub struct $name;
        impl Cap for $name { const CAP: Capability = Capability::$cap; }
    )*};
}
cap_marker!(
    ManageExercises => ManageExercises,
    ManageNoiseLogs => ManageNoiseLogs,
    ManageApiKeys => ManageApiKeys,
    AdminUsers => AdminUsers,
    AdminSettings => AdminSettings,
    AuditRead => AuditRead,
);

/// An authenticated caller holding capability `C` in the current tenant.
pub struct Require<C: Cap>(pub Caller, PhantomData<C>);

impl<C: Cap + 'static> FromRequest for Require<C> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, p: &mut Payload) -> Self::Future {
        let fut = Caller::from_request(req, p);
        Box::pin(async move {
            let c = fut.await?;
            c.require(C::CAP)?;
            Ok(Require(c, PhantomData))
        })
    }
}

/// A cached login session with the time its last use was written to the database.
#[derive(Clone)]
pub struct CachedSession {
    pub state: SessionState,
    flushed_at: Timestamp,
}

/// Every cache the authenticator reads. Anything that changes what a credential may do
/// invalidates the relevant entries before it answers.
pub struct AuthCache {
    /// SHA-256 of a JWT -> its verified claims (the signature is checked once).
    pub jwt: Cache<String, Claims>,
    pub sessions: Cache<String, CachedSession>,
    /// SHA-256 of a session cookie -> session id
    pub cookies: Cache<String, String>,
    pub principals: Cache<(String, String), Option<Arc<Principal>>>,
    pub tenants: Cache<String, Arc<Tenant>>,
}

impl Default for AuthCache {
    fn default() -> Self {
        AuthCache {
            jwt: Cache::new(10_000),
            sessions: Cache::new(10_000),
            cookies: Cache::new(10_000),
            principals: Cache::new(10_000),
            tenants: Cache::new(1_000),
        }
    }
}

impl AuthCache {
    /// Users, memberships or roles changed: every resolved permission is dropped.
    pub fn principals_changed(&self) {
        self.principals.clear();
    }

    /// Sessions ended: their cached state goes, so their JWTs and cookies die now.
    pub fn sessions_ended(&self, ids: &[String]) {
        for id in ids {
            self.sessions.remove(id);
        }
    }
}

fn header_str<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .map(|v| v.to_str().unwrap_or("\u{0}"))
}

/// SPEC §4.2: the first credential present decides.
pub async fn authenticate(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<Caller, ApiError> {
    if req.headers().contains_key("x-master-key") {
        // Break-glass is not available in this build of the authenticator: the header is a
        // credential presented, so it is refused (and audited by the pipeline), never ignored.
        return Err(ApiError::invalid_token());
    }
    if let Some(v) = req.headers().get(header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| ApiError::invalid_token())?;
        let (scheme, cred) = v.split_once(' ').unwrap_or((v, ""));
        let cred = cred.trim();
        if scheme.eq_ignore_ascii_case("bearer") && jwt::looks_like_jwt(cred) {
            return jwt_caller(req, state, cred).await;
        }
        return Err(ApiError::invalid_token());
    }
    if header_str(req, "x-api-key").is_some() {
        return Err(ApiError::invalid_token());
    }
    if let Some(c) = req.cookie(session_cookie_name(state)) {
        return cookie_caller(req, state, c.value()).await;
    }
    Err(ApiError::no_credentials())
}

async fn jwt_caller(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    raw: &str,
) -> Result<Caller, ApiError> {
    let h = token::hash(raw);
    let claims = match state.auth.jwt.get(&h) {
        Some(c) => c,
        None => {
            let g = state.auth.jwt.generation();
            let c = state.keys.verify(raw).map_err(jwt_error)?;
            state.auth.jwt.insert_if(g, h, c.clone());
            c
        }
    };
    claims
        .time_check(time::now().timestamp())
        .map_err(jwt_error)?;
    let session = load_session(state, &claims.sid).await?;
    if session.user_id != claims.sub || session.tenant_id != claims.tid {
        return Err(ApiError::invalid_token());
    }
    session_bound_caller(req, state, session, AuthMethod::Jwt).await
}

fn jwt_error(e: JwtError) -> ApiError {
    match e {
        JwtError::Expired => ApiError::token_expired(),
        JwtError::Invalid => ApiError::invalid_token(),
    }
}

async fn cookie_caller(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    raw: &str,
) -> Result<Caller, ApiError> {
    if !token::well_formed(Kind::Session, raw) {
        return Err(ApiError::invalid_token());
    }
    let h = token::hash(raw);
    let sid = match state.auth.cookies.get(&h) {
        Some(sid) => sid,
        None => {
            let g = state.auth.cookies.generation();
            let hh = h.clone();
            let found = store::run(&state.pool, move |c| sessions::find_by_cookie(c, &hh)).await?;
            let Some(s) = found else {
                return Err(ApiError::invalid_token());
            };
            state.auth.cookies.insert_if(g, h, s.id.clone());
            s.id
        }
    };
    let session = load_session(state, &sid).await?;
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        check_csrf(req, &session)?;
    }
    session_bound_caller(req, state, session, AuthMethod::Session).await
}

/// Double-submit CSRF: the header must equal the `labgate_csrf` cookie, and that value must be
/// the one issued with this session.
fn check_csrf(req: &HttpRequest, session: &SessionState) -> Result<(), ApiError> {
    let fail = || ApiError::forbidden("CSRF_FAILED", "Missing or wrong X-CSRF-Token header.");
    let header = header_str(req, CSRF_HEADER).ok_or_else(fail)?;
    let cookie = req.cookie(CSRF_COOKIE).ok_or_else(fail)?;
    if header.is_empty()
        || !token::ct_eq(header, cookie.value())
        || !token::ct_eq(&token::hash(header), &session.csrf_hash)
    {
        return Err(fail());
    }
    Ok(())
}

/// The session's current state, from the cache or the database.
async fn load_session(state: &web::Data<AppState>, sid: &str) -> Result<SessionState, ApiError> {
    if let Some(c) = state.auth.sessions.get(&sid.to_string()) {
        return Ok(c.state);
    }
    let g = state.auth.sessions.generation();
    let id = sid.to_string();
    let s = store::run(&state.pool, move |c| sessions::get(c, &id))
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
async fn session_bound_caller(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: SessionState,
    method: AuthMethod,
) -> Result<Caller, ApiError> {
    let now = time::now();
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
            "TOKEN_REVOKED",
            "The account is disabled.",
        ));
    }
    let tenant = load_tenant(state, &session.tenant_id).await?;
    let caller = Caller {
        method,
        actor_type: "user",
        actor_id: principal.user_id.clone(),
        caps: principal.caps,
        user: Some(principal),
        tenant,
        session_id: Some(session.id.clone()),
        amr: session.amr.clone(),
    };
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
        let pool = state.pool.clone();
        let id = sid.to_string();
        tokio::task::spawn_blocking(move || {
            if let Ok(c) = pool.get()
                && let Err(e) = sessions::touch(&c, &id, now)
            {
                log::warn!("could not record session use: {e}");
            }
        });
    }
}

pub async fn load_principal(
    state: &web::Data<AppState>,
    user_id: &str,
    tenant_id: &str,
) -> Result<Option<Arc<Principal>>, ApiError> {
    let key = (user_id.to_string(), tenant_id.to_string());
    if let Some(p) = state.auth.principals.get(&key) {
        return Ok(p);
    }
    let g = state.auth.principals.generation();
    let (u, t) = key.clone();
    let p = store::run(&state.pool, move |c| users::principal(c, &u, &t))
        .await?
        .map(Arc::new);
    state.auth.principals.insert_if(g, key, p.clone());
    Ok(p)
}

pub async fn load_tenant(
    state: &web::Data<AppState>,
    id_or_slug: &str,
) -> Result<Arc<Tenant>, ApiError> {
    find_tenant(state, id_or_slug)
        .await?
        .ok_or_else(ApiError::not_found)
}

pub async fn find_tenant(
    state: &web::Data<AppState>,
    id_or_slug: &str,
) -> Result<Option<Arc<Tenant>>, ApiError> {
    if let Some(t) = state.auth.tenants.get(&id_or_slug.to_string()) {
        return Ok(Some(t));
    }
    let g = state.auth.tenants.generation();
    let key = id_or_slug.to_string();
    let t = store::run(&state.pool, move |c| tenants::find(c, &key))
        .await?
        .map(Arc::new);
    if let Some(t) = &t {
        state.auth.tenants.insert_if(g, t.id.clone(), t.clone());
        state.auth.tenants.insert_if(g, t.slug.clone(), t.clone());
    }
    Ok(t)
}

/// SPEC §3.4: `X-Tenant-ID` is honoured only for users holding both `admin.users` and
/// `admin.settings` in the target tenant. Naming the caller's own tenant changes nothing.
async fn resolve_tenant_header(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    mut caller: Caller,
) -> Result<Caller, ApiError> {
    let Some(wanted) = header_str(req, "x-tenant-id") else {
        return Ok(caller);
    };
    let wanted = wanted.trim();
    if wanted == caller.tenant.id || wanted == caller.tenant.slug {
        return Ok(caller);
    }
    let forbidden = || ApiError::forbidden("TENANT_FORBIDDEN", "You may not act in that tenant.");
    let Some(user) = caller.user.clone() else {
        return Err(forbidden());
    };
    let target = find_tenant(state, wanted).await?.ok_or_else(forbidden)?;
    let p = load_principal(state, &user.user_id, &target.id)
        .await?
        .ok_or_else(forbidden)?;
    if !(p.caps.contains(Capability::AdminUsers) && p.caps.contains(Capability::AdminSettings)) {
        return Err(forbidden());
    }
    caller.caps = p.caps;
    caller.user = Some(p);
    caller.tenant = target;
    Ok(caller)
}
