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
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

mod machine;
mod master;
mod policy;
mod session;

pub use machine::{MachineCache, Service, preflight_allows};
pub use policy::{IpLists, ip_lists, tenant_settings};

use super::AppState;
use super::cache::{Cache, EpochMap};
use super::error::ApiError;
use crate::app::{Invalidate, Invalidation};
use crate::domain::capability::{CapSet, Capability};
use crate::domain::error::Code;
use crate::domain::jwt::{self, Claims};
use crate::domain::time::Timestamp;
use crate::store::sessions::SessionState;
use crate::store::tenants::Tenant;
use crate::store::users::Principal;

pub const CSRF_COOKIE: &str = "labgate_csrf";
pub const REFRESH_COOKIE: &str = "labgate_refresh";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session cookie's name: `__Host-` prefixed whenever cookies are `Secure`, or
/// `__Secure-` when it covers a domain (`LABGATE_COOKIE_DOMAIN`; `__Host-` forbids one).
pub fn session_cookie_name(state: &AppState) -> &'static str {
    match (
        state.config.secure_cookies(),
        state.config.cookie_domain.is_some(),
    ) {
        (true, false) => "__Host-labgate_session",
        (true, true) => "__Secure-labgate_session",
        (false, _) => "labgate_session",
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

/// Who is calling, in which tenant, with what capabilities right now. Shared (`Arc`), so
/// handing it to a handler, the pipeline and the cache costs no copies.
#[derive(Debug, Clone)]
pub struct Caller(Arc<CallerInfo>);

impl std::ops::Deref for Caller {
    type Target = CallerInfo;
    fn deref(&self) -> &CallerInfo {
        &self.0
    }
}

impl Caller {
    pub fn new(info: CallerInfo) -> Caller {
        Caller(Arc::new(info))
    }

    /// The fields, to change before sharing again.
    pub fn into_info(self) -> CallerInfo {
        Arc::try_unwrap(self.0).unwrap_or_else(|a| (*a).clone())
    }
}

#[derive(Debug, Clone)]
pub struct CallerInfo {
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
    /// The allowed `Origin` of an API-key request, echoed in the CORS headers.
    pub cors_origin: Option<String>,
    /// Capabilities held but unusable until the session has a second factor (`require_mfa`).
    pub mfa_blocked: CapSet,
    /// Capabilities an API key uses for reading only (its `read` services): they pass a GET
    /// route's check but are not held for granting or reaching.
    pub read_only: CapSet,
}

impl CallerInfo {
    pub fn require(&self, cap: Capability) -> Result<(), ApiError> {
        if !self.caps.contains(cap) {
            return Err(ApiError::missing_capability(cap));
        }
        if self.mfa_blocked.contains(cap) {
            return Err(ApiError::forbidden(
                Code::MfaRequired,
                format!(
                    "{} needs a session signed in with a second factor in this tenant.",
                    cap.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// The capabilities the caller can use right now: held, less those the MFA policy holds
    /// back. Reach and grant rules compare against this.
    pub fn usable_caps(&self) -> CapSet {
        self.caps.without(self.mfa_blocked).without(self.read_only)
    }

    /// Routes that manage a person's own sign-in need a login session (JWT or cookie).
    pub fn require_interactive(&self) -> Result<(&Arc<Principal>, &str), ApiError> {
        match (&self.user, &self.session_id) {
            (Some(u), Some(s)) if matches!(self.method, AuthMethod::Session | AuthMethod::Jwt) => {
                Ok((u, s))
            }
            _ => Err(ApiError::forbidden(
                Code::InteractiveSessionRequired,
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
            let caller = authenticate(&req, &state).await;
            count(&req, &state, &caller);
            let caller = caller?;
            req.extensions_mut().insert(caller.clone());
            Ok(caller)
        })
    }
}

/// Counts a judged credential for `labgate_auth_total`: accepted, refused (401) or denied
/// (403). No credential at all, and an answer the database kept from being given, are not
/// judgements.
fn count(req: &HttpRequest, state: &AppState, judged: &Result<Caller, ApiError>) {
    use crate::metrics::Outcome;
    let (method, outcome) = match judged {
        Ok(c) => (c.method, Outcome::Success),
        Err(e) if e.code == Code::NoCredentials => return,
        Err(e) => {
            let Some(Tried(method)) = req.extensions().get::<Tried>().copied() else {
                return;
            };
            match e.status.as_u16() {
                401 => (method, Outcome::Failure),
                403 => (method, Outcome::Denied),
                _ => return,
            }
        }
    };
    let at = crate::metrics::AUTH_METHODS
        .iter()
        .position(|m| *m == method.as_str());
    if let Some(at) = at {
        state.app.metrics.auth(at, outcome);
    }
}

/// The credential type `identify` judged a request's credential as (or the cached one it
/// matched), for counting its refusal.
#[derive(Clone, Copy)]
struct Tried(AuthMethod);

/// Who presented the credential, known as soon as it is identified: a refusal after that point
/// (revoked, disabled, CSRF, scope) is audited in the credential's tenant, not as anonymous.
#[derive(Debug, Clone)]
pub struct Identity {
    pub tenant_id: String,
    pub actor_type: &'static str,
    pub actor_id: String,
}

pub(crate) fn note_identity(
    req: &HttpRequest,
    tenant_id: &str,
    actor_type: &'static str,
    actor_id: &str,
) {
    req.extensions_mut().insert(Identity {
        tenant_id: tenant_id.to_string(),
        actor_type,
        actor_id: actor_id.to_string(),
    });
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
pub struct Require<C: Cap>(pub Caller, pub PhantomData<C>);

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
    pub(super) flushed_at: Timestamp,
}

/// Every cache the authenticator reads. Its fields are private to `http::auth`: the only way to
/// invalidate them from outside is `app::Invalidate`, applied by `App::write` after a commit.
pub struct AuthCache {
    /// SHA-256 of a JWT -> its verified claims (the signature is checked once).
    jwt: Cache<String, Claims>,
    sessions: Cache<String, CachedSession>,
    /// SHA-256 of a session cookie -> session id
    cookies: Cache<String, String>,
    principals: Cache<(String, String), Option<Arc<Principal>>>,
    tenants: Cache<String, Arc<Tenant>>,
    /// Role name in a tenant -> its capabilities (for the global key).
    roles: Cache<(String, String), CapSet>,
    settings: Cache<String, Arc<crate::domain::settings::Settings>>,
    ip_lists: Cache<String, Arc<policy::IpLists>>,
    machine: MachineCache,
    /// Credential value -> everything the authenticator resolved for it.
    resolved: EpochMap<Resolved>,
}

impl Default for AuthCache {
    fn default() -> Self {
        let epoch = Arc::new(std::sync::atomic::AtomicU64::new(0));
        AuthCache {
            jwt: Cache::sharing(10_000, epoch.clone()),
            sessions: Cache::sharing(10_000, epoch.clone()),
            cookies: Cache::sharing(10_000, epoch.clone()),
            principals: Cache::sharing(10_000, epoch.clone()),
            tenants: Cache::sharing(1_000, epoch.clone()),
            roles: Cache::sharing(1_000, epoch.clone()),
            settings: Cache::sharing(1_000, epoch.clone()),
            ip_lists: Cache::sharing(1_000, epoch.clone()),
            machine: MachineCache::sharing(epoch.clone()),
            resolved: EpochMap::new(10_000, epoch.clone()),
        }
    }
}

impl Invalidate for AuthCache {
    fn invalidate(&self, what: &Invalidation) {
        match what {
            Invalidation::Principals => {
                self.principals.clear();
                self.roles.clear();
            }
            Invalidation::Sessions(ids) => {
                for id in ids {
                    self.sessions.remove(id);
                }
            }
            Invalidation::AllSessions => self.sessions.clear(),
            Invalidation::Pat(hash) => self.machine.pats.remove(hash),
            Invalidation::AllPats => self.machine.pats.clear(),
            Invalidation::Keys => self.machine.keys.clear(),
            Invalidation::Settings(t) => self.settings.remove(&t.as_str().to_string()),
            Invalidation::IpLists(t) => self.ip_lists.remove(&t.as_str().to_string()),
            Invalidation::Everything => {
                self.resolved.bump();
                self.jwt.clear();
                self.sessions.clear();
                self.cookies.clear();
                self.principals.clear();
                self.tenants.clear();
                self.roles.clear();
                self.settings.clear();
                self.ip_lists.clear();
                self.machine.pats.clear();
                self.machine.keys.clear();
            }
        }
    }
}

pub(crate) fn header_str<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .map(|v| v.to_str().unwrap_or("\u{0}"))
}

/// SPEC §4.2: the first credential present decides; an invalid one is refused, never passed
/// over for a later one.
///
/// A credential seen before is answered from `AuthCache::resolved` (a memory lookup plus the
/// checks that depend on time and on the request); anything that changes what a credential may
/// do bumps the caches' shared epoch, which empties it.
pub async fn authenticate(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<Caller, ApiError> {
    let cacheable = !req.headers().contains_key("x-tenant-id");
    let credential = if cacheable {
        warm_credential(req, state)
    } else {
        None
    };
    if let Some((source, c)) = credential
        && let Some(r) = state.auth.resolved.get(warm_key(c))
        && r.credential == c
        && r.source == source
        && let Some(answer) = warm(req, state, &r)
    {
        req.extensions_mut().insert(Tried(r.caller.method));
        return answer;
    }
    let credential = credential.map(|(s, c)| (s, c.to_string()));
    let epoch = state.auth.resolved.epoch();
    let (caller, recheck) = identify(req, state).await?;
    let (caller, settings, lists) = policy::derive(state, caller).await?;
    policy::gate(req, state, &caller, &settings, &lists)?;
    if let (Some((source, credential)), Some(recheck)) = (credential, recheck) {
        // Stored without the request's CORS origin: that is decided per request.
        let stored = if caller.cors_origin.is_some() {
            let mut info = (*caller).clone();
            info.cors_origin = None;
            Caller::new(info)
        } else {
            caller.clone()
        };
        let key = warm_key(&credential).to_string();
        state.auth.resolved.insert_if(
            epoch,
            key,
            Resolved {
                credential,
                source,
                caller: stored,
                recheck,
                settings,
                lists,
            },
        );
    }
    Ok(caller)
}

/// How a cached credential is checked again on each request.
#[derive(Debug, Clone)]
pub enum Recheck {
    Jwt {
        exp: i64,
        nbf: i64,
        sid: String,
    },
    Cookie {
        sid: String,
    },
    Pat {
        id: String,
        expires_at: Option<Timestamp>,
    },
    Key(Box<crate::store::api_keys::KeyState>),
}

/// A credential as the authenticator last resolved it.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The whole credential, compared on a hit.
    pub credential: String,
    /// Where it was presented: a value is only the same credential in the same place (a PAT
    /// sent as a bearer token or a JWT in the session cookie is refused, warm or cold).
    pub source: Source,
    pub caller: Caller,
    pub recheck: Recheck,
    pub settings: Arc<crate::domain::settings::Settings>,
    pub lists: Arc<IpLists>,
}

/// Where a warm credential was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Bearer,
    Token,
    ApiKeyHeader,
    Cookie,
}

/// The credential value a warm lookup is for (JWT, session cookie, PAT or API key), borrowed
/// from the request, with where it was found.
fn warm_credential<'r>(req: &'r HttpRequest, state: &AppState) -> Option<(Source, &'r str)> {
    let h = req.headers();
    if h.contains_key("x-master-key") {
        return None;
    }
    if let Some(v) = h.get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, cred) = v.split_once(' ')?;
        let cred = cred.trim();
        // Any bearer value may be looked up: only JWTs and API keys are ever stored, and a hit
        // compares the whole value, so the shape check can wait for the full path.
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some((Source::Bearer, cred));
        }
        let token = scheme.eq_ignore_ascii_case("token") && cred.starts_with("lgp_");
        return token.then_some((Source::Token, cred));
    }
    if let Some(v) = h.get("x-api-key") {
        let v = v.to_str().ok()?.trim();
        return v.starts_with("lgp_").then_some((Source::ApiKeyHeader, v));
    }
    // The session cookie, read straight from the header (the full path parses cookies).
    let name = session_cookie_name(state);
    h.get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some((Source::Cookie, v))
        })
}

