//! Non-interactive credentials: personal access tokens, organization API keys (with their
//! service scoping, subnets and origins), the legacy global key and the noise dispatch token.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, web};
use serde_json::json;

use super::{
    AuthMethod, Caller, CallerInfo, Recheck, find_tenant, header_str, load_principal, load_tenant,
    resolve_tenant_header,
};
use crate::app::credentials::{self, Used};
use crate::domain::capability::{CapSet, Capability};
use crate::domain::error::Code;
use crate::domain::net;
use crate::domain::token::{self, Kind};
use crate::http::AppState;
use crate::http::cache::Cache;
use crate::http::error::ApiError;
use crate::http::extract::route_path;
use crate::http::extract::{Meta, client_ip};
use crate::http::table::{KeyReach, Matched};
use crate::store::api_keys::{Access, KeyState};
use crate::store::audit::{AuditEvent, Outcome};
use crate::store::tokens::TokenState;

/// Caches of the machine credentials, invalidated on every change to them.
pub use crate::domain::api_key::Service;

pub struct MachineCache {
    /// SHA-256 of a PAT -> its state
    pub(super) pats: Cache<String, TokenState>,
    /// SHA-256 of an API key -> its state
    pub(super) keys: Cache<String, KeyState>,
    /// credential id -> Unix time its use was last written
    last_written: Mutex<HashMap<String, i64>>,
}

