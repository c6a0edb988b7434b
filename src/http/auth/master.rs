//! The break-glass master key (SPEC §4.7): off by default, time-bounded from start, one tenant
//! at a time, exactly the configured capabilities, 10 requests a minute per IP counting
//! failures, and every use, accepted or refused, audited and raised as `breakglass.used`.

use actix_web::{HttpMessage, HttpRequest, web};
use serde_json::json;

use super::{AuthMethod, Caller, CallerInfo, find_tenant, header_str};
use crate::domain::capability::CapSet;
use crate::domain::error::Code;
use crate::domain::token;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{Meta, client_ip};
use crate::http::ratelimit::RateInfo;
use crate::store::audit::{AuditEvent, Outcome};

pub(super) async fn authenticate(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    presented: &str,
) -> Result<Caller, ApiError> {
    let reason = header_str(req, "x-break-glass-reason").map(|r| r.trim().to_string());
    let result = decide(req, state, presented, reason.as_deref()).await;
    let meta = Meta::of(req);
    let (tenant_id, outcome, code) = match &result {
        Ok(c) => (Some(c.tenant.id.clone()), Outcome::Success, None),
        Err(e) => (None, Outcome::Denied, Some(e.code.as_str())),
    };
    let details = json!({
        "reason": reason,
        "route": format!("{} {}", req.method(), req.path()),
        "ip": meta.ip,
        "code": code,
    });
    let ev = AuditEvent {
        tenant_id: tenant_id.clone(),
        actor_type: "system".into(),
        actor_id: Some("master".into()),
        action: "breakglass.use".into(),
        target: Some(format!("{} {}", req.method(), req.path())),
        outcome,
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        request_id: Some(meta.request_id.clone()),
        details: details.clone(),
    };
    crate::app::credentials::audit_break_glass(&state.app, ev, tenant_id, details).await?;
    result.map_err(ApiError::already_audited)
}

async fn decide(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    presented: &str,
    reason: Option<&str>,
) -> Result<Caller, ApiError> {
    let now = state.app.now().timestamp().max(0) as u64;
    if let Some(ip) = client_ip(req, state) {
        let d = state.limits.master.check(ip, now);
        req.extensions_mut().insert(RateInfo(d));
        if !d.allowed {
            return Err(ApiError::rate_limited(d.retry_after));
        }
    }
    let cfg = &state.config;
    let Some(key) = cfg
        .master_key
        .as_deref()
        .filter(|_| cfg.break_glass_enabled)
    else {
        return Err(ApiError::invalid_token());
    };
    if !token::ct_eq(presented, key) {
        return Err(ApiError::invalid_token());
    }
    if state.app.up_for() > cfg.break_glass_ttl {
        return Err(ApiError::unauthorized(
            Code::TokenExpired,
            "The master key is only accepted for BREAK_GLASS_TTL after the service starts.",
        ));
    }
    match reason {
        None if cfg.is_production() => {
            return Err(ApiError::forbidden(
                Code::BreakGlassReasonRequired,
                "X-Break-Glass-Reason (10-500 characters) is required in production.",
            ));
        }
        Some(r) if !(10..=500).contains(&r.chars().count()) => {
            return Err(ApiError::forbidden(
                Code::BreakGlassReasonRequired,
                "X-Break-Glass-Reason must be 10-500 characters.",
            ));
        }
        _ => {}
    }
    let Some(wanted) = header_str(req, "x-tenant-id") else {
        return Err(ApiError::validation(
            "X-Tenant-ID",
            "the master key must name a tenant",
        ));
    };
    let tenant = find_tenant(state, wanted.trim())
        .await?
        .ok_or_else(|| ApiError::new(Code::ValidationError, "X-Tenant-ID names no tenant."))?;
    Ok(Caller::new(CallerInfo {
        method: AuthMethod::Master,
        actor_type: "system",
        actor_id: "master".into(),
        user: None,
        tenant,
        caps: cfg.break_glass_capabilities,
        session_id: None,
        amr: vec![],
        cors_origin: None,
        mfa_blocked: CapSet::empty(),
        read_only: CapSet::empty(),
    }))
}