/// The cache key of a credential: a JWT by its signature (short, and unique to the token; the
/// whole token is compared on a hit), anything else by its value.
fn warm_key(credential: &str) -> &str {
    if credential.starts_with("lg") {
        credential
    } else {
        credential.rsplit('.').next().unwrap_or(credential)
    }
}

/// The warm path. `None` sends the request down the full path (e.g. its session fell out of
/// the cache).
fn warm(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    r: &Resolved,
) -> Option<Result<Caller, ApiError>> {
    let now = state.app.now();
    let refused = |e: ApiError| {
        req.extensions_mut().insert(r.caller.clone());
        Some(Err(e))
    };
    let mut caller = r.caller.clone();
    match &r.recheck {
        Recheck::Jwt { exp, nbf, sid } => {
            if let Err(e) = jwt::time_check(*exp, *nbf, now.timestamp()) {
                return refused(session::jwt_error(e));
            }
            match session::warm_session(state, sid, now, None)? {
                Ok(()) => {}
                Err(e) => return refused(e),
            }
        }
        Recheck::Cookie { sid } => {
            let unsafe_method = !matches!(
                *req.method(),
                actix_web::http::Method::GET
                    | actix_web::http::Method::HEAD
                    | actix_web::http::Method::OPTIONS
            );
            match session::warm_session(state, sid, now, unsafe_method.then_some(req))? {
                Ok(()) => {}
                Err(e) => return refused(e),
            }
        }
        Recheck::Pat { id, expires_at } => {
            if expires_at.is_some_and(|e| e <= now) {
                return refused(ApiError::token_expired());
            }
            machine::note_use(
                state,
                id,
                extract_ip(req, state),
                crate::app::credentials::Used::Pat,
            );
        }
        Recheck::Key(k) => match machine::key_gate(req, state, k) {
            Ok(None) => {}
            Ok(Some(origin)) => {
                let mut info = (*caller).clone();
                info.cors_origin = Some(origin);
                caller = Caller::new(info);
            }
            Err(e) => return refused(e),
        },
    }
    if let Err(e) = policy::gate(req, state, &caller, &r.settings, &r.lists) {
        return Some(Err(e));
    }
    Some(Ok(caller))
}