impl MachineCache {
    pub fn sharing(epoch: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Self {
        MachineCache {
            pats: Cache::sharing(10_000, epoch.clone()),
            keys: Cache::sharing(10_000, epoch),
            last_written: Mutex::new(HashMap::new()),
        }
    }
}

/// Writes a credential's last use at most once a minute, off the request path.
pub(super) fn note_use(state: &AppState, id: &str, ip: Option<String>, what: Used) {
    let now = state.app.now();
    {
        let mut m = state
            .auth
            .machine
            .last_written
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if m.get(id).is_some_and(|t| now.timestamp() - t < 60) {
            return;
        }
        if m.len() > 100_000 {
            m.clear();
        }
        m.insert(id.to_string(), now.timestamp());
    }
    credentials::note_used(&state.app, what, id.to_string(), now, ip);
}

pub(super) async fn pat_caller(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    raw: &str,
) -> Result<(Caller, Recheck), ApiError> {
    if !token::well_formed(Kind::Pat, raw) {
        return Err(ApiError::invalid_token());
    }
    let h = token::hash(raw);
    let t = match state.auth.machine.pats.get(&h) {
        Some(t) => t,
        None => {
            let g = state.auth.machine.pats.generation();
            let hh = h.clone();
            let t = credentials::pat(&state.app, hh)
                .await?
                .ok_or_else(ApiError::invalid_token)?;
            state.auth.machine.pats.insert_if(g, h, t.clone());
            t
        }
    };
    super::note_identity(req, &t.tenant_id, "user", &t.user_id);
    if t.revoked {
        return Err(ApiError::token_revoked());
    }
    if t.expires_at.is_some_and(|e| e <= state.app.now()) {
        return Err(ApiError::token_expired());
    }
    let principal = load_principal(state, &t.user_id, &t.tenant_id)
        .await?
        .ok_or_else(ApiError::token_revoked)?;
    if !principal.active() {
        return Err(ApiError::unauthorized(
            Code::TokenRevoked,
            "The account is disabled.",
        ));
    }
    note_use(
        state,
        &t.id,
        client_ip(req, state).map(|i| i.to_string()),
        Used::Pat,
    );
    let tenant = load_tenant(state, &t.tenant_id).await?;
    let caller = Caller::new(CallerInfo {
        method: AuthMethod::Pat,
        actor_type: "user",
        actor_id: principal.user_id.clone(),
        caps: principal.caps,
        user: Some(principal),
        tenant,
        session_id: None,
        amr: t.amr.clone(),
        cors_origin: None,
        mfa_blocked: CapSet::empty(),
        read_only: CapSet::empty(),
    });
    let recheck = Recheck::Pat {
        id: t.id.clone(),
        expires_at: t.expires_at,
    };
    Ok((resolve_tenant_header(req, state, caller).await?, recheck))
}

async fn load_key(state: &web::Data<AppState>, raw: &str) -> Result<KeyState, ApiError> {
    if !token::well_formed(Kind::ApiKey, raw) {
        return Err(ApiError::invalid_token());
    }
    let h = token::hash(raw);
    if let Some(k) = state.auth.machine.keys.get(&h) {
        return Ok(k);
    }
    let g = state.auth.machine.keys.generation();
    let hh = h.clone();
    let k = credentials::api_key(&state.app, hh)
        .await?
        .ok_or_else(ApiError::invalid_token)?;
    state.auth.machine.keys.insert_if(g, h, k.clone());
    Ok(k)
}

pub(super) async fn api_key_caller(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    raw: &str,
) -> Result<(Caller, Recheck), ApiError> {
    let k = load_key(state, raw).await?;
    super::note_identity(req, &k.tenant_id, "api_key", &k.id);
    let tenant = load_tenant(state, &k.tenant_id).await?;
    let cors_origin = key_gate(req, state, &k)?;
    let mut caps = CapSet::empty();
    for (name, _) in k.services.iter() {
        if let Some(c) = Service::parse(name).and_then(Service::capability) {
            caps.insert(c);
        }
    }
    // A `read` service lets the key pass the capability check of GET routes only; it does not
    // hold that capability for granting or reaching (SPEC §4.4: `write` adds it).
    let held = crate::domain::api_key::held(&k.services);
    let caller = Caller::new(CallerInfo {
        method: AuthMethod::ApiKey,
        actor_type: "api_key",
        actor_id: k.id.clone(),
        user: None,
        tenant,
        caps,
        session_id: None,
        amr: vec![],
        cors_origin,
        mfa_blocked: CapSet::empty(),
        read_only: caps.without(held),
    });
    Ok((
        resolve_tenant_header(req, state, caller).await?,
        Recheck::Key(Box::new(k)),
    ))
}

/// Everything about an API key that depends on the request: its lifetime, the route's service
/// and method, the client's subnet and the browser's origin (answered as the CORS origin).
pub(super) fn key_gate(
    req: &HttpRequest,
    state: &AppState,
    k: &KeyState,
) -> Result<Option<String>, ApiError> {
    if k.deleted {
        return Err(ApiError::token_revoked());
    }
    if k.expires_at.is_some_and(|e| e <= state.app.now()) {
        return Err(ApiError::token_expired());
    }
    // From here on the key is valid: what follows are refusals of an identified caller.
    // The route table says which routes a key reaches: `Any` (ping, me) answers any valid
    // key; a route outside the key's services does not exist for it.
    let reach = Matched::of(req)
        .path_row()
        .map_or(KeyReach::Never, |r| r.keys);
    if reach != KeyReach::Any {
        let KeyReach::Service(service) = reach else {
            return Err(ApiError::not_found());
        };
        let Some(access) = k.services.get(service.name()) else {
            return Err(ApiError::not_found());
        };
        if *access == Access::Read && !matches!(*req.method(), Method::GET | Method::HEAD) {
            return Err(ApiError::forbidden(
                Code::ReadOnlyKey,
                "This API key may only read this service.",
            ));
        }
    }
    if !k.allowed_subnets.is_empty() {
        let nets: Vec<_> = k
            .allowed_subnets
            .iter()
            .filter_map(|s| net::parse_cidr(s))
            .collect();
        if !client_ip(req, state).is_some_and(|ip| net::contains_any(&nets, ip)) {
            return Err(ApiError::forbidden(
                Code::SourceIpNotAllowed,
                "This API key may not be used from this address.",
            ));
        }
    }
    let mut cors_origin = None;
    if let Some(origin) = header_str(req, header::ORIGIN.as_str()) {
        if !k.allowed_origins.iter().any(|o| o == origin) {
            return Err(ApiError::forbidden(
                Code::OriginNotAllowed,
                "This API key may not be used from this origin.",
            ));
        }
        cors_origin = Some(origin.to_string());
    }
    note_use(
        state,
        &k.id,
        client_ip(req, state).map(|i| i.to_string()),
        Used::Key,
    );
    Ok(cors_origin)
}

/// Whether a CORS preflight from `origin` is answered: allowed by the key it carries, or by
/// some live key of the appliance.
pub async fn preflight_allows(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    origin: &str,
) -> Result<bool, ApiError> {
    if let Some(raw) = header_str(req, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|v| v.starts_with("lgk_"))
    {
        let k = load_key(state, raw.trim()).await?;
        let live = !k.deleted && k.expires_at.is_none_or(|e| e > state.app.now());
        return Ok(live && k.allowed_origins.iter().any(|o| o == origin));
    }
    // Preflights are rare: ask the database each time, so an expired or deleted key's origin
    // is never answered from a stale list.
    let origins = credentials::key_origins(&state.app).await?;
    Ok(origins.iter().any(|o| o == origin))
}

async fn role_caps(
    state: &web::Data<AppState>,
    tenant_id: &str,
    role: &str,
) -> Result<CapSet, ApiError> {
    let key = (tenant_id.to_string(), role.to_string());
    if let Some(c) = state.auth.roles.get(&key) {
        return Ok(c);
    }
    let g = state.auth.roles.generation();
    let (t, r) = key.clone();
    let caps = credentials::role_caps(&state.app, t, r).await?;
    state.auth.roles.insert_if(g, key, caps);
    Ok(caps)
}

/// `X-API-Key: <LABGATE_GLOBAL_API_KEY>`: the legacy key, acting as `global-key` in `default`.
/// Every use is audited.
pub(super) async fn global_key_caller(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    raw: &str,
) -> Result<Caller, ApiError> {
    let Some(key) = &state.config.global_api_key else {
        return Err(ApiError::invalid_token());
    };
    if !token::ct_eq(raw, key) {
        return Err(ApiError::invalid_token());
    }
    let tenant = find_tenant(state, "default")
        .await?
        .ok_or_else(ApiError::internal)?;
    let role = if state.config.is_production() {
        "viewer"
    } else {
        state.config.global_api_key_role.as_str()
    };
    let caps = role_caps(state, &tenant.id, role).await?;
    let meta = Meta::of(req);
    let ev = AuditEvent {
        tenant_id: Some(tenant.id.clone()),
        actor_type: "system".into(),
        actor_id: Some("global-key".into()),
        action: "global_key.use".into(),
        target: Some(format!("{} {}", req.method(), req.path())),
        outcome: Outcome::Success,
        ip: meta.ip,
        user_agent: meta.user_agent,
        request_id: Some(meta.request_id),
        details: json!({"role": role}),
    };
    crate::app::audit::append_one(&state.app, ev).await?;
    let caller = Caller::new(CallerInfo {
        method: AuthMethod::GlobalKey,
        actor_type: "system",
        actor_id: "global-key".into(),
        user: None,
        tenant,
        caps,
        session_id: None,
        amr: vec![],
        cors_origin: None,
        mfa_blocked: CapSet::empty(),
        read_only: CapSet::empty(),
    });
    resolve_tenant_header(req, state, caller).await
}

/// The noise dispatch token, accepted on `POST /api/noise/run` only. `Ok(None)`: not this token.
pub(super) async fn dispatch_caller(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    raw: &str,
) -> Result<Option<Caller>, ApiError> {
    let Some(t) = &state.config.noise_dispatch_token else {
        return Ok(None);
    };
    if !token::ct_eq(raw, t) {
        return Ok(None);
    }
    if *req.method() != Method::POST || route_path(req) != "/api/noise/run" {
        return Err(ApiError::invalid_token());
    }
    let tenant = find_tenant(state, &state.config.noise_dispatch_tenant)
        .await?
        .ok_or_else(|| {
            log::error!("LABGATE_NOISE_DISPATCH_TENANT names no tenant");
            ApiError::internal()
        })?;
    let caller = Caller::new(CallerInfo {
        method: AuthMethod::Dispatch,
        actor_type: "system",
        actor_id: "dispatch".into(),
        user: None,
        tenant,
        caps: [Capability::ManageNoiseLogs].into_iter().collect(),
        session_id: None,
        amr: vec![],
        cors_origin: None,
        mfa_blocked: CapSet::empty(),
        read_only: CapSet::empty(),
    });
    resolve_tenant_header(req, state, caller).await.map(Some)
}