fn extract_ip(req: &HttpRequest, state: &AppState) -> Option<String> {
    super::extract::client_ip(req, state).map(|i| i.to_string())
}

async fn identify(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<(Caller, Option<Recheck>), ApiError> {
    let plain = |c: Caller| (c, None);
    let tried = |m: AuthMethod| {
        req.extensions_mut().insert(Tried(m));
    };
    if let Some(v) = header_str(req, "x-master-key") {
        tried(AuthMethod::Master);
        return master::authenticate(req, state, v).await.map(plain);
    }
    if let Some(v) = req.headers().get(header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| ApiError::invalid_token())?;
        let (scheme, cred) = v.split_once(' ').unwrap_or((v, ""));
        let cred = cred.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            if jwt::looks_like_jwt(cred) {
                tried(AuthMethod::Jwt);
                return session::jwt_caller(req, state, cred)
                    .await
                    .map(|(c, r)| (c, Some(r)));
            }
            if cred.starts_with("lgk_") {
                tried(AuthMethod::ApiKey);
                return machine::api_key_caller(req, state, cred)
                    .await
                    .map(|(c, r)| (c, Some(r)));
            }
            // A bearer value of no other form: the dispatch token where one is configured,
            // else a malformed JWT.
            tried(if state.config.noise_dispatch_token.is_some() {
                AuthMethod::Dispatch
            } else {
                AuthMethod::Jwt
            });
            if let Some(c) = machine::dispatch_caller(req, state, cred).await? {
                return Ok(plain(c));
            }
            return Err(ApiError::invalid_token());
        }
        if scheme.eq_ignore_ascii_case("token") && cred.starts_with("lgp_") {
            tried(AuthMethod::Pat);
            return machine::pat_caller(req, state, cred)
                .await
                .map(|(c, r)| (c, Some(r)));
        }
        return Err(ApiError::invalid_token());
    }
    if let Some(v) = header_str(req, "x-api-key") {
        let v = v.trim();
        if v.starts_with("lgp_") {
            tried(AuthMethod::Pat);
            return machine::pat_caller(req, state, v)
                .await
                .map(|(c, r)| (c, Some(r)));
        }
        tried(AuthMethod::GlobalKey);
        return machine::global_key_caller(req, state, v).await.map(plain);
    }
    if let Some(c) = req.cookie(session_cookie_name(state)) {
        tried(AuthMethod::Session);
        return session::cookie_caller(req, state, c.value())
            .await
            .map(|(c, r)| (c, Some(r)));
    }
    Err(ApiError::no_credentials())
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
    let p = crate::app::credentials::principal(&state.app, u, t)
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
    let t = crate::app::credentials::tenant(&state.app, key)
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
pub(super) async fn resolve_tenant_header(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    caller: Caller,
) -> Result<Caller, ApiError> {
    let Some(wanted) = header_str(req, "x-tenant-id") else {
        return Ok(caller);
    };
    let wanted = wanted.trim();
    if wanted == caller.tenant.id || wanted == caller.tenant.slug {
        return Ok(caller);
    }
    let forbidden =
        || ApiError::forbidden(Code::TenantForbidden, "You may not act in that tenant.");
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
    let mut info = caller.into_info();
    info.caps = p.caps;
    info.user = Some(p);
    info.tenant = target;
    Ok(Caller::new(info))
}
